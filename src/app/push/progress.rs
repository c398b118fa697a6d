//! Progress on stderr: on a terminal, a view like `docker push` (one summary line per target,
//! one line per layer, a bar only while bytes move); otherwise one line per layer state change,
//! JSON events for programs, or nothing. stdout is kept for the result.

mod view;

pub(crate) use view::human_size;

use crate::app::cli::ProgressMode;
use crate::app::push::report::{Status, TargetResult};
use crate::protocol::stream::{Event, PushState};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use view::{TargetView, layer_line, repository_label, split_tag, target_line};

/// How often plain output prints a running total while bytes move.
const PLAIN_TOTAL_EVERY: Duration = Duration::from_secs(5);
/// How often JSON output reports byte counts (state changes are always reported).
const JSON_BYTES_EVERY: Duration = Duration::from_millis(500);
/// The width assumed when the terminal does not say.
const DEFAULT_WIDTH: usize = 80;

pub(crate) trait Reporter: Send + Sync {
    /// A message from the push stream; `changed` when a layer's state changed.
    fn event(&self, target: &str, ev: &Event, state: &PushState, changed: bool);
    /// A step outside the stream (tagging, verifying, a retry).
    fn stage(&self, target: &str, what: &str);
    /// The target is finished: pushed, failed or interrupted. Called once per target.
    fn done(&self, result: &TargetResult);
    /// Every target is finished: what is shown stays as it is.
    fn end(&self) {}
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

/// The width of the terminal on `term`; 80 when it does not say.
pub(crate) fn term_width(term: &console::Term) -> usize {
    term.size_checked()
        .map(|(_, w)| usize::from(w))
        .filter(|w| *w > 0)
        .unwrap_or(DEFAULT_WIDTH)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Quiet;

impl Reporter for Quiet {
    fn event(&self, _: &str, _: &Event, _: &PushState, _: bool) {}
    fn stage(&self, _: &str, _: &str) {}
    fn done(&self, _: &TargetResult) {}
}

#[derive(Default)]
struct Plain {
    /// Per target: when the last running total was printed, and the totals so far.
    targets: Mutex<HashMap<String, (Option<Instant>, TargetView)>>,
}

fn eline(s: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{s}");
}

impl Reporter for Plain {
    fn event(&self, target: &str, ev: &Event, state: &PushState, changed: bool) {
        match ev {
            Event::Layer { id, state: s, .. } => {
                let mut targets = lock(&self.targets);
                let (last, view) = targets.entry(target.to_string()).or_default();
                view.update(state);
                let totals = view.totals();
                if changed {
                    eline(&format!("{target}: {id}: {}", s.label()));
                    return;
                }
                let now = Instant::now();
                if last.is_none_or(|t| now.duration_since(t) >= PLAIN_TOTAL_EVERY) {
                    *last = Some(now);
                    eline(&format!("{target}: uploaded {}", totals.describe()));
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

    fn done(&self, result: &TargetResult) {
        eline(&format!("{}: {}", result.reference, result.summary(false)));
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
            let mut last = lock(&self.last_bytes);
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

    fn done(&self, result: &TargetResult) {
        Self::emit(serde_json::json!({
            "type": "done", "target": result.reference, "ok": result.succeeded(),
            "status": result.status, "summary": result.summary(false),
        }));
    }
}

/// The terminal view: per repository, a summary line (its tags summarised) followed by the
/// layer lines of its current push, so that 3 registries × 5 tags stay 3 blocks. Each line is
/// a text-only indicatif bar whose text this module renders, so that it fits the terminal.
struct Bars {
    multi: MultiProgress,
    term: console::Term,
    targets: Mutex<HashMap<String, Block>>,
    /// Set when the run was interrupted: the view is no longer redrawn.
    stopped: Mutex<bool>,
}

/// One repository's lines.
struct Block {
    /// Its targets' tags, as they started.
    tags: Vec<String>,
    /// How many of them ended.
    ended: usize,
    view: TargetView,
    summary: ProgressBar,
    layers: Vec<ProgressBar>,
    /// A step outside the stream (verifying, retrying, the outcome), shown instead of the
    /// totals until the stream moves again.
    stage: Option<String>,
}

impl Bars {
    fn new() -> Self {
        let term = console::Term::stderr();
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            term,
            targets: Mutex::default(),
            stopped: Mutex::default(),
        }
    }

    /// A line of text: under `after`, or (a new target's block) at the end.
    fn add_line(&self, after: Option<&ProgressBar>) -> ProgressBar {
        let pb = ProgressBar::new(0);
        let pb = match after {
            Some(a) => self.multi.insert_after(a, pb),
            None => self.multi.add(pb),
        };
        pb.set_style(
            ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    }

    /// Update `target`'s repository block with `f`, then redraw it at the terminal's width.
    fn update(&self, target: &str, f: impl FnOnce(&mut Block)) {
        let (name, tag) = split_tag(target);
        let mut targets = lock(&self.targets);
        let block = targets.entry(name.to_string()).or_insert_with(|| Block {
            tags: Vec::new(),
            ended: 0,
            view: TargetView::default(),
            summary: self.add_line(None),
            layers: Vec::new(),
            stage: None,
        });
        if !block.tags.iter().any(|t| t == tag) {
            block.tags.push(tag.to_string());
        }
        f(block);
        // One column spare, so that no line fills the last column.
        let width = term_width(&self.term).saturating_sub(1).max(20);
        while block.layers.len() < block.view.layers.len() {
            let pb = self.add_line(Some(block.layers.last().unwrap_or(&block.summary)));
            block.layers.push(pb);
        }
        for (pb, l) in block.layers.iter().zip(&block.view.layers) {
            pb.set_message(layer_line(&l.id, &l.state, l.current, l.total, width));
        }
        let text = match &block.stage {
            Some(s) => s.clone(),
            None if block.view.layers.is_empty() => "preparing".into(),
            None => format!("pushing {}", block.view.totals().describe()),
        };
        // With several tags, which one the text is about, and how many have ended.
        let text = match block.tags.len() {
            1 => text,
            n => format!("[{}/{n}] {tag}: {text}", block.ended),
        };
        let label = repository_label(name, &block.tags);
        block.summary.set_message(target_line(&label, &text, width));
    }
}

impl Reporter for Bars {
    fn event(&self, target: &str, ev: &Event, state: &PushState, _changed: bool) {
        if matches!(ev, Event::Layer { .. }) {
            self.update(target, |block| {
                block.view.update(state);
                block.stage = None;
            });
        }
    }

    fn stage(&self, target: &str, what: &str) {
        self.update(target, |block| block.stage = Some(what.to_string()));
    }

    fn done(&self, result: &TargetResult) {
        if result.status == Status::Interrupted {
            // The terminal may have echoed `^C` after the last line, which moves the cursor
            // where indicatif does not expect it: a redraw would land a line too low and leave
            // a stale copy behind. So the view stops where it is, and each interrupted target
            // says so on a line of its own below it. indicatif leaves the cursor after the last
            // line's last column: `\r\n` starts a fresh line whether or not `^C` was echoed.
            let mut stopped = lock(&self.stopped);
            if !*stopped {
                *stopped = true;
                self.multi.set_draw_target(ProgressDrawTarget::hidden());
                if self.term.is_term() && !lock(&self.targets).is_empty() {
                    let _ = write!(std::io::stderr().lock(), "\r\n");
                }
            }
            let width = term_width(&self.term).saturating_sub(1).max(20);
            eline(&target_line(&result.reference, "interrupted", width));
            return;
        }
        self.update(&result.reference, |block| {
            block.ended += 1;
            block.stage = Some(result.summary(true));
        });
        // A repository's lines stay live while another of its tags may still come: `end`
        // leaves them as they are.
    }

    fn end(&self) {
        if *lock(&self.stopped) {
            return;
        }
        // Finished lines keep their last text and are no longer redrawn.
        for block in lock(&self.targets).values() {
            for pb in block.layers.iter().chain([&block.summary]) {
                pb.finish();
            }
        }
    }
}
