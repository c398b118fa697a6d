//! Reaching a registry through transient trouble: which failures are worth another request
//! (5xx, 429, refused or reset connections, timeouts; the rules of `protocol::retry`, as a push
//! retries), how long to wait (its backoff, or the registry's `Retry-After`), how one request
//! goes out (with the credentials for its scopes, following redirects), and the one-line
//! note for a registry this machine cannot reach while the daemon is elsewhere.

use super::{Http, MAX_REDIRECTS, Registry, USER_AGENT, authority, request, resolve, scope_key};
use crate::error::{Error, Kind};
use crate::protocol::daemon_host::Endpoint;
use crate::protocol::retry;
use crate::protocol::www_auth::{self, Challenge};
use crate::secret::Secret;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use std::time::Duration;

/// A `Retry-After` longer than this is not waited for in full: a verification is not worth
/// hours of waiting, and the retries are counted anyway.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// `--retries` and `--retry-delay`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Further attempts after the first.
    pub retries: u32,
    /// The wait before the first retry; doubled for each further one, with jitter.
    pub delay: Duration,
}

impl Retry {
    /// `retries` further attempts, the first after `delay`.
    pub(crate) fn new(retries: u32, delay: Duration) -> Retry {
        Retry { retries, delay }
    }

    /// The wait before attempt `attempt + 1`, or `None` when the retries are spent.
    pub(super) fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt > self.retries {
            return None;
        }
        Some(
            retry_after
                .map(|d| d.min(MAX_RETRY_AFTER))
                .unwrap_or_else(|| retry::backoff(attempt, self.delay, retry::clock_jitter())),
        )
    }
}

/// A request that got no answer, and whether asking again may help.
#[derive(Debug)]
pub(super) struct SendError {
    pub error: Error,
    pub transient: bool,
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        e.error
    }
}

/// Whether a transport failure may go away by itself: a refused, reset or aborted connection,
/// one closed before the answer, a timeout. A name the DNS does not know, a TLS failure (a
/// certificate, plain HTTP where TLS was expected) stay as they are.
pub(super) fn transport_is_transient(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    if crate::protocol::classify::is_permanent(&chain(e)) {
        return false;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            // rustls reports its failures as io errors of kind InvalidData.
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::TimedOut
                    | K::NotConnected
            );
        }
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed() || h.is_timeout() || h.is_canceled())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// When an answer is worth asking again for: `Some(its Retry-After)` for a 5xx or 429.
pub(super) fn transient_answer(res: &Response<Incoming>) -> Option<Option<Duration>> {
    retry::status_is_transient(res.status().as_u16()).then(|| {
        res.headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::retry_after_header)
    })
}

impl Registry {
    /// A request for `repo` (a pull), asked again after a transient failure as `--retries` and
    /// `--retry-delay` allow. The last answer (a 5xx, say) or error is returned when they are
    /// spent.
    pub(super) async fn send(
        &self,
        method: Method,
        path: &str,
        accept: Option<&str>,
        repo: &str,
    ) -> Result<Response<Incoming>, Error> {
        let scopes = [www_auth::pull_scope(repo)];
        let mut call = Call::new(method, path, &scopes);
        call.accept = accept;
        self.send_call(&call).await
    }

    /// Send `call` once with the credentials for its scopes. Redirects are followed for GET
    /// and HEAD only: an upload's answer is the registry's own. On a 401 with a cached token,
    /// a new one is fetched once (it may have expired) and the request sent again.
    pub(super) async fn send_call_once(
        &self,
        call: &Call<'_>,
    ) -> Result<Response<Incoming>, SendError> {
        let fixed = |error| SendError {
            error,
            transient: false,
        };
        let key = scope_key(call.scopes);
        let follow = call.method == Method::GET || call.method == Method::HEAD;
        let start = if call.target.starts_with("http://") || call.target.starts_with("https://") {
            call.target.to_string()
        } else {
            format!("{}{}", self.base, call.target)
        };
        let own = authority(&format!("{}/", self.base));
        let mut renewed = false;
        loop {
            let authorization = self.authorization(call.scopes).await.map_err(fixed)?;
            let mut url = start.clone();
            let mut same_host = authority(&url) == own;
            let mut res = None;
            for _ in 0..=MAX_REDIRECTS {
                let auth = if same_host {
                    authorization.as_ref()
                } else {
                    None
                };
                let req = request_with(
                    call.method.clone(),
                    &url,
                    call.accept,
                    auth,
                    call.headers,
                    call.body.clone(),
                )
                .map_err(fixed)?;
                let client = if same_host {
                    &self.client
                } else {
                    self.verified.get().map_err(fixed)?
                };
                let r = send_raw(client, req, self.stall, &self.domain).await?;
                if !follow || !r.status().is_redirection() {
                    res = Some(r);
                    break;
                }
                let Some(next) = r
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                else {
                    res = Some(r);
                    break;
                };
                let next = resolve(&url, next).map_err(fixed)?;
                same_host = authority(&next) == own;
                url = next;
            }
            let res = res.ok_or_else(|| {
                fixed(Error::other(format!(
                    "the registry {} redirects in a loop",
                    self.domain
                )))
            })?;
            if res.status() == StatusCode::UNAUTHORIZED && !renewed && authorization.is_some() {
                self.tokens.lock().await.remove(&key);
                renewed = true;
                continue;
            }
            return Ok(res);
        }
    }

    /// [`Registry::send_call_once`] with the retries of [`Registry::send`]: for requests that
    /// may be sent again as they are (not an upload's chunks).
    pub(super) async fn send_call(&self, call: &Call<'_>) -> Result<Response<Incoming>, Error> {
        let mut attempt = 1;
        loop {
            let (wait, why) = match self.send_call_once(call).await {
                Ok(res) => {
                    match transient_answer(&res).map(|after| self.retry.wait(attempt, after)) {
                        Some(Some(wait)) => (wait, format!("HTTP {}", res.status().as_u16())),
                        _ => return Ok(res),
                    }
                }
                Err(e) if e.transient => match self.retry.wait(attempt, None) {
                    Some(wait) => (wait, e.error.message),
                    None => return Err(e.error),
                },
                Err(e) => return Err(e.error),
            };
            tracing::info!(
                "{} {} on {}: {why}; retrying in {} ms (attempt {} of {})",
                call.method,
                path_of(call.target),
                self.domain,
                wait.as_millis(),
                attempt + 1,
                self.retry.retries + 1
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// [`request`] with extra headers and a body (uploads).
pub(super) fn request_with(
    method: Method,
    url: &str,
    accept: Option<&str>,
    authorization: Option<&Secret>,
    headers: &[(http::HeaderName, String)],
    body: Bytes,
) -> Result<Request<Full<Bytes>>, Error> {
    let mut b = Request::builder()
        .method(method)
        .uri(url)
        .header(http::header::USER_AGENT, USER_AGENT);
    if let Some(a) = accept {
        b = b.header(http::header::ACCEPT, a);
    }
    if let Some(a) = authorization {
        b = b.header(http::header::AUTHORIZATION, a.expose());
    }
    for (name, value) in headers {
        b = b.header(name, value);
    }
    b.body(Full::new(body))
        .map_err(|e| Error::usage(format!("bad registry request {}: {e}", path_of(url))))
}

/// A URL without its query: what a message or a log line may show of an upload's `Location`
/// (its query is the registry's signed upload state).
pub(super) fn path_of(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// One request to a registry.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    /// A path on the registry (`/v2/…`), or an absolute URL it handed out (an upload's
    /// `Location`).
    pub(super) target: &'a str,
    pub(super) accept: Option<&'a str>,
    /// The token scopes it needs: several for a cross-repository mount, which needs `pull` on
    /// the source repository in the same token.
    pub(super) scopes: &'a [String],
    pub(super) headers: &'a [(http::HeaderName, String)],
    pub(super) body: Bytes,
}

impl<'a> Call<'a> {
    pub(super) fn new(method: Method, target: &'a str, scopes: &'a [String]) -> Self {
        Call {
            method,
            target,
            accept: None,
            scopes,
            headers: &[],
            body: Bytes::new(),
        }
    }
}

/// `GET /v2/`: whether and how the registry wants credentials; a failure comes with the
/// `Retry-After` of a transient answer.
pub(super) async fn ping(
    client: &Http,
    base: &str,
    stall: Duration,
    domain: &str,
) -> Result<Option<Challenge>, (SendError, Option<Duration>)> {
    let fixed = |error| SendError {
        error,
        transient: false,
    };
    let req =
        request(Method::GET, &format!("{base}/v2/"), None, None).map_err(|e| (fixed(e), None))?;
    let res = send_raw(client, req, stall, domain)
        .await
        .map_err(|e| (e, None))?;
    if let Some(after) = transient_answer(&res) {
        let error = Error::new(
            Kind::Unreachable,
            format!(
                "the registry {domain} answered HTTP {} to GET /v2/",
                res.status().as_u16()
            ),
        );
        return Err((
            SendError {
                error,
                transient: true,
            },
            after,
        ));
    }
    match res.status() {
        s if s.is_success() => Ok(None),
        StatusCode::UNAUTHORIZED => {
            let challenges: Vec<Challenge> = res
                .headers()
                .get_all(http::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(www_auth::parse_challenge)
                .collect();
            Ok(challenges
                .iter()
                .find(|c| matches!(c, Challenge::Bearer { .. }))
                .or(challenges.first())
                .cloned()
                .or(Some(Challenge::Basic)))
        }
        s => Err((
            fixed(Error::other(format!(
                "{domain} does not answer like a registry (GET /v2/: HTTP {})",
                s.as_u16()
            ))),
            None,
        )),
    }
}

pub(super) async fn send_raw(
    client: &Http,
    req: Request<Full<Bytes>>,
    stall: Duration,
    domain: &str,
) -> Result<Response<Incoming>, SendError> {
    match tokio::time::timeout(stall, client.request(req)).await {
        Ok(Ok(res)) => Ok(res),
        Ok(Err(e)) => Err(SendError {
            transient: transport_is_transient(&e),
            error: Error::new(
                Kind::Unreachable,
                format!("cannot reach the registry {domain}: {}", chain(&e)),
            ),
        }),
        Err(_) => Err(SendError {
            transient: true,
            error: Error::new(
                Kind::Unreachable,
                format!(
                    "the registry {domain} did not answer within {}s (--stall-timeout)",
                    stall.as_secs()
                ),
            ),
        }),
    }
}

pub(super) fn chain(e: &dyn std::error::Error) -> String {
    crate::net::error_chain(e)
}

/// `e` with the note that the registry must be reachable from this machine, when the daemon
/// is elsewhere (a `tcp://` or `ssh://` endpoint, directly or through a context) and `e` says a registry
/// could not be reached: the daemon reaching it (for a push) proves nothing about this machine.
pub(crate) fn from_here(e: Error, daemon: Option<&Endpoint>) -> Error {
    let remote = match daemon {
        Some(Endpoint::Tcp { host, port, .. }) if host.contains(':') => {
            format!("tcp://[{host}]:{port}")
        }
        Some(Endpoint::Tcp { host, port, .. }) => format!("tcp://{host}:{port}"),
        Some(Endpoint::Ssh(spec)) => spec.to_string(),
        _ => return e,
    };
    if e.kind != Kind::Unreachable {
        return e;
    }
    let message = format!(
        "{}; the daemon is remote ({remote}): verify reads the registry from this machine, so it must be reachable from here too, not only from the daemon",
        e.message
    );
    Error::new(e.kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_the_backoff_and_stop_when_spent() {
        let r = Retry {
            retries: 2,
            delay: Duration::from_millis(100),
        };
        let w1 = r.wait(1, None).unwrap();
        assert!(w1 >= Duration::from_millis(75) && w1 <= Duration::from_millis(125));
        let w2 = r.wait(2, None).unwrap();
        assert!(w2 >= Duration::from_millis(150) && w2 <= Duration::from_millis(250));
        assert_eq!(r.wait(3, None), None);
        assert_eq!(
            r.wait(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            r.wait(1, Some(Duration::from_secs(3600))),
            Some(MAX_RETRY_AFTER)
        );
        let none = Retry {
            retries: 0,
            delay: Duration::ZERO,
        };
        assert_eq!(none.wait(1, None), None);
    }

    #[test]
    fn transport_failures_sorted() {
        use std::io::{Error as Io, ErrorKind as K};
        for k in [K::ConnectionRefused, K::ConnectionReset, K::TimedOut] {
            assert!(transport_is_transient(&Io::new(k, "x")), "{k:?}");
        }
        assert!(!transport_is_transient(&Io::new(
            K::InvalidData,
            "received corrupt message"
        )));
        assert!(!transport_is_transient(&Io::other(
            "failed to lookup address information: no such host"
        )));
    }

    #[test]
    fn the_remote_daemon_note() {
        let e = Error::new(Kind::Unreachable, "cannot reach the registry r:5000");
        let tcp = Endpoint::Tcp {
            host: "build".into(),
            port: 2376,
            tls: None,
        };
        let noted = from_here(e.clone(), Some(&tcp));
        assert!(noted.message.contains("tcp://build:2376"), "{noted}");
        assert!(noted.message.contains("reachable from here"), "{noted}");
        assert!(!noted.message.contains('\n'));
        assert_eq!(noted.kind, Kind::Unreachable);
        let unix = Endpoint::Unix("/var/run/docker.sock".into());
        assert_eq!(from_here(e.clone(), Some(&unix)), e);
        assert_eq!(from_here(e.clone(), None), e);
        let auth = Error::new(Kind::Auth, "refused");
        assert_eq!(from_here(auth.clone(), Some(&tcp)), auth);
    }
}
