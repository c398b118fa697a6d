//! Verification of a target that landed: through the engine (`digest`, `pull`) or, for
//! `--verify full`, from the registry itself through the [`Remote`].

use super::Failure;
use crate::app::cli::VerifyMode;
use crate::app::push::engine::Engine;
use crate::app::push::progress::Reporter;
use crate::app::push::remote::Remote;
use crate::app::push::report::Blobs;
use crate::credentials::Found;
use crate::error::{Error, Kind};
use crate::protocol::image::LocalImage;
use crate::protocol::reference::Reference;

/// A verification that held: what it proved, and what `--verify full` read.
pub(super) struct Verified {
    pub(super) detail: String,
    pub(super) blobs: Option<Blobs>,
}

impl From<String> for Verified {
    fn from(detail: String) -> Self {
        Verified {
            detail,
            blobs: None,
        }
    }
}

/// A verification attempt that failed, and what `--verify full` read before it did.
pub(super) struct VerifyFailed {
    pub(super) error: Error,
    pub(super) blobs: Option<Blobs>,
}

impl From<Error> for VerifyFailed {
    fn from(error: Error) -> Self {
        VerifyFailed { error, blobs: None }
    }
}

impl Failure for VerifyFailed {
    fn error(&self) -> &Error {
        &self.error
    }
}

/// Check that the registry holds `digest` under the target's tag and, in pull mode, that
/// pulling it back by digest gives the source image; in full mode, ask `remote` for the whole
/// check (its blobs read, the config the source image).
#[allow(clippy::too_many_arguments)]
pub(super) async fn verify_push<E: Engine, R: Remote>(
    engine: &E,
    remote: &R,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    mode: VerifyMode,
    digest: &str,
    image: &LocalImage,
) -> Result<Verified, VerifyFailed> {
    let name = target.to_string();
    if mode == VerifyMode::Full {
        reporter.stage(
            &name,
            "verifying: reading every blob back from the registry",
        );
        let c = remote.check(target, &found.auth, digest).await;
        return match c.result {
            Ok(detail) => Ok(Verified {
                detail,
                blobs: Some(c.blobs),
            }),
            Err(error) => Err(VerifyFailed {
                error,
                blobs: Some(c.blobs),
            }),
        };
    }
    Ok(
        pull_back(engine, target, found, reporter, mode, digest, image)
            .await?
            .into(),
    )
}

/// `--verify digest` and `--verify pull`, through the engine.
async fn pull_back<E: Engine>(
    engine: &E,
    target: &Reference,
    found: &Found,
    reporter: &dyn Reporter,
    mode: VerifyMode,
    digest: &str,
    image: &LocalImage,
) -> Result<String, Error> {
    let name = target.to_string();
    reporter.stage(&name, "verifying: resolving the tag at the registry");
    let remote = engine.registry_digest(&name, &found.auth).await?;
    if remote != digest {
        return Err(Error::new(
            Kind::Verify,
            format!("the registry has {remote} under {name}, not the pushed {digest}"),
        ));
    }
    if mode == VerifyMode::Digest {
        return Ok(format!("registry holds {digest}"));
    }
    reporter.stage(&name, "verifying: pulling back by digest");
    engine.pull(&target.name(), digest, &found.auth).await?;
    let by_digest = format!("{}@{digest}", target.name());
    match engine.image(&by_digest).await? {
        Some(got) if got.id == image.id => Ok(format!(
            "registry holds {digest}; pulled by digest, image {}",
            short_id(&got.id)
        )),
        // The containerd store names what it pulled by the manifest digest: one platform's
        // manifest of the local index is another ID with the same content.
        Some(got) if image.compare_content() && image.same_content(&got.content).is_ok() => {
            Ok(format!(
                "registry holds {digest}; pulled by digest, the same layers and config as image {}",
                short_id(&image.id)
            ))
        }
        Some(got) => Err(Error::new(
            Kind::Verify,
            format!(
                "pulling {by_digest} gave image {} but the source is {}{}",
                short_id(&got.id),
                short_id(&image.id),
                match image.compare_content() {
                    true => image
                        .same_content(&got.content)
                        .err()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default(),
                    false => String::new(),
                }
            ),
        )),
        None => Err(Error::new(
            Kind::Verify,
            format!("pulled {by_digest} but the daemon does not list it"),
        )),
    }
}

fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}
