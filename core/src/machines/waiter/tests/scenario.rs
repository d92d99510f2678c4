//! A builder that drives a [`Waiter`] into any of its states, or through a
//! whole wait, so that a test can start where it means to look.
//!
//! ```text
//! Scenario::new().fresh()          // between polls, the first one due at once
//! Scenario::new().polling()        // poll 1, attempt 1 sent, unanswered
//! Scenario::new().between_polls()  // poll 1 answered `pending`, pausing
//! Scenario::new().finished()       // poll 1 answered with the target, report out
//! Scenario::new().run(|n| answer)  // the whole wait, answering send `n`
//! ```
//!
//! Every state is reached at [`Scenario::start`].

use std::time::Instant;

use http::Response;

use super::state;
use crate::ids::InstanceId;
use crate::machine::{Machine, Now, Step};
use crate::machines::call::tests::{config, t0};
use crate::machines::waiter::{WaitOptions, WaitReport, Waiter};
use crate::model::InstanceState;
use crate::pacing::limiter::SharedLimits;

/// How the wait under test is set up.
pub(super) struct Scenario {
    start: Now,
    target: InstanceState,
    options: WaitOptions,
    max_attempts: u32,
    seed: u64,
    limits: Option<SharedLimits>,
}

impl Scenario {
    /// A wait for `running` with the default options, three attempts per
    /// poll, seed 5, no shared limits.
    pub(super) fn new() -> Self {
        Self {
            start: t0(),
            target: InstanceState::Running,
            options: WaitOptions::new(),
            max_attempts: 3,
            seed: 5,
            limits: None,
        }
    }

    /// The state waited for.
    pub(super) fn target(mut self, target: InstanceState) -> Self {
        self.target = target;
        self
    }

    /// The wait's options.
    pub(super) fn options(mut self, options: WaitOptions) -> Self {
        self.options = options;
        self
    }

    /// Attempts per poll, the first included.
    pub(super) fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Paces every poll with these shared limits.
    pub(super) fn limits(mut self, limits: &SharedLimits) -> Self {
        self.limits = Some(limits.clone());
        self
    }

    /// When the wait starts, and when every state below is reached.
    pub(super) fn start(&self) -> Now {
        self.start
    }

    /// A new wait: between polls, the first poll due at the start.
    pub(super) fn fresh(&self) -> Waiter {
        let w = Waiter::new(
            &config(self.max_attempts),
            InstanceId::new("i").unwrap(),
            self.target.clone(),
            self.options.clone(),
            self.start,
            self.seed,
        );
        let w = match &self.limits {
            Some(l) => w.with_limits(l.clone()),
            None => w,
        };
        assert!(w.current.is_none() && !w.finished);
        w
    }

    /// Polling: poll 1 started and its first attempt sent, unanswered.
    pub(super) fn polling(&self) -> Waiter {
        let mut w = self.fresh();
        let step = w.poll(self.start);
        assert!(matches!(step, Step::Send(_)), "{step:?}");
        assert!(w.current.is_some() && !w.finished);
        w
    }

    /// Between polls: poll 1 answered `pending`, the next one due later.
    pub(super) fn between_polls(&self) -> Waiter {
        let mut w = self.polling();
        w.handle_response(self.start, state("pending"));
        let step = w.poll(self.start);
        assert!(matches!(step, Step::Wait(_)), "{step:?}");
        assert!(w.current.is_none() && !w.finished && w.polls == 1);
        w
    }

    /// Finished: poll 1 answered with the target, and the report taken.
    pub(super) fn finished(&self) -> (Waiter, WaitReport) {
        let mut w = self.polling();
        w.handle_response(self.start, state(self.target.as_str()));
        let Step::Done(report) = w.poll(self.start) else {
            panic!("the first poll did not end the wait")
        };
        assert!(w.finished);
        (w, report)
    }

    /// Runs the whole wait on a fake clock, answering the `n`th request
    /// (1-based) with `answer(n)`; returns the report, when each request
    /// was sent, and the time at the end.
    pub(super) fn run(
        &self,
        mut answer: impl FnMut(u32) -> Response<Vec<u8>>,
    ) -> (WaitReport, Vec<Instant>, Now) {
        let mut now = self.start;
        let mut w = self.fresh();
        let mut sends = Vec::new();
        for _ in 0..10_000 {
            match w.poll(now) {
                Step::Send(_) => {
                    sends.push(now.mono);
                    w.handle_response(now, answer(sends.len() as u32));
                }
                Step::Wait(t) => now = now.advance_to(t),
                Step::Done(r) => return (r, sends, now),
            }
        }
        panic!("wait did not end");
    }
}
