//! The daemon's push progress stream: bytes split into arbitrary chunks go through `Lines`,
//! each message through `parse_message`, and every event into `PushState`.
//!
//! Input: byte 0 gives how many of the following bytes are chunk sizes (0..=15); the chunks cycle
//! through those sizes (0 = an empty chunk); the rest is the stream.
#![no_main]

use docker_pushx::protocol::stream::{Event, Lines, PushState, parse_message};
use libfuzzer_sys::fuzz_target;

fn fold(lines: &[String]) -> (PushState, Vec<Event>) {
    let mut state = PushState::default();
    let mut events = Vec::new();
    for line in lines {
        assert!(!line.is_empty() && line.trim() == line, "{line:?}");
        assert!(!line.contains('\n'));
        let Ok(ev) = parse_message(line) else {
            continue;
        };
        let layers_before = state.layers.len();
        let changed = state.apply(&ev);
        match &ev {
            Event::Layer { id, state: s, .. } => {
                let (_, l) = state
                    .layers
                    .iter()
                    .find(|(i, _)| i == id)
                    .expect("the layer is tracked");
                assert_eq!(&l.state, s);
                let _ = s.label();
                let _ = s.is_final();
                assert!(state.layers.len() <= layers_before + 1);
            }
            _ => {
                assert!(!changed);
                assert_eq!(state.layers.len(), layers_before);
            }
        }
        // None of these may panic or overflow, however hostile the numbers.
        let c = state.counts();
        assert!(c.pushed + c.existing + c.mounted <= state.layers.len());
        let _ = state.bytes_pushed();
        let (done, total) = state.progress();
        assert!(done <= total, "progress {done}/{total}");
        events.push(ev);
    }
    (state, events)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(n % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(n);

    let mut chunked = Lines::default();
    let mut lines = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    // All-zero sizes would never advance: then the stream goes in as one chunk.
    let advances = sizes.iter().any(|&s| s != 0);
    while pos < stream.len() {
        let size = if advances {
            usize::from(sizes[i % sizes.len()])
        } else {
            stream.len()
        };
        i += 1;
        let end = (pos + size).min(stream.len());
        lines.extend(chunked.push(&stream[pos..end]).expect("short input fits"));
        pos = end;
    }
    lines.extend(chunked.finish());
    assert!(chunked.finish().is_none(), "finish empties the buffer");

    // Splitting must not change the messages.
    let mut whole = Lines::default();
    let mut want = whole.push(stream).expect("short input fits");
    want.extend(whole.finish());
    assert_eq!(lines, want, "chunking changed the messages");

    let (state, events) = fold(&lines);
    let _ = (state.counts(), state.bytes_pushed(), state.progress());
    let _ = events;
});
