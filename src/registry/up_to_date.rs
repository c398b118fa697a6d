//! Whether a tag in a registry already holds a local image, so that pushing it again would
//! change nothing: the tag's manifest is the image (by digest, or in the containerd store by
//! its config's content: see [`crate::protocol::image`]) and the blobs it lists are there.

use super::Registry;
use crate::error::Error;
use crate::protocol::image::LocalImage;
use crate::protocol::manifest::{self, ImageConfig, Manifest, sha256_digest};
use futures::StreamExt;

/// What a tag holds, compared with a local image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TagState {
    /// The registry has no such tag.
    Absent,
    /// The tag holds another image (manifest `digest`).
    Other { digest: String },
    /// The tag's manifest is the image, but the registry lacks one of its blobs (a garbage
    /// collection, a half-finished push): pushing again restores it.
    MissingBlob { digest: String, blob: String },
    /// A multi-platform index: its children are not compared, so a push goes ahead and the
    /// engine decides what it holds.
    Index { digest: String },
    /// The tag holds the image, blobs and all: manifest `digest` (`size` bytes) listing
    /// `layers` layers.
    UpToDate {
        digest: String,
        size: u64,
        layers: usize,
    },
}

impl Registry {
    /// Whether the config blob `digest` (read whole, checked to hash to it) says what the
    /// local image's config says.
    async fn config_is(&self, repo: &str, digest: &str, local: &LocalImage) -> Result<bool, Error> {
        let Some((body, _)) = self
            .get_small_blob(repo, digest, manifest::MAX_CONFIG_BYTES)
            .await?
        else {
            return Ok(false);
        };
        Ok(sha256_digest(&body) == digest
            && ImageConfig::parse(&body).is_ok_and(|c| local.same_content(&c.content()).is_ok()))
    }
}

/// Blob HEADs at once.
const HEADS_AT_ONCE: usize = 4;

impl Registry {
    /// Compare `repo:tag` with the local image: a GET of the tag's manifest, then a HEAD of
    /// its config and of each layer when the config is the image. Changes nothing.
    pub(crate) async fn tag_holds_image(
        &self,
        repo: &str,
        tag: &str,
        local: &LocalImage,
    ) -> Result<TagState, Error> {
        let Some(m) = self.get_manifest(repo, tag).await? else {
            return Ok(TagState::Absent);
        };
        let digest = sha256_digest(&m.body);
        let other = || {
            Ok(TagState::Other {
                digest: digest.clone(),
            })
        };
        let Ok(parsed) = Manifest::parse(&m.body, m.content_type.as_deref()) else {
            return other();
        };
        let (config, layers) = match parsed {
            Manifest::Index { .. } => return Ok(TagState::Index { digest }),
            Manifest::Image { config, layers } => (config, layers),
        };
        let is_image = local.is_by_digest(&digest, &config.digest)
            || (local.compare_content() && self.config_is(repo, &config.digest, local).await?);
        if !is_image {
            return other();
        }
        let blobs: Vec<&str> = std::iter::once(config.digest.as_str())
            .chain(layers.iter().map(|l| l.digest.as_str()))
            .collect();
        // Futures made first, not in a closure of the stream: that would make this future
        // not `Send` (rust-lang/rust#102211).
        let heads: Vec<_> = blobs.iter().map(|b| self.head_blob(repo, b)).collect();
        let present: Vec<Result<Option<u64>, Error>> = futures::stream::iter(heads)
            .buffered(HEADS_AT_ONCE)
            .collect()
            .await;
        for (blob, p) in blobs.iter().zip(present) {
            if p?.is_none() {
                return Ok(TagState::MissingBlob {
                    digest,
                    blob: blob.to_string(),
                });
            }
        }
        Ok(TagState::UpToDate {
            digest,
            size: m.body.len() as u64,
            layers: layers.len(),
        })
    }
}
