//! `Ready`: no attempt in flight. A poll starts the next attempt, unless the
//! overall deadline has passed or the shared limits say wait.

use std::time::Duration;

use super::{Scenario, resp, running};
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Step};
use crate::model::InstanceState;
use crate::pacing::limiter::SharedLimits;

#[test]
fn success_first_try() {
    let s = Scenario::new().max_attempts(3);
    let now = s.start();
    let mut c = s.ready();
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
fn deadline_bounds_attempt_timeout() {
    let s = Scenario::new()
        .max_attempts(3)
        .deadline_after(Duration::from_secs(2));
    let now = s.start();
    let mut c = s.ready();
    let Step::Send(a) = c.poll(now) else { panic!() };
    assert_eq!(a.timeout, Duration::from_secs(2));
}

#[test]
fn deadline_already_passed_ends_without_sending() {
    let s = Scenario::new().deadline_after(Duration::ZERO);
    let now = s.start();
    let mut c = s.ready();
    let Step::Done(Err(e)) = c.poll(now) else {
        panic!()
    };
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(c.attempts(), 0);
    assert!(c.is_done());
}

#[test]
fn answers_before_the_first_attempt_are_ignored() {
    let s = Scenario::new();
    let now = s.start();
    let mut c = s.ready();
    c.handle_response(now, running());
    c.handle_transport_error(now, Error::timeout("read timed out", None));
    assert_eq!(c.attempts(), 0);
    assert!(!c.is_done());
    let Step::Send(a) = c.poll(now) else { panic!() };
    assert_eq!(a.number, 1);
}

#[test]
fn rate_limiter_paces_calls_and_backs_off_on_429() {
    use crate::pacing::limiter::RateLimiterConfig;
    let limits = SharedLimits::new(
        Some(RateLimiterConfig::hint(10.0).burst(1.0).increase_per_s(0.0)),
        None,
    );
    let mut now = Scenario::new().start();
    let start = now.mono;
    let mut sends = Vec::new();
    for n in 0..20u64 {
        let mut c = Scenario::new()
            .max_attempts(1)
            .at(now)
            .seed(n)
            .limits(&limits)
            .ready();
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
    // 10/s before the 429: the 10th send at 0.9 s (a token may be taken up
    // to a millisecond early, the drivers' timer resolution).
    assert!(
        sends[9] >= Duration::from_millis(899) && sends[9] <= Duration::from_millis(900),
        "{:?}",
        sends[9]
    );
    // After it (the first cut halves), 5/s: gaps of about 200 ms.
    let gap = sends[15] - sends[14];
    assert!(
        gap > Duration::from_millis(190) && gap < Duration::from_millis(210),
        "{gap:?}"
    );
}
