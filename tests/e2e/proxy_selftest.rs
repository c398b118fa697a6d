//! The fault-injecting proxy of common/proxy.rs checked on its own: against the real
//! registry with curl (forwarding, Location rewriting, each fault, the HTTPS probe), and with
//! the real engine's plain `docker push` through it.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::proxy::{Fault, FaultProxy, Kind};

/// What a command run with a time cap did.
struct Timed {
    /// None: still running at the cap (then killed).
    code: Option<i32>,
    took: Duration,
    out: String,
}

/// Run `cmd` for at most `cap`, killing it then; stdout and stderr together.
fn run_capped(cmd: &mut Command, cap: Duration) -> Timed {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let file = std::fs::File::create(&path).unwrap();
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status.code().unwrap_or(-1));
        }
        if start.elapsed() >= cap {
            common::kill_tree(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Timed {
        code,
        took: start.elapsed(),
        out: std::fs::read_to_string(&path).unwrap_or_default(),
    }
}

fn docker(cfg: &common::Config, args: &[&str]) -> common::Run {
    common::run(cfg.docker().args(args))
}

fn tag(cfg: &common::Config, from: &str, to: &str) {
    let r = docker(cfg, &["tag", from, to]);
    assert_eq!(r.code, 0, "{r:?}");
}

fn push(cfg: &common::Config, reference: &str, cap: Duration) -> Timed {
    run_capped(cfg.docker().args(["push", reference]), cap)
}

/// The digest `docker push` printed ("1: digest: sha256:... size: 527").
fn pushed_digest(out: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let rest = &l[l.find("digest: ")? + "digest: ".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    })
}

/// A local image with one layer of random bytes no other image has. Like every test image it
/// stays in the engine: removing images while builds run on the same engine breaks them (see
/// `common::build_image`).
fn fresh_image(size: usize) -> String {
    let local = format!("pushx-proxy-selftest:{}", common::unique("img"));
    let data = common::random_bytes(size);
    common::build_image(&local, &[("data.bin", &data)]);
    local
}

/// curl through the proxy: (exit code, headers, body).
fn curl(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let body = dir.path().join("b");
    let r = common::run(
        Command::new("curl")
            .args(["-s", "-S", "--max-time", "10", "-D"])
            .arg(&headers)
            .arg("-o")
            .arg(&body)
            .args(args),
    );
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    (r.code, read(&headers), read(&body) + &r.stderr)
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status(headers: &str) -> Option<u16> {
    // The last status line (after any 100 Continue).
    headers
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn forwards_and_injects_faults_over_http() {
    let registry = need!("PUSHX_TEST_REGISTRY");
    let proxy = FaultProxy::start(&registry);
    let base = format!("http://{}", proxy.addr());
    let repo = common::unique("proxy-curl");

    // The ping is forwarded, with the registry's own headers.
    let (code, h, _) = curl(&[&format!("{base}/v2/")]);
    assert_eq!(code, 0);
    assert_eq!(status(&h), Some(200), "{h}");
    assert_eq!(
        header(&h, "docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!((proxy.seen(Kind::Ping), proxy.seen(Kind::Any)), (1, 1));

    // An injected status, then forwarding again.
    proxy.fail_first(
        Kind::Ping,
        1,
        Fault::Status {
            code: 429,
            retry_after: Some(2),
        },
    );
    let (_, h, body) = curl(&[&format!("{base}/v2/")]);
    assert_eq!(status(&h), Some(429), "{h}");
    assert_eq!(header(&h, "retry-after"), Some("2"));
    assert!(body.contains("\"TOOMANYREQUESTS\""), "{body}");
    let (_, h, _) = curl(&[&format!("{base}/v2/")]);
    assert_eq!(status(&h), Some(200), "{h}");
    assert_eq!(proxy.injected(), 1);
    assert_eq!(proxy.seen(Kind::Ping), 3);

    // An HTTPS attempt fails at once and is not a request.
    let t = Instant::now();
    let (code, _, _) = curl(&["-k", &format!("https://{}/v2/", proxy.addr())]);
    assert_ne!(code, 0);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(proxy.seen(Kind::Any), 3);

    // A HEAD of a missing blob: the registry's 404 (with its Content-Length) comes through.
    let digest = format!("sha256:{}", "0".repeat(64));
    let (_, h, _) = curl(&["-I", &format!("{base}/v2/{repo}/blobs/{digest}")]);
    assert_eq!(status(&h), Some(404), "{h}");
    assert_eq!(proxy.seen(Kind::BlobHead), 1);

    // A monolithic upload: POST, PUT with the data. The Location points at the proxy.
    let (_, h, _) = curl(&["-X", "POST", &format!("{base}/v2/{repo}/blobs/uploads/")]);
    assert_eq!(status(&h), Some(202), "{h}");
    let location = header(&h, "location").unwrap().to_string();
    assert!(
        location.starts_with(&format!("{base}/v2/{repo}/blobs/uploads/")),
        "{location}"
    );
    assert!(location.contains("_state="), "{location}");
    let data = common::random_bytes(3 << 20);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, &data).unwrap();
    let digest = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)))
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let (_, h, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{location}{sep}digest={digest}"),
    ]);
    assert_eq!(status(&h), Some(201), "{h}{body}");
    assert_eq!(
        header(&h, "location"),
        Some(format!("{base}/v2/{repo}/blobs/{digest}").as_str())
    );
    assert_eq!(proxy.seen(Kind::BlobUpload), 2);
    // Streamed back: GET the blob through the proxy, and HEAD gives its length.
    let (_, h, _) = curl(&["-I", &format!("{base}/v2/{repo}/blobs/{digest}")]);
    assert_eq!(status(&h), Some(200), "{h}");
    assert_eq!(
        header(&h, "content-length"),
        Some(data.len().to_string().as_str())
    );
    let out = dir.path().join("back");
    let r = common::run(
        Command::new("curl")
            .args(["-s", "-f", "-o"])
            .arg(&out)
            .arg(format!("{base}/v2/{repo}/blobs/{digest}")),
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(std::fs::read(&out).unwrap() == data);

    // Reset: no answer, the connection is reset.
    proxy.fail_first(Kind::BlobUpload, 1, Fault::Reset);
    let (code, h, err) = curl(&[
        "-X",
        "PATCH",
        "-H",
        "Expect:",
        "--data-binary",
        &format!("@{}", file.display()),
        &location,
    ]);
    assert!(h.is_empty(), "{h}");
    assert!(
        code == 56 && err.contains("reset"),
        "curl exit {code}: {err}"
    );
    assert_eq!(proxy.injected(), 2);

    // Stall: no answer until the client gives up.
    proxy.fail_first(Kind::ManifestGet, 1, Fault::Stall);
    let t = Instant::now();
    let (code, _, _) = curl(&[
        "--max-time",
        "1",
        &format!("{base}/v2/{repo}/manifests/latest"),
    ]);
    assert_eq!(code, 28, "curl should time out");
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(proxy.seen(Kind::ManifestGet), 1);
    assert_eq!(proxy.injected(), 3);
    // The next one is forwarded (the registry does not know the tag).
    let (_, h, _) = curl(&[&format!("{base}/v2/{repo}/manifests/latest")]);
    assert_eq!(status(&h), Some(404), "{h}");

    // Dropping the proxy closes the port.
    let addr = proxy.addr();
    drop(proxy);
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn docker_push_through_the_proxy() {
    let registry = need!("PUSHX_TEST_REGISTRY");
    let cfg = common::Config::new();
    let local = fresh_image(512 * 1024);
    let proxy = FaultProxy::start(&registry);
    let repo = common::unique("proxy-push");
    let target = |t: &str| format!("{}/{repo}:{t}", proxy.addr());

    // No faults: the push succeeds and the registry holds what was pushed.
    tag(&cfg, &local, &target("1"));
    let r = push(&cfg, &target("1"), Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "{}\n{:#?}", r.out, proxy.log());
    let digest = pushed_digest(&r.out).expect("a digest line");
    assert_eq!(
        common::registry_digest(&registry, &repo, "1", false, false),
        Some(digest)
    );
    assert_eq!(proxy.seen(Kind::ManifestPut), 1);
    assert!(proxy.seen(Kind::BlobUpload) >= 3, "{:#?}", proxy.log());
    assert_eq!(proxy.injected(), 0);

    // The manifest PUT answered 503: the push fails, nothing tagged.
    proxy.fail_first(
        Kind::ManifestPut,
        1,
        Fault::Status {
            code: 503,
            retry_after: None,
        },
    );
    tag(&cfg, &local, &target("2"));
    let r = push(&cfg, &target("2"), Duration::from_secs(60));
    assert_ne!(r.code, Some(0), "{}", r.out);
    assert_eq!(proxy.seen(Kind::ManifestPut), 2);
    assert_eq!(proxy.injected(), 1);
    assert_eq!(
        common::registry_digest(&registry, &repo, "2", false, false),
        None
    );

    // A stalled ping: the push does not finish in 10 s.
    let pings = proxy.seen(Kind::Ping);
    proxy.fail_first(Kind::Ping, 1, Fault::Stall);
    tag(&cfg, &local, &target("3"));
    let r = push(&cfg, &target("3"), Duration::from_secs(10));
    assert_eq!(r.code, None, "finished in {:?}: {}", r.took, r.out);
    assert_eq!(proxy.seen(Kind::Ping), pings + 1, "{:#?}", proxy.log());
    assert_eq!(proxy.injected(), 2);
}

#[test]
fn docker_push_while_the_port_refuses() {
    let registry = need!("PUSHX_TEST_REGISTRY");
    let cfg = common::Config::new();
    let local = fresh_image(64 * 1024);
    let started = Instant::now();
    let proxy = FaultProxy::start_refusing_for(&registry, Duration::from_secs(3));
    let target = format!("{}/{}:1", proxy.addr(), common::unique("proxy-refuse"));
    tag(&cfg, &local, &target);

    let r = push(&cfg, &target, Duration::from_secs(30));
    assert_ne!(r.code, Some(0), "{}", r.out);
    assert!(r.out.contains("connection refused"), "{}", r.out);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", r.took);
    assert_eq!(proxy.seen(Kind::Any), 0);

    std::thread::sleep(Duration::from_secs(4).saturating_sub(started.elapsed()));
    let r = push(&cfg, &target, Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "{}\n{:#?}", r.out, proxy.log());
    assert_eq!(proxy.seen(Kind::ManifestPut), 1);
}

/// What plain `docker push` does on each fault (the README's table). Run by hand through the
/// harness (cargo test: it outlasts nextest's time limit):
/// `. tests/env.sh; cargo test --test e2e proxy_selftest::observe -- --ignored --nocapture`.
#[test]
#[ignore = "observations, not assertions; takes several minutes"]
fn observe_plain_docker_push() {
    let registry = need!("PUSHX_TEST_REGISTRY");
    let cfg = common::Config::new();
    let status = |code, retry_after| Fault::Status { code, retry_after };
    type Setup = Box<dyn Fn(&FaultProxy)>;
    let rule = |kind: Kind, n: usize, fault: Fault| -> Setup {
        Box::new(move |p: &FaultProxy| p.fail_first(kind, n, fault.clone()))
    };
    let cases: Vec<(&str, Setup, Option<Duration>)> = vec![
        (
            "503 on first blob-upload request",
            rule(Kind::BlobUpload, 1, status(503, None)),
            None,
        ),
        (
            "503 on first 3 blob-upload requests",
            rule(Kind::BlobUpload, 3, status(503, None)),
            None,
        ),
        (
            "500 on first blob-upload request",
            rule(Kind::BlobUpload, 1, status(500, None)),
            None,
        ),
        (
            "500 on first 3 blob-upload requests",
            rule(Kind::BlobUpload, 3, status(500, None)),
            None,
        ),
        (
            "429 (Retry-After: 2) on first blob-upload request",
            rule(Kind::BlobUpload, 1, status(429, Some(2))),
            None,
        ),
        (
            "429 (Retry-After: 2) on first 3 blob-upload requests",
            rule(Kind::BlobUpload, 3, status(429, Some(2))),
            None,
        ),
        (
            "503 on first manifest PUT",
            rule(Kind::ManifestPut, 1, status(503, None)),
            None,
        ),
        (
            "503 on first /v2/ ping",
            rule(Kind::Ping, 1, status(503, None)),
            None,
        ),
        (
            "connection refused for the first 3 s",
            Box::new(|_: &FaultProxy| {}),
            Some(Duration::from_secs(3)),
        ),
        (
            "Reset in the middle of a blob PATCH",
            rule(Kind::BlobPatch, 1, Fault::Reset),
            None,
        ),
        (
            "Reset on first blob-upload request (POST)",
            rule(Kind::BlobUpload, 1, Fault::Reset),
            None,
        ),
        (
            "Stall on a blob PATCH",
            rule(Kind::BlobPatch, 1, Fault::Stall),
            None,
        ),
        (
            "Stall on first blob-upload request (POST)",
            rule(Kind::BlobUpload, 1, Fault::Stall),
            None,
        ),
        (
            "Stall on the /v2/ ping",
            rule(Kind::Ping, 1, Fault::Stall),
            None,
        ),
        (
            "Stall on the manifest PUT",
            rule(Kind::ManifestPut, 1, Fault::Stall),
            None,
        ),
        (
            "500 on the first 2 manifest PUTs",
            rule(Kind::ManifestPut, 2, status(500, None)),
            None,
        ),
    ];
    let only = std::env::var("OBSERVE").ok();
    let mut rows = Vec::new();
    for (i, (what, setup, refusing)) in cases.iter().enumerate() {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == (i + 1).to_string()))
        {
            continue;
        }
        let local = fresh_image(4 << 20);
        let proxy = match refusing {
            Some(d) => FaultProxy::start_refusing_for(&registry, *d),
            None => FaultProxy::start(&registry),
        };
        setup(&proxy);
        let repo = common::unique("observe");
        let target = format!("{}/{repo}:1", proxy.addr());
        tag(&cfg, &local, &target);
        let r = push(&cfg, &target, Duration::from_secs(60));
        let stored = common::registry_digest(&registry, &repo, "1", false, false);
        let outcome = match r.code {
            None => "still running at 60 s (killed)".to_string(),
            Some(0) => format!("succeeded (stored: {})", stored.is_some()),
            Some(c) => format!("failed, exit {c} (stored: {})", stored.is_some()),
        };
        // The CLI counts each wait down ("Retrying in 5 seconds" ... "Retrying in 1 second").
        let retries = r
            .out
            .lines()
            .filter(|l| l.ends_with("Retrying in 1 second"))
            .count();
        let last = r
            .out
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        eprintln!(
            "=== {}. {what}: {outcome} in {:.1} s; injected {}\n--- output\n{}\n--- requests\n{}\n",
            i + 1,
            r.took.as_secs_f64(),
            proxy.injected(),
            r.out.trim_end(),
            proxy.log().join("\n")
        );
        rows.push(format!(
            "| {what} | {outcome} | {:.1} s | {} | {} |",
            r.took.as_secs_f64(),
            retries,
            last.replace('|', "\\|")
        ));
        drop(proxy);
    }
    eprintln!("| fault | outcome | time | retries | last line |\n|---|---|---|---|---|");
    for r in rows {
        eprintln!("{r}");
    }
}
