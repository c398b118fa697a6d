//! A registry client of our own, speaking the distribution API directly (not through the
//! daemon) with the credentials docker-pushx resolved: the `/v2/` ping, anonymous, Basic and
//! bearer-token auth (tokens cached per registry and scope for the run), manifests by tag or
//! digest, blob HEAD and streamed blob GET (read again when its body breaks off: `blob`); blob
//! uploads, mounts and manifest PUTs (`upload`); a whole image copied across (`copy`).
//!
//! Why hand-written on hyper rather than `oci-client`: oci-client brings reqwest (a second HTTP
//! and TLS stack beside the hyper + rustls one the daemon transport already builds, with its own
//! TLS configuration, so the daemon's certs.d and insecure rules would have to be re-expressed
//! there), and it cannot do two things we need anyway: the identity-token grant
//! (`grant_type=refresh_token`, what a `<token>` login holds) and the insecure-registry
//! fallback (HTTPS without verification, then plain HTTP). What verification uses is five
//! requests; they are below, on the stack already in the binary.

mod access;
mod auth;
mod blob;
mod copy;
mod reach;
pub(crate) mod tls;
mod up_to_date;
mod upload;

pub(crate) use access::PushAccess;
pub(crate) use blob::BlobSink;
pub(crate) use up_to_date::TagState;

pub(crate) use copy::daemon_may_do_better;

pub(crate) use reach::{Retry, from_here};

use crate::error::{Error, Kind};
use crate::protocol::manifest::MANIFEST_ACCEPT;
use crate::protocol::registry_auth::RegistryAuth;
use crate::protocol::www_auth::{self, Challenge, InsecureRules};
use crate::secret::Secret;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reach::{Call, SendError, path_of, ping, request_with, send_raw};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REDIRECTS: usize = 5;
const USER_AGENT: &str = concat!("docker-pushx/", env!("CARGO_PKG_VERSION"));

fn http_client(tls: rustls::ClientConfig) -> Http {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new()).build(https)
}

/// The daemon's insecure-registry rules, asked for once and only when a registry off loopback
/// is opened: loopback is insecure whatever the daemon says, so a run that only reaches
/// registries there never waits for the daemon's `/info` (about 10 ms, the slowest call it
/// answers).
pub(crate) type Rules = Shared<BoxFuture<'static, InsecureRules>>;

/// [`Rules`] that `find` produces when first needed.
pub(crate) fn rules_from(find: impl Future<Output = InsecureRules> + Send + 'static) -> Rules {
    find.boxed().shared()
}

/// The client for hosts other than a registry itself (token realms, blob redirects), verified
/// against the system roots. Made on first use: loading the roots reads every file in
/// /etc/ssl/certs (about 20 ms), which a run against registries on loopback never needs.
#[derive(Clone, Default)]
struct Verified(Arc<std::sync::OnceLock<Result<Http, Error>>>);

impl Verified {
    fn get(&self) -> Result<&Http, Error> {
        self.0
            .get_or_init(|| tls::config(None, true).map(http_client))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// How requests wait: `stall` bounds the wait for an answer and for each body chunk; `retry`
/// how often and when a request that failed transiently is sent again. `insecure`: which
/// registries are reached without TLS verification.
#[derive(Clone)]
pub(crate) struct Options {
    pub stall: Duration,
    pub insecure: Rules,
    pub retry: Retry,
}

/// Opens registries; one per process.
pub(crate) struct RegistryClient {
    options: Options,
    /// For hosts other than a registry itself (token realms, blob redirects): system roots.
    verified: Verified,
    open: tokio::sync::Mutex<HashMap<String, Arc<Registry>>>,
}

impl RegistryClient {
    pub(crate) fn new(options: Options) -> Result<Self, Error> {
        Ok(RegistryClient {
            verified: Verified::default(),
            options,
            open: Default::default(),
        })
    }

    /// The registry `domain` (as in a reference: `docker.io`, `host:port`), pinged once.
    pub(crate) async fn registry(
        &self,
        domain: &str,
        auth: &RegistryAuth,
    ) -> Result<Arc<Registry>, Error> {
        let mut open = self.open.lock().await;
        if let Some(r) = open.get(domain) {
            return Ok(r.clone());
        }
        let host = if domain == crate::protocol::reference::DEFAULT_DOMAIN {
            "registry-1.docker.io"
        } else {
            domain
        };
        let insecure = self.is_insecure(host).await;
        let mut attempts = vec![("https", tls::config(Some(domain), !insecure)?)];
        if insecure {
            // The daemon tries HTTPS without verification, then plain HTTP. A port speaks one or
            // the other, so at most one answers like a registry and the order changes nothing
            // but the time: plain HTTP first, because a TLS attempt on a plain-HTTP registry
            // costs about 45 ms (TLS set-up and distribution's answer to a handshake it cannot
            // read), while the reverse fails at once (a TLS server answers HTTP 400).
            attempts.insert(0, ("http", tls::config(None, false)?));
        }
        let clients: Vec<(Http, String)> = attempts
            .into_iter()
            .map(|(scheme, tls)| (http_client(tls), format!("{scheme}://{host}")))
            .collect();
        // Each round tries every scheme; the last one's failure decides whether another round
        // may help (a refused connection: the registry restarting) or not (TLS, HTTP 404).
        let mut round = 1;
        loop {
            let mut last = None;
            for (client, base) in &clients {
                match ping(client, base, self.options.stall, domain).await {
                    Ok(challenge) => {
                        let r = Arc::new(Registry {
                            domain: domain.to_string(),
                            base: base.clone(),
                            client: client.clone(),
                            verified: self.verified.clone(),
                            auth: auth.clone(),
                            challenge,
                            stall: self.options.stall,
                            retry: self.options.retry,
                            tokens: Default::default(),
                        });
                        open.insert(domain.to_string(), r.clone());
                        return Ok(r);
                    }
                    Err(e) => last = Some(e),
                }
            }
            let Some((e, after)) = last else {
                return Err(Error::other("no way to reach the registry"));
            };
            let wait = if e.transient {
                self.options.retry.wait(round, after)
            } else {
                None
            };
            let Some(wait) = wait else {
                return Err(e.error);
            };
            tracing::info!(
                "GET /v2/ on {domain}: {}; retrying in {} ms",
                e.error.message,
                wait.as_millis()
            );
            tokio::time::sleep(wait).await;
            round += 1;
        }
    }

    async fn is_insecure(&self, host_port: &str) -> bool {
        let host = www_auth::split_host(host_port);
        // The daemon adds 127.0.0.0/8 and ::1 to its insecure CIDRs whatever its configuration
        // (moby registry/config.go), and an `IndexConfigs` entry for a loopback name can only
        // come from `insecure-registries`: no need to ask it.
        if host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
            return true;
        }
        let rules = self.options.insecure.clone().await;
        if let Some(d) = rules.by_name(host_port) {
            return d;
        }
        if let Ok(ip) = host.parse() {
            return rules.by_address(ip);
        }
        match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((host, 0u16)),
        )
        .await
        {
            Ok(Ok(addrs)) => addrs.into_iter().any(|a| rules.by_address(a.ip())),
            _ => false,
        }
    }
}

fn request(
    method: Method,
    url: &str,
    accept: Option<&str>,
    authorization: Option<&Secret>,
) -> Result<Request<Full<Bytes>>, Error> {
    request_with(method, url, accept, authorization, &[], Bytes::new())
}

/// One registry reached, with the credentials for it.
pub(crate) struct Registry {
    domain: String,
    /// `scheme://host[:port]`.
    base: String,
    client: Http,
    verified: Verified,
    auth: RegistryAuth,
    challenge: Option<Challenge>,
    stall: Duration,
    retry: Retry,
    /// The `Authorization` value for each scope list (joined by spaces, [`scope_key`]); a
    /// `None` value: anonymous access.
    tokens: tokio::sync::Mutex<HashMap<String, Option<Secret>>>,
}

/// A manifest as the registry answered it.
pub(crate) struct FetchedManifest {
    pub body: Bytes,
    pub content_type: Option<String>,
}

impl Registry {
    pub(crate) fn domain(&self) -> &str {
        &self.domain
    }

    /// `HEAD /v2/REPO/manifests/REF`: the `Docker-Content-Digest`, `Some(None)` when the
    /// registry sends none, `None` when there is no such manifest.
    pub(crate) async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Option<String>>, Error> {
        let url = format!("/v2/{repo}/manifests/{reference}");
        let res = self
            .send(Method::HEAD, &url, Some(MANIFEST_ACCEPT), repo)
            .await?;
        let Some(res) = self.found(res).await? else {
            return Ok(None);
        };
        Ok(Some(
            res.headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(String::from),
        ))
    }

    /// `GET /v2/REPO/manifests/REF`, refused past 4 MiB as distribution does.
    pub(crate) async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<FetchedManifest>, Error> {
        let url = format!("/v2/{repo}/manifests/{reference}");
        let res = self
            .send(Method::GET, &url, Some(MANIFEST_ACCEPT), repo)
            .await?;
        let Some(res) = self.found(res).await? else {
            return Ok(None);
        };
        let content_type = res
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let limit = crate::protocol::manifest::MAX_MANIFEST_BYTES;
        let body = self
            .read_limited(res, limit, &format!("the manifest {repo}@{reference}"))
            .await?;
        Ok(Some(FetchedManifest { body, content_type }))
    }

    /// `HEAD /v2/REPO/blobs/DIGEST`: its size, or `None` when the registry has no such blob.
    pub(crate) async fn head_blob(&self, repo: &str, digest: &str) -> Result<Option<u64>, Error> {
        let url = format!("/v2/{repo}/blobs/{digest}");
        let res = self.send(Method::HEAD, &url, None, repo).await?;
        Ok(self.found(res).await?.map(|r| {
            r.headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        }))
    }

    async fn read_limited(
        &self,
        res: Response<Incoming>,
        limit: u64,
        what: &str,
    ) -> Result<Bytes, Error> {
        let too_big = || {
            Error::new(
                Kind::Verify,
                format!(
                    "{what} on {} is over {} MiB: refused",
                    self.domain,
                    limit >> 20
                ),
            )
        };
        let declared = res
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_big());
        }
        let mut body = res.into_body();
        let mut out = Vec::new();
        while let Some(chunk) = self.next_chunk(&mut body).await.map_err(Error::from)? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(too_big());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(out))
    }

    /// 2xx: the response; 404: `None`; anything else: an error naming the registry's reason.
    async fn found(&self, res: Response<Incoming>) -> Result<Option<Response<Incoming>>, Error> {
        let status = res.status();
        if status.is_success() {
            return Ok(Some(res));
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Err(self.refusal(res).await)
    }

    /// The error for an answer that is not the one asked for: the registry's reason, and for
    /// a refused credential (401, 403) the fix.
    async fn refusal(&self, res: Response<Incoming>) -> Error {
        let status = res.status();
        let body = short_body(res, self.stall).await;
        let reason = registry_message(&body).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("unexpected answer")
                .to_lowercase()
        });
        let kind = match status.as_u16() {
            401 | 403 => Kind::Auth,
            // Still failing after the retries: the registry is not serving.
            c if crate::protocol::retry::status_is_transient(c) => Kind::Unreachable,
            _ => Kind::Other,
        };
        let hint = if kind == Kind::Auth {
            format!(": log in with docker pushx login {}", self.domain)
        } else {
            String::new()
        };
        Error::new(
            kind,
            format!(
                "the registry {} answered HTTP {} ({reason}){hint}",
                self.domain,
                status.as_u16()
            ),
        )
    }

    async fn authorization(&self, scopes: &[String]) -> Result<Option<Secret>, Error> {
        match &self.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(auth::basic(&self.auth)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = scope_key(scopes);
                let mut tokens = self.tokens.lock().await;
                if let Some(t) = tokens.get(&key) {
                    return Ok(t.clone());
                }
                let token = self.fetch_token(realm, service.as_deref(), scopes).await?;
                let value = Some(Secret::new(format!("Bearer {}", token.expose())));
                tokens.insert(key, value.clone());
                Ok(value)
            }
        }
    }
}

/// The token cache key of a scope list: its scopes joined by spaces, the form a token POST
/// sends them in.
fn scope_key(scopes: &[String]) -> String {
    scopes.join(" ")
}

/// The first message of a registry's `{"errors":[{"code","message"}]}` body.
fn registry_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("errors")?.get(0)?;
    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or_default();
    let message = e
        .get("message")
        .and_then(|c| c.as_str())
        .unwrap_or_default();
    Some(format!("{code} {message}").trim().to_lowercase())
}

fn authority(url: &str) -> Option<String> {
    url.parse::<Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.as_str().to_string()))
}

/// A `Location` against the URL it answered: absolute, or a path on the same host.
fn resolve(base: &str, location: &str) -> Result<String, Error> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_string());
    }
    let uri: Uri = base
        .parse()
        .map_err(|e| Error::other(format!("bad URL {base}: {e}")))?;
    let scheme = uri.scheme_str().unwrap_or("https");
    let auth = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    if location.starts_with('/') {
        Ok(format!("{scheme}://{auth}{location}"))
    } else {
        Err(Error::other(format!("unsupported redirect to {location}")))
    }
}

/// The body of an answer that is not the payload (an error, a token): what arrives within
/// `stall`, empty when nothing does. Only for bodies read to report them or to parse a token.
async fn short_body(res: Response<Incoming>, stall: Duration) -> Bytes {
    tokio::time::timeout(stall, res.into_body().collect())
        .await
        .ok()
        .and_then(Result::ok)
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve() {
        assert_eq!(
            resolve("https://r:5000/v2/a/blobs/x", "/blob?sig=1").unwrap(),
            "https://r:5000/blob?sig=1"
        );
        assert_eq!(
            resolve("https://r/v2/", "https://cdn.example/x").unwrap(),
            "https://cdn.example/x"
        );
        assert!(resolve("https://r/v2/", "relative").is_err());
        assert_eq!(authority("https://r:5000/v2/").as_deref(), Some("r:5000"));
    }

    use auth::basic;

    #[test]
    fn basic_only_with_a_password() {
        let a = crate::credentials::to_auth("r", "u", Secret::new("p"));
        assert_eq!(basic(&a).unwrap().expose(), "Basic dTpw");
        let t = crate::credentials::to_auth("r", "<token>", Secret::new("p"));
        assert!(basic(&t).is_none());
        assert!(basic(&RegistryAuth::anonymous()).is_none());
    }

    #[test]
    fn registry_errors_give_their_message() {
        assert_eq!(
            registry_message(
                br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#
            )
            .as_deref(),
            Some("blob_unknown blob unknown to registry")
        );
        assert_eq!(registry_message(b"<html>"), None);
    }
}
