//! A builder that drives a [`Call`] into any state of its machine, so that a
//! test can start where it means to look.
//!
//! ```text
//! Scenario::new().max_attempts(3).ready()      // nothing sent yet
//! Scenario::new().in_flight()                  // attempt 1 sent, unanswered
//! Scenario::new().backoff()                    // attempt 1 got a 429, Retry-After: 1
//! Scenario::new().done_ok() / .done_err()      // attempt 1 got a 200 / a 401
//! ```
//!
//! Every state is reached at [`Scenario::start`]: the backoff ends one second
//! later, the attempt deadline five seconds later (see [`config`]).

use std::time::Duration;

use super::{config, id, resp, running, t0};
use crate::machine::{Machine, Now, Step};
use crate::machines::call::{Call, State};
use crate::pacing::limiter::SharedLimits;
use crate::session::Session;

/// How the call under test is set up.
pub(super) struct Scenario {
    start: Now,
    max_attempts: u32,
    deadline: Option<Duration>,
    seed: u64,
    limits: Option<SharedLimits>,
    /// Shared by every call the scenario makes, as a client's calls share
    /// one config (and what it learned).
    config: Session,
}

impl Scenario {
    /// Three attempts, no overall deadline, seed 1, no shared limits.
    pub(super) fn new() -> Self {
        Self {
            start: t0(),
            max_attempts: 3,
            deadline: None,
            seed: 1,
            limits: None,
            config: config(3),
        }
    }

    /// Attempts per call, the first included.
    pub(super) fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self.config = config(n);
        self
    }

    /// An overall deadline `d` after the start.
    pub(super) fn deadline_after(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// Starts the call at `now` instead of a fresh [`t0`].
    pub(super) fn at(mut self, now: Now) -> Self {
        self.start = now;
        self
    }

    /// The jitter seed.
    pub(super) fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Paces the call with these shared limits.
    pub(super) fn limits(mut self, limits: &SharedLimits) -> Self {
        self.limits = Some(limits.clone());
        self
    }

    /// The config every call of the scenario shares.
    pub(super) fn config(&self) -> &Session {
        &self.config
    }

    /// When the call starts, and when every state below is reached.
    pub(super) fn start(&self) -> Now {
        self.start
    }

    /// A new call: `Ready`, nothing sent.
    pub(super) fn ready(&self) -> Call {
        let config = &self.config;
        let now = self.start;
        let call = match self.deadline {
            None => Call::new(config, id(), now, self.seed),
            Some(d) => Call::with_deadline(config, id(), now, self.seed, Some(now.mono + d)),
        };
        let call = match &self.limits {
            Some(l) => call.with_limits(l.clone()),
            None => call,
        };
        assert!(matches!(call.state, State::Ready), "{:?}", call.state);
        call
    }

    /// `InFlight`: attempt 1 sent and not answered.
    pub(super) fn in_flight(&self) -> Call {
        let mut call = self.ready();
        let step = call.poll(self.start);
        assert!(matches!(step, Step::Send(_)), "{step:?}");
        assert!(
            matches!(call.state, State::InFlight { .. }),
            "{:?}",
            call.state
        );
        call
    }

    /// `Backoff`: attempt 1 was throttled with `Retry-After: 1`, so the
    /// next attempt starts one second after the start. Needs two attempts.
    pub(super) fn backoff(&self) -> Call {
        let mut call = self.in_flight();
        call.handle_response(self.start, resp(429, &[("Retry-After", "1")], ""));
        assert!(
            matches!(call.state, State::Backoff { .. }),
            "no backoff with {} attempt(s): {:?}",
            self.max_attempts,
            call.state
        );
        call
    }

    /// `Done` with a status not yet taken: attempt 1 got `running`.
    pub(super) fn done_ok(&self) -> Call {
        let mut call = self.in_flight();
        call.handle_response(self.start, running());
        assert!(
            matches!(call.state, State::Done(Some(Ok(_)))),
            "{:?}",
            call.state
        );
        call
    }

    /// `Done` with an error not yet taken: attempt 1 got a 401, which is
    /// not retried.
    pub(super) fn done_err(&self) -> Call {
        let mut call = self.in_flight();
        call.handle_response(self.start, resp(401, &[], ""));
        assert!(
            matches!(call.state, State::Done(Some(Err(_)))),
            "{:?}",
            call.state
        );
        call
    }
}
