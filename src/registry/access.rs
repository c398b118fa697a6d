//! Whether a registry would accept a push from these credentials, asked without pushing: a
//! token requested for `repository:NAME:pull,push` and its granted `access` claim read, or for
//! Basic auth a `GET /v2/` with the credentials.

use super::{Registry, auth, request, send_raw};
use crate::error::{Error, Kind};
use crate::protocol::www_auth::Challenge;
use base64::Engine as _;
use http::{Method, StatusCode};

/// What the registry says about pushing to one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PushAccess {
    /// It would accept the push; how we know.
    Granted(String),
    /// It would not: why (the error a push would end with).
    Refused(Error),
    /// It handed out an opaque token: nothing says what it grants until a push is tried.
    Unknown(String),
}

/// The scope a push needs (the daemon asks for the same).
pub(crate) fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

impl Registry {
    /// Ask, without changing anything, whether a push to `repo` would be accepted.
    /// Errors are a registry that cannot be reached or answers nonsense; refusals are
    /// [`PushAccess::Refused`].
    pub(crate) async fn push_access(&self, repo: &str) -> Result<PushAccess, Error> {
        let refused = |m: String| Ok(PushAccess::Refused(Error::new(Kind::Auth, m)));
        match &self.challenge {
            None => Ok(PushAccess::Granted(
                "the registry asks for no credentials".into(),
            )),
            Some(Challenge::Basic) => {
                let Some(basic) = auth::basic(&self.auth) else {
                    return refused(format!(
                        "the registry {} wants a login and there is none: log in with docker pushx login {}",
                        self.domain, self.domain
                    ));
                };
                let req = request(
                    Method::GET,
                    &format!("{}/v2/", self.base),
                    None,
                    Some(&basic),
                )?;
                let res = send_raw(&self.client, req, self.stall, &self.domain).await?;
                match res.status() {
                    s if s.is_success() => Ok(PushAccess::Granted(
                        "the registry accepts the login (Basic)".into(),
                    )),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => refused(format!(
                        "the registry {} refused the credentials (HTTP {}): log in with docker pushx login {}",
                        self.domain,
                        res.status().as_u16(),
                        self.domain
                    )),
                    s => Err(Error::other(format!(
                        "the registry {} answered GET /v2/ with HTTP {}",
                        self.domain,
                        s.as_u16()
                    ))),
                }
            }
            Some(Challenge::Bearer { .. }) => {
                let token = match self.authorization(&[push_scope(repo)]).await {
                    Ok(t) => t,
                    Err(e) if e.kind == Kind::Auth => return Ok(PushAccess::Refused(e)),
                    Err(e) => return Err(e),
                };
                let token = token
                    .as_ref()
                    .and_then(|t| t.expose().strip_prefix("Bearer ").map(str::to_string))
                    .unwrap_or_default();
                Ok(match granted_actions(&token, repo) {
                    None => PushAccess::Unknown(
                        "the token server hands out opaque tokens: push access unknown".into(),
                    ),
                    Some(actions) if actions.iter().any(|a| a == "push" || a == "*") => {
                        PushAccess::Granted("the token grants push".into())
                    }
                    Some(actions) => PushAccess::Refused(Error::new(
                        Kind::Auth,
                        format!(
                            "the token server of {} grants {} on {repo}, not push: log in as a user who may push (docker pushx login {})",
                            self.domain,
                            if actions.is_empty() {
                                "nothing".to_string()
                            } else {
                                actions.join(",")
                            },
                            self.domain
                        ),
                    )),
                })
            }
        }
    }
}

/// The actions a distribution token grants on `repository`, read from its JWT payload's
/// `access` claim (`[{"type":"repository","name":…,"actions":[…]}]`). The signature is not
/// checked: this is only a hint of what the registry will allow, which enforces it itself.
/// `None` when the token is not a JWT or has no `access` claim (nothing can be said).
pub(crate) fn granted_actions(token: &str, repository: &str) -> Option<Vec<String>> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let access = claims.get("access")?.as_array()?;
    let mut actions: Vec<String> = access
        .iter()
        .filter(|a| a.get("type").and_then(|t| t.as_str()) == Some("repository"))
        .filter(|a| a.get("name").and_then(|n| n.as_str()) == Some(repository))
        .filter_map(|a| a.get("actions")?.as_array().cloned())
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    actions.sort();
    actions.dedup();
    Some(actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        format!(
            "{}.{}.{}",
            e(br#"{"alg":"RS256"}"#),
            e(claims.to_string().as_bytes()),
            e(b"signature")
        )
    }

    #[test]
    fn access_claims_are_read() {
        let t = jwt(serde_json::json!({"access": [
            {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "other", "actions": ["*"]},
        ]}));
        assert_eq!(
            granted_actions(&t, "team/app"),
            Some(vec!["pull".into(), "push".into()])
        );
        assert_eq!(granted_actions(&t, "other"), Some(vec!["*".into()]));
        assert_eq!(granted_actions(&t, "nope"), Some(vec![]));
        let pull_only = jwt(serde_json::json!({"access": [
            {"type": "repository", "name": "team/app", "actions": ["pull"]},
        ]}));
        assert_eq!(
            granted_actions(&pull_only, "team/app"),
            Some(vec!["pull".into()])
        );
        // An empty grant (anonymous): a JWT with `access: []`.
        let none = jwt(serde_json::json!({"access": []}));
        assert_eq!(granted_actions(&none, "team/app"), Some(vec![]));
    }

    #[test]
    fn opaque_tokens_say_nothing() {
        for t in [
            "",
            "opaque-token",
            "a.b",
            "a.b.c.d",
            "a.!!!.c",
            &jwt(serde_json::json!({"sub": "me"})),
            &jwt(serde_json::json!({"access": "all"})),
        ] {
            assert_eq!(granted_actions(t, "team/app"), None, "{t}");
        }
    }

    #[test]
    fn the_push_scope() {
        assert_eq!(push_scope("team/app"), "repository:team/app:pull,push");
    }
}
