//! The Linux kernel keyring backend (keyutils): one `user` key per server in the session
//! keyring, also linked into the user's persistent keyring, plus a non-secret on-disk index
//! that makes `list` possible.
//!
//! * Key: type `user`, description `docker-pushx:<server>` (server verbatim; the kernel allows
//!   4095 bytes), payload the JSON `{"ServerURL":…,"Username":…,"Secret":…}` (at most 32767
//!   bytes). Default key permissions: the possessor may do everything, the owning uid may only
//!   view the description.
//! * Lifetime: keys live in kernel memory only and are lost at reboot. The session keyring dies
//!   with the login session; the persistent keyring (`keyctl get_persistent`) keeps them for
//!   the user across sessions until it has gone unused for
//!   `/proc/sys/kernel/keys/persistent_keyring_expiry` seconds (3 days by default).
//! * Index: keyutils can only look keys up by exact description, and the crate we use cannot
//!   describe keys with descriptions over ~500 bytes, so listing the keyring itself is not an
//!   option. The index is a directory, `$XDG_STATE_HOME/docker-pushx/keyutils-index/` (default
//!   `~/.local/state/...`, mode 0700), holding one file per server, `<sha256(server)>.json` =
//!   `{"ServerURL":…,"Username":…}` (mode 0600, never a secret). One file per entry, written to
//!   a temp file and renamed into place, needs no lock: concurrent processes never
//!   read-modify-write a shared file, so none can lose another's entry. `list` takes the
//!   server names from the index and everything else from the keys: entries whose key is gone
//!   (reboot, expiry) are not listed, and `store` and `erase` rewrite or remove them.
//! * Processes without a session keyring of their own (containers, CI jobs, cron) fall back
//!   to the user-session keyring, where keys cannot be found again; [`KeyutilsStore::open`]
//!   detects that, and also writes, reads and removes a throwaway key, before any real write.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use linux_keyutils::{Key, KeyError, KeyRing, KeyRingIdentifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{Credential, CredentialStore, StoreError, StoreKind, StoreOptions, unique_suffix};
use crate::secret::Secret;

const PREFIX: &str = "docker-pushx:";
const PROBE_PREFIX: &str = "docker-pushx-probe:";
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

/// Errors that mean "no such key" (including one invalidated a moment ago).
fn is_gone(e: KeyError) -> bool {
    matches!(
        e,
        KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired
    )
}

fn key_error(e: KeyError, doing: &str) -> StoreError {
    match e {
        KeyError::QuotaExceeded => backend(format!(
            "{doing}: the kernel key quota of this user is exhausted (see \
             /proc/sys/kernel/keys/maxbytes and maxkeys; erase unused logins)"
        )),
        KeyError::AccessDenied | KeyError::PermissionDenied => unavailable(format!(
            "{doing}: the kernel refused access to the keyring ({e:?})"
        )),
        other => backend(format!("{doing}: {other:?}")),
    }
}

/// Usable or why not.
pub(crate) fn probe(opts: &StoreOptions) -> Result<(), StoreError> {
    KeyutilsStore::open(opts).map(|_| ())
}

/// Keys in the session keyring (and the persistent keyring), indexed on disk.
#[derive(Debug)]
pub struct KeyutilsStore {
    session: KeyRing,
    persistent: Option<KeyRing>,
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

fn description(server: &str) -> Result<String, StoreError> {
    let desc = format!("{PREFIX}{server}");
    if desc.len() > MAX_DESCRIPTION {
        return Err(backend(format!(
            "server key too long for the kernel keyring ({} bytes, at most {})",
            server.len(),
            MAX_DESCRIPTION - PREFIX.len()
        )));
    }
    if server.contains('\0') {
        return Err(backend("server key contains a NUL byte"));
    }
    Ok(desc)
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
    /// Checks for a real session keyring (a throwaway key is written, read back, found by
    /// search and removed), links the persistent keyring into it when the kernel has one, and
    /// locates the index.
    pub(crate) fn open(opts: &StoreOptions) -> Result<Self, StoreError> {
        let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false)
            .map_err(|e| unavailable(format!("this process has no session keyring ({e:?})")))?;
        let user_session = KeyRing::from_special_id(KeyRingIdentifier::UserSession, false);
        if user_session == Ok(session) {
            return Err(unavailable(
                "this process has no session keyring of its own, only the user-session \
                 fallback (as in containers, CI jobs and cron), where stored keys cannot be \
                 found again"
                    .into(),
            ));
        }
        check_round_trip(session)?;
        // Also resets the persistent keyring's expiry timer.
        let persistent = KeyRing::get_persistent(KeyRingIdentifier::Session).ok();
        let index = match &opts.keyutils_index_dir {
            Some(dir) => dir.clone(),
            None => default_index_dir().ok_or_else(|| StoreError::Unavailable {
                store: StoreKind::Keyutils,
                reason: "no place for the keyutils index: neither XDG_STATE_HOME nor HOME is an \
                         absolute path"
                    .into(),
                fix: "set HOME or XDG_STATE_HOME, or use the Secret Service".into(),
            })?,
        };
        Ok(KeyutilsStore {
            session,
            persistent,
            index,
        })
    }

    /// The warning shown when `auto` falls back to this store because of `why`.
    pub(crate) fn fallback_warning(&self, why: &StoreError) -> String {
        let expiry = match (self.persistent, persistent_expiry()) {
            (Some(_), Some(after)) => format!("after {after} without use"),
            (Some(_), None) => "when unused".into(),
            (None, _) => "when this login session ends".into(),
        };
        format!(
            "credentials are kept in the kernel keyring (keyutils): they are lost at reboot \
             and expire {expiry}; {why}"
        )
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

    fn search(&self, server: &str) -> Result<Option<Key>, StoreError> {
        let desc = description(server)?;
        match self.session.search(&desc) {
            Ok(key) => Ok(Some(key)),
            Err(e) if is_gone(e) => Ok(None),
            Err(e) => Err(key_error(e, &format!("looking up {server:?}"))),
        }
    }

    fn read_index_entry(&self, path: &Path) -> Option<IndexEntry> {
        let text = std::fs::read(path).ok()?;
        let entry: IndexEntry = serde_json::from_slice(&text).ok()?;
        // Ignore files whose name does not match their content.
        (self.index_file(&entry.server) == path).then_some(entry)
    }
}

/// Adds, reads back, finds and removes a throwaway key: catches keyrings that accept a key
/// but cannot give it back (pitfall: a stray key and `AccessDenied` later).
fn check_round_trip(session: KeyRing) -> Result<(), StoreError> {
    let desc = format!("{PROBE_PREFIX}{}", unique_suffix());
    let key = session
        .add_key(&desc, b"probe")
        .map_err(|e| unavailable(format!("cannot add a key to the session keyring ({e:?})")))?;
    let result = (|| {
        let data = key
            .read_to_vec()
            .map_err(|e| format!("cannot read a key back ({e:?})"))?;
        if data != b"probe" {
            return Err("a key read back differs from what was written".to_string());
        }
        let found = session
            .search(&desc)
            .map_err(|e| format!("cannot find a key just added ({e:?})"))?;
        if found != key {
            return Err("searching finds a different key than the one just added".into());
        }
        Ok(())
    })();
    let removed = key.invalidate();
    result.map_err(unavailable)?;
    removed.map_err(|e| unavailable(format!("cannot remove a key ({e:?})")))
}

impl CredentialStore for KeyutilsStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Keyutils
    }

    fn get(&self, server: &str) -> Result<Option<Credential>, StoreError> {
        let Some(key) = self.search(server)? else {
            return Ok(None);
        };
        let data = match key.read_to_vec() {
            Ok(d) => Zeroizing::new(d),
            Err(e) if is_gone(e) => return Ok(None),
            Err(e) => return Err(key_error(e, &format!("reading the key for {server:?}"))),
        };
        // Keep the key in this session and in the persistent keyring (it may be in only one
        // of them after a new login or an expiry). Best effort: the read already succeeded.
        let _ = self.session.link_key(key);
        if let Some(persistent) = self.persistent {
            let _ = persistent.link_key(key);
        }
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
        let desc = description(&cred.server)?;
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
        // Updates an existing key with this description in place, atomically.
        let key = self
            .session
            .add_key(&desc, payload.as_slice())
            .map_err(|e| key_error(e, &format!("storing the credential for {:?}", cred.server)))?;
        if let Some(persistent) = self.persistent {
            // Without this link the key dies with the session; still stored, so not fatal.
            let _ = persistent.link_key(key);
        }
        self.write_index(&cred.server, &cred.username)
    }

    fn erase(&self, server: &str) -> Result<bool, StoreError> {
        let erased = match self.search(server)? {
            None => false,
            Some(key) => match key.invalidate() {
                Ok(()) => true,
                // Another process erased it between our search and invalidate.
                Err(e) if is_gone(e) => false,
                Err(e) => return Err(key_error(e, &format!("erasing {server:?}"))),
            },
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
mod tests {
    use super::*;
    use crate::store::contract;
    use crate::store::{StoreChoice, open_with};

    /// A private index directory, removed afterwards.
    struct TempIndex(PathBuf);

    impl TempIndex {
        fn new() -> Self {
            TempIndex(
                std::env::temp_dir().join(format!("pushx-keyutils-index-{}", unique_suffix())),
            )
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
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert!(store.erase(&server).unwrap());
        assert_eq!(mode & 0o777, 0o600);
        assert!(!text.contains(&secret));
        assert!(text.contains("\"Username\":\"alice\""), "{text}");
        assert!(!file.exists(), "erase removes the index entry");
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
            i % 2 == 0
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
        match open_with(StoreChoice::Auto, &opts) {
            Ok((store, warning)) => {
                assert!(keyutils_usable);
                assert_eq!(store.kind(), StoreKind::Keyutils);
                let warning = warning.expect("a warning");
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
                assert!(text.starts_with("no credential store is usable:\n  secret-service is not usable: no D-Bus session bus"), "{text}");
                assert!(text.contains("\n  keyutils is not usable: "), "{text}");
                assert!(text.ends_with(FIX), "{text}");
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
                text.starts_with(
                    "keyutils is not usable: this process has no session keyring of its own"
                ),
                "{text}"
            );
            assert!(text.ends_with(FIX));
        } else if std::env::var("PUSHX_TEST_KEYUTILS").as_deref() == Ok("1") {
            result.expect("a real session keyring");
        }
        // A process cannot drop its session keyring, so which branch runs depends on how the
        // tests were started: plain `cargo test` here has none, `keyctl session -` has one.
    }
}
