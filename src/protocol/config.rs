//! docker's `config.json`: the parts docker-pushx reads (logins, helpers, current context) and
//! the rules docker applies to them. Unknown keys are kept as they are.

use crate::secret::Secret;
use base64::Engine;
use serde_json::{Map, Value};

/// The key docker files Docker Hub logins under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login found in `auths` (or in `DOCKER_AUTH_CONFIG`).
#[derive(Debug, Clone)]
pub struct AuthEntry {
    pub username: String,
    pub password: Option<Secret>,
    pub identity_token: Option<Secret>,
}

/// A parsed config.json. Holds the whole document so that a writer can keep every key.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    pub doc: Map<String, Value>,
}

impl DockerConfig {
    /// Parse config.json. An empty file is an empty config, as docker treats it.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(doc)) => Ok(DockerConfig { doc }),
            Ok(_) => Err(ConfigError("it is not a JSON object".into())),
            Err(e) => Err(ConfigError(format!("it is not valid JSON ({e})"))),
        }
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.doc
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn current_context(&self) -> Option<&str> {
        self.str_field("currentContext")
    }

    pub fn creds_store(&self) -> Option<&str> {
        self.str_field("credsStore")
    }

    /// The helper named for this key in `credHelpers`.
    pub fn cred_helper(&self, key: &str) -> Option<&str> {
        self.doc
            .get("credHelpers")?
            .get(key)?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// The helper docker would run for this key: `credHelpers` first, then `credsStore`.
    pub fn helper_for(&self, key: &str) -> Option<&str> {
        self.cred_helper(key).or_else(|| self.creds_store())
    }

    /// The `auths` login for `key`, with docker's fallback to keys written as URLs
    /// (`https://host/v1/` matches `host`).
    pub fn auth_entry(&self, key: &str) -> Result<Option<AuthEntry>, ConfigError> {
        auth_entry_in(self.doc.get("auths"), key)
    }

    /// Every `auths` key that carries a secret in plain text (for `import` and `doctor`).
    pub fn plaintext_logins(&self) -> Vec<String> {
        let Some(Value::Object(auths)) = self.doc.get("auths") else {
            return Vec::new();
        };
        auths
            .iter()
            .filter(|(_, v)| {
                ["auth", "password", "identitytoken"].iter().any(|k| {
                    v.get(k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                })
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}

/// Look `key` up in an `auths` object.
pub fn auth_entry_in(auths: Option<&Value>, key: &str) -> Result<Option<AuthEntry>, ConfigError> {
    let Some(Value::Object(auths)) = auths else {
        return Ok(None);
    };
    let entry = auths.get(key).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| convert_to_hostname(k) == key)
            .map(|(_, v)| v)
    });
    let Some(entry) = entry else { return Ok(None) };
    let get = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let identity_token = get("identitytoken").map(Secret::new);
    let (username, password) = if let Some(auth) = get("auth") {
        let (u, p) =
            decode_auth(auth).map_err(|e| ConfigError(format!("the login for {key}: {e}")))?;
        (u, Some(p))
    } else {
        (
            get("username").unwrap_or_default().to_string(),
            get("password").map(Secret::new),
        )
    };
    if password.is_none() && identity_token.is_none() {
        // docker writes an empty placeholder entry when a helper holds the secret.
        return Ok(None);
    }
    Ok(Some(AuthEntry {
        username,
        password,
        identity_token,
    }))
}

/// Decode an `auth` value: standard base64 of `user:password`.
pub fn decode_auth(auth: &str) -> Result<(String, Secret), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| "the \"auth\" value is not base64".to_string())?;
    let text =
        String::from_utf8(bytes).map_err(|_| "the \"auth\" value is not UTF-8".to_string())?;
    let (user, pass) = text
        .split_once(':')
        .ok_or("the \"auth\" value has no ':'")?;
    if user.is_empty() {
        return Err("the \"auth\" value has an empty username".into());
    }
    Ok((user.to_string(), Secret::new(pass.trim_end_matches('\0'))))
}

/// Encode `user:password` as docker's `auth` value.
pub fn encode_auth(user: &str, password: &Secret) -> Secret {
    let plain = Secret::new(format!("{user}:{}", password.expose()));
    Secret::new(base64::engine::general_purpose::STANDARD.encode(plain.expose()))
}

/// docker's `ConvertToHostname`: strip `http(s)://` and anything from the first `/`.
pub fn convert_to_hostname(url: &str) -> &str {
    let s = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    s.split('/').next().unwrap_or(s)
}

/// The credentials key for a registry named by the user, as `docker login SERVER` files it:
/// Docker Hub (nothing, `docker.io`, `index.docker.io`, any URL on them) is
/// `https://index.docker.io/v1/`; anything else is `host[:port]`.
pub fn login_key(server: &str) -> String {
    let server = server.trim();
    let host = convert_to_hostname(server).trim();
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_logins_helpers_and_context() {
        let c = DockerConfig::parse(
            br#"{"auths":{"reg:5000":{"auth":"YWxpY2U6czNjcmV0"},"https://old.example/v1/":{"auth":"Ym9iOnB3"},"helped:1":{}},
                "credsStore":"pass","credHelpers":{"gcr.io":"gcloud"},"currentContext":"prod","x":1}"#,
        )
        .unwrap();
        let e = c.auth_entry("reg:5000").unwrap().unwrap();
        assert_eq!(
            (e.username.as_str(), e.password.unwrap().expose()),
            ("alice", "s3cret")
        );
        assert_eq!(
            c.auth_entry("old.example").unwrap().unwrap().username,
            "bob"
        );
        assert!(c.auth_entry("helped:1").unwrap().is_none());
        assert!(c.auth_entry("nope").unwrap().is_none());
        assert_eq!(c.helper_for("gcr.io"), Some("gcloud"));
        assert_eq!(c.helper_for("reg:5000"), Some("pass"));
        assert_eq!(c.current_context(), Some("prod"));
        assert_eq!(
            c.plaintext_logins(),
            vec!["https://old.example/v1/", "reg:5000"]
        );
    }

    #[test]
    fn malformed_and_empty() {
        assert!(DockerConfig::parse(b"").unwrap().doc.is_empty());
        assert!(DockerConfig::parse(b"{").is_err());
        assert!(DockerConfig::parse(b"[]").is_err());
        let bad = DockerConfig::parse(br#"{"auths":{"r":{"auth":"!!"}}}"#).unwrap();
        assert!(bad.auth_entry("r").is_err());
    }

    #[test]
    fn auth_round_trip_keeps_colons_in_password() {
        let enc = encode_auth("u", &Secret::new("a:b:c"));
        let (u, p) = decode_auth(enc.expose()).unwrap();
        assert_eq!((u.as_str(), p.expose()), ("u", "a:b:c"));
        assert!(decode_auth("OnB3").is_err()); // ":pw"
    }

    #[test]
    fn login_keys_like_docker() {
        for (input, want) in [
            ("", DOCKER_HUB_KEY),
            ("docker.io", DOCKER_HUB_KEY),
            ("index.docker.io", DOCKER_HUB_KEY),
            ("https://index.docker.io/v1/", DOCKER_HUB_KEY),
            ("reg.example.com:5000", "reg.example.com:5000"),
            ("https://reg.example.com:5000/v2/", "reg.example.com:5000"),
            ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ] {
            assert_eq!(login_key(input), want, "{input}");
        }
    }
}
