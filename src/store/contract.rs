//! The one contract every credential store backend must pass, plus the rules that gate the
//! backend tests on real keyrings.

use super::{Credential, CredentialStore, unique_suffix};
use crate::secret::Secret;
use std::collections::BTreeSet;

/// True when the backend test guarded by `var` should run. Without `var=1` the test is
/// skipped, except under `CI=true`, where skipping is a failure.
pub(crate) fn enabled(var: &str) -> bool {
    if std::env::var(var).as_deref() == Ok("1") {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{var}=1 is required when CI=true: this backend test must not be skipped");
    }
    println!("skipped: set {var}=1 to run this backend test");
    false
}

/// A per-run prefix so concurrent runs and leftovers never collide.
pub(crate) fn prefix(case: &str) -> String {
    format!("pushx-test-{}/{case}/", unique_suffix())
}

fn cred(server: &str, username: &str, secret: &str) -> Credential {
    Credential {
        server: server.into(),
        username: username.into(),
        secret: Secret::new(secret),
    }
}

/// Erases every key it was told about, also when a test panics.
pub(crate) struct Cleanup<'a> {
    store: &'a dyn CredentialStore,
    keys: std::sync::Mutex<Vec<String>>,
}

impl<'a> Cleanup<'a> {
    pub(crate) fn new(store: &'a dyn CredentialStore) -> Self {
        Cleanup {
            store,
            keys: Default::default(),
        }
    }
    pub(crate) fn track(&self, key: &str) -> String {
        self.keys.lock().unwrap().push(key.to_string());
        key.to_string()
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for key in self.keys.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = self.store.erase(key);
        }
    }
}

fn ours(store: &dyn CredentialStore, prefix: &str) -> Vec<(String, String)> {
    store
        .list()
        .expect("list")
        .into_iter()
        .filter(|(s, _)| s.starts_with(prefix))
        .collect()
}

fn assert_round_trip(store: &dyn CredentialStore, c: &Credential) {
    store.store(c).expect("store");
    let got = store
        .get(&c.server)
        .expect("get")
        .expect("stored credential is found");
    assert_eq!(got.server, c.server, "server key kept verbatim");
    assert_eq!(got.username, c.username);
    assert!(
        got.secret.expose() == c.secret.expose(),
        "secret for {:?} differs after a round trip (lengths {} vs {})",
        c.server,
        got.secret.expose().len(),
        c.secret.expose().len()
    );
}

/// Runs every case against `store`. Uses unique server keys and erases them afterwards.
pub(crate) fn contract_suite(store: &dyn CredentialStore) {
    get_missing_is_none(store);
    round_trip_and_replace(store);
    keys_are_verbatim(store);
    awkward_secrets(store);
    erase_true_then_false(store);
    list_pairs_sorted_without_secrets(store);
    similar_prefixes_do_not_collide(store);
    store_after_erase(store);
    concurrent_shared(store);
}

fn get_missing_is_none(store: &dyn CredentialStore) {
    let p = prefix("missing");
    assert!(
        store
            .get(&format!("{p}nothing-here"))
            .expect("get")
            .is_none()
    );
    assert!(!store.erase(&format!("{p}nothing-here")).expect("erase"));
}

fn round_trip_and_replace(store: &dyn CredentialStore) {
    let guard = Cleanup::new(store);
    let p = prefix("replace");
    let key = guard.track(&format!("{p}reg.example.com"));
    assert_round_trip(store, &cred(&key, "alice", "first-secret"));
    // Same user, new secret; then a different user: each replaces the entry.
    assert_round_trip(store, &cred(&key, "alice", "second-secret"));
    assert_round_trip(store, &cred(&key, "bob", "third-secret"));
    assert_eq!(ours(store, &p), vec![(key.clone(), "bob".to_string())]);
    // Identity tokens are stored with the username `<token>`.
    assert_round_trip(store, &cred(&key, "<token>", "identity-token-value"));
    assert_eq!(ours(store, &p), vec![(key, "<token>".to_string())]);
}

fn keys_are_verbatim(store: &dyn CredentialStore) {
    let guard = Cleanup::new(store);
    let p = prefix("verbatim");
    let keys = [
        format!("https://{p}index.docker.io/v1/"),
        format!("https://{p}index.docker.io/v1/access-token"),
        format!("{p}127.0.0.1:5000"),
        format!("http://{p}reg.example.com:5000/some/path?q=1#frag"),
        format!("{p}régistry.例え.jp:5000/ünïcødé/🚀"),
        format!("{p}{}", "k".repeat(1000)),
        format!("{p}with space and ; semicolon = \"quote\" \\ backslash"),
    ];
    for (i, key) in keys.iter().enumerate() {
        guard.track(key);
        assert_round_trip(
            store,
            &cred(key, &format!("user{i}"), &format!("secret{i}")),
        );
    }
    // Keys differing only in scheme or trailing slash are different entries.
    let listed = ours(store, &format!("https://{p}"));
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(
        store
            .get(&format!("https://{p}index.docker.io/v1"))
            .expect("get")
            .map(|c| c.server),
        None,
        "no trailing-slash normalisation"
    );
    assert!(
        store
            .get(&format!("{p}127.0.0.1:5000/"))
            .expect("get")
            .is_none()
    );
}

fn awkward_secrets(store: &dyn CredentialStore) {
    let guard = Cleanup::new(store);
    let p = prefix("secrets");
    let key = guard.track(&format!("{p}reg"));
    let printable: String = (0x20u8..=0x7e).map(char::from).collect();
    let mut big = String::new();
    while big.len() < 4096 {
        big.push_str(&printable);
    }
    big.truncate(4096);
    for secret in [
        printable.clone(),
        "line1\nline2\r\nline3\n".to_string(),
        "\t tabs and trailing spaces  ".to_string(),
        "?>~+/=".repeat(10),
        "ünïcødé-🔑".to_string(),
        big,
    ] {
        assert_round_trip(store, &cred(&key, "alice", &secret));
    }
    // A long user name survives too.
    assert_round_trip(store, &cred(&key, &"u".repeat(300), "s"));
}

fn erase_true_then_false(store: &dyn CredentialStore) {
    let guard = Cleanup::new(store);
    let p = prefix("erase");
    let key = guard.track(&format!("{p}reg:5000"));
    store.store(&cred(&key, "alice", "pw")).expect("store");
    assert!(store.erase(&key).expect("first erase"));
    assert!(store.get(&key).expect("get").is_none());
    assert!(!store.erase(&key).expect("second erase"));
    assert!(ours(store, &p).is_empty());
}

fn list_pairs_sorted_without_secrets(store: &dyn CredentialStore) {
    let guard = Cleanup::new(store);
    let p = prefix("list");
    // Stored out of order on purpose.
    let entries = [
        ("c.example", "carol"),
        ("a.example", "alice"),
        ("b.example", "<token>"),
    ];
    let secret = format!("list-secret-{}", unique_suffix());
    for (host, user) in entries {
        let key = guard.track(&format!("{p}{host}"));
        store.store(&cred(&key, user, &secret)).expect("store");
    }
    let listed = ours(store, &p);
    let expected: Vec<(String, String)> = [
        ("a.example", "alice"),
        ("b.example", "<token>"),
        ("c.example", "carol"),
    ]
    .iter()
    .map(|(h, u)| (format!("{p}{h}"), u.to_string()))
    .collect();
    assert_eq!(listed, expected);
    let full = store.list().expect("list");
    assert!(
        full.windows(2).all(|w| w[0].0 <= w[1].0),
        "list is sorted by server"
    );
    assert!(
        !format!("{full:?}").contains(&secret),
        "list never shows a secret"
    );
    let got = store.get(&format!("{p}a.example")).unwrap().unwrap();
    assert!(
        !format!("{got:?}").contains(&secret),
        "Debug of a credential is redacted"
    );
}

fn similar_prefixes_do_not_collide(store: &dyn CredentialStore) {
    let guard = Cleanup::new(store);
    let p = prefix("prefixes");
    let a = guard.track(&format!("{p}reg:5000"));
    let b = guard.track(&format!("{p}reg:50001"));
    let c = guard.track(&format!("{p}reg:500"));
    store.store(&cred(&a, "alice", "secret-a")).unwrap();
    store.store(&cred(&b, "bob", "secret-b")).unwrap();
    store.store(&cred(&c, "carol", "secret-c")).unwrap();
    assert_eq!(store.get(&a).unwrap().unwrap().secret.expose(), "secret-a");
    assert_eq!(store.get(&b).unwrap().unwrap().secret.expose(), "secret-b");
    assert_eq!(store.get(&c).unwrap().unwrap().secret.expose(), "secret-c");
    assert!(store.erase(&a).unwrap());
    assert!(store.get(&a).unwrap().is_none());
    assert_eq!(store.get(&b).unwrap().unwrap().username, "bob");
    assert_eq!(store.get(&c).unwrap().unwrap().username, "carol");
    assert_eq!(ours(store, &p).len(), 2);
}

fn store_after_erase(store: &dyn CredentialStore) {
    let guard = Cleanup::new(store);
    let p = prefix("again");
    let key = guard.track(&format!("{p}reg"));
    for round in 0..3 {
        assert_round_trip(store, &cred(&key, "alice", &format!("pw{round}")));
        assert!(store.erase(&key).unwrap());
        assert!(store.get(&key).unwrap().is_none());
    }
}

/// 20 threads on one shared store instance.
fn concurrent_shared(store: &dyn CredentialStore) {
    concurrent(&|| StoreRef::Shared(store));
}

/// 20 threads, each with its own store instance (as separate processes would have).
pub(crate) fn concurrent_independent(make: &(dyn Fn() -> Box<dyn CredentialStore> + Sync)) {
    concurrent(&|| StoreRef::Owned(make()));
}

enum StoreRef<'a> {
    Shared(&'a dyn CredentialStore),
    Owned(Box<dyn CredentialStore>),
}

impl StoreRef<'_> {
    fn get(&self) -> &dyn CredentialStore {
        match self {
            StoreRef::Shared(s) => *s,
            StoreRef::Owned(b) => b.as_ref(),
        }
    }
}

const THREADS: usize = 20;

fn concurrent<'a>(make: &(dyn Fn() -> StoreRef<'a> + Sync)) {
    let p = prefix("concurrent");
    let shared_key = format!("{p}shared");
    let verifier = make();
    let guard = Cleanup::new(verifier.get());
    guard.track(&shared_key);
    for i in 0..THREADS {
        guard.track(&format!("{p}reg-{i:02}"));
    }
    std::thread::scope(|scope| {
        for i in 0..THREADS {
            let (p, shared_key) = (&p, &shared_key);
            scope.spawn(move || {
                let handle = make();
                let store = handle.get();
                let key = format!("{p}reg-{i:02}");
                for round in 0..3 {
                    let c = cred(&key, &format!("user{i}"), &format!("secret-{i}-{round}"));
                    store.store(&c).expect("concurrent store");
                    let got = store.get(&key).expect("concurrent get").expect("own entry");
                    assert_eq!(got.secret.expose(), format!("secret-{i}-{round}"));
                    // Everyone also fights over one key; the secret names its writer.
                    let c = cred(shared_key, &format!("user{i}"), &format!("shared-by-{i}"));
                    store.store(&c).expect("concurrent store (shared key)");
                    if let Some(got) = store.get(shared_key).expect("concurrent get (shared)") {
                        let writer = got.username.trim_start_matches("user");
                        assert_eq!(got.secret.expose(), format!("shared-by-{writer}"));
                    }
                }
                if i % 2 == 1 {
                    assert!(store.erase(&key).expect("concurrent erase"));
                }
            });
        }
    });
    let store = verifier.get();
    let listed = ours(store, &p);
    let mut expected: BTreeSet<(String, String)> = (0..THREADS)
        .filter(|i| i % 2 == 0)
        .map(|i| (format!("{p}reg-{i:02}"), format!("user{i}")))
        .collect();
    let shared = listed
        .iter()
        .find(|(s, _)| *s == shared_key)
        .cloned()
        .expect("the contended key is listed");
    expected.insert(shared.clone());
    assert_eq!(
        listed.into_iter().collect::<BTreeSet<_>>(),
        expected,
        "no entry lost"
    );
    for i in 0..THREADS {
        let got = store.get(&format!("{p}reg-{i:02}")).unwrap();
        if i % 2 == 0 {
            assert_eq!(
                got.expect("kept entry").secret.expose(),
                format!("secret-{i}-2")
            );
        } else {
            assert!(got.is_none(), "erased entry {i} is gone");
        }
    }
    let got = store.get(&shared_key).unwrap().expect("contended entry");
    assert_eq!(
        got.username, shared.1,
        "get and list agree on the contended key"
    );
    let writer = got.username.trim_start_matches("user");
    assert_eq!(
        got.secret.expose(),
        format!("shared-by-{writer}"),
        "username and secret match"
    );
}
