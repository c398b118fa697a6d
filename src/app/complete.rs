//! `docker-pushx __complete pushx WORDS… PARTIAL`: shell completion through docker's own. The
//! command line is described from the clap definitions (commands, flags, value enums), the
//! rules are in `protocol::completion`; here are the lookups: local images from the daemon
//! (300 ms at most, silent on failure) and registries from config.json only. The keyring is
//! not listed: the Secret Service is a D-Bus round trip that can wait on an unlock prompt, and
//! this runs on every Tab.

use crate::app::cli::{Cli, HELP};
use crate::protocol::completion::{
    self, Candidate, CommandSpec, FlagSpec, Lookup, REQUEST, REQUEST_NO_DESC, ValueKind,
};
use crate::protocol::plugin::{GlobalFlags, PLUGIN_NAME};
use clap::CommandFactory;
use std::io::Write;
use std::time::Duration;

/// How long the daemon may take to list images before completion goes on without them.
const DAEMON_BUDGET: Duration = Duration::from_millis(300);

/// Answer a completion request when argv is one; `None` otherwise. Always exits 0: a failure
/// here must never show up on the user's command line.
pub(crate) fn answer_if_asked(args: &[String]) -> Option<i32> {
    let first = args.first()?.as_str();
    let descriptions = match first {
        REQUEST => true,
        REQUEST_NO_DESC => false,
        _ => return None,
    };
    let mut rest = &args[1..];
    if rest.first().map(String::as_str) == Some(PLUGIN_NAME) {
        rest = &rest[1..];
    }
    let (partial, words) = match rest.split_last() {
        Some((p, w)) => (p.as_str(), w),
        None => ("", rest),
    };
    let reply = answer(words, partial);
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(reply.render(descriptions).as_bytes())
        .and_then(|_| out.flush());
    Some(0)
}

fn answer(words: &[String], partial: &str) -> completion::Reply {
    let plan = completion::plan(&spec(), Some(HELP), words, partial);
    let found = match plan.lookup {
        None => Vec::new(),
        Some(Lookup::LocalImages) => local_images(&plan.partial),
        Some(Lookup::RegistryPrefixes | Lookup::RegistryHosts | Lookup::LoginServers) => {
            config_registries()
        }
    };
    plan.reply(found)
}

/// The command line, from clap: what `docker pushx --help` describes is what completes.
pub(crate) fn spec() -> CommandSpec {
    let mut cmd = Cli::command();
    cmd.build();
    describe(&cmd)
}

fn describe(cmd: &clap::Command) -> CommandSpec {
    let name = cmd.get_name().to_string();
    let mut flags = Vec::new();
    let mut positionals = Vec::new();
    let mut last_repeats = false;
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let repeatable = matches!(arg.get_action(), clap::ArgAction::Append)
            || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        if arg.is_positional() {
            positionals.push(value_kind(&name, arg));
            last_repeats = repeatable;
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        flags.push(FlagSpec {
            long: long.to_string(),
            aliases: arg
                .get_visible_aliases()
                .unwrap_or_default()
                .into_iter()
                .map(String::from)
                .collect(),
            short: arg.get_short(),
            help: arg.get_help().map(|h| h.to_string()).unwrap_or_default(),
            value: arg
                .get_action()
                .takes_values()
                .then(|| value_kind(&name, arg)),
            repeatable: matches!(arg.get_action(), clap::ArgAction::Append),
        });
    }
    CommandSpec {
        help: cmd.get_about().map(|a| a.to_string()).unwrap_or_default(),
        name,
        flags,
        positionals,
        last_repeats,
        subcommands: cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(describe)
            .collect(),
    }
}

/// What an argument's value is, from its possible values or its value name.
fn value_kind(command: &str, arg: &clap::Arg) -> ValueKind {
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        return ValueKind::Values(
            possible
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| {
                    Candidate::new(
                        v.get_name(),
                        v.get_help().map(|h| h.to_string()).unwrap_or_default(),
                    )
                })
                .collect(),
        );
    }
    let name = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map(|n| n.as_str())
        .unwrap_or_default();
    match name {
        "SOURCE" | "IMAGE" => ValueKind::Lookup(Lookup::LocalImages),
        "TARGET" | "REFERENCE" => ValueKind::Lookup(Lookup::RegistryPrefixes),
        "SERVER" if command == "logout" => ValueKind::Lookup(Lookup::LoginServers),
        "SERVER" | "HOST" => ValueKind::Lookup(Lookup::RegistryHosts),
        "FILE" => ValueKind::File,
        "STORE" => {
            use crate::store::StoreKind;
            ValueKind::Values(vec![
                Candidate::new("auto", "The Secret Service when usable, else keyutils"),
                Candidate::new(
                    StoreKind::SecretService.as_str(),
                    "Over the D-Bus session bus",
                ),
                Candidate::new(StoreKind::Keyutils.as_str(), "The kernel keyrings"),
            ])
        }
        _ => ValueKind::Free,
    }
}

fn config_path() -> std::path::PathBuf {
    crate::daemon::endpoint::config_dir(
        &GlobalFlags::default(),
        &crate::daemon::endpoint::ProcessEnv,
    )
    .join("config.json")
}

/// Registries named in config.json; a missing or malformed file names none.
fn config_registries() -> Vec<Candidate> {
    crate::credentials::config_file::load(&config_path())
        .map(|c| completion::config_registries(&c))
        .unwrap_or_default()
}

/// Local image names (`repo:tag`) starting with `partial`, from `GET /images/json`; nothing
/// when the daemon is not there or slow. The CLI passes no global flags to a completion
/// request, so the daemon is the one DOCKER_HOST, DOCKER_CONTEXT or config.json name.
fn local_images(partial: &str) -> Vec<Candidate> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async {
        tokio::time::timeout(DAEMON_BUDGET, list_images())
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.starts_with(partial))
            .map(|n| Candidate::new(n, ""))
            .collect()
    })
}

async fn list_images() -> Option<Vec<String>> {
    use http_body_util::BodyExt;
    let config = crate::credentials::config_file::load(&config_path()).ok()?;
    let resolved = crate::daemon::endpoint::resolve(
        &GlobalFlags::default(),
        &crate::daemon::endpoint::ProcessEnv,
        config.current_context(),
    )
    .ok()?;
    let transport = crate::daemon::transport::Transport::new(&resolved.endpoint).ok()?;
    let req = http::Request::get("/images/json")
        .body(crate::daemon::transport::empty_body())
        .ok()?;
    let res = transport.send(req).await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    let body = res.into_body().collect().await.ok()?.to_bytes();
    Some(completion::image_names(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_follows_the_clap_definitions() {
        let s = spec();
        let names: Vec<&str> = s.subcommands.iter().map(|c| c.name.as_str()).collect();
        for c in [
            "login",
            "logout",
            "logins",
            "configure",
            "import",
            "doctor",
            "verify",
        ] {
            assert!(names.contains(&c), "{c} in {names:?}");
        }
        let flag = |cmd: &CommandSpec, f: &str| cmd.flags.iter().find(|x| x.long == f).cloned();
        let verify = flag(&s, "verify").unwrap();
        let Some(ValueKind::Values(v)) = verify.value else {
            panic!("{verify:?}")
        };
        let v: Vec<&str> = v.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(v, ["pull", "digest", "full", "none"]);
        for f in ["progress", "format", "fanout"] {
            assert!(
                matches!(flag(&s, f).unwrap().value, Some(ValueKind::Values(_))),
                "{f}"
            );
        }
        assert!(flag(&s, "quiet").unwrap().value.is_none());
        assert!(flag(&s, "tag").unwrap().repeatable);
        assert_eq!(
            flag(&s, "digest-file").unwrap().value,
            Some(ValueKind::File)
        );
        assert_eq!(
            s.positionals,
            [
                ValueKind::Lookup(Lookup::LocalImages),
                ValueKind::Lookup(Lookup::RegistryPrefixes)
            ]
        );
        assert!(s.last_repeats);
        let sub = |n: &str| s.subcommands.iter().find(|c| c.name == n).unwrap();
        assert_eq!(
            sub("logout").positionals,
            [ValueKind::Lookup(Lookup::LoginServers)]
        );
        assert_eq!(
            sub("login").positionals,
            [ValueKind::Lookup(Lookup::RegistryHosts)]
        );
        assert!(matches!(
            flag(sub("verify"), "mode").unwrap().value,
            Some(ValueKind::Values(_))
        ));
        let Some(ValueKind::Values(stores)) = flag(sub("login"), "store").unwrap().value else {
            panic!()
        };
        let stores: Vec<&str> = stores.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(stores, ["auto", "secret-service", "keyutils"]);
        for s in stores {
            assert!(s.parse::<crate::store::StoreChoice>().is_ok(), "{s}");
        }
        assert!(
            sub("configure")
                .flags
                .iter()
                .any(|f| f.aliases.contains(&"remove".to_string()))
        );
    }
}
