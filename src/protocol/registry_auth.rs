//! The `X-Registry-Auth` header the Engine API takes for push, pull and distribution calls.

use crate::secret::Secret;
use base64::Engine;
use serde::Serialize;

/// Credentials for one registry, as the daemon wants them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegistryAuth {
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// An OAuth refresh token from an earlier login; sent instead of the password.
    pub identity_token: Option<Secret>,
    /// `host[:port]`, or `https://index.docker.io/v1/` for Docker Hub.
    pub server_address: String,
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identitytoken: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    serveraddress: &'a str,
}

impl RegistryAuth {
    pub(crate) fn anonymous() -> Self {
        RegistryAuth::default()
    }

    pub(crate) fn is_anonymous(&self) -> bool {
        self.password.is_none() && self.identity_token.is_none()
    }

    /// The JSON body `POST /auth` takes.
    pub(crate) fn to_json(&self) -> Secret {
        let wire = Wire {
            username: self.username.as_deref(),
            password: self.password.as_ref().map(Secret::expose),
            identitytoken: self.identity_token.as_ref().map(Secret::expose),
            serveraddress: &self.server_address,
        };
        // Serialising plain strings cannot fail.
        Secret::new(serde_json::to_string(&wire).unwrap_or_default())
    }

    /// The header value: base64url *with* padding. The daemon decodes with Go's
    /// `base64.URLEncoding` and silently treats anything undecodable as anonymous, so the
    /// standard alphabet (`+`, `/`) loses the credentials for some passwords.
    pub(crate) fn header(&self) -> Secret {
        if self.is_anonymous() {
            return Secret::new("e30="); // "{}"
        }
        Secret::new(base64::engine::general_purpose::URL_SAFE.encode(self.to_json().expose()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_url_safe_and_decodes() {
        let a = RegistryAuth {
            username: Some("alice".into()),
            password: Some(Secret::new("p>?~s?>~w?~>d")),
            identity_token: None,
            server_address: "registry.example.com:5000".into(),
        };
        let h = a.header();
        assert!(
            !h.expose().contains('+') && !h.expose().contains('/'),
            "{}",
            h.expose()
        );
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(h.expose())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["password"], "p>?~s?>~w?~>d");
        assert_eq!(v["serveraddress"], "registry.example.com:5000");
        assert!(v.get("identitytoken").is_none());
    }

    #[test]
    fn anonymous_is_an_empty_object() {
        assert_eq!(RegistryAuth::anonymous().header().expose(), "e30=");
    }
}
