//! Orchestration: push every planned target through an [`Engine`], one repository group per
//! job, retrying transient failures, cutting attempts that stop moving, stopping on
//! cancellation or at the overall deadline, and verifying what the registry holds.

use super::engine::Engine;
use super::plan::Plan;
use super::progress::Reporter;
use super::remote::Remote;
use super::report::{Layers, PushResult, Status, TargetResult, Verification, Via};
use crate::app::cli::{Fanout, VerifyMode};
use crate::credentials::Found;
use crate::error::{Error, Kind};
use crate::protocol::classify::classify;
use crate::protocol::image::LocalImage;
use crate::protocol::reference::Reference;
use crate::protocol::stream::{LayerState, Lines, PushState, parse_message};
use crate::protocol::{duration, retry};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How one run behaves, taken from the command line once.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub verify: VerifyMode,
    /// Attempts after a transient failure, per target, for the push and for the verification.
    pub retries: u32,
    /// Wait before the first retry (doubled for each further one, with jitter).
    pub retry_delay: Duration,
    /// An attempt with no message from the engine for this long is given up.
    pub stall_timeout: Duration,
    /// Repository groups pushed at once.
    pub jobs: usize,
    /// Push targets whose tag is already up to date, too.
    pub force: bool,
    /// How targets beyond the first get there.
    pub fanout: Fanout,
}

/// The overall `--timeout`, counted from the start of the command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<(tokio::time::Instant, Duration)>);

impl Deadline {
    /// A deadline `timeout` from now; none for `None` or zero.
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        Deadline(
            timeout
                .filter(|t| !t.is_zero())
                .map(|t| (tokio::time::Instant::now() + t, t)),
        )
    }

    /// Resolves when the deadline passes; never, without one.
    pub(crate) async fn reached(self) {
        match self.0 {
            Some((at, _)) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// `timed out after 10m`
    pub(crate) fn label(self) -> String {
        format!(
            "timed out after {}",
            duration::display(self.0.map(|(_, t)| t).unwrap_or_default())
        )
    }
}

/// What was decided before the first upload: the plan, the source image, the credentials.
pub(crate) struct Job {
    pub plan: Plan,
    pub image: LocalImage,
    /// Credentials by registry key; every target's `auth_key()` has an entry.
    pub creds: BTreeMap<String, Found>,
}

/// Push every target of `job` through `engine`, asking `remote` (the registries directly)
/// what is up to date and, with `--verify full`, to check what landed. Returns the result
/// document (complete even when the run was cut short by `cancelled` or the deadline) and the
/// run's outcome.
pub(crate) async fn push_all<E: Engine, R: Remote>(
    engine: Arc<E>,
    remote: Arc<R>,
    job: Job,
    policy: &Policy,
    reporter: Arc<dyn Reporter>,
    deadline: Deadline,
    cancelled: impl Future<Output = ()>,
) -> (PushResult, Result<(), Error>) {
    let Job { plan, image, creds } = job;
    let image = Arc::new(image);
    let creds = Arc::new(creds);
    let all: Vec<Reference> = plan.targets().cloned().collect();
    // Each target's result, filled in as it finishes, so a cancelled run still reports them.
    let results: Arc<Mutex<Vec<Option<TargetResult>>>> =
        Arc::new(Mutex::new(vec![None; all.len()]));
    let shared = Arc::new(fanout::Shared {
        engine,
        remote,
        reporter: reporter.clone(),
        creds: creds.clone(),
        image: image.clone(),
        policy: policy.clone(),
        results: results.clone(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(fanout::run(shared, plan.groups.clone()));
    let stopped = tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => None,
        _ = cancelled => Some(Kind::Interrupted),
        _ = deadline.reached() => Some(Kind::Unreachable),
    };
    // Dropping the tasks drops their streams: the engine sees the connections close and
    // cancels the pushes still in flight. Waiting for the aborted tasks (each ends at its next
    // await) makes sure none is still recording a result or reporting while this one decides.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let finished: Vec<Option<TargetResult>> = lock(&results).clone();
    let targets: Vec<TargetResult> = all
        .iter()
        .zip(finished)
        .map(|(t, r)| {
            r.unwrap_or_else(|| {
                let r = unfinished(t, &creds[&t.auth_key()].source, policy.verify, stopped);
                reporter.done(&r);
                r
            })
        })
        .collect();
    let result = PushResult {
        source: plan.source,
        image_id: image.id.clone(),
        targets,
    };
    let outcome = match stopped {
        None => result.outcome(),
        Some(kind) => {
            let (done, open) = result.split_completed();
            let what = if kind == Kind::Interrupted {
                "interrupted".to_string()
            } else {
                deadline.label()
            };
            let done = if done.is_empty() {
                "none".to_string()
            } else {
                done.join(", ")
            };
            Err(Error::new(
                kind,
                format!(
                    "{what}: completed {done}; not completed: {}",
                    open.join(", ")
                ),
            ))
        }
    };
    (result, outcome)
}

/// The result of a target the run stopped before it completed: `interrupted` when the run was
/// (Ctrl-C, SIGTERM, plugin socket EOF), else failed.
fn unfinished(
    target: &Reference,
    credential_source: &str,
    verify: VerifyMode,
    stopped: Option<Kind>,
) -> TargetResult {
    let (why, kind) = match stopped {
        Some(Kind::Interrupted) => ("interrupted before it completed", Kind::Interrupted),
        Some(k) => ("timed out before it completed", k),
        // Only a task that panicked leaves no result behind.
        None => ("the push ended unexpectedly", Kind::Other),
    };
    let mut r = TargetResult::new(target.to_string(), credential_source, verify);
    if kind == Kind::Interrupted {
        r.status = Status::Interrupted;
    }
    r.error = Some(why.into());
    r.kind = Some(kind);
    r
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A failed attempt: its error, and whatever the caller keeps from it.
trait Failure {
    fn error(&self) -> &Error;
}

impl Failure for Error {
    fn error(&self) -> &Error {
        self
    }
}

/// A push attempt that failed, with the progress it had made.
struct PushFailed {
    error: Error,
    state: PushState,
}

impl Failure for PushFailed {
    fn error(&self) -> &Error {
        &self.error
    }
}

/// A pseudo-random fraction for backoff jitter; it needs spread, not secrecy.
fn jitter() -> f64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(n % 1000) / 1000.0
}

/// Run `op` until it succeeds, fails for good, or the retries are spent, counting attempts in
/// `attempts`; each retry is shown. The one retry loop of a push run: [`retry::next_wait`]
/// decides whether and how long to wait.
async fn with_retries<T, X, F, Fut>(
    policy: &Policy,
    reporter: &dyn Reporter,
    name: &str,
    what: &str,
    attempts: &mut u32,
    mut op: F,
) -> Result<T, X>
where
    X: Failure,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, X>>,
{
    loop {
        *attempts += 1;
        let failed = match op().await {
            Ok(v) => return Ok(v),
            Err(f) => f,
        };
        let e = failed.error();
        let Some(wait) = retry::next_wait(
            *attempts,
            policy.retries,
            e.kind,
            &e.message,
            policy.retry_delay,
            jitter(),
        ) else {
            return Err(failed);
        };
        reporter.stage(
            name,
            &format!(
                "{what} attempt {} failed ({}); retrying in {}",
                *attempts,
                e.message,
                duration::display(wait)
            ),
        );
        tokio::time::sleep(wait).await;
    }
}

/// Whether the registry already holds the target: its answer, or `None` (push it) when it
/// does not or cannot tell.
async fn up_to_date<R: Remote>(
    remote: &R,
    target: &Reference,
    found: &Found,
    stall: Duration,
) -> Option<super::remote::Held> {
    let name = target.to_string();
    match tokio::time::timeout(stall, remote.up_to_date(target, &found.auth)).await {
        Ok(Ok(held)) => held,
        Ok(Err(e)) => {
            tracing::debug!(target = %name, "pushing: could not tell whether it is up to date: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(target = %name, "pushing: the up-to-date check did not finish in time");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn push_one<E: Engine, R: Remote>(
    engine: &E,
    remote: &R,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    policy: &Policy,
    image: &LocalImage,
    how: &How,
) -> TargetResult {
    let started = Instant::now();
    let name = target.to_string();
    let mut res = TargetResult::new(name.clone(), &found.source, policy.verify);
    let held = match policy.force {
        true => None,
        false => up_to_date(remote, target, found, policy.stall_timeout).await,
    };
    // What the up-to-date check proved, from the registry itself with the stored credentials.
    let mut proved = None;
    let digest = if let Some(held) = held {
        proved = Some(format!(
            "registry holds {}, with the source image's config and all {} layer blob(s) present",
            held.digest, held.layers
        ));
        res.status = Status::UpToDate;
        res.via = Via::UpToDate;
        res.digest = Some(held.digest.clone());
        res.size = Some(held.size);
        res.layers.existing = held.layers;
        held.digest
    } else {
        let landed =
            match fanout::copied(remote, target, found, reporter, policy, how, &mut res).await {
                CopyOutcome::Landed(digest) => Some(digest),
                CopyOutcome::Failed => None,
                CopyOutcome::ThroughDaemon => {
                    daemon_push(engine, target, found, reporter, policy, &mut res).await
                }
            };
        match landed {
            Some(digest) => digest,
            None => {
                res.duration_ms = started.elapsed().as_millis() as u64;
                reporter.done(&res);
                return res;
            }
        }
    };

    if policy.verify != VerifyMode::None {
        let verified = match proved {
            // For a target found up to date, `digest` and `pull` ask less than the up-to-date
            // check proved: it resolved the tag to the digest and found the config and every
            // layer blob, while a pull-back of an image the daemon holds fetches only the
            // manifest (it skips every layer it has). `full` reads every blob still.
            Some(detail) if policy.verify != VerifyMode::Full => Ok(Verified::from(detail)),
            _ => {
                let mut verify_attempts = 0;
                with_retries(
                    policy,
                    reporter,
                    &name,
                    "verification",
                    &mut verify_attempts,
                    || {
                        verify_push(
                            engine,
                            remote,
                            target,
                            found,
                            reporter,
                            policy.verify,
                            &digest,
                            image,
                        )
                    },
                )
                .await
            }
        };
        let (detail, blobs) = match &verified {
            Ok(v) => (v.detail.clone(), v.blobs),
            Err(f) => (f.error.message.clone(), f.blobs),
        };
        res.verification = Verification {
            mode: policy.verify,
            ok: Some(verified.is_ok()),
            detail,
            blobs,
        };
        if let Err(VerifyFailed { error: e, .. }) = verified {
            // The image was pushed: whatever the registry or a pull-back says it does not
            // hold ("manifest unknown" arrives as not-found) is a failed verification, not a
            // missing source image. Auth and reachability keep their own codes.
            let kind = match e.kind {
                Kind::Other | Kind::NotFound => Kind::Verify,
                k => k,
            };
            res.fail(
                Error::new(kind, format!("verification failed: {}", e.message)),
                &target.domain,
            );
        }
    }
    res.duration_ms = started.elapsed().as_millis() as u64;
    reporter.done(&res);
    res
}

/// Push `target` through the engine, retrying as `policy` says, filling in `res`: the digest,
/// or `None` when it failed (`res` says why). A retry re-runs the whole push: the engine skips
/// the layers that already arrived, so it resumes rather than restarts.
async fn daemon_push<E: Engine>(
    engine: &E,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    policy: &Policy,
    res: &mut TargetResult,
) -> Option<String> {
    let name = target.to_string();
    res.via = Via::Daemon;
    let pushed = with_retries(policy, reporter, &name, "push", &mut res.attempts, || {
        stream_push(engine, target, found, reporter, &name, policy.stall_timeout)
    })
    .await;
    match pushed {
        Ok(state) => {
            fill(res, &state);
            res.status = Status::Pushed;
            Some(state.digest.clone().unwrap_or_default())
        }
        Err(PushFailed { error, state }) => {
            fill(res, &state);
            res.fail(error, &target.domain);
            None
        }
    }
}

fn fill(res: &mut TargetResult, s: &PushState) {
    let c = s.counts();
    res.layers = Layers {
        pushed: c.pushed,
        existing: c.existing,
        mounted: c.mounted,
    };
    res.bytes_pushed = s.bytes_pushed();
    res.digest = s.digest.clone();
    res.size = s.size;
}

/// What a push that stopped moving was waiting for, for the timeout message.
fn waiting_for(s: &PushState) -> String {
    if let Some((id, _)) = s
        .layers
        .iter()
        .find(|(_, l)| l.state == LayerState::Pushing)
    {
        return format!("uploading layer {id}");
    }
    if let Some((id, l)) = s.layers.iter().find(|(_, l)| !l.state.is_final()) {
        return format!("layer {id} ({})", l.state.label());
    }
    if s.layers.is_empty() {
        "the registry to answer".into()
    } else {
        "the registry to accept the manifest".into()
    }
}

/// One push attempt, to the end of the engine's stream or the first stall.
async fn stream_push<E: Engine>(
    engine: &E,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    name: &str,
    stall: Duration,
) -> Result<PushState, PushFailed> {
    let mut state = PushState::default();
    let failed = |error: Error, state: PushState| PushFailed { error, state };
    let stalled = |state: &PushState| {
        Error::new(
            Kind::Unreachable,
            format!(
                "no progress for {} while waiting for {}",
                duration::display(stall),
                waiting_for(state)
            ),
        )
    };
    let repo = target.name();
    let started = engine.push(&repo, target.tag_or_latest(), &found.auth);
    let mut stream = match tokio::time::timeout(stall, started).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(failed(e, state)),
        Err(_) => return Err(failed(stalled(&state), state)),
    };
    let mut lines = Lines::default();
    let handle = |line: String, state: &mut PushState| -> Result<(), Error> {
        let ev = parse_message(&line).map_err(|e| Error::other(e.to_string()))?;
        let changed = state.apply(&ev);
        reporter.event(name, &ev, state, changed);
        Ok(())
    };
    loop {
        // Any message resets the clock: byte progress and state changes alike.
        let chunk = match tokio::time::timeout(stall, stream.next()).await {
            Err(_) => return Err(failed(stalled(&state), state)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(failed(e, state)),
            Ok(Some(Ok(c))) => c,
        };
        let batch = match lines.push(&chunk) {
            Ok(b) => b,
            Err(e) => return Err(failed(Error::other(e.to_string()), state)),
        };
        for line in batch {
            if let Err(e) = handle(line, &mut state) {
                return Err(failed(e, state));
            }
        }
    }
    if let Some(line) = lines.finish()
        && let Err(e) = handle(line, &mut state)
    {
        return Err(failed(e, state));
    }
    if let Some(msg) = state.error.clone() {
        return Err(failed(Error::new(classify(&msg), msg), state));
    }
    if state.digest.is_none() {
        return Err(failed(
            Error::other("the daemon ended the push without reporting a digest"),
            state,
        ));
    }
    Ok(state)
}

mod fanout;
mod verification;
use fanout::{CopyOutcome, How};
use verification::{Verified, VerifyFailed, verify_push};

#[cfg(test)]
mod tests;
