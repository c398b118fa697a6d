//! The hostile-input catalogue: one table of bad inputs across every command and the helper.
//! Each must give its documented exit code, a one-line error naming the problem, no panic,
//! and leave config.json byte-identical and the stored logins unchanged.

use crate::common::*;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

#[derive(Clone, Copy)]
enum Bin {
    Plugin,
    Helper,
}

#[derive(Clone, Copy, PartialEq)]
enum ConfigFile {
    /// `{"auths": {}}`, a valid file.
    Valid,
    Malformed,
    Binary,
    Directory,
    /// config.json is a symlink to a malformed file.
    SymlinkToMalformed,
    /// `DOCKER_CONFIG` points where nothing can be written (procfs).
    Unwritable,
    Custom(&'static str),
}

struct Case {
    name: &'static str,
    bin: Bin,
    args: Vec<OsString>,
    env: Vec<(&'static str, String)>,
    stdin: Option<Vec<u8>>,
    config: ConfigFile,
    code: i32,
    /// A word the error must contain.
    says: &'static str,
}

fn s(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn case(name: &'static str, args: &[&str], code: i32, says: &'static str) -> Case {
    Case {
        name,
        bin: Bin::Plugin,
        args: s(args),
        env: vec![],
        stdin: None,
        config: ConfigFile::Valid,
        code,
        says,
    }
}

fn helper_case(name: &'static str, args: &[&str], stdin: &[u8], says: &'static str) -> Case {
    Case {
        name,
        bin: Bin::Helper,
        args: s(args),
        env: vec![],
        stdin: Some(stdin.to_vec()),
        config: ConfigFile::Valid,
        code: 1,
        says,
    }
}

/// `text` followed by a Latin-1 "é", a byte that is not UTF-8.
fn latin1(text: &str) -> OsString {
    let mut bytes = text.as_bytes().to_vec();
    bytes.push(0xe9);
    OsStr::from_bytes(&bytes).to_os_string()
}

/// A unix socket that answers every connection with a line that is not HTTP.
fn not_a_daemon(dir: &std::path::Path) -> String {
    let path = dir.join("not-a-daemon.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            use std::io::Write;
            let _ = conn.write_all(b"hello, I am not a daemon\n");
        }
    });
    format!("unix://{}", path.display())
}

#[test]
fn hostile_inputs() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let auth_reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let down = need!("PUSHX_TEST_DOWN_REGISTRY");
    need!("PUSHX_TEST_SECRET_SERVICE");
    let src = unique("pushx-hostile");
    build_image(&format!("{src}:1"), &[("f", &random_bytes(1_000))]);
    let src1 = format!("{src}:1");
    let scratch = tempfile::tempdir().unwrap();
    let fake_daemon = not_a_daemon(scratch.path());
    let t = format!("{reg}/e2e/hostile");

    // A login that must survive every case unchanged.
    let sentinel = format!("{}.example", unique("sentinel"));
    let stored = run_with_stdin(
        Command::new(HELPER).arg("store"),
        Some(
            serde_json::json!({"ServerURL": sentinel, "Username": "keep", "Secret": "keep-me"})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(stored.code, 0, "{stored:?}");

    use base64::Engine;
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("{}:wrong", user()));
    let wrong_cfg: &'static str = Box::leak(
        serde_json::json!({"auths": {&auth_reg: {"auth": wrong}}})
            .to_string()
            .into_boxed_str(),
    );
    let missing_helper_cfg: &'static str = Box::leak(
        serde_json::json!({"credHelpers": {&auth_reg: "nosuchhelper"}})
            .to_string()
            .into_boxed_str(),
    );
    let long_tag = format!("{t}:{}", "a".repeat(129));
    let big = vec![b'x'; 10 * 1024 * 1024];

    let mut cases = vec![
        // References and flags: refused before the daemon is asked anything.
        case(
            "uppercase repository",
            &[&src1, &format!("{reg}/Team/App:1")],
            2,
            "lowercase",
        ),
        case(
            "bad tag characters",
            &[&src1, &format!("{t}:bad!tag")],
            2,
            "tag",
        ),
        case("tag over 128 characters", &[&src1, &long_tag], 2, "128"),
        case(
            "digest as target",
            &[
                &src1,
                &format!(
                    "{t}@sha256:a8e61ef5f1e28e10edde979325c2a924fc1776a9e6f095fb900f16ae983e5aa7"
                ),
            ],
            2,
            "digest",
        ),
        case("empty target", &[&src1, ""], 2, "empty"),
        case("empty source", &["", &t], 2, "empty"),
        case(
            "no target and no registry in source",
            &[&src1],
            2,
            "names no registry",
        ),
        case("bad -t", &[&src1, &t, "-t", "a/b"], 2, "tag"),
        case(
            "trailing slash",
            &[&src1, &format!("{reg}/x/")],
            2,
            "invalid reference",
        ),
        case(
            "double slash",
            &[&src1, &format!("{reg}//x")],
            2,
            "invalid reference",
        ),
        case(
            "control character",
            &[&src1, &format!("{reg}/x\u{7}y")],
            2,
            "invalid reference",
        ),
        case(
            "a name that looks like a digest",
            &["sha256:nothex", &t],
            4,
            "sha256:nothex",
        ),
        case(
            "unknown flag",
            &["--frobnicate", &src1, &t],
            2,
            "frobnicate",
        ),
        case(
            "unknown verify mode",
            &["--verify", "maybe", &src1, &t],
            2,
            "maybe",
        ),
        case(
            "unknown progress mode",
            &["--progress", "loud", &src1, &t],
            2,
            "loud",
        ),
        case("unknown format", &["--format", "xml", &src1, &t], 2, "xml"),
        case("zero jobs", &["--jobs", "0", &src1, &t], 2, "jobs"),
        case(
            "retries not a number",
            &["--retries", "many", &src1, &t],
            2,
            "retries",
        ),
        case(
            "duration without unit",
            &["--timeout", "5", &src1, &t],
            2,
            "duration",
        ),
        case(
            "garbage duration",
            &["--stall-timeout", "soon", &src1, &t],
            2,
            "duration",
        ),
        case("no arguments", &[], 2, "SOURCE"),
        // The source.
        case(
            "unknown source",
            &["no-such-image-anywhere:1", &t],
            4,
            "no local image",
        ),
        case(
            "unknown image id",
            &["0123456789ab", &t],
            4,
            "no local image",
        ),
        // The daemon.
        case(
            "no daemon at the socket",
            &["-H", "unix:///nonexistent/docker.sock", "pushx", &src1, &t],
            6,
            "cannot reach",
        ),
        case(
            "a socket that is not a daemon",
            &["-H", &fake_daemon, "pushx", &src1, &t],
            6,
            "daemon",
        ),
        case(
            "ssh endpoint with a password",
            &["-H", "ssh://me:pw@host", "pushx", &src1, &t],
            2,
            "ssh",
        ),
        case(
            "unknown context",
            &["--context", "nope", "pushx", &src1, &t],
            2,
            "nope",
        ),
        case(
            "two -H",
            &["-H", "unix:///a", "-H", "unix:///b", "pushx", &src1, &t],
            2,
            "-H",
        ),
        case(
            "context and host",
            &["--context", "x", "-H", "unix:///a", "pushx", &src1, &t],
            2,
            "conflicting",
        ),
        // Registries and credentials.
        case(
            "registry down",
            &[
                "--progress",
                "quiet",
                "--retries",
                "0",
                &src1,
                &format!("{down}/e2e/x"),
            ],
            6,
            "connection refused",
        ),
        Case {
            config: ConfigFile::Custom(wrong_cfg),
            ..case(
                "wrong credentials",
                &["--progress", "quiet", &src1, &format!("{auth_reg}/e2e/x")],
                3,
                "login",
            )
        },
        case(
            "no credentials",
            &["--progress", "quiet", &src1, &format!("{auth_reg}/e2e/x")],
            3,
            "login",
        ),
        Case {
            config: ConfigFile::Custom(missing_helper_cfg),
            ..case(
                "helper missing from PATH",
                &["--progress", "quiet", &src1, &format!("{auth_reg}/e2e/x")],
                3,
                "nosuchhelper",
            )
        },
        Case {
            env: vec![("DOCKER_AUTH_CONFIG", "{not json".into())],
            ..case(
                "malformed DOCKER_AUTH_CONFIG",
                &["--progress", "quiet", &src1, &t],
                2,
                "DOCKER_AUTH_CONFIG",
            )
        },
        // config.json.
        Case {
            config: ConfigFile::Malformed,
            ..case("malformed config.json (push)", &[&src1, &t], 1, "malformed")
        },
        Case {
            config: ConfigFile::Binary,
            ..case("binary config.json", &[&src1, &t], 1, "malformed")
        },
        Case {
            config: ConfigFile::Directory,
            ..case("config.json is a directory", &[&src1, &t], 1, "config.json")
        },
        Case {
            config: ConfigFile::SymlinkToMalformed,
            ..case(
                "symlinked malformed config.json (configure)",
                &["configure"],
                1,
                "malformed",
            )
        },
        Case {
            config: ConfigFile::Malformed,
            ..case(
                "malformed config.json (configure)",
                &["configure"],
                1,
                "malformed",
            )
        },
        Case {
            config: ConfigFile::Malformed,
            ..case(
                "malformed config.json (import)",
                &["import"],
                1,
                "malformed",
            )
        },
        Case {
            config: ConfigFile::Unwritable,
            ..case(
                "unwritable config directory (configure)",
                &["configure"],
                1,
                "config.json",
            )
        },
        case(
            "configure with an empty registry",
            &["configure", "--registry", ""],
            2,
            "empty",
        ),
        // Logins.
        Case {
            stdin: Some(b"".to_vec()),
            ..case(
                "login with an empty password",
                &["login", &auth_reg, "-u", "u", "--password-stdin"],
                2,
                "password",
            )
        },
        case(
            "login with no terminal",
            &["login", &auth_reg, "-u", "u"],
            2,
            "--password-stdin",
        ),
        Case {
            stdin: Some(b"pw".to_vec()),
            ..case(
                "login with an unknown store",
                &[
                    "login",
                    &auth_reg,
                    "-u",
                    "u",
                    "--password-stdin",
                    "--store",
                    "vault",
                ],
                2,
                "vault",
            )
        },
        Case {
            stdin: Some(b"pw".to_vec()),
            ..case(
                "login as <token>",
                &["login", &auth_reg, "-u", "<token>", "--password-stdin"],
                2,
                "token",
            )
        },
        Case {
            stdin: Some(b"wrong".to_vec()),
            ..case(
                "login with a wrong password",
                &["login", &auth_reg, "-u", "pushx", "--password-stdin"],
                3,
                "password",
            )
        },
        Case {
            stdin: Some(b"pw".to_vec()),
            ..case(
                "login to a registry that is down",
                &["login", &down, "-u", "u", "--password-stdin"],
                6,
                "nothing was stored",
            )
        },
        Case {
            env: vec![("PUSHX_CREDENTIAL_STORE", "floppy".into())],
            ..case(
                "unknown store in the environment",
                &["logins"],
                2,
                "PUSHX_CREDENTIAL_STORE",
            )
        },
        // An argument that is not UTF-8 (a Latin-1 "é"): env::args() would panic on it.
        Case {
            args: vec![src1.clone().into(), latin1(&format!("{t}-caf"))],
            ..case("a target that is not UTF-8", &[], 2, "not valid UTF-8")
        },
        Case {
            args: vec!["login".into(), latin1(&auth_reg)],
            ..case(
                "a login server that is not UTF-8",
                &[],
                2,
                "argument 2 is not valid UTF-8",
            )
        },
        // Misspelled commands and help topics.
        case(
            "a misspelled command",
            &["lgoin"],
            2,
            "did you mean \"login\"?",
        ),
        case(
            "a misspelled command with a target",
            &["lgoin", &t],
            4,
            "did you mean \"login\"?",
        ),
        case(
            "an unknown help topic",
            &["help", "lgoin"],
            2,
            "did you mean",
        ),
        // No usable store: said, never "not logged in" or an empty table.
        Case {
            env: vec![
                (
                    "DBUS_SESSION_BUS_ADDRESS",
                    "unix:path=/nonexistent/bus".into(),
                ),
                ("PUSHX_CREDENTIAL_STORE", "secret-service".into()),
            ],
            ..case("logins with no usable store", &["logins"], 1, "not usable")
        },
        Case {
            env: vec![
                (
                    "DBUS_SESSION_BUS_ADDRESS",
                    "unix:path=/nonexistent/bus".into(),
                ),
                ("PUSHX_CREDENTIAL_STORE", "secret-service".into()),
            ],
            ..case(
                "logout with no usable store",
                &["logout", &auth_reg],
                1,
                "not usable",
            )
        },
        case(
            "logins with a bad format",
            &["logins", "--format", "yaml"],
            2,
            "yaml",
        ),
        // The credential helper.
        helper_case("helper without a verb", &[], b"", "Usage"),
        helper_case(
            "helper with an unknown verb",
            &["frobnicate"],
            b"",
            "unknown action",
        ),
        helper_case("helper with two verbs", &["get", "get"], b"", "Usage"),
        Case {
            args: vec![latin1("get")],
            ..helper_case(
                "helper verb that is not UTF-8",
                &[],
                b"",
                "argument 1 is not valid UTF-8",
            )
        },
        helper_case("helper store: garbage", &["store"], b"garbage", "JSON"),
        helper_case("helper store: empty", &["store"], b"", "JSON"),
        helper_case(
            "helper store: binary",
            &["store"],
            b"\x00\xff\xfe\x01",
            "UTF-8",
        ),
        helper_case("helper store: 10 MB", &["store"], &big, "larger"),
        helper_case(
            "helper store: no username",
            &["store"],
            br#"{"ServerURL":"x.example","Username":"","Secret":"s"}"#,
            "no credentials username",
        ),
        helper_case(
            "helper store: no server",
            &["store"],
            br#"{"ServerURL":"","Username":"u","Secret":"s"}"#,
            "no credentials server URL",
        ),
        helper_case(
            "helper get: empty",
            &["get"],
            b"",
            "no credentials server URL",
        ),
        helper_case("helper get: 10 MB", &["get"], &big, "larger"),
        helper_case(
            "helper erase: unknown key",
            &["erase"],
            b"never-stored.example",
            "not found",
        ),
    ];
    assert!(cases.len() >= 40, "the catalogue has {} cases", cases.len());

    let mut failures = Vec::new();
    for c in cases.drain(..) {
        let cfg = Config::new();
        let mut docker_config = cfg.path().to_path_buf();
        let original: Option<Vec<u8>> = match c.config {
            ConfigFile::Valid => Some(br#"{"auths": {}}"#.to_vec()),
            ConfigFile::Malformed => Some(b"{\"auths\": {".to_vec()),
            ConfigFile::Binary => Some(vec![0x00, 0xff, 0x7b, 0x13, 0x37]),
            ConfigFile::Custom(text) => Some(text.as_bytes().to_vec()),
            ConfigFile::Directory => {
                std::fs::create_dir(cfg.file()).unwrap();
                None
            }
            ConfigFile::SymlinkToMalformed => {
                std::fs::write(cfg.path().join("real.json"), b"{\"auths\": [").unwrap();
                std::os::unix::fs::symlink(cfg.path().join("real.json"), cfg.file()).unwrap();
                None
            }
            ConfigFile::Unwritable => {
                docker_config = "/proc/self/pushx-nowhere".into();
                None
            }
        };
        if let Some(bytes) = &original {
            std::fs::write(cfg.file(), bytes).unwrap();
        }
        let mut cmd = match c.bin {
            Bin::Plugin => Command::new(PLUGIN),
            Bin::Helper => Command::new(HELPER),
        };
        cmd.env("DOCKER_CONFIG", &docker_config)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_AUTH_CONFIG")
            .args(&c.args);
        for (k, v) in &c.env {
            cmd.env(k, v);
        }
        let r = run_with_stdin(&mut cmd, c.stdin.as_deref());
        let mut problems = Vec::new();
        if r.code != c.code {
            problems.push(format!("exit {} (want {})", r.code, c.code));
        }
        let message = match c.bin {
            Bin::Plugin => r.stderr.clone(),
            Bin::Helper => r.stdout.clone(),
        };
        let lines: Vec<&str> = message.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() != 1 {
            problems.push(format!("{} lines of error", lines.len()));
        }
        if !message.contains(c.says) {
            problems.push(format!("the error does not say {:?}", c.says));
        }
        if matches!(c.bin, Bin::Plugin)
            && !r.stdout.is_empty()
            && !c.args.iter().any(|a| a == "--progress")
        {
            problems.push("something on stdout".into());
        }
        if let Some(bytes) = &original
            && std::fs::read(cfg.file()).ok().as_ref() != Some(bytes)
        {
            problems.push("config.json changed".into());
        }
        if c.config == ConfigFile::SymlinkToMalformed
            && std::fs::read(cfg.path().join("real.json")).unwrap() != b"{\"auths\": ["
        {
            problems.push("the symlink's target changed".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{r:?}", c.name, problems.join(", ")));
        }
    }
    let g = run_with_stdin(Command::new(HELPER).arg("get"), Some(sentinel.as_bytes()));
    assert!(
        g.stdout.contains("keep-me") && g.stdout.contains("\"keep\""),
        "the stored login survived: {g:?}"
    );
    let _ = run_with_stdin(Command::new(HELPER).arg("erase"), Some(sentinel.as_bytes()));
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
