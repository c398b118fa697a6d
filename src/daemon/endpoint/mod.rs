//! Which Docker daemon to talk to, resolved from flags, environment and contexts as docker does:
//! `--context` > `-H` > `DOCKER_HOST` > `DOCKER_CONTEXT` > config.json's `currentContext` >
//! the default socket.
//!
//! Everything the rules read comes in through arguments ([`GlobalFlags`], an [`Env`], the
//! `currentContext` of config.json), so the precedence can be tested without touching the
//! process environment. What a host string means is [`crate::protocol::daemon_host`]; reading a
//! named context from disk is `context`.

mod context;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::path::{Path, PathBuf};

pub(crate) use crate::protocol::daemon_host::{Endpoint, HostError, TlsSettings, parse_host};
pub(crate) use crate::protocol::plugin::GlobalFlags;

/// The context docker builds from flags and environment instead of reading it from disk.
pub(crate) const DEFAULT_CONTEXT: &str = "default";

/// Where environment variables come from. The resolver treats an empty value as unset for every
/// variable it reads, as docker does, so implementations may return `Some("")`.
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    /// Non-UTF-8 values read as unset.
    fn var(&self, name: &str) -> Option<String> {
        let value = std::env::var(name).ok().filter(|v| !v.is_empty());
        if value.is_none() && name == "HOME" {
            // docker's homedir.Get falls back to the user database when HOME is unset.
            return std::env::home_dir()
                .and_then(|p| p.into_os_string().into_string().ok())
                .filter(|v| !v.is_empty());
        }
        value
    }
}

impl<K, V, S> Env for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.as_ref().to_owned())
    }
}

/// The daemon to use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// `"default"` or the name of the context in use.
    pub context: String,
    pub endpoint: Endpoint,
    /// For doctor and debug output. For the default context, where the host came from:
    /// `"--host"`, `"DOCKER_HOST"`, `"default socket"` or `"default tls host"`. For a named
    /// context, what selected it: `"--context"`, `"DOCKER_CONTEXT"` or `"currentContext"`
    /// (config.json); the name itself is in `context`.
    pub source: &'static str,
}

/// Why no daemon could be resolved. Each message is one line naming the problem and the fix.
#[derive(Debug)]
pub(crate) enum EndpointError {
    /// Both `--host` and `--context` were given.
    ConflictingOptions,
    /// The context has no `meta.json` in the config dir.
    ContextNotFound { name: String },
    /// The context's `meta.json` exists but could not be read.
    ContextUnreadable {
        name: String,
        path: PathBuf,
        error: std::io::Error,
    },
    /// The context's `meta.json` is not what docker would accept.
    MalformedContext {
        name: String,
        path: PathBuf,
        reason: String,
    },
    /// The context's metadata has no `docker` endpoint.
    NoDockerEndpoint { name: String, path: PathBuf },
    /// A host that cannot be used; `origin` says where it came from (`--host`, `DOCKER_HOST`,
    /// `context "x"`).
    Host {
        origin: Option<String>,
        error: HostError,
    },
}

impl fmt::Display for EndpointError {
    // Names, hosts and paths go through Debug so that control characters in them cannot break
    // the one-line message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::ConflictingOptions => {
                f.write_str("conflicting options: cannot specify both --host and --context")
            }
            EndpointError::ContextNotFound { name } => {
                write!(
                    f,
                    "context {name:?} not found: run docker context ls to see the available contexts"
                )
            }
            EndpointError::ContextUnreadable { name, path, error } => write!(
                f,
                "context {name:?}: cannot read {path:?}: {}: check the file's permissions",
                one_line(&error.to_string())
            ),
            EndpointError::MalformedContext { name, path, reason } => write!(
                f,
                "context {name:?}: malformed metadata file {path:?}: {}: fix the file or recreate the context with docker context create",
                one_line(reason)
            ),
            EndpointError::NoDockerEndpoint { name, path } => write!(
                f,
                "context {name:?} has no docker endpoint in {path:?}: recreate it with docker context create --docker host=..."
            ),
            EndpointError::Host { origin, error } => {
                if let Some(origin) = origin {
                    write!(f, "{origin}: ")?;
                }
                write!(f, "{error}")
            }
        }
    }
}

impl std::error::Error for EndpointError {}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn nonempty(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty())
}

fn given(path: &Option<PathBuf>) -> Option<&PathBuf> {
    path.as_ref().filter(|p| !p.as_os_str().is_empty())
}

/// Config dir: `--config` > `DOCKER_CONFIG` > `$HOME/.docker`.
pub(crate) fn config_dir(flags: &GlobalFlags, env: &dyn Env) -> PathBuf {
    match given(&flags.config) {
        Some(dir) => dir.clone(),
        None => env_config_dir(env),
    }
}

/// docker computes its TLS flag defaults before `--config` is parsed, so the cert dir falls back
/// to this, not to [`config_dir`]. Without any HOME, docker's Go code joins "" and ".docker".
fn env_config_dir(env: &dyn Env) -> PathBuf {
    if let Some(dir) = nonempty(env, "DOCKER_CONFIG") {
        return PathBuf::from(dir);
    }
    Path::new(&nonempty(env, "HOME").unwrap_or_default()).join(".docker")
}

/// Pick the daemon as docker/cli does: `current_context` is config.json's `currentContext`
/// (`None` when absent).
pub(crate) fn resolve(
    flags: &GlobalFlags,
    env: &dyn Env,
    current_context: Option<&str>,
) -> Result<Resolved, EndpointError> {
    // docker checks `Context != ""`, so an empty --context counts as not given, while any -H,
    // even an empty one, counts as given.
    let flag_context = flags.context.as_deref().filter(|c| !c.is_empty());
    if flag_context.is_some() && flags.host.is_some() {
        return Err(EndpointError::ConflictingOptions);
    }
    let (name, source) = if let Some(name) = flag_context {
        (name.to_owned(), "--context")
    } else if flags.host.is_some() || nonempty(env, "DOCKER_HOST").is_some() {
        (DEFAULT_CONTEXT.to_owned(), "")
    } else if let Some(name) = nonempty(env, "DOCKER_CONTEXT") {
        (name, "DOCKER_CONTEXT")
    } else if let Some(name) = current_context.filter(|c| !c.is_empty()) {
        (name.to_owned(), "currentContext")
    } else {
        (DEFAULT_CONTEXT.to_owned(), "")
    };
    if name == DEFAULT_CONTEXT {
        resolve_default(flags, env)
    } else {
        context::resolve_named(name, source, flags, env)
    }
}

fn resolve_default(flags: &GlobalFlags, env: &dyn Env) -> Result<Resolved, EndpointError> {
    let tls = default_tls(flags, env);
    let (host, source) = match (&flags.host, nonempty(env, "DOCKER_HOST")) {
        (Some(host), _) => (host.clone(), "--host"),
        (None, Some(host)) => (host, "DOCKER_HOST"),
        (None, None) => (String::new(), ""),
    };
    let endpoint = parse_host(&host, tls).map_err(|error| EndpointError::Host {
        origin: (!source.is_empty()).then(|| source.to_owned()),
        error,
    })?;
    let source = match (&endpoint, source) {
        (_, s) if !s.is_empty() => s,
        (Endpoint::Unix(_), _) => "default socket",
        // An empty host never means ssh: this arm is only for completeness.
        (Endpoint::Tcp { .. } | Endpoint::Ssh(_), _) => "default tls host",
    };
    Ok(Resolved {
        context: DEFAULT_CONTEXT.to_owned(),
        endpoint,
        source,
    })
}

/// docker/cli's flag defaults: `DOCKER_TLS_VERIFY` with any value (even "0") means verify, and
/// verify implies TLS.
fn default_tls(flags: &GlobalFlags, env: &dyn Env) -> Option<TlsSettings> {
    let verify = flags.tlsverify || nonempty(env, "DOCKER_TLS_VERIFY").is_some();
    if !(flags.tls || verify || nonempty(env, "DOCKER_TLS").is_some()) {
        return None;
    }
    let cert_dir = nonempty(env, "DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| env_config_dir(env));
    let default_ca = cert_dir.join("ca.pem");
    let default_cert = cert_dir.join("cert.pem");
    let default_key = cert_dir.join("key.pem");
    // A lone default cert.pem or key.pem cannot make a client certificate; drop both.
    let default_pair = default_cert.is_file() && default_key.is_file();
    // A flag given empty means no file, as docker's "flag changed" check keeps the empty value.
    let pick = |flag: &Option<PathBuf>, default: PathBuf, usable: bool| match flag {
        Some(p) if p.as_os_str().is_empty() => None,
        Some(p) => Some(p.clone()),
        None => usable.then_some(default),
    };
    let ca_exists = default_ca.is_file();
    Some(TlsSettings {
        ca: pick(&flags.tlscacert, default_ca, ca_exists),
        cert: pick(&flags.tlscert, default_cert, default_pair),
        key: pick(&flags.tlskey, default_key, default_pair),
        verify,
    })
}

#[cfg(test)]
mod tests;
