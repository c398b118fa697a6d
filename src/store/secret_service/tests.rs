//! Tests of the Secret Service backend: the contract on a real gnome-keyring, and what it
//! reports for missing buses, silent buses, locked and missing collections.

use super::*;
use crate::store::contract;
use crate::store::probe_with;
use std::os::unix::fs::DirBuilderExt;

fn store() -> SecretServiceStore {
    SecretServiceStore::open(&StoreOptions::default()).expect("open the Secret Service")
}

#[test]
fn secret_service_passes_the_contract() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    probe_with(StoreKind::SecretService, &StoreOptions::default()).expect("probe");
    let s = store();
    contract::contract_suite(&s);
    contract::concurrent_independent(&|| Box::new(store()));
}

#[test]
fn missing_bus_is_unavailable_quickly() {
    let opts = StoreOptions {
        dbus_address: Some("unix:path=/nonexistent/pushx-test/bus".into()),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let err = probe_with(StoreKind::SecretService, &opts).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(
        text.starts_with(
            "secret-service is not usable: no D-Bus session bus (unix:path=/nonexistent/pushx-test/bus"
        ),
        "{text}"
    );
    assert!(text.ends_with("or use --store keyutils"), "{text}");
    assert!(!text.contains('\n'));
    let err = SecretServiceStore::open(&opts).expect_err("explicit secret-service fails");
    assert!(matches!(
        err,
        StoreError::Unavailable {
            store: StoreKind::SecretService,
            ..
        }
    ));
}

/// A bus that accepts connections but never answers must not hang `probe`.
#[test]
fn silent_bus_times_out() {
    let dir = std::env::temp_dir().join(format!(
        "pushx-silent-bus-{}",
        super::super::unique_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bus");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let opts = StoreOptions {
        dbus_address: Some(format!("unix:path={}", path.display())),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let err = probe_with(StoreKind::SecretService, &opts).unwrap_err();
    let took = started.elapsed();
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(took < Duration::from_secs(4), "probe took {took:?}");
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("did not answer"), "{err}");
}

/// Runs this test binary again in a fresh `dbus-run-session` whose gnome-keyring has its
/// own data and runtime directories, and checks what the child reports. `prepare`, if any, runs first in
/// a separate session on the same data directory.
fn run_child(prepare: Option<&str>, setup: &str, expect: &str) {
    let data = std::env::temp_dir().join(format!("pushx-ss-{}", super::super::unique_suffix()));
    std::fs::create_dir_all(&data).unwrap();
    let session = |script: &str| {
        // A private runtime directory per session: gnome-keyring finds a running daemon
        // through its control socket there (not through the bus), so a shared one would
        // join this session to another session's daemon (or a leftover one).
        let runtime = data.join(format!("run-{}", super::super::unique_suffix()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&runtime)
            .unwrap();
        std::process::Command::new("dbus-run-session")
            .args(["--", "sh", "-c", script])
            .arg(std::env::current_exe().unwrap())
            .env("XDG_DATA_HOME", &data)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("PUSHX_CHILD_EXPECT", expect)
            .output()
            .expect("run dbus-run-session")
    };
    if let Some(prepare) = prepare {
        let out = session(prepare);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The daemon writes the new keyring after `--unlock` returns: wait until the file
        // is complete, or the next session may find no keyring at all.
        let keyrings = data.join("keyrings");
        let written = || {
            let complete =
                std::fs::metadata(keyrings.join("login.keyring")).is_ok_and(|m| m.len() > 0);
            let pending = std::fs::read_dir(&keyrings).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().contains(".temp-"))
            });
            complete && !pending
        };
        let started = std::time::Instant::now();
        while !written() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop_daemons_of(&data);
    }
    let out = session(&format!(
        "{setup} \"$0\" --exact store::secret_service::tests::child_reports --ignored --nocapture --test-threads=1"
    ));
    stop_daemons_of(&data);
    let _ = std::fs::remove_dir_all(&data);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child ok"),
        "child failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "{}",
        stdout
            .lines()
            .find(|l| l.contains("child ok"))
            .unwrap_or_default()
    );
}

/// Stops the gnome-keyring daemons of finished child sessions (they outlive
/// `dbus-run-session`): those whose data directory is `data`, unique to one `run_child`.
fn stop_daemons_of(data: &std::path::Path) {
    let wanted = format!("XDG_DATA_HOME={}", data.display());
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return;
    };
    for process in processes.flatten() {
        let name = process.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let comm = std::fs::read_to_string(process.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != "gnome-keyring-d" {
            continue;
        }
        let environ = std::fs::read(process.path().join("environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            let _ = std::process::Command::new("kill").arg(pid).status();
        }
    }
}

#[test]
fn locked_collection_is_reported_as_locked() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    // One session creates the login keyring (password "pw"); a second one starts the
    // daemon on it without unlocking it.
    run_child(
        Some("printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null"),
        "gnome-keyring-daemon --start --components=secrets >/dev/null && ",
        "locked",
    );
}

#[test]
fn missing_default_collection_is_reported() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    // No daemon started: D-Bus activation starts gnome-keyring, which has no login keyring.
    run_child(None, "", "no-default");
}

/// The collection is locked while a store is open: every call refuses at once, and none
/// opens an unlock prompt (which would fail or wait in a headless session).
#[test]
fn collection_locked_after_open_is_reported_without_prompting() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    run_child(
        None,
        "printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && ",
        "locked-after-open",
    );
}

/// Run by `child_reports` for "locked-after-open".
fn lock_while_open() {
    let s = store();
    let server = format!("{}reg", contract::prefix("lock-after-open"));
    let cred = Credential {
        server: server.clone(),
        username: "alice".into(),
        secret: Secret::new("pw"),
    };
    s.store(&cred).unwrap();
    let ss = SecretService::connect(EncryptionType::Plain).unwrap();
    ss.get_default_collection().unwrap().lock().unwrap();
    let started = std::time::Instant::now();
    let results = [
        s.get(&server).map(drop),
        s.list().map(drop),
        s.store(&cred),
        s.erase(&server).map(drop),
    ];
    let took = started.elapsed();
    for result in results {
        let err = result.expect_err("refused while locked");
        assert!(
            err.to_string()
                .starts_with("secret-service is not usable: the default collection is locked"),
            "{err}"
        );
    }
    assert!(took < Duration::from_secs(1), "took {took:?}");
    println!("child ok: four calls refused in {took:?}");
}

#[test]
#[ignore = "run by the tests above inside a private dbus-run-session"]
fn child_reports() {
    let expect = std::env::var("PUSHX_CHILD_EXPECT").expect("run through run_child");
    if expect == "locked-after-open" {
        return lock_while_open();
    }
    let err = crate::store::probe(StoreKind::SecretService).unwrap_err();
    let text = err.to_string();
    match expect.as_str() {
        "locked" => assert!(
            text.starts_with(
                "secret-service is not usable: the default collection is locked; unlock it"
            ),
            "{text}"
        ),
        "no-default" => assert!(
            text.starts_with(
                "secret-service is not usable: no default collection (the Secret Service has"
            ),
            "{text}"
        ),
        other => panic!("unknown expectation {other}"),
    }
    // Opening explicitly fails the same way; storing never prompts or hangs.
    let err = SecretServiceStore::open(&StoreOptions::default()).expect_err("unusable");
    assert!(err.is_unavailable(), "{err}");
    println!("child ok: {text}");
}

/// Items of docker's own `docker-credential-secretservice` and ours live side by side:
/// neither sees, returns nor erases the other's (see the module docs on compatibility).
#[test]
fn items_are_separate_from_docker_credential_secretservice() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    let helper = "docker-credential-secretservice";
    if std::process::Command::new(helper)
        .arg("version")
        .output()
        .is_err()
    {
        println!("skipped: {helper} is not on PATH");
        return;
    }
    let run = |verb: &str, input: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(helper)
            .arg(verb)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let s = store();
    let server = format!("{}reg.example.com:5000", contract::prefix("docker-helper"));
    let docker_item = serde_json::json!({
        "ServerURL": server, "Username": "docker-user", "Secret": "docker-secret"
    });
    let (ok, out) = run("store", &docker_item.to_string());
    assert!(ok, "docker helper store failed: {out}");
    let ours_before = s.get(&server);
    let listed_before = s.list();
    let secret = "p@ss?>~+/= \"quoted\"";
    let stored = s.store(&Credential {
        server: server.clone(),
        username: "alice".into(),
        secret: Secret::new(secret),
    });
    let (docker_ok, docker_out) = run("get", &server);
    let ours = s.get(&server);
    let erased = s.erase(&server);
    let (still_ok, still_out) = run("get", &server);
    let _ = run("erase", &server);
    assert!(ours_before.unwrap().is_none(), "docker's item is not ours");
    assert!(
        !listed_before.unwrap().iter().any(|(k, _)| *k == server),
        "docker's item is not listed"
    );
    stored.unwrap();
    assert!(docker_ok, "docker helper get failed: {docker_out}");
    let v: serde_json::Value = serde_json::from_str(&docker_out).unwrap();
    assert_eq!(
        v["Username"], "docker-user",
        "docker reads its own item only"
    );
    assert_eq!(v["Secret"], "docker-secret");
    let ours = ours.unwrap().expect("our item");
    assert_eq!(ours.username, "alice");
    assert_eq!(ours.secret.expose(), secret);
    assert!(erased.unwrap(), "erase removes our item");
    assert!(still_ok, "our erase left docker's item alone: {still_out}");
}

/// The layout the module docs describe (that of the keyring-core zbus store crate, which
/// earlier versions wrote with): attributes, label, content type, JSON secret.
#[test]
fn items_have_the_documented_layout() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    let s = store();
    let server = format!("https://{}index.docker.io/v1/", contract::prefix("layout"));
    s.store(&Credential {
        server: server.clone(),
        username: "<token>".into(),
        secret: Secret::new("tok"),
    })
    .unwrap();
    let ss = SecretService::connect(EncryptionType::Dh).unwrap();
    let found = ss
        .search_items(HashMap::from([("service", SERVICE), ("username", &server)]))
        .unwrap();
    let item = found.unlocked.first().expect("our item");
    let attributes = item.get_attributes().unwrap();
    let label = item.get_label().unwrap();
    let secret = item.get_secret().unwrap();
    let content_type = item.get_secret_content_type().unwrap();
    assert!(s.erase(&server).unwrap());
    assert_eq!(found.unlocked.len(), 1);
    // Ours are two; gnome-keyring sometimes adds its own `xdg:schema` (seen when several test
    // runs shared one keyring directory).
    let ours: Vec<&String> = attributes
        .keys()
        .filter(|k| !k.starts_with("xdg:"))
        .collect();
    assert_eq!(ours.len(), 2, "{attributes:?}");
    assert_eq!(attributes.get("service").map(String::as_str), Some(SERVICE));
    assert_eq!(attributes.get("username"), Some(&server));
    assert_eq!(label, format!("docker-pushx credentials for {server}"));
    // gnome-keyring keeps no content type (it answers `text/plain` for every secret); check
    // ours where the service keeps the one written.
    let collection = ss.get_default_collection().unwrap();
    let probe = collection
        .create_item(
            "docker-pushx content type probe",
            HashMap::from([("service", "docker-pushx-test-probe")]),
            b"x",
            true,
            "application/x-pushx-probe",
        )
        .unwrap();
    let kept = probe.get_secret_content_type().unwrap() == "application/x-pushx-probe";
    probe.delete().unwrap();
    if kept {
        assert_eq!(content_type, "application/octet-stream");
    } else {
        println!("the service keeps no content types ({content_type})");
    }
    let v: serde_json::Value = serde_json::from_slice(&secret).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"Username": "<token>", "Secret": "tok"})
    );
}

/// Items written as the keyring-core store crate wrote them (label and all), twice over (a
/// service whose `replace` is not atomic, or another tool): `get` reads the newest, `store`
/// leaves exactly one, with the new secret, and `erase` removes it.
#[test]
fn earlier_and_duplicate_items_are_replaced() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    let s = store();
    let server = format!("{}reg.example:5000", contract::prefix("replace"));
    let ss = SecretService::connect(EncryptionType::Dh).unwrap();
    let collection = ss.get_default_collection().unwrap();
    let attributes = HashMap::from([("service", SERVICE), ("username", server.as_str())]);
    for user in ["old", "newer"] {
        let secret = format!(r#"{{"Username":"{user}","Secret":"s-{user}"}}"#);
        collection
            .create_item(
                &format!("docker-pushx credentials for {server}"),
                attributes.clone(),
                secret.as_bytes(),
                false,
                "application/octet-stream",
            )
            .unwrap();
    }
    let count = || ss.search_items(attributes.clone()).unwrap().unlocked.len();
    let before = count();
    let read = s.get(&server);
    let stored = s.store(&Credential {
        server: server.clone(),
        username: "alice".into(),
        secret: Secret::new("fresh"),
    });
    let after = count();
    let reread = s.get(&server);
    let erased = s.erase(&server);
    let left = count();
    assert_eq!(before, 2, "two items to start with");
    assert_eq!(read.unwrap().expect("found").username, "newer");
    stored.unwrap();
    assert_eq!(after, 1, "store leaves one item");
    let reread = reread.unwrap().expect("found");
    assert_eq!(
        (reread.username.as_str(), reread.secret.expose()),
        ("alice", "fresh")
    );
    assert!(erased.unwrap());
    assert_eq!(left, 0);
    assert!(!s.erase(&server).unwrap(), "nothing left to erase");
}

/// What gnome-keyring answers for a call on an item deleted since the search is recognised,
/// so racing erases are retried or skipped instead of failing.
#[test]
fn vanished_items_are_recognised() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    let s = store();
    let server = format!("{}reg", contract::prefix("vanish"));
    s.store(&Credential {
        server: server.clone(),
        username: "u".into(),
        secret: Secret::new("s"),
    })
    .unwrap();
    let ss = SecretService::connect(EncryptionType::Plain).unwrap();
    let found = ss
        .search_items(HashMap::from([("service", SERVICE), ("username", &server)]))
        .unwrap();
    assert!(s.erase(&server).unwrap());
    assert_eq!(found.unlocked.len(), 1);
    let err = found.unlocked[0].get_secret().unwrap_err();
    assert!(vanished_item(&err), "{err}");
    let err = found.unlocked[0].delete().unwrap_err();
    assert!(vanished_item(&err), "{err}");
    assert!(!vanished_item(&SsError::Locked));
}

/// Opening, using and dropping the store on a thread of a tokio runtime must not panic.
#[test]
fn usable_and_droppable_inside_a_runtime() {
    if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = store();
        assert!(s.get("pushx-test-nothing-here").unwrap().is_none());
        drop(s);
        // An unusable store (connect failed on its thread) is dropped here too.
        let opts = StoreOptions {
            dbus_address: Some("unix:path=/nonexistent/pushx-test/bus".into()),
            ..Default::default()
        };
        assert!(SecretServiceStore::open(&opts).is_err());
    });
}

/// Only our JSON is read as a credential; anything else is skipped, and never shown.
#[test]
fn only_our_json_secrets_are_decoded() {
    assert!(decode(b"not json hunter2".to_vec()).is_none());
    assert!(decode(br#"{"Username":"u"}"#.to_vec()).is_none());
    let (user, secret) = decode(br#"{"Username":"u","Secret":"s"}"#.to_vec()).unwrap();
    assert_eq!((user.as_str(), secret.expose()), ("u", "s"));
}

/// A D-Bus error reply named `name`, as a failed `OpenSession` returns it.
fn error_reply(name: &str) -> SsError {
    let call = zbus::Message::method_call("/org/freedesktop/secrets", "OpenSession")
        .unwrap()
        .build(&())
        .unwrap();
    let reply = zbus::Message::error(&call.header(), name)
        .unwrap()
        .build(&("refused",))
        .unwrap();
    SsError::Zbus(zbus::Error::from(reply))
}

/// A service that refuses the `plain` session gets an encrypted one; a bus or service that
/// cannot be used is reported at once, without a second try that would fail (or wait) again.
#[test]
fn plain_session_refusals_fall_back_to_encrypted() {
    let ctx = Ctx {
        bus: "unix:path=/run/test/bus".into(),
        timeout: CALL_TIMEOUT,
    };
    let refusals = [
        // KWallet's answer to OpenSession("plain").
        error_reply("org.freedesktop.DBus.Error.NotSupported"),
        error_reply("org.freedesktop.DBus.Error.InvalidArgs"),
        SsError::ZbusFdo(zbus::fdo::Error::NotSupported("plain".into())),
    ];
    for err in &refusals {
        assert!(fall_back_to_encrypted(err, &ctx).is_ok(), "{err}");
    }
    let io = |kind: std::io::ErrorKind| {
        SsError::Zbus(zbus::Error::InputOutput(std::sync::Arc::new(kind.into())))
    };
    let unusable = [
        (
            io(std::io::ErrorKind::TimedOut),
            "the Secret Service did not answer within 5s",
        ),
        (
            error_reply("org.freedesktop.DBus.Error.NoReply"),
            "the Secret Service did not answer",
        ),
        (
            error_reply("org.freedesktop.DBus.Error.Timeout"),
            "the Secret Service did not answer",
        ),
        (
            SsError::Unavailable,
            "no D-Bus session bus (unix:path=/run/test/bus",
        ),
        (
            io(std::io::ErrorKind::ConnectionRefused),
            "no D-Bus session bus",
        ),
        (SsError::Locked, "the default collection is locked"),
        (
            error_reply("org.freedesktop.Secret.Error.IsLocked"),
            "the default collection is locked",
        ),
        (
            error_reply("org.freedesktop.DBus.Error.ServiceUnknown"),
            "no Secret Service provider",
        ),
    ];
    for (err, reason) in unusable {
        let reported = fall_back_to_encrypted(&err, &ctx).expect_err("no fallback");
        assert!(reported.is_unavailable(), "{err}: {reported}");
        let text = reported.to_string();
        assert!(
            text.starts_with(&format!("secret-service is not usable: {reason}")),
            "{err}: {text}"
        );
    }
}
