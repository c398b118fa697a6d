//! Resolution precedence, the config dir and the default context's TLS settings; the helpers
//! here are shared with the named-context tests in `context.rs`.

use super::*;
use std::fs;
use tempfile::TempDir;

pub(super) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn unix(p: &str) -> Endpoint {
    Endpoint::Unix(PathBuf::from(p))
}

pub(super) fn tcp(host: &str, port: u16, tls: Option<TlsSettings>) -> Endpoint {
    Endpoint::Tcp {
        host: host.into(),
        port,
        tls,
    }
}

pub(super) use crate::protocol::daemon_host::test_tls as tls;

/// Write a context's meta.json under `config` and return its path.
pub(super) fn write_context(config: &Path, name: &str, json: &str) -> PathBuf {
    let dir = config.join("contexts/meta").join(context::context_id(name));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("meta.json");
    fs::write(&path, json).unwrap();
    path
}

pub(super) fn write_context_host(config: &Path, name: &str, host: &str, skip: bool) -> PathBuf {
    let json = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
    });
    write_context(config, name, &json.to_string())
}

pub(super) fn write_tls_files(config: &Path, name: &str, files: &[&str]) -> PathBuf {
    let dir = config
        .join("contexts/tls")
        .join(context::context_id(name))
        .join("docker");
    fs::create_dir_all(&dir).unwrap();
    for f in files {
        fs::write(dir.join(f), "pem").unwrap();
    }
    dir
}

pub(super) fn touch(dir: &Path, files: &[&str]) {
    fs::create_dir_all(dir).unwrap();
    for f in files {
        fs::write(dir.join(f), "pem").unwrap();
    }
}

pub(super) fn flags_with_config(dir: &Path) -> GlobalFlags {
    GlobalFlags {
        config: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

pub(super) fn host_flag(h: &str) -> GlobalFlags {
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

#[test]
fn unusable_docker_hosts_name_their_origin() {
    let err = resolve(
        &GlobalFlags::default(),
        &env(&[("DOCKER_HOST", "npipe:////./pipe/docker_engine")]),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("DOCKER_HOST: unsupported endpoint \"npipe:////./pipe/docker_engine\""),
        "{err}"
    );
    let r = resolve(
        &GlobalFlags::default(),
        &env(&[("DOCKER_HOST", "ssh://me@h")]),
        None,
    )
    .unwrap();
    assert_eq!(r.source, "DOCKER_HOST");
    assert!(matches!(r.endpoint, Endpoint::Ssh(_)), "{r:?}");
    let err = resolve(&host_flag("foo://x"), &env(&[]), None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("--host: invalid daemon host \"foo://x\": "),
        "{err}"
    );
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
        EndpointError::Host {
            origin: Some("context \"a\\nb\"".into()),
            error: parse_host("tcp://h\n:1", None).unwrap_err(),
        },
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
