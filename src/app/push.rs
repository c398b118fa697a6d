//! `docker pushx SOURCE [TARGET...]`: plan the references, tag, push each through the daemon,
//! verify, and report.

use crate::app::cancel;
use crate::app::cli::{Format, PushArgs, VerifyMode};
use crate::app::progress::{Reporter, human_bytes, reporter};
use crate::app::settings::Settings;
use crate::credentials::Found;
use crate::daemon::Daemon;
use crate::error::{Error, Kind};
use crate::protocol::classify::{classify, hint};
use crate::protocol::reference::{Reference, looks_like_image_id, validate_tag};
use crate::protocol::stream::{LayerState, Lines, PushState, parse_message};
use crate::protocol::{duration, retry};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What will be pushed, decided before the daemon is touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// SOURCE as the user wrote it (the daemon resolves names and IDs itself).
    pub source: String,
    /// Target references grouped by repository, in the order given. In each group the first
    /// push uploads the layers; the others only write a manifest.
    pub groups: Vec<Vec<Reference>>,
}

impl Plan {
    pub fn targets(&self) -> impl Iterator<Item = &Reference> {
        self.groups.iter().flatten()
    }
}

/// Validate SOURCE, TARGETs and tags with docker's grammar and expand them into references.
pub fn plan(source: &str, targets: &[String], tags: &[String]) -> Result<Plan, Error> {
    let bad = |e: crate::protocol::reference::RefError| Error::usage(e.to_string());
    if source.trim().is_empty() {
        return Err(Error::usage(
            "SOURCE is empty: name a local image (name[:tag] or ID)",
        ));
    }
    let source_ref = if looks_like_image_id(source) {
        None
    } else {
        Some(Reference::parse(source).map_err(bad)?)
    };
    for t in tags {
        validate_tag(t).map_err(bad)?;
    }
    let default_tag = source_ref
        .as_ref()
        .and_then(|r| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let mut repos: Vec<Reference> = Vec::new();
    if targets.is_empty() {
        let Some(r) = source_ref.clone().filter(|r| r.explicit_domain) else {
            return Err(Error::usage(format!(
                "\"{source}\" names no registry: give a TARGET (e.g. docker pushx {source} registry.example.com/team/app:tag)"
            )));
        };
        if r.digest.is_some() {
            return Err(Error::usage(format!(
                "cannot push \"{source}\": a digest reference cannot be pushed; name a tag"
            )));
        }
        repos.push(if r.tag.is_some() {
            r
        } else {
            r.with_tag(&default_tag).map_err(bad)?
        });
    }
    for t in targets {
        let r = Reference::parse(t).map_err(bad)?;
        if r.digest.is_some() {
            return Err(Error::usage(format!(
                "invalid target \"{t}\": a TARGET cannot carry a digest (the registry assigns it); use a tag"
            )));
        }
        repos.push(if r.tag.is_some() {
            r
        } else {
            r.with_tag(&default_tag).map_err(bad)?
        });
    }
    let mut groups: Vec<Vec<Reference>> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in repos {
        let extra: Vec<Reference> = tags
            .iter()
            .map(|t| r.with_tag(t))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        for r in std::iter::once(r).chain(extra) {
            if !seen.insert(r.to_string()) {
                continue;
            }
            match groups.iter_mut().find(|g| g[0].name() == r.name()) {
                Some(g) => g.push(r),
                None => groups.push(vec![r]),
            }
        }
    }
    Ok(Plan {
        source: source.to_string(),
        groups,
    })
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Layers {
    pub pushed: usize,
    pub existing: usize,
    pub mounted: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub mode: VerifyMode,
    /// `None` when nothing was checked.
    pub ok: Option<bool>,
    pub detail: String,
}

/// One target's outcome: the result document's `targets[]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub reference: String,
    pub status: &'static str,
    pub digest: Option<String>,
    pub size: Option<u64>,
    pub credential_source: String,
    pub layers: Layers,
    pub bytes_pushed: u64,
    pub duration_ms: u64,
    /// Push attempts made (1 when the first succeeded).
    pub attempts: u32,
    pub verification: Verification,
    pub error: Option<String>,
    #[serde(skip)]
    pub kind: Option<Kind>,
}

impl TargetResult {
    fn succeeded(&self) -> bool {
        self.kind.is_none()
    }
}

#[derive(Debug, Serialize)]
pub struct PushResult {
    pub source: String,
    pub image_id: String,
    pub targets: Vec<TargetResult>,
}

impl PushResult {
    /// 0 when every target is pushed and verified; 7 when only some are; otherwise the kind of
    /// the first failure.
    pub fn outcome(&self) -> Result<(), Error> {
        let failed: Vec<&TargetResult> = self.targets.iter().filter(|t| !t.succeeded()).collect();
        let Some(first) = failed.first() else {
            return Ok(());
        };
        let msg =
            |t: &TargetResult| format!("{}: {}", t.reference, t.error.clone().unwrap_or_default());
        if failed.len() < self.targets.len() {
            let names: Vec<String> = failed.iter().map(|t| msg(t)).collect();
            return Err(Error::new(
                Kind::Partial,
                format!(
                    "{} of {} targets failed: {}",
                    failed.len(),
                    self.targets.len(),
                    names.join("; ")
                ),
            ));
        }
        Err(Error::new(first.kind.unwrap_or(Kind::Other), msg(first)))
    }
}

/// How one run of the push command behaves, taken from the command line once.
#[derive(Debug, Clone)]
struct Policy {
    verify: VerifyMode,
    retries: u32,
    retry_delay: Duration,
    stall_timeout: Duration,
}

pub async fn run(settings: &Settings, args: &PushArgs) -> Result<(), Error> {
    let source = args.source.as_deref().unwrap_or_default();
    let plan = plan(source, &args.targets, &args.tags)?;
    let deadline = args
        .timeout
        .filter(|t| !t.is_zero())
        .map(|t| tokio::time::Instant::now() + t);
    let until_deadline = || async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    let timed_out = |what: &str| {
        Error::new(
            Kind::Unreachable,
            format!(
                "timed out after {} {what}",
                duration::display(args.timeout.unwrap_or_default())
            ),
        )
    };
    // Before any push starts, a signal or the deadline simply ends the command.
    let prepared = tokio::select! {
        r = prepare(settings, &plan) => r?,
        _ = cancel::requested() => return Err(Error::new(Kind::Interrupted, "interrupted before any push started")),
        _ = until_deadline() => return Err(timed_out("before any push started (connecting to the daemon, tagging)")),
    };
    let Prepared {
        daemon,
        image_id,
        creds,
    } = prepared;

    let policy = Policy {
        verify: args.verify,
        retries: args.retries,
        retry_delay: args.retry_delay,
        stall_timeout: args.stall_timeout,
    };
    let reporter: Arc<dyn Reporter> = Arc::from(reporter(args.progress));
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.jobs as usize));
    let all: Vec<Reference> = plan.targets().cloned().collect();
    // Each target's result, filled in as it finishes, so a cancelled run still reports them.
    let results: Arc<Mutex<Vec<Option<TargetResult>>>> =
        Arc::new(Mutex::new(vec![None; all.len()]));
    let mut tasks = tokio::task::JoinSet::new();
    let mut index = 0;
    for group in plan.groups.clone() {
        let first = index;
        index += group.len();
        let (daemon, reporter, semaphore, creds, image_id, policy, results) = (
            daemon.clone(),
            reporter.clone(),
            semaphore.clone(),
            creds.clone(),
            image_id.clone(),
            policy.clone(),
            results.clone(),
        );
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await;
            for (i, target) in group.iter().enumerate() {
                let found = &creds[&target.auth_key()];
                let r = push_one(
                    &daemon,
                    target,
                    found,
                    reporter.as_ref(),
                    &policy,
                    &image_id,
                )
                .await;
                lock(&results)[first + i] = Some(r);
            }
        });
    }
    let stopped = tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => None,
        _ = cancel::requested() => Some(Kind::Interrupted),
        _ = until_deadline() => Some(Kind::Unreachable),
    };
    // Dropping the tasks drops their streams: the daemon sees the connections close and
    // cancels the pushes still in flight.
    tasks.abort_all();
    let finished: Vec<Option<TargetResult>> = lock(&results).clone();
    let targets: Vec<TargetResult> = all
        .iter()
        .zip(finished)
        .map(|(t, r)| {
            r.unwrap_or_else(|| {
                let why = match stopped {
                    Some(Kind::Interrupted) => "interrupted before it completed",
                    _ => "timed out before it completed",
                };
                let mut r =
                    TargetResult::new(t.to_string(), &creds[&t.auth_key()].source, policy.verify);
                r.error = Some(why.into());
                r.kind = stopped;
                r
            })
        })
        .collect();
    let result = PushResult {
        source: plan.source.clone(),
        image_id,
        targets,
    };
    print_result(&result, args)?;
    match stopped {
        None => result.outcome(),
        Some(kind) => {
            let done: Vec<&str> = result
                .targets
                .iter()
                .filter(|t| t.succeeded())
                .map(|t| t.reference.as_str())
                .collect();
            let open: Vec<&str> = result
                .targets
                .iter()
                .filter(|t| !t.succeeded())
                .map(|t| t.reference.as_str())
                .collect();
            let what = if kind == Kind::Interrupted {
                "interrupted".to_string()
            } else {
                format!(
                    "timed out after {}",
                    duration::display(args.timeout.unwrap_or_default())
                )
            };
            Err(Error::new(
                kind,
                format!(
                    "{what}: completed {}; not completed: {}",
                    if done.is_empty() {
                        "none".to_string()
                    } else {
                        done.join(", ")
                    },
                    open.join(", ")
                ),
            ))
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Prepared {
    daemon: Arc<Daemon>,
    image_id: String,
    creds: BTreeMap<String, Found>,
}

/// Connect, find the source, tag every target and find credentials: everything that can fail
/// before a byte is uploaded.
async fn prepare(settings: &Settings, plan: &Plan) -> Result<Prepared, Error> {
    let daemon = Arc::new(Daemon::connect(settings.endpoint()?).await?);
    tracing::debug!(address = %daemon.address, api = daemon.api_version(), "connected to the daemon");
    let image_id = daemon.image_id(&plan.source).await?.ok_or_else(|| {
        Error::new(
            Kind::NotFound,
            format!(
                "no local image \"{}\": build or pull it first (docker images lists what is there)",
                plan.source
            ),
        )
    })?;
    // Tag first, so that a refused name fails before anything is uploaded.
    let source_full = Reference::parse(&plan.source).ok().map(|r| r.to_string());
    for t in plan.targets() {
        if Some(t.to_string()) != source_full {
            daemon
                .tag(&plan.source, &t.name(), t.tag_or_latest())
                .await
                .map_err(|e| e.context(format!("tagging {t}")))?;
        }
    }
    // Credentials once per registry; keyrings and helpers block, so off the async threads.
    let mut creds: BTreeMap<String, Found> = BTreeMap::new();
    for t in plan.targets() {
        let key = t.auth_key();
        if creds.contains_key(&key) {
            continue;
        }
        let s = settings.clone();
        let k = key.clone();
        let found = tokio::task::spawn_blocking(move || s.credentials_for(&k))
            .await
            .map_err(|e| Error::other(format!("credential lookup: {e}")))??;
        creds.insert(key, found);
    }
    Ok(Prepared {
        daemon,
        image_id,
        creds,
    })
}

impl TargetResult {
    fn new(reference: String, credential_source: &str, verify: VerifyMode) -> TargetResult {
        TargetResult {
            reference,
            status: "failed",
            digest: None,
            size: None,
            credential_source: credential_source.to_string(),
            layers: Layers::default(),
            bytes_pushed: 0,
            duration_ms: 0,
            attempts: 0,
            verification: Verification {
                mode: verify,
                ok: None,
                detail: "not verified".into(),
            },
            error: None,
            kind: None,
        }
    }

    fn fail(&mut self, e: Error, registry: &str) {
        self.error = Some(match hint(e.kind, &e.message, registry) {
            Some(h) => format!("{}: {h}", e.message),
            None => e.message.clone(),
        });
        self.kind = Some(e.kind);
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

/// Say that attempt `attempt` of `what` failed, and wait before the next.
async fn retry_pause(
    policy: &Policy,
    reporter: &dyn Reporter,
    name: &str,
    what: &str,
    attempt: u32,
    e: &Error,
) {
    let wait = retry::retry_after(&e.message)
        .unwrap_or_else(|| retry::backoff(attempt, policy.retry_delay, jitter()));
    reporter.stage(
        name,
        &format!(
            "{what} attempt {attempt} failed ({}); retrying in {}",
            e.message,
            duration::display(wait)
        ),
    );
    tokio::time::sleep(wait).await;
}

/// Run `op` until it succeeds, fails for good, or the retries are spent; each retry is shown.
async fn with_retries<T, F, Fut>(
    policy: &Policy,
    reporter: &dyn Reporter,
    name: &str,
    what: &str,
    attempts: &mut u32,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    loop {
        *attempts += 1;
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if *attempts <= policy.retries && retry::is_transient(e.kind, &e.message) => {
                retry_pause(policy, reporter, name, what, *attempts, &e).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn push_one(
    daemon: &Daemon,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    policy: &Policy,
    image_id: &str,
) -> TargetResult {
    let started = Instant::now();
    let name = target.to_string();
    let mut res = TargetResult::new(name.clone(), &found.source, policy.verify);
    // A retry re-runs the whole push: the daemon skips the layers that already arrived, so
    // it resumes rather than restarts.
    let pushed = loop {
        res.attempts += 1;
        match stream_push(daemon, target, found, reporter, &name, policy.stall_timeout).await {
            Ok(s) => break Ok(s),
            Err((e, s))
                if res.attempts <= policy.retries && retry::is_transient(e.kind, &e.message) =>
            {
                fill(&mut res, &s);
                retry_pause(policy, reporter, &name, "push", res.attempts, &e).await;
            }
            Err((e, s)) => break Err((e, s)),
        }
    };
    let state = match pushed {
        Ok(s) => s,
        Err((e, last)) => {
            fill(&mut res, &last);
            res.fail(e, &target.domain);
            res.duration_ms = started.elapsed().as_millis() as u64;
            reporter.done(
                &name,
                false,
                &format!("failed: {}", res.error.as_deref().unwrap_or_default()),
            );
            return res;
        }
    };
    fill(&mut res, &state);
    res.status = "pushed";
    let digest = state.digest.clone().unwrap_or_default();

    if policy.verify != VerifyMode::None {
        let mut verify_attempts = 0;
        let verified = with_retries(
            policy,
            reporter,
            &name,
            "verification",
            &mut verify_attempts,
            || {
                verify_push(
                    daemon,
                    target,
                    found,
                    reporter,
                    policy.verify,
                    &digest,
                    image_id,
                )
            },
        )
        .await;
        match verified {
            Ok(detail) => {
                res.verification = Verification {
                    mode: policy.verify,
                    ok: Some(true),
                    detail,
                }
            }
            Err(e) => {
                res.verification = Verification {
                    mode: policy.verify,
                    ok: Some(false),
                    detail: e.message.clone(),
                };
                let kind = if e.kind == Kind::Other {
                    Kind::Verify
                } else {
                    e.kind
                };
                res.fail(
                    Error::new(kind, format!("verification failed: {}", e.message)),
                    &target.domain,
                );
            }
        }
    }
    res.duration_ms = started.elapsed().as_millis() as u64;
    let summary = match (&res.error, res.verification.ok) {
        (Some(e), _) => format!("failed: {e}"),
        (None, Some(true)) => format!("pushed {digest}, verified ({})", res.verification.detail),
        (None, _) => format!("pushed {digest}"),
    };
    reporter.done(&name, res.error.is_none(), &summary);
    res
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

async fn stream_push(
    daemon: &Daemon,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    name: &str,
    stall: Duration,
) -> Result<PushState, (Error, PushState)> {
    let mut state = PushState::default();
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
    let stream = match tokio::time::timeout(
        stall,
        daemon.push(&target.name(), target.tag_or_latest(), &found.auth),
    )
    .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err((e, state)),
        Err(_) => return Err((stalled(&state), state)),
    };
    let mut stream = std::pin::pin!(stream);
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
            Err(_) => return Err((stalled(&state), state)),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err((e, state)),
            Ok(Some(Ok(c))) => c,
        };
        let batch = match lines.push(&chunk) {
            Ok(b) => b,
            Err(e) => return Err((Error::other(e.to_string()), state)),
        };
        for line in batch {
            if let Err(e) = handle(line, &mut state) {
                return Err((e, state));
            }
        }
    }
    if let Some(line) = lines.finish()
        && let Err(e) = handle(line, &mut state)
    {
        return Err((e, state));
    }
    if let Some(msg) = state.error.clone() {
        return Err((Error::new(classify(&msg), msg), state));
    }
    if state.digest.is_none() {
        return Err((
            Error::other("the daemon ended the push without reporting a digest"),
            state,
        ));
    }
    Ok(state)
}

async fn verify_push(
    daemon: &Daemon,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    mode: VerifyMode,
    digest: &str,
    image_id: &str,
) -> Result<String, Error> {
    let name = target.to_string();
    reporter.stage(&name, "verifying: resolving the tag at the registry");
    let remote = daemon.registry_digest(&name, &found.auth).await?;
    if remote != digest {
        return Err(Error::new(
            Kind::Verify,
            format!("the registry has {remote} under {name}, not the pushed {digest}"),
        ));
    }
    if mode == VerifyMode::Digest {
        return Ok(format!("registry holds {digest}"));
    }
    reporter.stage(&name, "verifying: pulling back by digest");
    daemon.pull(&target.name(), digest, &found.auth).await?;
    let by_digest = format!("{}@{digest}", target.name());
    match daemon.image_id(&by_digest).await? {
        Some(id) if id == image_id => Ok(format!(
            "registry holds {digest}; pulled by digest, image {}",
            short_id(&id)
        )),
        Some(id) => Err(Error::new(
            Kind::Verify,
            format!(
                "pulling {by_digest} gave image {} but the source is {}",
                short_id(&id),
                short_id(image_id)
            ),
        )),
        None => Err(Error::new(
            Kind::Verify,
            format!("pulled {by_digest} but the daemon does not list it"),
        )),
    }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

fn print_result(result: &PushResult, args: &PushArgs) -> Result<(), Error> {
    use std::io::Write;
    let mut out = String::new();
    if args.quiet {
        for t in result.targets.iter().filter(|t| t.status == "pushed") {
            if let Some(d) = &t.digest {
                out.push_str(&format!("{}@{d}\n", t.reference));
            }
        }
    } else if args.format == Format::Json {
        out = serde_json::to_string_pretty(result).map_err(|e| Error::other(e.to_string()))?;
        out.push('\n');
    } else {
        out = table(result);
    }
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) is not worth a second error.
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
    Ok(())
}

fn table(result: &PushResult) -> String {
    let rows: Vec<[String; 5]> = result
        .targets
        .iter()
        .map(|t| {
            let layers = format!(
                "{} pushed, {} existing, {} mounted ({})",
                t.layers.pushed,
                t.layers.existing,
                t.layers.mounted,
                human_bytes(t.bytes_pushed)
            );
            let verified = match t.verification.ok {
                Some(true) => format!("{:?} ok", t.verification.mode).to_lowercase(),
                Some(false) => format!("{:?} FAILED", t.verification.mode).to_lowercase(),
                None => "-".into(),
            };
            [
                t.reference.clone(),
                t.status.to_string(),
                t.digest.clone().unwrap_or_else(|| "-".into()),
                layers,
                verified,
            ]
        })
        .collect();
    let header = ["TARGET", "STATUS", "DIGEST", "LAYERS", "VERIFIED"].map(String::from);
    let mut widths = [0usize; 5];
    for r in std::iter::once(&header).chain(&rows) {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn targets_take_the_source_tag_and_extra_tags_group_by_repository() {
        let p = plan(
            "myapi:2.3.0",
            &v(&["reg.example.com/team/myapi", "ghcr.io/me/myapi:x"]),
            &v(&["2.3", "latest"]),
        )
        .unwrap();
        let g: Vec<Vec<String>> = p
            .groups
            .iter()
            .map(|g| g.iter().map(|r| r.to_string()).collect())
            .collect();
        assert_eq!(
            g,
            vec![
                v(&[
                    "reg.example.com/team/myapi:2.3.0",
                    "reg.example.com/team/myapi:2.3",
                    "reg.example.com/team/myapi:latest"
                ]),
                v(&[
                    "ghcr.io/me/myapi:x",
                    "ghcr.io/me/myapi:2.3",
                    "ghcr.io/me/myapi:latest"
                ]),
            ]
        );
    }

    #[test]
    fn same_repository_targets_share_a_group_and_duplicates_go() {
        let p = plan("a:1", &v(&["r:5000/x:1", "r:5000/x:2", "r:5000/x:1"]), &[]).unwrap();
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.groups[0].len(), 2);
    }

    #[test]
    fn source_alone_must_name_a_registry() {
        assert_eq!(
            plan("reg.example.com/t/a:1", &[], &[]).unwrap().groups[0][0].to_string(),
            "reg.example.com/t/a:1"
        );
        assert_eq!(
            plan("reg.example.com/t/a", &[], &[]).unwrap().groups[0][0].to_string(),
            "reg.example.com/t/a:latest"
        );
        assert_eq!(plan("myapi:1", &[], &[]).unwrap_err().kind, Kind::Usage);
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        let long = "a".repeat(129);
        for (src, targets, tags) in [
            ("", v(&["r:1/x"]), vec![]),
            ("a:1", v(&["R:1/Upper/x"]), vec![]),
            ("a:1", v(&["r:1/x:bad tag"]), vec![]),
            ("a:1", v(&[&format!("r:1/x:{long}")]), vec![]),
            (
                "a:1",
                v(&[
                    "r:1/x@sha256:a8e61ef5f1e28e10edde979325c2a924fc1776a9e6f095fb900f16ae983e5aa7",
                ]),
                vec![],
            ),
            ("a:1", v(&[""]), vec![]),
            ("a:1", v(&["r:1/x"]), v(&["-bad"])),
            ("Bad:1", v(&["r:1/x"]), vec![]),
        ] {
            let e = plan(src, &targets, &tags).unwrap_err();
            assert_eq!(e.kind, Kind::Usage, "{src} {targets:?} {tags:?}");
            assert!(!e.message.contains('\n'));
        }
    }

    #[test]
    fn image_ids_are_accepted_as_source() {
        let p = plan("c80e6a4bda18", &v(&["r:1/x"]), &[]).unwrap();
        assert_eq!(p.groups[0][0].to_string(), "r:1/x:latest");
    }
}
