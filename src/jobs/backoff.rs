//! How long a failed job waits before its next attempt: exponential in the
//! attempt number, capped, with a little jitter so jobs that failed together
//! (a provider outage) do not all retry in the same instant.

use std::time::Duration;

/// Upper bound on jitter, as a fraction of the delay.
const JITTER_FRACTION: f64 = 0.1;

/// Exponential backoff: `base × 2^(attempt-1)`, capped at `max`, plus up to 10% jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// No delay (before jitter) exceeds this.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_secs(1), max: Duration::from_secs(3600) }
    }
}

impl Backoff {
    /// The delay after failed attempt number `attempt` (1-based), without jitter.
    pub fn delay(&self, attempt: i32) -> Duration {
        // 2^31 × any non-zero base is past every sensible cap; clamp the exponent
        // so the multiplication cannot overflow.
        let exponent = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(31);
        self.base.saturating_mul(1 << exponent).min(self.max)
    }

    /// From the first attempt to attempt number `attempts`: the sum of the
    /// delays after attempts 1 to `attempts - 1`, without jitter (which adds
    /// at most a tenth).
    pub fn span(&self, attempts: i32) -> Duration {
        (1..attempts).map(|attempt| self.delay(attempt)).fold(Duration::ZERO, Duration::saturating_add)
    }

    /// [`Backoff::delay`] plus jitter; `unit` in `[0, 1)` picks how much of the 10%.
    pub fn delay_with_jitter(&self, attempt: i32, unit: f64) -> Duration {
        let delay = self.delay(attempt);
        delay + delay.mul_f64(JITTER_FRACTION * unit.clamp(0.0, 1.0))
    }

    /// [`Backoff::delay_with_jitter`] with a random `unit`.
    pub fn next_delay(&self, attempt: i32) -> Duration {
        self.delay_with_jitter(attempt, random_unit())
    }
}

/// A uniform-ish number in `[0, 1)`. Jitter needs no cryptographic quality, but
/// `ring` is already here and avoids a new dependency.
fn random_unit() -> f64 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 4];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return 0.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn doubles_from_the_base() {
        let b = Backoff::default();
        assert_eq!(b.delay(1), secs(1));
        assert_eq!(b.delay(2), secs(2));
        assert_eq!(b.delay(3), secs(4));
        assert_eq!(b.delay(10), secs(512));
    }

    #[test]
    fn the_span_sums_the_delays_between_attempts() {
        let b = Backoff::default();
        assert_eq!(b.span(1), Duration::ZERO);
        assert_eq!(b.span(2), secs(1));
        // The default: ten attempts within about 8.5 minutes.
        assert_eq!(b.span(10), secs(511));
        assert_eq!(Backoff { base: Duration::MAX, max: Duration::MAX }.span(3), Duration::MAX);
    }

    #[test]
    fn is_capped() {
        let b = Backoff::default();
        assert_eq!(b.delay(13), secs(3600)); // 4096 s before the cap
        assert_eq!(b.delay(40), secs(3600));
        assert_eq!(b.delay(i32::MAX), secs(3600));
    }

    #[test]
    fn huge_base_saturates_instead_of_overflowing() {
        let b = Backoff { base: Duration::MAX, max: Duration::MAX };
        assert_eq!(b.delay(64), Duration::MAX);
    }

    #[test]
    fn nonsense_attempts_use_the_base() {
        let b = Backoff { base: Duration::from_millis(250), max: secs(60) };
        assert_eq!(b.delay(0), Duration::from_millis(250));
        assert_eq!(b.delay(-5), Duration::from_millis(250));
    }

    #[test]
    fn jitter_adds_at_most_a_tenth() {
        let b = Backoff::default();
        assert_eq!(b.delay_with_jitter(3, 0.0), secs(4));
        assert_eq!(b.delay_with_jitter(3, 0.5), Duration::from_millis(4200));
        assert!(b.delay_with_jitter(3, 0.999_999) < Duration::from_millis(4400));
        // Out-of-range units are clamped rather than trusted.
        assert_eq!(b.delay_with_jitter(3, 7.0), Duration::from_millis(4400));
        assert_eq!(b.delay_with_jitter(3, -1.0), secs(4));
        for attempt in 1..20 {
            let d = b.next_delay(attempt);
            assert!(d >= b.delay(attempt) && d <= b.delay(attempt).mul_f64(1.1), "{attempt}: {d:?}");
        }
    }
}
