//! The exporter's poll cycles: every id once per interval, on one client
//! kept for the whole run.
//!
//! Owns the cycle loop (a `Job::Status` fleet over the current ids, paced
//! so that its polls spread over the interval, never faster than
//! `--rate-limit`; a cycle that overruns starts the next at once and is
//! counted), the ids ([`Ids`]: the file re-read at each cycle's start,
//! once per interval ([`watch_ids`]) and on SIGHUP), and stopping (SIGINT/SIGTERM) through [`Control`]. Must not
//! decide HTTP or retries (the client does) nor render anything (see
//! `metrics`).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use clouddc_core::{FleetOptions, InstanceId, Job, Outcome, RateLimiterConfig, RetryBudgetConfig};

use super::metrics::Metrics;
use crate::args::IdArgs;
use crate::clients::Held;
use crate::live::{Live, SkewNote};
use crate::settings;
use crate::usage;

/// The share of the interval a cycle's polls are spread over: the rest is
/// left for retries and slow answers.
const SPREAD: f64 = 0.8;

/// Tells a running poller to stop or to re-read its ids; shared with the
/// signal thread.
#[derive(Default)]
pub(crate) struct Control {
    stopped: AtomicBool,
    /// The running fleet's cancel hook.
    cancel: Mutex<Option<Box<dyn Fn() + Send>>>,
    /// Wakes the poller between cycles.
    woken: Mutex<()>,
    wake: Condvar,
}

impl Control {
    /// Stops polling: the running fleet is cancelled, no cycle starts.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(cancel) = self
            .cancel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            cancel();
        }
        self.notify();
    }

    fn notify(&self) {
        let _guard = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps until `until` or a stop.
    fn sleep(&self, until: Instant) {
        let mut guard = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if self.stopped() || left.is_zero() {
                return;
            }
            guard = self
                .wake
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn set_cancel(&self, cancel: Option<Box<dyn Fn() + Send>>) {
        let mut slot = self.cancel.lock().unwrap_or_else(PoisonError::into_inner);
        if let (Some(c), true) = (&cancel, self.stopped()) {
            c();
        }
        *slot = cancel;
    }
}

/// The ids polled, and where they come from: the arguments and the ids
/// file, re-read at each cycle's start and on SIGHUP.
pub(crate) struct Ids {
    source: IdArgs,
    current: Mutex<Vec<InstanceId>>,
    metrics: Arc<Metrics>,
}

impl Ids {
    /// The ids read from `source` at the start; `metrics` gets them.
    pub(crate) fn new(source: IdArgs, ids: Vec<InstanceId>, metrics: Arc<Metrics>) -> Self {
        metrics.set_ids(&ids);
        Self {
            source,
            current: Mutex::new(ids),
            metrics,
        }
    }

    /// The ids to poll now.
    fn current(&self) -> Vec<InstanceId> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the ids file, if there is one (stdin is read once): new
    /// ids are polled from the next cycle, removed ids leave the metrics
    /// at once. A file that cannot be read, or holds no id, keeps the ids
    /// polled now, and says so on stderr.
    pub(crate) fn reread(&self) {
        if self
            .source
            .ids_file
            .as_ref()
            .is_none_or(|p| p.as_os_str() == "-")
        {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match settings::ids(&self.source) {
            Ok(ids) if ids != *current => {
                self.metrics.set_ids(&ids);
                *current = ids;
            }
            Ok(_) => {}
            Err(e) => usage::error(format_args!(
                "{}; still polling the {} ids read before",
                e.0,
                current.len()
            )),
        }
    }
}

/// The poll cycles of one exporter.
pub(crate) struct Poller {
    /// The one client of every cycle.
    pub(crate) client: Held,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ids: Arc<Ids>,
    pub(crate) interval: Duration,
    pub(crate) concurrency: usize,
    /// `--rate-limit`.
    pub(crate) rate_limit: Option<f64>,
    pub(crate) control: Arc<Control>,
}

/// Re-reads the ids file once per `interval` until `control` stops, so
/// that a change takes effect within one interval even while a cycle that
/// overran is still polling (removed ids leave the metrics at once; new
/// ones are polled from the next cycle).
pub(crate) fn watch_ids(ids: Arc<Ids>, control: Arc<Control>, interval: Duration) {
    let _ = std::thread::Builder::new()
        .name("clouddc-ids".into())
        .spawn(move || {
            loop {
                control.sleep(Instant::now() + interval);
                if control.stopped() {
                    return;
                }
                ids.reread();
            }
        });
}

impl Poller {
    /// Polls until stopped.
    pub(crate) fn run(self) {
        // Said once on stderr when calls sign with the gateway's time.
        let mut skew = SkewNote::new(&Live::new(self.client.session()));
        while !self.control.stopped() {
            let started = Instant::now();
            self.ids.reread();
            self.cycle(self.ids.current());
            skew.check();
            if self.control.stopped() {
                break;
            }
            let took = started.elapsed();
            let overran = took > self.interval;
            self.metrics
                .handle_cycle(took, overran, SystemTime::now(), self.client.session());
            self.control.sleep(started + self.interval);
        }
    }

    /// One cycle: every id polled once.
    fn cycle(&self, ids: Vec<InstanceId>) {
        // The fleet tells the observer the rate it starts at.
        let rate = cycle_rate(ids.len(), self.interval, self.rate_limit);
        let options = FleetOptions::new()
            .max_in_flight(self.concurrency)
            .rate(Some(RateLimiterConfig::cap(rate)))
            .budget(Some(RetryBudgetConfig::default()));
        let metrics = &self.metrics;
        self.client.fleet(
            Job::Status,
            ids,
            options,
            |cancel| self.control.set_cancel(Some(cancel)),
            |e, _| {
                if let Outcome::Status(result) = &e.outcome {
                    metrics.handle_status(e.id.as_str(), result, SystemTime::now());
                }
                ControlFlow::Continue(())
            },
        );
        self.control.set_cancel(None);
    }
}

/// The rate cap of a cycle of `count` ids: their polls spread over most of
/// the `interval`, and no faster than `limit` (`--rate-limit`).
fn cycle_rate(count: usize, interval: Duration, limit: Option<f64>) -> f64 {
    let spread = count as f64 / (interval.as_secs_f64() * SPREAD);
    match limit {
        Some(cap) => cap.min(spread),
        None => spread,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_spreads_its_polls_under_the_rate_limit() {
        let ten = Duration::from_secs(10);
        assert_eq!(cycle_rate(100, ten, None), 12.5);
        assert_eq!(cycle_rate(100, ten, Some(4.0)), 4.0);
        assert_eq!(cycle_rate(100, ten, Some(50.0)), 12.5);
        assert_eq!(cycle_rate(12, Duration::from_secs(60), None), 0.25);
    }
}
