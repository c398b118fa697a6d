//! The command line: clap definitions only. What the values mean is decided in `settings`.

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use std::time::Duration;

/// The word docker's own CLI uses for help (`docker pushx help [COMMAND]`).
pub(crate) const HELP: &str = "help";

#[derive(Debug, Parser)]
#[command(
    name = "docker pushx",
    bin_name = "docker pushx",
    version,
    about = "Tag, push and verify an image through the Docker daemon",
    long_about = "Tag a local image with every name it should be published under, push each through the \
                  Docker daemon (only missing layers are uploaded), then verify that the registry holds what \
                  was pushed.",
    // Every command's `after_help` is its examples, one per line: `help` prints them under
    // docker's "Examples:" heading and `man` under EXAMPLES.
    after_help = "  docker pushx myapi:2.3.0 registry.example.com/myteam/myapi:2.3.0\n  \
                  docker pushx myapi:2.3.0 reg.example.com/team/myapi ghcr.io/me/myapi -t 2.3 -t latest\n  \
                  docker pushx registry.example.com/myteam/myapi:2.3.0\n  \
                  docker pushx --format json myapi:2.3.0 reg.example.com/team/myapi:2.3.0\n  \
                  docker pushx -q --digest-file digest.txt myapi:2.3.0 localhost:5000/myapi",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_subcommand = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub push: PushArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Log in to a registry; the login is kept in the OS keyring.
    #[command(
        after_help = "  docker pushx login registry.example.com -u ci-bot --password-stdin < token.txt\n  \
                            docker pushx login localhost:5000 --store keyutils\n  \
                            docker pushx login"
    )]
    Login(LoginArgs),
    /// Remove a registry login from the OS keyring.
    #[command(after_help = "  docker pushx logout registry.example.com\n  \
                            docker pushx logout")]
    Logout(LogoutArgs),
    /// List the logins kept by docker-pushx (never the secrets).
    #[command(after_help = "  docker pushx logins\n  \
                            docker pushx logins --format json")]
    Logins(LoginsArgs),
    /// Make docker keep its logins through docker-credential-pushx.
    ///
    /// It writes `credsStore` (every registry), or a `credHelpers` entry for each --registry,
    /// into docker's config.json.
    #[command(after_help = "  docker pushx configure\n  \
                            docker pushx configure --registry ghcr.io\n  \
                            docker pushx configure --undo")]
    Configure(ConfigureArgs),
    /// Move plaintext logins and other helpers' logins into the keyring.
    ///
    /// Logins kept in plain text in config.json (`auths`), or by another credential helper
    /// named there, are moved into the OS keyring.
    #[command(after_help = "  docker pushx import --dry-run\n  \
                            docker pushx import")]
    Import(ImportArgs),
    /// Check the daemon, the credential stores and docker's configuration.
    #[command(after_help = "  docker pushx doctor\n  \
                            docker --context prod pushx doctor")]
    Doctor,
    /// Check images in a registry, from the registry itself.
    ///
    /// Not through the daemon: the manifest, and with --mode full (the default) the config and
    /// every layer blob, read back and hashed.
    #[command(after_help = "  docker pushx verify localhost:5000/myapi:2.3.0\n  \
                            docker pushx verify --source myapi:2.3.0 reg.example.com/team/myapi:2.3.0\n  \
                            docker pushx verify --mode digest --format json reg.example.com/team/myapi:2.3.0")]
    Verify(VerifyArgs),
    /// Show the version, commit, compiler and credential stores.
    ///
    /// The commit is `unknown` for a build outside the project's git repository.
    #[command(after_help = "  docker pushx version\n  \
                            docker pushx version --format json")]
    Version(VersionArgs),
}

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// How to print it: table (the layout of `docker version`) or json.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The names of the subcommands, and `help`.
pub(crate) fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .chain([HELP.to_string()])
        .collect()
}

/// `docker pushx help [COMMAND]`, as docker's own `help` works: the arguments that print that
/// help, or why the topic is unknown. `None` when `rest` is not a help request.
pub(crate) fn help_request(
    rest: &[String],
    commands: &[String],
) -> Option<Result<Vec<String>, String>> {
    if rest.first().map(String::as_str) != Some(HELP) {
        return None;
    }
    Some(match &rest[1..] {
        [] => Ok(vec!["--help".into()]),
        [topic] if topic == HELP => Ok(vec!["--help".into()]),
        [topic] if commands.contains(topic) => Ok(vec![topic.clone(), "--help".into()]),
        [topic] => Err(match did_you_mean(topic, commands) {
            Some(c) => format!("unknown help topic \"{topic}\": did you mean \"{c}\"?"),
            None => format!("unknown help topic \"{topic}\""),
        }),
        _ => Err("help takes one command name: docker pushx help [COMMAND]".into()),
    })
}

/// The command `word` is probably a misspelling of: the first of `commands` one edit away.
pub(crate) fn did_you_mean<'a>(word: &str, commands: &'a [String]) -> Option<&'a str> {
    commands
        .iter()
        .find(|c| one_edit_apart(word, c))
        .map(String::as_str)
}

/// Whether `a` becomes `b` by exactly one insertion, deletion, substitution or swap of two
/// neighbouring characters (Damerau-Levenshtein distance 1).
pub(crate) fn one_edit_apart(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Past the common prefix and suffix, what is left of each must be one edit.
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    match (a.len(), b.len()) {
        (1, 1) | (0, 1) | (1, 0) => true,
        (2, 2) => a[0] == b[1] && a[1] == b[0],
        _ => false,
    }
}

#[derive(Debug, Args)]
pub(crate) struct StoreArg {
    /// Where logins are kept: auto, secret-service or keyutils [env: PUSHX_CREDENTIAL_STORE]
    #[arg(long, value_name = "STORE")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Registry (host[:port]); Docker Hub when omitted.
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
    /// User name (asked on a terminal when omitted).
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password (or token) from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// Registry (host[:port]); Docker Hub when omitted.
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LoginsArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct ConfigureArgs {
    /// Use docker-credential-pushx only for this registry (repeatable); without it, for all.
    #[arg(long = "registry", value_name = "HOST")]
    pub registries: Vec<String>,
    /// Undo it: remove what names pushx from config.json (credsStore, credHelpers entries,
    /// plugins.pushx); with --registry, only those registries' credHelpers entries.
    #[arg(long, visible_alias = "remove")]
    pub undo: bool,
    /// Only declare docker CLI hooks (plugins.pushx.hooks): a next step after docker login
    /// and docker push.
    #[arg(long, conflicts_with_all = ["undo", "registries", "no_hooks"])]
    pub hooks: bool,
    /// Only remove what --hooks declared.
    #[arg(long, conflicts_with_all = ["undo", "registries"])]
    pub no_hooks: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Show what would move, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Images to check: registry/repository:tag or registry/repository@digest.
    #[arg(value_name = "REFERENCE", required = true)]
    pub references: Vec<String>,
    /// A local image each reference must hold (its config digest is the local image ID).
    #[arg(long, value_name = "IMAGE")]
    pub source: Option<String>,
    /// What to check: digest (the manifest) or full (the manifest, config and every layer).
    #[arg(long, value_enum, default_value_t = CheckMode::Full)]
    pub mode: CheckMode,
    /// How to print the result on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// How many blobs to read at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Give up on a request when the registry sends nothing for this long (it is retried).
    #[arg(long, default_value = "2m", value_parser = duration, value_name = "DURATION")]
    pub stall_timeout: Duration,
    /// Requests sent again after a transient failure (5xx, 429, dropped connection, timeout).
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retries: u32,
    /// Wait before the first retry; it doubles for each further one (with jitter).
    #[arg(long, default_value = "1s", value_parser = duration, value_name = "DURATION")]
    pub retry_delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckMode {
    /// The reference resolves and the manifest fetched by digest hashes to it.
    Digest,
    /// Digest, plus the config and every layer blob read and hashed (compressed and not).
    Full,
}

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Local image to publish: name[:tag] or image ID.
    #[arg(value_name = "SOURCE", required = true)]
    pub source: Option<String>,
    /// Where to publish it: full references; one without a tag takes SOURCE's tag. With none,
    /// SOURCE must name a registry and is pushed as it is.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Also push under this tag in every target repository (repeatable).
    #[arg(short = 't', long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// How many repositories to push to at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// What to check after each push.
    #[arg(long, value_enum, default_value_t = VerifyMode::Pull)]
    pub verify: VerifyMode,
    /// How to show progress on stderr; auto by default, quiet with -q.
    #[arg(long, value_enum, value_name = "MODE")]
    pub progress: Option<ProgressMode>,
    /// How to print the result on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print only REFERENCE@DIGEST lines on stdout, and no progress unless --progress is given.
    #[arg(short, long)]
    pub quiet: bool,
    /// Attempts after a transient failure (5xx, 429, dropped connection, timeout), per target.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retries: u32,
    /// Wait before the first retry; it doubles for each further one (with jitter).
    #[arg(long, default_value = "1s", value_parser = duration, value_name = "DURATION")]
    pub retry_delay: Duration,
    /// Give up on the whole command after this long (e.g. 10m).
    #[arg(long, value_parser = duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Give up on an attempt when no byte moves and no layer changes state for this long.
    #[arg(long, default_value = "2m", value_parser = duration, value_name = "DURATION")]
    pub stall_timeout: Duration,
    /// Keep the target tags created for the push (by default they are removed afterwards;
    /// tags that existed before are always kept).
    #[arg(long)]
    pub keep_tags: bool,
    /// Change nothing: show the plan, each registry's reachability, credentials, push
    /// permission and which targets are already up to date, and exit as the push would.
    #[arg(long)]
    pub dry_run: bool,
    /// Push even a target whose tag already holds the image with every blob present (by
    /// default such a target is not pushed again: `up-to-date`).
    #[arg(long)]
    pub force: bool,
    /// Write the digest to FILE (with several different digests, one REFERENCE@DIGEST per
    /// line), also when some targets fail.
    #[arg(long, value_name = "FILE")]
    pub digest_file: Option<std::path::PathBuf>,
    /// Write the JSON result (as --format json prints it) to FILE, also on failure.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<std::path::PathBuf>,
    /// How targets beyond the first get there: `copy` pushes the first through the daemon and
    /// copies it registry to registry (a mount within one registry), `daemon` pushes each
    /// through the daemon, `auto` copies when the targets span several repositories.
    #[arg(long, value_enum, default_value_t = Fanout::Auto)]
    pub fanout: Fanout,
}

impl PushArgs {
    /// The progress mode: as given, else none with `-q` (as `docker push -q`), else `auto`.
    pub(crate) fn progress_mode(&self) -> ProgressMode {
        match self.progress {
            Some(m) => m,
            None if self.quiet => ProgressMode::Quiet,
            None => ProgressMode::Auto,
        }
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    crate::protocol::duration::parse(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Fanout {
    /// `copy` when the targets span more than one repository and the first one's registry can
    /// be reached from here, else `daemon`.
    Auto,
    /// Every target pushed through the daemon.
    Daemon,
    /// The first target pushed through the daemon, the others copied from it.
    Copy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum VerifyMode {
    /// Resolve the tag at the registry and compare digests, then pull by digest and compare image IDs.
    Pull,
    /// Resolve the tag at the registry and compare digests.
    Digest,
    /// From the registry itself: the tag resolves to the pushed digest, the config is the
    /// source image, and every blob is read and hashed (compressed and not).
    Full,
    /// Trust the push stream.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// One bar per layer and a total.
    Tty,
    /// One line per layer state change and a total every few seconds.
    Plain,
    /// One JSON event per line.
    Json,
    /// Nothing.
    Quiet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        command_names()
    }

    #[test]
    fn one_edit_apart_is_damerau_distance_one() {
        for (a, b) in [
            ("lgoin", "login"),  // swap
            ("logn", "login"),   // deletion
            ("loginn", "login"), // insertion
            ("lagin", "login"),  // substitution
            ("ogin", "login"),   // at the start
            ("logi", "login"),   // at the end
            ("doctr", "doctor"),
            ("imoprt", "import"),
            ("é", "e"),
        ] {
            assert!(one_edit_apart(a, b), "{a} {b}");
            assert!(one_edit_apart(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("login", "login"), // no edit
            ("lgion", "login"), // two swaps' worth
            ("lg", "login"),
            ("", "login"),
            ("myapi", "login"),
            ("nigol", "login"),
            ("logout", "login"),
            ("", ""),
        ] {
            assert!(!one_edit_apart(a, b), "{a} {b}");
        }
    }

    #[test]
    fn suggestions_name_a_real_command() {
        let n = names();
        for c in [
            "login",
            "logout",
            "logins",
            "configure",
            "import",
            "doctor",
            "verify",
            "version",
            "help",
        ] {
            assert!(n.iter().any(|x| x == c), "{c} in {n:?}");
        }
        assert_eq!(did_you_mean("lgoin", &n), Some("login"));
        assert_eq!(did_you_mean("doctr", &n), Some("doctor"));
        assert_eq!(did_you_mean("logot", &n), Some("logout"));
        assert_eq!(did_you_mean("myapi", &n), None);
        assert_eq!(did_you_mean("myapi:1", &n), None);
    }

    #[test]
    fn help_like_docker() {
        let n = names();
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(help_request(&v("help"), &n), Some(Ok(v("--help"))));
        assert_eq!(
            help_request(&v("help login"), &n),
            Some(Ok(v("login --help")))
        );
        assert_eq!(
            help_request(&v("help doctor"), &n),
            Some(Ok(v("doctor --help")))
        );
        assert_eq!(help_request(&v("login"), &n), None);
        assert_eq!(help_request(&v("myapi:1 help"), &n), None);
        assert_eq!(
            help_request(&v("help lgoin"), &n),
            Some(Err(
                "unknown help topic \"lgoin\": did you mean \"login\"?".into()
            ))
        );
        assert!(matches!(help_request(&v("help nope"), &n), Some(Err(_))));
        assert_eq!(help_request(&v("help help"), &n), Some(Ok(v("--help"))));
        assert!(matches!(
            help_request(&v("help login logout"), &n),
            Some(Err(_))
        ));
    }
}
