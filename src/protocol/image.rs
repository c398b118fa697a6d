//! A local image as the daemon describes it, and the rule by which an image in a registry (its
//! manifest and config) or one pulled back is that image.
//!
//! With the graphdriver store the image ID is the config digest, so a hash says it all. The
//! containerd store's image ID is the digest of the manifest or index the image was built or
//! pulled as; when it pushes one platform's manifest of an index (the others absent locally),
//! neither the manifest digest nor a config digest is the ID. Then the config is compared with
//! the local one by content: the layers (diff_ids), the platform and the runtime configuration.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A local image: its ID, whether the daemon keeps it in the containerd store, and what its
/// config says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct LocalImage {
    pub id: String,
    pub containerd: bool,
    pub content: Content,
}

/// What an image config says that makes it one image rather than another.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Content {
    /// `rootfs.diff_ids`: the uncompressed layers, in order.
    pub diff_ids: Vec<String>,
    pub os: String,
    pub architecture: String,
    pub runtime: Runtime,
}

/// The runtime part of an image config (`config` in the blob, `Config` in `docker inspect`);
/// absent and empty lists are the same.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Runtime {
    #[serde(deserialize_with = "or_default")]
    pub user: String,
    #[serde(deserialize_with = "or_default")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "or_default")]
    pub entrypoint: Vec<String>,
    #[serde(deserialize_with = "or_default")]
    pub cmd: Vec<String>,
    #[serde(deserialize_with = "or_default")]
    pub working_dir: String,
    #[serde(deserialize_with = "or_default")]
    pub labels: BTreeMap<String, String>,
}

/// `null` as the type's default, as Go's encoder writes empty slices and maps.
fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl LocalImage {
    /// Whether a manifest `manifest_digest` with config `config_digest` is this image by hash
    /// alone: the graphdriver store's ID is the config digest, the containerd store's the
    /// manifest (or index) digest.
    pub(crate) fn is_by_digest(&self, manifest_digest: &str, config_digest: &str) -> bool {
        self.id == config_digest || self.id == manifest_digest
    }

    /// Whether a config that is not this image by hash may still be it, compared by content:
    /// only in the containerd store. In the graphdriver store another config digest is
    /// another image, whatever its layers.
    pub(crate) fn compare_content(&self) -> bool {
        self.containerd
    }

    /// `Ok` when `other` is this image's content, else the first difference, for a message.
    pub(crate) fn same_content(&self, other: &Content) -> Result<(), String> {
        let me = &self.content;
        if me.diff_ids != other.diff_ids {
            return Err(format!(
                "its layers differ from the local image's ({} diff_ids, the local image has {})",
                other.diff_ids.len(),
                me.diff_ids.len()
            ));
        }
        if (me.os.as_str(), me.architecture.as_str())
            != (other.os.as_str(), other.architecture.as_str())
        {
            return Err(format!(
                "it is for {}/{}, the local image for {}/{}",
                other.os, other.architecture, me.os, me.architecture
            ));
        }
        if me.runtime != other.runtime {
            return Err(
                "its runtime configuration (command, environment, labels, user or \
                        working directory) differs from the local image's"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(containerd: bool) -> LocalImage {
        LocalImage {
            id: "sha256:idx".into(),
            containerd,
            content: Content {
                diff_ids: vec!["sha256:l1".into(), "sha256:l2".into()],
                os: "linux".into(),
                architecture: "amd64".into(),
                runtime: Runtime {
                    cmd: vec!["/app".into()],
                    env: vec!["PATH=/bin".into()],
                    ..Runtime::default()
                },
            },
        }
    }

    #[test]
    fn by_digest_is_the_config_or_the_manifest() {
        let l = local(false);
        assert!(l.is_by_digest("sha256:m", "sha256:idx"));
        assert!(l.is_by_digest("sha256:idx", "sha256:c"));
        assert!(!l.is_by_digest("sha256:m", "sha256:c"));
    }

    #[test]
    fn content_is_compared_in_the_containerd_store_only() {
        assert!(local(true).compare_content());
        assert!(!local(false).compare_content());
    }

    #[test]
    fn every_part_of_the_content_counts() {
        let l = local(true);
        assert_eq!(l.same_content(&l.content.clone()), Ok(()));
        let mut c = l.content.clone();
        c.diff_ids.pop();
        assert!(l.same_content(&c).unwrap_err().contains("layers differ"));
        let mut c = l.content.clone();
        c.diff_ids.swap(0, 1);
        assert!(l.same_content(&c).is_err(), "order matters");
        let mut c = l.content.clone();
        c.architecture = "arm64".into();
        assert!(l.same_content(&c).unwrap_err().contains("linux/arm64"));
        let mut c = l.content.clone();
        c.runtime.cmd = vec!["/other".into()];
        assert!(l.same_content(&c).unwrap_err().contains("runtime"));
        let mut c = l.content.clone();
        c.runtime.labels.insert("a".into(), "b".into());
        assert!(l.same_content(&c).is_err());
    }

    #[test]
    fn null_and_absent_are_empty() {
        let a: Runtime =
            serde_json::from_str(r#"{"Cmd":null,"Env":null,"Labels":null,"User":""}"#).unwrap();
        let b: Runtime = serde_json::from_str("{}").unwrap();
        assert_eq!(a, b);
        let c: Runtime = serde_json::from_str(
            r#"{"Cmd":["/app"],"Labels":{"k":"v"},"WorkingDir":"/w","Entrypoint":["sh"],"Hostname":"x"}"#,
        )
        .unwrap();
        assert_eq!(c.cmd, vec!["/app"]);
        assert_eq!(c.labels["k"], "v");
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.entrypoint, vec!["sh"]);
    }
}
