//! Tests of the keyutils backend: the contract in a real session keyring, the index, and what
//! it reports without a session keyring.

use super::*;
use crate::store::chain::{Purpose, StoreChain};
use crate::store::contract;

/// A private index directory, removed afterwards.
struct TempIndex(PathBuf);

impl TempIndex {
    fn new() -> Self {
        TempIndex(std::env::temp_dir().join(format!("pushx-keyutils-index-{}", unique_suffix())))
    }
    fn opts(&self) -> StoreOptions {
        StoreOptions {
            keyutils_index_dir: Some(self.0.clone()),
            ..Default::default()
        }
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn keyutils_passes_the_contract() {
    if !contract::enabled("PUSHX_TEST_KEYUTILS") {
        return;
    }
    let index = TempIndex::new();
    let opts = index.opts();
    crate::store::probe_with(StoreKind::Keyutils, &opts).expect("probe");
    let store = KeyutilsStore::open(&opts).expect("open keyutils");
    contract::contract_suite(&store);
    contract::concurrent_independent(&|| Box::new(KeyutilsStore::open(&opts).unwrap()));
    // The index holds no secret and is private.
    let meta = std::fs::metadata(&index.0).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o700
    );
}

#[test]
fn index_files_are_private_and_secret_free() {
    if !contract::enabled("PUSHX_TEST_KEYUTILS") {
        return;
    }
    let index = TempIndex::new();
    let store = KeyutilsStore::open(&index.opts()).unwrap();
    let server = format!("{}reg", contract::prefix("index"));
    let secret = format!("index-secret-{}", unique_suffix());
    store
        .store(&Credential {
            server: server.clone(),
            username: "alice".into(),
            secret: Secret::new(secret.as_str()),
        })
        .unwrap();
    let file = store.index_file(&server);
    let text = std::fs::read_to_string(&file).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert!(store.erase(&server).unwrap());
    assert_eq!(mode & 0o777, 0o600);
    assert!(!text.contains(&secret));
    assert!(text.contains("\"Username\":\"alice\""), "{text}");
    assert!(!file.exists(), "erase removes the index entry");
}

/// The layout the module docs describe: the store crate's description, our JSON payload.
#[test]
fn keys_have_the_documented_layout() {
    if !contract::enabled("PUSHX_TEST_KEYUTILS") {
        return;
    }
    let index = TempIndex::new();
    let store = KeyutilsStore::open(&index.opts()).unwrap();
    let server = format!("https://{}index.docker.io/v1/", contract::prefix("layout"));
    store
        .store(&Credential {
            server: server.clone(),
            username: "<token>".into(),
            secret: Secret::new("tok"),
        })
        .unwrap();
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false).unwrap();
    let found = session.search(&format!("keyring:{server}@docker-pushx"));
    let payload = found.map(|key| key.read_to_vec());
    assert!(store.erase(&server).unwrap());
    let payload = payload.expect("key found").expect("key read");
    let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"ServerURL": server, "Username": "<token>", "Secret": "tok"})
    );
    // Erased means gone for the kernel too, at once.
    assert!(
        session
            .search(&format!("keyring:{server}@docker-pushx"))
            .is_err()
    );
}

#[test]
fn stale_index_entries_are_not_listed() {
    if !contract::enabled("PUSHX_TEST_KEYUTILS") {
        return;
    }
    let index = TempIndex::new();
    let store = KeyutilsStore::open(&index.opts()).unwrap();
    let server = format!("{}reg", contract::prefix("stale"));
    // An index entry whose key is gone (as after a reboot).
    store.write_index(&server, "ghost").unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(store.get(&server).unwrap().is_none());
    assert!(!store.erase(&server).unwrap());
    assert!(!store.index_file(&server).exists());
}

#[test]
fn oversized_values_are_refused_without_leaking() {
    if !contract::enabled("PUSHX_TEST_KEYUTILS") {
        return;
    }
    let index = TempIndex::new();
    let store = KeyutilsStore::open(&index.opts()).unwrap();
    let secret = "s".repeat(40_000);
    let err = store
        .store(&Credential {
            server: format!("{}big", contract::prefix("big")),
            username: "u".into(),
            secret: Secret::new(secret.as_str()),
        })
        .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    assert!(!err.to_string().contains("sss"));
    let err = store.get(&"k".repeat(5000)).unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
}

/// 20 separate processes store and erase in parallel; no entry may be lost.
#[test]
fn parallel_processes_lose_no_entry() {
    if !contract::enabled("PUSHX_TEST_KEYUTILS") {
        return;
    }
    let index = TempIndex::new();
    let store = KeyutilsStore::open(&index.opts()).unwrap();
    let prefix = contract::prefix("processes");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..20)
        .map(|i| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "store::keyutils::tests::child_worker",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env("PUSHX_CHILD_INDEX", &index.0)
                .env("PUSHX_CHILD_PREFIX", &prefix)
                .env("PUSHX_CHILD_N", i.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let listed: Vec<_> = store
        .list()
        .unwrap()
        .into_iter()
        .filter(|(s, _)| s.starts_with(&prefix))
        .collect();
    let expected: Vec<_> = (0..20)
        .filter(|i| i % 2 == 0)
        .map(|i| (format!("{prefix}reg-{i:02}"), format!("user{i}")))
        .collect();
    for (server, _) in &listed {
        let _ = store.erase(server);
    }
    for i in 0..20 {
        let _ = store.erase(&format!("{prefix}reg-{i:02}"));
    }
    assert_eq!(listed, expected);
}

#[test]
#[ignore = "run by parallel_processes_lose_no_entry"]
fn child_worker() {
    let index = std::env::var_os("PUSHX_CHILD_INDEX").expect("run by the parent test");
    let prefix = std::env::var("PUSHX_CHILD_PREFIX").unwrap();
    let i: usize = std::env::var("PUSHX_CHILD_N").unwrap().parse().unwrap();
    let opts = StoreOptions {
        keyutils_index_dir: Some(PathBuf::from(index)),
        ..Default::default()
    };
    let store = KeyutilsStore::open(&opts).unwrap();
    let server = format!("{prefix}reg-{i:02}");
    let mine = format!("{prefix}tmp-{i:02}");
    for round in 0..5 {
        for key in [&server, &mine] {
            store
                .store(&Credential {
                    server: key.clone(),
                    username: format!("user{i}"),
                    secret: Secret::new(format!("secret-{i}-{round}")),
                })
                .unwrap();
        }
        assert!(store.erase(&mine).unwrap());
    }
    if i % 2 == 1 {
        assert!(store.erase(&server).unwrap());
    }
    assert_eq!(
        store.get(&format!("{prefix}reg-{i:02}")).unwrap().is_some(),
        i.is_multiple_of(2)
    );
}

/// `auto` with an unreachable bus falls back to keyutils with a warning, or, without a
/// session keyring, explains both failures.
#[test]
fn auto_without_bus_falls_back_to_keyutils() {
    let index = TempIndex::new();
    let opts = StoreOptions {
        dbus_address: Some("unix:path=/nonexistent/pushx-test/bus".into()),
        ..index.opts()
    };
    let keyutils_usable = crate::store::probe_with(StoreKind::Keyutils, &opts).is_ok();
    if std::env::var("PUSHX_TEST_KEYUTILS").as_deref() == Ok("1") {
        assert!(
            keyutils_usable,
            "PUSHX_TEST_KEYUTILS=1 but keyutils is not usable"
        );
    }
    let chain = StoreChain::start_with(
        &[StoreKind::SecretService, StoreKind::Keyutils],
        Purpose::Write,
        &opts,
    )
    .finish();
    match chain.first_usable() {
        Ok(kind) => {
            assert!(keyutils_usable);
            assert_eq!(kind, StoreKind::Keyutils);
            assert_eq!(chain.kind(), StoreKind::Keyutils);
            let warning = chain.warning().expect("a warning");
            assert!(
                warning.starts_with(
                    "credentials are kept in the kernel keyring (keyutils): they are lost at reboot and expire "
                ),
                "{warning}"
            );
            assert!(
                warning.contains("secret-service is not usable: no D-Bus session bus"),
                "{warning}"
            );
            println!("warning: {warning}");
        }
        Err(err) => {
            assert!(!keyutils_usable);
            let text = err.to_string();
            assert!(
                text.starts_with(
                    "no credential store is usable (secret-service: no D-Bus session bus; \
                     keyutils: "
                ),
                "{text}"
            );
            assert!(text.contains("`keyctl session -`"), "{text}");
            assert!(text.len() < 200, "{text}");
            println!("error: {text}");
        }
    }
}

/// Without a session keyring of its own (the `keyctl session -` wrapper is absent, as in
/// CI containers) keyutils must say so up front instead of leaving a stray key.
#[test]
fn no_session_keyring_is_detected() {
    let out = std::process::Command::new("sh")
        .args([
            "-c",
            "keyctl rdescribe @s 2>/dev/null; printf '|'; keyctl rdescribe @us 2>/dev/null",
        ])
        .output();
    let Ok(out) = out else {
        println!("skipped: keyctl is not installed");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (s, us) = text.split_once('|').unwrap_or(("", ""));
    let result = KeyutilsStore::open(&TempIndex::new().opts());
    if !s.is_empty() && s.trim() == us.trim() {
        let err = result.expect_err("no real session keyring");
        let text = err.to_string();
        assert!(
            text.starts_with("keyutils is not usable: no session keyring of its own"),
            "{text}"
        );
        assert!(text.ends_with(FIX));
    } else if std::env::var("PUSHX_TEST_KEYUTILS").as_deref() == Ok("1") {
        result.expect("a real session keyring");
    }
    // A process cannot drop its session keyring, so which branch runs depends on how the
    // tests were started: plain `cargo test` here has none, `keyctl session -` has one.
}
