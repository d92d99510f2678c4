//! `clouddc status ID...`: one record per id, and exit 0 when every query
//! worked, else 1 (2 for a usage error, nothing sent).
//!
//! Owns that exit rule. Must not build, print or order records itself: the
//! shared fleet run (`fleet`) does.

use std::time::Instant;

use clouddc_core::Job;

use crate::args::{GlobalArgs, StatusArgs};
use crate::exit;
use crate::fleet;
use crate::settings::Env;

/// `clouddc status`.
pub(crate) fn run(g: &GlobalArgs, env: Env<'_>, a: &StatusArgs, started: Instant) -> u8 {
    match fleet::run(g, env, &a.ids, started, None, || Ok((Job::Status, None))) {
        Ok(records) if records.iter().all(|r| r.ok) => exit::OK,
        Ok(_) => exit::FAILURE,
        Err(e) => e.exit_code(),
    }
}
