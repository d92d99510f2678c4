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
        // The single calls: 200; then 503 (retried) and 200.
        assert_eq!(status(&seen[0]), 200);
        assert!(!seen[0].retried && !seen[0].throttled);
        assert_eq!(status(&seen[1]), 503);
        assert!(seen[1].retried, "{kind:?}: {:?}", seen[1]);
        assert_eq!(status(&seen[2]), 200);
        assert!(!seen[2].retried);
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
