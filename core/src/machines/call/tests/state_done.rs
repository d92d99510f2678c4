//! `Done`: the call ended. The first poll hands out the result, every later
//! one an error; answers that come after the end change nothing.

use std::time::Duration;

use super::{Scenario, resp};
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Step};
use crate::model::InstanceState;

#[test]
fn late_response_is_ignored() {
    let s = Scenario::new();
    let now = s.start();
    let mut c = s.done_ok();
    c.handle_response(now, resp(500, &[], ""));
    let Step::Done(Ok(status)) = c.poll(now) else {
        panic!()
    };
    assert_eq!(status.state, InstanceState::Running);
    assert_eq!(c.attempts(), 1);
}

#[test]
fn late_transport_error_is_ignored() {
    let s = Scenario::new();
    let now = s.start();
    let mut c = s.done_err();
    c.handle_transport_error(now, Error::timeout("read timed out", None));
    let Step::Done(Err(e)) = c.poll(now) else {
        panic!()
    };
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(c.attempts(), 1);
}

#[test]
fn result_is_handed_out_once() {
    let s = Scenario::new();
    let now = s.start();
    let mut c = s.done_ok();
    assert!(c.is_done());
    assert_eq!(c.retry_at(), None);
    assert!(matches!(c.poll(now), Step::Done(Ok(_))));
    let Step::Done(Err(e)) = c.poll(now) else {
        panic!()
    };
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    // Nothing is sent again, however late.
    let Step::Done(Err(_)) = c.poll(now.advance(Duration::from_secs(3600))) else {
        panic!()
    };
    assert_eq!(c.attempts(), 1);
}
