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
//! Nothing ever prompts. The store crate unlocks whatever it meets locked (search results,
//! the default collection on create), and an unlock opens a password prompt (or fails or
//! waits in a headless session). So every call first asks, on a connection of our own
//! (`secret-service` crate, plain session, per-call D-Bus timeouts; it never unlocks and never
//! reads a secret), whether the default collection is there and unlocked (on open and before
//! each `store`) and whether the search the store crate is about to run would match any locked
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
//! Opening: the store crate's connection and its encrypted session (a DH key exchange, most
//! of the time spent) are set up on a thread of their own while our connection checks the
//! default collection; opening a session never unlocks anything, and the store crate is used
//! only once the check passed.
//!
//! Deadlines: the store crate connects with zbus defaults (session bus from the environment,
//! no per-call timeout). Our check connection has [`CALL_TIMEOUT`] per call, so a missing or
//! silent bus is reported quickly, and every call waits for its result at most
//! 4 × (timeout + 1 s) (24 s), so a service that stops answering in the middle of a
//! store-crate call cannot hang the caller (the worker thread stays blocked; later calls time
//! out too). Because the store crate always uses the environment's session bus, a store
//! opened for another bus address (`StoreOptions::dbus_address`, tests only) that answers is
//! refused.
//!
//! Calls block the caller (run them in `spawn_blocking`); the D-Bus work itself happens on a
//! private thread per store that owns both connections (the store crate's is made on another
//! thread and handed over, or dropped there), so the store may be dropped anywhere,
//! including inside an async runtime (zbus's blocking API `block_on`s a tokio runtime of its
//! own, which panics on a thread of the caller's runtime).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use keyring_core::api::CredentialStoreApi;
use keyring_core::{Entry, Error as KrError};
use secret_service::blocking::SecretService;
use secret_service::{EncryptionType, Error as SsError};
use serde::{Deserialize, Serialize};
use zbus_secret_service_keyring_store::Store as KrStore;
use zbus_secret_service_keyring_store::cred::Wrapper;
use zeroize::{Zeroize, Zeroizing};

use super::{Credential, CredentialStore, StoreError, StoreKind, StoreOptions};
use crate::secret::Secret;

/// Per-call D-Bus timeout used by [`probe`](super::probe).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Per-call D-Bus timeout for a store opened with [`open`](super::open).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The keyring-core service of every entry (item attribute `service`).
const SERVICE: &str = "docker-pushx";
/// The attribute in which the store crate keeps the keyring-core user: our server key.
const USER_ATTRIBUTE: &str = "username";
/// How often an operation is retried when an item vanishes under it (a concurrent erase).
const ATTEMPTS: usize = 3;

const UNLOCK_HINT: &str =
    "printf '%s' \"$PASSWORD\" | gnome-keyring-daemon --replace --unlock --components=secrets";

/// Why the service cannot be used, and what to do, before the "or use keyutils" alternative.
pub(crate) struct Unusable {
    pub(crate) reason: String,
    pub(crate) remedy: String,
}

impl Unusable {
    fn into_error(self) -> StoreError {
        StoreError::Unavailable {
            store: StoreKind::SecretService,
            reason: self.reason,
            fix: format!("{}, or use --store keyutils", self.remedy),
        }
    }
}

fn locked() -> Unusable {
    Unusable {
        reason: "the default collection is locked".into(),
        remedy: format!(
            "unlock it (log in to the desktop session, or `{UNLOCK_HINT}`; a plain \
             `gnome-keyring-daemon --unlock` does not unlock a daemon that is already running)"
        ),
    }
}

fn locked_elsewhere() -> Unusable {
    Unusable {
        reason: "some docker-pushx items are in a locked collection".into(),
        remedy: "unlock that collection (e.g. with seahorse); docker-pushx never unlocks one, \
                 as that would prompt"
            .into(),
    }
}

fn no_default_collection() -> Unusable {
    Unusable {
        reason: "the Secret Service has no default collection (no login keyring yet)".into(),
        remedy: format!("create and unlock one, e.g. `{UNLOCK_HINT}`"),
    }
}

fn backend(message: impl Into<String>) -> StoreError {
    StoreError::Backend {
        store: StoreKind::SecretService,
        message: message.into(),
    }
}

/// Turns a secret-service/zbus error into a store error. D-Bus error texts come from the bus
/// or the service and never contain a secret (secrets travel only in `Secret` structs).
fn classify(err: &SsError, bus: &str, timeout: Duration, doing: &str) -> StoreError {
    if let Some(unusable) = unusable(err, bus, timeout) {
        return unusable.into_error();
    }
    backend(format!("{doing}: {err}"))
}

fn unusable(err: &SsError, bus: &str, timeout: Duration) -> Option<Unusable> {
    let no_bus = |detail: &str| Unusable {
        reason: format!("no D-Bus session bus at {bus} ({detail})"),
        remedy: "run inside a desktop session or `dbus-run-session -- ...` with a Secret Service \
                 (e.g. gnome-keyring) started"
            .into(),
    };
    let timed_out = || Unusable {
        reason: format!(
            "the Secret Service did not answer within {}s",
            timeout.as_secs()
        ),
        remedy: "check that the keyring daemon is running and responsive".into(),
    };
    let io = match err {
        SsError::Zbus(zbus::Error::InputOutput(io)) => Some(io.kind()),
        _ => None,
    };
    match (err, io) {
        (SsError::Unavailable, _) | (SsError::Zbus(zbus::Error::Address(_)), _) => {
            return Some(no_bus("no bus address, or the socket does not exist"));
        }
        // `Prompt`: an unlock prompt was dismissed (the store crate unlocked after all).
        (SsError::Locked | SsError::Prompt, _) => return Some(locked()),
        (_, Some(std::io::ErrorKind::TimedOut)) => return Some(timed_out()),
        (SsError::Zbus(zbus::Error::InputOutput(e)), _) => return Some(no_bus(&e.to_string())),
        (SsError::Zbus(zbus::Error::Handshake(e)), _) => return Some(no_bus(e)),
        _ => {}
    }
    // D-Bus error names arrive in several wrappers (MethodError, fdo::Error, ...), and some
    // of them (fdo::Error::ZBus) do not show the name in their Display.
    let text = format!("{} {err}", error_name(err).unwrap_or_default());
    if text.contains("org.freedesktop.Secret.Error.IsLocked") {
        return Some(locked());
    }
    if text.contains("org.freedesktop.DBus.Error.ServiceUnknown")
        || text.contains("org.freedesktop.DBus.Error.NameHasNoOwner")
        || text.contains("org.freedesktop.DBus.Error.Spawn")
    {
        return Some(Unusable {
            reason: "no Secret Service provider on the session bus".into(),
            remedy: "start one, e.g. `gnome-keyring-daemon --start --components=secrets`".into(),
        });
    }
    if text.contains("org.freedesktop.DBus.Error.NoReply")
        || text.contains("org.freedesktop.DBus.Error.Timeout")
    {
        return Some(timed_out());
    }
    None
}

/// The D-Bus error name inside `err`, e.g. `org.freedesktop.Secret.Error.IsLocked`.
fn error_name(err: &SsError) -> Option<String> {
    fn of_zbus(e: &zbus::Error) -> Option<String> {
        match e {
            zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
            zbus::Error::FDO(e) => of_fdo(e),
            _ => None,
        }
    }
    fn of_fdo(e: &zbus::fdo::Error) -> Option<String> {
        match e {
            zbus::fdo::Error::ZBus(e) => of_zbus(e),
            other => Some(zbus::DBusError::name(other).to_string()),
        }
    }
    match err {
        SsError::Zbus(e) => of_zbus(e),
        SsError::ZbusFdo(e) => of_fdo(e),
        _ => None,
    }
}

/// Turns a keyring-core error from the store crate into a store error. Never shows secret
/// bytes: `BadEncoding`/`BadDataFormat` carry them (and print them in `Debug`), so they are
/// wiped here and only named.
fn keyring_error(err: KrError, ctx: &Ctx, doing: &str) -> StoreError {
    match err {
        KrError::NoStorageAccess(inner) | KrError::PlatformFailure(inner) => {
            match inner.downcast_ref::<SsError>() {
                Some(e) => ctx.err(e, doing),
                None => backend(format!("{doing}: {inner}")),
            }
        }
        KrError::BadEncoding(mut bytes) => {
            bytes.zeroize();
            backend(format!("{doing}: the stored secret is not valid UTF-8"))
        }
        KrError::BadDataFormat(mut bytes, _) => {
            bytes.zeroize();
            backend(format!("{doing}: the stored secret is malformed"))
        }
        KrError::Ambiguous(items) => backend(format!("{doing}: {} items match", items.len())),
        other => backend(format!("{doing}: {other}")),
    }
}

/// True when the error says the item went away between the store crate's search and its
/// next call on the item (a concurrent erase). gnome-keyring answers calls on a deleted item
/// with `UnknownMethod` ("Object does not exist at path ..."); the others are what the spec
/// and other services use.
fn vanished(err: &KrError) -> bool {
    let (KrError::PlatformFailure(inner) | KrError::NoStorageAccess(inner)) = err else {
        return false;
    };
    let name = inner.downcast_ref::<SsError>().and_then(error_name);
    matches!(
        name.as_deref(),
        Some(
            "org.freedesktop.Secret.Error.NoSuchObject"
                | "org.freedesktop.DBus.Error.UnknownObject"
                | "org.freedesktop.DBus.Error.UnknownMethod"
        )
    )
}

fn bus_description(opts: &StoreOptions) -> String {
    match &opts.dbus_address {
        Some(a) => a.clone(),
        None => match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            Ok(a) if !a.is_empty() => a,
            _ => "$XDG_RUNTIME_DIR/bus (DBUS_SESSION_BUS_ADDRESS is not set)".into(),
        },
    }
}

/// How a connection reports errors: the bus address and per-call timeout, for messages.
struct Ctx {
    bus: String,
    timeout: Duration,
}

impl Ctx {
    fn err(&self, e: &SsError, doing: &str) -> StoreError {
        classify(e, &self.bus, self.timeout, doing)
    }

    fn timed_out(&self, waited: Duration) -> StoreError {
        Unusable {
            reason: format!(
                "the Secret Service at {} did not answer within {}s",
                self.bus,
                waited.as_secs()
            ),
            remedy: "check the session bus and the keyring daemon".into(),
        }
        .into_error()
    }
}

/// Both connections; they live and die on the worker thread.
struct Conn {
    /// Ours: per-call timeouts, plain session; only reads lock state and searches. Never
    /// unlocks, never reads or writes a secret.
    check: SecretService<'static>,
    /// The keyring-core store: every item read, write and delete.
    store: Arc<KrStore>,
}

type Job = Box<dyn FnOnce(&Conn, &Ctx) + Send>;

/// The connections live on their own thread, which runs every call.
///
/// zbus's blocking API (with its `tokio` feature) drives a private tokio runtime with
/// `block_on`, even when a proxy or connection is dropped; on a thread of the caller's runtime
/// that panics ("Cannot start a runtime from within a runtime"). On this thread nothing zbus
/// does can meet the caller's runtime, dropping the store is safe anywhere, and every call
/// gets a deadline (the store crate's own connection has no D-Bus timeout).
struct Worker {
    jobs: mpsc::Sender<Job>,
    bus: String,
    deadline: Duration,
    /// When the thread was started: [`Starting::wait`] counts its deadline from here.
    started: std::time::Instant,
}

/// A [`Worker`] whose thread is still connecting.
struct Starting {
    worker: Worker,
    ready: mpsc::Receiver<Result<(), StoreError>>,
    timeout: Duration,
}

impl Starting {
    /// Waits until the thread has connected and checked the default collection, at most
    /// `timeout` + 1s after it was started.
    fn wait(self) -> Result<Worker, StoreError> {
        let Starting {
            worker,
            ready,
            timeout,
        } = self;
        let deadline = worker.deadline;
        match ready.recv_timeout(deadline.saturating_sub(worker.started.elapsed())) {
            Ok(result) => result.map(|()| worker),
            // The thread may stay blocked on an unresponsive bus; it holds nothing of ours.
            Err(_) => Err(Ctx {
                bus: worker.bus.clone(),
                timeout,
            }
            .timed_out(deadline)),
        }
    }
}

impl Worker {
    /// Connects the check connection (with `timeout` per D-Bus call) and checks the default
    /// collection while the keyring-core store is created; `timeout` + 1s overall.
    fn start(opts: &StoreOptions, timeout: Duration) -> Result<Self, StoreError> {
        Worker::spawn(opts, timeout)?.wait()
    }

    /// Starts the connection thread; [`Starting::wait`] waits for it to be ready.
    fn spawn(opts: &StoreOptions, timeout: Duration) -> Result<Starting, StoreError> {
        let started = std::time::Instant::now();
        let ctx = Ctx {
            bus: bus_description(opts),
            timeout,
        };
        let bus = ctx.bus.clone();
        let deadline = timeout + Duration::from_secs(1);
        let address = opts.dbus_address.clone();
        let env_bus = address
            .as_deref()
            .is_none_or(|a| std::env::var("DBUS_SESSION_BUS_ADDRESS").as_deref() == Ok(a));
        let crate_store = env_bus.then(CrateStore::start);
        let (jobs, queue) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::channel();
        std::thread::Builder::new()
            .name("pushx-secret-service".into())
            .spawn(move || {
                let conn = match connect(address.as_deref(), &ctx, crate_store) {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                // Ends when the store (the only sender) is dropped.
                for job in queue {
                    job(&conn, &ctx);
                }
            })
            .map_err(|e| backend(format!("cannot start the Secret Service thread: {e}")))?;
        Ok(Starting {
            worker: Worker {
                jobs,
                bus,
                deadline,
                started,
            },
            ready,
            timeout,
        })
    }

    /// Runs `f` on the connection thread and waits for its result.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Conn, &Ctx) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(move |conn, ctx| {
                let _ = tx.send(f(conn, ctx));
            }))
            .map_err(|_| backend("the Secret Service connection thread has stopped"))?;
        // The check calls have their own timeout; this catches a stalled store-crate call.
        let waited = self.deadline * 4;
        rx.recv_timeout(waited).unwrap_or_else(|_| {
            Err(Ctx {
                bus: self.bus.clone(),
                timeout: self.deadline,
            }
            .timed_out(waited))
        })
    }
}

/// The keyring-core store, being created on a thread of its own (its DH key exchange is most
/// of the time spent opening) while our connection checks the default collection. Opening a
/// session never unlocks anything, so this cannot prompt; the store crate is called only
/// after the check passed. An abandoned store (the check failed) is dropped on that thread,
/// outside any async runtime.
struct CrateStore(Option<mpsc::Receiver<Result<Arc<KrStore>, KrError>>>);

impl CrateStore {
    /// Starts creating the store, or, if no thread can be started, leaves it to [`Self::wait`].
    fn start() -> Self {
        // A rendezvous channel: the store is handed over only when the worker takes it, so it
        // is never dropped by whoever drops an unread receiver (possibly inside a runtime).
        let (tx, rx) = mpsc::sync_channel(0);
        let started = std::thread::Builder::new()
            .name("pushx-secret-store".into())
            .spawn(move || {
                let _ = tx.send(KrStore::new());
            });
        CrateStore(started.ok().map(|_| rx))
    }

    fn wait(self) -> Result<Arc<KrStore>, KrError> {
        match self.0.map(|rx| rx.recv()) {
            Some(Ok(created)) => created,
            // No thread, or it died: create the store here.
            _ => KrStore::new(),
        }
    }
}

/// `crate_store` is `None` when `address` is not the environment's session bus, the only one
/// the store crate connects to: such a store is refused once the bus has answered.
fn connect(
    address: Option<&str>,
    ctx: &Ctx,
    crate_store: Option<CrateStore>,
) -> Result<Conn, StoreError> {
    let builder = match address {
        Some(a) => zbus::blocking::connection::Builder::address(a),
        None => zbus::blocking::connection::Builder::session(),
    };
    let bus = builder
        .and_then(|b| b.method_timeout(ctx.timeout).build())
        .map_err(|e| ctx.err(&SsError::Zbus(e), "connecting"))?;
    // A plain session: this connection never carries a secret.
    let check = SecretService::connect_with_existing(EncryptionType::Plain, bus)
        .map_err(|e| ctx.err(&e, "connecting"))?;
    check_default_collection(&check, ctx)?;
    let Some(crate_store) = crate_store else {
        return Err(backend(format!(
            "the keyring-core Secret Service store connects only to the session bus of the \
             environment (DBUS_SESSION_BUS_ADDRESS), not to {}",
            address.unwrap_or_default()
        )));
    };
    // Its own connection to the environment's session bus, with an encrypted session
    // (DH + AES), through which all secrets travel.
    let store = crate_store
        .wait()
        .map_err(|e| keyring_error(e, ctx, "connecting"))?;
    Ok(Conn { check, store })
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

/// Ok when the search the store crate makes for `server` (or for all our items) matches no
/// locked item: the store crate would unlock it, and that prompts.
fn check_search(conn: &Conn, ctx: &Ctx, server: Option<&str>) -> Result<(), StoreError> {
    let mut attributes = HashMap::from([("service", SERVICE)]);
    if let Some(server) = server {
        attributes.insert(USER_ATTRIBUTE, server);
    }
    let found = conn
        .check
        .search_items(attributes)
        .map_err(|e| ctx.err(&e, "searching"))?;
    if found.locked.is_empty() {
        return Ok(());
    }
    check_default_collection(&conn.check, ctx)?;
    Err(locked_elsewhere().into_error())
}

/// Usable or why not, with [`PROBE_TIMEOUT`] per D-Bus call.
pub(crate) fn probe(opts: &StoreOptions) -> Result<(), StoreError> {
    Worker::start(opts, PROBE_TIMEOUT).map(drop)
}

/// A connection to the Secret Service. Calls from several threads are serialised.
pub struct SecretServiceStore {
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
fn entry(conn: &Conn, server: &str) -> Result<Entry, StoreError> {
    let label = format!("docker-pushx credentials for {server}");
    conn.store
        .build(
            SERVICE,
            server,
            Some(&HashMap::from([("label", label.as_str())])),
        )
        .map_err(|e| backend(format!("building the entry for {server:?}: {e}")))
}

/// Age order of the items behind search results: gnome-keyring numbers items upwards, so a
/// shorter, then smaller, object path is older. Total, so every process agrees.
fn order_of(entry: &Entry) -> (usize, String) {
    let path = entry
        .as_any()
        .downcast_ref::<Wrapper>()
        .map(Wrapper::get_path)
        .unwrap_or_default();
    (path.len(), path)
}

fn newest_first(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by_cached_key(|e| std::cmp::Reverse(order_of(e)));
    entries
}

fn get(conn: &Conn, ctx: &Ctx, server: &str) -> Result<Option<Credential>, StoreError> {
    let doing = format!("reading the credential for {server:?}");
    for _ in 0..ATTEMPTS {
        check_search(conn, ctx, Some(server))?;
        let bytes = match entry(conn, server)?.get_secret() {
            Ok(bytes) => bytes,
            Err(KrError::NoEntry) => return Ok(None),
            // Several items (another Secret Service's `replace`, or a race): the newest wins,
            // as in `list`, and the next `store` leaves only one.
            Err(KrError::Ambiguous(entries)) => {
                match newest_first(entries)
                    .iter()
                    .find_map(|e| e.get_secret().ok())
                {
                    Some(bytes) => bytes,
                    None => continue,
                }
            }
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(keyring_error(e, ctx, &doing)),
        };
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
    check_default_collection(&conn.check, ctx)?;
    let payload = Zeroizing::new(
        serde_json::to_vec(&PayloadOut {
            username: &cred.username,
            secret: cred.secret.expose(),
        })
        .map_err(|e| backend(format!("{doing}: {e}")))?,
    );
    for _ in 0..ATTEMPTS {
        check_search(conn, ctx, Some(&cred.server))?;
        let entry = entry(conn, &cred.server)?;
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
    match entry(conn, server)?.delete_credential() {
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
    check_search(conn, ctx, None)?;
    let entries = conn
        .store
        .search(&HashMap::from([("service", SERVICE)]))
        .map_err(|e| keyring_error(e, ctx, "listing"))?;
    let mut found = Vec::with_capacity(entries.len());
    for entry in entries {
        let read = entry.get_attributes().and_then(|attributes| {
            let secret = entry.get_secret()?;
            Ok((attributes, secret))
        });
        let (mut attributes, secret) = match read {
            Ok(read) => read,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(keyring_error(e, ctx, "listing")),
        };
        let (Some(server), Some((username, _secret))) =
            (attributes.remove(USER_ATTRIBUTE), decode(secret))
        else {
            continue; // not written by docker-pushx
        };
        found.push((order_of(&entry), server, username));
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
mod tests {
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
                "secret-service is not usable: no D-Bus session bus at unix:path=/nonexistent/pushx-test/bus"
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
    /// reaches the store crate's unlock (which would prompt, fail or wait).
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
                    "secret-service is not usable: the Secret Service has no default collection"
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

    /// The layout the module docs describe: keyring-core entry attributes, JSON secret.
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
        assert!(s.erase(&server).unwrap());
        assert_eq!(found.unlocked.len(), 1);
        assert_eq!(attributes.get("service").map(String::as_str), Some(SERVICE));
        assert_eq!(attributes.get("username"), Some(&server));
        assert_eq!(label, format!("docker-pushx credentials for {server}"));
        let v: serde_json::Value = serde_json::from_slice(&secret).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Username": "<token>", "Secret": "tok"})
        );
    }

    /// What gnome-keyring answers for an item deleted under the store crate is recognised, so
    /// racing erases are retried or skipped instead of failing.
    #[test]
    fn vanished_items_are_recognised() {
        if !contract::enabled("PUSHX_TEST_SECRET_SERVICE") {
            return;
        }
        let kr = KrStore::new().unwrap();
        let server = format!("{}reg", contract::prefix("vanish"));
        let entry = kr.build(SERVICE, &server, None).unwrap();
        entry
            .set_secret(br#"{"Username":"u","Secret":"s"}"#)
            .unwrap();
        let found = kr
            .search(&HashMap::from([
                ("service", SERVICE),
                ("username", &server),
            ]))
            .unwrap();
        entry.delete_credential().unwrap();
        assert_eq!(found.len(), 1);
        let err = found[0].get_secret().unwrap_err();
        assert!(vanished(&err), "{err}");
        let err = found[0].delete_credential().unwrap_err();
        assert!(vanished(&err), "{err}");
        assert!(!vanished(&KrError::NoEntry));
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

    /// keyring-core errors carry secret bytes (and print them in `Debug`): never shown.
    #[test]
    fn keyring_errors_never_show_secret_bytes() {
        let ctx = Ctx {
            bus: "test".into(),
            timeout: CALL_TIMEOUT,
        };
        for err in [
            KrError::BadEncoding(b"hunter2\xff".to_vec()),
            KrError::BadDataFormat(b"hunter2".to_vec(), "bad".into()),
        ] {
            let e = keyring_error(err, &ctx, "reading");
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("104, 117"), "{shown}");
            assert!(matches!(e, StoreError::Backend { .. }));
        }
        let e = keyring_error(
            KrError::NoStorageAccess(Box::new(SsError::Locked)),
            &ctx,
            "reading",
        );
        assert!(
            e.to_string()
                .starts_with("secret-service is not usable: the default collection is locked"),
            "{e}"
        );
        assert!(decode(b"not json hunter2".to_vec()).is_none());
        let (user, secret) = decode(br#"{"Username":"u","Secret":"s"}"#.to_vec()).unwrap();
        assert_eq!((user.as_str(), secret.expose()), ("u", "s"));
    }
}
