//! `docker-credential-pushx`: the credential-helper protocol over pushx's keyring store.

use std::io::Write;

/// The helper's whole life: returns the process exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = std::io::stdout().lock();
    match args.first().map(String::as_str) {
        Some("version") | Some("--version") | Some("-v") => {
            let _ = writeln!(
                out,
                "docker-credential-pushx (docker-pushx) {}",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        _ => {
            let _ = writeln!(
                out,
                "Usage: docker-credential-pushx <store|get|erase|list|version>"
            );
            1
        }
    }
}
