//! docker-pushx: tag, push and verify container images through the Docker daemon.
//!
//! Layout: `protocol` holds pure formats and rules (no I/O); `daemon`, `credentials` and
//! `store` are the I/O backends; `app` and `helper` are the two programs that join them.

pub mod app;
pub(crate) mod credentials;
pub(crate) mod daemon;
pub(crate) mod error;
pub mod helper;
pub(crate) mod net;
pub mod protocol;
pub(crate) mod registry;
pub mod secret;
pub mod store;
