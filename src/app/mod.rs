//! Commands: argv in, settings resolved once, the command run, the error mapped to an exit code.

pub(crate) mod cancel;
pub(crate) mod cli;
pub(crate) mod complete;
pub(crate) mod configure;
pub(crate) mod doctor;
pub(crate) mod help;
pub(crate) mod hooks;
pub(crate) mod login;
pub(crate) mod man;
pub(crate) mod push;
pub(crate) mod settings;
pub(crate) mod table;
pub(crate) mod verify;
pub(crate) mod version;

use crate::error::{Error, Kind};
use crate::protocol::plugin::{self, Invocation};
use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use settings::Settings;
use std::io::Write;

/// The plugin's whole life: returns the process exit code.
pub fn main() -> i32 {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    // The CLI's hook and completion requests: answered at once, never with an error.
    if let Some(code) = hooks::answer_if_asked(&argv) {
        return code;
    }
    let args = match crate::protocol::args::utf8(argv) {
        Ok(args) => args,
        Err(e) => return report(&Error::usage(e)),
    };
    if let Some(code) = complete::answer_if_asked(&args) {
        return code;
    }
    let invocation = match plugin::split_argv(&args) {
        Ok(i) => i,
        Err(e) => return report(&Error::usage(format!("{e} (see docker pushx --help)"))),
    };
    match invocation {
        // Asked before every `docker pushx` and for `docker --help`: answer from memory,
        // with no runtime, daemon or keyring.
        Invocation::Metadata => {
            let mut out = std::io::stdout().lock();
            let _ = out
                .write_all(plugin::METADATA.as_bytes())
                .and_then(|_| out.flush());
            0
        }
        Invocation::Help(_) => run_cli(vec!["--help".into()]),
        Invocation::Run(_, rest) if rest.first().map(String::as_str) == Some(man::MAN_ARG) => {
            match man::run(&rest[1..]) {
                Ok(()) => 0,
                Err(e) => report(&e),
            }
        }
        Invocation::Run(global, rest) => {
            init_tracing(&global);
            match parse(rest) {
                Ok(Some(cli)) => match execute(global, cli) {
                    Ok(()) => 0,
                    Err(e) => report(&e),
                },
                Ok(None) => 0,
                Err(e) => report(&e),
            }
        }
    }
}

fn run_cli(rest: Vec<String>) -> i32 {
    match parse(rest) {
        Ok(_) => 0,
        Err(e) => report(&e),
    }
}

/// Parse the plugin's own arguments. `Ok(None)` when help or the version was printed.
fn parse(rest: Vec<String>) -> Result<Option<Cli>, Error> {
    let commands = cli::command_names();
    let rest = match cli::help_request(&rest, &commands) {
        None => rest,
        Some(Ok(args)) => args,
        Some(Err(e)) => return Err(Error::usage(format!("{e} (see docker pushx --help)"))),
    };
    // A misspelled command is taken for SOURCE; when that fails to parse, name the command.
    // Help in docker's layout, for the command named first (if any).
    let asked = rest.first().filter(|w| commands.contains(w)).cloned();
    let suggestion = rest
        .first()
        .and_then(|w| cli::did_you_mean(w, &commands))
        .map(|c| format!("; did you mean \"{c}\"?"))
        .unwrap_or_default();
    match Cli::try_parse_from(std::iter::once("docker pushx".to_string()).chain(rest)) {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            let mut root = Cli::command();
            root.build();
            let text = help::render(&root, asked.as_deref(), help::width())
                .unwrap_or_else(|| e.render().to_string());
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
            Ok(None)
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            let _ = e.print();
            Ok(None)
        }
        Err(e) => {
            // clap's message spans several lines: keep those before the usage, on one line.
            let text = e.render().to_string();
            let first = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let first = first.trim_start_matches("error: ").to_string();
            Err(Error::usage(format!(
                "{first}{suggestion} (see docker pushx --help)"
            )))
        }
    }
}

fn execute(global: plugin::GlobalFlags, cli: Cli) -> Result<(), Error> {
    if let Some(Command::Version(a)) = &cli.command {
        return version::run(a);
    }
    let settings = Settings::load(global)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .map_err(|e| Error::other(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        cancel::start();
        // The push command handles cancellation itself, to report what completed.
        if cli.command.is_none() {
            return push::run(&settings, &cli.push).await;
        }
        let work = async {
            match &cli.command {
                Some(Command::Login(a)) => login::login(&settings, a).await,
                Some(Command::Logout(a)) => login::logout(a).await,
                Some(Command::Logins(a)) => login::logins(a).await,
                Some(Command::Configure(a)) => configure::configure(&settings, a),
                Some(Command::Import(a)) => configure::import(&settings, a),
                Some(Command::Doctor) => doctor::doctor(&settings).await,
                Some(Command::Verify(a)) => verify::run(&settings, a).await,
                Some(Command::Version(_)) | None => Ok(()),
            }
        };
        tokio::select! {
            r = work => r,
            _ = cancel::requested() => Err(Error::new(Kind::Interrupted, "interrupted")),
        }
    })
}

fn report(e: &Error) -> i32 {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "docker pushx: {e}");
    e.exit_code()
}

/// Logs go to stderr. `RUST_LOG` wins; else docker's `--debug` / `--log-level`; else warnings.
fn init_tracing(global: &plugin::GlobalFlags) {
    let level = if global.debug {
        "debug".to_string()
    } else {
        match global.log_level.as_deref() {
            Some("debug") => "debug".into(),
            Some("info") => "info".into(),
            Some("error") | Some("fatal") => "error".into(),
            _ => "warn".into(),
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("docker_pushx={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
