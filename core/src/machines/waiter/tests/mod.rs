//! Tests of the waiter machine, one file per state: `state_between_polls`
//! (no poll in progress, the next one due at some time), `state_polling` (a
//! [`Call`](crate::machines::call::Call) in progress) and `state_finished` (the
//! report handed out). [`Scenario`] drives a waiter into any of them;
//! `props` checks the pacing and the deadline over random runs.

use http::Response;

use crate::machines::call::tests::resp;

mod props;
mod scenario;
mod state_between_polls;
mod state_finished;
mod state_polling;

use scenario::Scenario;

/// A 200 with the instance in state `s`.
fn state(s: &str) -> Response<Vec<u8>> {
    resp(200, &[], &format!(r#"{{"state":"{s}"}}"#))
}
