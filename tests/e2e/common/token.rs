//! The bearer-token registry's side door: tokens asked of its token server directly (as a
//! registry client would, with the test user's Basic credentials), the digest the registry
//! holds seen through such a token, and the token server's request log (tests/env.sh,
//! tests/token-server/token_server.py).
//!
//! Secrets travel to curl in its config on stdin, never in argv (see [`super::describe`]).

use super::{password, run_with_stdin, user};
use std::process::Command;

/// The `client_id` of the token requests made here, so that [`requests_for`] can leave them out.
pub const CLIENT_ID: &str = "pushx-e2e";

/// A string as a double-quoted curl config value.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// What the token server answered: the HTTP status and the JSON body (null if none).
pub struct TokenReply {
    pub status: u16,
    pub body: serde_json::Value,
}

impl TokenReply {
    /// The bearer token of a 200 answer (`token`, else `access_token`).
    pub fn token(&self) -> Option<String> {
        if self.status != 200 {
            return None;
        }
        self.body["token"]
            .as_str()
            .or_else(|| self.body["access_token"].as_str())
            .map(str::to_string)
    }
}

/// curl with `cfg` on stdin; the last line of stdout is the status (`-w`), the rest the body.
fn curl(cfg: &str) -> TokenReply {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-K", "-", "-w", "\n%{http_code}"]);
    let r = run_with_stdin(&mut cmd, Some(cfg.as_bytes()));
    let (body, status) = r.stdout.rsplit_once('\n').unwrap_or(("", &r.stdout));
    TokenReply {
        status: status.trim().parse().unwrap_or(0),
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    }
}

/// `GET realm?service=…&scope=…&client_id=…` (docker's default token request), with `basic`
/// credentials or anonymous; `offline` adds `offline_token=true` as `docker login` does.
pub fn get_token(scopes: &[&str], basic: Option<(&str, &str)>, offline: bool) -> TokenReply {
    let mut cfg = format!(
        "url = {}\nget\ndata-urlencode = {}\ndata = \"client_id={CLIENT_ID}\"\n",
        quoted(&env("PUSHX_TEST_TOKEN_REALM")),
        quoted(&format!("service={}", env("PUSHX_TEST_TOKEN_SERVICE")))
    );
    for s in scopes {
        cfg.push_str(&format!(
            "data-urlencode = {}\n",
            quoted(&format!("scope={s}"))
        ));
    }
    if offline {
        cfg.push_str("data = \"offline_token=true\"\n");
    }
    if let Some((u, p)) = basic {
        cfg.push_str(&format!("user = {}\n", quoted(&format!("{u}:{p}"))));
    }
    curl(&cfg)
}

/// `POST realm` with this form (oauth.md); values are URL-encoded here.
pub fn post_token(form: &[(&str, &str)]) -> TokenReply {
    let mut cfg = format!("url = {}\n", quoted(&env("PUSHX_TEST_TOKEN_REALM")));
    for (k, v) in form {
        cfg.push_str(&format!(
            "data-urlencode = {}\n",
            quoted(&format!("{k}={v}"))
        ));
    }
    curl(&cfg)
}

/// A token for the test user granting `pull` on `repo` (panics, showing the answer, if refused).
pub fn pull_token(repo: &str) -> String {
    let reply = get_token(
        &[&format!("repository:{repo}:pull")],
        Some((&user(), &password())),
        false,
    );
    reply.token().unwrap_or_else(|| {
        panic!(
            "the token server refused a pull token: {} {}",
            reply.status, reply.body
        )
    })
}

/// The digest the token registry holds for `repo:tag`, asked with a token of our own.
pub fn registry_digest(registry: &str, repo: &str, tag: &str) -> Option<String> {
    let token = pull_token(repo);
    let cfg = format!(
        "url = {}\nhead\nheader = {}\nheader = {}\n",
        quoted(&format!("http://{registry}/v2/{repo}/manifests/{tag}")),
        quoted(&format!("Authorization: Bearer {token}")),
        quoted(
            "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        ),
    );
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-D", "-", "-K", "-"]);
    let r = run_with_stdin(&mut cmd, Some(cfg.as_bytes()));
    r.stdout.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("docker-content-digest:")
            .map(|d| d.trim().to_string())
    })
}

/// Every request the token server has logged so far (one JSON object each: `method`, `path`,
/// `grant_type`, `scope`, `service`, `account`, `status`, …; never a secret).
pub fn requests() -> Vec<serde_json::Value> {
    let log = std::fs::read_to_string(env("PUSHX_TEST_TOKEN_LOG")).unwrap_or_default();
    log.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The logged requests whose scopes name repository `repo`, except those made here (the
/// clients under test, the daemon and the docker CLI, send another `client_id` or none).
pub fn requests_for(repo: &str) -> Vec<serde_json::Value> {
    let prefix = format!("repository:{repo}:");
    requests()
        .into_iter()
        .filter(|r| {
            r["client_id"] != CLIENT_ID
                && r["scope"].as_array().is_some_and(|s| {
                    s.iter()
                        .filter_map(|v| v.as_str())
                        .flat_map(str::split_whitespace)
                        .any(|s| s.starts_with(&prefix))
                })
        })
        .collect()
}
