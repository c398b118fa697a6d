//! Pure formats and rules: no I/O, no async runtime, no daemon or keyring crates.

pub mod classify;
pub mod config;
pub mod helper;
pub mod plugin;
pub mod reference;
pub mod registry_auth;
pub mod stream;
