//! `docker pushx version`: what was built, from which commit, by which rustc, with which
//! credential stores; in `docker version`'s layout or as JSON.

use crate::app::cli::{Format, VersionArgs};
use crate::error::Error;
use crate::store::StoreKind;

/// What `version` reports. The commit and rustc come from build.rs (`unknown` when the
/// source was built outside its git repository).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Info {
    pub version: &'static str,
    pub commit: &'static str,
    pub rustc: &'static str,
    pub os: &'static str,
    pub arch: &'static str,
    /// The stores this build can keep logins in (`--store`), in `auto`'s order.
    pub credential_stores: Vec<&'static str>,
}

impl Info {
    pub(crate) fn current() -> Info {
        Info {
            version: env!("CARGO_PKG_VERSION"),
            commit: env!("PUSHX_GIT_COMMIT"),
            rustc: env!("PUSHX_RUSTC_VERSION"),
            os: std::env::consts::OS,
            arch: go_arch(std::env::consts::ARCH),
            credential_stores: compiled_stores().iter().map(|k| k.as_str()).collect(),
        }
    }

    /// `docker version`'s client block: a heading, then ` Key:` padded to one column.
    pub(crate) fn text(&self) -> String {
        let stores = if self.credential_stores.is_empty() {
            "none on this operating system".to_string()
        } else {
            self.credential_stores.join(", ")
        };
        let rows = [
            ("Version", self.version.to_string()),
            ("Git commit", self.commit.to_string()),
            ("Rust version", self.rustc.to_string()),
            ("OS/Arch", format!("{}/{}", self.os, self.arch)),
            ("Credential stores", stores),
        ];
        let mut out = String::from("docker-pushx:\n");
        for (k, v) in rows {
            // docker pads ` Key:` to 19 columns; the longest key here needs one more.
            out.push_str(&format!(" {:<19}{v}\n", format!("{k}:")));
        }
        out
    }
}

/// The stores compiled into this build.
fn compiled_stores() -> &'static [StoreKind] {
    if cfg!(target_os = "linux") {
        &[StoreKind::SecretService, StoreKind::Keyutils]
    } else {
        &[]
    }
}

/// Architectures by Go's names, as `docker version` prints them (`amd64`, not `x86_64`).
fn go_arch(rust: &'static str) -> &'static str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub(crate) fn run(args: &VersionArgs) -> Result<(), Error> {
    let info = Info::current();
    let text = match args.format {
        Format::Table => info.text(),
        Format::Json => {
            serde_json::to_string(&info).map_err(|e| Error::other(format!("version: {e}")))? + "\n"
        }
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::other(format!("writing the version: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_dockers_layout() {
        let info = Info {
            version: "1.2.3",
            commit: "0123456789ab",
            rustc: "rustc 1.95.0 (abc 2026-01-01)",
            os: "linux",
            arch: "amd64",
            credential_stores: vec!["secret-service", "keyutils"],
        };
        assert_eq!(
            info.text(),
            "docker-pushx:\n \
             Version:           1.2.3\n \
             Git commit:        0123456789ab\n \
             Rust version:      rustc 1.95.0 (abc 2026-01-01)\n \
             OS/Arch:           linux/amd64\n \
             Credential stores: secret-service, keyutils\n"
        );
        let json: serde_json::Value = serde_json::to_value(&info).unwrap();
        assert_eq!(json["credential_stores"][1], "keyutils");
        assert_eq!(json["commit"], "0123456789ab");
    }

    #[test]
    fn current_has_every_field() {
        let i = Info::current();
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        for v in [i.commit, i.rustc, i.os, i.arch] {
            assert!(!v.is_empty());
        }
        assert!(
            i.rustc.starts_with("rustc ") || i.rustc == "unknown",
            "{}",
            i.rustc
        );
        #[cfg(target_os = "linux")]
        assert_eq!(i.credential_stores, ["secret-service", "keyutils"]);
    }
}
