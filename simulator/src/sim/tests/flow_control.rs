//! The gateway's flow control through the heart: fixed windows, refused
//! calls counted, per API and per user, the vendor's `APIGW.0308` body, and
//! what the request log and counters show of it.

use super::*;
use crate::arrivals::Throttled;
use crate::flow::{FlowPolicy, PolicyScope};
use crate::metadata::Metadata;

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn flow_sim(policies: &[FlowPolicy]) -> (Simulator, Instant) {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .flow_policies(policies.iter().copied())
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    make(&mut sim, "ins-2", Schedule::instant(), t0);
    (sim, t0)
}

fn with_token(path: &str, token: &str) -> Request<Vec<u8>> {
    Request::get(path)
        .header("X-Auth-Token", token)
        .body(Vec::new())
        .unwrap()
}

fn status_at(sim: &mut Simulator, req: &Request<Vec<u8>>, at: Instant) -> u16 {
    reply(&sim.handle(req, at, wall())).status.as_u16()
}

#[test]
fn over_the_limit_the_gateway_answers_its_own_429() {
    let (mut sim, t0) = flow_sim(&[FlowPolicy::per_user(20, s(1))]);
    let req = with_token(&status_path("ins-1"), "user-a");
    for n in 0..20 {
        assert_eq!(status_at(&mut sim, &req, t0 + ms(n * 10)), 200, "call {n}");
    }
    let d = sim.handle(&req, t0 + ms(500), wall());
    assert_eq!(d.fault, Some(FaultKind::FlowControl));
    let r = reply(&d);
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["content-type"], "application/json");
    assert!(
        !r.headers.contains_key("retry-after"),
        "the gateway sends no Retry-After"
    );
    let id = r.request_id().unwrap();
    assert_eq!(id, d.request_id);
    assert_eq!(
        std::str::from_utf8(&r.body).unwrap(),
        format!(
            r#"{{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second","error_code":"APIGW.0308","request_id":"{id}"}}"#
        )
    );
    assert!(r.headers.contains_key("date"));
    let c = sim.counters();
    assert_eq!((c.global.throttled, c.global.gateway_throttled), (1, 1));
    assert_eq!(c.instances["ins-1"].throttled, 1);
    assert!(c.global.faults.is_empty(), "429s are not faults");
    assert_eq!(c.global.by_status[&429], 1);
}

#[test]
fn windows_are_fixed_from_the_start_and_retries_count_again() {
    let (mut sim, t0) = flow_sim(&[FlowPolicy::per_api(3, s(6))]);
    let req = get(&status_path("ins-1"));
    // The first call comes late in window 0: the window still ends at 6 s.
    let got: Vec<u16> = [5000, 5100, 5200, 5300, 5999]
        .into_iter()
        .map(|t| status_at(&mut sim, &req, t0 + ms(t)))
        .collect();
    assert_eq!(got, [200, 200, 200, 429, 429]);
    // Window 1 begins at 6 s sharp: three pass, and a client retrying every
    // 100 ms is refused for the rest of the window, every retry counted.
    let got: Vec<u16> = (0..30)
        .map(|n| status_at(&mut sim, &req, t0 + ms(6000 + n * 100)))
        .collect();
    assert_eq!(&got[..3], [200, 200, 200]);
    assert!(got[3..].iter().all(|&s| s == 429), "{got:?}");
    assert_eq!(status_at(&mut sim, &req, t0 + ms(12_000)), 200);

    let records = sim.request_records();
    assert_eq!(records.len(), 36);
    let windows: Vec<(u64, u64)> = records
        .iter()
        .filter_map(|r| r.throttled.map(|t| (r.seq, t.window_index)))
        .collect();
    assert_eq!(windows[0], (4, 0));
    assert_eq!(windows[2], (9, 1));
    assert_eq!(windows.len(), 2 + 27);
    let t = records[3].throttled.unwrap();
    assert_eq!(
        t,
        Throttled {
            policy_index: 0,
            policy: FlowPolicy::per_api(3, s(6)),
            window_index: 0,
        }
    );
    assert_eq!(records[3].status, Some(429));
    assert_eq!(records[3].at, ms(5300));
    assert_eq!(records[3].instance_id.as_deref(), Some("ins-1"));
}

#[test]
fn a_per_api_policy_counts_every_status_call_and_nothing_else() {
    let (mut sim, t0) = flow_sim(&[FlowPolicy::per_api(4, s(1))]);
    // Different instances, an unknown one, another project, other callers:
    // one API.
    for (path, token) in [
        (status_path("ins-1"), "a"),
        (status_path("ins-2"), "b"),
        (status_path("nope"), "c"),
        ("/v1/other-project/instances/ins-1/status".to_owned(), "d"),
    ] {
        let st = status_at(&mut sim, &with_token(&path, token), t0);
        assert_ne!(st, 429, "{path}");
    }
    // Not the API: unknown paths, other methods, admin, are not counted.
    assert_eq!(status_at(&mut sim, &get("/v2/whatever"), t0), 404);
    let post = Request::post(status_path("ins-1"))
        .header("X-Auth-Token", "a")
        .body(Vec::new())
        .unwrap();
    assert_eq!(status_at(&mut sim, &post, t0), 405);
    admin(&mut sim, "GET", "/_sim/counters", Value::Null, t0);
    // The fifth status call is refused, even with no credentials at all.
    let bare = Request::get(status_path("ins-2")).body(Vec::new()).unwrap();
    let d = sim.handle(&bare, t0, wall());
    assert_eq!(reply(&d).status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        json_of(reply(&d))["error_msg"]
            .as_str()
            .unwrap()
            .contains("policy api over ratelimit,limit:4,time:1 second")
    );
}

#[test]
fn a_per_user_policy_counts_each_access_key_and_token_apart() {
    let (mut sim, t0) = flow_sim(&[FlowPolicy::per_user(2, s(1))]);
    let path = status_path("ins-1");
    for token in ["a", "b"] {
        for _ in 0..2 {
            assert_eq!(status_at(&mut sim, &with_token(&path, token), t0), 200);
        }
        assert_eq!(status_at(&mut sim, &with_token(&path, token), t0), 429);
    }
    // Signed requests count by access key (signature not checked here:
    // the simulator accepts any well-formed signature).
    for ak in ["AK-ONE", "AK-TWO"] {
        let creds = Credentials::ak_sk(ak, "secret").unwrap();
        let req = signed(creds, "ins-1", wall());
        assert_eq!(status_at(&mut sim, &req, t0), 200);
        assert_eq!(status_at(&mut sim, &req, t0), 200);
        assert_eq!(status_at(&mut sim, &req, t0), 429);
    }
    // A call with no credential is not counted per user (it gets 401).
    let bare = Request::get(&path).body(Vec::new()).unwrap();
    for _ in 0..3 {
        assert_eq!(status_at(&mut sim, &bare, t0), 401);
    }
}

#[test]
fn several_policies_the_first_exhausted_one_is_quoted() {
    let user = FlowPolicy::per_user(2, s(1));
    let api = FlowPolicy::per_api(5, s(60));
    let (mut sim, t0) = flow_sim(&[user, api]);
    let msg = |sim: &mut Simulator, token: &str, at: Instant| {
        let d = sim.handle(&with_token(&status_path("ins-1"), token), at, wall());
        let r = reply(&d);
        (r.status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| json_of(r)["error_msg"].as_str().unwrap().to_owned())
    };
    assert_eq!(msg(&mut sim, "a", t0), None);
    assert_eq!(msg(&mut sim, "a", t0), None);
    let m = msg(&mut sim, "a", t0).unwrap();
    assert!(
        m.ends_with("policy user over ratelimit,limit:2,time:1 second"),
        "{m}"
    );
    // b: its two calls pass the user policy, and the API's 5 in a minute
    // are now used up (a's refused call counted too).
    assert_eq!(msg(&mut sim, "b", t0), None);
    assert_eq!(msg(&mut sim, "b", t0), None);
    let m = msg(&mut sim, "c", t0 + ms(100)).unwrap();
    assert!(
        m.ends_with("policy api over ratelimit,limit:5,time:1 minute"),
        "{m}"
    );
    // A caller over both is quoted the first in order, the user policy.
    let m = msg(&mut sim, "b", t0 + ms(200)).unwrap();
    assert!(m.contains("policy user"), "{m}");
    let recs = sim.request_records();
    let by: Vec<Option<(usize, PolicyScope)>> = recs
        .iter()
        .map(|r| r.throttled.map(|t| (t.policy_index, t.policy.scope)))
        .collect();
    assert_eq!(
        by,
        [
            None,
            None,
            Some((0, PolicyScope::User)),
            None,
            None,
            Some((1, PolicyScope::Api)),
            Some((0, PolicyScope::User)),
        ]
    );
}

#[test]
fn clock_jumps_move_the_windows() {
    let (mut sim, t0) = flow_sim(&[FlowPolicy::per_api(1, s(3600))]);
    let req = get(&status_path("ins-1"));
    assert_eq!(status_at(&mut sim, &req, t0), 200);
    assert_eq!(status_at(&mut sim, &req, t0 + ms(1)), 429);
    sim.apply(Op::AdvanceClock(s(3600)), t0).unwrap();
    assert_eq!(status_at(&mut sim, &req, t0 + ms(2)), 200);
    let recs = sim.request_records();
    assert_eq!(recs[1].throttled.unwrap().window_index, 0);
    assert_eq!(status_at(&mut sim, &req, t0 + ms(3)), 429);
    assert_eq!(sim.request_records()[3].throttled.unwrap().window_index, 1);
}

#[test]
fn setting_policies_restarts_the_counts_and_reset_restores_them() {
    let (mut sim, t0) = flow_sim(&[FlowPolicy::per_api(1, s(10))]);
    let req = get(&status_path("ins-1"));
    assert_eq!(status_at(&mut sim, &req, t0), 200);
    assert_eq!(status_at(&mut sim, &req, t0), 429);
    sim.apply(Op::SetFlowPolicies(vec![FlowPolicy::per_api(2, s(10))]), t0)
        .unwrap();
    assert_eq!(sim.flow_policies(), [FlowPolicy::per_api(2, s(10))]);
    assert_eq!(status_at(&mut sim, &req, t0), 200);
    assert_eq!(status_at(&mut sim, &req, t0), 200);
    assert_eq!(status_at(&mut sim, &req, t0), 429);
    sim.apply(Op::SetFlowPolicies(Vec::new()), t0).unwrap();
    for _ in 0..10 {
        assert_eq!(status_at(&mut sim, &req, t0), 200);
    }
    let e = sim
        .apply(
            Op::SetFlowPolicies(vec![FlowPolicy::per_api(1, ms(1500))]),
            t0,
        )
        .unwrap_err();
    assert_eq!(e.kind(), "invalid");
    assert!(
        sim.flow_policies().is_empty(),
        "a refused setting changes nothing"
    );
    sim.apply(Op::Reset { instances: None }, t0 + ms(1))
        .unwrap();
    assert_eq!(sim.flow_policies(), [FlowPolicy::per_api(1, s(10))]);
    // The reset forgot the instance (none configured): 404, yet counted.
    assert_eq!(status_at(&mut sim, &req, t0 + ms(2)), 404);
    assert_eq!(status_at(&mut sim, &req, t0 + ms(3)), 429);
    assert_eq!(sim.request_records().len(), 2, "reset empties the log");
}

#[test]
fn metadata_and_iam_are_not_throttled_by_the_gateways_policies() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .metadata(Metadata::on())
        .flow_policy(FlowPolicy::per_api(1, s(60)))
        .flow_policy(FlowPolicy::per_user(1, s(60)))
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    for _ in 0..5 {
        let put = Request::put("/meta-data/latest/api/token")
            .header("X-Metadata-Token-Ttl-Seconds", "60")
            .body(Vec::new())
            .unwrap();
        assert_eq!(status_at(&mut sim, &put, t0), 200);
        let iam = with_token("/v3/projects?name=cn-east-3", "t");
        assert_eq!(status_at(&mut sim, &iam, t0), 200);
    }
    let c = sim.counters().global;
    assert_eq!((c.throttled, c.requests), (0, 0));
}

#[test]
fn a_token_bucket_in_front_refuses_before_the_gateway_counts() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .token_bucket(1.0)
        .flow_policy(FlowPolicy::per_api(2, s(10)))
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    let req = get(&status_path("ins-1"));
    // One token a second: the calls between are the proxy's 429s, with
    // Retry-After, and the gateway does not see them.
    let d = |sim: &mut Simulator, t| sim.handle(&req, t0 + ms(t), wall());
    assert_eq!(d(&mut sim, 0).fault, None);
    let proxy = d(&mut sim, 10);
    assert_eq!(proxy.fault, Some(FaultKind::RateLimit));
    assert!(reply(&proxy).headers.contains_key("retry-after"));
    assert_eq!(d(&mut sim, 1000).fault, None);
    let gw = d(&mut sim, 2000);
    assert_eq!(gw.fault, Some(FaultKind::FlowControl));
    assert!(!reply(&gw).headers.contains_key("retry-after"));
    let c = sim.counters().global;
    assert_eq!((c.throttled, c.gateway_throttled), (2, 1));
    let recs = sim.request_records();
    assert!(recs[1].throttled.is_none());
    assert_eq!(recs[1].fault, Some(FaultKind::RateLimit));
    assert!(recs[3].throttled.is_some());
}

#[test]
fn admin_reads_and_sets_the_policies_and_shows_the_records() {
    let (mut sim, t0) = flow_sim(&[]);
    let (st, v) = admin(&mut sim, "GET", "/_sim/flow-control", Value::Null, t0);
    assert_eq!((st, v), (StatusCode::OK, json!({"policies": []})));
    let body = json!({"policies": [{"scope": "user", "limit": 1, "window_s": 60}, {"limit": 100, "window_s": 1}]});
    let (st, v) = admin(&mut sim, "PUT", "/_sim/flow-control", body, t0);
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"policies": [{"scope": "user", "limit": 1, "window_s": 60}, {"scope": "api", "limit": 100, "window_s": 1}]})
    );
    assert_eq!(
        sim.flow_policies(),
        [
            FlowPolicy::per_user(1, s(60)),
            FlowPolicy::per_api(100, s(1))
        ]
    );
    for bad in [
        json!({"policies": [{"limit": 0, "window_s": 1}]}),
        json!({"policies": [{"limit": 1, "window_s": 0}]}),
        json!({"policies": [{"limit": 1, "window_ms": 500}]}),
        json!({"policies": [{"scope": "app", "limit": 1, "window_s": 1}]}),
        json!({"policy": []}),
    ] {
        let (st, v) = admin(&mut sim, "PUT", "/_sim/flow-control", bad.clone(), t0);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {v}");
        assert_eq!(v["error_code"], "SIM.invalid");
    }
    let (st, _) = admin(&mut sim, "POST", "/_sim/flow-control", Value::Null, t0);
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);

    let req = with_token(&status_path("ins-1"), "u");
    assert_eq!(status_at(&mut sim, &req, t0 + ms(1500)), 200);
    assert_eq!(status_at(&mut sim, &req, t0 + ms(2500)), 429);
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/requests?records=true",
        Value::Null,
        t0,
    );
    assert_eq!(v["count"], 2);
    assert_eq!(
        v["records"][1],
        json!({"seq": 2, "at_us": 2_500_000, "instance_id": "ins-1", "status": 429,
               "fault": "flow_control",
               "throttled": {"policy_index": 0, "scope": "user", "limit": 1, "window_s": 60, "window_index": 0},
               "connection": null, "reused": false})
    );
    assert_eq!(v["records"][0]["throttled"], Value::Null);
    let (_, v) = admin(
        &mut sim,
        "GET",
        "/_sim/requests?records=true&from_seq=2",
        Value::Null,
        t0,
    );
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    let (_, v) = admin(&mut sim, "GET", "/_sim/requests", Value::Null, t0);
    assert!(v.get("records").is_none(), "records only when asked for");
    let (st, v) = admin(
        &mut sim,
        "GET",
        "/_sim/requests?records=yes",
        Value::Null,
        t0,
    );
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["error_msg"].as_str().unwrap().contains("records=true"));
    let (_, v) = admin(&mut sim, "GET", "/_sim/counters", Value::Null, t0);
    assert_eq!(v["global"]["gateway_throttled"], 1);
    assert_eq!(v["global"]["throttled"], 1);
}
