//! The end-to-end tests, one binary: the built plugin and credential helper against the real
//! Docker engine, registries and keyrings that tests/run.sh starts (see tests/env.sh).
//! Each module is one area; run one with `./tests/run.sh -E 'test(/^push::/)'`.

// The crate's `unreachable_pub` lint is for the library's API; a test binary's helpers are
// `pub` only to be shared between its modules.
#![allow(unreachable_pub)]

#[macro_use]
mod common;

mod bad_input;
mod cancel;
mod ci_outputs;
mod completion;
mod credentials;
mod dry_run;
mod fanout;
mod faults;
mod help;
mod hooks;
mod hostile;
mod install;
mod leaks;
mod precedence;
mod proxy_selftest;
mod push;
mod ssh;
mod token;
mod uptodate;
mod verification;
mod verify;
