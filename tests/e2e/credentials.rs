//! End-to-end: logins in the real OS keyring (gnome-keyring over D-Bus, kernel keyutils), the
//! credential helper under the real docker CLI, configure, import and doctor.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// PATH with the built docker-credential-pushx first, as after install.sh.
fn path_with_helper() -> String {
    let dir = Path::new(HELPER).parent().unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn helper(verb: &str, input: &str) -> Run {
    run_with_stdin(Command::new(HELPER).arg(verb), Some(input.as_bytes()))
}

/// The test password, in every form (see [`Secrets`]), is neither in the run's output nor in
/// any file of the config directory.
fn no_secret_anywhere(r: &Run, cfg: &Config, server: &str) {
    let secrets = Secrets::new().password(&user(), &password(), server);
    let mut found = secrets.find_in_run("the command", r);
    found.extend(secrets.find_in_dir(cfg.path()));
    secrets.assert_none(&found);
}

#[test]
fn login_push_logins_logout_with_the_keyring() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    // Named `localhost:PORT` here so that no other test's logins share the key.
    let host = reg.replace("127.0.0.1", "localhost");
    let cfg = Config::new();
    let r = run_with_stdin(
        cfg.pushx().env("RUST_LOG", "trace").args([
            "login",
            &host,
            "-u",
            &user(),
            "--password-stdin",
        ]),
        Some(format!("{}\n", password()).as_bytes()),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("Login Succeeded") && r.stdout.contains("keyring:secret-service"),
        "{r:?}"
    );
    no_secret_anywhere(&r, &cfg, &host);
    assert!(!cfg.file().exists(), "login writes nothing to config.json");

    let s = Scenario::with_config(cfg)
        .env("RUST_LOG", "trace")
        .random_image(2_000);
    let cfg = s.config();
    let pushed = s.push_to(&host, &[]);
    pushed.assert_landed();
    assert_eq!(
        pushed.target(0)["credential_source"],
        "keyring:secret-service"
    );
    no_secret_anywhere(&pushed.run, cfg, &host);

    let r = run(cfg.pushx().args(["logins", "--format", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let list = r.json();
    let mine: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["server"] == host)
        .collect();
    assert_eq!(mine.len(), 1, "{r:?}");
    assert_eq!(mine[0]["username"], user());
    assert_eq!(mine[0]["store"], "secret-service");
    no_secret_anywhere(&r, cfg, &host);
    let table = run(cfg.pushx().arg("logins"));
    assert!(table.stdout.contains(&host), "{table:?}");

    let r = run(cfg.pushx().args(["logout", &host]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Removed"), "{r:?}");
    let r = run(cfg.pushx().args(["logins", "--format", "json"]));
    assert!(!r.stdout.contains(&host), "{r:?}");
    let r = s.pushx(&["--progress", "quiet", s.image_name(), &pushed.name()]);
    assert_eq!(r.code, 3, "logged out: {r:?}");
}

#[test]
fn a_wrong_password_stores_nothing_and_exits_3() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    let cfg = Config::new();
    let r = run_with_stdin(
        cfg.pushx()
            .args(["login", &reg, "-u", &user(), "--password-stdin"]),
        Some(b"not-the-password"),
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_one_line_error(&r);
    assert!(!r.stderr.contains("not-the-password"));
    let g = helper("get", &reg);
    assert_eq!(
        (g.code, g.stdout.trim()),
        (1, "credentials not found in native keychain"),
        "nothing stored: {g:?}"
    );
    // Empty inputs are refused before anything is checked.
    let r = run_with_stdin(
        cfg.pushx()
            .args(["login", &reg, "-u", &user(), "--password-stdin"]),
        Some(b""),
    );
    assert_eq!(r.code, 2, "{r:?}");
    let r = run_with_stdin(
        cfg.pushx()
            .args(["login", &reg, "-u", "", "--password-stdin"]),
        Some(b"x"),
    );
    assert_eq!(r.code, 2, "{r:?}");
    let r = run(cfg.pushx().args(["login", &reg, "-u", &user()]));
    assert_eq!(r.code, 2, "no terminal and no --password-stdin: {r:?}");
    assert_one_line_error(&r);
}

#[test]
fn plain_docker_login_pull_logout_through_the_helper() {
    let reg = need!("PUSHX_TEST_TLS_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    let src = unique("pushx-plain-docker");
    build_image(&format!("{src}:1"), &[("f", &random_bytes(2_000))]);
    for style in ["credsStore", "credHelpers"] {
        let cfg = Config::new();
        let r = run(cfg
            .pushx()
            .env("PATH", path_with_helper())
            .args(if style == "credsStore" {
                vec!["configure"]
            } else {
                vec!["configure", "--registry", reg.as_str()]
            }));
        assert_eq!(r.code, 0, "{r:?}");
        assert!(!r.stderr.contains("not on PATH"), "{r:?}");
        let r = run_with_stdin(
            cfg.docker().env("PATH", path_with_helper()).args([
                "login",
                &reg,
                "-u",
                &user(),
                "--password-stdin",
            ]),
            Some(password().as_bytes()),
        );
        assert_eq!(r.code, 0, "{style}: {r:?}");
        no_secret_anywhere(&r, &cfg, &reg);
        let listed = helper("list", "unused");
        assert!(listed.stdout.contains(&reg), "{listed:?}");

        let repo = unique("e2e/plain-docker");
        let name = format!("{reg}/{repo}:1");
        assert_eq!(
            run(Command::new("docker").args(["tag", &format!("{src}:1"), &name])).code,
            0
        );
        let r = run(cfg
            .docker()
            .env("PATH", path_with_helper())
            .args(["push", &name]));
        assert_eq!(
            r.code, 0,
            "{style}: docker push with the helper's login: {r:?}"
        );
        let r = run(cfg
            .docker()
            .env("PATH", path_with_helper())
            .args(["pull", &name]));
        assert_eq!(r.code, 0, "{style}: docker pull: {r:?}");
        // docker pushx finds the same login.
        let r = run(cfg
            .pushx()
            .env("PATH", path_with_helper())
            .args(["--format", "json", "--verify", "digest", &name]));
        assert_eq!(r.code, 0, "{r:?}");
        assert_eq!(
            r.json()["targets"][0]["credential_source"],
            "keyring:secret-service"
        );

        let r = run(cfg
            .docker()
            .env("PATH", path_with_helper())
            .args(["logout", &reg]));
        assert_eq!(r.code, 0, "{r:?}");
        let g = helper("get", &reg);
        assert_eq!(g.code, 1, "logged out: {g:?}");
    }
}

#[test]
fn headless_without_a_session_bus() {
    let reg = need!("PUSHX_TEST_TLS_REGISTRY");
    need!("PUSHX_TEST_KEYUTILS");
    let host = reg.replace("127.0.0.1", "localhost");
    let no_bus = "unix:path=/nonexistent/bus";
    // Today's failure: docker's secretservice helper cannot save without D-Bus.
    let cfg = Config::new();
    cfg.write(&serde_json::json!({"credsStore": "secretservice"}));
    let r = run_with_stdin(
        cfg.docker().env("DBUS_SESSION_BUS_ADDRESS", no_bus).args([
            "login",
            &host,
            "-u",
            &user(),
            "--password-stdin",
        ]),
        Some(password().as_bytes()),
    );
    assert_ne!(
        r.code, 0,
        "docker's own helper should fail without a bus: {r:?}"
    );

    // docker-pushx: falls back to keyutils, says so, and plain docker works through it too.
    let cfg = Config::new();
    let r = run_with_stdin(
        cfg.pushx().env("DBUS_SESSION_BUS_ADDRESS", no_bus).args([
            "login",
            &host,
            "-u",
            &user(),
            "--password-stdin",
        ]),
        Some(password().as_bytes()),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("keyring:keyutils"), "{r:?}");
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains("keyutils"),
        "the fallback is announced: {r:?}"
    );
    no_secret_anywhere(&r, &cfg, &host);
    let src = unique("pushx-headless");
    build_image(&format!("{src}:1"), &[("f", &random_bytes(2_000))]);
    let repo = unique("e2e/headless");
    let r = run(cfg.pushx().env("DBUS_SESSION_BUS_ADDRESS", no_bus).args([
        "--format",
        "json",
        &format!("{src}:1"),
        &format!("{host}/{repo}"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.json()["targets"][0]["credential_source"],
        "keyring:keyutils"
    );
    cfg.write(&serde_json::json!({"credsStore": "pushx"}));
    let r = run(cfg
        .docker()
        .env("DBUS_SESSION_BUS_ADDRESS", no_bus)
        .env("PATH", path_with_helper())
        .args(["pull", &format!("{host}/{repo}:1")]));
    assert_eq!(
        r.code, 0,
        "docker pull through docker-credential-pushx on keyutils: {r:?}"
    );
    let r = run(cfg
        .pushx()
        .env("DBUS_SESSION_BUS_ADDRESS", no_bus)
        .args(["logout", &host]));
    assert!(r.stdout.contains("keyring:keyutils"), "{r:?}");
    // Explicitly asking for the Secret Service without a bus is a clear error, not a fallback.
    let r = run_with_stdin(
        cfg.pushx().env("DBUS_SESSION_BUS_ADDRESS", no_bus).args([
            "login",
            &host,
            "-u",
            &user(),
            "--password-stdin",
            "--store",
            "secret-service",
        ]),
        Some(password().as_bytes()),
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stderr.contains("secret-service"), "{r:?}");
}

#[test]
fn a_locked_collection_is_reported_and_auto_falls_back() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_KEYUTILS");
    let data = tempfile::tempdir().unwrap();
    // Make a login keyring with one password, then start a session whose daemon is not unlocked.
    let make = run(Command::new("dbus-run-session").env("XDG_DATA_HOME", data.path()).args([
        "--",
        "sh",
        "-c",
        "printf other-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; sleep 1; \"$0\" list",
        HELPER,
    ]));
    assert_eq!(make.code, 0, "{make:?}");
    let cfg = Config::new();
    let script = "gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1; sleep 0.5; printf '%s' \"$PW\" | \"$0\" \"$@\"";
    let in_locked = |args: &[&str]| {
        let mut c = Command::new("dbus-run-session");
        c.env("XDG_DATA_HOME", data.path())
            .env("DOCKER_CONFIG", cfg.path())
            .env("PW", password())
            .args(["--", "sh", "-c", script, PLUGIN])
            .args(args);
        run(&mut c)
    };
    let r = in_locked(&[
        "login",
        &reg,
        "-u",
        &user(),
        "--password-stdin",
        "--store",
        "secret-service",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("locked"),
        "the error says the collection is locked: {r:?}"
    );
    let host = reg.replace("127.0.0.1", "localhost") + "/locked";
    let _ = host;
    let r = in_locked(&["doctor"]);
    assert!(r.stdout.contains("locked"), "{r:?}");
}

#[test]
fn import_moves_plaintext_logins_into_the_keyring() {
    need!("PUSHX_TEST_SECRET_SERVICE");
    use base64::Engine;
    let key = format!("{}.example:5000", unique("import"));
    let cfg = Config::new();
    let auth = base64::engine::general_purpose::STANDARD.encode("importer:s3cret>?");
    cfg.write(&serde_json::json!({"auths": {&key: {"auth": auth}, "kept.example": {}}, "psFormat": "table"}));
    let before = std::fs::read(cfg.file()).unwrap();

    let r = run(cfg.pushx().args(["import", "--dry-run"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&format!("would move {key}")), "{r:?}");
    // The summary agrees with what the dry run listed.
    assert!(
        r.stdout
            .ends_with("would import 1 login; nothing changed\n"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("nothing to import"), "{r:?}");
    assert_eq!(
        std::fs::read(cfg.file()).unwrap(),
        before,
        "dry run changes nothing"
    );
    assert_eq!(helper("get", &key).code, 1);

    let r = run(cfg.pushx().args(["import"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&format!("moved {key}")), "{r:?}");
    assert!(r.stdout.contains("imported 1 login"), "{r:?}");
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.file()).unwrap()).unwrap();
    assert_eq!(
        after["auths"][&key],
        serde_json::json!({}),
        "the plaintext is gone"
    );
    assert_eq!(after["psFormat"], "table", "other keys are kept");
    let g = helper("get", &key);
    assert_eq!(g.code, 0, "{g:?}");
    let v: serde_json::Value = serde_json::from_str(&g.stdout).unwrap();
    assert_eq!(
        (v["Username"].as_str(), v["Secret"].as_str()),
        (Some("importer"), Some("s3cret>?"))
    );
    assert!(!r.stdout.contains("s3cret"));
    let r = run(cfg.pushx().args(["import"]));
    assert!(r.stdout.contains("nothing to import"), "{r:?}");
    assert_eq!(helper("erase", &key).code, 0);
}

#[test]
fn the_helper_speaks_the_protocol_exactly() {
    need!("PUSHX_TEST_SECRET_SERVICE");
    let key = format!("https://{}.example/v1/access-token", unique("proto"));
    let r = helper(
        "store",
        &serde_json::json!({"ServerURL": key, "Username": "<token>", "Secret": "tok"}).to_string(),
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    let r = helper("get", &key);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"ServerURL": key, "Username": "<token>", "Secret": "tok"})
    );
    let r = helper("list", "unused");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[&key], "<token>");
    assert_eq!(helper("erase", &key).code, 0);
    let r = helper("get", &key);
    assert_eq!(
        (r.code, r.stdout.trim()),
        (1, "credentials not found in native keychain")
    );
    let r = run(Command::new(HELPER).arg("version"));
    assert!(
        r.stdout
            .starts_with("docker-credential-pushx (docker-pushx) "),
        "{r:?}"
    );

    // Bad input: one line on stdout, exit 1, nothing stored.
    let big = "x".repeat(10 * 1024 * 1024);
    let bad_key = format!("{}.example", unique("bad"));
    for (verb, input) in [
        ("store", "garbage".to_string()),
        ("store", String::new()),
        ("store", big.clone()),
        (
            "store",
            format!("{{\"ServerURL\":\"{bad_key}\",\"Username\":\"\",\"Secret\":\"s\"}}"),
        ),
        (
            "store",
            "{\"ServerURL\":\"\",\"Username\":\"u\",\"Secret\":\"s\"}".into(),
        ),
        ("get", String::new()),
        ("erase", String::new()),
        ("get", big),
        ("frobnicate", String::new()),
    ] {
        let r = helper(verb, &input);
        assert_eq!(r.code, 1, "{verb}: {r:?}");
        assert_eq!(r.stdout.lines().count(), 1, "{verb}: {r:?}");
    }
    let r = helper("store", "\u{0}\u{1}\u{ff}binary");
    assert_eq!(r.code, 1);
    assert_eq!(helper("get", &bad_key).code, 1, "nothing stored");
    let r = run(Command::new(HELPER).args(["get", "extra"]));
    assert_eq!(r.code, 1, "{r:?}");
}

#[test]
fn twenty_parallel_helpers_and_configures_lose_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    need!("PUSHX_TEST_SECRET_SERVICE");
    let prefix = unique("par");
    let cfg = Config::new();
    std::fs::write(cfg.file(), br#"{"auths": {}, "detachKeys": "ctrl-x"}"#).unwrap();
    // The keys whose `configure` has returned: from then on every read must find them.
    let configured = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (file, configured, done) = (cfg.file(), configured.clone(), writers_done.clone());
        std::thread::spawn(move || read_continuously(&file, &configured, &done))
    };
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let prefix = prefix.clone();
            let dir = cfg.path().to_path_buf();
            let configured = configured.clone();
            std::thread::spawn(move || {
                let key = format!("{prefix}-{i}.example");
                let s = helper("store", &serde_json::json!({"ServerURL": key, "Username": format!("u{i}"), "Secret": format!("s{i}")}).to_string());
                assert_eq!(s.code, 0, "{s:?}");
                let c = run(Command::new(PLUGIN).env("DOCKER_CONFIG", &dir).args(["configure", "--registry", &key]));
                assert_eq!(c.code, 0, "{c:?}");
                configured.lock().unwrap().push(key.clone());
                let g = helper("get", &key);
                assert_eq!(g.code, 0, "{g:?}");
                assert!(g.stdout.contains(&format!("\"s{i}\"")), "{g:?}");
            })
        })
        .collect();
    let mut writers = Vec::new();
    for h in handles {
        writers.push(h.join());
    }
    writers_done.store(true, Ordering::SeqCst);
    let (reads, torn) = reader.join().unwrap();
    for w in writers {
        w.unwrap();
    }
    assert!(
        torn.is_empty(),
        "a reader saw config.json half-written or missing entries ({} of {reads} reads), first ones:\n{}",
        torn.len(),
        torn.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(reads >= 20, "the reader ran only {reads} times");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(cfg.file()).unwrap())
        .expect("config.json stays valid");
    for i in 0..20 {
        assert_eq!(
            doc["credHelpers"][format!("{prefix}-{i}.example")],
            "pushx",
            "entry {i} kept"
        );
    }
    assert_eq!(doc["detachKeys"], "ctrl-x");
    let listed = helper("list", "unused");
    let v: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    for i in 0..20 {
        assert_eq!(v[format!("{prefix}-{i}.example")], format!("u{i}"));
    }
    let erases: Vec<_> = (0..20)
        .map(|i| {
            let key = format!("{prefix}-{i}.example");
            std::thread::spawn(move || helper("erase", &key).code)
        })
        .collect();
    for e in erases {
        assert_eq!(e.join().unwrap(), 0);
    }
    let listed = helper("list", "unused");
    assert!(!listed.stdout.contains(&prefix), "{listed:?}");
}

/// Parse config.json over and over until `done`, as docker would read it while `configure`
/// runs elsewhere: every read must be whole JSON (the file exists from the start, and a rename
/// never removes it) holding `detachKeys` and every key in `configured` when the read began.
/// Returns the number of reads and what was wrong with each bad one.
fn read_continuously(
    file: &Path,
    configured: &std::sync::Mutex<Vec<String>>,
    done: &std::sync::atomic::AtomicBool,
) -> (usize, Vec<String>) {
    let mut reads = 0;
    let mut torn = Vec::new();
    // One more full pass after the writers finish: the final state must hold everything too.
    let mut last = false;
    loop {
        let expected = configured.lock().unwrap().clone();
        reads += 1;
        match std::fs::read(file) {
            Err(e) => torn.push(format!("read {reads}: {e}")),
            Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Err(e) => torn.push(format!(
                    "read {reads}: not JSON ({e}): {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(120)])
                )),
                Ok(doc) => {
                    if doc["detachKeys"] != "ctrl-x" {
                        torn.push(format!("read {reads}: detachKeys lost: {doc}"));
                    }
                    let missing: Vec<&String> = expected
                        .iter()
                        .filter(|k| doc["credHelpers"][k.as_str()] != "pushx")
                        .collect();
                    if !missing.is_empty() {
                        torn.push(format!(
                            "read {reads}: {} configured entries missing, e.g. {}",
                            missing.len(),
                            missing[0]
                        ));
                    }
                }
            },
        }
        if last {
            return (reads, torn);
        }
        last = done.load(std::sync::atomic::Ordering::SeqCst);
        // Often enough to land in an in-place write's window many times, without taking a
        // whole core from the writers.
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

#[test]
fn configure_refuses_a_malformed_config_and_warns_without_the_helper() {
    let cfg = Config::new();
    std::fs::write(cfg.file(), b"{\"credsStore\": ").unwrap();
    let r = run(cfg.pushx().arg("configure"));
    assert_eq!(r.code, 1, "{r:?}");
    assert_one_line_error(&r);
    assert_eq!(std::fs::read(cfg.file()).unwrap(), b"{\"credsStore\": ");

    let cfg = Config::new();
    std::fs::create_dir(cfg.file()).unwrap();
    let r = run(cfg.pushx().arg("configure"));
    assert_eq!(r.code, 1, "a config.json that is a directory: {r:?}");
    assert_one_line_error(&r);

    let cfg = Config::new();
    let r = run(cfg.pushx().env("PATH", "/usr/bin:/bin").arg("configure"));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("docker-credential-pushx is not on PATH"),
        "{r:?}"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.file()).unwrap()).unwrap();
    assert_eq!(doc["credsStore"], "pushx");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(cfg.file()).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn doctor_reports_stores_and_plaintext_logins() {
    need!("PUSHX_TEST_SECRET_SERVICE");
    need!("PUSHX_TEST_KEYUTILS");
    let cfg = Config::new();
    cfg.write(&serde_json::json!({"auths": {"plain.example": {"auth": "dTpw"}}, "credHelpers": {"x.example": "nosuchhelper"}}));
    let r = run(cfg.pushx().arg("doctor"));
    // The plaintext login and the missing helper are problems: exit 1, said last.
    assert_eq!(r.code, 1, "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stderr.contains("problem(s) found"), "{r:?}");
    for want in [
        "API version",
        "secret-service: usable",
        "keyutils: usable",
        "plain.example",
        "docker-credential-nosuchhelper is not on PATH",
    ] {
        assert!(r.stdout.contains(want), "missing {want:?}: {r:?}");
    }
    let r = run(cfg
        .pushx()
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
        .arg("doctor"));
    assert!(r.stdout.contains("auto picks keyutils"), "{r:?}");
}

#[test]
fn import_copies_logins_from_another_helper() {
    need!("PUSHX_TEST_SECRET_SERVICE");
    // A keyring session of its own, so the other helper's `list` holds only this test's login.
    let data = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let cfg = Config::new();
    cfg.write(&serde_json::json!({"credsStore": "secretservice"}));
    let key = format!("{}.example:5000", unique("from-helper"));
    let script = r#"
        printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; sleep 0.5
        printf '{"ServerURL":"%s","Username":"copied","Secret":"s>?~"}' "$KEY" | docker-credential-secretservice store || exit 10
        "$PLUGIN" import || exit 11
        printf %s "$KEY" | "$HELPER" get
        for p in $(pgrep -x gnome-keyring-d); do
          tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "XDG_DATA_HOME=$XDG_DATA_HOME" && kill $p
        done
        true"#;
    let r = run(Command::new("dbus-run-session")
        .env("XDG_DATA_HOME", data.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("DOCKER_CONFIG", cfg.path())
        .env("KEY", &key)
        .env("PLUGIN", PLUGIN)
        .env("HELPER", HELPER)
        .args(["--", "sh", "-c", script]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("copied {key} (copied) from helper secretservice")),
        "{r:?}"
    );
    assert!(
        r.stdout.contains("\"Secret\":\"s>?~\""),
        "pushx's helper returns the copied login: {r:?}"
    );
}

/// `args` run by the plugin with no usable store: no D-Bus session bus, and the user-session
/// keyring joined as the session keyring (what a process without a session of its own has,
/// as in containers and CI jobs). keyctl's "Joined session keyring" note is kept off stderr.
fn without_any_store(cfg: &Config, program: &str, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let script = r#"exec 3>&2 2>/dev/null; exec keyctl session "_uid_ses.$(id -u)" sh -c 'exec 2>&3 3>&-; exec "$@"' sh "$@""#;
    let mut c = std::process::Command::new("sh");
    c.env("DOCKER_CONFIG", cfg.path())
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .env_remove("DOCKER_AUTH_CONFIG")
        .args(["-c", script, "sh", program])
        .args(args);
    run_with_stdin(&mut c, stdin)
}

#[test]
fn no_usable_store_is_an_error_with_the_reasons_and_the_ways_out() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_KEYUTILS");
    let cfg = Config::new();
    let check = |what: &str, r: &Run| {
        assert_eq!(r.code, 1, "{what}: {r:?}");
        assert!(r.stdout.is_empty(), "{what}: nothing on stdout: {r:?}");
        assert_one_line_error(r);
        let line = r.stderr.trim();
        for want in [
            "no credential store is usable",
            "secret-service: no D-Bus session bus",
            "keyutils: no session keyring of its own",
            "`keyctl session -`",
            "DOCKER_AUTH_CONFIG",
        ] {
            assert!(line.contains(want), "{what}: missing {want:?}: {r:?}");
        }
        let message = line.trim_start_matches("docker pushx: ");
        assert!(
            message.len() < 200,
            "{what}: {} characters: {r:?}",
            message.len()
        );
    };
    check(
        "logins",
        &without_any_store(&cfg, PLUGIN, &["logins"], None),
    );
    check(
        "logins --format json",
        &without_any_store(&cfg, PLUGIN, &["logins", "--format", "json"], None),
    );
    check(
        "logout",
        &without_any_store(&cfg, PLUGIN, &["logout", &reg], None),
    );
    // A login that cannot be kept fails before the registry is asked.
    check(
        "login",
        &without_any_store(
            &cfg,
            PLUGIN,
            &["login", "127.0.0.1:1", "-u", "u", "--password-stdin"],
            Some(b"pw"),
        ),
    );
    // An import with nowhere to put the logins fails before it moves or reads any, and leaves
    // config.json as it was.
    cfg.with_login(&reg);
    let before = std::fs::read(cfg.file()).unwrap();
    check(
        "import",
        &without_any_store(&cfg, PLUGIN, &["import"], None),
    );
    assert_eq!(
        std::fs::read(cfg.file()).unwrap(),
        before,
        "import changed config.json"
    );
    // The helper says the same, on stdout as the protocol wants.
    let r = without_any_store(
        &cfg,
        HELPER,
        &["store"],
        Some(br#"{"ServerURL":"x.example","Username":"u","Secret":"s"}"#),
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.starts_with("no credential store is usable ("),
        "{r:?}"
    );
    assert!(r.stdout.trim().len() < 200, "{r:?}");
}
