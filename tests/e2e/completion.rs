//! Shell completion through the docker CLI 28: `docker __complete pushx …` runs
//! `docker-pushx __complete pushx …` and passes its cobra-format answer on; and a bash session
//! with docker's own completion script (`docker completion bash`) completing `docker pushx`.

use crate::common::{Config, build_image, run, unique};
use std::process::Command;
use std::time::{Duration, Instant};

/// `docker __complete pushx ARGS…`: the candidate values and the directive.
fn complete(config: &Config, args: &[&str]) -> (Vec<String>, u32) {
    complete_with(config, args, |_| {})
}

fn complete_with(
    config: &Config,
    args: &[&str],
    env: impl FnOnce(&mut Command),
) -> (Vec<String>, u32) {
    let mut c = config.docker();
    c.arg("__complete").arg("pushx").args(args);
    env(&mut c);
    let r = run(&mut c);
    assert_eq!(r.code, 0, "{r:?}");
    let mut lines: Vec<&str> = r.stdout.lines().collect();
    let last = lines.pop().unwrap_or_default();
    let directive = last
        .strip_prefix(':')
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no directive line: {r:?}"));
    let values = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    (values, directive)
}

fn config_with_logins() -> Config {
    let config = Config::new();
    config.write(&serde_json::json!({
        "auths": {
            "https://index.docker.io/v1/": {},
            "reg.example.com:5000": { "auth": "dXNlcjpwdw==" }
        },
        "credHelpers": { "gcr.io": "gcloud" }
    }));
    config
}

#[test]
fn subcommands_flags_and_their_values() {
    let config = Config::new();
    let (v, d) = complete(&config, &[""]);
    for c in [
        "login",
        "logout",
        "logins",
        "configure",
        "import",
        "doctor",
        "verify",
        "help",
    ] {
        assert!(v.iter().any(|x| x == c), "{c} in {v:?}");
    }
    assert_eq!(d, 4, "no file names for SOURCE");
    let (v, _) = complete(&config, &["lo"]);
    assert!(
        v.starts_with(&["login".into(), "logout".into(), "logins".into()]),
        "{v:?}"
    );

    let (v, d) = complete(&config, &["--verify", ""]);
    assert_eq!(
        (v, d),
        (
            vec!["pull".into(), "digest".into(), "full".into(), "none".into()],
            4
        )
    );
    let (v, _) = complete(&config, &["img:1", "--progress", ""]);
    assert_eq!(v, ["auto", "tty", "plain", "json", "quiet"]);
    let (v, _) = complete(&config, &["--format=j"]);
    assert_eq!(v, ["--format=json"]);
    let (v, _) = complete(&config, &["--fanout", "c"]);
    assert_eq!(v, ["copy"]);
    let (v, _) = complete(&config, &["verify", "--mode", ""]);
    assert_eq!(v, ["digest", "full"]);
    let (v, _) = complete(&config, &["login", "--store", ""]);
    assert_eq!(v, ["auto", "secret-service", "keyutils"]);
    let (v, _) = complete(&config, &["img:1", "--veri"]);
    assert_eq!(v, ["--verify"]);
    let (v, _) = complete(&config, &["configure", "--"]);
    assert!(
        v.contains(&"--hooks".into()) && v.contains(&"--no-hooks".into()),
        "{v:?}"
    );
    // A file for --digest-file: the shell's own file completion (directive 0).
    let (v, d) = complete(&config, &["img:1", "--digest-file", ""]);
    assert_eq!((v.len(), d), (0, 0));
}

#[test]
fn registries_from_config_json_for_targets_login_and_logout() {
    let config = config_with_logins();
    let (v, d) = complete(&config, &["myapi:1", ""]);
    assert_eq!(v, ["docker.io/", "gcr.io/", "reg.example.com:5000/"]);
    assert_eq!(d, 4 | 2, "no space after a registry prefix");
    let (v, _) = complete(
        &config,
        &["myapi:1", "reg.example.com:5000/a", "-t", "2", "g"],
    );
    assert_eq!(v, ["gcr.io/"]);
    let (v, d) = complete(&config, &["logout", ""]);
    assert_eq!(
        (v, d),
        (
            vec![
                "docker.io".into(),
                "gcr.io".into(),
                "reg.example.com:5000".into()
            ],
            4
        )
    );
    let (v, _) = complete(&config, &["login", "r"]);
    assert_eq!(v, ["reg.example.com:5000"]);
    let (v, _) = complete(&config, &["verify", "gc"]);
    assert_eq!(v, ["gcr.io/"]);
    // No config.json: no registries, and no error.
    let (v, d) = complete(&Config::new(), &["myapi:1", ""]);
    assert_eq!((v.len(), d), (0, 4));
}

#[test]
fn local_images_for_source() {
    need!("PUSHX_TEST_REGISTRY");
    let name = unique("complete-src");
    let tag = format!("{name}:1");
    build_image(&tag, &[("a", name.as_bytes())]);
    let config = Config::new();
    let (v, d) = complete(&config, &[&name[..name.len() - 3]]);
    let _ = run(Command::new("docker").args(["rmi", &tag]));
    assert!(v.contains(&tag), "{tag} in {v:?}");
    assert_eq!(d, 4);
    let (v, _) = complete(&config, &["verify", "--source", &name]);
    assert!(v.is_empty() || v.contains(&tag), "{v:?}");
}

#[test]
fn no_daemon_no_images_and_no_wait() {
    let config = Config::new();
    let started = Instant::now();
    let (v, d) = complete_with(&config, &["lo"], |c| {
        c.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
    });
    assert_eq!(v, ["login", "logout", "logins"]);
    assert_eq!(d, 4);
    // A daemon that accepts the connection and never answers: given up within the budget.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("d.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let started_silent = Instant::now();
    let (v, _) = complete_with(&config, &[""], |c| {
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()));
    });
    assert!(v.contains(&"doctor".into()), "{v:?}");
    assert!(
        started_silent.elapsed() < Duration::from_secs(3),
        "a silent daemon held completion for {:?}",
        started_silent.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn unknown_positions_offer_nothing_and_never_fail() {
    let config = config_with_logins();
    for args in [
        &["doctor", ""][..],
        &["doctor", "x", ""],
        &["logout", "a", ""],
        &["--nope", "x", ""],
        &["help", "doctor", ""],
        &["img:1", "--nope="],
        &["--jobs", ""],
        &["-t", ""],
    ] {
        let (v, d) = complete(&config, args);
        assert!(v.is_empty(), "{args:?}: {v:?}");
        assert_eq!(d, 4, "{args:?}");
    }
    // Straight to the plugin, also with no words at all and with odd bytes.
    for args in [
        &["__complete"][..],
        &["__complete", "pushx"],
        &["__complete", "pushx", "\u{1}\t\n", ""],
    ] {
        let r = run(config.pushx().args(args));
        assert_eq!(r.code, 0, "{r:?}");
        let last = r.stdout.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(':') && last[1..].parse::<u32>().is_ok(),
            "{r:?}"
        );
        assert!(r.stderr.is_empty(), "{r:?}");
    }
}

/// docker's bash completion (cobra's V2 script, from `docker completion bash`) on top of the
/// bash-completion package, driven as bash drives it on Tab: COMP_WORDS, COMP_CWORD, COMP_LINE
/// and COMP_POINT set, then the function `complete -F` names called, COMPREPLY read back.
#[test]
fn a_bash_session_with_dockers_completion() {
    let lib = "/usr/share/bash-completion/bash_completion";
    if !std::path::Path::new(lib).exists() {
        crate::common::note_skip("the bash-completion package is not installed");
        return;
    }
    let config = config_with_logins();
    let script = config.path().join("docker.bash");
    let r = run(config.docker().args(["completion", "bash"]));
    assert_eq!(r.code, 0, "{r:?}");
    std::fs::write(&script, &r.stdout).unwrap();
    let driver = format!(
        r#"source {lib}
source {script}
fn=$(complete -p docker | sed -E 's/.* -F ([^ ]+) .*/\1/')
tab() {{
  COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}
  read -ra COMP_WORDS <<<"$COMP_LINE"
  [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
  COMPREPLY=()
  "$fn" docker "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
  echo "$1|$(printf '%s,' "${{COMPREPLY[@]}}")"
}}
tab "docker pushx --verify d"
tab "docker pushx logo"
tab "docker pushx myapi:1 reg"
tab "docker pushx configure --no"
tab "docker pushx --format "
tab "docker pushx doctor "
"#,
        script = script.display()
    );
    let debug = config.path().join("completion.log");
    let r = run(Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &driver])
        .env("BASH_COMP_DEBUG_FILE", &debug)
        .env("DOCKER_CONFIG", config.path())
        .env_remove("DOCKER_HOST"));
    assert_eq!(r.code, 0, "{r:?}");
    let out = r.stdout;
    for line in [
        "docker pushx --verify d|digest,\n",
        "docker pushx logo|logout,\n",
        "docker pushx myapi:1 reg|reg.example.com:5000/,\n",
        "docker pushx configure --no|--no-hooks,\n",
        "docker pushx --format |table,json,\n",
        "docker pushx doctor |,\n",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
    // The registry prefix is completed with no space after it, to go on with the repository:
    // the script's own log says what it asked and what it was told.
    let log = std::fs::read_to_string(&debug).unwrap();
    let asked = log
        .find("Calling docker __complete pushx myapi:1 reg")
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        log[asked..]
            .lines()
            .nth(1)
            .unwrap_or_default()
            .ends_with("directive is: 6"),
        "{log}"
    );
}
