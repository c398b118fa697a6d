//! End-to-end `docker pushx --dry-run` against the real registries: it changes nothing (no tag
//! in the engine, nothing in the registry, no file in the docker config), it tells a fresh
//! image from one already pushed on each kind of registry (plain, htpasswd, bearer token),
//! and a wrong password, a registry that is down and a missing source end with the codes the
//! push would end with.

use crate::common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// `docker-pushx --dry-run --format json SOURCE TARGET...` in the scenario's config.
fn dry_run(s: &Scenario, targets: &[&str]) -> Run {
    let mut args = vec!["--dry-run", "--format", "json", s.image_name()];
    args.extend_from_slice(targets);
    s.pushx(&args)
}

/// Every file under `dir` with its contents: what a run could have written.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn is_local_image(name: &str) -> bool {
    run(std::process::Command::new("docker").args(["image", "inspect", name])).code == 0
}

#[test]
fn a_fresh_image_is_planned_and_nothing_changes() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().random_image(20_000);
    let repo = unique("e2e/dry");
    let target = format!("{reg}/{repo}:1");
    let before = snapshot(s.config().path());
    let r = dry_run(&s, &[&target]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    assert_eq!(v["dry_run"], true, "{r:?}");
    assert_eq!(v["image_id"], image_id(s.image_name()), "{r:?}");
    let t = &v["targets"][0];
    assert_eq!(t["reference"], target.as_str());
    assert_eq!(t["status"], "planned", "{r:?}");
    assert_eq!(t["credential_source"], "anonymous");
    assert_eq!(t["plan"]["registry"], reg.as_str());
    assert_eq!(t["plan"]["registry_reachable"], true, "{r:?}");
    assert_eq!(t["plan"]["push_allowed"], true, "{r:?}");
    assert_eq!(t["plan"]["up_to_date"], false, "{r:?}");
    assert!(t["digest"].is_null(), "{r:?}");
    // Nothing tagged, pushed or written.
    assert!(!is_local_image(&target), "the target was tagged: {r:?}");
    assert_eq!(held_digest(&reg, &repo, "1"), None, "something was pushed");
    assert_eq!(
        snapshot(s.config().path()),
        before,
        "the config dir changed"
    );
    // The table.
    let r = s.pushx(&["--dry-run", s.image_name(), &target]);
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("TARGET")
            && lines[0].contains("REGISTRY REACHABLE")
            && lines[0].contains("CREDENTIALS")
            && lines[0].contains("PUSH ALLOWED")
            && lines[0].ends_with("UP TO DATE"),
        "{r:?}"
    );
    assert!(
        lines[1].contains("anonymous") && lines[1].ends_with(" no"),
        "{r:?}"
    );
    assert!(!is_local_image(&target), "{r:?}");
}

/// After a push, the pushed tag is up to date (with the digest the push reported) and another
/// tag of the same repository is not; push is granted with the test user's login.
fn up_to_date_on(registry: &str, credential_source: &str, how: &str) {
    let s = Scenario::new().login(registry).random_image(30_000);
    let pushed = s.push_to(registry, &["--verify", "digest"]);
    pushed.assert_landed();
    let digest = pushed.target(0)["digest"].clone();
    let same = format!("{}:{}", pushed.name(), pushed.tag);
    let fresh = format!("{}:other", pushed.name());
    let before = snapshot(s.config().path());
    let r = dry_run(&s, &[&same, &fresh]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    let (a, b) = (&v["targets"][0], &v["targets"][1]);
    assert_eq!(a["status"], "up-to-date", "{r:?}");
    assert_eq!(a["plan"]["up_to_date"], true, "{r:?}");
    assert_eq!(a["digest"], digest, "{r:?}");
    assert_eq!(b["status"], "planned", "{r:?}");
    assert_eq!(b["plan"]["up_to_date"], false, "{r:?}");
    for t in [a, b] {
        assert_eq!(t["credential_source"], credential_source, "{r:?}");
        assert_eq!(t["plan"]["registry_reachable"], true, "{r:?}");
        assert_eq!(t["plan"]["push_allowed"], true, "{r:?}");
        assert!(t["plan"]["detail"].as_str().unwrap().contains(how), "{r:?}");
    }
    assert_eq!(pushed.held("other"), None, "the dry run pushed");
    assert_eq!(
        snapshot(s.config().path()),
        before,
        "the config dir changed"
    );
    // The password is nowhere in what it printed.
    assert!(
        !r.stdout.contains(&password()) && !r.stderr.contains(&password()),
        "{r:?}"
    );
}

#[test]
fn an_already_pushed_image_is_up_to_date_on_a_plain_registry() {
    up_to_date_on(
        &need!("PUSHX_TEST_REGISTRY"),
        "docker-config",
        "asks for no credentials",
    );
}

#[test]
fn an_already_pushed_image_is_up_to_date_on_an_htpasswd_registry() {
    up_to_date_on(
        &need!("PUSHX_TEST_AUTH_REGISTRY"),
        "docker-config",
        "accepts the login (Basic)",
    );
}

#[test]
fn an_already_pushed_image_is_up_to_date_on_a_token_registry() {
    up_to_date_on(
        &need!("PUSHX_TEST_TOKEN_REGISTRY"),
        "docker-config",
        "the token grants push",
    );
}

#[test]
fn a_wrong_password_exits_3() {
    for var in ["PUSHX_TEST_AUTH_REGISTRY", "PUSHX_TEST_TOKEN_REGISTRY"] {
        let reg = need!(var);
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:wrong", user()));
        let s = Scenario::new()
            .config_json(serde_json::json!({"auths": {reg.as_str(): {"auth": auth}}}))
            .random_image(5_000);
        let target = format!("{reg}/{}:1", unique("e2e/dry"));
        let r = dry_run(&s, &[&target]);
        assert_eq!(r.code, 3, "{var}: {r:?}");
        let t = &r.json()["targets"][0];
        assert_eq!(t["status"], "failed", "{var}: {r:?}");
        assert_eq!(t["plan"]["registry_reachable"], true, "{var}: {r:?}");
        assert_eq!(t["plan"]["push_allowed"], false, "{var}: {r:?}");
        assert_eq!(t["credential_source"], "docker-config", "{var}: {r:?}");
        assert!(t["error"].as_str().unwrap().contains("login"), "{r:?}");
        assert_one_line_error(&r);
        assert!(!is_local_image(&target), "{r:?}");
    }
}

#[test]
fn no_login_on_an_htpasswd_registry_exits_3() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let s = Scenario::new().random_image(5_000);
    let r = dry_run(&s, &[&format!("{reg}/{}:1", unique("e2e/dry"))]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["targets"][0]["credential_source"], "anonymous");
}

#[test]
fn an_unreachable_registry_exits_6_and_mixed_exits_7() {
    let down = need!("PUSHX_TEST_DOWN_REGISTRY");
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().random_image(5_000);
    let start = Instant::now();
    let r = dry_run(&s, &[&format!("{down}/e2e/any:1")]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "{r:?}");
    let t = &r.json()["targets"][0];
    assert_eq!(t["status"], "failed", "{r:?}");
    assert_eq!(t["plan"]["registry_reachable"], false, "{r:?}");
    assert!(t["plan"]["push_allowed"].is_null(), "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stderr.contains(&down), "{r:?}");

    let ok = format!("{reg}/{}:1", unique("e2e/dry"));
    let r = dry_run(&s, &[&ok, &format!("{down}/e2e/any:1")]);
    assert_eq!(r.code, 7, "{r:?}");
    let v = r.json();
    assert_eq!(v["targets"][0]["status"], "planned", "{r:?}");
    assert_eq!(v["targets"][1]["status"], "failed", "{r:?}");
    assert!(!is_local_image(&ok), "{r:?}");
}

#[test]
fn a_missing_source_exits_4() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().source(&format!("{}:1", unique("pushx-e2e-none")));
    let r = dry_run(&s, &[&format!("{reg}/e2e/none:1")]);
    assert_eq!(r.code, 4, "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stdout.is_empty(), "{r:?}");
}

#[test]
fn the_push_flags_still_parse() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().random_image(5_000);
    let target = format!("{reg}/{}", unique("e2e/dry"));
    let r = s.pushx(&[
        "--dry-run",
        "-t",
        "extra",
        "--jobs",
        "2",
        "--verify",
        "digest",
        "--retries",
        "1",
        "--retry-delay",
        "1s",
        "--stall-timeout",
        "30s",
        "--timeout",
        "1m",
        "--progress",
        "plain",
        "--keep-tags",
        "--format",
        "json",
        s.image_name(),
        &target,
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = r.json();
    let refs: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, [format!("{target}:1"), format!("{target}:extra")]);
    assert!(!is_local_image(&format!("{target}:1")), "{r:?}");
    assert!(!is_local_image(&format!("{target}:extra")), "{r:?}");
    let r = s.pushx(&["--dry-run", "-q", s.image_name(), &target]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
}
