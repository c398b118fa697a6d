//! Where registry credentials live: the [`CredentialStore`] trait, the backends, the
//! [`chain::StoreChain`] that uses several of them as one, [`probe`] and the errors every
//! backend reports.
//!
//! Backends: the freedesktop Secret Service over D-Bus ([`secret_service`], Linux, the
//! `secret-service` crate), the kernel key retention service ([`keyutils`], Linux, a
//! keyring-core entry on a keyring-rs store crate), and an in-memory map ([`memory`], for
//! tests). Every call is
//! blocking; async callers run them in `spawn_blocking`.
//!
//! Server keys are opaque strings stored verbatim (`https://index.docker.io/v1/`,
//! `https://index.docker.io/v1/access-token`, `127.0.0.1:5000`, ...): docker's own helpers
//! never canonicalise them and neither do we.

use std::fmt;
use std::str::FromStr;

use crate::secret::Secret;

pub mod chain;
#[cfg(test)]
pub(crate) mod contract;
#[cfg(target_os = "linux")]
pub(crate) mod keyutils;
pub mod memory;
#[cfg(target_os = "linux")]
pub(crate) mod secret_service;

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
    /// keyring, ...). `reason` starts with a few words that stand alone (its
    /// [`brief`](StoreError::brief)), details follow in parentheses; `fix` tells the user
    /// what to do.
    #[error("{store} is not usable: {reason}; {fix}")]
    Unavailable {
        store: StoreKind,
        reason: String,
        fix: String,
    },
    /// Any other failure of a usable store.
    #[error("{store}: {message}")]
    Backend { store: StoreKind, message: String },
    /// A [`chain::StoreChain`] found no usable store: one `Unavailable` per store
    /// tried, in the order tried. Shown as one short line: each store's brief reason, then
    /// the ways out (`doctor` shows each store's full reason and fix).
    #[error("no credential store is usable ({}): {}", briefs(.tried), none_usable_fix(.tried))]
    NoneUsable { tried: Vec<StoreError> },
}

fn briefs(tried: &[StoreError]) -> String {
    tried
        .iter()
        .map(|e| match e.store() {
            Some(store) => format!("{store}: {}", e.brief()),
            None => e.brief(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What to do when no store is usable, for the stores that were tried. `DOCKER_AUTH_CONFIG`
/// is the way for a machine with no keyring at all (a CI job): pushes read logins from it.
fn none_usable_fix(tried: &[StoreError]) -> String {
    let tried_kind = |k: StoreKind| tried.iter().any(|e| e.store() == Some(k));
    let mut ways = Vec::new();
    if tried_kind(StoreKind::SecretService) {
        ways.push("use a desktop keyring");
    }
    if tried_kind(StoreKind::Keyutils) {
        ways.push("run under `keyctl session -`");
    }
    ways.push("in CI set DOCKER_AUTH_CONFIG");
    let last = ways.pop().unwrap_or_default();
    if ways.is_empty() {
        last.to_string()
    } else {
        format!("{}, or {last}", ways.join(", "))
    }
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

    /// A few words on what failed: an unusable store's reason up to its details in
    /// parentheses, else the whole message.
    pub fn brief(&self) -> String {
        match self {
            StoreError::Unavailable { reason, .. } => reason
                .split(" (")
                .next()
                .unwrap_or(reason)
                .trim()
                .to_string(),
            StoreError::Backend { message, .. } => message.clone(),
            StoreError::NoneUsable { tried } => briefs(tried),
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
    /// The warning shown when this store is written to because an earlier choice was unusable
    /// for the reason `why`.
    fn fallback_warning(&self, why: &StoreError) -> String {
        format!("credentials are kept in {}; {why}", self.kind())
    }
}

/// Where the stores look; [`StoreOptions::from_env`] is what the chain and [`probe`] use.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreOptions {
    /// D-Bus session bus address; `None` means the zbus default (`DBUS_SESSION_BUS_ADDRESS`,
    /// else `$XDG_RUNTIME_DIR/bus`). Another address serves tests.
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

/// A store being opened: call it to wait for the store.
pub(crate) type Opener = Box<dyn FnOnce() -> Result<Box<dyn CredentialStore>, StoreError> + Send>;

/// Starts opening the store `kind`. The Secret Service connects on a thread of its own at once,
/// so the caller's work overlaps it; the others open when the [`Opener`] is called.
pub(crate) fn start_one(kind: StoreKind, opts: &StoreOptions) -> Opener {
    #[cfg(target_os = "linux")]
    if kind == StoreKind::SecretService {
        let started = secret_service::SecretServiceStore::start(opts);
        return Box::new(move || Ok(Box::new(started?.wait()?) as Box<dyn CredentialStore>));
    }
    let opts = opts.clone();
    Box::new(move || open_one(kind, &opts))
}

fn open_one(kind: StoreKind, opts: &StoreOptions) -> Result<Box<dyn CredentialStore>, StoreError> {
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
            "no credential store is usable (secret-service: the default collection is locked; \
             keyutils: r): use a desktop keyring, run under `keyctl session -`, or \
             in CI set DOCKER_AUTH_CONFIG"
        );
        assert!(both.is_unavailable());
        assert_eq!(both.store(), None);
    }

    #[test]
    fn none_usable_is_one_short_line_with_the_ways_out() {
        // The reasons as the backends give them when there is neither a bus nor a session
        // keyring: the line stays short however long their details are.
        let tried = vec![
            StoreError::Unavailable {
                store: StoreKind::SecretService,
                reason: "no D-Bus session bus (unix:path=/run/user/1000/bus: No such file or \
                         directory (os error 2))"
                    .into(),
                fix: "run inside a desktop session or `dbus-run-session -- ...`".into(),
            },
            StoreError::Unavailable {
                store: StoreKind::Keyutils,
                reason: "no session keyring of its own (only the user-session fallback, as in \
                         containers, CI jobs and cron, where stored keys cannot be found again)"
                    .into(),
                fix: "run inside `keyctl session -`".into(),
            },
        ];
        let text = StoreError::NoneUsable { tried }.to_string();
        assert_eq!(
            text,
            "no credential store is usable (secret-service: no D-Bus session bus; keyutils: no \
             session keyring of its own): use a desktop keyring, run under `keyctl \
             session -`, or in CI set DOCKER_AUTH_CONFIG"
        );
        assert!(text.len() < 200, "{} characters", text.len());
        let one = StoreError::NoneUsable {
            tried: vec![StoreError::Unavailable {
                store: StoreKind::Memory,
                reason: "gone".into(),
                fix: "f".into(),
            }],
        };
        assert_eq!(
            one.to_string(),
            "no credential store is usable (memory: gone): in CI set DOCKER_AUTH_CONFIG"
        );
    }

    #[test]
    fn memory_store_passes_the_contract() {
        let store = memory::MemoryStore::new();
        contract::contract_suite(&store);
        contract::concurrent_independent(&|| Box::new(store.clone()));
    }

    #[test]
    fn open_memory_and_probe_memory() {
        let store = start_one(StoreKind::Memory, &StoreOptions::default())().unwrap();
        assert_eq!(store.kind(), StoreKind::Memory);
        probe(StoreKind::Memory).unwrap();
    }
}
