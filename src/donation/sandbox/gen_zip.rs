//! Zip writing for the sandbox (spec §6.4, §6.6): the normal streamed
//! writer (`zip::ZipWriter::new_stream`: deflate, data descriptors, ZIP64 as
//! needed), a small hand-made writer for the failure modes the zip crate
//! cannot express (a zip bomb from a hand-built deflate stream, 200,000
//! entries without per-entry bookkeeping in memory), and the output sink that
//! counts bytes and can cut the central directory short.

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;

use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

/// Deflate level of every compressed member: fixed, so output is reproducible.
const DEFLATE_LEVEL: i64 = 6;

// --- CRC-32 (IEEE), with zlib's combine so the bomb's CRC needs no pass over its 8 GiB.

const CRC_POLY: u32 = 0xEDB8_8320;

fn crc_table() -> &'static [u32; 256] {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ CRC_POLY } else { c >> 1 };
            }
            *entry = c;
        }
        table
    })
}

/// Running CRC-32 of bytes written through it (the pre- and post-conditioned value).
#[derive(Clone, Copy)]
pub(crate) struct Crc(u32);

impl Crc {
    pub(crate) fn new() -> Crc {
        Crc(0xFFFF_FFFF)
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        let table = crc_table();
        for &b in bytes {
            self.0 = table[((self.0 ^ u32::from(b)) & 0xFF) as usize] ^ (self.0 >> 8);
        }
    }

    pub(crate) fn value(self) -> u32 {
        !self.0
    }
}

pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc::new();
    c.update(bytes);
    c.value()
}

/// `a(x) * b(x) mod P(x)` on reflected CRC polynomials (zlib's `multmodp`).
fn mult_mod_p(a: u32, mut b: u32) -> u32 {
    let mut m = 1u32 << 31;
    let mut p = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                return p;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ CRC_POLY } else { b >> 1 };
    }
}

/// `x^(n * 2^k) mod P(x)` (zlib's `x2nmodp`).
fn x2n_mod_p(mut n: u64, mut k: u32) -> u32 {
    let mut table = [0u32; 32];
    let mut p = 1u32 << 30; // x^1
    table[0] = p;
    for entry in table.iter_mut().skip(1) {
        p = mult_mod_p(p, p);
        *entry = p;
    }
    let mut p = 1u32 << 31; // x^0
    while n != 0 {
        if n & 1 != 0 {
            p = mult_mod_p(table[(k & 31) as usize], p);
        }
        n >>= 1;
        k += 1;
    }
    p
}

/// CRC-32 of `A ‖ B` from `crc(A)`, `crc(B)` and `len(B)` (zlib's `crc32_combine`).
pub(crate) fn crc32_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    mult_mod_p(x2n_mod_p(len_b, 3), crc_a) ^ crc_b
}

/// CRC-32 of `byte` repeated `n` times, by doubling.
fn crc32_repeat(byte: u8, mut n: u64) -> u32 {
    let (mut acc, mut pow, mut pow_len) = (0u32, crc32(&[byte]), 1u64);
    while n != 0 {
        if n & 1 != 0 {
            acc = crc32_combine(acc, pow, pow_len);
        }
        pow = crc32_combine(pow, pow, pow_len);
        pow_len *= 2;
        n >>= 1;
    }
    acc
}

// --- The zip bomb: one dynamic-Huffman deflate block whose matches cost two zero bits each.

/// A deflate stream that inflates to `[`, `1 + 258 × matches` spaces and
/// `]` — a valid, empty JSON array a parser reads to the end — at about
/// 1032 : 1. The literal/length code gives the length-258 symbol and the
/// distance code its only symbol one-bit codes `0`, so the body is zero
/// bytes that are written without compressing anything.
pub(crate) struct Bomb {
    pub matches: u64,
}

/// Bits of a stream written least-significant first, Huffman codes most-significant first (RFC 1951).
struct Bits {
    acc: u64,
    n: u32,
    bytes: Vec<u8>,
}

impl Bits {
    fn put(&mut self, value: u64, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn code(&mut self, code: u32, len: u32) {
        let reversed = code.reverse_bits() >> (32 - len);
        self.put(u64::from(reversed), len);
    }
}

impl Bomb {
    /// Header, code tables and the `[` and first space literals.
    fn head() -> Bits {
        let mut b = Bits { acc: 0, n: 0, bytes: Vec::new() };
        b.put(1, 1); // BFINAL
        b.put(2, 2); // dynamic Huffman
        b.put(29, 5); // HLIT: 286 literal/length codes (up to symbol 285)
        b.put(0, 5); // HDIST: 1 distance code
        b.put(14, 4); // HCLEN: 18 code-length codes
        // Code-length code lengths in RFC order 16,17,18,0,8,7,9,6,10,5,11,4,12,3,13,2,14,1:
        // symbols 0 and 18 get 2 bits, 1–4 get 3 bits (a complete code).
        for len in [0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 3, 0, 3, 0, 3] {
            b.put(len, 3);
        }
        // Canonical codes of that: 0→00, 18→01, 1→100, 2→101, 3→110, 4→111.
        let zeros = |b: &mut Bits, run: u64| {
            b.code(0b01, 2);
            b.put(run - 11, 7);
        };
        let len = |b: &mut Bits, l: u32| b.code(0b100 + l - 1, 3);
        // Literal/length code lengths: 32 (space) 2, 91 `[` 3, 93 `]` 4, 256 (end) 4, 285 (length 258) 1.
        zeros(&mut b, 32);
        len(&mut b, 2); // 32
        zeros(&mut b, 58);
        len(&mut b, 3); // 91
        b.code(0b00, 2); // 92
        len(&mut b, 4); // 93
        zeros(&mut b, 138);
        zeros(&mut b, 24);
        len(&mut b, 4); // 256
        zeros(&mut b, 28);
        len(&mut b, 1); // 285
        len(&mut b, 1); // distance code 0
        // Canonical literal/length codes: 285→0, 32→10, 91→110, 93→1110, 256→1111.
        b.code(0b110, 3); // `[`
        b.code(0b10, 2); // ` `
        b
    }

    const TAIL_BITS: u64 = 8; // `]` and end of block

    pub(crate) fn uncompressed_size(&self) -> u64 {
        3 + 258 * self.matches
    }

    pub(crate) fn compressed_size(&self) -> u64 {
        let head = Bomb::head();
        let bits = head.bytes.len() as u64 * 8 + u64::from(head.n) + 2 * self.matches + Bomb::TAIL_BITS;
        bits.div_ceil(8)
    }

    pub(crate) fn crc(&self) -> u32 {
        let spaces = crc32_repeat(b' ', 1 + 258 * self.matches);
        let open = crc32_combine(crc32(b"["), spaces, 1 + 258 * self.matches);
        crc32_combine(open, crc32(b"]"), 1)
    }

    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut b = Bomb::head();
        let mut zero_bits = 2 * self.matches;
        // Fill the partial byte, then whole zero bytes, then the rest.
        let fill = u64::from((8 - b.n % 8) % 8).min(zero_bits);
        b.put(0, fill as u32);
        zero_bits -= fill;
        out.write_all(&b.bytes)?;
        b.bytes.clear();
        let chunk = [0u8; 64 * 1024];
        let mut zero_bytes = zero_bits / 8;
        while zero_bytes > 0 {
            let n = zero_bytes.min(chunk.len() as u64) as usize;
            out.write_all(&chunk[..n])?;
            zero_bytes -= n as u64;
        }
        b.put(0, (zero_bits % 8) as u32);
        b.code(0b1110, 4); // `]`
        b.code(0b1111, 4); // end of block
        if b.n > 0 {
            b.put(0, 8 - b.n);
        }
        out.write_all(&b.bytes)
    }
}

// --- Output sink.

/// The bottom of every writer stack: forwards to the caller's writer, counts
/// bytes, and once `hold` is set keeps the rest (the end of the last entry
/// and the central directory, both small) so `malformed_zip` can cut it.
pub(crate) struct Sink<W: Write> {
    out: W,
    written: u64,
    hold: Rc<Cell<bool>>,
    held: Vec<u8>,
    /// `out` refused a write (a Range request was served, the client left):
    /// the error went up to the generator, which stops. What the zip writer
    /// still writes while it is dropped (its end records) is discarded, or it
    /// would print the repeated error to stderr.
    failed: bool,
}

impl<W: Write> Sink<W> {
    pub(crate) fn new(out: W) -> Sink<W> {
        Sink { out, written: 0, hold: Rc::new(Cell::new(false)), held: Vec::new(), failed: false }
    }

    pub(crate) fn hold_switch(&self) -> Rc<Cell<bool>> {
        Rc::clone(&self.hold)
    }

    /// Writes what was held — all of it, or with `truncate` up to the middle
    /// of the central directory, so no end-of-central-directory record
    /// survives — and returns the bytes written in total.
    pub(crate) fn finish(mut self, truncate: bool) -> io::Result<u64> {
        let keep = if truncate { central_directory_cut(&self.held) } else { self.held.len() };
        self.out.write_all(&self.held[..keep])?;
        self.out.flush()?;
        Ok(self.written + keep as u64)
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(buf.len());
        }
        if self.hold.get() {
            self.held.extend_from_slice(buf);
            return Ok(buf.len());
        }
        let n = self.out.write(buf).inspect_err(|_| self.failed = true)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Offset in `tail` (which ends with a zip's end records) of the middle of
/// its central directory.
fn central_directory_cut(tail: &[u8]) -> usize {
    let le32 = |at: usize| tail.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let le64 = |at: usize| tail.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let fallback = tail.len() / 2;
    let Some(eocd) = tail.len().checked_sub(22) else { return fallback };
    if le32(eocd) != Some(0x0605_4b50) {
        return fallback;
    }
    let locator = eocd.checked_sub(20);
    let (cd_end, cd_size) = match locator.filter(|&l| le32(l) == Some(0x0706_4b50)) {
        Some(l) => match l.checked_sub(56).and_then(|record| Some((record, le64(record + 40)?))) {
            Some((record, size)) => (record, size as usize),
            None => return fallback,
        },
        None => (eocd, le32(eocd + 12).unwrap_or(0) as usize),
    };
    match cd_end.checked_sub(cd_size) {
        Some(cd_start) => cd_start + cd_size / 2,
        None => fallback,
    }
}

// --- Hand-made zip writer (stored entries and the bomb).

struct RawEntry {
    name: Box<str>,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

/// A zip writer that knows every entry's CRC and sizes before writing it
/// (it runs a member's generator twice: once to measure, once to write), so
/// local headers carry real sizes and no data descriptors are needed.
pub(crate) struct RawZip<W: Write> {
    out: W,
    offset: u64,
    entries: Vec<RawEntry>,
    dos_time: (u16, u16),
}

const U32_MAX: u64 = 0xFFFF_FFFF;

impl<W: Write> RawZip<W> {
    fn new(out: W, time: zip::DateTime) -> RawZip<W> {
        RawZip { out, offset: 0, entries: Vec::new(), dos_time: (time.datepart(), time.timepart()) }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn local_header(&mut self, name: &str, method: u16, crc: u32, compressed: u64, size: u64) -> io::Result<()> {
        let zip64 = compressed >= U32_MAX || size >= U32_MAX;
        self.entries.push(RawEntry { name: name.into(), method, crc, compressed, size, offset: self.offset });
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20 }).to_le_bytes());
        h.extend_from_slice(&0x0800u16.to_le_bytes()); // UTF-8 names
        h.extend_from_slice(&method.to_le_bytes());
        h.extend_from_slice(&self.dos_time.1.to_le_bytes());
        h.extend_from_slice(&self.dos_time.0.to_le_bytes());
        h.extend_from_slice(&crc.to_le_bytes());
        let clamp = |n: u64| if zip64 { U32_MAX as u32 } else { n as u32 };
        h.extend_from_slice(&clamp(compressed).to_le_bytes());
        h.extend_from_slice(&clamp(size).to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&size.to_le_bytes());
            h.extend_from_slice(&compressed.to_le_bytes());
        }
        self.put(&h)
    }

    fn stored(&mut self, name: &str, body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
        let mut measure = Measure { crc: Crc::new(), len: 0 };
        body(&mut measure)?;
        self.local_header(name, 0, measure.crc.value(), measure.len, measure.len)?;
        let mut counted = Measure { crc: Crc::new(), len: 0 };
        body(&mut Tee { a: &mut self.out, b: &mut counted })?;
        if counted.len != measure.len || counted.crc.value() != measure.crc.value() {
            return Err(io::Error::other(format!("sandbox member {name} is not reproducible")));
        }
        self.offset += counted.len;
        Ok(())
    }

    fn bomb(&mut self, name: &str, bomb: &Bomb) -> io::Result<()> {
        self.local_header(name, 8, bomb.crc(), bomb.compressed_size(), bomb.uncompressed_size())?;
        bomb.write(&mut self.out)?;
        self.offset += bomb.compressed_size();
        Ok(())
    }

    fn finish(mut self) -> io::Result<W> {
        let cd_start = self.offset;
        let entries = std::mem::take(&mut self.entries);
        let mut buf = Vec::with_capacity(64 * 1024);
        for e in &entries {
            let sizes64 = e.compressed >= U32_MAX || e.size >= U32_MAX;
            let offset64 = e.offset >= U32_MAX;
            let mut extra = Vec::new();
            if sizes64 || offset64 {
                let mut data = Vec::new();
                if sizes64 {
                    data.extend_from_slice(&e.size.to_le_bytes());
                    data.extend_from_slice(&e.compressed.to_le_bytes());
                }
                if offset64 {
                    data.extend_from_slice(&e.offset.to_le_bytes());
                }
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&(data.len() as u16).to_le_bytes());
                extra.extend_from_slice(&data);
            }
            let version: u16 = if extra.is_empty() { 20 } else { 45 };
            buf.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            buf.extend_from_slice(&(0x0300 | version).to_le_bytes()); // made by Unix
            buf.extend_from_slice(&version.to_le_bytes());
            buf.extend_from_slice(&0x0800u16.to_le_bytes());
            buf.extend_from_slice(&e.method.to_le_bytes());
            buf.extend_from_slice(&self.dos_time.1.to_le_bytes());
            buf.extend_from_slice(&self.dos_time.0.to_le_bytes());
            buf.extend_from_slice(&e.crc.to_le_bytes());
            let sizes = if sizes64 { [U32_MAX as u32; 2] } else { [e.compressed as u32, e.size as u32] };
            buf.extend_from_slice(&sizes[0].to_le_bytes());
            buf.extend_from_slice(&sizes[1].to_le_bytes());
            buf.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            buf.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // comment length, disk, internal attributes
            buf.extend_from_slice(&(0o100644u32 << 16).to_le_bytes());
            let offset = if offset64 { U32_MAX as u32 } else { e.offset as u32 };
            buf.extend_from_slice(&offset.to_le_bytes());
            buf.extend_from_slice(e.name.as_bytes());
            buf.extend_from_slice(&extra);
            if buf.len() >= 60 * 1024 {
                self.put(&buf)?;
                buf.clear();
            }
        }
        self.put(&buf)?;
        let (count, cd_size) = (entries.len() as u64, self.offset - cd_start);
        let mut end = Vec::with_capacity(22 + 76);
        if count >= 0xFFFF || cd_size >= U32_MAX || cd_start >= U32_MAX {
            let record = self.offset;
            end.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            end.extend_from_slice(&44u64.to_le_bytes());
            end.extend_from_slice(&0x032Du16.to_le_bytes());
            end.extend_from_slice(&45u16.to_le_bytes());
            end.extend_from_slice(&[0; 8]); // this disk, central directory disk
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&count.to_le_bytes());
            end.extend_from_slice(&cd_size.to_le_bytes());
            end.extend_from_slice(&cd_start.to_le_bytes());
            end.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            end.extend_from_slice(&0u32.to_le_bytes());
            end.extend_from_slice(&record.to_le_bytes());
            end.extend_from_slice(&1u32.to_le_bytes());
        }
        end.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        end.extend_from_slice(&[0; 4]);
        let count16 = count.min(0xFFFF) as u16;
        end.extend_from_slice(&count16.to_le_bytes());
        end.extend_from_slice(&count16.to_le_bytes());
        end.extend_from_slice(&(cd_size.min(U32_MAX) as u32).to_le_bytes());
        end.extend_from_slice(&(cd_start.min(U32_MAX) as u32).to_le_bytes());
        end.extend_from_slice(&0u16.to_le_bytes());
        self.put(&end)?;
        Ok(self.out)
    }
}

/// Counts bytes and their CRC.
struct Measure {
    crc: Crc,
    len: u64,
}

impl Write for Measure {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.crc.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Tee<'a> {
    a: &'a mut dyn Write,
    b: &'a mut dyn Write,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.a.write_all(buf)?;
        self.b.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.a.flush()
    }
}

// --- The archive a part is written to.

/// How a member is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Deflate,
    /// Already-compressed content (images, inner zips).
    Stored,
}

/// One zip being written: the zip crate's streaming writer, or the
/// hand-made one for parts that hold a bomb or 200,000 entries (whose
/// members are then all stored).
pub(crate) enum Archive<W: Write> {
    Stream(Box<ZipWriter<StreamWriter<Sink<W>>>>, SimpleFileOptions, Rc<Cell<bool>>),
    Raw(RawZip<Sink<W>>, Rc<Cell<bool>>),
}

/// ZIP64 headers for members that may pass 4 GiB (the zip crate needs to know up front).
pub(crate) const LARGE_MEMBER: u64 = (4 << 30) - (64 << 20);

impl<W: Write> Archive<W> {
    /// A zip written with the zip crate; entries dated `time`.
    pub(crate) fn stream(out: W, time: zip::DateTime) -> Archive<W> {
        let sink = Sink::new(out);
        let hold = sink.hold_switch();
        let options = SimpleFileOptions::default().last_modified_time(time).unix_permissions(0o644);
        Archive::Stream(Box::new(ZipWriter::new_stream(sink)), options, hold)
    }

    /// A zip written by hand: stored entries, room for a bomb.
    pub(crate) fn raw(out: W, time: zip::DateTime) -> Archive<W> {
        let sink = Sink::new(out);
        let hold = sink.hold_switch();
        Archive::Raw(RawZip::new(sink, time), hold)
    }

    /// Adds member `name` whose content `body` writes. `body` must write the
    /// same bytes each time it is called (the raw writer calls it twice).
    /// `large`: the member may pass 4 GiB.
    pub(crate) fn entry(
        &mut self,
        name: &str,
        method: Method,
        large: bool,
        body: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        match self {
            Archive::Stream(zip, options, _) => {
                let options = match method {
                    Method::Deflate => {
                        options.compression_method(CompressionMethod::Deflated).compression_level(Some(DEFLATE_LEVEL))
                    }
                    Method::Stored => options.compression_method(CompressionMethod::Stored),
                };
                zip.start_file(name, options.large_file(large))?;
                body(zip.as_mut())
            }
            Archive::Raw(raw, _) => raw.stored(name, body),
        }
    }

    /// Adds the bomb as member `name` (hand-made archives only).
    pub(crate) fn bomb(&mut self, name: &str, bomb: &Bomb) -> io::Result<()> {
        match self {
            Archive::Raw(raw, _) => raw.bomb(name, bomb),
            Archive::Stream(..) => Err(io::Error::other("a zip bomb needs the hand-made writer")),
        }
    }

    /// Writes the central directory — or, with `truncate`, only its first
    /// half — and returns the bytes written in total.
    pub(crate) fn finish(self, truncate: bool) -> io::Result<u64> {
        match self {
            Archive::Stream(zip, _, hold) => {
                hold.set(truncate);
                zip.finish()?.into_inner().finish(truncate)
            }
            Archive::Raw(raw, hold) => {
                hold.set(truncate);
                raw.finish()?.finish(truncate)
            }
        }
    }
}

/// A zip of `members` written into `out` with the zip crate's streaming
/// writer: used for nested archives inside a member.
pub(crate) fn inner_zip(
    out: &mut dyn Write,
    time: zip::DateTime,
    members: &mut dyn FnMut(&mut Archive<&mut dyn Write>) -> io::Result<()>,
) -> io::Result<()> {
    let mut archive = Archive::stream(out, time);
    members(&mut archive)?;
    archive.finish(false).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::donation::sandbox::gen_test::entries;
    use std::io::Cursor;

    #[test]
    fn crc_matches_the_reference_and_combines() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let (a, b) = (b"hello, ".as_slice(), b"sandbox world".as_slice());
        assert_eq!(crc32_combine(crc32(a), crc32(b), b.len() as u64), crc32(&[a, b].concat()));
        assert_eq!(crc32_repeat(b' ', 1000), crc32(&[b' '; 1000]));
        assert_eq!(crc32_repeat(b' ', 0), crc32(b""));
    }

    fn time() -> zip::DateTime {
        zip::DateTime::from_date_and_time(2024, 1, 15, 10, 0, 0).unwrap()
    }

    #[test]
    fn a_small_bomb_inflates_to_exactly_what_it_declares() {
        // The zip crate checks the CRC and size at the end of the entry.
        let bomb = Bomb { matches: 10_000 };
        let mut out = Vec::new();
        let mut archive = Archive::raw(&mut out, time());
        archive.entry("a.txt", Method::Stored, false, &mut |w| w.write_all(b"plain")).unwrap();
        archive.bomb("b.json", &bomb).unwrap();
        let written = archive.finish(false).unwrap();
        assert_eq!(written, out.len() as u64);
        let files = entries(&out);
        assert_eq!(files[0], ("a.txt".to_string(), b"plain".to_vec()));
        let content = &files[1].1;
        assert_eq!(content.len() as u64, bomb.uncompressed_size());
        assert_eq!(content[0], b'[');
        assert_eq!(content[content.len() - 1], b']');
        assert!(content[1..content.len() - 1].iter().all(|&b| b == b' '));
        assert!(serde_json::from_slice::<Vec<serde_json::Value>>(content).unwrap().is_empty());
        assert!(bomb.compressed_size() * 1000 < bomb.uncompressed_size());
    }

    #[test]
    fn raw_archives_use_zip64_past_65535_entries() {
        let mut out = Vec::new();
        let mut archive = Archive::raw(&mut out, time());
        for i in 0..70_000 {
            archive.entry(&format!("f/{i}.txt"), Method::Stored, false, &mut |w| w.write_all(b"x")).unwrap();
        }
        archive.finish(false).unwrap();
        let zip = zip::ZipArchive::new(Cursor::new(&out)).unwrap();
        assert_eq!(zip.len(), 70_000);
    }

    #[test]
    fn truncation_leaves_no_readable_directory() {
        for raw in [false, true] {
            let mut out = Vec::new();
            let mut archive = if raw { Archive::raw(&mut out, time()) } else { Archive::stream(&mut out, time()) };
            for i in 0..3 {
                archive.entry(&format!("m{i}.json"), Method::Deflate, false, &mut |w| w.write_all(b"[]")).unwrap();
            }
            let written = archive.finish(true).unwrap();
            assert_eq!(written, out.len() as u64);
            assert!(zip::ZipArchive::new(Cursor::new(&out)).is_err(), "raw={raw}");
            // The entries themselves are all there; only the directory is cut.
            let cd = out.windows(4).position(|w| w == [0x50, 0x4b, 0x01, 0x02]).expect("directory starts");
            assert!(cd > 0 && out.len() > cd + 46);
        }
    }
}
