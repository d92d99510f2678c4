//! The attempt observer through both clients against the simulator: one
//! record per request the server saw, each with its outcome, whether the
//! server throttled it and whether another attempt followed, for single
//! calls and fleets alike.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clouddc_core::{
    AttemptOutcome, AttemptRecord, Config, Credentials, Endpoint, ErrorKind, FleetOptions,
    InstanceId, Observer, ProjectId, RetryPolicy, Service,
};
use clouddc_simulator::{
    Auth, BlockingHandle, Faults, NewInstance, RateLimit, Schedule, ServerError, SimConfig,
};

#[allow(dead_code)] // each test file uses a part
mod common;
use common::{Client, KINDS};

const TOKEN: &str = "observer-token";

#[derive(Default)]
struct Seen(Mutex<Vec<AttemptRecord>>);

impl Observer for Seen {
    fn attempt(&self, a: &AttemptRecord) {
        self.0.lock().unwrap().push(a.clone());
    }
}

fn sim() -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::token(TOKEN))
        .instances(0)
        .build()
        .expect("sim config");
    clouddc_simulator::start_blocking(config).expect("start the simulator")
}

fn add(sim: &BlockingHandle, id: &str, faults: Faults) {
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id(id)
                .with_schedule(Schedule::instant())
                .with_faults(faults),
        )
        .expect("create");
}

fn config(sim: &BlockingHandle) -> Config {
    Config::builder()
        .endpoint(Endpoint::parse(sim.url()).unwrap())
        .project_id(ProjectId::new(sim.project_id()).unwrap())
        .credentials(Credentials::token(TOKEN).unwrap())
        .retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

#[test]
fn every_attempt_is_observed_once_with_its_outcome() {
    for kind in KINDS {
        let sim = sim();
        add(&sim, "ok", Faults::none());
        add(
            &sim,
            "flaky",
            Faults {
                server_error: Some(ServerError {
                    times: Some(1),
                    ..ServerError::status(503)
                }),
                ..Faults::none()
            },
        );
        add(
            &sim,
            "throttled",
            Faults {
                rate_limit: Some(RateLimit::per_second(1.0).with_burst(1)),
                ..Faults::none()
            },
        );
        let seen = Arc::new(Seen::default());
        let client = Client::observed(kind, config(&sim), Some(seen.clone()));
        let before = Instant::now();
        client.status("ok").expect("ok");
        client.status("flaky").expect("second attempt");
        let ids = ["ok", "throttled", "throttled"]
            .iter()
            .map(|i| InstanceId::new(*i).unwrap())
            .collect();
        let _ = client.fleet(ids, FleetOptions::new().rate(None));
        let after = Instant::now();
        let seen = seen.0.lock().unwrap().clone();
        // One record per request the server answered.
        let served = sim.control().counters().global.requests;
        assert_eq!(seen.len() as u64, served, "{kind:?}: {seen:#?}");
        for a in &seen {
            assert_eq!(a.service, Service::Clouddc);
            assert!(a.ended >= before && a.ended <= after, "{kind:?}");
            assert!(a.duration <= after - before);
        }
        let status = |a: &AttemptRecord| match a.outcome {
            AttemptOutcome::Status(s) => s.as_u16(),
            other => panic!("{kind:?}: {other:?}"),
        };
        // The single calls: 200; then 503 (retried) and 200, attempts 1
        // and 2 of one call.
        assert_eq!(status(&seen[0]), 200);
        assert!(!seen[0].retried && !seen[0].throttled && !seen[0].resent);
        assert_eq!(seen[0].number, 1);
        assert_eq!(status(&seen[1]), 503);
        assert!(seen[1].retried, "{kind:?}: {:?}", seen[1]);
        assert_eq!(seen[1].number, 1);
        assert_eq!(status(&seen[2]), 200);
        assert!(!seen[2].retried);
        assert_eq!(seen[2].number, 2);
        assert_eq!(seen[2].code(), "200");
        // The fleet: every 429 is marked throttled, and only those.
        for a in &seen[3..] {
            assert_eq!(a.throttled, status(a) == 429, "{kind:?}: {a:?}");
        }
        assert!(seen[3..].iter().any(|a| a.throttled), "{kind:?}: {seen:#?}");
    }
}

#[test]
fn a_refused_connection_is_an_error_attempt() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for kind in KINDS {
        let config = Config::builder()
            .endpoint(Endpoint::parse(&url).unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::token(TOKEN).unwrap())
            .retry(
                RetryPolicy::default()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
            .build()
            .unwrap();
        let seen = Arc::new(Seen::default());
        let client = Client::observed(kind, config, Some(seen.clone()));
        let e = client.status("x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Transport);
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{kind:?}: {seen:#?}");
        assert_eq!(seen[0].outcome, AttemptOutcome::Error(ErrorKind::Transport));
        assert!(seen[0].retried);
        assert!(!seen[1].retried);
    }
}

#[derive(Default)]
struct Rates(Mutex<Vec<f64>>);

impl Observer for Rates {
    fn attempt(&self, _: &AttemptRecord) {}
    fn rate(&self, rps: f64) {
        self.0.lock().unwrap().push(rps);
    }
}

#[test]
fn the_requests_behind_the_credentials_are_observed_too() {
    use clouddc_simulator::Metadata;
    for kind in KINDS {
        let config = SimConfig::builder()
            .listen(([127, 0, 0, 1], 0).into())
            .auth(Auth::ak_sk("HPUAPERMANENTAK01", "permanent-secret-key-01"))
            .instances(0)
            .metadata(Metadata::on())
            .region("cn-east-3")
            .build()
            .unwrap();
        let sim = clouddc_simulator::start_blocking(config).unwrap();
        add(&sim, "i-1", Faults::none());
        let endpoint = Endpoint::parse(sim.url()).unwrap();
        let config = Config::builder()
            .endpoint(endpoint.clone())
            .region("cn-east-3")
            .metadata(endpoint.clone())
            .iam_endpoint(endpoint)
            .build()
            .unwrap();
        let seen = Arc::new(Seen::default());
        let client = Client::observed(kind, config, Some(seen.clone()));
        client.status("i-1").expect("status");
        let seen = seen.0.lock().unwrap().clone();
        let services: Vec<&str> = seen.iter().map(|a| a.service.as_str()).collect();
        // The metadata token and key, the IAM project lookup, then the call.
        assert_eq!(
            services,
            ["metadata", "metadata", "iam", "clouddc"],
            "{kind:?}: {seen:#?}"
        );
        assert!(
            seen.iter().all(|a| a.code() == "200" || a.code() == "201"),
            "{seen:#?}"
        );
        let g = sim.control().counters().global;
        assert_eq!(g.iam_requests, 1);
    }
}

#[test]
fn a_fleet_tells_its_limiters_rate_as_it_changes() {
    for kind in KINDS {
        let sim = sim();
        let ids: Vec<InstanceId> = (0..40)
            .map(|i| {
                let id = format!("r-{i}");
                add(&sim, &id, Faults::none());
                InstanceId::new(id).unwrap()
            })
            .collect();
        // A proxy's token bucket of 20/s: the adaptive limiter cuts on its
        // 429s and grows on successes.
        sim.control()
            .set_faults(Faults {
                rate_limit: Some(RateLimit::per_second(20.0).with_burst(1)),
                ..Faults::none()
            })
            .unwrap();
        let rates = Arc::new(Rates::default());
        let client = Client::observed(kind, config(&sim), Some(rates.clone()));
        let limits = clouddc_core::RateLimiterConfig::default().initial_rate(200.0);
        let _ = client.fleet(ids, FleetOptions::new().rate(Some(limits)));
        let rates = rates.0.lock().unwrap().clone();
        assert!(!rates.is_empty(), "{kind:?}");
        // The limiter was cut below its start.
        assert!(rates.iter().any(|r| *r < 200.0), "{kind:?}: {rates:?}");
        assert!(
            rates.windows(2).all(|w| w[0] != w[1]),
            "{kind:?}: told only on change"
        );
    }
}
