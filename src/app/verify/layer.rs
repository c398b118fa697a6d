//! One layer blob's streamed read, as `verify` consumes it: the bytes counted and hashed, the
//! state started afresh when the registry client reads the blob again after a break.

use super::{Counters, mismatch};
use crate::error::{Error, Kind};
use crate::protocol::manifest::{Compression, Descriptor, LayerDigester};
use crate::registry::BlobSink;
use std::sync::atomic::Ordering;

/// A failure to read a blob (the registry broke off, refused, stalled), named after the blob;
/// a mismatch names it already.
pub(super) fn naming(e: Error, what: &str, digest: &str) -> Error {
    match e.kind {
        Kind::Verify => e,
        _ => e.context(format!("reading {what} blob {digest}")),
    }
}

/// One layer blob's bytes as they stream in: counted, hashed, and bounded by the descriptor's
/// size. Started afresh when a read broke off and the blob is read again.
pub(super) struct LayerRead<'a> {
    pub(super) l: &'a Descriptor,
    pub(super) compression: Compression,
    pub(super) digester: LayerDigester,
    /// Bytes of the current read.
    pub(super) len: u64,
    pub(super) n: &'a Counters,
}

impl BlobSink for LayerRead<'_> {
    fn restart(&mut self) {
        self.digester = LayerDigester::new(self.compression);
        self.len = 0;
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.len += chunk.len() as u64;
        // bytes_read counts what crossed the network: a read broken off and made again counts
        // its bytes twice (read counts the blob once).
        self.n
            .bytes_read
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        if self.len > self.l.size {
            return Err(mismatch(format!(
                "layer blob {}: expected {} bytes, the registry sends more",
                self.l.digest, self.l.size
            )));
        }
        self.digester.update(chunk);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::manifest::sha256_digest;

    #[test]
    fn a_read_made_again_hashes_only_its_own_bytes_and_counts_all() {
        let blob = b"the layer's bytes, uncompressed";
        let l = Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: sha256_digest(blob),
            size: blob.len() as u64,
            platform: None,
        };
        let n = Counters::default();
        let mut r = LayerRead {
            l: &l,
            compression: Compression::None,
            digester: LayerDigester::new(Compression::None),
            len: 0,
            n: &n,
        };
        r.restart();
        r.feed(&blob[..10]).unwrap();
        r.restart();
        r.feed(&blob[..10]).unwrap();
        r.feed(&blob[10..]).unwrap();
        assert_eq!(n.blobs().bytes_read, blob.len() as u64 + 10);
        let e = r.feed(b"x").unwrap_err();
        assert_eq!(e.kind, Kind::Verify);
        assert!(e.message.contains("sends more"), "{e}");
        let got = r.digester.finish(Compression::None);
        assert_eq!((got.size, got.digest), (l.size, l.digest.clone()));
    }
}
