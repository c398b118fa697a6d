//! The common end-to-end scenario in a few lines: a fresh image, `docker pushx --format json`
//! with these arguments to a repository no other test uses, the parsed result, and what the
//! registry itself holds.
//!
//! ```ignore
//! let pushed = Scenario::new().login(&reg).random_image(5_000).push_to(&reg, &["--verify", "digest"]);
//! pushed.assert_landed();
//! assert_eq!(pushed.target(0)["credential_source"], "docker-config");
//! ```

use super::{Config, Run, build_image, random_bytes, registry_digest, run, unique};

/// A docker config of its own, a source image, and the environment of every run.
pub struct Scenario {
    cfg: Config,
    source: Option<String>,
    env: Vec<(String, String)>,
}

impl Scenario {
    pub fn new() -> Scenario {
        Scenario::with_config(Config::new())
    }

    /// A scenario in a config the test prepared (or shares with other commands).
    pub fn with_config(cfg: Config) -> Scenario {
        Scenario {
            cfg,
            source: None,
            env: Vec::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// config.json with a plain `auths` login for the test registry user.
    pub fn login(self, registry: &str) -> Scenario {
        self.cfg.with_login(registry);
        self
    }

    /// config.json with these contents.
    pub fn config_json(self, json: serde_json::Value) -> Scenario {
        self.cfg.write(&json);
        self
    }

    /// An environment variable for every run.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Scenario {
        self.env.push((name.to_string(), value.into()));
        self
    }

    /// Build a fresh image `FROM scratch`, one layer per file, tagged `:1`; it is the source.
    pub fn image(mut self, layers: &[(&str, &[u8])]) -> Scenario {
        let name = format!("{}:1", unique("pushx-e2e"));
        build_image(&name, layers);
        self.source = Some(name);
        self
    }

    /// A fresh image of one layer of `bytes` random bytes.
    pub fn random_image(self, bytes: usize) -> Scenario {
        self.image(&[("f", &random_bytes(bytes))])
    }

    /// Push an image that already exists (another scenario's, or one the test built).
    pub fn source(mut self, name: &str) -> Scenario {
        self.source = Some(name.to_string());
        self
    }

    /// The source image's name (`name:1`).
    pub fn image_name(&self) -> &str {
        self.source
            .as_deref()
            .expect("the scenario has no image: call .image(…) first")
    }

    /// `docker-pushx ARGS` with this config and environment, nothing added.
    pub fn pushx(&self, args: &[&str]) -> Run {
        let mut cmd = self.cfg.pushx();
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        run(cmd.args(args))
    }

    /// `docker-pushx --format json ARGS SOURCE REGISTRY/e2e/…`: a repository no test used.
    pub fn push_to(&self, registry: &str, args: &[&str]) -> Pushed {
        self.push_as(&format!("{registry}/{}", unique("e2e/push")), args)
    }

    /// `docker-pushx --format json ARGS SOURCE TARGET` to a target the test names
    /// (`registry/repo` or `registry/repo:tag`).
    pub fn push_as(&self, target: &str, args: &[&str]) -> Pushed {
        let source = self.image_name();
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        all.extend([source, target]);
        let run = self.pushx(&all);
        let (registry, path) = target
            .split_once('/')
            .expect("a registry/repository target");
        let (repo, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) => (repo, tag),
            None => (path, source.rsplit_once(':').map_or("latest", |t| t.1)),
        };
        Pushed {
            run,
            registry: registry.to_string(),
            repo: repo.to_string(),
            tag: tag.to_string(),
        }
    }
}

/// What one `push_to`/`push_as` did.
pub struct Pushed {
    pub run: Run,
    pub registry: String,
    pub repo: String,
    /// The tag the (first) target got.
    pub tag: String,
}

impl Pushed {
    /// Assert the exit code (with the whole run in the message).
    pub fn expect(&self, code: i32) -> &Pushed {
        assert_eq!(self.run.code, code, "{:?}", self.run);
        self
    }

    /// The JSON result (panics, showing the run, if stdout is not JSON).
    pub fn json(&self) -> serde_json::Value {
        self.run.json()
    }

    /// The JSON result, or null when stdout holds none.
    pub fn try_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.run.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// `targets[i]` of the result.
    pub fn target(&self, i: usize) -> serde_json::Value {
        self.json()["targets"][i].clone()
    }

    /// `registry/repo`, as the target was named without its tag.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repo)
    }

    /// The digest the registry itself holds for `repo:tag`.
    pub fn held(&self, tag: &str) -> Option<String> {
        held_digest(&self.registry, &self.repo, tag)
    }

    /// Exit 0, the first target pushed, and the registry holds the digest it reports.
    pub fn assert_landed(&self) -> &Pushed {
        self.expect(0);
        let t = self.target(0);
        assert_eq!(t["status"], "pushed", "{:?}", self.run);
        let digest = t["digest"].as_str().map(str::to_string);
        assert!(digest.is_some(), "{:?}", self.run);
        assert_eq!(
            self.held(&self.tag),
            digest,
            "the registry holds what was pushed"
        );
        self
    }
}

/// [`registry_digest`] for one of the test registries, knowing which needs auth and TLS
/// (`localhost:PORT` is the same registry as `127.0.0.1:PORT`).
pub fn held_digest(registry: &str, repo: &str, tag: &str) -> Option<String> {
    let addr = registry.replace("localhost", "127.0.0.1");
    let is = |var: &str| std::env::var(var).is_ok_and(|v| v == addr);
    // The bearer-token registry is asked with a token of our own.
    if is("PUSHX_TEST_TOKEN_REGISTRY") {
        return super::token::registry_digest(registry, repo, tag);
    }
    let tls = is("PUSHX_TEST_TLS_REGISTRY");
    let auth = tls || is("PUSHX_TEST_AUTH_REGISTRY");
    registry_digest(registry, repo, tag, auth, tls)
}
