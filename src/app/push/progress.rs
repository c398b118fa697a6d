//! Progress on stderr: bars on a terminal, one line per layer state change otherwise, JSON
//! events for programs, or nothing. stdout is kept for the result.

use crate::app::cli::ProgressMode;
use crate::protocol::stream::{Event, PushState};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often plain output prints a running total while bytes move.
const PLAIN_TOTAL_EVERY: Duration = Duration::from_secs(5);
/// How often JSON output reports byte counts (state changes are always reported).
const JSON_BYTES_EVERY: Duration = Duration::from_millis(500);

pub(crate) trait Reporter: Send + Sync {
    /// A message from the push stream; `changed` when a layer's state changed.
    fn event(&self, target: &str, ev: &Event, state: &PushState, changed: bool);
    /// A step outside the stream (tagging, verifying).
    fn stage(&self, target: &str, what: &str);
    /// The target is finished, well or not.
    fn done(&self, target: &str, ok: bool, summary: &str);
}

pub(crate) fn reporter(mode: ProgressMode) -> Box<dyn Reporter> {
    let mode = match mode {
        ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
        ProgressMode::Auto => ProgressMode::Plain,
        m => m,
    };
    match mode {
        ProgressMode::Tty => Box::new(Bars::new()),
        ProgressMode::Json => Box::new(Json::default()),
        ProgressMode::Quiet => Box::new(Quiet),
        _ => Box::new(Plain::default()),
    }
}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

struct Quiet;

impl Reporter for Quiet {
    fn event(&self, _: &str, _: &Event, _: &PushState, _: bool) {}
    fn stage(&self, _: &str, _: &str) {}
    fn done(&self, _: &str, _: bool, _: &str) {}
}

#[derive(Default)]
struct Plain {
    last_total: Mutex<HashMap<String, Instant>>,
}

fn eline(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{s}");
}

impl Reporter for Plain {
    fn event(&self, target: &str, ev: &Event, state: &PushState, changed: bool) {
        match ev {
            Event::Layer { id, state: s, .. } if changed => {
                eline(&format!("{target}: {id}: {}", s.label()))
            }
            Event::Layer { .. } => {
                let mut last = self.last_total.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let due = last
                    .get(target)
                    .is_none_or(|t| now.duration_since(*t) >= PLAIN_TOTAL_EVERY);
                if due {
                    last.insert(target.to_string(), now);
                    let (done, total) = state.progress();
                    eline(&format!(
                        "{target}: uploaded {} of {}",
                        human_bytes(done),
                        human_bytes(total)
                    ));
                }
            }
            Event::SinglePlatform => eline(&format!(
                "{target}: note: only one platform of a multi-platform image was available locally; the daemon pushed that platform's manifest"
            )),
            _ => {}
        }
    }

    fn stage(&self, target: &str, what: &str) {
        eline(&format!("{target}: {what}"));
    }

    fn done(&self, target: &str, _ok: bool, summary: &str) {
        eline(&format!("{target}: {summary}"));
    }
}

#[derive(Default)]
struct Json {
    last_bytes: Mutex<HashMap<String, Instant>>,
}

impl Json {
    fn emit(v: serde_json::Value) {
        eline(&v.to_string());
    }
}

impl Reporter for Json {
    fn event(&self, target: &str, ev: &Event, _state: &PushState, changed: bool) {
        let Event::Layer {
            id,
            state,
            current,
            total,
        } = ev
        else {
            return;
        };
        if !changed {
            let mut last = self.last_bytes.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            if last
                .get(target)
                .is_some_and(|t| now.duration_since(*t) < JSON_BYTES_EVERY)
            {
                return;
            }
            last.insert(target.to_string(), now);
        }
        Self::emit(serde_json::json!({
            "type": "layer", "target": target, "layer": id, "state": state.label(),
            "current": current, "total": total,
        }));
    }

    fn stage(&self, target: &str, what: &str) {
        Self::emit(serde_json::json!({"type": "stage", "target": target, "stage": what}));
    }

    fn done(&self, target: &str, ok: bool, summary: &str) {
        Self::emit(
            serde_json::json!({"type": "done", "target": target, "ok": ok, "summary": summary}),
        );
    }
}

struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<(String, String), ProgressBar>>,
    totals: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Self {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: Mutex::default(),
            totals: Mutex::default(),
        }
    }

    fn total_bar(&self, target: &str) -> ProgressBar {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        totals
            .entry(target.to_string())
            .or_insert_with(|| {
                bar(
                    self.multi.add(ProgressBar::new(0)),
                    "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {msg}",
                    target.to_string(),
                )
            })
            .clone()
    }
}

impl Reporter for Bars {
    fn event(&self, target: &str, ev: &Event, state: &PushState, _changed: bool) {
        let Event::Layer { id, state: s, .. } = ev else {
            return;
        };
        let total = self.total_bar(target);
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        let pb = bars
            .entry((target.to_string(), id.clone()))
            .or_insert_with(|| {
                bar(
                    self.multi.insert_before(&total, ProgressBar::new(0)),
                    "  {prefix} [{bar:30}] {bytes}/{total_bytes} {msg}",
                    id.clone(),
                )
            });
        if let Some((_, layer)) = state.layers.iter().find(|(l, _)| l == id) {
            if let Some(t) = layer.total {
                pb.set_length(t.max(layer.current));
            }
            pb.set_position(layer.current);
        }
        pb.set_message(s.label());
        if s.is_final() {
            pb.finish();
        }
        let (done, all) = state.progress();
        total.set_length(all);
        total.set_position(done);
    }

    fn stage(&self, target: &str, what: &str) {
        self.total_bar(target).set_message(what.to_string());
    }

    fn done(&self, target: &str, _ok: bool, summary: &str) {
        self.total_bar(target)
            .finish_with_message(shorten_digests(summary));
    }
}

/// A bar drawn with `template`, labelled `prefix`.
fn bar(pb: ProgressBar, template: &str, prefix: String) -> ProgressBar {
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(prefix);
    pb
}

/// `sha256:` and 12 hex digits, so a finished bar fits on its line (the result has them whole).
fn shorten_digests(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("sha256:") {
        let (head, tail) = rest.split_at(i + "sha256:".len());
        out.push_str(head);
        let hex = tail.bytes().take_while(u8::is_ascii_hexdigit).count();
        out.push_str(&tail[..hex.min(12)]);
        rest = &tail[hex..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{human_bytes, shorten_digests};

    #[test]
    fn digests_shortened_for_bars() {
        let d = format!("sha256:{}", "a".repeat(64));
        let want = format!("pushed sha256:{0}, verified (sha256:{0})", "a".repeat(12));
        assert_eq!(
            shorten_digests(&format!("pushed {d}, verified ({d})")),
            want
        );
        assert_eq!(shorten_digests("no digest"), "no digest");
    }

    #[test]
    fn bytes_read_like_docker() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(101_888), "101.9 kB");
        assert_eq!(human_bytes(3_400_000), "3.4 MB");
    }
}
