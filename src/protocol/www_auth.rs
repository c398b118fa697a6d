//! Registry authentication rules: the `WWW-Authenticate` challenge a registry answers 401 with,
//! the `repository:NAME:ACTIONS` scope strings of the token flow, the token server's answer, and
//! which hosts the daemon treats as insecure.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// What a registry asked for in its 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    /// distribution's token flow: get a token from `realm` for `service` and `scope`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse one `WWW-Authenticate` value. Unknown schemes give `None`. Parameters are
/// `key=value` or `key="quoted value"` (a quoted value may hold commas and `\"`).
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm").filter(|r| !r.is_empty())?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        out.insert(key, value);
    }
}

/// The scope for reading a repository.
pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The token server's answer: distribution's `token`, OAuth's `access_token`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl TokenResponse {
    pub(crate) fn parse(body: &[u8]) -> Option<String> {
        let r: TokenResponse = serde_json::from_slice(body).ok()?;
        r.token
            .filter(|t| !t.is_empty())
            .or(r.access_token.filter(|t| !t.is_empty()))
    }
}

/// `application/x-www-form-urlencoded` / query-string escaping.
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The daemon's insecure-registry rule (moby `registry/config.go`): an `IndexConfigs` entry for
/// the host decides; otherwise the host is insecure when one of its addresses is in an
/// insecure CIDR (127.0.0.0/8 is always there).
#[derive(Debug, Clone)]
pub(crate) struct InsecureRules {
    cidrs: Vec<(IpAddr, u8)>,
    /// `IndexConfigs` names (`host` or `host:port`) and whether each is secure.
    indexes: BTreeMap<String, bool>,
}

impl Default for InsecureRules {
    /// The daemon's defaults: loopback only.
    fn default() -> Self {
        InsecureRules::new(&["127.0.0.0/8".into(), "::1/128".into()], BTreeMap::new())
    }
}

impl InsecureRules {
    pub(crate) fn new(cidrs: &[String], indexes: BTreeMap<String, bool>) -> Self {
        let mut parsed: Vec<(IpAddr, u8)> = cidrs.iter().filter_map(|c| parse_cidr(c)).collect();
        // The daemon always adds loopback, whatever the configuration says.
        parsed.push(("127.0.0.0".parse().expect("literal"), 8));
        parsed.push(("::1".parse().expect("literal"), 128));
        InsecureRules {
            cidrs: parsed,
            indexes,
        }
    }

    /// The decision from `IndexConfigs` alone, when the host (with or without port) is named.
    pub(crate) fn by_name(&self, host_port: &str) -> Option<bool> {
        let host = split_host(host_port);
        self.indexes
            .get(host_port)
            .or_else(|| self.indexes.get(host))
            .map(|secure| !secure)
    }

    /// Whether an address of the host is in an insecure CIDR.
    pub(crate) fn by_address(&self, ip: IpAddr) -> bool {
        self.cidrs
            .iter()
            .any(|(net, bits)| in_cidr(ip, *net, *bits))
    }
}

/// The host part of `host[:port]` (`[v6]:port` too).
pub(crate) fn split_host(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    }
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="http://127.0.0.1:5001/token",service="reg",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:5001/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        let c = parse_challenge(r#"bearer realm=https://auth.example/token , service="a \"q\"""#);
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("a \"q\"".into()),
                scope: None,
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="pushx-test""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn challenge_parsing_never_panics() {
        let pieces = [
            "Bearer", " ", "realm", "=", "\"", ",", "\\", "é", "scope", "Basic",
        ];
        for s in crate::protocol::mixes(&pieces, 3000) {
            let _ = parse_challenge(&s);
        }
    }

    #[test]
    fn token_answers() {
        assert_eq!(
            TokenResponse::parse(br#"{"token":"t1","expires_in":60}"#).as_deref(),
            Some("t1")
        );
        assert_eq!(
            TokenResponse::parse(br#"{"access_token":"t2"}"#).as_deref(),
            Some("t2")
        );
        assert_eq!(
            TokenResponse::parse(br#"{"token":"","access_token":"t3"}"#).as_deref(),
            Some("t3")
        );
        assert_eq!(TokenResponse::parse(b"<html>"), None);
        assert_eq!(pull_scope("team/app"), "repository:team/app:pull");
        assert_eq!(
            form_encode(&[("scope", "repository:a/b:pull"), ("x", "a b&")]),
            "scope=repository%3Aa%2Fb%3Apull&x=a%20b%26"
        );
    }

    #[test]
    fn insecure_like_the_daemon() {
        let r = InsecureRules::new(
            &["10.1.0.0/16".into(), "bad".into()],
            [
                ("reg.example:5000".to_string(), false),
                ("secure.lan".to_string(), true),
            ]
            .into_iter()
            .collect(),
        );
        assert!(r.by_address("127.0.0.1".parse().unwrap()));
        assert!(r.by_address("127.9.9.9".parse().unwrap()));
        assert!(r.by_address("::1".parse().unwrap()));
        assert!(r.by_address("10.1.200.3".parse().unwrap()));
        assert!(!r.by_address("10.2.0.1".parse().unwrap()));
        assert!(!r.by_address("192.168.1.1".parse().unwrap()));
        assert_eq!(r.by_name("reg.example:5000"), Some(true));
        assert_eq!(r.by_name("secure.lan:443"), Some(false));
        assert_eq!(r.by_name("other:5000"), None);
        assert_eq!(split_host("[::1]:5000"), "::1");
        assert_eq!(split_host("localhost:5000"), "localhost");
        assert_eq!(split_host("localhost"), "localhost");
        assert!(InsecureRules::default().by_address("127.0.0.1".parse().unwrap()));
    }
}
