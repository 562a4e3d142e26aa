//! The ngauth token (spec §3.6): `base64(MAC ‖ J)`, `J` =
//! `{"u":<user id>,"s":<api_tokens.id>,"e":<unix expiry>,"k":"<key id>"}`,
//! `MAC = HMAC-SHA256(HKDF-SHA256(keyring[k], "steward-ngauth-v1"), J)`.
//!
//! Why the key is derived from the keyring rather than configured: every
//! replica already shares the keyring, so there is no second secret to
//! distribute or leak; the key id inside the token lets a rotated keyring keep
//! verifying tokens minted under the previous key until that key is removed;
//! and the HKDF `info` makes the MAC key independent of the sealing keys and
//! of the long-lived-token derivation. Naming the credential (`s`) ties the
//! token to it: revoking or expiring the login token ends GCS access too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::crypto::Keyring;

/// HKDF `info` of the MAC key; bump the version to invalidate every token.
const INFO: &[u8] = b"steward-ngauth-v1";
/// Length of the MAC prefix.
const MAC_LEN: usize = 32;
/// Tokens longer than this are not decoded at all.
const MAX_TOKEN_LEN: usize = 1024;

/// What a valid ngauth token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    #[serde(rename = "u")]
    pub user_id: i64,
    /// The `api_tokens` row the user authenticated with.
    #[serde(rename = "s")]
    pub credential_id: i64,
    /// Expiry, unix seconds.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// The keyring key the MAC key was derived from.
    #[serde(rename = "k")]
    pub key_id: String,
}

/// Why a token was refused (all answered alike, 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64, too short or too long, or the JSON is not the claims.
    #[error("malformed")]
    Malformed,
    /// The key id is not in the keyring.
    #[error("unknown key")]
    UnknownKey,
    /// The MAC does not match.
    #[error("bad signature")]
    BadMac,
    /// `e <= now`.
    #[error("expired")]
    Expired,
}

fn mac_key(keyring: &Keyring, key_id: &str) -> Result<hmac::Key, TokenError> {
    let bytes = keyring.derive_key(key_id, INFO).map_err(|_| TokenError::UnknownKey)?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// Mints a token for `user_id` authenticated by credential `credential_id`,
/// valid until `expires_at` (unix seconds), under the keyring's current key.
pub fn mint(keyring: &Keyring, user_id: i64, credential_id: i64, expires_at: i64) -> String {
    let claims = Claims { user_id, credential_id, expires_at, key_id: keyring.current_key_id().to_owned() };
    let json = serde_json::to_vec(&claims).expect("claims serialize");
    let key = mac_key(keyring, &claims.key_id).expect("the current key is in the keyring");
    let tag = hmac::sign(&key, &json);
    let mut raw = Vec::with_capacity(MAC_LEN + json.len());
    raw.extend_from_slice(tag.as_ref());
    raw.extend_from_slice(&json);
    STANDARD.encode(raw)
}

/// The claims of `token` if its MAC verifies and it has not expired at `now`.
pub fn verify(keyring: &Keyring, token: &str, now: i64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let raw = STANDARD.decode(token).map_err(|_| TokenError::Malformed)?;
    if raw.len() <= MAC_LEN {
        return Err(TokenError::Malformed);
    }
    let (tag, json) = raw.split_at(MAC_LEN);
    // The key id is read before the MAC is checked only to pick the key; nothing
    // else in `json` is trusted until `hmac::verify` (constant time) passes.
    #[derive(Deserialize)]
    struct KeyOnly {
        k: String,
    }
    let key_id = serde_json::from_slice::<KeyOnly>(json).map_err(|_| TokenError::Malformed)?.k;
    let key = mac_key(keyring, &key_id)?;
    hmac::verify(&key, json, tag).map_err(|_| TokenError::BadMac)?;
    let claims: Claims = serde_json::from_slice(json).map_err(|_| TokenError::Malformed)?;
    if claims.expires_at <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::parse(
            "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=,k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
        )
        .unwrap()
    }

    #[test]
    fn a_minted_token_verifies_and_has_the_spec_layout() {
        let k = keyring();
        let token = mint(&k, 7, 42, 2_000);
        let claims = verify(&k, &token, 1_999).unwrap();
        assert_eq!(claims, Claims { user_id: 7, credential_id: 42, expires_at: 2_000, key_id: "k2".into() });
        let raw = STANDARD.decode(&token).unwrap();
        assert_eq!(&raw[MAC_LEN..], br#"{"u":7,"s":42,"e":2000,"k":"k2"}"#);
        let key = keyring().derive_key("k2", b"steward-ngauth-v1").unwrap();
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &raw[MAC_LEN..]);
        assert_eq!(&raw[..MAC_LEN], expected.as_ref());
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let k = keyring();
        let token = mint(&k, 7, 42, 2_000);
        assert_eq!(verify(&k, &token, 2_000), Err(TokenError::Expired));
        // Another user id under the same MAC.
        let mut raw = STANDARD.decode(&token).unwrap();
        let forged = String::from_utf8(raw[MAC_LEN..].to_vec()).unwrap().replace("\"u\":7", "\"u\":8");
        raw.truncate(MAC_LEN);
        raw.extend_from_slice(forged.as_bytes());
        assert_eq!(verify(&k, &STANDARD.encode(&raw), 1_000), Err(TokenError::BadMac));
        // A keyring without the token's key, and one with a different key of the same id.
        let other = Keyring::parse("k3:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=").unwrap();
        assert_eq!(verify(&other, &token, 1_000), Err(TokenError::UnknownKey));
        let same_id = Keyring::parse("k2:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=").unwrap();
        assert_eq!(verify(&same_id, &token, 1_000), Err(TokenError::BadMac));
        for junk in ["", "not base64!", "AAAA", &"A".repeat(2000)] {
            assert_eq!(verify(&k, junk, 1_000), Err(TokenError::Malformed), "{junk}");
        }
    }

    #[test]
    fn tokens_minted_under_an_older_key_still_verify_after_rotation() {
        let old = Keyring::parse("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap();
        let token = mint(&old, 7, 42, 2_000);
        assert_eq!(verify(&keyring(), &token, 1_000).unwrap().key_id, "k1");
    }
}
