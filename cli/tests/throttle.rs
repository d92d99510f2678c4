//! The command against a gateway that throttles as the real one does
//! (fixed windows, `APIGW.0308` quoting the quota, no `Retry-After`), on
//! both transports: what `-v` and the failure record say, `watch` reaching
//! its target under a quota, and `clouddc simulate --rate-limit`.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use assert_cmd::Command;
use clouddc_simulator::{Auth, BlockingHandle, FlowPolicy, NewInstance, Schedule, SimConfig};
use common::{TRANSPORTS, clouddc, run};
use serde_json::Value;

mod common;

const TOKEN: &str = "throttle-token";

fn sim(policy: FlowPolicy, ids: &[&str], schedule: Schedule) -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::token(TOKEN))
        .instances(0)
        .flow_policy(policy)
        .build()
        .expect("sim config");
    let sim = clouddc_simulator::start_blocking(config).expect("start the simulator");
    for id in ids {
        sim.control()
            .create_instance(
                NewInstance::new()
                    .with_id(*id)
                    .with_schedule(schedule.clone()),
            )
            .expect("instance");
    }
    sim
}

fn against(sim: &BlockingHandle, transport: &str) -> Command {
    let mut c = clouddc();
    c.args(["--endpoint", sim.url(), "--project-id", sim.project_id()]);
    c.args(["--transport", transport]);
    c.env("CLOUDDC_AUTH_TOKEN", TOKEN);
    c
}

#[test]
fn a_throttled_attempt_says_its_quota_and_the_failure_keeps_it() {
    for transport in TRANSPORTS {
        // One call a minute: the first id takes it, the second is refused
        // and, with one attempt, fails with the quota in its record.
        let sim = sim(
            FlowPolicy::per_api(1, Duration::from_secs(60)),
            &["a", "b"],
            Schedule::instant(),
        );
        let mut c = against(&sim, transport);
        c.args(["-v", "--max-attempts", "1"]);
        c.args(["status", "--concurrency", "1", "a", "b", "--output", "json"]);
        let r = run(c);
        assert_eq!(r.code, 1, "{transport}: {}", r.stderr);
        let recs: Vec<Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(recs[0]["ok"], true, "{transport}");
        let f = &recs[1]["failure"];
        assert_eq!(f["kind"], "rate_limited", "{transport}");
        assert_eq!(f["http_status"], 429);
        assert_eq!(f["error_code"], "APIGW.0308");
        assert_eq!(f["retry_after_s"], Value::Null);
        assert_eq!(
            f["throttle"],
            serde_json::json!({"limit": 1, "window_s": 60})
        );
        assert!(f["request_id"].is_string());
        assert!(
            r.stderr.contains("limit=1/60s"),
            "{transport}: no quota in -v: {}",
            r.stderr
        );
        // A success has no quota, and the key is still there.
        assert_eq!(recs[0]["failure"], Value::Null);
    }
}

#[test]
fn a_retry_waits_for_the_next_window_and_v_says_so() {
    for transport in TRANSPORTS {
        // One call per 2 s, three ids one after another: at least one is
        // refused, whatever the windows' alignment.
        let sim = sim(
            FlowPolicy::per_api(1, Duration::from_secs(2)),
            &["a", "b", "c"],
            Schedule::instant(),
        );
        let mut c = against(&sim, transport);
        c.args(["-v", "status", "--concurrency", "1", "a", "b", "c"]);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        let line = r
            .stderr
            .lines()
            .find(|l| l.contains("retrying in its next window"))
            .unwrap_or_else(|| panic!("{transport}: {}", r.stderr));
        assert!(line.contains("limit=1/2s"), "{line}");
        let delay: u64 = line
            .split("delay_ms=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!((2000..=2200).contains(&delay), "{line}");
    }
}

#[test]
fn watch_under_a_quota_reaches_its_target() {
    for transport in TRANSPORTS {
        let ids: Vec<String> = (0..12).map(|i| format!("w-{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let sim = sim(
            FlowPolicy::per_api(5, Duration::from_secs(1)),
            &refs,
            Schedule::pending_for(Duration::from_secs(2)),
        );
        let mut c = against(&sim, transport);
        c.args(["watch", "--interval", "300ms", "--until-all", "running"]);
        c.args(["--output", "json"]).args(&ids);
        let r = run(c);
        assert_eq!(r.code, 0, "{transport}: {}", r.stderr);
        for id in &ids {
            assert!(
                r.stdout
                    .lines()
                    .any(|l| l.contains(&format!("\"{id}\"")) && l.contains("\"to\":\"running\"")),
                "{transport}: {id} never seen running: {}",
                r.stdout
            );
        }
        assert!(sim.control().counters().global.gateway_throttled > 0);
    }
}

/// `clouddc simulate --rate-limit 2`: the third call in a second gets the
/// gateway's JSON and no `Retry-After`.
#[test]
fn simulate_rate_limit_answers_as_the_gateway() {
    let bin = assert_cmd::cargo::cargo_bin("clouddc");
    let mut child = std::process::Command::new(bin)
        .args(["simulate", "--listen", "127.0.0.1:0", "--instances", "1"])
        .args([
            "--output",
            "json",
            "--rate-limit",
            "2/minute",
            "--token",
            TOKEN,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn simulate");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let v: Value = serde_json::from_str(&first).expect("JSON");
    let addr = v["url"]
        .as_str()
        .expect("url")
        .trim_start_matches("http://")
        .to_owned();
    let path = format!(
        "/v1/{}/instances/{}/status",
        v["project_id"].as_str().expect("project"),
        v["instances"][0]["id"].as_str().expect("id")
    );
    let get = || {
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read");
        answer
    };
    let answers: Vec<String> = (0..3).map(|_| get()).collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(answers[0].starts_with("HTTP/1.1 200"), "{}", answers[0]);
    assert!(answers[1].starts_with("HTTP/1.1 200"), "{}", answers[1]);
    let refused = answers[2].to_ascii_lowercase();
    assert!(refused.starts_with("http/1.1 429"), "{refused}");
    assert!(!refused.contains("retry-after"), "{refused}");
    assert!(refused.contains("x-request-id"), "{refused}");
    let body = &answers[2][answers[2].find("\r\n\r\n").expect("body") + 4..];
    let body: Value = serde_json::from_str(body).expect("JSON body");
    assert_eq!(body["error_code"], "APIGW.0308");
    assert!(
        body["error_msg"]
            .as_str()
            .expect("message")
            .ends_with("limit:2,time:1 minute"),
        "{body}"
    );
}
