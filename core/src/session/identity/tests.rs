//! The session on simulated time: what it asks for, in what order, and
//! that callers never sign with expired credentials.

use std::time::{Duration, Instant, SystemTime};

use http::{Method, Response};
use proptest::prelude::*;

use super::*;

fn meta() -> Endpoint {
    Endpoint::parse("http://127.0.0.1:9").unwrap()
}

pub(super) fn iam_ep() -> Endpoint {
    Endpoint::parse("http://127.0.0.1:10").unwrap()
}

pub(super) fn start() -> Now {
    Now::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        Instant::now(),
    )
}

/// Fixed AK/SK, the project looked up from IAM.
fn aksk_lookup_session() -> Identity {
    Identity::new(
        CredentialSource::Fixed(Credentials::ak_sk("AK", "SK").unwrap()),
        ProjectSource::Lookup {
            iam: iam_ep(),
            region: crate::Region::new("cn-east-3").unwrap(),
        },
        "ua".into(),
    )
}

fn metadata_session(project: Option<&str>) -> Identity {
    let project = match project {
        Some(p) => ProjectSource::Fixed(ProjectId::new(p).unwrap()),
        None => ProjectSource::Lookup {
            iam: iam_ep(),
            region: crate::Region::new("cn-east-3").unwrap(),
        },
    };
    Identity::new(CredentialSource::Metadata(meta()), project, "ua/1".into())
}

pub(super) fn answer(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn keys(n: u64, expires: SystemTime) -> Response<Vec<u8>> {
    let at = humantime::format_rfc3339_micros(expires);
    answer(
        200,
        &format!(
            r#"{{"credential":{{"access":"AK{n}","secret":"SK{n}","securitytoken":"ST{n}","expires_at":"{at}"}}}}"#
        ),
    )
}

pub(super) fn send(step: SessionStep) -> (u64, Attempt) {
    match step {
        SessionStep::Send(id, a) => (id, a),
        other => panic!("expected a request, got {other:?}"),
    }
}

pub(super) fn access_key(c: &Credentials) -> &str {
    match c {
        Credentials::AkSk { access_key, .. } => access_key,
        Credentials::Token(_) => panic!("token"),
    }
}

/// Token, then credentials: the session is ready and signs with them.
fn fetched(s: &Identity, now: Now, lifetime: Duration) {
    let (id, a) = send(s.poll(now, true));
    assert_eq!(a.request.method(), Method::PUT);
    s.handle(id, now, Ok(answer(200, "tok-1")));
    let (id, a) = send(s.poll(now, true));
    assert_eq!(a.request.uri().path(), "/openstack/latest/securitykey");
    assert_eq!(a.request.headers()["x-metadata-token"], "tok-1");
    s.handle(id, now, Ok(keys(1, now.wall + lifetime)));
}

#[test]
fn metadata_first_fetch_then_ready() {
    let s = metadata_session(Some("p1"));
    let now = start();
    assert!(s.current(now.wall).is_err());
    fetched(&s, now, Duration::from_secs(3600));
    assert!(matches!(s.poll(now, true), SessionStep::Ready));
    let c = s.current(now.wall).unwrap();
    assert_eq!(access_key(&c.credentials), "AK1");
    assert_eq!(c.project_id.as_str(), "p1");
}

#[test]
fn hosts_without_session_tokens_are_asked_without_one_for_a_day() {
    for status in [404, 405] {
        let s = metadata_session(Some("p1"));
        let now = start();
        let (id, _) = send(s.poll(now, true));
        s.handle(id, now, Ok(answer(status, "")));
        let (id, a) = send(s.poll(now, true));
        assert!(!a.request.headers().contains_key("x-metadata-token"));
        s.handle(id, now, Ok(keys(1, now.wall + Duration::from_secs(60))));
        // The refresh, 40 s later, still asks without a token.
        let later_now = now.advance(Duration::from_secs(41));
        let (_, a) = send(s.poll(later_now, true));
        assert_eq!(a.request.uri().path(), "/openstack/latest/securitykey");
    }
}

#[test]
fn a_stale_session_token_is_replaced_once() {
    let s = metadata_session(Some("p1"));
    let now = start();
    let (id, _) = send(s.poll(now, true));
    s.handle(id, now, Ok(answer(200, "tok-1")));
    let (id, _) = send(s.poll(now, true));
    s.handle(id, now, Ok(answer(401, "token expired")));
    let (id, a) = send(s.poll(now, true));
    assert_eq!(a.request.method(), Method::PUT, "a new token");
    s.handle(id, now, Ok(answer(200, "tok-2")));
    let (id, a) = send(s.poll(now, true));
    assert_eq!(a.request.headers()["x-metadata-token"], "tok-2");
    s.handle(id, now, Ok(keys(1, now.wall + Duration::from_secs(600))));
    assert!(matches!(s.poll(now, true), SessionStep::Ready));
}

#[test]
fn no_agency_fails_at_once_in_those_words() {
    let s = metadata_session(Some("p1"));
    let now = start();
    let (id, _) = send(s.poll(now, true));
    s.handle(id, now, Ok(answer(404, "")));
    let (id, _) = send(s.poll(now, true));
    s.handle(id, now, Ok(answer(401, metadata::NO_AGENCY)));
    let SessionStep::Failed(e) = s.poll(now, true) else {
        panic!("no agency is final")
    };
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.to_string().contains("no agency"), "{e}");
    assert!(e.to_string().contains(metadata::NO_AGENCY), "{e}");
    assert_eq!(s.current(now.wall).unwrap_err().to_string(), e.to_string());
}

/// Drives the session's requests with `answer` until it settles; how many
/// requests it made and how it ended.
pub(super) fn settle(
    s: &Identity,
    mut now: Now,
    answer: impl Fn() -> Result<Response<Vec<u8>>, Error>,
) -> (u32, Now, Error) {
    let mut sent = 0;
    loop {
        match s.poll(now, true) {
            SessionStep::Send(id, _) => {
                sent += 1;
                assert!(sent < 50, "no end to the requests");
                s.handle(id, now, answer());
            }
            SessionStep::Wait(t) => {
                assert!(t > now.mono, "waits must move time on");
                now = now.advance_to(t);
            }
            SessionStep::Failed(e) => return (sent, now, e),
            SessionStep::Ready => panic!("nothing to be ready with"),
        }
    }
}

#[test]
fn unreachable_metadata_fails_at_once_then_is_tried_again_later() {
    let s = metadata_session(Some("p1"));
    let refused = || {
        Err(Error::transport(
            "attempt 1 to 127.0.0.1:9 failed",
            std::io::Error::other("refused"),
        ))
    };
    let (sent, now, failure) = settle(&s, start(), refused);
    assert_eq!(sent, 1, "off the cloud, the user hears at once");
    assert_eq!(failure.kind(), ErrorKind::Transport);
    let text = crate::error::error_chain(&failure);
    assert!(
        text.contains("unreachable") && text.contains("refused"),
        "{text}"
    );
    // Held for a second for every caller, then tried again.
    assert!(matches!(
        s.poll(now.advance(Duration::from_millis(500)), true),
        SessionStep::Failed(_)
    ));
    assert!(matches!(
        s.poll(now.advance(Duration::from_secs(2)), true),
        SessionStep::Send(..)
    ));
}

#[test]
fn a_failing_service_is_tried_three_times_with_backoff() {
    let s = Identity::new(
        CredentialSource::Metadata(meta()),
        ProjectSource::Fixed(ProjectId::new("p").unwrap()),
        "ua".into(),
    );
    // No session tokens, then 503s for the credentials.
    let now = start();
    let (id, _) = send(s.poll(now, true));
    s.handle(id, now, Ok(answer(404, "")));
    let (sent, _, failure) = settle(&s, now, || Ok(answer(503, "busy")));
    assert_eq!(sent, 3);
    assert!(failure.to_string().contains("503"), "{failure}");
}

#[test]
fn credentials_already_expired_are_a_failure_not_a_loop() {
    let s = metadata_session(Some("p1"));
    let now = start();
    let (id, _) = send(s.poll(now, true));
    s.handle(id, now, Ok(answer(404, "")));
    let past = now.wall - Duration::from_secs(60);
    let (sent, _, failure) = settle(&s, now, || Ok(keys(1, past)));
    assert_eq!(sent, 3, "three tries with backoff, not a request per poll");
    assert_eq!(failure.kind(), ErrorKind::Unauthorized);
    assert!(failure.to_string().contains("expired"), "{failure}");
}

#[test]
fn an_abandoned_request_is_made_again_at_once() {
    let s = metadata_session(Some("p1"));
    let now = start();
    let (lost, _) = send(s.poll(now, true));
    s.abandon(lost);
    let (id, _) = send(s.poll(now, true));
    assert_ne!(id, lost);
}

#[test]
fn refresh_is_one_flight_and_callers_keep_unexpired_credentials() {
    let s = metadata_session(Some("p1"));
    let now = start();
    fetched(&s, now, Duration::from_secs(6));
    // Refresh is due after 4 s (a third of 6 s left).
    let at = now.advance(Duration::from_secs(4));
    let (id, _) = send(s.poll(at, true));
    for _ in 0..100 {
        assert!(
            matches!(s.poll(at, true), SessionStep::Ready),
            "others go on"
        );
    }
    assert_eq!(access_key(&s.current(at.wall).unwrap().credentials), "AK1");
    s.handle(id, at, Ok(keys(2, at.wall + Duration::from_secs(6))));
    assert_eq!(access_key(&s.current(at.wall).unwrap().credentials), "AK2");
    assert!(matches!(s.poll(at, true), SessionStep::Ready));
}

#[test]
fn a_failed_refresh_is_retried_and_fails_calls_only_after_expiry() {
    let s = metadata_session(Some("p1"));
    let now = start();
    fetched(&s, now, Duration::from_secs(60));
    let mut t = now.advance(Duration::from_secs(40));
    let mut tries = 0;
    let failure = loop {
        match s.poll(t, true) {
            SessionStep::Send(id, _) => {
                tries += 1;
                s.handle(id, t, Ok(answer(503, "busy")));
            }
            SessionStep::Ready => {
                // Still usable: credentials signed with are unexpired.
                let c = s.current(t.wall).unwrap();
                assert_eq!(access_key(&c.credentials), "AK1");
                assert!(t.wall < now.wall + Duration::from_secs(60));
                t = t.advance(Duration::from_millis(250));
            }
            SessionStep::Wait(w) => t = t.advance_to(w),
            SessionStep::Failed(e) => break e,
        }
    };
    assert!(tries >= 3, "{tries}");
    assert_eq!(failure.kind(), ErrorKind::Unauthorized);
    assert!(failure.to_string().contains("expired"), "{failure}");
    assert!(t.wall >= now.wall + Duration::from_secs(50));
}

#[test]
fn the_project_is_looked_up_once() {
    let s = metadata_session(None);
    let now = start();
    fetched(&s, now, Duration::from_secs(3600));
    let (id, a) = send(s.poll(now, true));
    assert_eq!(
        a.request.uri().to_string(),
        "http://127.0.0.1:10/v3/projects?name=cn-east-3"
    );
    assert_eq!(a.request.headers()["x-security-token"], "ST1");
    s.handle(
        id,
        now,
        Ok(answer(
            200,
            r#"{"projects":[{"id":"p-9","name":"cn-east-3"}]}"#,
        )),
    );
    for _ in 0..1000 {
        assert!(matches!(s.poll(now, true), SessionStep::Ready));
    }
    assert_eq!(s.current(now.wall).unwrap().project_id.as_str(), "p-9");
}

#[test]
fn zero_projects_fail_every_caller() {
    let s = aksk_lookup_session();
    let now = start();
    let (id, _) = send(s.poll(now, true));
    s.handle(id, now, Ok(answer(200, r#"{"projects":[]}"#)));
    let SessionStep::Failed(e) = s.poll(now, true) else {
        panic!()
    };
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(matches!(s.poll(now, true), SessionStep::Failed(_)));
}

#[test]
fn a_caller_that_cannot_send_waits_without_claiming() {
    let s = metadata_session(Some("p1"));
    let now = start();
    assert!(matches!(s.poll(now, false), SessionStep::Wait(_)));
    assert!(matches!(s.poll(now, true), SessionStep::Send(..)));
}

#[test]
fn a_lost_flight_is_made_again_after_its_deadline() {
    let s = metadata_session(Some("p1"));
    let now = start();
    let (lost, _) = send(s.poll(now, true));
    assert!(matches!(s.poll(now, true), SessionStep::Wait(_)));
    let later_now = now.advance(Duration::from_secs(5));
    let (id, _) = send(s.poll(later_now, true));
    assert_ne!(id, lost);
    s.handle(lost, later_now, Ok(answer(200, "ignored")));
    s.handle(id, later_now, Ok(answer(200, "tok")));
    let (_, a) = send(s.poll(later_now, true));
    assert_eq!(a.request.headers()["x-metadata-token"], "tok");
}

/// A service rotating credentials every `rotation`, each valid for
/// `lifetime`, answering after a delay; `issue(k, expires)` is its answer
/// with generation `k`.
pub(super) struct Model {
    pub(super) start: SystemTime,
    pub(super) rotation: Duration,
    pub(super) lifetime: Duration,
    pub(super) issue: fn(u64, SystemTime) -> Response<Vec<u8>>,
}

impl Model {
    fn generation(&self, wall: SystemTime) -> u64 {
        let t = wall.duration_since(self.start).unwrap_or_default();
        (t.as_nanos() / self.rotation.as_nanos()) as u64
    }
    fn answer(&self, wall: SystemTime) -> Response<Vec<u8>> {
        let k = self.generation(wall);
        let issued = self.start + self.rotation * k as u32;
        (self.issue)(k, issued + self.lifetime)
    }
    fn expires(&self, ak: &str) -> SystemTime {
        let k: u32 = ak.trim_start_matches("AK").parse().unwrap();
        self.start + self.rotation * k + self.lifetime
    }
}

/// Drives `s` through `steps` (time advanced, callers polling, answer
/// delay) against `model`: one request at a time, never signing with
/// expired credentials, and at most one credentials request (`issues`
/// tells them from the others, answered by `other`) per generation plus
/// the first.
pub(super) fn refresh_timing_holds(
    s: &Identity,
    model: &Model,
    now0: Now,
    steps: Vec<(u64, usize, u64)>,
    issues: fn(&Attempt) -> bool,
    other: fn() -> Response<Vec<u8>>,
) -> Result<(), TestCaseError> {
    let mut now = now0;
    let mut pending: Option<(u64, bool, Now)> = None; // flight, issues credentials, answer time
    let mut credential_requests = 0u64;
    for (advance_ms, callers, delay_ms) in steps {
        now = now.advance(Duration::from_millis(advance_ms));
        if let Some((id, issuing, at)) = pending
            && at.mono <= now.mono
        {
            let r = if issuing {
                model.answer(at.wall)
            } else {
                other()
            };
            s.handle(id, at, Ok(r));
            pending = None;
        }
        for _ in 0..=callers {
            match s.poll(now, true) {
                SessionStep::Send(id, a) => {
                    prop_assert!(pending.is_none(), "two requests at once");
                    let issuing = issues(&a);
                    credential_requests += u64::from(issuing);
                    let delay = Duration::from_millis(delay_ms).min(Duration::from_millis(2_900));
                    pending = Some((id, issuing, now.advance(delay)));
                }
                SessionStep::Ready => {
                    let c = s.current(now.wall).unwrap();
                    prop_assert!(
                        now.wall < model.expires(access_key(&c.credentials)),
                        "signing with expired keys"
                    );
                }
                SessionStep::Wait(_) | SessionStep::Failed(_) => {
                    prop_assert!(s.current(now.wall).is_err());
                }
            }
        }
    }
    let generations = model.generation(now.wall) + 1;
    prop_assert!(
        credential_requests <= generations + 1,
        "{credential_requests} requests for {generations} generations"
    );
    Ok(())
}

/// Steps for [`refresh_timing_holds`]: time advanced (ms), callers
/// polling, answer delay (ms).
pub(super) fn timing_steps() -> impl Strategy<Value = Vec<(u64, usize, u64)>> {
    proptest::collection::vec((0u64..400, 0usize..8, 0u64..2_500), 50..400)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// However callers poll and however late answers come: one request at
    /// a time, never signing with expired credentials, and at most one
    /// credentials request per rotation (plus the first).
    #[test]
    fn refresh_timing(
        rotation_ms in 500u64..5_000,
        stretch in 150u32..400,
        steps in timing_steps(),
    ) {
        let now0 = start();
        let rotation = Duration::from_millis(rotation_ms);
        let model = Model { start: now0.wall, rotation, lifetime: rotation * stretch / 100, issue: keys };
        let s = Identity::new(
            CredentialSource::Metadata(meta()),
            ProjectSource::Fixed(ProjectId::new("p").unwrap()),
            "ua".into(),
        );
        let is_key = |a: &Attempt| a.request.method() == Method::GET;
        refresh_timing_holds(&s, &model, now0, steps, is_key, || answer(200, "tok"))?;
    }
}

#[test]
fn a_lookup_refused_for_clock_skew_is_signed_again_with_the_gateway_time() {
    let s = aksk_lookup_session();
    let now = start();
    let (id, first) = send(s.poll(now, true));
    let gateway = now.wall + Duration::from_secs(3600);
    let expired = Response::builder()
        .status(401)
        .header(http::header::DATE, httpdate::fmt_http_date(gateway))
        .body(br#"{"error_msg":"The request has expired","error_code":"APIGW.0301"}"#.to_vec())
        .unwrap();
    s.handle(id, now, Ok(expired));
    let (_, again) = send(s.poll(now, true));
    assert_eq!(s.skew(), Some(ClockSkew::from_secs(3600)));
    assert_ne!(
        first.request.headers()["x-sdk-date"],
        again.request.headers()["x-sdk-date"]
    );
    assert_eq!(
        again.request.headers()["x-sdk-date"],
        crate::wire::signing::format_sdk_date(gateway).as_str()
    );
}

#[test]
fn a_lookup_is_signed_again_for_skew_once_per_round() {
    let s = aksk_lookup_session();
    // A gateway whose Date jitters by minutes between answers.
    let n = std::cell::Cell::new(0u64);
    let now = start();
    let (sent, _, failure) = settle(&s, now, || {
        n.set(n.get() + 1);
        let date = now.wall + Duration::from_secs(3600 + 400 * (n.get() % 2));
        Ok(Response::builder()
            .status(401)
            .header(http::header::DATE, httpdate::fmt_http_date(date))
            .body(br#"{"error_msg":"The request has expired","error_code":"APIGW.0301"}"#.to_vec())
            .unwrap())
    });
    assert_eq!(sent, 2, "one lookup and one signed again, then the error");
    assert_eq!(failure.kind(), ErrorKind::Unauthorized);
}

/// A call signed with a corrected clock, after the gateway's clock was
/// fixed: the correction is undone, and the call succeeds.
#[test]
fn a_skew_correction_is_undone_when_the_clocks_agree_again() {
    use crate::machine::{Machine, Step};
    let config = crate::Session::new(
        crate::Config::builder()
            .endpoint(meta())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::ak_sk("AK", "SK").unwrap())
            .max_attempts(1)
            .build()
            .unwrap(),
    );
    let now = start();
    let expired = |gateway: SystemTime| {
        Response::builder()
            .status(401)
            .header(http::header::DATE, httpdate::fmt_http_date(gateway))
            .body(br#"{"error_msg":"The request has expired","error_code":"APIGW.0301"}"#.to_vec())
            .unwrap()
    };
    let ok = || answer(200, r#"{"state":"running"}"#);
    for (gateway, want) in [
        (
            now.wall + Duration::from_secs(3600),
            Some(ClockSkew::from_secs(3600)),
        ),
        (now.wall, None),
    ] {
        let mut call = crate::Call::new(&config, crate::InstanceId::new("i").unwrap(), now, 1);
        let Step::Send(_) = call.poll(now) else {
            panic!()
        };
        call.handle_response(now, expired(gateway));
        let Step::Send(again) = call.poll(now) else {
            panic!("signed again, outside the one attempt allowed")
        };
        assert_eq!(
            again.request.headers()["x-sdk-date"],
            crate::wire::signing::format_sdk_date(gateway).as_str()
        );
        call.handle_response(now, ok());
        assert!(matches!(call.poll(now), Step::Done(Ok(_))));
        assert_eq!(config.clock_skew(), want);
    }
}
