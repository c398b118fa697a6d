//! The freedesktop Secret Service backend (gnome-keyring, KeePassXC, KWallet) over the D-Bus
//! session bus, built on keyring-core with the `zbus-secret-service-keyring-store` crate.
//!
//! Item layout (one item per server key, in the default collection), as the store crate
//! writes it for a keyring-core entry with service `docker-pushx` and user = the server key:
//!
//! | attribute  | value                     | owner |
//! |------------|---------------------------|-------|
//! | `service`  | `docker-pushx`            | store crate (entry service); scopes every search to our items |
//! | `username` | the server key, verbatim  | store crate (entry user); our lookup key |
//!
//! The item label is `docker-pushx credentials for <server>` (keyring-core `label` modifier).
//! The secret is the JSON `{"Username":…,"Secret":…}` (content type
//! `application/octet-stream`, set by the store crate).
//!
//! Why the user name travels inside the secret: the store crate creates an item with exactly
//! the `service` and `username` attributes and offers extra attributes only through a second
//! call (`update_attributes`). Two calls are not atomic: racing `store`s could leave one
//! writer's secret with another writer's user name, and a fresh item would have no user name
//! for a moment. One `set_secret` of the JSON is atomic, and gnome-keyring's `replace` keeps
//! one item per server even when processes race. The price: `list` decrypts each of our items
//! to read the user name (they are zeroized at once; only the name is kept).
//!
//! Compatibility: the store crate owns the `username` attribute, so these items are not in the
//! layout of docker's `docker-credential-secretservice` (`server`, `username` = registry user,
//! `docker_cli`, schema `io.docker.Credentials`): docker's helper does not see them, and we
//! never see, return or erase items of docker's helper or of any other tool (every search
//! includes `service=docker-pushx`; items without our JSON secret are skipped by `list`).
//!
//! Reads and writes: `get` and `list` read items on one connection of our own (`secret-service`
//! crate, per-call D-Bus timeouts), searching by the attributes above, so a reading process
//! opens exactly one D-Bus connection and, where the service allows it, no encrypted session
//! (see [`connect`] for that choice). `store` and `erase` go through the store crate, which
//! opens its own connection with an encrypted session on the first write.
//!
//! Nothing ever prompts. The store crate unlocks whatever it meets locked (search results,
//! the default collection on create), and an unlock opens a password prompt (or fails or
//! waits in a headless session). So on our connection (which never unlocks) every call first
//! checks whether the default collection is there and unlocked (on open and before each
//! `store`) and whether the search it or the store crate is about to run matches any locked
//! item; if so the store is reported [`StoreError::Unavailable`] and the store crate is not
//! called. (A collection locked in the microseconds between the check and the call is the one
//! remaining window.)
//!
//! The keyring-core store object is made per [`SecretServiceStore`] and entries are built
//! from it directly, never through keyring-core's process-wide default store: the binaries
//! choose a store at run time and may hold a keyutils store at the same time. Several items
//! for one server (another tool, a Secret Service whose `replace` is not atomic) are
//! tolerated: `get` and `list` take the newest (highest object path), `store` and `erase`
//! remove them all.
//!
//! Deadlines: the store crate connects with zbus defaults (session bus from the environment,
//! no per-call timeout). Our connection has [`CALL_TIMEOUT`] per call, so a missing or
//! silent bus is reported quickly, and every call waits for its result at most
//! 4 × (timeout + 1 s) (24 s), so a service that stops answering in the middle of a
//! store-crate call cannot hang the caller (the worker thread stays blocked; later calls time
//! out too). Because the store crate always uses the environment's session bus, a store
//! opened for another bus address (`StoreOptions::dbus_address`, tests only) refuses writes.
//!
//! Calls block the caller (run them in `spawn_blocking`); the D-Bus work itself happens on a
//! private thread per store that owns both connections ([`worker`]), so the store may be
//! dropped anywhere, including inside an async runtime (zbus's blocking API `block_on`s a
//! tokio runtime of its own, which panics on a thread of the caller's runtime).

mod errors;
mod worker;

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use keyring_core::api::CredentialStoreApi;
use keyring_core::{Entry, Error as KrError};
use secret_service::blocking::{Item, SecretService};
use secret_service::{EncryptionType, Error as SsError};
use serde::{Deserialize, Serialize};
use zbus_secret_service_keyring_store::Store as KrStore;
use zeroize::Zeroizing;

use errors::{
    Ctx, backend, keyring_error, locked, locked_elsewhere, no_default_collection, unusable,
    vanished, vanished_item,
};
use worker::{Starting, Worker};

use super::{Credential, CredentialStore, StoreError, StoreKind, StoreOptions};
use crate::secret::Secret;

/// Per-call D-Bus timeout used by [`probe`](super::probe).
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Per-call D-Bus timeout for a store opened for use.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The keyring-core service of every entry (item attribute `service`).
const SERVICE: &str = "docker-pushx";
/// The attribute in which the store crate keeps the keyring-core user: our server key.
const USER_ATTRIBUTE: &str = "username";
/// How often an operation is retried when an item vanishes under it (a concurrent erase).
const ATTEMPTS: usize = 3;

/// The connections; they live and die on the worker thread.
struct Conn {
    /// Ours: per-call timeouts. Checks lock state and searches (it never unlocks), and reads
    /// items for `get` and `list`.
    ss: SecretService<'static>,
    /// The keyring-core store, which writes and deletes items: made on the first write, with
    /// a connection of its own (the store crate always makes one) and an encrypted session.
    store: OnceCell<Arc<KrStore>>,
    /// Whether our bus is the environment's session bus, the only one the store crate uses.
    env_bus: bool,
}

impl Conn {
    fn store(&self, ctx: &Ctx) -> Result<&KrStore, StoreError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        if !self.env_bus {
            return Err(backend(format!(
                "the keyring-core Secret Service store connects only to the session bus of the \
                 environment (DBUS_SESSION_BUS_ADDRESS), not to {}",
                ctx.bus
            )));
        }
        let store = KrStore::new().map_err(|e| keyring_error(e, ctx, "connecting"))?;
        Ok(self.store.get_or_init(|| store))
    }
}

/// Connects to `address` (default: the session bus) and checks the default collection.
///
/// The session is `plain` when the service allows it, else encrypted (DH + AES). Plain, by
/// choice: the Secret Service spec (§7) says "The plain algorithm does no encryption
/// whatsoever. It is strongly recommended that a service implementing this API support the
/// plain algorithm"; the encryption only keeps a secret out of the bus daemon's memory (and
/// swap) while it passes through, and the bus daemon runs as the same user, who can read the
/// keyring anyway. The DH key exchange is most of what a `get` costs (about 5 ms of a
/// helper call), and the helper runs on every pull and push of the docker CLI. Services that
/// refuse `plain` (KWallet's) get the encrypted session. Only secrets *read* travel on this
/// session; writes go through the store crate, whose session is always encrypted.
fn connect(address: Option<String>, env_bus: bool, ctx: &Ctx) -> Result<Conn, StoreError> {
    let builder = match &address {
        Some(a) => zbus::blocking::connection::Builder::address(a.as_str()),
        None => zbus::blocking::connection::Builder::session(),
    };
    let bus = builder
        .and_then(|b| b.method_timeout(ctx.timeout).build())
        .map_err(|e| ctx.err(&SsError::Zbus(e), "connecting"))?;
    let ss = match SecretService::connect_with_existing(EncryptionType::Plain, bus.clone()) {
        Ok(ss) => ss,
        Err(e) if unusable(&e, &ctx.bus, ctx.timeout).is_some() => {
            return Err(ctx.err(&e, "connecting"));
        }
        Err(_) => SecretService::connect_with_existing(EncryptionType::Dh, bus)
            .map_err(|e| ctx.err(&e, "connecting"))?,
    };
    check_default_collection(&ss, ctx)?;
    Ok(Conn {
        ss,
        store: OnceCell::new(),
        env_bus,
    })
}

/// Ok when the default collection exists and is unlocked. Never unlocks (that would prompt).
fn check_default_collection(ss: &SecretService<'_>, ctx: &Ctx) -> Result<(), StoreError> {
    let collection = match ss.get_default_collection() {
        Ok(c) => c,
        Err(SsError::NoResult) => return Err(no_default_collection().into_error()),
        Err(e) => return Err(ctx.err(&e, "reading the default collection")),
    };
    match collection.is_locked() {
        Ok(false) => Ok(()),
        Ok(true) => Err(locked().into_error()),
        Err(e) => Err(ctx.err(&e, "reading the default collection")),
    }
}

/// Our items for `server` (or all of them), newest first: the search the store crate makes.
/// An error when it matches a locked item: reading it, or letting the store crate near it
/// (which unlocks), would prompt.
fn search<'a>(
    conn: &'a Conn,
    ctx: &Ctx,
    server: Option<&str>,
) -> Result<Vec<Item<'a>>, StoreError> {
    let mut attributes = HashMap::from([("service", SERVICE)]);
    if let Some(server) = server {
        attributes.insert(USER_ATTRIBUTE, server);
    }
    let found = conn
        .ss
        .search_items(attributes)
        .map_err(|e| ctx.err(&e, "searching"))?;
    if !found.locked.is_empty() {
        check_default_collection(&conn.ss, ctx)?;
        return Err(locked_elsewhere().into_error());
    }
    let mut items = found.unlocked;
    items.sort_by_cached_key(|i| std::cmp::Reverse(age(i.item_path.as_str())));
    Ok(items)
}

/// [`search`] for its check only.
fn check_search(conn: &Conn, ctx: &Ctx, server: Option<&str>) -> Result<(), StoreError> {
    search(conn, ctx, server).map(drop)
}

/// Usable or why not, with [`PROBE_TIMEOUT`] per D-Bus call.
pub(crate) fn probe(opts: &StoreOptions) -> Result<(), StoreError> {
    Worker::start(opts, PROBE_TIMEOUT).map(drop)
}

/// A connection to the Secret Service. Calls from several threads are serialised.
pub(crate) struct SecretServiceStore {
    worker: Worker,
}

impl std::fmt::Debug for SecretServiceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretServiceStore")
            .field("bus", &self.worker.bus)
            .finish()
    }
}

#[derive(Serialize)]
struct PayloadOut<'a> {
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// Deliberately not `Debug`.
#[derive(Deserialize)]
struct PayloadIn {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// The secret of one of our items, or `None` when it is not our JSON (an item of another
/// tool that happens to use `service=docker-pushx`).
fn decode(bytes: Vec<u8>) -> Option<(String, Secret)> {
    let bytes = Zeroizing::new(bytes);
    // serde_json's error text could quote secret bytes: never show it.
    let PayloadIn { username, secret } = serde_json::from_slice(&bytes).ok()?;
    Some((username, Secret::new(secret)))
}

/// The keyring-core entry for `server`.
fn entry(conn: &Conn, ctx: &Ctx, server: &str) -> Result<Entry, StoreError> {
    let label = format!("docker-pushx credentials for {server}");
    conn.store(ctx)?
        .build(
            SERVICE,
            server,
            Some(&HashMap::from([("label", label.as_str())])),
        )
        .map_err(|e| backend(format!("building the entry for {server:?}: {e}")))
}

/// Age order of items by object path: gnome-keyring numbers items upwards, so a shorter,
/// then smaller, path is older. Total, so every process agrees.
fn age(path: &str) -> (usize, String) {
    (path.len(), path.to_string())
}

/// Read on our connection (see [`connect`] on its session). Several items for one server
/// (another Secret Service's `replace`, or a race): the newest wins, as in `list`, and the
/// next `store` leaves only one.
fn get(conn: &Conn, ctx: &Ctx, server: &str) -> Result<Option<Credential>, StoreError> {
    let doing = format!("reading the credential for {server:?}");
    for _ in 0..ATTEMPTS {
        let items = search(conn, ctx, Some(server))?;
        if items.is_empty() {
            return Ok(None);
        }
        let mut bytes = None;
        for item in &items {
            match item.get_secret() {
                Ok(b) => {
                    bytes = Some(b);
                    break;
                }
                Err(e) if vanished_item(&e) => {}
                Err(e) => return Err(ctx.err(&e, &doing)),
            }
        }
        let Some(bytes) = bytes else { continue };
        let (username, secret) = decode(bytes).ok_or_else(|| {
            backend(format!(
                "{doing}: the item holds a secret that docker-pushx did not write"
            ))
        })?;
        return Ok(Some(Credential {
            server: server.to_string(),
            username,
            secret,
        }));
    }
    Err(backend(format!(
        "{doing}: the item kept disappearing while being read"
    )))
}

fn store(conn: &Conn, ctx: &Ctx, cred: &Credential) -> Result<(), StoreError> {
    let doing = format!("storing the credential for {:?}", cred.server);
    // The store crate creates new items in the default collection, unlocking it if needed.
    check_default_collection(&conn.ss, ctx)?;
    let payload = Zeroizing::new(
        serde_json::to_vec(&PayloadOut {
            username: &cred.username,
            secret: cred.secret.expose(),
        })
        .map_err(|e| backend(format!("{doing}: {e}")))?,
    );
    for _ in 0..ATTEMPTS {
        check_search(conn, ctx, Some(&cred.server))?;
        let entry = entry(conn, ctx, &cred.server)?;
        // Updates the one existing item in place, or creates one with `replace`.
        match entry.set_secret(&payload) {
            Ok(()) => return Ok(()),
            Err(KrError::Ambiguous(entries)) => {
                for e in entries {
                    let _ = e.delete_credential();
                }
            }
            Err(e) if vanished(&e) => {}
            Err(e) => return Err(keyring_error(e, ctx, &doing)),
        }
    }
    Err(backend(format!(
        "{doing}: the item kept changing while being written"
    )))
}

fn erase(conn: &Conn, ctx: &Ctx, server: &str) -> Result<bool, StoreError> {
    check_search(conn, ctx, Some(server))?;
    match entry(conn, ctx, server)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(KrError::NoEntry) => Ok(false),
        Err(KrError::Ambiguous(entries)) => {
            let mut erased = false;
            for e in entries {
                erased |= e.delete_credential().is_ok();
            }
            Ok(erased)
        }
        // A concurrent erase got there first.
        Err(e) if vanished(&e) => Ok(false),
        Err(e) => Err(keyring_error(e, ctx, &format!("erasing {server:?}"))),
    }
}

fn list(conn: &Conn, ctx: &Ctx) -> Result<Vec<(String, String)>, StoreError> {
    let mut found = Vec::new();
    for item in search(conn, ctx, None)? {
        let read = item.get_attributes().and_then(|attributes| {
            let secret = item.get_secret()?;
            Ok((attributes, secret))
        });
        let (mut attributes, secret) = match read {
            Ok(read) => read,
            Err(e) if vanished_item(&e) => continue,
            Err(e) => return Err(ctx.err(&e, "listing")),
        };
        let (Some(server), Some((username, _secret))) =
            (attributes.remove(USER_ATTRIBUTE), decode(secret))
        else {
            continue; // not written by docker-pushx
        };
        found.push((age(item.item_path.as_str()), server, username));
    }
    // Oldest first, so a newer item for the same server wins (as in `get`).
    found.sort();
    let by_server: BTreeMap<String, String> = found
        .into_iter()
        .map(|(_, server, username)| (server, username))
        .collect();
    Ok(by_server.into_iter().collect())
}

impl SecretServiceStore {
    /// Connects and checks that the default collection exists and is unlocked.
    pub(crate) fn open(opts: &StoreOptions) -> Result<Self, StoreError> {
        Self::start(opts)?.wait()
    }

    /// Starts connecting on the store's thread; [`Opening::wait`] finishes what
    /// [`SecretServiceStore::open`] does. The caller may do other work in between.
    pub(crate) fn start(opts: &StoreOptions) -> Result<Opening, StoreError> {
        Worker::spawn(opts, CALL_TIMEOUT).map(Opening)
    }
}

/// A [`SecretServiceStore`] being opened.
pub(crate) struct Opening(Starting);

impl Opening {
    pub(crate) fn wait(self) -> Result<SecretServiceStore, StoreError> {
        Ok(SecretServiceStore {
            worker: self.0.wait()?,
        })
    }
}

impl CredentialStore for SecretServiceStore {
    fn kind(&self) -> StoreKind {
        StoreKind::SecretService
    }

    fn get(&self, server: &str) -> Result<Option<Credential>, StoreError> {
        let server = server.to_string();
        self.worker.call(move |conn, ctx| get(conn, ctx, &server))
    }

    fn store(&self, cred: &Credential) -> Result<(), StoreError> {
        let cred = cred.clone();
        self.worker.call(move |conn, ctx| store(conn, ctx, &cred))
    }

    fn erase(&self, server: &str) -> Result<bool, StoreError> {
        let server = server.to_string();
        self.worker.call(move |conn, ctx| erase(conn, ctx, &server))
    }

    fn list(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.worker.call(list)
    }
}

#[cfg(test)]
mod tests;
