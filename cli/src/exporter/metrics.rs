//! The exporter's metrics: one `prometheus-client` registry holding every
//! series of the contract's table (`CLI.md`, `clouddc exporter`), and its
//! rendering in the Prometheus text format or OpenMetrics.
//!
//! Owns the series: the instances' (state, operation state, up, last
//! success, counts by state), the cycles', the credentials' expiry, and
//! the request series, which come only from the client's [`Observer`]
//! ([`Requests`]), with the names, help texts and buckets of
//! `clouddc_core::metric`. Must not send requests, read the ids file nor
//! speak HTTP: the poller feeds it, the server renders it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use clouddc_core::metric;
use clouddc_core::{AttemptRecord, CallResult, ErrorKind, InstanceId, InstanceState, Observer};
use clouddc_core::{Service, Session};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A gauge of seconds or a rate.
type Float = Gauge<f64, AtomicU64>;

/// The `Content-Type` of the Prometheus text format.
pub(crate) const TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// The `Content-Type` of OpenMetrics.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Instance {
    instance_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceInState {
    instance_id: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceInOperation {
    instance_id: String,
    operation_state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Identity {
    source: String,
    code: String,
}

/// The one series of a family without labels that may be absent.
type Alone = [(&'static str, &'static str); 0];
const ALONE: Alone = [];

/// What was last seen of one id.
#[derive(Default)]
struct Seen {
    state: Option<String>,
    operation: Option<String>,
}

/// The request series, fed by the client's observer.
#[derive(Clone)]
pub(crate) struct Requests {
    api: Family<Code, Counter>,
    retries: Counter,
    identity: Family<Identity, Counter>,
    duration: Histogram,
    throttled: Counter,
    rate: Float,
}

impl Observer for Requests {
    fn attempt(&self, a: &AttemptRecord) {
        let code = a.code().into_owned();
        if a.service != Service::Clouddc {
            let source = a.service.as_str().to_owned();
            self.identity
                .get_or_create(&Identity { source, code })
                .inc();
            return;
        }
        self.api.get_or_create(&Code { code }).inc();
        if a.is_retry() {
            self.retries.inc();
        }
        self.duration.observe(a.duration.as_secs_f64());
        if a.throttled {
            self.throttled.inc();
        }
    }

    fn rate(&self, requests_per_second: f64) {
        self.rate.set(requests_per_second);
    }
}

/// Every series the exporter serves.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Requests,
    state: Family<InstanceInState, Gauge>,
    operation: Family<InstanceInOperation, Gauge>,
    up: Family<Instance, Gauge>,
    last_success: Family<Instance, Float>,
    counts: Family<State, Gauge>,
    /// The cycle series, absent until a first cycle completed.
    cycle: Family<Alone, Float>,
    overruns: Counter,
    completed: Family<Alone, Float>,
    expiry: Family<Alone, Float>,
    /// The ids polled now, and what was seen of each; an id not here has
    /// no series.
    seen: Mutex<HashMap<String, Seen>>,
    ready: AtomicBool,
}

impl Metrics {
    /// Every family registered, no instance yet; the known states counted
    /// at 0.
    pub(crate) fn new() -> Arc<Self> {
        let mut registry = Registry::default();
        let requests = Requests {
            api: Family::default(),
            retries: Counter::default(),
            identity: Family::default(),
            duration: Histogram::new(metric::API_REQUEST_DURATION_BUCKETS),
            throttled: Counter::default(),
            rate: Float::default(),
        };
        let this = Self {
            registry: Registry::default(),
            requests,
            state: Family::default(),
            operation: Family::default(),
            up: Family::default(),
            last_success: Family::default(),
            counts: Family::default(),
            cycle: Family::default(),
            overruns: Counter::default(),
            completed: Family::default(),
            expiry: Family::default(),
            seen: Mutex::new(HashMap::new()),
            ready: AtomicBool::new(false),
        };
        let r = &mut registry;
        r.register(
            "clouddc_instance_state",
            "1 for the current state of each instance",
            this.state.clone(),
        );
        r.register(
            "clouddc_instance_operation_state",
            "1 for the operation state of each instance, when its last status carried one",
            this.operation.clone(),
        );
        r.register(
            "clouddc_instance_up",
            "1 when the last poll of the instance succeeded, 0 otherwise",
            this.up.clone(),
        );
        r.register(
            "clouddc_instance_last_success_timestamp_seconds",
            "When the last successful poll of the instance answered",
            this.last_success.clone(),
        );
        r.register(
            "clouddc_instances",
            "How many polled instances are in each state",
            this.counts.clone(),
        );
        let q = &this.requests;
        r.register(
            metric::API_REQUESTS,
            metric::API_REQUESTS_HELP,
            q.api.clone(),
        );
        r.register(
            metric::API_RETRIES,
            metric::API_RETRIES_HELP,
            q.retries.clone(),
        );
        r.register(
            metric::IDENTITY_REQUESTS,
            metric::IDENTITY_REQUESTS_HELP,
            q.identity.clone(),
        );
        r.register(
            metric::API_REQUEST_DURATION,
            metric::API_REQUEST_DURATION_HELP,
            q.duration.clone(),
        );
        r.register(
            metric::API_THROTTLED,
            metric::API_THROTTLED_HELP,
            q.throttled.clone(),
        );
        r.register(metric::RATE_LIMIT, metric::RATE_LIMIT_HELP, q.rate.clone());
        r.register(
            "clouddc_poll_cycle_duration_seconds",
            "Duration of the last complete poll cycle",
            this.cycle.clone(),
        );
        r.register(
            "clouddc_poll_cycle_overruns",
            "Poll cycles that did not fit in the interval",
            this.overruns.clone(),
        );
        r.register(
            "clouddc_last_cycle_completed_timestamp_seconds",
            "When the last poll cycle completed",
            this.completed.clone(),
        );
        r.register(
            "clouddc_credentials_expiry_timestamp_seconds",
            "When the temporary credentials expire (metadata or OIDC only)",
            this.expiry.clone(),
        );
        for s in InstanceState::KNOWN {
            this.counts
                .get_or_create(&State {
                    state: s.as_str().to_owned(),
                })
                .set(0);
        }
        Arc::new(Self { registry, ..this })
    }

    /// The observer to give the client: the request series.
    pub(crate) fn observer(&self) -> Arc<dyn Observer> {
        Arc::new(self.requests.clone())
    }

    /// The ids to poll from now on: a new id has no series until it is
    /// polled, a removed id's series are removed.
    pub(crate) fn set_ids(&self, ids: &[InstanceId]) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let wanted: std::collections::HashSet<&str> = ids.iter().map(InstanceId::as_str).collect();
        seen.retain(|id, s| {
            let keep = wanted.contains(id.as_str());
            if !keep {
                self.forget_state(id, s);
                let instance = Instance {
                    instance_id: id.clone(),
                };
                self.up.remove(&instance);
                self.last_success.remove(&instance);
            }
            keep
        });
        for id in wanted {
            if !seen.contains_key(id) {
                seen.insert(id.to_owned(), Seen::default());
            }
        }
    }

    /// The answer to one poll of `id`, at `now`. An id no longer polled
    /// is ignored; a failure keeps the last state seen (`up` 0), but for
    /// `not_found`, which removes it.
    pub(crate) fn handle_status(&self, id: &str, result: &CallResult, now: SystemTime) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(s) = seen.get_mut(id) else {
            return;
        };
        let instance = Instance {
            instance_id: id.to_owned(),
        };
        match result {
            Ok(status) => {
                let state = status.state.to_string();
                if s.state.as_deref() != Some(state.as_str()) {
                    self.forget_state(id, s);
                    self.state
                        .get_or_create(&InstanceInState {
                            instance_id: id.to_owned(),
                            state: state.clone(),
                        })
                        .set(1);
                    self.count(&state, 1);
                    s.state = Some(state);
                }
                let operation = status.operation_state.as_ref().map(ToString::to_string);
                if s.operation != operation {
                    self.forget_operation(id, s);
                    if let Some(op) = &operation {
                        self.operation
                            .get_or_create(&InstanceInOperation {
                                instance_id: id.to_owned(),
                                operation_state: op.clone(),
                            })
                            .set(1);
                    }
                    s.operation = operation;
                }
                self.up.get_or_create(&instance).set(1);
                self.last_success.get_or_create(&instance).set(seconds(now));
            }
            Err(e) => {
                if e.kind() == ErrorKind::NotFound {
                    self.forget_state(id, s);
                }
                self.up.get_or_create(&instance).set(0);
            }
        }
    }

    /// Removes the state and operation series of `id`.
    fn forget_state(&self, id: &str, s: &mut Seen) {
        if let Some(state) = s.state.take() {
            self.count(&state, -1);
            self.state.remove(&InstanceInState {
                instance_id: id.to_owned(),
                state,
            });
        }
        self.forget_operation(id, s);
    }

    fn forget_operation(&self, id: &str, s: &mut Seen) {
        if let Some(operation_state) = s.operation.take() {
            self.operation.remove(&InstanceInOperation {
                instance_id: id.to_owned(),
                operation_state,
            });
        }
    }

    /// Adds `by` to the count of `state`; an unknown state's count goes
    /// when it reaches 0 (a known state's stays, at 0).
    fn count(&self, state: &str, by: i64) {
        let key = State {
            state: state.to_owned(),
        };
        let now = self.counts.get_or_create(&key).inc_by(by) + by;
        if now <= 0 && !InstanceState::parse(state).is_known() {
            self.counts.remove(&key);
        }
    }

    /// A cycle ended at `now` after `took`; `overran`: it did not fit in
    /// the interval. The credentials' expiry is read from `session`.
    pub(crate) fn handle_cycle(
        &self,
        took: Duration,
        overran: bool,
        now: SystemTime,
        session: &Session,
    ) {
        self.cycle.get_or_create(&ALONE).set(took.as_secs_f64());
        if overran {
            self.overruns.inc();
        }
        self.completed.get_or_create(&ALONE).set(seconds(now));
        match session.credentials_expire() {
            Some(at) => {
                self.expiry.get_or_create(&ALONE).set(seconds(at));
            }
            None => {
                self.expiry.remove(&ALONE);
            }
        }
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Whether a first cycle completed.
    pub(crate) fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Every series, in OpenMetrics or else the Prometheus text format.
    pub(crate) fn render(&self, openmetrics: bool) -> String {
        let mut out = String::with_capacity(64 * 1024);
        let encoded = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        };
        // Writing to a String cannot fail; a failure would be a bug in
        // the encoder: serve what was written.
        debug_assert!(encoded.is_ok());
        out
    }
}

/// Seconds since the Unix epoch (0 before it).
fn seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clouddc_core::InstanceStatus;

    fn id(s: &str) -> InstanceId {
        InstanceId::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_state_change_moves_the_series_and_the_counts() {
        let m = Metrics::new();
        m.set_ids(&[id("a"), id("b")]);
        let now = SystemTime::now();
        m.handle_status(
            "a",
            &Ok(InstanceStatus::new(InstanceState::parse("running"))),
            now,
        );
        m.handle_status(
            "a",
            &Ok(InstanceStatus::new(InstanceState::parse("stopped"))),
            now,
        );
        let text = m.render(false);
        assert!(
            text.contains("clouddc_instance_state{instance_id=\"a\",state=\"stopped\"} 1"),
            "{text}"
        );
        assert!(!text.contains("state=\"running\"} 1"), "{text}");
        assert!(
            text.contains("clouddc_instances{state=\"stopped\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("clouddc_instances{state=\"running\"} 0"),
            "{text}"
        );
        assert!(!text.contains("instance_id=\"b\""), "{text}");
        m.set_ids(&[id("b")]);
        let text = m.render(false);
        assert!(!text.contains("instance_id=\"a\""), "{text}");
        assert!(
            text.contains("clouddc_instances{state=\"stopped\"} 0"),
            "{text}"
        );
    }

    /// The answer the API gives with `status` and `body`.
    fn answer(status: u16, body: &str) -> CallResult {
        let r = clouddc_core::http::Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap_or_else(|e| panic!("{e}"));
        clouddc_core::parse_status_response(&r, 65536, SystemTime::now())
    }

    #[test]
    fn a_failure_keeps_the_state_and_a_404_removes_it() {
        let m = Metrics::new();
        m.set_ids(&[id("a")]);
        let now = SystemTime::now();
        let ok = answer(
            200,
            r#"{"state":"running","operation_state":"install-succeed"}"#,
        );
        assert!(ok.is_ok(), "{ok:?}");
        m.handle_status("a", &ok, now);
        let text = m.render(false);
        assert!(
            text.contains("clouddc_instance_operation_state{instance_id=\"a\""),
            "{text}"
        );
        m.handle_status("a", &answer(503, "{}"), now);
        let text = m.render(false);
        assert!(
            text.contains("clouddc_instance_up{instance_id=\"a\"} 0"),
            "{text}"
        );
        assert!(text.contains("state=\"running\"} 1"), "{text}");
        let gone = answer(
            404,
            r#"{"error_code":"CLOUDDC.404","error_msg":"no such instance"}"#,
        );
        assert_eq!(
            gone.as_ref().err().map(clouddc_core::Error::kind),
            Some(ErrorKind::NotFound)
        );
        m.handle_status("a", &gone, now);
        let text = m.render(false);
        assert!(!text.contains("clouddc_instance_state{"), "{text}");
        assert!(
            !text.contains("clouddc_instance_operation_state{"),
            "{text}"
        );
        assert!(
            text.contains("clouddc_instance_up{instance_id=\"a\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("clouddc_instance_last_success_timestamp_seconds{instance_id=\"a\"}"),
            "{text}"
        );
        assert!(
            text.contains("clouddc_instances{state=\"running\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn an_unknown_state_is_counted_as_sent_until_no_instance_is_in_it() {
        let m = Metrics::new();
        m.set_ids(&[id("a")]);
        let now = SystemTime::now();
        m.handle_status(
            "a",
            &Ok(InstanceStatus::new(InstanceState::parse("hibernating"))),
            now,
        );
        let text = m.render(false);
        assert!(
            text.contains("clouddc_instances{state=\"hibernating\"} 1"),
            "{text}"
        );
        m.handle_status(
            "a",
            &Ok(InstanceStatus::new(InstanceState::parse("running"))),
            now,
        );
        let text = m.render(false);
        assert!(!text.contains("hibernating"), "{text}");
    }

    #[test]
    fn the_request_series_come_from_the_observer() {
        use clouddc_core::AttemptOutcome;
        let m = Metrics::new();
        let o = m.observer();
        let at = |service, status: u16, number, resent| {
            let mut a = AttemptRecord::new(
                service,
                AttemptOutcome::Status(
                    clouddc_core::http::StatusCode::from_u16(status)
                        .unwrap_or_else(|e| panic!("{e}")),
                ),
                Duration::from_millis(20),
                std::time::Instant::now(),
            );
            a.number = number;
            a.resent = resent;
            a
        };
        o.attempt(&at(Service::Clouddc, 429, 1, false));
        o.attempt(&at(Service::Clouddc, 200, 2, false));
        o.attempt(&at(Service::Clouddc, 200, 2, true));
        o.attempt(&at(Service::Metadata, 200, 1, false));
        o.attempt(&at(Service::Iam, 401, 1, false));
        o.rate(12.5);
        let text = m.render(false);
        for line in [
            "clouddc_api_requests_total{code=\"429\"} 1",
            "clouddc_api_requests_total{code=\"200\"} 2",
            "clouddc_api_retries_total 1",
            "clouddc_api_throttled_total 1",
            "clouddc_identity_requests_total{source=\"metadata\",code=\"200\"} 1",
            "clouddc_identity_requests_total{source=\"iam\",code=\"401\"} 1",
            "clouddc_api_request_duration_seconds_count 3",
            "clouddc_api_request_duration_seconds_bucket{le=\"0.025\"} 3",
            "clouddc_rate_limit_requests_per_second 12.5",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
    }

    #[test]
    fn renders_100k_ids_quickly() {
        let m = Metrics::new();
        let ids: Vec<InstanceId> = (0..100_000).map(|i| id(&format!("i-{i:08}"))).collect();
        m.set_ids(&ids);
        let now = SystemTime::now();
        for i in &ids {
            m.handle_status(
                i.as_str(),
                &Ok(InstanceStatus::new(InstanceState::parse("running"))),
                now,
            );
        }
        let started = std::time::Instant::now();
        let text = m.render(false);
        let took = started.elapsed();
        assert!(text.len() > 100_000 * 50);
        // Debug builds are slower than the release binary's second.
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}
