//! Retry policy as a pure decision, and the seeded jitter source it uses.
//!
//! Owns which errors are retried, exponential backoff with full jitter,
//! `Retry-After` with its cap, the pause after the gateway's own 429 (a
//! whole quoted window, or 2 to 5 s), and the overall deadline. Must not read a
//! clock, sleep, or draw randomness from the system: the caller passes the
//! time, the deadline and a jitter sample.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::quota::Throttle;

/// When and how often a failed attempt is tried again.
///
/// ```
/// use clouddc_core::{RetryPolicy, RetryDecision};
/// use clouddc_core::Error;
/// use std::time::{Duration, Instant};
/// let p = RetryPolicy::default();
/// let err = Error::timeout("attempt timed out", None);
/// let now = Instant::now();
/// match p.decide(1, &err, now, None, 0.5) {
///     RetryDecision::Retry { after } => assert!(after <= p.max_backoff()),
///     RetryDecision::Stop(why) => panic!("{why:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(20),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What to do after a failed attempt.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again after this delay.
    Retry {
        /// The delay before the next attempt.
        after: Duration,
    },
    /// Give up; the error stands.
    Stop(StopReason),
}

/// Why a failed call is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The error is not retryable (4xx other than 429, decode, invalid input).
    NotRetryable,
    /// `max_attempts` attempts were made.
    AttemptsExhausted,
    /// The next attempt would start at or after the deadline.
    DeadlinePassed,
    /// The server asked for a longer wait than `max_retry_after`.
    RetryAfterTooLong,
    /// The client's retry budget is empty.
    BudgetExhausted,
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn no_retry() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// Total attempts including the first; at least 1.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The backoff cap of the first retry, doubled at each further one.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The largest backoff.
    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The longest `Retry-After` honoured; a longer one stops retrying and
    /// leaves the error (with its `retry_after`) to the caller.
    pub fn with_max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Total attempts including the first.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
    /// The first backoff cap.
    pub fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }
    /// The largest backoff.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }
    /// The longest `Retry-After` honoured.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// The backoff before retry number `attempts_made` (1 after the first
    /// attempt), with full jitter: `jitter` in `[0, 1]` scales the capped
    /// exponential delay. Overflow-safe.
    pub fn backoff(&self, attempts_made: u32, jitter: f64) -> Duration {
        let j = if jitter.is_finite() { jitter } else { 1.0 };
        backoff(
            Duration::ZERO,
            self.initial_backoff,
            self.max_backoff,
            attempts_made,
            j,
        )
    }

    /// Decides what follows a failed attempt. `attempts_made` counts the
    /// attempts so far (the failed one included).
    pub fn decide(
        &self,
        attempts_made: u32,
        error: &Error,
        now: Instant,
        deadline: Option<Instant>,
        jitter: f64,
    ) -> RetryDecision {
        if !error.is_retryable() {
            return RetryDecision::Stop(StopReason::NotRetryable);
        }
        if attempts_made >= self.max_attempts {
            return RetryDecision::Stop(StopReason::AttemptsExhausted);
        }
        let after = match error.retry_after() {
            Some(ra) if ra > self.max_retry_after => {
                return RetryDecision::Stop(StopReason::RetryAfterTooLong);
            }
            Some(ra) => ra,
            None if error.is_gateway_throttle() => throttle_delay(error.throttle(), jitter),
            None => self.backoff(attempts_made, jitter),
        };
        if let Some(deadline) = deadline {
            match now.checked_add(after) {
                Some(at) if at < deadline => {}
                _ => return RetryDecision::Stop(StopReason::DeadlinePassed),
            }
        }
        RetryDecision::Retry { after }
    }
}

/// The pause after a 429 without `Retry-After` (the gateway's own flow
/// control, whose fixed windows refuse every call until they end): a whole
/// quoted `window` from the refusal, so the retry lands in a later window,
/// plus up to a tenth of it (at most 1 s) of jitter; without a quota, the
/// vendor's advice of 2 to 5 s. `jitter` is in `[0, 1]` (clamped;
/// not-a-number counts as 0). Only the call's deadline bounds it, not
/// [`RetryPolicy::max_retry_after`], which bounds what a server asks for.
///
/// ```
/// use clouddc_core::{throttle_delay, parse_throttle};
/// use std::time::Duration;
/// let quota = parse_throttle("limit:200,time:5 minute");
/// assert_eq!(throttle_delay(quota, 0.0), Duration::from_secs(300));
/// assert_eq!(throttle_delay(quota, 1.0), Duration::from_secs(301));
/// assert_eq!(throttle_delay(None, 0.0), Duration::from_secs(2));
/// assert_eq!(throttle_delay(None, 1.0), Duration::from_secs(5));
/// ```
pub fn throttle_delay(quota: Option<Throttle>, jitter: f64) -> Duration {
    let j = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    match quota {
        Some(q) => {
            let spread = (q.window() / 10).min(Duration::from_secs(1));
            q.window() + spread.mul_f64(j)
        }
        None => Duration::from_secs(2) + Duration::from_secs(3).mul_f64(j),
    }
}

/// The one backoff curve of the core, for retries and for the pauses of a
/// wait: `base` doubled for each step after the first (`n` is 1-based), at
/// most `ceiling`, then spread between `floor` and that value by `jitter`
/// in `[0, 1]` (clamped; not-a-number counts as 0). Overflow-safe.
///
/// ```
/// use clouddc_core::backoff;
/// use std::time::Duration;
/// let s = Duration::from_secs;
/// assert_eq!(backoff(s(0), s(1), s(30), 3, 1.0), s(4));
/// assert_eq!(backoff(s(2), s(2), s(30), 40, 0.0), s(2));
/// assert_eq!(backoff(s(2), s(2), s(30), u32::MAX, 1.0), s(30));
/// ```
pub fn backoff(
    floor: Duration,
    base: Duration,
    ceiling: Duration,
    n: u32,
    jitter: f64,
) -> Duration {
    let exp = n.saturating_sub(1).min(31);
    let top = base
        .checked_mul(1u32 << exp)
        .unwrap_or(ceiling)
        .min(ceiling)
        .max(floor);
    let j = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    floor + (top - floor).mul_f64(j)
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick an arbitrary start instant
mod tests {
    use super::*;
    use crate::ErrorKind;
    use proptest::prelude::*;

    fn api(status: u16, retry_after: Option<u64>) -> Error {
        let mut r = http::Response::builder().status(status);
        if let Some(s) = retry_after {
            r = r.header("retry-after", s.to_string());
        }
        let r = r.body(b"").unwrap();
        crate::wire::response::parse_status_response(&r, 100, std::time::SystemTime::UNIX_EPOCH)
            .unwrap_err()
    }

    #[test]
    fn only_retryable_errors_retry() {
        let p = RetryPolicy::default();
        let now = Instant::now();
        for s in [400, 401, 403, 404, 409, 501, 302] {
            assert_eq!(
                p.decide(1, &api(s, None), now, None, 0.5),
                RetryDecision::Stop(StopReason::NotRetryable),
                "{s}"
            );
        }
        for s in [429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    p.decide(1, &api(s, None), now, None, 0.5),
                    RetryDecision::Retry { .. }
                ),
                "{s}"
            );
        }
        let inv = Error::invalid_input("x");
        assert_eq!(inv.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            p.decide(1, &inv, now, None, 0.5),
            RetryDecision::Stop(StopReason::NotRetryable)
        );
    }

    #[test]
    fn retry_after_honoured_and_capped() {
        let p = RetryPolicy::default();
        let now = Instant::now();
        assert_eq!(
            p.decide(1, &api(429, Some(1)), now, None, 0.0),
            RetryDecision::Retry {
                after: Duration::from_secs(1)
            }
        );
        assert_eq!(
            p.decide(1, &api(503, Some(60)), now, None, 0.0),
            RetryDecision::Retry {
                after: Duration::from_secs(60)
            }
        );
        assert_eq!(
            p.decide(1, &api(429, Some(61)), now, None, 0.0),
            RetryDecision::Stop(StopReason::RetryAfterTooLong)
        );
        assert_eq!(
            p.decide(1, &api(429, Some(315_360_000)), now, None, 0.0),
            RetryDecision::Stop(StopReason::RetryAfterTooLong)
        );
        // Never past the deadline.
        let deadline = Some(now + Duration::from_secs(2));
        assert_eq!(
            p.decide(1, &api(429, Some(2)), now, deadline, 0.0),
            RetryDecision::Stop(StopReason::DeadlinePassed)
        );
        assert!(matches!(
            p.decide(1, &api(429, Some(1)), now, deadline, 0.0),
            RetryDecision::Retry { .. }
        ));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(800));
        assert_eq!(p.backoff(40, 1.0), Duration::from_secs(20));
        assert_eq!(p.backoff(u32::MAX, 1.0), Duration::from_secs(20));
        assert_eq!(p.backoff(3, 0.0), Duration::ZERO);
        assert_eq!(p.backoff(3, f64::NAN), Duration::from_millis(800));
        assert_eq!(
            RetryPolicy::default().with_max_attempts(0).max_attempts(),
            1
        );
    }

    #[test]
    fn jitter_is_deterministic_and_in_range() {
        use crate::pacing::rng::SplitMix64;
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            let x = a.next_f64();
            assert_eq!(x, b.next_f64());
            assert!((0.0..1.0).contains(&x));
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    proptest! {
        #[test]
        fn never_exceeds_attempts_deadline_or_bounds(
            max in 1u32..10,
            made in 1u32..20,
            status in prop::sample::select(vec![429u16, 500, 502, 503, 504]),
            ra in prop::option::of(0u64..200),
            deadline_ms in prop::option::of(0u64..100_000),
            jitter in 0.0f64..=1.0,
        ) {
            let p = RetryPolicy::default().with_max_attempts(max);
            let now = Instant::now();
            let deadline = deadline_ms.map(|ms| now + Duration::from_millis(ms));
            let err = api(status, ra);
            match p.decide(made, &err, now, deadline, jitter) {
                RetryDecision::Retry { after } => {
                    prop_assert!(made < max);
                    if let Some(d) = deadline { prop_assert!(now + after < d); }
                    match ra {
                        Some(s) => prop_assert_eq!(after, Duration::from_secs(s)),
                        None => prop_assert!(after <= p.max_backoff()),
                    }
                    prop_assert!(after <= p.max_retry_after().max(p.max_backoff()));
                }
                RetryDecision::Stop(_) => {}
            }
        }
    }
}
