//! Where credentials and the project come from, end to end against the
//! simulator, through both clients: server metadata with and without
//! session tokens, rotation under a running fleet, the IAM project lookup,
//! clock skew both ways, and the failures a user must be told about.
//!
//! Every source here is a loopback simulator; nothing reaches the real
//! metadata address. Synchronisation is by the simulator's counters and
//! the clients' results.

use std::time::Duration;

use clouddc_core::{
    Config, Credentials, Endpoint, ErrorKind, FleetOptions, InstanceId, InstanceStatus, ProjectId,
    RateLimiterConfig, error_chain,
};
use clouddc_simulator::{
    Auth, BlockingHandle, IamProject, Metadata, NewInstance, Schedule, SessionTokens, SimConfig,
};

#[allow(dead_code)] // each test file uses a part
mod common;
use common::{Client, KINDS};

const AK: &str = "HPUAPERMANENTAK01";
const SK: &str = "permanent-secret-key-01";
const REGION: &str = "cn-east-3";

fn sim(metadata: Metadata, clock_offset_secs: i64) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::ak_sk(AK, SK))
        .instances(0)
        .metadata(metadata)
        .region(REGION)
        .clock_offset_secs(clock_offset_secs)
        .build()
        .expect("sim config");
    let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
    sim.control()
        .create_instance(
            NewInstance::new()
                .with_id("i-1")
                .with_schedule(Schedule::instant()),
        )
        .expect("instance");
    sim
}

fn add_instances(sim: &BlockingHandle, n: usize) -> Vec<InstanceId> {
    (0..n)
        .map(|i| {
            let id = format!("f-{i}");
            sim.control()
                .create_instance(
                    NewInstance::new()
                        .with_id(&id)
                        .with_schedule(Schedule::instant()),
                )
                .expect("instance");
            InstanceId::new(id).expect("id")
        })
        .collect()
}

fn endpoint(sim: &BlockingHandle) -> Endpoint {
    Endpoint::parse(sim.url()).expect("endpoint")
}

/// Metadata credentials; the project id as given, or looked up from the
/// simulator's IAM.
fn metadata_config(sim: &BlockingHandle, project: bool) -> Config {
    let mut b = Config::builder()
        .endpoint(endpoint(sim))
        .region(REGION)
        .metadata(endpoint(sim))
        .iam_endpoint(endpoint(sim))
        .attempt_timeout(Duration::from_secs(5));
    if project {
        b = b.project_id(ProjectId::new(sim.project_id()).expect("project"));
    }
    b.build().expect("config")
}

#[test]
fn metadata_alone_with_and_without_session_tokens() {
    for tokens in [
        SessionTokens::Required,
        SessionTokens::Unsupported404,
        SessionTokens::Unsupported405,
    ] {
        for kind in KINDS {
            let sim = sim(Metadata::on().with_session_tokens(tokens), 0);
            let client = Client::new(kind, metadata_config(&sim, true));
            assert!(client.session().credentials().is_none());
            for _ in 0..5 {
                let s = client.status("i-1");
                assert!(
                    s.is_ok(),
                    "{kind:?} {tokens:?}: {:?}",
                    s.err().map(|e| error_chain(&e))
                );
            }
            let c = sim.control().counters().global;
            assert_eq!(c.metadata_key_requests, 1, "{kind:?} {tokens:?}");
            assert_eq!(c.metadata_token_requests, 1, "{kind:?} {tokens:?}");
            assert_eq!(c.requests, 5, "{kind:?} {tokens:?}");
            let creds = client.session().credentials().expect("fetched");
            assert!(matches!(
                creds,
                Credentials::AkSk {
                    security_token: Some(_),
                    ..
                }
            ));
        }
    }
}

#[test]
fn metadata_and_iam_with_no_project_anywhere_one_lookup_for_a_thousand_calls() {
    for kind in KINDS {
        let sim = sim(Metadata::on(), 0);
        let ids = add_instances(&sim, 1000);
        let client = Client::new(kind, metadata_config(&sim, false));
        assert!(client.session().project_id().is_none());
        let results = client.fleet(ids, FleetOptions::new().max_in_flight(32));
        assert_eq!(results.len(), 1000);
        assert!(results.iter().all(Result::is_ok), "{kind:?}");
        for _ in 0..3 {
            client.status("i-1").expect("status");
        }
        let c = sim.control().counters().global;
        assert_eq!(c.iam_requests, 1, "{kind:?}");
        assert_eq!(c.metadata_key_requests, 1, "{kind:?}");
        assert_eq!(c.requests, 1003, "{kind:?}");
        assert_eq!(
            client.session().project_id().expect("looked up").as_str(),
            sim.project_id()
        );
    }
}

#[test]
fn permanent_aksk_and_iam_lookup() {
    for kind in KINDS {
        let sim = sim(Metadata::off(), 0);
        let config = Config::builder()
            .endpoint(endpoint(&sim))
            .region(REGION)
            .iam_endpoint(endpoint(&sim))
            .credentials(Credentials::ak_sk(AK, SK).expect("creds"))
            .build()
            .expect("config");
        let client = Client::new(kind, config);
        client.status("i-1").expect("status");
        client.status("i-1").expect("status");
        let c = sim.control().counters().global;
        assert_eq!(
            (c.iam_requests, c.metadata_key_requests),
            (1, 0),
            "{kind:?}"
        );
    }
}

#[test]
fn zero_or_several_projects_fail_resolution_listing_them() {
    for kind in KINDS {
        let sim = sim(Metadata::on(), 0);
        sim.control()
            .set_iam_projects(Vec::<IamProject>::new())
            .expect("projects");
        let client = Client::new(kind, metadata_config(&sim, false));
        let e = client.resolve().unwrap_err();
        let text = error_chain(&e);
        assert!(
            text.contains("no project named cn-east-3") && text.contains("X-IAM-Trace-Id"),
            "{text}"
        );
        assert_eq!(
            sim.control().counters().global.requests,
            0,
            "no status request"
        );
        sim.control()
            .set_iam_projects([
                IamProject::new("p-a", REGION),
                IamProject::new("p-b", REGION),
            ])
            .expect("projects");
        let client = Client::new(kind, metadata_config(&sim, false));
        let e = client.status("i-1").unwrap_err();
        let text = error_chain(&e);
        assert!(
            text.contains("p-a") && text.contains("p-b") && text.contains("X-IAM-Trace-Id"),
            "{text}"
        );
        assert_eq!(
            sim.control().counters().global.requests,
            0,
            "no status request"
        );
    }
}

#[test]
fn no_agency_and_unreachable_metadata_are_told_apart() {
    for kind in KINDS {
        let sim = sim(Metadata::on().with_agency(false), 0);
        let client = Client::new(kind, metadata_config(&sim, true));
        let e = client.resolve().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let text = error_chain(&e);
        assert!(
            text.contains("Please configure Cloud Service Agency first"),
            "{text}"
        );
        assert!(client.status("i-1").is_err());
        assert_eq!(sim.control().counters().global.requests, 0);

        // A closed loopback port: unreachable, said as such.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let config = Config::builder()
            .endpoint(endpoint(&sim))
            .project_id(ProjectId::new("p").expect("p"))
            .metadata(Endpoint::parse(&format!("http://127.0.0.1:{port}")).expect("ep"))
            .build()
            .expect("config");
        let e = Client::new(kind, config).resolve().unwrap_err();
        let text = error_chain(&e);
        assert!(text.contains("unreachable"), "{text}");
        assert!(
            matches!(e.kind(), ErrorKind::Transport | ErrorKind::Timeout),
            "{text}"
        );
    }
}

/// `fleet of 5,000 statuses while the metadata credentials rotate every
/// 2 s`: paced at 1,000/s so that it spans several rotations.
#[test]
fn a_fleet_of_5000_while_credentials_rotate_every_2s() {
    for kind in KINDS {
        let sim = sim(
            Metadata::on().with_rotation(Duration::from_secs(2), Duration::from_secs(6)),
            0,
        );
        let ids = add_instances(&sim, 5000);
        let client = Client::new(kind, metadata_config(&sim, true));
        let options = FleetOptions::new()
            .max_in_flight(32)
            .rate(Some(RateLimiterConfig::cap(1000.0)));
        let results = client.fleet(ids, options);
        let c = sim.control().counters().global;
        eprintln!(
            "{kind:?}: 5000 statuses, {} generations, {} token and {} credentials requests, {} 401s",
            c.metadata_generations,
            c.metadata_token_requests,
            c.metadata_key_requests,
            c.by_status.get(&401).copied().unwrap_or(0)
        );
        let failed: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| error_chain(e)))
            .take(3)
            .collect();
        assert!(failed.is_empty(), "{kind:?}: {failed:?}");
        assert_eq!(
            c.by_status.get(&401).copied().unwrap_or(0),
            0,
            "{kind:?}: no 401"
        );
        assert!(
            c.metadata_generations >= 3,
            "{kind:?}: spanned {} generations",
            c.metadata_generations
        );
        assert!(
            c.metadata_key_requests <= c.metadata_generations + 1,
            "{kind:?}: {} refreshes for {} generations",
            c.metadata_key_requests,
            c.metadata_generations
        );
        assert_eq!(c.requests, 5000, "{kind:?}");
    }
}

/// Gateway clock an hour ahead or behind: every AK/SK call succeeds; the
/// first takes one extra attempt and later ones none.
/// Permanent AK/SK and the simulator's project, one attempt per call.
fn one_attempt_aksk(sim: &BlockingHandle) -> Config {
    Config::builder()
        .endpoint(endpoint(sim))
        .project_id(ProjectId::new(sim.project_id()).expect("project"))
        .credentials(Credentials::ak_sk(AK, SK).expect("creds"))
        .max_attempts(1)
        .build()
        .expect("config")
}

#[test]
fn clock_skew_both_ways() {
    for offset in [3600, -3600] {
        for kind in KINDS {
            let sim = sim(Metadata::off(), offset);
            let config = one_attempt_aksk(&sim);
            let client = Client::new(kind, config);
            client.status("i-1").expect("first call");
            assert_eq!(
                sim.control().counters().global.requests,
                2,
                "{kind:?} {offset}"
            );
            let skew = client.session().clock_skew().expect("corrected");
            assert!((skew.as_secs() - offset).abs() <= 2, "{skew}");
            for _ in 0..5 {
                client.status("i-1").expect("later call");
            }
            assert_eq!(
                sim.control().counters().global.requests,
                7,
                "{kind:?} {offset}"
            );
            // A fleet on a fresh client: calls in flight when the first
            // 401 arrives take one extra attempt each, no more.
            let ids = add_instances(&sim, 200);
            let config = one_attempt_aksk(&sim);
            let fresh = Client::new(kind, config);
            let before = sim.control().counters().global.requests;
            let results = fresh.fleet(ids, FleetOptions::new().max_in_flight(8));
            assert!(results.iter().all(Result::is_ok), "{kind:?} {offset}");
            let sent = sim.control().counters().global.requests - before;
            eprintln!("{kind:?} offset {offset}: 200 ids, 8 in flight: {sent} requests");
            assert!(
                (201..=208).contains(&sent),
                "{kind:?} {offset}: {sent} requests"
            );
        }
    }
}

#[test]
fn skew_is_never_applied_to_a_token() {
    for kind in KINDS {
        let config = SimConfig::builder()
            .listen(([127, 0, 0, 1], 0).into())
            .auth(Auth::token("tok"))
            .instances(0)
            .clock_offset_secs(3600)
            .build()
            .expect("sim config");
        let sim = clouddc_simulator::start_blocking(config).expect("sim");
        sim.control()
            .create_instance(
                NewInstance::new()
                    .with_id("i-1")
                    .with_schedule(Schedule::instant()),
            )
            .expect("instance");
        let config = Config::builder()
            .endpoint(endpoint(&sim))
            .project_id(ProjectId::new(sim.project_id()).expect("project"))
            .credentials(Credentials::token("tok").expect("token"))
            .build()
            .expect("config");
        let client = Client::new(kind, config);
        client.status("i-1").expect("token calls are not signed");
        assert!(client.session().clock_skew().is_none());
        assert_eq!(sim.control().counters().global.requests, 1);
    }
}

#[test]
fn metadata_secrets_never_show() {
    for kind in KINDS {
        let sim = sim(Metadata::on().with_agency(true), 0);
        let client = Client::new(kind, metadata_config(&sim, false));
        client.status("i-1").expect("status");
        let g = sim.control().metadata_credentials().expect("issued");
        let shown = format!("{:?} {:?}", client.config(), client.session().credentials());
        for secret in [g.secret_key.expose(), g.security_token.expose()] {
            assert!(!shown.contains(secret), "{kind:?}: {shown}");
        }
        let e = client.status("missing").unwrap_err();
        let text = format!("{e} {e:?} {}", error_chain(&e));
        for secret in [g.secret_key.expose(), g.security_token.expose()] {
            assert!(!text.contains(secret), "{kind:?}: {text}");
        }
    }
}

/// The metadata service fails after the first fetch: calls keep signing
/// with the unexpired credentials, and once those expire they fail with
/// kind `unauthorized` without sending anything the gateway would refuse.
#[test]
fn a_failing_refresh_fails_calls_only_once_the_credentials_expired() {
    use clouddc_simulator::{Faults, ServerError};
    for kind in KINDS {
        let metadata = Metadata::on().with_rotation(Duration::from_secs(3), Duration::from_secs(3));
        let sim = sim(metadata.clone(), 0);
        let client = Client::new(kind, metadata_config(&sim, true));
        client.status("i-1").expect("first call");
        let broken = metadata.with_faults(Faults {
            server_error: Some(ServerError::status(503)),
            ..Faults::none()
        });
        sim.control().set_metadata(broken).expect("metadata");
        let expires = client.session().credentials_expire().expect("temporary");
        let mut outcomes = Vec::new();
        let end = std::time::Instant::now() + Duration::from_secs(6);
        let failed = |o: &[(std::time::SystemTime, Result<InstanceStatus, ErrorKind>)]| {
            o.iter().filter(|(_, r)| r.is_err()).count()
        };
        while std::time::Instant::now() < end && failed(&outcomes) < 3 {
            let now = std::time::SystemTime::now();
            outcomes.push((now, client.status("i-1").map_err(|e| e.kind())));
            std::thread::sleep(Duration::from_millis(100));
        }
        for (at, outcome) in &outcomes {
            match outcome {
                Ok(_) => assert!(*at < expires, "{kind:?}: signed after expiry"),
                Err(k) => {
                    assert_eq!(*k, ErrorKind::Unauthorized, "{kind:?}");
                    assert!(
                        *at + Duration::from_secs(5) >= expires,
                        "{kind:?}: failed early"
                    );
                }
            }
        }
        assert!(outcomes.first().is_some_and(|o| o.1.is_ok()), "{kind:?}");
        assert!(outcomes.last().is_some_and(|o| o.1.is_err()), "{kind:?}");
        let c = sim.control().counters().global;
        assert_eq!(
            c.by_status.get(&401).copied().unwrap_or(0),
            0,
            "{kind:?}: nothing expired was sent"
        );
        assert!(
            c.metadata_key_requests >= 3,
            "{kind:?}: the refresh was retried"
        );
    }
}

/// Many threads calling one blocking client at once, before anything is
/// resolved: one token, one credentials and one IAM request in all.
#[test]
fn threads_sharing_a_client_resolve_once() {
    let sim = sim(Metadata::on(), 0);
    let client = clouddc_ureq::Client::new(metadata_config(&sim, false)).expect("client");
    std::thread::scope(|scope| {
        for _ in 0..16 {
            scope.spawn(|| {
                for _ in 0..10 {
                    let id = InstanceId::new("i-1").expect("id");
                    client.status(&id).expect("status");
                }
            });
        }
    });
    let c = sim.control().counters().global;
    assert_eq!(
        (
            c.metadata_token_requests,
            c.metadata_key_requests,
            c.iam_requests,
            c.requests
        ),
        (1, 1, 1, 160)
    );
}
