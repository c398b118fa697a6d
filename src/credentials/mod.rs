//! Finding the credentials for a registry, in the order docker-pushx documents: pushx's own
//! keyring store, then docker's configuration (`DOCKER_AUTH_CONFIG`, `credHelpers`,
//! `credsStore`, `auths`), then anonymous.

pub(crate) mod config_file;
pub(crate) mod helper_client;
pub(crate) mod keyring;

use crate::error::{Error, Kind};
use crate::protocol::config::{DockerConfig, auth_entry_in};
use crate::protocol::registry_auth::RegistryAuth;
use crate::secret::Secret;
use crate::store::StoreChoice;
use crate::store::chain::Purpose;
use std::collections::BTreeMap;

/// Credentials found for one registry, and where they came from.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub auth: RegistryAuth,
    /// `docker-config`, `helper:NAME`, `docker-auth-config`, `keyring:…` or `anonymous`.
    pub source: String,
}

/// The username docker's helpers use to mark an identity token instead of a password.
pub(crate) const TOKEN_USERNAME: &str = "<token>";

/// Turn a username/secret pair into daemon credentials.
pub(crate) fn to_auth(key: &str, username: &str, secret: Secret) -> RegistryAuth {
    if username == TOKEN_USERNAME {
        RegistryAuth {
            username: None,
            password: None,
            identity_token: Some(secret),
            server_address: key.to_string(),
        }
    } else {
        RegistryAuth {
            username: Some(username.to_string()),
            password: Some(secret),
            identity_token: None,
            server_address: key.to_string(),
        }
    }
}

/// Credentials for each registry key, in the documented order: pushx's own stores for
/// `store` (opened once, so one D-Bus connection serves every key), then docker's
/// configuration ([`lookup_docker`]), else anonymous. An unusable keyring store is skipped; a
/// failing one is an error. Blocking: keyring and helper calls.
pub(crate) fn find_all(
    store: StoreChoice,
    config: &DockerConfig,
    auth_config_env: Option<&str>,
    keys: &[String],
) -> Result<BTreeMap<String, Found>, Error> {
    let stores = keyring::open(store, Purpose::Read);
    let mut out = BTreeMap::new();
    for key in keys {
        let found = match stores.find(key).map_err(keyring::store_error)? {
            Some((c, kind)) => Found {
                auth: to_auth(key, &c.username, c.secret),
                source: keyring::source_name(kind),
            },
            None => lookup_docker(config, auth_config_env, key)?.unwrap_or_else(|| anonymous(key)),
        };
        out.insert(key.clone(), found);
    }
    Ok(out)
}

/// docker's own lookup for `key` (`host[:port]` or `https://index.docker.io/v1/`).
/// `auth_config_env` is the value of `DOCKER_AUTH_CONFIG`, which takes precedence like in the
/// docker CLI (28.3+).
pub(crate) fn lookup_docker(
    config: &DockerConfig,
    auth_config_env: Option<&str>,
    key: &str,
) -> Result<Option<Found>, Error> {
    if let Some(env) = auth_config_env.filter(|s| !s.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(env).map_err(|_| {
            Error::usage("DOCKER_AUTH_CONFIG is not valid JSON: set it to {\"auths\":{\"HOST\":{\"auth\":\"…\"}}} or unset it")
        })?;
        let entry = auth_entry_in(v.get("auths"), key)
            .map_err(|e| Error::usage(format!("DOCKER_AUTH_CONFIG: {e}")))?;
        if let Some(e) = entry {
            return Ok(Some(found(key, e, "docker-auth-config")));
        }
    }
    if let Some(helper) = config.helper_for(key)
        && let Some((user, secret)) = helper_client::get(helper, key)?
    {
        return Ok(Some(Found {
            auth: to_auth(key, &user, secret),
            source: format!("helper:{helper}"),
        }));
    }
    let entry = config.auth_entry(key).map_err(|e| {
        Error::new(
            Kind::Usage,
            format!("config.json: {e}: log in again or fix the entry"),
        )
    })?;
    Ok(entry.map(|e| found(key, e, "docker-config")))
}

fn found(key: &str, e: crate::protocol::config::AuthEntry, source: &str) -> Found {
    let auth = match (e.identity_token, e.password) {
        (Some(tok), _) => RegistryAuth {
            username: Some(e.username).filter(|u| !u.is_empty()),
            password: None,
            identity_token: Some(tok),
            server_address: key.to_string(),
        },
        (None, pw) => RegistryAuth {
            username: Some(e.username),
            password: pw,
            identity_token: None,
            server_address: key.to_string(),
        },
    };
    Found {
        auth,
        source: source.to_string(),
    }
}

pub(crate) fn anonymous(key: &str) -> Found {
    Found {
        auth: RegistryAuth {
            server_address: key.to_string(),
            ..RegistryAuth::anonymous()
        },
        source: "anonymous".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_auth_config_wins_over_auths() {
        let cfg = DockerConfig::parse(br#"{"auths":{"r:1":{"auth":"YWxpY2U6czNjcmV0"}}}"#).unwrap();
        let env = r#"{"auths":{"r:1":{"auth":"Ym9iOnB3"}}}"#;
        let f = lookup_docker(&cfg, Some(env), "r:1").unwrap().unwrap();
        assert_eq!(
            (f.source.as_str(), f.auth.username.as_deref()),
            ("docker-auth-config", Some("bob"))
        );
        let f = lookup_docker(&cfg, None, "r:1").unwrap().unwrap();
        assert_eq!(
            (f.source.as_str(), f.auth.username.as_deref()),
            ("docker-config", Some("alice"))
        );
        assert!(lookup_docker(&cfg, None, "other:1").unwrap().is_none());
        assert!(lookup_docker(&cfg, Some("{"), "r:1").is_err());
    }

    #[test]
    fn token_username_means_identity_token() {
        let a = to_auth("r", TOKEN_USERNAME, Secret::new("tok"));
        assert!(a.username.is_none() && a.password.is_none());
        assert_eq!(a.identity_token.unwrap().expose(), "tok");
    }
}
