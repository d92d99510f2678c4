//! Where the binary's credentials and project come from: the profile file
//! (every malformed shape refused with its file and line, nothing sent),
//! the order of sources, `clouddc config`, and secrets never shown.
//! Server metadata is off in every run unless a test points it at a
//! loopback address; `HOME` is always a temporary folder.

use std::path::Path;

use assert_cmd::Command;
use clouddc_simulator::{Auth, BlockingHandle, Metadata, NewInstance, Schedule, SimConfig};
use common::{TRANSPORTS, clouddc, run};
use serde_json::Value;

mod common;

const AK: &str = "HPUAEXAMPLEAK0WXYZ";

const SK: &str = "SK-MARKER-8d2e71";

fn aksk_sim() -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::ak_sk(AK, SK))
        .instances(0)
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

/// A home folder whose `.huaweicloud/credentials` holds `content`.
fn home_with(content: &[u8]) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    let dir = home.path().join(".huaweicloud");
    std::fs::create_dir_all(&dir).expect("profile folder");
    std::fs::write(dir.join("credentials"), content).expect("profile file");
    home
}

fn profile_path(home: &Path) -> String {
    home.join(".huaweicloud")
        .join("credentials")
        .display()
        .to_string()
}

/// `clouddc status i-1` against `sim` with `HOME` at `home`.
fn status_in(sim: &BlockingHandle, home: &Path) -> Command {
    let mut c = clouddc();
    c.env("HOME", home)
        .args(["status", "i-1", "--endpoint", sim.url(), "-o", "json"]);
    c
}

#[test]
fn aksk_and_project_from_the_profile_file_work_with_bom_and_crlf() {
    let sim = aksk_sim();
    for text in [
        format!(
            "[basic]\nak = {AK}\nsk = {SK}\nproject_id = {}\n",
            sim.project_id()
        ),
        format!(
            "\u{feff}# edited on Windows\r\n[global]\r\ndomain_id = d1\r\n\r\n[basic]\r\nak={AK}\r\nsk=\"{SK}\"\r\nproject_id={}",
            sim.project_id()
        ),
    ] {
        let home = home_with(text.as_bytes());
        let mut c = status_in(&sim, home.path());
        c.arg("-vv");
        let r = run(c);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("clouddc"), "logs were on: {}", r.stderr);
        assert!(r.stdout.contains(r#""ok":true"#), "{}", r.stdout);
        assert!(!r.stdout.contains(SK) && !r.stderr.contains(SK));
    }
}

#[test]
fn malformed_profile_files_exit_2_naming_file_and_line_with_nothing_sent() {
    let sim = aksk_sim();
    let p = sim.project_id().to_owned();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (format!("ak = {AK}\nsk = {SK}\n").into_bytes(), ":1:"),
        (b"[global]\ndomain_id = d\n".to_vec(), "[basic]"),
        (
            format!("[basic]\nak = {AK}\nsk = {SK}\nak = {AK}\n").into_bytes(),
            ":4:",
        ),
        (
            format!("[basic]\nak = {AK}\nproject_id = {p}\n").into_bytes(),
            ":2:",
        ),
        (format!("[basic]\nsk = {SK}\n").into_bytes(), ":2:"),
        (format!("[basic]\nak {AK}\nsk = {SK}\n").into_bytes(), ":2:"),
        (b"[basic]\nak = A\xffK\nsk = S\n".to_vec(), ":2:"),
        (
            format!("[basic\nak = {AK}\nsk = {SK}\n").into_bytes(),
            ":1:",
        ),
        (
            format!("[basic]\nak = {AK}\nsk = {SK}\n[basic]\n").into_bytes(),
            ":4:",
        ),
        (format!("[basic]\nak = {AK}\nsk =\n").into_bytes(), ":3:"),
        (
            format!(
                "[basic]\nak = {AK}\nsk = {SK}\nproject_id = {p}\n{}",
                "#".repeat(2 << 20)
            )
            .into_bytes(),
            "1 MiB",
        ),
    ];
    for (content, needle) in cases {
        let home = home_with(&content);
        let path = profile_path(home.path());
        let r = run(status_in(&sim, home.path()));
        let shown = String::from_utf8_lossy(&content[..content.len().min(80)]).into_owned();
        assert_eq!(r.code, 2, "{shown:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{shown:?}: {}", r.stdout);
        assert!(r.stderr.contains(&path), "{shown:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{shown:?}: wanted {needle}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains(SK), "{shown:?}: {}", r.stderr);
    }
    // Unreadable: the path is a folder.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".huaweicloud").join("credentials")).unwrap();
    let r = run(status_in(&sim, home.path()));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot read") && r.stderr.contains(&profile_path(home.path())),
        "{}",
        r.stderr
    );
    // A pipe with a writer (as a shell's `<(command)` gives): read whole.
    let fifo = home.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        let text = format!("[basic]\nak = {AK}\nsk = {SK}\nproject_id = {p}\n");
        std::thread::spawn(move || std::fs::write(fifo, text))
    };
    let mut c = status_in(&sim, home.path());
    c.env("HUAWEICLOUD_SDK_CREDENTIALS_FILE", &fifo);
    let r = run(c);
    writer.join().expect("writer").expect("written");
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A named file that does not exist.
    let mut c = status_in(&sim, home.path());
    c.env("HUAWEICLOUD_SDK_CREDENTIALS_FILE", "/nonexistent/creds");
    let r = run(c);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/creds"), "{}", r.stderr);
    assert_eq!(
        sim.control().counters().global.requests,
        1,
        "only the pipe's call"
    );
}

#[test]
fn sources_in_order_flag_env_file() {
    let sim = aksk_sim();
    let p = sim.project_id().to_owned();
    // The file has wrong keys: the environment's right ones win, and the
    // file is not even needed for the project id.
    let home = home_with(b"[basic]\nak = WRONGAK00000\nsk = wrong\nproject_id = wrong\n");
    let mut c = status_in(&sim, home.path());
    c.env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", &p);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The flag's project id wins over the environment's: a wrong one fails
    // with 403, and the failure says who asked.
    let mut c = status_in(&sim, home.path());
    c.env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", &p)
        .args(["--project-id", "other-project"]);
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let f = &v["failure"];
    assert!(matches!(f["http_status"].as_u64(), Some(401 | 403)), "{v}");
    assert_eq!(f["credential_source"], "env:HUAWEICLOUD_SDK_AK", "{v}");
    assert_eq!(f["project_id"], "other-project", "{v}");
    // Wrong keys from the file: 401, with the file and line as the source.
    let mut c = status_in(&sim, home.path());
    c.env("HUAWEICLOUD_SDK_PROJECT_ID", &p);
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["failure"]["kind"], "unauthorized", "{v}");
    assert_eq!(
        v["failure"]["credential_source"],
        format!("file:{}:2", profile_path(home.path())),
        "{v}"
    );
    // A token flag wins over every AK/SK source (the AK/SK simulator then
    // refuses it: proof the token was sent).
    let mut c = status_in(&sim, home.path());
    c.env("HUAWEICLOUD_SDK_AK", AK)
        .env("HUAWEICLOUD_SDK_SK", SK)
        .args(["--project-id", &p, "--token", "TOKEN-X"]);
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["failure"]["credential_source"], "flag", "{v}");
}

#[test]
fn config_shows_values_and_sources_never_secrets() {
    let home =
        home_with(format!("[basic]\nak = {AK}\nsk = {SK}\nsecurity_token = ST-{SK}\n").as_bytes());
    let mut c = clouddc();
    c.env("HOME", home.path())
        .env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
        .env("HUAWEICLOUD_SDK_PROJECT_ID", "p-env")
        .args(["config", "-o", "json", "--endpoint", "http://127.0.0.1:9"]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["endpoint"]["value"], "http://127.0.0.1:9");
    assert_eq!(v["endpoint"]["source"], "flag");
    assert_eq!(v["region"]["value"], "cn-east-3");
    assert_eq!(v["region"]["source"], "env:HUAWEICLOUD_SDK_REGION");
    assert_eq!(v["project_id"]["value"], "p-env");
    assert_eq!(v["project_id"]["source"], "env:HUAWEICLOUD_SDK_PROJECT_ID");
    assert_eq!(v["credentials"]["kind"], "temporary");
    assert_eq!(v["credentials"]["access_key"], "****WXYZ");
    assert_eq!(
        v["credentials"]["source"],
        format!("file:{}:2", profile_path(home.path()))
    );
    assert!(v.get("error").is_none());
    for text in [&r.stdout, &r.stderr] {
        assert!(!text.contains(SK) && !text.contains(AK), "{text}");
    }
    // The table, with -v: still no secret. The project lookup goes to a
    // loopback port that refuses it: nothing leaves the machine.
    let mut c = clouddc();
    c.env("HOME", home.path())
        .env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", "http://127.0.0.1:9")
        .args(["config", "-v", "--endpoint", "http://127.0.0.1:9"]);
    let r = run(c);
    assert!(r.stdout.contains("****WXYZ"), "{}", r.stdout);
    assert!(r.stdout.contains("project_id"), "{}", r.stdout);
    for text in [&r.stdout, &r.stderr] {
        assert!(!text.contains(SK), "{text}");
    }
}

#[test]
fn config_exits_2_with_the_object_when_something_is_missing() {
    let home = tempfile::tempdir().unwrap();
    let mut c = clouddc();
    c.env("HOME", home.path()).args([
        "config",
        "-o",
        "json",
        "--endpoint",
        "http://127.0.0.1:9",
        "--token",
        "t",
    ]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("project"), "{error}");
    // What is set still shows, with its source.
    assert_eq!(v["endpoint"]["value"], "http://127.0.0.1:9", "{v}");
    assert_eq!(v["endpoint"]["source"], "flag", "{v}");
    assert_eq!(v["credentials"]["kind"], "token", "{v}");
    assert_eq!(v["credentials"]["source"], "flag", "{v}");
    assert_eq!(v["project_id"]["value"], Value::Null, "{v}");
    assert!(r.stderr.contains("project"), "{}", r.stderr);
    // Metadata at a closed loopback port: unreachable, said as such.
    let mut c = clouddc();
    c.env("HOME", home.path())
        .env("CLOUDDC_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .env("HUAWEICLOUD_SDK_PROJECT_ID", "p")
        .args(["config", "-o", "json", "--endpoint", "http://127.0.0.1:9"]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    // A source that could not deliver is not named (CLI.md).
    assert_eq!(v["credentials"]["source"], "unset");
    assert!(v["error"].as_str().unwrap().contains("unreachable"), "{v}");
}

fn metadata_sim(metadata: Metadata, clock_offset_secs: i64) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::ak_sk(AK, SK))
        .instances(0)
        .metadata(metadata)
        .region("cn-east-3")
        .clock_offset_secs(clock_offset_secs)
        .build()
        .expect("sim config");
    let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
    for id in ["i-1", "i-2", "i-3"] {
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

/// Nothing but a region, metadata and IAM at the simulator: what a
/// workload on a server with an agency has.
fn on_a_server(sim: &BlockingHandle, home: &Path) -> Command {
    let mut c = clouddc();
    c.env("HOME", home)
        .env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
        .env("CLOUDDC_METADATA_ENDPOINT", sim.url())
        .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url())
        .args(["--endpoint", sim.url(), "-o", "json"]);
    c
}

#[test]
fn metadata_and_iam_alone_for_status_and_config() {
    let home = tempfile::tempdir().expect("home");
    for transport in TRANSPORTS {
        let sim = metadata_sim(Metadata::on(), 0);
        let mut c = on_a_server(&sim, home.path());
        c.args(["--transport", transport, "status", "i-1", "i-2", "i-3"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);
        let g = sim.control().counters().global;
        assert_eq!(
            (g.iam_requests, g.metadata_key_requests, g.requests),
            (1, 1, 3)
        );
        let mut c = on_a_server(&sim, home.path());
        c.args(["--transport", transport, "config"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        let v: Value = serde_json::from_str(r.stdout.trim()).expect("json");
        assert_eq!(v["project_id"]["value"], sim.project_id());
        assert_eq!(v["project_id"]["source"], "iam");
        assert_eq!(v["credentials"]["kind"], "temporary");
        assert_eq!(v["credentials"]["source"], "metadata");
        let issued = sim.control().metadata_credentials().expect("issued");
        let ak = &issued.access_key;
        assert_eq!(
            v["credentials"]["access_key"],
            format!("****{}", &ak[ak.len() - 4..])
        );
        for text in [&r.stdout, &r.stderr] {
            assert!(!text.contains(issued.secret_key.expose()));
            assert!(!text.contains(issued.security_token.expose()));
        }
    }
}

#[test]
fn resolution_failures_exit_2_with_no_records() {
    let home = tempfile::tempdir().expect("home");
    for transport in TRANSPORTS {
        // No agency attached.
        let sim = metadata_sim(Metadata::on().with_agency(false), 0);
        let mut c = on_a_server(&sim, home.path());
        c.args(["--transport", transport, "status", "i-1"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{transport}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(
            r.stderr
                .contains("Please configure Cloud Service Agency first"),
            "{}",
            r.stderr
        );
        // Several projects named after the region.
        let sim = metadata_sim(Metadata::on(), 0);
        sim.control()
            .set_iam_projects([
                clouddc_simulator::IamProject::new("p-a", "cn-east-3"),
                clouddc_simulator::IamProject::new("p-b", "cn-east-3"),
            ])
            .expect("projects");
        let mut c = on_a_server(&sim, home.path());
        c.args([
            "--transport",
            transport,
            "wait",
            "i-1",
            "--until",
            "running",
        ]);
        let r = run(c);
        assert_eq!(r.code, 2, "{transport}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(
            r.stderr.contains("p-a") && r.stderr.contains("X-IAM-Trace-Id"),
            "{}",
            r.stderr
        );
        assert_eq!(
            sim.control().counters().global.requests,
            0,
            "nothing sent to the API"
        );
        // Metadata unreachable (a closed loopback port): said as such.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let mut c = clouddc();
        c.env("HOME", home.path())
            .env(
                "CLOUDDC_METADATA_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            )
            .args(["--endpoint", sim.url(), "--project-id", sim.project_id()])
            .args(["--transport", transport, "status", "i-1"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{transport}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(r.stderr.contains("unreachable"), "{}", r.stderr);
    }
}

#[test]
fn clock_skew_is_corrected_and_said_once() {
    let home = tempfile::tempdir().expect("home");
    for offset in [3600i64, -3600] {
        for transport in TRANSPORTS {
            let sim = metadata_sim(Metadata::off(), offset);
            let mut c = clouddc();
            c.env("HOME", home.path())
                .env("HUAWEICLOUD_SDK_AK", AK)
                .env("HUAWEICLOUD_SDK_SK", SK)
                .args(["--endpoint", sim.url(), "--project-id", sim.project_id()])
                .args(["--transport", transport, "-o", "json"])
                .args(["status", "i-1", "i-2", "i-3", "--concurrency", "1"]);
            let r = run(c);
            assert_eq!(r.code, 0, "{transport} {offset}: {}", r.stderr);
            assert_eq!(r.stdout.lines().count(), 3);
            let way = if offset > 0 { "ahead of" } else { "behind" };
            assert_eq!(
                r.stderr.matches("signing with the gateway's time").count(),
                1,
                "{}",
                r.stderr
            );
            assert!(r.stderr.contains(way), "{}", r.stderr);
            // One extra attempt for the first id, none for the others.
            assert_eq!(sim.control().counters().global.requests, 4);
        }
    }
}

/// `config` never names a source for a value it does not have: a source
/// that was tried and could not deliver shows `unset`, the reason goes in
/// `error`, and every value it does have keeps its true source.
#[test]
fn config_shows_unset_for_what_could_not_be_resolved() {
    let home = tempfile::tempdir().expect("home");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    for transport in TRANSPORTS {
        let config = |metadata: &str, iam: &str| {
            let mut c = clouddc();
            c.env("HOME", home.path())
                .env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
                .env("CLOUDDC_METADATA_ENDPOINT", metadata)
                .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", iam)
                .args(["--transport", transport, "config", "-o", "json"]);
            let r = run(c);
            let v: Value = serde_json::from_str(r.stdout.trim())
                .unwrap_or_else(|e| panic!("{transport}: {e}: {} {}", r.stdout, r.stderr));
            (r.code, v, r.stderr)
        };
        // Metadata unreachable: no credentials, so no project either.
        let (code, v, err) = config(&closed, &closed);
        assert_eq!(code, 2, "{transport}: {err}");
        assert_eq!(v["credentials"]["source"], "unset", "{transport}: {v}");
        assert_eq!(v["credentials"]["kind"], Value::Null, "{transport}: {v}");
        assert_eq!(v["project_id"]["source"], "unset", "{transport}: {v}");
        assert_eq!(v["project_id"]["value"], Value::Null);
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert!(err.starts_with("clouddc: error:"), "{transport}: {err}");
        // What was given keeps its source.
        assert_eq!(v["region"]["value"], "cn-east-3");
        assert_eq!(v["region"]["source"], "env:HUAWEICLOUD_SDK_REGION");
        assert_eq!(v["endpoint"]["source"], "default");
        // Metadata answering without credentials (no agency).
        let sim = metadata_sim(Metadata::on().with_agency(false), 0);
        let (code, v, err) = config(sim.url(), sim.url());
        assert_eq!(code, 2, "{transport}: {err}");
        assert_eq!(v["credentials"]["source"], "unset", "{transport}: {v}");
        assert_eq!(v["project_id"]["source"], "unset", "{transport}: {v}");
        // Credentials delivered, the IAM lookup refused (two projects):
        // the credentials show, the project does not.
        let sim = metadata_sim(Metadata::on(), 0);
        sim.control()
            .set_iam_projects([
                clouddc_simulator::IamProject::new("p-a", "cn-east-3"),
                clouddc_simulator::IamProject::new("p-b", "cn-east-3"),
            ])
            .expect("projects");
        let (code, v, err) = config(sim.url(), sim.url());
        assert_eq!(code, 2, "{transport}: {err}");
        assert_eq!(v["credentials"]["source"], "metadata", "{transport}: {v}");
        assert_eq!(v["credentials"]["kind"], "temporary");
        assert_eq!(v["project_id"]["source"], "unset", "{transport}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains("X-IAM-Trace-Id"),
            "{v}"
        );
    }
}

/// `--region` with `--endpoint`: the endpoint serves the API, the region
/// still picks the IAM endpoint, and `config` shows both.
#[test]
fn region_and_endpoint_together() {
    let home = tempfile::tempdir().expect("home");
    for transport in TRANSPORTS {
        let sim = metadata_sim(Metadata::on(), 0);
        let mut c = clouddc();
        c.env("HOME", home.path())
            .env("CLOUDDC_METADATA_ENDPOINT", sim.url())
            .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url())
            .args(["--transport", transport, "--region", "cn-east-3"])
            .args(["--endpoint", sim.url(), "config", "-o", "json"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        let v: Value = serde_json::from_str(r.stdout.trim()).expect("json");
        assert_eq!(v["region"]["value"], "cn-east-3", "{v}");
        assert_eq!(v["region"]["source"], "flag");
        assert_eq!(v["endpoint"]["value"], sim.url());
        assert_eq!(v["endpoint"]["source"], "flag");
        // The region named the project IAM looked up.
        assert_eq!(v["project_id"]["value"], sim.project_id());
        assert_eq!(v["project_id"]["source"], "iam");
        // An unknown region is still refused, listing the known ones.
        let mut c = clouddc();
        c.env("HOME", home.path())
            .env("CLOUDDC_AUTH_TOKEN", "T")
            .args([
                "--project-id",
                "p",
                "--region",
                "xx-nowhere-1",
                "--endpoint",
                sim.url(),
            ])
            .args(["--transport", transport, "status", "i-1"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{transport}: {}", r.stderr);
        assert!(r.stderr.contains("cn-east-3"), "{}", r.stderr);
    }
}

/// A malformed profile file hides nothing else from `config`: the values
/// given by flags and the environment still show with their sources, and
/// the file's fault (file and line) is the error.
#[test]
fn config_with_a_malformed_profile_still_shows_what_was_given() {
    let home = home_with(b"[basic]\nak = A\nthis line is not key = value\n");
    for transport in TRANSPORTS {
        let mut c = clouddc();
        c.env("HOME", home.path())
            .env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
            .args(["--transport", transport, "config", "-o", "json"])
            .args(["--endpoint", "http://127.0.0.1:9", "--project-id", "p-flag"]);
        let r = run(c);
        assert_eq!(r.code, 2, "{transport}: {}", r.stderr);
        let v: Value = serde_json::from_str(r.stdout.trim()).expect("json");
        assert_eq!(v["endpoint"]["value"], "http://127.0.0.1:9", "{v}");
        assert_eq!(v["endpoint"]["source"], "flag", "{v}");
        assert_eq!(v["project_id"]["value"], "p-flag", "{v}");
        assert_eq!(v["project_id"]["source"], "flag", "{v}");
        assert_eq!(v["region"]["source"], "env:HUAWEICLOUD_SDK_REGION", "{v}");
        assert_eq!(v["credentials"]["source"], "unset", "{v}");
        let error = v["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("{}:3", profile_path(home.path()))),
            "{error}"
        );
        assert!(r.stderr.starts_with("clouddc: error:"), "{}", r.stderr);
    }
}
