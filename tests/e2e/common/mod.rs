//! Shared parts of the end-to-end tests: the environment tests/run.sh sets up, test images
//! built locally, the binaries run in an isolated docker config, and a direct look at a registry.
#![allow(dead_code)]

pub mod proxy;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const PLUGIN: &str = env!("CARGO_BIN_EXE_docker-pushx");
pub const HELPER: &str = env!("CARGO_BIN_EXE_docker-credential-pushx");

/// A variable tests/run.sh exports. Missing: the test is skipped, except under CI=true where
/// a missing engine, registry or keyring is a failure.
pub fn env_or_skip(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{name} is not set: run the tests through tests/run.sh");
            }
            eprintln!("skipped: {name} is not set (run the tests through tests/run.sh)");
            None
        }
    }
}

/// Bail out of a test when the environment lacks something (see [`env_or_skip`]).
macro_rules! need {
    ($name:expr) => {
        match $crate::common::env_or_skip($name) {
            Some(v) => v,
            None => return,
        }
    };
}

/// A name no other test (or earlier run) uses: the registry cannot delete tags, so every test
/// gets its own repository.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Random bytes (not cryptographic: only to make layers unique).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ ((std::process::id() as u64) << 32)
        ^ (n as u64).rotate_left(17);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Build an image `FROM scratch` with one layer per file (the legacy builder needs no pull).
/// Layers with the same content produce the same layer, so images can share layers.
pub fn build_image(tag: &str, files: &[(&str, &[u8])]) {
    let dir = tempfile::tempdir().unwrap();
    let mut dockerfile = String::from("FROM scratch\n");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
        dockerfile.push_str(&format!("COPY {name} /{name}\n"));
    }
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag, "."])
        .current_dir(dir.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn image_id(name: &str) -> String {
    let out = Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Id}}", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A docker config directory of the test's own, with the plugin installed in it.
pub struct Config {
    pub dir: tempfile::TempDir,
}

impl Config {
    pub fn new() -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cli-plugins")).unwrap();
        std::os::unix::fs::symlink(PLUGIN, dir.path().join("cli-plugins/docker-pushx")).unwrap();
        Config { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    pub fn write(&self, json: &serde_json::Value) {
        std::fs::write(self.file(), serde_json::to_vec_pretty(json).unwrap()).unwrap();
    }

    /// config.json with a plain `auths` login for the test registry user.
    pub fn with_login(&self, registry: &str) {
        use base64::Engine;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user(), password()));
        self.write(&serde_json::json!({"auths": {registry: {"auth": auth}}}));
    }

    /// The plugin binary, standalone, with this config.
    pub fn pushx(&self) -> Command {
        let mut c = Command::new(PLUGIN);
        c.env("DOCKER_CONFIG", self.path())
            .env_remove("DOCKER_AUTH_CONFIG")
            .env_remove("DOCKER_HOST");
        c
    }

    /// The real docker CLI with this config (so `docker pushx` finds the plugin here).
    pub fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", self.path())
            .env_remove("DOCKER_AUTH_CONFIG")
            .env_remove("DOCKER_HOST");
        c
    }
}

pub fn user() -> String {
    std::env::var("PUSHX_TEST_USER").unwrap_or_default()
}

pub fn password() -> String {
    std::env::var("PUSHX_TEST_PASSWORD").unwrap_or_default()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

pub fn run(cmd: &mut Command) -> Run {
    run_with_stdin(cmd, None)
}

pub fn run_with_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        let mut s = child.stdin.take().unwrap();
        let _ = s.write_all(input);
    }
    let out: Output = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !r.stderr.contains("panicked at"),
        "the binary panicked: {r:?}"
    );
    r
}

/// Ask the registry itself (not the daemon) which digest it holds for `repo:tag`.
pub fn registry_digest(
    registry: &str,
    repo: &str,
    tag: &str,
    auth: bool,
    tls: bool,
) -> Option<String> {
    let scheme = if tls { "https" } else { "http" };
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-D", "-", "-K", "-"]);
    let mut cfg = format!(
        "url = \"{scheme}://{registry}/v2/{repo}/manifests/{tag}\"\nhead\n\
         header = \"Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json\"\n"
    );
    if auth {
        cfg.push_str(&format!(
            "user = \"{}:{}\"\n",
            user(),
            password().replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    if tls {
        cfg.push_str(&format!(
            "cacert = \"{}\"\n",
            std::env::var("PUSHX_TEST_CA").unwrap()
        ));
    }
    let r = run_with_stdin(&mut cmd, Some(cfg.as_bytes()));
    r.stdout.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("docker-content-digest:")
            .map(|d| d.trim().to_string())
    })
}

/// Every line of stderr is a single message (no stack traces, no multi-line dumps) and the
/// first names the problem.
pub fn assert_one_line_error(r: &Run) {
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {r:?}");
    assert!(lines[0].starts_with("docker pushx: "), "{r:?}");
}
