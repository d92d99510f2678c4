//! The transport seam and the drivers that run a [`Machine`] over it.
//!
//! Owns the two small traits a transport implements ([`Transport`],
//! blocking; [`AsyncTransport`], async), the clocks a driver needs
//! ([`Clock`], [`AsyncClock`]), and the one driving loop in blocking and
//! async form. Must not implement any transport, clock or runtime: those
//! live in the adapter crates (or in your code).
//!
//! A transport sends `attempt.request`, gives up after `attempt.timeout`,
//! reads at most `attempt.body_limit + 1` body bytes, never follows
//! redirects, and maps its failures onto [`Error::transport`] or
//! [`Error::timeout`], keeping the cause as `source()`; a connection that
//! closed or reset before any response byte is [`Error::closed_unanswered`],
//! and an attempt with `fresh_connection` set goes on a new connection.
//! Closures work:
//!
//! ```
//! use clouddc_core::{run, Clock, Attempt, Error, Now};
//! # use clouddc_core::{Call, Config, Session, Credentials, Endpoint, InstanceId, ProjectId, InstanceState};
//! # use std::time::{Instant, SystemTime};
//! struct FakeClock;
//! impl Clock for FakeClock {
//!     fn now(&self) -> Now { Now::new(SystemTime::UNIX_EPOCH, Instant::now()) }
//!     fn sleep_until(&self, _until: Instant) {}
//! }
//! let transport = |_attempt: Attempt| -> Result<http::Response<Vec<u8>>, Error> {
//!     Ok(http::Response::new(br#"{"state":"running"}"#.to_vec()))
//! };
//! # let session = Session::new(Config::builder().endpoint(Endpoint::parse("http://127.0.0.1:1")?)
//! #     .project_id(ProjectId::new("p")?).credentials(Credentials::token("t")?).build()?);
//! let mut call = Call::new(&session, InstanceId::new("i-1")?, FakeClock.now(), 1);
//! let status = run(&mut call, &transport, &FakeClock)?;
//! assert_eq!(status.state, InstanceState::Running);
//! # Ok::<(), clouddc_core::Error>(())
//! ```

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use http::Response;

use crate::error::Error;
use crate::ids::InstanceId;
use crate::machine::{Attempt, Machine, Now, Step, later};
use crate::machines::fleet::{Fleet, FleetEvent, FleetStep, Ticket};

/// A blocking transport: one method.
pub trait Transport {
    /// Sends one attempt and returns the response (status, headers, at most
    /// `body_limit + 1` body bytes) or a `transport`/`timeout` error.
    fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, Error>;
}

impl<F> Transport for F
where
    F: Fn(Attempt) -> Result<Response<Vec<u8>>, Error>,
{
    fn send(&self, attempt: Attempt) -> Result<Response<Vec<u8>>, Error> {
        self(attempt)
    }
}

/// An async transport: one method.
pub trait AsyncTransport {
    /// Sends one attempt; see [`Transport::send`].
    fn send(
        &self,
        attempt: Attempt,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, Error>> + Send;
}

impl<F, Fut> AsyncTransport for F
where
    F: Fn(Attempt) -> Fut,
    Fut: Future<Output = Result<Response<Vec<u8>>, Error>> + Send,
{
    fn send(
        &self,
        attempt: Attempt,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, Error>> + Send {
        self(attempt)
    }
}

/// The clocks and the sleep of a blocking driver.
pub trait Clock {
    /// The current time on both clocks.
    fn now(&self) -> Now;
    /// Blocks until `until` (monotonic).
    fn sleep_until(&self, until: Instant);
}

/// The clocks and the sleep of an async driver.
pub trait AsyncClock {
    /// The current time on both clocks.
    fn now(&self) -> Now;
    /// Completes at `until` (monotonic).
    fn sleep_until(&self, until: Instant) -> impl Future<Output = ()> + Send;
}

/// Runs a machine to completion over a blocking transport.
pub fn run<M: Machine>(
    machine: &mut M,
    transport: &impl Transport,
    clock: &impl Clock,
) -> M::Output {
    loop {
        match machine.poll(clock.now()) {
            Step::Send(attempt) => match transport.send(attempt) {
                Ok(response) => machine.handle_response(clock.now(), response),
                Err(e) => machine.handle_transport_error(clock.now(), e),
            },
            Step::Wait(until) => clock.sleep_until(until),
            Step::Done(out) => return out,
        }
    }
}

/// What a request ended with, for a fleet: its ticket and its result.
pub type Ended = (Ticket, Result<Response<Vec<u8>>, Error>);

/// The blocking driver of a [`Fleet`], up to its next event (`None` once
/// every id has finished). `cancelled` is asked before every step (true:
/// the fleet is cancelled, and every unfinished id ends interrupted);
/// `start` starts sending one request (it may send it inline and answer at
/// once; it is told how many requests are in flight, that one included),
/// and `wait` waits until the given time for any request to end, or for a
/// cancel (answering `None` when no request ended).
///
/// ```
/// use clouddc_core::{next_fleet_event, Clock, Config, Credentials, Endpoint, Fleet,
///     FleetOptions, InstanceId, Job, Now, ProjectId, Session, Transport};
/// # use std::time::{Instant, SystemTime};
/// # struct C; impl Clock for C { fn now(&self) -> Now { Now::new(SystemTime::UNIX_EPOCH, Instant::now()) } fn sleep_until(&self, _: Instant) {} }
/// let session = Session::new(Config::builder().endpoint(Endpoint::parse("http://127.0.0.1:1")?)
///     .project_id(ProjectId::new("p")?).credentials(Credentials::token("t")?).build()?);
/// let transport = |_a| Ok(http::Response::new(br#"{"state":"running"}"#.to_vec()));
/// let ids = ["a", "b"].map(|s| InstanceId::new(s).unwrap());
/// let mut fleet = Fleet::new(&session, Job::Status, ids, FleetOptions::new());
/// let mut done = 0;
/// while let Some(_event) = next_fleet_event(&mut fleet, &C, || false,
///     |ticket, attempt, _| Some((ticket, transport.send(attempt))),
///     |until| { C.sleep_until(until); None }) {
///     done += 1;
/// }
/// assert_eq!(done, 2);
/// # Ok::<(), clouddc_core::Error>(())
/// ```
pub fn next_fleet_event<I: Iterator<Item = InstanceId>>(
    fleet: &mut Fleet<I>,
    clock: &impl Clock,
    cancelled: impl Fn() -> bool,
    mut start: impl FnMut(Ticket, Attempt, usize) -> Option<Ended>,
    mut wait: impl FnMut(Instant) -> Option<Ended>,
) -> Option<FleetEvent> {
    loop {
        if !fleet.is_cancelled() && cancelled() {
            fleet.cancel();
        }
        let ended = match fleet.poll(clock.now()) {
            FleetStep::Send { ticket, attempt } => {
                let in_flight = fleet.progress().in_flight;
                start(ticket, attempt, in_flight)
            }
            FleetStep::Event(e) => return Some(e),
            FleetStep::Finished => return None,
            FleetStep::Wait(until) => wait(until),
        };
        if let Some((ticket, result)) = ended {
            fleet.handle(clock.now(), ticket, result);
        }
    }
}

/// Runs a machine to completion over an async transport. Each attempt also
/// races the clock, so a transport that ignores `attempt.timeout` still
/// cannot hang a call.
pub async fn run_async<M: Machine>(
    machine: &mut M,
    transport: &impl AsyncTransport,
    clock: &impl AsyncClock,
) -> M::Output {
    loop {
        let now = clock.now();
        match machine.poll(now) {
            Step::Send(attempt) => {
                let deadline = later(now.mono, attempt.timeout);
                let number = attempt.number;
                let mut send = pin!(transport.send(attempt));
                let mut timer = pin!(clock.sleep_until(deadline));
                let outcome = std::future::poll_fn(|cx| {
                    if let Poll::Ready(r) = send.as_mut().poll(cx) {
                        return Poll::Ready(Some(r));
                    }
                    timer.as_mut().poll(cx).map(|()| None)
                })
                .await;
                match outcome {
                    Some(Ok(response)) => machine.handle_response(clock.now(), response),
                    Some(Err(e)) => machine.handle_transport_error(clock.now(), e),
                    None => machine.handle_transport_error(
                        clock.now(),
                        Error::timeout(format!("attempt {number} timed out"), None),
                    ),
                }
            }
            Step::Wait(until) => clock.sleep_until(until).await,
            Step::Done(out) => return out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machines::call::tests::{config, resp};
    use crate::test_util::FakeClock;
    use crate::{Call, ErrorKind, InstanceId};
    use std::cell::RefCell;
    use std::sync::Mutex;
    use std::task::{Context, Waker};
    use std::time::Duration;

    #[test]
    fn blocking_driver_replays_a_script() {
        let clock = FakeClock::new();
        let script = RefCell::new(vec![
            Ok(resp(200, &[], r#"{"state":"running"}"#)),
            Ok(resp(429, &[("Retry-After", "2")], "")),
            Err(Error::transport(
                "refused",
                std::io::Error::other("refused"),
            )),
        ]);
        let seen = RefCell::new(Vec::new());
        let transport = |a: Attempt| {
            seen.borrow_mut().push((a.number, clock.now().mono));
            script.borrow_mut().pop().unwrap()
        };
        let mut call = Call::new(&config(3), InstanceId::new("i").unwrap(), clock.now(), 1);
        let status = run(&mut call, &transport, &clock).unwrap();
        assert_eq!(status.state.as_str(), "running");
        let seen = seen.into_inner();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2].1 - seen[1].1, Duration::from_secs(2));
        assert!(script.into_inner().is_empty());
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    #[test]
    fn async_driver_times_out_a_hanging_transport() {
        let clock = FakeClock::new();
        let count = Mutex::new(0);
        let transport = |_a: Attempt| {
            *count.lock().unwrap() += 1;
            std::future::pending::<Result<Response<Vec<u8>>, Error>>()
        };
        let mut call = Call::new(&config(2), InstanceId::new("i").unwrap(), clock.now(), 1);
        let start = clock.now().mono;
        let err = block_on(run_async(&mut call, &transport, &clock)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(*count.lock().unwrap(), 2);
        let elapsed = clock.now().mono - start;
        assert!(
            elapsed >= Duration::from_secs(10) && elapsed <= Duration::from_secs(11),
            "{elapsed:?}"
        );
    }

    #[test]
    fn a_cancel_reaches_a_fleet_that_sleeps_between_polls() {
        use crate::{Fleet, FleetOptions, InstanceState, Job, Outcome, WaitOptions};
        let clock = FakeClock::new();
        let hourly = WaitOptions::new().interval(Duration::from_secs(3600));
        let job = Job::wait(InstanceState::Running, hourly);
        let ids = [InstanceId::new("a").unwrap()];
        let mut fleet = Fleet::new(&config(3), job, ids, FleetOptions::new());
        let cancel = std::cell::Cell::new(false);
        let mut waits = 0;
        let event = next_fleet_event(
            &mut fleet,
            &clock,
            || cancel.get(),
            |ticket, _attempt, _| Some((ticket, Ok(resp(200, &[], r#"{"state":"pending"}"#)))),
            |_until| {
                // The signal arrives while the fleet sleeps.
                waits += 1;
                cancel.set(true);
                None
            },
        );
        // The wait ends interrupted, keeping its one poll.
        let Some(Outcome::Wait(report)) = event.map(|e| e.outcome) else {
            panic!("not a wait's end")
        };
        assert!(matches!(
            report.outcome,
            crate::WaitOutcome::Interrupted { last: Some(_) }
        ));
        assert_eq!(report.polls, 1);
        assert_eq!(waits, 1, "it went back to sleep after the cancel");
    }
}
