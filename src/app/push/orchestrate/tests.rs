//! The orchestration against a scripted engine: every retry, stall, timeout, cancellation and
//! verification outcome, in milliseconds and without a daemon.

use super::*;
use crate::app::push::engine::PushStream;
use crate::app::push::plan::plan;
use crate::app::push::remote::{Checked, Copied, CopyFailed, CopyProgress, Held};
use crate::app::push::report::Blobs;
use crate::app::push::report::Via;
use crate::credentials::anonymous;
use crate::protocol::image::{Content, LocalImage};
use crate::protocol::registry_auth::RegistryAuth;
use bytes::Bytes;
use futures::stream;
use std::collections::{HashMap, VecDeque};
use tokio::sync::Notify;

const SOURCE_ID: &str = "sha256:5050505050505050505050505050505050505050505050505050505050505050";

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// One scripted push attempt.
enum Attempt {
    /// The engine refuses to start the push.
    Refuse(Error),
    /// The stream carries these messages, then ends.
    Send(Vec<String>),
    /// The stream carries these messages, then nothing, ever.
    SendThenHang(Vec<String>),
}

/// An engine that answers from a script and records what it was asked.
#[derive(Default)]
struct FakeEngine {
    /// Push attempts by `name:tag`, in order.
    pushes: Mutex<HashMap<String, VecDeque<Attempt>>>,
    /// The registry's answer by `name:tag`.
    registry: HashMap<String, Result<String, Error>>,
    /// The local image by name (`name@digest` after a pull).
    images: HashMap<String, LocalImage>,
    /// The source image, when not the graphdriver store's `SOURCE_ID` without content.
    source: Option<LocalImage>,
    calls: Mutex<Vec<String>>,
    /// Signalled when a push starts to hang.
    hung: Notify,
    /// What the registry itself says of each `name:tag` before the push (default: not there).
    held: HashMap<String, Result<Option<Held>, Error>>,
    /// The full checks' outcomes by `name:tag`, in order.
    checks: Mutex<HashMap<String, VecDeque<Checked>>>,
    /// Copies' outcomes by target `name:tag`, in order (default: copied, 3 blobs).
    copies: Mutex<HashMap<String, VecDeque<Result<Copied, CopyFailed>>>>,
    /// Registries that do not answer from here.
    unreachable: Vec<String>,
}

impl FakeEngine {
    fn script(self, reference: &str, attempts: Vec<Attempt>) -> Self {
        lock(&self.pushes).insert(reference.into(), attempts.into());
        self
    }

    fn registry(mut self, reference: &str, answer: Result<String, Error>) -> Self {
        self.registry.insert(reference.into(), answer);
        self
    }

    fn image(self, name: &str, id: &str) -> Self {
        self.local_image(
            name,
            LocalImage {
                id: id.into(),
                ..LocalImage::default()
            },
        )
    }

    fn local_image(mut self, name: &str, image: LocalImage) -> Self {
        self.images.insert(name.into(), image);
        self
    }

    fn source(mut self, image: LocalImage) -> Self {
        self.source = Some(image);
        self
    }

    fn held(mut self, reference: &str, answer: Result<Option<Held>, Error>) -> Self {
        self.held.insert(reference.into(), answer);
        self
    }

    fn copies(self, reference: &str, outcomes: Vec<Result<Copied, CopyFailed>>) -> Self {
        lock(&self.copies).insert(reference.into(), outcomes.into());
        self
    }

    fn unreachable(mut self, domain: &str) -> Self {
        self.unreachable.push(domain.into());
        self
    }

    fn checks(self, reference: &str, outcomes: Vec<Checked>) -> Self {
        lock(&self.checks).insert(reference.into(), outcomes.into());
        self
    }

    fn calls(&self, prefix: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }

    fn record(&self, call: String) {
        lock(&self.calls).push(call);
    }
}

impl Engine for FakeEngine {
    async fn push(&self, name: &str, tag: &str, _auth: &RegistryAuth) -> Result<PushStream, Error> {
        let reference = format!("{name}:{tag}");
        self.record(format!("push {reference}"));
        let next = lock(&self.pushes)
            .get_mut(&reference)
            .and_then(VecDeque::pop_front);
        let chunks = |lines: Vec<String>| {
            stream::iter(
                lines
                    .into_iter()
                    .map(|l| Ok(Bytes::from(format!("{l}\r\n"))))
                    .collect::<Vec<_>>(),
            )
        };
        match next {
            None => Err(Error::other(format!("unscripted push of {reference}"))),
            Some(Attempt::Refuse(e)) => Err(e),
            Some(Attempt::Send(lines)) => Ok(chunks(lines).boxed()),
            Some(Attempt::SendThenHang(lines)) => {
                self.hung.notify_one();
                Ok(chunks(lines).chain(stream::pending()).boxed())
            }
        }
    }

    async fn registry_digest(
        &self,
        reference: &str,
        _auth: &RegistryAuth,
    ) -> Result<String, Error> {
        self.record(format!("registry {reference}"));
        self.registry
            .get(reference)
            .cloned()
            .unwrap_or_else(|| Err(Error::other(format!("unscripted lookup of {reference}"))))
    }

    async fn pull(&self, name: &str, digest: &str, _auth: &RegistryAuth) -> Result<(), Error> {
        self.record(format!("pull {name}@{digest}"));
        Ok(())
    }

    async fn image(&self, name: &str) -> Result<Option<LocalImage>, Error> {
        self.record(format!("image {name}"));
        Ok(self.images.get(name).cloned())
    }
}

impl Remote for FakeEngine {
    async fn up_to_date(
        &self,
        target: &Reference,
        _auth: &RegistryAuth,
    ) -> Result<Option<Held>, Error> {
        self.record(format!("held {target}"));
        self.held
            .get(&target.to_string())
            .cloned()
            .unwrap_or(Ok(None))
    }

    async fn reachable(&self, r: &Reference, _auth: &RegistryAuth) -> bool {
        self.record(format!("reachable {}", r.domain));
        !self.unreachable.contains(&r.domain)
    }

    async fn copy(
        &self,
        (from, _): (&Reference, &RegistryAuth),
        (target, _): (&Reference, &RegistryAuth),
        digest: &str,
        progress: CopyProgress<'_>,
    ) -> Result<Copied, CopyFailed> {
        self.record(format!("copy {from} -> {target} {digest}"));
        progress(500, 1000);
        progress(1000, 1000);
        lock(&self.copies)
            .get_mut(&target.to_string())
            .and_then(VecDeque::pop_front)
            .unwrap_or(Ok(Copied {
                copied: 3,
                bytes: 1000,
                size: 528,
                layers: 2,
                ..Copied::default()
            }))
    }

    async fn check(&self, target: &Reference, _auth: &RegistryAuth, digest: &str) -> Checked {
        self.record(format!("check {target} {digest}"));
        lock(&self.checks)
            .get_mut(&target.to_string())
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| Checked {
                result: Err(Error::other(format!("unscripted check of {target}"))),
                blobs: Blobs::default(),
            })
    }
}

/// Progress as it was reported, for the assertions on retry messages.
#[derive(Default)]
struct Recorder {
    stages: Mutex<Vec<String>>,
    /// Each target's summary line, as reported when it ended.
    done: Mutex<Vec<String>>,
}

impl Reporter for Recorder {
    fn event(&self, _: &str, _: &crate::protocol::stream::Event, _: &PushState, _: bool) {}
    fn stage(&self, target: &str, what: &str) {
        lock(&self.stages).push(format!("{target}: {what}"));
    }
    fn done(&self, result: &TargetResult) {
        lock(&self.done).push(format!("{}: {}", result.reference, result.summary(false)));
    }
}

/// A push that uploads one layer and reports `digest`.
fn pushed(tag: &str, digest: &str) -> Vec<String> {
    vec![
        r#"{"status":"The push refers to repository [r:1/x]"}"#.into(),
        r#"{"status":"Preparing","progressDetail":{},"id":"l1"}"#.into(),
        r#"{"status":"Pushing","progressDetail":{"current":512,"total":1024},"id":"l1"}"#.into(),
        r#"{"status":"Pushed","progressDetail":{},"id":"l1"}"#.into(),
        format!(r#"{{"status":"{tag}: digest: {digest} size: 528","progressDetail":{{}}}}"#),
    ]
}

/// A push that got as far as uploading layer `l1`.
fn uploading() -> Vec<String> {
    pushed("-", "-")[..3].to_vec()
}

fn failing(message: &str) -> Vec<String> {
    vec![serde_json::json!({"errorDetail": {"message": message}, "error": message}).to_string()]
}

fn policy(verify: VerifyMode) -> Policy {
    Policy {
        verify,
        retries: 2,
        retry_delay: Duration::from_millis(1),
        stall_timeout: Duration::from_secs(10),
        jobs: 2,
        force: false,
        fanout: Fanout::Daemon,
    }
}

struct Run {
    result: PushResult,
    outcome: Result<(), Error>,
    stages: Vec<String>,
    /// The summary line reported for each target as it ended, in order.
    done: Vec<String>,
}

impl Run {
    fn target(&self, reference: &str) -> &TargetResult {
        self.result
            .targets
            .iter()
            .find(|t| t.reference == reference)
            .unwrap()
    }

    fn error(&self) -> &Error {
        self.outcome.as_ref().unwrap_err()
    }
}

async fn run_with(
    engine: &Arc<FakeEngine>,
    targets: &[&str],
    policy: Policy,
    deadline: Deadline,
    cancelled: impl Future<Output = ()>,
) -> Run {
    let targets: Vec<String> = targets.iter().map(|t| t.to_string()).collect();
    let plan = plan("app:1", &targets, &[]).unwrap();
    let creds = plan
        .targets()
        .map(|t| (t.auth_key(), anonymous(&t.auth_key())))
        .collect();
    let job = Job {
        plan,
        image: engine.source.clone().unwrap_or_else(|| LocalImage {
            id: SOURCE_ID.into(),
            ..LocalImage::default()
        }),
        creds,
    };
    let recorder = Arc::new(Recorder::default());
    let (result, outcome) = bounded(push_all(
        engine.clone(),
        engine.clone(),
        job,
        &policy,
        recorder.clone(),
        deadline,
        cancelled,
    ))
    .await;
    let stages = lock(&recorder.stages).clone();
    let done = lock(&recorder.done).clone();
    Run {
        result,
        outcome,
        stages,
        done,
    }
}

/// A run that hangs is a failure, not a stuck test.
async fn bounded<T>(run: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the run ended within 5s")
}

async fn run(engine: &Arc<FakeEngine>, targets: &[&str], policy: Policy) -> Run {
    run_with(
        engine,
        targets,
        policy,
        Deadline::after(None),
        std::future::pending(),
    )
    .await
}

#[tokio::test]
async fn a_transient_failure_is_retried_until_the_push_lands() {
    let d = digest('a');
    let engine = Arc::new(FakeEngine::default().script(
        "r:1/x:1",
        vec![
            Attempt::Send(failing(
                "received unexpected HTTP status: 503 Service Unavailable",
            )),
            Attempt::Refuse(Error::new(
                Kind::Unreachable,
                "the daemon closed the stream: connection reset",
            )),
            Attempt::Send(pushed("1", &d)),
        ],
    ));
    let r = run(&engine, &["r:1/x:1"], policy(VerifyMode::None)).await;
    assert_eq!(r.outcome, Ok(()));
    let t = r.target("r:1/x:1");
    assert_eq!(t.status, Status::Pushed);
    assert_eq!(t.attempts, 3);
    assert_eq!(t.digest.as_deref(), Some(d.as_str()));
    assert_eq!(t.layers.pushed, 1);
    assert_eq!(engine.calls("push"), 3);
    assert!(
        r.stages[0].starts_with("r:1/x:1: push attempt 1 failed (received unexpected")
            && r.stages[0].contains("retrying in"),
        "{:?}",
        r.stages
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let busy = || Attempt::Send(failing("toomanyrequests: slow down"));
    let engine = Arc::new(FakeEngine::default().script("r:1/x:1", vec![busy(), busy(), busy()]));
    let r = run(&engine, &["r:1/x:1"], policy(VerifyMode::None)).await;
    assert_eq!(r.target("r:1/x:1").attempts, 3);
    assert_eq!(engine.calls("push"), 3);
    assert!(
        r.error().message.contains("toomanyrequests"),
        "{:?}",
        r.error()
    );
}

#[tokio::test]
async fn an_auth_failure_is_not_retried() {
    let engine = Arc::new(FakeEngine::default().script(
        "r:1/x:1",
        vec![
            Attempt::Send(failing("unauthorized: authentication required")),
            Attempt::Send(pushed("1", &digest('a'))),
        ],
    ));
    let r = run(&engine, &["r:1/x:1"], policy(VerifyMode::None)).await;
    assert_eq!(r.error().exit_code(), 3, "{:?}", r.error());
    assert!(
        r.error().message.contains("docker pushx login r:1"),
        "{:?}",
        r.error()
    );
    let t = r.target("r:1/x:1");
    assert_eq!((t.attempts, t.status), (1, Status::Failed));
    assert_eq!(engine.calls("push"), 1);
    assert!(r.stages.is_empty(), "{:?}", r.stages);
}

#[tokio::test]
async fn a_stalled_push_is_cut_and_says_what_it_waited_for() {
    let engine = Arc::new(FakeEngine::default().script(
        "r:1/x:1",
        vec![
            Attempt::SendThenHang(uploading()),
            Attempt::SendThenHang(uploading()),
        ],
    ));
    let p = Policy {
        retries: 1,
        stall_timeout: Duration::from_millis(20),
        ..policy(VerifyMode::None)
    };
    let started = Instant::now();
    let r = run(&engine, &["r:1/x:1"], p).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let e = r.error();
    assert_eq!(e.exit_code(), 6, "{e:?}");
    assert!(
        e.message
            .starts_with("r:1/x:1: no progress for 20ms while waiting for uploading layer l1"),
        "{e:?}"
    );
    let t = r.target("r:1/x:1");
    assert_eq!(t.attempts, 2);
    assert_eq!(t.bytes_pushed, 512);
}

#[tokio::test]
async fn a_push_that_never_starts_also_stalls() {
    struct Silent;
    impl Engine for Silent {
        async fn push(&self, _: &str, _: &str, _: &RegistryAuth) -> Result<PushStream, Error> {
            std::future::pending().await
        }
        async fn registry_digest(&self, _: &str, _: &RegistryAuth) -> Result<String, Error> {
            std::future::pending().await
        }
        async fn pull(&self, _: &str, _: &str, _: &RegistryAuth) -> Result<(), Error> {
            std::future::pending().await
        }
        async fn image(&self, _: &str) -> Result<Option<LocalImage>, Error> {
            std::future::pending().await
        }
    }
    let plan = plan("app:1", &["r:1/x:1".into()], &[]).unwrap();
    let creds = BTreeMap::from([("r:1".to_string(), anonymous("r:1"))]);
    let p = Policy {
        retries: 0,
        stall_timeout: Duration::from_millis(10),
        ..policy(VerifyMode::None)
    };
    let (_, outcome) = bounded(push_all(
        Arc::new(Silent),
        Arc::new(FakeEngine::default()),
        Job {
            plan,
            image: LocalImage::default(),
            creds,
        },
        &p,
        Arc::new(Recorder::default()),
        Deadline::after(None),
        std::future::pending(),
    ))
    .await;
    let e = outcome.unwrap_err();
    assert_eq!(e.exit_code(), 6);
    assert!(
        e.message.contains("waiting for the registry to answer"),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_overall_timeout_ends_the_run_and_reports_what_completed() {
    let engine = Arc::new(
        FakeEngine::default()
            .script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .script("r:1/b:1", vec![Attempt::SendThenHang(uploading())]),
    );
    let r = run_with(
        &engine,
        &["r:1/a:1", "r:1/b:1"],
        policy(VerifyMode::None),
        Deadline::after(Some(Duration::from_millis(250))),
        std::future::pending(),
    )
    .await;
    let e = r.error();
    assert_eq!(e.exit_code(), 6, "{e:?}");
    assert_eq!(
        e.message,
        "timed out after 250ms: completed r:1/a:1; not completed: r:1/b:1"
    );
    assert_eq!(r.target("r:1/a:1").status, Status::Pushed);
    let b = r.target("r:1/b:1");
    assert_eq!(b.error.as_deref(), Some("timed out before it completed"));
    assert_eq!(
        b.status,
        Status::Failed,
        "a timeout is a failure, not an interruption"
    );
    assert_eq!(r.done[1], "r:1/b:1: failed: timed out before it completed");
}

#[tokio::test]
async fn one_failed_target_of_two_is_a_partial_success() {
    let engine = Arc::new(
        FakeEngine::default()
            .script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .script(
                "q:2/b:1",
                vec![Attempt::Send(failing(
                    "denied: requested access to the resource is denied",
                ))],
            ),
    );
    let r = run(&engine, &["r:1/a:1", "q:2/b:1"], policy(VerifyMode::None)).await;
    let e = r.error();
    assert_eq!(e.exit_code(), 7, "{e:?}");
    assert!(
        e.message
            .starts_with("1 of 2 targets failed: q:2/b:1: denied"),
        "{e:?}"
    );
    assert!(r.target("r:1/a:1").succeeded());
    assert_eq!(r.target("q:2/b:1").kind, Some(Kind::Auth));
}

#[tokio::test]
async fn cancellation_stops_the_run_and_reports_what_completed() {
    // One repository: the two tags are pushed one after the other.
    let engine = Arc::new(
        FakeEngine::default()
            .script("r:1/x:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .script("r:1/x:2", vec![Attempt::SendThenHang(uploading())]),
    );
    let e2 = engine.clone();
    let r = run_with(
        &engine,
        &["r:1/x:1", "r:1/x:2"],
        policy(VerifyMode::None),
        Deadline::after(None),
        async move { e2.hung.notified().await },
    )
    .await;
    let e = r.error();
    assert_eq!(e.exit_code(), 130, "{e:?}");
    assert_eq!(
        e.message,
        "interrupted: completed r:1/x:1; not completed: r:1/x:2"
    );
    assert_eq!(r.target("r:1/x:1").status, Status::Pushed);
    let x2 = r.target("r:1/x:2");
    assert_eq!(x2.status, Status::Interrupted);
    assert_eq!(x2.kind, Some(Kind::Interrupted));
    assert_eq!(x2.error.as_deref(), Some("interrupted before it completed"));
    // Every target's end is reported once: the completed one as pushed, the other as
    // interrupted (not failed).
    assert_eq!(
        r.done,
        vec![
            format!("r:1/x:1: pushed {}, 512B uploaded", digest('a')),
            "r:1/x:2: interrupted".to_string(),
        ]
    );
    let v = serde_json::to_value(&r.result).unwrap();
    assert_eq!(v["targets"][1]["status"], "interrupted");
}

/// One target pushed as `digest('a')`, then verified in `mode` against `engine`'s answers.
async fn verify(mode: VerifyMode, engine: FakeEngine) -> (Run, Arc<FakeEngine>) {
    let engine = Arc::new(engine.script("r:1/x:1", vec![Attempt::Send(pushed("1", &digest('a')))]));
    (run(&engine, &["r:1/x:1"], policy(mode)).await, engine)
}

#[tokio::test]
async fn digest_verification_passes_when_the_registry_holds_the_pushed_digest() {
    let (r, engine) = verify(
        VerifyMode::Digest,
        FakeEngine::default().registry("r:1/x:1", Ok(digest('a'))),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    let v = &r.target("r:1/x:1").verification;
    assert_eq!(v.ok, Some(true));
    assert_eq!(v.detail, format!("registry holds {}", digest('a')));
    assert_eq!(engine.calls("registry"), 1);
    assert_eq!(engine.calls("pull"), 0);
}

#[tokio::test]
async fn digest_verification_fails_when_the_registry_holds_another_digest() {
    // '4','2','9' in the digest: no "429" in the message may pass for throttling.
    let other = format!("sha256:{}", "429".repeat(21) + "4");
    let (r, engine) = verify(
        VerifyMode::Digest,
        FakeEngine::default().registry("r:1/x:1", Ok(other.clone())),
    )
    .await;
    let e = r.error();
    assert_eq!(e.exit_code(), 5, "{e:?}");
    assert!(
        e.message.contains(&other) && e.message.contains(&digest('a')),
        "{e:?}"
    );
    let t = r.target("r:1/x:1");
    assert_eq!(t.status, Status::Pushed);
    assert_eq!(t.verification.ok, Some(false));
    assert_eq!(engine.calls("registry"), 1, "a mismatch is not retried");
}

#[tokio::test]
async fn an_unknown_manifest_at_verification_is_a_verification_failure() {
    let (r, _) = verify(
        VerifyMode::Digest,
        FakeEngine::default().registry(
            "r:1/x:1",
            Err(Error::new(
                Kind::NotFound,
                "manifest unknown: manifest unknown",
            )),
        ),
    )
    .await;
    let e = r.error();
    assert_eq!(e.exit_code(), 5, "not 4: the source image exists: {e:?}");
    assert!(e.message.contains("manifest unknown"), "{e:?}");
    assert_eq!(r.target("r:1/x:1").verification.ok, Some(false));
}

#[tokio::test]
async fn pull_verification_passes_when_the_pulled_image_is_the_source() {
    let by_digest = format!("r:1/x@{}", digest('a'));
    let (r, engine) = verify(
        VerifyMode::Pull,
        FakeEngine::default()
            .registry("r:1/x:1", Ok(digest('a')))
            .image(&by_digest, SOURCE_ID),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    let v = &r.target("r:1/x:1").verification;
    assert_eq!(v.ok, Some(true));
    assert!(v.detail.ends_with("image 505050505050"), "{v:?}");
    assert_eq!(engine.calls(&format!("pull {by_digest}")), 1);
}

#[tokio::test]
async fn pull_verification_fails_when_the_pulled_image_differs() {
    let by_digest = format!("r:1/x@{}", digest('a'));
    let (r, _) = verify(
        VerifyMode::Pull,
        FakeEngine::default()
            .registry("r:1/x:1", Ok(digest('a')))
            .image(&by_digest, &digest('c')),
    )
    .await;
    let e = r.error();
    assert_eq!(e.exit_code(), 5, "{e:?}");
    assert!(
        e.message
            .contains("gave image cccccccccccc but the source is 505050505050"),
        "{e:?}"
    );
    assert_eq!(r.target("r:1/x:1").verification.ok, Some(false));
}

/// A source in the containerd store: its ID is an index digest, its content that of `layers`.
fn containerd_source(layers: &[&str]) -> LocalImage {
    LocalImage {
        id: digest('1'),
        containerd: true,
        content: Content {
            diff_ids: layers.iter().map(|l| l.to_string()).collect(),
            os: "linux".into(),
            architecture: "amd64".into(),
            runtime: Default::default(),
        },
    }
}

#[tokio::test]
async fn containerd_store_pull_back_of_one_platform_compares_content() {
    // The daemon pushed one platform's manifest of the local index: the pulled image has the
    // manifest's digest as its ID, and the source's layers and config.
    let by_digest = format!("r:1/x@{}", digest('a'));
    let source = containerd_source(&["sha256:l1", "sha256:l2"]);
    let pulled = LocalImage {
        id: digest('a'),
        ..source.clone()
    };
    let (r, _) = verify(
        VerifyMode::Pull,
        FakeEngine::default()
            .source(source.clone())
            .registry("r:1/x:1", Ok(digest('a')))
            .local_image(&by_digest, pulled.clone()),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    let v = &r.target("r:1/x:1").verification;
    assert!(v.detail.contains("the same layers and config"), "{v:?}");

    // Other layers: not the source.
    let mut other = pulled.clone();
    other.content.diff_ids.pop();
    let (r, _) = verify(
        VerifyMode::Pull,
        FakeEngine::default()
            .source(source.clone())
            .registry("r:1/x:1", Ok(digest('a')))
            .local_image(&by_digest, other),
    )
    .await;
    assert_eq!(r.error().exit_code(), 5, "{:?}", r.error());
    assert!(
        r.error().message.contains("layers differ"),
        "{:?}",
        r.error()
    );

    // The graphdriver store: another ID is another image, whatever its content.
    let (r, _) = verify(
        VerifyMode::Pull,
        FakeEngine::default()
            .source(LocalImage {
                containerd: false,
                ..source
            })
            .registry("r:1/x:1", Ok(digest('a')))
            .local_image(&by_digest, pulled),
    )
    .await;
    assert_eq!(r.error().exit_code(), 5, "{:?}", r.error());
}

#[tokio::test]
async fn pull_verification_fails_when_the_pulled_image_is_not_listed() {
    let (r, _) = verify(
        VerifyMode::Pull,
        FakeEngine::default().registry("r:1/x:1", Ok(digest('a'))),
    )
    .await;
    assert_eq!(r.error().exit_code(), 5, "{:?}", r.error());
    assert!(r.error().message.contains("does not list it"));
}

#[tokio::test]
async fn verify_none_asks_the_registry_nothing() {
    let (r, engine) = verify(VerifyMode::None, FakeEngine::default()).await;
    assert_eq!(r.outcome, Ok(()));
    let v = &r.target("r:1/x:1").verification;
    assert_eq!((v.ok, v.detail.as_str()), (None, "not verified"));
    assert_eq!(engine.calls("registry"), 0);
}

fn blobs(read: u64) -> Blobs {
    Blobs {
        checked: 3,
        read,
        bytes_read: read * 1000,
    }
}

#[tokio::test]
async fn full_verification_reports_what_it_read() {
    let (r, engine) = verify(
        VerifyMode::Full,
        FakeEngine::default().checks(
            "r:1/x:1",
            vec![Checked {
                result: Ok("manifest, config and 2 layer(s) intact".into()),
                blobs: blobs(3),
            }],
        ),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    let v = &r.target("r:1/x:1").verification;
    assert_eq!(v.ok, Some(true));
    assert_eq!(v.blobs, Some(blobs(3)));
    assert_eq!(engine.calls(&format!("check r:1/x:1 {}", digest('a'))), 1);
    assert_eq!(engine.calls("registry"), 0, "not through the engine");
    assert_eq!(engine.calls("pull"), 0);
    let json = serde_json::to_value(&r.result).unwrap();
    assert_eq!(
        json["targets"][0]["verification"]["blobs"]["bytes_read"],
        3000
    );
}

#[tokio::test]
async fn a_corrupt_blob_fails_full_verification_with_exit_5() {
    let why = "layer blob sha256:bb: expected sha256 sha256:bb, found sha256:cc";
    let (r, engine) = verify(
        VerifyMode::Full,
        FakeEngine::default().checks(
            "r:1/x:1",
            vec![Checked {
                result: Err(Error::new(Kind::Verify, why)),
                blobs: blobs(2),
            }],
        ),
    )
    .await;
    let e = r.error();
    assert_eq!(e.exit_code(), 5, "{e:?}");
    assert!(e.message.contains(why), "{e:?}");
    let t = r.target("r:1/x:1");
    assert_eq!(t.status, Status::Pushed);
    assert_eq!(t.verification.ok, Some(false));
    assert_eq!(t.verification.detail, why);
    assert_eq!(t.verification.blobs, Some(blobs(2)));
    assert_eq!(engine.calls("check"), 1, "a mismatch is not retried");
}

#[tokio::test]
async fn a_registry_that_breaks_off_during_full_verification_is_asked_again() {
    let (r, engine) = verify(
        VerifyMode::Full,
        FakeEngine::default().checks(
            "r:1/x:1",
            vec![
                Checked {
                    result: Err(Error::new(Kind::Unreachable, "the registry r:1 broke off")),
                    blobs: blobs(1),
                },
                Checked {
                    result: Ok("intact".into()),
                    blobs: blobs(3),
                },
            ],
        ),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("check"), 2);
    assert_eq!(
        r.target("r:1/x:1").verification.blobs,
        Some(blobs(3)),
        "what the attempt that held read"
    );
}

fn held(c: char) -> Held {
    Held {
        digest: digest(c),
        size: 528,
        layers: 2,
    }
}

#[tokio::test]
async fn an_up_to_date_target_is_not_pushed_but_still_verified() {
    for mode in [VerifyMode::Digest, VerifyMode::Pull] {
        let engine = Arc::new(
            FakeEngine::default()
                .held("r:1/x:1", Ok(Some(held('a'))))
                .registry("r:1/x:1", Ok(digest('a'))),
        );
        let r = run(&engine, &["r:1/x:1"], policy(mode)).await;
        assert_eq!(r.outcome, Ok(()));
        assert_eq!(engine.calls("push"), 0);
        let t = r.target("r:1/x:1");
        assert_eq!(t.status, Status::UpToDate);
        assert_eq!(t.digest, Some(digest('a')));
        assert_eq!(t.size, Some(528));
        assert_eq!((t.layers.pushed, t.layers.existing), (0, 2));
        assert_eq!((t.bytes_pushed, t.attempts), (0, 0));
        assert_eq!(t.verification.ok, Some(true));
        // The up-to-date check proved more than the engine's digest or a pull-back of an
        // image it holds would: neither is asked.
        assert_eq!(engine.calls("registry r:1/x:1"), 0, "{mode:?}");
        assert_eq!(engine.calls("pull"), 0, "{mode:?}");
        assert_eq!(engine.calls("check"), 0, "{mode:?}");
        assert_eq!(
            r.done,
            vec![format!(
                "r:1/x:1: up-to-date {} (not pushed), verified (registry holds {}, with the \
                 source image's config and all 2 layer blob(s) present)",
                digest('a'),
                digest('a')
            )]
        );
        let v = serde_json::to_value(&r.result).unwrap();
        assert_eq!(v["targets"][0]["status"], "up-to-date");
    }
}

#[tokio::test]
async fn an_up_to_date_target_is_read_back_in_full() {
    let engine = Arc::new(
        FakeEngine::default()
            .held("r:1/x:1", Ok(Some(held('a'))))
            .checks(
                "r:1/x:1",
                vec![Checked {
                    result: Ok("every blob read back".into()),
                    blobs: blobs(2),
                }],
            ),
    );
    let r = run(&engine, &["r:1/x:1"], policy(VerifyMode::Full)).await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("push"), 0);
    assert_eq!(engine.calls("check"), 1);
    let t = r.target("r:1/x:1");
    assert_eq!(t.status, Status::UpToDate);
    assert_eq!(t.verification.detail, "every blob read back");
}

#[tokio::test]
async fn force_pushes_an_up_to_date_target() {
    let engine = Arc::new(
        FakeEngine::default()
            .held("r:1/x:1", Ok(Some(held('a'))))
            .script("r:1/x:1", vec![Attempt::Send(pushed("1", &digest('a')))]),
    );
    let p = Policy {
        force: true,
        ..policy(VerifyMode::None)
    };
    let r = run(&engine, &["r:1/x:1"], p).await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("held"), 0, "not even asked");
    assert_eq!(engine.calls("push"), 1);
    assert_eq!(r.target("r:1/x:1").status, Status::Pushed);
}

#[tokio::test]
async fn a_target_the_registry_lacks_or_cannot_answer_for_is_pushed() {
    let engine = Arc::new(
        FakeEngine::default()
            .held(
                "r:1/a:1",
                Err(Error::new(
                    Kind::Unreachable,
                    "cannot reach the registry r:1",
                )),
            )
            .held("r:1/b:1", Err(Error::new(Kind::Auth, "unauthorized")))
            .held("r:1/c:1", Ok(None))
            .script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .script("r:1/b:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .script("r:1/c:1", vec![Attempt::Send(pushed("1", &digest('a')))]),
    );
    let r = run(
        &engine,
        &["r:1/a:1", "r:1/b:1", "r:1/c:1"],
        policy(VerifyMode::None),
    )
    .await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("held"), 3);
    assert_eq!(engine.calls("push"), 3);
    for t in &r.result.targets {
        assert_eq!(t.status, Status::Pushed, "{t:?}");
        assert_eq!(t.attempts, 1, "{t:?}");
    }
}

#[tokio::test]
async fn an_up_to_date_target_that_fails_verification_exits_5() {
    let engine = Arc::new(
        FakeEngine::default()
            .held("r:1/x:1", Ok(Some(held('a'))))
            .checks(
                "r:1/x:1",
                vec![Checked {
                    result: Err(Error::new(Kind::Verify, "layer blob sha256:bb is missing")),
                    blobs: blobs(1),
                }],
            ),
    );
    let r = run(&engine, &["r:1/x:1"], policy(VerifyMode::Full)).await;
    assert_eq!(r.error().exit_code(), 5, "{:?}", r.error());
    assert_eq!(engine.calls("push"), 0);
    let t = r.target("r:1/x:1");
    assert_eq!(t.status, Status::UpToDate);
    assert_eq!(t.verification.ok, Some(false));
}

fn fanout(mode: Fanout) -> Policy {
    Policy {
        fanout: mode,
        ..policy(VerifyMode::None)
    }
}

const FOUR: [&str; 4] = ["r:1/a:1", "r:1/b:1", "q:2/a:1", "q:2/c:1"];

#[tokio::test]
async fn copy_pushes_the_first_target_and_copies_the_others_from_it() {
    let engine = Arc::new(
        FakeEngine::default().script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))]),
    );
    let r = run(&engine, &FOUR, fanout(Fanout::Copy)).await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("push"), 1, "one daemon push");
    let d = digest('a');
    // Within the first registry from the first target; the other registry's first target
    // from the first, its second from its first.
    assert_eq!(engine.calls(&format!("copy r:1/a:1 -> r:1/b:1 {d}")), 1);
    assert_eq!(engine.calls(&format!("copy r:1/a:1 -> q:2/a:1 {d}")), 1);
    assert_eq!(engine.calls(&format!("copy q:2/a:1 -> q:2/c:1 {d}")), 1);
    let via: Vec<Via> = r.result.targets.iter().map(|t| t.via).collect();
    assert_eq!(via, [Via::Daemon, Via::Mount, Via::Copy, Via::Mount]);
    for t in &r.result.targets {
        assert_eq!(t.status, Status::Pushed, "{t:?}");
        assert_eq!(
            t.digest.as_deref(),
            Some(d.as_str()),
            "the same digest everywhere"
        );
    }
    let q = r.target("q:2/a:1");
    assert_eq!(
        (q.layers.pushed, q.bytes_pushed, q.size),
        (3, 1000, Some(528))
    );
    let v = serde_json::to_value(&r.result).unwrap();
    assert_eq!(v["targets"][2]["via"], "copy");
    assert_eq!(v["targets"][1]["via"], "mount");
}

#[tokio::test]
async fn daemon_fanout_copies_nothing() {
    let engine = Arc::new(FAKE_PUSHES.iter().fold(FakeEngine::default(), |e, t| {
        e.script(t, vec![Attempt::Send(pushed("1", &digest('a')))])
    }));
    let r = run(&engine, &FOUR, fanout(Fanout::Daemon)).await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("push"), 4);
    assert_eq!(engine.calls("copy"), 0);
    assert_eq!(engine.calls("reachable"), 0);
}

const FAKE_PUSHES: [&str; 4] = FOUR;

#[tokio::test]
async fn auto_copies_across_repositories_reachable_from_here_only() {
    let scripted = || {
        FAKE_PUSHES.iter().fold(FakeEngine::default(), |e, t| {
            e.script(t, vec![Attempt::Send(pushed("1", &digest('a')))])
        })
    };
    // Several repositories, the first registry answers: copy.
    let engine = Arc::new(scripted());
    run(&engine, &FOUR, fanout(Fanout::Auto)).await;
    assert_eq!((engine.calls("push"), engine.calls("copy")), (1, 3));
    // The first registry does not answer from here (a remote daemon's network): the daemon.
    let engine = Arc::new(scripted().unreachable("r:1"));
    run(&engine, &FOUR, fanout(Fanout::Auto)).await;
    assert_eq!((engine.calls("push"), engine.calls("copy")), (4, 0));
    // One repository, several tags: the daemon writes only manifests for the later tags.
    let engine =
        Arc::new(scripted().script("r:1/a:2", vec![Attempt::Send(pushed("2", &digest('a')))]));
    run(&engine, &["r:1/a:1", "r:1/a:2"], fanout(Fanout::Auto)).await;
    assert_eq!((engine.calls("push"), engine.calls("copy")), (2, 0));
}

#[tokio::test]
async fn a_copy_that_cannot_be_done_from_here_falls_back_to_the_daemon() {
    let engine = Arc::new(
        FakeEngine::default()
            .script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .script("q:2/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .copies(
                "q:2/a:1",
                // The first attempt and both retries.
                vec![
                    Err(CopyFailed {
                        error: Error::new(Kind::Unreachable, "reading r:1/a:1: connection refused"),
                        fallback: true,
                    });
                    3
                ],
            ),
    );
    let r = run(&engine, &["r:1/a:1", "q:2/a:1"], fanout(Fanout::Copy)).await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("push q:2/a"), 1);
    let t = r.target("q:2/a:1");
    assert_eq!((t.status, t.via), (Status::Pushed, Via::Daemon));
    assert!(
        r.stages.iter().any(|s| s.contains(
            "copy failed (reading r:1/a:1: connection refused): pushing through the daemon"
        )),
        "{:?}",
        r.stages
    );
}

#[tokio::test]
async fn a_copy_refused_for_credentials_fails_without_a_daemon_push() {
    let engine = Arc::new(
        FakeEngine::default()
            .script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .copies(
                "q:2/a:1",
                vec![Err(CopyFailed {
                    error: Error::new(Kind::Auth, "unauthorized: authentication required"),
                    fallback: false,
                })],
            ),
    );
    let r = run(&engine, &["r:1/a:1", "q:2/a:1"], fanout(Fanout::Copy)).await;
    assert_eq!(r.error().exit_code(), 7, "partial: {:?}", r.error());
    assert_eq!(engine.calls("push"), 1);
    let t = r.target("q:2/a:1");
    assert_eq!(t.status, Status::Failed);
    assert_eq!(t.kind, Some(Kind::Auth));
    assert_eq!(t.attempts, 1, "not retried");
}

#[tokio::test]
async fn a_transient_copy_failure_is_retried() {
    let engine = Arc::new(
        FakeEngine::default()
            .script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .copies(
                "q:2/a:1",
                vec![Err(CopyFailed {
                    error: Error::new(Kind::Unreachable, "503 service unavailable"),
                    fallback: false,
                })],
            ),
    );
    let r = run(&engine, &["r:1/a:1", "q:2/a:1"], fanout(Fanout::Copy)).await;
    assert_eq!(r.outcome, Ok(()));
    let t = r.target("q:2/a:1");
    assert_eq!(
        (t.status, t.via, t.attempts),
        (Status::Pushed, Via::Copy, 2)
    );
}

#[tokio::test]
async fn when_the_first_target_fails_the_others_are_pushed_by_the_daemon() {
    let engine = Arc::new(
        FakeEngine::default()
            .script(
                "r:1/a:1",
                vec![Attempt::Refuse(Error::new(Kind::Auth, "unauthorized"))],
            )
            .script("q:2/a:1", vec![Attempt::Send(pushed("1", &digest('a')))]),
    );
    let r = run(&engine, &["r:1/a:1", "q:2/a:1"], fanout(Fanout::Copy)).await;
    assert_eq!(r.error().exit_code(), 7, "{:?}", r.error());
    assert_eq!(engine.calls("copy"), 0);
    assert_eq!(r.target("q:2/a:1").via, Via::Daemon);
    assert_eq!(r.target("q:2/a:1").status, Status::Pushed);
}

#[tokio::test]
async fn an_up_to_date_target_is_neither_copied_nor_pushed() {
    let engine = Arc::new(
        FakeEngine::default()
            .script("r:1/a:1", vec![Attempt::Send(pushed("1", &digest('a')))])
            .held("q:2/a:1", Ok(Some(held('a')))),
    );
    let r = run(&engine, &["r:1/a:1", "q:2/a:1"], fanout(Fanout::Copy)).await;
    assert_eq!(r.outcome, Ok(()));
    assert_eq!(engine.calls("copy"), 0);
    let t = r.target("q:2/a:1");
    assert_eq!((t.status, t.via), (Status::UpToDate, Via::UpToDate));
}
