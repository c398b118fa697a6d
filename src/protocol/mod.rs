//! Pure formats and rules: no I/O, no async runtime, no daemon or keyring crates.

pub(crate) mod classify;
pub mod config;
pub(crate) mod daemon_host;
pub(crate) mod duration;
pub mod helper;
pub(crate) mod plugin;
pub mod reference;
pub(crate) mod registry_auth;
pub(crate) mod retry;
pub mod stream;
