//! The rate limiter: a token bucket, kept as its theoretical arrival time
//! (GCRA), with the time passed in.
//!
//! Owns the arithmetic of "may this request pass now, and if not, how long
//! until one may". Integer nanoseconds throughout, so the same requests at
//! the same instants always get the same answers. Must not read a clock.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A rate limit: `rps` requests per second on average, with bursts of up to
/// `burst` back-to-back requests.
///
/// JSON: `{"rps": 10, "burst": 20}`; `burst` may be left out and is then
/// `ceil(rps)` (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Average requests per second, `0.01..=1_000_000`.
    pub rps: f64,
    /// Bucket size, `1..=100_000`; `None` means `ceil(rps)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

impl RateLimit {
    /// `rps` requests per second with the default burst (`ceil(rps)`).
    pub fn per_second(rps: f64) -> Self {
        Self { rps, burst: None }
    }

    /// The same rate with an explicit burst.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    /// The burst in force: the configured one or `ceil(rps)`, at least 1.
    pub fn effective_burst(&self) -> u32 {
        self.burst
            .unwrap_or_else(|| self.rps.ceil().clamp(1.0, 100_000.0) as u32)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.rps.is_finite() && (0.01..=1_000_000.0).contains(&self.rps)) {
            return Err(format!(
                "rate_limit.rps is {}; use a number from 0.01 to 1000000",
                self.rps
            ));
        }
        if let Some(b) = self.burst
            && !(1..=100_000).contains(&b)
        {
            return Err(format!(
                "rate_limit.burst is {b}; use a whole number from 1 to 100000"
            ));
        }
        Ok(())
    }
}

/// A token bucket of `burst` tokens refilled at `rps` per second.
///
/// Kept as GCRA: `tat` is the instant at which the bucket would be full
/// again; a request at `now` passes when `tat - now <= (burst - 1) * interval`,
/// and each pass moves `tat` on by one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenBucket {
    interval: Duration,
    tolerance: Duration,
    tat: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket for `limit` (which must have passed validation).
    pub(crate) fn new(limit: &RateLimit) -> Self {
        let nanos = (1e9 / limit.rps).round().max(1.0) as u64;
        let interval = Duration::from_nanos(nanos);
        let extra = limit.effective_burst().saturating_sub(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(extra),
            tat: None,
        }
    }

    /// Takes one token at `now`, or says how long until one is available.
    ///
    /// Times must not go backwards between calls; an earlier `now` is treated
    /// as the latest one seen.
    pub(crate) fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        let tat = match self.tat {
            Some(t) if t > now => t,
            _ => now,
        };
        let ahead = tat.saturating_duration_since(now);
        if ahead <= self.tolerance {
            self.tat = Some(tat.checked_add(self.interval).unwrap_or(tat));
            Ok(())
        } else {
            Err(ahead - self.tolerance)
        }
    }

    /// The time one token takes to come back.
    #[cfg(test)]
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }
}

/// `Retry-After` in whole seconds for a wait: rounded up, at least 1.
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
// Tests pick arbitrary start instants with the real clock.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_passes_exactly_burst_requests_at_once() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&RateLimit::per_second(2.0).with_burst(3));
        for _ in 0..3 {
            assert_eq!(b.try_acquire(t0), Ok(()));
        }
        // The fourth waits one interval (500 ms) for a token.
        assert_eq!(b.try_acquire(t0), Err(ms(500)));
        assert_eq!(b.try_acquire(t0 + ms(499)), Err(ms(1)));
        assert_eq!(b.try_acquire(t0 + ms(500)), Ok(()));
        assert_eq!(b.try_acquire(t0 + ms(500)), Err(ms(500)));
        // After a long idle time the bucket is full again, not fuller.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.try_acquire(later), Ok(()));
        }
        assert!(b.try_acquire(later).is_err());
    }

    #[test]
    fn default_burst_is_the_rate_rounded_up() {
        assert_eq!(RateLimit::per_second(10.0).effective_burst(), 10);
        assert_eq!(RateLimit::per_second(2.5).effective_burst(), 3);
        assert_eq!(RateLimit::per_second(0.2).effective_burst(), 1);
        assert_eq!(
            RateLimit::per_second(0.2).with_burst(7).effective_burst(),
            7
        );
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&RateLimit::per_second(0.2));
        assert_eq!(b.interval(), Duration::from_secs(5));
        assert_eq!(b.try_acquire(t0), Ok(()));
        assert_eq!(b.try_acquire(t0 + ms(1000)), Err(ms(4000)));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(ms(1)), 1);
        assert_eq!(retry_after_secs(ms(1000)), 1);
        assert_eq!(retry_after_secs(ms(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(4)), 4);
    }

    #[test]
    fn validation() {
        assert!(RateLimit::per_second(10.0).validate().is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 0.001, 2e6] {
            assert!(RateLimit::per_second(bad).validate().is_err(), "{bad}");
        }
        assert!(RateLimit::per_second(1.0).with_burst(0).validate().is_err());
        assert!(
            RateLimit::per_second(1.0)
                .with_burst(100_001)
                .validate()
                .is_err()
        );
        let json: RateLimit = serde_json::from_str(r#"{"rps": 5}"#).unwrap();
        assert_eq!(json, RateLimit::per_second(5.0));
        assert!(serde_json::from_str::<RateLimit>(r#"{"rps": 5, "brust": 1}"#).is_err());
    }

    proptest! {
        /// Over any window of the request times, the passed requests never
        /// exceed `burst + window / interval`; a refused request is told to
        /// wait at most one interval, and asking again after that wait passes.
        #[test]
        fn never_more_than_burst_plus_rate(
            rps in 0.5f64..200.0,
            burst in 1u32..20,
            gaps in proptest::collection::vec(0u64..400, 1..120),
        ) {
            let limit = RateLimit::per_second(rps).with_burst(burst);
            let t0 = Instant::now();
            let mut bucket = TokenBucket::new(&limit);
            let interval = bucket.interval();
            let mut at = t0;
            let mut passed: Vec<Instant> = Vec::new();
            for gap in gaps {
                at += ms(gap);
                match bucket.try_acquire(at) {
                    Ok(()) => passed.push(at),
                    Err(wait) => {
                        prop_assert!(wait > Duration::ZERO);
                        prop_assert!(wait <= interval);
                        // The promise holds: waiting that long is enough.
                        let mut probe = bucket.clone();
                        prop_assert_eq!(probe.try_acquire(at + wait), Ok(()));
                    }
                }
            }
            for (i, first) in passed.iter().enumerate() {
                for (j, last) in passed.iter().enumerate().skip(i) {
                    let count = (j - i + 1) as u128;
                    let window = last.duration_since(*first).as_nanos();
                    let allowed = u128::from(burst) + window / interval.as_nanos();
                    prop_assert!(count <= allowed, "{} passed in {} ns, allowed {}", count, window, allowed);
                }
            }
        }

        /// A bucket left alone for long enough passes exactly `burst` requests
        /// at one instant, whatever happened before.
        #[test]
        fn refills_to_exactly_burst(
            rps in 0.5f64..200.0,
            burst in 1u32..20,
            before in proptest::collection::vec(0u64..50, 0..40),
        ) {
            let limit = RateLimit::per_second(rps).with_burst(burst);
            let t0 = Instant::now();
            let mut bucket = TokenBucket::new(&limit);
            let mut at = t0;
            for gap in before {
                at += ms(gap);
                let _ = bucket.try_acquire(at);
            }
            let rested = at + bucket.interval() * (burst + 1);
            for _ in 0..burst {
                prop_assert_eq!(bucket.try_acquire(rested), Ok(()));
            }
            prop_assert!(bucket.try_acquire(rested).is_err());
        }
    }
}
