//! The binary with OIDC federation, on both transports, against the
//! simulator's IAM: `status`, `watch` and `config` with only the OIDC
//! variables (plus region and IAM endpoint), a rotated token file under a
//! running `watch`, every error exiting 2 with its message and no status
//! request, the chain order, and no secret in any output, `-v` included.
//! Server metadata is off in every run; `HOME` is an empty folder.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use clouddc_simulator::{Auth, BlockingHandle, NewInstance, Oidc, Schedule, SimConfig};
use common::{TRANSPORTS, clouddc, run};
use serde_json::Value;

mod common;

const IDP: &str = "idp-k8s";
const ID_TOKEN: &str = "eyJ-ID-TOKEN-MARKER-93d0";

fn sim(oidc: Oidc) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::ak_sk("HPUANOTUSED", "not-used"))
        .instances(0)
        .region("cn-east-3")
        .oidc(oidc)
        .build()
        .expect("sim config");
    let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
    for id in ["i-1", "i-2"] {
        sim.control()
            .create_instance(
                NewInstance::new()
                    .with_id(id)
                    .with_schedule(Schedule::instant()),
            )
            .expect("instance");
    }
    sim
}

/// The binary in a pod: the OIDC pair, the region, the simulator as
/// endpoint and IAM.
fn in_a_pod(sim: &BlockingHandle, token_file: &Path, transport: &str) -> Command {
    let mut c = clouddc();
    c.env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url())
        .env("HUAWEICLOUD_SDK_IDP_ID", IDP)
        .env("HUAWEICLOUD_SDK_ID_TOKEN_FILE", token_file)
        .args([
            "--endpoint",
            sim.url(),
            "-o",
            "json",
            "--transport",
            transport,
        ]);
    c
}

fn token_file(dir: &tempfile::TempDir, content: &str) -> std::path::PathBuf {
    let path = dir.path().join("token");
    std::fs::write(&path, content).expect("token");
    path
}

/// Neither the id token nor what the simulator issues (subject tokens
/// `SIMSUBJ…`, secret keys `simsk…`, security tokens `simst…`) shows.
fn assert_no_secret(texts: &[&str]) {
    for text in texts {
        assert!(!text.contains(ID_TOKEN), "the id token in:\n{text}");
        assert!(!text.contains("SIMSUBJ"), "a subject token in:\n{text}");
        assert!(!text.contains("simsk"), "a secret key in:\n{text}");
        assert!(!text.contains("simst"), "a security token in:\n{text}");
    }
}

#[test]
fn status_watch_and_config_with_only_the_oidc_variables() {
    for transport in TRANSPORTS {
        let sim = sim(Oidc::on(IDP).with_accepted_tokens([ID_TOKEN]));
        let dir = tempfile::tempdir().expect("dir");
        let path = token_file(&dir, &format!("{ID_TOKEN}\n"));
        let mut c = in_a_pod(&sim, &path, transport);
        c.args(["-v", "status", "i-1", "i-2"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
        assert_no_secret(&[&r.stdout, &r.stderr]);
        let g = sim.control().counters().global;
        assert_eq!(
            (
                g.oidc_id_token_requests,
                g.oidc_security_token_requests,
                g.iam_requests,
                g.requests
            ),
            (1, 1, 1, 2),
            "{transport}"
        );

        let mut c = in_a_pod(&sim, &path, transport);
        c.args(["watch", "i-1", "--interval", "100ms", "--for", "500ms"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        assert!(r.stdout.contains("running"), "{}", r.stdout);

        let mut c = in_a_pod(&sim, &path, transport);
        c.args(["config"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        let v: Value = serde_json::from_str(r.stdout.trim()).expect("json");
        assert_eq!(v["credentials"]["kind"], "temporary");
        assert_eq!(v["credentials"]["source"], "oidc");
        assert!(
            v["credentials"]["access_key"]
                .as_str()
                .unwrap()
                .starts_with("****"),
            "{v}"
        );
        assert_eq!(v["project_id"]["source"], "iam");
        assert_no_secret(&[&r.stdout, &r.stderr]);
        let mut c = in_a_pod(&sim, &path, transport);
        c.args(["config", "-o", "table"]);
        let r = run(c);
        assert!(r.stdout.contains("oidc"), "{}", r.stdout);
        assert_no_secret(&[&r.stdout, &r.stderr]);
    }
}

#[test]
fn watch_refreshes_short_lived_credentials_with_the_rotated_token() {
    for transport in TRANSPORTS {
        let oidc = Oidc::on(IDP)
            .with_accepted_tokens(["token-1"])
            .with_lifetime(Duration::from_secs(4));
        let sim = sim(oidc.clone());
        let dir = tempfile::tempdir().expect("dir");
        let path = token_file(&dir, "token-1\n");
        let mut c = in_a_pod(&sim, &path, transport);
        c.args(["watch", "i-1", "i-2", "--interval", "200ms", "--for", "7s"]);
        let r = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_secs(1));
                // Kubernetes rotates the token; IAM now accepts only the new one.
                std::fs::write(&path, "token-2\n").expect("rotate");
                sim.control()
                    .set_oidc(oidc.clone().with_accepted_tokens(["token-2"]))
                    .expect("oidc");
            });
            run(c)
        });
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        assert!(!r.stdout.contains("failure"), "{transport}: {}", r.stdout);
        let tokens = sim.control().oidc_id_tokens();
        assert_eq!(
            tokens.first().map(String::as_str),
            Some("token-1"),
            "{tokens:?}"
        );
        assert!(tokens.len() >= 2, "{transport}: refreshed: {tokens:?}");
        assert!(tokens[1..].iter().all(|t| t == "token-2"), "{tokens:?}");
        let g = sim.control().counters().global;
        assert_eq!(
            g.by_status.get(&401).copied().unwrap_or(0),
            0,
            "{transport}: no refused poll"
        );
        assert!(g.requests >= 20, "{transport}: {} polls", g.requests);
    }
}

#[test]
fn every_error_exits_2_with_its_message_and_sends_no_status_request() {
    for transport in TRANSPORTS {
        let refusing = Oidc::on(IDP).with_refusal(401, "IAM.0101", "The id token has expired.");
        let sim = sim(refusing);
        let dir = tempfile::tempdir().expect("dir");
        let good = token_file(&dir, ID_TOKEN);
        let missing = dir.path().join("missing");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").expect("empty");
        let cases: Vec<(Command, Vec<String>)> = vec![
            (
                in_a_pod(&sim, &good, transport),
                vec!["The id token has expired.".into(), "X-IAM-Trace-Id".into()],
            ),
            (
                in_a_pod(&sim, &missing, transport),
                vec![missing.display().to_string(), "does not exist".into()],
            ),
            (
                in_a_pod(&sim, &empty, transport),
                vec![empty.display().to_string(), "is empty".into()],
            ),
            (
                {
                    let mut c = in_a_pod(&sim, &good, transport);
                    c.env_remove("HUAWEICLOUD_SDK_IDP_ID");
                    c
                },
                vec!["HUAWEICLOUD_SDK_IDP_ID (HUAWEICLOUD_SDK_ID_TOKEN_FILE is set)".into()],
            ),
            (
                {
                    let mut c = in_a_pod(&sim, &good, transport);
                    c.env_remove("HUAWEICLOUD_SDK_ID_TOKEN_FILE");
                    c
                },
                vec!["HUAWEICLOUD_SDK_ID_TOKEN_FILE (HUAWEICLOUD_SDK_IDP_ID is set)".into()],
            ),
        ];
        for (mut c, said) in cases {
            c.args(["status", "i-1"]);
            let r = run(c);
            assert_eq!(r.code, 2, "{transport}: {}", r.stderr);
            assert!(r.stdout.is_empty(), "{}", r.stdout);
            assert!(r.stderr.starts_with("clouddc: error:"), "{}", r.stderr);
            for s in said {
                assert!(
                    r.stderr.contains(&s),
                    "{transport}: {s} not in {}",
                    r.stderr
                );
            }
            assert_no_secret(&[&r.stderr]);
        }
        assert_eq!(
            sim.control().counters().global.requests,
            0,
            "{transport}: nothing sent to the API"
        );
    }
}

#[test]
fn env_oidc_beats_env_aksk_and_a_token_beats_oidc() {
    let sim = sim(Oidc::on(IDP));
    let dir = tempfile::tempdir().expect("dir");
    let path = token_file(&dir, ID_TOKEN);
    for transport in TRANSPORTS {
        let mut c = in_a_pod(&sim, &path, transport);
        c.env("HUAWEICLOUD_SDK_AK", "HPUAENVAK0001")
            .env("HUAWEICLOUD_SDK_SK", "env-secret")
            .args(["config"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        let v: Value = serde_json::from_str(r.stdout.trim()).expect("json");
        assert_eq!(v["credentials"]["source"], "oidc");
        for token in [("env", "CLOUDDC_AUTH_TOKEN"), ("flag", "--token")] {
            let mut c = in_a_pod(&sim, &path, transport);
            c.env("HUAWEICLOUD_SDK_PROJECT_ID", "p");
            if token.0 == "env" {
                c.env("CLOUDDC_AUTH_TOKEN", "tok");
            } else {
                c.args(["--token", "tok"]);
            }
            c.args(["config"]);
            let r = run(c);
            assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
            let v: Value = serde_json::from_str(r.stdout.trim()).expect("json");
            assert_eq!(v["credentials"]["kind"], "token", "{token:?}");
        }
    }
    let g = sim.control().counters().global;
    assert_eq!(
        g.oidc_id_token_requests,
        TRANSPORTS.len() as u64,
        "only the OIDC runs exchange"
    );
}

#[test]
fn the_profile_file_s_oidc_pair_comes_before_its_aksk() {
    let sim = sim(Oidc::on(IDP));
    let home = tempfile::tempdir().expect("home");
    let path = token_file(&home, ID_TOKEN);
    let dir = home.path().join(".huaweicloud");
    std::fs::create_dir_all(&dir).expect("profile folder");
    let profile = format!(
        "[basic]\nak = HPUAFILEAK0001\nsk = file-secret\nidp_id = {IDP}\nid_token_file = {}\n",
        path.display()
    );
    std::fs::write(dir.join("credentials"), profile).expect("profile");
    for transport in TRANSPORTS {
        // The pair from the profile only.
        let mut c = in_a_pod(&sim, &path, transport);
        c.env_remove("HUAWEICLOUD_SDK_IDP_ID")
            .env_remove("HUAWEICLOUD_SDK_ID_TOKEN_FILE")
            .env("HOME", home.path())
            .arg("config");
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        let v: Value = serde_json::from_str(r.stdout.trim()).expect("json");
        assert_eq!(v["credentials"]["source"], "oidc");
        assert_eq!(v["credentials"]["kind"], "temporary");
    }
}
