//! Records and reports that tell the truth, driven through the built binary
//! against the simulator on every transport this build has: each id's own
//! history in its record (interrupted and timed-out waits keep what they
//! saw; `elapsed_ms` is when the id finished, ordered or not, in JSON and
//! in the table), and `watch --for`'s exit codes.
//!
//! The fields of a record, and what each one says (the audit this file
//! and `cli.rs` test):
//!
//! | field | says | tested |
//! |---|---|---|
//! | `id` | the id as given, once, in argument order unless `--unordered` | `cli.rs` (argument order, signal) |
//! | `ok` | status: the query answered; wait: `reached` only | `cli.rs` (every failure kind, exit codes) |
//! | `state`, `operation_state` | the last answer seen for this id; null with a `failure` | here (interrupted, timed out), `cli.rs` |
//! | `error` | the 200 body's error object, passed through | `records.rs` unit test |
//! | `failure` | why the id's query failed for good; null otherwise | `cli.rs` (every kind) |
//! | `outcome` | how this id's wait ended | here, `cli.rs` |
//! | `polls` | status queries this id answered, up to its end (interrupted too) | here |
//! | `elapsed_ms` | from the command's start to when this id ended, not to its print | here (JSON, `--unordered`, table, demo) |
//!
//! A `watch` line's fields:
//!
//! | field | says | tested |
//! |---|---|---|
//! | `id` | the id as given | `cli.rs` (transitions) |
//! | `from`, `to` | the state printed last for this id, and the one just seen (`to` null when it was dropped) | `cli.rs` (transitions, drops) |
//! | `operation_state` | the operation state just seen | `cli.rs` (transitions) |
//! | `failure` | why the id was dropped, on its last line only | `cli.rs` (`watch_ends_as_cli_md_says`), here |
//! | `at` | when the poll that saw it answered (UTC, seconds) | `cli.rs` (transitions) |
//!
//! The exit code of `watch --for` is 1 whenever an id was dropped (here).

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clouddc_simulator::{Action, BlockingHandle, NewInstance, Op, Schedule, SimConfig};
use common::TRANSPORTS;
use serde_json::Value;

mod common;

const TOKEN: &str = "reports-token";

fn sim() -> BlockingHandle {
    let config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(clouddc_simulator::Auth::token(TOKEN))
        .instances(0)
        .build()
        .expect("sim config");
    clouddc_simulator::start_blocking(config).expect("start the simulator")
}

fn add(sim: &BlockingHandle, id: &str, schedule: Schedule) {
    sim.control()
        .create_instance(NewInstance::new().with_id(id).with_schedule(schedule))
        .expect("create instance");
}

/// An instance that is `stopped` now.
fn add_stopped(sim: &BlockingHandle, id: &str) {
    add(sim, id, Schedule::instant());
    sim.control()
        .apply(Op::Act {
            id: id.into(),
            action: Action::PowerOff,
        })
        .expect("power off");
}

/// Status requests the simulator answered for `id`.
fn served(sim: &BlockingHandle, id: &str) -> u64 {
    sim.control()
        .counters()
        .instances
        .get(id)
        .map_or(0, |c| c.requests)
}

/// The binary against `sim` on `transport`, with a clean environment.
fn against(sim: &BlockingHandle, transport: &str) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clouddc"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", common::empty_home())
        .env("CLOUDDC_AUTH_TOKEN", TOKEN)
        .env("CLOUDDC_METADATA_ENDPOINT", "off")
        .args(["--endpoint", sim.url(), "--project-id", sim.project_id()])
        .args(["--transport", transport]);
    c
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// Runs `c` to its end: exit code, stdout, stderr.
fn finish(c: &mut Command) -> (i32, String, String) {
    run(c, None)
}

/// Runs `c`, sends SIGINT after `after`, and returns what it printed.
fn interrupt_after(c: &mut Command, after: Duration) -> (i32, String, String) {
    run(c, Some(after))
}

fn run(c: &mut Command, interrupt: Option<Duration>) -> (i32, String, String) {
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn clouddc");
    if let Some(after) = interrupt {
        std::thread::sleep(after);
        let killed = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
    }
    let out = child.wait_with_output().expect("clouddc output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_interrupted_wait_keeps_its_polls_and_last_state() {
    let sim = sim();
    for transport in TRANSPORTS {
        let id = format!("slow-{transport}");
        let other = format!("other-{transport}");
        add(&sim, &id, Schedule::pending_for(Duration::from_secs(600)));
        add(
            &sim,
            &other,
            Schedule::pending_for(Duration::from_secs(600)),
        );
        let mut c = against(&sim, transport);
        c.args(["wait", &id, &other, "--until", "running"])
            .args(["--interval", "1s", "--timeout", "60s"])
            .args(["--output", "json"]);
        let (code, out, err) = interrupt_after(&mut c, Duration::from_millis(3500));
        assert_eq!(code, 130, "{transport}: {err}");
        let recs = lines(&out);
        assert_eq!(recs.len(), 2, "{transport}: {out}");
        let r = &recs[0];
        assert_eq!(r["id"], id.as_str());
        assert_eq!(r["outcome"], "interrupted", "{transport}: {r}");
        assert_eq!(r["ok"], false);
        assert_eq!(r["state"], "pending", "{transport}: {r}");
        assert_eq!(
            r["operation_state"], "install-processing",
            "{transport}: {r}"
        );
        assert_eq!(r["failure"], Value::Null);
        // Every poll the server answered is counted, and only those: one
        // request may have been in flight when the signal came.
        let polls = r["polls"].as_u64().unwrap();
        let answered = served(&sim, &id);
        assert!(polls >= 3, "{transport}: {r}");
        assert!(
            polls == answered || polls + 1 == answered,
            "{transport}: {polls} polls, {answered} requests served"
        );
        let elapsed = r["elapsed_ms"].as_u64().unwrap();
        assert!((3400..10_000).contains(&elapsed), "{transport}: {r}");
        // The second id's record is its own.
        let u = &recs[1];
        assert_eq!(u["id"], other.as_str());
        assert_eq!(u["outcome"], "interrupted", "{transport}: {u}");
        assert_eq!(u["state"], "pending", "{transport}: {u}");
        let polls = u["polls"].as_u64().unwrap();
        let answered = served(&sim, &other);
        assert!(
            polls >= 3 && (polls == answered || polls + 1 == answered),
            "{transport}: {polls} polls, {answered} requests served"
        );
    }
}

#[test]
fn a_timed_out_wait_keeps_its_polls_and_last_state() {
    let sim = sim();
    for transport in TRANSPORTS {
        let id = format!("late-{transport}");
        add(&sim, &id, Schedule::pending_for(Duration::from_secs(600)));
        let mut c = against(&sim, transport);
        c.args(["wait", &id, "--until", "running"]).args([
            "--interval",
            "500ms",
            "--timeout",
            "2s",
            "--output",
            "json",
        ]);
        let (code, out, err) = finish(&mut c);
        assert_eq!(code, 4, "{transport}: {err}");
        let r = &lines(&out)[0];
        assert_eq!(r["outcome"], "timed_out", "{transport}: {r}");
        assert_eq!(r["state"], "pending");
        let polls = r["polls"].as_u64().unwrap();
        assert_eq!(polls, served(&sim, &id), "{transport}: {r}");
        assert!(polls >= 4, "{transport}: {r}");
    }
}

#[test]
fn elapsed_ms_is_when_each_id_finished_not_when_it_was_printed() {
    let sim = sim();
    for transport in TRANSPORTS {
        let running = format!("running-{transport}");
        let stopped = format!("stopped-{transport}");
        add(&sim, &running, Schedule::instant());
        add_stopped(&sim, &stopped);
        for unordered in [false, true] {
            let mut c = against(&sim, transport);
            c.args(["wait", &running, &stopped, "--until", "stopped"])
                .args(["--interval", "500ms", "--timeout", "3s", "--output", "json"]);
            if unordered {
                c.arg("--unordered");
            }
            let started = Instant::now();
            let (code, out, err) = finish(&mut c);
            let took = started.elapsed();
            assert_eq!(code, 4, "{transport}: {err}");
            let recs = lines(&out);
            let by_id = |id: &str| recs.iter().find(|r| r["id"] == id).unwrap().clone();
            let late = by_id(&running);
            let early = by_id(&stopped);
            assert_eq!(early["outcome"], "reached");
            assert_eq!(early["polls"], 1);
            // The stopped one ended on its first poll, at once; the running
            // one at the deadline.
            let early_ms = early["elapsed_ms"].as_u64().unwrap();
            assert!(early_ms < 1500, "{transport} {unordered}: {early}");
            let late_ms = late["elapsed_ms"].as_u64().unwrap();
            assert!(
                (3000..=u64::try_from(took.as_millis()).unwrap()).contains(&late_ms),
                "{transport} {unordered}: {late} after {took:?}"
            );
            // Argument order, unless --unordered.
            let order: Vec<&str> = recs.iter().map(|r| r["id"].as_str().unwrap()).collect();
            if unordered {
                assert_eq!(order, [stopped.as_str(), running.as_str()]);
            } else {
                assert_eq!(order, [running.as_str(), stopped.as_str()]);
            }
        }
        // The table's ELAPSED column says the same.
        let mut c = against(&sim, transport);
        c.args(["wait", &running, &stopped, "--until", "stopped"])
            .args([
                "--interval",
                "500ms",
                "--timeout",
                "3s",
                "--output",
                "table",
            ]);
        let (code, out, err) = finish(&mut c);
        assert_eq!(code, 4, "{transport}: {err}");
        let row = out.lines().find(|l| l.starts_with(&stopped)).unwrap();
        let elapsed: f64 = row
            .split_whitespace()
            .find_map(|c| c.strip_suffix('s').and_then(|n| n.parse().ok()))
            .unwrap_or_else(|| panic!("no ELAPSED in {row:?}"));
        assert!(elapsed < 1.5, "{transport}: {row}");
    }
}

#[test]
fn the_demo_shows_when_each_id_ended() {
    for transport in TRANSPORTS {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("clouddc"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", common::empty_home())
            .args(["demo", "--transport", transport, "--output", "json"]);
        let (code, out, err) = finish(&mut c);
        assert_eq!(code, 0, "{transport}: {err}");
        let recs: Vec<Value> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("outcome").is_some())
            .collect();
        let ms = |id: &str| {
            let r = recs.iter().find(|r| r["id"] == id).unwrap();
            r["elapsed_ms"].as_u64().unwrap()
        };
        // batch-1 fails after 3 s; db-1 runs after 6 s.
        let failed = ms("batch-1");
        assert!(
            (2500..4500).contains(&failed),
            "{transport}: batch-1 {failed} ms"
        );
        assert!(ms("web-2") < failed, "{transport}");
        assert!(ms("db-1") > failed, "{transport}");
    }
}

/// Runs the shell command `cmd` under a pseudo-terminal (script(1)) and
/// returns what reached the terminal.
fn on_a_terminal(cmd: &str) -> (i32, String) {
    let out = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .env("CLOUDDC_AUTH_TOKEN", TOKEN)
        .env("CLOUDDC_METADATA_ENDPOINT", "off")
        .env("HOME", common::empty_home())
        .output()
        .expect("script");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Every rate the progress line showed, in requests per second.
fn rates(shown: &str) -> Vec<f64> {
    shown
        .split(" req/s")
        .filter_map(|before| before.rsplit(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn the_progress_rate_is_the_recent_request_rate() {
    let sim = sim();
    let bin = assert_cmd::cargo::cargo_bin("clouddc");
    for transport in TRANSPORTS {
        let ids: Vec<String> = (0..3)
            .map(|i| {
                let id = format!("rate-{transport}-{i}");
                add(&sim, &id, Schedule::pending_for(Duration::from_secs(600)));
                id
            })
            .collect();
        let base = format!(
            "{} --endpoint {} --project-id {} --transport {transport}",
            bin.display(),
            sim.url(),
            sim.project_id()
        );
        // Three ids polled once a second: about 3 req/s, shown while
        // nothing has finished yet.
        let (code, shown) = on_a_terminal(&format!(
            "{base} wait {} --until running --interval 1s --timeout 4s --output json >/dev/null",
            ids.join(" ")
        ));
        assert_eq!(code, 4, "{transport}: {shown:?}");
        let seen = rates(&shown);
        assert!(!seen.is_empty(), "{transport}: {shown:?}");
        assert!(
            seen.iter().all(|r| *r <= 4.0),
            "{transport}: {seen:?} for 3 ids polled once a second"
        );
        assert!(
            seen.iter().any(|r| *r >= 1.0),
            "{transport}: the rate stayed at 0 while polling: {seen:?}"
        );
        // A cap of one request a second: never shown above 2.
        let (code, shown) = on_a_terminal(&format!(
            "{base} status {} {} --rate-limit 1 --output json >/dev/null",
            ids.join(" "),
            ids.join(" ")
        ));
        assert_eq!(code, 0, "{transport}: {shown:?}");
        let seen = rates(&shown);
        assert!(!seen.is_empty(), "{transport}: {shown:?}");
        assert!(
            seen.iter().all(|r| *r <= 2.0),
            "{transport}: {seen:?} under --rate-limit 1"
        );
    }
}

#[test]
fn watch_for_exits_1_whenever_an_id_was_dropped() {
    let sim = sim();
    for transport in TRANSPORTS {
        let ok = format!("watched-{transport}");
        add(&sim, &ok, Schedule::instant());
        let watch = |ids: &[&str]| {
            let mut c = against(&sim, transport);
            c.arg("watch").args(ids).args([
                "--interval",
                "200ms",
                "--for",
                "1s",
                "--output",
                "json",
            ]);
            let started = Instant::now();
            let (code, out, err) = finish(&mut c);
            (code, lines(&out), err, started.elapsed())
        };
        // Nothing dropped: 0 when the time is up.
        let (code, recs, err, took) = watch(&[&ok]);
        assert_eq!(code, 0, "{transport}: {err}");
        assert_eq!(recs.len(), 1);
        assert!(took >= Duration::from_secs(1), "{transport}: {took:?}");
        // One of two dropped for a 404: 1, at the end of the time.
        let (code, recs, err, took) = watch(&[&ok, "gone"]);
        assert_eq!(code, 1, "{transport}: {err}");
        assert!(took >= Duration::from_secs(1), "{transport}: {took:?}");
        let gone: Vec<&Value> = recs.iter().filter(|v| v["id"] == "gone").collect();
        assert_eq!(gone.len(), 1, "{transport}: {recs:?}");
        assert_eq!(gone[0]["failure"]["kind"], "not_found");
        // The only id dropped: 1, at once.
        let (code, _, err, took) = watch(&["gone"]);
        assert_eq!(code, 1, "{transport}: {err}");
        assert!(took < Duration::from_secs(1), "{transport}: {took:?}");
    }
}

#[test]
fn the_watch_table_is_aligned() {
    let sim = sim();
    for transport in TRANSPORTS {
        let short = format!("w-{transport}");
        let long = format!("a-much-longer-id-{transport}");
        add(&sim, &short, Schedule::instant());
        add(
            &sim,
            &long,
            Schedule::pending_for(Duration::from_millis(300)),
        );
        let mut c = against(&sim, transport);
        c.args(["watch", &short, &long, "--interval", "100ms"])
            .args(["--until-all", "running", "--output", "table"]);
        let (code, out, err) = finish(&mut c);
        assert_eq!(code, 0, "{transport}: {err}");
        let rows: Vec<&str> = out.lines().collect();
        // A header, both ids first seen, and the long one's change.
        assert!(rows.len() >= 4, "{transport}: {out}");
        // Every column starts where the header's does.
        let header = rows[0];
        let starts: Vec<usize> = ["FROM", "TO", "OPERATION", "AT"]
            .iter()
            .map(|h| header.find(&format!("  {h}")).unwrap() + 2)
            .collect();
        for row in &rows[1..] {
            for &at in &starts {
                let (before, after) = row.split_at(at);
                assert!(
                    before.ends_with("  ") && !after.starts_with(' '),
                    "{transport}: column at {at} in {row:?}\n{out}"
                );
            }
        }
    }
}

/// `clouddc simulate` with its defaults, as a newcomer starts it: its start
/// line (JSON), and the process itself.
struct Simulate {
    child: std::process::Child,
    start: Value,
}

impl Simulate {
    fn start(extra: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("clouddc"))
            .env_clear()
            .env("HOME", common::empty_home())
            .args(["simulate", "--listen", "127.0.0.1:0", "--output", "json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn clouddc simulate");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("start line");
        let start = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        Self { child, start }
    }

    fn url(&self) -> &str {
        self.start["url"].as_str().unwrap()
    }

    fn ids_in(&self, state: &str) -> Vec<String> {
        self.start["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["state"] == state)
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The binary pointed at this simulator with the token it printed.
    fn client(&self, transport: &str) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("clouddc"));
        c.env_clear()
            .env("HOME", common::empty_home())
            .env("CLOUDDC_METADATA_ENDPOINT", "off")
            .env("CLOUDDC_AUTH_TOKEN", self.start["token"].as_str().unwrap())
            .args(["--endpoint", self.url()])
            .args(["--project-id", self.start["project_id"].as_str().unwrap()])
            .args(["--transport", transport]);
        c
    }

    /// SIGTERM, and how long the process took to exit, with its status.
    fn terminate(mut self) -> (Duration, Option<i32>) {
        let sent = Instant::now();
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        let status = self.child.wait().expect("wait");
        (sent.elapsed(), status.code())
    }
}

#[test]
fn the_default_simulator_fleet_shows_the_life_cycle() {
    let sim = Simulate::start(&[]);
    let pending = sim.ids_in("pending");
    let running = sim.ids_in("running");
    let stopped = sim.ids_in("stopped");
    assert!(!pending.is_empty(), "{}", sim.start);
    assert!(!running.is_empty(), "{}", sim.start);
    assert!(!stopped.is_empty(), "{}", sim.start);
    for transport in TRANSPORTS {
        // The pending ones become running within seconds.
        let mut c = sim.client(transport);
        c.arg("wait")
            .args(&pending)
            .args([
                "--until",
                "running",
                "--interval",
                "500ms",
                "--timeout",
                "10s",
            ])
            .args(["--output", "json"]);
        let (code, out, err) = finish(&mut c);
        assert_eq!(code, 0, "{transport}: {err}\n{out}");
        for r in lines(&out) {
            assert_eq!(r["outcome"], "reached", "{transport}: {r}");
            assert!(r["polls"].as_u64().unwrap() >= 1);
        }
        // The stopped ones say so.
        let mut c = sim.client(transport);
        c.arg("status").args(&stopped).args(["--output", "json"]);
        let (code, out, err) = finish(&mut c);
        assert_eq!(code, 0, "{transport}: {err}");
        assert!(lines(&out).iter().all(|r| r["state"] == "stopped"), "{out}");
    }
    let (took, code) = sim.terminate();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_millis(500), "{took:?}");
}

/// `PUT {url}{path}` with a JSON body; panics unless the answer is 2xx.
fn put(url: &str, path: &str, body: &str) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 2"), "{answer}");
}

#[test]
fn simulate_exits_within_half_a_second_of_sigterm_with_a_slow_answer_in_flight() {
    let sim = Simulate::start(&["--instances", "1"]);
    // Every answer takes 5 s (the admin API, over a plain socket).
    put(sim.url(), "/_sim/faults", r#"{"latency_ms": 5000}"#);
    let id = sim.ids_in("pending").pop().unwrap();
    let mut slow = sim.client("ureq");
    slow.args(["status", &id, "--output", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut slow = slow.spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    let (took, code) = sim.terminate();
    let _ = slow.kill();
    let _ = slow.wait();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
fn every_error_starts_the_same_way() {
    let sim = sim();
    for transport in TRANSPORTS {
        let cases: [&[&str]; 9] = [
            // Found by the parser.
            &["--bogus"],
            &["wait", "x", "--until"],
            &["wait", "x", "--until", "running", "--timeout", "5"],
            &["status", "x", "--output", "yaml"],
            &["nonsense"],
            // Found by our own code.
            &["status", ".."],
            &["wait", "x", "--until", "nowhere"],
            &["status", "x", "--region", "xx-nowhere-1"],
            &["simulate", "--token", "T", "--ak", "A", "--sk", "B"],
        ];
        for args in cases {
            let mut c = against(&sim, transport);
            c.args(args);
            let (code, out, err) = finish(&mut c);
            assert_eq!(code, 2, "{transport} {args:?}: {err}");
            assert!(out.is_empty(), "{transport} {args:?}: {out}");
            assert!(
                err.starts_with("clouddc: error: "),
                "{transport} {args:?}: {err:?}"
            );
            // The core's kind is not repeated to the user.
            assert!(
                !err.contains("invalid input:"),
                "{transport} {args:?}: {err:?}"
            );
        }
    }
    // The options' help for the output format fits every subcommand.
    for sub in ["config", "simulate", "demo", "status"] {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("clouddc"));
        c.args([sub, "--help"]);
        let (code, out, _) = finish(&mut c);
        assert_eq!(code, 0);
        assert!(!out.contains("one object per instance"), "{sub}: {out}");
    }
}
