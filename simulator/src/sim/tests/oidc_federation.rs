//! IAM's OIDC federation through the heart: both exchanges, the issued
//! credentials accepted by the gateway until they expire, trace ids,
//! counters, the admin routes and a reset.

use clouddc_core::sign_request;

use super::*;
use crate::oidc::{ID_TOKEN_PATH, Oidc, SECURITY_TOKEN_PATH};

fn post(path: &str, idp: &str, body: Value) -> Request<Vec<u8>> {
    Request::post(path)
        .header("Host", "127.0.0.1:8080")
        .header("X-Idp-Id", idp)
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap()
}

fn created(d: &Decision) -> &Reply {
    let r = reply(d);
    let body = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, StatusCode::CREATED, "{body}");
    r
}

/// Both exchanges at `at`: the credentials issued.
fn exchange(sim: &mut Simulator, token: &str, at: Instant) -> Value {
    let d = sim.handle(
        &post(
            ID_TOKEN_PATH,
            "idp-1",
            json!({"auth": {"id_token": {"id": token}}}),
        ),
        at,
        wall(),
    );
    let r = created(&d);
    assert!(r.headers.contains_key("x-iam-trace-id"));
    let subject = r.headers["x-subject-token"].to_str().unwrap().to_owned();
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": subject, "duration_seconds": 21600}}}});
    let d = sim.handle(&post(SECURITY_TOKEN_PATH, "", body), at, wall());
    let r = created(&d);
    json_of(r)["credential"].clone()
}

fn signed_status(c: &Value, at: SystemTime) -> Request<Vec<u8>> {
    let mut req = get(&status_path("i-1"));
    req.headers_mut().remove("x-auth-token");
    req.headers_mut().insert(
        "x-security-token",
        c["securitytoken"].as_str().unwrap().parse().unwrap(),
    );
    req.headers_mut().insert("x-project-id", P.parse().unwrap());
    sign_request(
        &mut req,
        c["access"].as_str().unwrap(),
        c["secret"].as_str().unwrap(),
        at,
    );
    req
}

#[test]
fn issued_credentials_are_accepted_until_they_expire() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .auth(Auth::ak_sk("AK", "SK"))
        .oidc(Oidc::on("idp-1").with_lifetime(Duration::from_secs(10)))
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    make(&mut sim, "i-1", Schedule::instant(), t0);
    let c = exchange(&mut sim, "tok-1", t0);
    let ok = sim.handle(
        &signed_status(&c, wall()),
        t0 + Duration::from_secs(9),
        wall(),
    );
    parsed(&ok);
    let late = sim.handle(
        &signed_status(&c, wall()),
        t0 + Duration::from_secs(10),
        wall(),
    );
    assert_eq!(reply(&late).status, StatusCode::UNAUTHORIZED);
    let g = sim.global_counters();
    assert_eq!(
        (g.oidc_id_token_requests, g.oidc_security_token_requests),
        (1, 1)
    );
    assert_eq!(sim.oidc_id_tokens(), ["tok-1"]);
}

#[test]
fn admin_sets_oidc_and_lists_the_id_tokens_and_a_reset_forgets_them() {
    let (mut sim, t0) = sim();
    let (st, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/oidc",
        json!({"enabled": true, "idp_id": "idp-1", "accepted_tokens": ["tok-1"], "lifetime_ms": 5000}),
        t0,
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["lifetime_ms"], 5000);
    exchange(&mut sim, "tok-1", t0);
    let (_, v) = admin(&mut sim, "GET", "/_sim/oidc/id-tokens", Value::Null, t0);
    assert_eq!(v["id_tokens"], json!(["tok-1"]));
    let (st, _) = admin(&mut sim, "PUT", "/_sim/oidc", json!({"idp_id": ""}), t0);
    assert_eq!(st, StatusCode::BAD_REQUEST);
    sim.apply(Op::Reset { instances: None }, t0).unwrap();
    assert!(sim.oidc_id_tokens().is_empty());
    let (_, v) = admin(&mut sim, "GET", "/_sim/oidc", Value::Null, t0);
    assert_eq!(v["enabled"], false);
}
