//! Discover CSVs (spec §4.3.2) read record by record: the delimiter is
//! sniffed from the header line (tab as in the sample data, or comma), quoted
//! values may hold delimiters, quotes and line breaks, and a record over the
//! line limit is skipped up to the next line break without being kept.

use std::io::{self, BufRead, Cursor};

/// One data record.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Record {
    Fields(Vec<String>),
    TooLong,
    InvalidUtf8,
}

#[derive(Debug)]
pub(super) enum CsvError {
    Io(io::Error),
    /// A quoted value never closed.
    Unterminated,
    /// The header line is over the line limit or unreadable.
    BadHeader,
}

impl From<io::Error> for CsvError {
    fn from(e: io::Error) -> Self {
        CsvError::Io(e)
    }
}

pub(super) struct CsvReader<R> {
    r: R,
    delimiter: u8,
    max_line: usize,
}

/// Header names compare case-insensitively with spaces and underscores
/// equivalent.
pub(super) fn header_key(name: &str) -> String {
    name.to_lowercase().replace('_', " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

impl<R: BufRead> CsvReader<R> {
    /// Reads the header line. `None` for an empty member.
    pub(super) fn open(mut r: R, max_line: usize) -> Result<Option<(Self, Vec<String>)>, CsvError> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let (n, too_long) = read_line(&mut r, &mut line, max_line)?;
            if n == 0 {
                return Ok(None);
            }
            if too_long {
                return Err(CsvError::BadHeader);
            }
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                break;
            }
        }
        let header = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&line);
        let delimiter = if header.contains(&b'\t') {
            b'\t'
        } else if header.contains(&b',') {
            b','
        } else {
            b'\t'
        };
        let mut header_reader = CsvReader { r: Cursor::new(header), delimiter, max_line };
        let names = match header_reader.next()? {
            Some(Record::Fields(names)) => names,
            _ => return Err(CsvError::BadHeader),
        };
        Ok(Some((CsvReader { r, delimiter, max_line }, names)))
    }

    /// The next non-blank record, or `None` at the end.
    pub(super) fn next(&mut self) -> Result<Option<Record>, CsvError> {
        loop {
            match self.record()? {
                None => return Ok(None),
                Some(Some(record)) => return Ok(Some(record)),
                Some(None) => {} // blank line
            }
        }
    }

    /// One record; `Some(None)` for a blank line.
    fn record(&mut self) -> Result<Option<Option<Record>>, CsvError> {
        #[derive(Clone, Copy, PartialEq)]
        enum S {
            FieldStart,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let mut fields: Vec<Vec<u8>> = Vec::new();
        let mut field = Vec::new();
        let mut state = S::FieldStart;
        let mut len = 0usize;
        let mut seen_any = false;
        loop {
            let chunk = self.r.fill_buf()?;
            if chunk.is_empty() {
                if state == S::Quoted {
                    return Err(CsvError::Unterminated);
                }
                if !seen_any {
                    return Ok(None);
                }
                break;
            }
            seen_any = true;
            let mut consumed = chunk.len();
            let mut ended = false;
            for (i, &c) in chunk.iter().enumerate() {
                match (state, c) {
                    (S::Quoted, b'"') => state = S::QuoteInQuoted,
                    (S::Quoted, _) => field.push(c),
                    (S::QuoteInQuoted, b'"') => {
                        field.push(b'"');
                        state = S::Quoted;
                    }
                    (S::FieldStart, b'"') => state = S::Quoted,
                    (_, b'\n') => {
                        consumed = i + 1;
                        ended = true;
                        break;
                    }
                    (_, d) if d == self.delimiter => {
                        fields.push(std::mem::take(&mut field));
                        state = S::FieldStart;
                    }
                    // Text after a closing quote is kept, as lenient readers do.
                    (_, _) => {
                        field.push(c);
                        state = S::Unquoted;
                    }
                }
            }
            len += consumed;
            self.r.consume(consumed);
            if len > self.max_line {
                if !ended {
                    // Skip to the next line break, quotes or not.
                    read_line(&mut self.r, &mut Vec::new(), 0)?;
                }
                return Ok(Some(Some(Record::TooLong)));
            }
            if ended {
                break;
            }
        }
        if field.last() == Some(&b'\r') {
            field.pop();
        }
        fields.push(field);
        if fields.len() == 1 && fields[0].iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(None));
        }
        let mut out = Vec::with_capacity(fields.len());
        for f in fields {
            match String::from_utf8(f) {
                Ok(s) => out.push(s),
                Err(_) => return Ok(Some(Some(Record::InvalidUtf8))),
            }
        }
        Ok(Some(Some(Record::Fields(out))))
    }
}

/// Appends one line (with its `\n`) to `line`, keeping at most `max` bytes
/// of it; returns the bytes consumed and whether the line was cut.
fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>, max: usize) -> io::Result<(usize, bool)> {
    let mut total = 0;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok((total, total > max));
        }
        let (n, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..n.min(room)]);
        r.consume(n);
        total += n;
        if done {
            return Ok((total, total > max));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &str, max_line: usize) -> (Vec<String>, Vec<Record>) {
        let r = io::BufReader::with_capacity(4, input.as_bytes());
        let (mut reader, header) = CsvReader::open(r, max_line).unwrap().unwrap();
        let mut records = Vec::new();
        while let Some(record) = reader.next().unwrap() {
            records.push(record);
        }
        (header, records)
    }

    fn fields(v: &[&str]) -> Record {
        Record::Fields(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn sniffs_tab_or_comma_and_unquotes() {
        let (header, records) = read_all(
            "Content Url\tLiked Date\nhttps://e.com/1\t\"Jan 15, 2024\"\n\nx\t\"a \"\"q\"\"\tb\"\r\n",
            1 << 20,
        );
        assert_eq!(header, ["Content Url", "Liked Date"]);
        assert_eq!(records, [fields(&["https://e.com/1", "Jan 15, 2024"]), fields(&["x", "a \"q\"\tb"])]);

        let (header, records) = read_all(
            "\u{feff}content_url,liked_date\r\n\"https://e.com/1\",\"Jan 15, 2024\"\r\n\"multi\nline\",2024-01-15",
            1 << 20,
        );
        assert_eq!(header, ["content_url", "liked_date"]);
        assert_eq!(records, [fields(&["https://e.com/1", "Jan 15, 2024"]), fields(&["multi\nline", "2024-01-15"])]);

        // One column: commas in values stay values.
        let (_, records) = read_all("Followed Entity\nAlpha, Beta\n", 1 << 20);
        assert_eq!(records, [fields(&["Alpha, Beta"])]);
    }

    #[test]
    fn long_and_undecodable_records_are_skipped() {
        let input = format!("Followed Entity\n{}\nok\n\u{0}\n", "y".repeat(100));
        let (_, records) = read_all(&input, 50);
        assert_eq!(records, [Record::TooLong, fields(&["ok"]), fields(&["\u{0}"])]);
        let r = io::BufReader::new(&b"Followed Entity\nbad \xff\nok\n"[..]);
        let (mut reader, _) = CsvReader::open(r, 100).unwrap().unwrap();
        assert_eq!(reader.next().unwrap(), Some(Record::InvalidUtf8));
        assert_eq!(reader.next().unwrap(), Some(fields(&["ok"])));
    }

    #[test]
    fn an_unclosed_quote_is_an_error() {
        let r = io::BufReader::new(&b"Followed Entity\n\"never closed\n"[..]);
        let (mut reader, _) = CsvReader::open(r, 100).unwrap().unwrap();
        assert!(matches!(reader.next(), Err(CsvError::Unterminated)));
        assert!(CsvReader::open(io::BufReader::new(&b""[..]), 100).unwrap().is_none());
    }

    #[test]
    fn header_keys_ignore_case_spaces_and_underscores() {
        assert_eq!(header_key(" Content  URL "), "content url");
        assert_eq!(header_key("content_url"), "content url");
        assert_eq!(header_key("Liked_Date"), "liked date");
    }
}
