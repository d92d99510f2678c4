//! The session with OIDC federation on simulated time: both exchanges in
//! order, the file read again at every refresh, refusals and unreadable
//! files failing at once, and never signing with expired credentials.

use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use http::{Method, Response};
use proptest::prelude::*;

use super::tests::{
    Model, access_key, answer, iam_ep, refresh_timing_holds, send, settle, start, timing_steps,
};
use super::*;

thread_local! {
    /// The id-token file of this test thread: `None` when it does not exist.
    static FILE: RefCell<Option<String>> = const { RefCell::new(None) };
    /// How often it was read.
    static READS: RefCell<u32> = const { RefCell::new(0) };
}

fn write_token(content: Option<&str>) {
    FILE.with(|f| *f.borrow_mut() = content.map(str::to_owned));
}

fn reads() -> u32 {
    READS.with(|r| *r.borrow())
}

fn read(_path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    READS.with(|r| *r.borrow_mut() += 1);
    FILE.with(|f| match &*f.borrow() {
        Some(t) => Ok(t.clone().into_bytes()),
        None => Err(std::io::ErrorKind::NotFound.into()),
    })
}

fn oidc_session(project: Option<&str>) -> Identity {
    let config = crate::Config::builder()
        .endpoint(Endpoint::parse("http://127.0.0.1:1").unwrap())
        .region("cn-east-3")
        .iam_endpoint(iam_ep())
        .oidc("idp-1", "/run/token");
    let config = match project {
        Some(p) => config.project_id(ProjectId::new(p).unwrap()),
        None => config,
    }
    .build()
    .unwrap();
    Identity::new(
        config.credential_source().clone(),
        config.project_source().clone(),
        "ua/1".into(),
    )
    .with_file_reader(Some(read))
}

fn subject(token: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(201)
        .header("x-subject-token", token)
        .body(br#"{"token":{"expires_at":"2030-01-01T00:00:00Z"}}"#.to_vec())
        .unwrap()
}

fn issued(n: u64, expires: SystemTime) -> Response<Vec<u8>> {
    let at = humantime::format_rfc3339_micros(expires);
    Response::builder()
        .status(201)
        .body(
            format!(r#"{{"credential":{{"access":"AK{n}","secret":"SK{n}","securitytoken":"ST{n}","expires_at":"{at}"}}}}"#)
                .into_bytes(),
        )
        .unwrap()
}

fn id_token_sent(a: &Attempt) -> String {
    let body: serde_json::Value = serde_json::from_slice(a.request.body()).unwrap();
    body["auth"]["id_token"]["id"].as_str().unwrap().to_owned()
}

/// Both exchanges: the id token then the subject token.
fn exchanged(s: &Identity, now: Now, n: u64, lifetime: Duration) -> String {
    let (id, a) = send(s.poll(now, true));
    assert_eq!(a.request.method(), Method::POST);
    assert_eq!(
        a.request.uri().to_string(),
        "http://127.0.0.1:10/v3.0/OS-AUTH/id-token/tokens"
    );
    assert_eq!(a.request.headers()["x-idp-id"], "idp-1");
    let sent = id_token_sent(&a);
    s.handle(id, now, Ok(subject(&format!("subj-{n}"))));
    let (id, a) = send(s.poll(now, true));
    assert_eq!(a.request.uri().path(), "/v3.0/OS-CREDENTIAL/securitytokens");
    let body: serde_json::Value = serde_json::from_slice(a.request.body()).unwrap();
    assert_eq!(body["auth"]["identity"]["token"]["id"], format!("subj-{n}"));
    s.handle(id, now, Ok(issued(n, now.wall + lifetime)));
    sent
}

#[test]
fn the_two_exchanges_then_ready_and_the_project_looked_up_with_them() {
    write_token(Some("  id-token-1\n"));
    let s = oidc_session(None);
    let now = start();
    assert_eq!(
        exchanged(&s, now, 1, Duration::from_secs(3600)),
        "id-token-1"
    );
    let (id, a) = send(s.poll(now, true));
    assert_eq!(a.request.uri().path(), "/v3/projects");
    assert_eq!(a.request.headers()["x-security-token"], "ST1");
    s.handle(
        id,
        now,
        Ok(answer(
            200,
            r#"{"projects":[{"id":"p-9","name":"cn-east-3"}]}"#,
        )),
    );
    assert!(matches!(s.poll(now, true), SessionStep::Ready));
    let c = s.current(now.wall).unwrap();
    assert_eq!(access_key(&c.credentials), "AK1");
    assert_eq!(c.project_id.as_str(), "p-9");
    assert!(!format!("{s:?}").contains("SK1"));
}

#[test]
fn a_refresh_reads_the_rotated_file_in_one_flight() {
    write_token(Some("id-token-1"));
    let s = oidc_session(Some("p1"));
    let now = start();
    exchanged(&s, now, 1, Duration::from_secs(6));
    let before = reads();
    write_token(Some("id-token-2\n"));
    // Due after 4 s: others keep signing with the held credentials.
    let at = now.advance(Duration::from_secs(4));
    let (id, a) = send(s.poll(at, true));
    assert_eq!(id_token_sent(&a), "id-token-2");
    assert_eq!(reads(), before + 1);
    for _ in 0..50 {
        assert!(matches!(s.poll(at, true), SessionStep::Ready));
    }
    assert_eq!(access_key(&s.current(at.wall).unwrap().credentials), "AK1");
    s.handle(id, at, Ok(subject("subj-2")));
    let (id, _) = send(s.poll(at, true));
    s.handle(id, at, Ok(issued(2, at.wall + Duration::from_secs(6))));
    assert_eq!(access_key(&s.current(at.wall).unwrap().credentials), "AK2");
}

#[test]
fn an_exchange_lost_with_a_stale_connection_goes_again_on_a_fresh_one() {
    write_token(Some("id-token-1"));
    let s = oidc_session(Some("p1"));
    let now = start();
    let (id, a) = send(s.poll(now, true));
    assert!(!a.fresh_connection);
    let lost = Error::closed_unanswered(1, a.request.uri(), std::io::Error::other("eof"));
    s.handle(id, now, Err(lost));
    let (_, again) = send(s.poll(now, true));
    assert!(
        again.fresh_connection,
        "sent again at once on a new connection"
    );
    assert_eq!(again.request.uri().path(), "/v3.0/OS-AUTH/id-token/tokens");
    assert_eq!(id_token_sent(&again), "id-token-1");
}

#[test]
fn a_missing_or_empty_file_fails_at_once_naming_it() {
    for content in [None, Some(" \n")] {
        write_token(content);
        let s = oidc_session(Some("p1"));
        let SessionStep::Failed(e) = s.poll(start(), true) else {
            panic!("no request without a token")
        };
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("/run/token"), "{e}");
    }
}

#[test]
fn an_iam_refusal_fails_at_once_quoting_it() {
    write_token(Some("id-token-1"));
    let s = oidc_session(Some("p1"));
    let refusal = || {
        Ok(Response::builder()
            .status(401)
            .header("x-iam-trace-id", "trace-4")
            .body(br#"{"error_msg":"The id token has expired.","error_code":"IAM.0101"}"#.to_vec())
            .unwrap())
    };
    let (sent, _, e) = settle(&s, start(), refusal);
    assert_eq!(sent, 1, "retrying cannot help");
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let text = e.to_string();
    assert!(
        text.contains("The id token has expired.") && text.contains("trace-4"),
        "{text}"
    );
}

#[test]
fn a_failed_refresh_is_retried_and_fails_calls_only_after_expiry() {
    write_token(Some("id-token-1"));
    let s = oidc_session(Some("p1"));
    let now = start();
    exchanged(&s, now, 1, Duration::from_secs(60));
    let mut t = now.advance(Duration::from_secs(40));
    let mut tries = 0;
    let failure = loop {
        match s.poll(t, true) {
            SessionStep::Send(id, _) => {
                tries += 1;
                s.handle(id, t, Ok(answer(503, "busy")));
            }
            SessionStep::Ready => {
                assert_eq!(access_key(&s.current(t.wall).unwrap().credentials), "AK1");
                t = t.advance(Duration::from_millis(250));
            }
            SessionStep::Wait(w) => t = t.advance_to(w),
            SessionStep::Failed(e) => break e,
        }
    };
    assert!(tries >= 3, "{tries}");
    assert_eq!(failure.kind(), ErrorKind::Unauthorized);
    assert!(failure.to_string().contains("expired"), "{failure}");
    assert!(failure.to_string().contains("OIDC"), "{failure}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However callers poll and however late IAM answers: one request at a
    /// time, never signing with expired credentials, and at most one
    /// credentials exchange per generation (plus the first).
    #[test]
    fn refresh_timing(
        rotation_ms in 500u64..5_000,
        stretch in 150u32..400,
        steps in timing_steps(),
    ) {
        write_token(Some("id-token"));
        let now0 = start();
        let rotation = Duration::from_millis(rotation_ms);
        let model = Model { start: now0.wall, rotation, lifetime: rotation * stretch / 100, issue: issued };
        let s = oidc_session(Some("p"));
        let second = |a: &Attempt| a.request.uri().path().ends_with("securitytokens");
        refresh_timing_holds(&s, &model, now0, steps, second, || subject("subj"))?;
    }
}
