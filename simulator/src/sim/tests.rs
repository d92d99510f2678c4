//! Tests of the heart with a fake clock and no socket.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clouddc_core::http::{Method, Request, StatusCode};
use clouddc_core::parse_sdk_date;
use clouddc_core::{
    Config, Credentials, Endpoint, ErrorType, InstanceId, InstanceState, InstanceStatus, ProjectId,
    Session, build_status_request,
};
use serde_json::{Value, json};

use super::*;
use crate::auth::Auth;
use crate::bucket::RateLimit;
use crate::decision::{Decision, Delivery};
use crate::faults::{FaultKind, OversizedBody, ServerError, StallBody, StallHeaders, Trigger};
use crate::op::{NewInstance, Op, Outcome};
use crate::reply::Reply;

const P: &str = "proj-1";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sim_with(auth: Auth) -> (Simulator, Instant) {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .auth(auth)
        .build()
        .unwrap();
    (Simulator::new(&config, t0), t0)
}

fn sim() -> (Simulator, Instant) {
    sim_with(Auth::token("good-token"))
}

fn get(path: &str) -> Request<Vec<u8>> {
    Request::get(path)
        .header("Host", "127.0.0.1:8080")
        .header("X-Auth-Token", "good-token")
        .body(Vec::new())
        .unwrap()
}

fn status_path(id: &str) -> String {
    format!("/v1/{P}/instances/{id}/status")
}

fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_860_900)
}

fn reply(d: &Decision) -> &Reply {
    d.reply().expect("a reply")
}

fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&r.body)))
}

fn parsed(d: &Decision) -> InstanceStatus {
    let r = reply(d);
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    serde_json::from_slice(&r.body).unwrap()
}

fn make(sim: &mut Simulator, id: &str, schedule: Schedule, at: Instant) {
    sim.create_instance(NewInstance::new().with_id(id).with_schedule(schedule), at)
        .unwrap();
}

fn admin(
    sim: &mut Simulator,
    method: &str,
    path: &str,
    body: Value,
    at: Instant,
) -> (StatusCode, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(body)
        .unwrap();
    let d = sim.handle(&req, at, wall());
    let r = reply(&d);
    assert!(r.request_id().is_some());
    (r.status, json_of(r))
}

// ---------------------------------------------------------------- life cycle

#[test]
fn a_query_follows_the_schedule() {
    let (mut sim, t0) = sim();
    make(&mut sim, "ins-1", Schedule::pending_for(ms(3000)), t0);
    let req = get(&status_path("ins-1"));
    let st = parsed(&sim.handle(&req, t0 + ms(2999), wall()));
    assert_eq!(st.state, InstanceState::Pending);
    let d = sim.handle(&req, t0 + ms(3000), wall());
    let r = reply(&d);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        std::str::from_utf8(&r.body).unwrap(),
        r#"{"state":"running","operation_state":"install-succeed"}"#
    );
    // Fields are left out when the life cycle has not set them.
    sim.act("ins-1", Action::PowerOff, t0 + ms(3000)).unwrap();
    let v = json_of(reply(&sim.handle(&req, t0 + ms(9000), wall())));
    assert_eq!(v["state"], "stopped");
    assert!(v.get("error").is_none());
}

#[test]
fn a_failed_creation_is_a_200_with_an_error_object() {
    let (mut sim, t0) = sim();
    make(&mut sim, "bad", Schedule::failing_after(ms(10)), t0);
    let st = parsed(&sim.handle(&get(&status_path("bad")), t0 + ms(10), wall()));
    assert_eq!(st.state, InstanceState::Error);
    let e = st.error.unwrap();
    assert_eq!(e.error_type, Some(ErrorType::CreateInstanceError));
    assert!(e.error_msg.unwrap().contains("simulated"));
}

#[test]
fn ids_are_percent_decoded_per_segment() {
    let (mut sim, t0) = sim();
    make(&mut sim, "a/b c", Schedule::instant(), t0);
    // `/` travels as %2F inside one segment.
    let st = parsed(&sim.handle(&get(&status_path("a%2Fb%20c")), t0, wall()));
    assert_eq!(st.state, InstanceState::Running);
    // Split into two segments it is another route.
    let d = sim.handle(&get(&status_path("a/b%20c")), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::NOT_FOUND);
    assert_eq!(json_of(reply(&d))["error_code"], "APIGW.0101");
    // The project id is decoded too.
    let d = sim.handle(&get("/v1/proj%2D1/instances/a%2Fb%20c/status"), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::OK);
}

#[test]
fn forgotten_instances_answer_404() {
    let (mut sim, t0) = sim();
    let sched = Schedule {
        forget_after: Some(ms(500)),
        ..Schedule::instant()
    };
    make(&mut sim, "gone", sched, t0);
    sim.act("gone", Action::Delete { fail: false }, t0).unwrap();
    let req = get(&status_path("gone"));
    assert_eq!(
        parsed(&sim.handle(&req, t0 + ms(499), wall())).state,
        InstanceState::Terminated
    );
    let d = sim.handle(&req, t0 + ms(500), wall());
    assert_eq!(reply(&d).status, StatusCode::NOT_FOUND);
    assert!(sim.instances(t0 + ms(500)).is_empty());
}

#[test]
fn advancing_the_clock_skips_schedules() {
    let (mut sim, t0) = sim();
    make(
        &mut sim,
        "slow",
        Schedule::pending_for(Duration::from_secs(600)),
        t0,
    );
    sim.apply(Op::AdvanceClock(Duration::from_secs(600)), t0)
        .unwrap();
    assert_eq!(
        sim.instance("slow", t0).map(|v| v.status()).unwrap().state,
        InstanceState::Running
    );
    assert!(sim.elapsed(t0) >= Duration::from_secs(600));
    assert!(
        sim.apply(Op::AdvanceClock(Duration::from_secs(31 * 24 * 3600)), t0)
            .is_err()
    );
}

#[test]
fn actions_refused_in_the_wrong_state_say_why() {
    let (mut sim, t0) = sim();
    make(&mut sim, "p", Schedule::pending_for(ms(1000)), t0);
    let e = sim.act("p", Action::PowerOff, t0).unwrap_err();
    assert_eq!(e.kind(), "conflict");
    assert!(e.to_string().contains("while it is pending"), "{e}");
    assert_eq!(
        sim.act("nope", Action::PowerOff, t0).unwrap_err().kind(),
        "unknown_instance"
    );
    let dup = sim
        .create_instance(NewInstance::new().with_id("p"), t0)
        .unwrap_err();
    assert_eq!(dup.kind(), "duplicate");
    let bad = sim
        .create_instance(NewInstance::new().with_id("a\nb"), t0)
        .unwrap_err();
    assert_eq!(bad.kind(), "invalid");
}

// ------------------------------------------------------------------- seeding

#[test]
fn the_initial_mix_is_fixed_by_the_seed() {
    let t0 = Instant::now();
    let make = |seed| {
        let c = SimConfig::builder()
            .instances(50)
            .seed(seed)
            .build()
            .unwrap();
        let mut s = Simulator::new(&c, t0);
        s.instances(t0)
            .into_iter()
            .map(|v| (v.id, v.state, v.next.map(|n| n.in_ms)))
            .collect::<Vec<_>>()
    };
    let a = make(3);
    assert_eq!(a, make(3));
    assert_ne!(a, make(4));
    assert_eq!(a.len(), 50);
    let ids: BTreeSet<&String> = a.iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids.len(), 50, "ids are unique");
    assert!(
        a.iter()
            .all(|(id, _, _)| id.starts_with("ins-") && id.len() == 12)
    );
    // The mix has every kind of life in it.
    let states: BTreeSet<String> = a.iter().map(|(_, s, _)| s.to_string()).collect();
    for s in ["pending", "running", "stopped", "shutting-down"] {
        assert!(states.contains(s), "{s} missing from {states:?}");
    }
    // And in time the pending ones settle, some in error.
    let c = SimConfig::builder().instances(50).seed(3).build().unwrap();
    let mut s = Simulator::new(&c, t0);
    let later: BTreeSet<String> = s
        .instances(t0 + Duration::from_secs(10))
        .into_iter()
        .map(|v| v.state.to_string())
        .collect();
    assert!(
        later.contains("error") && later.contains("terminated"),
        "{later:?}"
    );
    assert!(!later.contains("pending"));
}

#[test]
fn reset_restores_the_start() {
    let t0 = Instant::now();
    let c = SimConfig::builder()
        .instances(5)
        .seed(9)
        .token_bucket(1.0)
        .build()
        .unwrap();
    let mut s = Simulator::new(&c, t0);
    let first: Vec<String> = s.instances(t0).into_iter().map(|v| v.id).collect();
    let _ = s.handle(&get(&status_path(&first[0])), t0, wall());
    s.create_instance(NewInstance::new().with_id("extra"), t0)
        .unwrap();
    s.apply(Op::SetFaults(Faults::none()), t0).unwrap();
    let d = s.handle(&get("/v1/x/instances/y/status"), t0, wall());
    let before = d.request_id;
    s.apply(Op::Reset { instances: None }, t0 + ms(10)).unwrap();
    let again: Vec<String> = s.instances(t0).into_iter().map(|v| v.id).collect();
    assert_eq!(first, again);
    assert_eq!(s.global_counters(), &Counters::default());
    assert!(
        s.faults().rate_limit.is_some(),
        "configured faults come back"
    );
    let d = s.handle(&get("/v1/x/instances/y/status"), t0, wall());
    assert_ne!(
        d.request_id, before,
        "request ids stay unique across resets"
    );
    s.reset_with(0, t0);
    assert!(s.instances(t0).is_empty());
}

// ---------------------------------------------------------------- request ids

#[test]
fn every_response_has_a_unique_request_id() {
    let (mut sim, t0) = sim();
    make(&mut sim, "i", Schedule::instant(), t0);
    let mut seen = BTreeSet::new();
    let paths = [
        status_path("i"),
        status_path("x"),
        "/nope".to_owned(),
        "/_sim/counters".to_owned(),
    ];
    for n in 0..200 {
        let d = sim.handle(&get(&paths[n % paths.len()]), t0, wall());
        let r = reply(&d);
        let id = r.request_id().unwrap().to_owned();
        assert_eq!(id, d.request_id);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(seen.insert(id), "duplicate request id");
    }
}

// ------------------------------------------------------------------- routing

#[test]
fn routes_methods_projects_and_unknown_instances() {
    let (mut sim, t0) = sim();
    make(&mut sim, "i", Schedule::instant(), t0);
    for path in [
        "/",
        "/v1",
        "/v1/proj-1/instances/i",
        "/v1/proj-1/instances/i/status/",
        "/v2/proj-1/instances/i/status",
        "/v1//instances/i/status",
    ] {
        let d = sim.handle(&get(path), t0, wall());
        assert_eq!(reply(&d).status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json_of(reply(&d))["error_code"], "APIGW.0101", "{path}");
    }
    let post = Request::post(status_path("i"))
        .header("X-Auth-Token", "good-token")
        .body(Vec::new())
        .unwrap();
    let d = sim.handle(&post, t0, wall());
    assert_eq!(reply(&d).status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply(&d).headers["allow"], "GET");
    assert!(
        json_of(reply(&d))["error_msg"]
            .as_str()
            .unwrap()
            .contains("POST")
    );

    let d = sim.handle(&get("/v1/other/instances/i/status"), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::FORBIDDEN);
    let v = json_of(reply(&d));
    assert_eq!(v["error_code"], "APIGW.0302");
    assert!(v["error_msg"].as_str().unwrap().contains("'other'"));

    let d = sim.handle(&get(&status_path("ghost")), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::NOT_FOUND);
    let v = json_of(reply(&d));
    assert_eq!(v["error_code"], "CLOUDDC.0404");
    assert!(v["error_msg"].as_str().unwrap().contains("'ghost'"));

    let c = &sim.counters();
    assert_eq!(c.global.requests, 9);
    assert_eq!(c.global.by_status[&404], 7);
    assert_eq!(c.global.by_status[&405], 1);
    assert_eq!(c.global.by_status[&403], 1);
    // Requests that name a known instance of the project count for it,
    // whatever their outcome (here the POST).
    assert_eq!(c.instances["i"].requests, 1);
}

// ---------------------------------------------------------------------- auth

#[test]
fn token_auth() {
    let (mut sim, t0) = sim();
    make(&mut sim, "i", Schedule::instant(), t0);
    let path = status_path("i");
    let with = |token: Option<&str>| {
        let mut b = Request::get(path.as_str());
        if let Some(t) = token {
            b = b.header("X-Auth-Token", t);
        }
        b.body(Vec::new()).unwrap()
    };
    assert_eq!(
        reply(&sim.handle(&with(Some("good-token")), t0, wall())).status,
        StatusCode::OK
    );
    for (req, says) in [
        (with(None), "no X-Auth-Token"),
        (with(Some("bad-token")), "not valid"),
        (with(Some("good-token ")), "not valid"),
    ] {
        let d = sim.handle(&req, t0, wall());
        let r = reply(&d);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.request_id().is_some());
        let v = json_of(r);
        assert_eq!(v["error_code"], "APIGW.0301");
        let msg = v["error_msg"].as_str().unwrap();
        assert!(
            msg.starts_with("Incorrect IAM authentication information: "),
            "{msg}"
        );
        assert!(msg.contains(says), "{msg}");
        assert!(!msg.contains("good-token"), "never echo the secret");
    }
}

#[test]
fn any_token_auth_accepts_anything_but_nothing() {
    let (mut sim, t0) = sim_with(Auth::AnyToken);
    make(&mut sim, "i", Schedule::instant(), t0);
    let path = format!("/v1/{P}/instances/i/status");
    let ok = Request::get(path.as_str())
        .header("X-Auth-Token", "whatever")
        .body(Vec::new())
        .unwrap();
    assert_eq!(reply(&sim.handle(&ok, t0, wall())).status, StatusCode::OK);
    let none = Request::get(path.as_str()).body(Vec::new()).unwrap();
    assert_eq!(
        reply(&sim.handle(&none, t0, wall())).status,
        StatusCode::UNAUTHORIZED
    );
    // A signed request with any key passes, if its date is fresh.
    let req = signed(Credentials::ak_sk("ANYAK", "anysk").unwrap(), "i", wall());
    assert_eq!(reply(&sim.handle(&req, t0, wall())).status, StatusCode::OK);
    let stale = signed(
        Credentials::ak_sk("ANYAK", "anysk").unwrap(),
        "i",
        wall() - Duration::from_secs(3600),
    );
    assert_eq!(
        reply(&sim.handle(&stale, t0, wall())).status,
        StatusCode::UNAUTHORIZED
    );
}

fn core_config(creds: Credentials) -> Config {
    Config::builder()
        .endpoint(Endpoint::parse("http://127.0.0.1:8080").unwrap())
        .project_id(ProjectId::new(P).unwrap())
        .credentials(creds)
        .build()
        .unwrap()
}

fn signed(creds: Credentials, id: &str, at: SystemTime) -> Request<Vec<u8>> {
    build_status_request(
        &Session::new(core_config(creds)),
        &InstanceId::new(id).unwrap(),
        at,
    )
    .unwrap()
}

const AK: &str = "HPUAEXAMPLEAK000001";
const SK: &str = "exampleSecretKey0000000000000000000000001";

fn aksk_sim() -> (Simulator, Instant) {
    let (mut sim, t0) = sim_with(Auth::ak_sk(AK, SK));
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    make(&mut sim, "a/b", Schedule::instant(), t0);
    (sim, t0)
}

fn detail(d: &Decision) -> String {
    let r = reply(d);
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    json_of(r)["error_msg"].as_str().unwrap().to_owned()
}

#[test]
fn aksk_accepts_what_the_core_signs() {
    let (mut sim, t0) = aksk_sim();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    let req = signed(creds.clone(), "ins-1", wall());
    assert!(
        req.uri()
            .to_string()
            .starts_with("http://127.0.0.1:8080/v1/")
    );
    assert_eq!(
        parsed(&sim.handle(&req, t0, wall())).state,
        InstanceState::Running
    );
    // An id with `/` travels as %2F and is signed as two pieces: still valid.
    let req = signed(creds, "a/b", wall());
    assert!(req.uri().path().contains("a%2Fb"));
    assert_eq!(
        parsed(&sim.handle(&req, t0, wall())).state,
        InstanceState::Running
    );
}

#[test]
fn aksk_rejects_tampering_wrong_keys_and_token_auth() {
    let (mut sim, t0) = aksk_sim();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    let good = signed(creds, "ins-1", wall());

    // The path changed after signing (asks for another instance).
    let mut tampered = good.clone();
    *tampered.uri_mut() = "http://127.0.0.1:8080/v1/proj-1/instances/a%2Fb/status"
        .parse()
        .unwrap();
    assert!(detail(&sim.handle(&tampered, t0, wall())).contains("signature mismatch"));

    // A signed header changed.
    let mut tampered = good.clone();
    tampered
        .headers_mut()
        .insert("x-project-id", "proj-2".parse().unwrap());
    assert!(detail(&sim.handle(&tampered, t0, wall())).contains("signature mismatch"));

    // The signature itself changed.
    let mut tampered = good.clone();
    let auth = tampered.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let last = auth.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &auth[..auth.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    tampered
        .headers_mut()
        .insert("authorization", flipped.parse().unwrap());
    assert!(detail(&sim.handle(&tampered, t0, wall())).contains("signature mismatch"));

    // Wrong secret, unknown access key.
    let wrong = signed(
        Credentials::ak_sk(AK, "not-the-secret").unwrap(),
        "ins-1",
        wall(),
    );
    assert!(detail(&sim.handle(&wrong, t0, wall())).contains("signature mismatch"));
    let stranger = signed(Credentials::ak_sk("OTHERAK", SK).unwrap(), "ins-1", wall());
    assert!(detail(&sim.handle(&stranger, t0, wall())).contains("unknown access key"));

    // A token is not what this simulator wants.
    let token = signed(Credentials::token("t").unwrap(), "ins-1", wall());
    assert!(detail(&sim.handle(&token, t0, wall())).contains("expects AK/SK"));
    let bare = Request::get(status_path("ins-1")).body(Vec::new()).unwrap();
    assert!(detail(&sim.handle(&bare, t0, wall())).contains("no Authorization"));
    // Garbage in Authorization.
    let mut junk = good;
    junk.headers_mut()
        .insert("authorization", "Bearer abc".parse().unwrap());
    assert!(detail(&sim.handle(&junk, t0, wall())).contains("malformed"));
}

#[test]
fn aksk_checks_the_date_within_15_minutes() {
    let (mut sim, t0) = aksk_sim();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    for (offset_s, ok) in [
        (-900i64, true),
        (900, true),
        (-901, false),
        (901, false),
        (-7200, false),
    ] {
        let at = if offset_s < 0 {
            wall() - Duration::from_secs(offset_s.unsigned_abs())
        } else {
            wall() + Duration::from_secs(offset_s.unsigned_abs())
        };
        let d = sim.handle(&signed(creds.clone(), "ins-1", at), t0, wall());
        if ok {
            assert_eq!(reply(&d).status, StatusCode::OK, "{offset_s}");
        } else {
            // The vendor's exact body, with the request id of the header.
            let r = reply(&d);
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            assert_eq!(
                std::str::from_utf8(&r.body).unwrap(),
                format!(
                    r#"{{"error_msg":"Incorrect IAM authentication information: The request has expired","error_code":"APIGW.0301","request_id":"{}"}}"#,
                    r.request_id().unwrap()
                )
            );
            assert_eq!(r.headers["date"], httpdate::fmt_http_date(wall()));
        }
    }
    let mut undated = signed(creds, "ins-1", wall());
    undated.headers_mut().remove("x-sdk-date");
    assert!(!detail(&sim.handle(&undated, t0, wall())).is_empty());
}

#[test]
fn aksk_with_a_security_token() {
    let (mut sim, t0) = sim_with(Auth::temporary(AK, SK, "st-123"));
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    let ok = signed(
        Credentials::temporary(AK, SK, "st-123").unwrap(),
        "ins-1",
        wall(),
    );
    assert!(ok.headers().contains_key("x-security-token"));
    assert_eq!(reply(&sim.handle(&ok, t0, wall())).status, StatusCode::OK);
    let wrong = signed(
        Credentials::temporary(AK, SK, "st-999").unwrap(),
        "ins-1",
        wall(),
    );
    assert!(detail(&sim.handle(&wrong, t0, wall())).contains("X-Security-Token is not valid"));
    let missing = signed(Credentials::ak_sk(AK, SK).unwrap(), "ins-1", wall());
    assert!(detail(&sim.handle(&missing, t0, wall())).contains("required"));
    // Permanent credentials refuse a security token.
    let (mut perm, t0) = aksk_sim();
    assert!(detail(&perm.handle(&ok, t0, wall())).contains("permanent"));
}

#[test]
fn aksk_x_project_id_must_match() {
    let (mut sim, t0) = sim_with(Auth::ak_sk(AK, SK));
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    // Signed for another project: the path and X-Project-Id both name it.
    let cfg = Config::builder()
        .endpoint(Endpoint::parse("http://127.0.0.1:8080").unwrap())
        .project_id(ProjectId::new("elsewhere").unwrap())
        .credentials(Credentials::ak_sk(AK, SK).unwrap())
        .build()
        .unwrap();
    let req = build_status_request(
        &Session::new(cfg),
        &InstanceId::new("ins-1").unwrap(),
        wall(),
    )
    .unwrap();
    let d = sim.handle(&req, t0, wall());
    assert_eq!(reply(&d).status, StatusCode::FORBIDDEN);
}

/// Requests signed by the vendor's own Python SDK (the vectors beside the
/// core) are accepted as they are.
#[test]
fn vendor_signed_requests_are_accepted() {
    #[derive(serde::Deserialize)]
    struct V {
        name: String,
        host: String,
        path: String,
        project_id: String,
        instance_id: String,
        ak: String,
        sk: String,
        headers_before_signing: BTreeMap<String, String>,
        authorization: String,
    }
    #[derive(serde::Deserialize)]
    struct File {
        vectors: Vec<V>,
    }
    let file: File = serde_json::from_str(include_str!(
        "../../../core/tests/data/signing-vectors.json"
    ))
    .expect("the vendor vectors parse");
    assert_eq!(file.vectors.len(), 3);
    for v in file.vectors {
        let st = v.headers_before_signing.get("X-Security-Token").cloned();
        let auth = match &st {
            Some(st) => Auth::temporary(&v.ak, &v.sk, st),
            None => Auth::ak_sk(&v.ak, &v.sk),
        };
        let t0 = Instant::now();
        let config = SimConfig::builder()
            .project_id(&v.project_id)
            .auth(auth)
            .build()
            .unwrap();
        let mut sim = Simulator::new(&config, t0);
        make(&mut sim, &v.instance_id, Schedule::instant(), t0);
        let mut b = Request::get(v.path.as_str()).header("Host", v.host.as_str());
        for (k, val) in &v.headers_before_signing {
            b = b.header(k.as_str(), val.as_str());
        }
        let req = b
            .header("Authorization", v.authorization.as_str())
            .body(Vec::new())
            .unwrap();
        let date = parse_sdk_date(&v.headers_before_signing["X-Sdk-Date"]).unwrap();
        let d = sim.handle(&req, t0, date + Duration::from_secs(60));
        assert_eq!(
            reply(&d).status,
            StatusCode::OK,
            "{}: {:?}",
            v.name,
            String::from_utf8_lossy(&reply(&d).body)
        );
        // One byte of the signature off: refused.
        let mut bad = req.clone();
        let a = v.authorization.replace("Signature=", "Signature=0");
        bad.headers_mut()
            .insert("authorization", a[..a.len() - 1].parse().unwrap());
        assert_eq!(
            reply(&sim.handle(&bad, t0, date)).status,
            StatusCode::UNAUTHORIZED,
            "{}",
            v.name
        );
    }
}

// ---------------------------------------------------------------- rate limit

#[test]
fn rate_limit_answers_429_in_plain_text_with_retry_after() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .auth(Auth::token("good-token"))
        .token_bucket(2.0)
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    make(&mut sim, "i", Schedule::instant(), t0);
    let req = get(&status_path("i"));
    let statuses: Vec<u16> = (0..4)
        .map(|_| reply(&sim.handle(&req, t0, wall())).status.as_u16())
        .collect();
    assert_eq!(statuses, [200, 200, 429, 429]);
    let d = sim.handle(&req, t0 + ms(100), wall());
    assert_eq!(d.fault, Some(FaultKind::RateLimit));
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "1");
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        serde_json::from_slice::<Value>(&r.body).is_err(),
        "a plain string, not JSON"
    );
    assert!(
        std::str::from_utf8(&r.body)
            .unwrap()
            .contains("Too Many Requests")
    );
    assert!(r.request_id().is_some());
    // One token back after 500 ms.
    assert_eq!(
        reply(&sim.handle(&req, t0 + ms(500), wall())).status,
        StatusCode::OK
    );
    let c = sim.counters();
    assert_eq!(c.global.throttled, 3);
    assert_eq!(c.instances["i"].throttled, 3);
    assert_eq!(c.instances["i"].requests, 6);
    assert!(
        c.global.faults.is_empty(),
        "429s are counted as throttled only"
    );
}

#[test]
fn per_instance_rate_limits_are_separate_and_retry_after_rounds_up() {
    let (mut sim, t0) = sim();
    let slow = Faults {
        rate_limit: Some(RateLimit::per_second(0.25)),
        ..Faults::none()
    };
    sim.create_instance(
        NewInstance::new()
            .with_id("slow")
            .with_schedule(Schedule::instant())
            .with_faults(slow),
        t0,
    )
    .unwrap();
    make(&mut sim, "fast", Schedule::instant(), t0);
    let s = get(&status_path("slow"));
    let f = get(&status_path("fast"));
    assert_eq!(reply(&sim.handle(&s, t0, wall())).status, StatusCode::OK);
    let d = sim.handle(&s, t0 + ms(1), wall());
    assert_eq!(reply(&d).status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply(&d).headers["retry-after"], "4");
    for _ in 0..20 {
        assert_eq!(reply(&sim.handle(&f, t0, wall())).status, StatusCode::OK);
    }
    let c = sim.counters();
    assert_eq!(
        (c.instances["slow"].throttled, c.instances["fast"].throttled),
        (1, 0)
    );
    assert_eq!(
        reply(&sim.handle(&s, t0 + ms(4000), wall())).status,
        StatusCode::OK
    );
}

#[test]
fn a_refused_request_takes_no_token_from_the_other_bucket() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .auth(Auth::token("good-token"))
        .token_bucket(1.0)
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    let tight = Faults {
        rate_limit: Some(RateLimit::per_second(1.0)),
        ..Faults::none()
    };
    sim.create_instance(
        NewInstance::new()
            .with_id("a")
            .with_schedule(Schedule::instant())
            .with_faults(tight),
        t0,
    )
    .unwrap();
    make(&mut sim, "b", Schedule::instant(), t0);
    assert_eq!(
        reply(&sim.handle(&get(&status_path("a")), t0, wall())).status,
        StatusCode::OK
    );
    // Both buckets are empty now; "b" is refused by the global one.
    assert_eq!(
        reply(&sim.handle(&get(&status_path("b")), t0, wall())).status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // After one second both have one token again.
    assert_eq!(
        reply(&sim.handle(&get(&status_path("a")), t0 + ms(1000), wall())).status,
        StatusCode::OK
    );
}

// -------------------------------------------------------------------- faults

fn faulty(faults: Faults) -> (Simulator, Instant, Request<Vec<u8>>) {
    let (mut sim, t0) = sim();
    make(&mut sim, "i", Schedule::instant(), t0);
    sim.apply(Op::SetFaults(faults), t0).unwrap();
    (sim, t0, get(&status_path("i")))
}

#[test]
fn fault_reset() {
    let (mut sim, t0, req) = faulty(Faults {
        reset: Some(Trigger::always().with_times(1)),
        ..Faults::none()
    });
    let d = sim.handle(&req, t0, wall());
    assert_eq!(d.delivery, Delivery::Reset);
    assert_eq!(d.fault, Some(FaultKind::Reset));
    assert!(d.reply().is_none());
    assert_eq!(reply(&sim.handle(&req, t0, wall())).status, StatusCode::OK);
    let c = sim.counters();
    assert_eq!(c.global.faults["reset"], 1);
    assert_eq!(c.instances["i"].faults, 1);
    assert_eq!(c.global.requests, 2);
    assert_eq!(c.global.by_status.get(&200), Some(&1));
}

#[test]
fn fault_stalled_headers() {
    let stall = StallHeaders {
        hold: ms(1500),
        ..StallHeaders::default()
    };
    let (mut sim, t0, req) = faulty(Faults {
        stall_headers: Some(stall),
        ..Faults::none()
    });
    let d = sim.handle(&req, t0, wall());
    assert_eq!(d.delivery, Delivery::StallHeaders { hold: ms(1500) });
}

#[test]
fn fault_stalled_body_keeps_the_real_reply() {
    let stall = StallBody {
        after_bytes: 5,
        trickle: Some(ms(20)),
        hold: ms(900),
        ..StallBody::default()
    };
    let (mut sim, t0, req) = faulty(Faults {
        stall_body: Some(stall),
        ..Faults::none()
    });
    let d = sim.handle(&req, t0, wall());
    let Delivery::StallBody {
        reply,
        after_bytes,
        trickle,
        hold,
    } = &d.delivery
    else {
        panic!("{:?}", d.delivery);
    };
    assert_eq!((*after_bytes, *trickle, *hold), (5, Some(ms(20)), ms(900)));
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.request_id().is_some());
    assert_eq!(json_of(reply)["state"], "running");
}

#[test]
fn fault_server_error_and_html_502() {
    let (mut sim, t0, req) = faulty(Faults {
        server_error: Some(ServerError::status(503).with_times(1)),
        html_502: Some(Trigger::always().with_times(1)),
        ..Faults::none()
    });
    let d = sim.handle(&req, t0, wall());
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    let v = json_of(r);
    assert_eq!(v["error_code"], "CLOUDDC.503");
    assert!(v["error_msg"].as_str().unwrap().contains("simulated"));
    let d = sim.handle(&req, t0, wall());
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.headers["content-type"], "text/html");
    assert!(
        std::str::from_utf8(&r.body)
            .unwrap()
            .contains("<h1>502 Bad Gateway</h1>")
    );
    assert!(r.request_id().is_some());
    assert_eq!(reply(&sim.handle(&req, t0, wall())).status, StatusCode::OK);
}

#[test]
fn fault_oversized_body_is_valid_json_of_the_asked_size() {
    let (mut sim, t0, req) = faulty(Faults {
        oversized_body: Some(OversizedBody::default()),
        ..Faults::none()
    });
    let d = sim.handle(&req, t0, wall());
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 1024 * 1024 + 1);
    let v = json_of(r);
    assert_eq!(v["state"], "running");
    let small = OversizedBody {
        bytes: 100,
        ..OversizedBody::default()
    };
    sim.apply(
        Op::SetFaults(Faults {
            oversized_body: Some(small),
            ..Faults::none()
        }),
        t0,
    )
    .unwrap();
    let d = sim.handle(&req, t0, wall());
    assert_eq!(reply(&d).body.len(), 100);
    assert_eq!(json_of(reply(&d))["state"], "running");
}

#[test]
fn fault_invalid_json() {
    let (mut sim, t0, req) = faulty(Faults {
        invalid_json: Some(Trigger::always()),
        ..Faults::none()
    });
    let d = sim.handle(&req, t0, wall());
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(!r.body.is_empty());
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
}

#[test]
fn fault_latency_applies_to_every_answer() {
    let (mut sim, t0, req) = faulty(Faults {
        latency: Some(ms(250)),
        ..Faults::none()
    });
    let d = sim.handle(&req, t0, wall());
    assert_eq!(d.delay, ms(250));
    assert_eq!(d.fault, None);
    assert_eq!(reply(&d).status, StatusCode::OK);
    // Per-instance latency wins over the global one.
    sim.apply(
        Op::SetInstanceFaults {
            id: "i".to_owned(),
            faults: Faults {
                latency: Some(ms(5)),
                ..Faults::none()
            },
        },
        t0,
    )
    .unwrap();
    assert_eq!(sim.handle(&req, t0, wall()).delay, ms(5));
}

#[test]
fn instance_faults_come_first_and_apply_to_that_instance_only() {
    let (mut sim, t0, req) = faulty(Faults {
        html_502: Some(Trigger::always()),
        ..Faults::none()
    });
    make(&mut sim, "j", Schedule::instant(), t0);
    sim.apply(
        Op::SetInstanceFaults {
            id: "i".to_owned(),
            faults: Faults {
                reset: Some(Trigger::always()),
                ..Faults::none()
            },
        },
        t0,
    )
    .unwrap();
    assert_eq!(sim.handle(&req, t0, wall()).delivery, Delivery::Reset);
    let d = sim.handle(&get(&status_path("j")), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::BAD_GATEWAY);
    // Global faults hit unknown instances as well; auth failures are not faulted.
    let d = sim.handle(&get(&status_path("ghost")), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::BAD_GATEWAY);
    let mut anon = get(&status_path("j"));
    anon.headers_mut().remove("x-auth-token");
    assert_eq!(
        reply(&sim.handle(&anon, t0, wall())).status,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn fault_rates_are_replayed_by_seed() {
    let run = |seed: u64| {
        let t0 = Instant::now();
        let c = SimConfig::builder()
            .project_id(P)
            .seed(seed)
            .faults(Faults {
                server_error: Some(ServerError::default().with_rate(0.5)),
                ..Faults::none()
            })
            .build()
            .unwrap();
        let mut sim = Simulator::new(&c, t0);
        make(&mut sim, "i", Schedule::instant(), t0);
        (0..64)
            .map(|_| {
                reply(&sim.handle(&get(&status_path("i")), t0, wall()))
                    .status
                    .as_u16()
            })
            .collect::<Vec<_>>()
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a, run(12));
    assert!(a.contains(&500) && a.contains(&200));
}

// --------------------------------------------------------------- arrival log

#[test]
fn every_api_request_is_logged_at_its_real_arrival() {
    let (mut sim, t0) = sim();
    make(&mut sim, "i", Schedule::instant(), t0);
    sim.apply(
        Op::SetInstanceFaults {
            id: "i".to_owned(),
            faults: Faults {
                rate_limit: Some(RateLimit::per_second(1.0).with_burst(1)),
                ..Faults::none()
            },
        },
        t0,
    )
    .unwrap();
    let req = get(&status_path("i"));
    let no_token = Request::get(status_path("x")).body(Vec::new()).unwrap();
    let status = |d: Decision| reply(&d).status.as_u16();
    assert_eq!(status(sim.handle(&req, t0, wall())), 200);
    assert_eq!(status(sim.handle(&req, t0 + ms(100), wall())), 429);
    assert_eq!(status(sim.handle(&get("/nope"), t0 + ms(200), wall())), 404);
    assert_eq!(status(sim.handle(&no_token, t0 + ms(300), wall())), 401);
    // Admin requests are not API requests.
    admin(&mut sim, "GET", "/_sim/counters", Value::Null, t0 + ms(400));
    // A clock jump moves simulated time, not arrivals.
    sim.apply(Op::AdvanceClock(Duration::from_secs(3600)), t0)
        .unwrap();
    let _ = sim.handle(&get(&status_path("x")), t0 + ms(500), wall());
    let _ = sim.body_too_large(16, t0 + ms(600), wall());

    let log = sim.requests(ms(1000));
    assert_eq!(log.count, 6);
    assert_eq!(log.count, sim.global_counters().requests);
    assert_eq!(log.window, ms(1000));
    assert_eq!(log.arrivals, [0, 100, 200, 300, 500, 600].map(ms).to_vec());
    assert_eq!(log.max_in_window, 6);
    assert_eq!(sim.requests(ms(250)).max_in_window, 3);
    assert_eq!(sim.requests(ms(100)).max_in_window, 1);
    assert_eq!(sim.requests(Duration::ZERO).max_in_window, 0);
}

#[test]
fn the_busiest_window_shows_a_client_over_its_rate_cap() {
    let (mut sim, t0) = sim();
    make(&mut sim, "i", Schedule::instant(), t0);
    let req = get(&status_path("i"));
    // Five a second, evenly spaced, for three seconds.
    for n in 0..15 {
        let _ = sim.handle(&req, t0 + ms(200 * n), wall());
    }
    assert_eq!(sim.requests(ms(1000)).max_in_window, 5);
    // One more squeezed in between: six inside [100 ms, 1100 ms).
    let _ = sim.handle(&req, t0 + ms(1100), wall());
    let log = sim.requests(ms(1000));
    assert_eq!(log.count, 16);
    assert_eq!(log.max_in_window, 6);
    assert!(log.arrivals.is_sorted());
}

#[test]
fn reset_empties_the_arrival_log() {
    let (mut sim, t0) = sim();
    for n in 0..3 {
        let _ = sim.handle(&get("/nope"), t0 + ms(n), wall());
    }
    assert_eq!(sim.requests(ms(1000)).count, 3);
    let (s, _) = admin(&mut sim, "POST", "/_sim/reset", Value::Null, t0 + ms(1000));
    assert_eq!(s, StatusCode::OK);
    let log = sim.requests(ms(1000));
    assert_eq!((log.count, log.max_in_window), (0, 0));
    assert!(log.arrivals.is_empty());
    // Offsets still count from the start, not from the reset.
    let _ = sim.handle(&get("/nope"), t0 + ms(2000), wall());
    assert_eq!(sim.requests(ms(1000)).arrivals, [ms(2000)]);
}

#[test]
fn admin_requests_route_reports_the_log() {
    let (mut sim, t0) = sim();
    let at_us = [0u64, 1_500, 400_000, 999_999, 1_000_000, 1_000_001];
    for &us in &at_us {
        let _ = sim.handle(&get("/nope"), t0 + Duration::from_micros(us), wall());
    }
    // Shown in whole microseconds, rounded down; counted to the nanosecond:
    // [1.5 ms, 2001.5 ms) does not hold it.
    let _ = sim.handle(
        &get("/nope"),
        t0 + Duration::from_nanos(2_001_501_500),
        wall(),
    );
    let (s, v) = admin(&mut sim, "GET", "/_sim/requests", Value::Null, t0);
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({
            "count": 7,
            "window_ms": 1000,
            "max_in_window": 5,
            "arrivals_us": [0, 1_500, 400_000, 999_999, 1_000_000, 1_000_001, 2_001_501],
        })
    );
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/requests?window_ms=2000",
        Value::Null,
        t0,
    );
    assert_eq!(
        (v["window_ms"].clone(), v["max_in_window"].clone()),
        (json!(2000), json!(6))
    );
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/requests?window_ms=0",
        Value::Null,
        t0,
    );
    assert_eq!(v["max_in_window"], 0);
    // Reading the log is an admin request: not logged.
    assert_eq!(sim.requests(ms(1000)).count, 7);

    for bad in [
        "window_ms=1.5",
        "window_ms=",
        "window=1000",
        "window_ms=-1",
        "x",
    ] {
        let (s, v) = admin(
            &mut sim,
            "GET",
            &format!("/_sim/requests?{bad}"),
            Value::Null,
            t0,
        );
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["error_code"], "SIM.invalid", "{bad}: {v}");
        assert!(
            v["error_msg"].as_str().unwrap().contains("window_ms"),
            "{v}"
        );
    }
    let (s, _) = admin(&mut sim, "POST", "/_sim/requests", Value::Null, t0);
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

// --------------------------------------------------------------------- admin

#[test]
fn admin_create_act_list_and_read() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .schedule(Schedule {
            pending: ms(700),
            ..Schedule::default()
        })
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    let (s, v) = admin(
        &mut sim,
        "POST",
        "/_sim/instances",
        json!({"id": "x/1", "schedule": {"reinstalling_ms": 10}}),
        t0,
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["id"], "x/1");
    assert_eq!(v["state"], "pending");
    // Left-out schedule fields come from the simulator's schedule (700 ms).
    assert_eq!(v["next"], json!({"state": "running", "in_ms": 700}));
    assert_eq!(
        v["history"],
        json!([{"from": null, "to": "pending", "at_ms": 0}])
    );

    let (s, v) = admin(&mut sim, "POST", "/_sim/instances", Value::Null, t0);
    assert_eq!(s, StatusCode::CREATED);
    let random_id = v["id"].as_str().unwrap().to_owned();
    assert!(random_id.starts_with("ins-"));

    let (s, v) = admin(
        &mut sim,
        "POST",
        "/_sim/instances/x%2F1/power-off",
        Value::Null,
        t0,
    );
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error_code"], "SIM.conflict");

    let later = t0 + ms(700);
    let (s, v) = admin(
        &mut sim,
        "POST",
        "/_sim/instances/x%2F1/power-off",
        Value::Null,
        later,
    );
    assert_eq!((s, v["state"].as_str()), (StatusCode::OK, Some("stopping")));
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/instances/x%2F1",
        Value::Null,
        later + ms(1000),
    );
    assert_eq!(v["state"], "stopped");
    let (s, v) = admin(
        &mut sim,
        "POST",
        "/_sim/instances/x%2F1/reinstall",
        json!({"fail": true}),
        later + ms(1000),
    );
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("reinstalling")),
        "{v}"
    );
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/instances/x%2F1",
        Value::Null,
        later + ms(1010),
    );
    assert_eq!(v["state"], "failed");
    assert_eq!(v["error"]["error_type"], "reinstall_error");
    let to: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        [
            "pending",
            "running",
            "stopping",
            "stopped",
            "reinstalling",
            "failed"
        ]
    );

    let (s, v) = admin(
        &mut sim,
        "POST",
        &format!("/_sim/instances/{random_id}/fail"),
        json!({"state": "failed"}),
        t0,
    );
    assert_eq!(
        (s, v["state"].as_str()),
        (StatusCode::OK, Some("failed")),
        "{v}"
    );
    let (s, _) = admin(
        &mut sim,
        "POST",
        "/_sim/instances/ghost/delete",
        Value::Null,
        t0,
    );
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, v) = admin(&mut sim, "GET", "/_sim/instances", Value::Null, later);
    let ids: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["x/1", random_id.as_str()], "creation order");

    let (_, v) = admin(&mut sim, "GET", "/_sim", Value::Null, t0);
    assert_eq!(v["project_id"], P);
    assert_eq!(v["auth"], "any_token");
    assert_eq!(v["example_token"], crate::EXAMPLE_TOKEN);
    assert_eq!(v["instances"], 2);
}

#[test]
fn admin_rejects_bad_input_clearly() {
    let (mut sim, t0) = sim();
    make(&mut sim, "i", Schedule::instant(), t0);
    for (method, path, body, status, says) in [
        (
            "POST",
            "/_sim/instances",
            json!({"idd": "x"}),
            400,
            "unknown field",
        ),
        (
            "POST",
            "/_sim/instances",
            json!({"schedule": {"pending_ms": -1}}),
            400,
            "expected u64",
        ),
        (
            "POST",
            "/_sim/instances",
            json!({"schedule": {"pending_ms": 9_999_999_999u64}}),
            400,
            "pending_ms",
        ),
        (
            "POST",
            "/_sim/instances",
            json!({"id": "i"}),
            409,
            "exists already",
        ),
        (
            "POST",
            "/_sim/instances/i/power-off",
            json!({"fail": true}),
            400,
            "takes no",
        ),
        (
            "POST",
            "/_sim/instances/i/explode",
            Value::Null,
            404,
            "no admin route",
        ),
        (
            "PUT",
            "/_sim/faults",
            json!({"reset": {"rate": 2}}),
            400,
            "reset.rate",
        ),
        ("PUT", "/_sim/instances/nope/faults", json!({}), 404, "nope"),
        ("DELETE", "/_sim/faults", Value::Null, 405, "GET, PUT"),
        ("GET", "/_sim/reset", Value::Null, 405, "POST"),
        (
            "POST",
            "/_sim/clock",
            json!({"advance_ms": "soon"}),
            400,
            "advance_ms",
        ),
        ("GET", "/_sim/whatever", Value::Null, 404, "no admin route"),
    ] {
        let (s, v) = admin(&mut sim, method, path, body, t0);
        assert_eq!(s.as_u16(), status, "{method} {path}: {v}");
        assert!(v["error_code"].as_str().unwrap().starts_with("SIM."), "{v}");
        assert!(
            v["error_msg"].as_str().unwrap().contains(says),
            "{method} {path}: {v}"
        );
    }
    // Admin requests are not API requests.
    assert_eq!(sim.global_counters().requests, 0);
    assert_eq!(sim.global_counters().admin_requests, 12);
}

#[test]
fn admin_faults_counters_reset_and_clock() {
    let (mut sim, t0) = sim();
    make(
        &mut sim,
        "i",
        Schedule::pending_for(Duration::from_secs(60)),
        t0,
    );
    let (s, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/faults",
        json!({"server_error": {"status": 502, "times": 1}, "latency_ms": 5}),
        t0,
    );
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"latency_ms": 5, "server_error": {"times": 1, "status": 502}})
    );
    let (s, _) = admin(
        &mut sim,
        "PUT",
        "/_sim/instances/i/faults",
        json!({"rate_limit": {"rps": 1, "burst": 1}}),
        t0,
    );
    assert_eq!(s, StatusCode::OK);
    let (_, v) = admin(&mut sim, "GET", "/_sim/faults", Value::Null, t0);
    assert_eq!(
        v["instances"]["i"],
        json!({"rate_limit": {"rps": 1.0, "burst": 1}})
    );

    let req = get(&status_path("i"));
    let got: Vec<u16> = (0..3)
        .map(|_| reply(&sim.handle(&req, t0, wall())).status.as_u16())
        .collect();
    assert_eq!(got, [502, 429, 429]);
    let (_, v) = admin(&mut sim, "GET", "/_sim/counters", Value::Null, t0);
    assert_eq!(v["global"]["requests"], 3);
    assert_eq!(v["global"]["throttled"], 2);
    assert_eq!(v["global"]["by_status"], json!({"429": 2, "502": 1}));
    assert_eq!(v["global"]["faults"], json!({"server_error": 1}));
    assert_eq!(
        v["instances"]["i"],
        json!({"requests": 3, "throttled": 2, "faults": 1})
    );
    let back: CountersSnapshot = serde_json::from_value(v).unwrap();
    assert_eq!(back, sim.counters());
    // The 502 was used up; only latency is left.
    let (_, v) = admin(&mut sim, "GET", "/_sim/faults", Value::Null, t0);
    assert_eq!(v["global"], json!({"latency_ms": 5}));

    let (_, v) = admin(
        &mut sim,
        "POST",
        "/_sim/clock",
        json!({"advance_ms": 60000}),
        t0,
    );
    assert!(v["elapsed_ms"].as_u64().unwrap() >= 60_000);
    assert_eq!(
        sim.instance("i", t0).map(|v| v.status()).unwrap().state,
        InstanceState::Running
    );

    let (s, v) = admin(&mut sim, "POST", "/_sim/reset", json!({"instances": 3}), t0);
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["instances"].as_array().unwrap().len(), 3);
    let (_, v) = admin(&mut sim, "GET", "/_sim/counters", Value::Null, t0);
    assert_eq!(v["global"]["requests"], 0);
    assert_eq!(
        v["global"]["admin_requests"], 1,
        "reset zeroed the counters; this read counts"
    );
    let (_, v) = admin(&mut sim, "GET", "/_sim/faults", Value::Null, t0);
    assert_eq!(v["global"], json!({}));
}

// ------------------------------------------------------------------ property

mod properties {
    use super::*;
    use crate::lifecycle::is_allowed_transition;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Wait(u64),
        Act(usize, &'static str, Value),
        Query(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let action = prop_oneof![
            Just(("power-off", Value::Null)),
            Just(("power-on", Value::Null)),
            Just(("delete", json!({"fail": false}))),
            Just(("delete", json!({"fail": true}))),
            Just(("reinstall", json!({"fail": false}))),
            Just(("reinstall", json!({"fail": true}))),
            Just(("fail", Value::Null)),
            Just(("fail", json!({"state": "failed"}))),
        ];
        prop_oneof![
            (0u64..3000).prop_map(Op::Wait),
            (0usize..3, action).prop_map(|(i, (a, b))| Op::Act(i, a, b)),
            (0usize..3).prop_map(Op::Query),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Driven only through HTTP-shaped requests (admin actions, status
        /// queries) and time jumps, every instance's history holds only
        /// transitions API.md allows, an admin call answers 200 or 409 and
        /// never changes a refused instance, and a query reports exactly the
        /// state the history ends in.
        #[test]
        fn the_api_only_shows_allowed_transitions(
            pendings in proptest::collection::vec(0u64..2000, 3),
            fails in proptest::collection::vec(any::<bool>(), 3),
            ops in proptest::collection::vec(op(), 0..40),
        ) {
            let (mut sim, t0) = sim();
            let mut now = t0;
            let ids = ["a", "b/c", "d e"];
            let enc = ["a", "b%2Fc", "d%20e"];
            for i in 0..3 {
                let body = json!({"id": ids[i], "schedule": {"pending_ms": pendings[i], "create_fails": fails[i], "stopping_ms": 500, "power_on_ms": 300, "reinstalling_ms": 700, "shutting_down_ms": 900}});
                let (s, _) = admin(&mut sim, "POST", "/_sim/instances", body, now);
                prop_assert_eq!(s, StatusCode::CREATED);
            }
            for op in ops {
                match op {
                    Op::Wait(d) => now += ms(d),
                    Op::Act(i, action, body) => {
                        let before = sim.instance(ids[i], now).unwrap();
                        let (s, v) = admin(&mut sim, "POST", &format!("/_sim/instances/{}/{action}", enc[i]), body, now);
                        prop_assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{} {}", s, v);
                        if s == StatusCode::CONFLICT {
                            let after = sim.instance(ids[i], now).unwrap();
                            prop_assert_eq!(after.state, before.state);
                            prop_assert_eq!(after.history, before.history);
                        }
                    }
                    Op::Query(i) => {
                        let d = sim.handle(&get(&status_path(enc[i])), now, wall());
                        let st = parsed(&d);
                        let view = sim.instance(ids[i], now).unwrap();
                        prop_assert_eq!(&st.state, &view.state);
                        prop_assert_eq!(&st.state, &view.history.last().unwrap().to);
                    }
                }
                for v in sim.instances(now) {
                    prop_assert_eq!(v.history[0].from.as_ref(), None);
                    for w in v.history.windows(2) {
                        prop_assert!(is_allowed_transition(w[1].from.as_ref(), &w[1].to), "{:?}", w[1]);
                        prop_assert_eq!(w[1].from.as_ref(), Some(&w[0].to));
                        prop_assert!(w[1].at_ms >= w[0].at_ms);
                    }
                }
            }
        }
    }
}

mod clock_offset;
mod flow_control;
mod iam_lookup;
mod metadata_service;
mod oidc_federation;
mod stale_connections;
