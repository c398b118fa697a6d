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
        Kind::Unreachable if m.contains("server gave http response") => Some(format!(
            "{registry} speaks plain HTTP: add it to the daemon's \"insecure-registries\" or give it TLS"
        )),
        Kind::Unreachable => Some(format!(
            "check that {registry} is up and reachable from the daemon"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
