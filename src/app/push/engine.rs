//! The seam between the push orchestration and the container engine: the four things a push
//! needs from it, so that retries, stalls, cancellation and verification can be exercised
//! against a scripted engine. The Docker daemon is the real one.

use crate::daemon::Daemon;
use crate::error::Error;
use crate::protocol::image::LocalImage;
use crate::protocol::registry_auth::RegistryAuth;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::future::Future;

/// The raw progress messages of a push, in chunks as they arrive (not split into lines).
pub(crate) type PushStream = BoxStream<'static, Result<Bytes, Error>>;

/// What the orchestration asks of a container engine.
pub(crate) trait Engine: Send + Sync + 'static {
    /// Start pushing `name:tag` with `auth`. Dropping the stream must cancel the push.
    fn push(
        &self,
        name: &str,
        tag: &str,
        auth: &RegistryAuth,
    ) -> impl Future<Output = Result<PushStream, Error>> + Send;

    /// The manifest digest the registry holds for `reference` (`name:tag`).
    fn registry_digest(
        &self,
        reference: &str,
        auth: &RegistryAuth,
    ) -> impl Future<Output = Result<String, Error>> + Send;

    /// Pull `name@digest` to completion.
    fn pull(
        &self,
        name: &str,
        digest: &str,
        auth: &RegistryAuth,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The local image `name` resolves to, or `None` when there is no such image.
    fn image(&self, name: &str) -> impl Future<Output = Result<Option<LocalImage>, Error>> + Send;
}

impl Engine for Daemon {
    async fn push(&self, name: &str, tag: &str, auth: &RegistryAuth) -> Result<PushStream, Error> {
        Ok(Daemon::push(self, name, tag, auth).await?.boxed())
    }

    async fn registry_digest(&self, reference: &str, auth: &RegistryAuth) -> Result<String, Error> {
        Daemon::registry_digest(self, reference, auth).await
    }

    async fn pull(&self, name: &str, digest: &str, auth: &RegistryAuth) -> Result<(), Error> {
        Daemon::pull(self, name, digest, auth).await
    }

    async fn image(&self, name: &str) -> Result<Option<LocalImage>, Error> {
        Daemon::image(self, name).await
    }
}
