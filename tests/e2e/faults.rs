//! End-to-end under injected faults: a proxy between the real engine and a real registry
//! misbehaves on demand; docker-pushx must still land the right digest within its retry
//! budget (or time out, for a stall), and report its attempts.

use crate::common::proxy::{Fault, FaultProxy, Kind};
use crate::common::*;
use std::time::{Duration, Instant};

struct Outcome {
    run: Run,
    doc: serde_json::Value,
    /// How long the push took (the image was built before it started).
    took: Duration,
    /// When it ended.
    ended: Instant,
}

/// A fresh image of 2 MB to push.
fn fresh_image() -> Scenario {
    Scenario::new().random_image(2_000_000)
}

/// Push a fresh image through `proxy` and check the registry behind it holds the result.
fn push_through(proxy: &FaultProxy, extra: &[&str]) -> (Outcome, String) {
    push_image_through(fresh_image(), proxy, extra)
}

/// Push the image of `s` through `proxy` and see what the registry behind it holds.
fn push_image_through(s: Scenario, proxy: &FaultProxy, extra: &[&str]) -> (Outcome, String) {
    let upstream = std::env::var("PUSHX_TEST_REGISTRY").unwrap();
    let mut args = vec!["--progress", "plain", "--verify", "digest"];
    args.extend_from_slice(extra);
    let t0 = Instant::now();
    let pushed = s.push_to(&proxy.addr(), &args);
    let took = t0.elapsed();
    let ended = Instant::now();
    let held = held_digest(&upstream, &pushed.repo, &pushed.tag).unwrap_or_default();
    let doc = pushed.try_json();
    let outcome = Outcome {
        run: pushed.run,
        doc,
        took,
        ended,
    };
    (outcome, held)
}

fn assert_landed(o: &Outcome, held: &str, attempts: u64, proxy: &FaultProxy) {
    let t = &o.doc["targets"][0];
    assert_eq!(o.run.code, 0, "{:?}\n{:#?}", o.run, proxy.log());
    assert_eq!(t["status"], "pushed");
    assert_eq!(t["attempts"], attempts, "{:?}", o.run);
    assert_eq!(
        t["digest"].as_str(),
        Some(held),
        "the registry holds what was pushed"
    );
    assert_eq!(t["verification"]["ok"], true);
    if attempts > 1 {
        assert!(
            o.run.stderr.contains("retrying in"),
            "each retry is visible: {:?}",
            o.run
        );
    }
}

#[test]
fn manifest_put_503_is_retried() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(
        Kind::ManifestPut,
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    let (o, held) = push_through(&proxy, &[]);
    assert_landed(&o, &held, 2, &proxy);
    assert_eq!(proxy.injected(), 1);
}

#[test]
fn manifest_put_500_twice_is_retried_twice() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(
        Kind::ManifestPut,
        2,
        Fault::Status {
            code: 500,
            retry_after: None,
        },
    );
    let (o, held) = push_through(&proxy, &["--retry-delay", "200ms"]);
    assert_landed(&o, &held, 3, &proxy);
}

#[test]
fn too_many_requests_on_a_blob_upload_is_retried() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(
        Kind::BlobUpload,
        1,
        Fault::Status {
            code: 429,
            retry_after: Some(1),
        },
    );
    let (o, held) = push_through(&proxy, &[]);
    assert_landed(&o, &held, 2, &proxy);
}

#[test]
fn blob_upload_503_is_absorbed() {
    // The engine itself retries a failed layer upload (after 5 s); the push lands in one attempt.
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(
        Kind::BlobUpload,
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    let (o, held) = push_through(&proxy, &[]);
    assert!(
        o.run.stderr.contains("retrying in"),
        "the engine's retry shows as a layer state: {:?}",
        o.run
    );
    assert_landed(&o, &held, 1, &proxy);
}

#[test]
fn ping_503_is_absorbed() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(
        Kind::Ping,
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    let (o, held) = push_through(&proxy, &[]);
    assert_landed(&o, &held, 1, &proxy);
}

#[test]
fn a_registry_that_is_restarting_is_waited_for() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    // The image is built first: the refusal window (3 s from the proxy's start) must hold
    // the push, not the build.
    let s = fresh_image();
    let window = Instant::now();
    let proxy = FaultProxy::start_refusing_for(&reg, Duration::from_secs(3));
    let (o, held) = push_image_through(s, &proxy, &["--retries", "5"]);
    assert_eq!(o.run.code, 0, "{:?}", o.run);
    let attempts = o.doc["targets"][0]["attempts"].as_u64().unwrap();
    assert!(attempts >= 2, "connection refused at first: {:?}", o.run);
    assert_landed(&o, &held, attempts, &proxy);
    // It kept trying until the registry was back: the push ended after the window did.
    let waited = o.ended - window;
    assert!(waited >= Duration::from_secs(3), "{waited:?}: {:?}", o.run);
}

#[test]
fn a_connection_reset_mid_upload_is_recovered() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(Kind::BlobPatch, 1, Fault::Reset);
    let (o, held) = push_through(&proxy, &[]);
    assert_eq!(proxy.injected(), 1);
    let attempts = o.doc["targets"][0]["attempts"].as_u64().unwrap_or(0);
    assert_landed(&o, &held, attempts, &proxy);
}

#[test]
fn a_stalled_manifest_write_is_cut_and_retried() {
    // (A stalled *layer* upload cannot be retried this way: the engine shares one upload per
    // layer between pushes, so a new attempt waits on the same stuck request; see below.)
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(Kind::ManifestPut, 1, Fault::Stall);
    let (o, held) = push_through(&proxy, &["--stall-timeout", "2s", "--retry-delay", "200ms"]);
    assert!(o.run.stderr.contains("no progress for 2s"), "{:?}", o.run);
    assert_landed(&o, &held, 2, &proxy);
}

#[test]
fn a_stall_that_persists_times_out_with_exit_6() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(Kind::BlobPatch, 100, Fault::Stall);
    let (o, held) = push_through(
        &proxy,
        &[
            "--stall-timeout",
            "2s",
            "--retries",
            "1",
            "--retry-delay",
            "100ms",
        ],
    );
    assert_eq!(o.run.code, 6, "{:?}", o.run);
    assert!(o.took < Duration::from_secs(15), "{:?}", o.took);
    assert_eq!(o.doc["targets"][0]["attempts"], 2);
    let err = o.doc["targets"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("no progress for 2s while waiting for"),
        "{err}"
    );
    assert!(
        o.run.stderr.contains(
            &o.doc["targets"][0]["reference"]
                .as_str()
                .unwrap()
                .to_string()
        ),
        "names the target"
    );
    assert!(held.is_empty(), "nothing landed");
}

#[test]
fn permanent_failures_are_not_retried() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(
        Kind::ManifestPut,
        5,
        Fault::Status {
            code: 401,
            retry_after: None,
        },
    );
    let (o, _) = push_through(&proxy, &["--retry-delay", "100ms"]);
    assert_eq!(o.run.code, 3, "{:?}", o.run);
    assert_eq!(o.doc["targets"][0]["attempts"], 1, "{:?}", o.run);
    assert_eq!(proxy.injected(), 1);
}
