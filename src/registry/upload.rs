//! Writing to a registry: a blob made present in a repository (already there, mounted from
//! another repository of the same registry, or streamed from another registry and uploaded,
//! in chunks when large), and a manifest PUT byte for byte so its digest stays the same.
//!
//! The HTTP client sends whole bodies (`Full<Bytes>`), so a blob never travels as one request
//! body when it is large: it is read from the source piece by piece and sent in PATCHes of at
//! most [`CHUNK`] bytes, and at most one chunk of it is in memory.

use super::access::push_scope;
use super::reach::transient_answer;
use super::{Call, Registry, SendError, path_of, resolve, short_body};
use crate::error::{Error, Kind};
use crate::protocol::manifest::Descriptor;
use crate::protocol::www_auth;
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use http::{HeaderName, Method, Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The largest body of one upload request: a blob up to this size goes in one PUT, a larger
/// one in PATCHes of this size (what the daemon's pushes hold in memory is of the same order).
const CHUNK: usize = 8 << 20;

const OCTET_STREAM: &str = "application/octet-stream";

/// A chunk being sent: the session's next URL when done.
type PatchFuture<'a> = futures::future::BoxFuture<'a, Result<String, Failed>>;

/// What a failure to read the blob from the source registry says, before the source's own
/// reason: [`is_source_failure`] looks for it.
const SOURCE_FAILURE: &str = "reading from the primary ";

/// How a blob came to be in the target repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// The repository had it already.
    Present,
    /// The registry linked it from the source repository: no bytes moved.
    Mounted,
    /// It was streamed from the source registry and uploaded.
    Copied { bytes: u64 },
}

/// Whether [`Registry::place_blob`] failed because the blob could not be read from the
/// source registry (unreachable from here, refusing the credentials, missing the blob,
/// serving other bytes than the digest says), rather than because the target refused or
/// failed it. A caller with another way to get the blob there (a daemon push) may take it
/// then. The mark is the message's `reading from the primary DOMAIN: ` part, which survives
/// [`Error::context`]; the error keeps the source's kind (exit code).
pub(crate) fn is_source_failure(e: &Error) -> bool {
    e.message.contains(SOURCE_FAILURE)
}

pub(super) fn source_failure(e: Error, domain: &str) -> Error {
    e.context(format!("{SOURCE_FAILURE}{domain}"))
}

/// One attempt at placing a blob that did not work out, and whether starting over may help.
struct Failed {
    error: Error,
    transient: bool,
    /// The registry's `Retry-After`, when it sent one.
    after: Option<Duration>,
}

impl Failed {
    fn fixed(error: Error) -> Failed {
        Failed {
            error,
            transient: false,
            after: None,
        }
    }
}

impl From<SendError> for Failed {
    fn from(e: SendError) -> Failed {
        Failed {
            error: e.error,
            transient: e.transient,
            after: None,
        }
    }
}

/// Where the bytes of a blob come from.
enum Source<'a> {
    /// A blob GET from the source registry, its body read as it arrives.
    Registry { from: &'a Registry, body: Incoming },
    /// Pieces already in memory: how the tests put a blob in a registry to copy it from.
    #[cfg(test)]
    Memory(std::collections::VecDeque<Bytes>),
}

impl Source<'_> {
    /// The next piece; `None` at the end. A cut or stalled stream is worth starting over.
    async fn next(&mut self) -> Result<Option<Bytes>, Failed> {
        match self {
            Source::Registry { from, body } => from.next_chunk(body).await.map_err(|e| Failed {
                error: source_failure(e.error, from.domain()),
                transient: e.transient,
                after: None,
            }),
            #[cfg(test)]
            Source::Memory(pieces) => Ok(pieces.pop_front()),
        }
    }

    fn domain(&self) -> &str {
        match self {
            Source::Registry { from, .. } => from.domain(),
            #[cfg(test)]
            Source::Memory(_) => "memory",
        }
    }
}

impl Registry {
    /// Make the blob `desc` present in `repo`: HEAD first ([`Placed::Present`]); on the same
    /// registry as `from`, a cross-repository mount from `from_repo` ([`Placed::Mounted`]; a
    /// registry that answers with an upload session instead gets the blob copied into that
    /// session, one that refuses the mount gets an ordinary upload); otherwise the blob is
    /// streamed from `from_repo` on `from` and uploaded here ([`Placed::Copied`]).
    /// `progress(n)`: the bytes of this blob the target has accepted so far (after each chunk;
    /// `0` again when the copy starts over); not called for a present or mounted blob.
    /// Transient failures (5xx, 429, a lost upload session, a cut or stalled source stream)
    /// start the blob's copy over, as `--retries` and `--retry-delay` allow. A failure to read
    /// from `from` is told by [`is_source_failure`].
    pub(crate) async fn place_blob(
        &self,
        repo: &str,
        desc: &Descriptor,
        from: &Registry,
        from_repo: &str,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Placed, Error> {
        let mount = self.domain == from.domain && from_repo != repo;
        let mut scopes = vec![push_scope(repo)];
        if mount {
            // In the same token: without `pull` on the source, distribution silently turns
            // the mount into an upload.
            scopes.push(www_auth::pull_scope(from_repo));
        }
        let mut attempt = 1;
        loop {
            let failed = match self
                .place_once(repo, desc, from, from_repo, mount, &scopes, progress)
                .await
            {
                Ok(placed) => return Ok(placed),
                Err(f) => f,
            };
            let wait = if failed.transient {
                self.retry.wait(attempt, failed.after)
            } else {
                None
            };
            let Some(wait) = wait else {
                return Err(failed.error);
            };
            tracing::info!(
                "copying {} to {}/{repo}: {}; starting over in {} ms (attempt {} of {})",
                desc.digest,
                self.domain,
                failed.error.message,
                wait.as_millis(),
                attempt + 1,
                self.retry.retries + 1
            );
            tokio::time::sleep(wait).await;
            progress(0);
            attempt += 1;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn place_once(
        &self,
        repo: &str,
        desc: &Descriptor,
        from: &Registry,
        from_repo: &str,
        mount: bool,
        scopes: &[String],
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Placed, Failed> {
        let path = format!("/v2/{repo}/blobs/{}", desc.digest);
        let res = self
            .send_call(&Call::new(Method::HEAD, &path, scopes))
            .await
            .map_err(Failed::fixed)?;
        match res.status() {
            s if s.is_success() => return Ok(Placed::Present),
            StatusCode::NOT_FOUND => {}
            _ => return Err(Failed::fixed(self.refusal(res).await)),
        }
        let mut session = None;
        if mount {
            let query =
                www_auth::form_encode(&[("mount", desc.digest.as_str()), ("from", from_repo)]);
            let path = format!("/v2/{repo}/blobs/uploads/?{query}");
            let res = self
                .send_call_once(&Call::new(Method::POST, &path, scopes))
                .await?;
            match res.status() {
                StatusCode::CREATED => {
                    short_body(res, self.stall).await;
                    return Ok(Placed::Mounted);
                }
                StatusCode::ACCEPTED => session = Some(self.session(res, &path, None).await?),
                _ => {
                    let failed = self.upload_failure(res).await;
                    if failed.transient || failed.error.kind == Kind::Auth {
                        return Err(failed);
                    }
                    // A registry that does not do mounts (UNSUPPORTED, 405): upload instead.
                    tracing::info!(
                        "mounting {} in {}/{repo}: {}; uploading it instead",
                        desc.digest,
                        self.domain,
                        failed.error.message
                    );
                }
            }
        }
        let blob = from
            .get_blob(from_repo, &desc.digest)
            .await
            .map_err(|e| Failed::fixed(source_failure(e, from.domain())))?;
        let Some(blob) = blob else {
            return Err(Failed::fixed(source_failure(
                Error::other(format!("{from_repo} has no blob {}", desc.digest)),
                from.domain(),
            )));
        };
        let location = match session {
            Some(l) => l,
            None => self.start_upload(repo, scopes).await?,
        };
        let mut source = Source::Registry {
            from,
            body: blob.into_body(),
        };
        let bytes = self
            .upload(desc, location, scopes, &mut source, progress)
            .await?;
        Ok(Placed::Copied { bytes })
    }

    /// `POST /v2/REPO/blobs/uploads/`: the new upload session's URL.
    async fn start_upload(&self, repo: &str, scopes: &[String]) -> Result<String, Failed> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let res = self
            .send_call_once(&Call::new(Method::POST, &path, scopes))
            .await?;
        if res.status() != StatusCode::ACCEPTED {
            return Err(self.upload_failure(res).await);
        }
        self.session(res, &path, None).await
    }

    /// Send the blob `source` reads into the upload session at `location`, checked against
    /// `desc` before the session is closed; the bytes sent.
    async fn upload(
        &self,
        desc: &Descriptor,
        mut location: String,
        scopes: &[String],
        source: &mut Source<'_>,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, Failed> {
        let mut hash = Sha256::new();
        let mut pending = BytesMut::new();
        let mut read = 0u64;
        let mut sent = 0u64;
        let mut chunked = false;
        // A chunk goes out while the next one is read (and hashed): the source and the target
        // work at once, and at most two chunks are in memory.
        let mut inflight: Option<PatchFuture<'_>> = None;
        let mut ended = false;
        loop {
            if inflight.is_none() && pending.len() > CHUNK {
                let chunk = pending.split_to(CHUNK).freeze();
                inflight = Some(self.patch_owned(location.clone(), sent, chunk, scopes));
                sent += CHUNK as u64;
                chunked = true;
            }
            let piece = match inflight.as_mut() {
                None if ended => break,
                None => source.next().await?,
                // A chunk waiting already, or nothing left to read: the send first.
                Some(f) if ended || pending.len() > CHUNK => {
                    location = f.await?;
                    inflight = None;
                    progress(sent);
                    continue;
                }
                Some(f) => tokio::select! {
                    r = f => {
                        location = r?;
                        inflight = None;
                        progress(sent);
                        continue;
                    }
                    // Cancel-safe: a body frame is taken only when it is ready.
                    piece = source.next() => piece?,
                },
            };
            let Some(piece) = piece else {
                ended = true;
                continue;
            };
            read += piece.len() as u64;
            if read > desc.size {
                return Err(Failed::fixed(source_failure(
                    Error::new(
                        Kind::Verify,
                        format!(
                            "the blob {} is longer than {} bytes",
                            desc.digest, desc.size
                        ),
                    ),
                    source.domain(),
                )));
            }
            hash.update(&piece);
            pending.extend_from_slice(&piece);
        }
        if read < desc.size {
            // The stream ended early: cut off, worth another try.
            return Err(Failed {
                error: source_failure(
                    Error::new(
                        Kind::Unreachable,
                        format!(
                            "the blob {} ended after {read} of {} bytes",
                            desc.digest, desc.size
                        ),
                    ),
                    source.domain(),
                ),
                transient: true,
                after: None,
            });
        }
        if let Some(want) = desc.digest.strip_prefix("sha256:") {
            let got = hex::encode(hash.finalize());
            if got != want {
                return Err(Failed::fixed(source_failure(
                    Error::new(
                        Kind::Verify,
                        format!("the blob {} has the digest sha256:{got}", desc.digest),
                    ),
                    source.domain(),
                )));
            }
        }
        let rest = pending.freeze();
        let last = if chunked {
            if !rest.is_empty() {
                let n = rest.len() as u64;
                location = self.patch(&location, sent, rest, scopes).await?;
                sent += n;
                progress(sent);
            }
            Bytes::new()
        } else {
            rest
        };
        let url = with_query(&location, "digest", &desc.digest);
        let headers = [(CONTENT_TYPE, OCTET_STREAM.to_string())];
        let mut call = Call::new(Method::PUT, &url, scopes);
        call.headers = &headers;
        call.body = last;
        let res = self.send_call_once(&call).await?;
        if res.status() != StatusCode::CREATED {
            return Err(self.upload_failure(res).await);
        }
        short_body(res, self.stall).await;
        if !chunked {
            progress(read);
        }
        Ok(read)
    }

    /// [`Registry::patch`] owning its URL, to run beside the source's reads.
    fn patch_owned<'a>(
        &'a self,
        location: String,
        start: u64,
        chunk: Bytes,
        scopes: &'a [String],
    ) -> PatchFuture<'a> {
        Box::pin(async move { self.patch(&location, start, chunk, scopes).await })
    }

    /// One chunk of an upload, `PATCH` at `start`: the session's next URL.
    async fn patch(
        &self,
        location: &str,
        start: u64,
        chunk: Bytes,
        scopes: &[String],
    ) -> Result<String, Failed> {
        let headers: [(HeaderName, String); 2] = [
            (CONTENT_TYPE, OCTET_STREAM.to_string()),
            (CONTENT_RANGE, content_range(start, chunk.len() as u64)),
        ];
        let mut call = Call::new(Method::PATCH, location, scopes);
        call.headers = &headers;
        call.body = chunk;
        let res = self.send_call_once(&call).await?;
        if res.status() != StatusCode::ACCEPTED {
            return Err(self.upload_failure(res).await);
        }
        self.session(res, location, Some(location)).await
    }

    /// The upload session's URL from an answer's `Location` (relative or absolute), read
    /// against the URL `asked`; `keep` when the answer has none.
    async fn session(
        &self,
        res: Response<Incoming>,
        asked: &str,
        keep: Option<&str>,
    ) -> Result<String, Failed> {
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        short_body(res, self.stall).await;
        let asked = if asked.starts_with('/') {
            format!("{}{asked}", self.base)
        } else {
            asked.to_string()
        };
        match (location, keep) {
            (Some(l), _) => resolve(&asked, &l).map_err(Failed::fixed),
            (None, Some(k)) => Ok(k.to_string()),
            (None, None) => Err(Failed::fixed(Error::other(format!(
                "the registry {} started an upload without saying where (no Location for {})",
                self.domain,
                path_of(&asked)
            )))),
        }
    }

    /// An upload request that was not accepted: transient for a 5xx or 429, and for a lost
    /// session or a range the registry did not expect (404, 416: starting over helps).
    async fn upload_failure(&self, res: Response<Incoming>) -> Failed {
        let after = transient_answer(&res);
        let lost = matches!(
            res.status(),
            StatusCode::NOT_FOUND | StatusCode::RANGE_NOT_SATISFIABLE
        );
        let error = self.refusal(res).await;
        Failed {
            error,
            transient: after.is_some() || lost,
            after: after.flatten(),
        }
    }

    /// PUT `body` as the manifest `reference` (a tag or digest) of `repo` with Content-Type
    /// `media_type`, exactly these bytes; its digest (sha256 of `body`), checked against the
    /// registry's `Docker-Content-Digest` when it sends one. Retried like any request: a PUT
    /// of the same bytes is idempotent.
    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<String, Error> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        let scopes = [push_scope(repo)];
        let path = format!("/v2/{repo}/manifests/{reference}");
        let headers = [(CONTENT_TYPE, media_type.to_string())];
        let mut call = Call::new(Method::PUT, &path, &scopes);
        call.headers = &headers;
        call.body = body;
        let res = self.send_call(&call).await?;
        let sep = if reference.contains(':') { '@' } else { ':' };
        if !res.status().is_success() {
            return Err(self
                .refusal(res)
                .await
                .context(format!("putting the manifest {repo}{sep}{reference}")));
        }
        let stored = res
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        short_body(res, self.stall).await;
        match stored {
            Some(d) if d != digest => Err(Error::new(
                Kind::Verify,
                format!(
                    "the registry {} stored the manifest {repo}{sep}{reference} as {d}, not as the {digest} that was sent",
                    self.domain
                ),
            )),
            _ => Ok(digest),
        }
    }

    /// Upload `data` as a blob of `repo`, from pieces of `piece` bytes: how the tests put
    /// blobs in a registry to copy from.
    #[cfg(test)]
    pub(super) async fn upload_bytes(
        &self,
        repo: &str,
        data: &Bytes,
        piece: usize,
    ) -> Result<Descriptor, Error> {
        let desc = Descriptor {
            media_type: OCTET_STREAM.into(),
            digest: format!("sha256:{}", hex::encode(Sha256::digest(data))),
            size: data.len() as u64,
            platform: None,
        };
        let scopes = [push_scope(repo)];
        let pieces = (0..data.len())
            .step_by(piece.max(1))
            .map(|i| data.slice(i..(i + piece).min(data.len())))
            .collect();
        let mut source = Source::Memory(pieces);
        let location = self
            .start_upload(repo, &scopes)
            .await
            .map_err(|f| f.error)?;
        self.upload(&desc, location, &scopes, &mut source, &|_| {})
            .await
            .map_err(|f| f.error)?;
        Ok(desc)
    }
}

/// `Content-Range` of a chunk: the first and last byte's offsets (distribution's form, no
/// `bytes ` unit).
fn content_range(start: u64, len: u64) -> String {
    format!("{start}-{}", start + len.max(1) - 1)
}

/// `url` with `key=value` added to its query: a `Location` may carry one already (the
/// registry's upload state).
fn with_query(url: &str, key: &str, value: &str) -> String {
    let pair = www_auth::form_encode(&[(key, value)]);
    match url.find('?') {
        None => format!("{url}?{pair}"),
        Some(_) if url.ends_with('?') || url.ends_with('&') => format!("{url}{pair}"),
        Some(_) => format!("{url}&{pair}"),
    }
}

#[cfg(test)]
mod tests;
