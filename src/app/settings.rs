//! The one immutable settings value of a run: docker's global flags resolved into a config
//! directory, a parsed config.json and a daemon endpoint.

use crate::credentials::{self, Found, keyring};
use crate::daemon::endpoint::{self, ProcessEnv, Resolved};
use crate::error::{Error, Kind};
use crate::protocol::config::DockerConfig;
use crate::protocol::plugin::GlobalFlags;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub config_path: PathBuf,
    pub config: DockerConfig,
    /// `DOCKER_AUTH_CONFIG`, read once.
    pub auth_config_env: Option<String>,
    /// The daemon, or why it cannot be named: an error only for the commands that need one
    /// (a bad DOCKER_HOST must not stop `logout` or `configure`).
    endpoint: Result<Resolved, Error>,
    /// `PUSHX_CREDENTIAL_STORE`, or auto.
    pub store: crate::store::StoreChoice,
}

impl Settings {
    pub(crate) fn load(global: GlobalFlags) -> Result<Settings, Error> {
        let env = ProcessEnv;
        let config_dir = endpoint::config_dir(&global, &env);
        let config_path = config_dir.join("config.json");
        let config = credentials::config_file::load(&config_path)?;
        let endpoint = endpoint::resolve(&global, &env, config.current_context())
            .map_err(|e| Error::new(Kind::Usage, e.to_string()));
        Ok(Settings {
            config_path,
            config,
            auth_config_env: std::env::var("DOCKER_AUTH_CONFIG").ok(),
            endpoint,
            store: keyring::choice(None)?,
        })
    }

    /// The daemon to talk to.
    pub(crate) fn endpoint(&self) -> Result<&Resolved, Error> {
        self.endpoint.as_ref().map_err(Clone::clone)
    }

    /// Credentials for each registry key: [`credentials::find_all`] with this run's settings.
    pub(crate) fn credentials_for(
        &self,
        keys: &[String],
    ) -> Result<BTreeMap<String, Found>, Error> {
        credentials::find_all(
            self.store,
            &self.config,
            self.auth_config_env.as_deref(),
            keys,
        )
    }
}
