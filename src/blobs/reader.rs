//! The seekable plaintext reader over a sealed blob (spec §5.4): zip
//! archives are read in place, one verified segment at a time.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};

use super::{BlobError, HEADER_LEN, MAGIC, SEAL_OVERHEAD, SEGMENT_SIZES, SegmentKey, VERSION, object, segment_aad};

/// Opened segments kept for re-reads (a zip reader jumps between the central
/// directory and the member it streams).
const CACHED_SEGMENTS: usize = 4;

/// Where the sealed bytes of an opened blob are read from.
pub(super) enum Source {
    /// An open file (it stays the blob it was even if the key is replaced).
    File { file: std::fs::File, len: u64 },
    /// An object, read by ranged GETs pinned to the version opened.
    Object(object::Ranges),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::File { len, .. } => *len,
            Source::Object(ranges) => ranges.len(),
        }
    }

    /// Fills `buf` from `offset`; `UnexpectedEof` when the blob ends first.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Source::File { file, .. } => {
                file.seek(SeekFrom::Start(offset))?;
                file.read_exact(buf)
            }
            Source::Object(ranges) => ranges.read_exact_at(offset, buf),
        }
    }
}

/// Reads the plaintext of a sealed blob; `Read + Seek`, blocking.
///
/// Errors surface as `std::io::Error` wrapping a [`BlobError`];
/// `BlobError::from` unwraps them, so tampering stays
/// [`BlobError::Corrupt`].
pub struct BlobReader<K> {
    source: Source,
    blob: String,
    key: K,
    /// `header ‖ caller AAD`, the start of every segment's associated data.
    aad_prefix: Vec<u8>,
    segment_size: u64,
    segments: u64,
    len: u64,
    pos: u64,
    /// Most recently used first.
    cache: VecDeque<(u64, Vec<u8>)>,
}

impl<K> std::fmt::Debug for BlobReader<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader").field("blob", &self.blob).field("len", &self.len).field("pos", &self.pos).finish()
    }
}

impl<K: SegmentKey> BlobReader<K> {
    pub(super) fn new(mut source: Source, blob: &str, key: K, aad: &[u8]) -> Result<BlobReader<K>, BlobError> {
        let corrupt = |reason| BlobError::Corrupt { key: blob.to_owned(), reason };
        let mut header = [0u8; HEADER_LEN];
        match source.read_exact_at(0, &mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(corrupt("shorter than its header")),
            Err(e) => return Err(BlobError::from(e)),
        }
        if &header[..8] != MAGIC || header[8] != VERSION || header[9..12] != [0; 3] {
            return Err(corrupt("unknown header or version"));
        }
        let segment_size = u32::from_be_bytes(header[12..].try_into().expect("4 bytes"));
        if !SEGMENT_SIZES.contains(&segment_size) {
            return Err(corrupt("segment size out of range"));
        }
        let segment_size = u64::from(segment_size);
        let body = source.len().saturating_sub(HEADER_LEN as u64);
        let sealed_size = segment_size + SEAL_OVERHEAD as u64;
        let segments = body.div_ceil(sealed_size).max(1);
        let last_sealed = body - (segments - 1) * sealed_size;
        if last_sealed < SEAL_OVERHEAD as u64 {
            return Err(corrupt("truncated segment"));
        }
        let len = (segments - 1) * segment_size + last_sealed - SEAL_OVERHEAD as u64;
        let mut aad_prefix = header.to_vec();
        aad_prefix.extend_from_slice(aad);
        let mut reader = BlobReader {
            source,
            blob: blob.to_owned(),
            key,
            aad_prefix,
            segment_size,
            segments,
            len,
            pos: 0,
            cache: VecDeque::with_capacity(CACHED_SEGMENTS),
        };
        // The final flag authenticates the length: check it before any read.
        reader.load(segments - 1)?;
        Ok(reader)
    }

    /// Plaintext length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the plaintext is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Brings segment `index` to the front of the cache, opening it if needed.
    fn load(&mut self, index: u64) -> Result<(), BlobError> {
        if let Some(at) = self.cache.iter().position(|(i, _)| *i == index) {
            let entry = self.cache.remove(at).expect("position is in range");
            self.cache.push_front(entry);
            return Ok(());
        }
        let last = index == self.segments - 1;
        let sealed_size = self.segment_size + SEAL_OVERHEAD as u64;
        let size = if last { self.len - index * self.segment_size + SEAL_OVERHEAD as u64 } else { sealed_size };
        let mut sealed = vec![0u8; usize::try_from(size).expect("segment size is bounded")];
        self.source.read_exact_at(HEADER_LEN as u64 + index * sealed_size, &mut sealed).map_err(|e| {
            match e.kind() {
                // The file shrank under us.
                std::io::ErrorKind::UnexpectedEof => BlobError::Corrupt { key: self.blob.clone(), reason: "truncated" },
                _ => BlobError::from(e),
            }
        })?;
        let plaintext =
            self.key.open_segment(&sealed, &segment_aad(&self.aad_prefix, index, last)).ok_or_else(|| {
                BlobError::Corrupt {
                    key: self.blob.clone(),
                    reason: "a segment does not open (altered, reordered, truncated, or wrong key or context)",
                }
            })?;
        if self.cache.len() == CACHED_SEGMENTS {
            self.cache.pop_back();
        }
        self.cache.push_front((index, plaintext));
        Ok(())
    }
}

fn io_error(err: BlobError) -> std::io::Error {
    match err {
        BlobError::Io(e) => e,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
    }
}

impl<K: SegmentKey> Read for BlobReader<K> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() || self.pos >= self.len {
            return Ok(0);
        }
        let index = self.pos / self.segment_size;
        let offset = usize::try_from(self.pos % self.segment_size).expect("segment size is bounded");
        self.load(index).map_err(io_error)?;
        let segment = &self.cache[0].1;
        let n = buf.len().min(segment.len() - offset);
        buf[..n].copy_from_slice(&segment[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<K: SegmentKey> Seek for BlobReader<K> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        let target = target.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start of the blob")
        })?;
        self.pos = target;
        Ok(target)
    }
}
