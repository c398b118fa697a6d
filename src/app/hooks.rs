//! docker CLI hooks: answering `docker-pushx pushx docker-cli-plugin-hooks '<json>'` after a
//! hooked `docker login` / `docker push`, and `configure --hooks` / `--no-hooks`, which declare
//! them in config.json. The answer runs after every hooked command: it reads config.json at most
//! (never the keyring, D-Bus or the daemon), prints nothing when in doubt, and always exits 0,
//! so that docker's own command never suffers from it.

use crate::app::settings::Settings;
use crate::credentials::config_file;
use crate::error::Error;
use crate::protocol::config::DockerConfig;
use crate::protocol::hooks::{self, HOOKED_COMMANDS, HOOKS_ARG, Needs};
use crate::protocol::plugin::{GlobalFlags, PLUGIN_NAME};
use std::ffi::OsString;
use std::io::Write;

/// The setting under `plugins.pushx` that lists the hooked commands.
const HOOKS_SETTING: &str = "hooks";

/// Answer a hook request when argv (without argv[0]) is one: `pushx docker-cli-plugin-hooks
/// JSON` (RunHook passes the plugin name first). `None` otherwise. Looked at before argv is
/// checked for UTF-8, so that no argument can make it print an error.
pub(crate) fn answer_if_asked(args: &[OsString]) -> Option<i32> {
    let is = |i: usize, s: &str| args.get(i).is_some_and(|a| a == s);
    let request = if is(0, PLUGIN_NAME) && is(1, HOOKS_ARG) {
        args.get(2)
    } else if is(0, HOOKS_ARG) {
        args.get(1)
    } else {
        return None;
    };
    let reply = request
        .and_then(|r| r.to_str())
        .and_then(hooks::read)
        .filter(|(_, needs)| match needs {
            Needs::Nothing => true,
            Needs::PlaintextLogin => plaintext_login(),
        })
        .map(|(hint, _)| hooks::reply(hint));
    if let Some(reply) = reply {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(reply.as_bytes()).and_then(|_| out.flush());
    }
    Some(0)
}

/// Whether config.json holds a login in plain text. The CLI passes no global flags to a hook,
/// so the file is the one DOCKER_CONFIG (or the home directory) names.
fn plaintext_login() -> bool {
    let dir = crate::daemon::endpoint::config_dir(
        &GlobalFlags::default(),
        &crate::daemon::endpoint::ProcessEnv,
    );
    std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| DockerConfig::parse(&b).ok())
        .is_some_and(|c| !c.plaintext_logins().is_empty())
}

/// `configure --hooks` (`enable`) or `--no-hooks`: set or remove `plugins.pushx.hooks`, and
/// nothing else; then say whether docker will run hooks, which it does only when asked to.
pub(crate) fn configure(settings: &Settings, enable: bool) -> Result<(), Error> {
    let path = &settings.config_path;
    if !enable && !path.exists() {
        println!("unchanged: {} does not exist", path.display());
        return Ok(());
    }
    let mut edit = config_file::edit(path)?;
    let said = if enable {
        edit.config
            .set_plugin_setting(PLUGIN_NAME, HOOKS_SETTING, HOOKED_COMMANDS)
            .map_err(|e| {
                Error::other(format!(
                    "{}: {e}: fix it by hand (it was left as it is)",
                    path.display()
                ))
            })?;
        format!("plugins.pushx.hooks: \"{HOOKED_COMMANDS}\"")
    } else if edit
        .config
        .remove_plugin_setting(PLUGIN_NAME, HOOKS_SETTING)
    {
        "plugins.pushx.hooks removed".to_string()
    } else {
        "plugins.pushx.hooks is not set".to_string()
    };
    let enabled = hooks_enabled(&edit.config);
    let changed = edit.save()?;
    println!("{said}");
    println!(
        "{} {}",
        if changed { "updated" } else { "unchanged:" },
        path.display()
    );
    if enable {
        match enabled {
            Some(true) => println!(
                "docker runs hooks here: hints show after docker login and docker push on a terminal"
            ),
            _ => println!(
                "docker runs hooks only when asked to: export DOCKER_CLI_HOOKS=1, or add \"features\": {{\"hooks\": \"true\"}} to {}",
                path.display()
            ),
        }
    }
    Ok(())
}

/// docker's `HooksEnabled`: `DOCKER_CLI_HOOKS`, else `DOCKER_CLI_HINTS`, else
/// `features.hooks` in config.json; each a Go boolean. `None`: not said anywhere (off).
fn hooks_enabled(config: &DockerConfig) -> Option<bool> {
    let parse = |v: &str| Some(matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"));
    for var in ["DOCKER_CLI_HOOKS", "DOCKER_CLI_HINTS"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return parse(&v);
        }
    }
    config
        .doc
        .get("features")
        .and_then(|f| f.get("hooks"))
        .and_then(|v| v.as_str())
        .and_then(parse)
}
