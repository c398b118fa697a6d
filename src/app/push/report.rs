//! The result of a push run: its model (the JSON document scripts and the end-to-end tests
//! parse, so field names and order are an interface), the exit status it maps to, and its
//! rendering as a table, JSON or `REFERENCE@DIGEST` lines.

use crate::app::cli::{Format, VerifyMode};
use crate::app::push::progress::human_bytes;
use crate::app::table;
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
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::Failed => "failed",
        }
    }
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
}

/// One target's outcome: the result document's `targets[]` entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TargetResult {
    pub reference: String,
    pub status: Status,
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
            },
            error: None,
            kind: None,
        }
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.kind.is_none()
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
/// table.
pub(crate) fn render(result: &PushResult, format: Format, quiet: bool) -> Result<String, Error> {
    if quiet {
        let mut out = String::new();
        for t in result.targets.iter().filter(|t| t.status == Status::Pushed) {
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
    Ok(table(result))
}

fn table(result: &PushResult) -> String {
    let rows: Vec<Vec<String>> = result
        .targets
        .iter()
        .map(|t| {
            let layers = format!(
                "{} pushed, {} existing, {} mounted ({})",
                t.layers.pushed,
                t.layers.existing,
                t.layers.mounted,
                human_bytes(t.bytes_pushed)
            );
            let verified = match t.verification.ok {
                Some(true) => format!("{:?} ok", t.verification.mode).to_lowercase(),
                Some(false) => format!("{:?} FAILED", t.verification.mode).to_lowercase(),
                None => "-".into(),
            };
            vec![
                t.reference.clone(),
                t.status.as_str().to_string(),
                t.digest.clone().unwrap_or_else(|| "-".into()),
                layers,
                verified,
            ]
        })
        .collect();
    table::render(&["TARGET", "STATUS", "DIGEST", "LAYERS", "VERIFIED"], &rows)
}

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
        let out = render(&result(), Format::Table, true).unwrap();
        assert_eq!(out, format!("r:1/a:1@sha256:{}\n", "a".repeat(64)));
    }

    #[test]
    fn table_shows_status_and_verification() {
        let out = render(&result(), Format::Table, false).unwrap();
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
