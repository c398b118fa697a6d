//! Running another credential helper (`docker-credential-NAME get|list`), as the docker CLI does.

use crate::error::{Error, Kind};
use crate::protocol::helper::NOT_FOUND;
use crate::secret::Secret;
use std::io::Write;
use std::process::{Command, Stdio};

fn run(helper: &str, verb: &str, input: &str) -> Result<(bool, Vec<u8>), Error> {
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound { "is not on PATH".to_string() } else { e.to_string() };
            Error::new(
                Kind::Auth,
                format!("config.json names the credential helper \"{helper}\" but {program} {why}: install it or remove it from config.json"),
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is not an error in itself.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::other(format!("running {program}: {e}")))?;
    Ok((out.status.success(), out.stdout))
}

/// `get` for `key`: `Some((username, secret))`, or `None` when the helper has nothing for it.
pub(crate) fn get(helper: &str, key: &str) -> Result<Option<(String, Secret)>, Error> {
    let (ok, stdout) = run(helper, "get", key)?;
    let text = Secret::new(String::from_utf8_lossy(&stdout).into_owned());
    if !ok {
        let msg = text.expose().trim();
        if msg.contains(NOT_FOUND) || msg.is_empty() {
            return Ok(None);
        }
        // Helpers print errors on stdout; an error text carries no secret.
        return Err(Error::new(
            Kind::Auth,
            format!(
                "credential helper docker-credential-{helper} failed for {key}: {}",
                crate::error::one_line(msg)
            ),
        ));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let a: Answer = serde_json::from_str(text.expose()).map_err(|_| {
        Error::other(format!(
            "credential helper docker-credential-{helper} gave an unreadable answer for {key}"
        ))
    })?;
    let secret = Secret::new(a.secret);
    if secret.is_empty() {
        return Ok(None);
    }
    Ok(Some((a.username, secret)))
}

/// `list`: server key → username.
pub(crate) fn list(helper: &str) -> Result<Vec<(String, String)>, Error> {
    let (ok, stdout) = run(helper, "list", "unused")?;
    if !ok {
        return Err(Error::other(format!(
            "credential helper docker-credential-{helper} could not list its logins: {}",
            crate::error::one_line(&String::from_utf8_lossy(&stdout))
        )));
    }
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&stdout).map_err(|_| {
            Error::other(format!(
                "credential helper docker-credential-{helper} gave an unreadable list"
            ))
        })?;
    Ok(map.into_iter().collect())
}
