//! cobra's shell-completion protocol, which the docker CLI speaks to a plugin: the request
//! (`__complete pushx WORDS… PARTIAL`), the reply (one candidate a line, `value<TAB>description`
//! allowed, then `:DIRECTIVE`), and the rule that finds what the word under the cursor is from a
//! plain description of the command line (built from the clap definitions by `app::complete`).

/// The first argument of a completion request (cobra's `ShellCompRequestCmd`).
pub(crate) const REQUEST: &str = "__complete";
/// cobra's alias that asks for no descriptions (`ShellCompNoDescRequestCmd`).
pub(crate) const REQUEST_NO_DESC: &str = "__completeNoDesc";

/// cobra's `ShellCompDirective` bits (spf13/cobra completions.go, v1.9.1 in docker CLI 28.2),
/// all of them, though docker-pushx sends only some.
#[allow(dead_code)]
pub(crate) mod directive {
    pub(crate) const ERROR: u32 = 1;
    pub(crate) const NO_SPACE: u32 = 2;
    pub(crate) const NO_FILE_COMP: u32 = 4;
    pub(crate) const FILTER_FILE_EXT: u32 = 8;
    pub(crate) const FILTER_DIRS: u32 = 16;
    pub(crate) const KEEP_ORDER: u32 = 32;
    /// Let the shell do what it does by default (complete file names).
    pub(crate) const DEFAULT: u32 = 0;
}

/// One completion: the value and an optional description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub value: String,
    pub help: String,
}

impl Candidate {
    pub(crate) fn new(value: impl Into<String>, help: impl Into<String>) -> Self {
        Candidate {
            value: value.into(),
            help: help.into(),
        }
    }
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub candidates: Vec<Candidate>,
    pub directive: u32,
}

impl Reply {
    /// Nothing to offer, and no file names either: an unknown position.
    #[cfg(test)]
    pub(crate) fn nothing() -> Reply {
        Reply {
            candidates: Vec::new(),
            directive: directive::NO_FILE_COMP,
        }
    }

    /// The reply as cobra prints it: each candidate on one line (only its first line, trimmed,
    /// as cobra does, since the shell scripts read one candidate a line), then `:DIRECTIVE`.
    pub(crate) fn render(&self, descriptions: bool) -> String {
        let mut out = String::new();
        for c in &self.candidates {
            let value = first_line(&c.value).replace('\t', " ");
            if value.is_empty() {
                continue;
            }
            let help = first_line(&c.help);
            if descriptions && !help.is_empty() {
                out.push_str(&format!("{value}\t{help}\n"));
            } else {
                out.push_str(&format!("{value}\n"));
            }
        }
        out.push_str(&format!(":{}\n", self.directive));
        out
    }
}

fn first_line(s: &str) -> &str {
    s.split(['\n', '\r']).next().unwrap_or("").trim()
}

/// What a value (of a flag or a positional argument) can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// One of these (a clap value enum).
    Values(Vec<Candidate>),
    /// A file name: the shell completes it.
    File,
    /// Found at completion time.
    Lookup(Lookup),
    /// Free text (a tag, a number, a duration): nothing to offer.
    Free,
}

/// What has to be looked up outside this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Local image names, from the daemon.
    LocalImages,
    /// Registries, offered as `host/` to go on typing a reference.
    RegistryPrefixes,
    /// Registries, as `host[:port]` (login, `configure --registry`).
    RegistryHosts,
    /// Registries with a login to remove (logout).
    LoginServers,
}

#[derive(Debug, Clone)]
pub(crate) struct FlagSpec {
    pub long: String,
    pub aliases: Vec<String>,
    pub short: Option<char>,
    pub help: String,
    /// `None`: a switch that takes no value.
    pub value: Option<ValueKind>,
    /// May be given more than once.
    pub repeatable: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CommandSpec {
    pub name: String,
    pub help: String,
    pub flags: Vec<FlagSpec>,
    /// The positional arguments in order.
    pub positionals: Vec<ValueKind>,
    /// The last positional takes any number of values.
    pub last_repeats: bool,
    pub subcommands: Vec<CommandSpec>,
}

/// What to answer before any lookup: fixed candidates, perhaps a lookup whose results join
/// them, the word typed so far (candidates must start with it) and the directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub fixed: Vec<Candidate>,
    pub lookup: Option<Lookup>,
    /// The part of the word being completed that a candidate must start with.
    pub partial: String,
    /// Put back in front of each candidate (`--format=` when completing `--format=js`).
    pub prefix: String,
    pub directive: u32,
}

impl Plan {
    fn new(fixed: Vec<Candidate>, lookup: Option<Lookup>, partial: &str, directive: u32) -> Self {
        Plan {
            fixed,
            lookup,
            partial: partial.to_string(),
            prefix: String::new(),
            directive,
        }
    }

    fn value(kind: &ValueKind, partial: &str) -> Plan {
        match kind {
            ValueKind::Values(v) => Plan::new(v.clone(), None, partial, directive::NO_FILE_COMP),
            ValueKind::File => Plan::new(Vec::new(), None, partial, directive::DEFAULT),
            ValueKind::Lookup(l) => {
                Plan::new(Vec::new(), Some(*l), partial, directive::NO_FILE_COMP)
            }
            ValueKind::Free => Plan::new(Vec::new(), None, partial, directive::NO_FILE_COMP),
        }
    }

    /// The reply, with what the lookup found (`found` is ignored without a lookup). Registry
    /// hosts become `host/` prefixes for a reference, with no space after them.
    pub(crate) fn reply(self, found: Vec<Candidate>) -> Reply {
        let mut directive = self.directive;
        let mut all = self.fixed;
        match self.lookup {
            Some(Lookup::RegistryPrefixes) => {
                all.extend(found.into_iter().map(|c| Candidate {
                    value: format!("{}/", c.value),
                    help: c.help,
                }));
            }
            Some(_) => all.extend(found),
            None => {}
        }
        let mut seen = std::collections::HashSet::new();
        let candidates: Vec<Candidate> = all
            .into_iter()
            .filter(|c| c.value.starts_with(&self.partial) && seen.insert(c.value.clone()))
            .map(|c| Candidate {
                value: format!("{}{}", self.prefix, c.value),
                help: c.help,
            })
            .collect();
        if self.lookup == Some(Lookup::RegistryPrefixes)
            && candidates.iter().any(|c| c.value.ends_with('/'))
        {
            directive |= directive::NO_SPACE;
        }
        Reply {
            candidates,
            directive,
        }
    }
}

fn find_flag<'a>(cmd: &'a CommandSpec, word: &str) -> Option<&'a FlagSpec> {
    if let Some(long) = word.strip_prefix("--") {
        cmd.flags
            .iter()
            .find(|f| f.long == long || f.aliases.iter().any(|a| a == long))
    } else {
        let c = word.strip_prefix('-')?.chars().next()?;
        cmd.flags.iter().find(|f| f.short == Some(c))
    }
}

/// Find what `partial` is, after `words` (the arguments after `pushx`, the word under the
/// cursor excluded). `help` names the pseudo-command `help [COMMAND]`, completed with the
/// command names. Never fails: an unknown position plans nothing.
pub(crate) fn plan(
    root: &CommandSpec,
    help: Option<&str>,
    words: &[String],
    partial: &str,
) -> Plan {
    let mut cmd = root;
    let mut positional = 0usize;
    let mut given: Vec<&str> = Vec::new();
    let mut only_positionals = false;
    let mut in_help = false;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        i += 1;
        if !only_positionals && w == "--" {
            only_positionals = true;
            continue;
        }
        if !only_positionals && w.starts_with('-') && w.len() > 1 {
            let name = w.split_once('=').map_or(w, |(n, _)| n);
            let Some(flag) = find_flag(cmd, name) else {
                // An unknown flag: what follows cannot be placed.
                return Plan::new(Vec::new(), None, partial, directive::NO_FILE_COMP);
            };
            given.push(&flag.long);
            let inline = w.contains('=') || (!w.starts_with("--") && w.len() > 2);
            if flag.value.is_some() && !inline {
                if i == words.len() {
                    // The cursor is on this flag's value.
                    return Plan::value(flag.value.as_ref().unwrap_or(&ValueKind::Free), partial);
                }
                i += 1;
            }
            continue;
        }
        if cmd.name == root.name && positional == 0 && !in_help {
            if help == Some(w) {
                in_help = true;
                continue;
            }
            if let Some(sub) = cmd.subcommands.iter().find(|s| s.name == w) {
                cmd = sub;
                given.clear();
                continue;
            }
        }
        positional += 1;
    }

    if !only_positionals && partial.starts_with('-') {
        if let Some((name, value)) = partial.split_once('=') {
            return match find_flag(cmd, name).and_then(|f| f.value.as_ref()) {
                Some(kind) => {
                    let mut p = Plan::value(kind, value);
                    p.prefix = format!("{name}=");
                    p
                }
                None => Plan::new(Vec::new(), None, partial, directive::NO_FILE_COMP),
            };
        }
        let flags = cmd
            .flags
            .iter()
            .filter(|f| f.repeatable || !given.contains(&f.long.as_str()))
            .flat_map(|f| {
                let long = Candidate::new(format!("--{}", f.long), f.help.clone());
                let short = f
                    .short
                    .filter(|_| partial == "-")
                    .map(|c| Candidate::new(format!("-{c}"), f.help.clone()));
                std::iter::once(long).chain(short)
            })
            .collect();
        return Plan::new(flags, None, partial, directive::NO_FILE_COMP);
    }

    if in_help {
        if positional > 0 {
            return Plan::new(Vec::new(), None, partial, directive::NO_FILE_COMP);
        }
        let names = root
            .subcommands
            .iter()
            .map(|s| Candidate::new(s.name.clone(), s.help.clone()))
            .collect();
        return Plan::new(names, None, partial, directive::NO_FILE_COMP);
    }

    let kind = match cmd.positionals.get(positional) {
        Some(k) => Some(k),
        None if cmd.last_repeats => cmd.positionals.last(),
        None => None,
    };
    let mut p = match kind {
        Some(k) => Plan::value(k, partial),
        None => Plan::new(Vec::new(), None, partial, directive::NO_FILE_COMP),
    };
    // At the start of the root command line, a subcommand is as likely as SOURCE.
    if std::ptr::eq(cmd, root) && positional == 0 && !only_positionals {
        let mut names: Vec<Candidate> = root
            .subcommands
            .iter()
            .map(|s| Candidate::new(s.name.clone(), s.help.clone()))
            .collect();
        if let Some(h) = help {
            names.push(Candidate::new(h, "Help about a command"));
        }
        names.append(&mut p.fixed);
        p.fixed = names;
        p.directive |= directive::NO_FILE_COMP;
    }
    p
}

/// The registries named in config.json, as `host[:port]` (Docker Hub as `docker.io`), each
/// with where it was found: `auths` keys (logins, in plain text or the placeholder docker
/// writes for a helper's) and `credHelpers` keys. Sorted, each once.
pub(crate) fn config_registries(config: &super::config::DockerConfig) -> Vec<Candidate> {
    use super::config::{DOCKER_HUB_KEY, convert_to_hostname};
    let mut out: Vec<Candidate> = Vec::new();
    let mut add = |key: &str, help: String| {
        let host = if key == DOCKER_HUB_KEY {
            "docker.io"
        } else {
            convert_to_hostname(key)
        };
        let host = match host {
            "index.docker.io" | "registry-1.docker.io" => "docker.io",
            h => h,
        };
        if !host.is_empty()
            && !host.contains(char::is_whitespace)
            && !out.iter().any(|c| c.value == host)
        {
            out.push(Candidate::new(host, help));
        }
    };
    if let Some(serde_json::Value::Object(auths)) = config.doc.get("auths") {
        for k in auths.keys() {
            add(k, "login in config.json".into());
        }
    }
    for (k, h) in config.cred_helpers() {
        add(k, format!("credential helper {h}"));
    }
    out.sort_by(|a, b| a.value.cmp(&b.value));
    out
}

/// The names (`RepoTags`) in a `GET /images/json` answer, sorted, each once; untagged images
/// (`<none>:<none>`) have none. A body that is not the expected JSON names none.
pub(crate) fn image_names(body: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Summary {
        #[serde(rename = "RepoTags", default)]
        repo_tags: Option<Vec<String>>,
    }
    let Ok(list) = serde_json::from_slice::<Vec<Summary>>(body) else {
        return Vec::new();
    };
    let mut names: Vec<String> = list
        .into_iter()
        .flat_map(|s| s.repo_tags.unwrap_or_default())
        .filter(|n| !n.is_empty() && !n.contains("<none>"))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::config::DockerConfig;

    fn flag(long: &str, short: Option<char>, value: Option<ValueKind>) -> FlagSpec {
        FlagSpec {
            long: long.into(),
            aliases: vec![],
            short,
            help: format!("{long} help"),
            value,
            repeatable: long == "tag",
        }
    }

    fn spec() -> CommandSpec {
        let values =
            |v: &[&str]| ValueKind::Values(v.iter().map(|s| Candidate::new(*s, "")).collect());
        CommandSpec {
            name: "docker pushx".into(),
            help: String::new(),
            flags: vec![
                flag("tag", Some('t'), Some(ValueKind::Free)),
                flag(
                    "verify",
                    None,
                    Some(values(&["pull", "digest", "full", "none"])),
                ),
                flag("format", None, Some(values(&["table", "json"]))),
                flag("quiet", Some('q'), None),
                flag("digest-file", None, Some(ValueKind::File)),
            ],
            positionals: vec![
                ValueKind::Lookup(Lookup::LocalImages),
                ValueKind::Lookup(Lookup::RegistryPrefixes),
            ],
            last_repeats: true,
            subcommands: vec![
                CommandSpec {
                    name: "login".into(),
                    help: "Log in".into(),
                    flags: vec![flag("username", Some('u'), Some(ValueKind::Free))],
                    positionals: vec![ValueKind::Lookup(Lookup::RegistryHosts)],
                    last_repeats: false,
                    subcommands: vec![],
                },
                CommandSpec {
                    name: "logout".into(),
                    help: "Log out".into(),
                    flags: vec![],
                    positionals: vec![ValueKind::Lookup(Lookup::LoginServers)],
                    last_repeats: false,
                    subcommands: vec![],
                },
                CommandSpec {
                    name: "doctor".into(),
                    help: "Check".into(),
                    flags: vec![],
                    positionals: vec![],
                    last_repeats: false,
                    subcommands: vec![],
                },
            ],
        }
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn values(r: &Reply) -> Vec<&str> {
        r.candidates.iter().map(|c| c.value.as_str()).collect()
    }

    #[test]
    fn the_first_word_is_a_command_or_a_local_image() {
        let p = plan(&spec(), Some("help"), &[], "lo");
        assert_eq!(p.lookup, Some(Lookup::LocalImages));
        let r = p.reply(vec![
            Candidate::new("localapp:1", ""),
            Candidate::new("other:2", ""),
        ]);
        assert_eq!(values(&r), ["login", "logout", "localapp:1"]);
        assert_eq!(r.directive, directive::NO_FILE_COMP);
        let r = plan(&spec(), Some("help"), &[], "").reply(vec![]);
        assert_eq!(values(&r), ["login", "logout", "doctor", "help"]);
    }

    #[test]
    fn targets_are_registry_prefixes_with_no_space() {
        let p = plan(&spec(), None, &words("myapi:1"), "");
        assert_eq!(p.lookup, Some(Lookup::RegistryPrefixes));
        let r = p.reply(vec![Candidate::new("reg.example.com", "login")]);
        assert_eq!(values(&r), ["reg.example.com/"]);
        assert_eq!(r.directive, directive::NO_FILE_COMP | directive::NO_SPACE);
        // Any number of targets, also after flags and their values.
        let p = plan(
            &spec(),
            None,
            &words("-t 1 myapi:1 --verify full a/b -q"),
            "re",
        );
        assert_eq!(p.lookup, Some(Lookup::RegistryPrefixes));
        // Nothing matches: no space directive either, no files.
        let r = plan(&spec(), None, &words("myapi:1"), "zz").reply(vec![Candidate::new("reg", "")]);
        assert!(r.candidates.is_empty());
        assert_eq!(r.directive, directive::NO_FILE_COMP);
    }

    #[test]
    fn flag_names_and_values() {
        let r = plan(&spec(), None, &words("myapi:1"), "--v").reply(vec![]);
        assert_eq!(values(&r), ["--verify"]);
        let r = plan(&spec(), None, &words("myapi:1 --verify"), "").reply(vec![]);
        assert_eq!(values(&r), ["pull", "digest", "full", "none"]);
        let r = plan(&spec(), None, &words("--format"), "j").reply(vec![]);
        assert_eq!(values(&r), ["json"]);
        let r = plan(&spec(), None, &[], "--format=j").reply(vec![]);
        assert_eq!(values(&r), ["--format=json"]);
        // A flag already given is not offered again, a repeatable one is.
        let r = plan(&spec(), None, &words("--format json -t 1"), "--").reply(vec![]);
        assert!(!values(&r).contains(&"--format") && values(&r).contains(&"--tag"));
        // `-` alone also offers the short forms.
        let r = plan(&spec(), None, &[], "-").reply(vec![]);
        assert!(values(&r).contains(&"-q") && values(&r).contains(&"--quiet"));
        // A file value: the shell's file completion.
        let r = plan(&spec(), None, &words("--digest-file"), "").reply(vec![]);
        assert_eq!(r.directive, directive::DEFAULT);
        // Free text: nothing, and no files.
        let r = plan(&spec(), None, &words("-t"), "").reply(vec![]);
        assert_eq!(r, Reply::nothing());
    }

    #[test]
    fn subcommands_and_help() {
        let p = plan(&spec(), Some("help"), &words("logout"), "");
        assert_eq!(p.lookup, Some(Lookup::LoginServers));
        let p = plan(&spec(), Some("help"), &words("login -u me"), "");
        assert_eq!(p.lookup, Some(Lookup::RegistryHosts));
        let r = plan(&spec(), Some("help"), &words("login"), "--").reply(vec![]);
        assert_eq!(values(&r), ["--username"]);
        let r = plan(&spec(), Some("help"), &words("help"), "d").reply(vec![]);
        assert_eq!(values(&r), ["doctor"]);
        // A command name after SOURCE is a target, not a command.
        let p = plan(&spec(), Some("help"), &words("myapi login"), "");
        assert_eq!(p.lookup, Some(Lookup::RegistryPrefixes));
    }

    #[test]
    fn unknown_positions_plan_nothing() {
        for (w, partial) in [
            ("doctor", ""),
            ("doctor x", ""),
            ("login a b", ""),
            ("help doctor", ""),
            ("--nope", ""),
            ("--nope x", ""),
            ("myapi", "--nope="),
            ("logout a", "--x"),
        ] {
            let r = plan(&spec(), Some("help"), &words(w), partial).reply(vec![]);
            assert!(r.candidates.is_empty(), "{w} {partial}: {r:?}");
            assert_eq!(r.directive, directive::NO_FILE_COMP, "{w} {partial}");
        }
    }

    #[test]
    fn never_panics_on_odd_words() {
        let pieces = [
            "-",
            "--",
            "=",
            "-t",
            "--verify",
            "login",
            "help",
            "x",
            "é",
            "\t",
            "--format=",
        ];
        for w in crate::protocol::mixes(&pieces, 2000) {
            let ws: Vec<String> = w.split('x').map(String::from).collect();
            let _ = plan(&spec(), Some("help"), &ws, &w).reply(vec![Candidate::new(&w, &w)]);
        }
    }

    #[test]
    fn render_is_cobras_format() {
        let r = Reply {
            candidates: vec![
                Candidate::new("json", "One JSON document"),
                Candidate::new("table", ""),
                Candidate::new("two\nlines", "help\nmore"),
                Candidate::new("", "dropped"),
            ],
            directive: directive::NO_FILE_COMP,
        };
        assert_eq!(
            r.render(true),
            "json\tOne JSON document\ntable\ntwo\thelp\n:4\n"
        );
        assert_eq!(r.render(false), "json\ntable\ntwo\n:4\n");
        assert_eq!(Reply::nothing().render(true), ":4\n");
    }

    #[test]
    fn image_names_from_the_daemon() {
        let body = br#"[{"Id":"sha256:1","RepoTags":["b:1","a:2"]},{"Id":"sha256:2","RepoTags":["<none>:<none>"]},
            {"Id":"sha256:3","RepoTags":null},{"Id":"sha256:4"},{"RepoTags":["a:2"]}]"#;
        assert_eq!(image_names(body), ["a:2", "b:1"]);
        assert!(image_names(b"").is_empty());
        assert!(image_names(b"{\"message\":\"x\"}").is_empty());
    }

    #[test]
    fn registries_from_config() {
        let c = DockerConfig::parse(
            br#"{"auths":{"https://index.docker.io/v1/":{},"reg.example.com:5000":{"auth":"eDp5"},"https://ghcr.io/v2/":{}},
                "credHelpers":{"gcr.io":"gcloud","reg.example.com:5000":"pushx"}}"#,
        )
        .unwrap();
        let r = config_registries(&c);
        let v: Vec<&str> = r.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(
            v,
            ["docker.io", "gcr.io", "ghcr.io", "reg.example.com:5000"]
        );
        assert_eq!(r[1].help, "credential helper gcloud");
        assert!(config_registries(&DockerConfig::default()).is_empty());
    }
}
