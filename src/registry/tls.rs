//! TLS for registries, set up as the daemon does: the system roots plus the CAs in
//! `/etc/docker/certs.d/HOST[:PORT]/*.crt`, a client certificate from `*.cert` with the
//! `*.key` of the same name there, and no verification at all for insecure registries.

use crate::error::Error;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the daemon looks for per-registry certificates.
pub(crate) const CERTS_D: &str = "/etc/docker/certs.d";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs_dir(registry: &str) -> PathBuf {
    Path::new(CERTS_D).join(registry)
}

/// The TLS configuration for `registry` (`host[:port]` as written); `verify` false for an
/// insecure registry. `None` for `registry` means no per-registry files (token servers, CDNs).
pub(crate) fn config(registry: Option<&str>, verify: bool) -> Result<rustls::ClientConfig, Error> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::other(format!("TLS setup: {e}")))?;
    let dir = registry.map(certs_dir);
    let files = dir.as_deref().map(list).unwrap_or_default();
    let builder = if verify {
        let mut roots = system_roots().clone();
        for ca in files.iter().filter(|p| ext(p) == "crt") {
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|e| bad(ca, &e))?
                .flatten()
            {
                roots.add(cert).map_err(|e| bad(ca, &e))?;
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::net::NoVerify(provider)))
    };
    // docker pairs `NAME.cert` with `NAME.key`.
    let pair = files.iter().filter(|p| ext(p) == "cert").find_map(|cert| {
        let key = cert.with_extension("key");
        key.exists().then(|| (cert.clone(), key))
    });
    match pair {
        Some((cert, key)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
                .map_err(|e| bad(&cert, &e))?
                .collect::<Result<_, _>>()
                .map_err(|e| bad(&cert, &e))?;
            let k = PrivateKeyDer::from_pem_file(&key).map_err(|e| bad(&key, &e))?;
            builder
                .with_client_auth_cert(certs, k)
                .map_err(|e| bad(&cert, &e))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The system's trusted roots, read once per process: reading them costs about 20 ms.
fn system_roots() -> &'static rustls::RootCertStore {
    static ROOTS: std::sync::OnceLock<rustls::RootCertStore> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
        roots
    })
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn ext(p: &Path) -> &str {
    p.extension().and_then(|e| e.to_str()).unwrap_or("")
}

fn bad(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::usage(format!(
        "bad registry certificate file {}: {e}",
        path.display()
    ))
}
