//! The call machine: one status query, end to end, with its retries.
//!
//! Owns the attempt count, signing each attempt at that attempt's time, the
//! per-attempt and overall deadlines, and applying the retry policy to each
//! failure. Must not do I/O, read a clock or sleep: it is driven through
//! [`Machine`].
//!
//! ```text
//!            poll                    handle_response / handle_transport_error
//!  Ready ──────────► InFlight ───────────────────────────────┐
//!    ▲                  │ poll at/after the attempt deadline  │
//!    │ poll at/after    ▼ (counts as a timeout)               ▼
//!    └──────────── Backoff(until) ◄──── retry? ──── yes / no ──► Done
//! ```

use std::time::{Duration, Instant};

use http::Response;

use crate::error::Error;
use crate::ids::InstanceId;
use crate::machine::{Attempt, Machine, Now, Step, later};
use crate::machines::trace;
use crate::model::InstanceStatus;
use crate::observe::{AttemptOutcome, AttemptRecord, Service};
use crate::pacing::limiter::{Gate, Limits, SharedLimits};
use crate::pacing::retry::{RetryDecision, StopReason};
use crate::pacing::rng::SplitMix64;
use crate::session::Session;
use crate::wire::response::parse_status_response;

/// The output of a call.
pub type CallResult = Result<InstanceStatus, Error>;

#[derive(Debug)]
enum State {
    Ready,
    InFlight {
        sent: Instant,
        attempt_deadline: Instant,
    },
    Backoff {
        until: Instant,
    },
    Done(Option<CallResult>),
}

/// One status query with its retries.
///
/// ```
/// use clouddc_core::{Call, Config, Session, Credentials, Endpoint, InstanceId, Machine, Now, ProjectId, Step, InstanceState};
/// use std::time::{Instant, SystemTime};
/// let session = Session::new(Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?);
/// let now = Now::new(SystemTime::now(), Instant::now());
/// let mut call = Call::new(&session, InstanceId::new("ins-1")?, now, 42);
/// let Step::Send(attempt) = call.poll(now) else { unreachable!() };
/// assert_eq!(attempt.request.uri().path(), "/v1/p1/instances/ins-1/status");
/// let response = http::Response::builder().status(200).body(br#"{"state":"running"}"#.to_vec()).unwrap();
/// call.handle_response(now, response);
/// let Step::Done(Ok(status)) = call.poll(now) else { unreachable!() };
/// assert_eq!(status.state, InstanceState::Running);
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Call {
    session: Session,
    id: InstanceId,
    jitter: SplitMix64,
    state: State,
    attempts: u32,
    started: Instant,
    deadline: Option<Instant>,
    last_delay: Option<Duration>,
    limits: Option<SharedLimits>,
    /// Attempts made again after a clock-skew correction: outside the
    /// attempt limit and the retry budget, at most one per call.
    skew_retries: u32,
    /// Whether the attempt in flight was signed with AK/SK.
    signed: bool,
    /// The clock skew the attempt in flight was signed with.
    signed_skew: Option<crate::identity::skew::ClockSkew>,
    /// The next request sends the last attempt again, on a fresh
    /// connection: the one it went on closed without answering.
    again: bool,
    /// The attempt in flight went on a fresh connection.
    fresh: bool,
}

impl Call {
    /// A call for `id`, started at `now`; `seed` seeds the backoff jitter.
    /// The overall deadline is the config's call timeout, if any.
    pub fn new(session: &Session, id: InstanceId, now: Now, seed: u64) -> Self {
        let deadline = session
            .config()
            .call_timeout()
            .and_then(|d| now.mono.checked_add(d));
        Self::with_deadline(session, id, now, seed, deadline)
    }

    /// A call with an explicit overall deadline (no attempt starts at or
    /// after it, and none runs past it).
    pub fn with_deadline(
        session: &Session,
        id: InstanceId,
        now: Now,
        seed: u64,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            session: session.clone(),
            id,
            jitter: SplitMix64::new(seed),
            state: State::Ready,
            attempts: 0,
            started: now.mono,
            deadline,
            last_delay: None,
            limits: None,
            skew_retries: 0,
            signed: false,
            signed_skew: None,
            again: false,
            fresh: false,
        }
    }

    /// Paces this call with a client's shared rate limiter and retry budget.
    pub fn with_limits(mut self, limits: SharedLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// The instance id.
    pub fn id(&self) -> &InstanceId {
        &self.id
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the call started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The delay chosen before the latest retry, for logs.
    pub fn last_delay(&self) -> Option<Duration> {
        self.last_delay
    }

    /// Whether the call has finished.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// When the next attempt starts, while the call is pausing before a
    /// retry.
    pub fn retry_at(&self) -> Option<Instant> {
        match self.state {
            State::Backoff { until } => Some(until),
            _ => None,
        }
    }

    /// The overall deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn start_attempt(&mut self, now: Now, gate: &mut Gate<'_>) -> Step<CallResult> {
        let mut timeout = self.session.config().attempt_timeout();
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(now.mono);
            if left.is_zero() {
                return self.finish(Err(Error::timeout(
                    format!("call deadline passed after {} attempt(s)", self.attempts),
                    None,
                )));
            }
            timeout = timeout.min(left);
        }
        let admitted = if self.again {
            gate.admit_again()
        } else {
            gate.admit(now.mono, self.session.pacer())
        };
        if let Err(at) = admitted {
            // Not our turn yet; the deadline check above ends the wait.
            let at = match (at, self.deadline) {
                (Some(at), Some(d)) => at.min(d),
                (Some(at), None) => at,
                (None, Some(d)) => d,
                (None, None) => now.mono,
            };
            return Step::Wait(at);
        }
        self.signed_skew = self.session.identity().skew();
        let request = match self.session.status_request(&self.id, now.wall) {
            Ok(r) => r,
            Err(e) => return self.finish(Err(e)),
        };
        // A request sent again keeps its attempt's number: the server
        // never saw the first one.
        self.fresh = std::mem::take(&mut self.again);
        if !self.fresh {
            self.attempts += 1;
        }
        self.signed = request.headers().contains_key(http::header::AUTHORIZATION);
        self.state = State::InFlight {
            sent: now.mono,
            attempt_deadline: later(now.mono, timeout),
        };
        let attempt = Attempt::new(
            request,
            timeout,
            self.session.config().body_limit(),
            self.attempts,
        );
        Step::Send(if self.fresh {
            attempt.on_fresh_connection()
        } else {
            attempt
        })
    }

    fn finish(&mut self, result: CallResult) -> Step<CallResult> {
        self.state = State::Done(None);
        Step::Done(result)
    }

    fn failed(&mut self, now: Now, error: Error, limits: &mut Limits) {
        let sent = self.sent(now);
        if error.is_closed_unanswered() && !self.fresh {
            // A pooled connection the server had closed (the idle-timeout
            // race): the request never reached it. Send it again at once
            // on a new connection, as the same attempt.
            self.again = true;
            self.state = State::Ready;
            return;
        }
        let before = limits.current_rate();
        limits.on_error(now.mono, sent, &error, self.session.pacer());
        self.rate_changed(before, limits);
        let jitter = self.jitter.next_f64();
        let counted = self.attempts - self.skew_retries;
        let mut decision =
            self.session
                .config()
                .retry()
                .decide(counted, &error, now.mono, self.deadline, jitter);
        // The budget guards against a failing dependency; a quota is paced,
        // not a failure, so waiting out the gateway's window costs nothing.
        if matches!(decision, RetryDecision::Retry { .. })
            && !error.is_gateway_throttle()
            && !limits.try_withdraw(&error)
        {
            decision = RetryDecision::Stop(StopReason::BudgetExhausted);
        }
        self.state = match decision {
            RetryDecision::Retry { after } => {
                self.last_delay = Some(after);
                State::Backoff {
                    until: later(now.mono, after),
                }
            }
            RetryDecision::Stop(_) => State::Done(Some(Err(error))),
        };
    }

    /// [`Machine::poll`] with admission decided by `gate`.
    pub(crate) fn poll_in(&mut self, now: Now, gate: &mut Gate<'_>) -> Step<CallResult> {
        match &mut self.state {
            State::Ready => self.start_attempt(now, gate),
            State::InFlight {
                attempt_deadline, ..
            } => {
                let at = *attempt_deadline;
                if now.mono >= at {
                    // The transport did not give up in time; the core does.
                    let error =
                        Error::timeout(format!("attempt {} timed out", self.attempts), None);
                    let sent = self.sent(now);
                    let outcome = AttemptOutcome::Error(error.kind());
                    self.failed(now, error, gate.limits());
                    self.observed(now, sent, outcome);
                    self.poll_in(now, gate)
                } else {
                    Step::Wait(at)
                }
            }
            State::Backoff { until } => {
                if now.mono >= *until {
                    self.start_attempt(now, gate)
                } else {
                    Step::Wait(*until)
                }
            }
            State::Done(result) => match result.take() {
                Some(r) => Step::Done(r),
                None => Step::Done(Err(Error::invalid_input(
                    "the call already finished: start a new one",
                ))),
            },
        }
    }

    /// [`Machine::handle_response`], feeding the outcome to `limits`.
    pub(crate) fn handle_response_in(
        &mut self,
        now: Now,
        response: Response<Vec<u8>>,
        limits: &mut Limits,
    ) {
        if !matches!(self.state, State::InFlight { .. }) {
            return; // Stale: nothing is in flight.
        }
        let traced = trace::Attempt::of_response(self.attempts, &response);
        let sent = self.sent(now);
        let outcome = AttemptOutcome::Status(response.status());
        self.handle_answer(now, response, limits);
        self.observed(now, sent, outcome);
        traced.emit(&self.id, self.retry_in(now));
    }

    /// Tells the observer the limiter's rate when it is no longer `before`.
    fn rate_changed(&self, before: Option<f64>, limits: &Limits) {
        if let Some(rate) = limits.current_rate()
            && before != Some(rate)
        {
            self.session.observed().rate(rate);
        }
    }

    /// When the attempt in flight was sent (`now` if none is).
    fn sent(&self, now: Now) -> Instant {
        match self.state {
            State::InFlight { sent, .. } => sent,
            _ => now.mono,
        }
    }

    /// Reports the attempt sent at `sent` that just ended with `outcome`
    /// (its retry, if any, already decided) to the session's observer.
    fn observed(&self, now: Now, sent: Instant, outcome: AttemptOutcome) {
        // A retry follows when the call pauses for one, or signs again at
        // once (a clock-skew correction); a resend on a new connection is
        // the same attempt.
        let retried = match self.state {
            State::Backoff { .. } => true,
            State::Ready => !self.again,
            _ => false,
        };
        self.session.observe(|| {
            let duration = now.mono.saturating_duration_since(sent);
            let mut r = AttemptRecord::new(Service::Clouddc, outcome, duration, now.mono);
            r.number = self.attempts;
            r.resent = self.fresh;
            r.retried = retried;
            r
        });
    }

    /// The pause before the next attempt, while there is one.
    fn retry_in(&self, now: Now) -> Option<Duration> {
        self.retry_at()
            .map(|t| t.saturating_duration_since(now.mono))
    }

    fn handle_answer(&mut self, now: Now, response: Response<Vec<u8>>, limits: &mut Limits) {
        if self.signed
            && self.skew_retries == 0
            && let Some(skew) =
                crate::identity::skew::correction(&response, now.wall, self.signed_skew)
        {
            // Signed with a clock the gateway calls expired: sign again
            // with its time, once, outside the attempt limit and budget.
            if self.session.identity().correct_skew(skew) {
                trace_skew(skew);
            }
            self.skew_retries = 1;
            self.state = State::Ready;
            return;
        }
        match parse_status_response(&response, self.session.config().body_limit(), now.wall) {
            Ok(status) => {
                let before = limits.current_rate();
                limits.on_success(now.mono);
                self.rate_changed(before, limits);
                self.state = State::Done(Some(Ok(status)));
            }
            Err(e) => self.failed(now, e, limits),
        }
    }

    /// [`Machine::handle_transport_error`], feeding the outcome to `limits`.
    pub(crate) fn handle_transport_error_in(
        &mut self,
        now: Now,
        error: Error,
        limits: &mut Limits,
    ) {
        if !matches!(self.state, State::InFlight { .. }) {
            return;
        }
        let traced = trace::Attempt::of_error(self.attempts, &error);
        let sent = self.sent(now);
        let outcome = AttemptOutcome::Error(error.kind());
        self.failed(now, error, limits);
        self.observed(now, sent, outcome);
        traced.emit(&self.id, self.retry_in(now));
    }
}

#[cfg(feature = "tracing")]
fn trace_skew(skew: Option<crate::identity::skew::ClockSkew>) {
    match skew {
        Some(skew) => {
            tracing::info!(
                skew_secs = skew.as_secs(),
                "{skew}; signing with the gateway's time"
            );
        }
        None => tracing::info!("the gateway's clock agrees with this machine's again"),
    }
}

#[cfg(not(feature = "tracing"))]
fn trace_skew(_skew: Option<crate::identity::skew::ClockSkew>) {}

/// Runs `f` over the limits a standalone machine paces itself with: the
/// shared ones if set, else none.
pub(crate) fn with_own_limits<R>(
    shared: Option<&SharedLimits>,
    f: impl FnOnce(&mut Limits) -> R,
) -> R {
    match shared {
        Some(s) => f(&mut s.lock()),
        None => f(&mut Limits::default()),
    }
}

/// A standalone call paces itself with its own optional shared limits.
impl Machine for Call {
    type Output = CallResult;

    fn poll(&mut self, now: Now) -> Step<CallResult> {
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
#[allow(clippy::disallowed_methods)] // tests pick an arbitrary start instant
pub(crate) mod tests;
