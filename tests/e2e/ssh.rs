//! `ssh://` daemons: the plugin runs `ssh … docker system dial-stdio` for each connection, here
//! against the real sshd tests/env.sh starts on loopback, whose `docker` reaches the test engine.
//! `ssh` is the wrapper in `$PUSHX_TEST_SSH_BIN` (OpenSSH reads ~/.ssh/config from the passwd
//! entry, not $HOME: the wrapper adds `-F` with the run's config). Host aliases in that config
//! pick the key (`pushx-ok-*`, `pushx-refused-*`, `pushx-nodocker-*`, `pushx-unknown-*`); each
//! test names a host of its own, so it can look for ssh processes it left behind.

use crate::common::*;
use std::process::Command;
use std::time::{Duration, Instant};

struct Ssh {
    path: String,
    port: String,
}

fn ssh_env() -> Option<Ssh> {
    let bin = env_or_skip("PUSHX_TEST_SSH_BIN")?;
    let port = env_or_skip("PUSHX_TEST_SSH_PORT")?;
    Some(Ssh {
        path: format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()),
        port,
    })
}

/// A host alias no other test uses, for the `pushx-KIND-*` blocks of the ssh config.
fn alias(kind: &str) -> String {
    unique(&format!("pushx-{kind}"))
}

/// The ssh client processes whose command line holds `marker`, once those that are ending have
/// had 5 s to go.
fn ssh_left(marker: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| {
                let cmdline = std::fs::read(e.ok()?.path().join("cmdline")).ok()?;
                let argv: Vec<String> = cmdline
                    .split(|b| *b == 0)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                let is_ssh = argv.first()?.rsplit('/').next() == Some("ssh");
                (is_ssh && argv.iter().any(|a| a.contains(marker))).then(|| argv.join(" "))
            })
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_no_ssh_left(marker: &str) {
    let left = ssh_left(marker);
    assert!(left.is_empty(), "ssh processes left behind: {left:?}");
}

/// A context as `docker context create NAME --docker host=HOST` makes it, through the real CLI.
fn create_context(cfg: &Config, name: &str, host: &str) {
    let r = run(cfg.docker().args([
        "context",
        "create",
        name,
        "--docker",
        &format!("host={host}"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn a_push_through_an_ssh_host_flag_and_docker_host() {
    let Some(ssh) = ssh_env() else { return };
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().random_image(20_000);
    let src = s.image_name().to_string();
    // -l and -p from the URL: ssh://root@127.0.0.1:PORT, through the docker CLI's -H.
    let host = format!("ssh://root@127.0.0.1:{}", ssh.port);
    let repo = unique("e2e/ssh-flag");
    let r = run(s.config().docker().env("PATH", &ssh.path).args([
        "-H",
        &host,
        "pushx",
        "--format",
        "json",
        &src,
        &format!("{reg}/{repo}"),
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    let digest = r.json()["targets"][0]["digest"].as_str().map(String::from);
    assert!(digest.is_some(), "{r:?}");
    assert_eq!(
        held_digest(&reg, &repo, "1"),
        digest,
        "the registry holds it"
    );
    assert_no_ssh_left(&format!("-p {}", ssh.port));
    assert_no_ssh_left(&ssh.port);

    // DOCKER_HOST, the plugin on its own, a host alias from the ssh config.
    let a = alias("ok");
    let repo = unique("e2e/ssh-env");
    let r = run(s
        .config()
        .pushx()
        .env("PATH", &ssh.path)
        .env("DOCKER_HOST", format!("ssh://{a}"))
        .args(["-q", &src, &format!("{reg}/{repo}")]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.starts_with(&format!("{reg}/{repo}:1@sha256:")),
        "{r:?}"
    );
    assert_no_ssh_left(&a);
}

#[test]
fn verify_through_an_ssh_context() {
    let Some(ssh) = ssh_env() else { return };
    let reg = need!("PUSHX_TEST_REGISTRY");
    let a = alias("ok");
    let cfg = Config::new();
    let ctx = unique("ssh-ctx");
    create_context(&cfg, &ctx, &format!("ssh://root@{a}"));
    let s = Scenario::with_config(cfg).random_image(10_000);
    let src = s.image_name().to_string();
    let target = format!("{reg}/{}:1", unique("e2e/ssh-ctx"));
    let r = run(s.config().docker().env("PATH", &ssh.path).args([
        "--context",
        &ctx,
        "pushx",
        "-q",
        &src,
        &target,
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    // --source reads the local image ID from the daemon, through the context's ssh endpoint.
    let r = run(s.config().docker().env("PATH", &ssh.path).args([
        "--context",
        &ctx,
        "pushx",
        "verify",
        "--format",
        "json",
        "--source",
        &src,
        &target,
    ]));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.json()["targets"][0]["verification"]["mode"],
        "full",
        "{r:?}"
    );
    assert_no_ssh_left(&a);
}

#[test]
fn login_is_checked_by_the_engine_behind_ssh() {
    let Some(ssh) = ssh_env() else { return };
    let reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    let a = alias("ok");
    let host = format!("ssh://{a}");
    let cfg = Config::new();
    // A wrong password: the engine's /auth (reached over ssh) refuses it; nothing is stored.
    let r = run_with_stdin(
        cfg.pushx().env("PATH", &ssh.path).args([
            "-H",
            &host,
            "pushx",
            "login",
            &reg,
            "-u",
            &user(),
            "--password-stdin",
        ]),
        Some(b"not-the-password"),
    );
    assert_eq!(r.code, 3, "{r:?}");
    assert_one_line_error(&r);
    // The right one, kept in a Secret Service of this test's own (a login under a registry name
    // other tests use would change where their pushes find credentials).
    let data = tempfile::tempdir().unwrap();
    let script = "printf pushx-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; sleep 1; \
        printf '%s' \"$PW\" | \"$0\" -H \"$SSH_HOST\" pushx login \"$REG\" -u \"$USER_NAME\" --password-stdin --store secret-service \
        && \"$0\" pushx logins && \"$0\" pushx logout \"$REG\"";
    let mut c = Command::new("dbus-run-session");
    c.env("XDG_DATA_HOME", data.path())
        .env("DOCKER_CONFIG", cfg.path())
        .env_remove("DOCKER_HOST")
        .env("PATH", &ssh.path)
        .env("PW", password())
        .env("SSH_HOST", &host)
        .env("REG", &reg)
        .env("USER_NAME", user())
        .args(["--", "sh", "-c", script, PLUGIN]);
    let r = run(&mut c);
    stop_keyring_daemons(data.path());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Login Succeeded"), "{r:?}");
    assert!(r.stdout.contains(&reg), "listed by logins: {r:?}");
    assert!(!r.stdout.contains(&password()) && !r.stderr.contains(&password()));
    assert_no_ssh_left(&a);
}

/// gnome-keyring-daemon outlives its D-Bus session: stop the ones started with `data` as their
/// XDG_DATA_HOME (only this test's).
fn stop_keyring_daemons(data: &std::path::Path) {
    let want = format!("XDG_DATA_HOME={}", data.display());
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.starts_with("gnome-keyring") && env.split(|b| *b == 0).any(|v| v == want.as_bytes())
        {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// `docker -H ssh://HOST pushx SOURCE TARGET` that must fail: exit 6, one line.
fn failing_push(ssh: &Ssh, host: &str) -> Run {
    let reg = std::env::var("PUSHX_TEST_REGISTRY").unwrap_or_else(|_| "127.0.0.1:1".into());
    let cfg = Config::new();
    let r = run(cfg.docker().env("PATH", &ssh.path).args([
        "-H",
        host,
        "pushx",
        "--progress",
        "quiet",
        "some-image:1",
        &format!("{reg}/e2e/never"),
    ]));
    assert_eq!(r.code, 6, "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stdout.is_empty(), "{r:?}");
    r
}

#[test]
fn a_host_that_refuses_the_key_exits_6_with_the_reason() {
    let Some(ssh) = ssh_env() else { return };
    let a = alias("refused");
    let r = failing_push(&ssh, &format!("ssh://{a}"));
    assert!(r.stderr.contains("Permission denied (publickey)"), "{r:?}");
    assert!(r.stderr.contains("authorized_keys"), "the fix: {r:?}");
    assert_no_ssh_left(&a);
}

#[test]
fn an_unknown_host_key_a_missing_remote_docker_and_no_ssh_are_named() {
    let Some(ssh) = ssh_env() else { return };
    let a = alias("unknown");
    let r = failing_push(&ssh, &format!("ssh://{a}"));
    assert!(r.stderr.contains("Host key verification failed"), "{r:?}");
    assert!(r.stderr.contains("known_hosts"), "the fix: {r:?}");
    assert_no_ssh_left(&a);

    let a = alias("nodocker");
    let r = failing_push(&ssh, &format!("ssh://{a}"));
    assert!(r.stderr.contains("docker: not found"), "{r:?}");
    assert!(
        r.stderr.contains("install the docker CLI"),
        "the fix: {r:?}"
    );
    assert_no_ssh_left(&a);

    // No ssh on PATH at all (the plugin alone: the docker CLI itself is on PATH).
    let cfg = Config::new();
    let r = run(cfg.pushx().env("PATH", "/nonexistent").args([
        "-H",
        "ssh://pushx-ok-nossh",
        "pushx",
        "some-image:1",
        "127.0.0.1:1/e2e/never",
    ]));
    assert_eq!(r.code, 6, "{r:?}");
    assert_one_line_error(&r);
    assert!(r.stderr.contains("no ssh program on PATH"), "{r:?}");
}
