//! Decisions: what the heart tells the server shell to do with one request
//! ([`Decision`], [`Delivery`]), and how a fault that fired reshapes or
//! replaces the normal answer.
//!
//! Owns the vocabulary between the sans-IO heart and the shell. Must not
//! decide whether a fault fires (the [`Faults`](crate::Faults) draw does,
//! asked by the heart) nor perform a delivery (the shell does: sleeping,
//! stalling, resetting are IO).

use std::time::Duration;

use crate::faults::{CloseWith, FaultKind, Fired};
use crate::reply::{self, Reply};

/// How the server shell delivers a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Send this response.
    Respond(Reply),
    /// Send nothing for `hold`, then close the connection.
    StallHeaders {
        /// How long to hold the connection.
        hold: Duration,
    },
    /// Send the status, the headers (with the full `Content-Length`) and the
    /// first `after_bytes` of the body; then one byte per `trickle` if set;
    /// close the connection if the body is still incomplete after `hold`.
    StallBody {
        /// The response whose body is stalled.
        reply: Reply,
        /// Body bytes sent at once.
        after_bytes: usize,
        /// Then one byte per this interval.
        trickle: Option<Duration>,
        /// Give up (close) after this long.
        hold: Duration,
    },
    /// Reset the connection (TCP RST) without a response.
    Reset,
    /// Close the connection (FIN) without a response, at once.
    Close,
}

impl Delivery {
    /// The response sent, if one is sent at all (a stalled body's response
    /// included), to stamp it.
    pub(crate) fn reply_mut(&mut self) -> Option<&mut Reply> {
        match self {
            Self::Respond(r) | Self::StallBody { reply: r, .. } => Some(r),
            _ => None,
        }
    }

    /// How a connection found stale is closed, unanswered.
    pub(crate) fn close(close: CloseWith) -> Self {
        match close {
            CloseWith::Reset => Self::Reset,
            CloseWith::Eof => Self::Close,
        }
    }

    /// How a fault that fired reshapes or replaces the `normal` answer.
    pub(crate) fn faulty(fired: Fired, normal: Reply) -> Self {
        match fired {
            Fired::Reset => Self::Reset,
            Fired::StallHeaders(s) => Self::StallHeaders { hold: s.hold },
            Fired::StallBody(s) => Self::StallBody {
                reply: normal,
                after_bytes: s.after_bytes,
                trickle: s.trickle,
                hold: s.hold,
            },
            Fired::ServerError(s) => Self::Respond(reply::server_error(s.status)),
            Fired::Html502 => Self::Respond(reply::html_502()),
            Fired::Oversized(o) => {
                let mut r = normal;
                r.body = reply::pad_json(&r.body, o.bytes);
                Self::Respond(r)
            }
            Fired::InvalidJson => {
                let mut r = normal;
                r.body = r.body.slice(..r.body.len() / 2);
                Self::Respond(r)
            }
        }
    }
}

/// What to do with one request.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The request id (also in the reply's `X-Request-Id`, when one is sent).
    pub request_id: String,
    /// Wait this long before delivering (added latency).
    pub delay: Duration,
    /// What to send.
    pub delivery: Delivery,
    /// The fault that shaped this decision, if any.
    pub fault: Option<FaultKind>,
}

impl Decision {
    /// The response to send, if one is sent at all (a stalled body's
    /// response included).
    pub fn reply(&self) -> Option<&Reply> {
        match &self.delivery {
            Delivery::Respond(r) | Delivery::StallBody { reply: r, .. } => Some(r),
            _ => None,
        }
    }
}
