//! API token strings: 32 random bytes shown once as 64 lowercase hex characters
//! (DatasetGateway's format), stored only as their SHA-256.

use ring::rand::{SecureRandom as _, SystemRandom};

/// Length of a token string.
pub const TOKEN_LEN: usize = 64;

/// The SHA-256 of a token string, the only form the database holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash is not the token, but there is still no reason to print it whole.
        write!(f, "TokenHash({}…)", &hex(&self.0[..4]))
    }
}

/// A fresh random token and its hash. The plain text must be shown once and dropped.
pub fn generate() -> (String, TokenHash) {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("the operating system's random number generator failed");
    let token = hex(&bytes);
    let hash = hash(&token);
    (token, hash)
}

/// 32 random bytes as base64url without padding (43 characters): the form of
/// link tokens (donation and participant links), visit cookies and OAuth state.
pub fn random_url_safe() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("the operating system's random number generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh link token ([`random_url_safe`]) and its hash. The plain text must
/// be shown once and dropped.
pub fn generate_url_safe() -> (String, TokenHash) {
    let token = random_url_safe();
    let hash = hash(&token);
    (token, hash)
}

/// The SHA-256 of a presented token string.
pub fn hash(token: &str) -> TokenHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    TokenHash(out)
}

/// Whether `s` has the shape of a Steward token (64 lowercase hex characters).
pub fn is_well_formed(s: &str) -> bool {
    s.len() == TOKEN_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_unique_and_hash_consistently() {
        let (a, ha) = generate();
        let (b, hb) = generate();
        assert!(is_well_formed(&a) && is_well_formed(&b));
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(hash(&a), ha);
    }

    #[test]
    fn shape() {
        assert!(!is_well_formed("abc"));
        assert!(!is_well_formed(&"A".repeat(64)));
        assert!(!is_well_formed(&"g".repeat(64)));
        assert!(is_well_formed(&"0f".repeat(32)));
    }

    #[test]
    fn sha256_of_ascii_bytes() {
        // sha256("abc")
        assert_eq!(hex(&hash("abc").0), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn debug_does_not_print_the_whole_hash() {
        let (_, h) = generate();
        assert!(format!("{h:?}").len() < 24);
    }
}
