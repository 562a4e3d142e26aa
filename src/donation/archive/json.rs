//! A JSON array read one element at a time (spec §5.4): the scanner only
//! finds where each top-level element starts and ends, so an element is
//! buffered only while it is within the record limit and an oversized or
//! too-deep one is skipped without being kept. Each element's own syntax is
//! checked afterwards by `serde_json`.

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
        loop {
            let chunk = self.r.fill_buf()?;
            if chunk.is_empty() {
                return Ok(None);
            }
            match chunk.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
                Some(i) => {
                    let first = chunk[i];
                    self.r.consume(i);
                    self.offset += i as u64;
                    return Ok(Some(first));
                }
                None => {
                    let n = chunk.len();
                    self.r.consume(n);
                    self.offset += n as u64;
                }
            }
        }
    }

    /// Scans one element whose first byte is next in the stream.
    fn element(&mut self, buf: &mut Vec<u8>) -> Result<Element, JsonError> {
        buf.clear();
        let start = self.offset;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut string_len = 0usize;
        let mut over = false;
        let mut scalar = None;
        loop {
            let chunk = self.r.fill_buf()?;
            if chunk.is_empty() {
                // Only a bare scalar may end at the end of input (the array
                // structure check then fails on the missing bracket).
                if scalar == Some(true) {
                    break;
                }
                return Err(JsonError::Syntax(self.offset));
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
                    if string_len > self.max_string {
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
                            if depth > self.max_depth {
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
            if !over && buf.len() + n > self.max_record {
                over = true;
            }
            if over {
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..n]);
            }
            self.r.consume(n);
            self.offset += n as u64;
            if end.is_some() {
                break;
            }
        }
        if self.offset == start {
            return Err(JsonError::Syntax(self.offset));
        }
        Ok(if over { Element::TooLarge } else { Element::Complete })
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
