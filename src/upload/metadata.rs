//! Uploader-supplied metadata: the tus `Upload-Metadata` header (spec
//! upload.md §3.6) and the keys Steward interprets (§2.4).
//!
//! Parsing is tolerant where real clients differ (tuspy's empty header,
//! missing padding, bare keys, `, ` separators) and strict everywhere else:
//! unlike tusd, any bad pair rejects the request with an error naming the key,
//! because no real client produces one and dropping it silently only confuses
//! script authors.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use super::names;

/// Longest accepted `Upload-Metadata` header, in bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Most pairs in one file's metadata.
pub const MAX_PAIRS: usize = 32;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 64;
/// Longest decoded value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// Standard alphabet, padding optional: real clients pad, hand-written
/// scripts often do not. Non-zero trailing bits are tolerated as Go's decoder
/// (tusd) tolerates them.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why metadata was refused (tus: 400 `ERR_INVALID_METADATA`; gRPC: `INVALID_ARGUMENT`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The header is longer than [`MAX_HEADER_BYTES`].
    #[error("Upload-Metadata is {len} bytes; at most {MAX_HEADER_BYTES} are accepted")]
    HeaderTooLarge { len: usize },
    /// More than [`MAX_PAIRS`] pairs.
    #[error("metadata has {count} pairs; at most {MAX_PAIRS} are accepted")]
    TooManyPairs { count: usize },
    /// One pair is bad; `key` is printable (escaped and shortened if need be).
    #[error("metadata key {key}: {problem}")]
    InvalidPair { key: String, problem: PairProblem },
}

/// What is wrong with one metadata pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PairProblem {
    #[error("a key must be 1-{MAX_KEY_BYTES} bytes of visible ASCII without ','")]
    BadKey,
    #[error("the key appears more than once")]
    DuplicateKey,
    #[error(
        "the value must be one token of standard Base64 (A-Z a-z 0-9 + /, '=' padding optional); \
         URL-safe '-' and '_' and embedded spaces are not accepted"
    )]
    BadBase64,
    #[error("the value has a second token after a space; give one Base64 value per key")]
    SecondToken,
    #[error("the decoded value is not valid UTF-8")]
    NotUtf8,
    #[error("the decoded value is longer than {MAX_VALUE_BYTES} bytes")]
    ValueTooLarge,
    #[error("the value must be a SHA-256 digest of 64 hex digits")]
    NotSha256,
}

/// A file's metadata: unique keys with UTF-8 values, within the §3.6 limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Parses an `Upload-Metadata` header value (raw bytes, since headers may
    /// carry non-ASCII). An empty or all-whitespace value means no metadata.
    pub fn parse_header(header: &[u8]) -> Result<Self, MetadataError> {
        if header.len() > MAX_HEADER_BYTES {
            return Err(MetadataError::HeaderTooLarge { len: header.len() });
        }
        let pairs: Vec<&[u8]> = header.split(|b| *b == b',').map(trim_sp_tab).filter(|p| !p.is_empty()).collect();
        if pairs.len() > MAX_PAIRS {
            return Err(MetadataError::TooManyPairs { count: pairs.len() });
        }
        let mut map = BTreeMap::new();
        for pair in pairs {
            let key_end = pair.iter().position(|b| is_sp_tab(*b)).unwrap_or(pair.len());
            let (key, rest) = pair.split_at(key_end);
            let key = check_key(key)?;
            let invalid = |problem| MetadataError::InvalidPair { key: printable(&key), problem };
            let token = trim_sp_tab(rest);
            if token.iter().any(|b| is_sp_tab(*b)) {
                return Err(invalid(PairProblem::SecondToken));
            }
            let value = decode_value(token).map_err(invalid)?;
            if map.contains_key(&key) {
                return Err(invalid(PairProblem::DuplicateKey));
            }
            map.insert(key, value);
        }
        Ok(Metadata(map))
    }

    /// Validates metadata given as a map (the chunk RPCs' `metadata` field)
    /// under the same key and value rules as the header.
    pub fn from_pairs<K: AsRef<str>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, MetadataError> {
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            let key = check_key(key.as_ref().as_bytes())?;
            let value = value.into();
            let invalid = |problem| MetadataError::InvalidPair { key: printable(&key), problem };
            if value.len() > MAX_VALUE_BYTES {
                return Err(invalid(PairProblem::ValueTooLarge));
            }
            if map.contains_key(&key) {
                return Err(invalid(PairProblem::DuplicateKey));
            }
            map.insert(key, value);
            if map.len() > MAX_PAIRS {
                return Err(MetadataError::TooManyPairs { count: map.len() });
            }
        }
        Ok(Metadata(map))
    }

    /// The value of `key` (case-sensitive), `""` for a bare key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// All pairs in key order, for storage and display to owners.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical header for HEAD (§3.6): keys in lexicographic order,
    /// padded standard Base64, an empty value as the bare key.
    pub fn to_header(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.0 {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(key);
            if !value.is_empty() {
                out.push(' ');
                out.push_str(&STANDARD.encode(value));
            }
        }
        out
    }

    /// The `dropoff` key as a canonical UUID (lowercase, hyphenated); `None`
    /// when absent or not a UUID (tus: 400 `ERR_DROPOFF_REQUIRED`).
    pub fn dropoff_id(&self) -> Option<String> {
        self.get("dropoff").and_then(crate::donation::model::normalize_uuid)
    }

    /// The stored file name: `filename`, else `name`, sanitised (§2.11);
    /// `file-<id8>` when neither gives a usable name.
    pub fn file_name(&self, file_id: &str) -> String {
        names::sanitize_file_name(self.non_empty("filename").or(self.non_empty("name")).unwrap_or_default(), file_id)
    }

    /// The stored content type: `filetype`, else `type`, if well-formed (§2.4).
    pub fn content_type(&self) -> String {
        names::content_type(self.non_empty("filetype").or(self.non_empty("type")))
    }

    /// The sanitised `relativePath`, if any (Uppy's `"null"` means none).
    pub fn relative_path(&self) -> Option<String> {
        self.get("relativePath").and_then(names::sanitize_relative_path)
    }

    /// The expected SHA-256 from the `sha256` key in lowercase hex, if given.
    /// A malformed digest is refused rather than ignored: the uploader asked
    /// for verification and should not silently go without it.
    pub fn expected_sha256(&self) -> Result<Option<String>, MetadataError> {
        let Some(value) = self.get("sha256") else {
            return Ok(None);
        };
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(MetadataError::InvalidPair { key: "\"sha256\"".into(), problem: PairProblem::NotSha256 });
        }
        Ok(Some(value.to_ascii_lowercase()))
    }

    /// A value, treating an empty one as absent so that the fallback key applies.
    fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }
}

fn is_sp_tab(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_sp_tab(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s
        && is_sp_tab(*first)
    {
        s = rest;
    }
    while let [rest @ .., last] = s
        && is_sp_tab(*last)
    {
        s = rest;
    }
    s
}

/// A key of 1–64 bytes in 0x21–0x7E without `,`.
fn check_key(key: &[u8]) -> Result<String, MetadataError> {
    let well_formed =
        !key.is_empty() && key.len() <= MAX_KEY_BYTES && key.iter().all(|b| (0x21..=0x7e).contains(b) && *b != b',');
    if !well_formed {
        return Err(MetadataError::InvalidPair {
            key: printable(&String::from_utf8_lossy(key)),
            problem: PairProblem::BadKey,
        });
    }
    Ok(String::from_utf8(key.to_vec()).expect("visible ASCII is UTF-8"))
}

/// Decodes one Base64 token into a UTF-8 value of at most [`MAX_VALUE_BYTES`].
fn decode_value(token: &[u8]) -> Result<String, PairProblem> {
    // The alphabet check comes first so that URL-safe input gets its own
    // message, and a huge token is refused before any decoding work.
    if !token.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) {
        return Err(PairProblem::BadBase64);
    }
    if token.len() > MAX_VALUE_BYTES.div_ceil(3) * 4 {
        return Err(PairProblem::ValueTooLarge);
    }
    let bytes = LENIENT.decode(token).map_err(|_| PairProblem::BadBase64)?;
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(PairProblem::ValueTooLarge);
    }
    String::from_utf8(bytes).map_err(|_| PairProblem::NotUtf8)
}

/// A key quoted for an error message: escaped, and shortened so a hostile
/// key cannot fill the response.
fn printable(key: &str) -> String {
    const SHOWN: usize = MAX_KEY_BYTES;
    let mut shown: String = key.chars().take(SHOWN).collect();
    if shown.len() < key.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str) -> Result<Metadata, MetadataError> {
        Metadata::parse_header(header.as_bytes())
    }

    fn pairs(m: &Metadata) -> Vec<(&str, &str)> {
        m.iter().collect()
    }

    fn problem(header: &str) -> (String, PairProblem) {
        match parse(header) {
            Err(MetadataError::InvalidPair { key, problem }) => (key, problem),
            other => panic!("{header:?}: {other:?}"),
        }
    }

    const DROPOFF: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

    #[test]
    fn empty_or_blank_headers_mean_no_metadata() {
        // tuspy 1.1 always sends the header, empty when there is no metadata.
        for header in ["", " ", "\t \t", ",", " , ,, "] {
            assert!(parse(header).expect(header).is_empty(), "{header:?}");
        }
    }

    #[test]
    fn real_client_headers_parse() {
        // tus-js-client / Uppy: padded standard Base64 joined by ','.
        let header = format!(
            "name {},type {},filename {},filetype {},relativePath {},dropoff {}",
            STANDARD.encode("report.csv"),
            STANDARD.encode("text/csv"),
            STANDARD.encode("report.csv"),
            STANDARD.encode("text/csv"),
            STANDARD.encode("null"),
            STANDARD.encode(DROPOFF),
        );
        let m = parse(&header).expect("valid");
        assert_eq!(m.len(), 6);
        assert_eq!(m.get("filename"), Some("report.csv"));
        assert_eq!(m.get("relativePath"), Some("null"));
        assert_eq!(m.dropoff_id().as_deref(), Some(DROPOFF));
        assert_eq!(m.relative_path(), None);
    }

    #[test]
    fn bare_keys_padding_spacing_and_missing_padding_are_tolerated() {
        // Acceptance scenario 13: "a,b YQ==, c YQ,dropoff <b64>".
        let header = format!("a,b YQ==, c YQ,dropoff {}", STANDARD.encode(DROPOFF));
        let m = parse(&header).expect("valid");
        assert_eq!(pairs(&m), [("a", ""), ("b", "a"), ("c", "a"), ("dropoff", DROPOFF)]);
        // Tabs and runs of spaces around pairs and between key and value; a trailing comma.
        let m = parse("\tk1 \t  YWJj  ,  k2\tZA=,").expect("valid");
        assert_eq!(pairs(&m), [("k1", "abc"), ("k2", "d")]);
        // UTF-8 values are decoded.
        let m = parse(&format!("filename {}", STANDARD.encode("Überblick.pdf"))).expect("valid");
        assert_eq!(m.get("filename"), Some("Überblick.pdf"));
    }

    #[test]
    fn keys_are_case_sensitive_and_must_be_unique() {
        let m = parse("Name YQ==,name Yg==").expect("different keys");
        assert_eq!(m.get("Name"), Some("a"));
        assert_eq!(m.get("name"), Some("b"));
        assert_eq!(problem("name YQ==,name Yg=="), ("\"name\"".into(), PairProblem::DuplicateKey));
        assert_eq!(problem("name,name"), ("\"name\"".into(), PairProblem::DuplicateKey));
    }

    #[test]
    fn bad_keys_are_refused() {
        let long = "k".repeat(65);
        assert!(parse(&format!("{} YQ==", "k".repeat(64))).is_ok());
        let (key, p) = problem(&format!("{long} YQ=="));
        assert_eq!(p, PairProblem::BadKey);
        assert!(key.contains(&"k".repeat(64)), "{key}");
        assert_eq!(problem("nämé YQ==").1, PairProblem::BadKey);
        assert_eq!(problem("a\u{1}b YQ==").1, PairProblem::BadKey);
        // Invalid key bytes are shown escaped, never raw.
        assert_eq!(problem("a\u{1}b YQ==").0, "\"a\\u{1}b\"");
        assert!(Metadata::parse_header(b"\xff\xfe YQ==").unwrap_err().to_string().contains("a key must be"));
    }

    #[test]
    fn values_must_be_one_standard_base64_token() {
        // Acceptance scenario 13: URL-safe characters are refused.
        assert_eq!(problem("k YQ-_"), ("\"k\"".into(), PairProblem::BadBase64));
        assert_eq!(problem("k YQ=a").1, PairProblem::BadBase64);
        assert_eq!(problem("k Y").1, PairProblem::BadBase64);
        assert_eq!(problem("k YQ==="), ("\"k\"".into(), PairProblem::BadBase64));
        assert_eq!(problem("k YQ== Yg==").1, PairProblem::SecondToken);
        assert_eq!(problem("k YQ\tYg").1, PairProblem::SecondToken);
        assert_eq!(problem("k Y\u{e9}Q=").1, PairProblem::BadBase64);
    }

    #[test]
    fn values_must_be_utf8_and_at_most_1024_bytes() {
        // Acceptance scenario 13: non-UTF-8.
        let not_utf8 = STANDARD.encode([0xff, 0xfe, 0x41]);
        assert_eq!(problem(&format!("filename {not_utf8}")), ("\"filename\"".into(), PairProblem::NotUtf8));
        let max = STANDARD.encode("v".repeat(1024));
        assert_eq!(parse(&format!("k {max}")).expect("1024 bytes").get("k").map(str::len), Some(1024));
        let over = STANDARD.encode("v".repeat(1025));
        assert_eq!(problem(&format!("k {over}")).1, PairProblem::ValueTooLarge);
        let unpadded_over = STANDARD.encode("v".repeat(1025)).trim_end_matches('=').to_owned();
        assert_eq!(problem(&format!("k {unpadded_over}")).1, PairProblem::ValueTooLarge);
    }

    #[test]
    fn the_header_is_limited_to_8_kib_and_32_pairs() {
        // Acceptance scenario 36.
        let thirty_two: Vec<String> = (0..32).map(|i| format!("k{i} YQ==")).collect();
        assert_eq!(parse(&thirty_two.join(",")).expect("32 pairs").len(), 32);
        let thirty_three: Vec<String> = (0..33).map(|i| format!("k{i} YQ==")).collect();
        assert_eq!(parse(&thirty_three.join(",")), Err(MetadataError::TooManyPairs { count: 33 }));

        let at_limit = format!("k {}", "A".repeat(MAX_HEADER_BYTES - 2));
        assert!(!matches!(parse(&at_limit), Err(MetadataError::HeaderTooLarge { .. })));
        let over = format!("k {}", "A".repeat(MAX_HEADER_BYTES - 1));
        assert_eq!(parse(&over), Err(MetadataError::HeaderTooLarge { len: MAX_HEADER_BYTES + 1 }));
    }

    #[test]
    fn errors_name_the_key_and_say_what_to_do() {
        let msg = parse("filename YQ-_").unwrap_err().to_string();
        assert!(msg.contains("\"filename\"") && msg.contains("standard Base64"), "{msg}");
        let msg = parse(&"k,".repeat(40)).unwrap_err().to_string();
        assert!(msg.contains("at most 32"), "{msg}");
        // A hostile key is shortened in the message.
        let msg = Metadata::from_pairs([("k".repeat(5000), "v")]).unwrap_err().to_string();
        assert!(msg.len() < 400, "{msg}");
    }

    #[test]
    fn the_canonical_header_sorts_keys_pads_values_and_writes_empty_values_bare() {
        let m = parse("zeta YQ,alpha,mid YWJjZA").expect("valid");
        assert_eq!(m.to_header(), "alpha,mid YWJjZA==,zeta YQ==");
        // The canonical form parses back to the same metadata.
        assert_eq!(parse(&m.to_header()).expect("canonical"), m);
        assert_eq!(Metadata::default().to_header(), "");
    }

    #[test]
    fn map_metadata_follows_the_same_rules() {
        let m = Metadata::from_pairs([("filename", "a.csv"), ("empty", "")]).expect("valid");
        assert_eq!(pairs(&m), [("empty", ""), ("filename", "a.csv")]);
        assert_eq!(
            Metadata::from_pairs([("bad key", "x")]),
            Err(MetadataError::InvalidPair { key: "\"bad key\"".into(), problem: PairProblem::BadKey })
        );
        assert_eq!(
            Metadata::from_pairs([("k", "v".repeat(1025))]).unwrap_err(),
            MetadataError::InvalidPair { key: "\"k\"".into(), problem: PairProblem::ValueTooLarge }
        );
        let many: Vec<(String, &str)> = (0..33).map(|i| (format!("k{i}"), "v")).collect();
        assert_eq!(Metadata::from_pairs(many), Err(MetadataError::TooManyPairs { count: 33 }));
    }

    #[test]
    fn interpreted_keys_fall_back_in_order() {
        let id = DROPOFF;
        let m = Metadata::from_pairs([
            ("filename", "../../etc/passwd"),
            ("name", "other.txt"),
            ("filetype", "text/plain"),
            ("type", "image/png"),
        ])
        .unwrap();
        assert_eq!(m.file_name(id), "passwd");
        assert_eq!(m.content_type(), "text/plain");

        let m = Metadata::from_pairs([
            ("filename", ""),
            ("name", "C:\\fakepath\\data.pdf"),
            ("filetype", ""),
            ("type", "application/pdf"),
        ])
        .unwrap();
        assert_eq!(m.file_name(id), "data.pdf");
        assert_eq!(m.content_type(), "application/pdf");

        let m = Metadata::from_pairs([("filetype", "not a type"), ("relativePath", "a/../b/c.csv")]).unwrap();
        assert_eq!(m.file_name(id), "file-0a1b2c3d");
        assert_eq!(m.content_type(), names::OCTET_STREAM);
        assert_eq!(m.relative_path().as_deref(), Some("a/b/c.csv"));
    }

    #[test]
    fn dropoff_must_be_a_uuid() {
        assert_eq!(Metadata::default().dropoff_id(), None);
        assert_eq!(Metadata::from_pairs([("dropoff", "")]).unwrap().dropoff_id(), None);
        assert_eq!(Metadata::from_pairs([("dropoff", "not-a-uuid")]).unwrap().dropoff_id(), None);
        assert_eq!(
            Metadata::from_pairs([("dropoff", DROPOFF.to_uppercase())]).unwrap().dropoff_id().as_deref(),
            Some(DROPOFF)
        );
        assert_eq!(Metadata::from_pairs([("Dropoff", DROPOFF)]).unwrap().dropoff_id(), None, "keys are case-sensitive");
    }

    #[test]
    fn expected_sha256_is_64_hex_digits() {
        assert_eq!(Metadata::default().expected_sha256(), Ok(None));
        let digest = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let m = Metadata::from_pairs([("sha256", digest)]).unwrap();
        assert_eq!(m.expected_sha256(), Ok(Some(digest.to_ascii_lowercase())));
        let non_hex = format!("{}g", &digest[1..]);
        for bad in ["", "abc", &digest[1..], non_hex.as_str()] {
            let m = Metadata::from_pairs([("sha256", bad)]).unwrap();
            assert_eq!(
                m.expected_sha256().unwrap_err().to_string(),
                "metadata key \"sha256\": the value must be a SHA-256 digest of 64 hex digits"
            );
        }
    }
}
