//! The bearer-token flow of one registry: a token from the realm the registry named, for a
//! scope, with the login's password (Basic, `GET`) or identity token (`POST`, a
//! `refresh_token` grant, as the daemon does), or anonymously. Several scopes go in one token
//! request (a cross-repository mount needs `pull` on the source beside `push` on the target).

use super::{Registry, USER_AGENT, authority, request, send_raw};
use crate::error::{Error, Kind};
use crate::protocol::registry_auth::RegistryAuth;
use crate::protocol::www_auth::{self, TokenResponse};
use crate::secret::Secret;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;

impl Registry {
    /// The token flow: an identity token is exchanged with `POST realm`
    /// (`grant_type=refresh_token`, as the daemon does); a password goes as Basic credentials
    /// on `GET realm`; without credentials, an anonymous `GET`.
    pub(super) async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Secret, Error> {
        let service = service.unwrap_or_default();
        let client = if authority(realm) == authority(&format!("{}/", self.base)) {
            &self.client
        } else {
            self.verified.get()?
        };
        let req = if let Some(refresh) = &self.auth.identity_token {
            // The form carries the scopes space-separated in one field (OAuth 2).
            let joined = super::scope_key(scopes);
            let form = Secret::new(www_auth::form_encode(&[
                ("grant_type", "refresh_token"),
                ("service", service),
                ("scope", &joined),
                ("client_id", "docker-pushx"),
                ("refresh_token", refresh.expose()),
            ]));
            Request::builder()
                .method(Method::POST)
                .uri(realm)
                .header(http::header::USER_AGENT, USER_AGENT)
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(Full::new(Bytes::copy_from_slice(form.expose().as_bytes())))
                .map_err(|e| Error::other(format!("bad token realm {realm}: {e}")))?
        } else {
            let sep = if realm.contains('?') { '&' } else { '?' };
            let q = www_auth::form_encode(&token_query(service, scopes));
            request(
                Method::GET,
                &format!("{realm}{sep}{q}"),
                None,
                basic(&self.auth).as_ref(),
            )?
        };
        let res = send_raw(client, req, self.stall, &self.domain).await?;
        let status = res.status();
        let body = super::short_body(res, self.stall).await;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::new(
                Kind::Auth,
                format!(
                    "the token server of {} refused the credentials (HTTP {}): log in with docker pushx login {}",
                    self.domain,
                    status.as_u16(),
                    self.domain
                ),
            ));
        }
        if !status.is_success() {
            return Err(Error::other(format!(
                "the token server of {} answered HTTP {}",
                self.domain,
                status.as_u16()
            )));
        }
        TokenResponse::parse(&body).map(Secret::new).ok_or_else(|| {
            Error::other(format!(
                "the token server of {} answered no token",
                self.domain
            ))
        })
    }
}

/// The query of a token `GET`: the service, then one `scope` parameter per scope, as the
/// daemon sends several (distribution's token spec).
fn token_query<'a>(service: &'a str, scopes: &'a [String]) -> Vec<(&'a str, &'a str)> {
    let mut q = vec![("service", service)];
    q.extend(scopes.iter().map(|s| ("scope", s.as_str())));
    q
}

pub(super) fn basic(auth: &RegistryAuth) -> Option<Secret> {
    let (Some(user), Some(password)) = (&auth.username, &auth.password) else {
        return None;
    };
    let raw = Secret::new(format!("{user}:{}", password.expose()));
    Some(Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.expose())
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_scopes_are_several_parameters() {
        let scopes = vec![
            "repository:team/app:pull,push".to_string(),
            "repository:base/os:pull".to_string(),
        ];
        assert_eq!(
            www_auth::form_encode(&token_query("reg", &scopes)),
            "service=reg&scope=repository%3Ateam%2Fapp%3Apull%2Cpush&scope=repository%3Abase%2Fos%3Apull"
        );
        assert_eq!(
            super::super::scope_key(&scopes),
            "repository:team/app:pull,push repository:base/os:pull"
        );
    }
}
