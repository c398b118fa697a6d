//! Docker daemon addresses (`-H`, `DOCKER_HOST`, a context's `Host`) parsed as docker's
//! `opts.ParseHost` does, Go's `url.Parse` and `net.SplitHostPort` rules included.
//!
//! This lives in `protocol/`, not beside the resolver in `daemon/endpoint/`, because it is a pure
//! string-to-value rule: no files, no environment, no sockets. The resolver decides *which* host
//! string applies and reads contexts from disk; this only says what a host string means.

use std::fmt;
use std::net::Ipv6Addr;
use std::path::PathBuf;

/// The socket docker dials when no host is given (and a context's endpoint names none).
pub(crate) const DEFAULT_UNIX_SOCKET: &str = "/var/run/docker.sock";
const DEFAULT_HTTP_HOST: &str = "localhost";
const DEFAULT_HTTP_PORT: u16 = 2375;
const DEFAULT_TLS_HTTP_PORT: u16 = 2376;

/// A daemon address. `Tcp::host` is bare: an IPv6 address has no brackets (and may carry a
/// `%zone`), so callers add them when building an authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
        tls: Option<TlsSettings>,
    },
    /// `ssh://[user@]host[:port][/socket]`: the Engine API through `ssh … docker system
    /// dial-stdio`, as docker's connection helper does.
    Ssh(SshSpec),
}

/// An `ssh://` daemon address, as docker/cli's `connhelper/ssh.Spec` holds it. `host` is bare
/// (no brackets); `path` is the remote daemon socket, passed to the remote docker as `--host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub path: Option<String>,
}

/// Seconds ssh waits for the TCP connection: docker's `addSSHTimeout` default.
const SSH_CONNECT_TIMEOUT: &str = "ConnectTimeout=30";

impl SshSpec {
    /// The arguments after `ssh`: docker/cli's `-o ConnectTimeout=30 -T [-l USER] [-p PORT] --
    /// HOST docker [--host unix://PATH] system dial-stdio`, plus `-o BatchMode=yes`. docker
    /// starts ssh in a session of its own, with no terminal to prompt on; here ssh shares the
    /// terminal's session but not its foreground group, where a prompt would stop it: BatchMode
    /// turns every prompt (password, passphrase, unknown host key) into a failure instead. No
    /// secret is ever part of them: a password in the URL is refused at parse time.
    pub(crate) fn ssh_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["-o", SSH_CONNECT_TIMEOUT, "-T", "-o", "BatchMode=yes"]
            .map(String::from)
            .to_vec();
        if let Some(user) = &self.user {
            args.extend(["-l".into(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".into(), port.to_string()]);
        }
        args.extend(["--".into(), self.host.clone(), "docker".into()]);
        if let Some(path) = &self.path {
            args.extend(["--host".into(), format!("unix://{path}")]);
        }
        args.extend(["system".into(), "dial-stdio".into()]);
        args
    }

    /// How to try the same login by hand: `ssh [-p PORT] [USER@]HOST`.
    pub(crate) fn ssh_command(&self) -> String {
        let mut s = String::from("ssh ");
        if let Some(port) = self.port {
            s.push_str(&format!("-p {port} "));
        }
        if let Some(user) = &self.user {
            s.push_str(user);
            s.push('@');
        }
        s.push_str(&self.host);
        s
    }
}

impl fmt::Display for SshSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(path) = &self.path {
            f.write_str(path)?;
        }
        Ok(())
    }
}

/// TLS for a tcp daemon. Absent files mean: system roots for `ca`, no client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Check the daemon's certificate; false is docker's `--tls` without `--tlsverify`.
    pub verify: bool,
}

/// `TlsSettings` in one call, for the tests of this module and of the endpoint resolution.
#[cfg(test)]
pub(crate) fn test_tls(
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

/// A host string docker-pushx cannot use. Messages are one line; hosts go through Debug so that
/// control characters in them cannot break it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostError {
    /// A valid docker host that docker-pushx cannot dial (npipe://, fd://).
    Unsupported { host: String, scheme: String },
    /// A host docker itself would reject.
    Invalid { host: String, reason: String },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Unsupported { host, scheme } => {
                write!(
                    f,
                    "unsupported endpoint {host:?}: docker-pushx supports unix://, tcp:// and ssh:// daemons"
                )?;
                match scheme.as_str() {
                    "npipe" => f.write_str(" (npipe:// is for Docker on Windows)"),
                    "fd" => f.write_str(
                        " (fd:// is a daemon listen address, not one a client can dial)",
                    ),
                    _ => Ok(()),
                }
            }
            HostError::Invalid { host, reason } => write!(
                f,
                "invalid daemon host {host:?}: {}",
                reason.replace(['\n', '\r'], " ")
            ),
        }
    }
}

impl std::error::Error for HostError {}

/// Parse a host the way docker's `opts.ParseHost` does: `""` is the default socket
/// (`tcp://localhost:2376` when TLS is on), `unix:///p`, `tcp://h:p`, `h:p`, `tcp://h` (port
/// 2375, or 2376 when TLS is on), `[::1]:2375`; `http://` reads as tcp and `https://` as tcp
/// with TLS; `ssh://[user@]host[:port][/socket]` as docker's `connhelper/ssh.NewSpec`.
/// `npipe://` and `fd://` are [`HostError::Unsupported`]. TLS settings never apply to unix
/// sockets nor to ssh.
pub(crate) fn parse_host(s: &str, tls: Option<TlsSettings>) -> Result<Endpoint, HostError> {
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
    let invalid = |reason: String| HostError::Invalid {
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
        // The URL may hold a password (refused): the message shows it masked, as Go's
        // URL.Redacted does.
        "ssh" => parse_ssh(rest)
            .map(Endpoint::Ssh)
            .map_err(|reason| HostError::Invalid {
                host: redact_password(host, rest),
                reason,
            }),
        "npipe" | "fd" => Err(HostError::Unsupported {
            host: host.to_owned(),
            scheme: scheme.to_owned(),
        }),
        _ => Err(invalid(format!(
            "unknown scheme {scheme:?}: use unix:///path/to/docker.sock or tcp://host:port"
        ))),
    }
}

/// docker/cli's `ssh.NewSpec` on Go's `url.Parse`: user (never a password), a host that is not
/// empty, an optional port, an optional socket path; no query, no fragment. Two checks docker
/// leaves to ssh or to the remote shell are made here: the port must be a port, and the path
/// may hold only characters a remote shell takes literally (ssh hands the remote command to the
/// user's shell as one string, so a `;` in it would run a command there).
fn parse_ssh(rest: &str) -> Result<SshSpec, String> {
    if rest.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in address".into());
    }
    let (url, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    if !fragment.is_empty() {
        return Err(format!("fragments are not allowed: {fragment:?}"));
    }
    let (url, query) = url.split_once('?').unwrap_or((url, ""));
    if !query.is_empty() {
        return Err(format!("query parameters are not allowed: {query:?}"));
    }
    let (authority, path) = url.split_at(url.find('/').unwrap_or(url.len()));
    let (user, hostport) = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            if !valid_userinfo(userinfo) {
                return Err("invalid user info before '@'".into());
            }
            if userinfo.contains(':') {
                return Err(
                    "plain-text password is not supported: use a key (ssh-agent or IdentityFile)"
                        .into(),
                );
            }
            let user = utf8(unescape(userinfo, Escape::Other)?)?;
            (Some(user).filter(|u| !u.is_empty()), &authority[at + 1..])
        }
        None => (None, authority),
    };
    let hostport = go_parse_host(hostport)?;
    // Go's URL.Hostname and URL.Port: brackets dropped, the port only when it is digits.
    let (host, port) = match hostport.strip_prefix('[') {
        Some(rest) => {
            let close = rest.rfind(']').unwrap_or(rest.len());
            (
                &rest[..close],
                rest[close..].strip_prefix("]:").unwrap_or(""),
            )
        }
        None => hostport.rsplit_once(':').unwrap_or((&hostport, "")),
    };
    if host.is_empty() {
        return Err("hostname is empty: use ssh://[user@]host[:port]".into());
    }
    let port = if port.is_empty() {
        None
    } else {
        Some(parse_port(port)?)
    };
    let path = utf8(unescape(path, Escape::Other)?)?;
    let path = match path.as_str() {
        "" | "/" => None,
        p if p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+@%=,~".contains(&b)) =>
        {
            Some(path)
        }
        p => {
            return Err(format!(
                "the socket path {p:?} holds characters the remote shell would interpret: use a plain path"
            ));
        }
    };
    Ok(SshSpec {
        user,
        host: host.to_owned(),
        port,
        path,
    })
}

/// `host` with the password of `scheme://user:password@…` replaced by `xxxxx`.
fn redact_password(host: &str, rest: &str) -> String {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return host.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => {
            let scheme = &host[..host.len() - rest.len()];
            format!("{scheme}{user}:xxxxx{}", &rest[at..])
        }
        None => host.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    use super::test_tls as tls;

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
        for (host, scheme) in [("npipe:////./pipe/docker_engine", "npipe"), ("fd://", "fd")] {
            match parse_host(host, None) {
                Err(HostError::Unsupported { scheme: s, host: h }) => {
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
                Err(HostError::Invalid { host, .. }) => assert_eq!(host, bad.trim()),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let msg = parse_host("foo://x", None).unwrap_err().to_string();
        assert!(
            msg.starts_with("invalid daemon host \"foo://x\": unknown scheme \"foo\""),
            "{msg}"
        );
    }

    fn ssh(user: Option<&str>, host: &str, port: Option<u16>, path: Option<&str>) -> Endpoint {
        Endpoint::Ssh(SshSpec {
            user: user.map(String::from),
            host: host.into(),
            port,
            path: path.map(String::from),
        })
    }

    #[test]
    fn parse_host_ssh_like_docker_ssh_spec() {
        let t = Some(tls(None, None, None, true));
        for (s, want) in [
            ("ssh://h", ssh(None, "h", None, None)),
            ("ssh://me@h", ssh(Some("me"), "h", None, None)),
            ("ssh://me@h:2222", ssh(Some("me"), "h", Some(2222), None)),
            ("ssh://h:22/", ssh(None, "h", Some(22), None)),
            ("ssh://[::1]:22", ssh(None, "::1", Some(22), None)),
            ("ssh://[::1]", ssh(None, "::1", None, None)),
            ("ssh://m%40e@h", ssh(Some("m@e"), "h", None, None)),
            ("ssh://@h", ssh(None, "h", None, None)),
            ("ssh://h?", ssh(None, "h", None, None)),
            (
                "ssh://me@h/run/user/1000/docker.sock",
                ssh(Some("me"), "h", None, Some("/run/user/1000/docker.sock")),
            ),
        ] {
            assert_eq!(parse_host(s, None).unwrap(), want, "{s}");
            // TLS flags do not apply to ssh.
            assert_eq!(parse_host(s, t.clone()).unwrap(), want, "{s}");
        }
        for (bad, why) in [
            ("ssh://", "hostname is empty"),
            ("ssh://me@", "hostname is empty"),
            ("ssh://:22", "hostname is empty"),
            ("ssh://me:pw@h", "plain-text password is not supported"),
            ("ssh://h?x=1", "query parameters are not allowed"),
            ("ssh://h#f", "fragments are not allowed"),
            ("ssh://h:abc", "invalid port"),
            ("ssh://h:0", "out of range"),
            ("ssh://h:70000", "out of range"),
            ("ssh://h/tmp/x;rm", "remote shell"),
            ("ssh://h/a%20b", "remote shell"),
            ("ssh://h/$(id)", "remote shell"),
            ("ssh://a b", "invalid character"),
            ("ssh://h\u{1}x", "control character"),
        ] {
            match parse_host(bad, None) {
                Err(e @ HostError::Invalid { .. }) => {
                    assert!(e.to_string().contains(why), "{bad}: {e}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_ssh_password_never_reaches_the_message() {
        let msg = parse_host("ssh://me:s3cret@h:22/x", None)
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("s3cret"), "{msg}");
        assert!(msg.contains("\"ssh://me:xxxxx@h:22/x\""), "{msg}");
    }

    #[test]
    fn ssh_args_are_docker_clis_with_batch_mode() {
        let Endpoint::Ssh(spec) = parse_host("ssh://me@h:2222/run/d.sock", None).unwrap() else {
            panic!()
        };
        assert_eq!(
            spec.ssh_args().join(" "),
            "-o ConnectTimeout=30 -T -o BatchMode=yes -l me -p 2222 -- h docker --host unix:///run/d.sock system dial-stdio"
        );
        assert_eq!(spec.to_string(), "ssh://me@h:2222/run/d.sock");
        assert_eq!(spec.ssh_command(), "ssh -p 2222 me@h");
        let Endpoint::Ssh(spec) = parse_host("ssh://-oProxyCommand=x", None).unwrap() else {
            panic!()
        };
        // A host that looks like an option stays an operand: it comes after `--`.
        assert_eq!(
            spec.ssh_args().join(" "),
            "-o ConnectTimeout=30 -T -o BatchMode=yes -- -oProxyCommand=x docker system dial-stdio"
        );
        let Endpoint::Ssh(spec) = parse_host("ssh://[::1]", None).unwrap() else {
            panic!()
        };
        assert_eq!(spec.to_string(), "ssh://[::1]");
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
        for host in ["npipe://x", "fd://3", "tcp://h\n:1", "tcp://h:1\r/x"] {
            let msg = parse_host(host, None).unwrap_err().to_string();
            assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg:?}");
            assert!(msg.starts_with(|c: char| !c.is_uppercase()), "{msg:?}");
        }
        let msg = HostError::Invalid {
            host: "h".into(),
            reason: "bad\nworse".into(),
        }
        .to_string();
        assert_eq!(msg, "invalid daemon host \"h\": bad worse");
    }

    /// No input may panic: run a deterministic stream of awkward strings through the parser.
    #[test]
    fn parse_host_never_panics() {
        let pieces = [
            "", ":", "::", "[", "]", "%", "%2", "%25", "%e9", "%41", "@", "/", "?", "#", "://",
            "tcp://", "unix://", "https://", "ssh://", "h", "1", "65535", "65536", "é", "\u{212A}",
            " ", "\t", "\0", "[::1]", "fe80::1",
        ];
        for s in crate::protocol::mixes(&pieces, 20_000) {
            let _ = parse_host(&s, None);
            let _ = parse_host(&s, Some(tls(None, None, None, true)));
        }
    }
}
