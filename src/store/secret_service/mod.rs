//! The freedesktop Secret Service backend (gnome-keyring, KeePassXC, KWallet) over the D-Bus
//! session bus, with the `secret-service` crate on one connection of our own.
//!
//! Item layout (one item per server key, in the default collection). It is the layout of a
//! keyring-core entry (service `docker-pushx`, user = the server key) as the
//! `zbus-secret-service-keyring-store` crate writes it, which earlier versions used for writes:
//! items written by them are found, replaced and erased unchanged.
//!
//! | attribute  | value                     | why |
//! |------------|---------------------------|-------|
//! | `service`  | `docker-pushx`            | scopes every search to our items |
//! | `username` | the server key, verbatim  | our lookup key |
//!
//! The item label is `docker-pushx credentials for <server>`. The secret is the JSON
//! `{"Username":…,"Secret":…}`, content type `application/octet-stream`.
//!
//! Why the user name travels inside the secret: the attributes are the lookup key only, and
//! one `CreateItem` with `replace` of the JSON is atomic (gnome-keyring's `replace` keeps one
//! item per server even when processes race), so no reader ever sees one writer's secret with
//! another writer's user name. The price: `list` decrypts each of our items to read the user
//! name (they are zeroized at once; only the name is kept).
//!
//! Compatibility: `username` holds the server key, so these items are not in the layout of
//! docker's `docker-credential-secretservice` (`server`, `username` = registry user,
//! `docker_cli`, schema `io.docker.Credentials`): docker's helper does not see them, and we
//! never see, return or erase items of docker's helper or of any other tool (every search
//! includes `service=docker-pushx`; items without our JSON secret are skipped by `list`).
//!
//! One connection per process: `get`, `list`, `store` and `erase` all run on the connection
//! [`connect`] opens (per-call D-Bus timeouts, a `plain` session where the service allows it).
//! `store` creates the item in the default collection with `replace`; `erase` deletes every
//! item the search finds.
//!
//! Nothing ever prompts: we never call `Unlock`, and a call the service would answer with a
//! prompt is not made. Every call first checks whether the search it is about to run matches
//! any locked item, and `store` whether the default collection is there and unlocked (a
//! `CreateItem` in a locked collection answers with an unlock prompt, which the
//! `secret-service` crate would run); if not, the store is reported
//! [`StoreError::Unavailable`]. (A collection locked in the microseconds between the check
//! and the call is the one remaining window.) Several items for one server (another tool, a
//! Secret Service whose `replace` is not atomic) are tolerated: `get` and `list` take the
//! newest (highest object path), `store` and `erase` leave none but the one written.
//!
//! Deadlines: the connection has [`CALL_TIMEOUT`] per call, so a missing or silent bus is
//! reported quickly, and every call waits for its result at most 4 × (timeout + 1 s) (24 s),
//! so a prompt that slipped through the window above cannot hang the caller (the worker thread
//! stays blocked; later calls time out too).
//!
//! Calls block the caller (run them in `spawn_blocking`); the D-Bus work itself happens on a
//! private thread per store that owns the connection ([`worker`]), so the store may be
//! dropped anywhere, including inside an async runtime (zbus's blocking API `block_on`s a
//! tokio runtime of its own, which panics on a thread of the caller's runtime).

mod errors;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use secret_service::blocking::{Collection, Item, SecretService};
use secret_service::{EncryptionType, Error as SsError};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use errors::{Ctx, backend, locked, locked_elsewhere, no_default_collection, vanished_item};
use worker::{Starting, Worker};

use super::{Credential, CredentialStore, StoreError, StoreKind, StoreOptions};
use crate::secret::Secret;

/// Per-call D-Bus timeout used by [`probe`](super::probe).
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Per-call D-Bus timeout for a store opened for use.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Attribute `service` of every item: scopes every search to ours.
const SERVICE: &str = "docker-pushx";
/// The attribute that holds the server key.
const USER_ATTRIBUTE: &str = "username";
/// What the label says before the server key.
const LABEL_PREFIX: &str = "docker-pushx credentials for ";
/// The content type of every secret we write.
const CONTENT_TYPE: &str = "application/octet-stream";
/// How often a read is retried when an item vanishes under it (a concurrent erase).
const ATTEMPTS: usize = 3;

/// The connection; it lives and dies on the worker thread. Per-call timeouts; checks lock
/// state (it never unlocks), searches, reads and writes items.
struct Conn {
    ss: SecretService<'static>,
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
/// refuse `plain` (KWallet's) get the encrypted session ([`fall_back_to_encrypted`]). Reads
/// and writes share this session.
fn connect(address: Option<String>, ctx: &Ctx) -> Result<Conn, StoreError> {
    let builder = match &address {
        Some(a) => zbus::blocking::connection::Builder::address(a.as_str()),
        None => zbus::blocking::connection::Builder::session(),
    };
    let bus = builder
        .and_then(|b| b.method_timeout(ctx.timeout).build())
        .map_err(|e| ctx.err(&SsError::Zbus(e), "connecting"))?;
    let ss = match SecretService::connect_with_existing(EncryptionType::Plain, bus.clone()) {
        Ok(ss) => ss,
        Err(e) => {
            fall_back_to_encrypted(&e, ctx)?;
            SecretService::connect_with_existing(EncryptionType::Dh, bus)
                .map_err(|e| ctx.err(&e, "connecting"))?
        }
    };
    default_collection(&ss, ctx)?;
    Ok(Conn { ss })
}

/// What a failed `plain` session means: `Ok` = open an encrypted one instead, `Err` = the
/// service is not usable at all (report that). A service that refuses the algorithm answers
/// with an error of its own (KWallet: `org.freedesktop.DBus.Error.NotSupported`; the spec
/// names none), so every error that does not say the bus or service is unusable falls back.
/// No bus, a timeout or a locked service do not: a second try would fail the same way, after
/// as long a wait.
fn fall_back_to_encrypted(err: &SsError, ctx: &Ctx) -> Result<(), StoreError> {
    match errors::unusable(err, &ctx.bus, ctx.timeout) {
        Some(unusable) => Err(unusable.into_error()),
        None => Ok(()),
    }
}

/// The default collection when it exists and is unlocked. Never unlocks (that would prompt).
fn default_collection<'a>(
    ss: &'a SecretService<'_>,
    ctx: &Ctx,
) -> Result<Collection<'a>, StoreError> {
    let collection = match ss.get_default_collection() {
        Ok(c) => c,
        Err(SsError::NoResult) => return Err(no_default_collection().into_error()),
        Err(e) => return Err(ctx.err(&e, "reading the default collection")),
    };
    match collection.is_locked() {
        Ok(false) => Ok(collection),
        Ok(true) => Err(locked().into_error()),
        Err(e) => Err(ctx.err(&e, "reading the default collection")),
    }
}

/// The attributes of our item for `server`, or of all our items.
fn attributes(server: Option<&str>) -> HashMap<&str, &str> {
    let mut attributes = HashMap::from([("service", SERVICE)]);
    if let Some(server) = server {
        attributes.insert(USER_ATTRIBUTE, server);
    }
    attributes
}

/// Our items for `server` (or all of them), newest first. An error when the search matches a
/// locked item: reading, replacing or deleting it would need an unlock, which prompts.
fn search<'a>(
    conn: &'a Conn,
    ctx: &Ctx,
    server: Option<&str>,
) -> Result<Vec<Item<'a>>, StoreError> {
    let found = conn
        .ss
        .search_items(attributes(server))
        .map_err(|e| ctx.err(&e, "searching"))?;
    if !found.locked.is_empty() {
        default_collection(&conn.ss, ctx)?;
        return Err(locked_elsewhere().into_error());
    }
    let mut items = found.unlocked;
    items.sort_by_cached_key(|i| std::cmp::Reverse(age(i.item_path.as_str())));
    Ok(items)
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

/// One `CreateItem` with `replace` in the default collection: it updates our item there in
/// place (secret and label), or creates it; then any other item for the server goes.
fn store(conn: &Conn, ctx: &Ctx, cred: &Credential) -> Result<(), StoreError> {
    let doing = format!("storing the credential for {:?}", cred.server);
    let collection = default_collection(&conn.ss, ctx)?;
    let existing = search(conn, ctx, Some(&cred.server))?;
    let payload = Zeroizing::new(
        serde_json::to_vec(&PayloadOut {
            username: &cred.username,
            secret: cred.secret.expose(),
        })
        .map_err(|e| backend(format!("{doing}: {e}")))?,
    );
    let label = format!("{LABEL_PREFIX}{}", cred.server);
    let written = collection
        .create_item(
            &label,
            attributes(Some(&cred.server)),
            &payload,
            true,
            CONTENT_TYPE,
        )
        .map_err(|e| ctx.err(&e, &doing))?;
    // Older duplicates: in another collection, or from a service whose `replace` is not
    // atomic. Gone already (a concurrent store or erase) is fine.
    for item in existing.iter().filter(|i| i.item_path != written.item_path) {
        match item.delete() {
            Ok(()) => {}
            Err(e) if vanished_item(&e) => {}
            Err(e) => return Err(ctx.err(&e, &doing)),
        }
    }
    Ok(())
}

/// Deletes every item for `server`; `true` when there was one.
fn erase(conn: &Conn, ctx: &Ctx, server: &str) -> Result<bool, StoreError> {
    let mut erased = false;
    for item in search(conn, ctx, Some(server))? {
        match item.delete() {
            Ok(()) => erased = true,
            // A concurrent erase got there first.
            Err(e) if vanished_item(&e) => {}
            Err(e) => return Err(ctx.err(&e, &format!("erasing {server:?}"))),
        }
    }
    Ok(erased)
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
