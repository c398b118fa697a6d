//! End-to-end: which login a push uses when a registry has several. The README's order is
//! pushx's keyring store, then `DOCKER_AUTH_CONFIG`, then config.json's `credHelpers` entry,
//! then its `credsStore`, then its `auths`, else anonymous. For every adjacent pair, the
//! higher source holds the right secret and the lower one a wrong one (the push lands, naming
//! the higher source: reordered, the wrong secret is sent and the push fails with exit 3), and
//! the higher source has no login for the registry (the lower one is used and named).
//!
//! Each test reaches the htpasswd registry through a proxy of its own, so its server key
//! (`127.0.0.1:PROXYPORT`) is one no other test logs in to or looks up, in the keyring or
//! anywhere else.

use crate::common::proxy::FaultProxy;
use crate::common::*;
use std::path::Path;
use std::process::Command;

/// A secret the test registry refuses.
fn wrong() -> String {
    format!("wrong-{}", password())
}

/// `{"auths": {KEY: {"auth": base64(user:secret)}}}`, as config.json or `DOCKER_AUTH_CONFIG`
/// holds a login.
fn auths(key: &str, secret: &str) -> serde_json::Value {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", user()));
    serde_json::json!({"auths": {key: {"auth": auth}}})
}

/// The htpasswd registry behind a proxy of the test's own, and the server key that gives it.
fn own_registry() -> Option<(FaultProxy, String)> {
    let reg = env_or_skip("PUSHX_TEST_AUTH_REGISTRY")?;
    let proxy = FaultProxy::start(&reg);
    let key = proxy.addr();
    Some((proxy, key))
}

/// A directory of credential helpers of the test's own, put first on PATH.
struct Helpers {
    dir: tempfile::TempDir,
}

impl Helpers {
    fn new() -> Helpers {
        Helpers {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `docker-credential-NAME`: `get` answers `secret` for `key` (user: the test user) and
    /// "not found" (exit 1) for anything else, like docker's helpers; `key: None` knows
    /// nothing at all.
    fn add(&self, name: &str, key: Option<&str>, secret: &str) {
        use std::os::unix::fs::PermissionsExt;
        let script = self.dir.path().join(format!("docker-credential-{name}"));
        let answer = serde_json::json!({
            "ServerURL": key.unwrap_or(""),
            "Username": user(),
            "Secret": secret,
        });
        std::fs::write(
            self.dir.path().join(format!("{name}.key")),
            key.unwrap_or("\n(none)"),
        )
        .unwrap();
        std::fs::write(
            self.dir.path().join(format!("{name}.answer")),
            answer.to_string(),
        )
        .unwrap();
        let body = format!(
            "#!/bin/sh\n\
             d='{dir}'\n\
             [ \"$1\" = get ] || {{ echo \"unsupported: $1\"; exit 1; }}\n\
             server=$(cat)\n\
             if [ \"$server\" = \"$(cat \"$d/{name}.key\")\" ]; then cat \"$d/{name}.answer\"; exit 0; fi\n\
             echo 'credentials not found in native keychain'\n\
             exit 1\n",
            dir = self.dir.path().display(),
        );
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn path(&self) -> String {
        path_with(self.dir.path())
    }
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A login in pushx's keyring store, made by `docker pushx login` (so it was checked against
/// the registry), removed again when dropped.
struct KeyringLogin<'a> {
    cfg: &'a Config,
    key: String,
}

impl<'a> KeyringLogin<'a> {
    fn new(cfg: &'a Config, key: &str, store: &str) -> KeyringLogin<'a> {
        let r = run_with_stdin(
            cfg.pushx().env("PUSHX_CREDENTIAL_STORE", store).args([
                "login",
                key,
                "-u",
                &user(),
                "--password-stdin",
            ]),
            Some(password().as_bytes()),
        );
        assert_eq!(r.code, 0, "login to {key} in {store}: {r:?}");
        assert!(r.stdout.contains(&format!("keyring:{store}")), "{r:?}");
        KeyringLogin {
            cfg,
            key: key.to_string(),
        }
    }
}

impl Drop for KeyringLogin<'_> {
    fn drop(&mut self) {
        let r = run(self.cfg.pushx().args(["logout", &self.key]));
        if !std::thread::panicking() {
            assert_eq!(r.code, 0, "logout {}: {r:?}", self.key);
        }
    }
}

/// Push the scenario's image to a fresh repository under `key`; assert it landed in the
/// registry with the test user's right secret, and return the source it names.
fn lands_naming(s: &Scenario, key: &str) -> String {
    let pushed = s.push_as(
        &format!("{key}/{}:1", unique("e2e/prec")),
        &["--progress", "quiet", "--verify", "digest"],
    );
    assert_eq!(
        pushed.run.code, 0,
        "the push should use the right secret (failing, the lookup did not follow the README's order): {:?}",
        pushed.run
    );
    let t = pushed.target(0);
    assert_eq!(t["status"], "pushed", "{:?}", pushed.run);
    t["credential_source"]
        .as_str()
        .unwrap_or_else(|| panic!("no credential_source: {:?}", pushed.run))
        .to_string()
}

#[test]
fn the_keyring_wins_over_docker_auth_config() {
    need!("PUSHX_TEST_SECRET_SERVICE");
    need!("PUSHX_TEST_KEYUTILS");
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let s = Scenario::new()
        .env("DOCKER_AUTH_CONFIG", auths(&key, &wrong()).to_string())
        .random_image(1_000);
    for store in ["secret-service", "keyutils"] {
        let _login = KeyringLogin::new(s.config(), &key, store);
        assert_eq!(lands_naming(&s, &key), format!("keyring:{store}"));
    }
}

#[test]
fn docker_auth_config_when_the_keyring_has_no_login() {
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let s = Scenario::new()
        .env("DOCKER_AUTH_CONFIG", auths(&key, &password()).to_string())
        .config_json(auths(&key, &wrong()))
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "docker-auth-config");
}

#[test]
fn docker_auth_config_wins_over_cred_helpers() {
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let helpers = Helpers::new();
    helpers.add("prec-entry", Some(&key), &wrong());
    let s = Scenario::new()
        .env("PATH", helpers.path())
        .env("DOCKER_AUTH_CONFIG", auths(&key, &password()).to_string())
        .config_json(serde_json::json!({"credHelpers": {&key: "prec-entry"}}))
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "docker-auth-config");
}

#[test]
fn cred_helpers_when_docker_auth_config_has_no_login() {
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let helpers = Helpers::new();
    helpers.add("prec-entry", Some(&key), &password());
    // DOCKER_AUTH_CONFIG is set, with a login for another registry only.
    let s = Scenario::new()
        .env("PATH", helpers.path())
        .env(
            "DOCKER_AUTH_CONFIG",
            auths("other.example:5000", &wrong()).to_string(),
        )
        .config_json(serde_json::json!({"credHelpers": {&key: "prec-entry"}}))
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "helper:prec-entry");
}

#[test]
fn cred_helpers_win_over_creds_store() {
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let helpers = Helpers::new();
    helpers.add("prec-entry", Some(&key), &password());
    helpers.add("prec-store", Some(&key), &wrong());
    let s = Scenario::new()
        .env("PATH", helpers.path())
        .config_json(serde_json::json!({
            "credHelpers": {&key: "prec-entry"},
            "credsStore": "prec-store",
        }))
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "helper:prec-entry");
}

#[test]
fn creds_store_when_cred_helpers_name_other_registries() {
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let helpers = Helpers::new();
    helpers.add("prec-entry", Some("other.example:5000"), &wrong());
    helpers.add("prec-store", Some(&key), &password());
    let s = Scenario::new()
        .env("PATH", helpers.path())
        .config_json(serde_json::json!({
            "credHelpers": {"other.example:5000": "prec-entry"},
            "credsStore": "prec-store",
        }))
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "helper:prec-store");
}

#[test]
fn creds_store_wins_over_auths() {
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let helpers = Helpers::new();
    helpers.add("prec-store", Some(&key), &password());
    let mut doc = auths(&key, &wrong());
    doc["credsStore"] = "prec-store".into();
    let s = Scenario::new()
        .env("PATH", helpers.path())
        .config_json(doc)
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "helper:prec-store");
}

#[test]
fn auths_when_the_creds_store_has_no_login() {
    let Some((_proxy, key)) = own_registry() else {
        return;
    };
    let helpers = Helpers::new();
    // The store answers "credentials not found in native keychain" for every server.
    helpers.add("prec-store", None, &wrong());
    let mut doc = auths(&key, &password());
    doc["credsStore"] = "prec-store".into();
    let s = Scenario::new()
        .env("PATH", helpers.path())
        .config_json(doc)
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "docker-config");
}

#[test]
fn anonymous_when_no_source_has_a_login() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    let Some((_auth_proxy, auth_key)) = own_registry() else {
        return;
    };
    let proxy = FaultProxy::start(&plain);
    let key = proxy.addr();
    let helpers = Helpers::new();
    helpers.add("prec-entry", Some("other.example:5000"), &wrong());
    helpers.add("prec-store", None, &wrong());
    // Every source is there, with logins for other registries only.
    let mut doc = auths("other.example:5000", &wrong());
    doc["credsStore"] = "prec-store".into();
    doc["credHelpers"] = serde_json::json!({"other.example:5000": "prec-entry"});
    let s = Scenario::new()
        .env("PATH", helpers.path())
        .env(
            "DOCKER_AUTH_CONFIG",
            auths("other.example:5000", &wrong()).to_string(),
        )
        .config_json(doc)
        .random_image(1_000);
    assert_eq!(lands_naming(&s, &key), "anonymous");
    // The htpasswd registry refuses an anonymous push.
    let pushed = s.push_as(
        &format!("{auth_key}/{}:1", unique("e2e/prec")),
        &["--progress", "quiet", "--verify", "digest"],
    );
    pushed.expect(3);
    assert_eq!(pushed.target(0)["credential_source"], "anonymous");
}

/// A helper on PATH is what the lookup runs: the test's own scripts answer as docker's do.
#[test]
fn the_test_helpers_answer_like_docker_helpers() {
    let helpers = Helpers::new();
    helpers.add("prec-entry", Some("reg.example:5000"), "s>?~");
    let get = |key: &str| {
        run_with_stdin(
            Command::new("docker-credential-prec-entry")
                .env("PATH", helpers.path())
                .arg("get"),
            Some(key.as_bytes()),
        )
    };
    let r = get("reg.example:5000");
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (v["Username"].as_str(), v["Secret"].as_str()),
        (Some(user().as_str()), Some("s>?~"))
    );
    let r = get("other.example");
    assert_eq!(
        (r.code, r.stdout.trim()),
        (1, "credentials not found in native keychain")
    );
}
