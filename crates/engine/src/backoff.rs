//! Delay before a retry: exponential in the attempt number, capped, with jitter.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt, before jitter.
    pub base: Duration,
    /// No delay exceeds this.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(5 * 60),
        }
    }
}

impl Backoff {
    /// The un-jittered delay after attempt `attempt` (1-based) failed.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// A delay in `[ceiling / 2, ceiling]`: "equal jitter", so retries of tasks
    /// that failed together spread out but never retry immediately.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_micros() as u64;
        half + Duration::from_micros(rng.random_range(0..=spread))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn ceiling_doubles_per_attempt_until_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(4), Duration::from_millis(800));
        assert_eq!(b.ceiling(5), Duration::from_secs(1));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
    }

    proptest! {
        #[test]
        fn delay_stays_within_half_and_full_ceiling(attempt in 1u32..40, seed: u64, base_ms in 1u64..5_000) {
            let b = Backoff { base: Duration::from_millis(base_ms), cap: Duration::from_secs(300) };
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let d = b.delay(attempt, &mut rng);
            let ceiling = b.ceiling(attempt);
            prop_assert!(d <= ceiling);
            prop_assert!(d >= ceiling / 2);
            prop_assert!(d <= b.cap);
        }
    }
}
