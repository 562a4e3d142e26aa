//! The zip container (spec §5.5): the central directory is read by hand,
//! one header at a time, so memory does not grow with the entry count, the
//! entry index is the true central-directory position (`member_no`) and
//! duplicate names stay visible. Only selected entries are ever decompressed;
//! their data is read through the `zip` crate's stream reader, positioned at
//! the entry's local header, and metered here so no declared size is trusted.

use std::cell::{Cell, RefCell};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::rc::Rc;

use zip::ZipReadOptions;
use zip::read::{ZipFile, read_zipfile_from_stream_with_options};

use super::Limits;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD64_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;

/// Extensions of archives that are never opened (spec §5.5).
const NESTED_EXTENSIONS: [&str; 9] = [".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".zst", ".7z", ".rar"];

/// What the parse of one part has read so far, shared between the source
/// reader (inside the `zip` crate's decoder) and the meter outside it.
#[derive(Default)]
pub(super) struct Meter {
    /// Bytes read from the source (compressed side).
    read: Cell<u64>,
    /// Decompressed bytes of all entries of the part.
    inflated: Cell<u64>,
    /// The first error of the underlying reader: infrastructure, not the archive.
    source_error: RefCell<Option<io::Error>>,
    /// Why the part broke a size or ratio limit.
    limit: RefCell<Option<String>>,
}

impl Meter {
    pub(super) fn inflated(&self) -> u64 {
        self.inflated.get()
    }

    pub(super) fn take_source_error(&self) -> Option<io::Error> {
        self.source_error.borrow_mut().take()
    }

    pub(super) fn take_limit(&self) -> Option<String> {
        self.limit.borrow_mut().take()
    }

    fn source_failed(&self, e: io::Error) -> io::Error {
        let mut slot = self.source_error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
        io::Error::other("reading the archive source failed")
    }
}

/// The part's reader, counting bytes and remembering its own failures so they
/// are not mistaken for a corrupt archive.
pub(super) struct Source<R> {
    inner: R,
    meter: Rc<Meter>,
}

impl<R> Source<R> {
    pub(super) fn new(inner: R, meter: Rc<Meter>) -> Self {
        Source { inner, meter }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.meter.read.set(self.meter.read.get() + n as u64);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(self.meter.source_failed(e)),
        }
    }
}

impl<R: Seek> Seek for Source<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos).map_err(|e| self.meter.source_failed(e))
    }
}

/// One selected central-directory entry.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Position in the central directory (`member_no`).
    pub index: u32,
    /// The normalized name (`/` separators).
    pub name: String,
    flags: u16,
    pub method: u16,
    crc: u32,
    pub compressed_size: u64,
    pub size: u64,
    local_offset: u64,
}

impl Entry {
    /// Traditional (bit 0) or strong (bit 6) encryption.
    pub(super) fn encrypted(&self) -> bool {
        self.flags & 0x0041 != 0
    }

    /// Stored and deflate are what the `zip` crate is built with here.
    pub(super) fn method_supported(&self) -> bool {
        matches!(self.method, 0 | 8)
    }
}

/// Counts from the central directory.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct DirStats {
    pub entries: u64,
    pub bad_names: u64,
    pub nested_archives: u64,
}

/// Why the central directory could not be used.
pub(super) enum DirError {
    /// A size or entry-count limit: `archive_too_large`.
    TooLarge(String),
    /// Not a readable zip: `archive_invalid`.
    Invalid(String),
    /// The source reader failed (its error is in the meter).
    Source,
}

/// Reads the central directory of the part, keeping only entries `select`
/// maps to something. Directories and symbolic links are skipped, bad names
/// and nested archives counted.
pub(super) fn read_directory<R: Read + Seek, T>(
    src: &mut Source<R>,
    limits: &Limits,
    mut select: impl FnMut(&str) -> Option<T>,
) -> Result<(DirStats, Vec<(Entry, T)>), DirError> {
    let io_err = |e: io::Error, meter: &Meter, what: &str| {
        if meter.source_error.borrow().is_some() {
            DirError::Source
        } else {
            DirError::Invalid(format!("{what}: {}", e.kind()))
        }
    };
    let meter = src.meter.clone();
    let len = src.seek(SeekFrom::End(0)).map_err(|e| io_err(e, &meter, "cannot seek"))?;
    if len > limits.max_part_bytes {
        return Err(DirError::TooLarge(format!("part of {len} bytes (limit {})", limits.max_part_bytes)));
    }
    let end = find_end(src, len).map_err(|e| match e {
        EndError::Io(e) => io_err(e, &meter, "cannot read the end of central directory"),
        EndError::Invalid(m) => DirError::Invalid(m.to_string()),
    })?;
    // The declared count is checked first; the loop below never reads more
    // headers than it, so a lying count can only make the reader see less.
    if end.entries > limits.max_entries {
        return Err(DirError::TooLarge(format!("{} entries (limit {})", end.entries, limits.max_entries)));
    }
    if end.cd_offset.checked_add(end.cd_size).is_none_or(|e| e > end.position) {
        return Err(DirError::Invalid("central directory outside the file".into()));
    }
    if end.entries.saturating_mul(CENTRAL_LEN as u64) > end.cd_size {
        return Err(DirError::Invalid("central directory too small for its entries".into()));
    }

    src.seek(SeekFrom::Start(end.cd_offset)).map_err(|e| io_err(e, &meter, "cannot seek"))?;
    let mut reader = BufReader::with_capacity(64 << 10, (&mut *src).take(end.cd_size));
    let mut stats = DirStats::default();
    let mut selected = Vec::new();
    let mut name = Vec::new();
    let mut extra = Vec::new();
    for index in 0..end.entries {
        let mut header = [0u8; CENTRAL_LEN];
        reader.read_exact(&mut header).map_err(|e| io_err(e, &meter, "truncated central directory"))?;
        if le32(&header, 0) != CENTRAL_SIG {
            return Err(DirError::Invalid("bad central directory header".into()));
        }
        stats.entries += 1;
        let made_by_unix = header[5] == 3;
        let flags = le16(&header, 8);
        let method = le16(&header, 10);
        let crc = le32(&header, 16);
        let mut compressed_size = u64::from(le32(&header, 20));
        let mut size = u64::from(le32(&header, 24));
        let name_len = usize::from(le16(&header, 28));
        let extra_len = usize::from(le16(&header, 30));
        let comment_len = u64::from(le16(&header, 32));
        let external = le32(&header, 38);
        let mut local_offset = u64::from(le32(&header, 42));
        name.resize(name_len, 0);
        extra.resize(extra_len, 0);
        reader.read_exact(&mut name).map_err(|e| io_err(e, &meter, "truncated central directory"))?;
        reader.read_exact(&mut extra).map_err(|e| io_err(e, &meter, "truncated central directory"))?;
        let skipped = io::copy(&mut (&mut reader).take(comment_len), &mut io::sink())
            .map_err(|e| io_err(e, &meter, "truncated central directory"))?;
        if skipped != comment_len {
            return Err(DirError::Invalid("truncated central directory".into()));
        }
        apply_zip64(&extra, &mut size, &mut compressed_size, &mut local_offset);

        let is_dir =
            matches!(name.last(), Some(b'/' | b'\\')) || (made_by_unix && (external >> 16) & 0o170000 == 0o040000);
        let is_symlink = made_by_unix && (external >> 16) & 0o170000 == 0o120000;
        if is_dir || is_symlink {
            continue;
        }
        let Some(normalized) = normalize_name(&name, limits) else {
            stats.bad_names += 1;
            continue;
        };
        if is_nested_archive_name(&normalized) {
            stats.nested_archives += 1;
            continue;
        }
        if let Some(what) = select(&normalized) {
            let index = u32::try_from(index).map_err(|_| DirError::TooLarge("too many entries".into()))?;
            let entry = Entry { index, name: normalized, flags, method, crc, compressed_size, size, local_offset };
            selected.push((entry, what));
        }
    }
    Ok((stats, selected))
}

/// Validates and normalizes an entry name (spec §5.5): `\` becomes `/`;
/// absolute names, drive letters, `.`/`..`/empty segments, control
/// characters and names over the limits are refused.
pub(super) fn normalize_name(raw: &[u8], limits: &Limits) -> Option<String> {
    if raw.is_empty() || raw.len() > limits.max_name_bytes {
        return None;
    }
    // Names that are not UTF-8 (CP437 in old tools) can match no known member.
    let name = String::from_utf8_lossy(raw).replace('\\', "/");
    let bytes = name.as_bytes();
    if bytes[0] == b'/' || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic()) {
        return None;
    }
    if name.chars().any(char::is_control) {
        return None;
    }
    let mut segments = 0;
    for segment in name.split('/') {
        segments += 1;
        if segments > limits.max_name_segments || matches!(segment, "" | "." | "..") {
            return None;
        }
    }
    Some(name)
}

fn is_nested_archive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    NESTED_EXTENSIONS.iter().any(|ext| lower.ends_with(ext))
}

/// Bytes an entry must start with to be sniffed as an archive.
pub(super) const SNIFF_LEN: usize = 262;

/// Whether decompressed content starts like an archive (zip, gzip, bzip2,
/// xz, zstd, 7z, rar, tar).
pub(super) fn is_archive_magic(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 8] = [
        b"PK\x03\x04",
        b"PK\x05\x06",
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ\x00",
        b"\x28\xb5\x2f\xfd",
        b"7z\xbc\xaf\x27\x1c",
        b"Rar!\x1a\x07",
    ];
    MAGICS.iter().any(|m| head.starts_with(m)) || head.get(257..262) == Some(b"ustar")
}

/// An entry's decompressed bytes, metered against the entry, part and ratio
/// limits. Breaking one records the reason in the meter and fails the read.
pub(super) struct Metered<I> {
    inner: I,
    meter: Rc<Meter>,
    out: u64,
    read_at_open: u64,
    max_entry: u64,
    max_total: u64,
    max_ratio: u64,
    ratio_after: u64,
}

impl<I> Metered<I> {
    /// Decompressed bytes of this entry so far.
    pub(super) fn out(&self) -> u64 {
        self.out
    }

    fn exceeded(&self) -> Option<String> {
        if self.out > self.max_entry {
            return Some(format!("an entry inflates past {} bytes", self.max_entry));
        }
        if self.meter.inflated.get() > self.max_total {
            return Some(format!("the part inflates past {} bytes", self.max_total));
        }
        let consumed = (self.meter.read.get() - self.read_at_open).max(1);
        if self.out >= self.ratio_after && self.out > consumed.saturating_mul(self.max_ratio) {
            return Some(format!("an entry's compression ratio exceeds {}:1", self.max_ratio));
        }
        None
    }
}

impl<I: Read> Read for Metered<I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        self.meter.inflated.set(self.meter.inflated.get() + n as u64);
        if let Some(reason) = self.exceeded() {
            *self.meter.limit.borrow_mut() = Some(reason);
            return Err(io::Error::other("archive limit exceeded"));
        }
        Ok(n)
    }
}

/// Opens a selected entry for reading: seeks to its local header and lets
/// the `zip` crate decompress it (CRC checked at the end), with the sizes
/// and CRC of the central directory for streamed (data-descriptor) entries.
pub(super) fn open_entry<'a, R: Read + Seek>(
    src: &'a mut Source<R>,
    entry: &Entry,
    limits: &Limits,
) -> io::Result<Metered<ZipFile<'a, Source<R>>>> {
    let meter = src.meter.clone();
    src.seek(SeekFrom::Start(entry.local_offset))?;
    let read_at_open = meter.read.get();
    let options = ZipReadOptions::new().override_compressed_size(entry.compressed_size).override_crc(entry.crc);
    let file = read_zipfile_from_stream_with_options(src, options)
        .map_err(|e| match e {
            zip::result::ZipError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        })?
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no local header"))?;
    Ok(Metered {
        inner: file,
        meter,
        out: 0,
        read_at_open,
        max_entry: limits.max_entry_bytes,
        max_total: limits.max_total_bytes,
        max_ratio: limits.max_ratio,
        ratio_after: limits.ratio_check_after,
    })
}

struct End {
    /// Where the end record (or the ZIP64 one) starts: the directory ends before it.
    position: u64,
    entries: u64,
    cd_size: u64,
    cd_offset: u64,
}

enum EndError {
    Io(io::Error),
    Invalid(&'static str),
}

impl From<io::Error> for EndError {
    fn from(e: io::Error) -> Self {
        EndError::Io(e)
    }
}

/// Finds the end-of-central-directory record (and its ZIP64 form).
fn find_end<R: Read + Seek>(src: &mut Source<R>, len: u64) -> Result<End, EndError> {
    let tail_len = len.min((EOCD_LEN + u16::MAX as usize) as u64);
    if tail_len < EOCD_LEN as u64 {
        return Err(EndError::Invalid("not a zip file"));
    }
    let tail_start = len - tail_len;
    src.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0u8; tail_len as usize];
    src.read_exact(&mut tail)?;
    // The last signature whose comment fits exactly; stray signatures in a
    // comment are passed over by that check.
    let at = (0..=tail.len() - EOCD_LEN)
        .rev()
        .find(|&i| le32(&tail, i) == EOCD_SIG && i + EOCD_LEN + usize::from(le16(&tail, i + 20)) == tail.len())
        .ok_or(EndError::Invalid("no end of central directory"))?;
    let eocd = &tail[at..at + EOCD_LEN];
    let position = tail_start + at as u64;
    if le16(eocd, 4) != 0 && le16(eocd, 4) != u16::MAX || le16(eocd, 6) != 0 && le16(eocd, 6) != u16::MAX {
        return Err(EndError::Invalid("multi-disk archives are not supported"));
    }
    let mut end = End {
        position,
        entries: u64::from(le16(eocd, 10)),
        cd_size: u64::from(le32(eocd, 12)),
        cd_offset: u64::from(le32(eocd, 16)),
    };
    // A ZIP64 locator sits right before the end record.
    if position >= 20 {
        let mut locator = [0u8; 20];
        src.seek(SeekFrom::Start(position - 20))?;
        src.read_exact(&mut locator)?;
        if le32(&locator, 0) == EOCD64_LOCATOR_SIG {
            let offset = le64(&locator, 8);
            if offset.checked_add(56).is_none_or(|e| e > position) {
                return Err(EndError::Invalid("bad ZIP64 locator"));
            }
            let mut record = [0u8; 56];
            src.seek(SeekFrom::Start(offset))?;
            src.read_exact(&mut record)?;
            if le32(&record, 0) != EOCD64_SIG {
                return Err(EndError::Invalid("bad ZIP64 end of central directory"));
            }
            end = End {
                position: offset,
                entries: le64(&record, 32),
                cd_size: le64(&record, 40),
                cd_offset: le64(&record, 48),
            };
        }
    }
    Ok(end)
}

/// The ZIP64 extended-information field (id 1) carries, in this order, the
/// sizes and offset whose 32-bit fields are saturated.
fn apply_zip64(extra: &[u8], size: &mut u64, compressed: &mut u64, offset: &mut u64) {
    let mut at = 0;
    while at + 4 <= extra.len() {
        let id = le16(extra, at);
        let len = usize::from(le16(extra, at + 2));
        let body = &extra[(at + 4).min(extra.len())..(at + 4 + len).min(extra.len())];
        if id == 1 {
            let mut pos = 0;
            for field in [size, compressed, offset] {
                if *field == u64::from(u32::MAX) && pos + 8 <= body.len() {
                    *field = le64(body, pos);
                    pos += 8;
                }
            }
            return;
        }
        at += 4 + len;
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_validated() {
        let limits = Limits::default();
        let ok = |n: &str| normalize_name(n.as_bytes(), &limits);
        assert_eq!(
            ok("Portability\\My Activity\\Search\\MyActivity.json").as_deref(),
            Some("Portability/My Activity/Search/MyActivity.json")
        );
        for bad in [
            "../../etc/passwd",
            "/abs/x.json",
            "C:\\x.json",
            "c:x.json",
            "a/./b.json",
            "a//b",
            "a/b\0c",
            "a/\u{7}b",
            "",
        ] {
            assert_eq!(ok(bad), None, "{bad:?}");
        }
        assert!(ok("a/".repeat(32).trim_end_matches('/')).is_some());
        assert_eq!(ok("a/".repeat(33).trim_end_matches('/')), None);
        assert_eq!(ok(&"x".repeat(1025)), None);
        assert!(ok(&"x".repeat(1024)).is_some());
    }

    #[test]
    fn archives_are_recognized_by_name_and_content() {
        assert!(is_nested_archive_name("Portability/inner.ZIP"));
        assert!(is_nested_archive_name("x.tar.gz"));
        assert!(!is_nested_archive_name("Portability/My Activity/Search/MyActivity.json"));
        assert!(is_archive_magic(b"PK\x03\x04rest"));
        assert!(is_archive_magic(b"\x1f\x8b\x08"));
        let mut tar = vec![b' '; 300];
        tar[257..262].copy_from_slice(b"ustar");
        assert!(is_archive_magic(&tar));
        assert!(!is_archive_magic(b"[{\"title\": \"PK\"}]"));
    }
}
