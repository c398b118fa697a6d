//! The HTTP connection to the daemon (unix socket, TCP, TCP with TLS, ssh), shared by bollard's
//! typed calls and the few requests whose raw body docker-pushx reads itself.

use crate::daemon::endpoint::{Endpoint, TlsSettings};
use crate::daemon::ssh::{SshConnector, find_ssh_error};
use crate::error::{Error, Kind};
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// bollard's request body type (private in bollard, but `BollardRequest` exposes it).
pub(crate) type Body = Either<
    Full<Bytes>,
    StreamBody<Pin<Box<dyn futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send>>>,
>;

pub(crate) fn empty_body() -> Body {
    Either::Left(Full::new(Bytes::new()))
}

pub(crate) fn full_body(b: impl Into<Bytes>) -> Body {
    Either::Left(Full::new(b.into()))
}

enum Inner {
    Unix {
        client: Client<hyperlocal::UnixConnector, Body>,
        path: PathBuf,
    },
    Http {
        client: Client<HttpConnector, Body>,
        authority: String,
    },
    Https {
        client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>,
        authority: String,
    },
    /// One `ssh … docker system dial-stdio` process per pooled connection.
    Ssh { client: Client<SshConnector, Body> },
}

/// The authority of requests over ssh: the connection goes to the daemon whatever it says
/// (docker uses the same dummy host).
const SSH_AUTHORITY: &str = "docker.example.com";

/// One connection pool to one daemon. Requests carry only a path; the transport adds the
/// scheme and address of the endpoint it was built for.
pub(crate) struct Transport {
    inner: Inner,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Transport {
    pub(crate) fn new(endpoint: &Endpoint) -> Result<Self, Error> {
        let inner = match endpoint {
            Endpoint::Unix(path) => Inner::Unix {
                client: Client::builder(TokioExecutor::new()).build(hyperlocal::UnixConnector),
                path: path.clone(),
            },
            Endpoint::Tcp { host, port, tls } => {
                let authority = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let mut http = HttpConnector::new();
                http.set_connect_timeout(Some(CONNECT_TIMEOUT));
                http.set_nodelay(true);
                match tls {
                    None => Inner::Http {
                        client: Client::builder(TokioExecutor::new()).build(http),
                        authority,
                    },
                    Some(tls) => {
                        http.enforce_http(false);
                        let config = tls_config(tls)?;
                        let https = hyper_rustls::HttpsConnectorBuilder::new()
                            .with_tls_config(config)
                            .https_only()
                            .enable_http1()
                            .wrap_connector(http);
                        Inner::Https {
                            client: Client::builder(TokioExecutor::new()).build(https),
                            authority,
                        }
                    }
                }
            }
            Endpoint::Ssh(spec) => Inner::Ssh {
                client: Client::builder(TokioExecutor::new())
                    .build(SshConnector::new(spec.clone())),
            },
        };
        Ok(Transport { inner })
    }

    /// Send a request whose URI holds only a path and query (any scheme or host is replaced).
    pub(crate) async fn send(
        &self,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, std::io::Error> {
        let (mut parts, body) = req.into_parts();
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let res = match &self.inner {
            Inner::Unix { client, path } => {
                parts.uri = hyperlocal::Uri::new(path, &pq).into();
                client.request(Request::from_parts(parts, body)).await
            }
            Inner::Http { client, authority } => {
                parts.uri = uri("http", authority, &pq)?;
                client.request(Request::from_parts(parts, body)).await
            }
            Inner::Https { client, authority } => {
                parts.uri = uri("https", authority, &pq)?;
                client.request(Request::from_parts(parts, body)).await
            }
            Inner::Ssh { client } => {
                parts.uri = uri("http", SSH_AUTHORITY, &pq)?;
                client.request(Request::from_parts(parts, body)).await
            }
        };
        res.map_err(|e| match find_ssh_error(&e) {
            // Kept as a type: it is the whole message, fix included (see `crate::daemon`).
            Some(ssh) => std::io::Error::other(ssh.clone()),
            None => std::io::Error::other(describe_client_error(&e)),
        })
    }
}

fn uri(scheme: &str, authority: &str, pq: &str) -> Result<Uri, std::io::Error> {
    format!("{scheme}://{authority}{pq}")
        .parse()
        .map_err(std::io::Error::other)
}

/// hyper's own message for a failed connect is "client error (Connect)": the cause chain holds
/// what a person needs (refused, no such file, certificate).
fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    let msg = crate::net::error_chain(e);
    if e.is_connect() {
        format!("connect: {msg}")
    } else {
        msg
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| {
        Error::usage(format!(
            "cannot read the daemon TLS {what} {}: {e}",
            path.display()
        ))
    })
}

fn tls_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, Error> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::other(format!("TLS setup: {e}")))?;
    let builder = if tls.verify {
        let mut roots = rustls::RootCertStore::empty();
        match &tls.ca {
            Some(ca) => {
                for cert in CertificateDer::pem_slice_iter(&read(ca, "CA")?) {
                    let cert = cert
                        .map_err(|e| Error::usage(format!("bad CA file {}: {e}", ca.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| Error::usage(format!("bad CA file {}: {e}", ca.display())))?;
                }
            }
            None => {
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots)
    } else {
        // --tls without --tlsverify: docker encrypts but does not check the daemon's identity.
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::net::NoVerify(provider)))
    };
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(&read(cert, "certificate")?)
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        Error::usage(format!("bad certificate {}: {e}", cert.display()))
                    })?;
            let key = PrivateKeyDer::from_pem_slice(&read(key, "key")?)
                .map_err(|e| Error::usage(format!("bad key {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| Error::new(Kind::Usage, format!("daemon TLS client certificate: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}
