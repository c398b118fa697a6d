//! When a failed push is worth another attempt, and how long to wait first.

use crate::error::Kind;
use std::time::Duration;

/// Whether a failure may go away by itself: server errors, throttling, dropped connections,
/// timeouts and lost upload sessions. Authentication, unknown images, invalid references and
/// unsupported requests never do, so they are never retried; nor does a registry that holds
/// something other than what was pushed (its message quotes digests and names, whose text must
/// not be mistaken for a transient error).
pub(crate) fn is_transient(kind: Kind, message: &str) -> bool {
    if matches!(
        kind,
        Kind::Auth | Kind::NotFound | Kind::Usage | Kind::Interrupted | Kind::Verify
    ) || crate::protocol::classify::is_permanent(message)
    {
        return false;
    }
    let m = message.to_ascii_lowercase();
    if m.contains("unsupported") || m.contains("manifest invalid") || m.contains("name invalid") {
        return false;
    }
    const TRANSIENT: &[&str] = &[
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway timeout",
        "received unexpected http status: 5",
        "status 5",
        "429",
        "toomanyrequests",
        "too many requests",
        "connection refused",
        "connection reset",
        "broken pipe",
        "eof",
        "timeout",
        "timed out",
        "no progress",
        "blob upload unknown",
        "blob upload invalid",
        "blob_upload_unknown",
        "blob_upload_invalid",
        "closed the stream",
        "server misbehaving",
        "unavailable",
    ];
    kind == Kind::Unreachable || TRANSIENT.iter().any(|t| m.contains(t))
}

/// What to do after attempt `attempt` (1 for the first) failed with `kind`/`message`, when
/// `retries` further attempts are allowed: `None` to give up (a permanent failure, or the
/// retries are spent), else how long to wait before the next attempt (the `Retry-After` the
/// daemon passed on, or the [`backoff`] from `first_delay`).
pub(crate) fn next_wait(
    attempt: u32,
    retries: u32,
    kind: Kind,
    message: &str,
    first_delay: Duration,
    jitter: f64,
) -> Option<Duration> {
    if attempt > retries || !is_transient(kind, message) {
        return None;
    }
    Some(retry_after(message).unwrap_or_else(|| backoff(attempt, first_delay, jitter)))
}

/// A `Retry-After: N` the daemon passed on in its error text, if any.
pub(crate) fn retry_after(message: &str) -> Option<Duration> {
    let m = message.to_ascii_lowercase();
    let i = m.find("retry-after")?;
    let digits: String = m[i + "retry-after".len()..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().map(Duration::from_secs)
}

/// The wait before attempt `attempt + 1` (the first retry is `attempt == 1`): `first`, doubled
/// each time, capped at a minute, then spread by ±25 % (`jitter` in `0.0..1.0`) so that many
/// clients retrying at once do not stay in step.
pub(crate) fn backoff(attempt: u32, first: Duration, jitter: f64) -> Duration {
    let exp = first.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exp.min(Duration::from_secs(60));
    capped.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// Whether an HTTP answer of a registry is worth asking again: a server error (500, 502, 503,
/// 504: a registry restarting, a proxy in front of it without its upstream) or throttling
/// (429). 501 and 505 say the request itself is not understood and stay as they are.
pub(crate) fn status_is_transient(code: u16) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
}

/// A `Retry-After` header's delay, when it is in seconds (the HTTP-date form is not worth a
/// date parser here: [`backoff`] applies instead).
pub(crate) fn retry_after_header(value: &str) -> Option<Duration> {
    value.trim().parse().ok().map(Duration::from_secs)
}

/// A pseudo-random fraction for backoff jitter, from the clock; it needs spread, not secrecy.
pub(crate) fn clock_jitter() -> f64 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(n % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent() {
        for m in [
            "received unexpected HTTP status: 503 Service Unavailable",
            "received unexpected HTTP status: 500 Internal Server Error",
            "toomanyrequests: retry later",
            r#"Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused"#,
            "Patch \"http://r/v2/x/blobs/uploads/1\": EOF",
            "blob upload unknown: blob upload unknown to registry",
            "no progress for 2m while uploading layer 1a2b",
        ] {
            assert!(
                is_transient(crate::protocol::classify::classify(m), m),
                "{m}"
            );
        }
        for (k, m) in [
            (Kind::Auth, "unauthorized: authentication required"),
            (Kind::NotFound, "tag does not exist: x:1"),
            (Kind::Usage, "invalid reference format"),
            (
                Kind::Other,
                "unsupported: the registry does not take this manifest",
            ),
            (Kind::Other, "manifest invalid: manifest invalid"),
        ] {
            assert!(!is_transient(k, m), "{m}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(1, s, 0.5), Duration::from_secs(1));
        assert_eq!(backoff(2, s, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(3, s, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(1, s, 0.0), Duration::from_millis(750));
        assert_eq!(backoff(1, s, 1.0), Duration::from_millis(1250));
        assert_eq!(backoff(40, s, 0.5), Duration::from_secs(60));
        assert_eq!(backoff(1, Duration::ZERO, 0.9), Duration::ZERO);
    }

    #[test]
    fn next_wait_gives_up_when_permanent_or_spent() {
        let s = Duration::from_secs(1);
        let busy = "received unexpected HTTP status: 503 Service Unavailable";
        assert_eq!(
            next_wait(1, 3, Kind::Unreachable, busy, s, 0.5),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            next_wait(3, 3, Kind::Unreachable, busy, s, 0.5),
            Some(Duration::from_secs(4))
        );
        assert_eq!(next_wait(4, 3, Kind::Unreachable, busy, s, 0.5), None);
        assert_eq!(next_wait(1, 0, Kind::Unreachable, busy, s, 0.5), None);
        assert_eq!(next_wait(1, 3, Kind::Auth, "unauthorized", s, 0.5), None);
        assert_eq!(
            next_wait(
                1,
                3,
                Kind::Other,
                "toomanyrequests (Retry-After: 7)",
                s,
                0.5
            ),
            Some(Duration::from_secs(7))
        );
        // A digest quoting "429" is still a mismatch, not throttling.
        let m = "the registry has sha256:429e under r/a:1, not the pushed sha256:eof1";
        assert_eq!(next_wait(1, 3, Kind::Verify, m, s, 0.5), None);
    }

    #[test]
    fn retry_after_when_visible() {
        assert_eq!(
            retry_after("toomanyrequests (Retry-After: 7)"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after("503 Service Unavailable"), None);
    }

    #[test]
    fn registry_answers_worth_another_try() {
        for c in [429, 500, 502, 503, 504] {
            assert!(status_is_transient(c), "{c}");
        }
        for c in [200, 400, 401, 403, 404, 501, 505] {
            assert!(!status_is_transient(c), "{c}");
        }
        assert_eq!(retry_after_header(" 7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after_header("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert!((0.0..1.0).contains(&clock_jitter()));
    }
}
