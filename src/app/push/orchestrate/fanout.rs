//! Fan-out: which targets the engine pushes and which are copied registry to registry from one
//! that landed. `--fanout daemon` pushes every repository group through the engine; `copy`
//! pushes the first target through it and copies it to every other target (a registry's
//! later targets from its first copy, so each registry's blobs cross the network once), so the
//! engine compresses the layers once and every target gets the same digest.

use super::{Failure, Policy, lock, push_one, with_retries};
use crate::app::cli::Fanout;
use crate::app::push::engine::Engine;
use crate::app::push::progress::{Reporter, human_size};
use crate::app::push::remote::{CopyFailed, Remote};
use crate::app::push::report::{Layers, Status, TargetResult, Via};
use crate::credentials::Found;
use crate::error::Error;
use crate::protocol::image::LocalImage;
use crate::protocol::reference::Reference;
use crate::protocol::registry_auth::RegistryAuth;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where a target comes from.
#[derive(Debug, Clone)]
pub(crate) enum How {
    /// Pushed through the engine.
    Daemon,
    /// Copied from a target that landed; pushed through the engine when the copy cannot be
    /// done for a reason a push would not meet.
    CopyFrom(Box<Origin>),
}

/// A target that holds the image: `from`, reached with `auth`, holds `digest`.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    from: Reference,
    auth: RegistryAuth,
    digest: String,
}

impl Failure for CopyFailed {
    fn error(&self) -> &Error {
        &self.error
    }
}

/// What every target of a run shares.
pub(super) struct Shared<E, R> {
    pub engine: Arc<E>,
    pub remote: Arc<R>,
    pub reporter: Arc<dyn Reporter>,
    pub creds: Arc<BTreeMap<String, Found>>,
    pub image: Arc<LocalImage>,
    pub policy: Policy,
    /// Each target's result by its index in the plan, filled in as it finishes.
    pub results: Arc<Mutex<Vec<Option<TargetResult>>>>,
}

impl<E: Engine, R: Remote> Shared<E, R> {
    /// Bring the target `i` (`t`) there, and record its result.
    async fn target(&self, i: usize, t: &Reference, how: &How) -> TargetResult {
        let r = push_one(
            self.engine.as_ref(),
            self.remote.as_ref(),
            t,
            &self.creds[&t.auth_key()],
            self.reporter.as_ref(),
            &self.policy,
            &self.image,
            how,
        )
        .await;
        lock(&self.results)[i] = Some(r.clone());
        r
    }
}

/// Push every target of `groups` (repository groups, in plan order) as `--fanout` says,
/// `policy.jobs` groups (or registries) at once.
pub(super) async fn run<E: Engine, R: Remote>(
    shared: Arc<Shared<E, R>>,
    groups: Vec<Vec<Reference>>,
) {
    let all: Vec<(usize, Reference)> = groups.iter().flatten().cloned().enumerate().collect();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(shared.policy.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    if !use_copy(&shared, &groups).await {
        let mut first = 0;
        for group in groups {
            let (shared, semaphore) = (shared.clone(), semaphore.clone());
            let start = first;
            first += group.len();
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                for (i, t) in group.iter().enumerate() {
                    shared.target(start + i, t, &How::Daemon).await;
                }
            });
        }
        // Dropped with this future (a cancelled run): the tasks are aborted with it.
        while tasks.join_next().await.is_some() {}
        return;
    }
    let primary = all[0].1.clone();
    let first = shared.target(0, &primary, &How::Daemon).await;
    let digest = first.digest.clone().filter(|_| first.status.landed());
    // Lanes: the other targets by registry, in the order given.
    let mut lanes: Vec<(String, Vec<(usize, Reference)>)> = Vec::new();
    for (i, t) in all.into_iter().skip(1) {
        match lanes.iter_mut().find(|(d, _)| *d == t.domain) {
            Some((_, lane)) => lane.push((i, t)),
            None => lanes.push((t.domain.clone(), vec![(i, t)])),
        }
    }
    for (domain, lane) in lanes {
        let (shared, semaphore) = (shared.clone(), semaphore.clone());
        let (primary, digest) = (primary.clone(), digest.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            let mut from = primary;
            for (i, t) in lane {
                let how = match &digest {
                    Some(d) => How::CopyFrom(Box::new(Origin {
                        from: from.clone(),
                        auth: shared.creds[&from.auth_key()].auth.clone(),
                        digest: d.clone(),
                    })),
                    // The first target did not land: nothing to copy from.
                    None => How::Daemon,
                };
                let r = shared.target(i, &t, &how).await;
                // Once one target of this registry holds the image, the others mount from it.
                if from.domain != domain && r.status.landed() {
                    from = t;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Whether to copy: asked for, or (`auto`) the targets span more than one repository and the
/// first target's registry answers from here (a remote daemon may reach registries this
/// machine cannot).
async fn use_copy<E: Engine, R: Remote>(shared: &Shared<E, R>, groups: &[Vec<Reference>]) -> bool {
    let targets = groups.iter().map(Vec::len).sum::<usize>();
    match shared.policy.fanout {
        Fanout::Daemon => false,
        _ if targets < 2 => false,
        Fanout::Copy => true,
        Fanout::Auto => {
            let Some(first) = groups.first().and_then(|g| g.first()) else {
                return false;
            };
            let found = &shared.creds[&first.auth_key()];
            groups.len() > 1 && shared.remote.reachable(first, &found.auth).await
        }
    }
}

/// What became of a target to be copied.
pub(super) enum CopyOutcome {
    /// It landed with this digest (the result filled in).
    Landed(String),
    /// It failed for good (the result says why).
    Failed,
    /// The engine is to push it: not a copy, or one that cannot be done from here (said in
    /// the progress).
    ThroughDaemon,
}

/// For a target to be copied (`how`), the copy, filling in `res`.
pub(super) async fn copied<R: Remote>(
    remote: &R,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    policy: &Policy,
    how: &How,
    res: &mut TargetResult,
) -> CopyOutcome {
    let How::CopyFrom(origin) = how else {
        return CopyOutcome::ThroughDaemon;
    };
    let Origin { from, auth, digest } = origin.as_ref();
    let name = target.to_string();
    let via = if from.domain == target.domain {
        Via::Mount
    } else {
        Via::Copy
    };
    // Progress by tenths, so that a plain log gets a few lines per target, not one per chunk.
    let shown = AtomicU64::new(u64::MAX);
    let progress = |done: u64, total: u64| {
        let tenth = (done * 10).checked_div(total).unwrap_or(10);
        if shown.swap(tenth, Ordering::Relaxed) != tenth {
            reporter.stage(
                &name,
                &format!(
                    "copying from {from}: {} of {}",
                    human_size(done),
                    human_size(total)
                ),
            );
        }
    };
    reporter.stage(
        &name,
        &match via {
            Via::Mount => format!("mounting the blobs of {from}"),
            _ => format!("copying from {from}"),
        },
    );
    let copied = with_retries(policy, reporter, &name, "copy", &mut res.attempts, || {
        remote.copy((from, auth), (target, &found.auth), digest, &progress)
    })
    .await;
    match copied {
        Ok(c) => {
            res.status = Status::Pushed;
            res.via = via;
            res.digest = Some(digest.clone());
            res.size = Some(c.size);
            res.layers = Layers {
                pushed: c.copied,
                existing: c.present,
                mounted: c.mounted,
            };
            res.bytes_pushed = c.bytes;
            CopyOutcome::Landed(digest.clone())
        }
        Err(CopyFailed {
            error,
            fallback: true,
        }) => {
            reporter.stage(
                &name,
                &format!(
                    "copy failed ({}): pushing through the daemon",
                    error.message
                ),
            );
            CopyOutcome::ThroughDaemon
        }
        Err(CopyFailed { error, .. }) => {
            res.fail(error, &target.domain);
            CopyOutcome::Failed
        }
    }
}
