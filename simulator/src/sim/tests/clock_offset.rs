//! The gateway's clock offset through the heart: the `Date` header, the
//! `X-Sdk-Date` check and the vendor's "request has expired" body.

use super::*;

const EXPIRED: &str = "Incorrect IAM authentication information: The request has expired";

fn shifted(secs: i64) -> SystemTime {
    if secs >= 0 {
        wall() + Duration::from_secs(secs.unsigned_abs())
    } else {
        wall() - Duration::from_secs(secs.unsigned_abs())
    }
}

fn date_of(r: &Reply) -> SystemTime {
    httpdate::parse_http_date(r.headers["date"].to_str().unwrap()).unwrap()
}

#[test]
fn an_offset_gateway_refuses_local_time_and_accepts_corrected_time() {
    for offset in [3600i64, -3600] {
        let (mut sim, t0) = aksk_sim();
        sim.apply(Op::SetClockOffset(offset), t0).unwrap();
        let creds = Credentials::ak_sk(AK, SK).unwrap();
        // Signed with this machine's clock: the vendor's body and a Date
        // showing the gateway's time.
        let d = sim.handle(&signed(creds.clone(), "ins-1", wall()), t0, wall());
        let r = reply(&d);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let v = json_of(r);
        assert_eq!(v["error_msg"], EXPIRED);
        assert_eq!(v["error_code"], "APIGW.0301");
        assert_eq!(v["request_id"], r.request_id().unwrap());
        assert_eq!(date_of(r), shifted(offset), "{offset}");
        // What a client learns from Date, applied to its signing time.
        let learned = match date_of(r).duration_since(wall()) {
            Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap(),
            Err(behind) => -i64::try_from(behind.duration().as_secs()).unwrap(),
        };
        assert_eq!(learned, offset);
        let fixed = signed(creds, "ins-1", shifted(learned));
        let d = sim.handle(&fixed, t0, wall());
        assert_eq!(reply(&d).status, StatusCode::OK, "{offset}");
        assert_eq!(date_of(reply(&d)), shifted(offset));
    }
}

#[test]
fn within_the_skew_of_the_offset_clock_is_fine() {
    let (mut sim, t0) = aksk_sim();
    sim.apply(Op::SetClockOffset(600), t0).unwrap();
    let creds = Credentials::ak_sk(AK, SK).unwrap();
    // Ten minutes behind the gateway is inside 15 minutes.
    let d = sim.handle(&signed(creds.clone(), "ins-1", wall()), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::OK);
    sim.apply(Op::SetClockOffset(901), t0).unwrap();
    let d = sim.handle(&signed(creds, "ins-1", wall()), t0, wall());
    assert_eq!(json_of(reply(&d))["error_msg"], EXPIRED);
}

#[test]
fn any_token_mode_checks_the_date_against_the_gateway_too() {
    let (mut sim, t0) = sim_with(Auth::AnyToken);
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    sim.apply(Op::SetClockOffset(-3600), t0).unwrap();
    let creds = Credentials::ak_sk("ANYAK", "anysk").unwrap();
    let d = sim.handle(&signed(creds.clone(), "ins-1", wall()), t0, wall());
    assert_eq!(json_of(reply(&d))["error_msg"], EXPIRED);
    let d = sim.handle(&signed(creds, "ins-1", shifted(-3600)), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::OK);
    // Tokens carry no date: unaffected.
    let token = Request::get(status_path("ins-1"))
        .header("X-Auth-Token", "t")
        .body(Vec::new())
        .unwrap();
    assert_eq!(
        reply(&sim.handle(&token, t0, wall())).status,
        StatusCode::OK
    );
}

#[test]
fn every_gateway_answer_is_dated_by_the_gateway() {
    let (mut sim, t0) = sim();
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    sim.apply(Op::SetClockOffset(3600), t0).unwrap();
    let gateway = shifted(3600);
    let dated = |d: &Decision| date_of(reply(d));
    assert_eq!(
        dated(&sim.handle(&get(&status_path("ins-1")), t0, wall())),
        gateway
    );
    assert_eq!(dated(&sim.handle(&get("/nowhere"), t0, wall())), gateway);
    assert_eq!(
        dated(&sim.handle(&get(&status_path("nope")), t0, wall())),
        gateway
    );
    assert_eq!(dated(&sim.body_too_large(16, t0, wall())), gateway);
    sim.apply(
        Op::SetFaults(Faults {
            rate_limit: Some(RateLimit::per_second(1.0)),
            ..Faults::none()
        }),
        t0,
    )
    .unwrap();
    let _ = sim.handle(&get(&status_path("ins-1")), t0, wall());
    let d = sim.handle(&get(&status_path("ins-1")), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(dated(&d), gateway);
    // Admin answers and the metadata service keep this machine's time.
    let (_, _) = admin(&mut sim, "GET", "/_sim", Value::Null, t0);
    let req = Request::get("/_sim/clock").body(Vec::new()).unwrap();
    assert_eq!(dated(&sim.handle(&req, t0, wall())), wall());
    let key = Request::get(metadata::SECURITY_KEY_PATH)
        .body(Vec::new())
        .unwrap();
    assert_eq!(dated(&sim.handle(&key, t0, wall())), wall());
    // Sub-second wall times are cut to the second, as IMF-fixdate is.
    let d = sim.handle(&get("/nowhere"), t0, wall() + ms(999));
    assert_eq!(dated(&d), gateway);
}

#[test]
fn admin_clock_offset() {
    let (mut sim, t0) = sim();
    let (st, v) = admin(&mut sim, "GET", "/_sim/clock", Value::Null, t0);
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["offset_s"], 0);
    let (st, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/clock",
        json!({"offset_s": -3600}),
        t0,
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["offset_s"], -3600);
    assert!(v["elapsed_ms"].is_u64());
    assert_eq!(sim.clock_offset_secs(), -3600);
    let (_, v) = admin(
        &mut sim,
        "POST",
        "/_sim/clock",
        json!({"advance_ms": 10}),
        t0,
    );
    assert_eq!(v["offset_s"], -3600);
    let (_, v) = admin(&mut sim, "GET", "/_sim", Value::Null, t0);
    assert_eq!(v["offset_s"], -3600);
    for bad in [
        json!({}),
        json!({"offset_s": "1h"}),
        json!({"offset_s": 400_000_000}),
        json!({"offset_s": 1, "advance_ms": 1}),
    ] {
        let (st, v) = admin(&mut sim, "PUT", "/_sim/clock", bad.clone(), t0);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad} -> {v}");
    }
    assert_eq!(sim.clock_offset_secs(), -3600);
    let (st, _) = admin(&mut sim, "DELETE", "/_sim/clock", Value::Null, t0);
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    sim.apply(Op::Reset { instances: None }, t0).unwrap();
    assert_eq!(sim.clock_offset_secs(), 0);
    assert_eq!(
        sim.gateway_time(wall()),
        wall(),
        "a reset brings the configured offset back"
    );
}
