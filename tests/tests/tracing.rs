//! The `tracing` feature of both clients: a span per call and per attempt
//! with the attempt number, status, request id and the delay before a
//! retry, and never a token, a secret key, a security token or a signature.

// Helpers outside `#[test]` functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clouddc_core::{Credentials, Endpoint, InstanceId, ProjectId, RetryPolicy};
use clouddc_tests::{Reply, Server};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const TOKEN: &str = "tok-MARKER-1b7c";
const AK: &str = "HPUAEXAMPLEAK000011";
const SK: &str = "sk-MARKER-e40d";
const SECURITY_TOKEN: &str = "st-MARKER-98aa";

type FieldMap = BTreeMap<String, String>;
/// Span id to span name and fields.
type SpanMap = BTreeMap<u64, (String, FieldMap)>;

/// A subscriber that keeps every span's fields and every event's text.
#[derive(Clone, Default)]
struct Capture {
    next: Arc<AtomicU64>,
    spans: Arc<Mutex<SpanMap>>,
    events: Arc<Mutex<Vec<String>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        let name = attrs.metadata().name().to_owned();
        self.spans.lock().unwrap().insert(id, (name, fields));
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some((_, fields)) = self.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let target = event.metadata().target();
        self.events
            .lock()
            .unwrap()
            .push(format!("{target} {fields:?}"));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn spans(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let spans = self.spans.lock().unwrap();
        spans
            .values()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
    fn everything(&self) -> String {
        let mut all = String::new();
        for (name, fields) in self.spans.lock().unwrap().values() {
            writeln!(all, "{name} {fields:?}").unwrap();
        }
        for e in self.events.lock().unwrap().iter() {
            writeln!(all, "{e}").unwrap();
        }
        all
    }
}

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

        let events = capture.events.lock().unwrap().clone();
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
