//! `clouddc exporter` end to end: the built binary against the simulator,
//! on every transport this build has, scraped over loopback as Prometheus
//! would (CLI.md, "`clouddc exporter`").
//!
//! Covered: /metrics after a cycle (state series, counts by state, up, last
//! success, request counters, HELP and TYPE, OpenMetrics on request), a
//! state change between cycles, an outage (last state kept, up 0), a 404
//! id, the ids file re-read on change and on SIGHUP, `--rate-limit` as the
//! server counts it, SIGINT and SIGTERM (exit 0), a busy port and missing
//! credentials (exit 2, nothing served), /healthz 503 then 200, 404 and
//! 405, the 16 KiB head cap, no secret in any response, `-o` refused;
//! metadata credentials' expiry and identity requests; `promtool check
//! metrics`, and a real Prometheus scraping the counts by state (both skip
//! with a notice where Prometheus is not installed, and fail when
//! `CI=true`).
#![cfg(feature = "exporter")]
// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clouddc_simulator::{Action, Auth, BlockingHandle, Faults, Op, Schedule, ServerError};
use common::TRANSPORTS;

mod common;

const TOKEN: &str = "exporter-token-7f3a9c";

fn sim() -> BlockingHandle {
    common::simulator(Auth::token(TOKEN))
}

fn add(sim: &BlockingHandle, id: &str) {
    common::add_instance(sim, id, Schedule::instant(), Faults::none());
}

/// An instance whose every answer comes after `latency`.
fn add_slow(sim: &BlockingHandle, id: &str, latency: Duration) {
    let faults = Faults {
        latency: Some(latency),
        ..Faults::none()
    };
    common::add_instance(sim, id, Schedule::instant(), faults);
}

fn power_off(sim: &BlockingHandle, id: &str) {
    sim.control()
        .apply(Op::Act {
            id: id.into(),
            action: Action::PowerOff,
        })
        .expect("power off");
}

/// The binary against `sim` on `transport`, with a clean environment and
/// the token (none when `token` is false).
fn command(sim: &BlockingHandle, transport: &str, token: bool) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("clouddc"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", common::empty_home())
        .env("CLOUDDC_METADATA_ENDPOINT", "off")
        .args(["exporter", "--endpoint", sim.url()])
        .args(["--project-id", sim.project_id(), "--transport", transport]);
    if token {
        c.env("CLOUDDC_AUTH_TOKEN", TOKEN);
    }
    c
}

/// A running exporter: its address, and what it wrote on stderr.
struct Exporter {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Exporter {
    /// Starts `c` on a free loopback port and waits until it listens.
    fn start(mut c: Command) -> Self {
        c.args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn clouddc");
        let mut lines = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("clouddc: serving http://")
            .and_then(|s| s.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("no address: {first:?}"))
            .parse()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let rest = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = lines.read_to_string(&mut s);
            rest.lock().unwrap().push_str(&s);
        });
        Self {
            child,
            addr,
            stderr,
        }
    }

    fn get(&self, path: &str) -> Answer {
        request(self.addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n"))
    }

    fn metrics(&self) -> String {
        let a = self.get("/metrics");
        assert_eq!(a.status, 200, "{}", a.head);
        a.body
    }

    /// Waits until /metrics satisfies `ok`, and gives it.
    fn metrics_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let m = self.metrics();
            if ok(&m) {
                return m;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{m}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Stops it with `signal` and gives its exit code and how long it took.
    fn stop(mut self, signal: &str) -> (i32, Duration) {
        let started = Instant::now();
        self.signal(signal);
        let deadline = started + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code().unwrap_or(-1), started.elapsed());
            }
            assert!(Instant::now() < deadline, "still running after {signal}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends `head` (request line and headers, without the blank line) on a
/// new connection and reads the whole answer.
fn request(addr: SocketAddr, head: &str) -> Answer {
    try_request(addr, head).unwrap_or_else(|| panic!("nothing listens on {addr}"))
}

/// [`request`], or `None` when nothing listens on `addr`.
fn try_request(addr: SocketAddr, head: &str) -> Option<Answer> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer (431) and close before it read everything.
    let _ = s.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {raw:?}"));
    Some(Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}

/// The value of the sample `series` (name and labels as rendered).
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

fn state(id: &str, state: &str) -> String {
    format!("clouddc_instance_state{{instance_id=\"{id}\",state=\"{state}\"}}")
}

fn up(id: &str) -> String {
    format!("clouddc_instance_up{{instance_id=\"{id}\"}}")
}

fn last_success(id: &str) -> String {
    format!("clouddc_instance_last_success_timestamp_seconds{{instance_id=\"{id}\"}}")
}

fn count(state: &str) -> String {
    format!("clouddc_instances{{state=\"{state}\"}}")
}

/// Every family that has samples has its HELP and TYPE lines, first.
fn assert_described(metrics: &str) {
    let mut described = std::collections::HashSet::new();
    for l in metrics.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            described.insert(rest.split(' ').next().unwrap().to_owned());
        } else if let Some(rest) = l.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name.starts_with("clouddc_"), "{l}");
        } else if !l.starts_with('#') && !l.is_empty() {
            let name = l.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|f| described.contains(*f))
                .unwrap_or(name);
            assert!(described.contains(family), "no TYPE before {l}");
        }
    }
}

/// Starts `c`, a program of Debian's prometheus package; without it, a
/// notice and `None`, or a failure when `CI=true` (CI installs it).
fn spawn_or_skip(c: &mut Command) -> Option<Child> {
    match c.spawn() {
        Ok(child) => Some(child),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{:?} is required in CI: {e}", c.get_program())
        }
        Err(e) => {
            eprintln!(
                "notice: {:?} not run ({e}): install Debian's prometheus package",
                c.get_program()
            );
            None
        }
    }
}

/// `promtool check metrics` accepts `metrics`; without promtool, a notice
/// (a failure when `CI=true`: CI installs it).
fn assert_promtool_accepts(metrics: &str) {
    let mut promtool = Command::new("promtool");
    promtool
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let Some(mut child) = spawn_or_skip(&mut promtool) else {
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_after_a_cycle_follow_state_changes_outages_and_404s() {
    for &transport in TRANSPORTS {
        let sim = sim();
        add(&sim, "i-run");
        add(&sim, "i-off");
        power_off(&sim, "i-off");
        // Slow enough that /healthz is asked before the first cycle ends.
        add_slow(&sim, "i-slow", Duration::from_millis(1500));
        let mut c = command(&sim, transport, true);
        c.args(["i-run", "i-off", "i-slow", "i-gone", "--interval", "1s"]);
        let e = Exporter::start(c);
        let early = e.get("/healthz");
        assert_eq!(early.status, 503, "{transport}: {}", early.head);
        let m = e.metrics();
        assert!(!m.contains("\nclouddc_last_cycle_completed"), "{m}");
        assert!(!m.contains("\nclouddc_poll_cycle_duration_seconds"), "{m}");

        let deadline = Instant::now() + Duration::from_secs(15);
        while e.get("/healthz").status != 200 {
            assert!(Instant::now() < deadline, "{transport}: never healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
        let m = e.metrics();
        assert_described(&m);
        assert_promtool_accepts(&m);
        assert!(m.contains("# TYPE clouddc_instance_state gauge"), "{m}");
        assert!(
            m.contains("# TYPE clouddc_api_requests_total counter"),
            "{m}"
        );
        assert!(
            m.contains("# TYPE clouddc_api_request_duration_seconds histogram"),
            "{m}"
        );
        assert_eq!(value(&m, &state("i-run", "running")), Some(1.0), "{m}");
        assert_eq!(value(&m, &state("i-off", "stopped")), Some(1.0), "{m}");
        assert_eq!(value(&m, &count("running")), Some(2.0), "{m}");
        assert_eq!(value(&m, &count("stopped")), Some(1.0), "{m}");
        assert_eq!(value(&m, &up("i-run")), Some(1.0), "{m}");
        assert!(value(&m, &last_success("i-run")).unwrap() > 1.7e9, "{m}");
        // The 404: up 0, no state, no last success, polled every cycle.
        assert_eq!(value(&m, &up("i-gone")), Some(0.0), "{m}");
        assert!(
            !m.contains("clouddc_instance_state{instance_id=\"i-gone\""),
            "{m}"
        );
        assert!(value(&m, &last_success("i-gone")).is_none(), "{m}");
        assert!(value(&m, "clouddc_api_requests_total{code=\"200\"}").unwrap() >= 3.0);
        assert!(value(&m, "clouddc_api_requests_total{code=\"404\"}").unwrap() >= 1.0);
        assert!(value(&m, "clouddc_api_request_duration_seconds_count").unwrap() >= 4.0);
        assert!(value(&m, "clouddc_rate_limit_requests_per_second").unwrap() > 0.0);
        assert!(value(&m, "clouddc_last_cycle_completed_timestamp_seconds").unwrap() > 1.7e9);
        // Token auth: no temporary credentials.
        assert!(
            !m.contains("clouddc_credentials_expiry_timestamp_seconds "),
            "{m}"
        );

        let om = request(
            e.addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text; version=1.0.0\r\n",
        );
        assert_eq!(om.status, 200);
        assert!(
            om.head.contains("application/openmetrics-text"),
            "{}",
            om.head
        );
        assert!(om.body.ends_with("# EOF\n"), "{}", om.body);
        assert!(om.body.contains(&state("i-run", "running")), "{}", om.body);

        // A state change between cycles moves the series and the counts.
        power_off(&sim, "i-run");
        let m = e.metrics_until("stopped", |m| {
            value(m, &state("i-run", "stopped")) == Some(1.0)
        });
        assert!(value(&m, &state("i-run", "running")).is_none(), "{m}");
        assert_eq!(value(&m, &count("stopped")), Some(2.0), "{m}");

        // An outage: the last state stays, up goes to 0.
        let before = value(&m, &last_success("i-off")).unwrap();
        sim.control()
            .set_faults(Faults {
                server_error: Some(ServerError::status(503)),
                ..Faults::none()
            })
            .unwrap();
        let m = e.metrics_until("down", |m| value(m, &up("i-off")) == Some(0.0));
        assert_eq!(value(&m, &state("i-off", "stopped")), Some(1.0), "{m}");
        let after = value(&m, &last_success("i-off")).unwrap();
        assert!(after >= before, "{m}");
        assert!(value(&m, "clouddc_api_requests_total{code=\"503\"}").unwrap() >= 1.0);
        assert!(
            value(&m, "clouddc_api_retries_total").unwrap() >= 1.0,
            "{m}"
        );
        sim.control().set_faults(Faults::none()).unwrap();
        e.metrics_until("up again", |m| value(m, &up("i-off")) == Some(1.0));
        let (code, _) = e.stop("TERM");
        assert_eq!(code, 0, "{transport}");
    }
}

#[test]
fn the_ids_file_is_reread_when_it_changes_and_on_sighup() {
    for &transport in TRANSPORTS {
        let sim = sim();
        for id in ["i-a", "i-b", "i-c"] {
            add(&sim, id);
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ids");
        std::fs::write(&file, "i-a\n# a comment\ni-b\n").unwrap();
        let mut c = command(&sim, transport, true);
        c.arg("--ids-file").arg(&file).args(["--interval", "1s"]);
        let e = Exporter::start(c);
        e.metrics_until("a and b", |m| {
            value(m, &up("i-a")) == Some(1.0) && value(m, &up("i-b")) == Some(1.0)
        });
        std::fs::write(&file, "i-b\ni-c\n").unwrap();
        let m = e.metrics_until("c instead of a", |m| {
            value(m, &up("i-c")) == Some(1.0) && !m.contains("\"i-a\"")
        });
        assert_eq!(value(&m, &count("running")), Some(2.0), "{m}");
        let _ = e.stop("INT");

        // A long interval: the cycle is still spreading its polls when
        // SIGHUP comes, and the removal shows at once all the same.
        std::fs::write(&file, "i-a\ni-b\n").unwrap();
        let mut c = command(&sim, transport, true);
        c.arg("--ids-file").arg(&file).args(["--interval", "1h"]);
        let e = Exporter::start(c);
        e.metrics_until("a", |m| value(m, &up("i-a")) == Some(1.0));
        std::fs::write(&file, "i-b\n").unwrap();
        e.signal("HUP");
        e.metrics_until("a gone", |m| !m.contains("\"i-a\""));
        // Without a signal, a cycle that overran (1 request a second for
        // a 2 s interval, eight ids) still takes the change within about an
        // interval, not when the cycle ends.
        (0..8).for_each(|i| add(&sim, &format!("slow-{i}")));
        let slow: String = (0..8).map(|i| format!("slow-{i}\n")).collect();
        std::fs::write(&file, &slow).unwrap();
        e.signal("HUP");
        e.metrics_until("b gone", |m| !m.contains("\"i-b\""));
        let _ = e.stop("INT");
        let mut c = command(&sim, transport, true);
        c.arg("--ids-file")
            .arg(&file)
            .args(["--interval", "2s", "--rate-limit", "1"]);
        let e = Exporter::start(c);
        // The first cycle ends when slow-7 is in; the second starts at
        // once and takes about 8 s.
        e.metrics_until("the first cycle", |m| value(m, &up("slow-7")) == Some(1.0));
        std::fs::write(&file, "slow-0\n").unwrap();
        let changed = Instant::now();
        e.metrics_until("slow-7 gone", |m| !m.contains("\"slow-7\""));
        assert!(
            changed.elapsed() < Duration::from_secs(4),
            "{:?}",
            changed.elapsed()
        );
        // A file that went bad keeps the ids, and says so.
        std::fs::write(&file, "").unwrap();
        e.signal("HUP");
        std::thread::sleep(Duration::from_millis(300));
        let stderr = Arc::clone(&e.stderr);
        let (code, _) = e.stop("TERM");
        assert_eq!(code, 0);
        std::thread::sleep(Duration::from_millis(100));
        let stderr = stderr.lock().unwrap().clone();
        assert!(
            stderr.contains("clouddc: error: no instance ids"),
            "{stderr}"
        );
    }
}

#[test]
fn the_rate_limit_holds_in_every_second_and_overruns_are_counted() {
    for &transport in TRANSPORTS {
        let sim = sim();
        let ids: Vec<String> = (0..12).map(|i| format!("i-{i}")).collect();
        for id in &ids {
            add(&sim, id);
        }
        let mut c = command(&sim, transport, true);
        c.args(&ids).args(["--interval", "1s", "--rate-limit", "4"]);
        let e = Exporter::start(c);
        // 12 ids at 4/s cannot fit in 1s: each cycle overruns.
        let m = e.metrics_until("an overrun", |m| {
            value(m, "clouddc_poll_cycle_overruns_total").unwrap_or(0.0) >= 1.0
        });
        assert_eq!(
            value(&m, "clouddc_rate_limit_requests_per_second"),
            Some(4.0),
            "{m}"
        );
        let (code, _) = e.stop("TERM");
        assert_eq!(code, 0);
        let at: Vec<Duration> = sim
            .control()
            .request_records()
            .iter()
            .filter(|r| r.instance_id.is_some())
            .map(|r| r.at)
            .collect();
        assert!(at.len() >= 12, "{transport}: {} requests", at.len());
        for (i, start) in at.iter().enumerate() {
            let within = at[i..]
                .iter()
                .take_while(|t| **t < *start + Duration::from_secs(1))
                .count();
            // "At most RPS in any second, give or take one for timing."
            assert!(within <= 5, "{transport}: {within} requests within 1s");
        }
    }
}

#[test]
fn sigint_and_sigterm_stop_it_with_exit_0() {
    for &transport in TRANSPORTS {
        for signal in ["INT", "TERM"] {
            let sim = sim();
            add_slow(&sim, "i-1", Duration::from_secs(5));
            let mut c = command(&sim, transport, true);
            c.args(["i-1", "--interval", "1s"]);
            let e = Exporter::start(c);
            // Mid-poll: the request in flight does not hold the stop.
            std::thread::sleep(Duration::from_millis(300));
            let addr = e.addr;
            let (code, took) = e.stop(signal);
            assert_eq!(code, 0, "{transport} {signal}");
            assert!(
                took < Duration::from_secs(3),
                "{transport} {signal}: {took:?}"
            );
            assert!(TcpStream::connect(addr).is_err(), "still listening");
        }
    }
}

#[test]
fn a_busy_port_a_bad_address_and_missing_credentials_are_exit_2() {
    let sim = sim();
    add(&sim, "i-1");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for &transport in TRANSPORTS {
        let mut c = command(&sim, transport, true);
        c.args(["i-1", "--listen", &addr]);
        let r = common::run(assert_cmd::Command::from_std(c));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.starts_with("clouddc: error: "), "{}", r.stderr);
        assert!(r.stderr.contains(&addr), "{}", r.stderr);
        assert!(r.stderr.contains("in use"), "{}", r.stderr);

        let mut c = command(&sim, transport, true);
        c.args(["i-1", "--listen", "not-an-address"]);
        let r = common::run(assert_cmd::Command::from_std(c));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("not-an-address"), "{}", r.stderr);

        // No credentials: nothing listens.
        let free = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut c = command(&sim, transport, false);
        c.args(["i-1", "--listen", &free.to_string()]);
        let r = common::run(assert_cmd::Command::from_std(c));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("CLOUDDC_AUTH_TOKEN"), "{}", r.stderr);
        assert!(!r.stderr.contains("serving"), "{}", r.stderr);
    }
    assert_eq!(served(&sim), 0);
}

#[test]
fn a_stop_while_resolving_the_credentials_is_exit_0() {
    // Server metadata that accepts and never answers: resolving waits.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let metadata = format!("http://{}", silent.local_addr().unwrap());
    let sim = sim();
    for &transport in TRANSPORTS {
        let mut c = command(&sim, transport, false);
        c.env("CLOUDDC_METADATA_ENDPOINT", &metadata)
            .env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
            .args(["i-1", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(800));
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let signalled = Instant::now();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{transport}: {status:?}");
        assert!(signalled.elapsed() < Duration::from_secs(2), "{transport}");
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(!err.contains("serving"), "{transport}: {err}");
    }
    drop(silent);
}

/// Status requests the simulator answered.
fn served(sim: &BlockingHandle) -> usize {
    sim.control()
        .request_records()
        .iter()
        .filter(|r| r.instance_id.is_some())
        .count()
}

#[test]
fn usage_errors() {
    let sim = sim();
    for args in [
        &["i-1", "-o", "json"][..],
        &["-o", "table", "i-1"],
        &["i-1", "--interval", "500ms"],
        &["i-1", "--interval", "5"],
        &[],
    ] {
        let mut c = command(&sim, TRANSPORTS[0], true);
        c.args(args);
        let r = common::run(assert_cmd::Command::from_std(c));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("clouddc: error: "), "{}", r.stderr);
    }
    assert_eq!(served(&sim), 0);
}

#[test]
fn routes_methods_and_the_head_cap() {
    let sim = sim();
    add(&sim, "i-1");
    let mut c = command(&sim, TRANSPORTS[0], true);
    c.args(["i-1", "--interval", "1s"]);
    let e = Exporter::start(c);
    let index = e.get("/");
    assert_eq!(index.status, 200);
    assert!(index.head.contains("text/html"), "{}", index.head);
    assert!(index.body.contains("href=\"/metrics\""), "{}", index.body);
    assert_eq!(e.get("/nope").status, 404);
    assert_eq!(e.get("/metrics/x").status, 404);
    for method in ["POST", "PUT", "DELETE"] {
        let a = request(
            e.addr,
            &format!("{method} /metrics HTTP/1.1\r\nHost: x\r\n"),
        );
        assert_eq!(a.status, 405, "{method}");
    }
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n",
        "a".repeat(17 * 1024)
    );
    assert_eq!(request(e.addr, &big).status, 431);
    // An idle connection does not hold up a scrape.
    let _idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(e.addr).unwrap())
        .collect();
    let started = Instant::now();
    assert_eq!(e.get("/metrics").status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    // More clients than connection slots, each sending a small request
    // every second on its connection and never reading an answer: one
    // request per connection, so none holds a slot, and a scrape answers.
    let stop = Arc::new(AtomicBool::new(false));
    let pests: Vec<_> = (0..80)
        .map(|_| {
            let (addr, stop) = (e.addr, Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(mut s) = TcpStream::connect(addr) {
                        while !stop.load(Ordering::SeqCst)
                            && s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_ok()
                        {
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(e.get("/metrics").status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "a scrape waited {:?}",
            started.elapsed()
        );
    }
    stop.store(true, Ordering::SeqCst);
    for p in pests {
        p.join().unwrap();
    }
    let (code, _) = e.stop("TERM");
    assert_eq!(code, 0);
}

#[test]
fn no_secret_in_any_response() {
    const SK: &str = "secret-key-5b1e0d";
    const ST: &str = "security-token-9c44aa";
    for &transport in TRANSPORTS {
        for aksk in [false, true] {
            let sim = if aksk {
                common::simulator(Auth::temporary("AKEXPORTER", SK, ST))
            } else {
                sim()
            };
            add(&sim, "i-1");
            let mut c = command(&sim, transport, !aksk);
            if aksk {
                c.env("HUAWEICLOUD_SDK_AK", "AKEXPORTER")
                    .env("HUAWEICLOUD_SDK_SK", SK)
                    .env("HUAWEICLOUD_SDK_SECURITY_TOKEN", ST);
            }
            c.args(["i-1", "i-missing", "--interval", "1s"]);
            let e = Exporter::start(c);
            e.metrics_until("polled", |m| value(m, &up("i-1")) == Some(1.0));
            for path in ["/metrics", "/", "/healthz", "/nope"] {
                let a = e.get(path);
                let all = format!("{}{}", a.head, a.body);
                for secret in [TOKEN, SK, ST, "SDK-HMAC-SHA256", "Signature="] {
                    assert!(!all.contains(secret), "{transport} {path}: {secret}");
                }
            }
            let (code, _) = e.stop("TERM");
            assert_eq!(code, 0);
        }
    }
}

#[test]
fn metadata_credentials_show_their_expiry_and_identity_requests() {
    for &transport in TRANSPORTS {
        let config = clouddc_simulator::SimConfig::builder()
            .listen(([127, 0, 0, 1], 0).into())
            .auth(Auth::ak_sk("AK-LONG-LIVED", "SK-LONG-LIVED"))
            .instances(0)
            .metadata(clouddc_simulator::Metadata::on())
            .region("cn-east-3")
            .build()
            .unwrap();
        let sim = clouddc_simulator::start_blocking(config).unwrap();
        add(&sim, "i-1");
        // Nothing but a region, metadata and IAM: a server with an agency.
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("clouddc"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", common::empty_home())
            .env("HUAWEICLOUD_SDK_REGION", "cn-east-3")
            .env("CLOUDDC_METADATA_ENDPOINT", sim.url())
            .env("HUAWEICLOUD_SDK_IAM_ENDPOINT", sim.url())
            .args(["exporter", "i-1", "--endpoint", sim.url()])
            .args(["--transport", transport, "--interval", "1s"]);
        let e = Exporter::start(c);
        let m = e.metrics_until("a cycle", |m| {
            m.contains("\nclouddc_last_cycle_completed_timestamp_seconds ")
        });
        assert_eq!(value(&m, &up("i-1")), Some(1.0), "{m}");
        let expiry = value(&m, "clouddc_credentials_expiry_timestamp_seconds").unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(expiry > now, "{m}");
        let from = |source: &str| {
            value(
                &m,
                &format!("clouddc_identity_requests_total{{source=\"{source}\",code=\"200\"}}"),
            )
            .unwrap_or(0.0)
        };
        assert!(from("metadata") >= 1.0, "{m}");
        assert!(from("iam") >= 1.0, "{m}");
        assert_promtool_accepts(&m);
        let issued = sim.control().metadata_credentials().unwrap();
        for path in ["/metrics", "/", "/healthz"] {
            let a = e.get(path);
            let all = format!("{}{}", a.head, a.body);
            assert!(!all.contains(issued.secret_key.expose()), "{path}");
            assert!(!all.contains(issued.security_token.expose()), "{path}");
        }
        let (code, _) = e.stop("TERM");
        assert_eq!(code, 0);
    }
}

/// A free loopback port (another process may take it before it is used:
/// good enough for a test).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first value of an instant query's result, from Prometheus's HTTP
/// API at `addr`.
fn query(addr: SocketAddr, promql: &str) -> Option<f64> {
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let a = try_request(
        addr,
        &format!("GET /api/v1/query?query={encoded} HTTP/1.1\r\nHost: x\r\n"),
    )?;
    let v: serde_json::Value = serde_json::from_str(&a.body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_real_prometheus_scrapes_the_counts_by_state() {
    let sim = sim();
    add(&sim, "i-1");
    add(&sim, "i-2");
    add(&sim, "i-3");
    power_off(&sim, "i-3");
    let mut c = command(&sim, TRANSPORTS[0], true);
    c.args(["i-1", "i-2", "i-3", "--interval", "1s"]);
    let e = Exporter::start(c);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             scrape_configs:\n  - job_name: clouddc\n    static_configs: [{{targets: ['{}']}}]\n",
            e.addr
        ),
    )
    .unwrap();
    let web: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut prometheus = Command::new("prometheus");
    prometheus
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let Some(mut prometheus) = spawn_or_skip(&mut prometheus) else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let counts = loop {
        let running = query(web, "clouddc_instances{state=\"running\"}");
        let stopped = query(web, "clouddc_instances{state=\"stopped\"}");
        if running == Some(2.0) && stopped == Some(1.0) {
            break (running, stopped);
        }
        if Instant::now() > deadline {
            break (running, stopped);
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let target_up = query(web, "up{job=\"clouddc\"}");
    let instances_up = query(web, "sum(clouddc_instance_up)");
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(counts, (Some(2.0), Some(1.0)));
    assert_eq!(target_up, Some(1.0));
    assert_eq!(instances_up, Some(3.0));
    let (code, _) = e.stop("TERM");
    assert_eq!(code, 0);
}
