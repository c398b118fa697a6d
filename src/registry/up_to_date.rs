//! Whether a tag in a registry already holds a local image, so that pushing it again would
//! change nothing: the tag's manifest names the image as its config (the graphdriver store's
//! image ID is the config digest; the containerd store's is the manifest or index digest)
//! and the blobs it lists are there.

use super::Registry;
use crate::error::Error;
use crate::protocol::manifest::{Manifest, sha256_digest};
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

/// Blob HEADs at once.
const HEADS_AT_ONCE: usize = 4;

impl Registry {
    /// Compare `repo:tag` with the local image `image_id`: a GET of the tag's manifest, then
    /// a HEAD of its config and of each layer when the config is the image. Changes nothing.
    pub(crate) async fn tag_holds_image(
        &self,
        repo: &str,
        tag: &str,
        image_id: &str,
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
        // The containerd store's image ID is the manifest's digest; the graphdriver's, the
        // config's.
        if config.digest != image_id && digest != image_id {
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
