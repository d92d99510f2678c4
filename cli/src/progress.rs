//! Live progress of `wait` on a terminal: one line per id (elapsed, then
//! how it ended) that disappears when the final table is printed.
//!
//! Owns drawing only, on stderr, and only when stderr is a terminal. Must
//! not write to stdout.

use std::io::IsTerminal;
use std::time::Duration;

use clouddc_core::InstanceId;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// At most this many per-id lines; larger fleets get one summary line.
const MAX_LINES: usize = 20;

/// Live progress lines.
pub(crate) struct Live {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
    summary: Option<ProgressBar>,
}

impl Live {
    /// Starts drawing, unless stderr is not a terminal.
    pub(crate) fn start(ids: &[InstanceId]) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix}  {msg}  {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let (bars, summary) = if ids.len() <= MAX_LINES {
            let width = ids
                .iter()
                .map(|i| i.as_str().chars().count())
                .max()
                .unwrap_or(0);
            let bars = ids
                .iter()
                .map(|id| {
                    let b = multi.add(ProgressBar::new_spinner());
                    b.set_style(style.clone());
                    b.set_prefix(format!("{:<width$}", id.as_str()));
                    b.set_message("waiting for the first poll");
                    b.enable_steady_tick(Duration::from_millis(120));
                    b
                })
                .collect();
            (bars, None)
        } else {
            let b = multi.add(ProgressBar::new(ids.len() as u64));
            b.set_style(
                ProgressStyle::with_template("{spinner} {pos}/{len} instances done  {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            (Vec::new(), Some(b))
        };
        Some(Self {
            multi,
            bars,
            summary,
        })
    }

    /// Id `index` is done; `summary` is its last line.
    pub(crate) fn finish(&self, index: usize, summary: &str) {
        if let Some(b) = self.bars.get(index) {
            b.set_message(summary.to_owned());
            b.finish();
        }
        if let Some(s) = &self.summary {
            s.inc(1);
        }
    }

    /// Removes every line.
    pub(crate) fn clear(&self) {
        for b in &self.bars {
            b.finish_and_clear();
        }
        if let Some(s) = &self.summary {
            s.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}
