//! Progress on a terminal: one line on stderr with ids done out of the
//! total, failures so far and the request rate, for `status` and `wait`
//! whatever the output format; cleared when the run ends.
//!
//! Owns drawing only, on stderr, and only when stderr is a terminal. Must
//! not write to stdout nor decide when a run ends; uses no other module of
//! this crate.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clouddc_core::FleetProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The progress line of one run.
pub(crate) struct Line {
    bar: ProgressBar,
    started: Instant,
}

impl Line {
    /// Starts drawing for `total` ids, unless `enabled` is false or stderr
    /// is not a terminal.
    pub(crate) fn start(total: usize, enabled: bool) -> Option<Self> {
        if !enabled || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos}/{len} done  {msg}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message("0 failed");
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(Self {
            bar,
            started: Instant::now(),
        })
    }

    /// The fleet's counts after an event.
    pub(crate) fn update(&self, p: &FleetProgress) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_position(p.finished);
        self.bar.set_message(format!(
            "{} failed  {:.0} req/s  {} in flight",
            p.failed,
            p.requests as f64 / secs,
            p.in_flight
        ));
    }

    /// Removes the line.
    pub(crate) fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
