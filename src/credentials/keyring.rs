//! pushx's own logins in the OS keyring: which stores to use (the choice and the per-OS list);
//! the [`StoreChain`] does the rest.

use crate::error::{Error, Kind};
use crate::store::chain::{Opening, Purpose, StoreChain};
use crate::store::{StoreChoice, StoreError, StoreKind};

/// The environment variable that sets the store, like `--store`.
pub(crate) const STORE_ENV: &str = "PUSHX_CREDENTIAL_STORE";

/// `--store` if given, else `PUSHX_CREDENTIAL_STORE`, else auto.
pub(crate) fn choice(flag: Option<&str>) -> Result<StoreChoice, Error> {
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

pub(crate) fn store_error(e: StoreError) -> Error {
    Error::new(Kind::Other, e.to_string())
}

/// `keyring:secret-service` / `keyring:keyutils`: how the push result names the source.
pub(crate) fn source_name(kind: StoreKind) -> String {
    format!("keyring:{kind}")
}

/// The stores `auto` uses, in order of preference. Both are Linux stores; elsewhere each
/// reports that it exists only on Linux (macOS Keychain and Windows Credential Manager go
/// here, per OS, when their backends are wired in).
const AUTO: &[StoreKind] = &[StoreKind::SecretService, StoreKind::Keyutils];

/// The stores for `choice`: the one named, or every store of [`AUTO`]. A chain opened for
/// reading also looks in the later stores, where logins made when the first was unusable live.
pub(crate) fn kinds(choice: StoreChoice) -> Vec<StoreKind> {
    match choice {
        StoreChoice::Kind(kind) => vec![kind],
        StoreChoice::Auto => AUTO.to_vec(),
    }
}

/// The stores for `choice`, opened for `purpose`.
pub(crate) fn open(choice: StoreChoice, purpose: Purpose) -> StoreChain {
    StoreChain::open(&kinds(choice), purpose)
}

/// Starts [`open`]; [`Opening::finish`] waits for the stores.
pub(crate) fn start(choice: StoreChoice, purpose: Purpose) -> Opening {
    StoreChain::start(&kinds(choice), purpose)
}
