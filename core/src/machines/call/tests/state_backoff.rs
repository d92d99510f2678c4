//! `Backoff`: a failed attempt is to be tried again at `until`. A poll
//! before then waits; at or after it, the next attempt starts (signed
//! afresh). Nothing is in flight, so answers are stale.

use std::time::Duration;

use super::{Scenario, resp, running};
use crate::error::Error;
use crate::machine::{Machine, Step};
use crate::pacing::limiter::SharedLimits;

#[test]
fn retry_after_then_success_resigns() {
    let s = Scenario::new().max_attempts(3);
    let mut now = s.start();
    let mut c = s.in_flight();
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
fn polls_before_until_wait_for_it() {
    let s = Scenario::new();
    let now = s.start();
    let mut c = s.backoff();
    let until = now.mono + Duration::from_secs(1);
    assert_eq!(c.retry_at(), Some(until));
    assert_eq!(c.last_delay(), Some(Duration::from_secs(1)));
    let half = now.advance(Duration::from_millis(500));
    assert!(matches!(c.poll(half), Step::Wait(t) if t == until));
    assert_eq!(c.attempts(), 1);
}

#[test]
fn transport_error_is_ignored() {
    let s = Scenario::new();
    let now = s.start();
    let mut c = s.backoff();
    c.handle_transport_error(now, Error::timeout("read timed out", None));
    assert_eq!(c.retry_at(), Some(now.mono + Duration::from_secs(1)));
    assert!(!c.is_done());
    let later = now.advance(Duration::from_secs(1));
    let Step::Send(a) = c.poll(later) else {
        panic!()
    };
    assert_eq!(a.number, 2);
}

#[test]
fn late_response_is_ignored() {
    let s = Scenario::new();
    let now = s.start();
    let mut c = s.backoff();
    // The answer to the throttled attempt, delivered again: no status yet.
    c.handle_response(now, running());
    assert_eq!(c.retry_at(), Some(now.mono + Duration::from_secs(1)));
    assert!(!c.is_done());
}

/// Drives calls one after another against a server that always fails
/// with `status`; returns the number of requests sent.
fn drive_failing(limits: &SharedLimits, calls: usize, status: u16) -> usize {
    let mut now = Scenario::new().start();
    let mut sends = 0;
    for n in 0..calls {
        let mut c = Scenario::new()
            .max_attempts(3)
            .at(now)
            .seed(n as u64)
            .limits(limits)
            .ready();
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
    use crate::pacing::limiter::RetryBudgetConfig;
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
