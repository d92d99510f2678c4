//! Between polls: no poll in progress, the next one due at a time set by
//! the floor, the ceiling, a server's `Retry-After` and the deadline (one
//! last poll at it). A new wait starts here, its first poll due at once.

use std::time::Duration;

use super::{Scenario, state};
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Step};
use crate::machines::call::tests::{resp, t0};
use crate::machines::waiter::{WaitOptions, WaitOutcome};
use crate::model::InstanceState;

#[test]
fn transient_errors_keep_polling_then_time_out() {
    let opts = WaitOptions::new()
        .interval(Duration::from_secs(5))
        .max_wait(Duration::from_secs(30));
    let (r, _, end) = Scenario::new()
        .target(InstanceState::Running)
        .options(opts)
        .run(|n| {
            if n == 1 {
                state("pending")
            } else {
                resp(503, &[], "")
            }
        });
    let WaitOutcome::TimedOut { last, last_error } = &r.outcome else {
        panic!("{:?}", r.outcome)
    };
    assert_eq!(last.as_ref().unwrap().state, InstanceState::Pending);
    assert_eq!(last_error.as_ref().unwrap().kind(), ErrorKind::Server);
    assert!(r.elapsed >= Duration::from_secs(30));
    assert!(r.elapsed <= Duration::from_secs(35), "{:?}", r.elapsed);
    assert!(end.mono >= t0().mono);
}

#[test]
fn unknown_state_keeps_polling_until_deadline_with_last_poll_at_it() {
    let opts = WaitOptions::new()
        .interval(Duration::from_secs(7))
        .max_wait(Duration::from_secs(20));
    let (r, sends, _) = Scenario::new()
        .target(InstanceState::Running)
        .options(opts)
        .run(|_| state("hibernating"));
    let start = sends[0];
    let offsets: Vec<u64> = sends.iter().map(|t| (*t - start).as_secs()).collect();
    assert_eq!(offsets, [0, 7, 14, 20]);
    assert!(matches!(r.outcome, WaitOutcome::TimedOut { .. }));
    assert_eq!(r.polls, 4);
    assert_eq!(r.elapsed, Duration::from_secs(20));
}

#[test]
fn retry_after_stretches_the_pause() {
    let opts = WaitOptions::new()
        .interval(Duration::from_secs(1))
        .max_wait(Duration::from_secs(600));
    let mut polls = 0;
    let (r, sends, _) = Scenario::new()
        .target(InstanceState::Running)
        .options(opts)
        .run(|_| {
            polls += 1;
            // Every attempt is throttled with a 50 s hint until the 4th attempt.
            if polls < 4 {
                resp(429, &[("Retry-After", "50")], "")
            } else {
                state("running")
            }
        });
    assert!(matches!(r.outcome, WaitOutcome::Reached(_)));
    // Attempts 1-3 are one poll (max_attempts 3), the 4th is the next poll.
    let gaps: Vec<u64> = sends.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(gaps, [50, 50, 50]);
}

#[test]
fn delay_bounds() {
    let o = WaitOptions::new()
        .min_delay(Duration::from_secs(2))
        .max_delay(Duration::from_secs(30));
    assert_eq!(o.delay(1, 1.0), Duration::from_secs(2));
    assert_eq!(o.delay(2, 1.0), Duration::from_secs(4));
    assert_eq!(o.delay(10, 1.0), Duration::from_secs(30));
    assert_eq!(o.delay(10, 0.0), Duration::from_secs(2));
    assert_eq!(o.delay(u32::MAX, 0.5), Duration::from_secs(16));
}

#[test]
fn polls_before_the_next_poll_wait_for_it() {
    let opts = WaitOptions::new().interval(Duration::from_secs(3));
    let s = Scenario::new().options(opts);
    let now = s.start();
    let mut w = s.between_polls();
    let next = now.mono + Duration::from_secs(3);
    assert!(matches!(w.poll(now), Step::Wait(t) if t == next));
    let almost = now.advance(Duration::from_millis(2_999));
    assert!(matches!(w.poll(almost), Step::Wait(t) if t == next));
    assert!(w.current_call().is_none());
    assert_eq!(w.retry_at(), None);
    assert_eq!(w.polls(), 1);
    let Step::Send(a) = w.poll(now.advance_to(next)) else {
        panic!()
    };
    assert_eq!(a.number, 1);
}

#[test]
fn answers_between_polls_are_ignored() {
    let opts = WaitOptions::new().interval(Duration::from_secs(3));
    let s = Scenario::new().options(opts);
    let now = s.start();
    let mut w = s.between_polls();
    // Nothing is in flight: neither the target nor an error counts.
    w.handle_response(now, state("running"));
    w.handle_transport_error(now, Error::timeout("read timed out", None));
    assert_eq!(w.polls(), 1);
    assert_eq!(w.last_status().unwrap().state, InstanceState::Pending);
    assert!(matches!(w.poll(now), Step::Wait(t) if t == now.mono + Duration::from_secs(3)));
}

#[test]
fn first_poll_is_due_at_once() {
    let s = Scenario::new();
    let now = s.start();
    let mut w = s.fresh();
    assert_eq!(w.polls(), 0);
    assert!(w.last_status().is_none());
    let Step::Send(a) = w.poll(now) else { panic!() };
    assert_eq!(a.number, 1);
}

#[test]
fn started_after_a_shared_deadline_ends_unpolled() {
    let s = Scenario::new();
    let now = s.start();
    let mut w = s.fresh();
    w.cap_deadline(now.mono);
    let later = now.advance(Duration::from_secs(1));
    let Step::Done(r) = w.poll(later) else {
        panic!()
    };
    assert!(matches!(
        r.outcome,
        WaitOutcome::TimedOut {
            last: None,
            last_error: None
        }
    ));
    assert_eq!(r.polls, 0);
    assert_eq!(r.elapsed, Duration::from_secs(1));
}
