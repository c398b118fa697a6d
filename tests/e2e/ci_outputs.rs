//! End-to-end: what a push leaves for CI. `--digest-file` and `--metadata-file` after a push to
//! two registries, after a partly failed one, after one where nothing landed and after an
//! interrupted one; under GitHub Actions the step outputs appended to `$GITHUB_OUTPUT` and an
//! `::error` annotation per failed target; unwritable paths refused (exit 2) before anything
//! is pushed; and no secret in any file written.

use crate::common::proxy::{Fault, FaultProxy, Kind};
use crate::common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A directory for the files a run writes, with the paths the flags get.
struct Out {
    dir: tempfile::TempDir,
}

impl Out {
    fn new() -> Out {
        Out {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn digest(&self) -> PathBuf {
        self.path("digest")
    }
    fn metadata(&self) -> PathBuf {
        self.path("metadata.json")
    }
    fn github(&self) -> PathBuf {
        self.path("github-output")
    }
    fn read(&self, p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }
    /// The flags writing both files.
    fn flags(&self) -> Vec<String> {
        vec![
            "--digest-file".into(),
            self.digest().display().to_string(),
            "--metadata-file".into(),
            self.metadata().display().to_string(),
        ]
    }
    /// Only the result files are left: no temp file of the atomic writes.
    fn assert_no_temp_files(&self) {
        let names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp")),
            "a temp file was left: {names:?}"
        );
    }
}

fn base64_login(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// `docker-pushx --format json --progress quiet FLAGS... SOURCE TARGETS...`
fn push(s: &Scenario, flags: &[String], targets: &[String]) -> Run {
    let mut args: Vec<&str> = vec!["--format", "json", "--progress", "quiet"];
    args.extend(flags.iter().map(String::as_str));
    args.push(s.image_name());
    args.extend(targets.iter().map(String::as_str));
    s.pushx(&args)
}

/// `$GITHUB_OUTPUT` read back as the runner reads it: `NAME=VALUE` lines and
/// `NAME<<DELIMITER` … `DELIMITER` blocks.
fn parse_github_output(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            assert!(
                delim.starts_with("ghadelimiter_") && delim.len() > 40,
                "a random delimiter: {line}"
            );
            let mut value = Vec::new();
            loop {
                let l = lines
                    .next()
                    .unwrap_or_else(|| panic!("{name}: no closing {delim} in:\n{text}"));
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line.split_once('=').expect("NAME=VALUE");
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

#[test]
fn a_push_to_two_registries_writes_both_files() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let auth_reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let s = Scenario::new().login(&auth_reg).random_image(5_000);
    let out = Out::new();
    // Not under GitHub Actions: $GITHUB_OUTPUT alone is not written, nothing is annotated.
    let s = s.env("GITHUB_OUTPUT", out.github().display().to_string());
    std::fs::write(out.digest(), "sha256:stale\n").unwrap();
    let targets = [
        format!("{reg}/{}", unique("e2e/ci-a")),
        format!("{auth_reg}/{}:stable", unique("e2e/ci-b")),
    ];
    let r = push(&s, &out.flags(), &targets);
    assert_eq!(r.code, 0, "{r:?}");
    let doc = r.json();
    let digest = doc["targets"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(doc["targets"][1]["digest"], digest.as_str(), "{r:?}");
    // One digest: the file holds it alone, with no newline (as `docker build --iidfile`).
    assert_eq!(out.read(&out.digest()), digest);
    // The metadata file is byte for byte what --format json printed.
    assert_eq!(out.read(&out.metadata()), r.stdout);
    let (repo_a, repo_b) = (
        targets[0].split_once('/').unwrap().1,
        targets[1].split_once('/').unwrap().1,
    );
    assert_eq!(held_digest(&reg, repo_a, "1"), Some(digest.clone()));
    let (repo_b, tag) = repo_b.rsplit_once(':').unwrap();
    assert_eq!(held_digest(&auth_reg, repo_b, tag), Some(digest));
    assert!(!out.github().exists(), "GITHUB_ACTIONS is not set: {r:?}");
    assert!(
        !r.stdout.contains("::error") && !r.stderr.contains("::"),
        "{r:?}"
    );
    out.assert_no_temp_files();
    let secrets = Secrets::new().password(&user(), &password(), &auth_reg);
    let mut found = secrets.find_in_dir(out.dir.path());
    found.extend(secrets.find_in_run("the push", &r));
    secrets.assert_none(&found);
}

#[test]
fn a_partly_failed_push_under_github_actions_reports_what_landed() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let auth_reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let wrong = format!("{}-wrong", password());
    let s = Scenario::new()
        .config_json(
            serde_json::json!({"auths": {&auth_reg: {"auth": base64_login(&user(), &wrong)}}}),
        )
        .random_image(5_000);
    let out = Out::new();
    // The runner's file already holds an earlier step's outputs: they stay.
    std::fs::write(out.github(), "earlier=1\n").unwrap();
    let s = s
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", out.github().display().to_string());
    let ok = format!("{reg}/{}:1", unique("e2e/ci-ok"));
    let refused = format!("{auth_reg}/{}:1", unique("e2e/ci-refused"));
    let r = push(&s, &out.flags(), &[ok.clone(), refused.clone()]);
    assert_eq!(r.code, 7, "{r:?}");
    // stdout is still the JSON result alone.
    let doc = r.json();
    let digest = doc["targets"][0]["digest"].as_str().unwrap().to_string();
    assert_eq!(doc["targets"][1]["status"], "failed", "{r:?}");

    assert_eq!(out.read(&out.digest()), digest, "what landed");
    let meta: serde_json::Value = serde_json::from_str(&out.read(&out.metadata())).unwrap();
    assert_eq!(meta, doc);
    assert_eq!(meta["targets"][0]["status"], "pushed");
    assert_eq!(meta["targets"][1]["status"], "failed");
    let error = meta["targets"][1]["error"].as_str().unwrap();
    assert!(error.contains("unauthorized"), "{error}");

    let text = out.read(&out.github());
    assert!(text.starts_with("earlier=1\n"), "appended: {text}");
    let outputs = parse_github_output(&text);
    assert_eq!(outputs["earlier"], "1");
    assert_eq!(outputs["digest"], digest);
    assert_eq!(outputs["image-refs"], format!("{ok}@{digest}"));
    let result: serde_json::Value = serde_json::from_str(&outputs["result"]).unwrap();
    assert_eq!(result, doc);

    // One annotation, for the refused target, on stderr (the runner reads commands there too).
    let notes: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(notes.len(), 1, "{r:?}");
    let prefix = format!("::error title=docker pushx::{refused}: ");
    assert!(notes[0].starts_with(&prefix), "{r:?}");
    assert!(notes[0].contains("unauthorized"), "{r:?}");
    assert!(!r.stdout.contains("::error"), "{r:?}");
    out.assert_no_temp_files();

    let secrets = Secrets::new()
        .password(&user(), &wrong, &auth_reg)
        .password(&user(), &password(), &auth_reg);
    let mut found = secrets.find_in_dir(out.dir.path());
    found.extend(secrets.find_in_run("the push", &r));
    secrets.assert_none(&found);
}

#[test]
fn nothing_landed_leaves_an_empty_digest_file() {
    let auth_reg = need!("PUSHX_TEST_AUTH_REGISTRY");
    let s = Scenario::new()
        .config_json(
            serde_json::json!({"auths": {&auth_reg: {"auth": base64_login(&user(), "not-it")}}}),
        )
        .random_image(2_000);
    let out = Out::new();
    // A digest file left by an earlier run must not pass for this one's.
    std::fs::write(out.digest(), format!("sha256:{}", "e".repeat(64))).unwrap();
    let target = format!("{auth_reg}/{}:1", unique("e2e/ci-none"));
    let r = push(&s, &out.flags(), std::slice::from_ref(&target));
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(out.read(&out.digest()), "");
    let meta: serde_json::Value = serde_json::from_str(&out.read(&out.metadata())).unwrap();
    assert_eq!(meta["targets"][0]["reference"], target.as_str());
    assert_eq!(meta["targets"][0]["status"], "failed");
    assert!(meta["targets"][0]["digest"].is_null());
}

#[test]
fn unwritable_paths_exit_2_before_anything_is_pushed() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let s = Scenario::new().random_image(2_000);
    let out = Out::new();
    let file = out.path("a-file");
    std::fs::write(&file, "x").unwrap();
    let missing = out.path("no-such-dir/digest");
    let under_a_file = file.join("digest");
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        ("--digest-file", missing.clone(), "does not exist"),
        ("--metadata-file", missing, "does not exist"),
        (
            "--digest-file",
            out.dir.path().to_path_buf(),
            "is a directory",
        ),
        (
            "--metadata-file",
            out.dir.path().to_path_buf(),
            "is a directory",
        ),
        ("--metadata-file", under_a_file, "is not a directory"),
    ];
    for (flag, path, why) in cases {
        let repo = unique("e2e/ci-bad");
        let target = format!("{reg}/{repo}");
        let r = push(&s, &[flag.into(), path.display().to_string()], &[target]);
        assert_eq!(r.code, 2, "{flag} {}: {r:?}", path.display());
        assert_one_line_error(&r);
        assert!(
            r.stderr
                .starts_with(&format!("docker pushx: {flag} {}: ", path.display()))
                && r.stderr.contains(why),
            "{r:?}"
        );
        assert!(r.stdout.is_empty(), "{r:?}");
        assert_eq!(held_digest(&reg, &repo, "1"), None, "nothing was pushed");
    }
    // --dry-run refuses them too (and writes nothing when they are fine).
    let r = s.pushx(&[
        "--dry-run",
        "--metadata-file",
        &out.path("nope/m.json").display().to_string(),
        s.image_name(),
        &format!("{reg}/{}", unique("e2e/ci-dry")),
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = s.pushx(&[
        "--dry-run",
        "--metadata-file",
        &out.metadata().display().to_string(),
        s.image_name(),
        &format!("{reg}/{}", unique("e2e/ci-dry")),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!out.metadata().exists(), "a dry run writes no file");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    out.assert_no_temp_files();
}

#[test]
fn an_interrupted_push_still_writes_both_files() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let reg = need!("PUSHX_TEST_REGISTRY");
    // The second registry (a proxy to the same one) never answers its manifest PUT: the
    // first target lands, the second is still pushing when the signal comes.
    let proxy = FaultProxy::start(&reg);
    proxy.fail_first(Kind::ManifestPut, 100, Fault::Stall);
    let s = Scenario::new().random_image(3_000);
    let out = Out::new();
    let ok = format!("{reg}/{}:1", unique("e2e/ci-int-ok"));
    let stuck = format!("{}/{}:1", proxy.addr(), unique("e2e/ci-int-stuck"));
    let mut cmd = s.config().pushx();
    cmd.args(["--format", "json", "--progress", "plain"])
        .args(out.flags())
        .args([s.image_name(), &ok, &stuck])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut landed = false;
    while !(landed && proxy.seen(Kind::ManifestPut) > 0) {
        if started.elapsed() > Duration::from_secs(60) {
            kill_tree(&mut child);
            panic!("the first target never landed:\n{}", seen.join("\n"));
        }
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            landed |= line.starts_with(&format!("{ok}: pushed "));
            seen.push(line);
        }
    }
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{stdout}\n{}", seen.join("\n"));
    let meta: serde_json::Value = serde_json::from_str(&out.read(&out.metadata())).unwrap();
    assert_eq!(meta["targets"][0]["status"], "pushed", "{meta}");
    assert_eq!(meta["targets"][1]["status"], "interrupted", "{meta}");
    assert_eq!(out.read(&out.metadata()), stdout);
    assert_eq!(
        out.read(&out.digest()),
        meta["targets"][0]["digest"].as_str().unwrap()
    );
    out.assert_no_temp_files();
}
