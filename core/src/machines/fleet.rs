//! The fleet machine: many status queries, waits or watches at once, with
//! one owner for all of them.
//!
//! Owns which id goes next (ids are taken lazily from an iterator), the
//! bound on requests in flight, the one rate limiter and retry budget every
//! call of the fleet shares, the timers of every sleeping call, and
//! cancellation. Each id is a [`Call`], a [`Waiter`] or a watch loop inside
//! it; the fleet only admits, times and routes. Must not do I/O, read a
//! clock or sleep: a driver carries out its [`FleetStep`]s.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use http::Response;

use crate::error::Error;
use crate::ids::InstanceId;
use crate::machine::{Attempt, Now, Step, later};
use crate::machines::call::{Call, CallResult};
use crate::machines::waiter::{WaitOptions, WaitReport, Waiter};
use crate::machines::watch::{Watch, WatchStep};
use crate::model::InstanceState;
use crate::pacing::limiter::{
    Blocked, Gate, Limits, RateLimiterConfig, RetryBudgetConfig, SharedLimits,
};
use crate::pacing::rng::SplitMix64;
use crate::session::Session;
use crate::session::SessionStep;

/// What the fleet does for each id.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Job {
    /// One status query (with its retries).
    Status,
    /// Poll until the instance reaches `target`.
    Wait {
        /// The target state.
        target: InstanceState,
        /// Interval, deadline and failure states.
        options: WaitOptions,
    },
    /// Poll every `interval` until cancelled, reporting every status seen.
    /// An id whose query fails for good (a non-retryable error) finishes
    /// with that error; transient failures are reported and polled again.
    Watch {
        /// The pause between the end of one poll and the start of the next.
        interval: Duration,
    },
}

/// Settings of a [`Fleet`].
#[derive(Debug, Clone)]
pub struct FleetOptions {
    max_in_flight: usize,
    rate: Option<RateLimiterConfig>,
    budget: Option<RetryBudgetConfig>,
    shared: Option<SharedLimits>,
    deadline: Option<Instant>,
    seed: u64,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 16,
            rate: Some(RateLimiterConfig::default()),
            budget: Some(RetryBudgetConfig::default()),
            shared: None,
            deadline: None,
            seed: 0,
        }
    }
}

impl Job {
    /// Waiting for `target` with `options`.
    pub fn wait(target: InstanceState, options: WaitOptions) -> Self {
        Self::Wait { target, options }
    }
}

impl FleetOptions {
    /// 16 requests in flight, the adaptive rate limiter and the retry budget
    /// on with their defaults, no shared deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests in flight at once (at least 1).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Lowers the in-flight bound to at most `n` (a transport's own bound),
    /// so that the fleet never starts, and times, a request the transport
    /// cannot carry yet.
    pub fn cap_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = self.max_in_flight.min(n.max(1));
        self
    }

    /// The rate limiter: `None` turns it off; [`RateLimiterConfig::cap`]
    /// makes the rate a hard cap.
    pub fn rate(mut self, rate: Option<RateLimiterConfig>) -> Self {
        self.rate = rate;
        self
    }

    /// The retry budget: `None` turns it off.
    pub fn budget(mut self, budget: Option<RetryBudgetConfig>) -> Self {
        self.budget = budget;
        self
    }

    /// Paces the fleet with limits shared with other fleets and calls,
    /// instead of its own `rate` and `budget`. Without this, a session made
    /// [`Session::with_limits`](crate::Session::with_limits) shares those.
    pub fn shared_limits(mut self, limits: SharedLimits) -> Self {
        self.shared = Some(limits);
        self
    }

    /// A deadline for every id: no wait runs past it (but for one last
    /// attempt), and no status query starts an attempt at or after it.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// One call: one request at a time, paced only by the session.s
    /// [`Session::with_limits`](crate::Session::with_limits), if it has any.
    pub fn single() -> Self {
        Self::new().max_in_flight(1).rate(None).budget(None)
    }

    /// Seeds the backoff jitter of every call.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Identifies one request in flight; hand it back with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket {
    key: u64,
    seq: u64,
}

impl Ticket {
    /// The position (0-based) of the id the request is for.
    pub fn index(&self) -> u64 {
        self.key
    }
}

/// How one id finished, or what a watch saw.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// A status query ended (for a watch: failed for good).
    Status(CallResult),
    /// A wait ended.
    Wait(WaitReport),
    /// A watch poll returned; the id stays in the fleet.
    Seen(CallResult),
    /// The fleet was cancelled before the id finished.
    Interrupted,
}

impl Outcome {
    /// Whether the id is finished (every outcome but [`Outcome::Seen`]).
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Seen(_))
    }
}

impl FleetEvent {
    /// The event of a status fleet as (id, result); an interrupted id
    /// fails with kind `interrupted`.
    pub fn into_status(self) -> (InstanceId, CallResult) {
        let result = match self.outcome {
            Outcome::Status(r) | Outcome::Seen(r) => r,
            Outcome::Wait(w) => match w.outcome {
                crate::WaitOutcome::Reached(Some(s)) | crate::WaitOutcome::Failed(s) => Ok(s),
                crate::WaitOutcome::Error(e) => Err(e),
                other => Err(Error::interrupted(format!(
                    "the wait ended {}",
                    other.as_str()
                ))),
            },
            Outcome::Interrupted => Err(Error::interrupted("cancelled before the query finished")),
        };
        (self.id, result)
    }

    /// The event of a wait fleet as (id, report); an interrupted id has
    /// the outcome [`WaitOutcome::Interrupted`](crate::WaitOutcome::Interrupted).
    pub fn into_wait(self) -> (InstanceId, WaitReport) {
        let report = match self.outcome {
            Outcome::Wait(w) => w,
            Outcome::Status(r) | Outcome::Seen(r) => WaitReport {
                outcome: match r {
                    Ok(s) => crate::WaitOutcome::Reached(Some(s)),
                    Err(e) => crate::WaitOutcome::Error(e),
                },
                polls: 1,
                elapsed: Duration::ZERO,
            },
            Outcome::Interrupted => WaitReport {
                outcome: crate::WaitOutcome::Interrupted { last: None },
                polls: 0,
                elapsed: Duration::ZERO,
            },
        };
        (self.id, report)
    }
}

/// One id's outcome, with its position in the input.
///
/// `#[non_exhaustive]`: it may carry more; [`FleetEvent::new`] makes one.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub struct FleetEvent {
    /// Position of the id in the input (0-based).
    pub index: u64,
    /// The id.
    pub id: InstanceId,
    /// What happened.
    pub outcome: Outcome,
}

impl FleetEvent {
    /// The event of the id at `index` of the input ending with `outcome`.
    pub fn new(index: u64, id: InstanceId, outcome: Outcome) -> Self {
        Self { index, id, outcome }
    }
}

/// What the fleet wants next.
#[must_use]
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once per step; boxing buys nothing
pub enum FleetStep {
    /// Send this request now; feed its result with its ticket.
    Send {
        /// Hand this back to [`Fleet::handle`].
        ticket: Ticket,
        /// The request and its limits.
        attempt: Attempt,
    },
    /// Sleep until this time, or until a request in flight ends.
    Wait(Instant),
    /// An id finished (or a watch saw a status).
    Event(FleetEvent),
    /// Every id has finished; nothing is in flight.
    Finished,
}

/// Counts of a fleet's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Ids taken from the input so far.
    pub started: u64,
    /// Ids finished.
    pub finished: u64,
    /// Ids finished without success (failed queries, waits not reached,
    /// interrupted).
    pub failed: u64,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Requests started so far, retries included.
    pub requests: u64,
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per id, stored in place; boxing adds an allocation each
enum Machine {
    Call(Call),
    Wait(Waiter),
    Watch(Watch),
}

#[derive(Debug)]
struct Task {
    id: InstanceId,
    machine: Machine,
    /// Bumped on every (re)schedule, so that older timers are ignored.
    generation: u32,
    /// The sequence number of the request in flight, if any.
    in_flight: Option<u64>,
    queued: bool,
}

/// What a task said when polled.
enum Polled {
    Send(Attempt),
    Sleep(Instant),
    Blocked { blocked: Blocked, until: Instant },
    Done(Outcome),
    Seen(CallResult),
}

/// How the fleet's calls are paced.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per fleet
enum Pacing {
    Own(Limits),
    Shared(SharedLimits),
}

impl Pacing {
    fn with<R>(&mut self, f: impl FnOnce(&mut Limits) -> R) -> R {
        match self {
            Self::Own(l) => f(l),
            Self::Shared(s) => f(&mut s.lock()),
        }
    }
}

/// Many calls, waits or watches, driven as one machine.
///
/// # The driving loop
///
/// 1. `step = fleet.poll(now)`.
/// 2. [`FleetStep::Send`]: start sending `attempt` (give up after
///    `attempt.timeout`, read at most `attempt.body_limit + 1` body bytes),
///    keep its [`Ticket`], and go to 1 at once: more requests may start.
///    When it ends, feed `fleet.handle(now, ticket, result)`.
/// 3. [`FleetStep::Event`]: an id finished (or, for watches, was seen);
///    hand it on. Go to 1.
/// 4. [`FleetStep::Wait`]: sleep until the time given or until a request in
///    flight ends, whichever is first; feed what ended. Go to 1.
/// 5. [`FleetStep::Finished`]: every id has finished.
///
/// Requests in flight never exceed [`FleetOptions::max_in_flight`]: a wait
/// that sleeps between polls holds no slot. With a rate cap
/// ([`RateLimiterConfig::cap`]) the fleet starts at most that many requests
/// in any one-second window, retries included, give or take one.
///
/// ```
/// use clouddc_core::{Config, Session, Credentials, Endpoint, Fleet, FleetOptions, FleetStep, InstanceId,
///     Job, Now, Outcome, ProjectId};
/// use std::time::{Instant, SystemTime};
///
/// let session = Session::new(Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?);
/// let ids = ["ins-1", "ins-2", "ins-3"].map(|s| InstanceId::new(s).unwrap());
/// let mut now = Now::new(SystemTime::now(), Instant::now());
/// let mut fleet = Fleet::new(&session, Job::Status, ids, FleetOptions::new().max_in_flight(2));
/// let (mut sent, mut done) = (Vec::new(), 0);
/// loop {
///     match fleet.poll(now) {
///         FleetStep::Send { ticket, attempt } => sent.push(ticket),
///         FleetStep::Wait(until) => {
///             // A real driver sleeps until `until` or until a request ends.
///             let Some(ticket) = sent.pop() else { now = now.advance_to(until); continue };
///             let response = http::Response::new(br#"{"state":"running"}"#.to_vec());
///             fleet.handle(now, ticket, Ok(response));
///         }
///         FleetStep::Event(event) => {
///             assert!(matches!(event.outcome, Outcome::Status(Ok(_))));
///             done += 1;
///         }
///         FleetStep::Finished => break,
///     }
///     assert!(sent.len() <= 2);
/// }
/// assert_eq!(done, 3);
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Fleet<I> {
    session: Session,
    job: Job,
    ids: Option<I>,
    next_key: u64,
    /// Boxed: a task is large (a waiter and its call), and a fleet of one
    /// id should not pay for a table of empty slots that size.
    tasks: HashMap<u64, Box<Task>>,
    /// Tasks due to be polled now (woken by a timer or a response).
    due: VecDeque<u64>,
    /// Tasks that want to send but were not admitted, in order.
    ready: VecDeque<u64>,
    timers: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    /// Requests in flight in the order they were sent, with the end of
    /// their attempt: the backstop for a transport that never answers.
    /// Answered ones are dropped from the front, so it stays about as long
    /// as the requests in flight.
    sent: VecDeque<(Instant, u64, u64)>,
    max_in_flight: usize,
    pacing: Pacing,
    rate_wake: Option<Instant>,
    events: VecDeque<FleetEvent>,
    next_seq: u64,
    jitter: SplitMix64,
    deadline: Option<Instant>,
    cancelled: bool,
    progress: Progress,
    /// A metadata or IAM request sent for the config's session: its
    /// flight, sequence number and backstop.
    aux: Option<(u64, u64, Instant)>,
    /// When the session said to look again.
    session_wake: Option<Instant>,
    /// No request may start: the session is not ready.
    session_blocked: bool,
}

/// The ticket key of a session request (no id has it: keys count up from 0).
const AUX_KEY: u64 = u64::MAX;

impl<I> Drop for Fleet<I> {
    /// A session request of this fleet's is given up, so that other
    /// callers sharing the config need not wait for its deadline.
    fn drop(&mut self) {
        self.abandon_session_request();
    }
}

impl<I> Fleet<I> {
    /// Gives up the session request in flight, if any: its answer, should
    /// it come, is ignored, and another caller may make it again.
    fn abandon_session_request(&mut self) {
        if let Some((flight, _, _)) = self.aux.take() {
            self.session.identity().abandon(flight);
        }
    }

    /// Progress so far.
    pub fn progress(&self) -> Progress {
        Progress {
            in_flight: self.in_flight(),
            ..self.progress
        }
    }

    fn in_flight(&self) -> usize {
        self.progress.in_flight
    }

    /// Stops the fleet: no request starts any more, results of requests in
    /// flight are ignored, and every id not finished yet (those not taken
    /// from the input included) finishes with [`Outcome::Interrupted`].
    pub fn cancel(&mut self) {
        self.cancelled = true;
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}

impl<I: Iterator<Item = InstanceId>> Fleet<I> {
    /// A fleet doing `job` for every id of `ids`, started at `now`.
    pub fn new(
        session: &Session,
        job: Job,
        ids: impl IntoIterator<IntoIter = I>,
        options: FleetOptions,
    ) -> Self {
        let pacing = match options.shared.or_else(|| session.limits().cloned()) {
            Some(s) => Pacing::Shared(s),
            None => Pacing::Own(Limits::new(options.rate, options.budget)),
        };
        // The rate it starts at; calls tell every change after.
        let rate = match &pacing {
            Pacing::Shared(s) => s.lock().current_rate(),
            Pacing::Own(l) => l.current_rate(),
        };
        if let Some(r) = rate {
            session.observed().rate(r);
        }
        Self {
            session: session.clone(),
            job,
            ids: Some(ids.into_iter()),
            next_key: 0,
            tasks: HashMap::new(),
            due: VecDeque::new(),
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            sent: VecDeque::new(),
            max_in_flight: options.max_in_flight.max(1),
            pacing,
            rate_wake: None,
            events: VecDeque::new(),
            next_seq: 0,
            jitter: SplitMix64::new(options.seed),
            deadline: options.deadline,
            cancelled: false,
            progress: Progress::default(),
            aux: None,
            session_wake: None,
            session_blocked: false,
        }
    }

    /// Feeds the result of the request `ticket` stands for: the response
    /// (status, headers, at most `body_limit + 1` body bytes) or a
    /// `transport`/`timeout` error. A result for a request the fleet has
    /// given up on is ignored.
    pub fn handle(&mut self, now: Now, ticket: Ticket, result: Result<Response<Vec<u8>>, Error>) {
        if ticket.key == AUX_KEY {
            if let Some((flight, seq, _)) = self.aux
                && seq == ticket.seq
            {
                self.aux = None;
                self.progress.in_flight -= 1;
                self.session.identity().handle(flight, now, result);
            }
            return;
        }
        let Some(task) = self.tasks.get_mut(&ticket.key) else {
            return;
        };
        let Some(seq) = task.in_flight else {
            return;
        };
        if seq != ticket.seq {
            return;
        }
        task.in_flight = None;
        self.progress.in_flight -= 1;
        self.pacing
            .with(|limits| match (&mut task.machine, result) {
                (Machine::Call(c), Ok(r)) => c.handle_response_in(now, r, limits),
                (Machine::Call(c), Err(e)) => c.handle_transport_error_in(now, e, limits),
                (Machine::Wait(w), Ok(r)) => w.handle_response_in(now, r, limits),
                (Machine::Wait(w), Err(e)) => w.handle_transport_error_in(now, e, limits),
                (Machine::Watch(w), result) => {
                    if let Some(c) = &mut w.current {
                        match result {
                            Ok(r) => c.handle_response_in(now, r, limits),
                            Err(e) => c.handle_transport_error_in(now, e, limits),
                        }
                    }
                }
            });
        task.generation = task.generation.wrapping_add(1);
        self.due.push_back(ticket.key);
    }

    /// What to do next at `now`.
    pub fn poll(&mut self, now: Now) -> FleetStep {
        if let Some(e) = self.events.pop_front() {
            return FleetStep::Event(e);
        }
        if self.cancelled {
            return self.poll_cancelled(now);
        }
        self.fire_timers(now.mono);
        self.fire_backstops(now.mono);
        if self.rate_wake.is_some_and(|t| t <= now.mono) {
            self.rate_wake = None;
        }
        // The credentials and project first: a request for them, a pause
        // until they are usable, or a failure for every id that needs them.
        let failure = match self.poll_session(now) {
            Ok(Some(step)) => return step,
            Ok(None) => None,
            Err(e) => Some(e),
        };
        // Tasks woken by a timer or a response: polled at once, admitted
        // only if nobody is queued before them.
        while let Some(key) = self.due.pop_front() {
            let admit = self.ready.is_empty() && self.can_start();
            if let Some(step) = self.poll_task(key, now, admit, false) {
                return step;
            }
            if let Some(e) = self.events.pop_front() {
                return FleetStep::Event(e);
            }
        }
        if let Some(e) = failure {
            self.fail_waiting(now, &e);
            if let Some(e) = self.events.pop_front() {
                return FleetStep::Event(e);
            }
        }
        // Admission, in order: the queue, and new ids (first, for waits and
        // watches, so that every id gets its first poll early).
        let new_first = !matches!(self.job, Job::Status);
        while self.can_start() {
            let next = if new_first {
                self.take_id(now)
                    .map(|k| (k, false))
                    .or_else(|| self.ready.pop_front().map(|k| (k, true)))
            } else {
                match self.ready.pop_front() {
                    Some(k) => Some((k, true)),
                    None => self.take_id(now).map(|k| (k, false)),
                }
            };
            let Some((key, from_queue)) = next else { break };
            if let Some(t) = self.tasks.get_mut(&key) {
                t.queued = false;
            }
            if let Some(step) = self.poll_task(key, now, true, from_queue) {
                return step;
            }
            if let Some(e) = self.events.pop_front() {
                return FleetStep::Event(e);
            }
        }
        if self.ids.is_none()
            && self.tasks.is_empty()
            && self.aux.is_none()
            && self.session_wake.is_none()
        {
            return FleetStep::Finished;
        }
        let timer = [
            self.timers.peek().map(|Reverse((t, _, _))| *t),
            self.sent.front().map(|(end, _, _)| *end),
            self.aux.map(|(_, _, end)| end),
            self.session_wake,
        ]
        .into_iter()
        .flatten()
        .min();
        let rate = self.rate_wake.filter(|_| self.wants_admission());
        match (timer, rate) {
            (Some(a), Some(b)) => FleetStep::Wait(a.min(b)),
            (Some(a), None) | (None, Some(a)) => FleetStep::Wait(a),
            // Only possible with nothing in flight and nothing timed: a
            // task is queued behind an exhausted slot count that cannot
            // free. Not reachable, but never spin: poll again shortly.
            (None, None) => FleetStep::Wait(later(now.mono, Duration::from_millis(1))),
        }
    }

    /// Asks the config's session whether requests may be signed: `Ok(None)`
    /// when they may (or must wait: admission stops and `session_wake` is
    /// set), a step when the session needs a request sent, an error when
    /// resolving failed.
    fn poll_session(&mut self, now: Now) -> Result<Option<FleetStep>, Error> {
        self.session_wake = None;
        self.session_blocked = true;
        if let Some((flight, _, end)) = self.aux
            && end <= now.mono
        {
            // The transport did not answer in time.
            self.aux = None;
            self.progress.in_flight -= 1;
            let e = Error::timeout("a server metadata or IAM request timed out", None);
            self.session.identity().handle(flight, now, Err(e));
        }
        let may_send = self.aux.is_none() && self.in_flight() < self.max_in_flight;
        match self.session.identity().poll(now, may_send) {
            SessionStep::Ready => {
                self.session_blocked = false;
                Ok(None)
            }
            SessionStep::Send(flight, attempt) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.aux = Some((flight, seq, later(now.mono, attempt.timeout)));
                self.progress.in_flight += 1;
                Ok(Some(FleetStep::Send {
                    ticket: Ticket { key: AUX_KEY, seq },
                    attempt,
                }))
            }
            SessionStep::Wait(until) => {
                self.session_wake = Some(until.max(now.mono));
                Ok(None)
            }
            SessionStep::Failed(e) => Err(e),
        }
    }

    /// Resolving the credentials or project failed: every id not waiting
    /// for a response finishes with `error`, and so do ids not taken yet,
    /// one per poll.
    fn fail_waiting(&mut self, now: Now, error: &Error) {
        let mut waiting: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.in_flight.is_none())
            .map(|(k, _)| *k)
            .collect();
        waiting.sort_unstable();
        // Then one id not taken yet, per poll.
        if self.events.is_empty()
            && waiting.is_empty()
            && let Some(key) = self.take_id(now)
        {
            waiting.push(key);
        }
        for key in waiting {
            if let Some(task) = self.tasks.remove(&key) {
                let outcome = match task.machine {
                    Machine::Wait(mut w) => Outcome::Wait(w.fail(now, error.shared())),
                    Machine::Call(_) | Machine::Watch(_) => Outcome::Status(Err(error.shared())),
                };
                self.finish(key, task.id, outcome);
            }
        }
        self.ready.clear();
    }

    fn wants_admission(&self) -> bool {
        !self.ready.is_empty() || self.ids.is_some()
    }

    fn can_start(&self) -> bool {
        self.in_flight() < self.max_in_flight && self.rate_wake.is_none() && !self.session_blocked
    }

    /// Drops answered requests from the front of `sent` and times out the
    /// ones whose attempt ended unanswered.
    fn fire_backstops(&mut self, now: Instant) {
        while let Some(&(end, key, seq)) = self.sent.front() {
            let task = self.tasks.get_mut(&key);
            let Some(task) = task.filter(|t| t.in_flight == Some(seq)) else {
                self.sent.pop_front();
                continue;
            };
            if end > now {
                return;
            }
            self.sent.pop_front();
            // The transport did not answer in time: the slot is free, and
            // the task's call records the timeout.
            task.in_flight = None;
            task.generation = task.generation.wrapping_add(1);
            self.progress.in_flight -= 1;
            self.due.push_back(key);
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((t, key, generation))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if let Some(task) = self.tasks.get_mut(&key)
                && task.generation == generation
            {
                task.generation = task.generation.wrapping_add(1);
                if task.queued {
                    // Its own deadline came while it waited for admission.
                    task.queued = false;
                    self.ready.retain(|k| *k != key);
                }
                self.due.push_back(key);
            }
        }
    }

    fn take_id(&mut self, now: Now) -> Option<u64> {
        let id = self.ids.as_mut()?.next();
        let Some(id) = id else {
            self.ids = None;
            return None;
        };
        let key = self.next_key;
        self.next_key += 1;
        self.progress.started += 1;
        let seed = self.jitter.next_u64();
        let machine = match &self.job {
            Job::Status => {
                let mut deadline = self
                    .session
                    .config()
                    .call_timeout()
                    .and_then(|d| now.mono.checked_add(d));
                if let Some(d) = self.deadline {
                    deadline = Some(deadline.map_or(d, |c| c.min(d)));
                }
                Machine::Call(Call::with_deadline(
                    &self.session,
                    id.clone(),
                    now,
                    seed,
                    deadline,
                ))
            }
            Job::Wait { target, options } => {
                let mut w = Waiter::new(
                    &self.session,
                    id.clone(),
                    target.clone(),
                    options.clone(),
                    now,
                    seed,
                );
                if let Some(d) = self.deadline {
                    w.cap_deadline(d);
                }
                Machine::Wait(w)
            }
            Job::Watch { interval } => Machine::Watch(Watch {
                session: self.session.clone(),
                id: id.clone(),
                interval: *interval,
                jitter: SplitMix64::new(seed),
                current: None,
                next_poll: now.mono,
            }),
        };
        self.tasks.insert(
            key,
            Box::new(Task {
                id,
                machine,
                generation: 0,
                in_flight: None,
                queued: false,
            }),
        );
        Some(key)
    }

    /// Polls one task; returns a step for the driver if it sends.
    fn poll_task(&mut self, key: u64, now: Now, admit: bool, front: bool) -> Option<FleetStep> {
        let slot_free = self.in_flight() < self.max_in_flight && !self.session_blocked;
        let task = self.tasks.get_mut(&key)?;
        let polled = self.pacing.with(|limits| {
            let mut gate = Gate::new(limits, admit).with_slot_free(slot_free);
            let step = match &mut task.machine {
                Machine::Call(c) => c.poll_in(now, &mut gate).map(Outcome::Status),
                Machine::Wait(w) => w.poll_in(now, &mut gate).map(Outcome::Wait),
                Machine::Watch(w) => match w.poll_in(now, &mut gate) {
                    WatchStep::Step(s) => s.map(Outcome::Status),
                    WatchStep::Seen(r) => return Polled::Seen(r),
                },
            };
            match (step, gate.blocked()) {
                (Step::Send(a), _) => Polled::Send(a),
                (Step::Done(o), _) => Polled::Done(o),
                (Step::Wait(until), Some(blocked)) => Polled::Blocked { blocked, until },
                (Step::Wait(until), None) => Polled::Sleep(until),
            }
        });
        match polled {
            Polled::Send(attempt) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                task.in_flight = Some(seq);
                task.generation = task.generation.wrapping_add(1);
                // A backstop: if the transport does not answer by the
                // attempt's end, the core times the attempt out itself.
                self.sent
                    .push_back((later(now.mono, attempt.timeout), key, seq));
                self.progress.in_flight += 1;
                self.progress.requests += 1;
                crate::machines::trace::sending(&task.id, attempt.number);
                Some(FleetStep::Send {
                    ticket: Ticket { key, seq },
                    attempt,
                })
            }
            Polled::Sleep(until) => {
                task.generation = task.generation.wrapping_add(1);
                self.timers.push(Reverse((until, key, task.generation)));
                None
            }
            Polled::Blocked { blocked, until } => {
                if let Blocked::Rate(at) = blocked {
                    self.rate_wake = Some(at);
                }
                task.queued = true;
                task.generation = task.generation.wrapping_add(1);
                if until > now.mono && Some(until) != self.rate_wake {
                    // The task's own deadline, should admission take longer.
                    self.timers.push(Reverse((until, key, task.generation)));
                }
                if front {
                    self.ready.push_front(key);
                } else {
                    self.ready.push_back(key);
                }
                None
            }
            Polled::Seen(result) => {
                let id = task.id.clone();
                self.due.push_back(key);
                self.events.push_back(FleetEvent {
                    index: key,
                    id,
                    outcome: Outcome::Seen(result),
                });
                None
            }
            Polled::Done(outcome) => {
                let task = self.tasks.remove(&key)?;
                self.finish(key, task.id, outcome);
                None
            }
        }
    }

    fn finish(&mut self, key: u64, id: InstanceId, outcome: Outcome) {
        self.progress.finished += 1;
        let ok = match &outcome {
            Outcome::Status(r) | Outcome::Seen(r) => r.is_ok(),
            Outcome::Wait(w) => matches!(w.outcome, crate::WaitOutcome::Reached(_)),
            Outcome::Interrupted => false,
        };
        if !ok {
            self.progress.failed += 1;
        }
        crate::machines::trace::finished(&id, &outcome);
        self.events.push_back(FleetEvent {
            index: key,
            id,
            outcome,
        });
    }

    fn poll_cancelled(&mut self, now: Now) -> FleetStep {
        self.progress.in_flight = 0;
        self.abandon_session_request();
        if !self.tasks.is_empty() {
            let mut started: Vec<(u64, Box<Task>)> = self.tasks.drain().collect();
            started.sort_unstable_by_key(|(k, _)| *k);
            for (key, mut task) in started {
                // A wait keeps what it saw: its polls and last status.
                let outcome = match &mut task.machine {
                    Machine::Wait(w) => Outcome::Wait(w.interrupt(now)),
                    Machine::Call(_) | Machine::Watch(_) => Outcome::Interrupted,
                };
                self.finish(key, task.id, outcome);
            }
        } else if let Some(ids) = self.ids.as_mut() {
            match ids.next() {
                Some(id) => {
                    let key = self.next_key;
                    self.next_key += 1;
                    self.progress.started += 1;
                    self.finish(key, id, Outcome::Interrupted);
                }
                None => self.ids = None,
            }
        }
        self.timers.clear();
        self.sent.clear();
        self.ready.clear();
        self.due.clear();
        match self.events.pop_front() {
            Some(e) => FleetStep::Event(e),
            None if self.ids.is_none() => FleetStep::Finished,
            None => self.poll_cancelled(now),
        }
    }
}

impl<T> Step<T> {
    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Self::Send(a) => Step::Send(a),
            Self::Wait(t) => Step::Wait(t),
            Self::Done(o) => Step::Done(f(o)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests;
