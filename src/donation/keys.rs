//! Per-donation data keys (spec §5.7): each donation gets a random AES-256-GCM
//! key that seals its rows and archive blobs. The key is stored only wrapped
//! by the keyring's current key (rotation re-wraps keys, not data), so
//! deleting its `donation_keys` row makes everything sealed with it
//! unreadable at commit.
//!
//! Sealed format (version 1): `0x01 ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16)`.
//! The caller's associated data binds a value to its place (donation, type,
//! position), so a value moved elsewhere does not open.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::crypto::Keyring;
use crate::db::schema::donation_keys;

/// Version byte of a value sealed with a data key.
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Associated-data prefix of a wrapped data key.
const WRAP_CONTEXT: &[u8] = b"steward.donation.key.v1";

/// Why a data key or a value sealed with it cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The donation has no key: it was deleted (or never existed).
    #[error("donation {0} has no data key (deleted?)")]
    Missing(i32),
    /// The wrapped key does not open with the keyring (wrong keys, altered row).
    #[error("the data key of donation {0} does not unwrap: {1}")]
    Unwrap(i32, #[source] crate::crypto::KeyringError),
    /// A sealed value is malformed, altered, or was sealed for another place.
    #[error("a sealed value does not open (altered, truncated or moved)")]
    Open,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// A donation's data key, unwrapped. Never printed.
#[derive(Clone)]
pub struct DataKey {
    key: std::sync::Arc<LessSafeKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

impl DataKey {
    /// The key with these raw bytes (new keys come from [`create`]).
    pub fn from_bytes(bytes: &[u8; 32]) -> DataKey {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte key is valid for AES-256-GCM");
        DataKey { key: std::sync::Arc::new(LessSafeKey::new(unbound)), rng: SystemRandom::new() }
    }

    /// Seals `plaintext` bound to `aad` with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("system random source failed");
        self.seal_with_nonce(nonce, plaintext, aad)
    }

    /// Seals many values, drawing all their nonces with one call to the
    /// system's random source (row batches seal thousands of values).
    pub fn seal_all<'a>(&self, items: impl ExactSizeIterator<Item = (&'a [u8], Vec<u8>)>) -> Vec<Vec<u8>> {
        let mut nonces = vec![0u8; items.len() * NONCE_LEN];
        self.rng.fill(&mut nonces).expect("system random source failed");
        items
            .zip(nonces.chunks_exact(NONCE_LEN))
            .map(|((plaintext, aad), nonce)| {
                self.seal_with_nonce(nonce.try_into().expect("NONCE_LEN bytes"), plaintext, &aad)
            })
            .collect()
    }

    fn seal_with_nonce(&self, nonce: [u8; NONCE_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut out[1 + NONCE_LEN..])
            .expect("plaintext within AES-GCM's limit");
        out.extend_from_slice(tag.as_ref());
        out
    }

    /// Opens a value sealed with this key for `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(KeyError::Open);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN]).map_err(|_| KeyError::Open)?;
        let mut buf = sealed[1 + NONCE_LEN..].to_vec();
        let len = self.key.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| KeyError::Open)?.len();
        buf.truncate(len);
        Ok(buf)
    }
}

pub(crate) fn wrap_aad(donation_id: i32) -> Vec<u8> {
    let mut aad = WRAP_CONTEXT.to_vec();
    aad.extend_from_slice(&i64::from(donation_id).to_be_bytes());
    aad
}

/// Creates the data key of a new donation and stores it wrapped; call it in
/// the transaction that creates the donation.
pub async fn create(conn: &mut AsyncPgConnection, keyring: &Keyring, donation_id: i32) -> Result<DataKey, KeyError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("system random source failed");
    let wrapped = keyring.seal(&bytes, &wrap_aad(donation_id));
    diesel::insert_into(donation_keys::table)
        .values((
            donation_keys::donation_id.eq(donation_id),
            donation_keys::key_id.eq(keyring.current_key_id()),
            donation_keys::wrapped_key.eq(wrapped),
        ))
        .execute(conn)
        .await?;
    Ok(DataKey::from_bytes(&bytes))
}

/// The data key of a donation, unwrapped; [`KeyError::Missing`] once it is deleted.
pub async fn load(conn: &mut AsyncPgConnection, keyring: &Keyring, donation_id: i32) -> Result<DataKey, KeyError> {
    let wrapped: Option<Vec<u8>> =
        donation_keys::table.find(donation_id).select(donation_keys::wrapped_key).first(conn).await.optional()?;
    let wrapped = wrapped.ok_or(KeyError::Missing(donation_id))?;
    let bytes = keyring.open(&wrapped, &wrap_aad(donation_id)).map_err(|e| KeyError::Unwrap(donation_id, e))?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::Open)?;
    Ok(DataKey::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = DataKey::from_bytes(&[7; 32]);
        let sealed = key.seal(b"{\"a\":1}", b"here");
        assert_eq!(key.open(&sealed, b"here").unwrap(), b"{\"a\":1}");
        assert!(matches!(key.open(&sealed, b"there"), Err(KeyError::Open)));
        assert!(matches!(DataKey::from_bytes(&[8; 32]).open(&sealed, b"here"), Err(KeyError::Open)));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(&altered, b"here").is_err());
        assert!(key.open(&sealed[..10], b"here").is_err());
        // The plaintext is not in the sealed bytes, and nonces differ per seal.
        assert!(!sealed.windows(5).any(|w| w == b"\"a\":1"));
        assert_ne!(key.seal(b"x", b""), key.seal(b"x", b""));
    }

    #[test]
    fn batch_sealing_uses_distinct_nonces() {
        let key = DataKey::from_bytes(&[1; 32]);
        let items = [(&b"one"[..], b"1".to_vec()), (&b"two"[..], b"2".to_vec())];
        let sealed = key.seal_all(items.iter().cloned());
        assert_eq!(key.open(&sealed[0], b"1").unwrap(), b"one");
        assert_eq!(key.open(&sealed[1], b"2").unwrap(), b"two");
        assert_ne!(sealed[0][1..13], sealed[1][1..13]);
        assert_eq!(format!("{key:?}"), "DataKey(…)");
    }
}
