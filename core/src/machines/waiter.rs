//! The waiter machine: poll an instance until it reaches a target state.
//!
//! Owns the acceptors (what counts as success, as failure, as "keep
//! polling"), the poll interval between a floor and a ceiling, the overall
//! deadline with one last poll at it, and the outcome report. Each poll is a
//! [`Call`] with its own retries. Must not do I/O, read a clock or sleep.
//!
//! The acceptors are listed on [`Waiter`].

use std::time::{Duration, Instant};

use http::Response;

use crate::error::{Error, ErrorKind};
use crate::ids::InstanceId;
use crate::machine::{Machine, Now, Step, later};
use crate::machines::call::Call;
use crate::machines::call::with_own_limits;
use crate::model::{InstanceState, InstanceStatus};
use crate::pacing::limiter::{Gate, Limits, SharedLimits};
use crate::pacing::rng::SplitMix64;
use crate::session::Session;

/// How an acceptor judges one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptor {
    /// The target is reached.
    Success,
    /// The target will not come.
    Failure,
    /// A transient error: poll again.
    Retry,
    /// No acceptor matched: poll again.
    NoMatch,
}

/// Options of a wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitOptions {
    min_delay: Duration,
    max_delay: Duration,
    max_wait: Duration,
    failure_states: Option<Vec<InstanceState>>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(30),
            max_wait: Duration::from_secs(600),
            failure_states: None,
        }
    }
}

impl WaitOptions {
    /// Default options: 2 s floor, 30 s ceiling, 10 min overall.
    pub fn new() -> Self {
        Self::default()
    }
    /// The shortest pause between polls (the floor). Raises the ceiling to
    /// match if needed.
    pub fn min_delay(mut self, d: Duration) -> Self {
        self.min_delay = d;
        self.max_delay = self.max_delay.max(d);
        self
    }
    /// The longest pause between polls (the ceiling). Lowers the floor to
    /// match if needed.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self.min_delay = self.min_delay.min(d);
        self
    }
    /// A fixed pause between polls: floor and ceiling both `d`.
    pub fn interval(mut self, d: Duration) -> Self {
        self.min_delay = d;
        self.max_delay = d;
        self
    }
    /// The overall deadline. A last poll may happen at it; nothing runs past
    /// it by more than one attempt timeout.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }
    /// Replaces the default failure states for the target.
    pub fn failure_states(mut self, states: Vec<InstanceState>) -> Self {
        self.failure_states = Some(states);
        self
    }
    /// The floor.
    pub fn get_min_delay(&self) -> Duration {
        self.min_delay
    }
    /// The ceiling.
    pub fn get_max_delay(&self) -> Duration {
        self.max_delay
    }
    /// The overall deadline.
    pub fn get_max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The pause after poll number `polls` (1-based): the floor doubled per
    /// poll up to the ceiling, with jitter `j` in `[0, 1]` spreading it
    /// between the floor and that value.
    pub fn delay(&self, polls: u32, j: f64) -> Duration {
        crate::pacing::retry::backoff(self.min_delay, self.min_delay, self.max_delay, polls, j)
    }
}

/// The states from which `target` is not expected to come, by default.
pub fn default_failure_states(target: &InstanceState) -> Vec<InstanceState> {
    use InstanceState as S;
    match target {
        S::Running | S::Stopped => vec![S::Terminated, S::ShuttingDown, S::Error, S::Failed],
        S::Terminated => vec![S::Error, S::Failed],
        _ => vec![S::Terminated],
    }
}

/// Judges one poll result against `target` with these failure states.
pub fn judge(
    target: &InstanceState,
    failure_states: &[InstanceState],
    result: &Result<InstanceStatus, Error>,
) -> Acceptor {
    match result {
        Ok(s) if &s.state == target => Acceptor::Success,
        Ok(s) if failure_states.contains(&s.state) => Acceptor::Failure,
        Ok(_) => Acceptor::NoMatch,
        Err(e) if e.kind() == ErrorKind::NotFound && *target == InstanceState::Terminated => {
            Acceptor::Success
        }
        Err(e) if e.is_retryable() => Acceptor::Retry,
        Err(_) => Acceptor::Failure,
    }
}

/// How a wait ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitOutcome {
    /// The target was reached. `None` when the target is `terminated` and
    /// the instance is gone (404).
    Reached(Option<InstanceStatus>),
    /// The instance entered a state from which the target is not expected.
    Failed(InstanceStatus),
    /// The deadline passed; the last status seen, and the last error if the
    /// last poll failed transiently.
    TimedOut {
        /// The last status seen.
        last: Option<InstanceStatus>,
        /// The error of the last poll, if it failed.
        last_error: Option<Error>,
    },
    /// A non-retryable error ended the wait.
    Error(Error),
    /// The wait was cancelled before it ended; the last status seen.
    Interrupted {
        /// The last status seen, if a poll answered before the cancel.
        last: Option<InstanceStatus>,
    },
}

impl WaitOutcome {
    /// `reached`, `failed`, `timed_out` or `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Reached(_) => "reached",
            Self::Failed(_) => "failed",
            Self::TimedOut { .. } => "timed_out",
            Self::Error(_) => "error",
            Self::Interrupted { .. } => "interrupted",
        }
    }

    /// The last status seen, where the outcome has one.
    pub fn status(&self) -> Option<&InstanceStatus> {
        match self {
            Self::Reached(s) => s.as_ref(),
            Self::Failed(s) => Some(s),
            Self::TimedOut { last, .. } | Self::Interrupted { last } => last.as_ref(),
            Self::Error(_) => None,
        }
    }
}

/// The report of a finished wait.
///
/// `#[non_exhaustive]`: it may report more; [`WaitReport::new`] makes one
/// (for example in a test of your own code).
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub struct WaitReport {
    /// How it ended.
    pub outcome: WaitOutcome,
    /// Status queries made (one query may take several attempts).
    pub polls: u32,
    /// Time from start to end.
    pub elapsed: Duration,
}

impl WaitReport {
    /// A report of a wait that ended with `outcome` after `polls` queries
    /// and `elapsed` time.
    pub fn new(outcome: WaitOutcome, polls: u32, elapsed: Duration) -> Self {
        Self {
            outcome,
            polls,
            elapsed,
        }
    }
}

/// Waits until an instance reaches a target state.
///
/// # Default acceptors
///
/// | target | success | failure (fail fast) |
/// |---|---|---|
/// | `running`, `stopped` | the target | `terminated`, `shutting-down`, `error`, `failed` |
/// | `terminated` | the target, or a 404 (the instance is gone) | `error`, `failed` |
/// | any other | the target | `terminated` |
///
/// Every other state, unknown ones included, keeps polling. Retryable errors
/// (429, 5xx, transport, timeout) that outlast a poll's own retries keep
/// polling too, inside the wait's deadline. A 404 for any target other than
/// `terminated`, and every other non-retryable error, ends the wait with
/// [`WaitOutcome::Error`]: an instance that does not exist will not reach
/// the target.
///
/// ```
/// use clouddc_core::{Config, Session, Credentials, Endpoint, InstanceId, InstanceState, Machine, Now, ProjectId, Step, Waiter, WaitOptions, WaitOutcome};
/// use std::time::{Duration, Instant, SystemTime};
/// let session = Session::new(Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?);
/// let mut now = Now::new(SystemTime::now(), Instant::now());
/// let opts = WaitOptions::new().interval(Duration::from_secs(1)).max_wait(Duration::from_secs(30));
/// let mut w = Waiter::new(&session, InstanceId::new("ins-1")?, InstanceState::Running, opts, now, 7);
/// let mut states = ["pending", "pending", "running"].into_iter();
/// let report = loop {
///     match w.poll(now) {
///         Step::Send(_) => {
///             let body = format!(r#"{{"state":"{}"}}"#, states.next().unwrap());
///             w.handle_response(now, http::Response::new(body.into_bytes()));
///         }
///         Step::Wait(until) => now = now.advance_to(until), // a fake clock
///         Step::Done(report) => break report,
///     }
/// };
/// assert!(matches!(report.outcome, WaitOutcome::Reached(_)));
/// assert_eq!(report.polls, 3);
/// assert_eq!(report.elapsed, Duration::from_secs(2));
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Waiter {
    session: Session,
    id: InstanceId,
    target: InstanceState,
    failure_states: Vec<InstanceState>,
    options: WaitOptions,
    jitter: SplitMix64,
    started: Instant,
    deadline: Instant,
    polls: u32,
    current: Option<Call>,
    next_poll: Instant,
    last_status: Option<InstanceStatus>,
    last_error: Option<Error>,
    finished: bool,
    limits: Option<SharedLimits>,
}

impl Waiter {
    /// A wait for `id` to reach `target`, starting at `now` (the first poll
    /// happens at once); `seed` seeds all jitter.
    pub fn new(
        session: &Session,
        id: InstanceId,
        target: InstanceState,
        options: WaitOptions,
        now: Now,
        seed: u64,
    ) -> Self {
        let failure_states = options
            .failure_states
            .clone()
            .unwrap_or_else(|| default_failure_states(&target));
        let deadline = later(now.mono, options.max_wait);
        Self {
            session: session.clone(),
            id,
            target,
            failure_states,
            options,
            jitter: SplitMix64::new(seed),
            started: now.mono,
            deadline,
            polls: 0,
            current: None,
            next_poll: now.mono,
            last_status: None,
            last_error: None,
            finished: false,
            limits: None,
        }
    }

    /// Paces every poll with a client's shared rate limiter and retry budget.
    pub fn with_limits(mut self, limits: SharedLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The instance id.
    pub fn id(&self) -> &InstanceId {
        &self.id
    }
    /// The target state.
    pub fn target(&self) -> &InstanceState {
        &self.target
    }
    /// Polls finished so far.
    pub fn polls(&self) -> u32 {
        self.polls
    }
    /// The last status seen.
    pub fn last_status(&self) -> Option<&InstanceStatus> {
        self.last_status.as_ref()
    }
    /// The poll in progress, if any (for its attempt count).
    pub fn current_call(&self) -> Option<&Call> {
        self.current.as_ref()
    }

    /// Ends the wait with `error` (resolving the credentials failed).
    pub(crate) fn fail(&mut self, now: Now, error: Error) -> WaitReport {
        match self.report(now, WaitOutcome::Error(error)) {
            Step::Done(r) => r,
            _ => unreachable!("report always ends the wait"),
        }
    }

    /// Ends the wait at `now` because it was cancelled: the report keeps the
    /// polls made and the last status seen (a poll in flight is dropped).
    pub fn interrupt(&mut self, now: Now) -> WaitReport {
        self.current = None;
        let last = self.last_status.take();
        match self.report(now, WaitOutcome::Interrupted { last }) {
            Step::Done(r) => r,
            _ => unreachable!("report always ends the wait"),
        }
    }

    fn report(&mut self, now: Now, outcome: WaitOutcome) -> Step<WaitReport> {
        self.finished = true;
        Step::Done(WaitReport {
            outcome,
            polls: self.polls,
            elapsed: now.mono.saturating_duration_since(self.started),
        })
    }

    fn judge_poll(&mut self, now: Now, result: Result<InstanceStatus, Error>) -> Step<WaitReport> {
        self.polls += 1;
        match judge(&self.target, &self.failure_states, &result) {
            Acceptor::Success => return self.report(now, WaitOutcome::Reached(result.ok())),
            Acceptor::Failure => {
                return match result {
                    Ok(s) => self.report(now, WaitOutcome::Failed(s)),
                    Err(e) => self.report(now, WaitOutcome::Error(e)),
                };
            }
            Acceptor::Retry | Acceptor::NoMatch => {}
        }
        let server_delay = match result {
            Ok(s) => {
                self.last_status = Some(s);
                self.last_error = None;
                None
            }
            Err(e) => {
                let ra = e.retry_after();
                self.last_error = Some(e);
                ra
            }
        };
        if now.mono >= self.deadline {
            let outcome = WaitOutcome::TimedOut {
                last: self.last_status.take(),
                last_error: self.last_error.take(),
            };
            return self.report(now, outcome);
        }
        let mut delay = self.options.delay(self.polls, self.jitter.next_f64());
        if let Some(ra) = server_delay {
            delay = delay.max(ra);
        }
        // Close to the deadline: one last poll at it instead of past it.
        self.next_poll = now
            .mono
            .checked_add(delay)
            .map_or(self.deadline, |t| t.min(self.deadline));
        Step::Wait(self.next_poll)
    }
}

impl Waiter {
    /// Ends the wait at `deadline` if that comes before its own (for a
    /// deadline shared by many waits).
    pub(crate) fn cap_deadline(&mut self, deadline: Instant) {
        self.deadline = self.deadline.min(deadline);
    }

    /// The poll in progress, if it is pausing before a retry: when its next
    /// attempt starts.
    pub fn retry_at(&self) -> Option<Instant> {
        self.current.as_ref().and_then(Call::retry_at)
    }

    /// [`Machine::poll`] with admission decided by `gate`.
    pub(crate) fn poll_in(&mut self, now: Now, gate: &mut Gate<'_>) -> Step<WaitReport> {
        if self.finished {
            return Step::Done(WaitReport {
                outcome: WaitOutcome::Error(Error::invalid_input(
                    "the wait already finished: start a new one",
                )),
                polls: self.polls,
                elapsed: now.mono.saturating_duration_since(self.started),
            });
        }
        if self.current.is_none() {
            if now.mono < self.next_poll {
                return Step::Wait(self.next_poll);
            }
            if self.polls == 0 && now.mono > self.deadline {
                // Started after a shared deadline had passed: no poll.
                let outcome = WaitOutcome::TimedOut {
                    last: None,
                    last_error: None,
                };
                return self.report(now, outcome);
            }
            // One poll: its retries may run up to one attempt timeout past
            // the wait's deadline, never more.
            let late = self.deadline.max(now.mono);
            let mut call_deadline = later(late, self.session.config().attempt_timeout());
            if let Some(ct) = self.session.config().call_timeout()
                && let Some(t) = now.mono.checked_add(ct)
            {
                call_deadline = call_deadline.min(t);
            }
            let seed = self.jitter.next_u64();
            self.current = Some(Call::with_deadline(
                &self.session,
                self.id.clone(),
                now,
                seed,
                Some(call_deadline),
            ));
        }
        let Some(call) = &mut self.current else {
            unreachable!("a poll was started above")
        };
        let not_started = call.attempts() == 0;
        match call.poll_in(now, gate) {
            Step::Done(result) => {
                self.current = None;
                self.judge_poll(now, result)
            }
            Step::Send(a) => Step::Send(a),
            // A poll still waiting for its turn (rate limit, or a fleet's
            // in-flight bound) when the deadline comes is not made: the
            // wait ends at its deadline, not an attempt timeout past it.
            Step::Wait(_)
                if not_started && gate.blocked().is_some() && now.mono >= self.deadline =>
            {
                self.current = None;
                let outcome = WaitOutcome::TimedOut {
                    last: self.last_status.take(),
                    last_error: self.last_error.take(),
                };
                self.report(now, outcome)
            }
            Step::Wait(t) if not_started && gate.blocked().is_some() => {
                Step::Wait(t.min(self.deadline))
            }
            Step::Wait(t) => Step::Wait(t),
        }
    }

    /// [`Machine::handle_response`], feeding the outcome to `limits`.
    pub(crate) fn handle_response_in(
        &mut self,
        now: Now,
        response: Response<Vec<u8>>,
        limits: &mut Limits,
    ) {
        if let Some(call) = &mut self.current {
            call.handle_response_in(now, response, limits);
        }
    }

    /// [`Machine::handle_transport_error`], feeding the outcome to `limits`.
    pub(crate) fn handle_transport_error_in(
        &mut self,
        now: Now,
        error: Error,
        limits: &mut Limits,
    ) {
        if let Some(call) = &mut self.current {
            call.handle_transport_error_in(now, error, limits);
        }
    }
}

/// A standalone wait paces itself with its own optional shared limits.
impl Machine for Waiter {
    type Output = WaitReport;

    fn poll(&mut self, now: Now) -> Step<WaitReport> {
        let shared = self.limits.clone();
        with_own_limits(shared.as_ref(), |l| {
            self.poll_in(now, &mut Gate::new(l, true))
        })
    }

    fn handle_response(&mut self, now: Now, response: Response<Vec<u8>>) {
        let shared = self.limits.clone();
        with_own_limits(shared.as_ref(), |l| {
            self.handle_response_in(now, response, l)
        });
    }

    fn handle_transport_error(&mut self, now: Now, error: Error) {
        let shared = self.limits.clone();
        with_own_limits(shared.as_ref(), |l| {
            self.handle_transport_error_in(now, error, l)
        });
    }
}

#[cfg(test)]
mod tests;
