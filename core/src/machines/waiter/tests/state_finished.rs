//! Finished: the report was handed out. Later polls get an error report
//! instead of a new wait, and late answers change nothing.

use super::{Scenario, state};
use crate::error::{Error, ErrorKind};
use crate::machine::{Machine, Step};
use crate::machines::call::tests::resp;
use crate::machines::waiter::WaitOutcome;

#[test]
fn report_says_how_the_wait_ended() {
    let (w, report) = Scenario::new().finished();
    assert!(matches!(report.outcome, WaitOutcome::Reached(Some(_))));
    assert_eq!(report.outcome.as_str(), "reached");
    assert_eq!(report.polls, 1);
    assert!(report.elapsed.is_zero());
    assert!(w.current_call().is_none());
    assert_eq!(w.retry_at(), None);
}

#[test]
fn polling_again_reports_an_error() {
    let s = Scenario::new();
    let now = s.start();
    let (mut w, _) = s.finished();
    let Step::Done(again) = w.poll(now) else {
        panic!()
    };
    let WaitOutcome::Error(e) = &again.outcome else {
        panic!("{:?}", again.outcome)
    };
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(again.polls, 1);
}

#[test]
fn late_answers_are_ignored() {
    let s = Scenario::new();
    let now = s.start();
    let (mut w, _) = s.finished();
    w.handle_response(now, state("terminated"));
    w.handle_response(now, resp(503, &[], ""));
    w.handle_transport_error(now, Error::timeout("read timed out", None));
    assert_eq!(w.polls(), 1);
    let Step::Done(again) = w.poll(now) else {
        panic!()
    };
    assert!(matches!(again.outcome, WaitOutcome::Error(_)));
    assert_eq!(again.polls, 1);
}
