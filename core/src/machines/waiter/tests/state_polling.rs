//! Polling: a [`Call`](crate::machines::call::Call) is in progress, with its own
//! retries. When it ends, the acceptors judge its result: success or
//! failure ends the wait, anything else leads to a pause between polls.

use std::time::Duration;

use super::{Scenario, state};
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Step};
use crate::machines::call::tests::resp;
use crate::machines::waiter::{Acceptor, WaitOptions, WaitOutcome, default_failure_states, judge};
use crate::model::{InstanceState, InstanceStatus};
use crate::pacing::limiter::{RateLimiterConfig, SharedLimits};

#[test]
fn pending_then_running_is_reached() {
    let opts = WaitOptions::new().interval(Duration::from_secs(3));
    let (r, sends, _) = Scenario::new()
        .target(InstanceState::Running)
        .options(opts)
        .run(|n| state(if n < 4 { "pending" } else { "running" }));
    assert!(matches!(r.outcome, WaitOutcome::Reached(Some(_))));
    assert_eq!(r.polls, 4);
    assert_eq!(r.elapsed, Duration::from_secs(9));
    assert_eq!(sends.len(), 4);
}

#[test]
fn terminal_state_fails_fast() {
    let (r, sends, _) = Scenario::new()
        .target(InstanceState::Running)
        .run(|n| state(if n < 2 { "pending" } else { "terminated" }));
    let WaitOutcome::Failed(s) = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(s.state, InstanceState::Terminated);
    assert_eq!(sends.len(), 2);
    assert_eq!(r.outcome.as_str(), "failed");
}

#[test]
fn not_found_rules() {
    let (r, _, _) = Scenario::new().target(InstanceState::Terminated).run(|n| {
        if n < 2 {
            state("shutting_down")
        } else {
            resp(404, &[], "")
        }
    });
    assert!(
        matches!(r.outcome, WaitOutcome::Reached(None)),
        "{:?}",
        r.outcome
    );
    let (r, _, _) = Scenario::new()
        .target(InstanceState::Running)
        .run(|_| resp(404, &[], ""));
    let WaitOutcome::Error(e) = &r.outcome else {
        panic!()
    };
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(r.polls, 1);
}

#[test]
fn auth_error_ends_wait() {
    let (r, sends, _) = Scenario::new()
        .target(InstanceState::Running)
        .run(|_| resp(401, &[], ""));
    assert!(matches!(r.outcome, WaitOutcome::Error(_)));
    assert_eq!(sends.len(), 1);
}

#[test]
fn default_acceptors() {
    use InstanceState as S;
    let ok = |s: S| Ok(InstanceStatus::new(s));
    let fr = default_failure_states(&S::Running);
    assert_eq!(judge(&S::Running, &fr, &ok(S::Running)), Acceptor::Success);
    for s in [S::Terminated, S::ShuttingDown, S::Error, S::Failed] {
        assert_eq!(judge(&S::Running, &fr, &ok(s)), Acceptor::Failure);
    }
    for s in [
        S::Pending,
        S::Stopped,
        S::Stopping,
        S::Reinstalling,
        S::Unknown("x".into()),
    ] {
        assert_eq!(judge(&S::Running, &fr, &ok(s)), Acceptor::NoMatch);
    }
    let ft = default_failure_states(&S::Terminated);
    assert_eq!(
        judge(&S::Terminated, &ft, &ok(S::ShuttingDown)),
        Acceptor::NoMatch
    );
    assert_eq!(judge(&S::Terminated, &ft, &ok(S::Error)), Acceptor::Failure);
    assert_eq!(
        judge(&S::Running, &fr, &Err(Error::timeout("t", None))),
        Acceptor::Retry
    );
}

#[test]
fn retries_stay_inside_one_poll() {
    let s = Scenario::new().max_attempts(3);
    let now = s.start();
    let mut w = s.polling();
    w.handle_transport_error(now, Error::timeout("read timed out", None));
    // The poll pauses before its retry; it has not ended.
    let at = w.retry_at().unwrap();
    assert!(matches!(w.poll(now), Step::Wait(t) if t == at));
    assert_eq!(w.polls(), 0);
    let now = now.advance_to(at);
    let Step::Send(a) = w.poll(now) else { panic!() };
    assert_eq!(a.number, 2);
    assert_eq!(w.current_call().unwrap().attempts(), 2);
    w.handle_response(now, state("running"));
    let Step::Done(r) = w.poll(now) else { panic!() };
    assert!(matches!(r.outcome, WaitOutcome::Reached(Some(_))));
    assert_eq!(r.polls, 1);
}

#[test]
fn poll_held_by_the_rate_limiter_at_the_deadline_is_not_made() {
    // One request per ten seconds: poll 2 is not admitted before 10 s.
    let limits = SharedLimits::new(Some(RateLimiterConfig::cap(0.1)), None);
    let opts = WaitOptions::new()
        .interval(Duration::from_secs(1))
        .max_wait(Duration::from_secs(5));
    let s = Scenario::new().options(opts).limits(&limits);
    let start = s.start();
    let mut w = s.between_polls();
    let mut now = start;
    let report = loop {
        match w.poll(now) {
            Step::Send(_) => panic!("sent past the rate limit at {:?}", now.mono - start.mono),
            Step::Wait(t) => {
                // Never asked to wait past the deadline.
                assert!(t <= start.mono + Duration::from_secs(5));
                now = now.advance_to(t);
            }
            Step::Done(r) => break r,
        }
    };
    let WaitOutcome::TimedOut { last, last_error } = &report.outcome else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(last.as_ref().unwrap().state, InstanceState::Pending);
    assert!(last_error.is_none());
    assert_eq!(report.polls, 1);
    assert_eq!(report.elapsed, Duration::from_secs(5));
}
