//! Streaming JSON (spec §5.4). [`ArrayReader`]: a JSON array read one
//! element at a time; the scanner only finds where each top-level element
//! starts and ends, so an element is buffered only while it is within the
//! record limit and an oversized or too-deep one is passed over without
//! being kept. Each element's own syntax is checked afterwards by `serde_json`.
//! [`Scanner`]: a whole document walked token by token (TikTok's top-level
//! object), passing over the values nobody asked for without keeping them.

use std::io::{self, BufRead};

/// What the next element was.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Element {
    /// Its bytes are in the caller's buffer.
    Complete,
    /// Over the record, string or depth limit; skipped.
    TooLarge,
}

#[derive(Debug)]
pub(super) enum JsonError {
    Io(io::Error),
    /// Broken array structure, at this byte offset of the member.
    Syntax(u64),
}

impl From<io::Error> for JsonError {
    fn from(e: io::Error) -> Self {
        JsonError::Io(e)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    First,
    Next,
    Done,
}

pub(super) struct ArrayReader<R> {
    r: R,
    offset: u64,
    state: State,
    max_record: usize,
    max_string: usize,
    max_depth: usize,
}

impl<R: BufRead> ArrayReader<R> {
    pub(super) fn new(r: R, max_record: usize, max_string: usize, max_depth: usize) -> Self {
        ArrayReader { r, offset: 0, state: State::Start, max_record, max_string, max_depth }
    }

    /// The next element into `buf`, or `None` after the closing bracket (and
    /// nothing but whitespace after it).
    pub(super) fn next(&mut self, buf: &mut Vec<u8>) -> Result<Option<Element>, JsonError> {
        loop {
            match self.state {
                State::Start => {
                    self.skip_bom()?;
                    match self.skip_ws()? {
                        Some(b'[') => {
                            self.bump();
                            self.state = State::First;
                        }
                        _ => return Err(JsonError::Syntax(self.offset)),
                    }
                }
                State::First => {
                    match self.skip_ws()? {
                        Some(b']') => {
                            self.bump();
                            self.finish()?;
                            return Ok(None);
                        }
                        Some(_) => {}
                        None => return Err(JsonError::Syntax(self.offset)),
                    }
                    self.state = State::Next;
                    return self.element(buf).map(Some);
                }
                State::Next => match self.skip_ws()? {
                    Some(b',') => {
                        self.bump();
                        match self.skip_ws()? {
                            Some(b']') | None => return Err(JsonError::Syntax(self.offset)),
                            Some(_) => return self.element(buf).map(Some),
                        }
                    }
                    Some(b']') => {
                        self.bump();
                        self.finish()?;
                        return Ok(None);
                    }
                    _ => return Err(JsonError::Syntax(self.offset)),
                },
                State::Done => return Ok(None),
            }
        }
    }

    fn finish(&mut self) -> Result<(), JsonError> {
        self.state = State::Done;
        match self.skip_ws()? {
            None => Ok(()),
            Some(_) => Err(JsonError::Syntax(self.offset)),
        }
    }

    fn bump(&mut self) {
        self.r.consume(1);
        self.offset += 1;
    }

    fn skip_bom(&mut self) -> io::Result<()> {
        if self.r.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
            self.r.consume(3);
            self.offset += 3;
        }
        Ok(())
    }

    fn skip_ws(&mut self) -> io::Result<Option<u8>> {
        next_non_ws(&mut self.r, &mut self.offset)
    }

    /// Scans one element whose first byte is next in the stream.
    fn element(&mut self, buf: &mut Vec<u8>) -> Result<Element, JsonError> {
        let limits = (self.max_record, self.max_string, self.max_depth);
        scan_element(&mut self.r, &mut self.offset, buf, limits)
    }
}

/// Scans one array element whose first byte is next in `r`, into `buf` while
/// it is within `(record bytes, string bytes, nesting depth)`; `offset`
/// counts the bytes consumed.
pub(super) fn scan_element<R: BufRead>(
    r: &mut R,
    offset: &mut u64,
    buf: &mut Vec<u8>,
    (max_record, max_string, max_depth): (usize, usize, usize),
) -> Result<Element, JsonError> {
    buf.clear();
    let start = *offset;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut string_len = 0usize;
    let mut over = false;
    let mut scalar = None;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            // Only a bare scalar may end at the end of input (the array
            // structure check then fails on the missing bracket).
            if scalar == Some(true) {
                break;
            }
            return Err(JsonError::Syntax(*offset));
        }
        let scalar_element = *scalar.get_or_insert(!matches!(chunk[0], b'{' | b'[' | b'"'));
        let mut end = None;
        for (i, &c) in chunk.iter().enumerate() {
            if scalar_element {
                if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}') {
                    end = Some(i);
                    break;
                }
            } else if in_string {
                string_len += 1;
                if string_len > max_string {
                    over = true;
                }
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    in_string = false;
                    if depth == 0 {
                        end = Some(i + 1);
                        break;
                    }
                }
            } else {
                match c {
                    b'"' => {
                        in_string = true;
                        string_len = 0;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        if depth > max_depth {
                            over = true;
                        }
                    }
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        let n = end.unwrap_or(chunk.len());
        if !over && buf.len() + n > max_record {
            over = true;
        }
        if over {
            buf.clear();
        } else {
            buf.extend_from_slice(&chunk[..n]);
        }
        r.consume(n);
        *offset += n as u64;
        if end.is_some() {
            break;
        }
    }
    if *offset == start {
        return Err(JsonError::Syntax(*offset));
    }
    Ok(if over { Element::TooLarge } else { Element::Complete })
}

/// How passing over a value ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Passed {
    Done,
    /// Nested deeper than allowed: the scan stopped inside the value.
    TooDeep,
}

/// A whole JSON document read token by token, for walking an object tree
/// (TikTok's top-level object, spec §5.4): keys are decoded, values the
/// caller does not want are passed over with their syntax checked but
/// nothing kept, and arrays can be read element by element.
pub(super) struct Scanner<R> {
    r: R,
    offset: u64,
    /// Open containers (`{` or `[`) of the value being passed over.
    stack: Vec<u8>,
}

impl<R: BufRead> Scanner<R> {
    /// A scanner positioned before the document (and its byte-order mark, if any).
    pub(super) fn new(mut r: R) -> Result<Self, JsonError> {
        let mut offset = 0;
        if r.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
            r.consume(3);
            offset = 3;
        }
        Ok(Scanner { r, offset, stack: Vec::new() })
    }

    pub(super) fn into_inner(self) -> R {
        self.r
    }

    fn syntax<T>(&self) -> Result<T, JsonError> {
        Err(JsonError::Syntax(self.offset))
    }

    /// The next byte after whitespace, not consumed; `None` at the end.
    pub(super) fn peek(&mut self) -> Result<Option<u8>, JsonError> {
        Ok(next_non_ws(&mut self.r, &mut self.offset)?)
    }

    /// Consumes the byte [`peek`](Self::peek) returned.
    pub(super) fn bump(&mut self) {
        self.r.consume(1);
        self.offset += 1;
    }

    fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        if self.peek()? != Some(b) {
            return self.syntax();
        }
        self.bump();
        Ok(())
    }

    /// Only whitespace is left.
    pub(super) fn end(&mut self) -> Result<(), JsonError> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => self.syntax(),
        }
    }

    /// In an object whose `{` was consumed: the next key, decoded into `key`
    /// and followed by its `:`, or `None` after the closing `}`. A key
    /// longer than `max_key` bytes is read but not kept (`Some(false)`).
    pub(super) fn next_key(
        &mut self,
        first: &mut bool,
        key: &mut Vec<u8>,
        max_key: usize,
    ) -> Result<Option<bool>, JsonError> {
        match (self.peek()?, *first) {
            (Some(b'}'), true) => {
                self.bump();
                return Ok(None);
            }
            (Some(b'"'), true) => {}
            (Some(b','), false) => self.bump(),
            (Some(b'}'), false) => {
                self.bump();
                return Ok(None);
            }
            _ => return self.syntax(),
        }
        *first = false;
        if self.peek()? != Some(b'"') {
            return self.syntax();
        }
        key.clear();
        let fits = self.string(Some((key, max_key)))?;
        self.expect(b':')?;
        Ok(Some(fits))
    }

    /// In an array whose `[` was consumed: whether another element follows
    /// (its first byte is next), or `false` after the closing `]`.
    pub(super) fn next_element(&mut self, first: &mut bool) -> Result<bool, JsonError> {
        match (self.peek()?, *first) {
            (Some(b']'), _) => {
                self.bump();
                Ok(false)
            }
            (Some(_), true) => {
                *first = false;
                Ok(true)
            }
            (Some(b','), false) => {
                self.bump();
                match self.peek()? {
                    Some(b']') | None => self.syntax(),
                    Some(_) => Ok(true),
                }
            }
            _ => self.syntax(),
        }
    }

    /// The element whose first byte is next, into `buf` while it is within
    /// `(record bytes, string bytes, nesting depth)`, as [`ArrayReader`]
    /// reads one (its syntax is the caller's to check).
    pub(super) fn element(&mut self, buf: &mut Vec<u8>, limits: (usize, usize, usize)) -> Result<Element, JsonError> {
        scan_element(&mut self.r, &mut self.offset, buf, limits)
    }

    /// Passes over the value that is next, checking its syntax, keeping
    /// nothing; containers may nest `max_depth` deep.
    pub(super) fn pass_value(&mut self, max_depth: usize) -> Result<Passed, JsonError> {
        self.stack.clear();
        self.pass(true, max_depth)
    }

    /// Passes over the rest of a container whose opening `open` (`{` or
    /// `[`) was consumed; it counts toward `max_depth`.
    pub(super) fn pass_rest(&mut self, open: u8, max_depth: usize) -> Result<Passed, JsonError> {
        self.stack.clear();
        self.stack.push(open);
        let want_value = self.opened(open)?;
        self.pass(want_value, max_depth)
    }

    /// Right after `open` was consumed and pushed: closes an empty container
    /// (returns `false`), or reads an object's first key and `:` and returns
    /// `true` (a value is next).
    fn opened(&mut self, open: u8) -> Result<bool, JsonError> {
        let close = if open == b'{' { b'}' } else { b']' };
        let next = self.peek()?;
        if next == Some(close) {
            self.bump();
            self.stack.pop();
            return Ok(false);
        }
        if open == b'{' {
            if next != Some(b'"') {
                return self.syntax();
            }
            self.string(None)?;
            self.expect(b':')?;
        }
        Ok(true)
    }

    fn pass(&mut self, mut want_value: bool, max_depth: usize) -> Result<Passed, JsonError> {
        loop {
            if want_value {
                match self.peek()? {
                    Some(c @ (b'{' | b'[')) => {
                        if self.stack.len() >= max_depth {
                            return Ok(Passed::TooDeep);
                        }
                        self.bump();
                        self.stack.push(c);
                        if self.opened(c)? {
                            continue;
                        }
                    }
                    Some(b'"') => {
                        self.string(None)?;
                    }
                    Some(b't') => self.literal(b"true")?,
                    Some(b'f') => self.literal(b"false")?,
                    Some(b'n') => self.literal(b"null")?,
                    Some(b'-' | b'0'..=b'9') => self.number()?,
                    _ => return self.syntax(),
                }
            }
            // A value is complete: what follows it in its container.
            want_value = loop {
                let Some(&open) = self.stack.last() else {
                    return Ok(Passed::Done);
                };
                let close = if open == b'{' { b'}' } else { b']' };
                match self.peek()? {
                    Some(b',') => {
                        self.bump();
                        if open == b'{' {
                            if self.peek()? != Some(b'"') {
                                return self.syntax();
                            }
                            self.string(None)?;
                            self.expect(b':')?;
                        }
                        break true;
                    }
                    Some(c) if c == close => {
                        self.bump();
                        self.stack.pop();
                    }
                    _ => return self.syntax(),
                }
            };
        }
    }

    fn next_byte(&mut self) -> Result<u8, JsonError> {
        let Some(&b) = self.r.fill_buf()?.first() else {
            return self.syntax();
        };
        self.bump();
        Ok(b)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        for &w in word {
            if self.next_byte()? != w {
                return self.syntax();
            }
        }
        Ok(())
    }

    fn number(&mut self) -> Result<(), JsonError> {
        // 0 start, 1 minus, 2 zero, 3 integer, 4 dot, 5 fraction, 6 e, 7 exponent sign, 8 exponent.
        let mut state = 0u8;
        loop {
            let chunk = self.r.fill_buf()?;
            let mut n = 0;
            let mut stop = chunk.is_empty();
            for &c in chunk {
                state = match (state, c) {
                    (0, b'-') => 1,
                    (0 | 1, b'0') => 2,
                    (0 | 1, b'1'..=b'9') | (3, b'0'..=b'9') => 3,
                    (2 | 3, b'.') => 4,
                    (4 | 5, b'0'..=b'9') => 5,
                    (2 | 3 | 5, b'e' | b'E') => 6,
                    (6, b'+' | b'-') => 7,
                    (6..=8, b'0'..=b'9') => 8,
                    _ => {
                        stop = true;
                        break;
                    }
                };
                n += 1;
            }
            self.r.consume(n);
            self.offset += n as u64;
            if stop {
                break;
            }
        }
        if matches!(state, 2 | 3 | 5 | 8) { Ok(()) } else { self.syntax() }
    }

    /// A string whose `"` is next; decoded into `out` when given, while it
    /// fits its byte limit. Returns whether it fitted.
    fn string(&mut self, mut out: Option<(&mut Vec<u8>, usize)>) -> Result<bool, JsonError> {
        self.bump();
        let mut fits = true;
        let mut push = |out: &mut Option<(&mut Vec<u8>, usize)>, bytes: &[u8]| {
            if let Some((buf, max)) = out {
                if fits && buf.len() + bytes.len() <= *max {
                    buf.extend_from_slice(bytes);
                } else {
                    fits = false;
                }
            }
        };
        // A high surrogate waiting for its low half.
        let mut high: Option<u32> = None;
        loop {
            let chunk = self.r.fill_buf()?;
            if chunk.is_empty() {
                return self.syntax();
            }
            let i = chunk.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(chunk.len());
            if i > 0 && high.take().is_some() {
                push(&mut out, "\u{fffd}".as_bytes());
            }
            push(&mut out, &chunk[..i]);
            let stop = chunk.get(i).copied();
            self.r.consume(i);
            self.offset += i as u64;
            match stop {
                None => continue,
                Some(b'"') => {
                    self.bump();
                    if high.is_some() {
                        push(&mut out, "\u{fffd}".as_bytes());
                    }
                    return Ok(fits);
                }
                Some(b'\\') => {
                    self.bump();
                    let escaped = self.next_byte()?;
                    let simple = match escaped {
                        b'"' => Some(b'"'),
                        b'\\' => Some(b'\\'),
                        b'/' => Some(b'/'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'u' => None,
                        _ => return self.syntax(),
                    };
                    if let Some(b) = simple {
                        if high.take().is_some() {
                            push(&mut out, "\u{fffd}".as_bytes());
                        }
                        push(&mut out, &[b]);
                        continue;
                    }
                    let mut unit = 0u32;
                    for _ in 0..4 {
                        let digit = (self.next_byte()? as char).to_digit(16);
                        let Some(digit) = digit else { return self.syntax() };
                        unit = unit * 16 + digit;
                    }
                    let c = match (high.take(), unit) {
                        (Some(h), 0xDC00..=0xDFFF) => char::from_u32(0x10000 + ((h - 0xD800) << 10) + (unit - 0xDC00)),
                        (h, 0xD800..=0xDBFF) => {
                            if h.is_some() {
                                push(&mut out, "\u{fffd}".as_bytes());
                            }
                            high = Some(unit);
                            continue;
                        }
                        (h, _) => {
                            if h.is_some() {
                                push(&mut out, "\u{fffd}".as_bytes());
                            }
                            char::from_u32(unit)
                        }
                    };
                    let c = c.unwrap_or('\u{fffd}');
                    push(&mut out, c.encode_utf8(&mut [0u8; 4]).as_bytes());
                }
                // A control character must be escaped.
                Some(_) => return self.syntax(),
            }
        }
    }
}

/// Consumes whitespace from `r` (counting it into `offset`) and returns the
/// next byte, not consumed; `None` at the end.
fn next_non_ws<R: BufRead>(r: &mut R, offset: &mut u64) -> io::Result<Option<u8>> {
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(None);
        }
        match chunk.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            Some(i) => {
                let first = chunk[i];
                r.consume(i);
                *offset += i as u64;
                return Ok(Some(first));
            }
            None => {
                let n = chunk.len();
                r.consume(n);
                *offset += n as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elements(input: &str, max_record: usize) -> Result<Vec<Option<String>>, u64> {
        // A tiny buffer so elements straddle chunk boundaries.
        let r = io::BufReader::with_capacity(3, input.as_bytes());
        let mut reader = ArrayReader::new(r, max_record, 1 << 20, 4);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match reader.next(&mut buf) {
                Ok(Some(Element::Complete)) => out.push(Some(String::from_utf8(buf.clone()).unwrap())),
                Ok(Some(Element::TooLarge)) => out.push(None),
                Ok(None) => return Ok(out),
                Err(JsonError::Syntax(at)) => return Err(at),
                Err(JsonError::Io(e)) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn splits_top_level_elements() {
        let got = elements(" [ {\"a\": \"x]}\\\"\"}, [1,[2]], \"s,]\" ,42 , null,{} ]\n ", 1 << 20).unwrap();
        let want = ["{\"a\": \"x]}\\\"\"}", "[1,[2]]", "\"s,]\"", "42", "null", "{}"];
        assert_eq!(got, want.map(|s| Some(s.to_string())));
        assert_eq!(elements("\u{feff}[]", 10).unwrap(), Vec::<Option<String>>::new());
    }

    #[test]
    fn oversized_and_too_deep_elements_are_skipped_without_losing_the_stream() {
        let big = format!("[{{\"t\": \"{}\"}}, {{\"ok\": 1}}]", "x".repeat(100));
        assert_eq!(elements(&big, 50).unwrap(), [None, Some("{\"ok\": 1}".into())]);
        let deep = "[[[[[[1]]]]], {}]";
        assert_eq!(elements(deep, 1000).unwrap(), [None, Some("{}".into())]);
    }

    #[test]
    fn broken_structure_is_a_syntax_error() {
        for bad in ["", "{}", "[{}", "[{},]", "[{} {}]", "[{}] x", "[,]", "[{\"a\": 1]", "<html>"] {
            assert!(elements(bad, 1000).is_err(), "{bad:?}");
        }
    }
}
