//! The daemon's push progress stream: JSON messages in, per-layer states and the pushed digest out.
//!
//! Both image stores are understood (see the fixtures under `tests/fixtures/`): the graphdriver
//! store reports the digest in an aux `{Tag,Digest,Size}` message and in a status line; the
//! containerd store only in the status line `<tag>: digest: sha256:… size: N`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One raw message, as the daemon writes it. Unknown keys are ignored.
#[derive(Debug, Default, Deserialize)]
struct Raw {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "progressDetail")]
    progress_detail: Option<Progress>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    aux: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
struct Progress {
    #[serde(default)]
    current: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// Where one layer (or, under the containerd store, one blob) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerState {
    Preparing,
    Waiting,
    Pushing,
    Pushed,
    /// `Layer already exists` (or `Already exists` for config blobs under containerd).
    Exists,
    /// Cross-repository mount: the registry linked the blob from another repository.
    Mounted {
        from: String,
    },
    /// The daemon is about to retry the upload of this layer.
    Retrying {
        seconds: u64,
    },
    /// containerd store: the blob is not present locally.
    Unavailable,
    Other(String),
}

impl LayerState {
    fn parse(status: &str) -> LayerState {
        match status {
            "Preparing" => LayerState::Preparing,
            "Waiting" => LayerState::Waiting,
            "Pushing" => LayerState::Pushing,
            "Pushed" => LayerState::Pushed,
            "Layer already exists" | "Already exists" => LayerState::Exists,
            "Unavailable" => LayerState::Unavailable,
            s => {
                if let Some(from) = s.strip_prefix("Mounted from ") {
                    LayerState::Mounted {
                        from: from.to_string(),
                    }
                } else if let Some(rest) = s.strip_prefix("Retrying in ") {
                    let secs = rest.split_whitespace().next().and_then(|n| n.parse().ok());
                    LayerState::Retrying {
                        seconds: secs.unwrap_or(0),
                    }
                } else {
                    LayerState::Other(s.to_string())
                }
            }
        }
    }

    /// A short word for progress output.
    pub fn label(&self) -> String {
        match self {
            LayerState::Preparing => "preparing".into(),
            LayerState::Waiting => "waiting".into(),
            LayerState::Pushing => "pushing".into(),
            LayerState::Pushed => "pushed".into(),
            LayerState::Exists => "already exists".into(),
            LayerState::Mounted { from } => format!("mounted from {from}"),
            LayerState::Retrying { seconds } => format!("retrying in {seconds}s"),
            LayerState::Unavailable => "unavailable".into(),
            LayerState::Other(s) => s.to_lowercase(),
        }
    }

    /// No further change is expected for this layer.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            LayerState::Pushed | LayerState::Exists | LayerState::Mounted { .. }
        )
    }
}

/// One parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `The push refers to repository [<name>]`.
    Start { repository: String },
    Layer {
        id: String,
        state: LayerState,
        current: Option<u64>,
        total: Option<u64>,
    },
    /// The manifest (or index) the registry now holds under `tag`.
    Digest {
        tag: String,
        digest: String,
        size: u64,
    },
    /// The containerd store pushed one platform's manifest instead of the whole index.
    SinglePlatform,
    /// An error inside the HTTP-200 stream: the push failed.
    Error(String),
    /// Anything else (kept for debug output).
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError(pub String);

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable progress message from the daemon: {}", self.0)
    }
}

/// Parse one message (one line of the stream, without its line ending).
pub fn parse_message(line: &str) -> Result<Event, StreamError> {
    let raw: Raw = serde_json::from_str(line).map_err(|e| StreamError(e.to_string()))?;
    if let Some(msg) = raw.error_detail.and_then(|d| d.message).or(raw.error) {
        return Ok(Event::Error(msg));
    }
    if let Some(aux) = raw.aux {
        return Ok(parse_aux(&aux));
    }
    let status = raw.status.unwrap_or_default();
    if let Some(id) = raw.id.filter(|id| !id.is_empty()) {
        let (current, total) = raw
            .progress_detail
            .map(|p| (p.current, p.total))
            .unwrap_or_default();
        return Ok(Event::Layer {
            id,
            state: LayerState::parse(&status),
            current,
            total,
        });
    }
    if let Some(repo) = status
        .strip_prefix("The push refers to repository [")
        .and_then(|r| r.strip_suffix(']'))
    {
        return Ok(Event::Start {
            repository: repo.to_string(),
        });
    }
    if let Some(ev) = parse_digest_line(&status) {
        return Ok(ev);
    }
    Ok(Event::Other(status))
}

fn parse_aux(aux: &serde_json::Value) -> Event {
    let digest = aux.get("Digest").and_then(|d| d.as_str());
    if let Some(digest) = digest.filter(|d| is_digest(d)) {
        return Event::Digest {
            tag: aux
                .get("Tag")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string(),
            digest: digest.to_string(),
            size: aux.get("Size").and_then(|s| s.as_u64()).unwrap_or(0),
        };
    }
    if aux
        .get("manifestPushedInsteadOfIndex")
        .and_then(|v| v.as_bool())
        == Some(true)
    {
        return Event::SinglePlatform;
    }
    Event::Other(aux.to_string())
}

/// `<tag>: digest: sha256:<64 hex> size: <n>`
fn parse_digest_line(status: &str) -> Option<Event> {
    let (tag, rest) = status.split_once(": digest: ")?;
    let (digest, size) = rest.split_once(" size: ")?;
    if tag.is_empty() || tag.contains(char::is_whitespace) || !is_digest(digest) {
        return None;
    }
    Some(Event::Digest {
        tag: tag.to_string(),
        digest: digest.to_string(),
        size: size.trim().parse().ok()?,
    })
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Splits a byte stream into messages. The daemon ends each with `\r\n`; a message may arrive
/// split across chunks, and the last one may lack its line ending.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
}

/// Longest message we buffer: progress messages are a few hundred bytes; anything larger is a
/// broken peer, and unbounded buffering would let it exhaust memory.
const MAX_LINE: usize = 1 << 20;

impl Lines {
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, StreamError> {
        // What is buffered already holds no line end: only the new bytes need a look, so a
        // long message arriving in small pieces costs linear time, not quadratic.
        let scanned = self.buf.len();
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        for i in scanned..self.buf.len() {
            if self.buf[i] == b'\n' {
                let text = String::from_utf8_lossy(&self.buf[start..i])
                    .trim()
                    .to_string();
                if !text.is_empty() {
                    out.push(text);
                }
                start = i + 1;
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(StreamError(format!(
                "a message longer than {MAX_LINE} bytes"
            )));
        }
        Ok(out)
    }

    /// What is left when the stream ends.
    pub fn finish(&mut self) -> Option<String> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.buf))
            .trim()
            .to_string();
        (!text.is_empty()).then_some(text)
    }
}

/// One layer's latest known state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub state: LayerState,
    pub current: u64,
    pub total: Option<u64>,
}

/// Folded state of one push, built by feeding it every event in order.
#[derive(Debug, Default, Clone)]
pub struct PushState {
    /// Layers by id, in the order they first appeared.
    pub layers: Vec<(String, Layer)>,
    pub digest: Option<String>,
    pub size: Option<u64>,
    pub error: Option<String>,
    pub single_platform: bool,
    index: BTreeMap<String, usize>,
}

/// Counts for the result document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerCounts {
    pub pushed: usize,
    pub existing: usize,
    pub mounted: usize,
}

impl PushState {
    /// Apply one event; returns true when a layer changed state (not just its byte count), the
    /// moment plain progress output prints a line.
    pub fn apply(&mut self, ev: &Event) -> bool {
        match ev {
            Event::Layer {
                id,
                state,
                current,
                total,
            } => {
                let i = *self.index.entry(id.clone()).or_insert_with(|| {
                    self.layers.push((
                        id.clone(),
                        Layer {
                            state: LayerState::Other(String::new()),
                            current: 0,
                            total: None,
                        },
                    ));
                    self.layers.len() - 1
                });
                let layer = &mut self.layers[i].1;
                if let Some(c) = current {
                    layer.current = *c;
                }
                if total.is_some() {
                    layer.total = *total;
                }
                let changed = layer.state != *state;
                layer.state = state.clone();
                changed
            }
            Event::Digest { digest, size, .. } => {
                self.digest = Some(digest.clone());
                self.size = Some(*size);
                false
            }
            Event::SinglePlatform => {
                self.single_platform = true;
                false
            }
            Event::Error(m) => {
                self.error = Some(m.clone());
                false
            }
            Event::Start { .. } | Event::Other(_) => false,
        }
    }

    pub fn counts(&self) -> LayerCounts {
        let mut c = LayerCounts::default();
        for (_, l) in &self.layers {
            match l.state {
                LayerState::Pushed => c.pushed += 1,
                LayerState::Exists => c.existing += 1,
                LayerState::Mounted { .. } => c.mounted += 1,
                _ => {}
            }
        }
        c
    }

    /// Bytes the daemon reported sending, summed over layers it uploaded. The counts come from
    /// the daemon unchecked, so the sum saturates rather than overflows.
    pub fn bytes_pushed(&self) -> u64 {
        self.layers
            .iter()
            .filter(|(_, l)| matches!(l.state, LayerState::Pushed | LayerState::Pushing))
            .fold(0u64, |sum, (_, l)| sum.saturating_add(l.current))
    }

    /// Bytes sent so far and the known total of layers being uploaded, for a progress total.
    /// Both saturate (hostile counts must not overflow), and `done <= total` always holds.
    pub fn progress(&self) -> (u64, u64) {
        let mut done: u64 = 0;
        let mut total: u64 = 0;
        for (_, l) in &self.layers {
            if let Some(t) = l.total {
                total = total.saturating_add(t.max(l.current));
                done = done.saturating_add(l.current);
            }
        }
        (done, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(stream: &str) -> PushState {
        let mut lines = Lines::default();
        let mut state = PushState::default();
        // Feed in odd-sized chunks to exercise message reassembly.
        for chunk in stream.as_bytes().chunks(7) {
            for line in lines.push(chunk).unwrap() {
                state.apply(&parse_message(&line).unwrap());
            }
        }
        if let Some(line) = lines.finish() {
            state.apply(&parse_message(&line).unwrap());
        }
        state
    }

    const D: &str = "sha256:a8e61ef5f1e28e10edde979325c2a924fc1776a9e6f095fb900f16ae983e5aa7";

    #[test]
    fn recorded_graphdriver_fresh_push() {
        let s = fold(include_str!(
            "../../tests/fixtures/push-graphdriver-fresh.jsonl"
        ));
        assert_eq!(s.digest.as_deref(), Some(D));
        assert_eq!(s.size, Some(736));
        assert_eq!(
            s.counts(),
            LayerCounts {
                pushed: 2,
                existing: 0,
                mounted: 0
            }
        );
        assert_eq!(s.bytes_pushed(), 101888 + 51712);
        assert_eq!(s.error, None);
    }

    #[test]
    fn recorded_graphdriver_related_push() {
        let s = fold(include_str!(
            "../../tests/fixtures/push-graphdriver-related.jsonl"
        ));
        assert!(s.digest.is_some());
        let c = s.counts();
        assert_eq!((c.pushed, c.existing), (1, 2));
    }

    #[test]
    fn containerd_store_push_has_no_aux_digest() {
        let s = fold(include_str!("../../tests/fixtures/push-containerd.jsonl"));
        assert_eq!(
            s.digest.as_deref(),
            Some("sha256:0f2bd2a2a8c4e8b9f1e3c4d5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f")
        );
        assert_eq!(s.size, Some(1234));
        assert_eq!(
            s.counts(),
            LayerCounts {
                pushed: 1,
                existing: 2,
                mounted: 1
            }
        );
        assert!(s.single_platform);
    }

    #[test]
    fn every_layer_state() {
        let cases = [
            ("Preparing", LayerState::Preparing),
            ("Waiting", LayerState::Waiting),
            ("Pushing", LayerState::Pushing),
            ("Pushed", LayerState::Pushed),
            ("Layer already exists", LayerState::Exists),
            ("Already exists", LayerState::Exists),
            (
                "Mounted from team/base",
                LayerState::Mounted {
                    from: "team/base".into(),
                },
            ),
            ("Retrying in 5 seconds", LayerState::Retrying { seconds: 5 }),
            ("Retrying in 1 second", LayerState::Retrying { seconds: 1 }),
            ("Unavailable", LayerState::Unavailable),
            ("Something new", LayerState::Other("Something new".into())),
        ];
        for (status, want) in cases {
            let line =
                format!(r#"{{"status":"{status}","progressDetail":{{}},"id":"915f71eab76e"}}"#);
            match parse_message(&line).unwrap() {
                Event::Layer { state, .. } => assert_eq!(state, want, "{status}"),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors_inside_the_stream() {
        let s = fold(include_str!("../../tests/fixtures/push-error-auth.jsonl"));
        assert_eq!(s.error.as_deref(), Some("no basic auth credentials"));
        assert_eq!(s.digest, None);
        for line in [
            r#"{"errorDetail":{"message":"tag does not exist: x:1"},"error":"tag does not exist: x:1"}"#,
            r#"{"error":"legacy only"}"#,
        ] {
            assert!(matches!(parse_message(line).unwrap(), Event::Error(_)));
        }
    }

    #[test]
    fn retrying_layers_are_visible() {
        let s = fold(include_str!(
            "../../tests/fixtures/push-graphdriver-retry.jsonl"
        ));
        assert!(s.error.is_some());
        assert!(s.layers.iter().all(|(_, l)| !l.state.is_final()));
    }

    #[test]
    fn digest_lines() {
        let line = format!(r#"{{"status":"2.3.0: digest: {D} size: 528"}}"#);
        assert_eq!(
            parse_message(&line).unwrap(),
            Event::Digest {
                tag: "2.3.0".into(),
                digest: D.into(),
                size: 528
            }
        );
        for bad in [
            r#"{"status":"1: digest: sha256:abc size: 1"}"#,
            r#"{"status":"1: digest: size: 1"}"#,
            r#"{"status":": digest: sha256:a8e61ef5f1e28e10edde979325c2a924fc1776a9e6f095fb900f16ae983e5aa7 size: 1"}"#,
        ] {
            assert!(
                matches!(parse_message(bad).unwrap(), Event::Other(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in ["", "{", "null", "[1,2]", "\"x\"", "{\"status\":5}"] {
            let _ = parse_message(bad);
        }
        assert!(parse_message("{").is_err());
        let mut l = Lines::default();
        assert!(l.push(&vec![b'x'; MAX_LINE + 1]).is_err());
    }

    /// Found by fuzzing (fuzz/fuzz_targets/push_stream.rs): byte counts near u64::MAX made
    /// `bytes_pushed` and `progress` overflow (a panic in debug builds, a wrong total in release).
    #[test]
    fn hostile_byte_counts_saturate() {
        let max = u64::MAX;
        let s = fold(&format!(
            "{{\"status\":\"Pushing\",\"progressDetail\":{{\"current\":{},\"total\":5}},\"id\":\"a\"}}\r\n\
             {{\"status\":\"Pushing\",\"progressDetail\":{{\"current\":10,\"total\":{max}}},\"id\":\"b\"}}\r\n\
             {{\"status\":\"Pushed\",\"progressDetail\":{{\"current\":{max},\"total\":{max}}},\"id\":\"c\"}}\r\n",
            max - 1
        ));
        assert_eq!(s.layers.len(), 3);
        assert_eq!(s.bytes_pushed(), max);
        assert_eq!(s.progress(), (max, max));
        let small = fold(
            "{\"status\":\"Pushing\",\"progressDetail\":{\"current\":3,\"total\":5},\"id\":\"a\"}\n\
             {\"status\":\"Pushing\",\"progressDetail\":{\"current\":7,\"total\":6},\"id\":\"b\"}\n",
        );
        assert_eq!(small.bytes_pushed(), 10);
        assert_eq!(small.progress(), (10, 12));
    }

    #[test]
    fn lines_reassemble_split_messages() {
        let mut l = Lines::default();
        assert!(l.push(b"{\"status\":\"a\"}\r").unwrap().is_empty());
        assert_eq!(l.push(b"\n{\"sta").unwrap(), vec!["{\"status\":\"a\"}"]);
        assert_eq!(l.push(b"tus\":\"b\"}").unwrap(), Vec::<String>::new());
        assert_eq!(l.finish().as_deref(), Some("{\"status\":\"b\"}"));
    }
}
