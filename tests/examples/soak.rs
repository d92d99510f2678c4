//! Soak: thousands of concurrent waits through the async client against the
//! simulator, with faults on, for minutes; reports RSS at start, middle and
//! end, requests, outcomes and error kinds, and panics.
//!
//! Not part of CI. Run (10,000 concurrent waits for 10 minutes):
//!
//! ```sh
//! cargo build --release -p clouddc-cli
//! cargo run --release -p clouddc-tests --example soak -- 10000 600
//! ```
//!
//! The simulator runs as a separate `clouddc simulate` process, so the RSS
//! figures are the client's alone.
//!
//! The waits are `wait_until` calls kept `concurrency` at a time (a new one
//! starts as soon as one ends), all on one client, whose bound on requests
//! in flight (256 by default) caps the requests they send at once. Not
//! `wait_all`: its bound is on requests in flight, not on waits in
//! progress, so an endless feed would start waits without limit.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clouddc_reqwest::{
    Client, Config, Credentials, Endpoint, InstanceId, InstanceState, ProjectId, WaitOptions,
    WaitOutcome,
};
use futures_util::{StreamExt, stream};

/// A one-shot HTTP/1.1 request to the simulator's admin API.
fn admin(url: &str, method: &str, path: &str, body: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).expect("connect to the simulator");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let concurrency: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(600);
    let clouddc = std::env::var("CLOUDDC_BIN").unwrap_or_else(|_| "target/release/clouddc".into());

    let mut sim = Command::new(&clouddc)
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--output",
            "json",
            "--seed",
            "42",
        ])
        .args(["--instances", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {clouddc} (build it first): {e}"));
    let mut first = String::new();
    BufReader::new(sim.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("start line");
    let start: serde_json::Value = serde_json::from_str(&first).expect("start line is JSON");
    let url = start["url"].as_str().expect("url").to_owned();
    let project = start["project_id"].as_str().expect("project").to_owned();
    let ids: Vec<String> = start["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = rt.block_on(async move {
        // Faults on: 2% 503, 1% HTML 502, 0.5% resets, 1% stalled headers.
        let faults = serde_json::json!({
            "server_error": {"status": 503, "rate": 0.02},
            "html_502": {"rate": 0.01},
            "reset": {"rate": 0.005},
            "stall_headers": {"rate": 0.01, "hold_ms": 3000}
        });
        admin(&url, "PUT", "/_sim/faults", &faults.to_string());

        let config = Config::builder()
            .endpoint(Endpoint::parse(&url).expect("endpoint"))
            .project_id(ProjectId::new(project).expect("project"))
            .credentials(Credentials::token("sim-token").expect("token"))
            .attempt_timeout(Duration::from_secs(2))
            .build()
            .expect("config");
        let client = Client::new(config).expect("client");
        let options = WaitOptions::new()
            .interval(Duration::from_secs(5))
            .max_wait(Duration::from_secs(60));
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let rss_start = rss_kib();
        let rss_mid = Arc::new(AtomicU64::new(0));
        let rss_peak = Arc::new(AtomicU64::new(rss_start));
        {
            let (mid, peak) = (rss_mid.clone(), rss_peak.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let now = rss_kib();
                    peak.fetch_max(now, Ordering::Relaxed);
                    if mid.load(Ordering::Relaxed) == 0
                        && started.elapsed() >= Duration::from_secs(seconds / 2)
                    {
                        mid.store(now, Ordering::Relaxed);
                    }
                }
            });
        }
        let outcomes: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
        let n = ids.len();
        // An endless supply of waits, fed until the deadline.
        let feed = (0usize..)
            .map(move |i| InstanceId::new(ids[i % n].clone()).expect("id"))
            .take_while(move |_| Instant::now() < deadline);
        let mut waits = stream::iter(feed)
            .map(|id| {
                let (client, options) = (client.clone(), options.clone());
                async move {
                    client
                        .wait_until(&id, InstanceState::Running, options)
                        .await
                }
            })
            .buffer_unordered(concurrency);
        let mut finished = 0u64;
        while let Some(report) = waits.next().await {
            finished += 1;
            let key = match &report.outcome {
                WaitOutcome::Error(e) => format!("error:{}", e.kind()),
                other => other.as_str().to_owned(),
            };
            *outcomes.lock().expect("lock").entry(key).or_default() += 1;
        }
        let counters = admin(&url, "GET", "/_sim/counters", "");
        let outcomes = outcomes.lock().expect("lock").clone();
        (
            started.elapsed(),
            finished,
            outcomes,
            counters,
            rss_start,
            rss_mid.load(Ordering::Relaxed),
            rss_kib(),
            rss_peak.load(Ordering::Relaxed),
        )
    });
    let _ = sim.kill();
    let _ = sim.wait();
    let (took, finished, outcomes, counters, rss_start, rss_mid, rss_end, rss_peak) = report;
    println!(
        "soak: {concurrency} concurrent waits for {seconds} s (ran {:.0} s)",
        took.as_secs_f64()
    );
    println!("waits finished: {finished}; outcomes: {outcomes:?}");
    println!(
        "simulator: requests {}, by status {}, faults {}",
        counters["global"]["requests"],
        counters["global"]["by_status"],
        counters["global"]["faults"]
    );
    println!(
        "client RSS (MiB): start {:.1}, middle {:.1}, end {:.1}, peak {:.1}",
        rss_start as f64 / 1024.0,
        rss_mid as f64 / 1024.0,
        rss_end as f64 / 1024.0,
        rss_peak as f64 / 1024.0
    );
    println!("panics: 0 (a panic would have ended this process before this line)");
}
