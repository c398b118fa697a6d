//! `login`, `logout` and `logins`: registry logins kept in the OS keyring.

use crate::app::cli::{Format, LoginArgs, LoginsArgs, LogoutArgs};
use crate::app::settings::Settings;
use crate::credentials::{TOKEN_USERNAME, keyring};
use crate::daemon::Daemon;
use crate::error::{Error, Kind};
use crate::protocol::config::{DOCKER_HUB_KEY, login_key};
use crate::protocol::registry_auth::RegistryAuth;
use crate::secret::Secret;
use crate::store::chain::Purpose;
use crate::store::{Credential, CredentialStore};
use std::io::{IsTerminal, Read, Write};

/// The longest password or token read from stdin.
const MAX_SECRET: u64 = 64 * 1024;

pub(crate) async fn login(settings: &Settings, args: &LoginArgs) -> Result<(), Error> {
    let key = login_key(args.server.as_deref().unwrap_or_default());
    let choice = keyring::choice(args.store.store.as_deref())?;
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt_username(&key)?,
    };
    if username.trim().is_empty() {
        return Err(Error::usage("the username is empty: give one with -u"));
    }
    if username == TOKEN_USERNAME {
        return Err(Error::usage(format!(
            "\"{TOKEN_USERNAME}\" is reserved for identity tokens: give your user name"
        )));
    }
    let password = if args.password_stdin {
        read_stdin_secret()?
    } else {
        prompt_password()?
    };
    if password.is_empty() {
        return Err(Error::usage(
            "the password is empty: pass it on stdin with --password-stdin, or type it at the prompt",
        ));
    }
    // Open the store first: a login that cannot be kept should fail before it is checked.
    let store = tokio::task::spawn_blocking(move || keyring::open(choice, Purpose::Write))
        .await
        .map_err(|e| Error::other(e.to_string()))?;
    store.first_usable().map_err(keyring::store_error)?;

    let auth = RegistryAuth {
        username: Some(username.clone()),
        password: Some(password.clone()),
        identity_token: None,
        server_address: key.clone(),
    };
    let daemon = Daemon::connect(settings.endpoint()?).await?;
    let token = daemon.check_login(&auth).await.map_err(|e| {
        let fix = if e.kind == Kind::Auth {
            ": check the user name and password; nothing was stored"
        } else {
            ": nothing was stored"
        };
        Error::new(e.kind, format!("logging in to {key}: {}{fix}", e.message))
    })?;
    // A registry that hands out an identity token wants it used instead of the password.
    let cred = match token {
        Some(t) => Credential {
            server: key.clone(),
            username: TOKEN_USERNAME.into(),
            secret: Secret::new(t),
        },
        None => Credential {
            server: key.clone(),
            username: username.clone(),
            secret: password,
        },
    };
    let kind = store.kind();
    let warning = store.warning().map(String::from);
    tokio::task::spawn_blocking(move || store.store(&cred))
        .await
        .map_err(|e| Error::other(e.to_string()))?
        .map_err(keyring::store_error)?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    println!(
        "Login Succeeded: {username} at {key}, kept in {}",
        keyring::source_name(kind)
    );
    Ok(())
}

fn prompt_username(key: &str) -> Result<String, Error> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::usage(
            "no username: give one with -u (there is no terminal to ask on)",
        ));
    }
    let hub = if key == DOCKER_HUB_KEY {
        " for Docker Hub"
    } else {
        ""
    };
    eprint!("Username{hub}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::other(format!("reading the username: {e}")))?;
    Ok(line.trim().to_string())
}

fn prompt_password() -> Result<Secret, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "no terminal to ask for the password on: pass it on stdin with --password-stdin",
        ));
    }
    rpassword::prompt_password("Password: ")
        .map(Secret::new)
        .map_err(|e| Error::other(format!("reading the password: {e}")))
}

fn read_stdin_secret() -> Result<Secret, Error> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_SECRET + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::other(format!("reading the password from stdin: {e}")))?;
    let buf = zeroize::Zeroizing::new(buf);
    if buf.len() as u64 > MAX_SECRET {
        return Err(Error::usage("the password on stdin is longer than 64 KiB"));
    }
    let text = std::str::from_utf8(&buf)
        .map_err(|_| Error::usage("the password on stdin is not UTF-8 text"))?;
    // Like docker: one trailing newline (from echo or a file) is not part of the password.
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(Secret::new(text))
}

pub(crate) async fn logout(args: &LogoutArgs) -> Result<(), Error> {
    let key = login_key(args.server.as_deref().unwrap_or_default());
    let choice = keyring::choice(None)?;
    let k = key.clone();
    let removed = tokio::task::spawn_blocking(move || -> Result<Vec<String>, Error> {
        // docker logout tries the same variants, for logins filed under a URL.
        let mut variants = vec![k.clone()];
        if k != DOCKER_HUB_KEY {
            variants.push(format!("http://{k}"));
            variants.push(format!("https://{k}"));
        }
        let stores = keyring::open(choice, Purpose::Read);
        // "Not logged in" would be a guess when no store can be looked in.
        stores.first_usable().map_err(keyring::store_error)?;
        let mut removed = Vec::new();
        for v in &variants {
            let from = stores.erase_each(v).map_err(keyring::store_error)?;
            removed.extend(from.into_iter().map(keyring::source_name));
        }
        Ok(removed)
    })
    .await
    .map_err(|e| Error::other(e.to_string()))??;
    if removed.is_empty() {
        println!("Not logged in to {key}");
    } else {
        println!(
            "Removed login credentials for {key} from {}",
            removed.join(", ")
        );
    }
    Ok(())
}

pub(crate) async fn logins(args: &LoginsArgs) -> Result<(), Error> {
    let choice = keyring::choice(None)?;
    let rows =
        tokio::task::spawn_blocking(move || -> Result<Vec<(String, String, String)>, Error> {
            let stores = keyring::open(choice, Purpose::Read);
            // An empty table would claim there are no logins.
            stores.first_usable().map_err(keyring::store_error)?;
            let each = stores.list_each().map_err(keyring::store_error)?;
            Ok(each
                .into_iter()
                .flat_map(|(kind, list)| {
                    list.into_iter().map(move |(k, u)| (k, u, kind.to_string()))
                })
                .collect())
        })
        .await
        .map_err(|e| Error::other(e.to_string()))??;
    let out = if args.format == Format::Json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, u, s)| serde_json::json!({"server": k, "username": u, "store": s}))
            .collect();
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    } else {
        let cells: Vec<Vec<&str>> = rows
            .iter()
            .map(|(k, u, s)| vec![k.as_str(), u.as_str(), s.as_str()])
            .collect();
        crate::app::table::render(&["SERVER", "USERNAME", "STORE"], &cells)
    };
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}
