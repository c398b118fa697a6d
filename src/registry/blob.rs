//! Streamed blob reads that survive a body broken off midway. A reset or closed connection, or
//! a body that stops coming for longer than `--stall-timeout`, is as transient as a refused
//! connection is for a request: the blob is read again from its first byte, the reader's state
//! started afresh, as `--retries` and `--retry-delay` allow (crane and skopeo retry a blob read
//! the same way). What the reader finds wrong in the bytes (a size or digest mismatch) ends the
//! read at once: the registry would serve the same bytes again.
//!
//! Why from the start and not resumed with `Range: bytes=N-`: the hash state of the bytes read
//! so far would have to survive the break (sha256 and the gzip decoder both), registries and
//! the storage redirects behind them do not all honour ranges, and a re-read costs at most the
//! bytes already read once.

use super::reach::{SendError, chain, transport_is_transient};
use super::{Registry, Retry};
use crate::error::{Error, Kind};
use bytes::Bytes;
use http::{Method, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::time::Duration;

/// What a streamed blob's bytes go to.
pub(crate) trait BlobSink {
    /// A read starts from the blob's first byte: forget what an earlier read, broken off
    /// midway, fed.
    fn restart(&mut self);
    /// The next bytes of the blob. An error ends the read for good: it is about the content,
    /// which a second read would find the same.
    fn feed(&mut self, chunk: &[u8]) -> Result<(), Error>;
}

/// A small blob kept whole, refused past `limit` bytes.
struct Whole {
    limit: u64,
    bytes: Vec<u8>,
    /// Every byte received, those of broken-off reads too.
    received: u64,
    too_big: Error,
}

impl BlobSink for Whole {
    fn restart(&mut self) {
        self.bytes.clear();
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.received += chunk.len() as u64;
        if (self.bytes.len() + chunk.len()) as u64 > self.limit {
            return Err(self.too_big.clone());
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }
}

/// After read `attempt` (the first is 1) of a blob broke off with `e`: how long to wait before
/// reading it again, or `None` to give up (the failure is not transient, or the retries are
/// spent).
fn reread_after(e: &SendError, attempt: u32, retry: &Retry) -> Option<Duration> {
    if e.transient {
        retry.wait(attempt, None)
    } else {
        None
    }
}

/// A body that broke off with `e` (a transport error from the body's stream).
fn broke_off(domain: &str, e: &(dyn std::error::Error + 'static)) -> SendError {
    SendError {
        transient: transport_is_transient(e),
        error: Error::new(
            Kind::Unreachable,
            format!("the registry {domain} broke off: {}", chain(e)),
        ),
    }
}

/// A body that sent nothing for `stall`: the connection may be dead without saying so.
fn stalled(domain: &str, stall: Duration) -> SendError {
    SendError {
        transient: true,
        error: Error::new(
            Kind::Unreachable,
            format!(
                "the registry {domain} stopped sending for {}s (--stall-timeout)",
                stall.as_secs()
            ),
        ),
    }
}

impl Registry {
    /// `GET /v2/REPO/blobs/DIGEST`, redirects followed: the response whose body streams the
    /// blob, or `None` when there is no such blob.
    pub(super) async fn get_blob(
        &self,
        repo: &str,
        digest: &str,
    ) -> Result<Option<Response<Incoming>>, Error> {
        let url = format!("/v2/{repo}/blobs/{digest}");
        let res = self.send(Method::GET, &url, None, repo).await?;
        self.found(res).await
    }

    /// Stream blob `digest` of `repo` into `sink`, never whole in memory; when its body breaks
    /// off (see the module), read it again from the start. `Ok(false)`: the registry has no
    /// such blob. The error of the last read when the retries are spent, or `sink`'s own.
    pub(crate) async fn read_blob(
        &self,
        repo: &str,
        digest: &str,
        sink: &mut (impl BlobSink + Send),
    ) -> Result<bool, Error> {
        let mut attempt = 1;
        loop {
            let Some(res) = self.get_blob(repo, digest).await? else {
                return Ok(false);
            };
            sink.restart();
            let mut body = res.into_body();
            let broke = loop {
                match self.next_chunk(&mut body).await {
                    Ok(Some(chunk)) => sink.feed(&chunk)?,
                    Ok(None) => return Ok(true),
                    Err(e) => break e,
                }
            };
            let Some(wait) = reread_after(&broke, attempt, &self.retry) else {
                let times = match attempt {
                    1 => String::new(),
                    n => format!(" (read {n} times)"),
                };
                return Err(Error::new(
                    broke.error.kind,
                    format!("{}{times}", broke.error.message),
                ));
            };
            tracing::info!(
                "GET blob {digest} on {}: {}; reading it again in {} ms (attempt {} of {})",
                self.domain,
                broke.error.message,
                wait.as_millis(),
                attempt + 1,
                self.retry.retries + 1
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// A small blob (an image config) read whole, at most `limit` bytes, and how many bytes
    /// were received for it (more than its length when a read broke off and was made again).
    pub(crate) async fn get_small_blob(
        &self,
        repo: &str,
        digest: &str,
        limit: u64,
    ) -> Result<Option<(Bytes, u64)>, Error> {
        let too_big = Error::new(
            Kind::Verify,
            format!(
                "the blob {digest} on {} is over {} MiB: refused",
                self.domain,
                limit >> 20
            ),
        );
        let mut whole = Whole {
            limit,
            bytes: Vec::new(),
            received: 0,
            too_big,
        };
        Ok(self
            .read_blob(repo, digest, &mut whole)
            .await?
            .then(|| (Bytes::from(whole.bytes), whole.received)))
    }

    /// The next piece of a streamed body; `None` at its end. A pause longer than the stall
    /// timeout is an error, as is a body broken off; whether reading again may help is said.
    pub(super) async fn next_chunk(&self, body: &mut Incoming) -> Result<Option<Bytes>, SendError> {
        loop {
            let frame = tokio::time::timeout(self.stall, body.frame())
                .await
                .map_err(|_| stalled(&self.domain, self.stall))?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => return Err(broke_off(&self.domain, &e)),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as Io, ErrorKind as K};

    const RETRY: Retry = Retry {
        retries: 2,
        delay: Duration::from_millis(100),
    };

    #[test]
    fn a_body_reset_closed_or_stalled_is_read_again_while_retries_last() {
        for k in [
            K::ConnectionReset,
            K::ConnectionAborted,
            K::UnexpectedEof,
            K::BrokenPipe,
        ] {
            let e = broke_off("r:5000", &Io::new(k, "x"));
            assert!(e.transient, "{k:?}");
            assert_eq!(e.error.kind, Kind::Unreachable);
            assert!(e.error.message.contains("r:5000 broke off"), "{}", e.error);
            assert!(reread_after(&e, 1, &RETRY).is_some(), "{k:?}");
            assert!(reread_after(&e, 2, &RETRY).is_some(), "{k:?}");
            assert_eq!(reread_after(&e, 3, &RETRY), None, "spent: {k:?}");
        }
        let s = stalled("r:5000", Duration::from_secs(2));
        assert!(
            s.error.message.contains("stopped sending for 2s"),
            "{}",
            s.error
        );
        let w = reread_after(&s, 1, &RETRY).unwrap();
        assert!(w >= Duration::from_millis(75) && w <= Duration::from_millis(125));
        let none = Retry::new(0, Duration::ZERO);
        assert_eq!(reread_after(&s, 1, &none), None);
    }

    #[test]
    fn a_broken_tls_stream_is_not_read_again() {
        let e = broke_off("r", &Io::new(K::InvalidData, "received corrupt message"));
        assert!(!e.transient);
        assert_eq!(reread_after(&e, 1, &RETRY), None);
    }

    #[test]
    fn a_small_blob_keeps_only_its_last_read_and_counts_every_byte() {
        let mut w = Whole {
            limit: 8,
            bytes: Vec::new(),
            received: 0,
            too_big: Error::new(Kind::Verify, "too big"),
        };
        w.restart();
        w.feed(b"abcde").unwrap();
        w.restart();
        w.feed(b"abcd").unwrap();
        w.feed(b"efgh").unwrap();
        assert_eq!((w.bytes.as_slice(), w.received), (&b"abcdefgh"[..], 13));
        assert_eq!(w.feed(b"i").unwrap_err().kind, Kind::Verify);
    }
}
