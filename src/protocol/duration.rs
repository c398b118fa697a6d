//! Durations on the command line: `500ms`, `3s`, `2m`, `1h`, `1m30s` (Go's notation, as docker
//! uses it), and `0` for none.

use std::time::Duration;

/// Parse a duration. A number needs a unit (`ms`, `s`, `m`, `h`), except a bare `0`.
pub(crate) fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let bad = || format!("invalid duration {s:?}: write it like 500ms, 3s, 2m or 1m30s");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let secs = value * unit;
        if !secs.is_finite() || secs > 1e9 {
            return Err(format!("invalid duration {s:?}: too long"));
        }
        total += Duration::from_secs_f64(secs);
    }
    Ok(total)
}

/// How a duration reads back in messages: `1.5s`, `2m`, `500ms`.
pub(crate) fn display(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for (s, ms) in [
            ("500ms", 500),
            ("3s", 3000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1m30s", 90_000),
            ("1.5s", 1500),
            ("0", 0),
            (" 2s ", 2000),
        ] {
            assert_eq!(parse(s).unwrap(), Duration::from_millis(ms), "{s}");
        }
        for bad in [
            "",
            "3",
            "s",
            "3x",
            "-1s",
            "1..2s",
            "ms",
            "1e3s",
            "99999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_back() {
        assert_eq!(display(Duration::from_millis(500)), "500ms");
        assert_eq!(display(Duration::from_secs(120)), "2m");
        assert_eq!(display(Duration::from_secs(3)), "3s");
        assert_eq!(display(Duration::from_millis(1500)), "1.5s");
    }
}
