//! What a push leaves for the CI job around it: `--digest-file`, `--metadata-file`, and under
//! GitHub Actions the step outputs in `$GITHUB_OUTPUT` and an `::error` annotation per failed
//! target. The contents are pure functions of the [`PushResult`]; this module also checks the
//! paths before anything is pushed and writes the files after.
//!
//! None of it can hold a secret: it is made only of the result document (references,
//! digests, sizes, the *source* of each credential, error lines that never carry one).

use crate::app::cli::{Format, PushArgs};
use crate::app::push::report::{PushResult, TABLE_WIDTH, render_at};
use crate::credentials::config_file::{temp_path, write_atomically};
use crate::error::Error;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `--digest-file` and `--metadata-file` flags: checked before the push, written after.
pub(crate) struct Files<'a> {
    digest: Option<&'a Path>,
    metadata: Option<&'a Path>,
}

impl<'a> Files<'a> {
    pub(crate) fn of(args: &'a PushArgs) -> Files<'a> {
        Files {
            digest: args.digest_file.as_deref(),
            metadata: args.metadata_file.as_deref(),
        }
    }

    fn each(&self) -> impl Iterator<Item = (&'static str, &'a Path)> {
        [
            ("--digest-file", self.digest),
            ("--metadata-file", self.metadata),
        ]
        .into_iter()
        .filter_map(|(flag, p)| p.map(|p| (flag, p)))
    }

    /// Refuse (exit 2) a path that cannot be written, before anything is pushed: its directory
    /// missing or not a directory, the path itself a directory, or a directory that refuses a
    /// new file (probed with the temp file the write will use, removed at once).
    pub(crate) fn check(&self) -> Result<(), Error> {
        if let (Some(d), Some(m)) = (self.digest, self.metadata)
            && d == m
        {
            return Err(Error::usage(format!(
                "--digest-file and --metadata-file are both {}: give each its own file",
                d.display()
            )));
        }
        for (flag, path) in self.each() {
            check_path(path)
                .map_err(|why| Error::usage(format!("{flag} {}: {why}", path.display())))?;
        }
        Ok(())
    }

    /// Write both files (what landed, also after a failure or an interruption). A file that
    /// cannot be written is a warning: the push result stands.
    pub(crate) fn write(&self, result: &PushResult) {
        if let Some(path) = self.digest {
            write_or_warn("--digest-file", path, digest_file(result).as_bytes());
        }
        if let Some(path) = self.metadata {
            match render_at(result, Format::Json, false, TABLE_WIDTH) {
                Ok(json) => write_or_warn("--metadata-file", path, json.as_bytes()),
                Err(e) => eprintln!(
                    "warning: --metadata-file {}: not written: {e}",
                    path.display()
                ),
            }
        }
    }
}

fn check_path(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("an empty path".into());
    }
    if path.is_dir() {
        return Err("is a directory: name a file".into());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("{} is not a directory", dir.display())),
        Err(_) => return Err(format!("the directory {} does not exist", dir.display())),
    }
    let probe = temp_path(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map(|_| {
            let _ = std::fs::remove_file(&probe);
        })
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))
}

fn write_or_warn(flag: &str, path: &Path, bytes: &[u8]) {
    // A new file gets the umask's mode, as any output file of a build does: it holds nothing
    // secret.
    if let Err(e) = write_atomically(path, bytes, None) {
        eprintln!("warning: {flag} {}: not written: {e}", path.display());
    }
}

/// `(reference, digest)` of every target the registry holds now (pushed or up to date), in the
/// result's order: what `-q` prints.
fn landed(result: &PushResult) -> Vec<(&str, &str)> {
    result
        .targets
        .iter()
        .filter(|t| t.status.landed())
        .filter_map(|t| Some((t.reference.as_str(), t.digest.as_deref()?)))
        .collect()
}

/// `REFERENCE@DIGEST` lines, each ending in a newline.
fn reference_lines(landed: &[(&str, &str)]) -> String {
    landed.iter().map(|(r, d)| format!("{r}@{d}\n")).collect()
}

/// The `--digest-file` content. One digest for every target that landed (the common case: one
/// image, one manifest): that digest alone, without a newline, as `docker build --iidfile`
/// writes an ID, so the file reads straight into `$(cat FILE)` or a tool's `--digest` input.
/// Several different digests: one `REFERENCE@DIGEST` line per target, as `-q` prints them.
/// Nothing landed: empty, so that a file left by an earlier run never passes for this one's.
pub(crate) fn digest_file(result: &PushResult) -> String {
    let landed = landed(result);
    let mut digests: Vec<&str> = landed.iter().map(|(_, d)| *d).collect();
    digests.sort_unstable();
    digests.dedup();
    match digests.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        _ => reference_lines(&landed),
    }
}

/// The GitHub Actions environment: `Some` under `GITHUB_ACTIONS=true`, with `$GITHUB_OUTPUT`
/// when it is set.
pub(crate) struct GitHub {
    output: Option<PathBuf>,
}

impl GitHub {
    pub(crate) fn from_env() -> Option<GitHub> {
        if std::env::var("GITHUB_ACTIONS").ok()? != "true" {
            return None;
        }
        Some(GitHub {
            output: std::env::var_os("GITHUB_OUTPUT")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        })
    }

    /// Append the step outputs to `$GITHUB_OUTPUT` and print the failures as annotations on
    /// stderr. The runner reads workflow commands from both streams, and stdout is the result
    /// (`--format json | jq`, `-q` into a variable). A file that cannot be written is a
    /// warning, never a failure of the push.
    pub(crate) fn report(&self, result: &PushResult) {
        if let Some(path) = &self.output {
            match step_outputs(result, random_delimiter) {
                Ok(text) => {
                    let appended = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .and_then(|mut f| f.write_all(text.as_bytes()));
                    if let Err(e) = appended {
                        eprintln!(
                            "warning: GITHUB_OUTPUT {}: step outputs not written: {e}",
                            path.display()
                        );
                    }
                }
                Err(e) => eprintln!("warning: step outputs not written: {e}"),
            }
        }
        let notes = annotations(result);
        if !notes.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(notes.as_bytes()).and_then(|_| err.flush());
        }
    }
}

/// The text appended to `$GITHUB_OUTPUT`: `digest` (the first landed target's, empty when
/// none landed), `image-refs` (one `REFERENCE@DIGEST` per line) and `result` (the JSON result,
/// compact). The multi-line values use GitHub's `NAME<<DELIMITER` form with a delimiter from
/// `delimiter` that occurs in neither value.
pub(crate) fn step_outputs(
    result: &PushResult,
    mut delimiter: impl FnMut() -> String,
) -> Result<String, Error> {
    let landed = landed(result);
    let digest = landed.first().map_or("", |(_, d)| *d);
    let refs = reference_lines(&landed);
    let json = serde_json::to_string(result).map_err(|e| Error::other(e.to_string()))?;
    let delim = loop {
        let d = delimiter();
        if !d.is_empty() && !refs.contains(&d) && !json.contains(&d) {
            break d;
        }
    };
    let mut out = format!("digest={digest}\n");
    for (name, value) in [
        ("image-refs", refs.trim_end_matches('\n')),
        ("result", &json),
    ] {
        out.push_str(&format!("{name}<<{delim}\n{value}\n{delim}\n"));
    }
    Ok(out)
}

/// As `@actions/core` makes them: `ghadelimiter_` and 128 random bits. The bits come from
/// std's per-process random hash keys, so no RNG crate is needed for them.
fn random_delimiter() -> String {
    let half = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish()
    };
    format!("ghadelimiter_{:016x}{:016x}", half(), half())
}

/// One `::error title=docker pushx::REFERENCE: MESSAGE` line per target that did not succeed
/// (failed, interrupted, or pushed but not verified).
pub(crate) fn annotations(result: &PushResult) -> String {
    result
        .targets
        .iter()
        .filter(|t| !t.succeeded())
        .map(|t| {
            let why = t.error.as_deref().unwrap_or(t.status.as_str());
            format!(
                "::error title={}::{}\n",
                escape_property("docker pushx"),
                escape_data(&format!("{}: {why}", t.reference))
            )
        })
        .collect()
}

/// A workflow command's message: `%`, CR and LF escaped, as `@actions/core` does.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: the message's escapes, and `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::cli::VerifyMode;
    use crate::app::push::report::{Status, TargetResult};
    use crate::error::Kind;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn target(reference: &str, status: Status, d: Option<char>) -> TargetResult {
        let mut t = TargetResult::new(reference.into(), "anonymous", VerifyMode::Digest);
        t.status = status;
        t.digest = d.map(digest);
        if status == Status::Failed {
            t.error = Some("connection refused".into());
            t.kind = Some(Kind::Unreachable);
        }
        t
    }

    fn result(targets: Vec<TargetResult>) -> PushResult {
        PushResult {
            source: "app:1".into(),
            image_id: "sha256:0".into(),
            targets,
        }
    }

    #[test]
    fn one_digest_is_written_alone() {
        let r = result(vec![
            target("r:1/a:1", Status::Pushed, Some('a')),
            target("r:2/b:1", Status::UpToDate, Some('a')),
            target("r:3/c:1", Status::Failed, None),
        ]);
        assert_eq!(digest_file(&r), digest('a'));
    }

    #[test]
    fn several_digests_are_written_per_reference() {
        let r = result(vec![
            target("r:1/a:1", Status::Pushed, Some('a')),
            target("r:2/b:1", Status::Pushed, Some('b')),
            target("r:2/b:2", Status::Pushed, Some('b')),
            target("r:3/c:1", Status::Failed, None),
        ]);
        assert_eq!(
            digest_file(&r),
            format!(
                "r:1/a:1@{0}\nr:2/b:1@{1}\nr:2/b:2@{1}\n",
                digest('a'),
                digest('b')
            )
        );
    }

    #[test]
    fn nothing_landed_is_an_empty_digest_file() {
        let mut interrupted = target("r:2/b:1", Status::Interrupted, None);
        interrupted.kind = Some(Kind::Interrupted);
        // A failed target's digest (none is set today) would not count either.
        let mut failed = target("r:1/a:1", Status::Failed, None);
        failed.digest = Some(digest('f'));
        let r = result(vec![failed, interrupted]);
        assert_eq!(digest_file(&r), "");
    }

    #[test]
    fn step_outputs_use_the_multiline_form() {
        let r = result(vec![
            target("r:1/a:1", Status::Pushed, Some('a')),
            target("r:2/b:1", Status::Pushed, Some('b')),
            target("r:3/c:1", Status::Failed, None),
        ]);
        let out = step_outputs(&r, || "EOF_x".into()).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains('\n'));
        assert_eq!(
            out,
            format!(
                "digest={a}\nimage-refs<<EOF_x\nr:1/a:1@{a}\nr:2/b:1@{b}\nEOF_x\n\
                 result<<EOF_x\n{json}\nEOF_x\n",
                a = digest('a'),
                b = digest('b')
            )
        );
        let back: serde_json::Value = serde_json::from_str(out.lines().nth(6).unwrap()).unwrap();
        assert_eq!(back["targets"][2]["status"], "failed");
    }

    #[test]
    fn the_delimiter_never_occurs_in_a_value() {
        // The first candidates occur in the references and in the JSON: they are passed over.
        let r = result(vec![target("r:1/eof:1", Status::Pushed, Some('a'))]);
        let mut candidates = vec!["unique", "anonymous", "eof", ""].into_iter().rev();
        let out = step_outputs(&r, || candidates.next().unwrap().to_string()).unwrap();
        assert!(out.contains("image-refs<<unique\n"), "{out}");
        assert!(out.ends_with("\nunique\n"), "{out}");
        // Random ones differ from call to call.
        assert_ne!(random_delimiter(), random_delimiter());
        assert!(random_delimiter().starts_with("ghadelimiter_"));
    }

    #[test]
    fn nothing_landed_gives_empty_outputs() {
        let r = result(vec![target("r:1/a:1", Status::Failed, None)]);
        let out = step_outputs(&r, || "D".into()).unwrap();
        assert!(
            out.starts_with("digest=\nimage-refs<<D\n\nD\nresult<<D\n"),
            "{out}"
        );
    }

    #[test]
    fn annotations_name_each_failure_escaped() {
        let mut odd = target("r:4/d:1", Status::Pushed, Some('d'));
        // Error lines are one line already; escaping still holds for anything that is not.
        odd.error = Some("100% wrong\r\nnext, line: here".into());
        odd.kind = Some(Kind::Verify);
        let r = result(vec![
            target("r:1/a:1", Status::Pushed, Some('a')),
            target("r:3/c:1", Status::Failed, None),
            odd,
        ]);
        assert_eq!(
            annotations(&r),
            "::error title=docker pushx::r:3/c:1: connection refused\n\
             ::error title=docker pushx::r:4/d:1: 100%25 wrong%0D%0Anext, line: here\n"
        );
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(annotations(&result(vec![])), "");
    }

    #[test]
    fn bad_paths_are_refused_with_the_flag_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope/digest");
        assert!(check_path(&missing).unwrap_err().contains("does not exist"));
        assert!(
            check_path(dir.path())
                .unwrap_err()
                .contains("is a directory")
        );
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(
            check_path(&file.join("digest"))
                .unwrap_err()
                .contains("is not a directory")
        );
        assert!(check_path(&file).is_ok());
        assert!(check_path(&dir.path().join("new")).is_ok());
        // The probe leaves nothing behind.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec!["f"]);
        let e = Files {
            digest: Some(&missing),
            metadata: None,
        }
        .check()
        .unwrap_err();
        assert_eq!(e.kind, Kind::Usage);
        assert!(
            e.message
                .starts_with(&format!("--digest-file {}: ", missing.display())),
            "{e}"
        );
        let same = Files {
            digest: Some(&file),
            metadata: Some(&file),
        };
        assert_eq!(same.check().unwrap_err().kind, Kind::Usage);
    }

    #[test]
    fn files_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("digest");
        let m = dir.path().join("meta.json");
        std::fs::write(&d, "stale").unwrap();
        let r = result(vec![target("r:1/a:1", Status::Pushed, Some('a'))]);
        Files {
            digest: Some(&d),
            metadata: Some(&m),
        }
        .write(&r);
        assert_eq!(std::fs::read_to_string(&d).unwrap(), digest('a'));
        assert_eq!(
            std::fs::read_to_string(&m).unwrap(),
            render_at(&r, Format::Json, false, TABLE_WIDTH).unwrap()
        );
    }
}
