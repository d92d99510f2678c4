//! The `metrics` feature end to end: each client, given `MetricsObserver`
//! and a process recorder, records the request series of `clouddc
//! exporter` for calls against the simulator. Its own test binary, since a
//! recorder is installed for the whole process.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use clouddc_core::{Config, Credentials, Endpoint, InstanceId, ProjectId};
use clouddc_simulator::{Auth, Faults, NewInstance, RateLimit, Schedule, SimConfig};
use metrics::{SharedString, Unit};
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

const TOKEN: &str = "metrics-token";

/// What was recorded (a snapshot drains the recorder: take one).
type Recorded = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

/// The counter `name` with exactly `labels`, 0 when absent.
fn counter(s: &Recorded, name: &str, labels: &[(&str, &str)]) -> u64 {
    s.iter()
        .find_map(|(k, _, _, v)| {
            let key = k.key();
            let mut have: Vec<(&str, &str)> = key.labels().map(|l| (l.key(), l.value())).collect();
            have.sort_unstable();
            let mut want = labels.to_vec();
            want.sort_unstable();
            match v {
                DebugValue::Counter(n) if key.name() == name && have == want => Some(*n),
                _ => None,
            }
        })
        .unwrap_or(0)
}

fn histogram_len(s: &Recorded, name: &str) -> usize {
    s.iter()
        .find_map(|(k, _, _, v)| match v {
            DebugValue::Histogram(h) if k.key().name() == name => Some(h.len()),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn both_clients_record_the_request_series() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let sim = clouddc_simulator::start_blocking(
        SimConfig::builder()
            .listen(([127, 0, 0, 1], 0).into())
            .auth(Auth::token(TOKEN))
            .instances(0)
            .build()
            .unwrap(),
    )
    .unwrap();
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("a")
                .with_schedule(Schedule::instant()),
        )
        .unwrap();
    // A proxy's limit of one request a second (per instance): each
    // client's second call gets a 429
    // with `Retry-After` and is retried.
    sim.control()
        .set_faults(Faults {
            rate_limit: Some(RateLimit::per_second(1.0).with_burst(1)),
            ..Faults::none()
        })
        .unwrap();
    let config = Config::builder()
        .endpoint(Endpoint::parse(sim.url()).unwrap())
        .project_id(ProjectId::new(sim.project_id()).unwrap())
        .credentials(Credentials::token(TOKEN).unwrap())
        .build()
        .unwrap();
    let a = InstanceId::new("a").unwrap();

    let ureq = clouddc_ureq::Client::builder()
        .observer(Arc::new(clouddc_ureq::MetricsObserver::new()))
        .build(config.clone())
        .unwrap();
    ureq.status(&a).unwrap();
    ureq.status(&a).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let reqwest = clouddc_reqwest::Client::builder()
            .observer(Arc::new(clouddc_reqwest::MetricsObserver::new()))
            .build(config)
            .unwrap();
        // The window of the last ureq call has passed: one more 429 at most.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        reqwest.status(&a).await.unwrap();
        reqwest.status(&a).await.unwrap();
    });

    let served = sim.control().counters().global.requests;
    let recorded: Recorded = snapshotter.snapshot().into_vec();
    let ok = counter(&recorded, "clouddc_api_requests_total", &[("code", "200")]);
    let throttled = counter(&recorded, "clouddc_api_requests_total", &[("code", "429")]);
    assert_eq!(ok, 4, "four calls succeeded");
    assert!(
        throttled >= 2,
        "each client's second call was throttled: {throttled}"
    );
    assert_eq!(ok + throttled, served, "every request the server saw");
    assert_eq!(
        counter(&recorded, "clouddc_api_throttled_total", &[]),
        throttled
    );
    assert_eq!(
        counter(&recorded, "clouddc_api_retries_total", &[]),
        throttled,
        "each 429 was followed by one retry"
    );
    assert_eq!(
        histogram_len(&recorded, "clouddc_api_request_duration_seconds"),
        usize::try_from(served).unwrap()
    );
}
