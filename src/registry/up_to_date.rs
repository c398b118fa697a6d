//! Whether a tag in a registry already holds a local image, so that pushing it again would
//! change nothing: the tag's manifest names the image as its config (the graphdriver store's
//! image ID is the config digest; the containerd store's is the manifest or index digest)
//! and the blobs it lists are there.

use super::Registry;
use crate::error::Error;
use crate::protocol::manifest::{Manifest, sha256_digest};

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
    /// The tag holds the image, blobs and all: manifest `digest`.
    UpToDate { digest: String },
}

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
        let blobs: Vec<String> = match parsed {
            // The containerd store's image ID is the index digest: the same digest is the
            // same content, children included.
            Manifest::Index { .. } if digest == image_id => Vec::new(),
            Manifest::Index { .. } => return other(),
            Manifest::Image { config, layers } => {
                if config.digest != image_id && digest != image_id {
                    return other();
                }
                std::iter::once(config.digest)
                    .chain(layers.into_iter().map(|l| l.digest))
                    .collect()
            }
        };
        for blob in blobs {
            if self.head_blob(repo, &blob).await?.is_none() {
                return Ok(TagState::MissingBlob { digest, blob });
            }
        }
        Ok(TagState::UpToDate { digest })
    }
}
