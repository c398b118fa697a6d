//! Pure formats and rules: no I/O, no async runtime, no daemon or keyring crates.

pub mod classify;
pub mod config;
pub mod daemon_host;
pub mod duration;
pub mod helper;
pub mod plugin;
pub mod reference;
pub mod registry_auth;
pub mod retry;
pub mod stream;
