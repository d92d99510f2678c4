//! Pacing: when a request may go, and when a failed one goes again.
//!
//! Owns the retry policy (a pure decision), the adaptive rate limiter and
//! the retry budget, the pacer that keeps every call under the gateway's
//! quoted quotas, and the seeded jitter source. Must not read a clock or
//! sleep: time is always an argument.

pub(crate) mod limiter;
pub(crate) mod pacer;
pub(crate) mod retry;
pub(crate) mod rng;
