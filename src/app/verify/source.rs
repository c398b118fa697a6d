//! Whether what a registry holds is the local image (`--source`, or the pushed SOURCE): by
//! digest, or in the containerd store by its config's content ([`crate::protocol::image`]).

use super::{Counters, Verifier, mismatch};
use crate::app::push::report::short_digest;
use crate::error::Error;
use crate::protocol::image::{Content, LocalImage};
use crate::protocol::manifest::Descriptor;
use crate::registry::Registry;

impl Verifier {
    /// `Ok` when the manifest `digest` with `configs` is the local image `source`: by digest,
    /// or in the containerd store by its config's content (read now unless already read).
    pub(super) async fn is_source(
        &self,
        reg: &Registry,
        repo: &str,
        digest: &str,
        configs: Vec<(Descriptor, Option<Content>)>,
        (src, local): &(String, LocalImage),
        n: &Counters,
    ) -> Result<(), Error> {
        if local.id == digest
            || configs
                .iter()
                .any(|(c, _)| local.is_by_digest(digest, &c.digest))
        {
            return Ok(());
        }
        let mut why = String::new();
        if local.compare_content() {
            for (c, content) in &configs {
                let content = match content {
                    Some(content) => content.clone(),
                    None => self.config(reg, repo, c, n).await?.content(),
                };
                match local.same_content(&content) {
                    Ok(()) => return Ok(()),
                    Err(d) => why = format!(": {d}"),
                }
            }
        }
        Err(mismatch(format!(
            "config {} is not the local image {src} (image ID {}){why}",
            configs.first().map_or("(none)", |(c, _)| c.digest.as_str()),
            short_digest(&local.id)
        )))
    }
}
