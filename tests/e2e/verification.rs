//! End-to-end verification outcomes: the push lands, then the registry (through the fault
//! proxy) or the local tag says something else than what was pushed. Each must end in exit 5,
//! `status: "pushed"` with `verification.ok: false`, and a message that says what differed.

use crate::common::proxy::{AfterPut, FaultProxy, Kind};
use crate::common::scenario::Pushed;
use crate::common::*;

/// A repository of the test's own, holding a different image under the tag `other` (pushed
/// straight to the registry, not through the proxy). Returns the repository and that digest.
fn repo_with_another_image(upstream: &str) -> (String, String) {
    let repo = unique("e2e/verify");
    let other = Scenario::new()
        .random_image(20_000)
        .push_as(&format!("{upstream}/{repo}:other"), &["--verify", "none"]);
    other.expect(0);
    let digest = other.target(0)["digest"].as_str().unwrap().to_string();
    (repo, digest)
}

/// The run failed verification only: exit 5, the target pushed, `verification` false in
/// `mode`, and the message (the target's error, the verification's detail, stderr) contains
/// every one of `names`.
fn assert_verification_failed(pushed: &Pushed, mode: &str, names: &[&str], proxy: &FaultProxy) {
    let r = &pushed.run;
    assert_eq!(r.code, 5, "{r:?}\nproxy: {:#?}", proxy.log());
    let t = pushed.target(0);
    assert_eq!(t["status"], "pushed", "{r:?}");
    assert_eq!(t["verification"]["mode"], mode, "{r:?}");
    assert_eq!(t["verification"]["ok"], false, "{r:?}");
    let error = t["error"].as_str().unwrap_or_default();
    let detail = t["verification"]["detail"].as_str().unwrap_or_default();
    assert!(error.starts_with("verification failed: "), "{r:?}");
    for name in names {
        for (what, text) in [("error", error), ("detail", detail), ("stderr", &r.stderr)] {
            assert!(text.contains(name), "the {what} names {name}: {r:?}");
        }
    }
}

/// The tag is moved to another image right after the engine wrote it.
fn a_moved_tag_fails(mode: &str) {
    let upstream = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&upstream);
    let (repo, found) = repo_with_another_image(&upstream);
    proxy.after_tag_put(&repo, "1", AfterPut::ServedAs("other".into()));
    let s = Scenario::new().random_image(20_000);
    let pushed = s.push_as(&format!("{}/{repo}:1", proxy.addr()), &["--verify", mode]);
    let digest = pushed.try_json()["targets"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(digest.starts_with("sha256:"), "{:?}", pushed.run);
    assert_ne!(digest, found, "two different images");
    assert_eq!(
        held_digest(&upstream, &repo, "1").as_deref(),
        Some(digest.as_str()),
        "the push itself landed"
    );
    assert!(
        proxy.injected() >= 1,
        "the verification read the tag through the proxy: {:#?}",
        proxy.log()
    );
    assert_verification_failed(&pushed, mode, &[&digest, &found], &proxy);
}

#[test]
fn a_tag_moved_after_the_push_fails_digest_verification() {
    a_moved_tag_fails("digest");
}

#[test]
fn a_tag_moved_after_the_push_fails_pull_verification() {
    a_moved_tag_fails("pull");
}

#[test]
fn pull_verification_is_the_default() {
    let upstream = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&upstream);
    let (repo, found) = repo_with_another_image(&upstream);
    proxy.after_tag_put(&repo, "1", AfterPut::ServedAs("other".into()));
    let pushed = Scenario::new()
        .random_image(20_000)
        .push_as(&format!("{}/{repo}:1", proxy.addr()), &[]);
    let digest = pushed.try_json()["targets"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_verification_failed(&pushed, "pull", &[&digest, &found], &proxy);
}

#[test]
fn a_manifest_unknown_at_verification_exits_5_not_4() {
    // "manifest unknown" is a not-found answer, like a missing source image (exit 4); after a
    // push it means the registry lost what it accepted.
    let upstream = need!("PUSHX_TEST_REGISTRY");
    for mode in ["digest", "pull"] {
        let proxy = FaultProxy::start(&upstream);
        let repo = unique("e2e/verify-unknown");
        proxy.after_tag_put(&repo, "1", AfterPut::Unknown);
        let pushed = Scenario::new()
            .random_image(20_000)
            .push_as(&format!("{}/{repo}:1", proxy.addr()), &["--verify", mode]);
        let digest = pushed.try_json()["targets"][0]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            held_digest(&upstream, &repo, "1").as_deref(),
            Some(digest.as_str()),
            "the push itself landed: {:?}",
            pushed.run
        );
        assert_verification_failed(&pushed, mode, &["manifest unknown"], &proxy);
    }
}

#[test]
fn a_local_tag_moved_during_the_push_fails_pull_verification() {
    // The source's tag is moved to another image after docker-pushx read its ID but before the
    // engine resolved what to push (the engine pings the registry first): the registry then
    // holds, consistently, the other image, and only pulling it back shows it is not the source.
    let upstream = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&upstream);
    let repo = unique("e2e/verify-local");
    let target = format!("{}/{repo}:1", proxy.addr());
    let other = Scenario::new().random_image(20_000);
    let other_name = other.image_name().to_string();
    let other_id = image_id(&other_name);
    let s = Scenario::new().random_image(20_000);
    let source_id = image_id(s.image_name());
    let moved = target.clone();
    proxy.before_next(Kind::Ping, move || {
        let r = run(std::process::Command::new("docker").args(["tag", &other_name, &moved]));
        assert_eq!(r.code, 0, "{r:?}");
    });
    let pushed = s.push_as(&target, &["--verify", "pull"]);
    let short = |id: &str| id.trim_start_matches("sha256:")[..12].to_string();
    assert_verification_failed(
        &pushed,
        "pull",
        &[&short(&other_id), &short(&source_id)],
        &proxy,
    );
    // The tag did move before the push: the registry holds what the engine pushed.
    let digest = pushed.target(0)["digest"].as_str().unwrap().to_string();
    assert_eq!(held_digest(&upstream, &repo, "1"), Some(digest));
}
