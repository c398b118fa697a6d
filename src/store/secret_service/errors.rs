//! Secret Service errors: what makes the service unusable (and the fix), and turning D-Bus
//! errors into store errors.

use std::time::Duration;

use secret_service::Error as SsError;

use crate::store::{StoreError, StoreKind, StoreOptions};

pub(super) const UNLOCK_HINT: &str =
    "printf '%s' \"$PASSWORD\" | gnome-keyring-daemon --replace --unlock --components=secrets";

/// Why the service cannot be used, and what to do, before the "or use keyutils" alternative.
pub(super) struct Unusable {
    pub(super) reason: String,
    pub(super) remedy: String,
}

impl Unusable {
    pub(super) fn into_error(self) -> StoreError {
        StoreError::Unavailable {
            store: StoreKind::SecretService,
            reason: self.reason,
            fix: format!("{}, or use --store keyutils", self.remedy),
        }
    }
}

pub(super) fn locked() -> Unusable {
    Unusable {
        reason: "the default collection is locked".into(),
        remedy: format!(
            "unlock it (log in to the desktop session, or `{UNLOCK_HINT}`; a plain \
             `gnome-keyring-daemon --unlock` does not unlock a daemon that is already running)"
        ),
    }
}

pub(super) fn locked_elsewhere() -> Unusable {
    Unusable {
        reason: "some docker-pushx items are in a locked collection".into(),
        remedy: "unlock that collection (e.g. with seahorse); docker-pushx never unlocks one, \
                 as that would prompt"
            .into(),
    }
}

pub(super) fn no_default_collection() -> Unusable {
    Unusable {
        reason: "no default collection (the Secret Service has no login keyring yet)".into(),
        remedy: format!("create and unlock one, e.g. `{UNLOCK_HINT}`"),
    }
}

pub(super) fn backend(message: impl Into<String>) -> StoreError {
    StoreError::Backend {
        store: StoreKind::SecretService,
        message: message.into(),
    }
}

/// Turns a secret-service/zbus error into a store error. D-Bus error texts come from the bus
/// or the service and never contain a secret (secrets travel only in `Secret` structs).
pub(super) fn classify(err: &SsError, bus: &str, timeout: Duration, doing: &str) -> StoreError {
    if let Some(unusable) = unusable(err, bus, timeout) {
        return unusable.into_error();
    }
    backend(format!("{doing}: {err}"))
}

pub(super) fn unusable(err: &SsError, bus: &str, timeout: Duration) -> Option<Unusable> {
    let no_bus = |detail: &str| Unusable {
        reason: format!("no D-Bus session bus ({bus}: {detail})"),
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
        // `Prompt`: a prompt was dismissed (one opened in the window the module docs name).
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
pub(super) fn error_name(err: &SsError) -> Option<String> {
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

/// True when the error says the item went away between our search and the next call on it
/// (a concurrent erase). gnome-keyring answers calls on a deleted item with `UnknownMethod`
/// ("Object does not exist at path ..."); the others are what the spec and other services use.
pub(super) fn vanished_item(err: &SsError) -> bool {
    let name = error_name(err);
    matches!(
        name.as_deref(),
        Some(
            "org.freedesktop.Secret.Error.NoSuchObject"
                | "org.freedesktop.DBus.Error.UnknownObject"
                | "org.freedesktop.DBus.Error.UnknownMethod"
        )
    )
}

pub(super) fn bus_description(opts: &StoreOptions) -> String {
    match &opts.dbus_address {
        Some(a) => a.clone(),
        None => match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
            Ok(a) if !a.is_empty() => a,
            _ => "$XDG_RUNTIME_DIR/bus (DBUS_SESSION_BUS_ADDRESS is not set)".into(),
        },
    }
}

/// How a connection reports errors: the bus address and per-call timeout, for messages.
pub(super) struct Ctx {
    pub(super) bus: String,
    pub(super) timeout: Duration,
}

impl Ctx {
    pub(super) fn err(&self, e: &SsError, doing: &str) -> StoreError {
        classify(e, &self.bus, self.timeout, doing)
    }

    pub(super) fn timed_out(&self, waited: Duration) -> StoreError {
        Unusable {
            reason: format!(
                "the Secret Service did not answer within {}s ({})",
                waited.as_secs(),
                self.bus
            ),
            remedy: "check the session bus and the keyring daemon".into(),
        }
        .into_error()
    }
}
