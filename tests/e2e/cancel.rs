//! End-to-end: an interrupted push stops within 2 s, says what completed, and exits 130,
//! whether the signal comes directly or as EOF on the docker CLI's plugin socket.

use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An image big enough that its push is still running when the test interrupts it.
fn big_image() -> String {
    let name = format!("{}:1", unique("pushx-big"));
    let a = random_bytes(40_000_000);
    let b = random_bytes(40_000_001);
    build_image(&name, &[("a", &a), ("b", &b)]);
    name
}

/// Start the plugin and wait until a layer is uploading.
fn start_push(cmd: &mut Command) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd
        .args(["--progress", "plain"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let left = Duration::from_secs(30).saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) if line.ends_with(": pushing") => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                kill_tree(&mut child);
                panic!(
                    "{} never started uploading within 30 s (killed); stderr so far:\n{}",
                    describe(cmd),
                    seen.join("\n")
                );
            }
        }
    }
    (child, rx)
}

fn finish(
    mut child: Child,
    rx: std::sync::mpsc::Receiver<String>,
    since: Instant,
) -> (i32, Duration, String, String) {
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if since.elapsed() > Duration::from_secs(20) {
            kill_tree(&mut child);
            panic!("the push did not stop within 20 s (killed)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = since.elapsed();
    let mut stdout = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let stderr: Vec<String> = rx.try_iter().collect();
    assert!(
        !stderr.iter().any(|l| l.contains("panicked at")),
        "{stderr:?}"
    );
    (code, took, stdout, stderr.join("\n"))
}

#[test]
fn sigint_stops_the_push_within_two_seconds() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let src = big_image();
    let cfg = Config::new();
    let repo = unique("e2e/sigint");
    let (child, rx) = start_push(cfg.pushx().args([&src, &format!("{reg}/{repo}")]));
    let t0 = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let (code, took, stdout, stderr) = finish(child, rx, t0);
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("not completed"),
        "{stderr}"
    );
    let row = stdout.lines().find(|l| l.contains(&repo));
    assert!(
        row.is_some_and(|l| l.contains(" interrupted ") && !l.contains("failed")),
        "the result still lists the target, as interrupted: {stdout}"
    );
    assert!(
        stderr.lines().any(|l| l.ends_with(": interrupted")),
        "the progress says how the target ended: {stderr}"
    );
    assert!(
        registry_digest(&reg, &repo, "1", false, false).is_none(),
        "the push was cancelled"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn eof_on_the_plugin_socket_stops_the_push() {
    use std::os::linux::net::SocketAddrExt;
    let reg = need!("PUSHX_TEST_REGISTRY");
    let src = big_image();
    let name = unique("docker_cli_test");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    let cfg = Config::new();
    let repo = unique("e2e/socket");
    let (child, rx) = start_push(
        cfg.pushx()
            .env("DOCKER_CLI_PLUGIN_SOCKET", format!("@{name}"))
            .args(["--format", "json", &src, &format!("{reg}/{repo}")]),
    );
    let (conn, _) = listener.accept().unwrap();
    let t0 = Instant::now();
    drop(conn); // what the docker CLI does to say "stop"
    let (code, took, stdout, stderr) = finish(child, rx, t0);
    assert_eq!(code, 130, "{stdout}\n{stderr}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("a complete JSON result");
    assert_eq!(doc["targets"][0]["status"], "interrupted");
    assert_eq!(
        doc["targets"][0]["error"],
        "interrupted before it completed"
    );
}

#[test]
fn an_overall_timeout_exits_6_naming_what_was_in_flight() {
    let reg = need!("PUSHX_TEST_REGISTRY");
    let src = big_image();
    let cfg = Config::new();
    let repo = unique("e2e/timeout");
    let t0 = Instant::now();
    let r = run(cfg.pushx().args([
        "--timeout",
        "300ms",
        "--progress",
        "quiet",
        &src,
        &format!("{reg}/{repo}"),
    ]));
    assert_eq!(r.code, 6, "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(
        r.stderr.contains("timed out after 300ms") && r.stderr.contains(&repo),
        "{r:?}"
    );
}
