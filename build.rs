//! Build-time facts for `docker pushx version`: the git commit and the rustc that built it.
//! Outside a git checkout (a source tarball, `cargo install` from a registry) the commit is
//! `unknown`; nothing here fails the build.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it names (a commit).
    // `--git-path` resolves both inside a linked worktree too.
    for path in ["HEAD", "packed-refs"] {
        if let Some(p) = output("git", &["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(branch) = output("git", &["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = output("git", &["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={p}");
    }
    // Only this package's own repository: not one it happens to be unpacked inside.
    let here = std::env::var("CARGO_MANIFEST_DIR")
        .ok()
        .and_then(|d| std::fs::canonicalize(d).ok());
    let top = output("git", &["rev-parse", "--show-toplevel"])
        .and_then(|d| std::fs::canonicalize(d).ok());
    let ours = matches!((here, top), (Some(h), Some(t)) if h == t);
    let git = |args: &[&str]| if ours { output("git", args) } else { None };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=PUSHX_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // The man pages' date: the commit's (YYYY-MM-DD), so a rebuild of one commit is identical.
    let date = git(&["log", "-1", "--format=%cs", "HEAD"]);
    println!(
        "cargo:rustc-env=PUSHX_COMMIT_DATE={}",
        date.as_deref().unwrap_or("")
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(&rustc, &["--version"]);
    println!(
        "cargo:rustc-env=PUSHX_RUSTC_VERSION={}",
        version.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rerun-if-env-changed=RUSTC");
    println!("cargo:rerun-if-changed=build.rs");
}
