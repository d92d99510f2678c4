//! The exporter's poll cycles: every id once per interval, on one client
//! kept for the whole run.
//!
//! Owns the cycle loop (a `Job::Status` fleet over the current ids, paced
//! so that its polls spread over the interval, never faster than
//! `--rate-limit`; a cycle that overruns starts the next at once and is
//! counted), re-reading the ids file at each cycle's start and on request
//! (SIGHUP), and stopping (SIGINT/SIGTERM) through [`Control`]. Must not
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
    reload: AtomicBool,
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

    /// Re-reads the ids (file) before the next cycle.
    pub(crate) fn reload(&self) {
        self.reload.store(true, Ordering::SeqCst);
        self.notify();
    }

    fn notify(&self) {
        let _guard = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_all();
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps until `until`, a stop, or a reload request (true).
    fn sleep(&self, until: Instant) -> bool {
        let mut guard = self.woken.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.stopped() || self.reload.load(Ordering::SeqCst) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
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

/// The poll cycles of one exporter.
pub(crate) struct Poller {
    /// The one client of every cycle.
    pub(crate) client: Held,
    pub(crate) metrics: Arc<Metrics>,
    /// Where the ids come from: arguments and the ids file.
    pub(crate) source: IdArgs,
    /// The ids polled now.
    pub(crate) ids: Vec<InstanceId>,
    pub(crate) interval: Duration,
    pub(crate) concurrency: usize,
    pub(crate) control: Arc<Control>,
}

impl Poller {
    /// Polls until stopped.
    pub(crate) fn run(mut self) {
        self.metrics.set_ids(&self.ids);
        while !self.control.stopped() {
            let started = Instant::now();
            self.reread();
            self.cycle();
            if self.control.stopped() {
                break;
            }
            let took = started.elapsed();
            let overran = took > self.interval;
            self.metrics
                .handle_cycle(took, overran, SystemTime::now(), self.client.session());
            let next = started + self.interval;
            // A reload asked for between cycles applies at once (removed
            // ids leave /metrics); the next cycle still starts on time.
            while self.control.sleep(next) && !self.control.stopped() {
                self.reread();
            }
        }
    }

    /// Re-reads the ids file (every cycle, so that a change takes effect
    /// within one interval) when there is one, or when asked to; a file
    /// that cannot be read keeps the ids polled now.
    fn reread(&mut self) {
        let asked = self.control.reload.swap(false, Ordering::SeqCst);
        let file = self
            .source
            .ids_file
            .as_ref()
            .is_some_and(|p| p.as_os_str() != "-");
        if !file && !asked {
            return;
        }
        let source = IdArgs {
            ids_file: self.source.ids_file.clone().filter(|_| file),
            ..self.source.clone()
        };
        match settings::ids(&source) {
            Ok(ids) if ids != self.ids => {
                self.metrics.set_ids(&ids);
                self.ids = ids;
            }
            Ok(_) => {}
            Err(e) => usage::error(format_args!(
                "{}; still polling the {} ids read before",
                e.0,
                self.ids.len()
            )),
        }
    }

    /// One cycle: every id polled once.
    fn cycle(&self) {
        let rate = self.rate();
        self.metrics.handle_cycle_start(rate);
        let options = FleetOptions::new()
            .max_in_flight(self.concurrency)
            .rate(Some(RateLimiterConfig::cap(rate)))
            .budget(Some(RetryBudgetConfig::default()));
        let metrics = &self.metrics;
        self.client.fleet(
            Job::Status,
            self.ids.clone(),
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

    /// The cycle's rate cap: its polls spread over most of the interval,
    /// and no faster than `--rate-limit`.
    fn rate(&self) -> f64 {
        let spread = self.ids.len() as f64 / (self.interval.as_secs_f64() * SPREAD);
        match self.source.rate_limit {
            Some(cap) => cap.min(spread),
            None => spread,
        }
    }
}
