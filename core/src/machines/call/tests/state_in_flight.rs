//! `InFlight`: an attempt was sent. Its answer, a transport error, or a poll
//! at its deadline ends it; each failure goes to the retry policy, which
//! picks `Backoff` or `Done`.

use super::{Scenario, resp, running};
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Step};

#[test]
fn exhausts_attempts_on_500() {
    let s = Scenario::new().max_attempts(3).seed(9);
    let mut now = s.start();
    let mut c = s.ready();
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
        let s = Scenario::new().max_attempts(5);
        let now = s.start();
        let mut c = s.in_flight();
        c.handle_response(now, resp(status, &[], body));
        assert!(matches!(c.poll(now), Step::Done(Err(_))), "{status}");
        assert_eq!(c.attempts(), 1);
    }
}

#[test]
fn silent_transport_times_out_in_core() {
    let s = Scenario::new().max_attempts(2);
    let mut now = s.start();
    let mut c = s.in_flight();
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
fn transport_error_with_attempts_left_backs_off() {
    let s = Scenario::new().max_attempts(2);
    let now = s.start();
    let mut c = s.in_flight();
    c.handle_transport_error(now, Error::transport("reset", std::io::Error::other("x")));
    assert!(!c.is_done());
    let until = c.retry_at().unwrap();
    assert!(until > now.mono);
    assert!(matches!(c.poll(now), Step::Wait(t) if t == until));
    assert_eq!(c.last_delay(), Some(until - now.mono));
    // A response to the failed attempt is stale.
    c.handle_response(now, running());
    assert_eq!(c.retry_at(), Some(until));
}
