//! Sorting the daemon's and registries' error texts into exit-code kinds.

use crate::error::Kind;

/// Decide what a failure message from the daemon means. The texts are Go error strings from
/// the engine and containerd (see protocols.md §4.7); there is no error code to go by.
pub(crate) fn classify(message: &str) -> Kind {
    let m = message.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if any(&[
        "does not exist locally",
        "tag does not exist",
        "no such image",
    ]) {
        Kind::NotFound
    } else if any(&[
        "unauthorized",
        "authentication required",
        "denied",
        "insufficient_scope",
        "no basic auth credentials",
        "incorrect username or password",
        "forbidden",
    ]) {
        Kind::Auth
    } else if any(&[
        "dial tcp",
        "connection refused",
        "connection reset",
        "no such host",
        "i/o timeout",
        "timeout",
        "server gave http response",
        "x509:",
        "tls:",
        "eof",
        "network is unreachable",
        "503 service unavailable",
        "502 bad gateway",
    ]) {
        Kind::Unreachable
    } else {
        Kind::Other
    }
}

/// Whether an unreachable registry will stay unreachable however often it is tried: the DNS
/// answered that its name does not exist (NXDOMAIN, which Go's resolver in the engine reports
/// as `lookup HOST on SERVER: no such host`). A resolver that fails to answer (`server
/// misbehaving`, `i/o timeout`, `temporary failure`) may answer next time, so that is not it.
pub(crate) fn is_permanent(message: &str) -> bool {
    message.to_ascii_lowercase().contains("no such host")
}

/// The fix to suggest for a failure of this kind while talking to `registry`.
pub(crate) fn hint(kind: Kind, message: &str, registry: &str) -> Option<String> {
    let m = message.to_ascii_lowercase();
    match kind {
        Kind::Auth => Some(format!(
            "log in with `docker pushx login {registry}` (or `docker login {registry}`) and check the account may push there"
        )),
        Kind::Unreachable if m.contains("x509:") || m.contains("certificate") => Some(format!(
            "the daemon does not trust {registry}'s certificate: put its CA in /etc/docker/certs.d/{registry}/ca.crt on the daemon's host"
        )),
        Kind::Unreachable if is_permanent(&m) => Some(format!(
            "the DNS knows no host named {}: check the spelling of the registry host",
            host_of(registry)
        )),
        Kind::Unreachable if m.contains("server gave http response") => Some(format!(
            "{registry} speaks plain HTTP: add it to the daemon's \"insecure-registries\" or give it TLS"
        )),
        Kind::Unreachable => Some(format!(
            "check that {registry} is up and reachable from the daemon"
        )),
        _ => None,
    }
}

/// `registry` without its port (`reg.example.com:5000` → `reg.example.com`).
fn host_of(registry: &str) -> &str {
    match registry.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => {
            host
        }
        _ => registry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Engine 20.10 sent for a push to a name under `.invalid` (RFC 6761: NXDOMAIN).
    const NXDOMAIN: &str = r#"Get "https://reg.pushx-test.invalid/v2/": dial tcp: lookup reg.pushx-test.invalid on 10.255.255.53:53: no such host"#;

    #[test]
    fn a_name_that_does_not_exist_is_unreachable_for_good() {
        assert_eq!(classify(NXDOMAIN), Kind::Unreachable);
        assert!(is_permanent(NXDOMAIN));
        assert!(!crate::protocol::retry::is_transient(
            Kind::Unreachable,
            NXDOMAIN
        ));
        let hint = hint(Kind::Unreachable, NXDOMAIN, "reg.pushx-test.invalid:5000").unwrap();
        assert!(hint.contains("check the spelling"), "{hint}");
        assert!(
            hint.contains("no host named reg.pushx-test.invalid:"),
            "{hint}"
        );
        // The resolver not answering is another matter: it may answer next time.
        for m in [
            r#"Get "https://reg.example.com/v2/": dial tcp: lookup reg.example.com on 10.0.0.53:53: server misbehaving"#,
            r#"Get "https://reg.example.com/v2/": dial tcp: lookup reg.example.com on 10.0.0.53:53: read udp 10.0.0.2:41234->10.0.0.53:53: i/o timeout"#,
            r#"Get "https://reg.example.com/v2/": dial tcp: lookup reg.example.com: Temporary failure in name resolution"#,
        ] {
            assert_eq!(classify(m), Kind::Unreachable, "{m}");
            assert!(!is_permanent(m), "{m}");
            assert!(
                crate::protocol::retry::is_transient(Kind::Unreachable, m),
                "{m}"
            );
        }
        assert_eq!(host_of("reg:5000"), "reg");
        assert_eq!(host_of("reg"), "reg");
        assert_eq!(host_of("[::1]:5000"), "[::1]");
    }

    #[test]
    fn known_messages() {
        for (m, k) in [
            ("unauthorized: authentication required", Kind::Auth),
            ("no basic auth credentials", Kind::Auth),
            (
                "denied: requested access to the resource is denied",
                Kind::Auth,
            ),
            (
                "push access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
                Kind::Auth,
            ),
            (
                "An image does not exist locally with the tag: 127.0.0.1:5000/x",
                Kind::NotFound,
            ),
            ("tag does not exist: x:1", Kind::NotFound),
            ("No such image: foo:1", Kind::NotFound),
            (
                r#"Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused"#,
                Kind::Unreachable,
            ),
            (
                "http: server gave HTTP response to HTTPS client",
                Kind::Unreachable,
            ),
            (
                "x509: certificate signed by unknown authority",
                Kind::Unreachable,
            ),
            ("manifest invalid", Kind::Other),
        ] {
            assert_eq!(classify(m), k, "{m}");
        }
        assert!(
            hint(
                Kind::Unreachable,
                "x509: certificate signed by unknown authority",
                "r:1"
            )
            .unwrap()
            .contains("certs.d/r:1")
        );
    }
}
