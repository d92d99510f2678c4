//! Observing what a client sends: each attempt's outcome and duration, for
//! progress lines and request metrics.
//!
//! Owns the [`Observer`] trait and the record of one attempt
//! ([`AttemptRecord`]). The machines report to the observer their session
//! was given, synchronously, when an attempt ends; there is none by default,
//! and then nothing is built. Must not keep counters or any other state
//! (the core has no global state: an observer keeps its own), nor read a
//! clock (the times are the machines' `Now`).

use std::fmt;
use std::sync::Arc;
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
    /// IAM's project lookup.
    Iam,
    /// IAM's OIDC federation exchanges (id token, then security token).
    Oidc,
}

impl Service {
    /// `clouddc`, `metadata`, `iam` or `oidc`: stable, for labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clouddc => "clouddc",
            Self::Metadata => "metadata",
            Self::Iam => "iam",
            Self::Oidc => "oidc",
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
    /// The attempt's number within its call (1-based; 1 for the metadata
    /// and IAM requests behind the credentials).
    pub number: u32,
    /// A request sent again at once on a new connection, because the
    /// pooled one closed unanswered: the same attempt, not a retry.
    pub resent: bool,
    /// A 429: the server throttled it.
    pub throttled: bool,
    /// A retry follows it (a new attempt of the same call; a resend on a
    /// new connection is not one).
    pub retried: bool,
}

impl AttemptRecord {
    /// Attempt 1 to `service` that ended at `ended` with `outcome`, after
    /// `duration`; throttled when `outcome` is a 429; not resent, not
    /// retried.
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
            number: 1,
            resent: false,
            throttled: outcome == AttemptOutcome::Status(StatusCode::TOO_MANY_REQUESTS),
            retried: false,
        }
    }

    /// Whether this attempt is a retry: after its call's first, and not a
    /// resend of the same attempt on a new connection (what
    /// `clouddc_api_retries_total` counts).
    pub fn is_retry(&self) -> bool {
        self.number > 1 && !self.resent
    }

    /// The label of the outcome: the HTTP status (`200`, `429`) or the
    /// error kind (`transport`, `timeout`).
    pub fn code(&self) -> std::borrow::Cow<'static, str> {
        match self.outcome {
            AttemptOutcome::Status(s) => std::borrow::Cow::Owned(s.as_u16().to_string()),
            AttemptOutcome::Error(k) => std::borrow::Cow::Borrowed(k.as_str()),
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
/// let a = AttemptRecord::new(
///     Service::Clouddc,
///     AttemptOutcome::Status(http::StatusCode::TOO_MANY_REQUESTS),
///     Duration::from_millis(3),
///     Instant::now(),
/// );
/// assert!(a.throttled);
/// assert_eq!(a.code(), "429");
/// seen.attempt(&a);
/// assert_eq!(seen.0.load(Ordering::Relaxed), 1);
/// ```
pub trait Observer: Send + Sync {
    /// An attempt ended.
    fn attempt(&self, attempt: &AttemptRecord);

    /// A fleet's rate limiter now admits `requests_per_second` (told when
    /// the rate changes; a fleet without a limiter tells nothing).
    fn rate(&self, requests_per_second: f64) {
        let _ = requests_per_second;
    }
}

/// The observer a session was given, if any: what the machines report to.
#[derive(Clone, Default)]
pub(crate) struct Observed(Option<Arc<dyn Observer>>);

impl Observed {
    pub(crate) fn new(observer: Option<Arc<dyn Observer>>) -> Self {
        Self(observer)
    }

    /// Reports an attempt; `record` is built only when there is an
    /// observer.
    pub(crate) fn attempt(&self, record: impl FnOnce() -> AttemptRecord) {
        if let Some(o) = &self.0 {
            o.attempt(&record());
        }
    }

    /// Reports a limiter's rate.
    pub(crate) fn rate(&self, requests_per_second: f64) {
        if let Some(o) = &self.0 {
            o.rate(requests_per_second);
        }
    }
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Observed"
        } else {
            "Unobserved"
        })
    }
}

/// The names, help texts and buckets of the request metrics, as
/// `clouddc exporter` serves them and the adapters' `metrics` feature
/// records them: one list for both. Counters are named without their
/// `_total` suffix, which the exposition adds.
pub mod metric {
    /// Counter, label `code` ([`AttemptRecord::code`](super::AttemptRecord::code)).
    pub const API_REQUESTS: &str = "clouddc_api_requests";
    /// Help text of [`API_REQUESTS`].
    pub const API_REQUESTS_HELP: &str =
        "Status requests sent (resends included), by HTTP status or error kind";
    /// Counter.
    pub const API_RETRIES: &str = "clouddc_api_retries";
    /// Help text of [`API_RETRIES`].
    pub const API_RETRIES_HELP: &str = "Status attempts after a call's first";
    /// Counter, labels `source` (`metadata`, `iam`, `oidc`) and `code`.
    pub const IDENTITY_REQUESTS: &str = "clouddc_identity_requests";
    /// Help text of [`IDENTITY_REQUESTS`].
    pub const IDENTITY_REQUESTS_HELP: &str =
        "Credential and project requests, by source and HTTP status or error kind";
    /// Histogram, in seconds, per status attempt.
    pub const API_REQUEST_DURATION: &str = "clouddc_api_request_duration_seconds";
    /// Help text of [`API_REQUEST_DURATION`].
    pub const API_REQUEST_DURATION_HELP: &str = "Duration of each status attempt";
    /// The buckets of [`API_REQUEST_DURATION`], in seconds.
    pub const API_REQUEST_DURATION_BUCKETS: [f64; 12] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];
    /// Counter.
    pub const API_THROTTLED: &str = "clouddc_api_throttled";
    /// Help text of [`API_THROTTLED`].
    pub const API_THROTTLED_HELP: &str = "429 answers to status requests";
    /// Gauge.
    pub const RATE_LIMIT: &str = "clouddc_rate_limit_requests_per_second";
    /// Help text of [`RATE_LIMIT`].
    pub const RATE_LIMIT_HELP: &str = "The rate limiter's current rate";
}
