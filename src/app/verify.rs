//! `docker pushx verify`: prove from the registry itself that references hold what a fresh
//! machine needs. Digest mode: the reference resolves and the manifest fetched by digest hashes
//! to it. Full mode adds the config blob and every layer blob, streamed: size and sha256 of the
//! compressed bytes, and the sha256 of the decompressed tar against the config's diff_id.

use crate::app::cli::{CheckMode, Format, VerifyArgs};
use crate::app::push::report::short_digest;
use crate::app::settings::Settings;
use crate::app::table;
use crate::daemon::Daemon;
use crate::error::{Error, Kind};
use crate::protocol::image::{Content, LocalImage};
use crate::protocol::manifest::{
    self, Descriptor, ImageConfig, LayerDigester, Manifest, sha256_digest,
};
use crate::protocol::reference::Reference;
use crate::protocol::www_auth::InsecureRules;
use crate::registry::{Options, Registry, RegistryClient, Retry};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod layer;
mod source;
use layer::{LayerRead, naming};

#[derive(Debug, Serialize)]
struct VerifyResult {
    targets: Vec<Target>,
}

#[derive(Debug, Serialize)]
struct Target {
    reference: String,
    digest: Option<String>,
    credential_source: String,
    verification: Verification,
    error: Option<String>,
    #[serde(skip)]
    kind: Option<Kind>,
}

#[derive(Debug, Serialize)]
struct Verification {
    mode: CheckMode,
    ok: bool,
    detail: String,
    blobs: Blobs,
}

#[derive(Debug, Serialize, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blobs {
    /// Blobs found present and right: read in full, or HEADed when read before.
    pub checked: u64,
    /// Blobs read in full (once each, however often a broken-off read was made again).
    pub read: u64,
    /// Bytes received for the blobs read, those of reads broken off midway and made again
    /// included: what the check cost on the network.
    pub bytes_read: u64,
}

/// What one reference's check read, counted as it goes (blobs are read concurrently).
#[derive(Default)]
pub(crate) struct Counters {
    checked: AtomicU64,
    read: AtomicU64,
    bytes_read: AtomicU64,
    /// Layers whose decompressed content was not checked (zstd, unknown media types).
    unchecked: AtomicU64,
}

impl Counters {
    pub(crate) fn blobs(&self) -> Blobs {
        Blobs {
            checked: self.checked.load(Ordering::Relaxed),
            read: self.read.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
        }
    }

    /// `detail`, saying how many layers' decompressed content could not be checked.
    pub(crate) fn note_unchecked(&self, detail: String) -> String {
        match self.unchecked.load(Ordering::Relaxed) {
            0 => detail,
            n => {
                format!("{detail}; {n} zstd or unknown layer(s): decompressed content not checked")
            }
        }
    }
}

/// The daemon, within 5 s.
async fn connect(settings: &Settings) -> Result<Arc<Daemon>, Error> {
    let ep = settings.endpoint()?;
    tokio::time::timeout(Duration::from_secs(5), Daemon::connect(ep))
        .await
        .unwrap_or_else(|_| Err(Error::new(Kind::Unreachable, "the daemon did not answer")))
        .map(Arc::new)
}

pub(crate) async fn run(settings: &Settings, args: &VerifyArgs) -> Result<(), Error> {
    let refs = args
        .references
        .iter()
        .map(|s| parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let keys: Vec<String> = refs.iter().map(Reference::auth_key).collect();
    let s = settings.clone();
    let creds = tokio::task::spawn_blocking(move || s.credentials_for(&keys))
        .await
        .map_err(|e| Error::other(format!("credential lookup: {e}")))??;

    // The daemon holds --source, and decides which registries off loopback are insecure.
    // Without --source it is optional (asked only for such a registry): its defaults, loopback
    // only, apply when it does not answer.
    let daemon = match &args.source {
        Some(_) => Some(connect(settings).await),
        None => None,
    };
    let insecure = {
        let (daemon, settings) = (daemon.clone(), settings.clone());
        crate::registry::rules_from(async move {
            let daemon = match daemon {
                Some(d) => d,
                None => connect(&settings).await,
            };
            match daemon {
                Ok(d) => d.insecure_rules().await,
                Err(e) => {
                    tracing::debug!(
                        "no daemon for the insecure-registry rules ({e}): loopback only"
                    );
                    InsecureRules::default()
                }
            }
        })
    };
    let source_image = match (&args.source, &daemon) {
        (Some(src), Some(d)) => {
            let d = d.as_ref().map_err(Clone::clone)?;
            match d.image(src).await? {
                Some(image) => Some(image),
                None => {
                    return Err(Error::new(
                        Kind::NotFound,
                        format!("source image {src} not found locally"),
                    ));
                }
            }
        }
        _ => None,
    };

    let client = RegistryClient::new(Options {
        stall: args.stall_timeout,
        insecure,
        retry: Retry::new(args.retries, args.retry_delay),
    })?;
    // A remote daemon reaching a registry says nothing about this machine reaching it.
    let daemon_endpoint = settings.endpoint().ok().map(|r| r.endpoint.clone());
    let verifier = Verifier::new(
        args.mode,
        usize::from(args.jobs),
        args.source.clone().zip(source_image),
    );
    let mut targets = Vec::new();
    for r in &refs {
        let found = &creds[&r.auth_key()];
        let counters = Counters::default();
        let outcome = match client.registry(&r.domain, &found.auth).await {
            Ok(reg) => verifier.check(r, &reg, &counters).await,
            Err(e) => Err((None, e)),
        };
        let blobs = counters.blobs();
        let (digest, ok, detail, error, kind) = match outcome {
            Ok((digest, detail)) => (Some(digest), true, detail, None, None),
            Err((digest, e)) => {
                let e = crate::registry::from_here(e, daemon_endpoint.as_ref());
                (
                    digest,
                    false,
                    e.message.clone(),
                    Some(e.message.clone()),
                    Some(e.kind),
                )
            }
        };
        let detail = counters.note_unchecked(detail);
        targets.push(Target {
            reference: r.to_string(),
            digest,
            credential_source: found.source.clone(),
            verification: Verification {
                mode: args.mode,
                ok,
                detail,
                blobs,
            },
            error,
            kind,
        });
    }
    let result = VerifyResult { targets };
    print!("{}", render(&result, args.format)?);
    outcome(&result)
}

fn parse(s: &str) -> Result<Reference, Error> {
    let r = Reference::parse(s).map_err(|e| Error::usage(e.to_string()))?;
    if !r.explicit_domain {
        return Err(Error::usage(format!(
            "{s} names no registry: give the reference in full, as registry.example.com/team/app:1 or docker.io/library/alpine:3"
        )));
    }
    Ok(r)
}

fn render(result: &VerifyResult, format: Format) -> Result<String, Error> {
    match format {
        Format::Json => serde_json::to_string_pretty(result)
            .map(|s| s + "\n")
            .map_err(|e| Error::other(format!("rendering the result: {e}"))),
        Format::Table => {
            let rows: Vec<Vec<String>> = result
                .targets
                .iter()
                .map(|t| {
                    vec![
                        t.reference.clone(),
                        t.digest.as_deref().map(short_digest).unwrap_or("-").into(),
                        if t.verification.ok { "ok" } else { "FAILED" }.into(),
                        t.verification.detail.clone(),
                    ]
                })
                .collect();
            Ok(table::render(
                &["REFERENCE", "DIGEST", "VERIFIED", "DETAIL"],
                &rows,
            ))
        }
    }
}

/// 0 when every reference holds; else the first failure's kind (5 for a mismatch).
fn outcome(result: &VerifyResult) -> Result<(), Error> {
    let failed: Vec<&Target> = result
        .targets
        .iter()
        .filter(|t| !t.verification.ok)
        .collect();
    let Some(first) = failed.first() else {
        return Ok(());
    };
    let more = match failed.len() {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Err(Error::new(
        first.kind.unwrap_or(Kind::Verify),
        format!(
            "{}: {}{more}",
            first.reference,
            first.error.as_deref().unwrap_or_default()
        ),
    ))
}

fn mismatch(m: impl Into<String>) -> Error {
    Error::new(Kind::Verify, m)
}

/// The registry-side check of references, shared by `docker pushx verify` and `docker pushx
/// --verify full`; one per run, so that what it read once on a registry it only HEADs after.
pub(crate) struct Verifier {
    mode: CheckMode,
    jobs: usize,
    /// Blobs by registry and digest; `true` once read in full and found right this run: later
    /// references only HEAD them. A check of a blob another is reading waits for that read.
    read: Mutex<HashMap<(String, String), ReadOnce>>,
    /// `--source` (or the pushed SOURCE) and the local image.
    source: Option<(String, LocalImage)>,
}

pub(crate) type Failed = (Option<String>, Error);

/// Whether a blob was read in full and found right; locked while it is being read.
type ReadOnce = Arc<tokio::sync::Mutex<bool>>;

impl Verifier {
    /// `jobs`: blobs read at once per reference; `source`: a local image's name and the image
    /// the manifest must be.
    pub(crate) fn new(mode: CheckMode, jobs: usize, source: Option<(String, LocalImage)>) -> Self {
        Verifier {
            mode,
            jobs: jobs.max(1),
            read: Mutex::new(HashMap::new()),
            source,
        }
    }

    /// The digest the reference resolves to and a one-line summary, or the digest (when known)
    /// and what failed.
    async fn check(
        &self,
        r: &Reference,
        reg: &Registry,
        n: &Counters,
    ) -> Result<(String, String), Failed> {
        let digest = self.resolve(r, reg).await?;
        self.check_digest(r, reg, digest, n).await
    }

    /// The digest `r` names or its tag resolves to at the registry.
    pub(crate) async fn resolve(&self, r: &Reference, reg: &Registry) -> Result<String, Failed> {
        let repo = &r.path;
        Ok(match &r.digest {
            Some(d) => d.clone(),
            None => {
                let tag = r.tag_or_latest();
                match reg.head_manifest(repo, tag).await.map_err(|e| (None, e))? {
                    None => {
                        return Err((None, mismatch(format!("the registry has no tag {tag}"))));
                    }
                    Some(Some(d)) => d,
                    // No Docker-Content-Digest: the digest of the manifest it serves.
                    Some(None) => match reg.get_manifest(repo, tag).await {
                        Ok(Some(m)) => sha256_digest(&m.body),
                        Ok(None) => {
                            return Err((None, mismatch(format!("the registry has no tag {tag}"))));
                        }
                        Err(e) => return Err((None, e)),
                    },
                }
            }
        })
    }

    /// The manifest `digest` in `r`'s repository, and in full mode everything it names.
    pub(crate) async fn check_digest(
        &self,
        r: &Reference,
        reg: &Registry,
        digest: String,
        n: &Counters,
    ) -> Result<(String, String), Failed> {
        let repo = &r.path;
        let fail = |e: Error| (Some(digest.clone()), e);
        let m = self.manifest(reg, repo, &digest).await.map_err(fail)?;
        // Each image manifest's config, with its content once read (full mode).
        let mut configs: Vec<(Descriptor, Option<Content>)> = Vec::new();
        let mut layers = 0usize;
        match &m {
            Manifest::Image { config, layers: l } => {
                layers += l.len();
                let content = match self.mode {
                    CheckMode::Full => {
                        Some(self.image(reg, repo, config, l, n).await.map_err(fail)?)
                    }
                    CheckMode::Digest => None,
                };
                configs.push((config.clone(), content));
            }
            Manifest::Index { manifests } => {
                for child in manifests {
                    let what = child
                        .platform
                        .as_ref()
                        .map(|p| format!(" ({})", p.label()))
                        .unwrap_or_default();
                    let cm = self.manifest(reg, repo, &child.digest).await.map_err(|e| {
                        fail(e.context(format!("child manifest {}{what}", child.digest)))
                    })?;
                    let Manifest::Image { config, layers: l } = cm else {
                        return Err(fail(mismatch(format!(
                            "child manifest {} is itself an index",
                            child.digest
                        ))));
                    };
                    layers += l.len();
                    let content = match self.mode {
                        CheckMode::Full => {
                            Some(self.image(reg, repo, &config, &l, n).await.map_err(|e| {
                                fail(e.context(format!("child manifest {}{what}", child.digest)))
                            })?)
                        }
                        CheckMode::Digest => None,
                    };
                    configs.push((config, content));
                }
            }
        }
        if let Some(source) = &self.source {
            self.is_source(reg, repo, &digest, configs, source, n)
                .await
                .map_err(fail)?;
        }
        let b = n.blobs();
        let detail = match self.mode {
            CheckMode::Digest => format!(
                "registry holds {}; manifest hashes to it",
                short_digest(&digest)
            ),
            CheckMode::Full => format!(
                "manifest, config and {layers} layer(s) intact: {} blob(s) read ({}), {} HEADed",
                b.read,
                crate::app::push::progress::human_size(b.bytes_read),
                b.checked - b.read
            ),
        };
        let detail = match &self.source {
            Some((src, _)) => format!("{detail}; config is the local {src}"),
            None => detail,
        };
        Ok((digest, detail))
    }

    /// The manifest `digest`, fetched by digest and checked to hash to it.
    async fn manifest(&self, reg: &Registry, repo: &str, digest: &str) -> Result<Manifest, Error> {
        let m = reg
            .get_manifest(repo, digest)
            .await?
            .ok_or_else(|| mismatch(format!("the registry has no manifest {digest}")))?;
        let got = sha256_digest(&m.body);
        if digest.starts_with("sha256:") && got != digest {
            return Err(mismatch(format!(
                "manifest {digest}: the registry serves content hashing to {got}"
            )));
        }
        // A 200 that is no manifest (a login page, a proxy's error page): the registry does
        // not hold a valid image there, so it is a failed verification (5), said plainly.
        let text = m
            .content_type
            .as_deref()
            .filter(|c| c.starts_with("text/"))
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_string());
        Manifest::parse(&m.body, m.content_type.as_deref()).map_err(|e| match text {
            Some(c) => mismatch(format!(
                "manifest {digest}: the registry answered a {c} page, not a manifest (a login page or a proxy in front of the registry?)"
            )),
            None => mismatch(format!("manifest {digest}: {e}")),
        })
    }

    /// The config blob, read whole and checked to be what its descriptor says.
    async fn config(
        &self,
        reg: &Registry,
        repo: &str,
        config: &Descriptor,
        n: &Counters,
    ) -> Result<ImageConfig, Error> {
        let (body, received) = reg
            .get_small_blob(repo, &config.digest, manifest::MAX_CONFIG_BYTES)
            .await
            .map_err(|e| naming(e, "config", &config.digest))?
            .ok_or_else(|| mismatch(format!("config blob {} is missing", config.digest)))?;
        n.checked.fetch_add(1, Ordering::Relaxed);
        n.read.fetch_add(1, Ordering::Relaxed);
        n.bytes_read.fetch_add(received, Ordering::Relaxed);
        let got = sha256_digest(&body);
        if got != config.digest || body.len() as u64 != config.size {
            return Err(mismatch(format!(
                "config blob {}: expected {} bytes hashing to it, found {} bytes hashing to {got}",
                config.digest,
                config.size,
                body.len()
            )));
        }
        ImageConfig::parse(&body)
            .map_err(|e| mismatch(format!("config blob {}: {e}", config.digest)))
    }

    /// The config blob and every layer blob of one image manifest; what the config says.
    async fn image(
        &self,
        reg: &Registry,
        repo: &str,
        config: &Descriptor,
        layers: &[Descriptor],
        n: &Counters,
    ) -> Result<Content, Error> {
        let cfg = self.config(reg, repo, config, n).await?;
        if cfg.rootfs.diff_ids.len() != layers.len() {
            return Err(mismatch(format!(
                "config blob {} lists {} diff_ids for {} layers",
                config.digest,
                cfg.rootfs.diff_ids.len(),
                layers.len()
            )));
        }
        // The futures are made first: a closure inside the stream would make this future
        // not `Send` (rust-lang/rust#102211), and the push spawns it.
        let reads: Vec<_> = layers
            .iter()
            .zip(&cfg.rootfs.diff_ids)
            .map(|(l, diff_id)| self.layer(reg, repo, l, diff_id, n))
            .collect();
        let results: Vec<Result<(), Error>> = futures::stream::iter(reads)
            .buffered(self.jobs)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), Error>>()?;
        Ok(cfg.content())
    }

    /// One layer blob: HEAD when this registry's copy was read already, else streamed.
    async fn layer(
        &self,
        reg: &Registry,
        repo: &str,
        l: &Descriptor,
        diff_id: &str,
        n: &Counters,
    ) -> Result<(), Error> {
        let key = (reg.domain().to_string(), l.digest.clone());
        let missing = || mismatch(format!("layer blob {} is missing", l.digest));
        let slot = self
            .read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .clone();
        // Held to the end of this check: another reference's check of the blob waits, then
        // only HEADs it (or reads it itself, if this read failed).
        let mut read_before = slot.lock().await;
        if *read_before {
            let size = reg.head_blob(repo, &l.digest).await?.ok_or_else(missing)?;
            if size != 0 && size != l.size {
                return Err(mismatch(format!(
                    "layer blob {}: expected {} bytes, found {size}",
                    l.digest, l.size
                )));
            }
            n.checked.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let compression = manifest::compression(&l.media_type);
        let mut sink = LayerRead {
            l,
            compression,
            digester: LayerDigester::new(compression),
            len: 0,
            n,
        };
        if !reg
            .read_blob(repo, &l.digest, &mut sink)
            .await
            .map_err(|e| naming(e, "layer", &l.digest))?
        {
            return Err(missing());
        }
        n.read.fetch_add(1, Ordering::Relaxed);
        let got = sink.digester.finish(compression);
        if got.size != l.size {
            return Err(mismatch(format!(
                "layer blob {}: expected {} bytes, found {}",
                l.digest, l.size, got.size
            )));
        }
        if got.digest != l.digest {
            return Err(mismatch(format!(
                "layer blob {}: expected sha256 {}, found {}",
                l.digest, l.digest, got.digest
            )));
        }
        match got.diff_id {
            Some(Ok(d)) if d == diff_id => {}
            Some(Ok(d)) => {
                return Err(mismatch(format!(
                    "layer blob {}: decompressed content hashes to {d}, expected diff_id {diff_id}",
                    l.digest
                )));
            }
            Some(Err(e)) => return Err(mismatch(format!("layer blob {}: {e}", l.digest))),
            None => {
                n.unchecked.fetch_add(1, Ordering::Relaxed);
            }
        }
        n.checked.fetch_add(1, Ordering::Relaxed);
        *read_before = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_must_name_a_registry() {
        assert!(parse("registry.example.com/team/app:1").is_ok());
        assert!(parse("docker.io/library/alpine:3").is_ok());
        assert!(parse("localhost:5000/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef").is_ok());
        for bad in [
            "app:1",
            "team/app",
            "r.example/app@sha256:abc",
            "R.example/App",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.kind, Kind::Usage, "{bad}");
        }
    }

    fn target(ok: bool, kind: Option<Kind>) -> Target {
        Target {
            reference: "r/a:1".into(),
            digest: None,
            credential_source: "anonymous".into(),
            verification: Verification {
                mode: CheckMode::Full,
                ok,
                detail: String::new(),
                blobs: Blobs::default(),
            },
            error: (!ok).then(|| "x".into()),
            kind,
        }
    }

    #[test]
    fn the_first_failure_decides_the_exit_code() {
        let ok = VerifyResult {
            targets: vec![target(true, None)],
        };
        assert!(outcome(&ok).is_ok());
        let r = VerifyResult {
            targets: vec![
                target(true, None),
                target(false, Some(Kind::Auth)),
                target(false, Some(Kind::Verify)),
            ],
        };
        let e = outcome(&r).unwrap_err();
        assert_eq!(e.kind, Kind::Auth);
        assert!(e.message.contains("1 more"), "{}", e.message);
        let json = render(&r, Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["targets"][0]["verification"]["mode"], "full");
        assert_eq!(v["targets"][0]["verification"]["blobs"]["bytes_read"], 0);
    }
}
