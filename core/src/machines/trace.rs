//! The machines' tracing events (feature `tracing`): one line per attempt,
//! when its result is known, with the attempt number, the HTTP status or
//! the error kind, the request id, and the delay before a retry; one line
//! per finished id. Never a header, so never a secret.
//! Must not decide anything: it only records.

use std::time::Duration;

use http::Response;

use crate::error::Error;
use crate::ids::InstanceId;

use super::fleet::Outcome;

pub(crate) struct Attempt {
    #[cfg(feature = "tracing")]
    number: u32,
    #[cfg(feature = "tracing")]
    status: Option<u16>,
    #[cfg(feature = "tracing")]
    error: Option<&'static str>,
    #[cfg(feature = "tracing")]
    request_id: Option<String>,
    #[cfg(feature = "tracing")]
    throttle: Option<crate::quota::Throttle>,
    #[cfg(feature = "tracing")]
    unanswered: bool,
}

impl Attempt {
    #[cfg(feature = "tracing")]
    pub(crate) fn of_response(number: u32, r: &Response<Vec<u8>>) -> Self {
        Self {
            number,
            status: Some(r.status().as_u16()),
            error: None,
            request_id: crate::wire::response::request_id(r.headers()),
            throttle: crate::wire::response::quoted_throttle(r),
            unanswered: false,
        }
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn of_error(number: u32, e: &Error) -> Self {
        Self {
            number,
            status: None,
            error: Some(e.kind().as_str()),
            request_id: None,
            throttle: None,
            unanswered: e.is_closed_unanswered(),
        }
    }

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn of_response(_number: u32, _r: &Response<Vec<u8>>) -> Self {
        Self {}
    }

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn of_error(_number: u32, _e: &Error) -> Self {
        Self {}
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn emit(self, id: &InstanceId, retry_in: Option<Duration>) {
        let request_id = self.request_id.as_deref().unwrap_or("-");
        let outcome = match (self.status, self.error) {
            (Some(s), _) => tracing::field::display(s.to_string()),
            (None, Some(e)) => tracing::field::display(e.to_owned()),
            (None, None) => tracing::field::display(String::new()),
        };
        let limit = self.throttle.map(tracing::field::display);
        if self.unanswered {
            tracing::debug!(
                instance_id = %id,
                attempt = self.number,
                status = outcome,
                "the connection closed unanswered; sending again on a new connection"
            );
            return;
        }
        match retry_in {
            Some(d) => tracing::debug!(
                instance_id = %id,
                attempt = self.number,
                status = outcome,
                request_id,
                limit,
                delay_ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                "{}",
                if limit.is_some() {
                    "throttled by the gateway's quota; retrying in its next window"
                } else {
                    "attempt failed; retrying"
                }
            ),
            None => tracing::debug!(
                instance_id = %id,
                attempt = self.number,
                status = outcome,
                request_id,
                limit,
                "attempt"
            ),
        }
    }

    #[cfg(not(feature = "tracing"))]
    pub(crate) fn emit(self, _id: &InstanceId, _retry_in: Option<Duration>) {}
}

#[cfg(feature = "tracing")]
pub(crate) fn sending(id: &InstanceId, number: u32) {
    tracing::trace!(instance_id = %id, attempt = number, "sending");
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn sending(_id: &InstanceId, _number: u32) {}

#[cfg(feature = "tracing")]
pub(crate) fn finished(id: &InstanceId, outcome: &Outcome) {
    let what = match outcome {
        Outcome::Status(Ok(_)) | Outcome::Seen(Ok(_)) => "ok",
        Outcome::Status(Err(e)) | Outcome::Seen(Err(e)) => e.kind().as_str(),
        Outcome::Wait(w) => w.outcome.as_str(),
        Outcome::Interrupted => "interrupted",
    };
    tracing::debug!(instance_id = %id, outcome = what, "finished");
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn finished(_id: &InstanceId, _outcome: &Outcome) {}

/// The finished line of a call driven without a fleet.
#[cfg(feature = "tracing")]
pub(crate) fn finished_call(id: &InstanceId, result: &crate::machines::call::CallResult) {
    let what = match result {
        Ok(_) => "ok",
        Err(e) => e.kind().as_str(),
    };
    tracing::debug!(instance_id = %id, outcome = what, "finished");
}

#[cfg(not(feature = "tracing"))]
pub(crate) fn finished_call(_id: &InstanceId, _result: &crate::machines::call::CallResult) {}
