//! `docker pushx SOURCE [TARGET...]`: plan the references, tag, push each through the daemon,
//! verify, and report.
//!
//! [`plan`] decides what to push without I/O; [`orchestrate`] pushes, retries and verifies
//! through the [`engine::Engine`] seam; [`report`] holds the result and its rendering and
//! [`progress`] the live progress on stderr; [`outputs`] the files and GitHub Actions outputs
//! left for CI. This file wires them to the daemon, the credentials and the command line.

mod dry_run;
pub(crate) mod engine;
pub(crate) mod orchestrate;
mod outputs;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod remote;
pub(crate) mod report;

pub(crate) use plan::{Plan, plan};

use crate::app::cancel;
use crate::app::cli::PushArgs;
use crate::app::settings::Settings;
use crate::daemon::Daemon;
use crate::error::{Error, Kind};
use crate::protocol::image::LocalImage;
use crate::protocol::reference::Reference;
use orchestrate::{Deadline, Job, Policy, push_all};
use progress::{Reporter, reporter};
use std::sync::Arc;
use std::time::Duration;

pub(crate) async fn run(settings: &Settings, args: &PushArgs) -> Result<(), Error> {
    let source = args.source.as_deref().unwrap_or_default();
    let plan = plan(source, &args.targets, &args.tags).map_err(|e| match misspelled(source) {
        Some(c) => Error::new(e.kind, format!("{}; did you mean \"{c}\"?", e.message)),
        None => e,
    })?;
    // An output file that cannot be written is refused before anything is pushed.
    let files = outputs::Files::of(args);
    files.check()?;
    if args.dry_run {
        return dry_run::run(settings, args, plan).await;
    }
    let deadline = Deadline::after(args.timeout);
    let mut tags = Tags::default();
    // Before any push starts, a signal or the deadline simply ends the command.
    let prepared = tokio::select! {
        r = prepare(settings, plan, &mut tags) => r,
        _ = cancel::requested() => Err(Error::new(Kind::Interrupted, "interrupted before any push started")),
        _ = deadline.reached() => Err(Error::new(
            Kind::Unreachable,
            format!("{} before any push started (connecting to the daemon, tagging)", deadline.label()),
        )),
    };
    let (daemon, job) = match prepared {
        Ok(p) => p,
        Err(e) => {
            tags.clean_up(args.keep_tags).await;
            return Err(e);
        }
    };
    let policy = Policy {
        verify: args.verify,
        retries: args.retries,
        retry_delay: args.retry_delay,
        stall_timeout: args.stall_timeout,
        jobs: usize::from(args.jobs),
        force: args.force,
        fanout: args.fanout,
    };
    let remote = Arc::new(remote::Registries::new(
        &daemon,
        &job.plan.source,
        &job.image,
        args.stall_timeout,
        // One attempt per request: a failed up-to-date check falls back to a push, and the
        // orchestration retries a verification as a whole.
        crate::registry::Retry::new(0, args.retry_delay),
        usize::from(args.jobs),
    ));
    let reporter: Arc<dyn Reporter> = Arc::from(reporter(args.progress_mode()));
    let (result, outcome) = push_all(
        daemon,
        remote,
        job,
        &policy,
        reporter.clone(),
        deadline,
        cancel::requested(),
    )
    .await;
    reporter.end();
    // Pushed, failed or interrupted: the CI outputs say what landed, first, before an
    // interrupted run can be cut short for good.
    files.write(&result);
    if let Some(github) = outputs::GitHub::from_env() {
        github.report(&result);
    }
    // The names made only to push go either way.
    tags.clean_up(args.keep_tags).await;
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
/// before a byte is uploaded. The tags it creates are recorded in `tags` as it goes, so that
/// they can be removed even when this is cut short.
async fn prepare(
    settings: &Settings,
    plan: Plan,
    tags: &mut Tags,
) -> Result<(Arc<Daemon>, Job), Error> {
    // Keyrings and helpers are asked while the daemon tags: neither waits for the other.
    let (tagged, creds) = tokio::join!(
        tag_targets(settings, &plan, tags),
        credentials(settings, &plan)
    );
    let (daemon, image) = tagged?;
    Ok((
        daemon,
        Job {
            plan,
            image,
            creds: creds?,
        },
    ))
}

/// Find SOURCE and give it every target's name, returning the daemon and the image.
async fn tag_targets(
    settings: &Settings,
    plan: &Plan,
    tags: &mut Tags,
) -> Result<(Arc<Daemon>, LocalImage), Error> {
    let daemon = Arc::new(Daemon::connect(settings.endpoint()?).await?);
    tracing::debug!(address = %daemon.address, api = daemon.api_version(), "connected to the daemon");
    let image = daemon
        .image(&plan.source)
        .await?
        .ok_or_else(|| no_local_image(&plan.source))?;
    let image_id = image.id.clone();
    tags.daemon = Some((daemon.clone(), image_id.clone()));
    let source_full = Reference::parse(&plan.source).ok().map(|r| r.to_string());
    let targets: Vec<&Reference> = plan
        .targets()
        .filter(|t| Some(t.to_string()) != source_full)
        .collect();
    let names: Vec<String> = targets
        .iter()
        .map(|t| format!("{}:{}", t.name(), t.tag_or_latest()))
        .collect();
    // What each name holds now, all asked at once.
    let now = futures::future::try_join_all(names.iter().map(|n| daemon.image_id(n))).await?;
    // A name the user already had is theirs: it stays, whatever happens. Recorded before the
    // tag request: one cut short may still land.
    for (name, held) in names.iter().zip(&now) {
        if held.is_none() {
            tags.created.push(name.clone());
        }
    }
    // Tag first, so that a refused name fails before anything is uploaded; a name already on
    // the image (a re-run) needs no request.
    let tagging = targets
        .iter()
        .zip(&now)
        .filter(|(_, held)| held.as_deref() != Some(image_id.as_str()))
        .map(|(&t, _)| {
            let daemon = &daemon;
            async move {
                daemon
                    .tag(&plan.source, &t.name(), t.tag_or_latest())
                    .await
                    .map_err(|e| e.context(format!("tagging {t}")))
            }
        });
    futures::future::try_join_all(tagging).await?;
    Ok((daemon, image))
}

/// The command SOURCE may be a misspelling of (`lgoin`: `login`).
fn misspelled(source: &str) -> Option<String> {
    let commands = crate::app::cli::command_names();
    crate::app::cli::did_you_mean(source, &commands).map(String::from)
}

/// SOURCE is not a local image: say so, and name the command it may be a misspelling of.
fn no_local_image(source: &str) -> Error {
    let message = match misspelled(source) {
        Some(c) => {
            format!("no local image \"{source}\": did you mean \"{c}\"? (docker pushx {c} --help)")
        }
        None => format!(
            "no local image \"{source}\": build or pull it first (docker images lists what is there)"
        ),
    };
    Error::new(Kind::NotFound, message)
}

/// How long removing the created tags may take: it must not hold up an interrupted run.
const CLEAN_UP_TIMEOUT: Duration = Duration::from_secs(10);

/// The target tags this run created (names that did not exist before it), to be removed when
/// the push is over. Removing one only untags: the image and its layers stay.
#[derive(Default)]
struct Tags {
    /// The daemon and SOURCE's image ID, once known.
    daemon: Option<(Arc<Daemon>, String)>,
    created: Vec<String>,
}

impl Tags {
    /// Untag what was created, unless `keep`. A name is kept when it no longer points at
    /// SOURCE's image (someone moved it meanwhile), and one is kept when the image would
    /// otherwise have no name left (SOURCE given as an untagged image ID): an image without a
    /// tag is what `docker image prune` deletes. Failures are warnings: the push result stands.
    async fn clean_up(self, keep: bool) {
        let Some((daemon, image_id)) = self.daemon else {
            return;
        };
        if keep || self.created.is_empty() {
            return;
        }
        let work = remove_created(&daemon, &image_id, self.created);
        if tokio::time::timeout(CLEAN_UP_TIMEOUT, work).await.is_err() {
            eprintln!(
                "warning: removing the tags created for the push took longer than {}s: \
                 `docker images` may still list them",
                CLEAN_UP_TIMEOUT.as_secs()
            );
        }
    }
}

async fn remove_created(daemon: &Daemon, image_id: &str, created: Vec<String>) {
    let mut ours = Vec::new();
    for name in created {
        match daemon.image_id(&name).await {
            Ok(Some(id)) if id == image_id => ours.push(name),
            Ok(_) => tracing::debug!(%name, "not removing the tag: it no longer names the source"),
            Err(e) => eprintln!("warning: not removing the tag {name}: {e}"),
        }
    }
    if ours.is_empty() {
        return;
    }
    let names = match daemon.image_tags(image_id).await {
        Ok(names) => names,
        Err(e) => {
            eprintln!("warning: not removing the tags created for the push: {e}");
            return;
        }
    };
    if let Some(kept) = last_name(&names, &ours) {
        eprintln!("note: keeping the tag {kept}: the image has no other name");
        ours.retain(|n| *n != kept);
    }
    for name in ours {
        match daemon.untag(&name).await {
            Ok(()) => tracing::debug!(%name, "removed the tag created for the push"),
            Err(e) => eprintln!("warning: could not remove the tag {name}: {e}"),
        }
    }
}

/// When every name of the image (`names`, as the daemon lists them) is one of `removing`,
/// the one to keep, so the image keeps a name; else `None`.
fn last_name(names: &[String], removing: &[String]) -> Option<String> {
    let canonical = |n: &str| Reference::parse(n).map_or_else(|_| n.to_string(), |r| r.to_string());
    let removing: Vec<String> = removing.iter().map(|n| canonical(n)).collect();
    let others = names.iter().any(|n| !removing.contains(&canonical(n)));
    (!others).then(|| removing.last().cloned()).flatten()
}

/// Credentials once per registry of `plan`; keyrings and helpers block, so off the async
/// threads.
async fn credentials(
    settings: &Settings,
    plan: &Plan,
) -> Result<std::collections::BTreeMap<String, crate::credentials::Found>, Error> {
    let mut keys: Vec<String> = plan.targets().map(|t| t.auth_key()).collect();
    keys.sort();
    keys.dedup();
    let s = settings.clone();
    tokio::task::spawn_blocking(move || s.credentials_for(&keys))
        .await
        .map_err(|e| Error::other(format!("credential lookup: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_image_keeps_a_name() {
        // SOURCE by name: it keeps that one.
        assert_eq!(
            last_name(
                &v(&["myapi:1", "reg:5000/a:1", "reg:5000/b:1"]),
                &v(&["reg:5000/a:1", "reg:5000/b:1"])
            ),
            None
        );
        // SOURCE by ID, untagged: the last created name stays.
        assert_eq!(
            last_name(
                &v(&["reg:5000/a:1", "reg:5000/b:1"]),
                &v(&["reg:5000/a:1", "reg:5000/b:1"])
            ),
            Some("reg:5000/b:1".into())
        );
        // Docker Hub names are listed in their short form.
        assert_eq!(
            last_name(&v(&["me/app:1"]), &v(&["docker.io/me/app:1"])),
            Some("docker.io/me/app:1".into())
        );
        assert_eq!(
            last_name(&v(&["myapi:1", "me/app:1"]), &v(&["docker.io/me/app:1"])),
            None
        );
    }

    #[test]
    fn a_misspelled_command_is_named() {
        let e = no_local_image("lgoin");
        assert_eq!(e.kind, Kind::NotFound);
        assert!(
            e.message.contains("did you mean \"login\"?"),
            "{}",
            e.message
        );
        let e = no_local_image("myapi:1");
        assert!(
            e.message.contains("build or pull it first"),
            "{}",
            e.message
        );
    }
}
