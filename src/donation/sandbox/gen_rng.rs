//! The sandbox's deterministic random source: ChaCha20 seeded by the
//! scenario's seed, a data type and a stream name (spec §6.4), plus the few
//! sampling helpers the generators need.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use ring::digest;

/// A ChaCha20 stream. Separate streams (time line, content, pools) keep one
/// concern's draws from shifting another's, so e.g. the record times of a type
/// can be recomputed without rendering its records.
pub(crate) struct Rng(ChaCha20Rng);

impl Rng {
    /// The stream `stream` of `data_type` under `seed`. The 256-bit ChaCha key
    /// is SHA-256 over the three, so every triple gets an independent stream.
    pub(crate) fn new(seed: u64, data_type: &str, stream: &str) -> Rng {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"steward.sandbox.v1\0");
        ctx.update(&seed.to_le_bytes());
        ctx.update(data_type.as_bytes());
        ctx.update(b"\0");
        ctx.update(stream.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        Rng(ChaCha20Rng::from_seed(key))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`); the multiply-shift bias is below 2^-40 for
    /// the small `n` used here and does not matter for synthetic data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index drawn with the given weights.
    pub(crate) fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            let w = u64::from(*w);
            if x < w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    /// Appends `n` characters drawn from `alphabet` (ASCII).
    pub(crate) fn push_chars(&mut self, out: &mut String, n: usize, alphabet: &[u8]) {
        for _ in 0..n {
            out.push(char::from(*self.pick(alphabet)));
        }
    }
}

/// YouTube video and channel ids use base64url characters.
pub(crate) const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let draw = |seed, ty, stream| {
            let mut rng = Rng::new(seed, ty, stream);
            (0..4).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, "search", "time"), draw(1, "search", "time"));
        assert_ne!(draw(1, "search", "time"), draw(2, "search", "time"));
        assert_ne!(draw(1, "search", "time"), draw(1, "youtube_history", "time"));
        assert_ne!(draw(1, "search", "time"), draw(1, "search", "content"));
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut rng = Rng::new(7, "t", "s");
        for _ in 0..1000 {
            assert!(rng.below(3) < 3);
            assert!((5..=9).contains(&rng.range(5, 9)));
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(rng.weighted(&[0, 5, 0]) == 1);
        }
    }
}
