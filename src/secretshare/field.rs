//! The field and the bytes around it (spec secretshare.md §2.2, §2.4, §2.5):
//! elements modulo p = 2^64 − 2^32 + 1, share vectors as stored, submission
//! ids, aggregate shares and batch digests.

use ring::digest::{SHA256, digest};

use crate::auth::token::hex;

/// The modulus: 2^64 − 2^32 + 1 (the VDAF Field64).
pub const P: u64 = 0xFFFF_FFFF_0000_0001;

/// (p − 1) / 2: the largest |sum| that decodes exactly, and the bound on
/// an endpoint's range.
pub const HALF: u64 = (P - 1) / 2;

/// A client-chosen submission id: 16 bytes, never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubmissionId(pub [u8; 16]);

impl std::fmt::Debug for SubmissionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubmissionId({self})")
    }
}

impl std::fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl SubmissionId {
    /// 32 hex digits, either case (a UUID without its hyphens fits).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() != 32 {
            return Err(format!("submission id '{}' is not 32 hex digits (16 random bytes)", shown(text)));
        }
        let mut id = [0u8; 16];
        for (i, pair) in text.as_bytes().chunks(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => id[i] = (high * 16 + low) as u8,
                _ => return Err(format!("submission id '{}' has a character that is not a hex digit", shown(text))),
            }
        }
        if id == [0; 16] {
            return Err("the all-zero submission id is not allowed: draw 16 random bytes".into());
        }
        Ok(Self(id))
    }

    /// From the stored bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }
}

/// A caller's text, cut short for an error message.
fn shown(text: &str) -> String {
    text.chars().take(40).collect()
}

/// Checks every element is below p; the message names the first that is not.
pub fn check_elements(share: &[u64], field: &str) -> Result<(), String> {
    match share.iter().position(|&e| e >= P) {
        Some(i) => Err(format!("{field}[{i}] is {}, not below the field modulus {P}", share[i])),
        None => Ok(()),
    }
}

/// A share vector as stored: 8 bytes little-endian per element.
pub fn share_bytes(share: &[u64]) -> Vec<u8> {
    share.iter().flat_map(|e| e.to_le_bytes()).collect()
}

/// The stored bytes back as elements (`None` if the length is not 8·L).
pub fn share_elements(bytes: &[u8], length: usize) -> Option<Vec<u64>> {
    if bytes.len() != length * 8 {
        return None;
    }
    Some(bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
}

/// SHA-256 of a share's bytes: how a replay is recognised after the share is erased.
pub fn share_digest(bytes: &[u8]) -> Vec<u8> {
    digest(&SHA256, bytes).as_ref().to_vec()
}

/// Sums share vectors element by element modulo p: in u128, reduced once at
/// the end (2^64 summands of < 2^64 cannot overflow 128 bits).
#[derive(Debug, Clone)]
pub struct Aggregate(Vec<u128>);

impl Aggregate {
    /// A zero vector of `length` elements.
    pub fn new(length: usize) -> Self {
        Self(vec![0; length])
    }

    /// Adds one stored share (8·L bytes).
    pub fn add_bytes(&mut self, bytes: &[u8]) {
        for (sum, chunk) in self.0.iter_mut().zip(bytes.chunks_exact(8)) {
            *sum += u128::from(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
    }

    /// The sum modulo p.
    pub fn finish(self) -> Vec<u64> {
        self.0.into_iter().map(|s| (s % u128::from(P)) as u64).collect()
    }
}

/// The batch digest (§2.5): hex SHA-256 of
/// `"steward-secretshare-batch/v1\n" ‖ name ‖ "\n" ‖ ids`, the ids as 16-byte
/// binary, sorted ascending. Equal on every party for the same set.
pub fn batch_digest(endpoint: &str, ids: &[SubmissionId]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let mut text = Vec::with_capacity(40 + endpoint.len() + 16 * sorted.len());
    text.extend_from_slice(b"steward-secretshare-batch/v1\n");
    text.extend_from_slice(endpoint.as_bytes());
    text.push(b'\n');
    for id in &sorted {
        text.extend_from_slice(&id.0);
    }
    hex(digest(&SHA256, &text).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modulus_is_field64() {
        assert_eq!(P, 18_446_744_069_414_584_321);
        assert_eq!(HALF, 9_223_372_034_707_292_160);
    }

    #[test]
    fn submission_ids_are_32_hex_digits_and_not_zero() {
        let id = SubmissionId::parse("0123456789ABCDEFabcdef0123456789").unwrap();
        assert_eq!(id.to_string(), "0123456789abcdefabcdef0123456789", "output is lowercase");
        let uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301".replace('-', "");
        assert!(SubmissionId::parse(&uuid).is_ok());
        assert!(SubmissionId::parse(&"a".repeat(31)).unwrap_err().contains("32 hex digits"));
        assert!(SubmissionId::parse(&format!("{}g", "a".repeat(31))).unwrap_err().contains("not a hex digit"));
        assert!(SubmissionId::parse(&"0".repeat(32)).unwrap_err().contains("all-zero"));
        assert!(SubmissionId::parse(&"é".repeat(16)).is_err(), "multi-byte characters are not hex");
    }

    #[test]
    fn elements_must_be_below_p() {
        assert!(check_elements(&[0, P - 1], "share").is_ok());
        assert_eq!(
            check_elements(&[1, 2, P], "share").unwrap_err(),
            format!("share[2] is {P}, not below the field modulus {P}")
        );
        assert!(check_elements(&[u64::MAX], "share").unwrap_err().starts_with("share[0] is 18446744073709551615"));
    }

    #[test]
    fn aggregates_sum_modulo_p_without_overflow() {
        let mut sum = Aggregate::new(2);
        for _ in 0..1000 {
            sum.add_bytes(&share_bytes(&[P - 1, 3]));
        }
        // 1000·(p − 1) ≡ −1000 ≡ p − 1000.
        assert_eq!(sum.finish(), vec![P - 1000, 3000]);
        let bytes = share_bytes(&[1, P - 1]);
        assert_eq!(share_elements(&bytes, 2).unwrap(), vec![1, P - 1]);
        assert_eq!(share_elements(&bytes, 3), None);
    }

    #[test]
    fn additive_shares_recombine() {
        // A value split into three shares, two of them arbitrary field elements.
        let value = P - 5; // −5
        let (a, b) = (P - 2, 12_345_678_901_234_567_890);
        let c = ((u128::from(value) + 2 * u128::from(P) - u128::from(a) - u128::from(b)) % u128::from(P)) as u64;
        let mut sum = Aggregate::new(1);
        for share in [a, b, c] {
            sum.add_bytes(&share_bytes(&[share]));
        }
        assert_eq!(sum.finish(), vec![value]);
    }

    #[test]
    fn batch_digests_ignore_order_and_match_the_spec_text() {
        let a = SubmissionId([1; 16]);
        let b = SubmissionId([2; 16]);
        assert_eq!(batch_digest("e", &[a, b]), batch_digest("e", &[b, a]));
        assert_ne!(batch_digest("e", &[a, b]), batch_digest("f", &[a, b]));
        let mut text = b"steward-secretshare-batch/v1\ne\n".to_vec();
        text.extend_from_slice(&[1; 16]);
        text.extend_from_slice(&[2; 16]);
        assert_eq!(batch_digest("e", &[b, a]), hex(digest(&SHA256, &text).as_ref()));
    }
}
