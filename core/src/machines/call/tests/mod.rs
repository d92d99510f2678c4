//! Tests of the call machine, one file per state of [`State`](super::State):
//! `state_ready`, `state_in_flight`, `state_backoff` and `state_done` hold
//! the scenarios that start in, or are about, that state. [`Scenario`]
//! drives a call into any of them; `props` checks the bounds over random
//! runs.
//!
//! The helpers here are shared with the other modules' tests.

use std::time::{Duration, Instant, SystemTime};

use http::Response;

use crate::config::Config;
use crate::ids::InstanceId;
use crate::machine::Now;
use crate::session::Session;
use crate::{Credentials, Endpoint, ProjectId};

mod props;
mod scenario;
mod state_backoff;
mod state_done;
mod state_in_flight;
mod state_ready;
mod throttled;

use scenario::Scenario;

/// A session of a config with `attempts` attempts per call and a 5 s
/// attempt timeout.
pub(crate) fn config(attempts: u32) -> Session {
    Session::new(settings(attempts))
}

/// A config with `attempts` attempts per call and a 5 s attempt timeout.
pub(crate) fn settings(attempts: u32) -> Config {
    Config::builder()
        .endpoint(Endpoint::parse("http://127.0.0.1:1").unwrap())
        .project_id(ProjectId::new("p").unwrap())
        .credentials(Credentials::ak_sk("AK", "SK").unwrap())
        .max_attempts(attempts)
        .attempt_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A fixed wall time (2027-01-15T08:00:00Z) and an arbitrary monotonic one.
pub(crate) fn t0() -> Now {
    Now::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        Instant::now(),
    )
}

/// A response with `status`, `headers` and `body`.
pub(crate) fn resp(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Vec<u8>> {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.as_bytes().to_vec()).unwrap()
}

fn id() -> InstanceId {
    InstanceId::new("i-1").unwrap()
}

/// A 200 with the instance `running`.
fn running() -> Response<Vec<u8>> {
    resp(200, &[], r#"{"state":"running"}"#)
}
