use super::*;

#[test]
fn queries_join_a_location() {
    assert_eq!(
        with_query("http://r:5000/v2/a/blobs/uploads/u1", "digest", "sha256:ab"),
        "http://r:5000/v2/a/blobs/uploads/u1?digest=sha256%3Aab"
    );
    assert_eq!(
        with_query("/v2/a/blobs/uploads/u1?_state=x%3D", "digest", "sha256:ab"),
        "/v2/a/blobs/uploads/u1?_state=x%3D&digest=sha256%3Aab"
    );
    assert_eq!(
        with_query("/v2/a/blobs/uploads/u1?", "digest", "sha256:ab"),
        "/v2/a/blobs/uploads/u1?digest=sha256%3Aab"
    );
}

#[test]
fn ranges_name_first_and_last_byte() {
    assert_eq!(content_range(0, CHUNK as u64), "0-8388607");
    assert_eq!(content_range(8388608, 10), "8388608-8388617");
    assert_eq!(content_range(5, 1), "5-5");
}

/// The fan-out runs placements as spawned tasks: their futures must be `Send` (checked when
/// this compiles).
#[test]
fn the_futures_can_be_spawned() {
    fn send<T: Send>(_: &T) {}
    let _check: fn(&Registry, &Descriptor) = |r, d| {
        send(&r.place_blob("a", d, r, "b", &|_| {}));
        send(&r.put_manifest("a", "v1", "m", Bytes::new()));
    };
}

#[test]
fn source_failures_are_told_apart() {
    let e = source_failure(
        Error::new(Kind::Unreachable, "cannot reach the registry r:5000"),
        "r:5000",
    );
    assert_eq!(
        e.message,
        "reading from the primary r:5000: cannot reach the registry r:5000"
    );
    assert_eq!(e.kind, Kind::Unreachable);
    assert!(is_source_failure(&e));
    assert!(is_source_failure(&e.clone().context("copying to t:5000")));
    assert!(!is_source_failure(&Error::new(
        Kind::Auth,
        "the registry t:5000 answered HTTP 401"
    )));
}

// --- against the registries tests/run.sh starts (tests/env.sh) --------------------------------

use crate::protocol::registry_auth::RegistryAuth;
use crate::protocol::www_auth::InsecureRules;
use crate::registry::{Options, RegistryClient, Retry, rules_from};
use crate::secret::Secret;
use std::sync::{Arc, Mutex};

/// A variable tests/run.sh exports; missing, the test is skipped (said on stdout and in the
/// run's list of skips), except under CI=true where it fails.
fn env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{name} is not set: run the tests through tests/run.sh");
            }
            println!("skipped: {name} is not set (run the tests through tests/run.sh)");
            if let Some(file) = std::env::var_os("PUSHX_TEST_SKIPPED") {
                use std::io::Write as _;
                let test = std::thread::current()
                    .name()
                    .unwrap_or("a test")
                    .to_string();
                if let Ok(mut f) = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                {
                    let _ = writeln!(f, "{test}: {name} is not set");
                }
            }
            None
        }
    }
}

macro_rules! need {
    ($name:expr) => {
        match env($name) {
            Some(v) => v,
            None => return,
        }
    };
}

fn client() -> RegistryClient {
    RegistryClient::new(Options {
        stall: Duration::from_secs(30),
        insecure: rules_from(async { InsecureRules::default() }),
        retry: Retry::new(2, Duration::from_millis(100)),
    })
    .unwrap()
}

fn login(domain: &str) -> RegistryAuth {
    crate::credentials::to_auth(
        domain,
        &std::env::var("PUSHX_TEST_USER").unwrap_or_default(),
        Secret::new(std::env::var("PUSHX_TEST_PASSWORD").unwrap_or_default()),
    )
}

/// A repository name no other test or run uses (the test registries keep everything).
fn repo(case: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "pushx-upload/{case}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `n` bytes no registry holds yet (xorshift from the clock).
fn random(n: usize) -> Bytes {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    Bytes::from(out)
}

/// The sha256 digest of blob `digest` in `repo`, read back as a stream.
async fn digest_at(r: &Registry, repo: &str, digest: &str) -> String {
    let res = r
        .get_blob(repo, digest)
        .await
        .unwrap()
        .expect("the blob is there");
    let mut body = res.into_body();
    let mut hash = Sha256::new();
    while let Some(chunk) = r.next_chunk(&mut body).await.unwrap() {
        hash.update(&chunk);
    }
    format!("sha256:{}", hex::encode(hash.finalize()))
}

/// A `progress` that records what it is called with.
fn recorder() -> (Arc<Mutex<Vec<u64>>>, impl Fn(u64) + Send + Sync) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, move |n| s.lock().unwrap().push(n))
}

#[tokio::test]
async fn upload_copies_a_multi_chunk_blob_between_registries_then_finds_and_mounts_it() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    let tls = need!("PUSHX_TEST_TLS_REGISTRY");
    let c = client();
    let a = c
        .registry(&plain, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let b = c.registry(&tls, &login(&tls)).await.unwrap();
    let (from, to, mounted) = (repo("from"), repo("to"), repo("mounted"));

    // 20 MB in odd-sized pieces, as a network delivers them: three chunks at the target.
    let data = random(20_000_000);
    let desc = a.upload_bytes(&from, &data, 65_549).await.unwrap();
    assert_eq!(digest_at(&a, &from, &desc.digest).await, desc.digest);

    let (seen, progress) = recorder();
    let placed = b
        .place_blob(&to, &desc, &a, &from, &progress)
        .await
        .unwrap();
    assert_eq!(placed, Placed::Copied { bytes: 20_000_000 });
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![8 << 20, 16 << 20, 20_000_000]);
    assert_eq!(
        b.head_blob(&to, &desc.digest).await.unwrap(),
        Some(20_000_000)
    );
    assert_eq!(digest_at(&b, &to, &desc.digest).await, desc.digest);

    let (seen, progress) = recorder();
    let again = b
        .place_blob(&to, &desc, &a, &from, &progress)
        .await
        .unwrap();
    assert_eq!(again, Placed::Present);

    // Within one registry: linked, nothing uploaded.
    let placed = b
        .place_blob(&mounted, &desc, &b, &to, &progress)
        .await
        .unwrap();
    assert_eq!(placed, Placed::Mounted);
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    assert_eq!(digest_at(&b, &mounted, &desc.digest).await, desc.digest);
}

#[tokio::test]
async fn upload_mounts_and_copies_with_bearer_tokens() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    let token = need!("PUSHX_TEST_TOKEN_REGISTRY");
    let log = need!("PUSHX_TEST_TOKEN_LOG");
    let c = client();
    let a = c
        .registry(&plain, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let t = c.registry(&token, &login(&token)).await.unwrap();
    let (from, first, second) = (repo("from"), repo("first"), repo("second"));

    // One chunk: the monolithic upload.
    let data = random(1_000_003);
    let desc = a.upload_bytes(&from, &data, 100_000).await.unwrap();
    let (seen, progress) = recorder();
    let placed = t
        .place_blob(&first, &desc, &a, &from, &progress)
        .await
        .unwrap();
    assert_eq!(placed, Placed::Copied { bytes: 1_000_003 });
    assert_eq!(seen.lock().unwrap().last(), Some(&1_000_003));
    assert_eq!(digest_at(&t, &first, &desc.digest).await, desc.digest);

    let (seen, progress) = recorder();
    let placed = t
        .place_blob(&second, &desc, &t, &first, &progress)
        .await
        .unwrap();
    assert_eq!(placed, Placed::Mounted);
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(
        t.head_blob(&second, &desc.digest).await.unwrap(),
        Some(1_000_003)
    );

    // The mount's token was asked for with both scopes in one request.
    let push = format!("repository:{second}:pull,push");
    let pull = format!("repository:{first}:pull");
    let asked = std::fs::read_to_string(&log).unwrap();
    let both = asked.lines().any(|l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        let scopes: Vec<&str> = v["scope"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        scopes.contains(&push.as_str()) && scopes.contains(&pull.as_str())
    });
    assert!(both, "no token request with {push} and {pull}:\n{asked}");
}

#[tokio::test]
async fn upload_puts_a_manifest_that_reads_back_by_tag_and_digest() {
    use crate::protocol::manifest::OCI_MANIFEST;
    let auth = need!("PUSHX_TEST_AUTH_REGISTRY");
    let c = client();
    let r = c.registry(&auth, &login(&auth)).await.unwrap();
    let name = repo("manifest");
    let config = Bytes::from(format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"config":{{"Labels":{{"n":"{name}"}}}}}}"#
    ));
    let config = r.upload_bytes(&name, &config, 1 << 20).await.unwrap();
    let layer = r.upload_bytes(&name, &random(300_001), 4096).await.unwrap();
    let body = Bytes::from(
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer.digest, "size": layer.size}],
        })
        .to_string(),
    );
    let digest = r
        .put_manifest(&name, "v1", OCI_MANIFEST, body.clone())
        .await
        .unwrap();
    assert_eq!(
        digest,
        format!("sha256:{}", hex::encode(Sha256::digest(&body)))
    );
    let by_tag = r.get_manifest(&name, "v1").await.unwrap().unwrap();
    assert_eq!(by_tag.body, body);
    assert_eq!(by_tag.content_type.as_deref(), Some(OCI_MANIFEST));
    let by_digest = r.get_manifest(&name, &digest).await.unwrap().unwrap();
    assert_eq!(by_digest.body, body);
    assert_eq!(
        r.head_manifest(&name, "v1").await.unwrap(),
        Some(Some(digest.clone()))
    );
    // The same bytes under a digest reference: the same digest.
    assert_eq!(
        r.put_manifest(&name, &digest, OCI_MANIFEST, body)
            .await
            .unwrap(),
        digest
    );
}

#[tokio::test]
async fn upload_refused_by_the_target_is_an_auth_error_and_not_a_source_failure() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    let auth = need!("PUSHX_TEST_AUTH_REGISTRY");
    let c = client();
    let a = c
        .registry(&plain, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let from = repo("from");
    let desc = a.upload_bytes(&from, &random(1000), 1000).await.unwrap();

    let nobody = client();
    let t = nobody
        .registry(&auth, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let e = t
        .place_blob(&repo("to"), &desc, &a, &from, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Auth, "{e}");
    assert!(
        e.message.contains(&format!("docker pushx login {auth}")),
        "{e}"
    );
    assert!(!is_source_failure(&e), "{e}");
    let e = t
        .put_manifest(
            &repo("to"),
            "v1",
            crate::protocol::manifest::OCI_MANIFEST,
            Bytes::from("{}"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Auth, "{e}");

    let wrong = client();
    let bad = crate::credentials::to_auth(&auth, "pushx", Secret::new("not the password"));
    let t = wrong.registry(&auth, &bad).await.unwrap();
    let e = t
        .place_blob(&repo("to"), &desc, &a, &from, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind, Kind::Auth, "{e}");
}

#[tokio::test]
async fn upload_failing_at_the_source_says_so() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    let auth = need!("PUSHX_TEST_AUTH_REGISTRY");
    let c = client();
    let target = c
        .registry(&plain, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let source = c.registry(&auth, &login(&auth)).await.unwrap();
    let from = repo("from");
    let desc = source
        .upload_bytes(&from, &random(2000), 2000)
        .await
        .unwrap();

    // The source has no such blob.
    let mut missing = desc.clone();
    missing.digest = format!("sha256:{}", "0".repeat(64));
    let e = target
        .place_blob(&repo("to"), &missing, &source, &from, &|_| {})
        .await
        .unwrap_err();
    assert!(is_source_failure(&e), "{e}");
    assert!(
        e.message
            .contains(&format!("reading from the primary {auth}")),
        "{e}"
    );

    // The source refuses the (missing) credentials: an auth error, but the source's.
    let nobody = client();
    let anonymous = nobody
        .registry(&auth, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let e = target
        .place_blob(&repo("to"), &desc, &anonymous, &from, &|_| {})
        .await
        .unwrap_err();
    assert!(is_source_failure(&e), "{e}");
    assert_eq!(e.kind, Kind::Auth, "{e}");

    // A size that does not match what the source serves.
    let mut short = desc.clone();
    short.size = 1000;
    let e = target
        .place_blob(&repo("to"), &short, &source, &from, &|_| {})
        .await
        .unwrap_err();
    assert!(is_source_failure(&e), "{e}");
    assert_eq!(e.kind, Kind::Verify, "{e}");
}

/// A source registry of its own (plain HTTP on loopback, no auth) serving one blob, whose
/// first `faults` GETs of it break off after `cut` bytes: the connection closed, or held
/// silent for `silence` first. The count of blob GETs.
async fn flaky_source(
    data: Bytes,
    digest: String,
    faults: usize,
    cut: usize,
    silence: Duration,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let gets = Arc::new(AtomicUsize::new(0));
    let counted = gets.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (data, digest, counted) = (data.clone(), digest.clone(), counted.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head.split(' ').nth(1).unwrap_or_default();
                let answer = |status: &str, len: usize| {
                    format!(
                        "HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                    )
                };
                if path == "/v2/" {
                    let _ = sock.write_all(answer("200 OK", 2).as_bytes()).await;
                    let _ = sock.write_all(b"{}").await;
                } else if path.ends_with(&format!("/blobs/{digest}")) {
                    let n = counted.fetch_add(1, Ordering::SeqCst);
                    let _ = sock
                        .write_all(answer("200 OK", data.len()).as_bytes())
                        .await;
                    if n < faults {
                        let _ = sock.write_all(&data[..cut]).await;
                        let _ = sock.flush().await;
                        tokio::time::sleep(silence).await;
                        return;
                    }
                    let _ = sock.write_all(&data).await;
                } else {
                    let _ = sock.write_all(answer("404 Not Found", 0).as_bytes()).await;
                }
                let _ = sock.flush().await;
            });
        }
    });
    (format!("127.0.0.1:{port}"), gets)
}

fn impatient_client() -> RegistryClient {
    RegistryClient::new(Options {
        stall: Duration::from_secs(1),
        insecure: rules_from(async { InsecureRules::default() }),
        retry: Retry::new(2, Duration::from_millis(50)),
    })
    .unwrap()
}

fn descriptor(data: &Bytes) -> Descriptor {
    Descriptor {
        media_type: OCTET_STREAM.into(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(data))),
        size: data.len() as u64,
        platform: None,
    }
}

#[tokio::test]
async fn upload_starts_over_when_the_source_stream_is_cut() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    // Cut after the first chunk went out: the copy starts over in a new upload session.
    let data = random(12_000_000);
    let desc = descriptor(&data);
    let (source, gets) =
        flaky_source(data, desc.digest.clone(), 2, 9_000_000, Duration::ZERO).await;
    let c = impatient_client();
    let from = c
        .registry(&source, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let to = c
        .registry(&plain, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let name = repo("cut");
    let (seen, progress) = recorder();
    let placed = to
        .place_blob(&name, &desc, &from, "x/y", &progress)
        .await
        .unwrap();
    assert_eq!(placed, Placed::Copied { bytes: 12_000_000 });
    assert_eq!(gets.load(std::sync::atomic::Ordering::SeqCst), 3);
    let seen = seen.lock().unwrap().clone();
    // Each of the two cuts restarts the count (a chunk sent while the next is read may or may
    // not have been acknowledged when the cut comes); the last attempt goes to the end.
    assert_eq!(seen.iter().filter(|n| **n == 0).count(), 2, "{seen:?}");
    assert_eq!(seen.last(), Some(&12_000_000), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1] == 0 || w[1] > w[0]),
        "it only goes up between restarts: {seen:?}"
    );
    assert_eq!(digest_at(&to, &name, &desc.digest).await, desc.digest);
}

#[tokio::test]
async fn upload_starts_over_when_the_source_stalls_and_gives_up_when_retries_are_spent() {
    let plain = need!("PUSHX_TEST_REGISTRY");
    let data = random(1_000_000);
    let desc = descriptor(&data);
    let (source, gets) = flaky_source(
        data.clone(),
        desc.digest.clone(),
        1,
        500_000,
        Duration::from_secs(3),
    )
    .await;
    let c = impatient_client();
    let from = c
        .registry(&source, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let to = c
        .registry(&plain, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let name = repo("stall");
    let placed = to
        .place_blob(&name, &desc, &from, "x/y", &|_| {})
        .await
        .unwrap();
    assert_eq!(placed, Placed::Copied { bytes: 1_000_000 });
    assert_eq!(gets.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(digest_at(&to, &name, &desc.digest).await, desc.digest);

    // Cut every time: three attempts (--retries 2), then the source's failure.
    let (source, gets) =
        flaky_source(data, desc.digest.clone(), usize::MAX, 10, Duration::ZERO).await;
    let c = impatient_client();
    let from = c
        .registry(&source, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let to = c
        .registry(&plain, &RegistryAuth::anonymous())
        .await
        .unwrap();
    let e = to
        .place_blob(&repo("cut"), &desc, &from, "x/y", &|_| {})
        .await
        .unwrap_err();
    assert_eq!(gets.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(is_source_failure(&e), "{e}");
    assert_eq!(e.kind, Kind::Unreachable, "{e}");
}
