//! Both transports against the same scripted server: ONE table of cases and
//! two runners (ureq, reqwest), so the adapters cannot drift apart. Plus the
//! waiter over both, and both clients' fan-outs (`statuses`, `wait_all`):
//! every result tagged with its id, requests in flight never above the
//! bound, and ids taken lazily.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clouddc_core::verify_request;
use clouddc_core::{
    Config, Credentials, Endpoint, Error, ErrorKind, FleetOptions, InstanceId, InstanceState,
    InstanceStatus, Job, ProjectId, RetryPolicy, WaitOptions, WaitOutcome, WaitReport,
};
use clouddc_tests::{Recorded, Reply, Server};
use futures_util::StreamExt;

const PROJECT: &str = "p1";
const TOKEN: &str = "tok-MARKER-7d1e";
const AK: &str = "HPUAEXAMPLEAK000009";
const SK: &str = "sk-MARKER-52f0";
const SECURITY_TOKEN: &str = "st-MARKER-a9c3";
const RUNNING: &str = r#"{"state":"running","operation_state":"install-succeed"}"#;

/// What a case configures; both runners build their client from it with
/// the same calls (see `config` and `build_client!`).
#[derive(Clone)]
struct Settings {
    url: String,
    credentials: Credentials,
    attempt_timeout: Duration,
    call_timeout: Option<Duration>,
    retry: RetryPolicy,
    body_limit: Option<usize>,
    /// The client's own bound on requests in flight, if set.
    max_in_flight: Option<usize>,
}

impl Settings {
    fn new(url: String) -> Self {
        Self {
            url,
            credentials: Credentials::token(TOKEN).unwrap(),
            attempt_timeout: Duration::from_secs(2),
            call_timeout: None,
            retry: RetryPolicy::default()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
            body_limit: None,
            max_in_flight: None,
        }
    }
    fn max_attempts(mut self, n: u32) -> Self {
        self.retry = self.retry.with_max_attempts(n);
        self
    }
    fn aksk() -> Credentials {
        Credentials::ak_sk(AK, SK).unwrap()
    }
}

/// The config both runners build their client from: one type, so the
/// clients cannot be configured apart.
fn config(s: &Settings) -> Config {
    let mut b = Config::builder()
        .endpoint(Endpoint::parse(&s.url).unwrap())
        .project_id(ProjectId::new(PROJECT).unwrap())
        .credentials(s.credentials.clone())
        .attempt_timeout(s.attempt_timeout)
        .retry(s.retry.clone())
        .user_agent_suffix("adapter-tests/1");
    if let Some(n) = s.body_limit {
        b = b.body_limit(n);
    }
    if let Some(d) = s.call_timeout {
        b = b.call_timeout(d);
    }
    b.build().expect("the config builds")
}

/// The same calls for both clients: the surfaces must match.
macro_rules! build_client {
    ($client:ty, $settings:expr) => {{
        let s: &Settings = $settings;
        let mut b = <$client>::builder();
        if let Some(n) = s.max_in_flight {
            b = b.max_in_flight(n);
        }
        b.build(config(s)).expect("the client builds")
    }};
}

/// Ids for a fan-out, taken lazily by the client.
type Ids = Box<dyn Iterator<Item = InstanceId> + Send>;

trait Runner {
    /// `ureq` or `reqwest`, as in the crate name.
    const NAME: &'static str;
    /// One client, then `status` for each id in turn.
    fn statuses(&self, s: &Settings, ids: &[InstanceId]) -> Vec<Result<InstanceStatus, Error>>;
    fn wait_until(
        &self,
        s: &Settings,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
    ) -> WaitReport;
    /// One client, then its `statuses(ids, concurrency)`; the first `take`
    /// results, after which the fan-out is dropped.
    fn fan_out(
        &self,
        s: &Settings,
        ids: Ids,
        concurrency: usize,
        take: usize,
    ) -> Vec<(InstanceId, Result<InstanceStatus, Error>)> {
        self.fan_out_at(s, ids, concurrency, take)
            .into_iter()
            .map(|(id, result, _)| (id, result))
            .collect()
    }
    /// The same, with the instant each result arrived.
    fn fan_out_at(
        &self,
        s: &Settings,
        ids: Ids,
        concurrency: usize,
        take: usize,
    ) -> Vec<(InstanceId, Result<InstanceStatus, Error>, Instant)>;
    /// One client, then its `wait_all(ids, target, options, concurrency)`;
    /// the first `take` reports, after which the fan-out is dropped.
    fn wait_all(
        &self,
        s: &Settings,
        ids: Ids,
        target: InstanceState,
        options: WaitOptions,
        concurrency: usize,
        take: usize,
    ) -> Vec<(InstanceId, WaitReport)>;
}

struct Ureq;

impl Runner for Ureq {
    const NAME: &'static str = "ureq";
    fn statuses(&self, s: &Settings, ids: &[InstanceId]) -> Vec<Result<InstanceStatus, Error>> {
        let client = build_client!(clouddc_ureq::Client, s);
        ids.iter().map(|id| client.status(id)).collect()
    }
    fn wait_until(
        &self,
        s: &Settings,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
    ) -> WaitReport {
        build_client!(clouddc_ureq::Client, s).wait_until(id, target, options)
    }
    fn fan_out_at(
        &self,
        s: &Settings,
        ids: Ids,
        concurrency: usize,
        take: usize,
    ) -> Vec<(InstanceId, Result<InstanceStatus, Error>, Instant)> {
        let client = build_client!(clouddc_ureq::Client, s);
        client
            .statuses(ids, concurrency)
            .take(take)
            .map(|(id, result)| (id, result, Instant::now()))
            .collect()
    }
    fn wait_all(
        &self,
        s: &Settings,
        ids: Ids,
        target: InstanceState,
        options: WaitOptions,
        concurrency: usize,
        take: usize,
    ) -> Vec<(InstanceId, WaitReport)> {
        let client = build_client!(clouddc_ureq::Client, s);
        client
            .wait_all(ids, target, options, concurrency)
            .take(take)
            .collect()
    }
}

struct Reqwest;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

impl Runner for Reqwest {
    const NAME: &'static str = "reqwest";
    fn statuses(&self, s: &Settings, ids: &[InstanceId]) -> Vec<Result<InstanceStatus, Error>> {
        runtime().block_on(async {
            let client = build_client!(clouddc_reqwest::Client, s);
            let mut out = Vec::new();
            for id in ids {
                out.push(client.status(id).await);
            }
            out
        })
    }
    fn wait_until(
        &self,
        s: &Settings,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
    ) -> WaitReport {
        runtime().block_on(async {
            let client = build_client!(clouddc_reqwest::Client, s);
            client.wait_until(id, target, options).await
        })
    }
    fn fan_out_at(
        &self,
        s: &Settings,
        ids: Ids,
        concurrency: usize,
        take: usize,
    ) -> Vec<(InstanceId, Result<InstanceStatus, Error>, Instant)> {
        runtime().block_on(async {
            let client = build_client!(clouddc_reqwest::Client, s);
            client
                .statuses(ids, concurrency)
                .take(take)
                .map(|(id, result)| (id, result, Instant::now()))
                .collect()
                .await
        })
    }
    fn wait_all(
        &self,
        s: &Settings,
        ids: Ids,
        target: InstanceState,
        options: WaitOptions,
        concurrency: usize,
        take: usize,
    ) -> Vec<(InstanceId, WaitReport)> {
        runtime().block_on(async {
            let client = build_client!(clouddc_reqwest::Client, s);
            client
                .wait_all(ids, target, options, concurrency)
                .take(take)
                .collect()
                .await
        })
    }
}

/// One row of the table.
struct Case {
    name: &'static str,
    server: fn() -> Server,
    settings: fn(Settings) -> Settings,
    ids: &'static [&'static str],
    check: fn(&Run<'_>),
}

/// What a case observed.
struct Run<'a> {
    runner: &'static str,
    server: &'a Server,
    results: Vec<Result<InstanceStatus, Error>>,
    elapsed: Duration,
}

impl Run<'_> {
    fn requests(&self) -> Vec<Recorded> {
        self.server.requests()
    }
    fn only_error(&self) -> &Error {
        assert_eq!(self.results.len(), 1);
        match &self.results[0] {
            Err(e) => e,
            Ok(s) => panic!("expected an error, got {s:?}"),
        }
    }
    fn assert_requests(&self, n: usize) {
        let got = self.requests().len();
        assert_eq!(got, n, "requests the server saw");
    }
}

fn ok(body: &str) -> Reply {
    Reply::json(200, body)
}

fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

/// An `https://` URL whose server answers every connection with plain
/// HTTP at once, so that the TLS handshake fails on the client's side.
fn not_tls_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in l.incoming().flatten().take(8) {
            use std::io::Write;
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    url
}

fn verify(r: &Recorded) {
    let verified = verify_request(
        &r.to_http(),
        |ak| (ak == AK).then(|| SK.to_owned()),
        SystemTime::now(),
        Duration::from_secs(300),
    );
    assert_eq!(verified.as_deref(), Ok(AK), "signature of {}", r.target);
}

fn no_secret_in(e: &Error) {
    let text = format!("{e} {e:?}");
    for secret in [TOKEN, SK, SECURITY_TOKEN] {
        assert!(!text.contains(secret), "secret leaked into {text}");
    }
}

const CAPPED: &str = r#"{"state":"running"}"#;

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "200: the status, the exact request, one pooled connection",
            server: || Server::script(vec![ok(RUNNING).header("X-Request-Id", "req-200")]),
            settings: |s| s,
            ids: &["ins-1", "ins-2", "ins-3"],
            check: |r| {
                for res in &r.results {
                    let st = res.as_ref().expect("a status");
                    assert_eq!(st.state, InstanceState::Running);
                    assert_eq!(
                        st.operation_state.as_ref().map(|o| o.as_str()),
                        Some("install-succeed")
                    );
                }
                let reqs = r.requests();
                assert_eq!(reqs.len(), 3);
                let host = r.server.addr().to_string();
                for (q, id) in reqs.iter().zip(["ins-1", "ins-2", "ins-3"]) {
                    assert_eq!(q.method, "GET");
                    assert_eq!(q.target, format!("/v1/{PROJECT}/instances/{id}/status"));
                    assert_eq!(q.header_values("host"), [host.as_str()]);
                    assert_eq!(q.header_values("x-auth-token"), [TOKEN]);
                    let ua = q.header_values("user-agent");
                    assert_eq!(ua.len(), 1, "{ua:?}");
                    assert!(ua[0].starts_with("clouddc-core/"), "{ua:?}");
                    assert!(ua[0].contains(&format!(" clouddc-{}/", r.runner)), "{ua:?}");
                    assert!(ua[0].ends_with(" adapter-tests/1"), "{ua:?}");
                    assert!(q.header("authorization").is_none());
                    assert!(q.body.is_empty());
                    assert!(
                        q.header("content-length").is_none(),
                        "a GET announces no body"
                    );
                }
                assert!(
                    reqs.iter().all(|q| q.connection == reqs[0].connection),
                    "calls of one client share a pooled connection"
                );
            },
        },
        Case {
            name: "401: unauthorized, with code and request id, not retried",
            server: || {
                Server::script(vec![
                    Reply::json(
                        401,
                        r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}"#,
                    )
                    .header("X-Request-Id", "req-401"),
                ])
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::Unauthorized);
                assert_eq!(e.request_id(), Some("req-401"));
                assert_eq!(e.error_code(), Some("APIGW.0301"));
                assert_eq!(e.http_status().map(|s| s.as_u16()), Some(401));
                no_secret_in(e);
                r.assert_requests(1);
            },
        },
        Case {
            name: "429 with Retry-After: 1, then 200: waits the second, two requests",
            server: || {
                Server::script(vec![
                    Reply::text(429, "text/plain", "Too Many Requests").header("Retry-After", "1"),
                    ok(RUNNING),
                ])
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.results[0].as_ref().unwrap().state, InstanceState::Running);
                let reqs = r.requests();
                assert_eq!(reqs.len(), 2);
                assert!(r.elapsed >= Duration::from_secs(1), "{:?}", r.elapsed);
                let gap = reqs[1].at - reqs[0].at;
                assert!(gap >= Duration::from_secs(1), "{gap:?}");
                assert!(r.elapsed < Duration::from_secs(3), "{:?}", r.elapsed);
            },
        },
        Case {
            name: "the gateway's APIGW.0308 (no Retry-After): rate_limited with its code, request id and quota",
            server: || {
                Server::script(vec![Reply::json(
                    429,
                    r#"{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second","error_code":"APIGW.0308","request_id":"gw-1"}"#,
                )
                .header("X-Request-Id", "gw-1")])
            },
            settings: |s| s.max_attempts(1),
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
                assert_eq!(e.error_code(), Some("APIGW.0308"));
                assert_eq!(e.request_id(), Some("gw-1"));
                assert_eq!(e.retry_after(), None);
                let q = e.throttle().expect("the quota");
                assert_eq!((q.limit(), q.window()), (20, Duration::from_secs(1)));
                r.assert_requests(1);
            },
        },
        Case {
            name: "the older APIG.0308 quoting a five-minute window, with a 2 s deadline: no retry, the quota kept",
            server: || {
                Server::script(vec![Reply::json(
                    429,
                    r#"{"error_msg":"The throttling threshold has been reached: policy api over ratelimit,limit:200,time:5 minute","error_code":"APIG.0308","request_id":"gw-2"}"#,
                )
                .header("X-Request-Id", "gw-2")])
            },
            settings: |s| Settings {
                call_timeout: Some(Duration::from_secs(2)),
                ..s.max_attempts(3)
            },
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
                assert_eq!(e.error_code(), Some("APIG.0308"));
                assert_eq!(e.request_id(), Some("gw-2"));
                let q = e.throttle().expect("the quota");
                assert_eq!((q.limit(), q.window()), (200, Duration::from_secs(300)));
                // The next window is past the deadline: it stops at once.
                r.assert_requests(1);
                assert!(r.elapsed < Duration::from_secs(1), "{:?}", r.elapsed);
            },
        },
        Case {
            name: "500 every time: exactly max_attempts requests",
            server: || {
                Server::script(vec![Reply::json(
                    500,
                    r#"{"error_code":"CDC.5000","error_msg":"internal error"}"#,
                )])
            },
            settings: |s| s.max_attempts(3),
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::Server);
                assert_eq!(e.error_code(), Some("CDC.5000"));
                r.assert_requests(3);
            },
        },
        Case {
            name: "404: not_found, not retried",
            server: || {
                Server::script(vec![Reply::json(
                    404,
                    r#"{"error_code":"CDC.0404","error_msg":"instance not found"}"#,
                )])
            },
            settings: |s| s,
            ids: &["ins-missing"],
            check: |r| {
                assert_eq!(r.only_error().kind(), ErrorKind::NotFound);
                r.assert_requests(1);
            },
        },
        Case {
            name: "HTML 502 from the gateway: server kind, status kept, retried",
            server: || {
                Server::script(vec![Reply::text(
                    502,
                    "text/html",
                    "<html><body><h1>502 Bad Gateway</h1></body></html>",
                )])
            },
            settings: |s| s.max_attempts(2),
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::Server);
                assert_eq!(e.http_status().map(|s| s.as_u16()), Some(502));
                assert_eq!(e.error_code(), None);
                assert!(e.to_string().contains("502"), "{e}");
                r.assert_requests(2);
            },
        },
        Case {
            name: "10 MB body: decode error, reading stops at the cap",
            server: || Server::script(vec![Reply::Huge { bytes: 10 << 20 }]),
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.only_error().kind(), ErrorKind::Decode);
                r.assert_requests(1);
                assert!(r.elapsed < Duration::from_secs(1), "{:?}", r.elapsed);
                let cut = r
                    .server
                    .wait_for(Duration::from_secs(5), |s| s.cut_short == 1);
                assert!(
                    cut,
                    "the client closed before the end: {:?}",
                    r.server.stats()
                );
                assert_eq!(r.server.stats().sent_in_full, 0);
            },
        },
        Case {
            name: "a body exactly at the cap is accepted",
            server: || Server::script(vec![ok(CAPPED)]),
            settings: |s| Settings {
                body_limit: Some(CAPPED.len()),
                ..s
            },
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.results[0].as_ref().unwrap().state, InstanceState::Running);
            },
        },
        Case {
            name: "a body one byte over the cap is a decode error",
            server: || Server::script(vec![ok(CAPPED)]),
            settings: |s| Settings {
                body_limit: Some(CAPPED.len() - 1),
                ..s
            },
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.only_error().kind(), ErrorKind::Decode);
                r.assert_requests(1);
            },
        },
        Case {
            name: "a server that never answers: timeout at the per-attempt limit",
            server: || Server::script(vec![Reply::Hang]),
            settings: |s| Settings {
                attempt_timeout: Duration::from_millis(500),
                ..s.max_attempts(1)
            },
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.only_error().kind(), ErrorKind::Timeout);
                assert!(r.elapsed >= Duration::from_millis(450), "{:?}", r.elapsed);
                assert!(r.elapsed < Duration::from_millis(1500), "{:?}", r.elapsed);
                r.assert_requests(1);
            },
        },
        Case {
            name: "a server that never answers: the call's deadline cuts the attempt short",
            server: || Server::script(vec![Reply::Hang]),
            settings: |s| Settings {
                attempt_timeout: Duration::from_secs(10),
                call_timeout: Some(Duration::from_millis(600)),
                ..s
            },
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.only_error().kind(), ErrorKind::Timeout);
                assert!(r.elapsed >= Duration::from_millis(550), "{:?}", r.elapsed);
                assert!(r.elapsed < Duration::from_millis(1600), "{:?}", r.elapsed);
                r.assert_requests(1);
            },
        },
        Case {
            name: "a server that stalls in the body: timeout at the per-attempt limit",
            server: || Server::script(vec![Reply::StallBody]),
            settings: |s| Settings {
                attempt_timeout: Duration::from_millis(500),
                ..s.max_attempts(1)
            },
            ids: &["ins-1"],
            check: |r| {
                assert_eq!(r.only_error().kind(), ErrorKind::Timeout);
                assert!(r.elapsed >= Duration::from_millis(450), "{:?}", r.elapsed);
                assert!(r.elapsed < Duration::from_millis(1500), "{:?}", r.elapsed);
                r.assert_requests(1);
            },
        },
        Case {
            name: "a connection reset: sent again once on a new connection, then a transport error with its cause",
            server: || Server::script(vec![Reply::Reset]),
            settings: |s| s.max_attempts(1),
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
                assert!(std::error::Error::source(e).is_some(), "{e:?}");
                // Reset before any response byte: it may have been a pooled
                // connection the server had closed, so the request goes once
                // more on a new connection, within the same attempt.
                r.assert_requests(2);
            },
        },
        Case {
            name: "connection refused: transport error with its cause, retried",
            server: || Server::script(vec![ok(RUNNING)]),
            settings: |s| Settings {
                url: refused_url(),
                ..s.max_attempts(2)
            },
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
                assert!(std::error::Error::source(e).is_some(), "{e:?}");
            },
        },
        Case {
            name: "https to a server that does not speak TLS: transport error with its cause",
            server: || Server::script(vec![ok(RUNNING)]),
            settings: |s| Settings {
                url: not_tls_url(),
                ..s.max_attempts(1)
            },
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::Transport, "{e}");
                assert!(std::error::Error::source(e).is_some(), "{e:?}");
            },
        },
        Case {
            name: "a redirect is handed back, never followed",
            server: || {
                Server::script(vec![
                    Reply::text(302, "text/plain", "moved").header("Location", "/elsewhere"),
                ])
            },
            settings: |s| s,
            ids: &["ins-1"],
            check: |r| {
                let e = r.only_error();
                assert_eq!(e.kind(), ErrorKind::Api);
                assert_eq!(e.http_status().map(|s| s.as_u16()), Some(302));
                r.assert_requests(1);
            },
        },
        Case {
            name: "AK/SK: signed headers present and verifiable",
            server: || Server::script(vec![ok(RUNNING)]),
            settings: |s| Settings {
                credentials: Settings::aksk(),
                ..s
            },
            ids: &["ins-1"],
            check: |r| {
                assert!(r.results[0].is_ok());
                let q = &r.requests()[0];
                let auth = q.header("authorization").expect("Authorization");
                assert!(
                    auth.starts_with(&format!("SDK-HMAC-SHA256 Access={AK}, SignedHeaders=")),
                    "{auth}"
                );
                assert_eq!(q.header_values("x-project-id"), [PROJECT]);
                assert_eq!(q.header("x-sdk-date").map(str::len), Some(16));
                assert!(q.header("x-auth-token").is_none());
                assert!(q.header("x-security-token").is_none());
                verify(q);
            },
        },
        Case {
            name: "temporary AK/SK: the security token is sent and signed",
            server: || Server::script(vec![ok(RUNNING)]),
            settings: |s| Settings {
                credentials: Credentials::temporary(AK, SK, SECURITY_TOKEN).unwrap(),
                ..s
            },
            ids: &["ins-1"],
            check: |r| {
                assert!(r.results[0].is_ok());
                let q = &r.requests()[0];
                assert_eq!(q.header_values("x-security-token"), [SECURITY_TOKEN]);
                assert!(
                    q.header("authorization")
                        .unwrap()
                        .contains("x-security-token")
                );
                verify(q);
            },
        },
        Case {
            name: "ids with '/', space, '%', '?', '#' and unicode: one encoded segment each",
            server: || Server::script(vec![ok(RUNNING)]),
            settings: |s| Settings {
                credentials: Settings::aksk(),
                ..s
            },
            ids: &["a/b", "a b", "100%", "x?y#z", "ins-ü✓"],
            check: |r| {
                assert!(r.results.iter().all(Result::is_ok), "{:?}", r.results);
                let expected = [
                    "a%2Fb",
                    "a%20b",
                    "100%25",
                    "x%3Fy%23z",
                    "ins-%C3%BC%E2%9C%93",
                ];
                let reqs = r.requests();
                assert_eq!(reqs.len(), expected.len());
                for (q, seg) in reqs.iter().zip(expected) {
                    assert_eq!(q.target, format!("/v1/{PROJECT}/instances/{seg}/status"));
                    assert_eq!(q.segments(), ["v1", PROJECT, "instances", seg, "status"]);
                    verify(q);
                }
            },
        },
    ]
}

fn run_case<R: Runner>(runner: &R, case: &Case) {
    let server = (case.server)();
    let settings = (case.settings)(Settings::new(server.url()));
    let ids: Vec<InstanceId> = case
        .ids
        .iter()
        .map(|s| InstanceId::new(*s).unwrap())
        .collect();
    let started = Instant::now();
    let results = runner.statuses(&settings, &ids);
    let run = Run {
        runner: R::NAME,
        server: &server,
        results,
        elapsed: started.elapsed(),
    };
    (case.check)(&run);
}

fn run_table<R: Runner>(runner: &R) {
    let mut failed = Vec::new();
    for case in cases() {
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(runner, &case)));
        if outcome.is_err() {
            failed.push(case.name);
        }
    }
    assert!(failed.is_empty(), "{}: failed cases: {failed:#?}", R::NAME);
}

#[test]
fn ureq_passes_the_table() {
    run_table(&Ureq);
}

#[test]
fn reqwest_passes_the_table() {
    run_table(&Reqwest);
}

fn check_waits(runner: &impl Runner) {
    let pending = r#"{"state":"pending","operation_state":"install-processing"}"#;
    let server = Server::script(vec![ok(pending), ok(pending), ok(RUNNING)]);
    let settings = Settings::new(server.url());
    let options = WaitOptions::new()
        .interval(Duration::from_millis(20))
        .max_wait(Duration::from_secs(10));
    let id = InstanceId::new("ins-1").unwrap();
    let report = runner.wait_until(&settings, &id, InstanceState::Running, options.clone());
    match &report.outcome {
        WaitOutcome::Reached(Some(s)) => assert_eq!(s.state, InstanceState::Running),
        other => panic!("expected reached, got {other:?}"),
    }
    assert_eq!(report.polls, 3);
    assert_eq!(server.requests().len(), 3);
    assert!(report.elapsed >= Duration::from_millis(40), "{report:?}");

    // A failure state ends the wait at once.
    let server = Server::script(vec![ok(pending), ok(r#"{"state":"error"}"#)]);
    let settings = Settings::new(server.url());
    let report = runner.wait_until(&settings, &id, InstanceState::Running, options);
    assert!(
        matches!(&report.outcome, WaitOutcome::Failed(s) if s.state == InstanceState::Error),
        "{report:?}"
    );
    assert_eq!(report.polls, 2);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn ureq_waits_until_running() {
    check_waits(&Ureq);
}

#[test]
fn reqwest_waits_until_running() {
    check_waits(&Reqwest);
}

/// Answers `{"state": running|stopped}` by the parity of the id's number,
/// holding each request until `limit` are in flight (or all `total` came).
fn parity_server(limit: usize, total: usize) -> Server {
    Server::start(move |req, _| {
        let seg = req.segments().get(3).copied().unwrap_or("").to_owned();
        Reply::Gated {
            in_flight: limit,
            total,
            timeout: Duration::from_secs(5),
            then: Box::new(
                ok(&format!(r#"{{"state":"{}"}}"#, parity(&seg))).header("X-Request-Id", &seg),
            ),
        }
    })
}

/// The number of `ins-N`.
fn number(id: &str) -> usize {
    id.trim_start_matches("ins-").parse().unwrap_or(1)
}

/// What [`parity_server`] says `ins-N` is.
fn parity(id: &str) -> &'static str {
    if number(id).is_multiple_of(2) {
        "running"
    } else {
        "stopped"
    }
}

/// `ins-0`, `ins-1`, ... up to `n`, counting how many were taken.
fn counted_ids(n: usize, pulled: &Arc<AtomicUsize>) -> Ids {
    let counter = Arc::clone(pulled);
    Box::new((0..n).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        InstanceId::new(format!("ins-{i}")).unwrap()
    }))
}

/// Every id of `0..n` exactly once.
fn assert_each_once<'a>(ids: impl Iterator<Item = &'a InstanceId>, n: usize) {
    let mut seen: Vec<usize> = ids.map(|id| number(id.as_str())).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "each id exactly once");
}

fn check_statuses_tag_and_bound(runner: &impl Runner) {
    const N: usize = 12;
    const LIMIT: usize = 3;
    let server = parity_server(LIMIT, N);
    let settings = Settings::new(server.url());
    let pulled = Arc::new(AtomicUsize::new(0));
    let results = runner.fan_out(&settings, counted_ids(N, &pulled), LIMIT, usize::MAX);
    assert_eq!(results.len(), N);
    for (id, result) in &results {
        let state = &result.as_ref().unwrap().state;
        assert_eq!(state.as_str(), parity(id.as_str()), "result tagged {id}");
    }
    assert_each_once(results.iter().map(|(id, _)| id), N);
    let stats = server.stats();
    // The gate holds every request until LIMIT are in flight: the bound is
    // reached, and never passed.
    assert_eq!(stats.max_in_flight, LIMIT, "{stats:?}");
    assert!(stats.max_open <= LIMIT, "{stats:?}");
}

#[test]
fn ureq_statuses_tags_every_result_and_bounds_requests_in_flight() {
    check_statuses_tag_and_bound(&Ureq);
}

#[test]
fn reqwest_statuses_tags_every_result_and_bounds_requests_in_flight() {
    check_statuses_tag_and_bound(&Reqwest);
}

fn check_statuses_lazy(runner: &impl Runner) {
    const LIMIT: usize = 2;
    const WANTED: usize = 6;
    let server = parity_server(LIMIT, usize::MAX);
    let settings = Settings::new(server.url());
    let pulled = Arc::new(AtomicUsize::new(0));
    // An endless supply of ids: only a lazy consumer can finish.
    let results = runner.fan_out(&settings, counted_ids(usize::MAX, &pulled), LIMIT, WANTED);
    assert_eq!(results.len(), WANTED);
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    let pulled = pulled.load(Ordering::SeqCst);
    assert!(pulled <= WANTED + LIMIT, "pulled {pulled} ids");
    assert!(
        server.stats().max_in_flight <= LIMIT,
        "{:?}",
        server.stats()
    );
}

#[test]
fn ureq_statuses_consumes_ids_lazily() {
    check_statuses_lazy(&Ureq);
}

#[test]
fn reqwest_statuses_consumes_ids_lazily() {
    check_statuses_lazy(&Reqwest);
}

/// `pending` on an id's first poll, `running` on every later one; each
/// first poll held until `limit` requests are in flight (or `total` came).
fn boot_server(limit: usize, total: usize) -> Server {
    let polls = Mutex::new(HashMap::<String, usize>::new());
    Server::start(move |req, _| {
        let seg = req.segments().get(3).copied().unwrap_or("").to_owned();
        let seen = {
            let mut polls = polls.lock().unwrap();
            let n = polls.entry(seg).or_default();
            *n += 1;
            *n
        };
        if seen == 1 {
            Reply::Gated {
                in_flight: limit,
                total,
                timeout: Duration::from_secs(5),
                then: Box::new(ok(r#"{"state":"pending"}"#)),
            }
        } else {
            ok(RUNNING)
        }
    })
}

fn check_wait_all_tag_and_bound(runner: &impl Runner) {
    const N: usize = 12;
    const LIMIT: usize = 3;
    let server = boot_server(LIMIT, N);
    let settings = Settings::new(server.url());
    let options = WaitOptions::new()
        .interval(Duration::from_millis(20))
        .max_wait(Duration::from_secs(20));
    let pulled = Arc::new(AtomicUsize::new(0));
    let ids = counted_ids(N, &pulled);
    let reports = runner.wait_all(
        &settings,
        ids,
        InstanceState::Running,
        options,
        LIMIT,
        usize::MAX,
    );
    assert_eq!(reports.len(), N);
    for (id, report) in &reports {
        assert!(
            matches!(&report.outcome, WaitOutcome::Reached(Some(s)) if s.state == InstanceState::Running),
            "{id}: {report:?}"
        );
        assert_eq!(report.polls, 2, "{id}: {report:?}");
    }
    assert_each_once(reports.iter().map(|(id, _)| id), N);
    assert_eq!(server.requests().len(), 2 * N);
    let stats = server.stats();
    assert_eq!(stats.max_in_flight, LIMIT, "{stats:?}");
    assert!(stats.max_open <= LIMIT, "{stats:?}");
}

#[test]
fn ureq_wait_all_tags_every_report_and_bounds_requests_in_flight() {
    check_wait_all_tag_and_bound(&Ureq);
}

#[test]
fn reqwest_wait_all_tags_every_report_and_bounds_requests_in_flight() {
    check_wait_all_tag_and_bound(&Reqwest);
}

fn check_wait_all_lazy(runner: &impl Runner) {
    const LIMIT: usize = 2;
    const WANTED: usize = 6;
    // Every id is running at once: each wait ends on its first poll.
    let server = Server::start(|_, _| Reply::Gated {
        in_flight: LIMIT,
        total: usize::MAX,
        timeout: Duration::from_secs(5),
        then: Box::new(ok(RUNNING)),
    });
    let settings = Settings::new(server.url());
    let pulled = Arc::new(AtomicUsize::new(0));
    let options = WaitOptions::new()
        .interval(Duration::from_millis(20))
        .max_wait(Duration::from_secs(20));
    let reports = runner.wait_all(
        &settings,
        counted_ids(usize::MAX, &pulled),
        InstanceState::Running,
        options,
        LIMIT,
        WANTED,
    );
    assert_eq!(reports.len(), WANTED);
    assert!(
        reports
            .iter()
            .all(|(_, r)| matches!(r.outcome, WaitOutcome::Reached(_))),
        "{reports:?}"
    );
    let pulled = pulled.load(Ordering::SeqCst);
    assert!(pulled <= WANTED + LIMIT, "pulled {pulled} ids");
    assert!(
        server.stats().max_in_flight <= LIMIT,
        "{:?}",
        server.stats()
    );
}

#[test]
fn ureq_wait_all_consumes_ids_lazily() {
    check_wait_all_lazy(&Ureq);
}

#[test]
fn reqwest_wait_all_consumes_ids_lazily() {
    check_wait_all_lazy(&Reqwest);
}

fn check_client_bound(runner: &impl Runner) {
    // 40 ids and a fan-out allowing 40 requests in flight, but a client
    // bound of 4: at most 4 requests (and connections) in flight.
    const N: usize = 40;
    const SLOTS: usize = 4;
    let server = parity_server(SLOTS, N);
    let settings = Settings {
        max_in_flight: Some(SLOTS),
        ..Settings::new(server.url())
    };
    let pulled = Arc::new(AtomicUsize::new(0));
    let results = runner.fan_out(&settings, counted_ids(N, &pulled), N, usize::MAX);
    assert_eq!(results.len(), N);
    assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
    let stats = server.stats();
    assert_eq!(stats.max_in_flight, SLOTS, "{stats:?}");
    assert!(stats.max_open <= SLOTS, "{stats:?}");
}

/// The fleet itself never has more requests in flight than the client
/// carries, whatever its own options allow (so that no attempt is timed
/// while it waits for a slot), on both clients alike.
#[test]
fn both_clients_cap_a_fleet_at_the_client_bound() {
    const N: usize = 24;
    const SLOTS: usize = 3;
    let ids = || (0..N).map(|i| InstanceId::new(format!("ins-{i}")).unwrap());
    let options = || FleetOptions::new().max_in_flight(N).rate(None);
    let server = parity_server(SLOTS, N);
    let settings = Settings {
        max_in_flight: Some(SLOTS),
        ..Settings::new(server.url())
    };
    let ureq = build_client!(clouddc_ureq::Client, &settings);
    let mut run = ureq.fleet(Job::Status, ids(), options());
    let (mut most, mut done) = (0, 0);
    while let Some(e) = run.next() {
        most = most.max(run.progress().in_flight);
        done += usize::from(e.into_status().1.is_ok());
    }
    assert_eq!((done, most <= SLOTS), (N, true), "ureq: {most} in flight");

    let server = parity_server(SLOTS, N);
    let settings = Settings {
        max_in_flight: Some(SLOTS),
        ..Settings::new(server.url())
    };
    let rt = runtime();
    let reqwest = rt.block_on(async { build_client!(clouddc_reqwest::Client, &settings) });
    let (most, done) = rt.block_on(async {
        let mut stream = reqwest.fleet(Job::Status, ids(), options());
        let (mut most, mut done) = (0, 0);
        while let Some(e) = stream.next().await {
            most = most.max(stream.progress().in_flight);
            done += usize::from(e.into_status().1.is_ok());
        }
        (most, done)
    });
    assert_eq!(
        (done, most <= SLOTS),
        (N, true),
        "reqwest: {most} in flight"
    );
}

#[test]
fn ureq_client_bound_caps_requests_in_flight() {
    check_client_bound(&Ureq);
}

#[test]
fn reqwest_client_bound_caps_requests_in_flight() {
    check_client_bound(&Reqwest);
}

/// A fan-out wider than the client's bound, against a server slower than
/// the bound lets the queue drain: attempts wait for a slot, and those that
/// wait out their attempt timeout end as `timeout`. An attempt that ended
/// is never sent afterwards: no request reaches the server for an id after
/// its result came back (give or take a few milliseconds, the time between
/// the fleet's own timer and the transport's).
fn check_no_request_after_its_result(runner: &impl Runner) {
    const N: usize = 12;
    const SLOTS: usize = 1;
    const WIDTH: usize = 4;
    const GRACE: Duration = Duration::from_millis(50);
    // Every answer held 200 ms.
    let server = Server::start(|_, _| Reply::Gated {
        in_flight: usize::MAX,
        total: usize::MAX,
        timeout: Duration::from_millis(200),
        then: Box::new(ok(RUNNING)),
    });
    let settings = Settings {
        attempt_timeout: Duration::from_millis(300),
        max_in_flight: Some(SLOTS),
        ..Settings::new(server.url()).max_attempts(1)
    };
    let pulled = Arc::new(AtomicUsize::new(0));
    let results = runner.fan_out_at(&settings, counted_ids(N, &pulled), WIDTH, usize::MAX);
    assert_eq!(results.len(), N);
    for (id, result, _) in &results {
        if let Err(e) = result {
            assert_eq!(e.kind(), ErrorKind::Timeout, "{id}: {e}");
        }
    }
    let ended: HashMap<String, Instant> = results
        .iter()
        .map(|(id, _, at)| (format!("/v1/{PROJECT}/instances/{id}/status"), *at))
        .collect();
    for q in server.requests() {
        let end = ended[&q.target];
        assert!(
            q.at <= end + GRACE,
            "{} sent {:?} after its result came back",
            q.target,
            q.at - end
        );
    }
}

#[test]
fn ureq_sends_no_request_after_its_result() {
    check_no_request_after_its_result(&Ureq);
}

#[test]
fn reqwest_sends_no_request_after_its_result() {
    check_no_request_after_its_result(&Reqwest);
}

/// A fan-out is a lazy stream, as the old combinator-built one was: made
/// outside a runtime (say, by a sync constructor) and driven inside one.
#[test]
fn reqwest_fan_out_can_be_made_outside_a_runtime() {
    let server = Server::script(vec![ok(RUNNING)]);
    let client = build_client!(clouddc_reqwest::Client, &Settings::new(server.url()));
    let results = client.statuses(vec![InstanceId::new("ins-1").unwrap()], 1);
    let results: Vec<_> = runtime().block_on(results.collect());
    assert_eq!(results.len(), 1);
    assert!(results[0].1.is_ok(), "{results:?}");
}

// Compile-time checks of clouddc-ureq: the client, its errors and the canceller are
// `Send + Sync`; a fleet in progress is `Send` (it can move to another
// thread, and is driven through `&mut`).
const _: fn(&clouddc_ureq::Client) = |client| {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    send_sync(client);
    send_sync(&Error::invalid_input("x"));
    let fleet = client.fleet(Job::Status, Vec::new(), FleetOptions::new());
    send_sync(&fleet.canceller());
    send(&fleet);
};

// Compile-time checks of clouddc-reqwest: the client, its errors and the canceller are
// `Send + Sync`; the futures and streams it returns are `Send`, so they can
// be spawned on a multi-threaded runtime. (They are not `Sync`: a future is
// polled through `&mut`, so nothing needs to share one.)
const _: fn(&clouddc_reqwest::Client, &InstanceId) = |client, id| {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    send_sync(client);
    send_sync(&Error::invalid_input("x"));
    send(&client.status(id));
    send(&client.wait_until(id, InstanceState::Running, WaitOptions::new()));
    send(&client.statuses(Vec::new(), 1));
    send(&client.wait_all(Vec::new(), InstanceState::Running, WaitOptions::new(), 1));
    let fleet = client.fleet(Job::Status, Vec::new(), FleetOptions::new());
    send_sync(&fleet.canceller());
    send(&fleet);
    send(&clouddc_core::AsyncTransport::send(
        &client.transport(),
        clouddc_core::Attempt::new(clouddc_core::http::Request::default(), Duration::ZERO, 0, 1),
    ));
};
