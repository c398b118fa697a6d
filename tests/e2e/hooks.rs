//! docker CLI hooks through the docker CLI 28: `docker pushx configure --hooks` declares them,
//! and on a terminal (under `script`, since the CLI runs hooks only when its stdout is one) a
//! `docker login` that leaves a plain-text login is followed by the `docker pushx import` hint,
//! a `docker push` by its `docker pushx verify` line, a failed command by nothing. The hook
//! itself, called directly with bad requests, prints nothing and exits 0.

use crate::common::{Config, PLUGIN, build_image, password, run, unique, user};
use std::path::Path;
use std::process::Command;

/// A PATH holding only the docker CLI: no `docker-credential-*` on it (docker would otherwise
/// pick the Secret Service helper as its default store, and `docker login` would leave no
/// plain-text login in config.json).
fn bare_path(dir: &Path) -> String {
    let docker = run(Command::new("sh").args(["-c", "command -v docker"]));
    assert_eq!(docker.code, 0, "no docker CLI: {docker:?}");
    let link = dir.join("docker");
    if !link.exists() {
        std::os::unix::fs::symlink(docker.stdout.trim(), &link).unwrap();
    }
    dir.display().to_string()
}

/// `sh -c LINE` on a pseudo-terminal, with this config, docker's hooks enabled by `enable`.
fn on_a_terminal(config: &Config, path: &str, line: &str, enable: bool) -> crate::common::Run {
    let script = run(Command::new("sh").args(["-c", "command -v script"]));
    assert_eq!(script.code, 0, "no script(1): {script:?}");
    let mut c = Command::new(script.stdout.trim());
    c.args(["-qec", line, "/dev/null"])
        .env("DOCKER_CONFIG", config.path())
        .env("PATH", path)
        .env("SHELL", "/bin/sh")
        .env("PUSHX_PW", password())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CLI_HINTS");
    if enable {
        c.env("DOCKER_CLI_HOOKS", "1");
    } else {
        c.env_remove("DOCKER_CLI_HOOKS");
    }
    run(&mut c)
}

fn configure_hooks(config: &Config) {
    let r = run(config.docker().args(["pushx", "configure", "--hooks"]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("DOCKER_CLI_HOOKS=1"), "{r:?}");
}

#[test]
fn configure_hooks_adds_and_removes_only_its_entry() {
    let config = Config::new();
    config.write(&serde_json::json!({
        "auths": { "reg.example.com": {} },
        "plugins": { "other": { "hooks": "build" }, "pushx": { "keep": "this" } },
        "zz-last": "stays last"
    }));
    configure_hooks(&config);
    let text = std::fs::read_to_string(config.file()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["plugins"]["pushx"]["hooks"], "login,push,image push");
    assert_eq!(v["plugins"]["pushx"]["keep"], "this");
    assert_eq!(v["plugins"]["other"]["hooks"], "build");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["auths", "plugins", "zz-last"], "key order kept");
    // Every value under `plugins` is a string: docker still reads the file.
    let r = run(config.docker().args(["pushx", "version"]));
    assert_eq!(r.code, 0, "{r:?}");
    // Already enabled in config.json: said so.
    let mut v = v;
    v["features"] = serde_json::json!({ "hooks": "true" });
    config.write(&v);
    let r = run(config
        .docker()
        .args(["pushx", "configure", "--hooks"])
        .env_remove("DOCKER_CLI_HOOKS"));
    assert!(
        r.stdout.contains("unchanged:") && r.stdout.contains("docker runs hooks here"),
        "{r:?}"
    );

    let r = run(config.docker().args(["pushx", "configure", "--no-hooks"]));
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config.file()).unwrap()).unwrap();
    assert_eq!(v["plugins"]["pushx"], serde_json::json!({ "keep": "this" }));
    assert_eq!(v["plugins"]["other"]["hooks"], "build");
    assert_eq!(
        v["features"]["hooks"], "true",
        "--no-hooks leaves docker's features alone"
    );
    let r = run(config.docker().args(["pushx", "configure", "--no-hooks"]));
    assert!(
        r.stdout.contains("is not set") && r.stdout.contains("unchanged:"),
        "{r:?}"
    );
    // Not with the credsStore options.
    let r = run(config
        .docker()
        .args(["pushx", "configure", "--hooks", "--undo"]));
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn login_then_push_show_the_next_step_and_a_failure_shows_none() {
    let auth_reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let t = tempfile::tempdir().unwrap();
    let path = bare_path(t.path());
    let config = Config::new();
    configure_hooks(&config);

    let login = format!(
        "printf %s \"$PUSHX_PW\" | docker login -u '{}' --password-stdin {auth_reg}",
        user()
    );
    // Hooks off: docker runs none.
    let r = on_a_terminal(&config, &path, &login, false);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("What's next"), "{r:?}");
    let r = on_a_terminal(&config, &path, &login, true);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Login Succeeded"), "{r:?}");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(config.file()).unwrap()).unwrap();
    assert!(
        cfg["auths"][&auth_reg]["auth"].is_string(),
        "a plain-text login: {cfg}"
    );
    assert!(r.stdout.contains("What's next"), "{r:?}");
    assert!(r.stdout.contains("docker pushx import"), "{r:?}");

    let name = unique("hooks");
    let reference = format!("{auth_reg}/{name}:1");
    build_image(&reference, &[("a", name.as_bytes())]);
    let r = on_a_terminal(&config, &path, &format!("docker push -q {reference}"), true);
    let _ = run(Command::new("docker").args(["rmi", &reference]));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains(&format!("docker pushx verify {reference}")),
        "{r:?}"
    );

    // A failed command (no such local image): nothing.
    let missing = format!("{auth_reg}/{name}-missing:1");
    let r = on_a_terminal(
        &config,
        &path,
        &format!("docker image push {missing}"),
        true,
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert!(
        !r.stdout.contains("What's next") && !r.stdout.contains("pushx"),
        "{r:?}"
    );
    // A failed login: nothing either, though config.json still holds the plain-text login.
    let bad = format!(
        "printf wrong | docker login -u '{}' --password-stdin {auth_reg}",
        user()
    );
    let r = on_a_terminal(&config, &path, &bad, true);
    assert_ne!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("What's next"), "{r:?}");
}

#[test]
fn no_hint_after_a_login_kept_by_a_helper() {
    let config = Config::new();
    config.write(&serde_json::json!({ "auths": { "reg.example.com": {} }, "credsStore": "pushx" }));
    let r = run(config.pushx().args([
        "pushx",
        "docker-cli-plugin-hooks",
        r#"{"RootCmd":"login","Flags":{"password-stdin":"true","username":""}}"#,
    ]));
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "", ""),
        "{r:?}"
    );
    config.with_login("reg.example.com");
    let r =
        run(config
            .pushx()
            .args(["pushx", "docker-cli-plugin-hooks", r#"{"RootCmd":"login"}"#]));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["Type"], 0);
    assert!(
        v["Template"]
            .as_str()
            .unwrap()
            .contains("docker pushx import"),
        "{r:?}"
    );
}

#[test]
fn bad_requests_print_nothing_and_exit_0() {
    let config = Config::new();
    config.with_login("reg.example.com");
    let hook = |arg: Option<&std::ffi::OsStr>| {
        let mut c = config.pushx();
        c.args(["pushx", "docker-cli-plugin-hooks"]);
        if let Some(a) = arg {
            c.arg(a);
        }
        run(&mut c)
    };
    let big = "x".repeat(10 << 20);
    // One argument is at most 128 KiB on Linux (MAX_ARG_STRLEN): the kernel refuses a 10 MB
    // one before the plugin starts, so the largest that can be passed is tried too.
    let spawn = Command::new(PLUGIN)
        .args(["pushx", "docker-cli-plugin-hooks", &big])
        .output();
    if let Ok(out) = &spawn {
        assert!(out.status.success() && out.stdout.is_empty() && out.stderr.is_empty());
    }
    let largest = format!(
        "{{\"RootCmd\":\"push\",\"x\":\"{}\"}}",
        "a".repeat(128 * 1024 - 40)
    );
    let not_utf8 = {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(b"{\"RootCmd\":\"push\xff\"}").to_owned()
    };
    let cases: Vec<Option<std::ffi::OsString>> = vec![
        None,
        Some("".into()),
        Some("not json".into()),
        Some("{".into()),
        Some("[]".into()),
        Some("null".into()),
        Some(r#"{"RootCmd":"image ls","Flags":{}}"#.into()),
        Some(r#"{"RootCmd":"nope"}"#.into()),
        Some(r#"{"RootCmd":7}"#.into()),
        Some(r#"{"RootCmd":"push","CommandError":"failed"}"#.into()),
        Some(largest.into()),
        Some(not_utf8),
    ];
    for case in cases {
        let r = hook(case.as_deref());
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, "", ""),
            "{:?}: {r:?}",
            case.map(|c| c.len())
        );
    }
}

/// The hook runs after every hooked command: no daemon, D-Bus or keyring connection, and no
/// file read but config.json (checked with strace, when it is there).
#[test]
fn the_hook_connects_to_nothing() {
    if run(Command::new("sh").args(["-c", "command -v strace"])).code != 0 {
        crate::common::note_skip("strace is not installed");
        return;
    }
    let config = Config::new();
    config.with_login("reg.example.com");
    for request in [r#"{"RootCmd":"login"}"#, r#"{"RootCmd":"push"}"#] {
        let log = config.path().join("strace.log");
        let r = run(Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=connect,socket,openat", "-o"])
            .arg(&log)
            .args([PLUGIN, "pushx", "docker-cli-plugin-hooks", request])
            .env("DOCKER_CONFIG", config.path()));
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stdout.contains("\"Type\":0"), "{r:?}");
        let trace = std::fs::read_to_string(&log).unwrap();
        assert!(
            !trace.contains("connect(") && !trace.contains("socket("),
            "{trace}"
        );
        let opened: Vec<&str> = trace
            .lines()
            .filter(|l| l.contains("openat(") && !l.contains("ENOENT"))
            .filter(|l| {
                !l.contains("/lib") && !l.contains("/proc/self") && !l.contains("/etc/ld.so")
            })
            .collect();
        assert!(
            opened
                .iter()
                .all(|l| l.contains("config.json") || l.contains("/sys/devices/system/cpu")),
            "{opened:#?}"
        );
    }
}
