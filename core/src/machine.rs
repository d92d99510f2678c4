//! The vocabulary every state machine of the core is driven with.
//!
//! Owns [`Now`] (both clocks, passed in), [`Attempt`] (one request to send
//! with its limits), [`Step`] (what the machine wants next) and the
//! [`Machine`] trait that drivers loop over. Must not contain logic of any
//! particular machine.
//!
//! # The driving loop
//!
//! 1. `step = machine.poll(now)`.
//! 2. `Step::Send(attempt)`: send `attempt.request`, giving up after
//!    `attempt.timeout` and reading at most `attempt.body_limit + 1` body
//!    bytes (on a new connection when `attempt.fresh_connection` is set);
//!    feed the outcome to `handle_response` or `handle_transport_error`
//!    with the time it arrived. Go to 1.
//! 3. `Step::Wait(until)`: sleep until `until`. Go to 1.
//! 4. `Step::Done(output)`: finished.

use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response};

use crate::error::Error;

/// The current time on both clocks: wall time only for `X-Sdk-Date` and
/// HTTP dates, monotonic time for every deadline and delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Wall-clock time.
    pub wall: SystemTime,
    /// Monotonic time.
    pub mono: Instant,
}

impl Now {
    /// Both clocks.
    pub fn new(wall: SystemTime, mono: Instant) -> Self {
        Self { wall, mono }
    }

    /// Both clocks moved forward by `d` (for simulated time), saturating
    /// as [`later`] does.
    pub fn advance(self, d: Duration) -> Self {
        Self {
            wall: self.wall.checked_add(d).unwrap_or(self.wall),
            mono: later(self.mono, d),
        }
    }

    /// Both clocks moved forward to monotonic time `to` (no-op if earlier).
    pub fn advance_to(self, to: Instant) -> Self {
        self.advance(to.saturating_duration_since(self.mono))
    }
}

/// The farthest a deadline is put: what "no deadline" saturates to.
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `t + d`, saturating: a sum the clock cannot hold is as good as no
/// deadline, so it becomes a time about a century away (or `t` itself on a
/// clock that cannot even hold that).
pub fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).or_else(|| t.checked_add(FAR)).unwrap_or(t)
}

/// One request to send.
///
/// `#[non_exhaustive]`: it may carry more limits; [`Attempt::new`] makes
/// one (for example to test a transport). Its `Debug` shows the body's
/// length only (a body may hold a secret, such as an OIDC id token), and
/// `http` redacts the headers marked sensitive.
#[non_exhaustive]
pub struct Attempt {
    /// The request, fully built and authenticated.
    pub request: Request<Vec<u8>>,
    /// Give up on this attempt after this long (connect to last body byte).
    pub timeout: Duration,
    /// Read at most `body_limit + 1` body bytes and hand them all over; the
    /// core decides what a longer body means.
    pub body_limit: usize,
    /// 1 for the first attempt of a call. A request sent again because its
    /// connection closed unanswered keeps its attempt's number.
    pub number: u32,
    /// Send this on a new connection, not one from a pool: the request is
    /// being sent again because a pooled connection closed before
    /// answering it ([`Error::closed_unanswered`]).
    pub fresh_connection: bool,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.request;
        f.debug_struct("Attempt")
            .field("method", r.method())
            .field("uri", r.uri())
            .field("headers", r.headers())
            .field("body_bytes", &r.body().len())
            .field("timeout", &self.timeout)
            .field("body_limit", &self.body_limit)
            .field("number", &self.number)
            .field("fresh_connection", &self.fresh_connection)
            .finish()
    }
}

impl Attempt {
    /// Attempt `number` (1 for the first) of sending `request`, within
    /// `timeout` and reading at most `body_limit + 1` body bytes.
    pub fn new(
        request: Request<Vec<u8>>,
        timeout: Duration,
        body_limit: usize,
        number: u32,
    ) -> Self {
        Self {
            request,
            timeout,
            body_limit,
            number,
            fresh_connection: false,
        }
    }

    /// This attempt, to be sent on a new connection.
    pub fn on_fresh_connection(mut self) -> Self {
        self.fresh_connection = true;
        self
    }
}

/// What a machine wants next.
#[must_use]
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once per step; boxing buys nothing
pub enum Step<T> {
    /// Send this request, then feed back the response or transport error.
    Send(Attempt),
    /// Poll again at (or after) this monotonic time.
    Wait(Instant),
    /// Finished with this output. Further polls keep answering `Done`-like
    /// outputs without sending anything.
    Done(T),
}

/// A sans-IO state machine driven by the loop in this module's docs.
pub trait Machine {
    /// What the machine ends with.
    type Output;

    /// What to do next at `now`.
    fn poll(&mut self, now: Now) -> Step<Self::Output>;

    /// Feeds the response to the last `Send`.
    fn handle_response(&mut self, now: Now, response: Response<Vec<u8>>);

    /// Feeds the failure of the last `Send` (kind `transport` or `timeout`).
    fn handle_transport_error(&mut self, now: Now, error: Error);
}
