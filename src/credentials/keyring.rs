//! pushx's own logins in the OS keyring: which store to use, and looking a login up there.

use crate::error::{Error, Kind};
use crate::store::{self, Credential, CredentialStore, StoreChoice, StoreError, StoreKind};

/// The environment variable that sets the store, like `--store`.
pub const STORE_ENV: &str = "PUSHX_CREDENTIAL_STORE";

/// `--store` if given, else `PUSHX_CREDENTIAL_STORE`, else auto.
pub fn choice(flag: Option<&str>) -> Result<StoreChoice, Error> {
    let env = std::env::var(STORE_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty());
    let (value, from) = match (flag, env.as_deref()) {
        (Some(f), _) => (f.to_string(), "--store"),
        (None, Some(e)) => (e.trim().to_string(), STORE_ENV),
        (None, None) => return Ok(StoreChoice::Auto),
    };
    value.parse::<StoreChoice>().map_err(|_| {
        Error::usage(format!(
            "invalid {from} \"{value}\": use auto, secret-service or keyutils"
        ))
    })
}

pub fn store_error(e: StoreError) -> Error {
    Error::new(Kind::Other, e.to_string())
}

/// Open the store logins are written to. The warning (keyutils chosen automatically) is for
/// the user's terminal.
pub fn open(choice: StoreChoice) -> Result<(Box<dyn CredentialStore>, Option<String>), Error> {
    store::open(choice).map_err(store_error)
}

/// `keyring:secret-service` / `keyring:keyutils`: how the push result names the source.
pub fn source_name(kind: StoreKind) -> String {
    format!("keyring:{kind}")
}

/// Every store a lookup consults, in order: the chosen one, then (with auto) keyutils, where
/// logins made without a session bus live.
pub fn stores_for_lookup(choice: StoreChoice) -> Vec<Box<dyn CredentialStore>> {
    start_lookup(choice).finish()
}

/// Starts opening the stores of [`stores_for_lookup`]; [`Lookup::finish`] waits for them.
/// The Secret Service connects meanwhile, so the caller's other work overlaps it.
pub fn start_lookup(choice: StoreChoice) -> Lookup {
    Lookup {
        choice,
        opening: store::start_open(choice),
    }
}

/// The stores of a lookup, being opened by [`start_lookup`].
pub struct Lookup {
    choice: StoreChoice,
    opening: store::Opening,
}

impl Lookup {
    /// What [`stores_for_lookup`] returns.
    pub fn finish(self) -> Vec<Box<dyn CredentialStore>> {
        let mut out: Vec<Box<dyn CredentialStore>> = Vec::new();
        match self.opening.finish() {
            Ok((s, _)) => out.push(s),
            Err(e) => tracing::debug!("no pushx credential store: {e}"),
        }
        // Opened only if the lookup gets that far; unusable, it is skipped like a store that
        // failed to open (every call is `Unavailable`).
        #[cfg(target_os = "linux")]
        if self.choice == StoreChoice::Auto
            && out.first().is_none_or(|s| s.kind() != StoreKind::Keyutils)
        {
            out.push(store::open_on_use(StoreKind::Keyutils));
        }
        #[cfg(not(target_os = "linux"))]
        let _ = self.choice;
        out
    }
}

/// Starts [`open`]: [`store::Opening::finish`] (through [`finish_open`]) waits for the store.
pub fn start_open(choice: StoreChoice) -> store::Opening {
    store::start_open(choice)
}

/// The result of [`open`] for a store started with [`start_open`].
pub fn finish_open(
    opening: store::Opening,
) -> Result<(Box<dyn CredentialStore>, Option<String>), Error> {
    opening.finish().map_err(store_error)
}

/// Find the login for `key` in pushx's stores. An unusable store is skipped (the push then
/// falls back to docker's configuration); a failing one is an error.
pub fn lookup(choice: StoreChoice, key: &str) -> Result<Option<(Credential, StoreKind)>, Error> {
    for s in stores_for_lookup(choice) {
        let got = s.get(key);
        tracing::debug!(store = %s.kind(), key, found = matches!(got, Ok(Some(_))), "looked up a login");
        match got {
            Ok(Some(c)) => return Ok(Some((c, s.kind()))),
            Ok(None) => {}
            Err(e) if e.is_unavailable() => tracing::debug!("skipping {}: {e}", s.kind()),
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(None)
}
