//! Pure formats and rules: no I/O, no async runtime, no daemon or keyring crates.

pub(crate) mod args;
pub(crate) mod classify;
pub(crate) mod completion;
pub mod config;
pub(crate) mod daemon_host;
pub(crate) mod duration;
pub mod helper;
pub(crate) mod hooks;
pub(crate) mod image;
pub(crate) mod manifest;
pub(crate) mod plugin;
pub mod reference;
pub(crate) mod registry_auth;
pub(crate) mod retry;
pub mod stream;
pub(crate) mod www_auth;

/// For never-panic tests of parsers: `n` strings, each a deterministic pseudo-random run of up
/// to six of `pieces` (xorshift, so a failure reproduces).
#[cfg(test)]
pub(crate) fn mixes<'a>(pieces: &'a [&'a str], n: usize) -> impl Iterator<Item = String> + 'a {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n).map(move |_| {
        let mut s = String::new();
        for _ in 0..(state % 7) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            s.push_str(pieces[(state % pieces.len() as u64) as usize]);
        }
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        s
    })
}
