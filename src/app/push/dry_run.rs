//! `docker pushx --dry-run`: what a push would do and how it would most likely end, found
//! without changing anything (no tag, no upload, no configuration written). The source is
//! resolved by the daemon; each registry is asked directly, from this machine, whether it
//! answers, whether it would accept a push from the credentials found, and which tags already
//! hold the image.

use super::orchestrate::Deadline;
use super::plan::Plan;
use super::report::short_digest;
use super::{no_local_image, print};
use crate::app::cancel;
use crate::app::cli::{Format, PushArgs};
use crate::app::settings::Settings;
use crate::app::table;
use crate::credentials::Found;
use crate::daemon::Daemon;
use crate::error::{Error, Kind};
use crate::protocol::daemon_host::Endpoint;
use crate::protocol::image::LocalImage;
use crate::protocol::reference::Reference;
use crate::registry::{Options, PushAccess, RegistryClient, Retry, TagState};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The dry run's document: the push result's shape, marked `dry_run`, each target with its
/// `plan`.
#[derive(Debug, Serialize)]
struct DryRun {
    dry_run: bool,
    source: String,
    image_id: String,
    targets: Vec<Target>,
}

#[derive(Debug, Serialize)]
struct Target {
    reference: String,
    /// `planned` (it would be pushed), `up-to-date` (the tag already holds the image) or
    /// `failed` (the push would fail: `error` says why).
    status: &'static str,
    /// When up to date, the digest the tag holds (what the push would report).
    digest: Option<String>,
    credential_source: String,
    plan: TargetPlan,
    error: Option<String>,
    #[serde(skip)]
    kind: Option<Kind>,
}

#[derive(Debug, Serialize)]
struct TargetPlan {
    registry: String,
    registry_reachable: bool,
    /// `null`: unknown (an opaque token, or the question could not be asked).
    push_allowed: Option<bool>,
    /// `null`: unknown (the registry could not be asked).
    up_to_date: Option<bool>,
    detail: String,
}

pub(super) async fn run(settings: &Settings, args: &PushArgs, plan: Plan) -> Result<(), Error> {
    let deadline = Deadline::after(args.timeout);
    let result = tokio::select! {
        r = check(settings, args, plan) => r?,
        _ = cancel::requested() => return Err(Error::new(Kind::Interrupted, "interrupted during the dry run")),
        _ = deadline.reached() => return Err(Error::new(
            Kind::Unreachable,
            format!("{} during the dry run", deadline.label()),
        )),
    };
    if !args.quiet {
        print(&render(&result, args.format)?);
    }
    outcome(&result)
}

async fn check(settings: &Settings, args: &PushArgs, plan: Plan) -> Result<DryRun, Error> {
    let endpoint = settings.endpoint()?;
    let daemon = Arc::new(Daemon::connect(endpoint).await?);
    let image = daemon
        .image(&plan.source)
        .await?
        .ok_or_else(|| no_local_image(&plan.source))?;
    // Registries are reached as the daemon would reach them; without its rules, loopback only.
    let insecure = {
        let daemon = daemon.clone();
        crate::registry::rules_from(async move { daemon.insecure_rules().await })
    };
    let creds = super::credentials(settings, &plan).await?;
    let client = RegistryClient::new(Options {
        stall: args.stall_timeout,
        insecure,
        retry: Retry::new(args.retries, args.retry_delay),
    })?;
    // A remote daemon may reach registries this machine cannot: say where the check ran.
    let remote = match &endpoint.endpoint {
        Endpoint::Tcp { .. } | Endpoint::Ssh(_) => Some(daemon.address.clone()),
        Endpoint::Unix(_) => None,
    };
    let checker = Checker {
        client: &client,
        creds: &creds,
        image: &image,
        force: args.force,
        remote: remote.as_deref(),
    };
    let groups: Vec<Vec<Target>> = futures::stream::iter(&plan.groups)
        .map(|g| checker.group(g))
        .buffered(usize::from(args.jobs).max(1))
        .collect()
        .await;
    Ok(DryRun {
        dry_run: true,
        source: plan.source.clone(),
        image_id: image.id.clone(),
        targets: groups.into_iter().flatten().collect(),
    })
}

struct Checker<'a> {
    client: &'a RegistryClient,
    creds: &'a BTreeMap<String, Found>,
    image: &'a LocalImage,
    /// `--force`: up-to-date targets are pushed all the same.
    force: bool,
    /// The daemon's address when it is not on this machine.
    remote: Option<&'a str>,
}

impl Checker<'_> {
    /// One repository's targets: the registry opened and asked about push once, each tag
    /// compared with the image.
    async fn group(&self, group: &[Reference]) -> Vec<Target> {
        let first = &group[0];
        let found = &self.creds[&first.auth_key()];
        let blank = |r: &Reference| Target {
            reference: r.to_string(),
            status: "planned",
            digest: None,
            credential_source: found.source.clone(),
            plan: TargetPlan {
                registry: r.domain.clone(),
                registry_reachable: false,
                push_allowed: None,
                up_to_date: None,
                detail: String::new(),
            },
            error: None,
            kind: None,
        };
        let reg = match self.client.registry(&first.domain, &found.auth).await {
            Ok(reg) => reg,
            Err(e) => {
                let e = match (self.remote, e.kind) {
                    (Some(daemon), Kind::Unreachable) => e.context(format!(
                        "checked from this machine (the daemon at {daemon} may still reach it)"
                    )),
                    _ => e,
                };
                return group
                    .iter()
                    .map(|r| {
                        let mut t = blank(r);
                        t.fail(&e);
                        t
                    })
                    .collect();
            }
        };
        let access = reg.push_access(&first.path).await;
        let mut out = Vec::new();
        for r in group {
            let mut t = blank(r);
            t.plan.registry_reachable = true;
            let mut details = Vec::new();
            let mut failure = None;
            match &access {
                Ok(PushAccess::Granted(how)) => {
                    t.plan.push_allowed = Some(true);
                    details.push(how.clone());
                }
                Ok(PushAccess::Unknown(why)) => details.push(why.clone()),
                Ok(PushAccess::Refused(e)) => {
                    t.plan.push_allowed = Some(false);
                    failure = Some(e.clone());
                }
                Err(e) => failure = Some(e.clone()),
            }
            match reg
                .tag_holds_image(&r.path, r.tag_or_latest(), self.image)
                .await
            {
                Ok(TagState::UpToDate { digest, .. }) => {
                    t.plan.up_to_date = Some(true);
                    details.push(format!(
                        "the tag holds the image ({})",
                        short_digest(&digest)
                    ));
                    t.digest = Some(digest);
                    // An up-to-date target is skipped, not pushed (unless --force): push
                    // permission is moot.
                    if !self.force && failure.as_ref().is_some_and(|e| e.kind == Kind::Auth) {
                        failure = None;
                    }
                }
                Ok(TagState::Index { digest }) => {
                    t.plan.up_to_date = Some(false);
                    details.push(format!(
                        "the tag holds a multi-platform index ({}): not compared",
                        short_digest(&digest)
                    ));
                }
                Ok(TagState::Absent) => {
                    t.plan.up_to_date = Some(false);
                    details.push("no such tag yet".into());
                }
                Ok(TagState::Other { digest }) => {
                    t.plan.up_to_date = Some(false);
                    details.push(format!(
                        "the tag holds another image ({})",
                        short_digest(&digest)
                    ));
                }
                Ok(TagState::MissingBlob { blob, .. }) => {
                    t.plan.up_to_date = Some(false);
                    details.push(format!(
                        "the tag holds the image but the blob {} is missing",
                        short_digest(&blob)
                    ));
                }
                // Reading refused where pushing could not be confirmed: the push would be too.
                Err(e) if e.kind == Kind::Auth && t.plan.push_allowed.is_none() => {
                    failure.get_or_insert(e);
                }
                Err(e) => details.push(format!("up-to-date check failed: {}", e.message)),
            }
            t.plan.detail = details.join("; ");
            if let Some(e) = failure {
                t.fail(&e);
            } else if t.plan.up_to_date == Some(true) {
                t.status = "up-to-date";
            }
            out.push(t);
        }
        out
    }
}

impl Target {
    fn fail(&mut self, e: &Error) {
        self.status = "failed";
        if !self.plan.detail.is_empty() {
            self.plan.detail.push_str("; ");
        }
        self.plan.detail.push_str(&e.message);
        self.error = Some(e.message.clone());
        self.kind = Some(e.kind);
    }
}

/// The exit status the push would most likely end with, decided as the push result decides
/// it: 0 when every target would succeed, 7 when only some would, otherwise the first
/// failure's (3 credentials refused or push not granted, 6 a registry unreachable).
fn outcome(result: &DryRun) -> Result<(), Error> {
    let failed: Vec<&Target> = result.targets.iter().filter(|t| t.kind.is_some()).collect();
    let Some(first) = failed.first() else {
        return Ok(());
    };
    let msg = |t: &Target| {
        format!(
            "{}: {}",
            t.reference,
            t.error.as_deref().unwrap_or_default()
        )
    };
    if failed.len() < result.targets.len() {
        let names: Vec<String> = failed.iter().map(|t| msg(t)).collect();
        return Err(Error::new(
            Kind::Partial,
            format!(
                "dry run: {} of {} targets would fail: {}",
                failed.len(),
                result.targets.len(),
                names.join("; ")
            ),
        ));
    }
    Err(Error::new(
        first.kind.unwrap_or(Kind::Other),
        format!("dry run: {}", msg(first)),
    ))
}

fn render(result: &DryRun, format: Format) -> Result<String, Error> {
    if format == Format::Json {
        return serde_json::to_string_pretty(result)
            .map(|s| s + "\n")
            .map_err(|e| Error::other(format!("rendering the result: {e}")));
    }
    let yes_no = |v: Option<bool>| match v {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "unknown",
    };
    let rows: Vec<Vec<String>> = result
        .targets
        .iter()
        .map(|t| {
            vec![
                t.reference.clone(),
                yes_no(Some(t.plan.registry_reachable)).into(),
                t.credential_source.clone(),
                yes_no(t.plan.push_allowed).into(),
                match t.plan.up_to_date {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "unknown",
                }
                .into(),
            ]
        })
        .collect();
    Ok(table::render_fitted(
        &[
            "TARGET",
            "REGISTRY REACHABLE",
            "CREDENTIALS",
            "PUSH ALLOWED",
            "UP TO DATE",
        ],
        &rows,
        super::report::TABLE_WIDTH,
        0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(reference: &str, kind: Option<Kind>) -> Target {
        let mut t = Target {
            reference: reference.into(),
            status: "planned",
            digest: None,
            credential_source: "docker-config".into(),
            plan: TargetPlan {
                registry: "r:1".into(),
                registry_reachable: true,
                push_allowed: Some(true),
                up_to_date: Some(false),
                detail: String::new(),
            },
            error: None,
            kind: None,
        };
        if let Some(k) = kind {
            t.fail(&Error::new(k, "refused"));
        }
        t
    }

    fn result(targets: Vec<Target>) -> DryRun {
        DryRun {
            dry_run: true,
            source: "a:1".into(),
            image_id: "sha256:0".into(),
            targets,
        }
    }

    #[test]
    fn the_exit_code_is_the_push_one() {
        assert!(outcome(&result(vec![target("r:1/a:1", None)])).is_ok());
        let auth = outcome(&result(vec![target("r:1/a:1", Some(Kind::Auth))])).unwrap_err();
        assert_eq!(auth.kind, Kind::Auth);
        assert!(
            auth.message.starts_with("dry run: r:1/a:1: refused"),
            "{auth}"
        );
        let down = outcome(&result(vec![
            target("r:1/a:1", Some(Kind::Unreachable)),
            target("r:1/a:2", Some(Kind::Auth)),
        ]))
        .unwrap_err();
        assert_eq!(down.kind, Kind::Unreachable);
        let mixed = outcome(&result(vec![
            target("r:1/a:1", None),
            target("r:1/a:2", Some(Kind::Unreachable)),
        ]))
        .unwrap_err();
        assert_eq!(mixed.kind, Kind::Partial);
    }

    #[test]
    fn json_and_table() {
        let mut up = target("r:1/a:1", None);
        up.status = "up-to-date";
        up.plan.up_to_date = Some(true);
        let mut opaque = target("r:1/b:1", None);
        opaque.plan.push_allowed = None;
        let mut refused = target("r:1/c:1", Some(Kind::Auth));
        refused.plan.push_allowed = Some(false);
        let r = result(vec![up, opaque, refused]);
        let v: serde_json::Value =
            serde_json::from_str(&render(&r, Format::Json).unwrap()).unwrap();
        assert_eq!(v["dry_run"], true);
        assert_eq!(v["targets"][0]["status"], "up-to-date");
        assert_eq!(v["targets"][0]["plan"]["up_to_date"], true);
        assert_eq!(
            v["targets"][1]["plan"]["push_allowed"],
            serde_json::Value::Null
        );
        assert_eq!(v["targets"][2]["status"], "failed");
        assert_eq!(v["targets"][2]["error"], "refused");
        assert!(v["targets"][2].get("kind").is_none());
        let table = render(&r, Format::Table).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("TARGET   REGISTRY REACHABLE  CREDENTIALS"),
            "{table}"
        );
        assert!(lines[1].ends_with("yes           yes"), "{table}");
        assert!(lines[2].contains("unknown"), "{table}");
        assert!(lines[3].contains("NO"), "{table}");
    }
}
