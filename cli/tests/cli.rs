//! The `clouddc` binary against the in-process simulator: exit codes, JSON
//! fields for success and every failure kind, both transports agreeing,
//! argument order, usage errors that send nothing, secrets never printed,
//! and the demo within its time budget.

use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::{TRANSPORTS, clouddc, run};

mod common;
use clouddc_simulator::{
    Auth, BlockingHandle, Faults, RateLimit, Schedule, ServerError, StallHeaders, Trigger,
};
use serde_json::Value;

const TOKEN: &str = "TOKEN-MARKER-5f1c9e";

use common::add_instance as add;
use common::simulator as sim_with;

fn sim() -> BlockingHandle {
    sim_with(Auth::token(TOKEN))
}

/// `clouddc` pointed at the simulator with the right project and token.
fn against(sim: &BlockingHandle) -> Command {
    let mut c = clouddc();
    c.args(["--endpoint", sim.url(), "--project-id", sim.project_id()]);
    c.env("CLOUDDC_AUTH_TOKEN", TOKEN);
    c
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn none() -> Faults {
    Faults::none()
}

#[test]
fn status_ok_exit_0_fields_and_argument_order() {
    let sim = sim();
    add(&sim, "b-2", Schedule::instant(), none());
    add(
        &sim,
        "a-1",
        Schedule::pending_for(Duration::from_secs(600)),
        none(),
    );
    add(&sim, "c/3 ü", Schedule::instant(), none());
    let mut c = against(&sim);
    c.args(["status", "c/3 ü", "a-1", "b-2", "--output", "json"]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let recs = lines(&r.stdout);
    let ids: Vec<&str> = recs.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c/3 ü", "a-1", "b-2"]);
    for v in &recs {
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 6, "{v}");
        assert_eq!(v["ok"], true);
        assert!(v["failure"].is_null() && v["error"].is_null());
    }
    assert_eq!(recs[1]["state"], "pending");
    assert_eq!(recs[1]["operation_state"], "install-processing");
    assert_eq!(recs[0]["state"], "running");
}

#[test]
fn every_failure_kind_with_exit_1() {
    let sim = sim();
    let f = |faults: Faults| faults;
    add(&sim, "ok", Schedule::instant(), none());
    add(
        &sim,
        "five",
        Schedule::instant(),
        f(Faults {
            server_error: Some(ServerError::status(503)),
            ..none()
        }),
    );
    add(
        &sim,
        "junk",
        Schedule::instant(),
        f(Faults {
            invalid_json: Some(Trigger::always()),
            ..none()
        }),
    );
    add(
        &sim,
        "rst",
        Schedule::instant(),
        f(Faults {
            reset: Some(Trigger::always()),
            ..none()
        }),
    );
    add(
        &sim,
        "slow",
        Schedule::instant(),
        f(Faults {
            stall_headers: Some(StallHeaders {
                hold: Duration::from_secs(5),
                ..StallHeaders::default()
            }),
            ..none()
        }),
    );
    add(
        &sim,
        "busy",
        Schedule::instant(),
        f(Faults {
            rate_limit: Some(RateLimit::per_second(0.01).with_burst(1)),
            ..none()
        }),
    );
    // Use busy's one token first.
    let mut first = against(&sim);
    first.args(["status", "busy"]);
    assert_eq!(run(first).code, 0);

    let mut c = against(&sim);
    c.args([
        "status",
        "ok",
        "five",
        "junk",
        "rst",
        "slow",
        "busy",
        "missing",
        "--output",
        "json",
        "--max-attempts",
        "2",
        "--attempt-timeout",
        "500ms",
    ]);
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let recs = lines(&r.stdout);
    let kind = |i: usize| {
        recs[i]["failure"]["kind"]
            .as_str()
            .unwrap_or("-")
            .to_owned()
    };
    let status = |i: usize| recs[i]["failure"]["http_status"].as_u64();
    assert_eq!(recs[0]["ok"], true);
    assert_eq!((kind(1).as_str(), status(1)), ("server", Some(503)));
    assert_eq!((kind(2).as_str(), status(2)), ("decode", Some(200)));
    assert_eq!((kind(3).as_str(), status(3)), ("transport", None));
    assert_eq!((kind(4).as_str(), status(4)), ("timeout", None));
    assert_eq!((kind(5).as_str(), status(5)), ("rate_limited", Some(429)));
    assert!(recs[5]["failure"]["retry_after_s"].as_u64().unwrap() >= 60);
    assert_eq!((kind(6).as_str(), status(6)), ("not_found", Some(404)));
    for (i, v) in recs.iter().enumerate().skip(1) {
        assert_eq!(v["ok"], false);
        assert!(v["state"].is_null(), "{v}");
        let f = v["failure"].as_object().unwrap();
        let mut keys: Vec<&str> = f.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "error_code",
                "error_msg",
                "http_status",
                "kind",
                "request_id",
                "retry_after_s",
                "throttle"
            ]
        );
        if status(i).is_some() {
            assert!(
                f["request_id"].as_str().is_some_and(|s| !s.is_empty()),
                "{v}"
            );
        }
    }
    // Retried: 503 twice (max attempts); the decode error once.
    let counters = sim.control().counters();
    assert_eq!(counters.instances["five"].requests, 2);
    assert_eq!(counters.instances["junk"].requests, 1);
}

/// The simulator sends no other 4xx for a GET; a one-shot server sends 400.
#[test]
fn other_4xx_is_kind_api_and_not_retried() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let mut served = 0;
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming().take(1) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = r#"{"error_code":"CLOUDDC.0400","error_msg":"bad request"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 400 Bad Request\r\nX-Request-Id: r-400\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            served += 1;
        }
        served
    });
    let mut c = clouddc();
    c.args([
        "--endpoint",
        &format!("http://{addr}"),
        "--project-id",
        "p",
        "--token",
        TOKEN,
        "status",
        "i",
        "--output",
        "json",
        "--transport",
        TRANSPORTS[0],
    ]);
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v = &lines(&r.stdout)[0];
    assert_eq!(v["failure"]["kind"], "api");
    assert_eq!(v["failure"]["http_status"], 400);
    assert_eq!(v["failure"]["error_code"], "CLOUDDC.0400");
    assert_eq!(v["failure"]["request_id"], "r-400");
    assert_eq!(server.join().unwrap(), 1);
}

#[test]
fn unauthorized_and_forbidden() {
    let sim = sim();
    add(&sim, "i-1", Schedule::instant(), none());
    let mut c = against(&sim);
    c.env("CLOUDDC_AUTH_TOKEN", "wrong-token");
    c.args(["status", "i-1", "--output", "json"]);
    let r = run(c);
    assert_eq!(r.code, 1);
    let v = &lines(&r.stdout)[0];
    assert_eq!(v["failure"]["kind"], "unauthorized");
    assert_eq!(v["failure"]["http_status"], 401);
    assert_eq!(v["failure"]["error_code"], "APIGW.0301");

    let mut c = clouddc();
    c.args([
        "--endpoint",
        sim.url(),
        "--project-id",
        "another-project",
        "status",
        "i-1",
        "--output",
        "json",
        "--token",
        TOKEN,
    ]);
    let r = run(c);
    assert_eq!(r.code, 1);
    assert_eq!(lines(&r.stdout)[0]["failure"]["kind"], "forbidden");
}

#[test]
fn both_transports_give_identical_json() {
    let sim = sim();
    add(&sim, "ok", Schedule::instant(), none());
    add(
        &sim,
        "five",
        Schedule::instant(),
        Faults {
            server_error: Some(ServerError::status(500)),
            ..none()
        },
    );
    add(
        &sim,
        "junk",
        Schedule::instant(),
        Faults {
            invalid_json: Some(Trigger::always()),
            ..none()
        },
    );
    sim.control().fail("ok").ok();
    let out = |transport: &str| {
        let mut c = against(&sim);
        c.args([
            "status",
            "ok",
            "five",
            "junk",
            "nope",
            "--output",
            "json",
            "--max-attempts",
            "1",
            "--transport",
            transport,
        ]);
        let r = run(c);
        assert_eq!(r.code, 1, "{}", r.stderr);
        let mut recs = lines(&r.stdout);
        for v in &mut recs {
            if let Some(f) = v["failure"].as_object_mut() {
                f.remove("request_id"); // unique per response
            }
        }
        recs
    };
    let first = out(TRANSPORTS[0]);
    for t in TRANSPORTS {
        assert_eq!(out(t), first, "{t}");
    }
}

#[test]
fn a_missing_transport_is_a_usage_error() {
    let missing = ["reqwest", "ureq"]
        .into_iter()
        .find(|t| !TRANSPORTS.contains(t));
    let Some(missing) = missing else { return }; // this build has both
    let sim = sim();
    let mut c = against(&sim);
    c.args(["status", "x", "--transport", missing]);
    let r = run(c);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("lacks the"), "{}", r.stderr);
    assert_eq!(sim.control().counters().global.requests, 0);
}

#[test]
fn wait_exit_codes_and_precedence() {
    let sim = sim();
    add(
        &sim,
        "soon",
        Schedule::pending_for(Duration::from_millis(600)),
        none(),
    );
    add(
        &sim,
        "never",
        Schedule::pending_for(Duration::from_secs(600)),
        none(),
    );
    add(
        &sim,
        "broken",
        Schedule::failing_after(Duration::from_millis(300)),
        none(),
    );
    let wait = |ids: &[&str], transport: &str| {
        let mut c = against(&sim);
        c.arg("wait").args(ids);
        c.args([
            "--until",
            "running",
            "--interval",
            "200ms",
            "--timeout",
            "2s",
            "--output",
            "json",
            "--transport",
            transport,
        ]);
        let started = Instant::now();
        let r = run(c);
        (r, started.elapsed())
    };
    for &transport in TRANSPORTS {
        let (r, _) = wait(&["soon"], transport);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v = &lines(&r.stdout)[0];
        assert_eq!(v["outcome"], "reached");
        assert_eq!(v["ok"], true);
        assert!(v["polls"].as_u64().unwrap() >= 1);
        assert!(v["elapsed_ms"].as_u64().is_some());

        let (r, _) = wait(&["broken"], transport);
        assert_eq!(r.code, 3);
        let v = &lines(&r.stdout)[0];
        assert_eq!(
            (
                v["outcome"].as_str(),
                v["state"].as_str(),
                v["ok"].as_bool()
            ),
            (Some("failed"), Some("error"), Some(false))
        );

        let (r, took) = wait(&["never"], transport);
        assert_eq!(r.code, 4);
        assert_eq!(lines(&r.stdout)[0]["outcome"], "timed_out");
        assert!(took < Duration::from_secs(15), "{took:?}");

        let (r, _) = wait(&["missing"], transport);
        assert_eq!(r.code, 1);
        let v = &lines(&r.stdout)[0];
        assert_eq!(v["outcome"], "error");
        assert_eq!(v["failure"]["kind"], "not_found");

        // 1 over 3 over 4, whatever the order.
        assert_eq!(wait(&["never", "broken", "soon"], transport).0.code, 3);
        assert_eq!(wait(&["never", "missing", "broken"], transport).0.code, 1);
    }
}

#[test]
fn usage_errors_exit_2_and_send_nothing() {
    let sim = sim();
    add(&sim, "i-1", Schedule::instant(), none());
    let url = sim.url().to_owned();
    let project = sim.project_id().to_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["status", "i-1", "--endpoint", &url, "--token", TOKEN],
            "--project-id",
        ),
        (
            vec![
                "status",
                "i-1",
                "--endpoint",
                &url,
                "--project-id",
                &project,
            ],
            "--token-file",
        ),
        (
            vec![
                "status",
                "i-1",
                "--endpoint",
                "htp:/x",
                "--project-id",
                &project,
                "--token",
                TOKEN,
            ],
            "endpoint",
        ),
        (
            vec![
                "status",
                "i-1",
                "--endpoint",
                "http://192.0.2.1:9",
                "--project-id",
                &project,
                "--token",
                TOKEN,
            ],
            "--insecure-http",
        ),
        (
            vec![
                "status",
                "i-1",
                "--region",
                "mars-1",
                "--project-id",
                &project,
                "--token",
                TOKEN,
            ],
            "cn-east-3",
        ),
        (
            vec![
                "status",
                "i-1",
                "--endpoint",
                &url,
                "--project-id",
                &project,
                "--token",
                "a\tb",
            ],
            "control",
        ),
        (
            vec![
                "status",
                "",
                "--endpoint",
                &url,
                "--project-id",
                &project,
                "--token",
                TOKEN,
            ],
            "empty",
        ),
        (
            vec![
                "status",
                "--endpoint",
                &url,
                "--project-id",
                &project,
                "--token",
                TOKEN,
            ],
            "no instance ids",
        ),
        (
            vec![
                "wait",
                "i-1",
                "--until",
                "runing",
                "--endpoint",
                &url,
                "--project-id",
                &project,
                "--token",
                TOKEN,
            ],
            "running",
        ),
        (
            vec![
                "status",
                "i-1",
                "--endpoint",
                &url,
                "--project-id",
                &project,
                "--token",
                TOKEN,
                "--attempt-timeout",
                "0s",
            ],
            "greater than zero",
        ),
        (vec!["status", "i-1", "--bogus-flag"], "--bogus-flag"),
    ];
    for (args, needle) in cases {
        let mut c = clouddc();
        c.args(&args);
        let r = run(c);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains(TOKEN), "{args:?}");
    }
    assert_eq!(sim.control().counters().global.requests, 0);
}

#[test]
fn token_file_and_ids_file_from_stdin() {
    let sim = sim();
    add(&sim, "i-1", Schedule::instant(), none());
    add(&sim, "i-2", Schedule::instant(), none());
    let dir = std::env::temp_dir().join(format!("clouddc-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("  {TOKEN}\n")).unwrap();
    let mut c = clouddc();
    c.args(["--endpoint", sim.url(), "--project-id", sim.project_id()]);
    c.args([
        "status",
        "--ids-file",
        "-",
        "--output",
        "json",
        "--token-file",
    ])
    .arg(&token_file);
    c.write_stdin("# fleet\ni-2\n\ni-1\n");
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids: Vec<String> = lines(&r.stdout)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["i-2", "i-1"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn secrets_never_printed_even_with_verbose_logs() {
    const SK: &str = "SK-MARKER-0b77d2e9";
    const ST: &str = "ST-MARKER-91aa";
    // Token auth, both transports, success and failures, -vv.
    let sim = sim();
    add(&sim, "ok", Schedule::instant(), none());
    add(
        &sim,
        "five",
        Schedule::instant(),
        Faults {
            server_error: Some(ServerError::status(503)),
            ..none()
        },
    );
    for &transport in TRANSPORTS {
        for token in [TOKEN, "WRONG-TOKEN-MARKER-77"] {
            let mut c = against(&sim);
            c.env("CLOUDDC_AUTH_TOKEN", token);
            c.args([
                "-vv",
                "status",
                "ok",
                "five",
                "gone",
                "--max-attempts",
                "2",
                "--transport",
                transport,
            ]);
            let r = run(c);
            // The run itself worked: one failed id (or, with the wrong
            // token, all three) gives exit 1, and the table has a header
            // and a row per id.
            assert_eq!(r.code, 1, "{transport} {token}: {}", r.stderr);
            assert_eq!(r.stdout.lines().count(), 4, "{transport}: {}", r.stdout);
            assert!(
                r.stderr.contains("DEBUG") || r.stderr.contains("TRACE"),
                "logs are on: {}",
                r.stderr
            );
            for text in [&r.stdout, &r.stderr] {
                assert!(!text.contains(token), "token leaked ({transport}):\n{text}");
            }
        }
        // The token given on the command line is not echoed either.
        let mut c = against(&sim);
        c.args([
            "-vv",
            "--token",
            TOKEN,
            "wait",
            "ok",
            "--until",
            "running",
            "--transport",
            transport,
        ]);
        let r = run(c);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(!r.stdout.contains(TOKEN) && !r.stderr.contains(TOKEN));
    }
    // AK/SK with a security token: neither secret nor any signature shows.
    let sim = sim_with(Auth::temporary("AK-PUBLIC-1", SK, ST));
    add(&sim, "ok", Schedule::instant(), none());
    for &transport in TRANSPORTS {
        for sk in [SK, "WRONG-SK-MARKER-4"] {
            let mut c = clouddc();
            c.args([
                "--endpoint",
                sim.url(),
                "--project-id",
                sim.project_id(),
                "-vv",
                "status",
                "ok",
                "nope",
            ]);
            c.args(["--transport", transport]);
            c.env("HUAWEICLOUD_SDK_AK", "AK-PUBLIC-1")
                .env("HUAWEICLOUD_SDK_SK", sk)
                .env("HUAWEICLOUD_SDK_SECURITY_TOKEN", ST);
            let r = run(c);
            assert_eq!(r.code, 1, "{}", r.stderr);
            for text in [&r.stdout, &r.stderr] {
                assert!(
                    !text.contains(sk) && !text.contains(ST),
                    "secret leaked:\n{text}"
                );
                assert!(!text.contains("Signature="), "signature leaked:\n{text}");
            }
            if sk == SK {
                assert!(r.stdout.contains("running"), "{}", r.stdout);
            }
        }
    }
}

#[test]
fn demo_runs_end_to_end_within_budget() {
    let started = Instant::now();
    let mut c = clouddc();
    c.arg("demo").timeout(Duration::from_secs(30));
    let r = run(c);
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(took < Duration::from_secs(15), "demo took {took:?}");
    assert!(r.stdout.contains("reached"), "{}", r.stdout);
    assert!(
        r.stdout.contains("3 reached running, 1 failed fast"),
        "{}",
        r.stdout
    );
}

#[test]
fn simulate_prints_its_url_first_and_serves() {
    use std::io::{BufRead, BufReader};
    let bin = assert_cmd::cargo::cargo_bin("clouddc");
    let mut child = std::process::Command::new(bin)
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--instances",
            "2",
            "--output",
            "json",
            "--seed",
            "3",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn simulate");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let v: Value = serde_json::from_str(&first).expect("first line is JSON");
    let url = v["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let ids: Vec<String> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let mut c = clouddc();
    c.args([
        "--endpoint",
        &url,
        "--project-id",
        v["project_id"].as_str().unwrap(),
        "--token",
        v["token"].as_str().unwrap(),
    ]);
    c.arg("status").args(&ids);
    let r = run(c);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// The ids `prefix-0` .. `prefix-{n-1}`, pending for ten minutes.
fn pending_fleet(sim: &BlockingHandle, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-{i}");
            add(
                sim,
                &id,
                Schedule::pending_for(Duration::from_secs(600)),
                none(),
            );
            id
        })
        .collect()
}

#[test]
fn wait_of_many_ids_ends_within_its_timeout() {
    let sim = sim();
    let ids = pending_fleet(&sim, "w", 200);
    for transport in TRANSPORTS {
        let mut c = against(&sim);
        c.args(["--transport", transport, "--attempt-timeout", "2s", "wait"]);
        c.args(&ids);
        c.args([
            "--until",
            "running",
            "--timeout",
            "3s",
            "--interval",
            "200ms",
        ]);
        c.args(["--concurrency", "16", "--output", "json"]);
        let started = Instant::now();
        let r = run(c);
        let took = started.elapsed();
        assert_eq!(r.code, 4, "{transport}: {}", r.stderr);
        // 3 s plus one attempt timeout at most, whatever the number of ids.
        assert!(took < Duration::from_secs(5), "{transport}: {took:?}");
        let recs = lines(&r.stdout);
        assert_eq!(recs.len(), 200);
        for v in &recs {
            assert_eq!(v["outcome"], "timed_out", "{v}");
            // Every id polled from the start, not in batches of 16.
            assert!(v["polls"].as_u64().unwrap() >= 5, "{transport}: {v}");
            assert!(v["elapsed_ms"].as_u64().unwrap() < 5_000, "{v}");
        }
    }
}

#[test]
fn rate_limit_is_a_cap_for_both_commands_and_transports() {
    for transport in TRANSPORTS {
        for (command, rate) in [("status", 20), ("wait", 5)] {
            // A fresh simulator each time, so its arrival log is this run's.
            let sim = sim();
            let ids = pending_fleet(&sim, "r", 60);
            let mut c = against(&sim);
            c.args(["--transport", transport, command]);
            c.args(&ids);
            c.args(["--rate-limit", &rate.to_string(), "--concurrency", "64"]);
            if command == "wait" {
                c.args([
                    "--until",
                    "running",
                    "--timeout",
                    "3s",
                    "--interval",
                    "100ms",
                ]);
            }
            c.args(["--output", "json"]);
            let r = run(c);
            // Status: every id answers; wait: none reaches running in 3 s.
            let code = if command == "status" { 0 } else { 4 };
            assert_eq!(r.code, code, "{transport} {command}: {}", r.stderr);
            let log = sim.control().requests(Duration::from_secs(1));
            assert!(
                log.count >= 10,
                "{transport} {command}: {} requests",
                log.count
            );
            assert!(
                log.max_in_window <= rate + 1,
                "{transport} {command}: {} requests in one second under --rate-limit {rate}",
                log.max_in_window
            );
        }
    }
}

#[test]
fn verbose_prints_one_line_per_attempt() {
    let sim = sim();
    for transport in TRANSPORTS {
        let id = format!("v-{transport}");
        let faults = Faults {
            server_error: Some(ServerError {
                times: Some(2),
                ..ServerError::status(503)
            }),
            ..none()
        };
        add(&sim, &id, Schedule::instant(), faults);
        let mut c = against(&sim);
        c.args(["--transport", transport, "-v", "status", &id]);
        let r = run(c);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let attempts: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.contains(" attempt="))
            .collect();
        assert_eq!(attempts.len(), 3, "{transport}: {}", r.stderr);
        for (n, line) in attempts.iter().enumerate() {
            assert!(line.contains(&format!("attempt={}", n + 1)), "{line}");
            assert!(line.contains("request_id="), "{line}");
            let status = if n < 2 { "status=503" } else { "status=200" };
            assert!(line.contains(status), "{line}");
            assert_eq!(line.contains("delay_ms="), n < 2, "{line}");
            assert!(
                !line.contains('\u{1b}'),
                "colour in a redirected stderr: {line:?}"
            );
        }
        assert!(!r.stderr.contains(TOKEN));
    }
}

/// The command uses the clients' public API only: it never drives the
/// core's machines itself.
#[test]
fn the_command_drives_no_core_machine_itself() {
    /// Every `.rs` file under `dir`, subfolders included.
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    // The scan reaches every module, the subcommands' folder included.
    assert!(files.iter().any(|p| p.ends_with("main.rs")), "{files:?}");
    assert!(
        files.iter().any(|p| p.parent() != Some(src.as_path())),
        "no subfolder scanned: {files:?}"
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for word in ["Call", "Waiter", "Machine", "run_async", "transport::run"] {
                let hit = line
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .any(|w| w == word || w.ends_with(&format!("::{word}")));
                assert!(!hit, "{} uses {word}: {line}", path.display());
            }
        }
    }
}

/// The built binary as a plain std command (for pipes and /dev/full).
fn raw(sim: &BlockingHandle, transport: &str) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("clouddc"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CLOUDDC_AUTH_TOKEN", TOKEN)
        .env("CLOUDDC_METADATA_ENDPOINT", "off")
        .args(["--endpoint", sim.url(), "--project-id", sim.project_id()])
        .args(["--transport", transport]);
    c
}

#[test]
fn a_closed_stdout_ends_quietly_with_141_and_stops_sending() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let sim = sim();
    let ids = pending_fleet(&sim, "p", 400);
    for transport in TRANSPORTS {
        for format in ["json", "table"] {
            let before = sim.control().requests(Duration::from_secs(1)).count;
            let mut c = raw(&sim, transport);
            c.arg("status").args(&ids).args(["--output", format]);
            c.args(["--rate-limit", "100", "--concurrency", "4"]);
            let mut child = c
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if format == "json" {
                // Read one record, then close the pipe.
                let mut first = String::new();
                BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut first)
                    .unwrap();
                assert!(first.starts_with("{\"id\":\"p-0\""), "{first}");
            } else {
                drop(child.stdout.take());
            }
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(141),
                "{transport} {format}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
            let sent = sim.control().requests(Duration::from_secs(1)).count - before;
            if format == "json" {
                // Stopped after the first record, not after 400 ids.
                assert!(
                    sent < 100,
                    "{transport}: {sent} requests after the pipe closed"
                );
            }
        }
    }
}

#[test]
fn a_full_disk_is_an_error_with_exit_1() {
    let sim = sim();
    let ids = pending_fleet(&sim, "f", 3);
    for transport in TRANSPORTS {
        for format in ["json", "table"] {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            let mut c = raw(&sim, transport);
            c.arg("status").args(&ids).args(["--output", format]);
            let out = c.stdout(full).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{transport} {format}: {stderr}");
            assert!(stderr.contains("cannot write to stdout"), "{stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    }
    // The other subcommands that write to stdout.
    for args in [&["completions", "bash"][..], &["--help"][..]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("clouddc"))
            .args(args)
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
}

/// A server that answers every request with `body` (status 200), for
/// contents the simulator will not produce.
fn one_answer_server(body: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn control_bytes_from_the_server_are_escaped_in_the_table() {
    let url = one_answer_server(
        r#"{"state":"\u001b[2J\u001b]0;pwned\u0007evil\r\nFAKE  running","operation_state":"x\u202eevil"}"#,
    );
    for transport in TRANSPORTS {
        let mut c = clouddc();
        c.args([
            "--endpoint",
            &url,
            "--project-id",
            "p",
            "--transport",
            transport,
        ]);
        c.args(["status", "i-1"]).env("CLOUDDC_AUTH_TOKEN", TOKEN);
        let r = run(c);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
        assert!(
            !r.stdout.contains('\u{7}') && !r.stdout.contains('\r'),
            "{:?}",
            r.stdout
        );
        assert!(!r.stdout.contains('\u{202e}'), "{:?}", r.stdout);
        // One header line and one row: the body cannot forge a second row.
        assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
        assert!(r.stdout.contains("\\u{1b}[2J"), "{}", r.stdout);
    }
}

#[test]
fn user_info_in_an_endpoint_is_never_echoed() {
    for endpoint in [
        "http://admin:S3cretPw@example.com",
        "https://admin:S3cretPw@h:0",
    ] {
        for position in ["flag", "env"] {
            let mut c = clouddc();
            if position == "flag" {
                c.args(["--endpoint", endpoint]);
            } else {
                c.env("CLOUDDC_ENDPOINT", endpoint);
            }
            c.args(["--project-id", "p", "status", "i-1"])
                .env("CLOUDDC_AUTH_TOKEN", TOKEN);
            let r = run(c);
            assert_eq!(r.code, 2, "{}", r.stderr);
            assert!(!r.stderr.contains("S3cretPw"), "{}", r.stderr);
            assert!(r.stderr.contains("admin:****@"), "{}", r.stderr);
        }
    }
}

#[test]
fn a_byte_order_mark_in_an_ids_file_is_not_part_of_an_id() {
    let sim = sim();
    add(&sim, "bom-1", Schedule::instant(), none());
    add(&sim, "bom-2", Schedule::instant(), none());
    let dir = std::env::temp_dir().join(format!("clouddc-bom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ids.txt");
    std::fs::write(&file, "\u{feff}bom-1\r\nbom-2\r\n").unwrap();
    let mut c = against(&sim);
    c.args(["status", "--ids-file"])
        .arg(&file)
        .args(["--output", "json"]);
    let r = run(c);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids: Vec<String> = lines(&r.stdout)
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["bom-1", "bom-2"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_small_open_file_limit_does_not_fail_a_wide_fleet() {
    let sim = sim();
    let ids = pending_fleet(&sim, "fd", 1000);
    sim.control()
        .set_faults(Faults {
            latency: Some(Duration::from_millis(300)),
            ..none()
        })
        .expect("faults");
    let bin = assert_cmd::cargo::cargo_bin("clouddc");
    let ids_file = std::env::temp_dir().join(format!("clouddc-fd-{}.txt", std::process::id()));
    std::fs::write(&ids_file, ids.join("\n")).unwrap();
    // A soft limit the command raises; then a hard one it must fit into.
    for (ulimit, warns) in [("ulimit -Sn 256", false), ("ulimit -n 256", true)] {
        for transport in TRANSPORTS {
            let script = format!(
                "{ulimit} && exec \"$0\" --endpoint {} --project-id {} --transport {transport} \
                 status --ids-file \"$1\" --concurrency 1024 --output json",
                sim.url(),
                sim.project_id()
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .arg(&bin)
                .arg(&ids_file)
                .env("CLOUDDC_AUTH_TOKEN", TOKEN)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(0), "{ulimit} {transport}: {stderr}");
            let recs = lines(&String::from_utf8_lossy(&out.stdout));
            assert_eq!(recs.len(), 1000);
            assert!(recs.iter().all(|v| v["ok"] == true), "{ulimit} {transport}");
            assert_eq!(
                stderr.contains("does not fit the open-file limit"),
                warns,
                "{stderr}"
            );
        }
    }
    let _ = std::fs::remove_file(ids_file);
}

#[test]
fn a_signal_mid_run_gives_every_id_one_line_and_the_signal_status() {
    let sim = sim();
    add(&sim, "done-1", Schedule::instant(), none());
    let slow = pending_fleet(&sim, "s", 30);
    for transport in TRANSPORTS {
        for (signal, code) in [("INT", 130), ("TERM", 143)] {
            for command in ["wait", "status"] {
                let mut c = raw(&sim, transport);
                c.arg(command).arg("done-1").args(&slow);
                if command == "wait" {
                    c.args([
                        "--until",
                        "running",
                        "--interval",
                        "100ms",
                        "--timeout",
                        "60s",
                    ]);
                } else {
                    // Slow enough that the signal comes mid-run.
                    c.args(["--rate-limit", "5", "--concurrency", "1"]);
                }
                c.args(["--output", "json"]);
                let child = c
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(1500));
                let signalled = Instant::now();
                let killed = std::process::Command::new("kill")
                    .args([format!("-{signal}"), child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(killed.success());
                let out = child.wait_with_output().unwrap();
                // It stops at once, not when its waits would have ended.
                assert!(
                    signalled.elapsed() < Duration::from_secs(10),
                    "{transport} {signal} {command}: exited {:?} after the signal",
                    signalled.elapsed()
                );
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(
                    out.status.code(),
                    Some(code),
                    "{transport} {signal} {command}: {stderr}"
                );
                let recs = lines(&String::from_utf8_lossy(&out.stdout));
                let ids: Vec<&str> = recs.iter().map(|v| v["id"].as_str().unwrap()).collect();
                let mut expected = vec!["done-1"];
                expected.extend(slow.iter().map(String::as_str));
                assert_eq!(
                    ids, expected,
                    "{transport} {signal} {command}: each id once, in order"
                );
                let interrupted = |v: &Value| {
                    if command == "wait" {
                        v["outcome"] == "interrupted"
                    } else {
                        v["failure"]["kind"] == "interrupted"
                    }
                };
                // done-1 finished before the signal (it is running at once
                // for wait, and first in line for status).
                assert!(!interrupted(&recs[0]), "{}", recs[0]);
                assert_eq!(recs[0]["ok"], true);
                assert!(
                    recs.iter().skip(1).any(interrupted),
                    "{transport} {signal} {command}: {}",
                    recs[1]
                );
                for v in recs.iter().filter(|v| interrupted(v)) {
                    assert_eq!(v["ok"], false);
                    if command == "wait" {
                        // A wait keeps what it saw: polled ids say
                        // `pending`, ids never polled have no state.
                        let polls = v["polls"].as_u64().unwrap();
                        let state = if polls > 0 {
                            "pending".into()
                        } else {
                            Value::Null
                        };
                        assert_eq!(v["state"], state, "{transport} {signal}: {v}");
                    } else {
                        assert!(v["state"].is_null());
                    }
                }
            }
        }
    }
}

#[test]
fn progress_shows_on_a_terminal_only() {
    let sim = sim();
    let ids = pending_fleet(&sim, "g", 5);
    let bin = assert_cmd::cargo::cargo_bin("clouddc");
    let records = tempfile::NamedTempFile::new().unwrap();
    // `cmd` under a pseudo-terminal (script(1), whose -e gives the
    // command's exit status); its stdout is what reached the terminal.
    let on_a_terminal = |cmd: String| {
        std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("CLOUDDC_AUTH_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    for transport in TRANSPORTS {
        // Stderr to the terminal, stdout to `stdout`.
        let cmd = |stdout: &str, more: &str| {
            format!(
                "{} --endpoint {} --project-id {} --transport {transport} wait {} --until running \
                 --timeout 1500ms --interval 100ms --output json{more} 2>&1 >{stdout}",
                bin.display(),
                sim.url(),
                sim.project_id(),
                ids.join(" ")
            )
        };
        // On a terminal: a progress line on stderr.
        let tty = on_a_terminal(cmd("/dev/null", ""));
        let shown = String::from_utf8_lossy(&tty.stdout);
        assert_eq!(tty.status.code(), Some(4), "{transport}: {shown:?}");
        assert!(shown.contains("/5 done"), "{transport}: {shown:?}");
        // --no-progress turns it off, and the wait still runs to its end:
        // every id timed out, nothing at all on the terminal.
        let path = records.path().display().to_string();
        let quiet = on_a_terminal(cmd(&path, " --no-progress"));
        let shown = String::from_utf8_lossy(&quiet.stdout);
        assert_eq!(quiet.status.code(), Some(4), "{transport}: {shown:?}");
        assert!(shown.trim().is_empty(), "{transport}: {shown:?}");
        let recs = lines(&std::fs::read_to_string(records.path()).unwrap());
        let ids_seen: Vec<&str> = recs.iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(ids_seen, ids, "{transport}");
        assert!(
            recs.iter().all(|v| v["outcome"] == "timed_out"),
            "{transport}: {recs:?}"
        );
        // Not a terminal: nothing on stderr.
        let mut c = raw(&sim, transport);
        c.arg("wait")
            .args(&ids)
            .args(["--until", "running", "--timeout", "500ms"]);
        c.args(["--interval", "100ms", "--output", "json"]);
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn unordered_prints_records_as_they_finish() {
    for transport in TRANSPORTS {
        let sim = sim();
        add(
            &sim,
            "slow",
            Schedule::pending_for(Duration::from_millis(1500)),
            none(),
        );
        add(&sim, "fast", Schedule::instant(), none());
        let mut c = raw(&sim, transport);
        c.args([
            "wait",
            "slow",
            "fast",
            "--until",
            "running",
            "--interval",
            "200ms",
        ]);
        c.args(["--timeout", "10s", "--output", "json", "--unordered"]);
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let recs = lines(&String::from_utf8_lossy(&out.stdout));
        let ids: Vec<&str> = recs.iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["fast", "slow"], "{transport}");
    }
}

#[test]
fn watch_prints_exactly_the_transitions() {
    for transport in TRANSPORTS {
        let sim = sim();
        add(
            &sim,
            "w-1",
            Schedule::pending_for(Duration::from_millis(1200)),
            none(),
        );
        add(&sim, "w-2", Schedule::instant(), none());
        let mut c = raw(&sim, transport);
        c.args([
            "watch",
            "w-1",
            "w-2",
            "--interval",
            "200ms",
            "--until-all",
            "running",
        ]);
        c.args(["--output", "json"]);
        let before = std::time::SystemTime::now();
        let out = c.output().unwrap();
        let after = std::time::SystemTime::now();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{transport}: {stderr}");
        let recs = lines(&String::from_utf8_lossy(&out.stdout));
        // `at` is when the poll answered: within the run (to the second),
        // and w-1's change to running after its first sight.
        let at = |v: &Value| humantime::parse_rfc3339(v["at"].as_str().unwrap()).unwrap();
        let whole_seconds =
            |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        for v in &recs {
            let t = whole_seconds(at(v));
            assert!(
                (whole_seconds(before)..=whole_seconds(after)).contains(&t),
                "{transport}: {v}"
            );
        }
        let w1_times: Vec<u64> = recs
            .iter()
            .filter(|v| v["id"] == "w-1")
            .map(|v| whole_seconds(at(v)))
            .collect();
        assert!(w1_times.windows(2).all(|w| w[0] <= w[1]), "{w1_times:?}");
        let mut seen: Vec<(String, Value, Value)> = recs
            .iter()
            .map(|v| {
                (
                    v["id"].as_str().unwrap().to_owned(),
                    v["from"].clone(),
                    v["to"].clone(),
                )
            })
            .collect();
        // In time order per id.
        let w1: Vec<_> = seen.iter().filter(|s| s.0 == "w-1").cloned().collect();
        assert_eq!(
            w1,
            [
                ("w-1".to_owned(), Value::Null, Value::from("pending")),
                (
                    "w-1".to_owned(),
                    Value::from("pending"),
                    Value::from("running")
                ),
            ],
            "{transport}: {recs:?}"
        );
        seen.retain(|s| s.0 == "w-2");
        assert_eq!(
            seen,
            [("w-2".to_owned(), Value::Null, Value::from("running"))]
        );
        for v in &recs {
            assert!(v["at"].as_str().unwrap().ends_with('Z'), "{v}");
            assert!(v.get("operation_state").is_some(), "{v}");
        }
    }
}

#[test]
fn watch_ends_as_cli_md_says() {
    for transport in TRANSPORTS {
        let sim = sim();
        add(&sim, "ok-1", Schedule::instant(), none());
        add(
            &sim,
            "bad-1",
            Schedule::failing_after(Duration::from_millis(300)),
            none(),
        );
        // --for: exit 0 after the time, each id printed once (no change).
        let mut c = raw(&sim, transport);
        c.args([
            "watch",
            "ok-1",
            "--interval",
            "100ms",
            "--for",
            "700ms",
            "--output",
            "json",
        ]);
        let started = Instant::now();
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{transport}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(lines(&String::from_utf8_lossy(&out.stdout)).len(), 1);
        // --until-all: 3 as soon as one id entered a state it will not leave.
        let mut c = raw(&sim, transport);
        c.args([
            "watch",
            "ok-1",
            "bad-1",
            "--interval",
            "100ms",
            "--until-all",
            "running",
        ]);
        c.args(["--output", "json"]);
        assert_eq!(c.output().unwrap().status.code(), Some(3), "{transport}");
        // An id that fails for good is printed once with its failure and
        // dropped; the rest reaching the state ends with 1.
        let mut c = raw(&sim, transport);
        c.args([
            "watch",
            "ok-1",
            "nope",
            "--interval",
            "100ms",
            "--until-all",
            "running",
        ]);
        c.args(["--output", "json"]);
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{transport}");
        let recs = lines(&String::from_utf8_lossy(&out.stdout));
        let nope: Vec<&Value> = recs.iter().filter(|v| v["id"] == "nope").collect();
        assert_eq!(nope.len(), 1);
        assert!(nope[0]["to"].is_null());
        assert_eq!(nope[0]["failure"]["kind"], "not_found");
    }
}

/// `simulate` takes a token or an AK/SK pair, never both, and a busy
/// `--listen` address is named with its cause; both exit 2.
#[test]
fn simulate_refuses_two_kinds_of_auth_and_names_a_busy_port() {
    let mut c = clouddc();
    c.args([
        "simulate",
        "--listen",
        "127.0.0.1:0",
        "--token",
        "T",
        "--ak",
        "A",
        "--sk",
        "B",
    ]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("exclude each other"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let mut c = clouddc();
    c.args(["simulate", "--listen", &addr]);
    let r = run(c);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains(&addr), "{}", r.stderr);
    assert!(r.stderr.to_lowercase().contains("in use"), "{}", r.stderr);
    assert!(r.stderr.contains("port 0"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}
