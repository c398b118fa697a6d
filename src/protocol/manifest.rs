//! Image manifests, indexes and configs as registries serve them: media types, the JSON models
//! verification reads, digests of bytes, and the streaming check of a layer blob (compressed
//! size and sha256, and the sha256 of the decompressed tar, its diff_id).

use crate::protocol::image::{Content, Runtime};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::io::Write;

pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The four manifest types verification understands.
pub(crate) const MANIFEST_TYPES: [&str; 4] =
    [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];

/// The `Accept` header for manifests: all four types, or a registry may answer with a
/// converted (schema 1) manifest whose digest is not the pushed one (pitfalls.md #18).
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// distribution refuses manifests over 4 MiB; so do we, before reading more.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Image configs are small JSON documents; a bound keeps a hostile registry from filling memory.
pub(crate) const MAX_CONFIG_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub(crate) struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    pub(crate) fn label(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Wire {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A manifest, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Manifest {
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    Index {
        manifests: Vec<Descriptor>,
    },
}

impl Manifest {
    /// Parse a manifest body; `content_type` is the registry's `Content-Type`, used when the
    /// body names no media type (OCI makes the field optional).
    pub(crate) fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, String> {
        let w: Wire = serde_json::from_slice(body)
            .map_err(|e| format!("the manifest is not the JSON of an image manifest: {e}"))?;
        if w.schema_version != 2 {
            return Err(format!(
                "schema version {} manifests are not supported",
                w.schema_version
            ));
        }
        let media_type = w
            .media_type
            .as_deref()
            .or(content_type.map(|c| c.split(';').next().unwrap_or(c).trim()))
            .unwrap_or("");
        if !media_type.is_empty() && !MANIFEST_TYPES.contains(&media_type) {
            return Err(format!("unsupported manifest type {media_type}"));
        }
        let is_index = media_type == DOCKER_LIST
            || media_type == OCI_INDEX
            || (w.manifests.is_some() && w.config.is_none());
        if is_index {
            return Ok(Manifest::Index {
                manifests: w.manifests.unwrap_or_default(),
            });
        }
        match w.config {
            Some(config) => Ok(Manifest::Image {
                config,
                layers: w.layers.unwrap_or_default(),
            }),
            None => Err(format!("the manifest ({media_type}) has no config")),
        }
    }
}

/// The part of an image config verification reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ImageConfig {
    pub rootfs: RootFs,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub config: Option<Runtime>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

impl ImageConfig {
    pub(crate) fn parse(body: &[u8]) -> Result<ImageConfig, String> {
        serde_json::from_slice(body).map_err(|e| format!("the image config is not valid: {e}"))
    }

    /// What it says, to compare with a local image.
    pub(crate) fn content(&self) -> Content {
        Content {
            diff_ids: self.rootfs.diff_ids.clone(),
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            runtime: self.config.clone().unwrap_or_default(),
        }
    }
}

/// `sha256:<hex>` of some bytes.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Gzip,
    None,
    /// zstd and anything unknown: the compressed bytes are checked, the diff_id is not.
    Unchecked,
}

pub(crate) fn compression(media_type: &str) -> Compression {
    let m = media_type;
    if m.ends_with("+gzip") || m.ends_with(".tar.gzip") || m.ends_with("tar.gzip") {
        Compression::Gzip
    } else if m == "application/vnd.oci.image.layer.v1.tar"
        || m == "application/vnd.oci.image.layer.nondistributable.v1.tar"
    {
        Compression::None
    } else {
        Compression::Unchecked
    }
}

/// The sha256 of what is written to it, and how much.
#[derive(Default)]
struct Hashing {
    hash: Sha256,
    len: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.hash.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A layer blob fed chunk by chunk: nothing is kept but two hash states and a decoder window.
pub(crate) struct LayerDigester {
    compressed: Hashing,
    decoder: Option<flate2::write::MultiGzDecoder<Hashing>>,
    /// The first decoding error: the stream is then not a valid gzip stream.
    decode_error: Option<String>,
}

/// What a layer blob turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerDigests {
    pub size: u64,
    pub digest: String,
    /// The decompressed stream's digest; `None` when it was not computed (zstd, unknown).
    pub diff_id: Option<Result<String, String>>,
}

impl LayerDigester {
    pub(crate) fn new(compression: Compression) -> Self {
        LayerDigester {
            compressed: Hashing::default(),
            decoder: (compression == Compression::Gzip)
                .then(|| flate2::write::MultiGzDecoder::new(Hashing::default())),
            decode_error: None,
        }
    }

    pub(crate) fn update(&mut self, chunk: &[u8]) {
        let _ = self.compressed.write(chunk);
        if self.decode_error.is_none()
            && let Some(d) = &mut self.decoder
            && let Err(e) = d.write_all(chunk)
        {
            self.decode_error = Some(format!("not a valid gzip stream: {e}"));
        }
    }

    pub(crate) fn finish(self, compression: Compression) -> LayerDigests {
        let digest = format!("sha256:{}", hex::encode(self.compressed.hash.finalize()));
        let diff_id = match (compression, self.decoder, self.decode_error) {
            (Compression::Gzip, _, Some(e)) => Some(Err(e)),
            (Compression::Gzip, Some(d), None) => Some(match d.finish() {
                Ok(h) => Ok(format!("sha256:{}", hex::encode(h.hash.finalize()))),
                Err(e) => Err(format!("not a valid gzip stream: {e}")),
            }),
            (Compression::None, _, _) => Some(Ok(digest.clone())),
            _ => None,
        };
        LayerDigests {
            size: self.compressed.len,
            digest,
            diff_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn manifests_and_indexes_parse() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"sha256:aa"},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"sha256:bb"}]}"#;
        let Manifest::Image { config, layers } = Manifest::parse(m, None).unwrap() else {
            panic!("not an image manifest");
        };
        assert_eq!(config.digest, "sha256:aa");
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].size, 9);
        let i = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"sha256:cc","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;
        let Manifest::Index { manifests } = Manifest::parse(i, Some(OCI_INDEX)).unwrap() else {
            panic!("not an index");
        };
        assert_eq!(
            manifests[0].platform.as_ref().unwrap().label(),
            "linux/arm64/v8"
        );
        assert!(Manifest::parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, None).is_err());
        assert!(Manifest::parse(b"<html>", None).is_err());
        assert!(
            Manifest::parse(
                br#"{"schemaVersion":2,"config":{"digest":"sha256:a","size":1}}"#,
                Some("text/html")
            )
            .is_err()
        );
        for t in MANIFEST_TYPES {
            assert!(MANIFEST_ACCEPT.contains(t), "{t}");
        }
        assert!(Manifest::parse(br#"{"schemaVersion":2}"#, Some(OCI_MANIFEST)).is_err());
    }

    #[test]
    fn configs_give_their_diff_ids() {
        let c = ImageConfig::parse(br#"{"architecture":"amd64","rootfs":{"type":"layers","diff_ids":["sha256:1","sha256:2"]}}"#).unwrap();
        assert_eq!(c.rootfs.diff_ids, vec!["sha256:1", "sha256:2"]);
        assert!(ImageConfig::parse(b"{}").is_err());
    }

    #[test]
    fn compression_follows_the_media_type() {
        assert_eq!(
            compression("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Gzip
        );
        assert_eq!(
            compression("application/vnd.oci.image.layer.v1.tar+gzip"),
            Compression::Gzip
        );
        assert_eq!(
            compression("application/vnd.oci.image.layer.v1.tar"),
            Compression::None
        );
        assert_eq!(
            compression("application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::Unchecked
        );
    }

    #[test]
    fn layer_digests_streamed_in_chunks() {
        let tar = b"pretend this is a tar archive".repeat(1000);
        let blob = gzip(&tar);
        let mut d = LayerDigester::new(Compression::Gzip);
        for chunk in blob.chunks(77) {
            d.update(chunk);
        }
        let got = d.finish(Compression::Gzip);
        assert_eq!(got.size, blob.len() as u64);
        assert_eq!(got.digest, sha256_digest(&blob));
        assert_eq!(got.diff_id, Some(Ok(sha256_digest(&tar))));

        // One flipped byte in the middle: the compressed digest changes, and the gzip stream
        // either fails to decode or decodes to other bytes.
        let mut bad = blob.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x01;
        let mut d = LayerDigester::new(Compression::Gzip);
        d.update(&bad);
        let got = d.finish(Compression::Gzip);
        assert_ne!(got.digest, sha256_digest(&blob));
        assert_ne!(got.diff_id, Some(Ok(sha256_digest(&tar))));

        let mut d = LayerDigester::new(Compression::Gzip);
        d.update(b"not gzip at all");
        assert!(matches!(d.finish(Compression::Gzip).diff_id, Some(Err(_))));

        let mut d = LayerDigester::new(Compression::None);
        d.update(&tar);
        let got = d.finish(Compression::None);
        assert_eq!(got.diff_id, Some(Ok(sha256_digest(&tar))));
        let mut d = LayerDigester::new(Compression::Unchecked);
        d.update(&tar);
        assert_eq!(d.finish(Compression::Unchecked).diff_id, None);
    }
}
