//! Both clients end to end against the simulator: life-cycle waits, every
//! fault with its error kind, retry counts, `Retry-After`, token and AK/SK
//! auth, and fleets of 1,000 and 2,000 ids through both clients under a
//! rate limit.
//!
//! Synchronisation is by the simulator's counters and the clients' own
//! results; nothing sleeps to wait for something to happen.

use std::time::{Duration, Instant};

use clouddc_core::{
    Config, Credentials, Endpoint, Error, ErrorKind, FleetEvent, FleetOptions, InstanceId,
    InstanceState, InstanceStatus, Job, ProjectId, WaitOptions, WaitOutcome, WaitReport,
};
use clouddc_simulator::{
    Auth, BlockingHandle, Faults, NewInstance, OversizedBody, RateLimit, Schedule, ServerError,
    SimConfig, StallBody, StallHeaders, Trigger,
};
use futures_util::StreamExt;

const TOKEN: &str = "e2e-token";

fn sim_with(auth: Auth, rate_limit: Option<f64>) -> BlockingHandle {
    let mut b = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(auth)
        .instances(0);
    if let Some(r) = rate_limit {
        b = b.token_bucket(r);
    }
    clouddc_simulator::start_blocking(b.build().expect("sim config")).expect("start the simulator")
}

fn sim() -> BlockingHandle {
    sim_with(Auth::token(TOKEN), None)
}

fn add(sim: &BlockingHandle, id: &str, schedule: Schedule, faults: Faults) {
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id(id)
                .with_schedule(schedule)
                .with_faults(faults),
        )
        .expect("create instance");
}

fn id(s: &str) -> InstanceId {
    InstanceId::new(s).expect("id")
}

/// Client settings shared by both adapters.
#[derive(Clone)]
struct Opts {
    credentials: Credentials,
    attempts: u32,
    attempt_timeout: Duration,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            credentials: Credentials::token(TOKEN).expect("token"),
            attempts: 3,
            attempt_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ureq,
    Reqwest,
}

const KINDS: [Kind; 2] = [Kind::Ureq, Kind::Reqwest];

/// The config of both clients.
fn config(sim: &BlockingHandle, o: &Opts) -> Config {
    Config::builder()
        .endpoint(Endpoint::parse(sim.url()).expect("endpoint"))
        .project_id(ProjectId::new(sim.project_id()).expect("project"))
        .credentials(o.credentials.clone())
        .max_attempts(o.attempts)
        .attempt_timeout(o.attempt_timeout)
        .build()
        .expect("config")
}

macro_rules! client {
    ($krate:ident, $sim:expr, $o:expr) => {
        $krate::Client::new(config($sim, &$o)).expect("client")
    };
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn status(kind: Kind, sim: &BlockingHandle, o: &Opts, i: &str) -> Result<InstanceStatus, Error> {
    match kind {
        Kind::Ureq => client!(clouddc_ureq, sim, o).status(&id(i)),
        Kind::Reqwest => runtime().block_on(client!(clouddc_reqwest, sim, o).status(&id(i))),
    }
}

fn wait(
    kind: Kind,
    sim: &BlockingHandle,
    i: &str,
    target: InstanceState,
    opts: WaitOptions,
) -> WaitReport {
    let o = Opts::default();
    match kind {
        Kind::Ureq => client!(clouddc_ureq, sim, o).wait_until(&id(i), target, opts),
        Kind::Reqwest => {
            runtime().block_on(client!(clouddc_reqwest, sim, o).wait_until(&id(i), target, opts))
        }
    }
}

fn requests(sim: &BlockingHandle, i: &str) -> u64 {
    sim.control()
        .counters()
        .instances
        .get(i)
        .map_or(0, |c| c.requests)
}

#[test]
fn life_cycle_waits() {
    for kind in KINDS {
        let sim = sim();
        add(
            &sim,
            "boot",
            Schedule::pending_for(Duration::from_millis(700)),
            Faults::none(),
        );
        add(
            &sim,
            "doomed",
            Schedule::pending_for(Duration::from_secs(600)),
            Faults::none(),
        );
        add(
            &sim,
            "gone",
            Schedule {
                shutting_down: Duration::from_millis(500),
                ..Schedule::instant()
            },
            Faults::none(),
        );
        let opts = || {
            WaitOptions::new()
                .interval(Duration::from_millis(200))
                .max_wait(Duration::from_secs(10))
        };

        let r = wait(kind, &sim, "boot", InstanceState::Running, opts());
        assert!(
            matches!(&r.outcome, WaitOutcome::Reached(Some(s)) if s.state == InstanceState::Running),
            "{kind:?} {:?}",
            r.outcome
        );
        assert!(
            r.elapsed >= Duration::from_millis(600) && r.elapsed < Duration::from_secs(3),
            "{kind:?} {:?}",
            r.elapsed
        );
        assert_eq!(u64::from(r.polls), requests(&sim, "boot"));

        // Deleted while waiting for running: fails fast on shutting-down.
        sim.control().delete("doomed").expect("delete");
        let started = Instant::now();
        let r = wait(kind, &sim, "doomed", InstanceState::Running, opts());
        let WaitOutcome::Failed(s) = &r.outcome else {
            panic!("{kind:?} {:?}", r.outcome)
        };
        assert_eq!(s.state, InstanceState::ShuttingDown);
        assert!(started.elapsed() < Duration::from_secs(2));

        // Waiting for terminated through shutting-down.
        sim.control().delete("gone").expect("delete");
        let r = wait(kind, &sim, "gone", InstanceState::Terminated, opts());
        assert!(
            matches!(r.outcome, WaitOutcome::Reached(_)),
            "{kind:?} {:?}",
            r.outcome
        );
        assert!(r.polls >= 2);
    }
}

#[test]
fn every_fault_ends_in_its_kind() {
    let short = Opts {
        attempts: 1,
        attempt_timeout: Duration::from_millis(500),
        ..Opts::default()
    };
    let cases: Vec<(&str, Faults, ErrorKind, Option<u16>)> = vec![
        (
            "limited",
            Faults {
                rate_limit: Some(RateLimit::per_second(0.01).with_burst(1)),
                ..Faults::none()
            },
            ErrorKind::RateLimited,
            Some(429),
        ),
        (
            "five",
            Faults {
                server_error: Some(ServerError::status(503)),
                ..Faults::none()
            },
            ErrorKind::Server,
            Some(503),
        ),
        (
            "html",
            Faults {
                html_502: Some(Trigger::always()),
                ..Faults::none()
            },
            ErrorKind::Server,
            Some(502),
        ),
        (
            "silent",
            Faults {
                stall_headers: Some(StallHeaders {
                    hold: Duration::from_secs(5),
                    ..StallHeaders::default()
                }),
                ..Faults::none()
            },
            ErrorKind::Timeout,
            None,
        ),
        (
            "trickle",
            Faults {
                stall_body: Some(StallBody {
                    hold: Duration::from_secs(5),
                    ..StallBody::default()
                }),
                ..Faults::none()
            },
            ErrorKind::Timeout,
            None,
        ),
        (
            "rst",
            Faults {
                reset: Some(Trigger::always()),
                ..Faults::none()
            },
            ErrorKind::Transport,
            None,
        ),
        (
            "huge",
            Faults {
                oversized_body: Some(OversizedBody::default()),
                ..Faults::none()
            },
            ErrorKind::Decode,
            Some(200),
        ),
        (
            "junk",
            Faults {
                invalid_json: Some(Trigger::always()),
                ..Faults::none()
            },
            ErrorKind::Decode,
            Some(200),
        ),
    ];
    for kind in KINDS {
        let sim = sim();
        for (name, faults, _, _) in &cases {
            add(&sim, name, Schedule::instant(), faults.clone());
        }
        // The rate-limited instance's one token goes first.
        assert!(status(kind, &sim, &short, "limited").is_ok());
        for (name, _, expected, http) in &cases {
            let started = Instant::now();
            let e = status(kind, &sim, &short, name).expect_err(name);
            assert_eq!(e.kind(), *expected, "{kind:?} {name}: {e}");
            assert_eq!(
                e.http_status().map(|s| s.as_u16()),
                *http,
                "{kind:?} {name}"
            );
            assert!(
                started.elapsed() < Duration::from_millis(1500),
                "{kind:?} {name}: {:?}",
                started.elapsed()
            );
            if http.is_some() {
                assert!(e.request_id().is_some(), "{kind:?} {name}: no request id");
            }
        }
        // Latency alone is not a failure.
        add(
            &sim,
            "laggy",
            Schedule::instant(),
            Faults {
                latency: Some(Duration::from_millis(200)),
                ..Faults::none()
            },
        );
        let started = Instant::now();
        assert!(status(kind, &sim, &short, "laggy").is_ok());
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}

#[test]
fn retries_are_counted_and_retry_after_is_honoured() {
    for kind in KINDS {
        let sim = sim();
        add(
            &sim,
            "flaky",
            Schedule::instant(),
            Faults {
                server_error: Some(ServerError::status(502).with_times(2)),
                ..Faults::none()
            },
        );
        add(
            &sim,
            "down",
            Schedule::instant(),
            Faults {
                server_error: Some(ServerError::status(500)),
                ..Faults::none()
            },
        );
        add(
            &sim,
            "busy",
            Schedule::instant(),
            Faults {
                rate_limit: Some(RateLimit::per_second(1.0).with_burst(1)),
                ..Faults::none()
            },
        );
        let o = Opts::default();
        assert_eq!(
            status(kind, &sim, &o, "flaky")
                .expect("third time lucky")
                .state,
            InstanceState::Running
        );
        assert_eq!(requests(&sim, "flaky"), 3);
        assert_eq!(
            status(kind, &sim, &o, "down").expect_err("down").kind(),
            ErrorKind::Server
        );
        assert_eq!(requests(&sim, "down"), 3);

        // One token a second: the second query is told to retry after 1 s.
        assert!(status(kind, &sim, &o, "busy").is_ok());
        let started = Instant::now();
        assert!(status(kind, &sim, &o, "busy").is_ok());
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(900), "{kind:?} {took:?}");
        assert_eq!(requests(&sim, "busy"), 3);
        assert_eq!(sim.control().counters().instances["busy"].throttled, 1);
    }
}

#[test]
fn token_and_aksk_auth_and_a_wrong_signature() {
    let o_token = Opts::default();
    let sim = sim();
    add(&sim, "i-1", Schedule::instant(), Faults::none());
    for kind in KINDS {
        assert!(status(kind, &sim, &o_token, "i-1").is_ok());
        let bad = Opts {
            credentials: Credentials::token("not-it").expect("t"),
            ..Opts::default()
        };
        let e = status(kind, &sim, &bad, "i-1").expect_err("wrong token");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert_eq!(e.error_code(), Some("APIGW.0301"));
    }
    let sim = sim_with(Auth::temporary("AK-E2E", "SK-E2E", "ST-E2E"), None);
    add(&sim, "i/2 ü", Schedule::instant(), Faults::none());
    for kind in KINDS {
        let good = Opts {
            credentials: Credentials::temporary("AK-E2E", "SK-E2E", "ST-E2E").expect("c"),
            ..Opts::default()
        };
        assert!(status(kind, &sim, &good, "i/2 ü").is_ok(), "{kind:?}");
        for creds in [
            Credentials::temporary("AK-E2E", "wrong-sk", "ST-E2E").expect("c"),
            Credentials::temporary("AK-E2E", "SK-E2E", "wrong-st").expect("c"),
            Credentials::ak_sk("AK-E2E", "SK-E2E").expect("c"),
        ] {
            let bad = Opts {
                credentials: creds,
                ..Opts::default()
            };
            let e = status(kind, &sim, &bad, "i/2 ü").expect_err("bad signature");
            assert_eq!(e.kind(), ErrorKind::Unauthorized, "{kind:?}: {e}");
        }
    }
}

/// A simulator with `n` running instances `ins-00000`, ... under a server
/// limit of `rps`, and their ids.
fn fleet_sim(n: usize, rps: f64) -> (BlockingHandle, Vec<InstanceId>) {
    let sim = sim_with(Auth::token(TOKEN), Some(rps));
    let ids: Vec<String> = (0..n).map(|i| format!("ins-{i:05}")).collect();
    for i in &ids {
        add(&sim, i, Schedule::instant(), Faults::none());
    }
    (sim, ids.iter().map(|s| id(s)).collect())
}

/// Runs `fleet` through `kind`'s client; the ids answered.
fn run_fleet(
    kind: Kind,
    sim: &BlockingHandle,
    o: &Opts,
    ids: Vec<InstanceId>,
    options: FleetOptions,
) -> usize {
    let ok = |(_, r): &(InstanceId, Result<InstanceStatus, Error>)| r.is_ok();
    match kind {
        Kind::Ureq => client!(clouddc_ureq, sim, o)
            .fleet(Job::Status, ids, options)
            .map(FleetEvent::into_status)
            .filter(ok)
            .count(),
        Kind::Reqwest => runtime().block_on(async {
            client!(clouddc_reqwest, sim, o)
                .fleet(Job::Status, ids, options)
                .map(FleetEvent::into_status)
                .filter(|r| std::future::ready(ok(r)))
                .count()
                .await
        }),
    }
}

/// `n` instances, queried through `statuses(ids, concurrency)` (paced by
/// the fleet's default limiter) under a server limit of `rps`.
fn fleet(kind: Kind, n: usize, rps: f64, concurrency: usize) -> (Duration, u64, u64) {
    let (sim, ids) = fleet_sim(n, rps);
    let o = Opts {
        attempts: 5,
        ..Opts::default()
    };
    let started = Instant::now();
    let ok = match kind {
        Kind::Ureq => client!(clouddc_ureq, &sim, o)
            .statuses(ids, concurrency)
            .filter(|(_, r)| r.is_ok())
            .count(),
        Kind::Reqwest => runtime().block_on(async {
            client!(clouddc_reqwest, &sim, o)
                .statuses(ids, concurrency)
                .filter(|(_, r)| std::future::ready(r.is_ok()))
                .count()
                .await
        }),
    };
    let took = started.elapsed();
    assert_eq!(ok, n, "{kind:?}: every id answered");
    let c = sim.control().counters().global;
    (took, c.requests, c.throttled)
}

#[test]
fn fleet_of_1000_under_a_rate_limit() {
    for kind in KINDS {
        let (took, requests, throttled) = fleet(kind, 1000, 400.0, 64);
        // Ideal: 1000 / 400 = 2.5 s.
        assert!(took < Duration::from_secs(15), "{kind:?} {took:?}");
        assert!(requests >= 1000, "{kind:?}");
        assert!(
            throttled * 100 <= requests * 5,
            "{kind:?}: {throttled} of {requests} throttled"
        );
    }
}

#[test]
fn fleet_of_2000_learns_the_limit_with_few_429s() {
    for kind in KINDS {
        let (took, requests, throttled) = fleet(kind, 2000, 1000.0, 64);
        let share = throttled as f64 / requests as f64;
        eprintln!(
            "{kind:?}: 2000 ids at 1000 rps: {took:?}, {requests} requests, {throttled} 429s ({:.2}%)",
            share * 100.0
        );
        assert!(
            share <= 0.02,
            "{kind:?}: {throttled} of {requests} throttled"
        );
        assert!(took < Duration::from_secs(20), "{kind:?} {took:?}");
    }
}

#[test]
fn fleet_limits_can_be_turned_off() {
    // Without pacing, the same fleet trips the limit far more often: the
    // contrast shows the limiter, not luck, keeps 429s down.
    for kind in KINDS {
        let (sim, ids) = fleet_sim(600, 200.0);
        let o = Opts {
            attempts: 1,
            ..Opts::default()
        };
        let unpaced = FleetOptions::new()
            .max_in_flight(64)
            .rate(None)
            .budget(None);
        run_fleet(kind, &sim, &o, ids, unpaced);
        let c = sim.control().counters().global;
        assert!(
            c.throttled * 10 > c.requests,
            "{kind:?} unpaced: {} of {} throttled",
            c.throttled,
            c.requests
        );
    }
}
