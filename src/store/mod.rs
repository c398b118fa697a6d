//! Where registry credentials live: the [`CredentialStore`] trait, store selection
//! ([`open`], [`probe`]) and the errors every backend reports.
//!
//! Backends: the freedesktop Secret Service over D-Bus ([`secret_service`], Linux), the
//! kernel key retention service ([`keyutils`], Linux), both keyring-core entries on the
//! keyring-rs store crates, and an in-memory map ([`memory`], for tests). Every call is
//! blocking; async callers run them in `spawn_blocking`.
//!
//! Server keys are opaque strings stored verbatim (`https://index.docker.io/v1/`,
//! `https://index.docker.io/v1/access-token`, `127.0.0.1:5000`, ...): docker's own helpers
//! never canonicalise them and neither do we.

use std::fmt;
use std::str::FromStr;

use crate::secret::Secret;

#[cfg(target_os = "linux")]
pub mod keyutils;
pub mod memory;
#[cfg(target_os = "linux")]
pub mod secret_service;

/// One login: what a credential helper's `get` returns.
#[derive(Clone, Debug)]
pub struct Credential {
    /// The key, verbatim (see the module docs).
    pub server: String,
    /// Registry user name, or `<token>` when `secret` is an identity token.
    pub username: String,
    pub secret: Secret,
}

/// A credential store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// freedesktop Secret Service (gnome-keyring, KeePassXC, KWallet) over the D-Bus session bus.
    SecretService,
    /// Linux kernel keyrings (`keyctl`): session keyring plus the user's persistent keyring.
    Keyutils,
    /// A process-local map, for tests of callers.
    Memory,
}

impl StoreKind {
    /// The name used on the command line and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretService => "secret-service",
            StoreKind::Keyutils => "keyutils",
            StoreKind::Memory => "memory",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StoreKind {
    type Err = String;

    /// Accepts `secret-service` and `keyutils` (the memory store is not user-selectable).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "secret-service" => Ok(StoreKind::SecretService),
            "keyutils" => Ok(StoreKind::Keyutils),
            other => Err(format!(
                "unknown credential store {other:?}: expected secret-service or keyutils"
            )),
        }
    }
}

/// The `--store` option: `auto`, `secret-service` or `keyutils`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// The Secret Service when usable, else keyutils (with a warning).
    Auto,
    Kind(StoreKind),
}

impl FromStr for StoreChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(StoreChoice::Auto),
            other => other.parse().map(StoreChoice::Kind).map_err(|_| {
                format!(
                    "unknown credential store {other:?}: expected auto, secret-service or keyutils"
                )
            }),
        }
    }
}

/// Errors from a store. No variant ever carries a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be used here at all (no session bus, locked collection, no session
    /// keyring, ...). `fix` tells the user what to do.
    #[error("{store} is not usable: {reason}; {fix}")]
    Unavailable {
        store: StoreKind,
        reason: String,
        fix: String,
    },
    /// Any other failure of a usable store.
    #[error("{store}: {message}")]
    Backend { store: StoreKind, message: String },
    /// [`open`] with [`StoreChoice::Auto`] found no usable store: one `Unavailable` per store
    /// tried, in the order tried.
    #[error("no credential store is usable:{}", tried_lines(.tried))]
    NoneUsable { tried: Vec<StoreError> },
}

fn tried_lines(tried: &[StoreError]) -> String {
    tried.iter().map(|e| format!("\n  {e}")).collect()
}

impl StoreError {
    /// The store the error is about (`None` for [`StoreError::NoneUsable`]).
    pub fn store(&self) -> Option<StoreKind> {
        match self {
            StoreError::Unavailable { store, .. } | StoreError::Backend { store, .. } => {
                Some(*store)
            }
            StoreError::NoneUsable { .. } => None,
        }
    }

    /// True when the store (or every store) is unusable, as opposed to a failed operation.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, StoreError::Backend { .. })
    }
}

/// What every backend implements. Methods block; none of them prompts the user.
pub trait CredentialStore: Send + Sync {
    fn kind(&self) -> StoreKind;
    /// The credential stored under exactly `server`, if any.
    fn get(&self, server: &str) -> Result<Option<Credential>, StoreError>;
    /// Stores `cred` under `cred.server`, replacing any existing entry for that server.
    fn store(&self, cred: &Credential) -> Result<(), StoreError>;
    /// Removes the entry for `server`: `Ok(true)` if something was removed, `Ok(false)` if
    /// there was nothing to remove.
    fn erase(&self, server: &str) -> Result<bool, StoreError>;
    /// Every `(server, username)` pair this store holds, sorted by server. Never secrets.
    fn list(&self) -> Result<Vec<(String, String)>, StoreError>;
}

/// Where the stores look; [`StoreOptions::from_env`] is what [`open`] and [`probe`] use.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreOptions {
    /// D-Bus session bus address; `None` means the zbus default (`DBUS_SESSION_BUS_ADDRESS`,
    /// else `$XDG_RUNTIME_DIR/bus`). The keyring-core Secret Service store always uses that
    /// default, so another address only serves tests of unusable buses.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) dbus_address: Option<String>,
    /// Directory of the keyutils index; `None` means `$XDG_STATE_HOME/docker-pushx/keyutils-index`
    /// (or `~/.local/state/...`).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) keyutils_index_dir: Option<std::path::PathBuf>,
}

impl StoreOptions {
    pub(crate) fn from_env() -> Self {
        StoreOptions::default()
    }
}

/// Opens one store.
///
/// `Auto` picks the Secret Service when a session bus answers and its default collection is
/// unlocked; otherwise keyutils, and then also returns a warning for the user. When no store
/// is usable the error explains, per store, why not and what to do.
pub fn open(choice: StoreChoice) -> Result<(Box<dyn CredentialStore>, Option<String>), StoreError> {
    open_with(choice, &StoreOptions::from_env())
}

/// Checks that a store is usable, without prompting and without hanging (D-Bus calls time out
/// after [`PROBE_TIMEOUT`](secret_service::PROBE_TIMEOUT)). For `doctor`.
pub fn probe(kind: StoreKind) -> Result<(), StoreError> {
    probe_with(kind, &StoreOptions::from_env())
}

pub(crate) fn probe_with(kind: StoreKind, opts: &StoreOptions) -> Result<(), StoreError> {
    match kind {
        StoreKind::Memory => Ok(()),
        #[cfg(target_os = "linux")]
        StoreKind::SecretService => secret_service::probe(opts),
        #[cfg(target_os = "linux")]
        StoreKind::Keyutils => keyutils::probe(opts),
        #[cfg(not(target_os = "linux"))]
        other => {
            let _ = opts;
            Err(not_on_this_os(other))
        }
    }
}

pub(crate) fn open_with(
    choice: StoreChoice,
    opts: &StoreOptions,
) -> Result<(Box<dyn CredentialStore>, Option<String>), StoreError> {
    start_with(choice, opts).finish()
}

/// Starts [`open`]ing a store: the Secret Service connects on its own thread while the caller
/// goes on; [`Opening::finish`] waits and returns exactly what [`open`] would.
pub fn start_open(choice: StoreChoice) -> Opening {
    start_with(choice, &StoreOptions::from_env())
}

/// A store being opened by [`start_open`].
pub struct Opening {
    choice: StoreChoice,
    opts: StoreOptions,
    #[cfg(target_os = "linux")]
    secret_service: Option<Result<secret_service::Opening, StoreError>>,
}

impl Opening {
    /// Waits for the store: the result of [`open`].
    pub fn finish(self) -> Result<(Box<dyn CredentialStore>, Option<String>), StoreError> {
        #[cfg(target_os = "linux")]
        if let Some(started) = self.secret_service {
            let opened = started.and_then(secret_service::Opening::wait);
            return match self.choice {
                StoreChoice::Auto => auto_fallback(opened, &self.opts),
                StoreChoice::Kind(_) => opened.map(|s| (Box::new(s) as _, None)),
            };
        }
        match self.choice {
            StoreChoice::Kind(kind) => open_kind(kind, &self.opts).map(|s| (s, None)),
            StoreChoice::Auto => open_auto(&self.opts),
        }
    }
}

/// The store `kind`, opened on its first use: a lookup that is answered by an earlier store
/// never pays for opening (and probing) this one. If it cannot be opened, every call fails
/// with the error [`open`] would have returned, which [`StoreError::is_unavailable`].
pub fn open_on_use(kind: StoreKind) -> Box<dyn CredentialStore> {
    Box::new(OnUse {
        kind,
        opts: StoreOptions::from_env(),
        store: std::sync::OnceLock::new(),
    })
}

struct OnUse {
    kind: StoreKind,
    opts: StoreOptions,
    store: std::sync::OnceLock<Result<Box<dyn CredentialStore>, StoreError>>,
}

impl OnUse {
    fn opened(&self) -> Result<&dyn CredentialStore, StoreError> {
        match self.store.get_or_init(|| open_kind(self.kind, &self.opts)) {
            Ok(store) => Ok(store.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }
}

impl CredentialStore for OnUse {
    fn kind(&self) -> StoreKind {
        self.kind
    }
    fn get(&self, server: &str) -> Result<Option<Credential>, StoreError> {
        self.opened()?.get(server)
    }
    fn store(&self, cred: &Credential) -> Result<(), StoreError> {
        self.opened()?.store(cred)
    }
    fn erase(&self, server: &str) -> Result<bool, StoreError> {
        self.opened()?.erase(server)
    }
    fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.opened()?.list()
    }
}

fn start_with(choice: StoreChoice, opts: &StoreOptions) -> Opening {
    #[cfg(target_os = "linux")]
    let secret_service = matches!(
        choice,
        StoreChoice::Auto | StoreChoice::Kind(StoreKind::SecretService)
    )
    .then(|| secret_service::SecretServiceStore::start(opts));
    Opening {
        choice,
        opts: opts.clone(),
        #[cfg(target_os = "linux")]
        secret_service,
    }
}

fn open_kind(kind: StoreKind, opts: &StoreOptions) -> Result<Box<dyn CredentialStore>, StoreError> {
    match kind {
        StoreKind::Memory => Ok(Box::new(memory::MemoryStore::new())),
        #[cfg(target_os = "linux")]
        StoreKind::SecretService => Ok(Box::new(secret_service::SecretServiceStore::open(opts)?)),
        #[cfg(target_os = "linux")]
        StoreKind::Keyutils => Ok(Box::new(keyutils::KeyutilsStore::open(opts)?)),
        #[cfg(not(target_os = "linux"))]
        other => {
            let _ = opts;
            Err(not_on_this_os(other))
        }
    }
}

#[cfg(target_os = "linux")]
fn open_auto(
    opts: &StoreOptions,
) -> Result<(Box<dyn CredentialStore>, Option<String>), StoreError> {
    auto_fallback(secret_service::SecretServiceStore::open(opts), opts)
}

/// `auto`: the Secret Service when it opened, else keyutils with a warning.
#[cfg(target_os = "linux")]
fn auto_fallback(
    secret_service: Result<secret_service::SecretServiceStore, StoreError>,
    opts: &StoreOptions,
) -> Result<(Box<dyn CredentialStore>, Option<String>), StoreError> {
    let ss_err = match secret_service {
        Ok(store) => return Ok((Box::new(store), None)),
        Err(e) => e,
    };
    match keyutils::KeyutilsStore::open(opts) {
        Ok(store) => {
            let warning = store.fallback_warning(&ss_err);
            Ok((Box::new(store), Some(warning)))
        }
        Err(ku_err) => Err(StoreError::NoneUsable {
            tried: vec![ss_err, ku_err],
        }),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_auto(
    _opts: &StoreOptions,
) -> Result<(Box<dyn CredentialStore>, Option<String>), StoreError> {
    Err(StoreError::NoneUsable {
        tried: vec![
            not_on_this_os(StoreKind::SecretService),
            not_on_this_os(StoreKind::Keyutils),
        ],
    })
}

#[cfg(not(target_os = "linux"))]
fn not_on_this_os(store: StoreKind) -> StoreError {
    StoreError::Unavailable {
        store,
        reason: "this store exists only on Linux".into(),
        fix: "no credential store backend is available on this operating system yet".into(),
    }
}

/// A unique, non-secret suffix for throwaway names (probe keys, temp files).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for kind in [StoreKind::SecretService, StoreKind::Keyutils] {
            assert_eq!(kind.to_string().parse::<StoreKind>(), Ok(kind));
        }
        assert_eq!(StoreKind::Memory.to_string(), "memory");
        assert!("memory".parse::<StoreKind>().is_err());
        assert_eq!("auto".parse::<StoreChoice>(), Ok(StoreChoice::Auto));
        assert_eq!(
            "keyutils".parse::<StoreChoice>(),
            Ok(StoreChoice::Kind(StoreKind::Keyutils))
        );
        let err = "pass".parse::<StoreChoice>().unwrap_err();
        assert!(err.contains("auto, secret-service or keyutils"), "{err}");
    }

    #[test]
    fn error_display_is_one_line_per_store() {
        let e = StoreError::Unavailable {
            store: StoreKind::SecretService,
            reason: "the default collection is locked".into(),
            fix: "unlock it".into(),
        };
        assert_eq!(
            e.to_string(),
            "secret-service is not usable: the default collection is locked; unlock it"
        );
        let both = StoreError::NoneUsable {
            tried: vec![
                e,
                StoreError::Unavailable {
                    store: StoreKind::Keyutils,
                    reason: "r".into(),
                    fix: "f".into(),
                },
            ],
        };
        assert_eq!(
            both.to_string(),
            "no credential store is usable:\n  secret-service is not usable: the default \
             collection is locked; unlock it\n  keyutils is not usable: r; f"
        );
        assert!(both.is_unavailable());
        assert_eq!(both.store(), None);
    }

    #[test]
    fn memory_store_passes_the_contract() {
        let store = memory::MemoryStore::new();
        contract::contract_suite(&store);
        contract::concurrent_independent(&|| Box::new(store.clone()));
    }

    #[test]
    fn open_memory_and_probe_memory() {
        let (store, warning) = open(StoreChoice::Kind(StoreKind::Memory)).unwrap();
        assert_eq!(store.kind(), StoreKind::Memory);
        assert!(warning.is_none());
        probe(StoreKind::Memory).unwrap();
    }
}

/// The one contract every backend must pass, plus the test gating rules.
#[cfg(test)]
pub(crate) mod contract {
    use super::*;
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
}
