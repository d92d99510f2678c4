//! Observing what a client sends: each attempt's outcome and duration, for
//! progress lines and request metrics.
//!
//! Owns the [`Observer`] trait and the record of one attempt
//! ([`AttemptRecord`]). The machines report to the observer their session
//! was given, synchronously, when an attempt ends; there is none by default,
//! and then nothing is built. Must not keep counters or any other state
//! (the core has no global state: an observer keeps its own), nor read a
//! clock (the times are the machines' `Now`).

use std::time::{Duration, Instant};

use http::StatusCode;

use crate::error::ErrorKind;

/// The service an attempt went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// The CloudDC status API.
    Clouddc,
    /// Server metadata (temporary credentials).
    Metadata,
    /// IAM (project lookup, OIDC exchanges).
    Iam,
}

impl Service {
    /// `clouddc`, `metadata` or `iam`: stable, for labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clouddc => "clouddc",
            Self::Metadata => "metadata",
            Self::Iam => "iam",
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// A response arrived with this status.
    Status(StatusCode),
    /// No response: the error's kind (`transport`, `timeout`, ...).
    Error(ErrorKind),
}

/// One attempt of a request, as it ended.
///
/// `#[non_exhaustive]`: it may report more; [`AttemptRecord::new`] makes
/// one (for example in a test of an observer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptRecord {
    /// Where it went.
    pub service: Service,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// From sending to its end.
    pub duration: Duration,
    /// When it ended (the driver's clock).
    pub ended: Instant,
    /// A 429: the server throttled it.
    pub throttled: bool,
    /// Another attempt follows it (a retry, or a resend on a new
    /// connection).
    pub retried: bool,
}

impl AttemptRecord {
    /// An attempt to `service` that ended at `ended` with `outcome`, after
    /// `duration`; not throttled, not retried.
    pub fn new(
        service: Service,
        outcome: AttemptOutcome,
        duration: Duration,
        ended: Instant,
    ) -> Self {
        Self {
            service,
            outcome,
            duration,
            ended,
            throttled: false,
            retried: false,
        }
    }
}

/// Told about every attempt a client's calls, waits and fleets make.
///
/// Called synchronously on the thread that drives the request, so it should
/// be quick (record and return). A client has none unless one is given
/// (`ClientBuilder::observer`); then nothing is built or called.
///
/// ```
/// use clouddc_core::{AttemptOutcome, AttemptRecord, Observer, Service};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::{Duration, Instant};
///
/// #[derive(Default)]
/// struct Throttles(AtomicU64);
///
/// impl Observer for Throttles {
///     fn attempt(&self, a: &AttemptRecord) {
///         if a.throttled {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// let seen = Throttles::default();
/// let mut a = AttemptRecord::new(
///     Service::Clouddc,
///     AttemptOutcome::Status(http::StatusCode::TOO_MANY_REQUESTS),
///     Duration::from_millis(3),
///     Instant::now(),
/// );
/// a.throttled = true;
/// seen.attempt(&a);
/// assert_eq!(seen.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Observer: Send + Sync {
    /// An attempt ended.
    fn attempt(&self, attempt: &AttemptRecord);
}
