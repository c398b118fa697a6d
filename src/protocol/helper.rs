//! The docker credential-helper protocol: verbs, stdin formats, answers and the exact error
//! strings the docker CLI matches on (docker/docker-credential-helpers `credentials`).

use crate::secret::Secret;
use serde::Deserialize;

/// `get` found nothing: the CLI then treats the registry as anonymous.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
pub const NO_SERVER_URL: &str = "no credentials server URL";
pub const NO_USERNAME: &str = "no credentials username";

/// The most stdin a verb reads. A real request is a few hundred bytes; the Go helpers stop at
/// a 64 KiB line, so anything larger is refused rather than buffered.
pub const MAX_INPUT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Store,
    Get,
    Erase,
    List,
    Version,
}

impl Verb {
    pub fn parse(s: &str) -> Option<Verb> {
        match s {
            "store" => Some(Verb::Store),
            "get" => Some(Verb::Get),
            "erase" => Some(Verb::Erase),
            "list" => Some(Verb::List),
            "version" | "--version" | "-v" => Some(Verb::Version),
            _ => None,
        }
    }
}

const CONTROL_IN_SERVER_URL: &str = "the server URL holds control characters";

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// What `store` receives.
#[derive(Debug)]
pub struct Credentials {
    pub server_url: String,
    pub username: String,
    pub secret: Secret,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Parse `store`'s JSON. The errors carry none of the input: it holds the secret.
pub fn parse_store(input: &[u8]) -> Result<Credentials, String> {
    let text =
        std::str::from_utf8(input).map_err(|_| "the credentials are not UTF-8 text".to_string())?;
    let w: Wire = serde_json::from_str(text.trim()).map_err(|_| {
        "the credentials are not a JSON object with ServerURL, Username and Secret".to_string()
    })?;
    let secret = Secret::new(w.secret);
    if w.server_url.trim().is_empty() {
        return Err(NO_SERVER_URL.into());
    }
    // `get` and `erase` refuse such keys (parse_server), so a login stored under one could
    // never be read or removed again through the helper.
    if has_control(w.server_url.trim()) {
        return Err(CONTROL_IN_SERVER_URL.into());
    }
    if w.username.trim().is_empty() {
        return Err(NO_USERNAME.into());
    }
    Ok(Credentials {
        server_url: w.server_url.trim().to_string(),
        username: w.username,
        secret,
    })
}

/// Parse the server key `get` and `erase` receive: the bare key, kept verbatim but for
/// surrounding whitespace (the CLI sends no newline; people typing do).
pub fn parse_server(input: &[u8]) -> Result<String, String> {
    let text =
        std::str::from_utf8(input).map_err(|_| "the server URL is not UTF-8 text".to_string())?;
    let key = text.trim();
    if key.is_empty() {
        return Err(NO_SERVER_URL.into());
    }
    if has_control(key) {
        return Err(CONTROL_IN_SERVER_URL.into());
    }
    Ok(key.to_string())
}

/// `get`'s answer.
pub fn get_answer(server_url: &str, username: &str, secret: &Secret) -> Secret {
    let v = serde_json::json!({"ServerURL": server_url, "Username": username, "Secret": secret.expose()});
    Secret::new(format!("{v}\n"))
}

/// `list`'s answer: server key → username, keys sorted as Go's encoder writes a map.
pub fn list_answer(entries: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> = entries
        .iter()
        .map(|(s, u)| (s.as_str(), u.as_str()))
        .collect();
    format!("{}\n", serde_json::to_string(&map).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        for (s, v) in [
            ("store", Verb::Store),
            ("get", Verb::Get),
            ("erase", Verb::Erase),
            ("list", Verb::List),
            ("version", Verb::Version),
            ("-v", Verb::Version),
        ] {
            assert_eq!(Verb::parse(s), Some(v));
        }
        assert_eq!(Verb::parse("GET"), None);
    }

    #[test]
    fn store_input() {
        let c = parse_store(br#"{"ServerURL":"https://index.docker.io/v1/access-token","Username":"<token>","Secret":"s3"}"#).unwrap();
        assert_eq!(
            (
                c.server_url.as_str(),
                c.username.as_str(),
                c.secret.expose()
            ),
            ("https://index.docker.io/v1/access-token", "<token>", "s3")
        );
        assert_eq!(
            parse_store(br#"{"ServerURL":"","Username":"u","Secret":"s"}"#).unwrap_err(),
            NO_SERVER_URL
        );
        assert_eq!(
            parse_store(br#"{"ServerURL":"r","Username":"","Secret":"s"}"#).unwrap_err(),
            NO_USERNAME
        );
        for bad in [
            &b""[..],
            b"garbage",
            b"[]",
            b"\xff\xfe",
            b"{\"ServerURL\":1}",
        ] {
            let e = parse_store(bad).unwrap_err();
            assert!(!e.is_empty());
        }
        let e = parse_store(br#"{"ServerURL":"r","Username":"u","Secret":"hunter2""#).unwrap_err();
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn server_input_is_trimmed_not_rewritten() {
        assert_eq!(
            parse_server(b"  https://reg:5000/v1/ \n").unwrap(),
            "https://reg:5000/v1/"
        );
        assert_eq!(parse_server(b"").unwrap_err(), NO_SERVER_URL);
        assert!(parse_server(b"a\x00b").is_err());
    }

    /// Found by fuzzing (fuzz/fuzz_targets/helper_stdin.rs): `store` took a ServerURL holding a
    /// control character (here DEL) that `get` and `erase` then refused, leaving a login that
    /// only `list` could see.
    #[test]
    fn store_refuses_keys_that_get_would_refuse() {
        // JSON escapes: DEL, NUL, newline, NEL (a C1 control that trim() also treats as space).
        for url in [r"reg\u007f:5000", r"reg\u0000x", r"a\nb", r"r\u0085x"] {
            let input = format!(r#"{{"ServerURL":"{url}","Username":"u","Secret":"s"}}"#);
            assert_eq!(
                parse_store(input.as_bytes()).unwrap_err(),
                CONTROL_IN_SERVER_URL,
                "{url}"
            );
            let key: String = serde_json::from_str(&format!("\"{url}\"")).unwrap();
            assert_eq!(
                parse_server(key.as_bytes()).unwrap_err(),
                CONTROL_IN_SERVER_URL
            );
        }
        // Surrounding whitespace is still trimmed, as `get` trims it.
        let c = parse_store(br#"{"ServerURL":" reg:5000\n","Username":"u","Secret":"s"}"#).unwrap();
        assert_eq!(c.server_url, "reg:5000");
        assert_eq!(parse_server(c.server_url.as_bytes()).unwrap(), c.server_url);
    }

    #[test]
    fn answers() {
        let a = get_answer("r:1", "u", &Secret::new("p\"w"));
        let v: serde_json::Value = serde_json::from_str(a.expose()).unwrap();
        assert_eq!(v["Secret"], "p\"w");
        assert_eq!(
            list_answer(&[("r:1".into(), "u".into())]),
            "{\"r:1\":\"u\"}\n"
        );
        assert_eq!(list_answer(&[]), "{}\n");
        assert_eq!(
            list_answer(&[("b".into(), "u".into()), ("a".into(), "v".into())]),
            "{\"a\":\"v\",\"b\":\"u\"}\n"
        );
    }
}
