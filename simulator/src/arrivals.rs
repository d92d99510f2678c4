//! The request-arrival log: when each API request reached the simulator, so
//! tests can check a client's rate cap ("in any one-second window the server
//! saw at most R + 1 requests").
//!
//! Owns the bounded buffer of arrival offsets and the sliding-window count
//! over them. Times are passed in; must not read a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The most arrivals the log keeps: when it is full, each new arrival drops
/// the oldest one. The log itself stays under 8 MiB (a snapshot of it,
/// [`RequestLog::arrivals`], takes up to 16 MB more while it lives).
pub const MAX_ARRIVALS: usize = 1_000_000;

/// The largest number of `arrivals` inside any half-open window
/// `[t, t + window)`, for any `t`.
///
/// `arrivals` must be sorted in ascending order (as
/// [`RequestLog::arrivals`] is); for unsorted input the answer is
/// meaningless, but the function still returns without panicking. A zero
/// `window` contains nothing and gives 0. One pass with two indices: O(n)
/// time, no allocation.
///
/// ```
/// use clouddc_simulator::max_in_window;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let arrivals = [ms(0), ms(400), ms(999), ms(1000), ms(1500)];
/// // [0, 1000) holds 0, 400 and 999; 1000 is just outside it.
/// assert_eq!(max_in_window(&arrivals, ms(1000)), 3);
/// assert_eq!(max_in_window(&arrivals, ms(1001)), 4);
/// assert_eq!(max_in_window(&arrivals, Duration::ZERO), 0);
/// ```
pub fn max_in_window(arrivals: &[Duration], window: Duration) -> usize {
    let mut best = 0;
    let mut first = 0;
    for (last, &at) in arrivals.iter().enumerate() {
        // Drop arrivals the window starting at `arrivals[first]` cannot
        // stretch to `at`; `first` never passes `last + 1`.
        while first <= last && at.saturating_sub(arrivals[first]) >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

/// The arrival log as [`Control::requests`](crate::Control::requests) and
/// [`Simulator::requests`](crate::Simulator::requests) report it; `GET
/// /_sim/requests` answers the same in JSON (see [`admin`](crate::admin)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLog {
    /// API requests recorded since the start or the last reset, including
    /// any dropped from [`arrivals`](Self::arrivals) once more than
    /// [`MAX_ARRIVALS`] arrived.
    pub count: u64,
    /// [`max_in_window`] over `arrivals` with [`window`](Self::window).
    pub max_in_window: usize,
    /// The window `max_in_window` was computed for.
    pub window: Duration,
    /// When the most recent requests (at most [`MAX_ARRIVALS`]) arrived,
    /// as real (monotonic) time since the simulator started, ascending.
    pub arrivals: Vec<Duration>,
}

/// The bounded buffer behind [`RequestLog`]: offsets in nanoseconds since
/// the start, in the order they were recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arrivals {
    count: u64,
    nanos: VecDeque<u64>,
}

impl Arrivals {
    /// Records one arrival at `now`; `started` is the simulator's start.
    pub(crate) fn record(&mut self, started: Instant, now: Instant) {
        let offset = now.saturating_duration_since(started).as_nanos();
        if self.nanos.len() >= MAX_ARRIVALS {
            self.nanos.pop_front();
        }
        self.nanos
            .push_back(u64::try_from(offset).unwrap_or(u64::MAX));
        self.count += 1;
    }

    /// Forgets every arrival and gives the memory back.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The log with the busiest `window`.
    pub(crate) fn log(&self, window: Duration) -> RequestLog {
        let mut arrivals: Vec<Duration> = self
            .nanos
            .iter()
            .copied()
            .map(Duration::from_nanos)
            .collect();
        // The shell records in clock order, so this is normally sorted
        // already; a sans-IO caller may pass instants out of order.
        if !arrivals.is_sorted() {
            arrivals.sort_unstable();
        }
        RequestLog {
            count: self.count,
            max_in_window: max_in_window(&arrivals, window),
            window,
            arrivals,
        }
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.nanos.len()
    }
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

    fn at(offsets_ms: &[u64]) -> Vec<Duration> {
        offsets_ms.iter().copied().map(ms).collect()
    }

    /// The definition, directly: the best window starts at an arrival.
    fn brute_force(arrivals: &[Duration], window: Duration) -> usize {
        arrivals
            .iter()
            .map(|&t| {
                arrivals
                    .iter()
                    .filter(|&&a| a >= t && a - t < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn windows_are_half_open() {
        let one_s = ms(1000);
        assert_eq!(max_in_window(&[], one_s), 0);
        assert_eq!(max_in_window(&at(&[5]), one_s), 1);
        // 1000 ms apart: never in one window of 1000 ms.
        assert_eq!(max_in_window(&at(&[0, 1000, 2000, 3000]), one_s), 1);
        assert_eq!(max_in_window(&at(&[0, 999, 1998]), one_s), 2);
        // Equal instants all count.
        assert_eq!(max_in_window(&at(&[7, 7, 7, 1007]), one_s), 3);
        // The busiest window need not start at the first arrival.
        assert_eq!(max_in_window(&at(&[0, 600, 700, 800, 1599]), one_s), 4);
    }

    #[test]
    fn zero_and_huge_windows() {
        let a = at(&[0, 1, 1, 2]);
        assert_eq!(max_in_window(&a, Duration::ZERO), 0);
        assert_eq!(max_in_window(&a, Duration::from_nanos(1)), 2);
        assert_eq!(max_in_window(&a, Duration::MAX), 4);
    }

    #[test]
    fn unsorted_input_does_not_panic() {
        let a = at(&[5000, 0, 3000, 1, 2]);
        assert!(max_in_window(&a, ms(1000)) <= a.len());
        assert_eq!(max_in_window(&a, Duration::ZERO), 0);
    }

    #[test]
    fn the_log_is_bounded_and_keeps_the_newest() {
        let t0 = Instant::now();
        let mut log = Arrivals::default();
        let extra = 5;
        for n in 0..MAX_ARRIVALS as u64 + extra {
            log.record(t0, t0 + Duration::from_micros(n));
        }
        assert_eq!(log.held(), MAX_ARRIVALS);
        let r = log.log(ms(1));
        assert_eq!(r.count, MAX_ARRIVALS as u64 + extra);
        assert_eq!(r.arrivals.len(), MAX_ARRIVALS);
        assert_eq!(r.arrivals[0], Duration::from_micros(extra));
        assert_eq!(r.max_in_window, 1000);
        log.clear();
        assert_eq!(
            log.log(ms(1)),
            RequestLog {
                count: 0,
                max_in_window: 0,
                window: ms(1),
                arrivals: Vec::new(),
            }
        );
    }

    #[test]
    fn the_log_sorts_and_clamps_what_it_is_given() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut log = Arrivals::default();
        for (sign, off) in [(1, 30), (1, 10), (-1, 5), (1, 20)] {
            let now = if sign > 0 { t0 + ms(off) } else { t0 - ms(off) };
            log.record(t0, now);
        }
        // An instant before the start counts as the start.
        assert_eq!(log.log(ms(15)).arrivals, at(&[0, 10, 20, 30]));
        assert_eq!(log.log(ms(15)).max_in_window, 2);
    }

    proptest! {
        /// The sweep agrees with the definition; the answer is at most the
        /// number of arrivals, at least one when there are any and the
        /// window is not empty, never shrinks as the window grows, and is
        /// every arrival once the window is longer than their span.
        #[test]
        fn the_sweep_is_the_definition(
            mut offsets in proptest::collection::vec(0u64..5_000, 0..200),
            window_ms in 0u64..3_000,
            wider_ms in 0u64..3_000,
        ) {
            offsets.sort_unstable();
            let arrivals = at(&offsets);
            let window = ms(window_ms);
            let got = max_in_window(&arrivals, window);
            prop_assert_eq!(got, brute_force(&arrivals, window));
            prop_assert!(got <= arrivals.len());
            if !arrivals.is_empty() && !window.is_zero() {
                prop_assert!(got >= 1);
            }
            prop_assert!(max_in_window(&arrivals, window + ms(wider_ms)) >= got);
            let span = match (arrivals.first(), arrivals.last()) {
                (Some(a), Some(b)) => *b - *a,
                _ => Duration::ZERO,
            };
            prop_assert_eq!(max_in_window(&arrivals, span + ms(1)), arrivals.len());
        }
    }
}
