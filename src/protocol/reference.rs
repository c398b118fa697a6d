//! Docker image references (`[registry/]repository[:tag][@digest]`), parsed and normalized the way
//! `github.com/distribution/reference` does in `ParseNormalizedNamed`, written by hand with std only.
//!
//! Where this module deliberately departs from the Go code:
//! - A first component that is treated as a registry (it contains '.' or ':', is `localhost`, or has
//!   an uppercase letter) must be a valid domain. Go's regexp would, for input like `a.b_c/d`, fall
//!   back to a reference with an empty domain; such a reference cannot be pushed anywhere, so it is
//!   refused here instead.
//! - Go only refuses a bare 64-hex input; a 64-hex name followed by a tag or digest
//!   (`<64 hex>:v1`) is refused here too, because for a push tool it is almost certainly an image ID
//!   typed by mistake.
//! - Digests follow the OCI grammar (any well-formed algorithm), with the encoded part of the
//!   registered algorithms (sha256, sha384, sha512) held to its exact lowercase-hex length. Go also
//!   refuses unregistered algorithms.

use crate::protocol::config::DOCKER_HUB_KEY;
use std::fmt;
use std::str::FromStr;

/// Registry that names without an explicit registry resolve to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Tag that docker assumes when none is given.
pub const DEFAULT_TAG: &str = "latest";
/// Limit on `domain/path`, counted after normalization (so `docker.io/library/` counts).
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Longest tag the grammar allows.
pub const TAG_MAX_LEN: usize = 128;

// Docker Hub's historical name; users still type it, so it is folded into DEFAULT_DOMAIN.
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const LOCALHOST: &str = "localhost";

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host with optional port, e.g. "docker.io", "127.0.0.1:5000", "[::1]:5000".
    pub domain: String,
    /// Repository path inside the registry, e.g. "library/alpine", "team/app".
    pub path: String,
    pub tag: Option<String>,
    /// `algorithm:encoded`, e.g. "sha256:<64 hex>".
    pub digest: Option<String>,
    /// Whether the input named the registry itself rather than relying on the Docker Hub default.
    /// It is part of equality, so `alpine` and `docker.io/library/alpine` parse to references that
    /// differ only in this flag.
    pub explicit_domain: bool,
}

/// Why a reference or tag was refused. Every variant carries the offending input so that the
/// message alone is enough for the user to find the mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    /// The reference was the empty string.
    Empty,
    /// The reference had leading or trailing whitespace.
    SurroundingWhitespace { input: String },
    /// The repository name is 64 lowercase hex characters, i.e. an image ID.
    LooksLikeImageId { input: String },
    /// The repository path contains uppercase letters.
    Uppercase { input: String },
    /// The registry part is not a host name, IPv4 or bracketed IPv6 address with optional port.
    InvalidDomain { input: String, domain: String },
    /// A '/'-separated path component breaks the path-component grammar (empty when a '/' is
    /// leading, trailing or doubled).
    InvalidPathComponent { input: String, component: String },
    /// `domain/path` is longer than [`NAME_TOTAL_LENGTH_MAX`].
    NameTooLong { input: String, len: usize },
    /// The tag has a character outside the tag grammar, or is empty. `reference` is the whole
    /// reference when the tag came from one, `None` when the tag was validated on its own.
    InvalidTag {
        reference: Option<String>,
        tag: String,
    },
    /// The tag is longer than [`TAG_MAX_LEN`].
    TagTooLong {
        reference: Option<String>,
        tag: String,
    },
    /// The digest is not `algorithm:encoded`, or its encoded part does not fit the algorithm.
    InvalidDigest { input: String, digest: String },
}

const TAG_RULE: &str = "up to 128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'";

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:?}` quotes the input and escapes control characters, which keeps every message on
        // one line whatever the user typed.
        match self {
            RefError::Empty => write!(f, "invalid reference \"\": empty"),
            RefError::SurroundingWhitespace { input } => write!(
                f,
                "invalid reference {input:?}: leading or trailing whitespace is not allowed"
            ),
            RefError::LooksLikeImageId { input } => write!(
                f,
                "invalid reference {input:?}: invalid repository name (64 hex characters): \
                 cannot be a repository name, it looks like an image ID"
            ),
            RefError::Uppercase { input } => write!(
                f,
                "invalid reference {input:?}: repository name must be lowercase"
            ),
            RefError::InvalidDomain { input, domain } => write!(
                f,
                "invalid reference {input:?}: registry {domain:?} must be a host name, an IPv4 \
                 address or a [bracketed] IPv6 address, optionally followed by :port"
            ),
            RefError::InvalidPathComponent { input, component } if component.is_empty() => write!(
                f,
                "invalid reference {input:?}: repository name has an empty path component \
                 (leading, trailing or repeated '/')"
            ),
            RefError::InvalidPathComponent { input, component } => write!(
                f,
                "invalid reference {input:?}: path component {component:?} must be lowercase \
                 letters and digits joined by single '.', '_', '__' or runs of '-', not at either end"
            ),
            RefError::NameTooLong { input, len } => write!(
                f,
                "invalid reference {input:?}: repository name must not be more than \
                 {NAME_TOTAL_LENGTH_MAX} characters (the full name is {len})"
            ),
            RefError::InvalidTag {
                reference: Some(r),
                tag,
            } if tag.is_empty() => write!(f, "invalid reference {r:?}: tag is empty"),
            RefError::InvalidTag {
                reference: Some(r),
                tag,
            } => write!(f, "invalid reference {r:?}: tag {tag:?} must be {TAG_RULE}"),
            RefError::InvalidTag {
                reference: None,
                tag,
            } if tag.is_empty() => write!(f, "invalid tag \"\": empty"),
            RefError::InvalidTag {
                reference: None,
                tag,
            } => write!(f, "invalid tag {tag:?}: a tag is {TAG_RULE}"),
            RefError::TagTooLong {
                reference: Some(r), ..
            } => write!(
                f,
                "invalid reference {r:?}: tag is longer than {TAG_MAX_LEN} characters"
            ),
            RefError::TagTooLong {
                reference: None,
                tag,
            } => write!(
                f,
                "invalid tag {tag:?}: tag is longer than {TAG_MAX_LEN} characters"
            ),
            RefError::InvalidDigest { input, digest } => write!(
                f,
                "invalid reference {input:?}: digest {digest:?} must be <algorithm>:<encoded>, \
                 e.g. sha256: followed by exactly 64 lowercase hex characters"
            ),
        }
    }
}

impl std::error::Error for RefError {}

impl Reference {
    /// Parses `s` with `ParseNormalizedNamed` semantics: "alpine" becomes
    /// docker.io/library/alpine, "user/app" becomes docker.io/user/app, and
    /// "index.docker.io/x" becomes docker.io/library/x.
    ///
    /// The first '/'-separated component is a registry iff it is "localhost", contains '.' or
    /// ':', or contains an uppercase letter. The last rule means "Foo/bar" is registry "Foo" with
    /// repository "bar" (valid, as in Go: repository paths can never be uppercase, so an
    /// uppercase first component can only be a host), while "foo/Bar" is refused.
    pub fn parse(s: &str) -> Result<Reference, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        if s.trim() != s {
            return Err(RefError::SurroundingWhitespace {
                input: s.to_string(),
            });
        }

        // Neither names nor tags may contain '@', so the first one must start the digest.
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        // A ':' before the last '/' belongs to a registry port, never to a tag.
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (rest, None),
        };

        if is_lower_hex(name, 64) {
            return Err(RefError::LooksLikeImageId {
                input: s.to_string(),
            });
        }

        let (domain, remote, explicit_domain) = match name.split_once('/') {
            Some((first, remote)) if looks_like_domain(first) => (first, remote, true),
            _ => (DEFAULT_DOMAIN, name, false),
        };

        // Go checks case before the grammar so that the user hears the likely cause rather than a
        // generic "invalid format".
        if remote.to_lowercase() != remote {
            return Err(RefError::Uppercase {
                input: s.to_string(),
            });
        }
        if !is_valid_domain(domain) {
            return Err(RefError::InvalidDomain {
                input: s.to_string(),
                domain: domain.to_string(),
            });
        }
        if let Some(bad) = remote.split('/').find(|c| !is_path_component(c)) {
            return Err(RefError::InvalidPathComponent {
                input: s.to_string(),
                component: bad.to_string(),
            });
        }
        if let Some(tag) = tag {
            check_tag(tag, Some(s))?;
        }
        if let Some(digest) = digest
            && !is_valid_digest(digest)
        {
            return Err(RefError::InvalidDigest {
                input: s.to_string(),
                digest: digest.to_string(),
            });
        }

        let domain = if domain == LEGACY_DEFAULT_DOMAIN {
            DEFAULT_DOMAIN
        } else {
            domain
        };
        let path = if domain == DEFAULT_DOMAIN && !remote.contains('/') {
            format!("{OFFICIAL_REPO_PREFIX}{remote}")
        } else {
            remote.to_string()
        };

        let len = domain.len() + 1 + path.len();
        if len > NAME_TOTAL_LENGTH_MAX {
            return Err(RefError::NameTooLong {
                input: s.to_string(),
                len,
            });
        }

        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
            explicit_domain,
        })
    }

    /// Fully qualified repository name, "domain/path".
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form docker shows: Docker Hub's domain and the "library/" namespace of official
    /// images are dropped; every other name is returned in full.
    pub fn familiar_name(&self) -> String {
        if !self.is_docker_hub() {
            return self.name();
        }
        // Only a single-level official name is shortened, as in Go; "library/a/b" stays whole
        // because "a/b" would re-parse as a different repository.
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => self.path.clone(),
        }
    }

    /// [`familiar_name`](Self::familiar_name) with the tag and digest, for user-facing messages.
    pub fn familiar_string(&self) -> String {
        let mut out = self.familiar_name();
        push_suffixes(&mut out, self.tag.as_deref(), self.digest.as_deref());
        out
    }

    /// Same repository with `tag`; the digest is dropped because it would pin the old content.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, RefError> {
        validate_tag(tag)?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The tag, or "latest" as docker assumes when none is given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// Whether the repository lives on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DEFAULT_DOMAIN
    }

    /// The key docker uses for credentials: "https://index.docker.io/v1/" for Docker Hub, else
    /// the domain (with port) as written.
    pub fn auth_key(&self) -> String {
        if self.is_docker_hub() {
            DOCKER_HUB_KEY.to_string()
        } else {
            self.domain.clone()
        }
    }
}

impl fmt::Display for Reference {
    /// Full form, "domain/path[:tag][@digest]", which always re-parses to the same reference
    /// (with `explicit_domain` set).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        push_suffixes(&mut out, self.tag.as_deref(), self.digest.as_deref());
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = RefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// Checks a tag against `[\w][\w.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), RefError> {
    check_tag(tag, None)
}

/// True if `s` looks like an image ID: "sha256:<64 hex>", or 12 to 64 lowercase hex characters
/// (docker accepts an unambiguous ID prefix). Such strings can also be valid repository names, so
/// callers decide which reading wins.
pub fn looks_like_image_id(s: &str) -> bool {
    match s.strip_prefix("sha256:") {
        Some(hex) => is_lower_hex(hex, 64),
        None => (12..=64).contains(&s.len()) && s.bytes().all(is_lower_hex_byte),
    }
}

fn push_suffixes(out: &mut String, tag: Option<&str>, digest: Option<&str>) {
    if let Some(tag) = tag {
        out.push(':');
        out.push_str(tag);
    }
    if let Some(digest) = digest {
        out.push('@');
        out.push_str(digest);
    }
}

/// splitDockerDomain's test for whether the first component names a registry.
fn looks_like_domain(first: &str) -> bool {
    first == LOCALHOST || first.contains(['.', ':']) || first.to_lowercase() != first
}

fn check_tag(tag: &str, reference: Option<&str>) -> Result<(), RefError> {
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let well_formed = tag.as_bytes().first().copied().is_some_and(is_word)
        && tag.bytes().all(|b| is_word(b) || b == b'.' || b == b'-');
    if !well_formed {
        return Err(RefError::InvalidTag {
            reference: reference.map(str::to_string),
            tag: tag.to_string(),
        });
    }
    if tag.len() > TAG_MAX_LEN {
        return Err(RefError::TagTooLong {
            reference: reference.map(str::to_string),
            tag: tag.to_string(),
        });
    }
    Ok(())
}

/// host := domain-name | '[' IPv6 ']', followed by an optional ':' port of digits. IPv4 needs no
/// case of its own: dotted digits are a valid domain-name.
fn is_valid_domain(domain: &str) -> bool {
    let (host_ok, port) = match domain.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((addr, port)) => (
                !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'),
                port,
            ),
            None => return false,
        },
        None => {
            let (host, port) = match domain.find(':') {
                Some(i) => domain.split_at(i),
                None => (domain, ""),
            };
            (host.split('.').all(is_domain_component), port)
        }
    };
    host_ok
        && (port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separator `[_.] | __ | -+`.
fn is_path_component(c: &str) -> bool {
    let is_alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let b = c.as_bytes();
    if !(b.first().is_some_and(is_alnum) && b.last().is_some_and(is_alnum)) {
        return false;
    }
    // Between two alphanumeric runs there must be exactly one separator, so every maximal run
    // of other bytes has to be one separator on its own.
    b.split(is_alnum)
        .filter(|run| !run.is_empty())
        .all(|run| matches!(run, b"." | b"_" | b"__") || run.iter().all(|&x| x == b'-'))
}

/// algorithm ':' encoded, per the OCI image spec.
fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['+', '.', '_', '-']).all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if !(algorithm_ok && encoded_ok) {
        return false;
    }
    // Registered algorithms pin the encoding, which catches truncated or mistyped digests early.
    match algorithm {
        "sha256" => is_lower_hex(encoded, 64),
        "sha384" => is_lower_hex(encoded, 96),
        "sha512" => is_lower_hex(encoded, 128),
        _ => true,
    }
}

fn is_lower_hex_byte(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(is_lower_hex_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";

    struct Valid {
        input: String,
        domain: &'static str,
        path: String,
        tag: Option<String>,
        digest: Option<String>,
        display: String,
        familiar: String,
        auth_key: &'static str,
        explicit: bool,
    }

    #[allow(clippy::too_many_arguments)]
    fn v(
        input: &str,
        domain: &'static str,
        path: &str,
        tag: Option<&str>,
        digest: Option<&str>,
        display: &str,
        familiar: &str,
        auth_key: &'static str,
        explicit: bool,
    ) -> Valid {
        Valid {
            input: input.to_string(),
            domain,
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
            display: display.to_string(),
            familiar: familiar.to_string(),
            auth_key,
            explicit,
        }
    }

    const HUB: &str = DOCKER_HUB_KEY;

    // One case per line reads better as a table than rustfmt's one-field-per-line layout.
    #[rustfmt::skip]
    fn valid_cases() -> Vec<Valid> {
        let d = format!("sha256:{HEX64}");
        let long_tag = "t".repeat(128);
        let max_path = "a".repeat(NAME_TOTAL_LENGTH_MAX - "docker.io/library/".len());
        let sha512 = format!("sha512:{}", "ab".repeat(64));
        let mh = "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8";
        let hex63 = &HEX64[..63];
        vec![
            v("alpine", "docker.io", "library/alpine", None, None, "docker.io/library/alpine", "alpine", HUB, false),
            v("alpine:3.19", "docker.io", "library/alpine", Some("3.19"), None, "docker.io/library/alpine:3.19", "alpine", HUB, false),
            v("library/alpine", "docker.io", "library/alpine", None, None, "docker.io/library/alpine", "alpine", HUB, false),
            v("docker.io/alpine", "docker.io", "library/alpine", None, None, "docker.io/library/alpine", "alpine", HUB, true),
            v("docker.io/library/alpine", "docker.io", "library/alpine", None, None, "docker.io/library/alpine", "alpine", HUB, true),
            v("index.docker.io/alpine", "docker.io", "library/alpine", None, None, "docker.io/library/alpine", "alpine", HUB, true),
            v("index.docker.io/u/app", "docker.io", "u/app", None, None, "docker.io/u/app", "u/app", HUB, true),
            v("user/app:v1", "docker.io", "user/app", Some("v1"), None, "docker.io/user/app:v1", "user/app", HUB, false),
            v("library/foo/bar", "docker.io", "library/foo/bar", None, None, "docker.io/library/foo/bar", "library/foo/bar", HUB, false),
            v("test_com/foo", "docker.io", "test_com/foo", None, None, "docker.io/test_com/foo", "test_com/foo", HUB, false),
            v("localhost/app", "localhost", "app", None, None, "localhost/app", "localhost/app", "localhost", true),
            v("localhost:5000/a/b:tag", "localhost:5000", "a/b", Some("tag"), None, "localhost:5000/a/b:tag", "localhost:5000/a/b", "localhost:5000", true),
            // Without a '/', "localhost:5000" is a Docker Hub name with a tag, exactly as in Go.
            v("localhost:5000", "docker.io", "library/localhost", Some("5000"), None, "docker.io/library/localhost:5000", "localhost", HUB, false),
            v("127.0.0.1:5000/team/my-app:2.3.0", "127.0.0.1:5000", "team/my-app", Some("2.3.0"), None, "127.0.0.1:5000/team/my-app:2.3.0", "127.0.0.1:5000/team/my-app", "127.0.0.1:5000", true),
            v("192.168.0.1:80", "docker.io", "library/192.168.0.1", Some("80"), None, "docker.io/library/192.168.0.1:80", "192.168.0.1", HUB, false),
            v("[::1]:5000/app", "[::1]:5000", "app", None, None, "[::1]:5000/app", "[::1]:5000/app", "[::1]:5000", true),
            v("[fc00:1:2:3:4:5:6:7]/library/debian", "[fc00:1:2:3:4:5:6:7]", "library/debian", None, None, "[fc00:1:2:3:4:5:6:7]/library/debian", "[fc00:1:2:3:4:5:6:7]/library/debian", "[fc00:1:2:3:4:5:6:7]", true),
            v(&format!("ghcr.io/me/app@{d}"), "ghcr.io", "me/app", None, Some(&d), &format!("ghcr.io/me/app@{d}"), "ghcr.io/me/app", "ghcr.io", true),
            v(&format!("busybox:latest@{d}"), "docker.io", "library/busybox", Some("latest"), Some(&d), &format!("docker.io/library/busybox:latest@{d}"), "busybox", HUB, false),
            v(&format!("r.io/a@{sha512}"), "r.io", "a", None, Some(&sha512), &format!("r.io/a@{sha512}"), "r.io/a", "r.io", true),
            v(&format!("r.io/a@{mh}"), "r.io", "a", None, Some(mh), &format!("r.io/a@{mh}"), "r.io/a", "r.io", true),
            v("reg.example.com/a__b/c.d-e:tag_1", "reg.example.com", "a__b/c.d-e", Some("tag_1"), None, "reg.example.com/a__b/c.d-e:tag_1", "reg.example.com/a__b/c.d-e", "reg.example.com", true),
            v("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", None, None, "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo", "xn--n3h.com:18080", true),
            v("test-com:8080/foo", "test-com:8080", "foo", None, None, "test-com:8080/foo", "test-com:8080/foo", "test-com:8080", true),
            // Uppercase first component: a domain, as splitDockerDomain and Go's own tests have it.
            v("Foo/bar", "Foo", "bar", None, None, "Foo/bar", "Foo/bar", "Foo", true),
            v("DOCKER/docker:TAG", "DOCKER", "docker", Some("TAG"), None, "DOCKER/docker:TAG", "DOCKER/docker", "DOCKER", true),
            v("a--b", "docker.io", "library/a--b", None, None, "docker.io/library/a--b", "a--b", HUB, false),
            v("docker---rules/dock__er", "docker.io", "docker---rules/dock__er", None, None, "docker.io/docker---rules/dock__er", "docker---rules/dock__er", HUB, false),
            v("app:_", "docker.io", "library/app", Some("_"), None, "docker.io/library/app:_", "app", HUB, false),
            v(&format!("app:{long_tag}"), "docker.io", "library/app", Some(&long_tag), None, &format!("docker.io/library/app:{long_tag}"), "app", HUB, false),
            v(&max_path, "docker.io", &format!("library/{max_path}"), None, None, &format!("docker.io/library/{max_path}"), &max_path, HUB, false),
            // Go allows a 64-hex repository once the registry removes the ambiguity.
            v(&format!("docker.io/{HEX64}"), "docker.io", &format!("library/{HEX64}"), None, None, &format!("docker.io/library/{HEX64}"), HEX64, HUB, true),
            v(hex63, "docker.io", &format!("library/{hex63}"), None, None, &format!("docker.io/library/{hex63}"), hex63, HUB, false),
        ]
    }

    #[test]
    fn valid_references_parse_to_expected_parts() {
        for c in valid_cases() {
            let r = Reference::parse(&c.input)
                .unwrap_or_else(|e| panic!("{:?} should parse, got: {e}", c.input));
            assert_eq!(r.domain, c.domain, "domain of {:?}", c.input);
            assert_eq!(r.path, c.path, "path of {:?}", c.input);
            assert_eq!(r.tag, c.tag, "tag of {:?}", c.input);
            assert_eq!(r.digest, c.digest, "digest of {:?}", c.input);
            assert_eq!(r.to_string(), c.display, "display of {:?}", c.input);
            assert_eq!(r.familiar_name(), c.familiar, "familiar of {:?}", c.input);
            assert_eq!(r.auth_key(), c.auth_key, "auth key of {:?}", c.input);
            assert_eq!(r.explicit_domain, c.explicit, "explicit of {:?}", c.input);
            assert_eq!(r.name(), format!("{}/{}", c.domain, c.path));
            let again = Reference::parse(&r.to_string()).expect("display re-parses");
            assert_eq!(
                again,
                Reference {
                    explicit_domain: true,
                    ..r
                }
            );
        }
    }

    /// (input, substring the message must contain)
    fn invalid_cases() -> Vec<(String, &'static str)> {
        let s = |x: &str| x.to_string();
        vec![
            (s(""), "invalid reference \"\": empty"),
            (s(" app"), "whitespace"),
            (s("app\n"), "whitespace"),
            (s("a:"), "tag is empty"),
            (
                s("app:bad tag"),
                "tag \"bad tag\" must be up to 128 characters",
            ),
            (s("app:-x"), "tag \"-x\" must be"),
            (s("app:.x"), "tag \".x\" must be"),
            (
                format!("app:{}", "t".repeat(129)),
                "tag is longer than 128 characters",
            ),
            (s("app@sha256:short"), "digest \"sha256:short\""),
            (format!("app@sha256:{}", HEX64.to_uppercase()), "digest"),
            (format!("app@sha256:{HEX64}0"), "digest"),
            (format!("app@SHA256:{HEX64}"), "digest"),
            (s("app@"), "digest \"\""),
            (format!("app@sha256:{HEX64}@sha256:{HEX64}"), "digest"),
            (s(HEX64), "looks like an image ID"),
            (format!("{HEX64}:v1"), "looks like an image ID"),
            (
                format!("reg.example.com/{}", "a".repeat(240)),
                "must not be more than 255 characters (the full name is 256)",
            ),
            ("a".repeat(238), "must not be more than 255 characters"),
            (s("foo/Bar"), "repository name must be lowercase"),
            (
                s("docker.io/docker/Docker"),
                "repository name must be lowercase",
            ),
            (s("localhost:5000/App"), "repository name must be lowercase"),
            (s("a//b"), "empty path component"),
            (s("a/b/"), "empty path component"),
            (s("docker/"), "empty path component"),
            (s("/a"), "empty path component"),
            (s(":tag"), "empty path component"),
            (s("-app"), "path component \"-app\""),
            (s("-docker/docker"), "path component \"-docker\""),
            (s("docker-/docker"), "path component \"docker-\""),
            (s("app_"), "path component \"app_\""),
            (s("a..b"), "path component \"a..b\""),
            (s("a___b"), "path component \"a___b\""),
            (s("dock_.er/docker"), "registry \"dock_.er\""),
            (s("dock_.er"), "path component \"dock_.er\""),
            (s("dock-.er/docker"), "registry \"dock-.er\""),
            (s("____/____"), "path component"),
            (s("a:b:c"), "path component \"a:b\""),
            (s("-docker.io/docker/docker"), "registry \"-docker.io\""),
            (s("https://github.com/docker/docker"), "registry \"https:\""),
            (s("fc00::1:5000/debian"), "registry \"fc00::1:5000\""),
            (s("[fe80::1%eth0]:5000/debian"), "registry"),
            (s("[2001:db8:3:4::192.0.2.33]:5000/debian"), "registry"),
            (s("[]:5000/app"), "registry"),
            (s("[::1/app"), "registry"),
            (s("example.com:/app"), "registry"),
            (s("example.com:50a/app"), "registry"),
            (s("a.b_c/d"), "registry \"a.b_c\""),
            (s("[fc00::1]:5000"), "path component \"[fc00::1]\""),
            (s("ünïcode"), "path component"),
            (s("日本.jp/app"), "registry"),
            (s("app:tä"), "tag \"tä\""),
            (s("app@sha256:é"), "digest"),
            (s("Ämter/app"), "registry"),
            (s("app/É"), "must be lowercase"),
        ]
    }

    #[test]
    fn invalid_references_are_refused_with_a_clear_message() {
        for (input, needle) in invalid_cases() {
            let err = match Reference::parse(&input) {
                Ok(r) => panic!("{input:?} should be refused, parsed as {r:?}"),
                Err(e) => e,
            };
            let msg = err.to_string();
            assert!(msg.contains(needle), "{input:?}: {msg:?} lacks {needle:?}");
            assert!(msg.starts_with("invalid reference "), "{msg:?}");
            assert!(!msg.contains('\n'), "{msg:?} spans lines");
            assert!(
                msg.contains(&format!("{input:?}")),
                "{msg:?} does not name {input:?}"
            );
        }
    }

    #[test]
    fn error_variants_match_the_rule_broken() {
        assert_eq!(Reference::parse(""), Err(RefError::Empty));
        assert!(matches!(
            Reference::parse("foo/Bar"),
            Err(RefError::Uppercase { .. })
        ));
        assert!(matches!(
            Reference::parse(&format!("a:{}", "x".repeat(129))),
            Err(RefError::TagTooLong {
                reference: Some(_),
                ..
            })
        ));
        assert_eq!(
            Reference::parse("a/b:c d"),
            Err(RefError::InvalidTag {
                reference: Some("a/b:c d".to_string()),
                tag: "c d".to_string()
            })
        );
        assert_eq!(
            Reference::parse("a//b"),
            Err(RefError::InvalidPathComponent {
                input: "a//b".to_string(),
                component: String::new()
            })
        );
    }

    #[test]
    fn validate_tag_follows_the_tag_grammar() {
        for ok in ["a", "_", "0", "v1.2.3-rc_1", "A.B-C", &"x".repeat(128)] {
            assert_eq!(validate_tag(ok), Ok(()), "{ok:?}");
        }
        for bad in ["", "-a", ".a", "a b", "a:b", "a/b", "a@b", "é", "a\u{0}"] {
            let err = validate_tag(bad).expect_err(bad);
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("invalid tag {bad:?}: ")), "{msg}");
        }
        assert_eq!(
            validate_tag("a b").unwrap_err().to_string(),
            "invalid tag \"a b\": a tag is up to 128 characters of [A-Za-z0-9_.-], \
             not starting with '.' or '-'"
        );
        assert_eq!(
            validate_tag("").unwrap_err().to_string(),
            "invalid tag \"\": empty"
        );
        let long = "x".repeat(129);
        assert_eq!(
            validate_tag(&long).unwrap_err().to_string(),
            format!("invalid tag {long:?}: tag is longer than 128 characters")
        );
    }

    #[test]
    fn with_tag_validates_and_drops_the_digest() {
        let r = Reference::parse(&format!("ghcr.io/me/app:old@sha256:{HEX64}")).unwrap();
        let t = r.with_tag("new").unwrap();
        assert_eq!(t.to_string(), "ghcr.io/me/app:new");
        assert_eq!(t.tag_or_latest(), "new");
        assert!(t.explicit_domain);
        assert!(matches!(
            r.with_tag("bad tag"),
            Err(RefError::InvalidTag {
                reference: None,
                ..
            })
        ));
        assert_eq!(
            Reference::parse("alpine").unwrap().tag_or_latest(),
            "latest"
        );
    }

    #[test]
    fn familiar_string_keeps_tag_and_digest() {
        let r = Reference::parse(&format!("docker.io/library/busybox:1@sha256:{HEX64}")).unwrap();
        assert_eq!(r.familiar_string(), format!("busybox:1@sha256:{HEX64}"));
        let r: Reference = "127.0.0.1:5000/a:b".parse().unwrap();
        assert_eq!(r.familiar_string(), "127.0.0.1:5000/a:b");
        assert!(!r.is_docker_hub());
    }

    #[test]
    fn image_ids_are_recognised() {
        assert!(looks_like_image_id(&format!("sha256:{HEX64}")));
        assert!(looks_like_image_id(HEX64));
        assert!(looks_like_image_id(&HEX64[..12]));
        assert!(!looks_like_image_id(&HEX64[..11]));
        assert!(!looks_like_image_id(&format!("{HEX64}0")));
        assert!(!looks_like_image_id(&format!("sha256:{}", &HEX64[..12])));
        assert!(!looks_like_image_id(&HEX64.to_uppercase()));
        assert!(!looks_like_image_id("alpine"));
        assert!(!looks_like_image_id("sha256:"));
        assert!(!looks_like_image_id("éééééééééééé"));
    }

    /// Parse never panics, and every accepted reference survives a Display round trip.
    fn check_round_trip(input: &str) -> bool {
        match Reference::parse(input) {
            Ok(r) => {
                let shown = r.to_string();
                let again = Reference::parse(&shown)
                    .unwrap_or_else(|e| panic!("{input:?} -> {shown:?} does not re-parse: {e}"));
                assert!(again.explicit_domain, "{shown:?}");
                assert_eq!(
                    again,
                    Reference {
                        explicit_domain: true,
                        ..r.clone()
                    },
                    "{input:?} -> {shown:?}"
                );
                assert!(r.name().len() <= NAME_TOTAL_LENGTH_MAX);
                true
            }
            Err(e) => {
                assert!(!e.to_string().contains('\n'), "{e:?}");
                false
            }
        }
    }

    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next() % items.len()]
        }
    }

    #[test]
    fn parse_never_panics_and_round_trips() {
        for b in 0..=255u8 {
            let c = char::from(b);
            for s in [
                c.to_string(),
                format!("a{c}"),
                format!("{c}a"),
                format!("a{c}b"),
                format!("r.io/a{c}b:t"),
                format!("a:{c}"),
                format!("a@sha256:{c}"),
                format!("[{c}]:1/a"),
            ] {
                check_round_trip(&s);
            }
            for raw in [vec![b], vec![b'a', b, b'b'], vec![b'a', b'/', b, 0x80]] {
                check_round_trip(&String::from_utf8_lossy(&raw));
            }
        }

        let atoms = [
            "a",
            "b",
            "z",
            "0",
            "9",
            "A",
            "Z",
            ".",
            "_",
            "__",
            "-",
            ":",
            "/",
            "@",
            "[",
            "]",
            " ",
            "é",
            "library",
            "docker.io",
            "index.docker.io",
            "localhost",
            "5000",
            "sha256:",
            HEX64,
            "::1",
            "\u{0}",
            "\u{1F600}",
        ];
        let mut rng = Lcg(0x5eed);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let n = rng.next() % 12;
            let s: String = (0..n).map(|_| rng.pick(&atoms)).collect();
            if check_round_trip(&s) {
                accepted += 1;
            }
        }
        assert!(
            accepted > 100,
            "only {accepted} random inputs were accepted"
        );

        // Structured inputs that are valid by construction must all be accepted.
        let domains = [
            "",
            "localhost/",
            "localhost:5000/",
            "docker.io/",
            "index.docker.io/",
            "r.example.com/",
            "127.0.0.1:5000/",
            "[::1]/",
            "[fc00::1]:443/",
            "Reg.IO/",
            "a-b.c/",
        ];
        let components = ["a", "app", "a.b", "a_b", "a__b", "a---b", "0", "x9-y8.z7"];
        let tags = ["", ":latest", ":V1.2_3-rc", ":_x"];
        let digest = format!("@sha256:{HEX64}");
        let digests = [
            "",
            digest.as_str(),
            "@sha512+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
        ];
        for _ in 0..2_000 {
            let mut s = rng.pick(&domains).to_string();
            let depth = 1 + rng.next() % 3;
            let path: Vec<&str> = (0..depth).map(|_| rng.pick(&components)).collect();
            s.push_str(&path.join("/"));
            s.push_str(rng.pick(&tags));
            s.push_str(rng.pick(&digests));
            assert!(check_round_trip(&s), "{s:?} should be accepted");
        }
    }
}
