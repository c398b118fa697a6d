//! End-to-end: no secret shows, in any form, anywhere a run writes. Every command that handles
//! a login (login, push, import, configure, logins, logout, doctor, the credential helper's
//! store/get/list/erase, and plain `docker login`/`pull`/`logout` through the helper) runs at
//! `RUST_LOG=trace` (and under the docker CLI with `-D`), and its stdout, stderr and every file
//! in the docker config directory, HOME and TMPDIR it was given are searched for the password,
//! `base64(user:password)`, the X-Registry-Auth header and its JSON, and an identity token
//! (see [`Secrets`]).

use crate::common::proxy::FaultProxy;
use crate::common::*;
use std::path::Path;
use std::process::Command;

/// Where the commands of one test run: a docker config, a HOME and TMPDIR of their own (their
/// files are searched too), logging everything, with docker-credential-pushx on PATH.
struct Traced {
    cfg: Config,
    root: tempfile::TempDir,
    secrets: Secrets,
    found: Vec<String>,
}

impl Traced {
    fn new(secrets: Secrets) -> Traced {
        let root = tempfile::tempdir().unwrap();
        for d in ["home", "tmp", "cache", "xdg-config", "state"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        Traced {
            cfg: Config::new(),
            root,
            secrets,
            found: Vec::new(),
        }
    }

    fn env(&self, mut c: Command) -> Command {
        let dir = |d: &str| self.root.path().join(d);
        let helper_dir = Path::new(HELPER).parent().unwrap();
        c.env("RUST_LOG", "trace")
            .env("HOME", dir("home"))
            .env("TMPDIR", dir("tmp"))
            .env("XDG_CACHE_HOME", dir("cache"))
            .env("XDG_CONFIG_HOME", dir("xdg-config"))
            .env("XDG_STATE_HOME", dir("state"))
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    helper_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            );
        c
    }

    fn pushx(&self) -> Command {
        self.env(self.cfg.pushx())
    }

    fn docker(&self) -> Command {
        self.env(self.cfg.docker())
    }

    fn helper(&self) -> Command {
        self.env(Command::new(HELPER))
    }

    /// Run `cmd` (feeding it `stdin`), search its output, and the files, for the secrets.
    fn run(&mut self, cmd: &mut Command, stdin: Option<&str>) -> Run {
        let r = run_with_stdin(cmd, stdin.map(str::as_bytes));
        let what = describe(cmd);
        self.found.extend(self.secrets.find_in_run(&what, &r));
        self.scan_files();
        r
    }

    /// Like [`run`](Self::run) for a command whose stdout carries the secret by design (the
    /// helper's `get`): only its stderr is searched.
    fn run_secret_stdout(&mut self, cmd: &mut Command, stdin: &str) -> Run {
        let r = run_with_stdin(cmd, Some(stdin.as_bytes()));
        let what = describe(cmd);
        self.found
            .extend(self.secrets.find(&format!("stderr of {what}"), &r.stderr));
        self.scan_files();
        r
    }

    fn scan_files(&mut self) {
        self.found.extend(self.secrets.find_in_dir(self.cfg.path()));
        self.found
            .extend(self.secrets.find_in_dir(self.root.path()));
    }

    /// Fail naming every place a secret showed; a place is named once, at its first sighting.
    fn assert_clean(&self) {
        let mut seen = std::collections::BTreeSet::new();
        let firsts: Vec<String> = self
            .found
            .iter()
            .filter(|f| seen.insert(f.split(": …").next().unwrap_or(f).to_string()))
            .cloned()
            .collect();
        self.secrets.assert_none(&firsts);
    }
}

/// Removes the login for `key` from pushx's stores when the test ends, however it ends.
struct LogoutAtEnd(Config, String);

impl Drop for LogoutAtEnd {
    fn drop(&mut self) {
        let _ = run(self.0.pushx().args(["logout", &self.1]));
    }
}

fn plain_auth(user: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
}

#[test]
fn a_password_never_shows_in_any_form() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    // A server key of the test's own (no other test logs in to it).
    let proxy = FaultProxy::start(&reg);
    let key = proxy.addr();
    let (user, pw) = (user(), password());
    let mut t = Traced::new(Secrets::new().password(&user, &pw, &key));
    let _logout = LogoutAtEnd(Config::new(), key.clone());
    let image = format!("{}:1", unique("pushx-leaks"));
    build_image(&image, &[("f", &random_bytes(1_000))]);
    let target = |n: &str| format!("{key}/{}:1", unique(&format!("e2e/leaks-{n}")));

    // A plaintext login, as `docker login` without a helper leaves it, moved by import. The
    // file is searched only from then on: until import, it holds the secret by design.
    t.cfg.write(&serde_json::json!({
        "auths": {&key: {"auth": plain_auth(&user, &pw)}},
        "psFormat": "table",
    }));
    let r = run_with_stdin(t.pushx().args(["import", "--dry-run"]), None);
    assert_eq!(r.code, 0, "{r:?}");
    t.found
        .extend(t.secrets.find_in_run("import --dry-run", &r));
    let r = t.run(t.pushx().args(["import"]), None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&format!("moved {key}")), "{r:?}");

    // Pushes with that login: through the docker CLI with -D, and standalone with JSON progress.
    let r = t.run(
        t.docker()
            .args(["-D", "pushx", "--format", "json", &image, &target("cli")]),
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.json()["targets"][0]["credential_source"],
        "keyring:secret-service"
    );
    let pushed = target("standalone");
    let r = t.run(
        t.pushx()
            .args(["--format", "json", "--progress", "json", &image, &pushed]),
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains(" TRACE "),
        "RUST_LOG=trace logs (else the search proves little): {r:?}"
    );

    // Logout, login (the password on stdin), and what lists logins.
    let r = t.run(t.pushx().args(["logout", &key]), None);
    assert!(r.stdout.contains("Removed"), "{r:?}");
    let r = t.run(
        t.docker().args([
            "-D",
            "pushx",
            "login",
            &key,
            "-u",
            &user,
            "--password-stdin",
        ]),
        Some(&pw),
    );
    assert_eq!(r.code, 0, "{r:?}");
    for args in [
        &["logins"][..],
        &["logins", "--format", "json"],
        &["doctor"],
    ] {
        let r = t.run(t.pushx().args(args), None);
        assert_eq!(r.code, 0, "{r:?}");
    }

    // Plain docker through docker-credential-pushx: configure, logout, login, pull.
    let r = t.run(t.pushx().args(["configure"]), None);
    assert_eq!(r.code, 0, "{r:?}");
    let r = t.run(t.docker().args(["-D", "logout", &key]), None);
    assert_eq!(r.code, 0, "{r:?}");
    let r = t.run(
        t.docker()
            .args(["-D", "login", &key, "-u", &user, "--password-stdin"]),
        Some(&pw),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let r = t.run(t.docker().args(["-D", "pull", &pushed]), None);
    assert_eq!(r.code, 0, "{r:?}");

    // The helper's own verbs; `get` prints the secret on stdout by protocol, and nowhere else.
    let login = serde_json::json!({"ServerURL": key, "Username": user, "Secret": pw}).to_string();
    let r = t.run(t.helper().arg("store"), Some(&login));
    assert_eq!(r.code, 0, "{r:?}");
    let r = t.run_secret_stdout(t.helper().arg("get"), &key);
    assert_eq!(r.code, 0, "{r:?}");
    let got: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(got["Secret"], pw.as_str());
    let r = t.run(t.helper().arg("list"), Some("unused"));
    assert!(r.stdout.contains(&key), "{r:?}");
    let r = t.run(t.helper().arg("erase"), Some(&key));
    assert_eq!(r.code, 0, "{r:?}");

    t.assert_clean();
}

#[test]
fn an_identity_token_never_shows() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    let proxy = FaultProxy::start(&reg);
    let key = proxy.addr();
    // The test registry never hands out identity tokens: the login is made by hand, as docker
    // keeps one (the user name `<token>`, the token as the secret).
    let token = format!("idtok-{}", unique("x").replace('-', ""));
    let mut t = Traced::new(Secrets::new().identity_token(&token, &key));
    let _logout = LogoutAtEnd(Config::new(), key.clone());
    let image = format!("{}:1", unique("pushx-leaks-token"));
    build_image(&image, &[("f", &random_bytes(1_000))]);
    let target = |n: &str| format!("{key}/{}:1", unique(&format!("e2e/leaks-{n}")));

    // As config.json keeps a token, moved by import.
    t.cfg.write(&serde_json::json!({"auths": {&key: {"auth": plain_auth("someone", ""), "identitytoken": token}}}));
    let r = t.run(t.pushx().args(["import"]), None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains(&format!("moved {key} (<token>)")),
        "{r:?}"
    );

    // The push sends the token; the htpasswd registry refuses it.
    let r = t.run(
        t.docker()
            .args(["-D", "pushx", "--format", "json", &image, &target("cli")]),
        None,
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(
        r.json()["targets"][0]["credential_source"],
        "keyring:secret-service"
    );
    for args in [
        &["logins", "--format", "json"][..],
        &["logins"],
        &["doctor"],
    ] {
        let r = t.run(t.pushx().args(args), None);
        assert_eq!(r.code, 0, "{r:?}");
    }
    let r = t.run_secret_stdout(t.helper().arg("get"), &key);
    assert_eq!(r.code, 0, "{r:?}");
    let got: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        (got["Username"].as_str(), got["Secret"].as_str()),
        (Some("<token>"), Some(token.as_str()))
    );

    // Again through the helper: store, list, a push with it, erase.
    let r = t.run(t.helper().arg("erase"), Some(&key));
    assert_eq!(r.code, 0, "{r:?}");
    let login =
        serde_json::json!({"ServerURL": key, "Username": "<token>", "Secret": token}).to_string();
    let r = t.run(t.helper().arg("store"), Some(&login));
    assert_eq!(r.code, 0, "{r:?}");
    let r = t.run(t.helper().arg("list"), Some("unused"));
    assert!(r.stdout.contains(&key), "{r:?}");
    let r = t.run(
        t.pushx().args([
            "--format",
            "json",
            "--progress",
            "json",
            &image,
            &target("standalone"),
        ]),
        None,
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stderr.contains(" TRACE "),
        "RUST_LOG=trace logs (else the search proves little): {r:?}"
    );
    let r = t.run(t.pushx().args(["logout", &key]), None);
    assert!(r.stdout.contains("Removed"), "{r:?}");

    t.assert_clean();
}

/// The search itself: every form is found, and the report shows none of them.
#[test]
fn the_search_finds_every_form_and_reports_none() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE};
    let (user, pw, server) = ("pushx", "p>?~s?>~w?~>d", "127.0.0.1:5000");
    let s = Secrets::new()
        .password(user, pw, server)
        .identity_token("tok-123456", server);
    let header = URL_SAFE.encode(format!(
        "{{\"username\":\"{user}\",\"password\":\"{pw}\",\"serveraddress\":\"{server}\"}}"
    ));
    for (text, label) in [
        (format!("level=trace pw={pw} end"), "the password"),
        (
            format!(
                "Authorization: Basic {}",
                STANDARD_NO_PAD.encode(format!("{user}:{pw}"))
            ),
            "base64, no padding of user:password",
        ),
        (
            format!("X-Registry-Auth: {header}"),
            "base64url of the X-Registry-Auth JSON",
        ),
        ("refresh tok-123456".to_string(), "the identity token"),
    ] {
        let found = s.find("a log", &text);
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(&format!("{label} in a log"))),
            "{label} not found in {found:?}"
        );
        for f in &found {
            assert!(!f.contains(pw) && !f.contains("tok-123456"), "{f}");
            assert!(!f.contains(&header), "{f}");
        }
    }
    assert!(s.find("a log", "nothing secret here").is_empty());
}
