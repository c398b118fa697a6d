//! The Linux kernel keyring backend (keyutils), built on keyring-core with the
//! `linux-keyutils-keyring-store` crate, plus a non-secret on-disk index that makes `list`
//! possible.
//!
//! * Entry: keyring-core service `docker-pushx`, user = the server key verbatim. The store
//!   crate (default configuration) keeps it as a `user` key with the description
//!   `keyring:<server>@docker-pushx` (the kernel allows 4095 bytes, so servers up to 4074
//!   bytes) in the session keyring, also linked into the user's persistent keyring. Payload:
//!   the JSON `{"ServerURL":…,"Username":…,"Secret":…}` (at most 32767 bytes), so user name
//!   and secret are replaced together, atomically. Default key permissions: the possessor may
//!   do everything, the owning uid may only view the description.
//! * Lifetime: keys live in kernel memory only and are lost at reboot. The session keyring dies
//!   with the login session; the persistent keyring (`keyctl get_persistent`) keeps them for
//!   the user across sessions until it has gone unused for
//!   `/proc/sys/kernel/keys/persistent_keyring_expiry` seconds (3 days by default). Every
//!   entry the store crate builds resets that timer, and every read re-links the key into both
//!   keyrings.
//! * Index: keyutils can only look keys up by exact description and the store crate has no
//!   search, so the index is a directory, `$XDG_STATE_HOME/docker-pushx/keyutils-index/`
//!   (default `~/.local/state/...`, mode 0700), holding one file per server,
//!   `<sha256(server)>.json` = `{"ServerURL":…,"Username":…}` (mode 0600, never a secret).
//!   One file per entry, written to a temp file and renamed into place, needs no lock:
//!   concurrent processes never read-modify-write a shared file, so none can lose another's
//!   entry. `list` takes the server names from the index and everything else from the keys:
//!   entries whose key is gone (reboot, expiry) are not listed, and `store` and `erase`
//!   rewrite or remove them.
//! * Processes without a session keyring of their own (containers, CI jobs, cron) fall back
//!   to the user-session keyring, where the store crate's `set_secret` fails with
//!   `NoStorageAccess(AccessDenied)` after leaving a stray key. `KeyutilsStore::open`
//!   detects that up front (with `linux-keyutils` directly: the store crate cannot tell the
//!   two keyrings apart), then writes, reads back and erases a throwaway entry through the
//!   store crate, before any real write.
//! * Calls are plain syscalls: no thread, no timeout needed, and the store may be dropped
//!   anywhere.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keyring_core::api::CredentialStoreApi;
use keyring_core::{Entry, Error as KrError};
use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};
use linux_keyutils_keyring_store::Store as KrStore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{Credential, CredentialStore, StoreError, StoreKind, StoreOptions, unique_suffix};
use crate::secret::Secret;

/// The keyring-core service of every entry.
const SERVICE: &str = "docker-pushx";
/// The service of the throwaway entry written by [`KeyutilsStore::open`].
const PROBE_SERVICE: &str = "docker-pushx-probe";
/// What the store crate's default configuration puts around the user (the server key):
/// `keyring:<user>@<service>`.
const DESCRIPTION_PREFIX: &str = "keyring:";
const DESCRIPTION_SUFFIX: &str = "@docker-pushx";
/// Longest key description the kernel accepts (`KEY_MAX_DESC_SIZE` - 1).
const MAX_DESCRIPTION: usize = 4095;
/// Largest payload of a `user` key.
const MAX_PAYLOAD: usize = 32767;

const FIX: &str =
    "run inside `keyctl session -` or a login session with pam_keyinit, or use the Secret Service";

fn unavailable(reason: String) -> StoreError {
    StoreError::Unavailable {
        store: StoreKind::Keyutils,
        reason,
        fix: FIX.into(),
    }
}

fn backend(message: impl Into<String>) -> StoreError {
    StoreError::Backend {
        store: StoreKind::Keyutils,
        message: message.into(),
    }
}

/// The kernel's error behind a keyring-core error of the store crate, if any.
fn kernel_error(err: &KrError) -> Option<KeyError> {
    match err {
        KrError::NoStorageAccess(inner) | KrError::PlatformFailure(inner) => {
            inner.downcast_ref::<KeyError>().copied()
        }
        _ => None,
    }
}

/// The error for a message: the kernel's error name (`AccessDenied`, ...) when there is one.
fn describe(err: &KrError) -> String {
    match kernel_error(err) {
        Some(e) => format!("{e:?}"),
        None => err.to_string(),
    }
}

/// Turns a keyring-core error into a store error. `NoEntry` (no key, or one revoked, expired
/// or invalidated a moment ago) is handled by the callers.
fn key_error(err: KrError, doing: &str) -> StoreError {
    match (kernel_error(&err), err) {
        (Some(KeyError::QuotaExceeded), _) => backend(format!(
            "{doing}: the kernel key quota of this user is exhausted (see \
             /proc/sys/kernel/keys/maxbytes and maxkeys; erase unused logins)"
        )),
        (Some(e @ (KeyError::AccessDenied | KeyError::PermissionDenied)), _) => unavailable(
            format!("the kernel refused access to the keyring ({doing}: {e:?})"),
        ),
        (Some(e), _) => backend(format!("{doing}: {e:?}")),
        // Never shown: these carry secret bytes (and print them in `Debug`).
        (None, KrError::BadEncoding(mut bytes) | KrError::BadDataFormat(mut bytes, _)) => {
            bytes.zeroize();
            backend(format!("{doing}: the stored payload is malformed"))
        }
        (None, other) => backend(format!("{doing}: {other}")),
    }
}

/// Usable or why not.
pub(crate) fn probe(opts: &StoreOptions) -> Result<(), StoreError> {
    KeyutilsStore::open(opts).map(|_| ())
}

/// Keys in the session keyring (and the persistent keyring), indexed on disk.
#[derive(Debug)]
pub(crate) struct KeyutilsStore {
    store: Arc<KrStore>,
    /// Whether the kernel gave us a persistent keyring (for the fallback warning).
    persistent: bool,
    index: PathBuf,
}

#[derive(Serialize)]
struct PayloadOut<'a> {
    #[serde(rename = "ServerURL")]
    server: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// Deliberately not `Debug`.
#[derive(Deserialize)]
struct PayloadIn {
    #[serde(rename = "ServerURL")]
    server: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

#[derive(Serialize, Deserialize)]
struct IndexEntry {
    #[serde(rename = "ServerURL")]
    server: String,
    #[serde(rename = "Username")]
    username: String,
}

/// Refuses server keys the kernel would reject, with a message of our own.
fn check_server(server: &str) -> Result<(), StoreError> {
    let len = DESCRIPTION_PREFIX.len() + server.len() + DESCRIPTION_SUFFIX.len();
    if len > MAX_DESCRIPTION {
        return Err(backend(format!(
            "server key too long for the kernel keyring ({} bytes, at most {})",
            server.len(),
            MAX_DESCRIPTION - DESCRIPTION_PREFIX.len() - DESCRIPTION_SUFFIX.len()
        )));
    }
    if server.contains('\0') {
        return Err(backend("server key contains a NUL byte"));
    }
    Ok(())
}

fn default_index_dir() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local/state"))
        })?;
    Some(state.join("docker-pushx").join("keyutils-index"))
}

/// `/proc/sys/kernel/keys/persistent_keyring_expiry` in words, e.g. "3 days".
fn persistent_expiry() -> Option<String> {
    let secs: u64 = std::fs::read_to_string("/proc/sys/kernel/keys/persistent_keyring_expiry")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(match secs {
        s if s >= 86400 && s % 86400 == 0 => format!("{} days", s / 86400),
        s if s >= 3600 => format!("{} hours", s / 3600),
        s => format!("{s} seconds"),
    })
}

impl KeyutilsStore {
    /// Checks for a real session keyring (a throwaway entry is written, read back and erased
    /// through the store crate), notes whether the kernel has a persistent keyring, and
    /// locates the index.
    pub(crate) fn open(opts: &StoreOptions) -> Result<Self, StoreError> {
        let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false)
            .map_err(|e| unavailable(format!("no session keyring ({e:?})")))?;
        let user_session = KeyRing::from_special_id(KeyRingIdentifier::UserSession, false);
        if user_session == Ok(session) {
            return Err(unavailable(
                "no session keyring of its own (only the user-session fallback, as in \
                 containers, CI jobs and cron, where stored keys cannot be found again)"
                    .into(),
            ));
        }
        let store = KrStore::new()
            .map_err(|e| unavailable(format!("cannot use the kernel keyring ({e})")))?;
        check_round_trip(&store)?;
        // Also links the persistent keyring into the session keyring (the store crate does
        // the same for every entry it builds).
        let persistent = KeyRing::get_persistent(KeyRingIdentifier::Session).is_ok();
        let index = match &opts.keyutils_index_dir {
            Some(dir) => dir.clone(),
            None => default_index_dir().ok_or_else(|| StoreError::Unavailable {
                store: StoreKind::Keyutils,
                reason: "no place for the keyutils index (neither XDG_STATE_HOME nor HOME is an \
                         absolute path)"
                    .into(),
                fix: "set HOME or XDG_STATE_HOME, or use the Secret Service".into(),
            })?,
        };
        Ok(KeyutilsStore {
            store,
            persistent,
            index,
        })
    }

    /// The keyring-core entry for `server`.
    fn entry(&self, server: &str) -> Result<Entry, StoreError> {
        check_server(server)?;
        self.store
            .build(SERVICE, server, None)
            .map_err(|e| key_error(e, &format!("looking up {server:?}")))
    }

    fn index_file(&self, server: &str) -> PathBuf {
        let digest = Sha256::digest(server.as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.index.join(format!("{name}.json"))
    }

    fn write_index(&self, server: &str, username: &str) -> Result<(), StoreError> {
        let fail = |e: std::io::Error| {
            backend(format!(
                "updating the keyutils index in {}: {e}",
                self.index.display()
            ))
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.index)
            .map_err(fail)?;
        let target = self.index_file(server);
        let tmp = self.index.join(format!(".tmp-{}", unique_suffix()));
        let entry = IndexEntry {
            server: server.to_string(),
            username: username.to_string(),
        };
        let json = serde_json::to_vec(&entry).map_err(|e| backend(e.to_string()))?;
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&json))
            .and_then(|()| std::fs::rename(&tmp, &target));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(e));
        }
        Ok(())
    }

    fn remove_index(&self, server: &str) -> Result<(), StoreError> {
        match std::fs::remove_file(self.index_file(server)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(backend(format!(
                "updating the keyutils index in {}: {e}",
                self.index.display()
            ))),
            _ => Ok(()),
        }
    }

    fn read_index_entry(&self, path: &Path) -> Option<IndexEntry> {
        let text = std::fs::read(path).ok()?;
        let entry: IndexEntry = serde_json::from_slice(&text).ok()?;
        // Ignore files whose name does not match their content.
        (self.index_file(&entry.server) == path).then_some(entry)
    }
}

/// Writes, reads back and erases a throwaway entry: catches keyrings that accept a key but
/// cannot give it back (pitfall: a stray key and `AccessDenied` later).
fn check_round_trip(store: &KrStore) -> Result<(), StoreError> {
    let entry = store
        .build(PROBE_SERVICE, &unique_suffix(), None)
        .map_err(|e| unavailable(format!("cannot use the session keyring ({})", describe(&e))))?;
    if let Err(e) = entry.set_secret(b"probe") {
        // The key may have been added before linking it failed: leave no stray key.
        let _ = entry.delete_credential();
        return Err(unavailable(format!(
            "cannot add a key to the session keyring ({})",
            describe(&e)
        )));
    }
    let result = match entry.get_secret() {
        Ok(data) if data == b"probe" => Ok(()),
        Ok(_) => Err("a key read back differs from what was written".to_string()),
        Err(e) => Err(format!("cannot read a key back ({})", describe(&e))),
    };
    let removed = entry.delete_credential();
    result.map_err(unavailable)?;
    removed.map_err(|e| unavailable(format!("cannot remove a key ({})", describe(&e))))
}

impl CredentialStore for KeyutilsStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Keyutils
    }

    fn fallback_warning(&self, why: &StoreError) -> String {
        let expiry = match (self.persistent, persistent_expiry()) {
            (true, Some(after)) => format!("after {after} without use"),
            (true, None) => "when unused".into(),
            (false, _) => "when this login session ends".into(),
        };
        format!(
            "credentials are kept in the kernel keyring (keyutils): they are lost at reboot \
             and expire {expiry}; {why}"
        )
    }

    fn get(&self, server: &str) -> Result<Option<Credential>, StoreError> {
        // Finds the key, re-links it into the session and persistent keyrings, reads it.
        let data = match self.entry(server)?.get_secret() {
            Ok(d) => Zeroizing::new(d),
            Err(KrError::NoEntry) => return Ok(None),
            Err(e) => return Err(key_error(e, &format!("reading the key for {server:?}"))),
        };
        // serde_json's error text could quote payload bytes: never show it.
        let payload: PayloadIn = serde_json::from_slice(&data).map_err(|_| {
            backend(format!(
                "the key for {server:?} holds a payload that is not ours"
            ))
        })?;
        let PayloadIn {
            server: stored_server,
            username,
            secret,
        } = payload;
        let secret = Secret::new(secret);
        if stored_server != server {
            return Err(backend(format!(
                "the key for {server:?} holds a credential for another server"
            )));
        }
        Ok(Some(Credential {
            server: server.to_string(),
            username,
            secret,
        }))
    }

    fn store(&self, cred: &Credential) -> Result<(), StoreError> {
        let entry = self.entry(&cred.server)?;
        let payload = Zeroizing::new(
            serde_json::to_vec(&PayloadOut {
                server: &cred.server,
                username: &cred.username,
                secret: cred.secret.expose(),
            })
            .map_err(|e| backend(e.to_string()))?,
        );
        if payload.len() > MAX_PAYLOAD {
            return Err(backend(format!(
                "the credential for {:?} is too large for the kernel keyring ({} bytes, at most {MAX_PAYLOAD})",
                cred.server,
                payload.len()
            )));
        }
        // `add_key`: updates an existing key with this description in place, atomically;
        // then links it into the persistent keyring.
        entry
            .set_secret(&payload)
            .map_err(|e| key_error(e, &format!("storing the credential for {:?}", cred.server)))?;
        self.write_index(&cred.server, &cred.username)
    }

    fn erase(&self, server: &str) -> Result<bool, StoreError> {
        // Invalidates the key; `NoEntry` also when another process erased it first.
        let erased = match self.entry(server)?.delete_credential() {
            Ok(()) => true,
            Err(KrError::NoEntry) => false,
            Err(e) => return Err(key_error(e, &format!("erasing {server:?}"))),
        };
        self.remove_index(server)?;
        Ok(erased)
    }

    fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
        let dir = match std::fs::read_dir(&self.index) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(backend(format!(
                    "reading the keyutils index in {}: {e}",
                    self.index.display()
                )));
            }
        };
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let path = entry.path();
            let is_entry = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json") && !n.starts_with('.'));
            if !is_entry {
                continue;
            }
            let Some(item) = self.read_index_entry(&path) else {
                continue;
            };
            // Only entries whose key still exists (not lost at reboot, expired or erased), and
            // with the user name from the key itself: racing `store`s of one server can leave
            // the index naming another writer's user. A key that is not ours is skipped.
            match self.get(&item.server) {
                Ok(Some(cred)) => out.push((cred.server, cred.username)),
                Ok(None) | Err(StoreError::Backend { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
