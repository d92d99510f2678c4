//! The request metrics through the `metrics` facade (feature `metrics`).
//!
//! Owns [`MetricsObserver`]: an [`Observer`] that records every attempt and
//! the limiter's rate into whatever `metrics` recorder the application
//! installed, under the names of [`metric`] (the series `clouddc
//! exporter` serves). Must not install a recorder, keep counters of its own,
//! or read a clock: the facade and the recorder hold the state, the
//! attempt records hold the times.

use crate::observe::{AttemptRecord, Observer, Service, metric};

/// Records the request metrics through the `metrics` facade: give it to a
/// client (`ClientBuilder::observer`) and install a recorder (for example
/// `metrics-exporter-prometheus`) as the application does for its own
/// metrics.
///
/// | series | kind | labels |
/// |---|---|---|
/// | `clouddc_api_requests_total` | counter | `code`: HTTP status or error kind |
/// | `clouddc_api_retries_total` | counter | |
/// | `clouddc_identity_requests_total` | counter | `source` (`metadata`, `iam`, `oidc`), `code` |
/// | `clouddc_api_request_duration_seconds` | histogram | |
/// | `clouddc_api_throttled_total` | counter | |
/// | `clouddc_rate_limit_requests_per_second` | gauge | |
///
/// ```
/// use std::sync::Arc;
/// use clouddc_core::{AttemptOutcome, AttemptRecord, MetricsObserver, Observer, Service};
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
///
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || {
///     let observer: Arc<dyn Observer> = Arc::new(MetricsObserver::new());
///     let ok = AttemptRecord::new(
///         Service::Clouddc,
///         AttemptOutcome::Status(http::StatusCode::OK),
///         std::time::Duration::from_millis(12),
///         std::time::Instant::now(),
///     );
///     observer.attempt(&ok);
/// });
/// let requests = snapshotter
///     .snapshot()
///     .into_vec()
///     .into_iter()
///     .find(|(k, ..)| k.key().name() == "clouddc_api_requests_total");
/// assert!(matches!(requests, Some((_, _, _, DebugValue::Counter(1)))));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsObserver {
    _private: (),
}

impl MetricsObserver {
    /// An observer recording into the installed recorder; it describes the
    /// series (help text and unit) on its first use of each.
    pub fn new() -> Self {
        Self::default()
    }
}

fn total(name: &str) -> String {
    format!("{name}_total")
}

impl Observer for MetricsObserver {
    fn attempt(&self, a: &AttemptRecord) {
        let code = a.code();
        if a.service != Service::Clouddc {
            let name = total(metric::IDENTITY_REQUESTS);
            metrics::describe_counter!(name.clone(), metric::IDENTITY_REQUESTS_HELP);
            metrics::counter!(name, "source" => a.service.as_str(), "code" => code).increment(1);
            return;
        }
        let requests = total(metric::API_REQUESTS);
        metrics::describe_counter!(requests.clone(), metric::API_REQUESTS_HELP);
        metrics::counter!(requests, "code" => code).increment(1);
        if a.is_retry() {
            let retries = total(metric::API_RETRIES);
            metrics::describe_counter!(retries.clone(), metric::API_RETRIES_HELP);
            metrics::counter!(retries).increment(1);
        }
        if a.throttled {
            let throttled = total(metric::API_THROTTLED);
            metrics::describe_counter!(throttled.clone(), metric::API_THROTTLED_HELP);
            metrics::counter!(throttled).increment(1);
        }
        metrics::describe_histogram!(
            metric::API_REQUEST_DURATION,
            metrics::Unit::Seconds,
            metric::API_REQUEST_DURATION_HELP
        );
        metrics::histogram!(metric::API_REQUEST_DURATION).record(a.duration.as_secs_f64());
    }

    fn rate(&self, requests_per_second: f64) {
        metrics::describe_gauge!(metric::RATE_LIMIT, metric::RATE_LIMIT_HELP);
        metrics::gauge!(metric::RATE_LIMIT).set(requests_per_second);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

    use super::*;
    use crate::ErrorKind;
    use crate::observe::AttemptOutcome;

    /// A recorded series: name, sorted labels, value.
    type Series = (String, Vec<(String, String)>, DebugValue);

    /// What `record` left in a fresh recorder.
    fn recorded(record: impl FnOnce()) -> Vec<Series> {
        let recorder = DebuggingRecorder::new();
        let snapshotter: Snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, record);
        let mut out: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(k, _, _, v)| {
                let key = k.key();
                let mut labels: Vec<(String, String)> = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                (key.name().to_owned(), labels, v)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    fn attempt(service: Service, outcome: AttemptOutcome, number: u32) -> AttemptRecord {
        let ended = crate::machines::call::tests::t0().mono;
        let mut a = AttemptRecord::new(service, outcome, Duration::from_millis(30), ended);
        a.number = number;
        a
    }

    #[test]
    fn each_attempt_lands_in_its_series() {
        let status = |s: u16| AttemptOutcome::Status(http::StatusCode::from_u16(s).unwrap());
        let got = recorded(|| {
            let o = MetricsObserver::new();
            o.attempt(&attempt(Service::Clouddc, status(429), 1));
            o.attempt(&attempt(Service::Clouddc, status(200), 2));
            let mut resent = attempt(Service::Clouddc, status(200), 2);
            resent.resent = true;
            o.attempt(&resent);
            o.attempt(&attempt(
                Service::Clouddc,
                AttemptOutcome::Error(ErrorKind::Timeout),
                3,
            ));
            o.attempt(&attempt(Service::Metadata, status(200), 1));
            o.attempt(&attempt(Service::Oidc, status(201), 1));
            o.rate(12.5);
        });
        let value = |name: &str, labels: &[(&str, &str)]| {
            let labels: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            got.iter()
                .find(|(n, l, _)| n == name && *l == labels)
                .map(|(_, _, v)| v)
                .unwrap_or_else(|| panic!("no {name} {labels:?} in {got:?}"))
        };
        assert_eq!(
            value("clouddc_api_requests_total", &[("code", "200")]),
            &DebugValue::Counter(2)
        );
        assert_eq!(
            value("clouddc_api_requests_total", &[("code", "429")]),
            &DebugValue::Counter(1)
        );
        assert_eq!(
            value("clouddc_api_requests_total", &[("code", "timeout")]),
            &DebugValue::Counter(1)
        );
        // Attempts 2 and 3; the resend of attempt 2 is not a retry.
        assert_eq!(
            value("clouddc_api_retries_total", &[]),
            &DebugValue::Counter(2)
        );
        assert_eq!(
            value("clouddc_api_throttled_total", &[]),
            &DebugValue::Counter(1)
        );
        assert_eq!(
            value(
                "clouddc_identity_requests_total",
                &[("code", "200"), ("source", "metadata")]
            ),
            &DebugValue::Counter(1)
        );
        assert_eq!(
            value(
                "clouddc_identity_requests_total",
                &[("code", "201"), ("source", "oidc")]
            ),
            &DebugValue::Counter(1)
        );
        let DebugValue::Histogram(durations) = value("clouddc_api_request_duration_seconds", &[])
        else {
            panic!("not a histogram")
        };
        assert_eq!(durations.len(), 4);
        assert!(
            durations
                .iter()
                .all(|d| (d.into_inner() - 0.03).abs() < 1e-9)
        );
        assert_eq!(
            value("clouddc_rate_limit_requests_per_second", &[]),
            &DebugValue::Gauge(12.5.into())
        );
    }
}
