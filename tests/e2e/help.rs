//! Help, man pages and `version` through the docker CLI: help in docker's layout for the top
//! level and every command, a man page per command that `man` renders without warnings, and
//! `docker pushx version` in both forms.

use crate::common::{Config, PLUGIN, run};
use std::process::Command;

/// The commands the top-level help lists under `Commands:`.
fn commands(help: &str) -> Vec<String> {
    help.split("\nCommands:\n")
        .nth(1)
        .expect("a Commands section")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// A docker CLI with no daemon to reach: help and version must not need one.
fn docker(cfg: &Config) -> Command {
    let mut c = cfg.docker();
    c.env("DOCKER_HOST", "unix:///nonexistent.sock");
    c
}

#[test]
fn help_is_in_dockers_layout() {
    let cfg = Config::new();
    let top = run(docker(&cfg).args(["pushx", "--help"]));
    assert_eq!(top.code, 0, "{top:?}");
    assert!(top.stderr.is_empty(), "{top:?}");
    let h = &top.stdout;
    assert!(
        h.starts_with(
            "Usage:  docker pushx [OPTIONS] SOURCE [TARGET...]\n        docker pushx COMMAND\n\nTag"
        ),
        "{h}"
    );
    let at = |h: &str, s: &str| h.find(s).unwrap_or_else(|| panic!("{s:?} missing in\n{h}"));
    // docker's order: description, Examples, Options, Commands, the closing hint.
    assert!(at(h, "\nExamples:\n  docker pushx ") < at(h, "\nOptions:\n"));
    assert!(h.contains("\nOptions:\n  -t, --tag tag "), "{h}");
    assert!(at(h, "\nOptions:\n") < at(h, "\nCommands:\n"));
    assert!(
        h.ends_with("\n\nRun 'docker pushx COMMAND --help' for more information on a command.\n"),
        "{h}"
    );
    // The same help through `docker help pushx` and `docker pushx help`.
    for args in [&["help", "pushx"][..], &["pushx", "help"][..]] {
        let r = run(docker(&cfg).args(args));
        assert_eq!(r.code, 0, "{args:?}: {r:?}");
        assert_eq!(&r.stdout, h, "{args:?}");
    }

    let names = commands(h);
    for c in [
        "login",
        "logout",
        "logins",
        "configure",
        "import",
        "doctor",
        "verify",
        "version",
    ] {
        assert!(names.iter().any(|n| n == c), "{c} not in {names:?}");
    }
    for name in &names {
        let r = run(docker(&cfg).args(["pushx", name, "--help"]));
        assert_eq!(r.code, 0, "{name}: {r:?}");
        let h = &r.stdout;
        assert!(
            h.starts_with(&format!("Usage:  docker pushx {name}")),
            "{name}: {h}"
        );
        // A one-line description after the usage.
        let description = h.lines().nth(2).unwrap_or_default();
        assert!(!description.is_empty(), "{name}: {h}");
        assert!(h.contains("\nExamples:\n  docker "), "{name}: {h}");
        assert!(!h.contains("Commands:"), "{name}: {h}");
        // A command with flags says [OPTIONS] and lists them after the examples; one without
        // (doctor, logout) has no empty Options section, as in docker.
        if h.lines().next().unwrap_or_default().contains(" [OPTIONS]") {
            assert!(
                at(h, "\nExamples:\n") < at(h, "\nOptions:\n  "),
                "{name}: {h}"
            );
        } else {
            assert!(!h.contains("Options:"), "{name}: {h}");
        }
        // `docker pushx help NAME` is the same text.
        let again = run(docker(&cfg).args(["pushx", "help", name]));
        assert_eq!(&again.stdout, h, "{name}");
    }
    // Options are wrapped at 80 columns when stdout is not a terminal, as docker's are.
    let r = run(docker(&cfg).args(["pushx", "verify", "--help"]));
    let options = &r.stdout[at(&r.stdout, "\nOptions:\n")..];
    assert!(options.lines().all(|l| l.len() < 80), "{r:?}");
    assert!(options.contains("\n      --mode string "), "{r:?}");
}

#[test]
fn version_plain_and_json() {
    let cfg = Config::new();
    let r = run(docker(&cfg).args(["pushx", "version"]));
    assert_eq!(r.code, 0, "{r:?}");
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "docker-pushx:", "{r:?}");
    for key in [
        "Version:",
        "Git commit:",
        "Rust version:",
        "OS/Arch:",
        "Credential stores:",
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!(" {key}")))
            .unwrap_or_else(|| panic!("{key} missing: {r:?}"));
        // docker version's column: values start at column 20.
        assert!(
            line.len() > 20 && !line[20..21].trim().is_empty(),
            "{line:?}"
        );
        assert!(line[..20].ends_with(' '), "{line:?}");
    }
    assert!(
        r.stdout.contains(&format!(
            " Version:           {}\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{r:?}"
    );

    let r = run(docker(&cfg).args(["pushx", "version", "--format", "json"]));
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("version JSON");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{v}");
    for field in ["commit", "rustc", "os", "arch"] {
        let s = v[field].as_str().unwrap_or_default();
        assert!(!s.is_empty(), "{field} empty: {v}");
    }
    assert!(v["rustc"].as_str().unwrap().starts_with("rustc "), "{v}");
    let stores = v["credential_stores"].as_array().expect("a list of stores");
    assert!(stores.iter().any(|s| s == "keyutils"), "{v}");
    assert!(stores.iter().any(|s| s == "secret-service"), "{v}");
    // Built inside the project's git checkout: the commit is HEAD's, abbreviated.
    let head = run(Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR")));
    if head.code == 0 {
        let commit = v["commit"].as_str().unwrap();
        assert!(
            commit.len() >= 7 && head.stdout.trim().starts_with(commit),
            "{commit} is not a prefix of HEAD {}",
            head.stdout.trim()
        );
    }
    // A format that does not exist is a usage error, as for every other --format.
    let r = run(docker(&cfg).args(["pushx", "version", "--format", "yaml"]));
    assert_eq!(r.code, 2, "{r:?}");
}

#[test]
fn a_man_page_per_command_renders_without_warnings() {
    let cfg = Config::new();
    let help = run(docker(&cfg).args(["pushx", "--help"]));
    let names = commands(&help.stdout);
    let dir = tempfile::tempdir().unwrap();
    let r = run(Command::new(PLUGIN).arg("__man").arg(dir.path()));
    assert_eq!(r.code, 0, "{r:?}");
    let mut expected = vec!["docker-pushx.1".to_string()];
    expected.extend(names.iter().map(|n| format!("docker-pushx-{n}.1")));
    let mut found: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    for page in &expected {
        let path = dir.path().join(page);
        let r = run(Command::new("man")
            .arg("--warnings")
            .arg("-l")
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8"));
        assert_eq!(r.code, 0, "{page}: {r:?}");
        assert!(r.stderr.is_empty(), "{page}: warnings: {}", r.stderr);
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXAMPLES", "SEE ALSO"] {
            assert!(
                r.stdout.lines().any(|l| l == section),
                "{page}: no {section}: {}",
                r.stdout
            );
        }
        let synopsis = r.stdout.split("SYNOPSIS\n").nth(1).unwrap_or_default();
        assert!(
            synopsis.trim_start().starts_with("docker pushx"),
            "{page}: {}",
            r.stdout
        );
    }
    // Bad use: no directory, or one that cannot be made.
    let r = run(Command::new(PLUGIN).arg("__man"));
    assert_eq!(r.code, 2, "{r:?}");
    let file = dir.path().join("docker-pushx.1");
    let r = run(Command::new(PLUGIN).arg("__man").arg(file.join("sub")));
    assert_ne!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
}
