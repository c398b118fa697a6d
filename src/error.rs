//! Errors and the exit codes they map to: the one place that decides a process's exit status.

use std::fmt;

/// What went wrong, as far as the exit code is concerned. The numbers are documented in the
/// README and are part of the interface: scripts branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// 1: anything not covered below.
    Other,
    /// 2: bad command line or invalid reference.
    Usage,
    /// 3: the registry refused the credentials (or none were given where needed).
    Auth,
    /// 4: the source image does not exist locally.
    NotFound,
    /// 5: the push finished but the registry did not hold what was pushed.
    Verify,
    /// 6: the daemon or the registry could not be reached, or an operation timed out.
    Unreachable,
    /// 7: some targets succeeded and some failed.
    Partial,
    /// 130: cancelled by a signal or by the docker CLI.
    Interrupted,
}

impl Kind {
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Kind::Other => 1,
            Kind::Usage => 2,
            Kind::Auth => 3,
            Kind::NotFound => 4,
            Kind::Verify => 5,
            Kind::Unreachable => 6,
            Kind::Partial => 7,
            Kind::Interrupted => 130,
        }
    }
}

/// One error: its kind and a single lowercase line naming the problem and, where there is one,
/// the fix. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: one_line(&message.into()),
        }
    }
    pub(crate) fn usage(m: impl Into<String>) -> Self {
        Self::new(Kind::Usage, m)
    }
    pub(crate) fn other(m: impl Into<String>) -> Self {
        Self::new(Kind::Other, m)
    }
    pub(crate) fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
    /// Prefix the message with what was being done, keeping the kind.
    pub(crate) fn context(self, what: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Text from the daemon or a registry may hold newlines or terminal escapes: keep one printable
/// line so an error can neither spoof output nor spill over several lines.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = false;
    for c in s.trim().chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let all = [
            (Kind::Other, 1),
            (Kind::Usage, 2),
            (Kind::Auth, 3),
            (Kind::NotFound, 4),
            (Kind::Verify, 5),
            (Kind::Unreachable, 6),
            (Kind::Partial, 7),
            (Kind::Interrupted, 130),
        ];
        for (k, code) in all {
            assert_eq!(k.exit_code(), code);
        }
    }

    #[test]
    fn messages_are_one_printable_line() {
        let e = Error::other("line one\nline two\x1b[31m red\r\n");
        assert_eq!(e.message, "line one line two [31m red");
    }
}
