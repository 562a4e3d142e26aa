//! Tokens already verified, so a client that sends the same bearer token with
//! every request pays for its signature once (an ES256 check costs more than
//! the rest of a SubmitShare on the server).
//!
//! Entries are keyed by the SHA-256 of the whole token: the same key means the
//! same header, claims and signature. An entry answers only while the key set
//! it was verified against is still the cached, fresh one (a download of the
//! set, e.g. after a rotation, or its expiry sends every token through the full
//! check again) and while the token has not expired.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::jwks::KeySet;
use super::{CLOCK_SKEW_SECS, JwtClaims};

/// Entries kept at most; at the bound, expired entries go, then all of them.
pub const CAPACITY: usize = 8192;

type Digest = [u8; 32];

struct Entry {
    keys: Arc<KeySet>,
    claims: JwtClaims,
}

/// Verified tokens' claims by token digest.
#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<Digest, Entry>>,
}

fn unexpired(claims: &JwtClaims, unix_now: i64) -> bool {
    unix_now < claims.expires_at.timestamp().saturating_add(CLOCK_SKEW_SECS)
}

impl VerifiedTokens {
    pub fn digest(token: &str) -> Digest {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
    }

    /// The claims of a token verified against `keys` (the current set) that
    /// has not expired by `unix_now`.
    pub fn get(&self, digest: &Digest, keys: &Arc<KeySet>, unix_now: i64) -> Option<JwtClaims> {
        let entries = self.entries.lock().expect("verified tokens");
        let entry = entries.get(digest)?;
        (Arc::ptr_eq(&entry.keys, keys) && unexpired(&entry.claims, unix_now)).then(|| entry.claims.clone())
    }

    /// Remembers a token verified against `keys`.
    pub fn insert(&self, digest: Digest, keys: Arc<KeySet>, claims: JwtClaims, unix_now: i64) {
        let mut entries = self.entries.lock().expect("verified tokens");
        if entries.len() >= CAPACITY {
            entries.retain(|_, e| Arc::ptr_eq(&e.keys, &keys) && unexpired(&e.claims, unix_now));
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(digest, Entry { keys, claims });
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;

    fn claims(expires: i64) -> JwtClaims {
        JwtClaims {
            issuer: "https://issuer.test".into(),
            subject: "someone".into(),
            permissions: vec!["post:eta-data".into()],
            expires_at: DateTime::from_timestamp(expires, 0).unwrap(),
            email: None,
        }
    }

    fn key_set() -> Arc<KeySet> {
        Arc::new(KeySet::parse(br#"{"keys": []}"#).unwrap())
    }

    #[test]
    fn a_verified_token_is_answered_while_its_key_set_is_current_and_it_is_unexpired() {
        let tokens = VerifiedTokens::default();
        let (keys, unix) = (key_set(), Utc::now().timestamp());
        let digest = VerifiedTokens::digest("a.b.c");
        tokens.insert(digest, keys.clone(), claims(unix + 600), unix);
        assert_eq!(tokens.get(&digest, &keys, unix + 10), Some(claims(unix + 600)));
        assert_eq!(tokens.get(&VerifiedTokens::digest("a.b.d"), &keys, unix), None, "another token");
        assert_eq!(tokens.get(&digest, &key_set(), unix), None, "checked again against a new key set");
        let expired = unix + 600 + CLOCK_SKEW_SECS;
        assert_eq!(tokens.get(&digest, &keys, expired), None, "never past exp and the skew");
    }

    #[test]
    fn the_cache_stays_bounded() {
        let tokens = VerifiedTokens::default();
        let (keys, unix) = (key_set(), Utc::now().timestamp());
        for i in 0..CAPACITY + 10 {
            tokens.insert(VerifiedTokens::digest(&i.to_string()), keys.clone(), claims(unix + 600), unix);
        }
        let kept = tokens.entries.lock().unwrap().len();
        assert!(kept <= CAPACITY, "{kept} entries");
        let last = VerifiedTokens::digest(&(CAPACITY + 9).to_string());
        assert!(tokens.get(&last, &keys, unix).is_some(), "the newest entry is kept");
    }
}
