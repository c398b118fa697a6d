//! docker's context store: a named context's `meta.json` (decoded by Go's rules) and its TLS
//! files under the config dir. The only file reading the endpoint resolver does. The `meta.json`
//! decoder does no I/O itself, but it serves this store alone and its rules are the store's
//! (struct fields folded as Go does, endpoint names exact), so it stays beside the reader.

use super::{EndpointError, Env, GlobalFlags, Resolved, config_dir};
use crate::protocol::daemon_host::{
    DEFAULT_UNIX_SOCKET, Endpoint, HostError, TlsSettings, parse_host,
};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::PathBuf;

/// docker's context store keys directories by the digest of the name.
pub(super) fn context_id(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

/// Resolve a named context: its `meta.json` under `contexts/meta/<sha256(name)>/` and its TLS
/// bundle under `contexts/tls/<sha256(name)>/docker/`, as docker's context store lays them out.
pub(super) fn resolve_named(
    name: String,
    source: &'static str,
    flags: &GlobalFlags,
    env: &dyn Env,
) -> Result<Resolved, EndpointError> {
    let id = context_id(&name);
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
        return Err(EndpointError::Host {
            origin: Some(origin),
            error: HostError::Invalid {
                host: docker.host,
                reason: "the host is blank: recreate the context with docker context create --docker host=...".into(),
            },
        });
    } else {
        parse_host(&docker.host, tls).map_err(|error| EndpointError::Host {
            origin: Some(origin),
            error,
        })?
    };
    Ok(Resolved {
        context: name,
        endpoint,
        source,
    })
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
    use super::super::resolve;
    use super::super::tests::*;
    use super::*;
    use std::fs;
    use tempfile::TempDir;

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
            Err(EndpointError::Host {
                error: HostError::Invalid { .. },
                ..
            })
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
    fn ssh_context_resolves_to_its_ssh_endpoint() {
        let dir = TempDir::new().unwrap();
        // What `docker context create prod --docker host=ssh://me@h:2222` writes.
        write_context_host(dir.path(), "prod", "ssh://me@h:2222", false);
        let flags = GlobalFlags {
            context: Some("prod".into()),
            ..flags_with_config(dir.path())
        };
        let r = resolve(&flags, &env(&[]), None).unwrap();
        match &r.endpoint {
            Endpoint::Ssh(spec) => assert_eq!(spec.to_string(), "ssh://me@h:2222"),
            other => panic!("{other:?}"),
        }
        assert_eq!((r.context.as_str(), r.source), ("prod", "--context"));
        write_context_host(dir.path(), "bad", "ssh://me:pw@h", false);
        let flags = GlobalFlags {
            context: Some("bad".into()),
            ..flags_with_config(dir.path())
        };
        let msg = resolve(&flags, &env(&[]), None).unwrap_err().to_string();
        assert!(
            msg.starts_with(
                "context \"bad\": invalid daemon host \"ssh://me:xxxxx@h\": plain-text password"
            ),
            "{msg}"
        );
    }

    /// No input may panic: run a deterministic stream of awkward strings through the decoder.
    #[test]
    fn parse_meta_never_panics() {
        let pieces = [
            "",
            ":",
            "[",
            "]",
            "%",
            "\u{212A}",
            "\u{17F}",
            " ",
            "\t",
            "\0",
            "{",
            "}",
            "\"",
            ",",
            "null",
            "true",
            "1",
            "[]",
            "{}",
            "\"Endpoints\"",
            "\"docker\"",
            "\"Host\"",
            "\"SkipTLSVerify\"",
            "\\u0000",
            "tcp://h:1",
        ];
        for s in crate::protocol::mixes(&pieces, 20_000) {
            let _ = parse_meta(&s);
            let _ = parse_meta(&format!(
                "{{\"Endpoints\":{{\"docker\":{{\"Host\":{s}}}}}}}"
            ));
        }
    }
}
