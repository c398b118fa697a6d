//! The docker CLI plugin protocol: the metadata answer and docker's global flags in argv.

use std::path::PathBuf;

/// What `docker-pushx docker-cli-plugin-metadata` prints, kept in `plugin-metadata/`.
pub(crate) const METADATA: &str = include_str!("../../plugin-metadata/metadata.json");

/// The argument the docker CLI passes to ask for [`METADATA`].
pub(crate) const METADATA_ARG: &str = "docker-cli-plugin-metadata";

/// The plugin's name: what follows `docker` on the command line.
pub(crate) const PLUGIN_NAME: &str = "pushx";

/// docker's global flags, which the CLI leaves in the plugin's argv before `pushx`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GlobalFlags {
    pub config: Option<PathBuf>,
    pub context: Option<String>,
    pub host: Option<String>,
    pub debug: bool,
    pub log_level: Option<String>,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// How the process was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invocation {
    /// `docker-cli-plugin-metadata`: print [`METADATA`] and nothing else.
    Metadata,
    /// `docker help pushx`.
    Help(GlobalFlags),
    /// Everything else: the global flags and the plugin's own arguments.
    Run(GlobalFlags, Vec<String>),
}

/// Split argv (without argv[0]) into docker's global flags and the plugin's arguments.
/// `docker -H unix:///x --debug pushx a b` gives the plugin `-H unix:///x --debug pushx a b`;
/// standalone use (`docker-pushx a b`) has no `pushx` word, which is skipped only when present
/// right after the global flags.
pub(crate) fn split_argv(args: &[String]) -> Result<Invocation, String> {
    if args.first().map(String::as_str) == Some(METADATA_ARG) {
        return Ok(Invocation::Metadata);
    }
    let mut g = GlobalFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        if !arg.starts_with('-') || arg == "-" || arg == "--" {
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg, None),
        };
        let takes_value = matches!(
            name,
            "--config"
                | "-c"
                | "--context"
                | "-H"
                | "--host"
                | "-l"
                | "--log-level"
                | "--tlscacert"
                | "--tlscert"
                | "--tlskey"
        );
        let is_bool = matches!(name, "-D" | "--debug" | "--tls" | "--tlsverify");
        if !takes_value && !is_bool {
            // Not a global flag: the plugin's own (e.g. `docker-pushx --help` standalone).
            break;
        }
        let value = if takes_value {
            match inline.clone() {
                Some(v) => Some(v),
                None => {
                    i += 1;
                    Some(
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("flag needs an argument: {name}"))?,
                    )
                }
            }
        } else {
            None
        };
        let bool_value = match inline.as_deref() {
            _ if takes_value => false,
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(v) => return Err(format!("invalid value {v:?} for {name}: use true or false")),
        };
        match name {
            "--config" => g.config = value.map(PathBuf::from),
            "-c" | "--context" => g.context = value,
            "-H" | "--host" => {
                if g.host.is_some() {
                    return Err("specify only one -H".into());
                }
                g.host = value;
            }
            "-l" | "--log-level" => g.log_level = value,
            "--tlscacert" => g.tlscacert = value.map(PathBuf::from),
            "--tlscert" => g.tlscert = value.map(PathBuf::from),
            "--tlskey" => g.tlskey = value.map(PathBuf::from),
            "-D" | "--debug" => g.debug = bool_value,
            "--tls" => g.tls = bool_value,
            "--tlsverify" => g.tlsverify = bool_value,
            _ => unreachable!("every matched flag is handled"),
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.first().map(String::as_str) == Some("help")
        && rest.get(1).map(String::as_str) == Some(PLUGIN_NAME)
    {
        return Ok(Invocation::Help(g));
    }
    let rest = match rest.first().map(String::as_str) {
        Some(PLUGIN_NAME) => &rest[1..],
        _ => rest,
    };
    Ok(Invocation::Run(g, rest.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn metadata_is_valid_and_matches_the_crate_version() {
        let v: serde_json::Value = serde_json::from_str(METADATA).unwrap();
        assert_eq!(v["SchemaVersion"], "0.1.0");
        assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
        assert!(!v["Vendor"].as_str().unwrap().is_empty());
        assert!(v["ShortDescription"].as_str().is_some() && v["URL"].as_str().is_some());
    }

    #[test]
    fn global_flags_before_the_plugin_name() {
        let inv = split_argv(&argv(
            "--config /c -c prod -D -l debug --tls --tlsverify --tlscacert /ca --tlscert=/cert --tlskey /key pushx img:1 reg/x",
        ))
        .unwrap();
        let Invocation::Run(g, rest) = inv else {
            panic!()
        };
        assert_eq!(g.config, Some(PathBuf::from("/c")));
        assert_eq!(g.context.as_deref(), Some("prod"));
        assert!(g.debug && g.tls && g.tlsverify);
        assert_eq!(g.log_level.as_deref(), Some("debug"));
        assert_eq!(g.tlscert, Some(PathBuf::from("/cert")));
        assert_eq!(rest, argv("img:1 reg/x"));
    }

    #[test]
    fn host_once_and_values_required() {
        let Invocation::Run(g, rest) = split_argv(&argv("-H unix:///x pushx --help")).unwrap()
        else {
            panic!()
        };
        assert_eq!(g.host.as_deref(), Some("unix:///x"));
        assert_eq!(rest, argv("--help"));
        assert!(split_argv(&argv("-H a -H b pushx")).is_err());
        assert!(split_argv(&argv("--context")).is_err());
        assert!(split_argv(&argv("--tls=maybe pushx")).is_err());
    }

    #[test]
    fn metadata_help_and_standalone() {
        assert_eq!(
            split_argv(&argv("docker-cli-plugin-metadata")).unwrap(),
            Invocation::Metadata
        );
        assert!(matches!(
            split_argv(&argv("help pushx")).unwrap(),
            Invocation::Help(_)
        ));
        let Invocation::Run(_, rest) = split_argv(&argv("img:1 --jobs 2")).unwrap() else {
            panic!()
        };
        assert_eq!(rest, argv("img:1 --jobs 2"));
        let Invocation::Run(_, rest) = split_argv(&argv("--jobs 2 img")).unwrap() else {
            panic!()
        };
        assert_eq!(rest, argv("--jobs 2 img"));
    }
}
