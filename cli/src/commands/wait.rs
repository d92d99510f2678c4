//! `clouddc wait ID... --until STATE`: polls every id until it reaches the
//! target, enters a state it will not leave, or the deadline (from the
//! command's start) passes; one final record per id.
//!
//! Owns the wait's job (target, interval, `--timeout` as one deadline for
//! every id) and its exit rule: 0 all reached; 1 over 3 (failed) over 4
//! (timed out). Must not poll, build, print or order records itself: the
//! client's fleet polls and the shared fleet run (`fleet`) prints.

use std::time::Instant;

use clouddc_core::{Job, WaitOptions};

use crate::args::{GlobalArgs, WaitArgs};
use crate::records::Record;
use crate::settings::{self, Env};
use crate::{exit, fleet};

/// `clouddc wait`.
pub(crate) fn run(g: &GlobalArgs, env: Env<'_>, a: &WaitArgs, started: Instant) -> u8 {
    let job = || {
        let target = settings::target_state(&a.until)?;
        let options = WaitOptions::new().interval(a.interval).max_wait(a.timeout);
        Ok((
            Job::Wait {
                target: target.clone(),
                options,
            },
            Some(target.to_string()),
        ))
    };
    // `--timeout` runs from the command's start for every id.
    let deadline = started.checked_add(a.timeout);
    match fleet::run(g, env, &a.ids, started, deadline, job) {
        Ok(records) => exit_code(&records),
        Err(e) => e.exit_code(),
    }
}

/// The exit code of a set of wait records: 1 over 3 over 4.
fn exit_code(records: &[Record]) -> u8 {
    let has = |o: &str| records.iter().any(|r| r.outcome == Some(o));
    if has("error") {
        exit::FAILURE
    } else if has("failed") {
        exit::WAIT_FAILED
    } else if has("timed_out") {
        exit::TIMED_OUT
    } else {
        exit::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(outcome: &'static str) -> Record {
        Record {
            id: "i".into(),
            ok: outcome == "reached",
            state: None,
            operation_state: None,
            error: None,
            failure: None,
            outcome: Some(outcome),
            polls: Some(1),
            elapsed_ms: Some(1),
        }
    }

    #[test]
    fn wait_exit_precedence() {
        assert_eq!(exit_code(&[rec("reached")]), 0);
        assert_eq!(exit_code(&[rec("reached"), rec("timed_out")]), 4);
        assert_eq!(exit_code(&[rec("timed_out"), rec("failed")]), 3);
        assert_eq!(
            exit_code(&[rec("failed"), rec("error"), rec("timed_out")]),
            1
        );
    }
}
