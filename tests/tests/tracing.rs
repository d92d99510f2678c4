//! The `tracing` feature of both clients: a span per call and per attempt
//! with the attempt number, status, request id and the delay before a
//! retry, and never a token, a secret key, a security token or a signature.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use clouddc_core::{Credentials, Endpoint, InstanceId, ProjectId, RetryPolicy};
use clouddc_tests::capture::Capture;
use clouddc_tests::{Reply, Server};

const TOKEN: &str = "tok-MARKER-1b7c";
const AK: &str = "HPUAEXAMPLEAK000011";
const SK: &str = "sk-MARKER-e40d";
const SECURITY_TOKEN: &str = "st-MARKER-98aa";

fn server() -> Server {
    Server::script(vec![
        Reply::text(503, "text/html", "<html>busy</html>").header("X-Request-Id", "req-first"),
        Reply::json(200, r#"{"state":"running"}"#).header("X-Request-Id", "req-second"),
    ])
}

macro_rules! client {
    ($client:ty, $url:expr, $credentials:expr) => {
        <$client>::builder()
            .endpoint(Endpoint::parse($url).unwrap())
            .project_id(ProjectId::new("p1").unwrap())
            .credentials($credentials)
            .retry(
                RetryPolicy::default()
                    .with_initial_backoff(Duration::from_millis(30))
                    .with_max_backoff(Duration::from_millis(30)),
            )
            .build()
            .unwrap()
    };
}

/// Runs one call that fails once with a 503, with each kind of credentials,
/// and checks what was traced.
fn check(run: impl Fn(&str, Credentials)) {
    for credentials in [
        Credentials::token(TOKEN).unwrap(),
        Credentials::temporary(AK, SK, SECURITY_TOKEN).unwrap(),
    ] {
        let capture = Capture::default();
        let server = server();
        tracing::subscriber::with_default(capture.clone(), || run(&server.url(), credentials));

        let calls = capture.spans("clouddc.call");
        assert_eq!(calls.len(), 1, "{}", capture.everything());
        assert_eq!(calls[0]["op"], "status");
        assert_eq!(calls[0]["instance_id"], "ins-1");
        assert_eq!(calls[0]["attempts"], "2");
        assert_eq!(calls[0]["outcome"], "ok");

        let attempts = capture.spans("clouddc.attempt");
        assert_eq!(attempts.len(), 2, "{}", capture.everything());
        assert_eq!(attempts[0]["number"], "1");
        assert_eq!(attempts[0]["status"], "503");
        assert_eq!(attempts[0]["request_id"], "req-first");
        assert_eq!(attempts[1]["number"], "2");
        assert_eq!(attempts[1]["status"], "200");
        assert_eq!(attempts[1]["request_id"], "req-second");

        let events = capture.events();
        let delays: Vec<_> = events.iter().filter(|e| e.starts_with("clouddc")).collect();
        assert_eq!(delays.len(), 1, "one pause, before the retry: {delays:?}");
        assert!(delays[0].contains("delay_ms"), "{delays:?}");
        let everything = capture.everything();
        let signature = server.requests()[0]
            .header("authorization")
            .and_then(|a| a.split("Signature=").nth(1))
            .map(str::to_owned);
        let mut secrets = vec![TOKEN, SK, SECURITY_TOKEN];
        secrets.extend(signature.as_deref());
        for secret in secrets {
            assert!(
                !everything.contains(secret),
                "{secret} leaked: {everything}"
            );
        }
    }
}

#[test]
fn ureq_traces_calls_and_attempts_without_secrets() {
    check(|url, credentials| {
        let client = client!(clouddc_ureq::Client, url, credentials);
        client.status(&InstanceId::new("ins-1").unwrap()).unwrap();
    });
}

#[test]
fn reqwest_traces_calls_and_attempts_without_secrets() {
    check(|url, credentials| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = client!(clouddc_reqwest::Client, url, credentials);
            client
                .status(&InstanceId::new("ins-1").unwrap())
                .await
                .unwrap();
        });
    });
}
