//! The seam between the push orchestration and the registry itself, asked through our own
//! client rather than the daemon: whether a target's tag already holds the source image (the
//! up-to-date skip) and the full verification of a pushed target (the check `docker pushx
//! verify --mode full` makes). The orchestration tests script both through [`Remote`].

use crate::app::cli::CheckMode;
use crate::app::verify::{Blobs, Counters, Verifier};
use crate::daemon::Daemon;
use crate::error::{Error, Kind};
use crate::protocol::image::LocalImage;
use crate::protocol::reference::Reference;
use crate::protocol::registry_auth::RegistryAuth;
use crate::registry::TagState;
use crate::registry::{Options, Registry, RegistryClient, Retry};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A tag found to hold the source image already, with every blob present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: u64,
    pub layers: usize,
}

/// The outcome of a full check, with what it read either way.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// A one-line summary, or what failed.
    pub result: Result<String, Error>,
    pub blobs: Blobs,
}

/// What a copy from one target to another did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Copied {
    /// Blobs the target already had, mounted from the other repository, and streamed across.
    pub present: usize,
    pub mounted: usize,
    pub copied: usize,
    /// Bytes streamed across.
    pub bytes: u64,
    /// The manifest's size in bytes.
    pub size: u64,
    pub layers: usize,
}

/// A copy that failed, and whether a push through the daemon may still get the target there
/// (the source unreadable from here, a registry refusing what a copy does): not for what a
/// daemon push would meet as well (refused credentials, the target unreachable).
#[derive(Debug, Clone)]
pub(crate) struct CopyFailed {
    pub error: Error,
    pub fallback: bool,
}

/// Copy progress: bytes streamed so far and in all, for the image being copied.
pub(crate) type CopyProgress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// What the orchestration asks of the registry directly.
pub(crate) trait Remote: Send + Sync + 'static {
    /// Whether `target`'s tag already holds the source image with its config and every layer
    /// blob present: `Some` when it does. An error means the question could not be answered.
    fn up_to_date(
        &self,
        target: &Reference,
        auth: &RegistryAuth,
    ) -> impl Future<Output = Result<Option<Held>, Error>> + Send;

    /// The full check of `target`: its tag resolves to `digest`, the manifest hashes to it, its
    /// config is the source image and every blob reads back right.
    fn check(
        &self,
        target: &Reference,
        auth: &RegistryAuth,
        digest: &str,
    ) -> impl Future<Output = Checked> + Send;

    /// Whether the registry of `r` answers from this machine with these credentials.
    fn reachable(&self, r: &Reference, auth: &RegistryAuth) -> impl Future<Output = bool> + Send;

    /// Bring the image `digest`, which `from` holds, to `target` from the registry side: each
    /// blob found there, mounted (same registry) or streamed from `from`, then the exact
    /// manifest bytes put under `target`'s tag, so it gets the same digest.
    fn copy(
        &self,
        from: (&Reference, &RegistryAuth),
        target: (&Reference, &RegistryAuth),
        digest: &str,
        progress: CopyProgress<'_>,
    ) -> impl Future<Output = Result<Copied, CopyFailed>> + Send;
}

/// The real registries, through [`RegistryClient`], for one run's source image.
pub(crate) struct Registries {
    client: Result<RegistryClient, Error>,
    verifier: Verifier,
    image: LocalImage,
    /// Blobs copied at once per target.
    jobs: usize,
    /// Registries that could not be opened for the up-to-date check: not asked again this run
    /// (an unreachable one would cost its connect timeout per target).
    unusable: Mutex<HashMap<String, Error>>,
}

impl Registries {
    /// Registries reached as `daemon` would (its insecure-registry rules), for pushing
    /// `source` (the local `image`); `jobs` blobs are read at once per target.
    pub(crate) fn new(
        daemon: &Arc<Daemon>,
        source: &str,
        image: &LocalImage,
        stall: Duration,
        retry: Retry,
        jobs: usize,
    ) -> Registries {
        let daemon = daemon.clone();
        let insecure = crate::registry::rules_from(async move { daemon.insecure_rules().await });
        Registries {
            client: RegistryClient::new(Options {
                stall,
                insecure,
                retry,
            }),
            verifier: Verifier::new(
                CheckMode::Full,
                jobs,
                Some((source.to_string(), image.clone())),
            ),
            image: image.clone(),
            jobs,
            unusable: Mutex::new(HashMap::new()),
        }
    }

    async fn open(&self, domain: &str, auth: &RegistryAuth) -> Result<Arc<Registry>, Error> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        client.registry(domain, auth).await.map_err(|e| {
            if e.kind == Kind::Unreachable {
                // The daemon may reach what this machine cannot (a remote daemon).
                e.context("the check asks the registry from this machine")
            } else {
                e
            }
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Remote for Registries {
    async fn up_to_date(
        &self,
        target: &Reference,
        auth: &RegistryAuth,
    ) -> Result<Option<Held>, Error> {
        if let Some(e) = lock(&self.unusable).get(&target.domain) {
            return Err(e.clone());
        }
        let reg = match self.open(&target.domain, auth).await {
            Ok(r) => r,
            Err(e) => {
                lock(&self.unusable).insert(target.domain.clone(), e.clone());
                return Err(e);
            }
        };
        let state = reg
            .tag_holds_image(&target.path, target.tag_or_latest(), &self.image)
            .await?;
        Ok(match state {
            TagState::UpToDate {
                digest,
                size,
                layers,
            } => Some(Held {
                digest,
                size,
                layers,
            }),
            TagState::Absent
            | TagState::Other { .. }
            | TagState::Index { .. }
            | TagState::MissingBlob { .. } => None,
        })
    }

    async fn reachable(&self, r: &Reference, auth: &RegistryAuth) -> bool {
        if lock(&self.unusable).contains_key(&r.domain) {
            return false;
        }
        match self.open(&r.domain, auth).await {
            Ok(_) => true,
            Err(e) => {
                // The up-to-date check would wait for it again.
                lock(&self.unusable).insert(r.domain.clone(), e);
                false
            }
        }
    }

    async fn copy(
        &self,
        (from, from_auth): (&Reference, &RegistryAuth),
        (target, auth): (&Reference, &RegistryAuth),
        digest: &str,
        progress: CopyProgress<'_>,
    ) -> Result<Copied, CopyFailed> {
        // Not reaching the source from here is what a daemon push does not need.
        let src = self
            .open(&from.domain, from_auth)
            .await
            .map_err(|error| CopyFailed {
                error: error.context(format!("reading {from}")),
                fallback: true,
            })?;
        let dst = self
            .open(&target.domain, auth)
            .await
            .map_err(|error| CopyFailed {
                // The daemon may reach what this machine cannot; refused credentials it
                // would meet too.
                fallback: error.kind != Kind::Auth,
                error,
            })?;
        let report = dst
            .copy_image(
                &target.path,
                target.tag_or_latest(),
                (&src, &from.path),
                digest,
                self.jobs,
                progress,
            )
            .await
            .map_err(|error| CopyFailed {
                fallback: crate::registry::daemon_may_do_better(&error),
                error,
            })?;
        Ok(Copied {
            present: report.present,
            mounted: report.mounted,
            copied: report.copied,
            bytes: report.bytes,
            size: report.size,
            layers: report.layers,
        })
    }

    async fn check(&self, target: &Reference, auth: &RegistryAuth, digest: &str) -> Checked {
        let n = Counters::default();
        let result = async {
            let reg = self.open(&target.domain, auth).await?;
            let held = self
                .verifier
                .resolve(target, &reg)
                .await
                .map_err(|(_, e)| e)?;
            if held != digest {
                return Err(Error::new(
                    Kind::Verify,
                    format!("the registry has {held} under {target}, not the pushed {digest}"),
                ));
            }
            self.verifier
                .check_digest(target, &reg, digest.to_string(), &n)
                .await
                .map(|(_, detail)| detail)
                .map_err(|(_, e)| e)
        }
        .await;
        Checked {
            result: result.map(|d| n.note_unchecked(d)),
            blobs: n.blobs(),
        }
    }
}
