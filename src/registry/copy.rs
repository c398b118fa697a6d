//! Copying an image from one repository to another, registry to registry: what fan-out does
//! for every target after the first instead of a second daemon push (which would compress
//! every layer again). The blobs go first (found, mounted or streamed: [`Registry::place_blob`]),
//! an index's child manifests next, by digest, and the exact manifest bytes last, under the
//! tag: so every target gets the same digest, and no manifest ever names a missing blob.

use super::Registry;
use super::upload::{Placed, is_source_failure, source_failure};
use crate::error::{Error, Kind};
use crate::protocol::manifest::{Descriptor, Manifest, sha256_digest};
use futures::StreamExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a copy did: layers found, mounted and copied (configs are not counted, as a push does
/// not count them), and the bytes that crossed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CopyReport {
    pub present: usize,
    pub mounted: usize,
    pub copied: usize,
    /// Bytes streamed across.
    pub bytes: u64,
    /// The manifest's size.
    pub size: u64,
    /// Layers of the image (of every platform, for an index).
    pub layers: usize,
}

/// One manifest read from the source, checked to hash to its digest.
struct Fetched {
    digest: String,
    media_type: String,
    body: bytes::Bytes,
    manifest: Manifest,
}

impl Registry {
    /// Copy the manifest `digest` of `from`'s repository `from.1` into `repo` here, under
    /// `tag`, with every blob it names (`jobs` at once). `progress(done, total)` follows the
    /// bytes streamed.
    pub(crate) async fn copy_image(
        &self,
        repo: &str,
        tag: &str,
        from: (&Registry, &str),
        digest: &str,
        jobs: usize,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<CopyReport, Error> {
        let (src, src_repo) = from;
        let top = fetch(src, src_repo, digest).await?;
        // An index's children, each with its blobs.
        let mut children = Vec::new();
        if let Manifest::Index { manifests } = &top.manifest {
            for child in manifests {
                children.push(fetch(src, src_repo, &child.digest).await?);
            }
        }
        let images: Vec<&Fetched> = match top.manifest {
            Manifest::Image { .. } => vec![&top],
            Manifest::Index { .. } => children.iter().collect(),
        };
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut configs: Vec<&str> = Vec::new();
        let mut layers = 0;
        for m in &images {
            if let Manifest::Image { config, layers: l } = &m.manifest {
                layers += l.len();
                configs.push(&config.digest);
                for d in std::iter::once(config).chain(l) {
                    if !blobs.iter().any(|b| b.digest == d.digest) {
                        blobs.push(d.clone());
                    }
                }
            }
        }
        let total: u64 = blobs.iter().map(|b| b.size).sum();
        // Bytes streamed so far: finished blobs plus each running one's count.
        let done = AtomicU64::new(0);
        let running: Mutex<std::collections::HashMap<String, u64>> = Mutex::default();
        let report_progress = |digest: &str, n: u64| {
            let mut r = running.lock().unwrap_or_else(|e| e.into_inner());
            r.insert(digest.to_string(), n);
            progress(
                done.load(Ordering::Relaxed) + r.values().sum::<u64>(),
                total,
            );
        };
        let places: Vec<_> = blobs
            .iter()
            .map(|b| {
                let report_progress = &report_progress;
                let (done, running) = (&done, &running);
                async move {
                    let on = |n: u64| report_progress(&b.digest, n);
                    let placed = self.place_blob(repo, b, src, src_repo, &on).await;
                    running
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&b.digest);
                    if let Ok(Placed::Copied { bytes }) = &placed {
                        done.fetch_add(*bytes, Ordering::Relaxed);
                    }
                    (
                        b,
                        placed.map_err(|e| e.context(format!("blob {}", b.digest))),
                    )
                }
            })
            .collect();
        let placed: Vec<(&Descriptor, Result<Placed, Error>)> = futures::stream::iter(places)
            .buffer_unordered(jobs.max(1))
            .collect()
            .await;
        let mut report = CopyReport {
            size: top.body.len() as u64,
            layers,
            ..CopyReport::default()
        };
        // Layers are counted, as a push counts them; a config's bytes count all the same.
        for (b, p) in placed {
            let layer = usize::from(!configs.contains(&b.digest.as_str()));
            match p? {
                Placed::Present => report.present += layer,
                Placed::Mounted => report.mounted += layer,
                Placed::Copied { bytes } => {
                    report.copied += layer;
                    report.bytes += bytes;
                }
            }
        }
        // Only now, with every blob there, the manifests: children by digest, then the tag.
        for child in &children {
            self.put_checked(repo, &child.digest, child).await?;
        }
        self.put_checked(repo, tag, &top).await?;
        Ok(report)
    }

    /// Put `m` as `reference` and check the registry took it as the same digest.
    async fn put_checked(&self, repo: &str, reference: &str, m: &Fetched) -> Result<(), Error> {
        let got = self
            .put_manifest(repo, reference, &m.media_type, m.body.clone())
            .await?;
        if got != m.digest {
            return Err(Error::new(
                Kind::Verify,
                format!(
                    "the registry {} stored the manifest {} as {got}",
                    self.domain, m.digest
                ),
            ));
        }
        Ok(())
    }
}

/// The manifest `digest` of `repo` at `src`, checked to hash to it.
async fn fetch(src: &Registry, repo: &str, digest: &str) -> Result<Fetched, Error> {
    let reading = |e: Error| source_failure(e.context(format!("{repo}@{digest}")), &src.domain);
    let m = src
        .get_manifest(repo, digest)
        .await
        .map_err(reading)?
        .ok_or_else(|| {
            reading(Error::new(
                Kind::Verify,
                "the registry no longer has it".to_string(),
            ))
        })?;
    let got = sha256_digest(&m.body);
    if got != digest {
        return Err(reading(Error::new(
            Kind::Verify,
            format!("it hashes to {got}"),
        )));
    }
    let manifest = Manifest::parse(&m.body, m.content_type.as_deref())
        .map_err(|e| reading(Error::new(Kind::Verify, e)))?;
    let media_type = m
        .content_type
        .clone()
        .or_else(|| media_type_of(&m.body))
        .unwrap_or_else(|| crate::protocol::manifest::OCI_MANIFEST.to_string());
    Ok(Fetched {
        digest: digest.to_string(),
        media_type,
        body: m.body,
        manifest,
    })
}

/// The `mediaType` field a manifest names itself by.
fn media_type_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("mediaType")?.as_str().map(String::from)
}

/// Whether a copy that failed with `e` may still get the target there by a push through the
/// daemon: when the source could not be read from here, the target could not be reached from
/// here (the daemon may reach it), or the target refused something only a copy does. Not when
/// the target refused the credentials: a push would meet that too.
pub(crate) fn daemon_may_do_better(e: &Error) -> bool {
    is_source_failure(e) || e.kind != Kind::Auth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_push_is_tried_when_the_source_is_at_fault_or_the_copy_was_refused() {
        let source = source_failure(Error::new(Kind::Unreachable, "refused"), "a:1");
        assert!(daemon_may_do_better(&source));
        assert!(daemon_may_do_better(&source.context("blob sha256:aa")));
        let source_auth = source_failure(Error::new(Kind::Auth, "401"), "a:1");
        assert!(daemon_may_do_better(&source_auth));
        assert!(daemon_may_do_better(&Error::new(
            Kind::Other,
            "HTTP 405 unsupported"
        )));
        assert!(!daemon_may_do_better(&Error::new(
            Kind::Auth,
            "unauthorized"
        )));
        assert!(daemon_may_do_better(&Error::new(
            Kind::Unreachable,
            "refused"
        )));
    }
}
