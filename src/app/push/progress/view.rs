//! What the progress lines say, as pure functions of what the push stream reported: sizes in
//! docker's units, one line per layer, one summary line per target, every line fitted to a
//! terminal width.

use crate::app::table::truncate_middle;
use crate::protocol::stream::{LayerState, PushState};

/// docker's `units.HumanSize` (go-units): decimal units, 4 significant digits, no space
/// (`512B`, `2.1kB`, `1.049MB`, `52.43MB`), so sizes read as in `docker push` and `docker images`.
pub(crate) fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    format!("{}{}", four_significant(v), UNITS[u])
}

/// Go's `%.4g` for `0 <= v < 1000`: at most 4 significant digits, no trailing zeros.
fn four_significant(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // The exponent after rounding to 4 digits: 999.96 rounds to 1000, which keeps no decimals.
    let sci = format!("{v:.3e}");
    let exp: i32 = sci
        .split_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    let decimals = usize::try_from(3 - exp).unwrap_or(0);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `s` in at most `max` characters, ending in `…` when cut; control characters (from the daemon
/// or a registry) become spaces so they cannot move the cursor.
pub(crate) fn fit(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= max {
        return clean;
    }
    let mut out: String = clean.chars().take(max.saturating_sub(1)).collect();
    if max > 0 {
        out.push('…');
    }
    out
}

/// `REFERENCE: TEXT` in at most `width` characters: a long reference loses its middle (never
/// below 24 characters), then a long text its end.
pub(crate) fn target_line(reference: &str, text: &str, width: usize) -> String {
    let text_len = text.chars().count();
    let room = width.saturating_sub(text_len + 2);
    // The reference keeps at least half the line (24 to 40 columns): it says which line is
    // which, and several may differ only in the middle (the registry's port).
    let floor = (width / 2).clamp(24, 40);
    let keep = room.max(floor.min(reference.chars().count()));
    fit(
        &format!("{}: {text}", truncate_middle(reference, keep)),
        width,
    )
}

/// A target reference split into its repository and tag (`reg:5000/team/app`, `1.4`).
pub(crate) fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (reference, ""),
    }
}

/// One repository's line label with its tags summarised: `app:1.4`, `app:{1.4,latest}`,
/// `app:{1.4,1,latest,+2}`.
pub(crate) fn repository_label(name: &str, tags: &[String]) -> String {
    const SHOWN: usize = 3;
    match tags {
        [] => name.to_string(),
        [one] => format!("{name}:{one}"),
        _ => {
            let mut shown: Vec<String> = tags.iter().take(SHOWN).cloned().collect();
            if tags.len() > SHOWN {
                shown.push(format!("+{}", tags.len() - SHOWN));
            }
            format!("{name}:{{{}}}", shown.join(","))
        }
    }
}

/// A layer's id as docker shows it: 12 hex digits (a digest loses its `sha256:`).
pub(crate) fn short_id(id: &str) -> String {
    let hex = id.rsplit(':').next().unwrap_or(id);
    if hex.len() > 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex[..12].to_string()
    } else {
        truncate_middle(id, 20)
    }
}

/// The words `docker push` prints for a layer state.
pub(crate) fn docker_words(state: &LayerState) -> String {
    match state {
        LayerState::Preparing => "Preparing".into(),
        LayerState::Waiting => "Waiting".into(),
        LayerState::Pushing => "Pushing".into(),
        LayerState::Pushed => "Pushed".into(),
        LayerState::Exists => "Layer already exists".into(),
        LayerState::Mounted { from } => format!("Mounted from {from}"),
        LayerState::Retrying { seconds } => format!("Retrying in {seconds} seconds"),
        LayerState::Unavailable => "Unavailable".into(),
        LayerState::Other(s) => s.clone(),
    }
}

/// The bar inside `[` `]`, `inner` characters wide, as docker draws it: `=` for the part done
/// and `>` at its head.
fn bar(current: u64, total: u64, inner: usize) -> String {
    let inner = inner.max(1);
    let frac = if total == 0 {
        1.0
    } else {
        (current as f64 / total as f64).min(1.0)
    };
    let filled = ((frac * (inner - 1) as f64) as usize).min(inner - 1);
    format!(
        "[{}>{}]",
        "=".repeat(filled),
        " ".repeat(inner - 1 - filled)
    )
}

/// Bars narrower than this say nothing the numbers do not: they are left out.
const MIN_BAR: usize = 10;
/// docker's bar width.
const MAX_BAR: usize = 50;

/// One layer, as `docker push` shows it: `  ID: State`, and while bytes move a bar and
/// `29.49MB/52.43MB`; at most `width` characters.
pub(crate) fn layer_line(
    id: &str,
    state: &LayerState,
    current: u64,
    total: Option<u64>,
    width: usize,
) -> String {
    let head = format!("  {}: {}", short_id(id), docker_words(state));
    if *state != LayerState::Pushing || (current == 0 && total.is_none()) {
        return fit(&head, width);
    }
    let numbers = match total {
        Some(t) if t >= current => format!("{:>8}/{}", human_size(current), human_size(t)),
        _ => format!("{:>8}", human_size(current)),
    };
    let used = head.chars().count() + numbers.chars().count() + 4; // spaces and brackets
    let inner = width.saturating_sub(used).min(MAX_BAR);
    // As docker: a count past the total (tar headers, or the daemon's numbers unchecked) shows
    // a full bar and no total.
    let line = match total {
        Some(t) if inner >= MIN_BAR => format!("{head} {} {numbers}", bar(current, t, inner)),
        _ => format!("{head} {numbers}"),
    };
    fit(&line, width)
}

/// One layer as the view keeps it, across the attempts of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerView {
    pub id: String,
    pub state: LayerState,
    /// What the daemon last reported (it may restart a layer from 0).
    pub current: u64,
    pub total: Option<u64>,
    /// The most bytes ever reported for this layer: totals count these, so they never go back.
    peak: u64,
}

/// Where one target stands, for its summary line: folded from every attempt's stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetView {
    /// Layers in the order they first appeared.
    pub layers: Vec<LayerView>,
    shown: Totals,
}

/// Bytes uploaded and the total to upload, as last shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub done: u64,
    pub total: u64,
    /// Layers whose size is not known yet (still preparing or waiting): the total is not known.
    pub pending: usize,
}

impl TargetView {
    /// Take in the current attempt's state.
    pub(crate) fn update(&mut self, state: &PushState) {
        for (id, l) in &state.layers {
            let i = match self.layers.iter().position(|v| v.id == *id) {
                Some(i) => i,
                None => {
                    self.layers.push(LayerView {
                        id: id.clone(),
                        state: l.state.clone(),
                        current: 0,
                        total: None,
                        peak: 0,
                    });
                    self.layers.len() - 1
                }
            };
            let v = &mut self.layers[i];
            v.state = l.state.clone();
            v.current = l.current;
            if l.total.is_some() {
                v.total = l.total;
            }
            v.peak = v.peak.max(l.current);
        }
    }

    /// The totals to show: bytes done and the total never decrease from one call to the next,
    /// and done never exceeds the total. A layer counts once its size is known; one that already
    /// existed or was mounted without a known size was never to be uploaded.
    pub(crate) fn totals(&mut self) -> Totals {
        let mut now = Totals::default();
        for l in &self.layers {
            match l.total {
                Some(t) => {
                    let t = t.max(l.peak);
                    let done = if l.state.is_final() { t } else { l.peak };
                    now.total = now.total.saturating_add(t);
                    now.done = now.done.saturating_add(done);
                }
                None if !l.state.is_final() => now.pending += 1,
                None => {}
            }
        }
        self.shown = Totals {
            done: self.shown.done.max(now.done),
            total: self.shown.total.max(now.total),
            pending: now.pending,
        };
        self.shown.total = self.shown.total.max(self.shown.done);
        self.shown
    }
}

impl Totals {
    /// `29.49MB of 157.3MB`, or `0B of ? (3 layers still preparing)` while sizes are unknown.
    pub(crate) fn describe(&self) -> String {
        if self.pending == 0 {
            return format!("{} of {}", human_size(self.done), human_size(self.total));
        }
        let layers = if self.pending == 1 { "layer" } else { "layers" };
        format!(
            "{} of ? ({} {layers} still preparing)",
            human_size(self.done),
            self.pending
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::stream::{Event, PushState};

    #[test]
    fn sizes_read_like_docker() {
        for (n, want) in [
            (0, "0B"),
            (512, "512B"),
            (999, "999B"),
            (1000, "1kB"),
            (2100, "2.1kB"),
            (101_888, "101.9kB"),
            (1_048_576, "1.049MB"),
            (29_490_000, "29.49MB"),
            (52_428_800, "52.43MB"),
            (157_286_400, "157.3MB"),
            (209_715_200, "209.7MB"),
            (999_960, "1000kB"),
            (3_000_000_000, "3GB"),
            (u64::MAX, "18.45EB"),
        ] {
            assert_eq!(human_size(n), want, "{n}");
        }
    }

    #[test]
    fn middle_truncation_keeps_both_ends() {
        assert_eq!(truncate_middle("abcdef", 6), "abcdef");
        assert_eq!(truncate_middle("abcdefgh", 5), "ab…gh");
        assert_eq!(truncate_middle("abcdefgh", 6), "abc…gh");
        assert_eq!(truncate_middle("abc", 0), "");
        assert_eq!(fit("a\x1b[2Jb", 10), "a [2Jb");
        assert_eq!(fit("abcdef", 4), "abc…");
    }

    #[test]
    fn a_repository_line_summarises_its_tags() {
        assert_eq!(
            split_tag("reg:5000/team/app:1.4"),
            ("reg:5000/team/app", "1.4")
        );
        assert_eq!(split_tag("reg:5000/team/app"), ("reg:5000/team/app", ""));
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(repository_label("r/app", &tags(&["1.4"])), "r/app:1.4");
        assert_eq!(
            repository_label("r/app", &tags(&["1.4", "latest"])),
            "r/app:{1.4,latest}"
        );
        assert_eq!(
            repository_label("r/app", &tags(&["1", "2", "3", "4", "5"])),
            "r/app:{1,2,3,+2}"
        );
    }

    #[test]
    fn target_lines_fit_the_width() {
        let r = "registry.example.com:5000/some-team/a-rather-long-repository-name:2.3.0";
        for width in [40, 60, 80, 120] {
            let l = target_line(r, "pushing 29.49MB of 157.3MB", width);
            assert!(l.chars().count() <= width, "{width}: {l}");
            assert!(l.starts_with("registry") && l.contains("2.3.0: "), "{l}");
        }
        let l = target_line("r:1/a:1", &"failed: x ".repeat(30), 80);
        assert_eq!(l.chars().count(), 80);
        assert!(
            l.starts_with("r:1/a:1: failed: x") && l.ends_with('…'),
            "{l}"
        );
    }

    #[test]
    fn layers_show_a_bar_only_while_bytes_move() {
        let id = "sha256:0123456789abcdef0123";
        assert_eq!(
            layer_line(id, &LayerState::Waiting, 0, None, 80),
            "  0123456789ab: Waiting"
        );
        assert_eq!(
            layer_line("0123456789ab", &LayerState::Preparing, 0, None, 80),
            "  0123456789ab: Preparing"
        );
        assert_eq!(
            layer_line(
                "0123456789ab",
                &LayerState::Pushed,
                52_428_800,
                Some(52_428_800),
                80
            ),
            "  0123456789ab: Pushed"
        );
        assert_eq!(
            layer_line("0123456789ab", &LayerState::Exists, 0, None, 80),
            "  0123456789ab: Layer already exists"
        );
        let l = layer_line(
            "0123456789ab",
            &LayerState::Pushing,
            29_490_000,
            Some(52_428_800),
            120,
        );
        assert_eq!(
            l,
            format!(
                "  0123456789ab: Pushing [{}>{}]  29.49MB/52.43MB",
                "=".repeat(27),
                " ".repeat(22)
            )
        );
        for width in [30, 50, 80, 100, 200] {
            let l = layer_line(
                "0123456789ab",
                &LayerState::Pushing,
                29_490_000,
                Some(52_428_800),
                width,
            );
            assert!(l.chars().count() <= width, "{width}: {l}");
            assert_eq!(l.contains('['), width >= 53, "{width}: {l}");
        }
        // A count past the total (tar headers) shows a full bar and no total, as docker does.
        assert_eq!(
            layer_line("0123456789ab", &LayerState::Pushing, 7, Some(5), 60),
            format!("  0123456789ab: Pushing [{}>]       7B", "=".repeat(24))
        );
        assert_eq!(
            layer_line("0123456789ab", &LayerState::Pushing, 7, None, 80),
            "  0123456789ab: Pushing       7B"
        );
    }

    fn layer(id: &str, status: &str, current: u64, total: u64) -> Event {
        let progress = if total > 0 {
            format!(r#"{{"current":{current},"total":{total}}}"#)
        } else {
            "{}".into()
        };
        crate::protocol::stream::parse_message(&format!(
            r#"{{"status":"{status}","progressDetail":{progress},"id":"{id}"}}"#
        ))
        .unwrap()
    }

    #[test]
    fn totals_say_when_unknown_and_never_go_back() {
        let mut view = TargetView::default();
        let mut state = PushState::default();
        let mut seen = Vec::new();
        let mut step = |state: &mut PushState, ev: Event, view: &mut TargetView| {
            state.apply(&ev);
            view.update(state);
            let t = view.totals();
            seen.push(t);
            t
        };
        for id in ["a", "b", "c"] {
            step(&mut state, layer(id, "Preparing", 0, 0), &mut view);
        }
        let t = step(
            &mut state,
            layer("c", "Layer already exists", 0, 0),
            &mut view,
        );
        assert_eq!(t.describe(), "0B of ? (2 layers still preparing)");
        let t = step(
            &mut state,
            layer("a", "Pushing", 10_000_000, 50_000_000),
            &mut view,
        );
        assert_eq!(t.describe(), "10MB of ? (1 layer still preparing)");
        let t = step(
            &mut state,
            layer("b", "Pushing", 1_000_000, 100_000_000),
            &mut view,
        );
        assert_eq!(t.describe(), "11MB of 150MB");
        step(&mut state, layer("a", "Pushed", 0, 0), &mut view);
        // The daemon restarts layer b from zero (after "Retrying in 5 seconds").
        step(
            &mut state,
            layer("b", "Retrying in 5 seconds", 0, 0),
            &mut view,
        );
        let t = step(
            &mut state,
            layer("b", "Pushing", 500, 100_000_000),
            &mut view,
        );
        assert_eq!(t.describe(), "51MB of 150MB");
        // A second attempt of the whole push: a is already there, b starts over.
        let mut state = PushState::default();
        step(&mut state, layer("a", "Preparing", 0, 0), &mut view);
        step(&mut state, layer("b", "Preparing", 0, 0), &mut view);
        step(
            &mut state,
            layer("a", "Layer already exists", 0, 0),
            &mut view,
        );
        step(
            &mut state,
            layer("b", "Pushing", 2_000_000, 100_000_000),
            &mut view,
        );
        let t = step(&mut state, layer("b", "Pushed", 0, 0), &mut view);
        assert_eq!(t.describe(), "150MB of 150MB");
        for w in seen.windows(2) {
            assert!(w[1].done >= w[0].done && w[1].total >= w[0].total, "{w:?}");
        }
        assert!(seen.iter().all(|t| t.done <= t.total), "{seen:?}");
    }
}
