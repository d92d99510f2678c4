//! The pacer that keeps every call of one client under the quotas the
//! gateway's 429s quoted.
//!
//! Owns the [`QuotaPacer`]: a request clock at a safe fraction of the
//! tightest quota, held for a whole window whenever a quota refuses a
//! request it should have kept out. Must not decide retries (that is
//! `retry`) nor adapt to throttles without a quote (that is `limiter`); it
//! reads no clock: time is an argument.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::machine::later;
use crate::quota::Throttle;

/// Paces every status request of one config under the quotas its 429s
/// quoted, shared by every fleet and call of that config.
///
/// A request is admitted only at or after the pacer's next free time, which
/// then moves one [`Throttle::interval`] of the tightest quota on, so in any
/// window at most `1 + ⌊limit · margin⌋ ≤ limit` requests start. A quota
/// refusing a request sent before the pacer knew of it (or before its last
/// hold) is news: the pacer holds every request until a whole window after
/// that refusal, so the next one lands in a later window. A refusal of a
/// request the pacer let through says others share the quota: it holds
/// again. Until a quota is known, admitting costs one atomic load.
/// How much earlier than its turn a request may go, and how far back the
/// schedule may catch up: twice the resolution of the drivers' timers
/// (tokio's is a millisecond). In a window of a second or more, this and the margin of
/// [`QUOTA_MARGIN`](crate::QUOTA_MARGIN) still keep the count under the
/// quota.
const EARLY: Duration = Duration::from_millis(2);

#[derive(Debug, Default)]
pub(crate) struct QuotaPacer {
    active: AtomicBool,
    state: Mutex<PacerState>,
}

#[derive(Debug, Default)]
struct PacerState {
    /// The latest quota quoted for each window unit.
    quotas: Vec<Throttle>,
    /// The tightest quota's interval.
    interval: Duration,
    /// When the next request may start.
    next_free: Option<Instant>,
    /// When the last hold began: refusals of requests sent before it are
    /// already accounted for.
    hold_began: Option<Instant>,
}

/// How a quoted refusal relates to what the pacer knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The request was sent before the pacer could keep it out.
    Explained,
    /// The pacer let it through, and the quota still refused it.
    Unexplained,
}

impl QuotaPacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the turn of one request at `now`, or says when there is one.
    pub(crate) fn admit(&self, now: Instant) -> Result<(), Instant> {
        if !self.active.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut s = self.lock();
        match s.next_free {
            Some(at) if at > later(now, EARLY) => Err(at),
            next_free => {
                // The schedule goes on from the turn taken, not from when
                // its driver woke (a timer a little late must not slow the
                // pace), but never from further back than `EARLY`.
                let floor = now.checked_sub(EARLY).unwrap_or(now);
                let base = next_free.map_or(now, |at| at.max(floor));
                let interval = s.interval;
                s.next_free = Some(later(base, interval));
                Ok(())
            }
        }
    }

    /// Gives back a turn taken at `now` by [`admit`](Self::admit) for a
    /// request that did not start after all.
    pub(crate) fn give_back(&self, now: Instant) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let mut s = self.lock();
        let interval = s.interval;
        if let Some(at) = s.next_free
            && at.saturating_duration_since(now) <= interval
        {
            s.next_free = Some(at.checked_sub(interval).unwrap_or(now).max(now));
        }
    }

    /// A request sent at `sent` was refused at `now` by `quota`.
    pub(crate) fn on_refusal(&self, now: Instant, sent: Instant, quota: Throttle) -> Refusal {
        let mut s = self.lock();
        let known = s.quotas.contains(&quota);
        match s.quotas.iter_mut().find(|q| q.same_unit(&quota)) {
            Some(q) => *q = quota,
            None => s.quotas.push(quota),
        }
        s.interval = s
            .quotas
            .iter()
            .map(Throttle::interval)
            .max()
            .unwrap_or_default();
        let before_hold = s.hold_began.is_some_and(|h| sent <= h);
        let refusal = if known && before_hold {
            // Sent before the pacer could keep it out, and a hold covers
            // its window already.
            return Refusal::Explained;
        } else if known {
            Refusal::Unexplained
        } else {
            Refusal::Explained
        };
        let hold_end = later(now, quota.window());
        s.next_free = Some(s.next_free.map_or(hold_end, |t| t.max(hold_end)));
        s.hold_began = Some(now);
        self.active.store(true, Ordering::Release);
        refusal
    }

    /// The quotas quoted so far, one per window unit.
    pub(crate) fn quotas(&self) -> Vec<Throttle> {
        if !self.active.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.lock().quotas.clone()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick an arbitrary start instant
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn pacer_is_free_until_a_quota_is_quoted() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(p.admit(t0), Ok(()));
        }
        assert!(p.quotas().is_empty());
    }

    #[test]
    fn a_new_quota_holds_a_window_then_paces() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        let q = Throttle::new(20, secs(1)).unwrap();
        assert_eq!(p.on_refusal(t0, t0, q), Refusal::Explained);
        assert_eq!(p.admit(t0), Err(t0 + secs(1)));
        let t1 = t0 + secs(1);
        assert_eq!(p.admit(t1), Ok(()));
        assert_eq!(p.admit(t1), Err(t1 + q.interval()));
        // Refusals of requests sent before the hold are the same news.
        assert_eq!(
            p.on_refusal(t0 + Duration::from_millis(5), t0, q),
            Refusal::Explained
        );
        assert_eq!(p.admit(t1 + q.interval()), Ok(()));
        // A refusal of a request sent under the pacing holds again.
        let t2 = t1 + Duration::from_millis(300);
        assert_eq!(p.on_refusal(t2, t1, q), Refusal::Unexplained);
        assert_eq!(p.admit(t2 + Duration::from_millis(990)), Err(t2 + secs(1)));
    }

    #[test]
    fn the_tightest_quota_applies_and_a_unit_is_replaced() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        let per_s = Throttle::new(100, secs(1)).unwrap();
        let per_min = Throttle::new(600, secs(60)).unwrap();
        let _ = p.on_refusal(t0, t0, per_s);
        let _ = p.on_refusal(t0, t0, per_min);
        assert_eq!(p.quotas(), vec![per_s, per_min]);
        let t1 = t0 + secs(60);
        assert_eq!(p.admit(t1), Ok(()));
        assert_eq!(p.admit(t1), Err(t1 + per_min.interval()));
        // A later quote for the minute replaces the earlier one.
        let per_min2 = Throttle::new(6000, secs(60)).unwrap();
        let _ = p.on_refusal(t1, t0, per_min2);
        assert_eq!(p.quotas(), vec![per_s, per_min2]);
    }

    #[test]
    fn giving_back_undoes_one_turn() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        let q = Throttle::new(10, secs(1)).unwrap();
        let _ = p.on_refusal(t0, t0, q);
        let t1 = t0 + secs(1);
        assert_eq!(p.admit(t1), Ok(()));
        p.give_back(t1);
        assert_eq!(p.admit(t1), Ok(()));
    }

    proptest! {
        /// Paced by a known quota, no window of the gateway's (at any
        /// alignment) sees more than the quota.
        #[test]
        fn paced_requests_fit_every_window(limit in 1u32..500, window_s in 1u64..120,
                                           offset_ms in 0u64..120_000, n in 1usize..2000) {
            let p = QuotaPacer::default();
            let t0 = Instant::now();
            let q = Throttle::new(limit, secs(window_s)).unwrap();
            let _ = p.on_refusal(t0, t0, q);
            let mut now = t0;
            let mut sent = Vec::new();
            while sent.len() < n {
                match p.admit(now) {
                    Ok(()) => sent.push(now),
                    Err(at) => now = at,
                }
            }
            let origin = t0 + Duration::from_millis(offset_ms % (window_s * 1000));
            let w = secs(window_s);
            let mut counts = std::collections::HashMap::new();
            for t in sent {
                let k = t.saturating_duration_since(origin).as_nanos() / w.as_nanos();
                *counts.entry(k).or_insert(0u32) += 1;
            }
            for (_, c) in counts {
                prop_assert!(c <= limit, "{c} > {limit}");
            }
        }
    }
}
