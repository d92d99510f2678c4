//! The `tracing` feature of both clients: the core's fleet emits one DEBUG
//! event per attempt once its result is known (`instance_id`, `attempt`,
//! `status`, `request_id`, and `delay_ms` only when a retry follows) and
//! one per finished id (`instance_id`, `outcome`), and never a token, a
//! secret key, a security token or a signature.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use clouddc_core::{Config, Credentials, Endpoint, InstanceId, ProjectId, RetryPolicy};
use clouddc_tests::capture::{Capture, Captured};
use clouddc_tests::{Reply, Server};
use tracing::Level;

const TOKEN: &str = "tok-MARKER-1b7c";
const AK: &str = "HPUAEXAMPLEAK000011";
const SK: &str = "sk-MARKER-e40d";
const SECURITY_TOKEN: &str = "st-MARKER-98aa";
/// The pause before the retry: the backoff's floor and ceiling alike.
const BACKOFF: Duration = Duration::from_millis(30);

fn server() -> Server {
    Server::script(vec![
        Reply::text(503, "text/html", "<html>busy</html>").header("X-Request-Id", "req-first"),
        Reply::json(200, r#"{"state":"running"}"#).header("X-Request-Id", "req-second"),
    ])
}

fn config(url: &str, credentials: Credentials) -> Config {
    Config::builder()
        .endpoint(Endpoint::parse(url).unwrap())
        .project_id(ProjectId::new("p1").unwrap())
        .credentials(credentials)
        .retry(
            RetryPolicy::default()
                .with_initial_backoff(BACKOFF)
                .with_max_backoff(BACKOFF),
        )
        .build()
        .unwrap()
}

/// The DEBUG events of the clouddc crates, in order.
fn debug_events(capture: &Capture) -> Vec<Captured> {
    capture
        .captured()
        .into_iter()
        .filter(|e| e.level == Level::DEBUG && e.target.starts_with("clouddc"))
        .collect()
}

/// Runs one call that fails once with a 503, with each kind of credentials,
/// and checks what was traced.
fn check(run: impl Fn(Config)) {
    for credentials in [
        Credentials::token(TOKEN).unwrap(),
        Credentials::temporary(AK, SK, SECURITY_TOKEN).unwrap(),
    ] {
        let capture = Capture::default();
        let server = server();
        let config = config(&server.url(), credentials);
        tracing::subscriber::with_default(capture.clone(), || run(config));
        let everything = capture.everything();

        let events = debug_events(&capture);
        let attempts: Vec<_> = events
            .iter()
            .filter(|e| e.field("attempt").is_some())
            .collect();
        assert_eq!(attempts.len(), 2, "{everything}");

        let first = attempts[0];
        assert_eq!(first.message(), Some("attempt failed; retrying"), "{first}");
        assert_eq!(first.field("instance_id"), Some("ins-1"), "{first}");
        assert_eq!(first.field("attempt"), Some("1"), "{first}");
        assert_eq!(first.field("status"), Some("503"), "{first}");
        assert_eq!(first.field("request_id"), Some("req-first"), "{first}");
        let delay: u64 = first
            .field("delay_ms")
            .unwrap_or_else(|| panic!("a retry follows, so a delay: {first}"))
            .parse()
            .unwrap();
        assert!(
            delay <= u64::try_from(BACKOFF.as_millis()).unwrap(),
            "{first}"
        );

        let second = attempts[1];
        assert_eq!(second.message(), Some("attempt"), "{second}");
        assert_eq!(second.field("instance_id"), Some("ins-1"), "{second}");
        assert_eq!(second.field("attempt"), Some("2"), "{second}");
        assert_eq!(second.field("status"), Some("200"), "{second}");
        assert_eq!(second.field("request_id"), Some("req-second"), "{second}");
        assert_eq!(second.field("delay_ms"), None, "no retry follows: {second}");

        let finished: Vec<_> = events
            .iter()
            .filter(|e| e.message() == Some("finished"))
            .collect();
        assert_eq!(finished.len(), 1, "{everything}");
        assert_eq!(finished[0].field("instance_id"), Some("ins-1"));
        assert_eq!(finished[0].field("outcome"), Some("ok"));
        // Nothing else at DEBUG: the attempts, then the finished id.
        assert_eq!(events.len(), 3, "{everything}");
        assert_eq!(events[2].message(), Some("finished"), "{everything}");

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
fn ureq_traces_attempts_and_the_finished_id_without_secrets() {
    check(|config| {
        let client = clouddc_ureq::Client::new(config).unwrap();
        client.status(&InstanceId::new("ins-1").unwrap()).unwrap();
    });
}

#[test]
fn reqwest_traces_attempts_and_the_finished_id_without_secrets() {
    check(|config| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = clouddc_reqwest::Client::new(config).unwrap();
            client
                .status(&InstanceId::new("ins-1").unwrap())
                .await
                .unwrap();
        });
    });
}
