//! End-to-end: bad input gets one line naming the problem, its exit code, no panic, and
//! nothing half-written on stdout.

use crate::common::*;

#[test]
fn invalid_references_exit_2_before_touching_the_daemon() {
    let cfg = Config::new();
    let long = format!("r:5000/x:{}", "a".repeat(129));
    let cases: Vec<Vec<String>> = vec![
        vec!["app:1".into(), "r:5000/Upper/x:1".into()],
        vec!["app:1".into(), "r:5000/x:bad tag".into()],
        vec!["app:1".into(), "r:5000/x:-dash".into()],
        vec!["app:1".into(), long],
        vec![
            "app:1".into(),
            "r:5000/x@sha256:a8e61ef5f1e28e10edde979325c2a924fc1776a9e6f095fb900f16ae983e5aa7"
                .into(),
        ],
        vec!["app:1".into(), "".into()],
        vec!["".into(), "r:5000/x:1".into()],
        vec!["app:1".into()],
        vec![
            "app:1".into(),
            "r:5000/x".into(),
            "-t".into(),
            "no/slash".into(),
        ],
        vec!["--verify".into(), "maybe".into(), "app:1".into()],
        vec!["--no-such-flag".into(), "app:1".into()],
        vec![
            "--jobs".into(),
            "0".into(),
            "app:1".into(),
            "r:5000/x".into(),
        ],
        vec![],
    ];
    for args in cases {
        // A daemon address that cannot answer proves the check came first.
        let r = run(cfg
            .pushx()
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .args(&args));
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{args:?}: {r:?}");
        assert_one_line_error(&r);
    }
}

#[test]
fn an_unknown_source_exits_4() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let cfg = Config::new();
    let r = run(cfg
        .pushx()
        .args(["no-such-image-here:1", &format!("{reg}/e2e/x")]));
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stdout.is_empty());
    assert_one_line_error(&r);
    assert!(r.stderr.contains("no-such-image-here:1"), "{r:?}");
}

#[test]
fn no_daemon_at_the_socket_exits_6() {
    let cfg = Config::new();
    for host in ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"] {
        let r = run(cfg.pushx().args(["-H", host, "pushx", "app:1", "r:5000/x"]));
        assert_eq!(r.code, 6, "{r:?}");
        assert!(r.stdout.is_empty());
        assert_one_line_error(&r);
        assert!(r.stderr.contains("cannot reach the docker daemon"), "{r:?}");
    }
    let r = run(cfg
        .pushx()
        .args(["-H", "ssh://me:pw@host", "pushx", "app:1", "r:5000/x"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert_one_line_error(&r);
    let r = run(cfg
        .pushx()
        .args(["--context", "nope", "pushx", "app:1", "r:5000/x"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert_one_line_error(&r);
    // Commands that need no daemon do not care about a bad endpoint.
    let r = run(cfg.pushx().args([
        "-H",
        "ssh://me:pw@host",
        "pushx",
        "configure",
        "--registry",
        "r.example",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let r = run(cfg
        .pushx()
        .args(["-H", "ssh://me:pw@host", "pushx", "doctor"]));
    assert_eq!(r.code, 1, "doctor found a problem: {r:?}");
    assert!(
        r.stdout.contains("ssh"),
        "doctor names the endpoint problem: {r:?}"
    );
}

#[test]
fn a_registry_that_is_down_exits_6() {
    let down = need!("PUSHX_TEST_DOWN_REGISTRY");
    let pushed = Scenario::new()
        .random_image(1_000)
        .push_to(&down, &["--progress", "quiet"]);
    let r = &pushed.run;
    assert_eq!(r.code, 6, "{r:?}");
    assert_eq!(pushed.target(0)["status"], "failed", "{r:?}");
    assert_one_line_error(r);
    assert!(
        r.stderr.contains("connection refused") && r.stderr.contains(&down),
        "{r:?}"
    );
}

#[test]
fn wrong_or_missing_credentials_exit_3() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let src = unique("pushx-badauth");
    build_image(&format!("{src}:1"), &[("f", &random_bytes(1_000))]);
    // No login at all.
    let cfg = Config::new();
    let r = run(cfg.pushx().args([
        "--progress",
        "quiet",
        &format!("{src}:1"),
        &format!("{reg}/e2e/x"),
    ]));
    assert_eq!(r.code, 3, "{r:?}");
    assert_one_line_error(&r);
    assert!(
        r.stderr.contains("docker pushx login"),
        "the error names the fix: {r:?}"
    );
    // A wrong password.
    use base64::Engine;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:wrong-password", user()));
    cfg.write(&serde_json::json!({"auths": {&reg: {"auth": auth}}}));
    let before = std::fs::read(cfg.file()).unwrap();
    let r = run(cfg.pushx().args([
        "--format",
        "json",
        "--progress",
        "quiet",
        &format!("{src}:1"),
        &format!("{reg}/e2e/x"),
    ]));
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.json()["targets"][0]["status"], "failed");
    assert!(!r.stderr.contains("wrong-password") && !r.stdout.contains("wrong-password"));
    assert_eq!(
        std::fs::read(cfg.file()).unwrap(),
        before,
        "config.json untouched"
    );
}

#[test]
fn a_malformed_config_json_is_refused_and_left_alone() {
    let cfg = Config::new();
    std::fs::write(cfg.file(), b"{\"auths\": {").unwrap();
    let r = run(cfg.pushx().args(["app:1", "r:5000/x"]));
    assert_eq!(r.code, 1, "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stderr.contains("config.json"), "{r:?}");
    assert_eq!(std::fs::read(cfg.file()).unwrap(), b"{\"auths\": {");
}

#[test]
fn help_works_like_dockers() {
    let cfg = Config::new();
    for (args, says) in [
        (&["help"][..], "Usage:  docker pushx [OPTIONS] SOURCE"),
        (&["help", "login"][..], "Usage:  docker pushx login"),
        (&["help", "doctor"][..], "Usage:  docker pushx doctor"),
    ] {
        // No daemon is needed to print help.
        let r = run(cfg
            .pushx()
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .args(args));
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert!(r.stdout.contains(says), "{args:?}: {r:?}");
        assert!(r.stderr.is_empty(), "{args:?}: {r:?}");
    }
    // Through the docker CLI and its plugin protocol.
    for (args, says) in [
        (
            &["pushx", "help", "login"][..],
            "Usage:  docker pushx login",
        ),
        (&["pushx", "help"][..], "Usage:  docker pushx [OPTIONS]"),
        (&["help", "pushx"][..], "Usage:  docker pushx [OPTIONS]"),
        (
            &["pushx", "login", "--help"][..],
            "Usage:  docker pushx login",
        ),
    ] {
        let r = run(cfg.docker().args(args));
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert!(r.stdout.contains(says), "{args:?}: {r:?}");
    }
    let r = run(cfg.pushx().args(["help", "lgoin"]));
    assert_eq!(r.code, 2, "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stderr.contains("did you mean \"login\"?"), "{r:?}");
}

#[test]
fn a_misspelled_command_is_named() {
    let cfg = Config::new();
    // Taken for SOURCE with no target, or with a flag only the command has: usage errors.
    for args in [
        &["lgoin"][..],
        &["doctr"][..],
        &["lgoin", "reg.example", "-u", "me"][..],
    ] {
        let r = run(cfg
            .pushx()
            .env("DOCKER_HOST", "unix:///nonexistent.sock")
            .args(args));
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert_one_line_error(&r);
        assert!(r.stderr.contains("did you mean \""), "{args:?}: {r:?}");
    }
    // With a target, SOURCE is looked up first: no such image (exit 4), and the hint.
    let reg = need!("PUSHX_TEST_REGISTRY");
    let r = run(cfg.pushx().args(["lgoin", &format!("{reg}/e2e/x")]));
    assert_eq!(r.code, 4, "{r:?}");
    assert_one_line_error(&r);
    assert!(
        r.stderr
            .contains("no local image \"lgoin\": did you mean \"login\"?"),
        "{r:?}"
    );
    // A name that is no command's misspelling gets the usual advice.
    let r = run(cfg
        .pushx()
        .args(["no-such-image-here:1", &format!("{reg}/e2e/x")]));
    assert!(!r.stderr.contains("did you mean"), "{r:?}");
}
