//! End-to-end: the built plugin against the real Docker engine and real registries.

use crate::common::*;

fn target(t: &serde_json::Value, i: usize) -> &serde_json::Value {
    &t["targets"][i]
}

#[test]
fn fresh_push_then_a_related_image_reuses_layers() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let base = random_bytes(300_000);
    let a = Scenario::new().image(&[("base", &base), ("app", &random_bytes(100_000))]);
    let first = a.push_to(&reg, &["--progress", "plain"]);
    let r = &first.run;
    first.assert_landed();
    let doc = first.json();
    let t = target(&doc, 0);
    assert_eq!(t["reference"], format!("{}:1", first.name()));
    assert_eq!(t["layers"]["pushed"], 2, "{r:?}");
    assert_eq!(t["layers"]["existing"], 0);
    assert!(t["bytes_pushed"].as_u64().unwrap() >= 400_000, "{r:?}");
    assert_eq!(t["credential_source"], "anonymous");
    assert_eq!(doc["image_id"], image_id(a.image_name()));
    // Plain progress: one line per layer state change, never a line per byte.
    assert!(r.stderr.lines().any(|l| l.ends_with(": pushed")), "{r:?}");
    assert!(r.stderr.lines().count() < 40, "{r:?}");

    // A second image sharing the base layer, to the same repository: only the new layer travels.
    let b = Scenario::new().image(&[("base", &base), ("other", &random_bytes(50_000))]);
    let second = b.push_as(&format!("{}:2", first.name()), &[]);
    let r = &second.run;
    second.assert_landed();
    let t = second.target(0);
    assert_eq!(t["layers"]["pushed"], 1, "{r:?}");
    assert_eq!(t["layers"]["existing"], 1, "{r:?}");
    let bytes = t["bytes_pushed"].as_u64().unwrap();
    assert!(
        (50_000..300_000).contains(&bytes),
        "only the new layer is uploaded: {bytes}"
    );
}

#[test]
fn several_targets_and_tags_at_once() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let auth_reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let cfg = Config::new();
    cfg.with_login(&auth_reg);
    let src = unique("pushx-multi");
    build_image(&format!("{src}:2.3.0"), &[("f", &random_bytes(64_000))]);
    let r1 = unique("e2e/multi-a");
    let r2 = unique("e2e/multi-b");
    let r = run(cfg.pushx().args([
        "--format",
        "json",
        "--progress",
        "json",
        &format!("{src}:2.3.0"),
        &format!("{reg}/{r1}"),
        &format!("{auth_reg}/{r2}:stable"),
        "-t",
        "2.3",
        "-t",
        "latest",
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    let refs: Vec<&str> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        refs,
        vec![
            format!("{reg}/{r1}:2.3.0"),
            format!("{reg}/{r1}:2.3"),
            format!("{reg}/{r1}:latest"),
            format!("{auth_reg}/{r2}:stable"),
            format!("{auth_reg}/{r2}:2.3"),
            format!("{auth_reg}/{r2}:latest"),
        ]
    );
    let digest = target(&doc, 0)["digest"].as_str().unwrap();
    for (i, t) in doc["targets"].as_array().unwrap().iter().enumerate() {
        assert_eq!(t["status"], "pushed");
        assert_eq!(t["digest"], digest, "same image, same manifest");
        let (registry, repo, tag, auth) = if i < 3 {
            (&reg, &r1, ["2.3.0", "2.3", "latest"][i], false)
        } else {
            (&auth_reg, &r2, ["stable", "2.3", "latest"][i - 3], true)
        };
        assert_eq!(
            registry_digest(registry, repo, tag, auth, false).as_deref(),
            Some(digest),
            "{registry}/{repo}:{tag}"
        );
        if i >= 3 {
            assert_eq!(t["credential_source"], "docker-config");
        }
    }
    // The extra tags only write a manifest: no layer travels twice.
    assert_eq!(target(&doc, 1)["layers"]["pushed"], 0);
    // JSON progress: every stderr line is a JSON event.
    for line in r.stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v["type"].is_string());
    }
}

#[test]
fn verify_modes() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().random_image(10_000);
    for (mode, want_ok) in [
        ("none", serde_json::Value::Null),
        ("digest", true.into()),
        ("pull", true.into()),
    ] {
        let pushed = s.push_to(&reg, &["--verify", mode]);
        pushed.assert_landed();
        let v = &pushed.target(0)["verification"];
        assert_eq!(v["mode"], mode);
        assert_eq!(v["ok"], want_ok, "{:?}", pushed.run);
    }
    // --verify pull leaves the image pullable by digest on this daemon. The engine drops a
    // repository's digest reference with its last tag, so the tag is kept here.
    let repo = unique("e2e/verify-pull-check");
    let r = s.pushx(&[
        "-q",
        "--keep-tags",
        s.image_name(),
        &format!("{reg}/{repo}"),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let line = r.stdout.trim();
    assert!(
        line.starts_with(&format!("{reg}/{repo}:1@sha256:")),
        "{r:?}"
    );
    let by_digest = format!("{reg}/{repo}@{}", line.rsplit('@').next().unwrap());
    assert_eq!(image_id(&by_digest), image_id(s.image_name()));
}

#[test]
fn quiet_means_no_progress_unless_asked_for() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().random_image(200_000);
    // As `docker push -q`: the REFERENCE@DIGEST line on stdout, nothing on stderr.
    let repo = unique("e2e/quiet");
    let r = s.pushx(&[
        "-q",
        "--verify",
        "digest",
        s.image_name(),
        &format!("{reg}/{repo}"),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    assert!(
        r.stdout.starts_with(&format!("{reg}/{repo}:1@sha256:")),
        "{r:?}"
    );
    assert!(r.stderr.is_empty(), "no progress with -q: {r:?}");
    // --progress given explicitly still shows progress next to -q.
    let repo = unique("e2e/quiet-progress");
    let r = s.pushx(&[
        "-q",
        "--progress",
        "plain",
        "--verify",
        "digest",
        s.image_name(),
        &format!("{reg}/{repo}"),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout.lines().count(), 1, "{r:?}");
    assert!(
        r.stderr.lines().any(|l| l.contains(": pushed sha256:")),
        "{r:?}"
    );
}

#[test]
fn a_registry_qualified_source_is_pushed_as_it_is() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let cfg = Config::new();
    let repo = unique("e2e/as-is");
    let name = format!("{reg}/{repo}:v1");
    build_image(&name, &[("f", &random_bytes(5_000))]);
    let r = run(cfg.pushx().args(["-q", "--verify", "digest", &name]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with(&format!("{name}@sha256:")), "{r:?}");
    assert!(registry_digest(&reg, &repo, "v1", false, false).is_some());
}

#[test]
fn through_the_docker_cli_with_global_flags() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let cfg = Config::new();
    let src = unique("pushx-cli");
    build_image(&format!("{src}:1"), &[("f", &random_bytes(5_000))]);
    let repo = unique("e2e/cli");
    let r = run(cfg.docker().args([
        "--config",
        cfg.path().to_str().unwrap(),
        "-D",
        "-l",
        "info",
        "-H",
        "unix:///var/run/docker.sock",
        "pushx",
        "--verify",
        "digest",
        "-q",
        &format!("{src}:1"),
        &format!("{reg}/{repo}"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with(&format!("{reg}/{repo}:1@sha256:")),
        "{r:?}"
    );

    // --context default as well.
    let repo2 = unique("e2e/cli-ctx");
    let r = run(cfg.docker().args([
        "--context",
        "default",
        "pushx",
        "-q",
        &format!("{src}:1"),
        &format!("{reg}/{repo2}"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");

    let help = run(cfg.docker().args(["pushx", "--help"]));
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("--verify"), "{help:?}");
    let help = run(cfg.docker().args(["help", "pushx"]));
    assert_eq!(help.code, 0, "{help:?}");
    assert!(help.stdout.contains("SOURCE"), "{help:?}");
    let list = run(cfg.docker().args(["--help"]));
    assert!(
        list.stdout.contains("pushx"),
        "the CLI lists the plugin: {list:?}"
    );

    // Exit codes pass through the CLI.
    let r = run(cfg
        .docker()
        .args(["pushx", "nope-does-not-exist:1", &format!("{reg}/{repo}")]));
    assert_eq!(r.code, 4, "{r:?}");
}

#[test]
fn metadata_is_instant_and_matches_the_crate() {
    let cfg = Config::new();
    let r = run(cfg
        .pushx()
        .arg("docker-cli-plugin-metadata")
        .env("DOCKER_HOST", "unix:///nonexistent"));
    assert_eq!(r.code, 0);
    let v = r.json();
    assert_eq!(v["SchemaVersion"], "0.1.0");
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["Vendor"], "docker-pushx");
}

#[test]
fn a_tls_tcp_daemon_endpoint() {
    let host = need!("PUSHX_TEST_DOCKER_TLS_HOST");
    let certs = need!("PUSHX_TEST_DOCKER_CERT_PATH");
    let reg = need!("PUSHX_TEST_REGISTRY");
    let cfg = Config::new();
    let src = unique("pushx-tcp");
    build_image(&format!("{src}:1"), &[("f", &random_bytes(5_000))]);
    // Flags, as docker passes them.
    let repo = unique("e2e/tcp-flags");
    let r = run(cfg.pushx().args([
        "--tlsverify",
        "--tlscacert",
        &format!("{certs}/ca.pem"),
        "--tlscert",
        &format!("{certs}/cert.pem"),
        "--tlskey",
        &format!("{certs}/key.pem"),
        "-H",
        &host,
        "pushx",
        "-q",
        &format!("{src}:1"),
        &format!("{reg}/{repo}"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    // Environment, as a shell would set it.
    let repo = unique("e2e/tcp-env");
    let r = run(cfg
        .pushx()
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", &certs)
        .args(["-q", &format!("{src}:1"), &format!("{reg}/{repo}")]));
    assert_eq!(r.code, 0, "{r:?}");
    // Without the client certificate the daemon refuses the connection.
    let r = run(cfg
        .pushx()
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", "/nonexistent")
        .args([
            "--progress",
            "quiet",
            &format!("{src}:1"),
            &format!("{reg}/{repo}"),
        ]));
    assert_ne!(r.code, 0, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
    assert_one_line_error(&r);

    // A named context pointing at the TLS endpoint, with its TLS files.
    let ctx = unique("ctx");
    let id = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(ctx.as_bytes()))
    };
    let meta = cfg.path().join("contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({"Name": ctx, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}}).to_string(),
    )
    .unwrap();
    let tls = cfg.path().join("contexts/tls").join(&id).join("docker");
    std::fs::create_dir_all(&tls).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(format!("{certs}/{f}"), tls.join(f)).unwrap();
    }
    let repo = unique("e2e/tcp-context");
    let r = run(cfg.docker().args([
        "--context",
        &ctx,
        "pushx",
        "-q",
        &format!("{src}:1"),
        &format!("{reg}/{repo}"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn credentials_with_awkward_characters_reach_the_registry() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    assert!(
        password().contains('>') && password().contains('?'),
        "the test password must exercise base64url"
    );
    let s = Scenario::new().login(&reg).random_image(5_000);
    let pushed = s.push_to(&reg, &[]);
    pushed.assert_landed();
    assert_eq!(pushed.target(0)["credential_source"], "docker-config");
    let r = &pushed.run;
    assert!(!r.stdout.contains(&password()) && !r.stderr.contains(&password()));

    // DOCKER_AUTH_CONFIG takes precedence over config.json.
    use base64::Engine;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user(), password()));
    let pushed = Scenario::new()
        .source(s.image_name())
        .env(
            "DOCKER_AUTH_CONFIG",
            serde_json::json!({"auths": {&reg: {"auth": auth}}}).to_string(),
        )
        .push_to(&reg, &[]);
    pushed.assert_landed();
    assert_eq!(pushed.target(0)["credential_source"], "docker-auth-config");
}

#[test]
fn a_tls_registry_with_auth() {
    let reg = need!("PUSHX_TEST_TLS_REGISTRY");
    Scenario::new()
        .login(&reg)
        .random_image(5_000)
        .push_to(&reg, &[])
        .assert_landed();
}

#[test]
fn credentials_from_a_credential_helper() {
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    // The Go secretservice helper, on the test session's unlocked keyring.
    let stored = run_with_stdin(
        std::process::Command::new("docker-credential-secretservice").arg("store"),
        Some(
            serde_json::json!({"ServerURL": reg, "Username": user(), "Secret": password()})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(stored.code, 0, "{stored:?}");
    let pushed = Scenario::new()
        .config_json(serde_json::json!({"credHelpers": {&reg: "secretservice"}}))
        .random_image(5_000)
        .push_to(&reg, &[]);
    pushed.assert_landed();
    assert_eq!(
        pushed.target(0)["credential_source"],
        "helper:secretservice"
    );
}

#[test]
fn partial_failure_exits_7_and_reports_each_target() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let down = need!("PUSHX_TEST_DOWN_REGISTRY");
    let s = Scenario::new().random_image(5_000);
    let ok = unique("e2e/partial");
    let r = &s.pushx(&[
        "--format",
        "json",
        "--progress",
        "quiet",
        s.image_name(),
        &format!("{reg}/{ok}"),
        &format!("{down}/x/y"),
    ]);
    assert_eq!(r.code, 7, "{r:?}");
    let doc = r.json();
    assert_eq!(target(&doc, 0)["status"], "pushed");
    assert_eq!(target(&doc, 1)["status"], "failed");
    assert!(
        target(&doc, 1)["error"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{r:?}"
    );
    assert_one_line_error(r);
}

/// Whether the engine has an image or tag called `name`.
fn exists_locally(name: &str) -> bool {
    let r =
        run(std::process::Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", name]));
    r.code == 0
}

#[test]
fn tags_made_only_to_push_are_removed_afterwards() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let down = need!("PUSHX_TEST_DOWN_REGISTRY");
    let s = Scenario::new().random_image(10_000);
    let src = s.image_name().to_string();
    let (ra, rb) = (unique("e2e/untag-a"), unique("e2e/untag-b"));
    let (a, b) = (format!("{reg}/{ra}:1"), format!("{reg}/{rb}:1"));
    let r = s.pushx(&["--format", "json", "--progress", "quiet", &src, &a, &b]);
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    for (i, (name, repo)) in [(&a, &ra), (&b, &rb)].into_iter().enumerate() {
        assert!(!exists_locally(name), "{name} was removed: {r:?}");
        assert_eq!(
            held_digest(&reg, repo, "1").as_deref(),
            target(&doc, i)["digest"].as_str(),
            "{name} landed"
        );
    }
    assert!(exists_locally(&src), "the source stays");

    // --keep-tags keeps them; a tag the user had before the run is always kept.
    let c = format!("{reg}/{}:1", unique("e2e/untag-c"));
    let r = s.pushx(&["--progress", "quiet", "--keep-tags", &src, &c]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(exists_locally(&c), "--keep-tags: {r:?}");
    let e = format!("{reg}/{}:1", unique("e2e/untag-e"));
    let r = s.pushx(&["--progress", "quiet", &src, &c, &e]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        exists_locally(&c),
        "a tag that existed before the run stays: {r:?}"
    );
    assert!(!exists_locally(&e), "{r:?}");

    // A failed push removes its tags too.
    let f = format!("{down}/{}:1", unique("e2e/untag-f"));
    let r = s.pushx(&["--progress", "quiet", "--retries", "0", &src, &f]);
    assert_eq!(r.code, 6, "{r:?}");
    assert!(!exists_locally(&f), "{r:?}");
    assert!(exists_locally(&src));
    let _ = run(std::process::Command::new("docker").args(["rmi", &c]));
}

#[test]
fn a_host_that_does_not_exist_fails_at_once_with_a_spelling_hint() {
    need!("PUSHX_TEST_REGISTRY");
    // RFC 6761: no name under .invalid resolves; the engine's resolver answers NXDOMAIN.
    let s = Scenario::new().random_image(1_000);
    let started = std::time::Instant::now();
    let r = s.pushx(&[
        "--format",
        "json",
        "--progress",
        "quiet",
        "--retry-delay",
        "5s",
        s.image_name(),
        "reg.pushx-test.invalid/x:1",
    ]);
    let took = started.elapsed();
    assert_eq!(r.code, 6, "{r:?}");
    let t = &r.json()["targets"][0];
    assert_eq!(t["attempts"], 1, "not retried: {r:?}");
    let error = t["error"].as_str().unwrap_or_default();
    assert!(error.contains("no such host"), "{r:?}");
    assert!(error.contains("check the spelling"), "{r:?}");
    // A retry would wait at least 3.75 s first.
    assert!(
        took < std::time::Duration::from_secs(3),
        "took {took:?}: {r:?}"
    );
    assert!(!exists_locally("reg.pushx-test.invalid/x:1"), "{r:?}");
}
