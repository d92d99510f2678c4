//! OIDC federation end to end against the simulator, through both clients:
//! the id token in a file exchanged at the simulator's IAM for temporary
//! credentials the gateway accepts, the project looked up with them, one
//! exchange for a fleet, a rotated file read again at refresh, refusals
//! and a missing file told with what to fix, and no secret anywhere.
//!
//! Configs come from the environment chain (`with_sources`) with only the
//! OIDC variables, the region, the IAM endpoint and the endpoint set; the
//! metadata source is off. Every address is a loopback simulator.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use clouddc_core::{Config, Credentials, ErrorKind, FleetOptions, InstanceId, Origin, error_chain};
use clouddc_simulator::{Auth, BlockingHandle, NewInstance, Oidc, Schedule, SimConfig};
use clouddc_tests::capture::Capture;

#[allow(dead_code)] // each test file uses a part
mod common;
use common::{Client, KINDS};

const IDP: &str = "idp-k8s";
const REGION: &str = "cn-east-3";
const ID_TOKEN: &str = "eyJ-ID-TOKEN-MARKER-41c7";

fn sim(oidc: Oidc, instances: usize) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        // Only AK/SK signing is accepted: the issued credentials, or these.
        .auth(Auth::ak_sk("HPUANOTUSED", "not-used"))
        .instances(0)
        .region(REGION)
        .oidc(oidc)
        .build()
        .expect("sim config");
    let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
    for i in 0..instances {
        sim.control()
            .create_instance(
                NewInstance::new()
                    .with_id(format!("i-{i}"))
                    .with_schedule(Schedule::instant()),
            )
            .expect("instance");
    }
    sim
}

/// A config from the environment chain: the OIDC pair (and `extra`), the
/// region, the simulator as endpoint and IAM, metadata off.
fn config(
    sim: &BlockingHandle,
    token_file: &Path,
    extra: &[(&str, &str)],
) -> Result<Config, clouddc_core::Error> {
    let mut env: HashMap<String, String> = [
        ("CLOUDDC_ENDPOINT", sim.url().to_owned()),
        ("HUAWEICLOUD_SDK_REGION", REGION.to_owned()),
        ("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url().to_owned()),
        ("HUAWEICLOUD_SDK_IDP_ID", IDP.to_owned()),
        (
            "HUAWEICLOUD_SDK_ID_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        ("CLOUDDC_METADATA_ENDPOINT", "off".to_owned()),
        ("HOME", "/nonexistent-home".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let lookup = |k: &str| env.get(k).cloned();
    Config::from_sources(&lookup, &clouddc_ureq::read_profile_file)
}

fn token_file(dir: &tempfile::TempDir, content: &str) -> std::path::PathBuf {
    let path = dir.path().join("token");
    std::fs::write(&path, content).expect("write the token");
    path
}

#[test]
fn status_with_only_the_oidc_variables_and_the_project_looked_up() {
    for kind in KINDS {
        let sim = sim(Oidc::on(IDP).with_accepted_tokens([ID_TOKEN]), 1);
        let dir = tempfile::tempdir().expect("dir");
        let path = token_file(&dir, &format!("  {ID_TOKEN}\n"));
        let config = config(&sim, &path, &[]).expect("config");
        assert_eq!(config.origins().credentials, Origin::Oidc);
        let client = Client::new(kind, config);
        for _ in 0..5 {
            let s = client.status("i-0");
            assert!(
                s.is_ok(),
                "{kind:?}: {:?}",
                s.err().map(|e| error_chain(&e))
            );
        }
        let c = sim.control().counters().global;
        assert_eq!(
            (c.oidc_id_token_requests, c.oidc_security_token_requests),
            (1, 1),
            "{kind:?}"
        );
        assert_eq!(
            (c.iam_requests, c.requests),
            (1, 5),
            "{kind:?}: one lookup, five calls"
        );
        assert_eq!(
            sim.control().oidc_id_tokens(),
            [ID_TOKEN],
            "{kind:?}: trimmed"
        );
        assert!(matches!(
            client.session().credentials(),
            Some(Credentials::AkSk {
                security_token: Some(_),
                ..
            })
        ));
        assert!(client.session().credentials_expire().is_some());
        assert_eq!(
            client.session().project_id().expect("looked up").as_str(),
            sim.project_id()
        );
    }
}

#[test]
fn a_fleet_of_300_makes_one_exchange_of_each_kind() {
    for kind in KINDS {
        let sim = sim(Oidc::on(IDP), 300);
        let dir = tempfile::tempdir().expect("dir");
        let path = token_file(&dir, ID_TOKEN);
        let client = Client::new(kind, config(&sim, &path, &[]).expect("config"));
        let ids = (0..300)
            .map(|i| InstanceId::new(format!("i-{i}")).expect("id"))
            .collect();
        let results = client.fleet(ids, FleetOptions::new().max_in_flight(64));
        assert_eq!(results.len(), 300);
        assert!(results.iter().all(Result::is_ok), "{kind:?}");
        let c = sim.control().counters().global;
        assert_eq!(
            (c.oidc_id_token_requests, c.oidc_security_token_requests),
            (1, 1),
            "{kind:?}"
        );
        assert_eq!((c.iam_requests, c.requests), (1, 300), "{kind:?}");
    }
}

#[test]
fn short_lived_credentials_are_refreshed_with_the_rotated_token() {
    for kind in KINDS {
        let oidc = Oidc::on(IDP)
            .with_accepted_tokens(["token-1"])
            .with_lifetime(Duration::from_secs(4));
        let sim = sim(oidc.clone(), 1);
        let dir = tempfile::tempdir().expect("dir");
        let path = token_file(&dir, "token-1\n");
        let client = Client::new(kind, config(&sim, &path, &[]).expect("config"));
        client.status("i-0").expect("first call");
        // Kubernetes rotates the token; IAM now accepts only the new one.
        std::fs::write(&path, "token-2\n").expect("rotate");
        sim.control()
            .set_oidc(oidc.with_accepted_tokens(["token-2"]))
            .expect("oidc");
        let end = Instant::now() + Duration::from_secs(6);
        let mut calls = 0;
        while Instant::now() < end {
            let s = client.status("i-0");
            assert!(
                s.is_ok(),
                "{kind:?}: {:?}",
                s.err().map(|e| error_chain(&e))
            );
            calls += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        let tokens = sim.control().oidc_id_tokens();
        assert_eq!(tokens.first().map(String::as_str), Some("token-1"));
        assert!(tokens.len() >= 2, "{kind:?}: refreshed: {tokens:?}");
        assert!(
            tokens[1..].iter().all(|t| t == "token-2"),
            "{kind:?}: {tokens:?}"
        );
        let c = sim.control().counters().global;
        assert_eq!(
            c.by_status.get(&401).copied().unwrap_or(0),
            0,
            "{kind:?}: no refused call"
        );
        assert_eq!(c.requests, calls + 1, "{kind:?}");
    }
}

#[test]
fn refusals_and_missing_files_are_told_with_what_to_fix_and_nothing_is_sent() {
    for kind in KINDS {
        let refusing =
            Oidc::on(IDP).with_refusal(403, "IAM.0103", "No mapping rule matched the token.");
        let refuser = sim(refusing, 1);
        let dir = tempfile::tempdir().expect("dir");
        let path = token_file(&dir, ID_TOKEN);
        let client = Client::new(kind, config(&refuser, &path, &[]).expect("config"));
        let e = client.status("i-0").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{kind:?}");
        let text = error_chain(&e);
        assert!(
            text.contains("No mapping rule matched the token.") && text.contains("X-IAM-Trace-Id"),
            "{text}"
        );
        assert!(!text.contains(ID_TOKEN), "{text}");
        assert_eq!(
            refuser.control().counters().global.requests,
            0,
            "{kind:?}: no status request"
        );

        let sim = sim(Oidc::on(IDP), 1);
        for (content, what) in [(None, "does not exist"), (Some(" \n"), "is empty")] {
            let path = dir.path().join("absent-or-empty");
            let _ = std::fs::remove_file(&path);
            if let Some(c) = content {
                std::fs::write(&path, c).expect("write");
            }
            let client = Client::new(kind, config(&sim, &path, &[]).expect("config"));
            let e = client.resolve().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{kind:?}");
            let text = error_chain(&e);
            assert!(
                text.contains(&path.display().to_string()) && text.contains(what),
                "{text}"
            );
        }
        let c = sim.control().counters().global;
        assert_eq!(
            (c.oidc_id_token_requests, c.requests),
            (0, 0),
            "{kind:?}: nothing sent"
        );
    }
}

#[test]
fn the_chain_order_env_oidc_beats_env_aksk_and_a_token_beats_oidc() {
    let sim = sim(Oidc::on(IDP), 1);
    let dir = tempfile::tempdir().expect("dir");
    let path = token_file(&dir, ID_TOKEN);
    let aksk = [
        ("HUAWEICLOUD_SDK_AK", "HPUAENVAK"),
        ("HUAWEICLOUD_SDK_SK", "env-sk"),
    ];
    let c = config(&sim, &path, &aksk).expect("config");
    assert_eq!(c.origins().credentials, Origin::Oidc);
    let c = config(
        &sim,
        &path,
        &[
            ("CLOUDDC_AUTH_TOKEN", "tok"),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
        ],
    )
    .expect("config");
    assert_eq!(c.credentials().map(Credentials::kind), Some("token"));
    assert!(c.oidc().is_none());
    let text = config(&sim, &path, &[("HUAWEICLOUD_SDK_IDP_ID", "")])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("HUAWEICLOUD_SDK_IDP_ID (HUAWEICLOUD_SDK_ID_TOKEN_FILE is set)"),
        "{text}"
    );
}

#[test]
fn no_id_token_subject_token_or_secret_shows() {
    for kind in KINDS {
        let sim = sim(Oidc::on(IDP), 1);
        let dir = tempfile::tempdir().expect("dir");
        let path = token_file(&dir, ID_TOKEN);
        let capture = Capture::default();
        let (shown, client) = tracing::subscriber::with_default(capture.clone(), || {
            let client = Client::new(kind, config(&sim, &path, &[]).expect("config"));
            let ok = client.status("i-0").expect("status");
            let missing = client.status("nope").unwrap_err();
            (
                format!(
                    "{ok:?} {missing} {missing:?} {:?} {:?}",
                    client.session(),
                    client.config()
                ),
                client,
            )
        });
        let Some(Credentials::AkSk {
            secret_key,
            security_token: Some(st),
            ..
        }) = client.session().credentials()
        else {
            panic!("temporary credentials")
        };
        let text = format!("{shown}\n{}", capture.everything());
        for secret in [ID_TOKEN, secret_key.expose(), st.expose(), "SIMSUBJ"] {
            assert!(!text.contains(secret), "{kind:?}: {secret} in:\n{text}");
        }
    }
}
