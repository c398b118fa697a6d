//! `docker pushx SOURCE [TARGET...]`: plan the references, tag, push each through the daemon,
//! verify, and report.
//!
//! [`plan`] decides what to push without I/O; [`orchestrate`] pushes, retries and verifies
//! through the [`engine::Engine`] seam; [`report`] holds the result and its rendering and
//! [`progress`] the live progress on stderr. This file wires them to the daemon, the
//! credentials and the command line.

pub(crate) mod engine;
pub(crate) mod orchestrate;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod report;

pub(crate) use plan::{Plan, plan};

use crate::app::cancel;
use crate::app::cli::PushArgs;
use crate::app::settings::Settings;
use crate::credentials::Found;
use crate::daemon::Daemon;
use crate::error::{Error, Kind};
use crate::protocol::reference::Reference;
use orchestrate::{Deadline, Job, Policy, push_all};
use progress::{Reporter, reporter};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) async fn run(settings: &Settings, args: &PushArgs) -> Result<(), Error> {
    let source = args.source.as_deref().unwrap_or_default();
    let plan = plan(source, &args.targets, &args.tags)?;
    let deadline = Deadline::after(args.timeout);
    // Before any push starts, a signal or the deadline simply ends the command.
    let (daemon, job) = tokio::select! {
        r = prepare(settings, plan) => r?,
        _ = cancel::requested() => return Err(Error::new(Kind::Interrupted, "interrupted before any push started")),
        _ = deadline.reached() => return Err(Error::new(
            Kind::Unreachable,
            format!("{} before any push started (connecting to the daemon, tagging)", deadline.label()),
        )),
    };
    let policy = Policy {
        verify: args.verify,
        retries: args.retries,
        retry_delay: args.retry_delay,
        stall_timeout: args.stall_timeout,
        jobs: usize::from(args.jobs),
    };
    let reporter: Arc<dyn Reporter> = Arc::from(reporter(args.progress_mode()));
    let (result, outcome) = push_all(
        daemon,
        job,
        &policy,
        reporter,
        deadline,
        cancel::requested(),
    )
    .await;
    print(&report::render(&result, args.format, args.quiet)?);
    outcome
}

fn print(out: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // A closed stdout (`| head`) is not worth a second error.
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
}

/// Connect, find the source, tag every target and find credentials: everything that can fail
/// before a byte is uploaded.
async fn prepare(settings: &Settings, plan: Plan) -> Result<(Arc<Daemon>, Job), Error> {
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
    Ok((
        daemon,
        Job {
            plan,
            image_id,
            creds,
        },
    ))
}
