//! File-name, `relativePath` and content-type hygiene, and drop-offs' allowed
//! types (spec upload.md §2.2, §2.4, §2.11).
//!
//! A stored name is for display and download only; storage keys and paths
//! never come from it. Sanitising still matters: names end up in
//! `Content-Disposition`, e-mails and owners' file managers.

/// Longest stored name or path component, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Longest extension (bytes after the last dot) kept when a name is truncated.
pub const MAX_EXTENSION_BYTES: usize = 16;

/// The content type of files whose declared type is missing or malformed.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Longest declared content type kept; longer ones become [`OCTET_STREAM`].
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// Most entries in a drop-off's allowed types.
pub const MAX_ALLOWED_TYPES: usize = 50;

/// The stored name for an uploaded file (§2.11): the last path component,
/// without control characters or bidirectional overrides, trimmed, and at
/// most 255 bytes with its extension kept. `file_id` supplies the fallback
/// `file-<first 8 hex digits of id>` for names that end up empty.
pub fn sanitize_file_name(raw: &str, file_id: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    clean_component(last).unwrap_or_else(|| fallback_name(file_id))
}

/// The stored folder path from the metadata `relativePath` (§2.4, §2.11):
/// each component cleaned like a file name, with empty, `.` and `..`
/// components dropped, joined by `/`. `None` when nothing is left, and for
/// `""` and `"null"` (which Uppy sends when a file has no folder).
pub fn sanitize_relative_path(raw: &str) -> Option<String> {
    if raw == "null" {
        return None;
    }
    let parts: Vec<String> = raw.split(['/', '\\']).filter_map(clean_component).collect();
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Steps 3–6 of §2.11 for one component; `None` when it is empty, `.` or `..`.
fn clean_component(raw: &str) -> Option<String> {
    let kept: String = raw.chars().filter(|c| !is_forbidden_char(*c)).collect();
    let trimmed = kept.trim().trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    // Trimming trailing dots already empties `.` and `..`; the check is the rule itself.
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        return None;
    }
    Some(truncate_keeping_extension(trimmed))
}

/// Control characters (C0, DEL, C1) and the bidirectional embeddings,
/// overrides and isolates that can make `exe.pdf` display as `fdp.exe`.
fn is_forbidden_char(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn truncate_keeping_extension(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_owned();
    }
    // A dot at position 0 starts a hidden name, not an extension.
    let extension = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot - 1 <= MAX_EXTENSION_BYTES => &name[dot..],
        _ => "",
    };
    let stem = &name[..name.len() - extension.len()];
    let mut out = floor_char_boundary(stem, MAX_NAME_BYTES - extension.len()).to_owned();
    out.push_str(extension);
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn floor_char_boundary(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn fallback_name(file_id: &str) -> String {
    let hex: String = file_id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    format!("file-{}", hex.to_ascii_lowercase())
}

/// The stored content type (§2.4): the declared value when it is an RFC 9110
/// media type (`type/subtype`, tokens, optionally followed by parameters),
/// otherwise [`OCTET_STREAM`]. The value is kept as declared (only trimmed):
/// it is never sniffed or rewritten.
pub fn content_type(declared: Option<&str>) -> String {
    match declared.map(str::trim) {
        Some(d) if d.len() <= MAX_CONTENT_TYPE_BYTES && media_type_essence(d).is_some() => d.to_owned(),
        _ => OCTET_STREAM.to_owned(),
    }
}

/// `(type, subtype)` in lower case if `value` is an RFC 9110 media type.
fn media_type_essence(value: &str) -> Option<(String, String)> {
    let (essence, params) = value.split_once(';').map_or((value, None), |(e, p)| (e, Some(p)));
    let (kind, subtype) = essence.trim_end_matches([' ', '\t']).split_once('/')?;
    if !is_token(kind) || !is_token(subtype) {
        return None;
    }
    if let Some(params) = params
        && !are_parameters(params)
    {
        return None;
    }
    Some((kind.to_ascii_lowercase(), subtype.to_ascii_lowercase()))
}

/// RFC 9110 §5.6.2 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 §5.6.6 parameters after the first `;`:
/// `*( OWS ";" OWS [ token "=" ( token / quoted-string ) ] )`.
fn are_parameters(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ows = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    loop {
        skip_ows(&mut i);
        // An empty parameter (`;;` or a trailing `;`) is allowed by the grammar.
        if i < b.len() && b[i] != b';' {
            let start = i;
            while i < b.len() && is_tchar(b[i]) {
                i += 1;
            }
            if i == start || i >= b.len() || b[i] != b'=' {
                return false;
            }
            i += 1;
            if i < b.len() && b[i] == b'"' {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return false,
                        Some(b'"') => break,
                        Some(b'\\') => {
                            // quoted-pair: a backslash and one HTAB/SP/VCHAR/obs-text.
                            if !b.get(i + 1).is_some_and(|c| *c == b'\t' || *c >= 0x20 && *c != 0x7f) {
                                return false;
                            }
                            i += 2;
                        }
                        Some(c) if *c == b'\t' || *c >= 0x20 && *c != 0x7f => i += 1,
                        Some(_) => return false,
                    }
                }
                i += 1;
            } else {
                let start = i;
                while i < b.len() && is_tchar(b[i]) {
                    i += 1;
                }
                if i == start {
                    return false;
                }
            }
            skip_ows(&mut i);
        }
        match b.get(i) {
            None => return true,
            Some(b';') => i += 1,
            Some(_) => return false,
        }
    }
}

/// The extension of a stored name (after the last dot, not counting a
/// leading dot), as used by extension entries of [`AllowedTypes`].
fn extension(name: &str) -> Option<&str> {
    match name.rfind('.') {
        Some(dot) if dot > 0 && dot + 1 < name.len() => Some(&name[dot + 1..]),
        _ => None,
    }
}

/// One entry of a drop-off's allowed types, normalised to lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedType {
    /// `type/subtype`.
    Mime { kind: String, subtype: String },
    /// `type/*`.
    AnySubtype(String),
    /// `.ext`, stored without the dot.
    Extension(String),
}

impl std::fmt::Display for AllowedType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowedType::Mime { kind, subtype } => write!(f, "{kind}/{subtype}"),
            AllowedType::AnySubtype(kind) => write!(f, "{kind}/*"),
            AllowedType::Extension(ext) => write!(f, ".{ext}"),
        }
    }
}

impl AllowedType {
    /// Parses one entry; the error says what a well-formed entry looks like.
    pub fn parse(entry: &str) -> Result<Self, String> {
        const FORMS: &str =
            "use a MIME type like \"text/csv\", a wildcard like \"image/*\" or an extension like \".csv\"";
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(format!("the entry is empty; {FORMS}"));
        }
        if let Some(ext) = entry.strip_prefix('.') {
            let well_formed = !ext.is_empty()
                && ext.len() <= MAX_EXTENSION_BYTES
                && ext.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+'));
            if !well_formed {
                return Err(format!(
                    "{entry:?} is not an extension: after the dot give 1-{MAX_EXTENSION_BYTES} letters, digits, '-', '_' or '+' \
                     (only the part after a file name's last dot is compared, so use \".gz\" rather than \".tar.gz\")"
                ));
            }
            return Ok(AllowedType::Extension(ext.to_ascii_lowercase()));
        }
        let Some((kind, subtype)) = entry.split_once('/') else {
            return Err(format!("{entry:?} is neither a MIME type nor an extension; {FORMS}"));
        };
        if entry == "*/*" {
            return Err(format!("{entry:?} would allow every type; leave the list empty for that"));
        }
        // `*` is a legal token character, so without this "te*t/plain" would pass as a type.
        let plain_token = |s: &str| is_token(s) && !s.contains('*');
        if !plain_token(kind) || !(subtype == "*" || plain_token(subtype)) {
            return Err(format!("{entry:?} is not a MIME type (type/subtype, without parameters); {FORMS}"));
        }
        let kind = kind.to_ascii_lowercase();
        Ok(if subtype == "*" {
            AllowedType::AnySubtype(kind)
        } else {
            AllowedType::Mime { kind, subtype: subtype.to_ascii_lowercase() }
        })
    }
}

/// A drop-off's allowed types (§2.2): 0–50 entries; empty allows every type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedTypes(Vec<AllowedType>);

/// Why an `allowed_types` list was refused at drop-off creation or update.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowedTypesError {
    /// More than [`MAX_ALLOWED_TYPES`] entries.
    #[error("allowed_types has {count} entries; at most {MAX_ALLOWED_TYPES} are accepted")]
    TooMany { count: usize },
    /// One entry is malformed.
    #[error("allowed_types[{index}]: {message}")]
    Malformed { index: usize, message: String },
}

impl AllowedTypes {
    /// Validates a list as given by an owner. Entries are compared
    /// case-insensitively, so they are stored in lower case, and repeats are dropped.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowedTypesError> {
        if entries.len() > MAX_ALLOWED_TYPES {
            return Err(AllowedTypesError::TooMany { count: entries.len() });
        }
        let mut out: Vec<AllowedType> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let parsed = AllowedType::parse(entry.as_ref())
                .map_err(|message| AllowedTypesError::Malformed { index, message })?;
            if !out.contains(&parsed) {
                out.push(parsed);
            }
        }
        Ok(AllowedTypes(out))
    }

    /// The normalised entries, for storage and for messages listing them.
    pub fn entries(&self) -> &[AllowedType] {
        &self.0
    }

    /// Whether a file may be uploaded (§2.11): the list is empty, or the
    /// content type matches a MIME entry, or the name's extension matches an
    /// extension entry. `content_type` is the stored value (see [`content_type`]).
    pub fn allows(&self, name: &str, content_type: &str) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let essence = media_type_essence(content_type);
        let ext = extension(name);
        self.0.iter().any(|allowed| match (allowed, &essence, ext) {
            (AllowedType::Mime { kind, subtype }, Some((k, s)), _) => kind == k && subtype == s,
            (AllowedType::AnySubtype(kind), Some((k, _)), _) => kind == k,
            (AllowedType::Extension(e), _, Some(ext)) => e.eq_ignore_ascii_case(ext),
            _ => false,
        })
    }
}

impl std::fmt::Display for AllowedTypes {
    /// The entries joined by ", ", for "allowed types are …" messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, entry) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    fn name(raw: &str) -> String {
        sanitize_file_name(raw, ID)
    }

    #[test]
    fn only_the_last_path_component_is_kept() {
        assert_eq!(name("../../etc/passwd"), "passwd");
        assert_eq!(name("C:\\fakepath\\data.pdf"), "data.pdf");
        assert_eq!(name("/abs/dir/report.csv"), "report.csv");
        assert_eq!(name("mixed\\sep/arated\\x.txt"), "x.txt");
        assert_eq!(name("plain.txt"), "plain.txt");
    }

    #[test]
    fn control_and_bidi_characters_are_removed() {
        assert_eq!(name("evil\r\nSet-Cookie: x.txt"), "evilSet-Cookie: x.txt");
        assert_eq!(name("nul\u{0}byte.bin"), "nulbyte.bin");
        assert_eq!(name("del\u{7f}c1\u{85}\u{9f}.txt"), "delc1.txt");
        // U+202E would display "invoice\u{202e}fdp.exe" as "invoiceexe.pdf".
        assert_eq!(name("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(name("\u{202a}a\u{202b}b\u{202c}c\u{202d}d\u{2066}e\u{2067}f\u{2068}g\u{2069}.txt"), "abcdefg.txt");
        // Other non-ASCII text is kept.
        assert_eq!(name("Überblick – 数据.xlsx"), "Überblick – 数据.xlsx");
    }

    #[test]
    fn whitespace_and_trailing_dots_are_trimmed() {
        assert_eq!(name("  report.csv \t"), "report.csv");
        assert_eq!(name("report.csv. . ."), "report.csv");
        assert_eq!(name("dir/ notes.txt."), "notes.txt");
        assert_eq!(name(".bashrc"), ".bashrc");
    }

    #[test]
    fn empty_dot_and_dotdot_fall_back_to_the_id() {
        for raw in ["", "   ", ".", "..", "...", "../..", "a/", "dir\\", "\u{0}\r\n", "\u{202e}", " . "] {
            assert_eq!(name(raw), "file-0a1b2c3d", "{raw:?}");
        }
    }

    #[test]
    fn long_names_are_truncated_to_255_bytes_keeping_the_extension() {
        let long = format!("{}.csv", "a".repeat(300));
        let got = name(&long);
        assert_eq!(got.len(), 255);
        assert_eq!(got, format!("{}.csv", "a".repeat(251)));

        // Truncation never splits a character: "é" is two bytes.
        let got = name(&format!("{}.pdf", "é".repeat(200)));
        assert!(got.len() <= 255 && got.ends_with(".pdf"), "{got}");
        assert_eq!(got, format!("{}.pdf", "é".repeat(125)));

        // An extension of exactly 16 bytes is kept; a longer one is not an extension.
        let ext16 = "e".repeat(16);
        assert!(name(&format!("{}.{ext16}", "a".repeat(300))).ends_with(&format!("a.{ext16}")));
        let ext17 = "e".repeat(17);
        let got = name(&format!("{}.{ext17}", "a".repeat(300)));
        assert_eq!(got, "a".repeat(255));

        // A name of exactly 255 bytes is untouched; a leading dot is not an extension.
        let exact = "b".repeat(255);
        assert_eq!(name(&exact), exact);
        assert_eq!(name(&format!(".{}", "c".repeat(300))), format!(".{}", "c".repeat(254)));
    }

    #[test]
    fn relative_paths_are_cleaned_per_component() {
        assert_eq!(sanitize_relative_path("a/../b/c.csv").as_deref(), Some("a/b/c.csv"));
        assert_eq!(sanitize_relative_path("/root//x/./y\\z.txt").as_deref(), Some("root/x/y/z.txt"));
        assert_eq!(sanitize_relative_path("../../etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(sanitize_relative_path(" dir. /sub\u{202e}dir/f\r\n.txt").as_deref(), Some("dir/subdir/f.txt"));
        let long = format!("{}.txt/x", "d".repeat(300));
        assert_eq!(sanitize_relative_path(&long), Some(format!("{}.txt/x", "d".repeat(251))));
    }

    #[test]
    fn empty_null_and_dot_only_relative_paths_give_no_path() {
        for raw in ["", "null", "/", "./..", " / . / ", "\u{0}"] {
            assert_eq!(sanitize_relative_path(raw), None, "{raw:?}");
        }
        // Only the exact string Uppy sends is special; a folder called "Null" is kept.
        assert_eq!(sanitize_relative_path("Null/x").as_deref(), Some("Null/x"));
    }

    #[test]
    fn content_types_are_kept_as_declared_when_well_formed() {
        for good in [
            "text/csv",
            "application/vnd.ms-excel",
            "TEXT/Plain",
            "text/plain; charset=utf-8",
            "text/plain;charset=\"utf 8\"",
            "a/b;x=y;;",
        ] {
            assert_eq!(content_type(Some(good)), good, "{good:?}");
        }
        assert_eq!(content_type(Some("  image/png ")), "image/png");
    }

    #[test]
    fn malformed_or_missing_content_types_become_octet_stream() {
        let too_long = format!("text/{}", "x".repeat(300));
        for bad in [
            "",
            "text",
            "text/",
            "/csv",
            "text/csv/x",
            "text /csv",
            "te xt/csv",
            "text/csv; charset",
            "text/csv; =x",
            "text/csv; a=\"open",
            "tëxt/csv",
            "text/csv\r\nX: y",
            "text/csv, text/html",
            too_long.as_str(),
        ] {
            assert_eq!(content_type(Some(bad)), OCTET_STREAM, "{bad:?}");
        }
        assert_eq!(content_type(None), OCTET_STREAM);
    }

    fn allowed(entries: &[&str]) -> AllowedTypes {
        AllowedTypes::parse(entries).expect("valid list")
    }

    #[test]
    fn an_empty_list_allows_everything() {
        assert!(allowed(&[]).allows("x.exe", "application/x-msdownload"));
        assert!(allowed(&[]).allows("file-0a1b2c3d", OCTET_STREAM));
    }

    #[test]
    fn files_match_by_mime_type_wildcard_or_extension() {
        // Acceptance scenario 35.
        let list = allowed(&[".csv", "text/*"]);
        assert!(list.allows("data.csv", OCTET_STREAM));
        assert!(list.allows("x.bin", "text/plain"));
        assert!(!list.allows("x.exe", "application/x-msdownload"));

        let list = allowed(&["application/pdf", ".XLSX"]);
        assert!(list.allows("a", "Application/PDF"));
        assert!(list.allows("a", "application/pdf; version=1.7"));
        assert!(list.allows("Book.xlsx", "application/zip"));
        assert!(list.allows("BOOK.XlSx", OCTET_STREAM));
        assert!(!list.allows("a.pdf.exe", "application/x-msdownload"));
        assert!(!list.allows("xlsx", OCTET_STREAM), "a name without a dot has no extension");
        assert!(!list.allows(".xlsx", OCTET_STREAM), "a leading dot starts a hidden name, not an extension");
        assert!(!list.allows("a", "application/pdfx"));
    }

    #[test]
    fn allowed_type_entries_are_normalised_and_deduplicated() {
        let list = allowed(&["Text/CSV", " .CSV ", "IMAGE/*", "text/csv", ".csv"]);
        assert_eq!(
            list.entries(),
            [
                AllowedType::Mime { kind: "text".into(), subtype: "csv".into() },
                AllowedType::Extension("csv".into()),
                AllowedType::AnySubtype("image".into()),
            ]
        );
        assert_eq!(list.to_string(), "text/csv, .csv, image/*");
    }

    #[test]
    fn malformed_allowed_type_entries_are_refused_with_their_index() {
        let long_ext = format!(".{}", "x".repeat(17));
        for bad in [
            "",
            " ",
            "csv",
            ".",
            ".tar.gz",
            ".c sv",
            long_ext.as_str(),
            "*/*",
            "*/plain",
            "text/",
            "/csv",
            "text/csv; charset=utf-8",
            "te*t/plain",
            "text/pl*n",
            "text/csv/x",
            "tëxt/csv",
        ] {
            let err = AllowedTypes::parse(&["text/csv", bad]).expect_err(bad);
            match &err {
                AllowedTypesError::Malformed { index: 1, message } => assert!(!message.is_empty()),
                other => panic!("{bad:?}: {other:?}"),
            }
            assert!(err.to_string().starts_with("allowed_types[1]: "), "{err}");
        }
        let err = AllowedTypes::parse(&[".tar.gz"]).unwrap_err().to_string();
        assert!(err.contains("\".gz\""), "{err}");
        let err = AllowedTypes::parse(&["*/*"]).unwrap_err().to_string();
        assert!(err.contains("leave the list empty"), "{err}");
    }

    #[test]
    fn at_most_fifty_allowed_types() {
        let fifty: Vec<String> = (0..50).map(|i| format!(".e{i}")).collect();
        assert_eq!(AllowedTypes::parse(&fifty).expect("50 entries").entries().len(), 50);
        let fifty_one: Vec<String> = (0..51).map(|i| format!(".e{i}")).collect();
        assert_eq!(AllowedTypes::parse(&fifty_one), Err(AllowedTypesError::TooMany { count: 51 }));
    }
}
