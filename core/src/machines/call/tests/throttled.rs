//! The gateway's own 429 (no `Retry-After`, a quota in its message) and a
//! request lost with a stale keep-alive connection, from `InFlight`.

use std::time::Duration;

use super::{Scenario, resp, running};
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Step};
use crate::pacing::limiter::{RetryBudgetConfig, SharedLimits};

const QUOTA_20_PER_S: &str = r#"{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second","error_code":"APIGW.0308","request_id":"r-1"}"#;
const QUOTA_200_PER_5_MIN: &str = r#"{"error_msg":"The throttling threshold has been reached: policy api over ratelimit,limit:200,time:5 minute","error_code":"APIG.0308","request_id":"r-2"}"#;

fn throttled(body: &str) -> http::Response<Vec<u8>> {
    resp(429, &[("X-Request-Id", "r-x")], body)
}

/// Sends one attempt answered by `first`, then returns the pause the call
/// chose before the next attempt (None when it stopped instead).
fn pause_after(s: &Scenario, first: http::Response<Vec<u8>>) -> Option<Duration> {
    let now = s.start();
    let mut c = s.in_flight();
    c.handle_response(now, first);
    match c.poll(now) {
        Step::Wait(t) => Some(t - now.mono),
        Step::Done(_) => None,
        Step::Send(a) => panic!("sent again at once: {}", a.number),
    }
}

#[test]
fn a_quoted_window_is_waited_out_whole() {
    for seed in 0..50 {
        let s = Scenario::new().max_attempts(3).seed(seed);
        let pause = pause_after(&s, throttled(QUOTA_20_PER_S)).unwrap();
        assert!(
            pause >= Duration::from_secs(1) && pause <= Duration::from_millis(1100),
            "{pause:?}"
        );
    }
}

#[test]
fn no_quota_means_two_to_five_seconds() {
    for body in [
        "The request is overloaded",
        r#"{"error_code":"APIGW.0308"}"#,
        "",
    ] {
        for seed in 0..50 {
            let s = Scenario::new().max_attempts(3).seed(seed);
            let pause = pause_after(&s, throttled(body)).unwrap();
            assert!(
                pause >= Duration::from_secs(2) && pause <= Duration::from_secs(5),
                "{body}: {pause:?}"
            );
        }
    }
}

#[test]
fn an_unusable_retry_after_is_no_retry_after() {
    for value in ["soon", "-1", "1.5", "Sun, 99 Foo 2026 99:99:99 GMT"] {
        let s = Scenario::new().max_attempts(3);
        let r = resp(429, &[("Retry-After", value)], "Too Many Requests");
        let pause = pause_after(&s, r).unwrap();
        assert!(
            pause >= Duration::from_secs(2) && pause <= Duration::from_secs(5),
            "{value}: {pause:?}"
        );
    }
}

#[test]
fn retry_after_still_wins_over_the_quota() {
    let s = Scenario::new().max_attempts(3);
    let r = resp(429, &[("Retry-After", "7")], QUOTA_20_PER_S);
    assert_eq!(pause_after(&s, r), Some(Duration::from_secs(7)));
}

#[test]
fn a_long_window_is_bounded_by_the_deadline_not_max_retry_after() {
    // No deadline: five minutes, although max_retry_after is 60 s.
    let s = Scenario::new().max_attempts(3);
    let pause = pause_after(&s, throttled(QUOTA_200_PER_5_MIN)).unwrap();
    assert!(pause >= Duration::from_secs(300), "{pause:?}");
    // A deadline sooner than the next window: the 429 stands, with its quota.
    let s = Scenario::new()
        .max_attempts(3)
        .deadline_after(Duration::from_secs(120));
    let now = s.start();
    let mut c = s.in_flight();
    c.handle_response(now, throttled(QUOTA_200_PER_5_MIN));
    let Step::Done(Err(e)) = c.poll(now) else {
        panic!("retried past the deadline")
    };
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.error_code(), Some("APIG.0308"));
    assert_eq!(e.request_id(), Some("r-x"));
    let q = e.throttle().unwrap();
    assert_eq!((q.limit(), q.window()), (200, Duration::from_secs(300)));
}

#[test]
fn waiting_out_a_window_draws_nothing_from_the_budget() {
    let limits = SharedLimits::new(None, Some(RetryBudgetConfig::default().with_capacity(0)));
    let s = || Scenario::new().max_attempts(3).limits(&limits);
    // With an empty budget a 503 is not retried...
    assert_eq!(pause_after(&s(), resp(503, &[], "")), None);
    // ...nor a 429 with Retry-After (a proxy's: today's behaviour)...
    assert_eq!(
        pause_after(&s(), resp(429, &[("Retry-After", "1")], "")),
        None
    );
    // ...but the gateway's own 429 is paced, not paid for.
    assert!(pause_after(&s(), throttled(QUOTA_20_PER_S)).is_some());
    assert!(pause_after(&s(), throttled("")).is_some());
}

#[test]
fn a_quota_paces_the_next_calls_of_the_config() {
    let s = Scenario::new().max_attempts(3);
    let now = s.start();
    let mut c = s.in_flight();
    c.handle_response(now, throttled(QUOTA_20_PER_S));
    assert_eq!(s.config().learned_quotas().len(), 1);
    // A new call of the same config waits for the window to end.
    let mut next = s.ready();
    let Step::Wait(t) = next.poll(now) else {
        panic!("a new call was not held by the quota")
    };
    assert!(t - now.mono >= Duration::from_secs(1));
}

#[test]
fn a_request_lost_with_its_connection_goes_again_at_once_on_a_new_one() {
    let s = Scenario::new().max_attempts(1);
    let now = s.start();
    let mut c = s.in_flight();
    let uri: http::Uri = "http://127.0.0.1:1/v1/p/instances/i-1/status"
        .parse()
        .unwrap();
    c.handle_transport_error(
        now,
        Error::closed_unanswered(1, &uri, std::io::Error::other("eof")),
    );
    // At once, the same attempt, on a fresh connection.
    let Step::Send(a) = c.poll(now) else { panic!() };
    assert_eq!(a.number, 1);
    assert!(a.fresh_connection);
    assert_eq!(c.attempts(), 1);
    c.handle_response(now, running());
    assert!(matches!(c.poll(now), Step::Done(Ok(_))));
}

#[test]
fn a_fresh_connection_closing_unanswered_is_a_real_failure() {
    let s = Scenario::new().max_attempts(2).seed(3);
    let mut now = s.start();
    let mut c = s.in_flight();
    let uri: http::Uri = "http://127.0.0.1:1/".parse().unwrap();
    let lost = || Error::closed_unanswered(1, &uri, std::io::Error::other("eof"));
    let mut sends = vec![];
    c.handle_transport_error(now, lost());
    loop {
        match c.poll(now) {
            Step::Send(a) => {
                sends.push((a.number, a.fresh_connection));
                c.handle_transport_error(now, lost());
            }
            Step::Wait(t) => now = now.advance_to(t),
            Step::Done(r) => {
                assert_eq!(r.unwrap_err().kind(), ErrorKind::Transport);
                break;
            }
        }
    }
    // Attempt 1 again (fresh), attempt 2 (pooled), attempt 2 again (fresh).
    assert_eq!(sends, vec![(1, true), (2, false), (2, true)]);
}
