//! Which Docker daemon to talk to, resolved from flags, environment and contexts as docker does.
//!
//! Everything the rules read comes in through arguments ([`GlobalFlags`], an [`Env`], the
//! `currentContext` of config.json), so the precedence can be tested without touching the
//! process environment. The only I/O is reading a named context's files under the config dir.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

/// The context docker builds from flags and environment instead of reading it from disk.
pub const DEFAULT_CONTEXT: &str = "default";

const DEFAULT_UNIX_SOCKET: &str = "/var/run/docker.sock";
const DEFAULT_HTTP_HOST: &str = "localhost";
const DEFAULT_HTTP_PORT: u16 = 2375;
const DEFAULT_TLS_HTTP_PORT: u16 = 2376;

pub use crate::protocol::plugin::GlobalFlags;

/// Where environment variables come from. The resolver treats an empty value as unset for every
/// variable it reads, as docker does, so implementations may return `Some("")`.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    /// Non-UTF-8 values read as unset.
    fn var(&self, name: &str) -> Option<String> {
        let value = std::env::var(name).ok().filter(|v| !v.is_empty());
        if value.is_none() && name == "HOME" {
            // docker's homedir.Get falls back to the user database when HOME is unset.
            return std::env::home_dir()
                .and_then(|p| p.into_os_string().into_string().ok())
                .filter(|v| !v.is_empty());
        }
        value
    }
}

impl<K, V, S> Env for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.as_ref().to_owned())
    }
}

/// A daemon address. `Tcp::host` is bare: an IPv6 address has no brackets (and may carry a
/// `%zone`), so callers add them when building an authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
        tls: Option<TlsSettings>,
    },
}

/// TLS for a tcp daemon. Absent files mean: system roots for `ca`, no client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Check the daemon's certificate; false is docker's `--tls` without `--tlsverify`.
    pub verify: bool,
}

/// The daemon to use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// `"default"` or the name of the context in use.
    pub context: String,
    pub endpoint: Endpoint,
    /// For doctor and debug output. For the default context, where the host came from:
    /// `"--host"`, `"DOCKER_HOST"`, `"default socket"` or `"default tls host"`. For a named
    /// context, what selected it: `"--context"`, `"DOCKER_CONTEXT"` or `"currentContext"`
    /// (config.json); the name itself is in `context`.
    pub source: &'static str,
}

/// Why no daemon could be resolved. Each message is one line naming the problem and the fix.
#[derive(Debug)]
pub enum EndpointError {
    /// Both `--host` and `--context` were given.
    ConflictingOptions,
    /// The context has no `meta.json` in the config dir.
    ContextNotFound { name: String },
    /// The context's `meta.json` exists but could not be read.
    ContextUnreadable {
        name: String,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The context's `meta.json` is not what docker would accept.
    MalformedContext {
        name: String,
        path: PathBuf,
        reason: String,
    },
    /// The context's metadata has no `docker` endpoint.
    NoDockerEndpoint { name: String, path: PathBuf },
    /// A valid docker host that docker-pushx cannot dial (ssh://, npipe://, fd://).
    /// `origin` says where the host came from (`--host`, `DOCKER_HOST`, `context "x"`).
    Unsupported {
        origin: Option<String>,
        host: String,
        scheme: String,
    },
    /// A host docker itself would reject.
    InvalidHost {
        origin: Option<String>,
        host: String,
        reason: String,
    },
}

impl EndpointError {
    fn with_origin(mut self, from: &str) -> Self {
        if let EndpointError::Unsupported { origin, .. } | EndpointError::InvalidHost { origin, .. } =
            &mut self
            && origin.is_none()
        {
            *origin = Some(from.to_owned());
        }
        self
    }
}

impl fmt::Display for EndpointError {
    // Names, hosts and paths go through Debug so that control characters in them cannot break
    // the one-line message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::ConflictingOptions => {
                f.write_str("conflicting options: cannot specify both --host and --context")
            }
            EndpointError::ContextNotFound { name } => {
                write!(
                    f,
                    "context {name:?} not found: run docker context ls to see the available contexts"
                )
            }
            EndpointError::ContextUnreadable { name, path, error } => write!(
                f,
                "context {name:?}: cannot read {path:?}: {}: check the file's permissions",
                one_line(&error.to_string())
            ),
            EndpointError::MalformedContext { name, path, reason } => write!(
                f,
                "context {name:?}: malformed metadata file {path:?}: {}: fix the file or recreate the context with docker context create",
                one_line(reason)
            ),
            EndpointError::NoDockerEndpoint { name, path } => write!(
                f,
                "context {name:?} has no docker endpoint in {path:?}: recreate it with docker context create --docker host=..."
            ),
            EndpointError::Unsupported {
                origin,
                host,
                scheme,
            } => {
                if let Some(origin) = origin {
                    write!(f, "{origin}: ")?;
                }
                write!(
                    f,
                    "unsupported endpoint {host:?}: docker-pushx supports unix:// and tcp:// daemons"
                )?;
                match scheme.as_str() {
                    "ssh" => f.write_str(
                        " (ssh:// is not supported yet: forward the remote socket with ssh -L and point -H at the local unix:// path)",
                    ),
                    "npipe" => f.write_str(" (npipe:// is for Docker on Windows)"),
                    "fd" => f.write_str(" (fd:// is a daemon listen address, not one a client can dial)"),
                    _ => Ok(()),
                }
            }
            EndpointError::InvalidHost {
                origin,
                host,
                reason,
            } => {
                if let Some(origin) = origin {
                    write!(f, "{origin}: ")?;
                }
                write!(f, "invalid daemon host {host:?}: {}", one_line(reason))
            }
        }
    }
}

impl std::error::Error for EndpointError {}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn nonempty(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty())
}

fn given(path: &Option<PathBuf>) -> Option<&PathBuf> {
    path.as_ref().filter(|p| !p.as_os_str().is_empty())
}

/// Config dir: `--config` > `DOCKER_CONFIG` > `$HOME/.docker`.
pub fn config_dir(flags: &GlobalFlags, env: &dyn Env) -> PathBuf {
    match given(&flags.config) {
        Some(dir) => dir.clone(),
        None => env_config_dir(env),
    }
}

/// docker computes its TLS flag defaults before `--config` is parsed, so the cert dir falls back
/// to this, not to [`config_dir`]. Without any HOME, docker's Go code joins "" and ".docker".
fn env_config_dir(env: &dyn Env) -> PathBuf {
    if let Some(dir) = nonempty(env, "DOCKER_CONFIG") {
        return PathBuf::from(dir);
    }
    Path::new(&nonempty(env, "HOME").unwrap_or_default()).join(".docker")
}

/// Pick the daemon as docker/cli does: `current_context` is config.json's `currentContext`
/// (`None` when absent).
pub fn resolve(
    flags: &GlobalFlags,
    env: &dyn Env,
    current_context: Option<&str>,
) -> Result<Resolved, EndpointError> {
    // docker checks `Context != ""`, so an empty --context counts as not given, while any -H,
    // even an empty one, counts as given.
    let flag_context = flags.context.as_deref().filter(|c| !c.is_empty());
    if flag_context.is_some() && flags.host.is_some() {
        return Err(EndpointError::ConflictingOptions);
    }
    let (name, source) = if let Some(name) = flag_context {
        (name.to_owned(), "--context")
    } else if flags.host.is_some() || nonempty(env, "DOCKER_HOST").is_some() {
        (DEFAULT_CONTEXT.to_owned(), "")
    } else if let Some(name) = nonempty(env, "DOCKER_CONTEXT") {
        (name, "DOCKER_CONTEXT")
    } else if let Some(name) = current_context.filter(|c| !c.is_empty()) {
        (name.to_owned(), "currentContext")
    } else {
        (DEFAULT_CONTEXT.to_owned(), "")
    };
    if name == DEFAULT_CONTEXT {
        resolve_default(flags, env)
    } else {
        resolve_named(name, source, flags, env)
    }
}

fn resolve_default(flags: &GlobalFlags, env: &dyn Env) -> Result<Resolved, EndpointError> {
    let tls = default_tls(flags, env);
    let (host, source) = match (&flags.host, nonempty(env, "DOCKER_HOST")) {
        (Some(host), _) => (host.clone(), "--host"),
        (None, Some(host)) => (host, "DOCKER_HOST"),
        (None, None) => (String::new(), ""),
    };
    let endpoint = parse_host(&host, tls).map_err(|e| e.with_origin(source))?;
    let source = match (&endpoint, source) {
        (_, s) if !s.is_empty() => s,
        (Endpoint::Unix(_), _) => "default socket",
        (Endpoint::Tcp { .. }, _) => "default tls host",
    };
    Ok(Resolved {
        context: DEFAULT_CONTEXT.to_owned(),
        endpoint,
        source,
    })
}

/// docker/cli's flag defaults: `DOCKER_TLS_VERIFY` with any value (even "0") means verify, and
/// verify implies TLS.
fn default_tls(flags: &GlobalFlags, env: &dyn Env) -> Option<TlsSettings> {
    let verify = flags.tlsverify || nonempty(env, "DOCKER_TLS_VERIFY").is_some();
    if !(flags.tls || verify || nonempty(env, "DOCKER_TLS").is_some()) {
        return None;
    }
    let cert_dir = nonempty(env, "DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| env_config_dir(env));
    let default_ca = cert_dir.join("ca.pem");
    let default_cert = cert_dir.join("cert.pem");
    let default_key = cert_dir.join("key.pem");
    // A lone default cert.pem or key.pem cannot make a client certificate; drop both.
    let default_pair = default_cert.is_file() && default_key.is_file();
    // A flag given empty means no file, as docker's "flag changed" check keeps the empty value.
    let pick = |flag: &Option<PathBuf>, default: PathBuf, usable: bool| match flag {
        Some(p) if p.as_os_str().is_empty() => None,
        Some(p) => Some(p.clone()),
        None => usable.then_some(default),
    };
    let ca_exists = default_ca.is_file();
    Some(TlsSettings {
        ca: pick(&flags.tlscacert, default_ca, ca_exists),
        cert: pick(&flags.tlscert, default_cert, default_pair),
        key: pick(&flags.tlskey, default_key, default_pair),
        verify,
    })
}

fn resolve_named(
    name: String,
    source: &'static str,
    flags: &GlobalFlags,
    env: &dyn Env,
) -> Result<Resolved, EndpointError> {
    // docker's context store keys directories by the digest of the name.
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    let store = config_dir(flags, env).join("contexts");
    let meta_path = store.join("meta").join(&id).join("meta.json");
    let bytes = match std::fs::read(&meta_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(EndpointError::ContextNotFound { name });
        }
        Err(error) => {
            return Err(EndpointError::ContextUnreadable {
                name,
                path: meta_path,
                error,
            });
        }
    };
    // Go's decoder turns invalid UTF-8 into U+FFFD instead of failing.
    let docker = match parse_meta(&String::from_utf8_lossy(&bytes)) {
        Ok(Some(docker)) => docker,
        Ok(None) => {
            return Err(EndpointError::NoDockerEndpoint {
                name,
                path: meta_path,
            });
        }
        Err(reason) => {
            return Err(EndpointError::MalformedContext {
                name,
                path: meta_path,
                reason,
            });
        }
    };

    let tls_dir = store.join("tls").join(&id).join("docker");
    let file = |f: &str| Some(tls_dir.join(f)).filter(|p| p.is_file());
    let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
    let any_file = ca.is_some() || cert.is_some() || key.is_some();
    // docker loads a client certificate only when both halves are in the bundle.
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (Some(cert), Some(key)),
        _ => (None, None),
    };
    // docker builds a TLS config for a context with a TLS bundle or with SkipTLSVerify set; the
    // latter is how `docker context create --docker skip-tls-verify=true` reaches a TLS daemon.
    let tls = (any_file || docker.skip_tls_verify).then_some(TlsSettings {
        ca,
        cert,
        key,
        verify: !docker.skip_tls_verify,
    });

    let origin = format!("context {name:?}");
    let endpoint = if docker.host.is_empty() {
        // Without a host docker's client falls back to its built-in socket, not to DOCKER_HOST.
        Endpoint::Unix(PathBuf::from(DEFAULT_UNIX_SOCKET))
    } else if docker.host.trim().is_empty() {
        return Err(EndpointError::InvalidHost {
            origin: Some(origin),
            host: docker.host,
            reason: "the host is blank: recreate the context with docker context create --docker host=...".into(),
        });
    } else {
        parse_host(&docker.host, tls).map_err(|e| e.with_origin(&origin))?
    };
    Ok(Resolved {
        context: name,
        endpoint,
        source,
    })
}

/// Parse a host the way docker's `opts.ParseHost` does: `""` is the default socket
/// (`tcp://localhost:2376` when TLS is on), `unix:///p`, `tcp://h:p`, `h:p`, `tcp://h` (port
/// 2375, or 2376 when TLS is on), `[::1]:2375`; `http://` reads as tcp and `https://` as tcp
/// with TLS. `ssh://`, `npipe://` and `fd://` are [`EndpointError::Unsupported`]. TLS settings
/// never apply to unix sockets.
pub fn parse_host(s: &str, tls: Option<TlsSettings>) -> Result<Endpoint, EndpointError> {
    let host = s.trim();
    if host.is_empty() {
        return Ok(match tls {
            Some(tls) => Endpoint::Tcp {
                host: DEFAULT_HTTP_HOST.into(),
                port: DEFAULT_TLS_HTTP_PORT,
                tls: Some(tls),
            },
            None => Endpoint::Unix(PathBuf::from(DEFAULT_UNIX_SOCKET)),
        });
    }
    let (scheme, rest) = host.split_once("://").unwrap_or(("tcp", host));
    let invalid = |reason: String| EndpointError::InvalidHost {
        origin: None,
        host: host.to_owned(),
        reason,
    };
    match scheme {
        "unix" => parse_unix(rest).map(Endpoint::Unix).map_err(invalid),
        "tcp" | "http" => parse_tcp(rest, tls).map_err(invalid),
        "https" => {
            let tls = tls.unwrap_or(TlsSettings {
                ca: None,
                cert: None,
                key: None,
                verify: true,
            });
            parse_tcp(rest, Some(tls)).map_err(invalid)
        }
        "ssh" | "npipe" | "fd" => Err(EndpointError::Unsupported {
            origin: None,
            host: host.to_owned(),
            scheme: scheme.to_owned(),
        }),
        _ => Err(invalid(format!(
            "unknown scheme {scheme:?}: use unix:///path/to/docker.sock or tcp://host:port"
        ))),
    }
}

fn parse_unix(rest: &str) -> Result<PathBuf, String> {
    // docker strips one more "unix://" here, so "unix://unix:///p" is accepted.
    let path = rest.strip_prefix("unix://").unwrap_or(rest);
    if path.contains("://") {
        return Err(format!(
            "{path:?} is not a socket path: use unix:///path/to/docker.sock"
        ));
    }
    Ok(PathBuf::from(if path.is_empty() {
        DEFAULT_UNIX_SOCKET
    } else {
        path
    }))
}

/// docker's `ParseTCPAddr`: Go's `url.Parse` of `tcp://<addr>`, then `net.SplitHostPort`, then a
/// second try with the default port appended. One difference: docker keeps 2375 for a portless
/// `tcp://h` even with TLS on, where this picks 2376, the port TLS daemons listen on.
fn parse_tcp(rest: &str, tls: Option<TlsSettings>) -> Result<Endpoint, String> {
    let default_port = if tls.is_some() {
        DEFAULT_TLS_HTTP_PORT
    } else {
        DEFAULT_HTTP_PORT
    };
    if rest.is_empty() || rest == "tcp://" {
        return Ok(Endpoint::Tcp {
            host: DEFAULT_HTTP_HOST.into(),
            port: default_port,
            tls,
        });
    }
    let mut addr = rest.strip_prefix("tcp://").unwrap_or(rest).to_owned();
    if addr.is_empty() || addr.contains("://") {
        return Err("expected tcp://host:port".into());
    }
    // Go's url.Parse rejects "[::1]:", so docker fills in the port first.
    if addr.ends_with("]:") {
        addr.push_str(&default_port.to_string());
    }
    let url = go_url_parse(&addr)?;
    let (host, port) = split_host_port(&url.host)
        .or_else(|_| split_host_port(&join_host_port(&url.host, &default_port.to_string())))
        .map_err(|e| format!("{e}: expected tcp://host:port"))?;
    let port = if port.is_empty() {
        default_port
    } else {
        parse_port(&port)?
    };
    // docker would send every request under this path; Endpoint has no place for it.
    if !(url.path.is_empty() || url.path == "/") {
        return Err(format!(
            "a path ({:?}) after the address is not supported: use tcp://host:port",
            url.path
        ));
    }
    let host = if host.is_empty() {
        DEFAULT_HTTP_HOST.to_owned()
    } else {
        host
    };
    Ok(Endpoint::Tcp { host, port, tls })
}

fn parse_port(port: &str) -> Result<u16, String> {
    let out_of_range = || format!("port {port} is out of range: use 1-65535");
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {port:?}"));
    }
    let n = port.bytes().try_fold(0u32, |n, b| {
        n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    });
    match n.and_then(|n| u16::try_from(n).ok()) {
        Some(0) | None => Err(out_of_range()),
        Some(p) => Ok(p),
    }
}

struct GoUrl {
    /// Unescaped host, with the port and any IPv6 brackets.
    host: String,
    /// Unescaped path.
    path: String,
}

/// The parts of Go's `url.Parse("tcp://" + addr)` that docker uses, with its error cases.
fn go_url_parse(addr: &str) -> Result<GoUrl, String> {
    let (url, fragment) = addr.split_once('#').unwrap_or((addr, ""));
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in address".into());
    }
    let url = url.split_once('?').map_or(url, |(before, _)| before);
    let (authority, path) = url.split_at(url.find('/').unwrap_or(url.len()));
    let host = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let host = go_parse_host(&authority[at + 1..])?;
            if !valid_userinfo(userinfo) {
                return Err("invalid user info before '@'".into());
            }
            unescape(userinfo, Escape::Other)?;
            host
        }
        None => go_parse_host(authority)?,
    };
    let path = String::from_utf8_lossy(&unescape(path, Escape::Other)?).into_owned();
    unescape(fragment, Escape::Other)?;
    Ok(GoUrl { host, path })
}

fn valid_userinfo(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b))
}

fn valid_optional_port(colon_port: &str) -> bool {
    colon_port.is_empty()
        || colon_port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `url.parseHost`, including the check (Go 1.24.8 / 1.25.2 on) that only an IPv6 address
/// may stand in brackets.
fn go_parse_host(host: &str) -> Result<String, String> {
    if !host.starts_with('[') {
        if let Some(colon) = host.rfind(':') {
            let colon_port = &host[colon..];
            if !valid_optional_port(colon_port) {
                return Err(format!("invalid port {colon_port:?} after host"));
            }
        }
        return utf8(unescape(host, Escape::Host)?);
    }
    let close = host.rfind(']').ok_or("missing ']' in host")?;
    let colon_port = &host[close + 1..];
    if !valid_optional_port(colon_port) {
        return Err(format!("invalid port {colon_port:?} after host"));
    }
    // RFC 6874: "%25" starts a zone, which has its own escaping rules.
    let bytes = match host[..close].find("%25") {
        Some(zone) => {
            let mut b = unescape(&host[..zone], Escape::Host)?;
            b.extend(unescape(&host[zone..close], Escape::Zone)?);
            b.extend(unescape(&host[close..], Escape::Host)?);
            b
        }
        None => unescape(host, Escape::Host)?,
    };
    let text = utf8(bytes)?;
    let literal = text.get(1..text.rfind(']').unwrap_or(0)).unwrap_or("");
    let (ip, zone) = literal
        .split_once('%')
        .map_or((literal, None), |(ip, zone)| (ip, Some(zone)));
    if ip.parse::<Ipv6Addr>().is_err() || zone == Some("") {
        return Err(format!("{literal:?} in brackets is not an IPv6 address"));
    }
    Ok(text)
}

fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| "the host is not valid UTF-8".to_owned())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    Host,
    Zone,
    /// Path, fragment, user info: only the %-escapes are checked.
    Other,
}

/// Go's `shouldEscape(c, encodeHost)`: what may not stand unescaped in a host.
fn host_needs_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c))
}

/// Go's `url.unescape`, with its rules for hosts and IPv6 zones.
fn unescape(s: &str, mode: Escape) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let escape = b.get(i..i + 3).unwrap_or(&b[i..]);
            let value = match escape {
                [_, hi, lo] => (hex_value(*hi), hex_value(*lo)),
                _ => (None, None),
            };
            let (Some(hi), Some(lo)) = value else {
                return Err(format!(
                    "invalid escape {:?}",
                    String::from_utf8_lossy(escape)
                ));
            };
            let byte = hi << 4 | lo;
            // Hosts may only %-encode non-ASCII bytes; zones anything a host may hold unescaped.
            let refused = escape != b"%25"
                && match mode {
                    Escape::Host => hi < 8,
                    Escape::Zone => byte != b' ' && host_needs_escape(byte),
                    Escape::Other => false,
                };
            if refused {
                return Err(format!(
                    "invalid escape {:?} in host",
                    String::from_utf8_lossy(escape)
                ));
            }
            out.push(byte);
            i += 3;
        } else {
            let c = b[i];
            if mode != Escape::Other && c < 0x80 && host_needs_escape(c) {
                return Err(format!("invalid character {:?} in host", char::from(c)));
            }
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Go's `net.SplitHostPort`.
fn split_host_port(hostport: &str) -> Result<(String, String), &'static str> {
    const MISSING_PORT: &str = "missing port in address";
    const TOO_MANY_COLONS: &str = "too many colons in address";
    let colon = hostport.rfind(':').ok_or(MISSING_PORT)?;
    let (host, after_open, after_close) = if hostport.starts_with('[') {
        let close = hostport.find(']').ok_or("missing ']' in address")?;
        if close + 1 == hostport.len() {
            return Err(MISSING_PORT);
        }
        if close + 1 != colon {
            return Err(if hostport.as_bytes().get(close + 1) == Some(&b':') {
                TOO_MANY_COLONS
            } else {
                MISSING_PORT
            });
        }
        (&hostport[1..close], 1, close + 1)
    } else {
        let host = &hostport[..colon];
        if host.contains(':') {
            return Err(TOO_MANY_COLONS);
        }
        (host, 0, 0)
    };
    if hostport[after_open..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hostport[after_close..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host.to_owned(), hostport[colon + 1..].to_owned()))
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A JSON value that keeps object members in order, duplicates included: Go's decoder applies
/// members one after the other, so the last of several matching keys wins.
enum Json {
    Null,
    Bool(bool),
    Number,
    String(String),
    Array,
    Object(Vec<(String, Json)>),
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number => "a number",
            Json::String(_) => "a string",
            Json::Array => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Json::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry::<String, Json>()? {
            members.push(member);
        }
        Ok(Json::Object(members))
    }
}

/// Go's encoding/json matches struct fields case-insensitively, with Unicode simple folding: the
/// only non-ASCII runes that fold onto ASCII letters are ſ (s) and the Kelvin sign (k).
fn go_field_eq(key: &str, field: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        }
    }
    key.chars().map(fold).eq(field.chars().map(fold))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct DockerEndpointMeta {
    host: String,
    skip_tls_verify: bool,
}

/// Read a context's meta.json as docker's store does: struct fields (`Name`, `Metadata`,
/// `Endpoints`, `Host`, `SkipTLSVerify`) match case-insensitively, endpoint names (`docker`) are
/// map keys and match exactly, null leaves a field as it was, and a value of the wrong type
/// fails the whole file. `Ok(None)`: no usable docker endpoint.
fn parse_meta(text: &str) -> Result<Option<DockerEndpointMeta>, String> {
    let root: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let members = match root {
        Json::Object(members) => members,
        Json::Null => return Ok(None),
        other => return Err(format!("expected an object, found {}", other.kind())),
    };
    let mut endpoints: Vec<(String, Json)> = Vec::new();
    for (key, value) in members {
        if go_field_eq(&key, "Name") {
            if !matches!(value, Json::String(_) | Json::Null) {
                return Err(format!("{key:?} must be a string, found {}", value.kind()));
            }
        } else if go_field_eq(&key, "Metadata") {
            if !matches!(value, Json::Object(_) | Json::Null) {
                return Err(format!("{key:?} must be an object, found {}", value.kind()));
            }
        } else if go_field_eq(&key, "Endpoints") {
            match value {
                // Go decodes into the map it already has, so repeated members merge and null resets.
                Json::Null => endpoints.clear(),
                Json::Object(entries) => {
                    for (name, endpoint) in entries {
                        match endpoints.iter_mut().find(|(n, _)| *n == name) {
                            Some(slot) => slot.1 = endpoint,
                            None => endpoints.push((name, endpoint)),
                        }
                    }
                }
                other => return Err(format!("{key:?} must be an object, found {}", other.kind())),
            }
        }
    }
    let mut docker = None;
    for (name, endpoint) in endpoints {
        let fields = match endpoint {
            Json::Object(fields) => fields,
            Json::Null => continue,
            other => {
                return Err(format!(
                    "endpoint {name:?} must be an object, found {}",
                    other.kind()
                ));
            }
        };
        if name != "docker" {
            continue;
        }
        let mut meta = DockerEndpointMeta::default();
        for (key, value) in fields {
            if go_field_eq(&key, "Host") {
                match value {
                    Json::String(host) => meta.host = host,
                    Json::Null => {}
                    other => {
                        return Err(format!("{key:?} must be a string, found {}", other.kind()));
                    }
                }
            } else if go_field_eq(&key, "SkipTLSVerify") {
                match value {
                    Json::Bool(skip) => meta.skip_tls_verify = skip,
                    Json::Null => {}
                    other => {
                        return Err(format!("{key:?} must be a boolean, found {}", other.kind()));
                    }
                }
            }
        }
        docker = Some(meta);
    }
    Ok(docker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use tempfile::TempDir;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn unix(p: &str) -> Endpoint {
        Endpoint::Unix(PathBuf::from(p))
    }

    fn tcp(host: &str, port: u16, tls: Option<TlsSettings>) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
            tls,
        }
    }

    fn tls(
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        verify: bool,
    ) -> TlsSettings {
        TlsSettings {
            ca,
            cert,
            key,
            verify,
        }
    }

    fn context_id(name: &str) -> String {
        hex::encode(Sha256::digest(name.as_bytes()))
    }

    /// Write a context's meta.json under `config` and return its path.
    fn write_context(config: &Path, name: &str, json: &str) -> PathBuf {
        let dir = config.join("contexts/meta").join(context_id(name));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("meta.json");
        fs::write(&path, json).unwrap();
        path
    }

    fn write_context_host(config: &Path, name: &str, host: &str, skip: bool) -> PathBuf {
        let json = serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
        });
        write_context(config, name, &json.to_string())
    }

    fn write_tls_files(config: &Path, name: &str, files: &[&str]) -> PathBuf {
        let dir = config
            .join("contexts/tls")
            .join(context_id(name))
            .join("docker");
        fs::create_dir_all(&dir).unwrap();
        for f in files {
            fs::write(dir.join(f), "pem").unwrap();
        }
        dir
    }

    fn touch(dir: &Path, files: &[&str]) {
        fs::create_dir_all(dir).unwrap();
        for f in files {
            fs::write(dir.join(f), "pem").unwrap();
        }
    }

    fn flags_with_config(dir: &Path) -> GlobalFlags {
        GlobalFlags {
            config: Some(dir.to_path_buf()),
            ..Default::default()
        }
    }

    fn host_flag(h: &str) -> GlobalFlags {
        GlobalFlags {
            host: Some(h.into()),
            ..Default::default()
        }
    }

    // --- config dir ---

    #[test]
    fn config_dir_prefers_the_flag() {
        let flags = GlobalFlags {
            config: Some("/flag".into()),
            ..Default::default()
        };
        let e = env(&[("DOCKER_CONFIG", "/env"), ("HOME", "/home/u")]);
        assert_eq!(config_dir(&flags, &e), PathBuf::from("/flag"));
    }

    #[test]
    fn config_dir_uses_docker_config_then_home() {
        let e = env(&[("DOCKER_CONFIG", "/env"), ("HOME", "/home/u")]);
        assert_eq!(
            config_dir(&GlobalFlags::default(), &e),
            PathBuf::from("/env")
        );
        let e = env(&[("DOCKER_CONFIG", ""), ("HOME", "/home/u")]);
        assert_eq!(
            config_dir(&GlobalFlags::default(), &e),
            PathBuf::from("/home/u/.docker")
        );
        let empty_flag = GlobalFlags {
            config: Some(PathBuf::new()),
            ..Default::default()
        };
        assert_eq!(
            config_dir(&empty_flag, &e),
            PathBuf::from("/home/u/.docker")
        );
    }

    #[test]
    fn config_dir_without_home_is_relative_like_go() {
        assert_eq!(
            config_dir(&GlobalFlags::default(), &env(&[])),
            PathBuf::from(".docker")
        );
    }

    // --- context name precedence ---

    #[test]
    fn nothing_set_means_default_socket() {
        let r = resolve(&GlobalFlags::default(), &env(&[]), None).unwrap();
        assert_eq!(
            r,
            Resolved {
                context: "default".into(),
                endpoint: unix("/var/run/docker.sock"),
                source: "default socket"
            }
        );
    }

    #[test]
    fn host_flag_beats_docker_host() {
        let e = env(&[("DOCKER_HOST", "tcp://env:1")]);
        let r = resolve(&host_flag("unix:///flag.sock"), &e, None).unwrap();
        assert_eq!(r.endpoint, unix("/flag.sock"));
        assert_eq!((r.context.as_str(), r.source), ("default", "--host"));
    }

    #[test]
    fn docker_host_env_is_used() {
        let e = env(&[("DOCKER_HOST", "tcp://10.0.0.1:2375")]);
        let r = resolve(&GlobalFlags::default(), &e, None).unwrap();
        assert_eq!(r.endpoint, tcp("10.0.0.1", 2375, None));
        assert_eq!(r.source, "DOCKER_HOST");
    }

    #[test]
    fn host_and_context_conflict() {
        let flags = GlobalFlags {
            host: Some("tcp://h:1".into()),
            context: Some("prod".into()),
            ..Default::default()
        };
        let err = resolve(&flags, &env(&[]), None).unwrap_err();
        assert!(matches!(err, EndpointError::ConflictingOptions));
        assert_eq!(
            err.to_string(),
            "conflicting options: cannot specify both --host and --context"
        );
        // An empty --host still counts as given, as in docker.
        let flags = GlobalFlags {
            host: Some(String::new()),
            context: Some("prod".into()),
            ..Default::default()
        };
        assert!(matches!(
            resolve(&flags, &env(&[]), None),
            Err(EndpointError::ConflictingOptions)
        ));
    }

    #[test]
    fn context_flag_beats_docker_host_and_docker_context() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "prod", "tcp://prod:2375", false);
        let flags = GlobalFlags {
            context: Some("prod".into()),
            ..flags_with_config(dir.path())
        };
        let e = env(&[("DOCKER_HOST", "tcp://env:1"), ("DOCKER_CONTEXT", "other")]);
        let r = resolve(&flags, &e, Some("current")).unwrap();
        assert_eq!(
            r,
            Resolved {
                context: "prod".into(),
                endpoint: tcp("prod", 2375, None),
                source: "--context"
            }
        );
    }

    #[test]
    fn host_flag_forces_default_over_docker_context() {
        let e = env(&[("DOCKER_CONTEXT", "missing")]);
        let r = resolve(&host_flag("h:1"), &e, Some("missing-too")).unwrap();
        assert_eq!(
            (r.context.as_str(), r.endpoint),
            ("default", tcp("h", 1, None))
        );
    }

    #[test]
    fn docker_host_beats_docker_context_and_current_context() {
        let e = env(&[
            ("DOCKER_HOST", "unix:///env.sock"),
            ("DOCKER_CONTEXT", "missing"),
        ]);
        let r = resolve(&GlobalFlags::default(), &e, Some("missing-too")).unwrap();
        assert_eq!(
            (r.context.as_str(), r.endpoint),
            ("default", unix("/env.sock"))
        );
    }

    #[test]
    fn docker_context_beats_current_context() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "envctx", "tcp://envctx:2375", false);
        let e = env(&[("DOCKER_CONTEXT", "envctx")]);
        let r = resolve(&flags_with_config(dir.path()), &e, Some("cfgctx")).unwrap();
        assert_eq!((r.context.as_str(), r.source), ("envctx", "DOCKER_CONTEXT"));
        assert_eq!(r.endpoint, tcp("envctx", 2375, None));
    }

    #[test]
    fn current_context_is_the_last_resort() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "cfgctx", "unix:///cfg.sock", false);
        let r = resolve(&flags_with_config(dir.path()), &env(&[]), Some("cfgctx")).unwrap();
        assert_eq!((r.context.as_str(), r.source), ("cfgctx", "currentContext"));
        assert_eq!(r.endpoint, unix("/cfg.sock"));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "cfgctx", "unix:///cfg.sock", false);
        let flags = GlobalFlags {
            context: Some(String::new()),
            ..flags_with_config(dir.path())
        };
        let e = env(&[("DOCKER_HOST", ""), ("DOCKER_CONTEXT", "")]);
        assert_eq!(
            resolve(&flags, &e, Some("cfgctx")).unwrap().context,
            "cfgctx"
        );
        let r = resolve(&flags, &e, Some("")).unwrap();
        assert_eq!(
            (r.context.as_str(), r.endpoint),
            ("default", unix("/var/run/docker.sock"))
        );
    }

    #[test]
    fn default_context_is_never_read_from_disk() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "default", "tcp://disk:2375", false);
        let flags = GlobalFlags {
            context: Some("default".into()),
            ..flags_with_config(dir.path())
        };
        let r = resolve(&flags, &env(&[("DOCKER_HOST", "tcp://env:7")]), None).unwrap();
        assert_eq!(r.endpoint, tcp("env", 7, None));
        let r = resolve(&flags_with_config(dir.path()), &env(&[]), Some("default")).unwrap();
        assert_eq!(r.endpoint, unix("/var/run/docker.sock"));
    }

    // --- TLS for the default context ---

    #[test]
    fn tls_flag_encrypts_without_verifying() {
        let flags = GlobalFlags {
            tls: true,
            ..host_flag("tcp://h:2376")
        };
        let r = resolve(&flags, &env(&[("HOME", "/nonexistent")]), None).unwrap();
        assert_eq!(
            r.endpoint,
            tcp("h", 2376, Some(tls(None, None, None, false)))
        );
    }

    #[test]
    fn tlsverify_flag_verifies() {
        let flags = GlobalFlags {
            tlsverify: true,
            ..host_flag("tcp://h:2376")
        };
        let r = resolve(&flags, &env(&[("HOME", "/nonexistent")]), None).unwrap();
        assert_eq!(
            r.endpoint,
            tcp("h", 2376, Some(tls(None, None, None, true)))
        );
    }

    #[test]
    fn docker_tls_verify_zero_still_means_verify() {
        let e = env(&[
            ("DOCKER_HOST", "tcp://h:2376"),
            ("DOCKER_TLS_VERIFY", "0"),
            ("HOME", "/nonexistent"),
        ]);
        let r = resolve(&GlobalFlags::default(), &e, None).unwrap();
        assert_eq!(
            r.endpoint,
            tcp("h", 2376, Some(tls(None, None, None, true)))
        );
    }

    #[test]
    fn docker_tls_env_encrypts_without_verifying() {
        let e = env(&[
            ("DOCKER_HOST", "tcp://h:2376"),
            ("DOCKER_TLS", "1"),
            ("HOME", "/nonexistent"),
        ]);
        let r = resolve(&GlobalFlags::default(), &e, None).unwrap();
        assert_eq!(
            r.endpoint,
            tcp("h", 2376, Some(tls(None, None, None, false)))
        );
        let e = env(&[
            ("DOCKER_HOST", "tcp://h:2376"),
            ("DOCKER_TLS", ""),
            ("DOCKER_TLS_VERIFY", ""),
        ]);
        assert_eq!(
            resolve(&GlobalFlags::default(), &e, None).unwrap().endpoint,
            tcp("h", 2376, None)
        );
    }

    #[test]
    fn tls_off_ignores_certificate_flags() {
        let flags = GlobalFlags {
            tlscacert: Some("/ca.pem".into()),
            tlscert: Some("/c.pem".into()),
            tlskey: Some("/k.pem".into()),
            ..host_flag("tcp://h:2375")
        };
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("h", 2375, None)
        );
    }

    #[test]
    fn tls_without_a_host_uses_localhost_2376() {
        let flags = GlobalFlags {
            tlsverify: true,
            ..Default::default()
        };
        let r = resolve(&flags, &env(&[("HOME", "/nonexistent")]), None).unwrap();
        assert_eq!(
            r.endpoint,
            tcp("localhost", 2376, Some(tls(None, None, None, true)))
        );
        assert_eq!(r.source, "default tls host");
    }

    #[test]
    fn tls_never_applies_to_unix_sockets() {
        let flags = GlobalFlags {
            tlsverify: true,
            tlscacert: Some("/ca.pem".into()),
            ..host_flag("unix:///d.sock")
        };
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            unix("/d.sock")
        );
        assert_eq!(
            parse_host("unix:///d.sock", Some(tls(None, None, None, true))).unwrap(),
            unix("/d.sock")
        );
    }

    #[test]
    fn cert_path_env_supplies_default_files() {
        let dir = TempDir::new().unwrap();
        let certs = dir.path().join("certs");
        touch(&certs, &["ca.pem", "cert.pem", "key.pem"]);
        let e = env(&[
            ("DOCKER_CERT_PATH", certs.to_str().unwrap()),
            ("DOCKER_TLS_VERIFY", "1"),
        ]);
        let r = resolve(&host_flag("tcp://h:2376"), &e, None).unwrap();
        let want = tls(
            Some(certs.join("ca.pem")),
            Some(certs.join("cert.pem")),
            Some(certs.join("key.pem")),
            true,
        );
        assert_eq!(r.endpoint, tcp("h", 2376, Some(want)));
    }

    #[test]
    fn cert_dir_follows_docker_config_not_the_config_flag() {
        let dir = TempDir::new().unwrap();
        let env_dir = dir.path().join("envcfg");
        let flag_dir = dir.path().join("flagcfg");
        touch(&env_dir, &["ca.pem"]);
        touch(&flag_dir, &["ca.pem", "cert.pem", "key.pem"]);
        let flags = GlobalFlags {
            config: Some(flag_dir),
            tls: true,
            ..host_flag("tcp://h:2376")
        };
        let e = env(&[("DOCKER_CONFIG", env_dir.to_str().unwrap())]);
        let r = resolve(&flags, &e, None).unwrap();
        assert_eq!(
            r.endpoint,
            tcp(
                "h",
                2376,
                Some(tls(Some(env_dir.join("ca.pem")), None, None, false))
            )
        );
    }

    #[test]
    fn cert_dir_falls_back_to_home_docker() {
        let dir = TempDir::new().unwrap();
        let docker_dir = dir.path().join(".docker");
        touch(&docker_dir, &["ca.pem", "cert.pem", "key.pem"]);
        let flags = GlobalFlags {
            tlsverify: true,
            ..host_flag("h:2376")
        };
        let r = resolve(
            &flags,
            &env(&[("HOME", dir.path().to_str().unwrap())]),
            None,
        )
        .unwrap();
        let want = tls(
            Some(docker_dir.join("ca.pem")),
            Some(docker_dir.join("cert.pem")),
            Some(docker_dir.join("key.pem")),
            true,
        );
        assert_eq!(r.endpoint, tcp("h", 2376, Some(want)));
    }

    #[test]
    fn lone_default_cert_or_key_is_dropped() {
        let dir = TempDir::new().unwrap();
        touch(dir.path(), &["cert.pem"]);
        let flags = GlobalFlags {
            tls: true,
            ..host_flag("h:2376")
        };
        let e = env(&[("DOCKER_CERT_PATH", dir.path().to_str().unwrap())]);
        assert_eq!(
            resolve(&flags, &e, None).unwrap().endpoint,
            tcp("h", 2376, Some(tls(None, None, None, false)))
        );
    }

    #[test]
    fn flag_certificate_paths_are_kept_even_when_missing() {
        let dir = TempDir::new().unwrap();
        touch(dir.path(), &["ca.pem", "cert.pem", "key.pem"]);
        let flags = GlobalFlags {
            tlsverify: true,
            tlscacert: Some("/missing/ca.pem".into()),
            tlscert: Some("/missing/cert.pem".into()),
            tlskey: Some(PathBuf::new()),
            ..host_flag("h:2376")
        };
        let e = env(&[("DOCKER_CERT_PATH", dir.path().to_str().unwrap())]);
        let want = tls(
            Some("/missing/ca.pem".into()),
            Some("/missing/cert.pem".into()),
            None,
            true,
        );
        assert_eq!(
            resolve(&flags, &e, None).unwrap().endpoint,
            tcp("h", 2376, Some(want))
        );
    }

    // --- named contexts ---

    #[test]
    fn named_context_with_capitalised_keys() {
        let dir = TempDir::new().unwrap();
        write_context(
            dir.path(),
            "prod",
            r#"{"Name":"prod","Metadata":{"Description":"p"},"Endpoints":{"docker":{"Host":"tcp://prod.example:2375","SkipTLSVerify":false}}}"#,
        );
        let flags = GlobalFlags {
            context: Some("prod".into()),
            ..flags_with_config(dir.path())
        };
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("prod.example", 2375, None)
        );
    }

    #[test]
    fn named_context_with_lowercase_and_odd_case_keys() {
        let dir = TempDir::new().unwrap();
        write_context(
            dir.path(),
            "prod",
            r#"{"name":"prod","metadata":null,"endpoints":{"docker":{"host":"unix:///lower.sock","skiptlsverify":true}}}"#,
        );
        let flags = GlobalFlags {
            context: Some("prod".into()),
            ..flags_with_config(dir.path())
        };
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            unix("/lower.sock")
        );
        // Go folds the long s (U+017F) and the Kelvin sign (U+212A) onto ASCII letters.
        write_context(
            dir.path(),
            "prod",
            "{\"ENDPOINTS\":{\"docker\":{\"HO\u{17F}T\":\"tcp://fold:1\",\"\u{17F}\u{212A}IPTLSVERIFY\":true}}}",
        );
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("fold", 1, Some(tls(None, None, None, false)))
        );
    }

    #[test]
    fn meta_json_follows_go_decoding_rules() {
        let ok = |s: &str| parse_meta(s).unwrap();
        let meta = |host: &str, skip: bool| {
            Some(DockerEndpointMeta {
                host: host.into(),
                skip_tls_verify: skip,
            })
        };
        // The last of several case-variant keys wins, in document order.
        assert_eq!(
            ok(r#"{"Endpoints":{"docker":{"Host":"a","host":"b"}}}"#),
            meta("b", false)
        );
        assert_eq!(
            ok(r#"{"Endpoints":{"docker":{"host":"b","Host":"a"}}}"#),
            meta("a", false)
        );
        // Endpoint names are map keys: exact match only.
        assert_eq!(ok(r#"{"Endpoints":{"Docker":{"Host":"a"}}}"#), None);
        // Repeated Endpoints members merge; null resets; null fields keep their value.
        assert_eq!(
            ok(r#"{"Endpoints":{"docker":{"Host":"a"}},"endpoints":{"k8s":{}}}"#),
            meta("a", false)
        );
        assert_eq!(
            ok(r#"{"Endpoints":{"docker":{"Host":"a"}},"endpoints":null}"#),
            None
        );
        assert_eq!(
            ok(r#"{"Endpoints":{"docker":{"Host":"a","Host":null,"SkipTLSVerify":null}}}"#),
            meta("a", false)
        );
        assert_eq!(ok("null"), None);
        assert_eq!(ok(r#"{"Endpoints":{"docker":null}}"#), None);
        // Wrong types fail the file, as Go's decoder does.
        for bad in [
            "[]",
            r#"{"Name":1}"#,
            r#"{"Metadata":[]}"#,
            r#"{"Endpoints":[]}"#,
            r#"{"Endpoints":{"other":"x"}}"#,
            r#"{"Endpoints":{"docker":{"Host":5}}}"#,
            r#"{"Endpoints":{"docker":{"SkipTLSVerify":"true"}}}"#,
            r#"{"Endpoints":{}} trailing"#,
        ] {
            assert!(parse_meta(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn named_context_with_tls_files() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "secure", "tcp://s:2376", false);
        let tls_dir = write_tls_files(dir.path(), "secure", &["ca.pem", "cert.pem", "key.pem"]);
        let flags = GlobalFlags {
            context: Some("secure".into()),
            ..flags_with_config(dir.path())
        };
        let want = tls(
            Some(tls_dir.join("ca.pem")),
            Some(tls_dir.join("cert.pem")),
            Some(tls_dir.join("key.pem")),
            true,
        );
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("s", 2376, Some(want))
        );

        write_context_host(dir.path(), "secure", "tcp://s:2376", true);
        let r = resolve(&flags, &env(&[]), None).unwrap();
        assert!(matches!(
            r.endpoint,
            Endpoint::Tcp {
                tls: Some(TlsSettings { verify: false, .. }),
                ..
            }
        ));
    }

    #[test]
    fn named_context_partial_tls_bundle() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "p", "tcp://s", false);
        let tls_dir = write_tls_files(dir.path(), "p", &["ca.pem", "cert.pem"]);
        let flags = GlobalFlags {
            context: Some("p".into()),
            ..flags_with_config(dir.path())
        };
        let want = tls(Some(tls_dir.join("ca.pem")), None, None, true);
        // TLS on without a port: 2376.
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("s", 2376, Some(want))
        );
    }

    #[test]
    fn named_context_tls_depends_on_files_and_skip_flag() {
        let dir = TempDir::new().unwrap();
        let flags = GlobalFlags {
            context: Some("c".into()),
            ..flags_with_config(dir.path())
        };
        write_context_host(dir.path(), "c", "tcp://s:2375", false);
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("s", 2375, None)
        );
        write_context_host(dir.path(), "c", "tcp://s:2376", true);
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("s", 2376, Some(tls(None, None, None, false)))
        );
        write_context_host(dir.path(), "c", "https://s", false);
        assert_eq!(
            resolve(&flags, &env(&[]), None).unwrap().endpoint,
            tcp("s", 2376, Some(tls(None, None, None, true)))
        );
    }

    #[test]
    fn named_context_ignores_default_tls_settings_and_unix_drops_tls() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "u", "unix:///u.sock", false);
        write_tls_files(dir.path(), "u", &["ca.pem"]);
        let flags = GlobalFlags {
            context: Some("u".into()),
            tlsverify: true,
            ..flags_with_config(dir.path())
        };
        assert_eq!(
            resolve(&flags, &env(&[("DOCKER_TLS_VERIFY", "1")]), None)
                .unwrap()
                .endpoint,
            unix("/u.sock")
        );
    }

    #[test]
    fn named_context_without_host_uses_the_builtin_socket() {
        let dir = TempDir::new().unwrap();
        write_context(dir.path(), "empty", r#"{"Endpoints":{"docker":{}}}"#);
        let flags = GlobalFlags {
            context: Some("empty".into()),
            ..flags_with_config(dir.path())
        };
        let r = resolve(&flags, &env(&[("DOCKER_HOST", "tcp://ignored:1")]), None);
        assert_eq!(r.unwrap().endpoint, unix("/var/run/docker.sock"));
        write_context(
            dir.path(),
            "empty",
            r#"{"Endpoints":{"docker":{"Host":"  "}}}"#,
        );
        assert!(matches!(
            resolve(&flags, &env(&[]), None),
            Err(EndpointError::InvalidHost { .. })
        ));
    }

    #[test]
    fn contexts_live_under_docker_config_without_the_flag() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "e", "tcp://e:1", false);
        let e = env(&[
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
            ("DOCKER_CONTEXT", "e"),
        ]);
        assert_eq!(
            resolve(&GlobalFlags::default(), &e, None).unwrap().endpoint,
            tcp("e", 1, None)
        );
    }

    #[test]
    fn missing_context_is_not_found() {
        let dir = TempDir::new().unwrap();
        let flags = GlobalFlags {
            context: Some("prod".into()),
            ..flags_with_config(dir.path())
        };
        let err = resolve(&flags, &env(&[]), None).unwrap_err();
        assert!(matches!(&err, EndpointError::ContextNotFound { name } if name == "prod"));
        assert!(
            err.to_string()
                .starts_with("context \"prod\" not found: run docker context ls"),
            "{err}"
        );
    }

    #[test]
    fn malformed_meta_json_names_the_file() {
        let dir = TempDir::new().unwrap();
        let path = write_context(dir.path(), "bad", "{not json");
        let flags = GlobalFlags {
            context: Some("bad".into()),
            ..flags_with_config(dir.path())
        };
        let err = resolve(&flags, &env(&[]), None).unwrap_err();
        assert!(matches!(&err, EndpointError::MalformedContext { path: p, .. } if *p == path));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{path:?}")) && msg.starts_with("context \"bad\": malformed"),
            "{msg}"
        );
    }

    #[test]
    fn context_without_docker_endpoint() {
        let dir = TempDir::new().unwrap();
        write_context(
            dir.path(),
            "k",
            r#"{"Name":"k","Endpoints":{"kubernetes":{}}}"#,
        );
        let flags = GlobalFlags {
            context: Some("k".into()),
            ..flags_with_config(dir.path())
        };
        let err = resolve(&flags, &env(&[]), None).unwrap_err();
        assert!(
            matches!(err, EndpointError::NoDockerEndpoint { .. }),
            "{err}"
        );
    }

    #[test]
    fn unreadable_meta_is_reported() {
        let dir = TempDir::new().unwrap();
        let meta_dir = dir
            .path()
            .join("contexts/meta")
            .join(context_id("d"))
            .join("meta.json");
        fs::create_dir_all(&meta_dir).unwrap(); // a directory where the file should be
        let flags = GlobalFlags {
            context: Some("d".into()),
            ..flags_with_config(dir.path())
        };
        let err = resolve(&flags, &env(&[]), None).unwrap_err();
        assert!(
            matches!(err, EndpointError::ContextUnreadable { .. }),
            "{err}"
        );
    }

    #[test]
    fn ssh_context_is_unsupported() {
        let dir = TempDir::new().unwrap();
        write_context_host(dir.path(), "prod", "ssh://me@h", false);
        let flags = GlobalFlags {
            context: Some("prod".into()),
            ..flags_with_config(dir.path())
        };
        let err = resolve(&flags, &env(&[]), None).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EndpointError::Unsupported { .. }));
        assert!(
            msg.starts_with(
                "context \"prod\": unsupported endpoint \"ssh://me@h\": docker-pushx supports unix:// and tcp:// daemons"
            ),
            "{msg}"
        );
        assert!(msg.contains("ssh:// is not supported yet"), "{msg}");
    }

    #[test]
    fn ssh_docker_host_is_unsupported_and_names_its_origin() {
        let err = resolve(
            &GlobalFlags::default(),
            &env(&[("DOCKER_HOST", "ssh://me@h")]),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("DOCKER_HOST: unsupported endpoint \"ssh://me@h\""),
            "{err}"
        );
        let err = resolve(&host_flag("foo://x"), &env(&[]), None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--host: invalid daemon host \"foo://x\": "),
            "{err}"
        );
    }

    // --- parse_host ---

    #[test]
    fn parse_host_empty() {
        assert_eq!(parse_host("", None).unwrap(), unix("/var/run/docker.sock"));
        assert_eq!(
            parse_host("  \t", None).unwrap(),
            unix("/var/run/docker.sock")
        );
        let t = tls(None, None, None, true);
        assert_eq!(
            parse_host("", Some(t.clone())).unwrap(),
            tcp("localhost", 2376, Some(t))
        );
    }

    #[test]
    fn parse_host_bare_host_port() {
        assert_eq!(
            parse_host("example.com:1234", None).unwrap(),
            tcp("example.com", 1234, None)
        );
        assert_eq!(
            parse_host(" 10.1.2.3:2375 ", None).unwrap(),
            tcp("10.1.2.3", 2375, None)
        );
        assert_eq!(
            parse_host("example.com", None).unwrap(),
            tcp("example.com", 2375, None)
        );
        assert_eq!(
            parse_host(":4000", None).unwrap(),
            tcp("localhost", 4000, None)
        );
        assert_eq!(parse_host("h:", None).unwrap(), tcp("h", 2375, None));
    }

    #[test]
    fn parse_host_tcp_without_port() {
        assert_eq!(parse_host("tcp://h", None).unwrap(), tcp("h", 2375, None));
        let t = tls(None, None, None, false);
        assert_eq!(
            parse_host("tcp://h", Some(t.clone())).unwrap(),
            tcp("h", 2376, Some(t))
        );
        assert_eq!(
            parse_host("tcp://", None).unwrap(),
            tcp("localhost", 2375, None)
        );
        assert_eq!(
            parse_host("tcp://tcp://h:9", None).unwrap(),
            tcp("h", 9, None)
        );
    }

    #[test]
    fn parse_host_ipv6() {
        assert_eq!(
            parse_host("[::1]:2375", None).unwrap(),
            tcp("::1", 2375, None)
        );
        assert_eq!(
            parse_host("tcp://[fe80::1%25eth0]:5", None).unwrap(),
            tcp("fe80::1%eth0", 5, None)
        );
        assert_eq!(
            parse_host("tcp://[::1]:", None).unwrap(),
            tcp("::1", 2375, None)
        );
        // docker joins an unbracketed address with the default port.
        assert_eq!(
            parse_host("tcp://::1", None).unwrap(),
            tcp("::1", 2375, None)
        );
        assert_eq!(
            parse_host("tcp://h:1:2", None).unwrap(),
            tcp("h:1:2", 2375, None)
        );
        // Go's SplitHostPort cannot take "[::1]" without a port, so docker refuses it.
        assert!(parse_host("tcp://[::1]", None).is_err());
        assert!(parse_host("tcp://[1.2.3.4]:2375", None).is_err());
        assert!(parse_host("tcp://[zz]:2375", None).is_err());
    }

    #[test]
    fn parse_host_unix_paths() {
        assert_eq!(
            parse_host("unix:///run/user/1000/docker.sock", None).unwrap(),
            unix("/run/user/1000/docker.sock")
        );
        assert_eq!(
            parse_host("unix://", None).unwrap(),
            unix("/var/run/docker.sock")
        );
        assert_eq!(
            parse_host("unix://relative.sock", None).unwrap(),
            unix("relative.sock")
        );
        assert!(parse_host("unix://a://b", None).is_err());
    }

    #[test]
    fn parse_host_http_and_https() {
        assert_eq!(parse_host("http://h:80", None).unwrap(), tcp("h", 80, None));
        assert_eq!(
            parse_host("https://h:443", None).unwrap(),
            tcp("h", 443, Some(tls(None, None, None, true)))
        );
        let given = tls(Some("/ca".into()), None, None, false);
        assert_eq!(
            parse_host("https://h", Some(given.clone())).unwrap(),
            tcp("h", 2376, Some(given))
        );
    }

    #[test]
    fn parse_host_ignores_user_info_query_and_fragment_like_go() {
        assert_eq!(
            parse_host("tcp://user:pw@h:1?x=y#frag", None).unwrap(),
            tcp("h", 1, None)
        );
        assert_eq!(parse_host("tcp://h:1/", None).unwrap(), tcp("h", 1, None));
    }

    #[test]
    fn parse_host_unsupported_schemes() {
        for (host, scheme) in [
            ("ssh://me@h", "ssh"),
            ("npipe:////./pipe/docker_engine", "npipe"),
            ("fd://", "fd"),
        ] {
            match parse_host(host, None) {
                Err(EndpointError::Unsupported {
                    scheme: s,
                    host: h,
                    origin: None,
                }) => {
                    assert_eq!((s.as_str(), h.as_str()), (scheme, host));
                }
                other => panic!("{host}: {other:?}"),
            }
        }
    }

    #[test]
    fn parse_host_rejects_garbage() {
        for bad in [
            "foo://x",
            "://x",
            "TCP://h:1",
            "tcp://h:abc",
            "tcp://a b:1",
            "tcp://h:70000",
            "tcp://h:0",
            "tcp://h:99999999999999999999999",
            "tcp://[::1",
            "tcp://h:1/api",
            "tcp://h%41:1",
            "tcp://h:1%zz",
            "tcp://a\u{7f}b",
            "tcp://h:1#%",
            "tcp://u\u{e9}@h:1",
        ] {
            match parse_host(bad, None) {
                Err(EndpointError::InvalidHost { host, .. }) => assert_eq!(host, bad.trim()),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let msg = parse_host("foo://x", None).unwrap_err().to_string();
        assert!(
            msg.starts_with("invalid daemon host \"foo://x\": unknown scheme \"foo\""),
            "{msg}"
        );
    }

    #[test]
    fn split_and_join_host_port_match_go() {
        assert_eq!(split_host_port("h:1"), Ok(("h".into(), "1".into())));
        assert_eq!(split_host_port("[::1]:2"), Ok(("::1".into(), "2".into())));
        assert_eq!(split_host_port(":"), Ok((String::new(), String::new())));
        assert!(split_host_port("h").is_err());
        assert!(split_host_port("[::1]").is_err());
        assert!(split_host_port("[a]b:1").is_err());
        assert!(split_host_port("a]:1").is_err());
        assert_eq!(join_host_port("::1", "2"), "[::1]:2");
    }

    #[test]
    fn error_messages_are_single_lines() {
        let errors = [
            EndpointError::ConflictingOptions,
            EndpointError::ContextNotFound {
                name: "a\nb".into(),
            },
            EndpointError::MalformedContext {
                name: "x".into(),
                path: "/p\n".into(),
                reason: "bad\nworse".into(),
            },
            EndpointError::NoDockerEndpoint {
                name: "x".into(),
                path: "/p".into(),
            },
            EndpointError::ContextUnreadable {
                name: "x".into(),
                path: "/p".into(),
                error: std::io::Error::other("a\nb"),
            },
            parse_host("npipe://x", None).unwrap_err(),
            parse_host("fd://3", None).unwrap_err(),
            parse_host("tcp://h\n:1", None).unwrap_err(),
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg:?}");
            assert!(msg.starts_with(|c: char| !c.is_uppercase()), "{msg:?}");
        }
    }

    #[test]
    fn process_env_reads_unset_as_none() {
        assert_eq!(
            ProcessEnv.var("DOCKER_PUSHX_TEST_SURELY_UNSET_VARIABLE"),
            None
        );
    }

    /// No input may panic: run a deterministic stream of awkward strings through the parsers.
    #[test]
    fn parsers_never_panic() {
        let pieces = [
            "",
            ":",
            "::",
            "[",
            "]",
            "%",
            "%2",
            "%25",
            "%e9",
            "%41",
            "@",
            "/",
            "?",
            "#",
            "://",
            "tcp://",
            "unix://",
            "https://",
            "ssh://",
            "h",
            "1",
            "65535",
            "65536",
            "é",
            "\u{212A}",
            " ",
            "\t",
            "\0",
            "[::1]",
            "fe80::1",
            "{",
            "}",
            "\"",
            ",",
            "null",
            "true",
            "[]",
            "{}",
            "\"Endpoints\"",
            "\"docker\"",
            "\"Host\"",
            "\\u0000",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(state % 7) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                s.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let _ = parse_host(&s, None);
            let _ = parse_host(&s, Some(tls(None, None, None, true)));
            let _ = parse_meta(&s);
            let _ = parse_meta(&format!(
                "{{\"Endpoints\":{{\"docker\":{{\"Host\":{s}}}}}}}"
            ));
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        }
    }
}
