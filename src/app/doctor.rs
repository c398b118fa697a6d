//! `doctor`: what docker-pushx would use, and what stands in the way, with the fix for each.

use crate::app::configure::{HELPER, on_path};
use crate::app::settings::Settings;
use crate::credentials::keyring;
use crate::daemon::{self, Daemon};
use crate::error::{Error, Kind};
use crate::store::chain::Purpose;
use crate::store::{self, StoreChoice, StoreKind};

/// Prints one line per check; fails (exit 1) when any check found a problem, so that scripts
/// and CI can run it as a gate.
pub(crate) async fn doctor(settings: &Settings) -> Result<(), Error> {
    let mut problems = 0;
    let mut say = |ok: bool, line: String| {
        if !ok {
            problems += 1;
        }
        println!("{} {line}", if ok { "  ok " } else { "  !! " });
    };
    // A store that is not usable is a problem only when it is the one asked for: `auto`
    // needs just one of them.
    let note = |line: String| println!("  --  {line}");
    println!("daemon");
    match settings.endpoint() {
        Err(e) => say(false, e.message),
        Ok(endpoint) => {
            let address = daemon::describe(&endpoint.endpoint);
            say(
                true,
                format!(
                    "endpoint {address} (context {}, chosen by {})",
                    endpoint.context, endpoint.source
                ),
            );
            match Daemon::connect(endpoint).await {
                Ok(d) => {
                    say(true, format!("API version {}", d.api_version()));
                    match d.image_store().await {
                        Ok(s) => say(true, format!("image store: {s}")),
                        Err(e) => say(false, format!("image store unknown: {e}")),
                    }
                }
                Err(e) => say(false, e.message),
            }
        }
    }

    println!("credential stores");
    let kinds: &[StoreKind] = if cfg!(target_os = "linux") {
        &[StoreKind::SecretService, StoreKind::Keyutils]
    } else {
        &[]
    };
    for &k in kinds {
        let chosen = settings.store == StoreChoice::Kind(k);
        match tokio::task::spawn_blocking(move || store::probe(k)).await {
            Ok(Ok(())) => say(true, format!("{k}: usable")),
            Ok(Err(e)) if !chosen => note(crate::error::one_line(&e.to_string())),
            Ok(Err(e)) => say(false, crate::error::one_line(&e.to_string())),
            Err(e) => say(false, format!("{k}: {e}")),
        }
    }
    let auto = tokio::task::spawn_blocking(|| {
        let stores = keyring::open(StoreChoice::Auto, Purpose::Write);
        stores
            .first_usable()
            .map(|kind| (kind, stores.warning().map(String::from)))
    });
    match auto.await {
        Ok(Ok((kind, w))) => {
            say(true, format!("auto picks {kind}"));
            if let Some(w) = w {
                say(true, format!("note: {w}"));
            }
        }
        Ok(Err(_)) => say(
            false,
            "no store is usable: logins cannot be kept (see the fixes above)".into(),
        ),
        Err(e) => say(false, e.to_string()),
    }

    println!("docker configuration ({})", settings.config_path.display());
    let plain = settings.config.plaintext_logins();
    if plain.is_empty() {
        say(true, "no logins kept in plain text".into());
    } else {
        say(
            false,
            format!(
                "logins kept in plain text: {}: run `docker pushx import`",
                plain.join(", ")
            ),
        );
    }
    let mut helpers: Vec<(String, String)> = Vec::new();
    if let Some(s) = settings.config.creds_store() {
        helpers.push(("credsStore".into(), s.to_string()));
    }
    for (registry, helper) in settings.config.cred_helpers() {
        helpers.push((format!("credHelpers[{registry}]"), helper.to_string()));
    }
    for (what, name) in &helpers {
        let program = format!("docker-credential-{name}");
        match on_path(&program) {
            Some(p) => say(true, format!("{what} = {name} ({})", p.display())),
            None => say(
                false,
                format!(
                    "{what} = {name}, but {program} is not on PATH: docker logins through it fail; install it or remove it"
                ),
            ),
        }
    }
    if !helpers.iter().any(|(_, n)| n == HELPER) {
        say(true, "docker does not use docker-credential-pushx yet: `docker pushx configure` points it there".into());
    }
    match on_path("docker-credential-pushx") {
        Some(p) => say(
            true,
            format!("docker-credential-pushx on PATH: {}", p.display()),
        ),
        None => say(
            false,
            "docker-credential-pushx is not on PATH: run ./install.sh or add its directory to PATH"
                .into(),
        ),
    }
    if problems == 0 {
        println!("no problems found");
        return Ok(());
    }
    Err(Error::new(
        Kind::Other,
        format!("{problems} problem(s) found: see the lines marked !! above"),
    ))
}
