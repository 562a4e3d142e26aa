//! Encryption at rest: an AES-256-GCM [`Keyring`] for small values such as
//! OAuth tokens, secrets and donated-data rows.
//!
//! This module owns the master keys, the sealed byte format, key-id based
//! rotation, the key spec string (`id1:BASE64KEY,id2:BASE64KEY`), the
//! development-mode key file ([`Keyring::load_or_generate`]) and HKDF
//! derivation of purpose-specific sub-keys ([`Keyring::derive_key`]).
//!
//! # Sealed format (version 1)
//!
//! ```text
//! +---------+--------+----------------+-----------+----------------------+
//! | version | id_len | key id         | nonce     | ciphertext || tag    |
//! | 1 byte  | 1 byte | id_len bytes   | 12 bytes  | len(plaintext) + 16  |
//! | = 0x01  |        | [A-Za-z0-9_-]  | random    | AES-256-GCM          |
//! +---------+--------+----------------+-----------+----------------------+
//! ```
//!
//! The GCM associated data is `version || id_len || key id || caller AAD`.
//! Binding the header means a sealed value cannot be relabelled with a
//! different key id, and binding the caller's AAD (for example a table name
//! and row id) means a value cannot be moved to another context and still
//! open. The header is length-prefixed, so the concatenation is unambiguous.
//!
//! # Rotation
//!
//! New data is always sealed with the current (first) key; every key in the
//! ring can open what it sealed. To rotate, prepend a new key to the spec
//! (`new:…,old:…`); old values keep opening, and [`Keyring::reseal`] moves
//! them to the new key (`steward keys reseal`) so the old one can go.
//!
//! Nonces are 96 random bits per seal. That is safe for far more seals per key
//! than this service will perform (the usual bound is ~2^32 per key), and
//! rotation resets the count anyway.
//!
//! Key bytes are never printed: neither `Debug` nor any error message contains
//! key material. Key bytes are not zeroized on drop; ring's expanded AES key
//! schedule is not either, so doing it for the raw bytes alone would promise
//! more than it delivers.

#![forbid(unsafe_code)]

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};

/// Version byte written at the start of every sealed value.
pub const FORMAT_VERSION: u8 = 1;

/// Length in bytes of every key in the ring (AES-256).
pub const KEY_LEN: usize = 32;

/// Longest allowed key id; it must also fit the one-byte length prefix.
pub const MAX_KEY_ID_LEN: usize = 32;

/// AES-GCM tag length (ring keeps its own constant private).
const TAG_LEN: usize = 16;

/// Fixed HKDF salt for [`Keyring::derive_key`]. It separates derived keys from
/// any other use of the master keys; changing it changes every derived key.
const DERIVE_SALT: &[u8] = b"steward/crypto/keyring/derive-key/v1";

/// Padding-indifferent decoders: hand-written specs may or may not carry `=`.
const B64_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const B64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Errors from parsing, loading, opening and deriving.
///
/// No variant ever carries key material: parse errors name the entry by its
/// position or by its (validated) key id only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// The spec contained no entries at all.
    #[error("keyring spec is empty: expected `id:BASE64KEY[,id:BASE64KEY...]`")]
    EmptySpec,

    /// An entry was empty or had no `:` between id and key.
    #[error("keyring spec entry {index}: expected `id:BASE64KEY`")]
    MalformedEntry {
        /// 1-based position of the entry in the spec.
        index: usize,
    },

    /// A key id was empty, too long, or used characters outside `[A-Za-z0-9_-]`.
    /// The id itself is not echoed, in case a key was pasted in its place.
    #[error(
        "keyring spec entry {index}: key id must be 1-{MAX_KEY_ID_LEN} characters \
         from A-Z, a-z, 0-9, '_' and '-'"
    )]
    InvalidKeyId {
        /// 1-based position of the entry in the spec.
        index: usize,
    },

    /// The key text was not valid standard or URL-safe base64.
    #[error("keyring key {key_id:?}: key is not valid base64 (standard or URL-safe alphabet)")]
    InvalidBase64 {
        /// Id of the offending entry.
        key_id: String,
    },

    /// The key decoded to the wrong number of bytes.
    #[error("keyring key {key_id:?}: key decodes to {len} bytes, expected {KEY_LEN}")]
    WrongKeyLength {
        /// Id of the offending entry.
        key_id: String,
        /// Decoded length in bytes.
        len: usize,
    },

    /// Two entries share one id, which would make opening ambiguous.
    #[error("keyring spec has duplicate key id {key_id:?}")]
    DuplicateKeyId {
        /// The repeated id.
        key_id: String,
    },

    /// The sealed value (or a `derive_key` call) names a key not in this ring.
    #[error("no key with id {key_id:?} in the keyring (was it removed during rotation?)")]
    UnknownKeyId {
        /// The id as found; non-UTF-8 bytes are replaced.
        key_id: String,
    },

    /// The sealed value is too short to hold its header, nonce and tag.
    #[error("sealed value is truncated ({len} bytes)")]
    Truncated {
        /// Length of the input in bytes.
        len: usize,
    },

    /// The sealed value starts with a format version this code does not know.
    #[error("sealed value has unsupported format version {version} (expected {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },

    /// GCM authentication failed: the value was altered, or the associated
    /// data given to `open` differs from the one given to `seal`.
    #[error("sealed value failed authentication: it was altered or the associated data does not match")]
    AuthenticationFailed,

    /// The key file is readable by group or others.
    #[error(
        "key file {} has permissions {mode:04o}, which let group or others read it; \
         fix with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The key file exists but its content is not a valid spec.
    #[error("key file {} is invalid", path.display())]
    InvalidKeyFile {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its content (never includes key material).
        #[source]
        source: Box<KeyringError>,
    },

    /// Reading or writing the key file failed.
    #[error("failed to {action} {}", path.display())]
    Io {
        /// The key file, its directory or its temporary sibling.
        path: PathBuf,
        /// What failed, e.g. "read key file".
        action: &'static str,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
}

/// One named key. Deliberately not `Debug`, so it cannot be printed by accident.
#[derive(Clone)]
struct KeyEntry {
    id: String,
    /// Raw bytes are kept for `to_spec` and `derive_key`.
    bytes: [u8; KEY_LEN],
    aead: LessSafeKey,
}

impl KeyEntry {
    fn new(id: String, bytes: [u8; KEY_LEN]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).expect("a 32-byte key is valid for AES-256-GCM");
        Self { id, bytes, aead: LessSafeKey::new(unbound) }
    }
}

/// A set of named AES-256-GCM keys, one of which is current.
///
/// [`seal`](Self::seal) uses the current key; [`open`](Self::open) uses
/// whichever key the sealed value names. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Keyring {
    /// Never empty; `keys[0]` is the current key. Rings hold a handful of
    /// keys, so lookup by linear scan is fine.
    keys: Vec<KeyEntry>,
    rng: SystemRandom,
}

impl fmt::Debug for Keyring {
    /// Prints key ids only, never key bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current_key_id())
            .field("key_ids", &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

impl Keyring {
    /// Parses `id1:BASE64KEY,id2:BASE64KEY`; the first entry becomes current.
    ///
    /// Keys are 32 bytes in standard or URL-safe base64, padding optional;
    /// whitespace around entries, ids and keys is ignored. Ids must match
    /// `[A-Za-z0-9_-]{1,32}` and be unique. Error messages never contain key
    /// text.
    pub fn parse(spec: &str) -> Result<Keyring, KeyringError> {
        if spec.trim().is_empty() {
            return Err(KeyringError::EmptySpec);
        }
        let mut keys: Vec<KeyEntry> = Vec::new();
        for (i, entry) in spec.split(',').enumerate() {
            let index = i + 1;
            let (id, key_text) = entry.trim().split_once(':').ok_or(KeyringError::MalformedEntry { index })?;
            let (id, key_text) = (id.trim(), key_text.trim());
            if !is_valid_key_id(id) {
                return Err(KeyringError::InvalidKeyId { index });
            }
            // Decode errors are dropped on purpose: base64's messages quote
            // the offending character, which is part of the key.
            let decoded = B64_STANDARD
                .decode(key_text)
                .or_else(|_| B64_URL_SAFE.decode(key_text))
                .map_err(|_| KeyringError::InvalidBase64 { key_id: id.to_owned() })?;
            let bytes: [u8; KEY_LEN] = decoded
                .as_slice()
                .try_into()
                .map_err(|_| KeyringError::WrongKeyLength { key_id: id.to_owned(), len: decoded.len() })?;
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyringError::DuplicateKeyId { key_id: id.to_owned() });
            }
            keys.push(KeyEntry::new(id.to_owned(), bytes));
        }
        Ok(Keyring { keys, rng: SystemRandom::new() })
    }

    /// Creates a ring with one fresh random key, its id made from today's UTC
    /// date and a random suffix, e.g. `k20261121a3f9`.
    ///
    /// # Panics
    /// If the operating system's random source fails, as there is no safe way
    /// to continue without keys.
    pub fn generate() -> Keyring {
        let rng = SystemRandom::new();
        let mut bytes = [0u8; KEY_LEN];
        rng.fill(&mut bytes).expect("system random source failed");
        let mut suffix = [0u8; 2];
        rng.fill(&mut suffix).expect("system random source failed");

        // A clock before 1970 is broken; fall back to the epoch rather than fail.
        let days = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        let id = format!("k{y:04}{m:02}{d:02}{:02x}{:02x}", suffix[0], suffix[1]);

        Keyring { keys: vec![KeyEntry::new(id, bytes)], rng }
    }

    /// Renders the ring as a spec string, current key first, that
    /// [`parse`](Self::parse) reads back. It contains the keys: treat it as a
    /// secret.
    pub fn to_spec(&self) -> String {
        self.keys.iter().map(|k| format!("{}:{}", k.id, STANDARD.encode(k.bytes))).collect::<Vec<_>>().join(",")
    }

    /// Development mode: reads the ring from `path`, or generates one and
    /// stores it there.
    ///
    /// An existing file is parsed after trimming; it is refused if group or
    /// others have any permission bit on it. A missing file (and missing
    /// parent directories, created 0700) is created with mode 0600 by writing
    /// a temporary sibling, fsyncing it and moving it into place, so a crash
    /// never leaves a half-written key file. If another process creates the
    /// file at the same moment, its keys win and are returned instead.
    pub fn load_or_generate(path: &Path) -> Result<Keyring, KeyringError> {
        match fs::File::open(path) {
            Ok(file) => read_key_file(path, file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let ring = Keyring::generate();
                if install_key_file(path, &ring.to_spec())? {
                    Ok(ring)
                } else {
                    // Another process created the file first; use its keys so
                    // that both processes agree.
                    let file = fs::File::open(path).map_err(|e| io_err(path, "open key file", e))?;
                    read_key_file(path, file)
                }
            }
            Err(e) => Err(io_err(path, "open key file", e)),
        }
    }

    /// Id of the key that [`seal`](Self::seal) uses.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Ids of every key in the ring, the current one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.id.as_str())
    }

    /// Encrypts `plaintext` with the current key and a fresh random nonce,
    /// binding `aad` (which must be passed to [`open`](Self::open) unchanged).
    ///
    /// The output is `plaintext.len() + 2 + id length + 12 + 16` bytes; see
    /// the module docs for the layout.
    ///
    /// # Panics
    /// If the operating system's random source fails: sealing without a
    /// fresh nonce would be unsafe.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system random source failed");

        let header_len = 2 + key.id.len();
        let mut out = Vec::with_capacity(header_len + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_VERSION);
        // Ids are validated to at most 32 bytes, so this cannot truncate.
        out.push(key.id.len() as u8);
        out.extend_from_slice(key.id.as_bytes());
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.extend_from_slice(plaintext);

        let full_aad = bound_aad(&out[..header_len], aad);
        let tag = key
            .aead
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&full_aad), &mut out[body..])
            // ring only refuses inputs beyond GCM's ~64 GiB limit.
            .expect("plaintext too long for AES-GCM");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Decrypts a value made by [`seal`](Self::seal) with any key in this
    /// ring, checking it against `aad`.
    ///
    /// Errors: [`KeyringError::Truncated`], [`KeyringError::UnsupportedVersion`],
    /// [`KeyringError::UnknownKeyId`], or [`KeyringError::AuthenticationFailed`]
    /// when the value was altered or `aad` differs.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let truncated = || KeyringError::Truncated { len: sealed.len() };
        // The version is checked before anything else so that a future layout
        // is reported as such rather than as a truncated or corrupt value.
        let (&version, rest) = sealed.split_first().ok_or_else(truncated)?;
        if version != FORMAT_VERSION {
            return Err(KeyringError::UnsupportedVersion { version });
        }
        let (&id_len, rest) = rest.split_first().ok_or_else(truncated)?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN + TAG_LEN {
            return Err(truncated());
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, ciphertext_and_tag) = rest.split_at(NONCE_LEN);

        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == id)
            .ok_or_else(|| KeyringError::UnknownKeyId { key_id: String::from_utf8_lossy(id).into_owned() })?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).expect("nonce slice is NONCE_LEN bytes");
        let full_aad = bound_aad(&sealed[..2 + id_len], aad);

        let mut buf = ciphertext_and_tag.to_vec();
        let plaintext_len = key
            .aead
            .open_in_place(nonce, Aad::from(&full_aad), &mut buf)
            .map_err(|_| KeyringError::AuthenticationFailed)?
            .len();
        buf.truncate(plaintext_len);
        Ok(buf)
    }

    /// The key id a sealed value names in its header, or `None` when the value
    /// is not in the sealed format. Says nothing about whether it opens.
    pub fn sealed_key_id(sealed: &[u8]) -> Option<&str> {
        let (&version, rest) = sealed.split_first()?;
        let (&id_len, rest) = rest.split_first()?;
        if version != FORMAT_VERSION {
            return None;
        }
        std::str::from_utf8(rest.get(..usize::from(id_len))?).ok()
    }

    /// Re-seals a value made under an older key with the current one, bound to
    /// the same `aad`; `None` when the current key already sealed it. Opening
    /// first means a value that does not authenticate is reported, never
    /// re-sealed into something that would.
    pub fn reseal(&self, sealed: &[u8], aad: &[u8]) -> Result<Option<Vec<u8>>, KeyringError> {
        if Self::sealed_key_id(sealed) == Some(self.current_key_id()) {
            return Ok(None);
        }
        let plaintext = self.open(sealed, aad)?;
        Ok(Some(self.seal(&plaintext, aad)))
    }

    /// Derives a 32-byte sub-key from the key named `key_id` with
    /// HKDF-SHA256 (fixed module salt, caller-chosen `info`), e.g. an HMAC key
    /// for long-lived tokens.
    ///
    /// The result is deterministic for a given key and `info`, and distinct
    /// `info` values give independent keys. Use a distinct, versioned `info`
    /// per purpose (e.g. `b"steward/api-token-hmac/v1"`).
    pub fn derive_key(&self, key_id: &str, info: &[u8]) -> Result<[u8; 32], KeyringError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| KeyringError::UnknownKeyId { key_id: key_id.to_owned() })?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, DERIVE_SALT).extract(&key.bytes);
        let info = [info];
        let mut out = [0u8; 32];
        // HKDF_SHA256 as the length type asks for one digest (32 bytes), well
        // within HKDF's 255-block limit, so neither call can fail.
        prk.expand(&info, hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .expect("32-byte HKDF-SHA256 output is always valid");
        Ok(out)
    }
}

/// `header || caller_aad`; unambiguous because the header is length-prefixed.
fn bound_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(header.len() + aad.len());
    full.extend_from_slice(header);
    full.extend_from_slice(aad);
    full
}

fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn io_err(path: &Path, action: &'static str, source: io::Error) -> KeyringError {
    KeyringError::Io { path: path.to_owned(), action, source }
}

/// Checks permissions on the already-open file (not the path, so the check
/// and the read see the same file), then parses its trimmed content.
fn read_key_file(path: &Path, mut file: fs::File) -> Result<Keyring, KeyringError> {
    let mode = file.metadata().map_err(|e| io_err(path, "read metadata of key file", e))?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyringError::InsecurePermissions { path: path.to_owned(), mode });
    }
    let mut spec = String::new();
    file.read_to_string(&mut spec).map_err(|e| io_err(path, "read key file", e))?;
    Keyring::parse(spec.trim()).map_err(|e| KeyringError::InvalidKeyFile { path: path.to_owned(), source: Box::new(e) })
}

/// Writes `spec` to `path` atomically with mode 0600, unless a file appears at
/// `path` first. Returns `false` (leaving that file alone) in that case.
fn install_key_file(path: &Path, spec: &str) -> Result<bool, KeyringError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_err(dir, "create key file directory", e))?;

    // A random suffix keeps concurrent writers from sharing a temp file.
    let mut suffix = [0u8; 8];
    SystemRandom::new().fill(&mut suffix).expect("system random source failed");
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let file_name = path.file_name().map_or_else(|| "keyring".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{file_name}.{suffix}.tmp"));

    let write = || -> Result<bool, KeyringError> {
        // create_new: never follow or reuse something already at the temp path.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_err(&tmp, "create temporary key file", e))?;
        f.write_all(spec.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .map_err(|e| io_err(&tmp, "write temporary key file", e))?;
        // A hard link is an atomic rename that refuses to replace an existing
        // file, so two processes generating at once cannot end up holding
        // different keys. Filesystems without hard links fall back to rename.
        match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(_) => {
                fs::rename(&tmp, path).map(|()| true).map_err(|e| io_err(path, "rename temporary key file to", e))
            }
        }
    };
    let result = write();
    // The temporary name is gone after a rename; after a link (or a failure)
    // remove it so no stray copy of the key is left. Best effort.
    let _ = fs::remove_file(&tmp);
    let installed = result?;
    // Persist the new directory entry. Best effort: some filesystems refuse to
    // fsync a directory, and the key file is already complete either way.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(installed)
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day)
/// (Howard Hinnant's `civil_from_days`), so no date crate is needed.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;
    use ring::hmac;

    #[test]
    fn constants_match_ring() {
        assert_eq!(AES_256_GCM.tag_len(), TAG_LEN);
        assert_eq!(AES_256_GCM.nonce_len(), NONCE_LEN);
        assert_eq!(AES_256_GCM.key_len(), KEY_LEN);
    }

    const KEY_A: [u8; 32] = [0xA1; 32];
    const KEY_B: [u8; 32] = [0xB2; 32];

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    fn spec_a() -> String {
        format!("a:{}", b64(&KEY_A))
    }

    fn spec_b() -> String {
        format!("b:{}", b64(&KEY_B))
    }

    fn ring_a() -> Keyring {
        Keyring::parse(&spec_a()).unwrap()
    }

    #[test]
    fn round_trip() {
        let ring = ring_a();
        for pt in [&b""[..], b"x", b"an OAuth refresh token", &[0u8; 4096][..]] {
            let sealed = ring.seal(pt, b"aad");
            assert_eq!(sealed.len(), 2 + 1 + NONCE_LEN + pt.len() + TAG_LEN);
            assert_eq!(sealed[0], FORMAT_VERSION);
            assert_eq!(sealed[1], 1);
            assert_eq!(&sealed[2..3], b"a");
            assert_eq!(ring.open(&sealed, b"aad").unwrap(), pt);
        }
        // Empty AAD works too.
        let sealed = ring.seal(b"secret", b"");
        assert_eq!(ring.open(&sealed, b"").unwrap(), b"secret");
    }

    #[test]
    fn second_seal_differs() {
        let ring = ring_a();
        let s1 = ring.seal(b"same plaintext", b"ctx");
        let s2 = ring.seal(b"same plaintext", b"ctx");
        assert_ne!(s1, s2);
        let nonce = |s: &[u8]| s[3..3 + NONCE_LEN].to_vec();
        assert_ne!(nonce(&s1), nonce(&s2));
        assert_eq!(ring.open(&s1, b"ctx").unwrap(), ring.open(&s2, b"ctx").unwrap());
    }

    #[test]
    fn tamper_detection() {
        let ring = ring_a();
        let pt = b"donated row";
        let sealed = ring.seal(pt, b"ctx");
        let nonce_at = 3;
        let ct_at = nonce_at + NONCE_LEN;
        let tag_at = sealed.len() - TAG_LEN;

        let flip = |i: usize| {
            let mut s = sealed.clone();
            s[i] ^= 0x01;
            ring.open(&s, b"ctx")
        };
        for i in [ct_at, ct_at + pt.len() - 1, tag_at, sealed.len() - 1, nonce_at, ct_at - 1] {
            assert!(
                matches!(flip(i), Err(KeyringError::AuthenticationFailed)),
                "flipping byte {i} must fail authentication"
            );
        }
        // Header bytes: version, id length and id each refuse to open.
        assert!(matches!(flip(0), Err(KeyringError::UnsupportedVersion { version: 0 })));
        assert!(flip(1).is_err());
        assert!(matches!(flip(2), Err(KeyringError::UnknownKeyId { .. })));
        // Every single-bit flip anywhere fails.
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut s = sealed.clone();
                s[i] ^= 1 << bit;
                assert!(ring.open(&s, b"ctx").is_err(), "byte {i} bit {bit}");
            }
        }
        assert_eq!(ring.open(&sealed, b"ctx").unwrap(), pt);
    }

    #[test]
    fn header_key_id_is_authenticated() {
        // Same key bytes under two ids: relabelling the id must still fail,
        // which shows the header is bound into the AAD.
        let k = b64(&KEY_A);
        let ring = Keyring::parse(&format!("a:{k},b:{k}")).unwrap();
        let mut sealed = ring.seal(b"token", b"ctx");
        assert_eq!(sealed[2], b'a');
        sealed[2] = b'b';
        assert!(matches!(ring.open(&sealed, b"ctx"), Err(KeyringError::AuthenticationFailed)));
    }

    #[test]
    fn wrong_aad_refused() {
        let ring = ring_a();
        let sealed = ring.seal(b"secret", b"table=tokens;id=1");
        for aad in [&b"table=tokens;id=2"[..], b"", b"table=tokens;id=1 "] {
            let err = ring.open(&sealed, aad).unwrap_err();
            assert!(matches!(err, KeyringError::AuthenticationFailed), "{err}");
            assert!(err.to_string().contains("associated data"));
        }
    }

    #[test]
    fn rotation() {
        let a = ring_a();
        let old = a.seal(b"old data", b"ctx");

        let ba = Keyring::parse(&format!("{},{}", spec_b(), spec_a())).unwrap();
        assert_eq!(ba.current_key_id(), "b");
        assert_eq!(ba.open(&old, b"ctx").unwrap(), b"old data");
        let new = ba.seal(b"new data", b"ctx");
        assert_eq!(&new[1..3], &[1, b'b']);
        assert_eq!(ba.open(&new, b"ctx").unwrap(), b"new data");
        // The old ring cannot read data sealed with the new key.
        assert!(matches!(a.open(&new, b"ctx"), Err(KeyringError::UnknownKeyId { .. })));

        let b_only = Keyring::parse(&spec_b()).unwrap();
        match b_only.open(&old, b"ctx") {
            Err(KeyringError::UnknownKeyId { key_id }) => assert_eq!(key_id, "a"),
            other => panic!("expected UnknownKeyId, got {other:?}"),
        }
    }

    #[test]
    fn reseal_moves_old_values_to_the_current_key_only() {
        let old = ring_a().seal(b"old data", b"ctx");
        assert_eq!(Keyring::sealed_key_id(&old), Some("a"));
        let ba = Keyring::parse(&format!("{},{}", spec_b(), spec_a())).unwrap();

        let resealed = ba.reseal(&old, b"ctx").unwrap().expect("sealed under the old key");
        assert_eq!(Keyring::sealed_key_id(&resealed), Some("b"));
        let b_only = Keyring::parse(&spec_b()).unwrap();
        assert_eq!(b_only.open(&resealed, b"ctx").unwrap(), b"old data");
        // Bound to the same context as before, and to nothing else.
        assert!(matches!(b_only.open(&resealed, b"other"), Err(KeyringError::AuthenticationFailed)));
        // Already current: left as it is.
        assert!(ba.reseal(&resealed, b"ctx").unwrap().is_none());
        // A value that does not authenticate is an error, not a fresh seal.
        assert!(matches!(ba.reseal(&old, b"other"), Err(KeyringError::AuthenticationFailed)));
        assert!(matches!(b_only.reseal(&old, b"ctx"), Err(KeyringError::UnknownKeyId { .. })));

        assert_eq!(Keyring::sealed_key_id(b""), None);
        assert_eq!(Keyring::sealed_key_id(&[FORMAT_VERSION, 5, b'a']), None, "id longer than the value");
        assert_eq!(Keyring::sealed_key_id(&[9, 1, b'a']), None, "unknown version");
    }

    #[test]
    fn parse_accepts_variants() {
        // URL-safe alphabet, no padding, whitespace around entries and parts.
        let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xFB);
        let std_pad = STANDARD.encode(key);
        let std_nopad = general_purpose::STANDARD_NO_PAD.encode(key);
        let url_pad = general_purpose::URL_SAFE.encode(key);
        let url_nopad = general_purpose::URL_SAFE_NO_PAD.encode(key);
        assert!(std_pad.contains(['+', '/']) && url_pad.contains(['-', '_']));
        let spec = format!(" k1:{std_pad} ,\n k2 : {std_nopad},k3:{url_pad}\t, K_4-x:{url_nopad}\n");
        let ring = Keyring::parse(&spec).unwrap();
        assert_eq!(ring.current_key_id(), "k1");
        let d1 = ring.derive_key("k1", b"i").unwrap();
        for id in ["k2", "k3", "K_4-x"] {
            assert_eq!(ring.derive_key(id, b"i").unwrap(), d1, "{id} decodes to the same key");
        }
        // Id of exactly 32 characters is fine.
        let long_id = "x".repeat(32);
        assert!(Keyring::parse(&format!("{long_id}:{std_pad}")).is_ok());
    }

    #[test]
    fn parse_errors_do_not_leak_key_text() {
        let k31 = b64(&[0x5A; 31]);
        let k33 = b64(&[0x5A; 33]);
        let good = b64(&KEY_A);
        // Bad base64 with a distinctive invalid character inside the key.
        let bad_b64 = format!("{}!{}", &good[..20], &good[21..]);
        let cases: Vec<(String, &str)> = vec![
            (format!("a:{bad_b64}"), "base64"),
            (format!("a:{good}*"), "base64"),
            (format!("a:{k31}"), "31 bytes"),
            (format!("a:{k33}"), "33 bytes"),
            (format!("a:{good},a:{k31}"), "31 bytes"), // length checked before duplicates
            (format!("a:{good}, b:{good} ,a:{good}"), "duplicate"),
            (String::new(), "empty"),
            ("  \n ".to_owned(), "empty"),
            (format!("a:{good},"), "entry 2"),
            (good.clone(), "entry 1"),
            (format!("bad id:{good}"), "key id"),
            (format!("bad.id:{good}"), "key id"),
            (format!(":{good}"), "key id"),
            (format!("{}:{good}", "x".repeat(33)), "key id"),
            (format!("é:{good}"), "key id"),
            (format!("a:{good},{good}:{good}"), "entry 2"),
        ];
        for (spec, expect) in &cases {
            let err = Keyring::parse(spec).expect_err(spec);
            let msg = err.to_string();
            let dbg = format!("{err:?}");
            assert!(msg.contains(expect), "{msg:?} should mention {expect:?}");
            for secret in [&good, &k31, &k33, &bad_b64] {
                // Any 8-character run of the key would be a leak.
                for window in secret.as_bytes().windows(8) {
                    let w = std::str::from_utf8(window).unwrap();
                    assert!(!msg.contains(w) && !dbg.contains(w), "{msg:?} leaks key text");
                }
            }
        }
        assert!(matches!(Keyring::parse(&format!("a:{k31}")), Err(KeyringError::WrongKeyLength { len: 31, .. })));
        assert!(matches!(
            Keyring::parse(&format!("a:{good},b:{good},a:{good}")),
            Err(KeyringError::DuplicateKeyId { key_id }) if key_id == "a"
        ));
        assert!(matches!(Keyring::parse(""), Err(KeyringError::EmptySpec)));
        assert!(matches!(
            Keyring::parse(&format!("ok:{good},b@d:{good}")),
            Err(KeyringError::InvalidKeyId { index: 2 })
        ));
    }

    #[test]
    fn spec_round_trip() {
        let ring = Keyring::parse(&format!("{},{}", spec_b(), spec_a())).unwrap();
        let spec = ring.to_spec();
        assert_eq!(spec, format!("{},{}", spec_b(), spec_a()));
        let back = Keyring::parse(&spec).unwrap();
        assert_eq!(back.current_key_id(), "b");
        assert_eq!(back.to_spec(), spec);
        let sealed = ring.seal(b"x", b"y");
        assert_eq!(back.open(&sealed, b"y").unwrap(), b"x");

        let generated = Keyring::generate();
        let back = Keyring::parse(&generated.to_spec()).unwrap();
        assert_eq!(back.current_key_id(), generated.current_key_id());
        assert_eq!(back.open(&generated.seal(b"g", b""), b"").unwrap(), b"g");
    }

    #[test]
    fn generate_id_and_keys() {
        let g1 = Keyring::generate();
        let g2 = Keyring::generate();
        let id = g1.current_key_id();
        assert!(is_valid_key_id(id));
        assert_eq!(id.len(), 13, "{id}");
        assert!(id.starts_with("k20"), "{id}");
        assert!(id[1..9].bytes().all(|b| b.is_ascii_digit()), "{id}");
        assert!(id[9..].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        // Fresh key material each time.
        assert_ne!(g1.derive_key(id, b"t").unwrap(), g2.derive_key(g2.current_key_id(), b"t").unwrap());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_408), (2025, 11, 16));
        assert_eq!(civil_from_days(20_818), (2026, 12, 31));
    }

    #[test]
    fn truncated_input() {
        let ring = ring_a();
        let sealed = ring.seal(b"", b"");
        // Every strict prefix fails; the header-less ones as Truncated.
        assert!(matches!(ring.open(&[], b""), Err(KeyringError::Truncated { len: 0 })));
        for n in 1..sealed.len() {
            let err = ring.open(&sealed[..n], b"").unwrap_err();
            assert!(matches!(err, KeyringError::Truncated { len } if len == n), "{n}: {err}");
        }
        // A non-empty plaintext cut short still has room for a "tag" and so
        // fails authentication instead.
        let sealed = ring.seal(b"hello", b"");
        assert!(matches!(ring.open(&sealed[..sealed.len() - 1], b""), Err(KeyringError::AuthenticationFailed)));
        // An id length pointing past the end is truncation, not a panic.
        assert!(matches!(ring.open(&[1, 200, b'a'], b""), Err(KeyringError::Truncated { .. })));
    }

    #[test]
    fn unknown_version() {
        let ring = ring_a();
        let mut sealed = ring.seal(b"x", b"");
        sealed[0] = 2;
        let err = ring.open(&sealed, b"").unwrap_err();
        assert!(matches!(err, KeyringError::UnsupportedVersion { version: 2 }));
        assert!(err.to_string().contains("version 2"));
        assert!(matches!(ring.open(&[7], b""), Err(KeyringError::UnsupportedVersion { version: 7 })));
    }

    #[test]
    fn derive_key_is_hkdf_sha256() {
        let ring = Keyring::parse(&format!("{},{}", spec_a(), spec_b())).unwrap();
        let d = ring.derive_key("a", b"steward/token-hmac/v1").unwrap();
        assert_eq!(d, ring.derive_key("a", b"steward/token-hmac/v1").unwrap());
        assert_ne!(d, ring.derive_key("a", b"steward/token-hmac/v2").unwrap());
        assert_ne!(d, ring.derive_key("b", b"steward/token-hmac/v1").unwrap());
        assert_ne!(d, KEY_A);

        // Known answer per RFC 5869, computed with plain HMAC:
        // PRK = HMAC(salt, IKM); OKM = HMAC(PRK, info || 0x01) for 32 bytes.
        let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, DERIVE_SALT), &KEY_A);
        let okm = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()), b"steward/token-hmac/v1\x01");
        assert_eq!(&d[..], okm.as_ref());

        assert!(matches!(
            ring.derive_key("zz", b"x"),
            Err(KeyringError::UnknownKeyId { key_id }) if key_id == "zz"
        ));
    }

    #[test]
    fn debug_shows_only_ids() {
        let ring = Keyring::parse(&format!("{},{}", spec_b(), spec_a())).unwrap();
        let dbg = format!("{ring:?}");
        let pretty = format!("{ring:#?}");
        assert_eq!(dbg, r#"Keyring { current: "b", key_ids: ["b", "a"] }"#);
        for out in [&dbg, &pretty] {
            for key in [&KEY_A, &KEY_B] {
                let encoded = b64(key);
                assert!(!out.contains(&encoded[..8]));
                assert!(!out.contains("161") && !out.contains("178"), "decimal key bytes");
                assert!(!out.to_lowercase().contains("a1a1") && !out.to_lowercase().contains("b2b2"));
            }
        }
    }

    #[test]
    fn keyring_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Keyring>();
        let ring = ring_a();
        let copy = ring.clone();
        assert_eq!(copy.open(&ring.seal(b"v", b""), b"").unwrap(), b"v");
    }

    #[test]
    fn load_or_generate_creates_0600_file_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("keyring");
        let first = Keyring::load_or_generate(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Only the key file is left: the temporary file was renamed away.
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), first.to_spec());

        let second = Keyring::load_or_generate(&path).unwrap();
        assert_eq!(second.current_key_id(), first.current_key_id());
        assert_eq!(second.to_spec(), first.to_spec());
        let sealed = first.seal(b"persisted", b"ctx");
        assert_eq!(second.open(&sealed, b"ctx").unwrap(), b"persisted");
    }

    #[test]
    fn install_never_replaces_an_existing_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring");
        assert!(install_key_file(&path, &spec_a()).unwrap());
        // Simulates losing the race to another process: ours is discarded.
        assert!(!install_key_file(&path, &spec_b()).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), spec_a());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "temp file left behind");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn load_or_generate_refuses_broad_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring");
        fs::write(&path, spec_a()).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = Keyring::load_or_generate(&path).unwrap_err();
            assert!(matches!(err, KeyringError::InsecurePermissions { .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains(&format!("chmod 600 {}", path.display())), "{msg}");
        }
        // Untouched by the refusal, and accepted once fixed.
        assert_eq!(fs::read_to_string(&path).unwrap(), spec_a());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(Keyring::load_or_generate(&path).unwrap().current_key_id(), "a");
    }

    #[test]
    fn load_or_generate_reports_bad_file_without_key_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyring");
        let k31 = b64(&[0x5A; 31]);
        fs::write(&path, format!("\n  a:{k31}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = Keyring::load_or_generate(&path).unwrap_err();
        let KeyringError::InvalidKeyFile { source, .. } = &err else {
            panic!("expected InvalidKeyFile, got {err:?}");
        };
        assert!(matches!(**source, KeyringError::WrongKeyLength { len: 31, .. }));
        let chain = format!("{err} / {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains(&path.display().to_string()) && chain.contains("31 bytes"), "{chain}");
        assert!(!chain.contains(&k31[..8]));
    }
}
