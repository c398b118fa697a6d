//! A fault-injecting HTTP/1.1 proxy to put between the Docker engine and a test registry, so
//! end-to-end tests can make the registry misbehave on demand.
//!
//! The proxy listens on a free 127.0.0.1 port and forwards every request to the upstream
//! registry (plain HTTP) unless a rule set with [`FaultProxy::fail_first`] says otherwise.
//! Forwarding is transparent: method, path and query, headers (Host rewritten to the upstream,
//! hop-by-hop headers dropped, Authorization kept), request and response bodies streamed both
//! ways, status and headers of the answer. Absolute `Location` (and `Link`) URLs that point at
//! the upstream are rewritten to point at the proxy: distribution builds them from the Host it
//! was sent (`http://127.0.0.1:UP/v2/<name>/blobs/uploads/<uuid>?_state=...`); the `_state`
//! HMAC covers name, uuid, offset and start time, not the host, so it survives the rewrite.
//!
//! [`FaultProxy::after_tag_put`] changes what the registry appears to hold under a tag once the
//! engine has written it: manifest reads of that tag are answered as another tag of the same
//! repository would be, or with "manifest unknown" (a tag moved, or deleted, between a push and
//! its verification).
//!
//! [`FaultProxy::cut_blob_bodies`] forwards blob GETs but cuts the answer's body midway (a
//! reset connection, or a body that stops coming), a given number of times.
//!
//! A TLS ClientHello (the engine tries HTTPS first on 127.0.0.0/8 registries, then falls back
//! to plain HTTP) is dropped at once and not counted as a request.
//!
//! The proxy runs on a thread of its own with its own tokio runtime; the test side is
//! synchronous. Dropping the [`FaultProxy`] stops it and closes every connection, stalled
//! ones included.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};

/// Which requests a rule applies to (and what [`FaultProxy::seen`] counts). A request can be of
/// several kinds: every request is `Any`, a blob PATCH is both `BlobUpload` and `BlobPatch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// GET (or HEAD) /v2/
    Ping,
    /// POST, PATCH or PUT under /v2/<name>/blobs/uploads/ (start, data, commit of an upload;
    /// a cross-repository mount is a POST too)
    BlobUpload,
    /// PATCH under /v2/<name>/blobs/uploads/<uuid>: the part of an upload that carries the
    /// layer's data (Docker sends it all in one PATCH, then an empty PUT to commit)
    BlobPatch,
    /// HEAD /v2/<name>/blobs/<digest>
    BlobHead,
    /// GET /v2/<name>/blobs/<digest>
    BlobGet,
    /// PUT /v2/<name>/manifests/<ref>
    ManifestPut,
    /// GET or HEAD /v2/<name>/manifests/<ref>
    ManifestGet,
    /// Every request
    Any,
}

const KINDS: [Kind; 8] = [
    Kind::Ping,
    Kind::BlobUpload,
    Kind::BlobPatch,
    Kind::BlobHead,
    Kind::BlobGet,
    Kind::ManifestPut,
    Kind::ManifestGet,
    Kind::Any,
];

impl Kind {
    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap()
    }
}

/// What a faulted request gets instead of being forwarded.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Read the request body (if any) to its end, then answer with this status, a
    /// `Retry-After: <seconds>` header if given, and a registry-style JSON error body
    /// (`{"errors":[{"code":"UNAVAILABLE",...}]}`), without forwarding.
    Status { code: u16, retry_after: Option<u64> },
    /// Read part of the request body (up to [`RESET_AFTER`] bytes, if there is a body), then
    /// drop the connection abruptly with a TCP RST (SO_LINGER 0) and no response.
    Reset,
    /// Read the request body (if any) to its end and never answer: the connection stays open
    /// until the proxy is dropped.
    Stall,
    /// Answer 200 with this `Content-Type` and body (its `Content-Length` set; a HEAD gets the
    /// headers only), without forwarding: a registry answering garbage where a manifest
    /// should be (an HTML login page, a huge document).
    Answer { content_type: String, body: Bytes },
}

/// What manifest reads (GET or HEAD) of a tag get once a PUT of that tag's manifest succeeded.
#[derive(Clone, Debug)]
pub enum AfterPut {
    /// Forwarded as reads of this other tag of the same repository: the tag appears to have
    /// been moved to whatever that tag holds (reads by digest are untouched).
    ServedAs(String),
    /// 404 with a registry-style `MANIFEST_UNKNOWN` error: the tag appears to have gone.
    Unknown,
}

/// How a forwarded blob body is cut by [`FaultProxy::cut_blob_bodies`].
#[derive(Clone, Copy, Debug)]
pub enum BodyCut {
    /// Once `after` bytes of the body are sent, reset the connection (TCP RST, shortly after
    /// the last bytes went out).
    Reset { after: usize },
    /// Once `after` bytes of the body are sent, send nothing more and keep the connection open
    /// until the proxy is dropped.
    Stall { after: usize },
}

impl BodyCut {
    fn after(self) -> usize {
        match self {
            BodyCut::Reset { after } | BodyCut::Stall { after } => after,
        }
    }
}

/// How much of a request body [`Fault::Reset`] reads before it resets the connection.
pub const RESET_AFTER: usize = 256 * 1024;

struct Rule {
    kind: Kind,
    left: usize,
    fault: Fault,
}

/// An [`AfterPut`] rule for `/v2/<repo>/manifests/<tag>`.
struct TagRule {
    path: String,
    then: AfterPut,
    /// A PUT of `path` succeeded: reads of it now get `then`.
    armed: bool,
}

/// What a request gets.
enum Action {
    Forward,
    /// Forward, with this path instead of the request's.
    ForwardAs(String),
    /// Forward a manifest PUT; a success arms the tag rule at this index.
    ForwardThenArm(usize),
    Fail(Fault),
    ManifestUnknown,
}

#[derive(Default)]
struct State {
    seen: [usize; KINDS.len()],
    injected: usize,
    rules: Vec<Rule>,
    tag_rules: Vec<TagRule>,
    /// Cuts of blob GET bodies still to make, and how.
    cuts: Option<(usize, BodyCut)>,
    /// Run (once) before the next request of this kind is handled.
    hooks: Vec<(Kind, Box<dyn FnOnce() + Send>)>,
    /// Clients (by `User-Agent` prefix) whose connections are reset: what a registry the
    /// engine reaches looks like to a program that cannot reach it.
    refused_agents: Vec<String>,
    log: Vec<String>,
}

struct Shared {
    upstream: String,
    /// "127.0.0.1:PORT" of the proxy itself
    addr: String,
    state: Mutex<State>,
    client: Client<HttpConnector, Incoming>,
}

impl Shared {
    /// Count a request and decide what it gets. Every rule whose kind the request has and
    /// whose budget is not spent counts it; the earliest such rule's fault applies. Otherwise a
    /// tag rule for the request's path may apply.
    fn decide(
        &self,
        kinds: &[Kind],
        method: &Method,
        path: &str,
        line: &str,
    ) -> (Option<Box<dyn FnOnce() + Send>>, Action) {
        let mut st = self.state.lock().unwrap();
        let hook = st
            .hooks
            .iter()
            .position(|(k, _)| kinds.contains(k))
            .map(|i| st.hooks.remove(i).1);
        if hook.is_some() {
            st.log.push(format!("{line}: the test's hook runs first"));
        }
        for k in kinds {
            st.seen[k.index()] += 1;
        }
        let mut chosen = None;
        for rule in st.rules.iter_mut() {
            if rule.left > 0 && kinds.contains(&rule.kind) {
                rule.left -= 1;
                if chosen.is_none() {
                    chosen = Some(rule.fault.clone());
                }
            }
        }
        let action = match chosen {
            Some(f) => Action::Fail(f),
            None => match st.tag_rules.iter().position(|r| r.path == path) {
                Some(i) if kinds.contains(&Kind::ManifestPut) => Action::ForwardThenArm(i),
                Some(i) if kinds.contains(&Kind::ManifestGet) && st.tag_rules[i].armed => {
                    match &st.tag_rules[i].then {
                        AfterPut::ServedAs(tag) => {
                            let dir = &path[..path.rfind('/').unwrap() + 1];
                            Action::ForwardAs(format!("{dir}{tag}"))
                        }
                        AfterPut::Unknown => Action::ManifestUnknown,
                    }
                }
                _ => Action::Forward,
            },
        };
        let what = match &action {
            Action::Forward | Action::ForwardThenArm(_) => "forwarded".to_string(),
            Action::ForwardAs(p) => format!("forwarded as {method} {p}"),
            Action::Fail(Fault::Answer { content_type, body }) => {
                format!("200 {content_type} ({} bytes)", body.len())
            }
            Action::Fail(f) => format!("{f:?}"),
            Action::ManifestUnknown => "404 MANIFEST_UNKNOWN".to_string(),
        };
        if !matches!(action, Action::Forward | Action::ForwardThenArm(_)) {
            st.injected += 1;
        }
        st.log.push(format!("{line} -> {what}"));
        (hook, action)
    }

    /// A forwarded blob body passed its cut point: whether to cut it (the budget allows).
    fn take_cut(&self, line: &str, passed: usize) -> bool {
        let mut st = self.state.lock().unwrap();
        match &mut st.cuts {
            Some((left, how)) if *left > 0 => {
                *left -= 1;
                let how = *how;
                st.injected += 1;
                st.log
                    .push(format!("({line}: body cut after {passed} bytes: {how:?})"));
                true
            }
            _ => false,
        }
    }

    /// A forwarded PUT of a tag rule's path answered `status`: a success arms the rule.
    fn put_answered(&self, rule: usize, status: StatusCode) {
        if status.is_success() {
            let mut st = self.state.lock().unwrap();
            st.tag_rules[rule].armed = true;
            let path = st.tag_rules[rule].path.clone();
            st.log.push(format!(
                "(PUT {path} answered {status}: reads of it change now)"
            ));
        }
    }
}

/// A fault-injecting proxy in front of a registry. See the module documentation.
pub struct FaultProxy {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Start on a free 127.0.0.1 port, forwarding to `upstream` ("127.0.0.1:5000", plain HTTP).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        let addr = listener.local_addr().unwrap();
        FaultProxy::spawn(upstream, addr, Listen::Now(listener))
    }

    /// Like [`start`](Self::start), but the port refuses connections (nothing listens) for
    /// `delay` first — a registry restarting. The port is reserved first so the address is
    /// known at once, then closed, and bound again after the delay.
    pub fn start_refusing_for(upstream: &str, delay: Duration) -> FaultProxy {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        let addr = listener.local_addr().unwrap();
        drop(listener);
        FaultProxy::spawn(upstream, addr, Listen::After(delay))
    }

    fn spawn(upstream: &str, addr: SocketAddr, listen: Listen) -> FaultProxy {
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            addr: addr.to_string(),
            state: Mutex::new(State::default()),
            client,
        });
        let (stop, stopped) = oneshot::channel();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the proxy's runtime");
                rt.block_on(async move {
                    tokio::select! {
                        _ = stopped => {}
                        _ = run(listen, addr, sh) => {}
                    }
                });
                // Dropping the runtime drops every connection task: stalled ones close here.
                drop(rt);
            })
            .expect("start the proxy's thread");
        FaultProxy {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// "127.0.0.1:PORT"
    pub fn addr(&self) -> String {
        self.shared.addr.clone()
    }

    /// The first `n` requests of `kind` (counted from now) get `fault`; later ones are
    /// forwarded. A rule for the same kind set earlier is replaced (`n` = 0 removes it).
    pub fn fail_first(&self, kind: Kind, n: usize, fault: Fault) {
        let mut st = self.shared.state.lock().unwrap();
        st.rules.retain(|r| r.kind != kind);
        if n > 0 {
            st.rules.push(Rule {
                kind,
                left: n,
                fault,
            });
        }
    }

    /// The next `n` blob GET answers whose body passes `cut`'s byte count are cut there, as
    /// `cut` says (the headers, `Content-Length` included, are forwarded as they are); shorter
    /// bodies, and all bodies after that, are forwarded whole. `n` = 0 removes the rule.
    pub fn cut_blob_bodies(&self, n: usize, cut: BodyCut) {
        let mut st = self.shared.state.lock().unwrap();
        st.cuts = (n > 0).then_some((n, cut));
    }

    /// Once a PUT of `repo:tag`'s manifest through the proxy has succeeded, manifest reads of
    /// that tag get `then` instead of what the registry holds (reads by digest, and reads
    /// before the PUT, are forwarded as they are). Faults of [`fail_first`](Self::fail_first)
    /// rules come first.
    pub fn after_tag_put(&self, repo: &str, tag: &str, then: AfterPut) {
        let path = format!("/v2/{repo}/manifests/{tag}");
        let mut st = self.shared.state.lock().unwrap();
        st.tag_rules.retain(|r| r.path != path);
        st.tag_rules.push(TagRule {
            path,
            then,
            armed: false,
        });
    }

    /// Run `hook` (once, on a thread of its own) when the next request of `kind` arrives,
    /// before that request is handled: to change something at the moment the engine reaches
    /// a given step (a ping to the registry comes before the engine resolves what it pushes).
    pub fn before_next(&self, kind: Kind, hook: impl FnOnce() + Send + 'static) {
        let mut st = self.shared.state.lock().unwrap();
        st.hooks.push((kind, Box::new(hook)));
    }

    /// Reset every connection of a client whose `User-Agent` starts with `prefix` (forwarding
    /// the others): a registry the engine reaches and that client does not.
    pub fn refuse_user_agent(&self, prefix: &str) {
        let mut st = self.shared.state.lock().unwrap();
        st.refused_agents.push(prefix.to_string());
    }

    /// Remove every rule: from now on every request is forwarded.
    pub fn clear(&self) {
        let mut st = self.shared.state.lock().unwrap();
        st.rules.clear();
        st.tag_rules.clear();
        st.hooks.clear();
        st.cuts = None;
    }

    /// How many requests of `kind` have been seen (forwarded or faulted).
    pub fn seen(&self, kind: Kind) -> usize {
        self.shared.state.lock().unwrap().seen[kind.index()]
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.shared.state.lock().unwrap().injected
    }

    /// Every request so far, one line each: "METHOD /path?query -> forwarded" or "-> <fault>"
    /// (for assertion messages).
    pub fn log(&self) -> Vec<String> {
        self.shared.state.lock().unwrap().log.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Listen {
    Now(StdListener),
    After(Duration),
}

async fn run(listen: Listen, addr: SocketAddr, shared: Arc<Shared>) {
    let listener = match listen {
        Listen::Now(l) => {
            l.set_nonblocking(true).unwrap();
            TcpListener::from_std(l).unwrap()
        }
        Listen::After(delay) => {
            tokio::time::sleep(delay).await;
            let mut tries = 0;
            loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(e) if tries < 50 => {
                        tries += 1;
                        if tries == 1 {
                            eprintln!("fault proxy: re-binding {addr}: {e}; retrying");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => {
                        eprintln!("fault proxy: cannot bind {addr} again: {e}");
                        return;
                    }
                }
            }
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, shared.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serve one client connection (HTTP/1.1, keep-alive).
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // A TLS handshake record (0x16): the engine probing HTTPS. Close at once, uncounted.
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0] != 0x16 => {}
        _ => return,
    }
    // A second descriptor of the socket, kept to reset the connection: hyper owns the stream,
    // so to send a RST the connection task drops hyper's side and then closes this one with
    // SO_LINGER 0. On a normal end it is just closed (FIN, nothing lost).
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(spare) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let reset = Arc::new(Notify::new());
    let svc = {
        let reset = reset.clone();
        hyper::service::service_fn(move |req| handle(req, shared.clone(), reset.clone()))
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), svc);
    let mut conn = Box::pin(conn);
    let reset_now = tokio::select! {
        _ = conn.as_mut() => false,
        _ = reset.notified() => true,
    };
    drop(conn);
    if reset_now {
        let sock = tokio::net::TcpSocket::from_std_stream(spare);
        let _ = sock.set_zero_linger();
        drop(sock);
    } else {
        drop(spare);
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
    reset: Arc<Notify>,
) -> Result<Response<ProxyBody>, Infallible> {
    let kinds = kinds_of(req.method(), req.uri().path());
    let line = format!(
        "{} {}",
        req.method(),
        req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("")
    );
    let agent = req
        .headers()
        .get(hyper::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let refused = {
        let mut st = shared.state.lock().unwrap();
        let refused = st
            .refused_agents
            .iter()
            .any(|p| agent.starts_with(p.as_str()));
        if refused {
            st.log.push(format!("{line} -> reset ({agent})"));
        }
        refused
    };
    if refused {
        reset.notify_one();
        return std::future::pending().await;
    }
    let path = req.uri().path().to_string();
    let (hook, action) = shared.decide(&kinds, req.method(), &path, &line);
    if let Some(hook) = hook {
        // A test's hook runs docker commands: off the proxy's only runtime thread.
        let _ = tokio::task::spawn_blocking(hook).await;
    }
    let blob_get = kinds.contains(&Kind::BlobGet);
    match action {
        Action::Forward if blob_get => {
            let resp = forward(req, &shared, None).await;
            let (parts, body) = resp.into_parts();
            let cut = shared.state.lock().unwrap().cuts.map(|(_, how)| how);
            let body = match cut {
                Some(how) => CutBody {
                    inner: body,
                    passed: 0,
                    how,
                    line,
                    shared: shared.clone(),
                    reset,
                    state: CutState::Passing,
                }
                .boxed(),
                None => body,
            };
            Ok(Response::from_parts(parts, body))
        }
        Action::Forward => Ok(forward(req, &shared, None).await),
        Action::ForwardAs(p) => Ok(forward(req, &shared, Some(&p)).await),
        Action::ForwardThenArm(rule) => {
            let resp = forward(req, &shared, None).await;
            shared.put_answered(rule, resp.status());
            Ok(resp)
        }
        Action::ManifestUnknown => {
            drain(req.into_body(), usize::MAX).await;
            Ok(registry_error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                "manifest unknown",
                None,
            ))
        }
        Action::Fail(Fault::Status { code, retry_after }) => {
            drain(req.into_body(), usize::MAX).await;
            Ok(error_response(code, retry_after))
        }
        Action::Fail(Fault::Reset) => {
            drain(req.into_body(), RESET_AFTER).await;
            reset.notify_one();
            std::future::pending().await
        }
        Action::Fail(Fault::Answer { content_type, body }) => {
            drain(req.into_body(), usize::MAX).await;
            Ok(Response::builder()
                .status(StatusCode::OK)
                .header("content-type", content_type)
                .header("content-length", body.len())
                .body(full(body))
                .unwrap())
        }
        Action::Fail(Fault::Stall) => {
            drain(req.into_body(), usize::MAX).await;
            std::future::pending().await
        }
    }
}

/// A forwarded blob body that [`FaultProxy::cut_blob_bodies`] may cut.
struct CutBody {
    inner: ProxyBody,
    passed: usize,
    how: BodyCut,
    /// The request, for the log.
    line: String,
    shared: Arc<Shared>,
    reset: Arc<Notify>,
    state: CutState,
}

enum CutState {
    Passing,
    /// Cut: the connection is reset when this wait ends (the bytes sent go out first).
    Resetting(Pin<Box<tokio::time::Sleep>>),
    /// Cut: nothing more is sent.
    Stalled,
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        match &mut this.state {
            CutState::Stalled => return Poll::Pending,
            CutState::Resetting(wait) => {
                if wait.as_mut().poll(cx).is_ready() {
                    this.reset.notify_one();
                    this.state = CutState::Stalled;
                }
                return Poll::Pending;
            }
            CutState::Passing => {}
        }
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &frame
            && let Some(data) = f.data_ref()
        {
            this.passed += data.len();
            if this.passed >= this.how.after() && this.shared.take_cut(&this.line, this.passed) {
                this.state = match this.how {
                    BodyCut::Reset { .. } => CutState::Resetting(Box::pin(tokio::time::sleep(
                        Duration::from_millis(100),
                    ))),
                    BodyCut::Stall { .. } => CutState::Stalled,
                };
            }
        }
        frame
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Read and discard a body until its end or until `limit` bytes are read.
async fn drain(mut body: Incoming, limit: usize) {
    let mut n = 0usize;
    if body.is_end_stream() {
        return;
    }
    while n < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    n += data.len();
                }
            }
            _ => return,
        }
    }
}

/// Which kinds a request is (always including `Any`).
fn kinds_of(method: &Method, path: &str) -> Vec<Kind> {
    let mut kinds = vec![Kind::Any];
    let m = method.as_str();
    if path == "/v2/" || path == "/v2" {
        if m == "GET" || m == "HEAD" {
            kinds.push(Kind::Ping);
        }
        return kinds;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return kinds;
    };
    const UPLOADS: &str = "/blobs/uploads";
    if let Some(i) = rest.rfind(UPLOADS) {
        let tail = &rest[i + UPLOADS.len()..];
        let uuid = tail.strip_prefix('/');
        if i > 0 && (tail.is_empty() || uuid.is_some_and(|u| !u.contains('/'))) {
            match m {
                "POST" | "PUT" => kinds.push(Kind::BlobUpload),
                "PATCH" => kinds.extend([Kind::BlobUpload, Kind::BlobPatch]),
                _ => {}
            }
            return kinds;
        }
    }
    if let Some(i) = rest.rfind("/blobs/") {
        let tail = &rest[i + "/blobs/".len()..];
        if i > 0 && !tail.is_empty() && !tail.contains('/') {
            match m {
                "HEAD" => kinds.push(Kind::BlobHead),
                "GET" => kinds.push(Kind::BlobGet),
                _ => {}
            }
            return kinds;
        }
    }
    if let Some(i) = rest.rfind("/manifests/") {
        let tail = &rest[i + "/manifests/".len()..];
        if i > 0 && !tail.is_empty() && !tail.contains('/') {
            match m {
                "PUT" => kinds.push(Kind::ManifestPut),
                "GET" | "HEAD" => kinds.push(Kind::ManifestGet),
                _ => {}
            }
        }
    }
    kinds
}

fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A registry-style error answer.
fn error_response(code: u16, retry_after: Option<u64>) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (ecode, message) = match code {
        401 => ("UNAUTHORIZED", "authentication required"),
        403 => ("DENIED", "requested access to the resource is denied"),
        404 => ("NAME_UNKNOWN", "repository name not known to registry"),
        429 => ("TOOMANYREQUESTS", "too many requests"),
        503 => ("UNAVAILABLE", "service unavailable"),
        _ => ("UNKNOWN", "unknown error"),
    };
    registry_error(status, ecode, message, retry_after)
}

/// A registry-style JSON error (`{"errors":[{"code":…}]}`) with this status.
fn registry_error(
    status: StatusCode,
    ecode: &str,
    message: &str,
    retry_after: Option<u64>,
) -> Response<ProxyBody> {
    let body = format!(
        "{{\"errors\":[{{\"code\":\"{ecode}\",\"message\":\"{message} (injected by the test proxy)\",\"detail\":null}}]}}\n"
    );
    let mut resp = Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("docker-distribution-api-version", "registry/2.0")
        .header("content-length", body.len());
    if let Some(secs) = retry_after {
        resp = resp.header("retry-after", secs);
    }
    resp.body(full(body)).unwrap()
}

/// Headers that belong to one hop, not to the message.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for h in named {
        headers.remove(h);
    }
    for h in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(h);
    }
}

/// Forward `req` upstream (to `path` instead of its own, if given; the query is kept).
async fn forward(
    req: Request<Incoming>,
    shared: &Shared,
    path: Option<&str>,
) -> Response<ProxyBody> {
    let (mut parts, body) = req.into_parts();
    let pq = match (path, parts.uri.query()) {
        (Some(p), Some(q)) => format!("{p}?{q}"),
        (Some(p), None) => p.to_string(),
        (None, _) => parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string(),
    };
    parts.uri = match format!("http://{}{pq}", shared.upstream).parse() {
        Ok(u) => u,
        Err(e) => return bad_gateway(&format!("bad request target {pq:?}: {e}")),
    };
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts
        .headers
        .insert(HOST, HeaderValue::from_str(&shared.upstream).unwrap());
    match shared
        .client
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let from = format!("http://{}", shared.upstream);
            let to = format!("http://{}", shared.addr);
            for name in ["location", "content-location", "link"] {
                let values: Vec<HeaderValue> = parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| match v.to_str() {
                        Ok(s) if s.contains(&from) => HeaderValue::from_str(&s.replace(&from, &to))
                            .unwrap_or_else(|_| v.clone()),
                        _ => v.clone(),
                    })
                    .collect();
                if values.is_empty() {
                    continue;
                }
                parts.headers.remove(name);
                for v in values {
                    parts.headers.append(HeaderName::from_static(name), v);
                }
            }
            Response::from_parts(parts, body.boxed())
        }
        Err(e) => bad_gateway(&format!("upstream {}: {e:?}", shared.upstream)),
    }
}

fn bad_gateway(why: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({"errors": [{"code": "UNAVAILABLE", "message": format!("test proxy: {why}"), "detail": null}]})
        .to_string();
    Response::builder()
        .status(StatusCode::BAD_GATEWAY)
        .header("content-type", "application/json; charset=utf-8")
        .body(full(body))
        .unwrap()
}
