//! Test doubles for code built on this crate (feature `test-util`): a fake
//! clock that jumps straight to every deadline, and transports that replay a
//! script, capture requests, or never answer.
//!
//! Owns nothing the real path uses. Must not be needed in production.
//!
//! ```
//! use clouddc_core::test_util::{FakeClock, Replay};
//! use clouddc_core::run;
//! use clouddc_core::{Call, Config, Session, Credentials, Endpoint, InstanceId, ProjectId, ErrorKind};
//! use std::time::Duration;
//!
//! let session = Session::new(Config::builder()
//!     .endpoint(Endpoint::parse("https://clouddc.example.com")?)
//!     .project_id(ProjectId::new("p1")?)
//!     .credentials(Credentials::token("t")?)
//!     .build()?);
//! let clock = FakeClock::new();
//! let replay = Replay::new([
//!     Replay::status(429, &[("Retry-After", "3")], "slow down"),
//!     Replay::status(200, &[], r#"{"state":"running"}"#),
//! ]);
//! let mut call = Call::new(&session, InstanceId::new("i-1")?, clock.now(), 1);
//! let status = run(&mut call, &replay, &clock)?;
//! assert_eq!(status.state.as_str(), "running");
//! assert_eq!(clock.elapsed(), Duration::from_secs(3)); // no real waiting
//! replay.assert_done(); // every scripted answer was used
//! let requests = replay.requests();
//! assert_eq!(requests[0].uri().path(), "/v1/p1/instances/i-1/status");
//! # Ok::<(), clouddc_core::Error>(())
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response};

use crate::error::Error;
use crate::machine::{Attempt, Now};
use crate::transport::{AsyncClock, AsyncTransport, Clock, Transport};

/// A clock that starts at a fixed wall time and jumps to every deadline it
/// is asked to sleep until. Implements both [`Clock`] and [`AsyncClock`].
#[derive(Debug)]
pub struct FakeClock {
    start: Now,
    now: Mutex<Now>,
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeClock {
    /// Starts at 2026-11-28T10:15:00Z.
    #[allow(clippy::disallowed_methods)] // an arbitrary monotonic origin
    pub fn new() -> Self {
        let start = Now::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_860_900),
            Instant::now(),
        );
        Self {
            start,
            now: Mutex::new(start),
        }
    }

    /// The current fake time.
    pub fn now(&self) -> Now {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves the clock forward.
    pub fn advance(&self, d: Duration) {
        let mut g = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = g.advance(d);
    }

    /// Fake time passed since creation.
    pub fn elapsed(&self) -> Duration {
        self.now().mono - self.start.mono
    }

    fn jump(&self, until: Instant) {
        let mut g = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = g.advance_to(until);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Now {
        Self::now(self)
    }
    fn sleep_until(&self, until: Instant) {
        self.jump(until);
    }
}

impl AsyncClock for FakeClock {
    fn now(&self) -> Now {
        Self::now(self)
    }
    fn sleep_until(&self, until: Instant) -> impl Future<Output = ()> + Send {
        self.jump(until);
        std::future::ready(())
    }
}

/// One scripted answer.
pub type Answer = Result<Response<Vec<u8>>, Error>;

/// A transport that answers from a script and records every request.
/// Running out of script answers with a transport error.
#[derive(Debug, Default)]
pub struct Replay {
    script: Mutex<VecDeque<Answer>>,
    seen: Mutex<Vec<Request<Vec<u8>>>>,
}

impl Replay {
    /// A replay of these answers, in order.
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        Self {
            script: Mutex::new(answers.into_iter().collect()),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// A response with this status, headers and body.
    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body.as_bytes().to_vec())
            .map_err(|e| Error::invalid_input(format!("bad scripted response: {e}")))
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<Request<Vec<u8>>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Panics unless every scripted answer was used.
    pub fn assert_done(&self) {
        let left = self
            .script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        assert!(left == 0, "{left} scripted answer(s) were not used");
    }

    fn answer(&self, attempt: Attempt) -> Answer {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(attempt.request);
        self.script
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
            .unwrap_or_else(|| {
                Err(Error::transport(
                    "replay script exhausted",
                    std::io::Error::other("no more scripted answers"),
                ))
            })
    }
}

impl Transport for Replay {
    fn send(&self, attempt: Attempt) -> Answer {
        self.answer(attempt)
    }
}

impl AsyncTransport for Replay {
    fn send(&self, attempt: Attempt) -> impl Future<Output = Answer> + Send {
        std::future::ready(self.answer(attempt))
    }
}

/// An async transport that never answers (the driver's timeout ends each
/// attempt).
#[derive(Debug, Default, Clone, Copy)]
pub struct NeverAnswers;

impl AsyncTransport for NeverAnswers {
    fn send(&self, _attempt: Attempt) -> impl Future<Output = Answer> + Send {
        std::future::pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machines::call::tests::config;
    use crate::transport::run_async;
    use crate::{Call, ErrorKind, InstanceId};
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn never_answers_times_out_each_attempt() {
        let clock = FakeClock::new();
        let mut call = Call::new(&config(3), InstanceId::new("i").unwrap(), clock.now(), 1);
        let mut fut = pin!(run_async(&mut call, &NeverAnswers, &clock));
        let mut cx = Context::from_waker(Waker::noop());
        let err = loop {
            if let Poll::Ready(r) = fut.as_mut().poll(&mut cx) {
                break r.unwrap_err();
            }
        };
        assert_eq!(err.kind(), ErrorKind::Timeout);
        // Three attempts of 5 s each plus two short backoffs.
        assert!(
            clock.elapsed() >= Duration::from_secs(15),
            "{:?}",
            clock.elapsed()
        );
        assert!(
            clock.elapsed() < Duration::from_secs(17),
            "{:?}",
            clock.elapsed()
        );
    }

    #[test]
    fn replay_exhaustion_is_a_transport_error() {
        let clock = FakeClock::new();
        let replay = Replay::new([]);
        let mut call = Call::new(&config(1), InstanceId::new("i").unwrap(), clock.now(), 1);
        let err = crate::transport::run(&mut call, &replay, &clock).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport);
        assert_eq!(replay.requests().len(), 1);
    }
}
