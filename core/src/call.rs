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

use crate::config::Config;
use crate::error::Error;
use crate::ids::InstanceId;
use crate::limiter::{Gate, Limits, SharedLimits};
use crate::machine::{Attempt, Machine, Now, Step};
use crate::model::InstanceStatus;
use crate::request::build_status_request;
use crate::response::parse_status_response;
use crate::retry::{RetryDecision, StopReason};
use crate::rng::SplitMix64;

/// The output of a call.
pub type CallResult = Result<InstanceStatus, Error>;

#[derive(Debug)]
enum State {
    Ready,
    InFlight { attempt_deadline: Instant },
    Backoff { until: Instant },
    Done(Option<CallResult>),
}

/// One status query with its retries.
///
/// ```
/// use clouddc_core::{Call, Config, Credentials, Endpoint, InstanceId, Machine, Now, ProjectId, Step, InstanceState};
/// use std::time::{Instant, SystemTime};
/// let config = Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?;
/// let now = Now::new(SystemTime::now(), Instant::now());
/// let mut call = Call::new(&config, InstanceId::new("ins-1")?, now, 42);
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
    config: Config,
    id: InstanceId,
    jitter: SplitMix64,
    state: State,
    attempts: u32,
    started: Instant,
    deadline: Option<Instant>,
    last_delay: Option<Duration>,
    limits: Option<SharedLimits>,
}

impl Call {
    /// A call for `id`, started at `now`; `seed` seeds the backoff jitter.
    /// The overall deadline is the config's call timeout, if any.
    pub fn new(config: &Config, id: InstanceId, now: Now, seed: u64) -> Self {
        let deadline = config.call_timeout().and_then(|d| now.mono.checked_add(d));
        Self::with_deadline(config, id, now, seed, deadline)
    }

    /// A call with an explicit overall deadline (no attempt starts at or
    /// after it, and none runs past it).
    pub fn with_deadline(
        config: &Config,
        id: InstanceId,
        now: Now,
        seed: u64,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            config: config.clone(),
            id,
            jitter: SplitMix64::new(seed),
            state: State::Ready,
            attempts: 0,
            started: now.mono,
            deadline,
            last_delay: None,
            limits: None,
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
        let mut timeout = self.config.attempt_timeout();
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
        if let Err(at) = gate.admit(now.mono) {
            // Not our turn yet; the deadline check above ends the wait.
            let at = match (at, self.deadline) {
                (Some(at), Some(d)) => at.min(d),
                (Some(at), None) => at,
                (None, Some(d)) => d,
                (None, None) => now.mono,
            };
            return Step::Wait(at);
        }
        let request = match build_status_request(&self.config, &self.id, now.wall) {
            Ok(r) => r,
            Err(e) => return self.finish(Err(e)),
        };
        self.attempts += 1;
        self.state = State::InFlight {
            attempt_deadline: now.mono.checked_add(timeout).unwrap_or(now.mono),
        };
        Step::Send(Attempt {
            request,
            timeout,
            body_limit: self.config.body_limit(),
            number: self.attempts,
        })
    }

    fn finish(&mut self, result: CallResult) -> Step<CallResult> {
        self.state = State::Done(None);
        Step::Done(result)
    }

    fn failed(&mut self, now: Now, error: Error, limits: &mut Limits) {
        limits.on_error(now.mono, &error);
        let jitter = self.jitter.next_f64();
        let mut decision =
            self.config
                .retry()
                .decide(self.attempts, &error, now.mono, self.deadline, jitter);
        if matches!(decision, RetryDecision::Retry { .. }) && !limits.try_withdraw(&error) {
            decision = RetryDecision::Stop(StopReason::BudgetExhausted);
        }
        self.state = match decision {
            RetryDecision::Retry { after } => {
                self.last_delay = Some(after);
                State::Backoff {
                    until: now.mono.checked_add(after).unwrap_or(now.mono),
                }
            }
            RetryDecision::Stop(_) => State::Done(Some(Err(error))),
        };
    }

    /// [`Machine::poll`] with admission decided by `gate`.
    pub(crate) fn poll_in(&mut self, now: Now, gate: &mut Gate<'_>) -> Step<CallResult> {
        match &mut self.state {
            State::Ready => self.start_attempt(now, gate),
            State::InFlight { attempt_deadline } => {
                let at = *attempt_deadline;
                if now.mono >= at {
                    // The transport did not give up in time; the core does.
                    let error =
                        Error::timeout(format!("attempt {} timed out", self.attempts), None);
                    self.failed(now, error, gate.limits());
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
        match parse_status_response(&response, self.config.body_limit(), now.wall) {
            Ok(status) => {
                limits.on_success(now.mono);
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
        self.failed(now, error, limits);
    }
}

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
            self.handle_response_in(now, response, l);
        });
    }

    fn handle_transport_error(&mut self, now: Now, error: Error) {
        let shared = self.limits.clone();
        with_own_limits(shared.as_ref(), |l| {
            self.handle_transport_error_in(now, error, l);
        });
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick an arbitrary start instant
pub(crate) mod tests {
    use super::*;
    use crate::{Credentials, Endpoint, ErrorKind, InstanceState, ProjectId};
    use proptest::prelude::*;
    use std::time::SystemTime;

    pub(crate) fn config(attempts: u32) -> Config {
        Config::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:1").unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::ak_sk("AK", "SK").unwrap())
            .max_attempts(attempts)
            .attempt_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    pub(crate) fn t0() -> Now {
        Now::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            Instant::now(),
        )
    }

    pub(crate) fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Vec<u8>> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    fn id() -> InstanceId {
        InstanceId::new("i-1").unwrap()
    }

    #[test]
    fn success_first_try() {
        let now = t0();
        let mut c = Call::new(&config(3), id(), now, 1);
        let Step::Send(a) = c.poll(now) else { panic!() };
        assert_eq!(a.number, 1);
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(a.body_limit, 64 * 1024);
        // Signed at the attempt's wall time.
        assert_eq!(a.request.headers()["x-sdk-date"], "20270115T080000Z");
        // Polling while in flight waits for the attempt deadline.
        let Step::Wait(w) = c.poll(now) else { panic!() };
        assert_eq!(w, now.mono + Duration::from_secs(5));
        c.handle_response(now, resp(200, &[], r#"{"state":"running"}"#));
        let Step::Done(Ok(s)) = c.poll(now) else {
            panic!()
        };
        assert_eq!(s.state, InstanceState::Running);
        assert!(c.is_done());
        assert!(matches!(c.poll(now), Step::Done(Err(_))));
    }

    #[test]
    fn retry_after_then_success_resigns() {
        let mut now = t0();
        let mut c = Call::new(&config(3), id(), now, 1);
        let Step::Send(_) = c.poll(now) else { panic!() };
        c.handle_response(now, resp(429, &[("Retry-After", "1")], "slow down"));
        let Step::Wait(until) = c.poll(now) else {
            panic!()
        };
        assert_eq!(until, now.mono + Duration::from_secs(1));
        now = now.advance_to(until);
        let Step::Send(a) = c.poll(now) else { panic!() };
        assert_eq!(a.number, 2);
        assert_eq!(a.request.headers()["x-sdk-date"], "20270115T080001Z");
        c.handle_response(now, resp(200, &[], r#"{"state":"stopped"}"#));
        assert!(matches!(c.poll(now), Step::Done(Ok(_))));
        assert_eq!(c.attempts(), 2);
    }

    #[test]
    fn exhausts_attempts_on_500() {
        let mut now = t0();
        let mut c = Call::new(&config(3), id(), now, 9);
        let mut sends = 0;
        loop {
            match c.poll(now) {
                Step::Send(_) => {
                    sends += 1;
                    c.handle_response(now, resp(500, &[("X-Request-Id", "r")], ""));
                }
                Step::Wait(t) => now = now.advance_to(t),
                Step::Done(r) => {
                    let e = r.unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::Server);
                    assert_eq!(e.request_id(), Some("r"));
                    break;
                }
            }
        }
        assert_eq!(sends, 3);
    }

    #[test]
    fn no_retry_on_401_and_decode() {
        for (status, body) in [(401, ""), (404, ""), (200, "nope"), (302, "")] {
            let now = t0();
            let mut c = Call::new(&config(5), id(), now, 1);
            let Step::Send(_) = c.poll(now) else { panic!() };
            c.handle_response(now, resp(status, &[], body));
            assert!(matches!(c.poll(now), Step::Done(Err(_))), "{status}");
            assert_eq!(c.attempts(), 1);
        }
    }

    #[test]
    fn silent_transport_times_out_in_core() {
        let mut now = t0();
        let mut c = Call::new(&config(2), id(), now, 1);
        let Step::Send(_) = c.poll(now) else { panic!() };
        let Step::Wait(t) = c.poll(now) else { panic!() };
        now = now.advance_to(t);
        // The core notices the attempt deadline and schedules a retry.
        let step = c.poll(now);
        let Step::Wait(t) = step else {
            panic!("{step:?}")
        };
        now = now.advance_to(t);
        let Step::Send(a) = c.poll(now) else { panic!() };
        assert_eq!(a.number, 2);
        c.handle_transport_error(now, Error::timeout("read timed out", None));
        let Step::Done(Err(e)) = c.poll(now) else {
            panic!()
        };
        assert_eq!(e.kind(), ErrorKind::Timeout);
        // A late response is ignored.
        c.handle_response(now, resp(200, &[], r#"{"state":"running"}"#));
        assert!(matches!(c.poll(now), Step::Done(Err(_))));
    }

    #[test]
    fn deadline_bounds_attempt_timeout() {
        let now = t0();
        let deadline = Some(now.mono + Duration::from_secs(2));
        let mut c = Call::with_deadline(&config(3), id(), now, 1, deadline);
        let Step::Send(a) = c.poll(now) else { panic!() };
        assert_eq!(a.timeout, Duration::from_secs(2));
    }

    /// Drives calls one after another against a server that always fails
    /// with `status`; returns the number of requests sent.
    fn drive_failing(limits: &SharedLimits, calls: usize, status: u16) -> usize {
        let mut now = t0();
        let mut sends = 0;
        for n in 0..calls {
            let mut c = Call::new(&config(3), id(), now, n as u64).with_limits(limits.clone());
            loop {
                match c.poll(now) {
                    Step::Send(_) => {
                        sends += 1;
                        c.handle_response(now, resp(status, &[], ""));
                    }
                    Step::Wait(t) => now = now.advance_to(t),
                    Step::Done(_) => break,
                }
            }
        }
        sends
    }

    #[test]
    fn retry_budget_really_stops_retries() {
        use crate::limiter::RetryBudgetConfig;
        let budget = RetryBudgetConfig {
            capacity: 50,
            retry_cost: 5,
            timeout_cost: 10,
            success_refund: 1,
        };
        let limits = SharedLimits::new(None, Some(budget));
        // 100 calls x 3 attempts would be 300 requests; the budget pays for 10 retries.
        assert_eq!(drive_failing(&limits, 100, 503), 110);
        assert_eq!(limits.lock().budget.as_ref().unwrap().balance(), 0);
        // Without a budget every call makes max_attempts requests.
        assert_eq!(drive_failing(&SharedLimits::new(None, None), 100, 503), 300);
    }

    #[test]
    fn rate_limiter_paces_calls_and_backs_off_on_429() {
        use crate::limiter::RateLimiterConfig;
        let limits = SharedLimits::new(
            Some(RateLimiterConfig::hint(10.0).burst(1.0).increase_per_s(0.0)),
            None,
        );
        let mut now = t0();
        let start = now.mono;
        let mut sends = Vec::new();
        for n in 0..20u64 {
            let mut c = Call::new(&config(1), id(), now, n).with_limits(limits.clone());
            loop {
                match c.poll(now) {
                    Step::Send(_) => {
                        sends.push(now.mono - start);
                        let r = if n == 9 {
                            resp(429, &[], "")
                        } else {
                            resp(200, &[], r#"{"state":"running"}"#)
                        };
                        c.handle_response(now, r);
                    }
                    Step::Wait(t) => now = now.advance_to(t),
                    Step::Done(_) => break,
                }
            }
        }
        // 10/s before the 429: the 10th send at 0.9 s.
        assert_eq!(sends[9], Duration::from_millis(900));
        // After it (the first cut halves), 5/s: gaps of about 200 ms.
        let gap = sends[15] - sends[14];
        assert!(
            gap > Duration::from_millis(190) && gap < Duration::from_millis(210),
            "{gap:?}"
        );
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Ok,
        Status(u16, Option<u8>),
        Transport,
        Silent,
    }

    fn arb_ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            Just(Ev::Ok),
            (
                prop::sample::select(vec![400u16, 401, 404, 429, 500, 502, 503, 504]),
                prop::option::of(0u8..5)
            )
                .prop_map(|(s, r)| Ev::Status(s, r)),
            Just(Ev::Transport),
            Just(Ev::Silent),
        ]
    }

    proptest! {
        #[test]
        fn never_exceeds_attempts_or_deadline(
            max in 1u32..6,
            deadline_s in prop::option::of(1u64..60),
            events in prop::collection::vec(arb_ev(), 1..12),
            seed in any::<u64>(),
        ) {
            let start = t0();
            let mut now = start;
            let deadline = deadline_s.map(|s| start.mono + Duration::from_secs(s));
            let mut c = Call::with_deadline(&config(max), id(), now, seed, deadline);
            let mut evs = events.into_iter().cycle();
            let mut sends = 0;
            for _ in 0..100 {
                match c.poll(now) {
                    Step::Send(a) => {
                        sends += 1;
                        prop_assert!(sends <= max);
                        if let Some(d) = deadline {
                            prop_assert!(now.mono < d);
                            prop_assert!(now.mono + a.timeout <= d);
                        }
                        match evs.next().unwrap() {
                            Ev::Ok => c.handle_response(now, resp(200, &[], r#"{"state":"running"}"#)),
                            Ev::Status(s, ra) => {
                                let ra = ra.map(|r| r.to_string());
                                let h: Vec<(&str, &str)> = ra.iter().map(|r| ("Retry-After", r.as_str())).collect();
                                c.handle_response(now, resp(s, &h, ""));
                            }
                            Ev::Transport => c.handle_transport_error(now, Error::transport("reset", std::io::Error::other("x"))),
                            Ev::Silent => {}
                        }
                    }
                    Step::Wait(t) => {
                        prop_assert!(t > now.mono);
                        now = now.advance_to(t);
                    }
                    Step::Done(_) => {
                        prop_assert!(matches!(c.poll(now), Step::Done(Err(_))));
                        if let Some(d) = deadline {
                            prop_assert!(now.mono <= d);
                        }
                        return Ok(());
                    }
                }
            }
            prop_assert!(false, "the call did not finish");
        }
    }
}
