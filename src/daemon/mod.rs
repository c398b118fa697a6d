//! The Docker Engine: bollard for the typed calls, the same connection for the streams whose
//! raw messages docker-pushx must read (bollard's push type drops the layer id and the digest).

pub(crate) mod endpoint;
mod ssh;
pub(crate) mod transport;

use crate::error::{Error, Kind};
use crate::protocol::classify::classify;
use crate::protocol::image::{Content, LocalImage, Runtime};
use crate::protocol::registry_auth::RegistryAuth;
use crate::protocol::stream::{Event, Lines, parse_message};
use crate::protocol::www_auth::InsecureRules;
use bollard::Docker;
use bytes::Bytes;
use endpoint::{Endpoint, Resolved};
use futures::{Stream, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use transport::{Body, Transport, empty_body, full_body};

/// A connected daemon with a negotiated API version.
pub(crate) struct Daemon {
    docker: Docker,
    transport: Arc<Transport>,
    version: String,
    /// Where it is, for error messages (`unix:///var/run/docker.sock`).
    pub address: String,
}

/// Seconds bollard waits for response headers. Push and pull bodies stream for longer and are
/// not covered (their progress is watched instead).
const REQUEST_TIMEOUT_SECS: u64 = 120;

pub(crate) fn describe(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Unix(p) => format!("unix://{}", p.display()),
        Endpoint::Tcp { host, port, tls } => {
            let h = if host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            format!(
                "tcp://{h}:{port}{}",
                if tls.is_some() { " (TLS)" } else { "" }
            )
        }
        Endpoint::Ssh(spec) => spec.to_string(),
    }
}

impl Daemon {
    pub(crate) async fn connect(resolved: &Resolved) -> Result<Daemon, Error> {
        let address = describe(&resolved.endpoint);
        let transport = Arc::new(Transport::new(&resolved.endpoint)?);
        let t = transport.clone();
        let docker = Docker::connect_with_custom_transport(
            move |req: bollard::BollardRequest| {
                let t = t.clone();
                async move {
                    t.send(req)
                        .await
                        .map_err(|err| bollard::errors::Error::IOError { err })
                }
            },
            Some("http://docker"),
            REQUEST_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| Error::other(format!("docker client: {e}")))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| match daemon_error(&address, e) {
                // Something answered, but not like a daemon.
                e if e.kind == Kind::Other => Error::new(
                    Kind::Unreachable,
                    format!(
                        "{address} does not answer like a Docker daemon ({}): point --host, DOCKER_HOST or --context at one",
                        e.message
                    ),
                ),
                e => e,
            })?;
        let v = docker.client_version();
        let version = format!("{}.{}", v.major_version, v.minor_version);
        Ok(Daemon {
            docker,
            transport,
            version,
            address,
        })
    }

    pub(crate) fn api_version(&self) -> &str {
        &self.version
    }

    /// `GET /images/{name}/json`: the image's ID, or None when there is no such image.
    pub(crate) async fn image_id(&self, name: &str) -> Result<Option<String>, Error> {
        match self.docker.inspect_image(name).await {
            Ok(img) => Ok(img.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(daemon_error(&self.address, e)),
        }
    }

    /// The local image `name` resolves to, with what its config says, or `None`.
    pub(crate) async fn image(&self, name: &str) -> Result<Option<LocalImage>, Error> {
        let img = match self.docker.inspect_image(name).await {
            Ok(img) => img,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(daemon_error(&self.address, e)),
        };
        let Some(id) = img.id else {
            return Ok(None);
        };
        let c = img.config.unwrap_or_default();
        Ok(Some(LocalImage {
            id,
            // Only the containerd store describes an image by an OCI descriptor.
            containerd: img.descriptor.is_some(),
            content: Content {
                diff_ids: img.root_fs.and_then(|r| r.layers).unwrap_or_default(),
                os: img.os.unwrap_or_default(),
                architecture: img.architecture.unwrap_or_default(),
                runtime: Runtime {
                    user: c.user.unwrap_or_default(),
                    env: c.env.unwrap_or_default(),
                    entrypoint: c.entrypoint.unwrap_or_default(),
                    cmd: c.cmd.unwrap_or_default(),
                    working_dir: c.working_dir.unwrap_or_default(),
                    labels: c.labels.unwrap_or_default().into_iter().collect(),
                },
            },
        }))
    }

    /// `POST /images/{source}/tag?repo=…&tag=…`
    pub(crate) async fn tag(&self, source: &str, repo: &str, tag: &str) -> Result<(), Error> {
        let opts = bollard::query_parameters::TagImageOptions {
            repo: Some(repo.into()),
            tag: Some(tag.into()),
        };
        self.docker
            .tag_image(source, Some(opts))
            .await
            .map_err(|e| daemon_error(&self.address, e))
    }

    /// The names (`RepoTags`) the image `id` carries, as the daemon lists them.
    pub(crate) async fn image_tags(&self, id: &str) -> Result<Vec<String>, Error> {
        self.docker
            .inspect_image(id)
            .await
            .map(|img| img.repo_tags.unwrap_or_default())
            .map_err(|e| daemon_error(&self.address, e))
    }

    /// `DELETE /images/{name}?noprune=true`: remove the tag `name` (`repo:tag`). Never give it
    /// an image ID (that deletes the image) nor an image's last name: the daemon then deletes
    /// the image too. `noprune` keeps untagged parent images.
    pub(crate) async fn untag(&self, name: &str) -> Result<(), Error> {
        if crate::protocol::reference::looks_like_image_id(name) {
            return Err(Error::other(format!(
                "refusing to delete the image {name}: only tags are removed"
            )));
        }
        let q = format!("/images/{}?noprune=true", urlencode(name));
        self.raw(Method::DELETE, &q, None, empty_body())
            .await
            .map(drop)
    }

    /// Whether the daemon keeps images in containerd's store (Engine 29's default).
    pub(crate) async fn image_store(&self) -> Result<&'static str, Error> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| daemon_error(&self.address, e))?;
        let containerd = info.driver_status.unwrap_or_default().iter().any(|kv| {
            kv.len() == 2 && kv[0] == "driver-type" && kv[1] == "io.containerd.snapshotter.v1"
        });
        Ok(if containerd {
            "containerd"
        } else {
            "graphdriver"
        })
    }

    /// The rules by which the daemon reaches registries without TLS verification: its `/info`
    /// `RegistryConfig` (the insecure CIDRs and the `IndexConfigs` entries with whether each is
    /// secure). When the daemon does not answer within 5 s, loopback only, as its defaults.
    pub(crate) async fn insecure_rules(&self) -> InsecureRules {
        let info =
            tokio::time::timeout(std::time::Duration::from_secs(5), self.docker.info()).await;
        let rc = match info {
            Ok(Ok(info)) => info.registry_config.unwrap_or_default(),
            Ok(Err(e)) => {
                tracing::debug!("no insecure-registry rules from the daemon ({e}): loopback only");
                return InsecureRules::default();
            }
            Err(_) => {
                tracing::debug!(
                    "the daemon's /info timed out: insecure registries on loopback only"
                );
                return InsecureRules::default();
            }
        };
        let indexes: std::collections::BTreeMap<String, bool> = rc
            .index_configs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, i)| i.secure.map(|s| (name, s)))
            .collect();
        InsecureRules::new(&rc.insecure_registry_cidrs.unwrap_or_default(), indexes)
    }

    async fn raw(
        &self,
        method: Method,
        path_and_query: &str,
        auth: Option<&RegistryAuth>,
        body: Body,
    ) -> Result<http::Response<hyper::body::Incoming>, Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/v{}{}", self.version, path_and_query))
            .header("Content-Type", "application/json");
        if let Some(auth) = auth {
            req = req.header("X-Registry-Auth", auth.header().expose());
        }
        let req = req
            .body(body)
            .map_err(|e| Error::other(format!("building a daemon request: {e}")))?;
        let res = self
            .transport
            .send(req)
            .await
            .map_err(|e| unreachable_daemon(&self.address, &e))?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(status_error(status, &message))
    }

    /// `POST /images/{name}/push?tag=…`: the raw progress stream, one chunk at a time.
    /// The tag is always set: without it the daemon pushes every local tag of the repository.
    /// Dropping the stream closes the connection, which cancels the push in the daemon.
    pub(crate) async fn push(
        &self,
        name: &str,
        tag: &str,
        auth: &RegistryAuth,
    ) -> Result<impl Stream<Item = Result<Bytes, Error>> + use<>, Error> {
        let q = format!("/images/{name}/push?tag={}", urlencode(tag));
        let res = self.raw(Method::POST, &q, Some(auth), empty_body()).await?;
        Ok(body_stream(res))
    }

    /// `GET /distribution/{name:tag}/json`: the digest the registry holds for a tag, resolved by
    /// the daemon (with its TLS and insecure-registry settings and the given credentials).
    pub(crate) async fn registry_digest(
        &self,
        reference: &str,
        auth: &RegistryAuth,
    ) -> Result<String, Error> {
        let res = self
            .raw(
                Method::GET,
                &format!("/distribution/{reference}/json"),
                Some(auth),
                empty_body(),
            )
            .await?;
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::new(Kind::Unreachable, e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(&body.to_bytes())
            .map_err(|e| Error::other(format!("unreadable answer from the daemon: {e}")))?;
        v.pointer("/Descriptor/digest")
            .and_then(|d| d.as_str())
            .map(String::from)
            .ok_or_else(|| Error::other("the daemon's answer names no digest"))
    }

    /// `POST /images/create?fromImage=…&tag=<digest>`: pull by digest, to completion.
    pub(crate) async fn pull(
        &self,
        name: &str,
        digest: &str,
        auth: &RegistryAuth,
    ) -> Result<(), Error> {
        let q = format!(
            "/images/create?fromImage={}&tag={}",
            urlencode(name),
            urlencode(digest)
        );
        let res = self.raw(Method::POST, &q, Some(auth), empty_body()).await?;
        let mut stream = std::pin::pin!(body_stream(res));
        let mut lines = Lines::default();
        while let Some(chunk) = stream.next().await {
            for line in lines
                .push(&chunk?)
                .map_err(|e| Error::other(e.to_string()))?
            {
                if let Ok(Event::Error(m)) = parse_message(&line) {
                    return Err(Error::new(classify(&m), m));
                }
            }
        }
        Ok(())
    }

    /// `POST /auth`: have the daemon check credentials against the registry. Returns the
    /// identity token the registry handed out, if any.
    pub(crate) async fn check_login(&self, auth: &RegistryAuth) -> Result<Option<String>, Error> {
        let body = full_body(Bytes::from(auth.to_json().expose().to_string()));
        let res = self.raw(Method::POST, "/auth", None, body).await?;
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::new(Kind::Unreachable, e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap_or_default();
        Ok(v.get("IdentityToken")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(String::from))
    }
}

fn body_stream(
    res: http::Response<hyper::body::Incoming>,
) -> impl Stream<Item = Result<Bytes, Error>> {
    res.into_body().into_data_stream().map(|r| {
        r.map_err(|e| {
            Error::new(
                Kind::Unreachable,
                format!("the daemon closed the stream: {e}"),
            )
        })
    })
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unreachable_daemon(address: &str, e: &std::io::Error) -> Error {
    // An ssh failure already names the daemon, the cause and the fix.
    if let Some(ssh) = e.get_ref().and_then(|e| e.downcast_ref::<ssh::SshError>()) {
        return Error::new(Kind::Unreachable, ssh.to_string());
    }
    Error::new(
        Kind::Unreachable,
        format!(
            "cannot reach the docker daemon at {address} ({e}): start dockerd, or point --host, DOCKER_HOST or --context at a running one"
        ),
    )
}

fn status_error(status: StatusCode, message: &str) -> Error {
    let kind = match status.as_u16() {
        400 => Kind::Usage,
        401 | 403 => Kind::Auth,
        404 => {
            let k = classify(message);
            if k == Kind::Other { Kind::NotFound } else { k }
        }
        500..=599 => match classify(message) {
            Kind::Other => Kind::Other,
            k => k,
        },
        _ => classify(message),
    };
    Error::new(kind, message)
}

/// Map a bollard error: transport failures mean the daemon is unreachable; HTTP errors keep
/// the daemon's message.
fn daemon_error(address: &str, e: bollard::errors::Error) -> Error {
    use bollard::errors::Error as B;
    match e {
        B::IOError { err } => unreachable_daemon(address, &err),
        B::RequestTimeoutError => Error::new(
            Kind::Unreachable,
            format!("the docker daemon at {address} did not answer in time"),
        ),
        B::DockerResponseServerError {
            status_code,
            message,
        } => status_error(
            StatusCode::from_u16(status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &message,
        ),
        B::APIVersionParseError {} => Error::other(format!(
            "the daemon at {address} reported no usable API version"
        )),
        other => Error::other(format!("docker daemon at {address}: {other}")),
    }
}
