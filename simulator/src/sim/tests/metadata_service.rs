//! The server metadata service through the heart: session tokens, the
//! agency, rotation on simulated time, the gateway accepting generations,
//! faults, counters and the admin routes.

use super::*;
use crate::metadata::{
    CredentialGeneration, Metadata, NO_AGENCY_MESSAGE, SECURITY_KEY_PATH, SessionTokens, TOKEN_PATH,
};

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A simulator whose own auth is a token (so only metadata generations
/// sign successfully), with metadata rotating every 2 s, each generation
/// living 6 s.
fn meta_sim(metadata: Metadata) -> (Simulator, Instant) {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .auth(Auth::token("good-token"))
        .metadata(metadata)
        .seed(42)
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    (sim, t0)
}

fn rotating() -> Metadata {
    Metadata::on().with_rotation(s(2), s(6))
}

fn put_token(ttl: Option<&str>) -> Request<Vec<u8>> {
    let mut b = Request::put(TOKEN_PATH).header("Host", "169.254.169.254");
    if let Some(t) = ttl {
        b = b.header("X-Metadata-Token-Ttl-Seconds", t);
    }
    b.body(Vec::new()).unwrap()
}

fn get_key(token: Option<&str>) -> Request<Vec<u8>> {
    let mut b = Request::get(SECURITY_KEY_PATH).header("Host", "169.254.169.254");
    if let Some(t) = token {
        b = b.header("X-Metadata-Token", t);
    }
    b.body(Vec::new()).unwrap()
}

fn body_text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Gets a session token at `at`.
fn token(sim: &mut Simulator, at: Instant, ttl: u64) -> String {
    let d = sim.handle(&put_token(Some(&ttl.to_string())), at, wall());
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::OK, "{}", body_text(r));
    body_text(r)
}

fn credential(d: &Decision) -> Value {
    let r = reply(d);
    assert_eq!(r.status, StatusCode::OK, "{}", body_text(r));
    assert_eq!(r.headers["content-type"], "application/json");
    json_of(r)["credential"].clone()
}

fn creds_of(g: &CredentialGeneration) -> Credentials {
    Credentials::temporary(
        g.access_key.clone(),
        g.secret_key.expose(),
        g.security_token.expose(),
    )
    .unwrap()
}

// ------------------------------------------------------------ session tokens

#[test]
fn token_then_securitykey() {
    let (mut sim, t0) = meta_sim(Metadata::on());
    let d = sim.handle(&put_token(Some("21600")), t0, wall());
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(r.headers["x-metadata-token-ttl-seconds"], "21600");
    assert!(r.request_id().is_some());
    let t = body_text(r);
    assert!(
        t.len() >= 32 && t.bytes().all(|b| b.is_ascii_hexdigit()),
        "{t}"
    );
    // Each token is new.
    assert_ne!(token(&mut sim, t0, 60), t);

    let c = credential(&sim.handle(&get_key(Some(&t)), t0 + ms(10), wall()));
    let g = sim.metadata_credentials(t0 + ms(10)).unwrap();
    assert_eq!(g.number, 0);
    assert_eq!(c["access"], g.access_key.as_str());
    assert_eq!(c["secret"], g.secret_key.expose());
    assert_eq!(c["securitytoken"], g.security_token.expose());
    // Valid 24 h from the start: 10 ms are gone; RFC 3339, 6 fractional digits.
    assert_eq!(c["expires_at"], "2026-11-29T10:14:59.990000Z");
    let c = sim.global_counters();
    assert_eq!(
        (
            c.metadata_token_requests,
            c.metadata_key_requests,
            c.metadata_generations
        ),
        (2, 1, 1)
    );
    // Metadata requests are not status API requests.
    assert_eq!((c.requests, c.by_status[&200]), (0, 3));
    assert!(sim.requests(s(1)).arrivals.is_empty());
}

#[test]
fn token_requests_need_put_and_a_ttl_in_range() {
    let (mut sim, t0) = meta_sim(Metadata::on());
    for bad in [None, Some("0"), Some("21601"), Some("abc"), Some("-1")] {
        let d = sim.handle(&put_token(bad), t0, wall());
        let r = reply(&d);
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(
            body_text(r).contains("X-Metadata-Token-Ttl-Seconds"),
            "{bad:?}"
        );
    }
    let get = Request::get(TOKEN_PATH).body(Vec::new()).unwrap();
    let d = sim.handle(&get, t0, wall());
    assert_eq!(reply(&d).status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply(&d).headers["allow"], "PUT");
    let post = Request::post(SECURITY_KEY_PATH).body(Vec::new()).unwrap();
    let d = sim.handle(&post, t0, wall());
    assert_eq!(reply(&d).status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply(&d).headers["allow"], "GET");
    token(&mut sim, t0, 1);
    token(&mut sim, t0, 21_600);
}

#[test]
fn unsupported_tokens_answer_404_or_405_and_securitykey_needs_none() {
    for (mode, status) in [
        (SessionTokens::Unsupported404, StatusCode::NOT_FOUND),
        (
            SessionTokens::Unsupported405,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ] {
        let (mut sim, t0) = meta_sim(Metadata::on().with_session_tokens(mode));
        let d = sim.handle(&put_token(Some("21600")), t0, wall());
        assert_eq!(reply(&d).status, status, "{mode:?}");
        credential(&sim.handle(&get_key(None), t0, wall()));
        // A token sent anyway is ignored.
        credential(&sim.handle(&get_key(Some("made-up")), t0, wall()));
        let c = sim.global_counters();
        assert_eq!((c.metadata_token_requests, c.metadata_key_requests), (1, 2));
    }
}

#[test]
fn stale_unknown_missing_or_revoked_tokens_get_401() {
    let (mut sim, t0) = meta_sim(Metadata::on());
    let t = token(&mut sim, t0, 1);
    credential(&sim.handle(&get_key(Some(&t)), t0 + ms(999), wall()));
    for (req, why) in [
        (get_key(Some(&t)), "expired"),
        (get_key(Some("0123")), "not one this server issued"),
        (get_key(None), "missing"),
    ] {
        let d = sim.handle(&req, t0 + ms(1000), wall());
        let r = reply(&d);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = body_text(r);
        assert!(
            text.contains(why) && !text.contains(NO_AGENCY_MESSAGE),
            "{text}"
        );
    }
    // Simulated time expires tokens too.
    let t = token(&mut sim, t0, 10);
    sim.apply(Op::AdvanceClock(s(10)), t0).unwrap();
    assert_eq!(
        reply(&sim.handle(&get_key(Some(&t)), t0, wall())).status,
        StatusCode::UNAUTHORIZED
    );
    // Revoking forgets live tokens.
    let t = token(&mut sim, t0, 100);
    assert_eq!(sim.metadata_tokens(t0), 1);
    assert_eq!(
        sim.apply(Op::RevokeMetadataTokens, t0).unwrap(),
        Outcome::Revoked(1)
    );
    assert_eq!(
        reply(&sim.handle(&get_key(Some(&t)), t0, wall())).status,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn without_an_agency_securitykey_says_so() {
    let (mut sim, t0) = meta_sim(Metadata::on().with_agency(false));
    // The session token is checked first.
    let d = sim.handle(&get_key(None), t0, wall());
    assert!(!body_text(reply(&d)).contains(NO_AGENCY_MESSAGE));
    let t = token(&mut sim, t0, 60);
    let d = sim.handle(&get_key(Some(&t)), t0, wall());
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let v = json_of(r);
    assert_eq!(v["error"]["message"], NO_AGENCY_MESSAGE);
    assert!(body_text(r).contains("Please configure Cloud Service Agency first"));
    // Attaching one at run time fixes it.
    sim.apply(
        Op::SetMetadata(sim.metadata().clone().with_agency(true)),
        t0,
    )
    .unwrap();
    credential(&sim.handle(&get_key(Some(&t)), t0, wall()));
}

#[test]
fn metadata_off_answers_404_like_unknown_paths_and_accepts_no_generation() {
    let (mut sim, t0) = meta_sim(Metadata::off());
    for req in [put_token(Some("60")), get_key(None)] {
        let d = sim.handle(&req, t0, wall());
        assert_eq!(reply(&d).status, StatusCode::NOT_FOUND);
        assert_eq!(json_of(reply(&d))["error_code"], "APIGW.0101");
    }
    let c = sim.global_counters();
    assert_eq!((c.metadata_token_requests, c.metadata_key_requests), (1, 1));
    assert_eq!((c.metadata_generations, c.requests), (0, 0));
    assert!(sim.metadata_credentials(t0).is_none());
    // Keys of a generation sign nothing while the service is off.
    let g = sim.metadata_generation(0);
    let req = signed(creds_of(&g), "ins-1", wall());
    assert!(detail(&sim.handle(&req, t0, wall())).contains("expects X-Auth-Token"));
    // Turned on at run time, the same keys work.
    sim.apply(Op::SetMetadata(Metadata::on()), t0).unwrap();
    assert_eq!(reply(&sim.handle(&req, t0, wall())).status, StatusCode::OK);
}

// ------------------------------------------------------------------ rotation

#[test]
fn securitykey_follows_the_rotation_at_exact_boundaries() {
    let (mut sim, t0) = meta_sim(rotating().with_session_tokens(SessionTokens::Unsupported404));
    let at = |n| t0 + ms(n);
    for (when, k, expires_at) in [
        (0, 0, "2026-11-28T10:15:06.000000Z"),
        (1999, 0, "2026-11-28T10:15:04.001000Z"),
        (2000, 1, "2026-11-28T10:15:06.000000Z"),
        (5999, 2, "2026-11-28T10:15:04.001000Z"),
        (6000, 3, "2026-11-28T10:15:06.000000Z"),
    ] {
        let c = credential(&sim.handle(&get_key(None), at(when), wall()));
        let g = sim.metadata_generation(k);
        assert_eq!(c["access"], g.access_key.as_str(), "at {when} ms");
        assert_eq!(c["expires_at"], expires_at, "at {when} ms");
        assert_eq!(g.issued_at, ms(2000 * k));
        assert_eq!(g.expires_at, ms(2000 * k + 6000));
        assert_eq!(sim.global_counters().metadata_generations, k + 1);
    }
    // Each generation has keys of its own.
    let keys: BTreeSet<String> = (0..4)
        .map(|k| sim.metadata_generation(k).secret_key.expose().to_owned())
        .collect();
    assert_eq!(keys.len(), 4);
    // Jumping the clock issues the generations in between.
    sim.apply(Op::AdvanceClock(s(20)), t0).unwrap();
    let c = credential(&sim.handle(&get_key(None), at(6000), wall()));
    assert_eq!(c["access"], sim.metadata_generation(13).access_key.as_str());
    assert_eq!(sim.global_counters().metadata_generations, 14);
}

#[test]
fn the_gateway_accepts_live_generations_and_refuses_expired_ones() {
    let (mut sim, t0) = meta_sim(rotating());
    let g0 = sim.metadata_generation(0);
    let g1 = sim.metadata_generation(1);
    let at = |n| t0 + ms(n);
    let req0 = signed(creds_of(&g0), "ins-1", wall());
    // Generation 0 is older than the newest (2) and still live at 5.999 s.
    assert_eq!(sim.metadata_credentials(at(5999)).unwrap().number, 2);
    assert_eq!(
        reply(&sim.handle(&req0, at(5999), wall())).status,
        StatusCode::OK
    );
    // At 6 s it has expired: 401 saying so, without words that read as skew.
    let d = sim.handle(&req0, at(6000), wall());
    let msg = detail(&d);
    assert_eq!(json_of(reply(&d))["error_code"], "APIGW.0301");
    assert!(
        msg.contains("expired") && msg.contains("credentials"),
        "{msg}"
    );
    assert!(
        !msg.contains("request") && !msg.contains("signature"),
        "{msg}"
    );
    // Generation 1 is still fine then; generation 3 is not issued before 6 s.
    let req1 = signed(creds_of(&g1), "ins-1", wall());
    assert_eq!(
        reply(&sim.handle(&req1, at(6000), wall())).status,
        StatusCode::OK
    );
    let g3 = sim.metadata_generation(3);
    let req3 = signed(creds_of(&g3), "ins-1", wall());
    assert!(detail(&sim.handle(&req3, at(5999), wall())).contains("unknown access key"));
    assert_eq!(
        reply(&sim.handle(&req3, at(6000), wall())).status,
        StatusCode::OK
    );

    // The generation's security token is required, signed and exact.
    let no_st = signed(
        Credentials::ak_sk(g1.access_key.clone(), g1.secret_key.expose()).unwrap(),
        "ins-1",
        wall(),
    );
    assert!(detail(&sim.handle(&no_st, at(6000), wall())).contains("required"));
    let wrong_st = signed(
        Credentials::temporary(
            g1.access_key.clone(),
            g1.secret_key.expose(),
            g0.security_token.expose(),
        )
        .unwrap(),
        "ins-1",
        wall(),
    );
    assert!(detail(&sim.handle(&wrong_st, at(6000), wall())).contains("not valid"));
    let mut unsigned_st = req1.clone();
    let auth = unsigned_st.headers()["authorization"].to_str().unwrap();
    let auth = auth.replace(";x-security-token", "");
    unsigned_st
        .headers_mut()
        .insert("authorization", auth.parse().unwrap());
    assert!(!detail(&sim.handle(&unsigned_st, at(6000), wall())).is_empty());
    // Another generation's secret does not sign for this access key.
    let wrong_sk = signed(
        Credentials::temporary(
            g1.access_key.clone(),
            g0.secret_key.expose(),
            g1.security_token.expose(),
        )
        .unwrap(),
        "ins-1",
        wall(),
    );
    assert!(detail(&sim.handle(&wrong_sk, at(6000), wall())).contains("signature mismatch"));
    // The configured token still works alongside.
    assert_eq!(
        reply(&sim.handle(&get(&status_path("ins-1")), at(6000), wall())).status,
        StatusCode::OK
    );
    // Jumping the clock expires generations as well.
    sim.apply(Op::AdvanceClock(s(2)), t0).unwrap();
    assert!(detail(&sim.handle(&req1, at(6000), wall())).contains("expired"));
}

#[test]
fn generations_sign_alongside_configured_aksk() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .auth(Auth::ak_sk(AK, SK))
        .metadata(rotating())
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    let g = sim.metadata_credentials(t0).unwrap();
    for creds in [Credentials::ak_sk(AK, SK).unwrap(), creds_of(&g)] {
        let req = signed(creds, "ins-1", wall());
        assert_eq!(reply(&sim.handle(&req, t0, wall())).status, StatusCode::OK);
    }
    // Expired generations are refused even where any token is accepted.
    let (mut any, t0) = sim_with(Auth::AnyToken);
    any.apply(Op::SetMetadata(rotating()), t0).unwrap();
    make(&mut any, "ins-1", Schedule::instant(), t0);
    let req = signed(creds_of(&any.metadata_generation(0)), "ins-1", wall());
    assert_eq!(reply(&any.handle(&req, t0, wall())).status, StatusCode::OK);
    assert!(detail(&any.handle(&req, t0 + s(6), wall())).contains("expired"));
}

// -------------------------------------------------------------------- faults

#[test]
fn metadata_faults_make_it_unavailable() {
    let faults = Faults {
        server_error: Some(ServerError::status(503).with_times(2)),
        latency: Some(ms(50)),
        ..Faults::none()
    };
    let (mut sim, t0) = meta_sim(
        Metadata::on()
            .with_session_tokens(SessionTokens::Unsupported404)
            .with_faults(faults),
    );
    for _ in 0..2 {
        let d = sim.handle(&get_key(None), t0, wall());
        assert_eq!(reply(&d).status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(d.delay, ms(50));
        assert_eq!(d.fault, Some(FaultKind::ServerError));
    }
    credential(&sim.handle(&get_key(None), t0, wall()));
    assert!(sim.metadata().faults.server_error.is_none());
    assert_eq!(sim.global_counters().faults["server_error"], 2);
    // The status call is not affected.
    assert_eq!(
        reply(&sim.handle(&get(&status_path("ins-1")), t0, wall())).status,
        StatusCode::OK
    );

    // Stalled, reset, rate limited.
    let stall = Faults {
        stall_headers: Some(StallHeaders::default()),
        ..Faults::none()
    };
    sim.apply(
        Op::SetMetadata(sim.metadata().clone().with_faults(stall)),
        t0,
    )
    .unwrap();
    let d = sim.handle(&put_token(Some("60")), t0, wall());
    assert!(matches!(d.delivery, Delivery::StallHeaders { .. }));
    let limited = Faults {
        rate_limit: Some(RateLimit::per_second(1.0)),
        ..Faults::none()
    };
    sim.apply(
        Op::SetMetadata(sim.metadata().clone().with_faults(limited)),
        t0,
    )
    .unwrap();
    credential(&sim.handle(&get_key(None), t0, wall()));
    let d = sim.handle(&get_key(None), t0, wall());
    assert_eq!(reply(&d).status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply(&d).headers["retry-after"], "1");
    assert_eq!(sim.global_counters().throttled, 1);
}

// --------------------------------------------------------------------- admin

#[test]
fn admin_metadata_routes() {
    let (mut sim, t0) = meta_sim(Metadata::off());
    let (st, v) = admin(&mut sim, "GET", "/_sim/metadata", Value::Null, t0);
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["rotation_ms"], 3_600_000);
    // Fields left out keep their value.
    let (st, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/metadata",
        json!({"enabled": true, "rotation_ms": 2000, "lifetime_ms": 6000}),
        t0,
    );
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["session_tokens"], "required");
    let (_, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/metadata",
        json!({"agency": false, "session_tokens": "unsupported_405"}),
        t0,
    );
    assert_eq!(
        (
            v["enabled"].clone(),
            v["agency"].clone(),
            v["rotation_ms"].clone()
        ),
        (json!(true), json!(false), json!(2000))
    );
    assert_eq!(sim.metadata().session_tokens, SessionTokens::Unsupported405);
    let (_, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/metadata",
        json!({"agency": true, "faults": {"server_error": {"status": 503}}}),
        t0,
    );
    assert_eq!(v["faults"]["server_error"]["status"], 503);
    assert_eq!(
        reply(&sim.handle(&get_key(None), t0, wall())).status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Bad input names the problem and changes nothing.
    for bad in [
        json!({"lifetime_ms": 1000}),
        json!({"rotation_ms": 0}),
        json!({"session_tokens": "sometimes"}),
        json!({"rotation": 5}),
        json!([1]),
    ] {
        let (st, v) = admin(&mut sim, "PUT", "/_sim/metadata", bad.clone(), t0);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad} -> {v}");
        assert_eq!(v["error_code"], "SIM.invalid");
    }
    assert_eq!(sim.metadata().rotation, s(2));
    let (st, _) = admin(&mut sim, "DELETE", "/_sim/metadata", Value::Null, t0);
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);

    // Generations, at 5 s: the newest is 2, generation 0 still lives.
    let (st, v) = admin(
        &mut sim,
        "GET",
        "/_sim/metadata/generations",
        Value::Null,
        t0 + s(5),
    );
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["newest"]["number"], 2);
    assert_eq!(
        v["newest"]["access_key"],
        sim.metadata_generation(2).access_key.as_str()
    );
    assert_eq!(
        (
            v["newest"]["issued_at_ms"].clone(),
            v["newest"]["expires_at_ms"].clone()
        ),
        (json!(4000), json!(10000))
    );
    assert_eq!(
        (v["oldest_live"].clone(), v["generations_issued"].clone()),
        (json!(0), json!(3))
    );
    assert!(
        v["newest"].get("secret").is_none()
            && !v
                .to_string()
                .contains(sim.metadata_generation(2).secret_key.expose())
    );

    // Tokens: revoke over the admin API.
    sim.apply(Op::SetMetadata(Metadata::on()), t0).unwrap();
    let t = token(&mut sim, t0, 60);
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/metadata/generations",
        Value::Null,
        t0,
    );
    assert_eq!(v["session_tokens"], 1);
    let (st, v) = admin(
        &mut sim,
        "POST",
        "/_sim/metadata/revoke-tokens",
        Value::Null,
        t0,
    );
    assert_eq!((st, v), (StatusCode::OK, json!({"revoked": 1})));
    assert_eq!(
        reply(&sim.handle(&get_key(Some(&t)), t0, wall())).status,
        StatusCode::UNAUTHORIZED
    );
    let (_, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/metadata",
        json!({"enabled": false}),
        t0,
    );
    assert_eq!(v["enabled"], false);
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/metadata/generations",
        Value::Null,
        t0,
    );
    assert_eq!(
        (v["newest"].clone(), v["oldest_live"].clone()),
        (Value::Null, Value::Null)
    );
    let (_, v) = admin(&mut sim, "GET", "/_sim", Value::Null, t0);
    assert_eq!(v["metadata"], false);
}

#[test]
fn reset_restores_the_metadata_settings_and_forgets_tokens() {
    let (mut sim, t0) = meta_sim(rotating());
    let t = token(&mut sim, t0, 600);
    sim.apply(Op::SetMetadata(Metadata::off()), t0).unwrap();
    sim.apply(Op::Reset { instances: None }, t0).unwrap();
    assert_eq!(sim.metadata(), &rotating());
    assert_eq!(sim.global_counters().metadata_token_requests, 0);
    assert_eq!(
        reply(&sim.handle(&get_key(Some(&t)), t0, wall())).status,
        StatusCode::UNAUTHORIZED
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Put(u64),
        Advance(u64),
        Get(usize),
        Revoke,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u64..5).prop_map(Op::Put),
            (0u64..3000).prop_map(Op::Advance),
            (0usize..8).prop_map(Op::Get),
            Just(Op::Revoke),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// A token opens `securitykey` exactly while it is neither expired
        /// (its TTL counted in simulated time) nor revoked.
        #[test]
        fn tokens_follow_a_model(ops in proptest::collection::vec(op(), 0..40)) {
            let (mut sim, t0) = meta_sim(Metadata::on());
            let mut now_ms = 0u64;
            // (token, expires at ms, revoked)
            let mut model: Vec<(String, u64, bool)> = Vec::new();
            for op in ops {
                let at = t0 + ms(now_ms);
                match op {
                    Op::Put(ttl) => {
                        let t = token(&mut sim, at, ttl);
                        prop_assert!(model.iter().all(|(m, _, _)| *m != t));
                        model.push((t, now_ms + ttl * 1000, false));
                    }
                    Op::Advance(d) => now_ms += d,
                    Op::Get(i) => {
                        let Some((t, exp, revoked)) = model.get(i).cloned() else { continue };
                        let d = sim.handle(&get_key(Some(&t)), at, wall());
                        let open = !revoked && now_ms < exp;
                        prop_assert_eq!(reply(&d).status == StatusCode::OK, open);
                    }
                    Op::Revoke => {
                        let live = model.iter().filter(|(_, e, r)| !r && now_ms < *e).count();
                        prop_assert_eq!(sim.apply(crate::Op::RevokeMetadataTokens, at).unwrap(), Outcome::Revoked(live));
                        for m in &mut model {
                            m.2 = true;
                        }
                    }
                }
            }
        }
    }
}
