//! The API gateway as it really behaves, end to end through both clients
//! against the simulator: fixed-window flow control (429 `APIGW.0308`
//! quoting the quota, no `Retry-After`), and keep-alive connections closed
//! unanswered (the idle-timeout race), for status, metadata and IAM
//! requests alike.
//!
//! Assertions are on what the server saw (ids lost, requests per window,
//! the share of 429s, connections closed), not on wall-clock time; the
//! figures go to `BENCHMARKS.md`. Windows are short so that the suite stays
//! quick; both clients run at once, each against its own simulator.

use std::collections::HashMap;
use std::time::Duration;

use clouddc_core::{
    Config, Credentials, Endpoint, FleetOptions, InstanceId, InstanceState, ProjectId, WaitOptions,
    error_chain,
};
use clouddc_simulator::{
    Auth, BlockingHandle, CloseWith, Faults, FlowPolicy, Metadata, NewInstance, RequestRecord,
    Schedule, SimConfig, StaleConnections,
};

#[allow(dead_code)] // each test file uses a part
mod common;
use common::{Client, KINDS, Kind};

const TOKEN: &str = "gateway-token";
const REGION: &str = "cn-east-3";

fn sim(policies: Vec<FlowPolicy>, stale: Option<StaleConnections>) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::token(TOKEN))
        .instances(0)
        .flow_policies(policies)
        .build()
        .expect("sim config");
    let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
    if let Some(stale) = stale {
        set_stale(&sim, stale);
    }
    sim
}

fn set_stale(sim: &BlockingHandle, stale: StaleConnections) {
    sim.control()
        .set_faults(Faults {
            stale_connections: Some(stale),
            ..Faults::none()
        })
        .expect("faults");
}

fn add(sim: &BlockingHandle, n: usize, schedule: Schedule) -> Vec<InstanceId> {
    (0..n)
        .map(|i| {
            let id = format!("g-{i:04}");
            sim.control()
                .create_instance(
                    NewInstance::new()
                        .with_id(&id)
                        .with_schedule(schedule.clone()),
                )
                .expect("instance");
            InstanceId::new(id).expect("id")
        })
        .collect()
}

fn config(sim: &BlockingHandle, attempts: u32) -> Config {
    Config::builder()
        .endpoint(Endpoint::parse(sim.url()).expect("endpoint"))
        .project_id(ProjectId::new(sim.project_id()).expect("project"))
        .credentials(Credentials::token(TOKEN).expect("token"))
        .max_attempts(attempts)
        .attempt_timeout(Duration::from_secs(5))
        .build()
        .expect("config")
}

/// Runs `f` for both clients at once, each in its own thread.
fn both(f: fn(Kind)) {
    std::thread::scope(|s| {
        let runs: Vec<_> = KINDS.map(|k| s.spawn(move || f(k))).into();
        for r in runs {
            if let Err(e) = r.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}

fn window_of(at: Duration, window: Duration) -> u128 {
    at.as_nanos() / window.as_nanos()
}

/// Every throttled request's id came back only in a later window.
fn assert_no_retry_inside_its_window(kind: Kind, records: &[RequestRecord], window: Duration) {
    let mut last_refused: HashMap<&str, u128> = HashMap::new();
    for r in records {
        let Some(id) = r.instance_id.as_deref() else {
            continue;
        };
        let w = window_of(r.at, window);
        if let Some(refused_in) = last_refused.get(id) {
            assert!(
                w > *refused_in,
                "{kind:?}: {id} was retried in window {w}, which refused it"
            );
        }
        match r.throttled {
            Some(t) => {
                assert_eq!(
                    u128::from(t.window_index),
                    w,
                    "{kind:?}: the window's index"
                );
                last_refused.insert(id, w);
            }
            None => {
                last_refused.remove(id);
            }
        }
    }
}

/// Accepted requests per window never exceed the quota: the server's own
/// rule, checked so that a broken simulator cannot make the test pass.
fn assert_windows_hold(kind: Kind, records: &[RequestRecord], window: Duration, quota: u32) {
    let mut per: HashMap<u128, u32> = HashMap::new();
    for r in records.iter().filter(|r| r.status == Some(200)) {
        *per.entry(window_of(r.at, window)).or_default() += 1;
    }
    assert!(
        per.values().all(|n| *n <= quota),
        "{kind:?}: a window accepted more than {quota}: {per:?}"
    );
}

#[test]
fn three_hundred_ids_under_twenty_per_second_lose_none() {
    both(|kind| {
        let window = Duration::from_secs(1);
        let sim = sim(vec![FlowPolicy::per_api(20, window)], None);
        let ids = add(&sim, 300, Schedule::instant());
        let client = Client::new(kind, config(&sim, 3));
        let results = client.fleet(ids, FleetOptions::new());
        let lost: Vec<_> = results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| error_chain(e))
            .collect();
        assert!(lost.is_empty(), "{kind:?}: {} lost: {lost:?}", lost.len());
        assert_eq!(results.len(), 300);
        let records = sim.control().request_records();
        let throttled = records.iter().filter(|r| r.status == Some(429)).count();
        assert!(
            throttled * 10 <= records.len(),
            "{kind:?}: {throttled} of {} requests answered 429",
            records.len()
        );
        assert_eq!(
            records.iter().filter(|r| r.status == Some(200)).count(),
            300
        );
        assert_no_retry_inside_its_window(kind, &records, window);
        assert_windows_hold(kind, &records, window, 20);
        // The client learned the quota and keeps it for its next calls.
        let learned = client.session().learned_quotas();
        assert_eq!(learned.len(), 1, "{kind:?}");
        assert_eq!((learned[0].limit(), learned[0].window()), (20, window));
    });
}

#[test]
fn a_multi_second_window_loses_no_id() {
    // 600 per minute, scaled down: 60 per 6 s, 100 ids.
    both(|kind| {
        let window = Duration::from_secs(6);
        let sim = sim(vec![FlowPolicy::per_api(60, window)], None);
        let ids = add(&sim, 100, Schedule::instant());
        let client = Client::new(kind, config(&sim, 3));
        let results = client.fleet(ids, FleetOptions::new().max_in_flight(16));
        assert_eq!(results.len(), 100);
        let lost = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(lost, 0, "{kind:?}: ids lost");
        let records = sim.control().request_records();
        assert_no_retry_inside_its_window(kind, &records, window);
        assert_windows_hold(kind, &records, window, 60);
    });
}

#[test]
fn a_single_status_rides_out_a_throttled_window() {
    both(|kind| {
        let window = Duration::from_secs(2);
        let sim = sim(vec![FlowPolicy::per_api(1, window)], None);
        let ids = add(&sim, 2, Schedule::instant());
        // Another caller spends the window's only call...
        let other = Client::new(kind, config(&sim, 1));
        let first = other.status(ids[0].as_str());
        // ...unless the window turned just then: then spend the next one.
        if first.is_err() {
            other
                .status(ids[0].as_str())
                .expect("the next window's call");
        }
        let client = Client::new(kind, config(&sim, 3));
        let status = client.status(ids[1].as_str());
        assert!(
            status.is_ok(),
            "{kind:?}: {:?}",
            status.err().map(|e| error_chain(&e))
        );
        let records = sim.control().request_records();
        let mine: Vec<_> = records
            .iter()
            .filter(|r| r.instance_id.as_deref() == Some(ids[1].as_str()))
            .collect();
        assert_eq!(mine.len(), 2, "{kind:?}: one 429, then the answer");
        assert_eq!(mine[0].status, Some(429));
        assert_eq!(mine[1].status, Some(200));
        assert_no_retry_inside_its_window(kind, &records, window);
    });
}

#[test]
fn waits_under_throttling_reach_their_targets() {
    both(|kind| {
        let window = Duration::from_secs(1);
        let sim = sim(vec![FlowPolicy::per_api(10, window)], None);
        let ids = add(&sim, 30, Schedule::pending_for(Duration::from_secs(1)));
        let client = Client::new(kind, config(&sim, 3));
        let options = WaitOptions::new()
            .interval(Duration::from_millis(200))
            .max_wait(Duration::from_secs(60));
        let reports = client.wait_all(ids, InstanceState::Running, options);
        assert_eq!(reports.len(), 30);
        for (id, r) in &reports {
            assert_eq!(
                r.outcome.as_str(),
                "reached",
                "{kind:?} {id}: {:?}",
                r.outcome
            );
        }
        let records = sim.control().request_records();
        assert_no_retry_inside_its_window(kind, &records, window);
        assert_windows_hold(kind, &records, window, 10);
    });
}

/// 12 ids one after another, then a fleet of 200, with one attempt per
/// call: a request lost with its connection costs no attempt.
fn stale_connections_cost_nothing(kind: Kind, close: CloseWith) {
    let sim = sim(
        Vec::new(),
        Some(StaleConnections::reused().with_close(close)),
    );
    let ids = add(&sim, 200, Schedule::instant());
    let client = Client::new(kind, config(&sim, 1));
    for id in &ids[..12] {
        let s = client.status(id.as_str());
        assert!(
            s.is_ok(),
            "{kind:?} {close:?} {id}: {:?}",
            s.err().map(|e| error_chain(&e))
        );
    }
    // Every other request draws the connection the one before it left in
    // the pool, and loses it.
    let closed = sim.control().counters().global.stale_closed;
    assert!(
        closed >= 6,
        "{kind:?} {close:?}: {closed} connections closed"
    );
    let results = client.fleet(ids, FleetOptions::new().max_in_flight(16));
    assert_eq!(results.len(), 200);
    let lost: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| error_chain(e))
        .collect();
    assert!(lost.is_empty(), "{kind:?} {close:?}: {lost:?}");
    assert!(sim.control().counters().global.stale_closed > closed);
}

#[test]
fn reused_connections_closed_unanswered_lose_nothing() {
    both(|kind| stale_connections_cost_nothing(kind, CloseWith::Eof));
}

#[test]
fn reused_connections_reset_lose_nothing() {
    both(|kind| stale_connections_cost_nothing(kind, CloseWith::Reset));
}

#[test]
fn a_pool_gone_stale_after_an_idle_gap_loses_nothing() {
    both(|kind| {
        let idle = Duration::from_millis(600);
        let sim = sim(Vec::new(), Some(StaleConnections::idle_longer_than(idle)));
        let ids = add(&sim, 64, Schedule::instant());
        let client = Client::new(kind, config(&sim, 1));
        for round in 0..2 {
            let results = client.fleet(ids.clone(), FleetOptions::new().max_in_flight(16));
            assert!(
                results.iter().all(Result::is_ok),
                "{kind:?} round {round}: {:?}",
                results
                    .iter()
                    .find_map(|r| r.as_ref().err().map(|e| error_chain(e)))
            );
            // Every pooled connection goes stale.
            std::thread::sleep(idle + Duration::from_millis(300));
        }
        assert!(
            sim.control().counters().global.stale_closed >= 2,
            "{kind:?}: the pool did not go stale"
        );
    });
}

#[test]
fn metadata_and_iam_requests_survive_stale_connections() {
    both(|kind| {
        let config = SimConfig::builder()
            .listen(([127, 0, 0, 1], 0).into())
            .auth(Auth::ak_sk("HPUAPERMANENTAK01", "permanent-secret-key-01"))
            .instances(0)
            .metadata(Metadata::on())
            .region(REGION)
            .build()
            .expect("sim config");
        let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
        let ids = add(&sim, 3, Schedule::instant());
        set_stale(&sim, StaleConnections::reused());
        let endpoint = Endpoint::parse(sim.url()).expect("endpoint");
        let config = Config::builder()
            .endpoint(endpoint.clone())
            .region(REGION)
            .metadata(endpoint.clone())
            .iam_endpoint(endpoint)
            .max_attempts(1)
            .build()
            .expect("config");
        let client = Client::new(kind, config);
        // Token, key and project lookup, every one after the first on a
        // reused connection that the server closes.
        let resolved = client.resolve();
        assert!(
            resolved.is_ok(),
            "{kind:?}: {:?}",
            resolved.err().map(|e| error_chain(&e))
        );
        for id in &ids {
            client.status(id.as_str()).expect("status");
        }
        let c = sim.control().counters().global;
        assert!(c.stale_closed >= 2, "{kind:?}: {} closed", c.stale_closed);
    });
}
