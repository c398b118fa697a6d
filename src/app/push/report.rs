//! The result of a push run: its model (the JSON document scripts and the end-to-end tests
//! parse, so field names and order are an interface), the exit status it maps to, and its
//! rendering as a table, JSON or `REFERENCE@DIGEST` lines.

use crate::app::cli::{Format, VerifyMode};
use crate::app::push::progress::human_size;
use crate::app::table;
pub(crate) use crate::app::verify::Blobs;
use crate::error::{Error, Kind};
use crate::protocol::classify::hint;
use serde::Serialize;

/// Whether a target's push went through. A pushed target may still have failed verification
/// (see [`TargetResult::verification`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pushed,
    Failed,
    /// The run was stopped (Ctrl-C, SIGTERM, the docker CLI closing its plugin socket) before
    /// this target completed.
    Interrupted,
    /// Not pushed: the registry's tag already held the source image with every blob present.
    #[serde(rename = "up-to-date")]
    UpToDate,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
            Status::UpToDate => "up-to-date",
        }
    }

    /// The registry holds the target: pushed now, or found up to date.
    pub(crate) fn landed(self) -> bool {
        matches!(self, Status::Pushed | Status::UpToDate)
    }
}

/// `sha256:` and 12 hex digits, as docker shortens IDs; the JSON result has them whole.
pub(crate) fn short_digest(d: &str) -> &str {
    let hex = d.strip_prefix("sha256:").map_or(0, |h| h.len());
    if hex > 12 {
        &d[.."sha256:".len() + 12]
    } else {
        d
    }
}

/// How a target got to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Via {
    /// Pushed through the daemon.
    Daemon,
    /// Within the registry of the target it came from: blobs mounted, the manifest put.
    Mount,
    /// From another registry: blobs streamed across, the manifest put.
    Copy,
    /// Already there: nothing done.
    #[serde(rename = "up-to-date")]
    UpToDate,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub(crate) struct Layers {
    pub pushed: usize,
    pub existing: usize,
    pub mounted: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Verification {
    pub mode: VerifyMode,
    /// `None` when nothing was checked.
    pub ok: Option<bool>,
    pub detail: String,
    /// What `--verify full` read from the registry (absent in the other modes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs: Option<Blobs>,
}

/// One target's outcome: the result document's `targets[]` entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TargetResult {
    pub reference: String,
    pub status: Status,
    pub via: Via,
    pub digest: Option<String>,
    pub size: Option<u64>,
    pub credential_source: String,
    pub layers: Layers,
    pub bytes_pushed: u64,
    pub duration_ms: u64,
    /// Push attempts made (1 when the first succeeded).
    pub attempts: u32,
    pub verification: Verification,
    pub error: Option<String>,
    #[serde(skip)]
    pub kind: Option<Kind>,
}

impl TargetResult {
    /// A target not pushed (yet): failed, not verified, no error recorded.
    pub(crate) fn new(
        reference: String,
        credential_source: &str,
        verify: VerifyMode,
    ) -> TargetResult {
        TargetResult {
            reference,
            status: Status::Failed,
            via: Via::Daemon,
            digest: None,
            size: None,
            credential_source: credential_source.to_string(),
            layers: Layers::default(),
            bytes_pushed: 0,
            duration_ms: 0,
            attempts: 0,
            verification: Verification {
                mode: verify,
                ok: None,
                detail: "not verified".into(),
                blobs: None,
            },
            error: None,
            kind: None,
        }
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.kind.is_none()
    }

    /// One line saying how the target ended, for progress output: `short` (a terminal) with
    /// short digests and the verification mode, else with full digests and what was verified.
    pub(crate) fn summary(&self, short: bool) -> String {
        if self.status == Status::Interrupted {
            return "interrupted".into();
        }
        if let Some(e) = &self.error {
            return format!("failed: {e}");
        }
        let digest = self.digest.as_deref().unwrap_or("-");
        let mut s = format!(
            "{} {}",
            self.status.as_str(),
            if short { short_digest(digest) } else { digest }
        );
        if self.status == Status::UpToDate {
            s.push_str(" (not pushed)");
        }
        if self.bytes_pushed > 0 {
            s.push_str(&format!(", {} uploaded", human_size(self.bytes_pushed)));
        }
        if self.verification.ok == Some(true) {
            let how = if short {
                mode_name(self.verification.mode).to_string()
            } else {
                self.verification.detail.clone()
            };
            s.push_str(&format!(", verified ({how})"));
        }
        s
    }

    /// Record the failure, with the fix to suggest for `registry` when there is one.
    pub(crate) fn fail(&mut self, e: Error, registry: &str) {
        self.error = Some(match hint(e.kind, &e.message, registry) {
            Some(h) => format!("{}: {h}", e.message),
            None => e.message.clone(),
        });
        self.kind = Some(e.kind);
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct PushResult {
    pub source: String,
    pub image_id: String,
    pub targets: Vec<TargetResult>,
}

impl PushResult {
    /// 0 when every target is pushed and verified; 7 when only some are; otherwise the kind of
    /// the first failure.
    pub(crate) fn outcome(&self) -> Result<(), Error> {
        let failed: Vec<&TargetResult> = self.targets.iter().filter(|t| !t.succeeded()).collect();
        let Some(first) = failed.first() else {
            return Ok(());
        };
        let msg =
            |t: &TargetResult| format!("{}: {}", t.reference, t.error.clone().unwrap_or_default());
        if failed.len() < self.targets.len() {
            let names: Vec<String> = failed.iter().map(|t| msg(t)).collect();
            return Err(Error::new(
                Kind::Partial,
                format!(
                    "{} of {} targets failed: {}",
                    failed.len(),
                    self.targets.len(),
                    names.join("; ")
                ),
            ));
        }
        Err(Error::new(first.kind.unwrap_or(Kind::Other), msg(first)))
    }

    /// The references that completed and those that did not, for a run cut short.
    pub(crate) fn split_completed(&self) -> (Vec<&str>, Vec<&str>) {
        let names = |ok: bool| {
            self.targets
                .iter()
                .filter(|t| t.succeeded() == ok)
                .map(|t| t.reference.as_str())
                .collect()
        };
        (names(true), names(false))
    }
}

/// The text for stdout: `REFERENCE@DIGEST` lines with `quiet`, else the JSON document or the
/// table in at most `width` columns.
pub(crate) fn render(result: &PushResult, format: Format, quiet: bool) -> Result<String, Error> {
    let term = console::Term::stdout();
    let width = if term.is_term() {
        crate::app::push::progress::term_width(&term).min(TABLE_WIDTH)
    } else {
        TABLE_WIDTH
    };
    render_at(result, format, quiet, width)
}

/// [`render`] for a table at most `width` columns wide.
pub(crate) fn render_at(
    result: &PushResult,
    format: Format,
    quiet: bool,
    width: usize,
) -> Result<String, Error> {
    if quiet {
        let mut out = String::new();
        for t in result.targets.iter().filter(|t| t.status.landed()) {
            if let Some(d) = &t.digest {
                out.push_str(&format!("{}@{d}\n", t.reference));
            }
        }
        return Ok(out);
    }
    if format == Format::Json {
        let mut out =
            serde_json::to_string_pretty(result).map_err(|e| Error::other(e.to_string()))?;
        out.push('\n');
        return Ok(out);
    }
    Ok(table(result, width))
}

fn mode_name(mode: VerifyMode) -> &'static str {
    match mode {
        VerifyMode::Pull => "pull",
        VerifyMode::Digest => "digest",
        VerifyMode::Full => "full",
        VerifyMode::None => "none",
    }
}

/// The widest the table gets (short digests; the whole detail is in `--format json`).
pub(crate) const TABLE_WIDTH: usize = 100;

/// The result table, at most `width` columns: a long reference loses its middle.
fn table(result: &PushResult, width: usize) -> String {
    let rows: Vec<Vec<String>> = result
        .targets
        .iter()
        .map(|t| {
            let layers = t.layers.pushed + t.layers.existing + t.layers.mounted;
            let uploaded = if t.status.landed() || t.bytes_pushed > 0 {
                format!(
                    "{}, {} of {layers} layers",
                    human_size(t.bytes_pushed),
                    t.layers.pushed
                )
            } else {
                "-".into()
            };
            let verified = match t.verification.ok {
                Some(true) => format!("{} ok", mode_name(t.verification.mode)),
                Some(false) => format!("{} FAILED", mode_name(t.verification.mode)),
                None => "-".into(),
            };
            vec![
                t.reference.clone(),
                t.status.as_str().to_string(),
                t.digest.as_deref().map_or("-", short_digest).to_string(),
                uploaded,
                verified,
            ]
        })
        .collect();
    let mut header = vec!["TARGET", "STATUS", "DIGEST", "UPLOADED", "VERIFIED"];
    let mut rows = rows;
    // On a narrow terminal the references matter more than the upload sizes (which the JSON
    // result keeps): drop that column before cutting references below REFERENCE_ROOM.
    let natural = |col: usize, header: &[&str], rows: &[Vec<String>]| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .chain([header[col].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let others = |header: &[&str], rows: &[Vec<String>]| {
        (1..header.len())
            .map(|c| natural(c, header, rows) + 2)
            .sum::<usize>()
    };
    let wanted = natural(0, &header, &rows).min(REFERENCE_ROOM);
    if width.saturating_sub(others(&header, &rows)) < wanted {
        header.remove(3);
        for r in &mut rows {
            r.remove(3);
        }
    }
    table::render_fitted(&header, &rows, width, 0)
}

/// The room a reference keeps in the table before the upload column gives way.
const REFERENCE_ROOM: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> PushResult {
        let mut ok = TargetResult::new("r:1/a:1".into(), "anonymous", VerifyMode::Digest);
        ok.status = Status::Pushed;
        ok.digest = Some(format!("sha256:{}", "a".repeat(64)));
        ok.attempts = 1;
        ok.verification.ok = Some(true);
        let mut bad = TargetResult::new("r:1/b:1".into(), "docker-config", VerifyMode::Digest);
        bad.fail(Error::new(Kind::Auth, "unauthorized"), "r:1");
        PushResult {
            source: "a:1".into(),
            image_id: "sha256:0".into(),
            targets: vec![ok, bad],
        }
    }

    #[test]
    fn status_serializes_as_before() {
        let v = serde_json::to_value(result()).unwrap();
        assert_eq!(v["targets"][0]["status"], "pushed");
        assert_eq!(v["targets"][1]["status"], "failed");
        let keys: Vec<&String> = v["targets"][0].as_object().unwrap().keys().collect();
        assert!(!keys.iter().any(|k| *k == "kind"), "{keys:?}");
    }

    #[test]
    fn quiet_lists_only_pushed_targets() {
        let out = render_at(&result(), Format::Table, true, TABLE_WIDTH).unwrap();
        assert_eq!(out, format!("r:1/a:1@sha256:{}\n", "a".repeat(64)));
    }

    #[test]
    fn an_interrupted_target_says_so_everywhere() {
        let mut r = result();
        let mut t = TargetResult::new("r:1/c:1".into(), "anonymous", VerifyMode::Pull);
        t.status = Status::Interrupted;
        t.error = Some("interrupted before it completed".into());
        t.kind = Some(Kind::Interrupted);
        r.targets.push(t);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["targets"][2]["status"], "interrupted");
        let table = render_at(&r, Format::Table, false, TABLE_WIDTH).unwrap();
        let row = table.lines().nth(3).unwrap();
        assert!(row.starts_with("r:1/c:1  interrupted  -"), "{table}");
        assert_eq!(r.targets[2].summary(true), "interrupted");
        assert_eq!(r.targets[2].summary(false), "interrupted");
        assert!(
            render_at(&r, Format::Table, true, 100)
                .unwrap()
                .lines()
                .count()
                == 1
        );
    }

    #[test]
    fn the_table_fits_100_columns_with_short_digests() {
        let long = format!(
            "registry.example.com:5000/{}/service:2.3.0-rc.1",
            "team/subgroup/".repeat(2)
        );
        let mut r = result();
        r.targets[0].reference = long.clone();
        r.targets[0].verification.mode = VerifyMode::Pull;
        r.targets[0].bytes_pushed = 157_286_400;
        r.targets[0].layers = Layers {
            pushed: 2,
            existing: 1,
            mounted: 0,
        };
        r.targets[1].status = Status::Failed;
        r.targets[1].verification.mode = VerifyMode::Digest;
        r.targets[1].verification.ok = Some(false);
        for (width, sizes) in [(TABLE_WIDTH, true), (80, false), (60, false)] {
            let out = render_at(&r, Format::Table, false, width).unwrap();
            assert!(
                out.lines().all(|l| l.chars().count() <= width),
                "{width}:\n{out}"
            );
            let row = out.lines().nth(1).unwrap();
            assert!(row.starts_with("registry"), "{out}");
            assert!(
                row.contains("…") && row.contains("-rc.1  pushed  sha256:aaaaaaaaaaaa  "),
                "{out}"
            );
            let uploaded = "sha256:aaaaaaaaaaaa  157.3MB, 2 of 3 layers  pull ok";
            assert_eq!(row.contains(uploaded), sizes, "{out}");
            assert_eq!(out.contains("UPLOADED"), sizes, "{out}");
            assert!(!out.contains(&"a".repeat(13)), "short digests only: {out}");
            assert!(
                out.lines().nth(2).unwrap().ends_with("digest FAILED"),
                "{out}"
            );
        }
        // The JSON document keeps everything whole.
        let json = render_at(&r, Format::Json, false, 80).unwrap();
        assert!(
            json.contains(&long) && json.contains(&"a".repeat(64)),
            "{json}"
        );
    }

    #[test]
    fn summaries_use_docker_units() {
        let r = result();
        let mut t = r.targets[0].clone();
        t.bytes_pushed = 52_428_800;
        t.verification.detail = format!("registry holds sha256:{}", "a".repeat(64));
        assert_eq!(
            t.summary(true),
            format!(
                "pushed sha256:{}, 52.43MB uploaded, verified (digest)",
                "a".repeat(12)
            )
        );
        assert_eq!(
            t.summary(false),
            format!(
                "pushed sha256:{0}, 52.43MB uploaded, verified (registry holds sha256:{0})",
                "a".repeat(64)
            )
        );
        assert!(
            r.targets[1]
                .summary(true)
                .starts_with("failed: unauthorized: log in")
        );
    }

    #[test]
    fn an_up_to_date_target_is_counted_everywhere() {
        let mut r = result();
        r.targets[0].status = Status::UpToDate;
        r.targets[0].layers.existing = 2;
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["targets"][0]["status"], "up-to-date");
        assert!(v["targets"][0]["verification"].get("blobs").is_none());
        let table = render_at(&r, Format::Table, false, TABLE_WIDTH).unwrap();
        let row = table.lines().nth(1).unwrap();
        assert!(
            row.contains("up-to-date  sha256:aaaaaaaaaaaa  0B, 0 of 2 layers  digest ok"),
            "{table}"
        );
        let quiet = render_at(&r, Format::Table, true, TABLE_WIDTH).unwrap();
        assert_eq!(quiet, format!("r:1/a:1@sha256:{}\n", "a".repeat(64)));
        assert_eq!(
            r.targets[0].summary(true),
            "up-to-date sha256:aaaaaaaaaaaa (not pushed), verified (digest)"
        );
    }

    #[test]
    fn table_shows_status_and_verification() {
        let out = render_at(&result(), Format::Table, false, TABLE_WIDTH).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("TARGET   STATUS  DIGEST"), "{out}");
        assert!(
            lines[1].contains("pushed") && lines[1].ends_with("digest ok"),
            "{out}"
        );
        assert!(
            lines[2].contains("failed") && lines[2].ends_with('-'),
            "{out}"
        );
    }
}
