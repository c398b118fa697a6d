//! End-to-end fan-out with `--fanout copy`: the first target pushed through the engine, every
//! other copied registry to registry (mounted within one registry), all with the first one's
//! digest; faults during a copy retried; a first target this machine cannot read falls back to
//! daemon pushes. Every registry here is a real one; a proxy counts requests and injects faults.

use crate::common::proxy::{BodyCut, Fault, FaultProxy, Kind};
use crate::common::*;

/// The targets' `field` values, in order.
fn column(doc: &serde_json::Value, field: &str) -> Vec<String> {
    doc["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| t[field].as_str().unwrap_or("-").to_string())
        .collect()
}

/// `docker-pushx --format json --progress plain ARGS SOURCE TARGETS...`
fn fan_out(s: &Scenario, args: &[&str], targets: &[String]) -> Run {
    let mut all = vec!["--format", "json", "--progress", "plain"];
    all.extend_from_slice(args);
    all.push(s.image_name());
    all.extend(targets.iter().map(String::as_str));
    s.pushx(&all)
}

fn split(reference: &str) -> (&str, &str, &str) {
    let (registry, rest) = reference.split_once('/').unwrap();
    let (repo, tag) = rest.rsplit_once(':').unwrap();
    (registry, repo, tag)
}

#[test]
fn copy_gives_every_target_on_three_registries_the_same_digest() {
    let auth = need!("PUSHX_TEST_AUTH_REGISTRY");
    let tls = need!("PUSHX_TEST_TLS_REGISTRY");
    let token = need!("PUSHX_TEST_TOKEN_REGISTRY");
    let s = Scenario::new()
        .login(&auth)
        .login(&tls)
        .login(&token)
        .image(&[("a", &random_bytes(300_000)), ("b", &random_bytes(200_000))]);
    let u = unique("e2e/fanout");
    let targets: Vec<String> = [
        format!("{auth}/{u}/a:1"),
        format!("{auth}/{u}/a:2"),
        format!("{auth}/{u}/b:1"),
        format!("{tls}/{u}/c:1"),
        format!("{token}/{u}/d:1"),
        format!("{token}/{u}/d:2"),
    ]
    .into();
    let r = fan_out(&s, &["--fanout", "copy", "--verify", "digest"], &targets);
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(
        column(&doc, "via"),
        ["daemon", "mount", "mount", "copy", "copy", "mount"],
        "{r:?}"
    );
    assert_eq!(column(&doc, "status"), ["pushed"; 6], "{r:?}");
    let digests = column(&doc, "digest");
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    for t in &targets {
        let (registry, repo, tag) = split(t);
        assert_eq!(
            held_digest(registry, repo, tag).as_deref(),
            Some(digests[0].as_str()),
            "{t} at the registry itself"
        );
    }
    // The copies carry every blob intact, read back in full from each registry.
    let mut verify = vec!["verify", "--mode", "full", "--format", "json"];
    verify.extend(targets.iter().map(String::as_str));
    let v = s.pushx(&verify);
    assert_eq!(v.code, 0, "{v:?}");
    // The copies' progress reads like uploads.
    assert!(r.stderr.contains("copying from"), "{r:?}");
}

#[test]
fn same_registry_targets_are_mounted_and_upload_nothing() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&reg);
    let s = Scenario::new().image(&[("a", &random_bytes(200_000)), ("b", &random_bytes(100_000))]);
    let u = unique("e2e/fanout-mount");
    let targets = vec![
        format!("{}/{u}/x:1", proxy.addr()),
        format!("{}/{u}/y:1", proxy.addr()),
    ];
    let r = fan_out(&s, &["--fanout", "copy", "--verify", "none"], &targets);
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(column(&doc, "via"), ["daemon", "mount"], "{r:?}");
    let y = &doc["targets"][1];
    assert_eq!(y["bytes_pushed"], 0, "{r:?}");
    assert_eq!(
        y["layers"]["mounted"], 2,
        "two layers (and the config): {r:?}"
    );
    assert_eq!(y["digest"], doc["targets"][0]["digest"]);
    let y_uploads: Vec<String> = proxy
        .log()
        .into_iter()
        .filter(|l| l.contains(&format!("/v2/{u}/y/blobs/uploads/")))
        .collect();
    assert_eq!(y_uploads.len(), 3, "three mount POSTs: {y_uploads:#?}");
    assert!(
        y_uploads
            .iter()
            .all(|l| l.starts_with("POST") && l.contains("mount=")),
        "{y_uploads:#?}"
    );
}

#[test]
fn a_5xx_on_a_copied_blob_upload_is_retried_and_lands() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    // The same registry under another name: to docker-pushx another registry, so the blobs
    // are streamed across, not mounted.
    let other = FaultProxy::start(&reg);
    other.fail_first(
        Kind::BlobUpload,
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    let s = Scenario::new().random_image(300_000);
    let u = unique("e2e/fanout-503");
    let targets = vec![
        format!("{reg}/{u}/a:1"),
        format!("{}/{u}/b:1", other.addr()),
    ];
    let r = fan_out(
        &s,
        &[
            "--fanout",
            "copy",
            "--verify",
            "digest",
            "--retry-delay",
            "100ms",
        ],
        &targets,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(column(&doc, "via"), ["daemon", "copy"], "{r:?}");
    assert_eq!(doc["targets"][1]["attempts"], 2, "{r:?}");
    assert_eq!(other.injected(), 1, "{:#?}", other.log());
    assert_eq!(
        held_digest(&reg, &format!("{u}/b"), "1"),
        doc["targets"][0]["digest"].as_str().map(String::from)
    );
}

#[test]
fn a_stalled_read_from_the_first_target_is_cut_and_the_copy_retried() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let primary = FaultProxy::start(&reg);
    primary.cut_blob_bodies(1, BodyCut::Stall { after: 100_000 });
    let s = Scenario::new().random_image(400_000);
    let u = unique("e2e/fanout-stall");
    let targets = vec![
        format!("{}/{u}/a:1", primary.addr()),
        format!("{reg}/{u}/b:1"),
    ];
    let r = fan_out(
        &s,
        &[
            "--fanout",
            "copy",
            "--verify",
            "digest",
            "--stall-timeout",
            "2s",
            "--retry-delay",
            "100ms",
        ],
        &targets,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(column(&doc, "via"), ["daemon", "copy"], "{r:?}");
    assert!(primary.injected() >= 1, "{:#?}", primary.log());
    // Never a manifest whose blobs are missing: the copy is whole, read back in full.
    let v = s.pushx(&["verify", "--mode", "full", &targets[1]]);
    assert_eq!(v.code, 0, "{v:?}");
}

#[test]
fn a_first_target_this_machine_cannot_read_falls_back_to_daemon_pushes() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    // The engine reaches the first target's registry; docker-pushx's own client does not.
    let primary = FaultProxy::start(&reg);
    primary.refuse_user_agent("docker-pushx");
    let s = Scenario::new().random_image(200_000);
    let u = unique("e2e/fanout-fallback");
    let targets = vec![
        format!("{}/{u}/a:1", primary.addr()),
        format!("{reg}/{u}/b:1"),
    ];
    let r = fan_out(
        &s,
        &[
            "--fanout",
            "copy",
            "--verify",
            "digest",
            "--retries",
            "1",
            "--retry-delay",
            "100ms",
        ],
        &targets,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(column(&doc, "via"), ["daemon", "daemon"], "{r:?}");
    assert_eq!(column(&doc, "status"), ["pushed", "pushed"], "{r:?}");
    assert!(r.stderr.contains("pushing through the daemon"), "{r:?}");
    // `auto` does not even try: the first registry does not answer from here.
    let again = fan_out(
        &s,
        &["--fanout", "auto", "--verify", "none", "--force"],
        &[targets[0].clone(), format!("{reg}/{u}/c:1")],
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        column(&again.json(), "via"),
        ["daemon", "daemon"],
        "{again:?}"
    );
    assert!(!again.stderr.contains("copy failed"), "{again:?}");
}

#[test]
fn a_copy_refused_for_credentials_exits_7_and_names_the_login() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    let auth = need!("PUSHX_TEST_AUTH_REGISTRY");
    // No login for the htpasswd registry.
    let s = Scenario::new().random_image(100_000);
    let u = unique("e2e/fanout-auth");
    let targets = vec![format!("{plain}/{u}/a:1"), format!("{auth}/{u}/b:1")];
    let r = fan_out(&s, &["--fanout", "copy", "--verify", "none"], &targets);
    assert_eq!(r.code, 7, "partial: {r:?}");
    let doc = r.json();
    assert_eq!(column(&doc, "status"), ["pushed", "failed"], "{r:?}");
    assert!(
        doc["targets"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("docker pushx login")),
        "{r:?}"
    );
}

#[test]
fn a_read_from_the_first_target_reset_midway_is_retried_and_the_manifest_comes_last() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let primary = FaultProxy::start(&reg);
    let target = FaultProxy::start(&reg);
    primary.cut_blob_bodies(1, BodyCut::Reset { after: 100_000 });
    let s = Scenario::new().random_image(400_000);
    let u = unique("e2e/fanout-reset");
    let targets = vec![
        format!("{}/{u}/a:1", primary.addr()),
        format!("{}/{u}/b:1", target.addr()),
    ];
    let r = fan_out(
        &s,
        &[
            "--fanout",
            "copy",
            "--verify",
            "digest",
            "--retry-delay",
            "100ms",
        ],
        &targets,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    assert_eq!(column(&doc, "via"), ["daemon", "copy"], "{r:?}");
    assert!(primary.injected() >= 1, "{:#?}", primary.log());
    // At the target: one manifest PUT, after every blob upload of the copy.
    let log = target.log();
    let puts: Vec<usize> = (0..log.len())
        .filter(|&i| log[i].starts_with("PUT") && log[i].contains("/manifests/"))
        .collect();
    assert_eq!(puts.len(), 1, "{log:#?}");
    let last_upload = (0..log.len())
        .rev()
        .find(|&i| log[i].contains("/blobs/uploads/"))
        .expect("blob uploads");
    assert!(last_upload < puts[0], "{log:#?}");
    let v = s.pushx(&["verify", "--mode", "full", &targets[1]]);
    assert_eq!(v.code, 0, "{v:?}");
}
