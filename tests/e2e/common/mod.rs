//! Shared parts of the end-to-end tests: the environment tests/run.sh sets up, test images
//! built locally, the binaries run in an isolated docker config, and a direct look at a registry.
#![allow(dead_code)]

pub mod proxy;
pub mod scenario;
pub mod token;

pub use scenario::{Scenario, held_digest};

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

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
            note_skip(&format!("{name} is not set"));
            None
        }
    }
}

/// A test that returns early still counts as passed, and the runner hides a passing test's
/// stderr: so a skip is also written to the file tests/env.sh names, and tests/run.sh lists
/// them at the end of the run.
pub fn note_skip(why: &str) {
    let Some(file) = std::env::var_os("PUSHX_TEST_SKIPPED") else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        let _ = writeln!(f, "{test}: {why}");
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
/// Layers with the same content produce the same layer, so images can share layers: every
/// file gets the same fixed mtime, which is all a `COPY` layer holds besides name and content.
///
/// `--no-cache`: the legacy builder's cache probe for a step on `FROM scratch` lists every
/// parentless image in the engine, then looks each up, and fails the build ("unable to find
/// image sha256:…") when any of them is removed in between — by anyone, on a shared engine.
pub fn build_image(tag: &str, files: &[(&str, &[u8])]) {
    let dir = tempfile::tempdir().unwrap();
    let mut dockerfile = String::from("FROM scratch\n");
    let mtime = std::time::UNIX_EPOCH + Duration::from_secs(946_684_800); // 2000-01-01
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .unwrap();
        dockerfile.push_str(&format!("COPY {name} /{name}\n"));
    }
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    let mut build = Command::new("docker");
    build.args(["build", "--no-cache", "-q", "-t", tag]);
    // tests/env.sh removes the images carrying its run's label when the run ends.
    if let Ok(id) = std::env::var("PUSHX_TEST_RUN_ID")
        && !id.is_empty()
    {
        build.args(["--label", &format!("pushx-test-run={id}")]);
    }
    let r = run(build
        .arg(".")
        .current_dir(dir.path())
        .env("DOCKER_BUILDKIT", "0"));
    assert_eq!(r.code, 0, "docker build failed: {r:?}");
}

pub fn image_id(name: &str) -> String {
    let r = run(Command::new("docker").args(["image", "inspect", "-f", "{{.Id}}", name]));
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout.trim().to_string()
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

    /// config.json with a plain `auths` login for the test registry user, beside the logins
    /// it has already.
    pub fn with_login(&self, registry: &str) {
        use base64::Engine;
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", user(), password()));
        let mut json: serde_json::Value = std::fs::read(self.file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        if !json["auths"].is_object() {
            json["auths"] = serde_json::json!({});
        }
        json["auths"][registry] = serde_json::json!({ "auth": auth });
        self.write(&json);
    }

    /// The plugin binary, standalone, with this config.
    pub fn pushx(&self) -> Command {
        let mut c = Command::new(PLUGIN);
        c.env("DOCKER_CONFIG", self.path());
        isolate(&mut c);
        c
    }

    /// The real docker CLI with this config (so `docker pushx` finds the plugin here).
    pub fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", self.path());
        isolate(&mut c);
        c
    }
}

/// Nothing of the environment the tests run in that changes what a push does or writes: the
/// daemon and credentials come from the test, and under GitHub Actions the tests' pushes must
/// neither annotate the job nor append to its step outputs.
fn isolate(c: &mut Command) {
    for var in [
        "DOCKER_AUTH_CONFIG",
        "DOCKER_HOST",
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
    ] {
        c.env_remove(var);
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

/// How long one spawned command may take unless its call says otherwise: a hang fails the
/// test that caused it, naming the command, instead of waiting for the runner's time limit.
pub const DEADLINE: Duration = Duration::from_secs(120);

pub fn run(cmd: &mut Command) -> Run {
    run_within(cmd, None, DEADLINE)
}

pub fn run_with_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> Run {
    run_within(cmd, stdin, DEADLINE)
}

/// Run `cmd` to completion, feeding it `stdin`, for at most `limit`. Past it the command and
/// everything it started are killed and the test fails with what it had written so far.
pub fn run_within(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Run {
    let started = Instant::now();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", describe(cmd)));
    // Written from a thread: a child that never reads its stdin must not block the deadline.
    if let Some(input) = stdin {
        let mut s = child.stdin.take().unwrap();
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = s.write_all(&input);
        });
    }
    let (done_tx, done) = mpsc::channel();
    let stdout = collect(child.stdout.take().unwrap(), done_tx.clone());
    let stderr = collect(child.stderr.take().unwrap(), done_tx);
    let left = || limit.saturating_sub(started.elapsed());
    // Both pipes closed (usually at exit, unless something it started keeps them), then the exit.
    let mut status = None;
    if done.recv_timeout(left()).is_ok() && done.recv_timeout(left()).is_ok() {
        status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if left().is_zero() {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
    }
    let Some(status) = status else {
        kill_tree(&mut child);
        let so_far =
            |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
        panic!(
            "{} did not finish within {} s (killed); stderr so far:\n{}\nstdout so far:\n{}",
            describe(cmd),
            limit.as_secs_f64(),
            so_far(&stderr),
            so_far(&stdout),
        );
    };
    let take = |b: Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    let r = Run {
        code: status.code().unwrap_or(-1),
        stdout: take(stdout),
        stderr: take(stderr),
    };
    assert!(
        !r.stderr.contains("panicked at"),
        "the binary panicked: {r:?}"
    );
    r
}

/// Read `pipe` to its end on a thread of its own, saying so on `done`.
fn collect(mut pipe: impl Read + Send + 'static, done: mpsc::Sender<()>) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
        let _ = done.send(());
    });
    buf
}

/// The command line as a failure message shows it: the program's file name and its
/// arguments (tests pass secrets on stdin or in the environment, never as arguments).
pub fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let mut line = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        let arg = arg.to_string_lossy();
        let arg: String = if arg.chars().count() > 200 {
            arg.chars().take(200).chain("…".chars()).collect()
        } else {
            arg.into_owned()
        };
        line.push(' ');
        line.push_str(&arg);
    }
    line
}

/// Kill `child` and its descendants (the docker CLI runs the plugin as its own child, shell
/// scripts run the binaries): the tree is read from /proc first, then all of it is killed.
pub fn kill_tree(child: &mut Child) {
    // (pid, parent pid) of every process: field 4 of /proc/PID/stat, after the command name.
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut tree = vec![child.id()];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    let _ = child.kill();
    if tree.len() > 1 {
        let _ = Command::new("kill")
            .arg("-KILL")
            .args(tree[1..].iter().map(|p| p.to_string()))
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.wait();
}

#[test]
fn a_command_past_its_deadline_is_killed_and_named() {
    // A shell that started a grandchild and hangs: both must go, and the message must say
    // which command it was and what it had written.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "sleep 30 & echo \"started $!\" >&2; wait"]);
    let t0 = Instant::now();
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_within(&mut cmd, None, Duration::from_secs(1))
    }))
    .expect_err("the deadline passed");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.starts_with("sh -c sleep 30 & ") && message.contains("did not finish within 1 s"),
        "{message}"
    );
    let grandchild = message
        .split_whitespace()
        .skip_while(|w| *w != "started")
        .nth(1)
        .unwrap_or_else(|| panic!("no pid in {message}"));
    std::thread::sleep(Duration::from_millis(200));
    let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    assert!(
        matches!(state, None | Some("Z") | Some("X")),
        "the grandchild {grandchild} still runs: {stat}"
    );
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

/// A secret in every form a leak could take, to look for in what a run printed and wrote.
/// Each form has a label, so a failure says which form was found (never the secret).
#[derive(Default)]
pub struct Secrets {
    forms: Vec<(String, String)>,
}

impl Secrets {
    pub fn new() -> Secrets {
        Secrets::default()
    }

    fn add(&mut self, label: String, needle: String) {
        if !needle.is_empty() && !self.forms.iter().any(|(_, n)| *n == needle) {
            self.forms.push((label, needle));
        }
    }

    /// `base64(text)` in the standard and URL-safe alphabets, with and without padding.
    fn add_base64(&mut self, what: &str, text: &str) {
        use base64::Engine;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        for (name, engine) in [
            ("base64", &STANDARD),
            ("base64, no padding", &STANDARD_NO_PAD),
            ("base64url", &URL_SAFE),
            ("base64url, no padding", &URL_SAFE_NO_PAD),
        ] {
            self.add(format!("{name} of {what}"), engine.encode(text));
        }
    }

    /// A password login for `server`: the password itself, `base64(user:password)`, and the
    /// `X-Registry-Auth` header docker-pushx sends (base64url of
    /// `{"username":…,"password":…,"serveraddress":…}`, src/protocol/registry_auth.rs) and
    /// its JSON.
    pub fn password(mut self, user: &str, password: &str, server: &str) -> Secrets {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        self.add("the password".into(), password.to_string());
        self.add_base64("user:password", &format!("{user}:{password}"));
        let json = format!(
            "{{\"username\":{},\"password\":{},\"serveraddress\":{}}}",
            q(user),
            q(password),
            q(server)
        );
        self.add("the X-Registry-Auth JSON".into(), json.clone());
        self.add_base64("the X-Registry-Auth JSON", &json);
        self
    }

    /// An identity token for `server`: the token, `base64(<token>:token)`, and the
    /// `X-Registry-Auth` header (`{"identitytoken":…,"serveraddress":…}`) and its JSON.
    pub fn identity_token(mut self, token: &str, server: &str) -> Secrets {
        let q = |s: &str| serde_json::to_string(s).unwrap();
        self.add("the identity token".into(), token.to_string());
        self.add_base64("<token>:token", &format!("<token>:{token}"));
        let json = format!(
            "{{\"identitytoken\":{},\"serveraddress\":{}}}",
            q(token),
            q(server)
        );
        self.add("the X-Registry-Auth JSON".into(), json.clone());
        self.add_base64("the X-Registry-Auth JSON", &json);
        self
    }

    /// `text` with every form replaced by `***`, longest first (one form can hold another).
    pub fn mask(&self, text: &str) -> String {
        let mut forms: Vec<&String> = self.forms.iter().map(|(_, n)| n).collect();
        forms.sort_by_key(|n| std::cmp::Reverse(n.len()));
        forms
            .into_iter()
            .fold(text.to_string(), |t, n| t.replace(n.as_str(), "***"))
    }

    /// Every form found in `text`, as "`label` in `place`: …context…" with the secrets masked
    /// (the whole text is masked before the context is cut, so no part of a secret shows).
    pub fn find(&self, place: &str, text: &str) -> Vec<String> {
        const MARK: &str = "\u{0}LEAK\u{0}";
        let mut found = Vec::new();
        for (label, needle) in &self.forms {
            if !text.contains(needle.as_str()) {
                continue;
            }
            let masked = self.mask(&text.replacen(needle.as_str(), MARK, 1));
            let at = masked.find(MARK).unwrap_or(0);
            let from = masked[..at]
                .char_indices()
                .rev()
                .nth(119)
                .map_or(0, |(i, _)| i);
            let to = masked[at..]
                .char_indices()
                .nth(MARK.chars().count() + 120)
                .map_or(masked.len(), |(i, _)| at + i);
            found.push(format!(
                "{label} in {place}: …{}…",
                masked[from..to].replace(MARK, "***")
            ));
        }
        found
    }

    /// [`find`](Self::find) in a run's stdout and stderr.
    pub fn find_in_run(&self, what: &str, r: &Run) -> Vec<String> {
        let mut found = self.find(&format!("stdout of {what}"), &r.stdout);
        found.extend(self.find(&format!("stderr of {what}"), &r.stderr));
        found
    }

    /// [`find`](Self::find) in every file under `dir` (symbolic links are not followed).
    pub fn find_in_dir(&self, dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(t) = e.file_type() else { continue };
                if t.is_dir() {
                    todo.push(e.path());
                } else if t.is_file()
                    && let Ok(bytes) = std::fs::read(e.path())
                {
                    let text = String::from_utf8_lossy(&bytes);
                    found.extend(self.find(&format!("file {}", e.path().display()), &text));
                }
            }
        }
        found
    }

    /// Fail naming every place a form was found (with the secrets masked).
    pub fn assert_none(&self, found: &[String]) {
        assert!(
            found.is_empty(),
            "a secret leaked ({} places):\n{}",
            found.len(),
            found.join("\n")
        );
    }
}
