//! Progress on a terminal: one line on stderr with ids done out of the
//! total, failures so far and the request rate, for `status` and `wait`
//! whatever the output format; cleared when the run ends.
//!
//! Owns drawing, on stderr and only when stderr is a terminal, and the rate
//! it shows: requests per second over the last few seconds, counted by an
//! observer of the client's attempts ([`Rate`]) and redrawn on every tick,
//! so a wait that finishes nothing for minutes still shows what it sends.
//! Must not write to stdout nor decide when a run ends; uses no other
//! module of this crate.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clouddc_core::{AttemptRecord, FleetProgress, Observer};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The span the rate is averaged over.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// The rate's resolution: ends are counted in slots of this length.
const SLOT: Duration = Duration::from_millis(100);

/// The progress line of one run.
pub(crate) struct Line {
    bar: ProgressBar,
    rate: Arc<Rate>,
}

impl Line {
    /// Starts drawing for `total` ids, unless `enabled` is false or stderr
    /// is not a terminal.
    pub(crate) fn start(total: usize, enabled: bool) -> Option<Self> {
        if !enabled || !std::io::stderr().is_terminal() {
            return None;
        }
        let rate = Arc::new(Rate::new(Instant::now()));
        let shown = Arc::clone(&rate);
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} done  {msg}  {rate}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.1} req/s", shown.per_second(Instant::now()));
                    },
                ),
        );
        bar.set_message("0 failed");
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(Self { bar, rate })
    }

    /// The observer to give the client: it counts the requests the rate
    /// shows.
    pub(crate) fn observer(&self) -> Arc<dyn Observer> {
        Arc::clone(&self.rate) as Arc<dyn Observer>
    }

    /// The fleet's counts after an event.
    pub(crate) fn update(&self, p: &FleetProgress) {
        self.bar.set_position(p.finished);
        self.bar
            .set_message(format!("{} failed  {} in flight", p.failed, p.in_flight));
    }

    /// Removes the line.
    pub(crate) fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// Requests that ended recently, in slots of [`SLOT`]: memory bounded by
/// the window, whatever the rate.
#[derive(Debug)]
pub(crate) struct Rate {
    started: Instant,
    slots: Mutex<VecDeque<(Instant, u64)>>,
}

impl Rate {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            slots: Mutex::new(VecDeque::new()),
        }
    }

    /// Counts a request that ended at `at`.
    pub(crate) fn record(&self, at: Instant) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.back_mut() {
            Some((start, n)) if at.saturating_duration_since(*start) < SLOT => *n += 1,
            _ => slots.push_back((at, 1)),
        }
        while slots.len() > 1
            && slots
                .front()
                .is_some_and(|(start, _)| at.saturating_duration_since(*start) > RATE_WINDOW)
        {
            slots.pop_front();
        }
    }

    /// Requests per second at `now` over the last [`RATE_WINDOW`]: the
    /// requests that ended after the oldest slot in it, over the time since
    /// that slot (so that a burst at both ends of a short span is not
    /// counted twice), or, with one slot, its requests over the run's time;
    /// each span at least one second, so never more than the requests that
    /// ended in the window.
    pub(crate) fn per_second(&self, now: Instant) -> f64 {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut recent = slots
            .iter()
            .filter(|(start, _)| now.saturating_duration_since(*start) <= RATE_WINDOW);
        let Some(&(first, first_n)) = recent.next() else {
            return 0.0;
        };
        let later: u64 = recent.map(|(_, n)| n).sum();
        let (count, since) = if later == 0 {
            (first_n, self.started)
        } else {
            (later, first)
        };
        let span = now
            .saturating_duration_since(since)
            .clamp(Duration::from_secs(1), RATE_WINDOW);
        count as f64 / span.as_secs_f64()
    }
}

impl Observer for Rate {
    fn attempt(&self, attempt: &AttemptRecord) {
        self.record(attempt.ended);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_poll_a_second_is_one_request_a_second() {
        let t0 = Instant::now();
        let rate = Rate::new(t0);
        for s in 0..=20 {
            rate.record(t0 + Duration::from_secs(s));
            let at = t0 + Duration::from_secs(s) + Duration::from_millis(30);
            let r = rate.per_second(at);
            assert!((0.8..=1.0).contains(&r), "{s} s: {r}");
        }
    }

    #[test]
    fn the_first_request_is_not_a_thousand_a_second() {
        let t0 = Instant::now();
        let rate = Rate::new(t0);
        rate.record(t0 + Duration::from_millis(1));
        assert_eq!(rate.per_second(t0 + Duration::from_millis(2)), 1.0);
    }

    #[test]
    fn an_idle_fleet_shows_zero() {
        let t0 = Instant::now();
        let rate = Rate::new(t0);
        for ms in 0..100 {
            rate.record(t0 + Duration::from_millis(ms));
        }
        assert_eq!(rate.per_second(t0 + Duration::from_secs(30)), 0.0);
    }

    proptest! {
        /// Never more than the requests that ended within the window,
        /// whatever the pattern; memory stays bounded by the window.
        #[test]
        fn never_more_than_was_sent(
            gaps in proptest::collection::vec(0u64..400, 1..2000),
            look in 0u64..3000,
        ) {
            let t0 = Instant::now();
            let rate = Rate::new(t0);
            let mut at = t0;
            let mut ends = Vec::new();
            for g in gaps {
                at += Duration::from_millis(g);
                rate.record(at);
                ends.push(at);
            }
            let now = at + Duration::from_millis(look);
            let sent = ends
                .iter()
                .filter(|t| now.saturating_duration_since(**t) <= RATE_WINDOW + SLOT)
                .count() as f64;
            let r = rate.per_second(now);
            // Each span is at least a second: never more a second than
            // ended in the window.
            prop_assert!(r >= 0.0 && r <= sent, "{} > {}", r, sent);
            let slots = rate.slots.lock().unwrap().len() as u128;
            prop_assert!(slots <= RATE_WINDOW.as_millis() / SLOT.as_millis() + 2);
        }
    }
}
