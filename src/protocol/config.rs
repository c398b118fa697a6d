//! docker's `config.json`: the parts docker-pushx reads (logins, helpers, current context), the
//! edits it makes (helpers, logins moved out, plugin settings) and the rules docker applies to
//! them. Unknown keys are kept as they are, and in their order: the file is the user's.

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
        let mut keys: Vec<String> = auths
            .iter()
            .filter(|(_, v)| {
                ["auth", "password", "identitytoken"].iter().any(|k| {
                    v.get(k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        // The document keeps the file's order; callers list logins sorted.
        keys.sort();
        keys
    }
}

/// The `auths` fields that hold a login in plain text; `import` clears them once the keyring has
/// the secret. The empty entry left behind is what docker writes when a helper holds the login.
const AUTH_SECRET_FIELDS: [&str; 6] = [
    "auth",
    "password",
    "identitytoken",
    "registrytoken",
    "username",
    "email",
];

/// Edits. Removals shift the following keys up rather than swapping the last one in, so the
/// user's order survives; docker itself rewrites the file in its struct order and drops what it
/// does not know, which is what these methods are here to avoid.
impl DockerConfig {
    /// The object under `key`, created empty when absent; an error (and no change) when `key`
    /// holds something else, which only the user can sort out.
    fn object_mut(&mut self, key: &str) -> Result<&mut Map<String, Value>, ConfigError> {
        self.doc
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| ConfigError(format!("{key:?} is not an object")))
    }

    /// Point `credsStore` at `helper` (the suffix of `docker-credential-<helper>`). Returns the
    /// value it replaces, as written (even empty).
    pub fn set_creds_store(&mut self, helper: &str) -> Option<String> {
        let old = self
            .doc
            .get("credsStore")
            .and_then(Value::as_str)
            .map(String::from);
        self.doc.insert("credsStore".into(), helper.into());
        old
    }

    /// Remove `credsStore`. Returns the value it held, as written (even empty), or `None` when
    /// there was none. docker's field is `omitempty`: no key and an empty one mean the same.
    pub fn unset_creds_store(&mut self) -> Option<String> {
        let old = self.doc.shift_remove("credsStore")?;
        Some(
            old.as_str()
                .map(String::from)
                .unwrap_or_else(|| old.to_string()),
        )
    }

    /// Name `helper` for the registry key `key` in `credHelpers`.
    pub fn set_cred_helper(&mut self, key: &str, helper: &str) -> Result<(), ConfigError> {
        self.object_mut("credHelpers")?
            .insert(key.to_owned(), helper.into());
        Ok(())
    }

    /// Drop `key` from `credHelpers`. An emptied `credHelpers` goes too: docker's field is
    /// `omitempty`. Returns whether there was an entry.
    pub fn unset_cred_helper(&mut self, key: &str) -> bool {
        remove_nested(&mut self.doc, "credHelpers", key).is_some()
    }

    /// The `credHelpers` entries as (registry, helper), in file order; entries whose value is
    /// not a string are left out.
    pub fn cred_helpers(&self) -> Vec<(&str, &str)> {
        match self.doc.get("credHelpers") {
            Some(Value::Object(h)) => h
                .iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every helper config.json names (`credsStore`, then the `credHelpers` values), each once,
    /// sorted; empty names (docker's "use the file") are left out.
    pub fn helpers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.creds_store().into_iter().collect();
        out.extend(
            self.cred_helpers()
                .into_iter()
                .map(|(_, h)| h)
                .filter(|s| !s.is_empty()),
        );
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Remove the whole `auths` entry for exactly `key`. Returns whether there was one.
    pub fn remove_auth(&mut self, key: &str) -> bool {
        match self.doc.get_mut("auths") {
            Some(Value::Object(auths)) => auths.shift_remove(key).is_some(),
            _ => false,
        }
    }

    /// Clear the login kept in plain text in `key`'s `auths` entry, leaving the entry. Returns
    /// whether anything was removed.
    pub fn remove_auth_secret(&mut self, key: &str) -> bool {
        let Some(Value::Object(entry)) = self.doc.get_mut("auths").and_then(|a| a.get_mut(key))
        else {
            return false;
        };
        let mut removed = false;
        for field in AUTH_SECRET_FIELDS {
            removed |= entry.shift_remove(field).is_some();
        }
        removed
    }

    /// A plugin's setting: `plugins.<plugin>.<option>`.
    pub fn plugin_setting(&self, plugin: &str, option: &str) -> Option<&str> {
        self.doc.get("plugins")?.get(plugin)?.get(option)?.as_str()
    }

    /// Set `plugins.<plugin>.<option>`. docker decodes `plugins` as a map of plugin names to maps
    /// of strings and refuses the whole file otherwise, so the value is a string by type, and a
    /// `plugins` or plugin entry that is not an object is an error, left as it is.
    pub fn set_plugin_setting(
        &mut self,
        plugin: &str,
        option: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let plugins = self.object_mut("plugins")?;
        let settings = plugins
            .entry(plugin)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| ConfigError(format!("\"plugins\": {plugin:?} is not an object")))?;
        settings.insert(option.to_owned(), value.into());
        Ok(())
    }

    /// Remove the whole `plugins.<plugin>` entry (every setting of that plugin), and an emptied
    /// `plugins`. Returns whether there was an entry.
    pub fn remove_plugin(&mut self, plugin: &str) -> bool {
        remove_nested(&mut self.doc, "plugins", plugin).is_some()
    }

    /// Remove `plugins.<plugin>.<option>`. As docker's `SetPluginConfig` does with an empty
    /// value, an emptied plugin entry goes, and so does an emptied `plugins` (`omitempty`).
    /// Returns whether there was a setting.
    pub fn remove_plugin_setting(&mut self, plugin: &str, option: &str) -> bool {
        let Some(Value::Object(plugins)) = self.doc.get_mut("plugins") else {
            return false;
        };
        let removed = remove_nested(plugins, plugin, option).is_some();
        if removed && plugins.is_empty() {
            self.doc.shift_remove("plugins");
        }
        removed
    }
}

/// Remove `parent.key` from `map`, and `parent` itself when that empties it.
fn remove_nested(map: &mut Map<String, Value>, parent: &str, key: &str) -> Option<Value> {
    let Some(Value::Object(inner)) = map.get_mut(parent) else {
        return None;
    };
    let removed = inner.shift_remove(key)?;
    if inner.is_empty() {
        map.shift_remove(parent);
    }
    Some(removed)
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

    /// The document as compact JSON, in its order.
    fn text(c: &DockerConfig) -> String {
        Value::Object(c.doc.clone()).to_string()
    }

    fn cfg(json: &str) -> DockerConfig {
        DockerConfig::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn set_creds_store_keeps_every_other_key_in_place() {
        let mut c = cfg(r#"{"z":{"b":1,"a":2},"credsStore":"desktop","a":[1]}"#);
        assert_eq!(c.set_creds_store("pushx").as_deref(), Some("desktop"));
        assert_eq!(
            text(&c),
            r#"{"z":{"b":1,"a":2},"credsStore":"pushx","a":[1]}"#
        );
        assert_eq!(c.creds_store(), Some("pushx"));
        // A new key goes last; an empty old value is reported as written.
        let mut c = cfg(r#"{"z":1,"credsStore":""}"#);
        assert_eq!(c.set_creds_store("pushx").as_deref(), Some(""));
        let mut c = cfg(r#"{"z":1}"#);
        assert_eq!(c.set_creds_store("pushx"), None);
        assert_eq!(text(&c), r#"{"z":1,"credsStore":"pushx"}"#);
    }

    #[test]
    fn unset_creds_store_keeps_every_other_key_in_place() {
        let mut c = cfg(r#"{"z":1,"credsStore":"pushx","a":[1]}"#);
        assert_eq!(c.unset_creds_store().as_deref(), Some("pushx"));
        assert_eq!(text(&c), r#"{"z":1,"a":[1]}"#);
        assert_eq!(c.unset_creds_store(), None);
        assert_eq!(text(&c), r#"{"z":1,"a":[1]}"#);
        // Whatever it held is reported as written, so a caller can tell "pushx" from the rest.
        let mut c = cfg(r#"{"credsStore":""}"#);
        assert_eq!(c.unset_creds_store().as_deref(), Some(""));
        let mut c = cfg(r#"{"credsStore":7}"#);
        assert_eq!(c.unset_creds_store().as_deref(), Some("7"));
        assert_eq!(text(&c), "{}");
    }

    #[test]
    fn cred_helpers_set_and_unset() {
        let mut c = cfg(r#"{"credHelpers":{"b:1":"x","a:1":"y"},"k":true}"#);
        c.set_cred_helper("c:1", "pushx").unwrap();
        c.set_cred_helper("b:1", "pushx").unwrap();
        assert_eq!(
            text(&c),
            r#"{"credHelpers":{"b:1":"pushx","a:1":"y","c:1":"pushx"},"k":true}"#
        );
        assert_eq!(c.helper_for("c:1"), Some("pushx"));
        assert!(c.unset_cred_helper("b:1"));
        assert!(!c.unset_cred_helper("b:1"));
        assert_eq!(
            text(&c),
            r#"{"credHelpers":{"a:1":"y","c:1":"pushx"},"k":true}"#
        );
        // docker omits an empty credHelpers.
        assert!(c.unset_cred_helper("a:1") && c.unset_cred_helper("c:1"));
        assert_eq!(text(&c), r#"{"k":true}"#);

        let mut c = cfg(r#"{"x":1}"#);
        c.set_cred_helper("r:1", "pushx").unwrap();
        assert_eq!(text(&c), r#"{"x":1,"credHelpers":{"r:1":"pushx"}}"#);

        let mut c = cfg(r#"{"credHelpers":"oops"}"#);
        let err = c.set_cred_helper("r:1", "pushx").unwrap_err();
        assert_eq!(err.to_string(), "\"credHelpers\" is not an object");
        assert!(!c.unset_cred_helper("r:1"));
        assert_eq!(text(&c), r#"{"credHelpers":"oops"}"#);
    }

    #[test]
    fn helpers_lists_each_named_helper_once() {
        let c = cfg(
            r#"{"credsStore":"pass","credHelpers":{"a":"gcloud","b":"pass","c":"","d":7,"e":"ecr"}}"#,
        );
        assert_eq!(c.helpers(), vec!["ecr", "gcloud", "pass"]);
        assert_eq!(
            c.cred_helpers(),
            vec![("a", "gcloud"), ("b", "pass"), ("c", ""), ("e", "ecr")]
        );
        assert!(cfg("{}").helpers().is_empty());
        assert!(
            cfg(r#"{"credsStore":"","credHelpers":[]}"#)
                .helpers()
                .is_empty()
        );
    }

    #[test]
    fn remove_auth_and_its_secret() {
        let json = r#"{"auths":{"b:1":{"auth":"YWxpY2U6czNjcmV0","email":"e","x":1},"a:1":{"username":"u","password":"p","identitytoken":"t","registrytoken":"r"},"c:1":{}},"y":2}"#;
        let mut c = cfg(json);
        assert!(c.remove_auth_secret("b:1"));
        assert!(c.remove_auth_secret("a:1"));
        assert!(!c.remove_auth_secret("c:1"));
        assert!(!c.remove_auth_secret("nope"));
        // Unknown fields of the entry stay; the entry stays, empty, as docker leaves it.
        assert_eq!(
            text(&c),
            r#"{"auths":{"b:1":{"x":1},"a:1":{},"c:1":{}},"y":2}"#
        );
        assert!(c.plaintext_logins().is_empty());
        assert!(c.auth_entry("b:1").unwrap().is_none());

        let mut c = cfg(json);
        assert!(c.remove_auth("b:1"));
        assert!(!c.remove_auth("b:1"));
        assert!(text(&c).starts_with(r#"{"auths":{"a:1":{"#), "{}", text(&c));
        assert_eq!(c.plaintext_logins(), vec!["a:1"]);
        // auths is not omitempty in docker: it stays even when emptied.
        assert!(c.remove_auth("a:1") && c.remove_auth("c:1"));
        assert_eq!(text(&c), r#"{"auths":{},"y":2}"#);
        assert!(!cfg(r#"{"auths":[]}"#).remove_auth("a"));
    }

    #[test]
    fn plugin_settings_are_strings_under_an_object() {
        let mut c = cfg(r#"{"plugins":{"other":{"k":"v"}},"z":0}"#);
        assert_eq!(c.plugin_setting("pushx", "hooks"), None);
        c.set_plugin_setting("pushx", "hooks", "push").unwrap();
        c.set_plugin_setting("pushx", "mode", "a").unwrap();
        c.set_plugin_setting("pushx", "hooks", "push,login")
            .unwrap();
        assert_eq!(c.plugin_setting("pushx", "hooks"), Some("push,login"));
        assert_eq!(
            text(&c),
            r#"{"plugins":{"other":{"k":"v"},"pushx":{"hooks":"push,login","mode":"a"}},"z":0}"#
        );
        // Every value under plugins stays a string, so docker can still read the file.
        for plugin in c.doc["plugins"].as_object().unwrap().values() {
            assert!(plugin.as_object().unwrap().values().all(Value::is_string));
        }
        assert!(c.remove_plugin_setting("pushx", "hooks"));
        assert!(!c.remove_plugin_setting("pushx", "hooks"));
        assert!(c.remove_plugin_setting("pushx", "mode"));
        assert_eq!(text(&c), r#"{"plugins":{"other":{"k":"v"}},"z":0}"#);
        assert!(c.remove_plugin_setting("other", "k"));
        assert_eq!(text(&c), r#"{"z":0}"#);

        // A whole plugin entry goes at once, and an emptied `plugins` with it.
        let mut c = cfg(r#"{"plugins":{"pushx":{"a":"1","b":"2"},"other":{"k":"v"}},"z":0}"#);
        assert!(c.remove_plugin("pushx"));
        assert!(!c.remove_plugin("pushx"));
        assert_eq!(text(&c), r#"{"plugins":{"other":{"k":"v"}},"z":0}"#);
        assert!(c.remove_plugin("other"));
        assert_eq!(text(&c), r#"{"z":0}"#);
        assert!(!cfg(r#"{"plugins":[]}"#).remove_plugin("pushx"));

        let mut c = cfg(r#"{}"#);
        c.set_plugin_setting("pushx", "hooks", "push").unwrap();
        assert_eq!(text(&c), r#"{"plugins":{"pushx":{"hooks":"push"}}}"#);

        for bad in [r#"{"plugins":[]}"#, r#"{"plugins":{"pushx":"x"}}"#] {
            let mut c = cfg(bad);
            assert!(
                c.set_plugin_setting("pushx", "hooks", "push").is_err(),
                "{bad}"
            );
            assert!(!c.remove_plugin_setting("pushx", "hooks"), "{bad}");
            assert_eq!(text(&c), bad);
        }
    }
}
