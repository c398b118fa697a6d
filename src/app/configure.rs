//! `configure` (point docker at docker-credential-pushx, or `--undo` that) and `import` (move
//! logins into the keyring). Both edit config.json under a lock, atomically, keeping the rest.

use crate::app::cli::{ConfigureArgs, ImportArgs};
use crate::app::settings::Settings;
use crate::credentials::{TOKEN_USERNAME, config_file, helper_client, keyring};
use crate::error::{Error, Kind};
use crate::protocol::config::login_key;
use crate::store::chain::Purpose;
use crate::store::{Credential, CredentialStore};
use std::path::PathBuf;

/// The helper's suffix, as config.json names it.
pub(crate) const HELPER: &str = "pushx";

/// Where a program would be found on PATH.
pub(crate) fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                p.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            }
            #[cfg(not(unix))]
            p.is_file()
        })
}

pub(crate) fn configure(settings: &Settings, args: &ConfigureArgs) -> Result<(), Error> {
    if args.hooks || args.no_hooks {
        return crate::app::hooks::configure(settings, args.hooks);
    }
    if args.undo {
        return undo(settings, args);
    }
    let mut edit = config_file::edit(&settings.config_path)?;
    let mut said = Vec::new();
    if args.registries.is_empty() {
        match edit.config.set_creds_store(HELPER).as_deref() {
            Some(HELPER) => said.push("credsStore is already \"pushx\"".to_string()),
            Some(other) => said.push(format!("credsStore: \"{other}\" -> \"pushx\"")),
            None => said.push("credsStore: \"pushx\"".to_string()),
        }
    } else {
        for r in &args.registries {
            if r.trim().is_empty() {
                return Err(Error::usage(
                    "--registry is empty: name a registry host[:port]",
                ));
            }
            let key = login_key(r);
            edit.config.set_cred_helper(&key, HELPER).map_err(|e| {
                Error::other(format!(
                    "{}: {e}: fix it by hand (it was left as it is)",
                    settings.config_path.display()
                ))
            })?;
            said.push(format!("credHelpers[\"{key}\"]: \"pushx\""));
        }
    }
    let changed = edit.save()?;
    for s in &said {
        println!("{s}");
    }
    println!(
        "{} {}",
        if changed { "updated" } else { "unchanged:" },
        settings.config_path.display()
    );
    if on_path("docker-credential-pushx").is_none() {
        eprintln!(
            "warning: docker-credential-pushx is not on PATH: docker cannot reach any login until it is (run ./install.sh, or add its directory to PATH)"
        );
    }
    Ok(())
}

/// `configure --undo`: remove the entries that name pushx, and only those, so that docker stops
/// running docker-credential-pushx (install.sh --uninstall runs it before removing the binaries:
/// a `credsStore` naming a missing helper fails every `docker login`). An entry naming another
/// helper is left alone, even for a registry given with `--registry`. A file with nothing to
/// remove is not rewritten; neither is a missing one created.
fn undo(settings: &Settings, args: &ConfigureArgs) -> Result<(), Error> {
    let path = &settings.config_path;
    if !path.exists() {
        println!("unchanged: {} does not exist", path.display());
        return Ok(());
    }
    let mut edit = config_file::edit(path)?;
    let mut said = Vec::new();
    let keys: Vec<String> = if args.registries.is_empty() {
        if edit.config.creds_store() == Some(HELPER) {
            edit.config.unset_creds_store();
            said.push("credsStore: \"pushx\" removed".to_string());
        }
        edit.config
            .cred_helpers()
            .into_iter()
            .filter(|(_, h)| *h == HELPER)
            .map(|(k, _)| k.to_string())
            .collect()
    } else {
        let mut keys = Vec::new();
        for r in &args.registries {
            if r.trim().is_empty() {
                return Err(Error::usage(
                    "--registry is empty: name a registry host[:port]",
                ));
            }
            let key = login_key(r);
            match edit.config.cred_helper(&key) {
                Some(HELPER) => keys.push(key),
                Some(other) => said.push(format!(
                    "credHelpers[\"{key}\"] is \"{other}\", not \"pushx\": left as it is"
                )),
                None => said.push(format!("credHelpers has no entry for \"{key}\"")),
            }
        }
        keys
    };
    for key in keys {
        edit.config.unset_cred_helper(&key);
        said.push(format!("credHelpers[\"{key}\"]: \"pushx\" removed"));
    }
    if args.registries.is_empty() && edit.config.remove_plugin(HELPER) {
        said.push("plugins.pushx removed".to_string());
    }
    let changed = edit.save()?;
    for s in &said {
        println!("{s}");
    }
    if changed {
        println!("updated {}", path.display());
    } else {
        println!("unchanged: {} (nothing to remove)", path.display());
    }
    Ok(())
}

pub(crate) fn import(settings: &Settings, args: &ImportArgs) -> Result<(), Error> {
    let choice = keyring::choice(args.store.store.as_deref())?;
    let mut edit = config_file::edit(&settings.config_path)?;
    let store = if args.dry_run {
        None
    } else {
        // Fail before reading any secret from other helpers when there is nowhere to put it.
        let store = keyring::open(choice, Purpose::Write);
        store.first_usable().map_err(keyring::store_error)?;
        Some(store)
    };
    if let Some(w) = store.as_ref().and_then(|s| s.warning()) {
        eprintln!("warning: {w}");
    }
    let mut moved = 0;
    let mut would = 0;
    let mut failed = 0;

    for key in edit.config.plaintext_logins() {
        let entry = match edit.config.auth_entry(&key) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("skipped {key}: {e}");
                failed += 1;
                continue;
            }
        };
        let cred = match (entry.identity_token, entry.password) {
            (Some(t), _) => Credential {
                server: key.clone(),
                username: TOKEN_USERNAME.into(),
                secret: t,
            },
            (None, Some(p)) => Credential {
                server: key.clone(),
                username: entry.username.clone(),
                secret: p,
            },
            (None, None) => continue,
        };
        let Some(s) = &store else {
            println!("would move {key} ({}) from config.json", cred.username);
            would += 1;
            continue;
        };
        // The plaintext goes only once the keyring holds the secret.
        match s.store(&cred) {
            Ok(()) => {
                edit.config.remove_auth_secret(&key);
                println!(
                    "moved {key} ({}) from config.json to {}",
                    cred.username,
                    keyring::source_name(s.kind())
                );
                moved += 1;
            }
            Err(e) => {
                eprintln!("could not move {key}: {e}");
                failed += 1;
            }
        }
    }

    // Logins in other helpers are copied; those helpers keep theirs.
    let helpers: Vec<String> = edit
        .config
        .helpers()
        .into_iter()
        .filter(|h| *h != HELPER)
        .map(String::from)
        .collect();
    for helper in &helpers {
        let list = match helper_client::list(helper) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("skipped helper {helper}: {e}");
                failed += 1;
                continue;
            }
        };
        for (key, _) in list {
            match helper_client::get(helper, &key) {
                Ok(Some((user, secret))) => {
                    let cred = Credential {
                        server: key.clone(),
                        username: user,
                        secret,
                    };
                    match &store {
                        None => {
                            println!("would copy {key} ({}) from helper {helper}", cred.username);
                            would += 1;
                        }
                        Some(s) => match s.store(&cred) {
                            Ok(()) => {
                                println!(
                                    "copied {key} ({}) from helper {helper} to {}",
                                    cred.username,
                                    keyring::source_name(s.kind())
                                );
                                moved += 1;
                            }
                            Err(e) => {
                                eprintln!("could not copy {key}: {e}");
                                failed += 1;
                            }
                        },
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("could not read {key} from helper {helper}: {e}");
                    failed += 1;
                }
            }
        }
    }
    if !args.dry_run {
        edit.save()?;
    }
    println!("{}", summary(args.dry_run, moved, would, failed));
    if !args.dry_run && moved > 0 && edit_needs_configure(settings) {
        println!("run `docker pushx configure` so that plain docker finds these logins");
    }
    if failed > 0 {
        return Err(Error::new(
            Kind::Other,
            format!("{failed} login(s) could not be imported (see above); the rest were"),
        ));
    }
    Ok(())
}

/// The last line of `import`: what it did, or with `--dry-run` what it would do.
fn summary(dry_run: bool, moved: usize, would: usize, failed: usize) -> String {
    let logins = |n: usize| format!("{n} login{}", if n == 1 { "" } else { "s" });
    let failed = if failed > 0 {
        format!(" ({} could not be read)", logins(failed))
    } else {
        String::new()
    };
    match (dry_run, moved, would) {
        (true, _, 0) => format!("nothing to import; nothing changed{failed}"),
        (true, _, n) => format!("would import {}; nothing changed{failed}", logins(n)),
        (false, 0, _) if failed.is_empty() => "nothing to import".into(),
        (false, n, _) => format!("imported {}", logins(n)),
    }
}

fn edit_needs_configure(settings: &Settings) -> bool {
    config_file::load(&settings.config_path)
        .map(|c| c.creds_store() != Some(HELPER))
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_agrees_with_what_was_listed() {
        assert_eq!(
            summary(true, 0, 1, 0),
            "would import 1 login; nothing changed"
        );
        assert_eq!(
            summary(true, 0, 3, 0),
            "would import 3 logins; nothing changed"
        );
        assert_eq!(summary(true, 0, 0, 0), "nothing to import; nothing changed");
        assert_eq!(
            summary(true, 0, 2, 1),
            "would import 2 logins; nothing changed (1 login could not be read)"
        );
        assert_eq!(summary(false, 0, 0, 0), "nothing to import");
        assert_eq!(summary(false, 2, 0, 0), "imported 2 logins");
        assert_eq!(summary(false, 0, 0, 1), "imported 0 logins");
    }
}
