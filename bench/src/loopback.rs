//! Item 2: both clients against one fixed-response HTTP/1.1 keep-alive
//! server on loopback, next to bare ureq and reqwest loops doing the same
//! GET and parse, and `wrk -c1 -t1` as the ceiling: one request at a time,
//! and 64 in flight (each client's fleet with pacing off, against bare
//! reqwest with 64 futures and bare ureq on 64 threads).
//!
//! The server is a single-threaded tokio loop (pinned to one CPU) that
//! answers every request with the same 200 and body, whatever it asks; the
//! client process (pinned to the other CPU) runs every loop, interleaved
//! round by round, so ratios compare loops that ran seconds apart.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime};

use clouddc_bench::per_call::{BODY, BareStatus, INSTANCE_ID, PROJECT_ID};
use clouddc_bench::stats::{per_second, ratios};
use clouddc_core::http::{self, HeaderMap, header::HOST};
use clouddc_core::{Config, Credentials, Endpoint, FleetOptions, InstanceId, Job, ProjectId};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::child::{self, BoxError, Pin, Server};
use crate::report::{Goal, Row, Section, Unit};

/// The token every client sends; the server does not check it.
const TOKEN: &str = "bench-token";

static RESPONSE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         X-Request-Id: 5b2c1e7a9f\r\n\r\n",
        BODY.len()
    )
    .into_bytes();
    r.extend_from_slice(BODY);
    r
});

/// `serve-fixed`: answers every request on every connection with
/// [`RESPONSE`] until stdin closes.
pub(crate) fn serve_main() -> Result<(), BoxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        child::listening(&listener.local_addr()?.to_string())?;
        std::thread::spawn(|| {
            child::until_stdin_closes();
            std::process::exit(0);
        });
        loop {
            let (socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            tokio::spawn(async move {
                let _ = connection(socket).await;
            });
        }
    })
}

/// One keep-alive connection: a response per request head (requests carry
/// no body), pipelined requests answered in one write.
async fn connection(mut socket: tokio::net::TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(8192);
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    let mut chunk = [0u8; 8192];
    loop {
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(end) = buf[start..].windows(4).position(|w| w == b"\r\n\r\n") {
            start += end + 4;
            out.extend_from_slice(&RESPONSE);
        }
        buf.drain(..start);
        if buf.len() > 65536 {
            return Ok(()); // not HTTP
        }
        if !out.is_empty() {
            socket.write_all(&out).await?;
            out.clear();
        }
    }
}

/// What the client child reports: requests/s per loop and round.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Outcome {
    series: BTreeMap<String, Vec<f64>>,
    /// Calls per loop and round.
    calls: BTreeMap<String, u64>,
    /// Why `wrk` was not measured, if it was not.
    wrk_missing: Option<String>,
}

/// Settings of the client child.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) rounds: usize,
    pub(crate) loop_ms: u64,
    pub(crate) wrk_secs: u64,
}

/// The orchestrator's side: start the server, run the client, make rows.
pub(crate) fn run(pin: &Pin, s: &Settings) -> Result<Section, BoxError> {
    let server = Server::start(pin.server(&["serve-fixed"])?)?;
    let addr = server.listening.clone();
    let (rounds, loop_ms, wrk_secs) = (
        s.rounds.to_string(),
        s.loop_ms.to_string(),
        s.wrk_secs.to_string(),
    );
    let outcome: Outcome = child::run_client(pin.client(&[
        "loopback-client",
        "--addr",
        &addr,
        "--rounds",
        &rounds,
        "--loop-ms",
        &loop_ms,
        "--wrk-secs",
        &wrk_secs,
    ])?)?;
    server.stop()?;
    Ok(section(&outcome, pin, s))
}

fn section(o: &Outcome, pin: &Pin, s: &Settings) -> Section {
    let get = |k: &str| o.series.get(k).map_or(&[][..], Vec::as_slice);
    let rate = |what: &str, k: &str| Row::measured("2", what, get(k), Unit::ReqPerS, Goal::None);
    let ratio = |what: &str, a: &str, b: &str, goal: Goal| {
        Row::measured("2", what, &ratios(get(a), get(b)), Unit::Ratio, goal)
    };
    let timeout = "with the SDK's per-request timeout";
    let mut rows = vec![
        rate("clouddc-ureq `status()`, sequential", "ureq_sdk"),
        rate("bare ureq GET + `serde_json`, sequential", "ureq_bare"),
        rate(
            &format!("bare ureq, {timeout} (`timeout_global`)"),
            "ureq_bare_timeout",
        ),
    ];
    match &o.wrk_missing {
        None => {
            rows.push(rate("`wrk -c1 -t1` (the ceiling)", "wrk"));
        }
        Some(why) => rows.push(Row::text("2", "`wrk -c1 -t1` (the ceiling)", why.clone())),
    }
    let ureq_ratio = ratio(
        "clouddc-ureq / bare ureq",
        "ureq_sdk",
        "ureq_bare",
        Goal::AtLeast(0.95),
    );
    let ureq_timeout = ratio(
        "breakdown: bare ureq with the timeout / bare ureq",
        "ureq_bare_timeout",
        "ureq_bare",
        Goal::None,
    );
    let ureq_own = ratio(
        "breakdown: clouddc-ureq / bare ureq with the timeout",
        "ureq_sdk",
        "ureq_bare_timeout",
        Goal::None,
    );
    rows.extend([ureq_ratio.clone(), ureq_timeout.clone(), ureq_own.clone()]);
    if o.wrk_missing.is_none() {
        rows.push(ratio("bare ureq / wrk", "ureq_bare", "wrk", Goal::None));
        rows.push(ratio("clouddc-ureq / wrk", "ureq_sdk", "wrk", Goal::None));
    }
    let mut reqwest = Vec::new();
    for (n, sdk_what) in [
        ("1", "clouddc-reqwest `status()`, 1 in flight"),
        (
            "64",
            "clouddc-reqwest `fleet(Job::Status, ids, ..)`, 64 in flight",
        ),
    ] {
        let key = |side: &str| format!("reqwest{n}_{side}");
        let r = ratio(
            &format!("clouddc-reqwest / bare reqwest, {n} in flight"),
            &key("sdk"),
            &key("bare"),
            Goal::AtLeast(0.95),
        );
        let t = ratio(
            &format!("breakdown: bare reqwest with the timeout / bare reqwest, {n} in flight"),
            &key("bare_timeout"),
            &key("bare"),
            Goal::None,
        );
        let own = ratio(
            &format!("breakdown: clouddc-reqwest / bare reqwest with the timeout, {n} in flight"),
            &key("sdk"),
            &key("bare_timeout"),
            Goal::None,
        );
        rows.extend([
            rate(sdk_what, &key("sdk")),
            rate(
                &format!("bare reqwest GET + `serde_json`, {n} in flight"),
                &key("bare"),
            ),
            rate(
                &format!("bare reqwest, {timeout} (`.timeout()`), {n} in flight"),
                &key("bare_timeout"),
            ),
            r.clone(),
            t.clone(),
            own.clone(),
        ]);
        reqwest.push((r, t, own));
    }
    let ureq64 = [
        ratio(
            "clouddc-ureq / bare ureq, 64 in flight",
            "ureq64_sdk",
            "ureq64_bare",
            Goal::AtLeast(0.95),
        ),
        ratio(
            "breakdown: bare ureq with the timeout / bare ureq, 64 in flight",
            "ureq64_bare_timeout",
            "ureq64_bare",
            Goal::None,
        ),
        ratio(
            "breakdown: clouddc-ureq / bare ureq with the timeout, 64 in flight",
            "ureq64_sdk",
            "ureq64_bare_timeout",
            Goal::None,
        ),
    ];
    rows.extend([
        rate(
            "clouddc-ureq `fleet(Job::Status, ids, ..)`, 64 in flight",
            "ureq64_sdk",
        ),
        rate("bare ureq GET + `serde_json`, 64 threads", "ureq64_bare"),
        rate(
            &format!("bare ureq, {timeout} (`timeout_global`), 64 threads"),
            "ureq64_bare_timeout",
        ),
    ]);
    rows.extend(ureq64.iter().cloned());
    rows.extend([
        rate(
            "clouddc-ureq `status()` from 64 threads on one client",
            "ureq64_threads_sdk",
        ),
        ratio(
            "64 threads on one clouddc-ureq client / 64 threads on one ureq agent",
            "ureq64_threads_sdk",
            "ureq64_bare",
            Goal::AtLeast(0.95),
        ),
    ]);
    let calls = |k: &str| o.calls.get(k).copied().unwrap_or(0);
    let mut notes = vec![format!(
        "Setup: one fixed-response HTTP/1.1 keep-alive server (a single-threaded tokio loop \
         written for the bench, not the simulator) and one client process, {}. Token auth; the \
         server does not check it. The bare loops send the very request the SDK sends (same URL \
         and headers, taken from one request built by the core) and parse the body with \
         `serde_json::from_slice`; the async loops run on the same current-thread tokio runtime. \
         At 64 in flight the bare reqwest loop keeps 64 futures going (`buffer_unordered(64)`), \
         the bare ureq loop starts 64 threads that each make their share of the calls one after \
         another on one agent, and each client runs one fleet over the same ids \
         (clouddc-ureq's on up to 64 worker threads it starts, on its one agent). Per round each \
         loop makes a fixed number of calls ({} sequential ureq, {} reqwest at 1 in flight, {} \
         reqwest at 64 in flight, {} ureq at 64 in flight, chosen after a warm-up to last about \
         {} ms), the loops of one comparison back to back, starting with a different one each \
         round; `wrk` runs {} s per round. Ratios are taken per round, then summarised. The \
         \"with the timeout\" loops are bare loops that also set the per-request timeout the \
         SDK sets on every attempt (its `attempt_timeout`, 10 s by default): they split the gap \
         into what the timeout costs inside the HTTP library and what the SDK's own code costs.",
        pin.describe(),
        calls("ureq"),
        calls("reqwest1"),
        calls("reqwest64"),
        calls("ureq64"),
        s.loop_ms,
        s.wrk_secs,
    )];
    notes.push(crate::discussion::loopback(
        "clouddc-ureq",
        [&ureq_ratio, &ureq_timeout, &ureq_own],
        Some(crate::discussion::UREQ_TIMEOUT),
    ));
    for ((r, t, own), name) in reqwest.iter().zip([
        "clouddc-reqwest at 1 in flight",
        "clouddc-reqwest at 64 in flight",
    ]) {
        notes.push(crate::discussion::loopback(name, [r, t, own], None));
    }
    let [r, t, own] = &ureq64;
    notes.push(crate::discussion::loopback(
        "clouddc-ureq at 64 in flight",
        [r, t, own],
        Some(crate::discussion::UREQ_TIMEOUT_64),
    ));
    if let Some(why) = &o.wrk_missing {
        notes.push(format!(
            "`wrk` was not measured: {why}. On Debian/Ubuntu `apt-get install wrk` adds it; the \
             bench never requires it."
        ));
    } else if let (Some(b), Some(s)) = (
        rows.iter()
            .find(|r| r.what == "bare ureq / wrk")
            .and_then(Row::median),
        rows.iter()
            .find(|r| r.what == "clouddc-ureq / wrk")
            .and_then(Row::median),
    ) {
        notes.push(format!(
            "Against `wrk -c1 -t1` (a C client that only writes a canned request and counts \
             responses) a bare ureq loop reaches {b:.2}× and clouddc-ureq {s:.2}× (the issue \
             saw a bare ureq loop at about 0.85× on its machine). No goal: `wrk` is the ceiling \
             of the server and the loopback path, not of an HTTP library."
        ));
    }
    notes.push(
        "The 64-in-flight comparisons turn each client's fleet pacing off \
         (`fleet(Job::Status, ids, FleetOptions::new().max_in_flight(64).rate(None).budget(None))`): \
         they measure per-call overhead against a server without a limit, where the default \
         adaptive limiter (which starts at 100 requests/s and ramps up) would measure pacing \
         instead. Pacing is item 3."
            .to_owned(),
    );
    Section { rows, notes }
}

/// Settings the client child reads from its arguments.
#[derive(Debug)]
pub(crate) struct ClientArgs {
    pub(crate) addr: String,
    pub(crate) settings: Settings,
}

/// A measured loop: makes `n` calls, returns the time they took.
type Loop<'a> = Box<dyn Fn(u64) -> Result<Duration, BoxError> + 'a>;

/// Loops compared with each other, each making the same number of calls.
struct Group<'a> {
    key: &'static str,
    loops: Vec<(&'static str, Loop<'a>)>,
    warm_up: u64,
    calls: u64,
}

impl Group<'_> {
    /// Runs every loop `warm_up` times, then sizes the loops from the rate
    /// of the last one (the bare loop) to last about `loop_time`.
    fn warm(&mut self, loop_time: Duration) -> Result<(), BoxError> {
        let mut rate = 0.0;
        for (_, f) in &self.loops {
            rate = per_second(self.warm_up, f(self.warm_up)?);
        }
        self.calls = calls_for(rate, loop_time);
        Ok(())
    }

    /// One round: every loop once, starting with a different loop each round
    /// so that none always runs first.
    fn round(&self, round: usize, out: &mut Outcome) -> Result<(), BoxError> {
        let n = self.loops.len();
        for k in 0..n {
            let (name, f) = &self.loops[(k + round) % n];
            let d = f(self.calls)?;
            out.series
                .entry((*name).to_owned())
                .or_default()
                .push(per_second(self.calls, d));
        }
        out.calls.insert(self.key.to_owned(), self.calls);
        Ok(())
    }
}

/// `loopback-client`: every loop, interleaved by round.
pub(crate) fn client_main(a: &ClientArgs) -> Result<(), BoxError> {
    let base = format!("http://{}", a.addr);
    let id = InstanceId::new(INSTANCE_ID)?;
    let (project, token) = (ProjectId::new(PROJECT_ID)?, Credentials::token(TOKEN)?);
    let loop_time = Duration::from_millis(a.settings.loop_ms.max(10));

    let config = Config::builder()
        .endpoint(Endpoint::parse(&base)?)
        .project_id(project)
        .credentials(token)
        .build()?;
    // Pacing off: the fleets measure per-call overhead, not the limiter.
    let unpaced = || {
        FleetOptions::new()
            .max_in_flight(64)
            .rate(None)
            .budget(None)
    };

    // Blocking: clouddc-ureq and a bare ureq agent configured alike.
    let sdk = clouddc_ureq::Client::new(config.clone())?;
    let attempt_timeout = sdk.config().attempt_timeout();
    let (url, headers) = same_request(sdk.session(), &id)?;
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    let ureq_bare = |timeout: Option<Duration>| -> Result<(), BoxError> {
        let mut rb = agent.get(&url);
        for (n, v) in &headers {
            rb = rb.header(n.clone(), v.clone());
        }
        let mut response = match timeout {
            Some(t) => rb.config().timeout_global(Some(t)).build().call()?,
            None => rb.call()?,
        };
        if response.status() != 200 {
            return Err(format!("status {}", response.status()).into());
        }
        let body = response.body_mut().read_to_vec()?;
        black_box(serde_json::from_slice::<BareStatus>(&body)?);
        Ok(())
    };
    let blocking = |f: &dyn Fn() -> Result<(), BoxError>, n: u64| -> Result<Duration, BoxError> {
        let t = Instant::now();
        for _ in 0..n {
            f()?;
        }
        Ok(t.elapsed())
    };
    // `n` calls shared out over 64 threads, each making its share in turn.
    let threads_64 =
        |f: &(dyn Fn() -> Result<(), BoxError> + Sync), n: u64| -> Result<Duration, BoxError> {
            let t = Instant::now();
            std::thread::scope(|scope| {
                let threads: Vec<_> = (0..64u64)
                    .map(|k| {
                        let share = n / 64 + u64::from(k < n % 64);
                        scope.spawn(move || -> Result<(), BoxError> {
                            for _ in 0..share {
                                f()?;
                            }
                            Ok(())
                        })
                    })
                    .collect();
                threads.into_iter().try_for_each(|h| {
                    h.join()
                        .map_err(|_| BoxError::from("a bare ureq thread panicked"))?
                })
            })?;
            Ok(t.elapsed())
        };

    // Async: clouddc-reqwest and a bare reqwest client on one runtime.
    // The bare reqwest client needs a process default; `ring`, as the SDK
    // uses (deprecated in rustls 0.23.48 for want of post-quantum key
    // exchange; see clouddc-reqwest's `tls.rs`).
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let asdk = clouddc_reqwest::Client::new(config)?;
    let (aurl, aheaders) = same_request(asdk.session(), &id)?;
    let aurl = aurl.to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (http, aurl, aheaders, rt, asdk, id) = (&http, &aurl, &aheaders, &rt, &asdk, &id);
    let bare_one = move |timeout: Option<Duration>| async move {
        let mut rb = http.get(aurl).headers(aheaders.clone());
        if let Some(t) = timeout {
            rb = rb.timeout(t);
        }
        let response = rb.send().await?;
        if !response.status().is_success() {
            return Err::<(), BoxError>(format!("status {}", response.status()).into());
        }
        let body = response.bytes().await?;
        black_box(serde_json::from_slice::<BareStatus>(&body)?);
        Ok(())
    };
    let sequential = move |timeout: Option<Duration>, n: u64| -> Result<Duration, BoxError> {
        rt.block_on(async {
            let t = Instant::now();
            for _ in 0..n {
                bare_one(timeout).await?;
            }
            Ok(t.elapsed())
        })
    };
    let in_flight_64 = move |timeout: Option<Duration>, n: u64| -> Result<Duration, BoxError> {
        rt.block_on(async {
            let t = Instant::now();
            let mut results = stream::iter(0..n)
                .map(|_| bare_one(timeout))
                .buffer_unordered(64);
            while let Some(r) = results.next().await {
                r?;
            }
            Ok(t.elapsed())
        })
    };
    let t = Some(attempt_timeout);

    let mut groups = vec![
        Group {
            key: "ureq",
            warm_up: 300,
            calls: 0,
            loops: vec![
                (
                    "ureq_sdk",
                    Box::new(|n: u64| {
                        blocking(
                            &|| {
                                black_box(sdk.status(id)?);
                                Ok(())
                            },
                            n,
                        )
                    }) as Loop<'_>,
                ),
                (
                    "ureq_bare_timeout",
                    Box::new(|n: u64| blocking(&|| ureq_bare(t), n)),
                ),
                (
                    "ureq_bare",
                    Box::new(|n: u64| blocking(&|| ureq_bare(None), n)),
                ),
            ],
        },
        Group {
            key: "reqwest1",
            warm_up: 300,
            calls: 0,
            loops: vec![
                (
                    "reqwest1_sdk",
                    Box::new(move |n: u64| {
                        rt.block_on(async {
                            let t = Instant::now();
                            for _ in 0..n {
                                black_box(asdk.status(id).await?);
                            }
                            Ok(t.elapsed())
                        })
                    }) as Loop<'_>,
                ),
                (
                    "reqwest1_bare_timeout",
                    Box::new(move |n: u64| sequential(t, n)),
                ),
                ("reqwest1_bare", Box::new(move |n: u64| sequential(None, n))),
            ],
        },
        Group {
            key: "reqwest64",
            warm_up: 2000,
            calls: 0,
            loops: vec![
                (
                    "reqwest64_sdk",
                    Box::new(move |n: u64| {
                        rt.block_on(async {
                            let t = Instant::now();
                            let ids = std::iter::repeat_n(id.clone(), usize::try_from(n)?);
                            let mut events = asdk.fleet(Job::Status, ids, unpaced());
                            while let Some(event) = events.next().await {
                                black_box(event.into_status().1?);
                            }
                            Ok(t.elapsed())
                        })
                    }) as Loop<'_>,
                ),
                (
                    "reqwest64_bare_timeout",
                    Box::new(move |n: u64| in_flight_64(t, n)),
                ),
                (
                    "reqwest64_bare",
                    Box::new(move |n: u64| in_flight_64(None, n)),
                ),
            ],
        },
        Group {
            key: "ureq64",
            warm_up: 2000,
            calls: 0,
            loops: vec![
                (
                    "ureq64_sdk",
                    Box::new(|n: u64| {
                        let t = Instant::now();
                        let ids = std::iter::repeat_n(id.clone(), usize::try_from(n)?);
                        for event in sdk.fleet(Job::Status, ids, unpaced()) {
                            black_box(event.into_status().1?);
                        }
                        Ok(t.elapsed())
                    }) as Loop<'_>,
                ),
                (
                    "ureq64_threads_sdk",
                    Box::new(|n: u64| {
                        let one = || -> Result<(), BoxError> {
                            black_box(sdk.status(id)?);
                            Ok(())
                        };
                        threads_64(&one, n)
                    }),
                ),
                (
                    "ureq64_bare_timeout",
                    Box::new(|n: u64| threads_64(&|| ureq_bare(t), n)),
                ),
                (
                    "ureq64_bare",
                    Box::new(|n: u64| threads_64(&|| ureq_bare(None), n)),
                ),
            ],
        },
    ];
    for g in &mut groups {
        g.warm(loop_time)?;
    }

    let wrk_path = format!("{base}{}", url.path());
    let wrk_headers: Vec<String> = headers
        .iter()
        .map(|(n, v)| format!("{}: {}", n, v.to_str().unwrap_or_default()))
        .collect();
    let mut out = Outcome::default();
    for round in 0..a.settings.rounds {
        eprintln!("loopback: round {}/{}", round + 1, a.settings.rounds);
        groups[0].round(round, &mut out)?;
        if out.wrk_missing.is_none() {
            match wrk(&wrk_path, &wrk_headers, a.settings.wrk_secs) {
                Ok(rps) => out.series.entry("wrk".to_owned()).or_default().push(rps),
                Err(why) => out.wrk_missing = Some(why),
            }
        }
        for g in &groups[1..] {
            g.round(round, &mut out)?;
        }
    }
    child::report(&out)
}

/// Calls that take about `loop_time` at `rate` calls/s (at least 200).
fn calls_for(rate: f64, loop_time: Duration) -> u64 {
    (rate * loop_time.as_secs_f64()).clamp(200.0, 2_000_000.0) as u64
}

/// The URL and headers (without `Host`) of the request the SDK sends.
fn same_request(
    session: &clouddc_core::Session,
    id: &InstanceId,
) -> Result<(http::Uri, HeaderMap), BoxError> {
    let req = session.status_request(id, SystemTime::now())?;
    let mut headers = req.headers().clone();
    headers.remove(HOST);
    Ok((req.uri().clone(), headers))
}

/// `wrk -t1 -c1 -d<secs>s` against `url`: requests/s, or why not.
fn wrk(url: &str, headers: &[String], secs: u64) -> Result<f64, String> {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args(["-t1", "-c1", &format!("-d{}s", secs.max(1))]);
    for h in headers {
        cmd.arg("-H").arg(h);
    }
    let out = match cmd.arg(url).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("wrk not installed".to_owned());
        }
        Err(e) => return Err(format!("wrk did not run: {e}")),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return Err(format!("wrk saw errors: {}", text.trim()));
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("wrk printed no Requests/sec: {}", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_well_formed() {
        let r = String::from_utf8(RESPONSE.clone()).unwrap();
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(body.as_bytes(), BODY);
    }

    #[test]
    fn calls_are_bounded() {
        assert_eq!(calls_for(10.0, Duration::from_millis(500)), 200);
        assert_eq!(calls_for(20_000.0, Duration::from_millis(500)), 10_000);
    }
}
