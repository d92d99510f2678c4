//! The stale-connection fault through the heart: which requests it closes
//! unanswered, from the `ConnectionInfo` the shell attaches, on which
//! routes, and what counters and the request log show.

use super::*;
use crate::faults::{CloseWith, ConnectionInfo, StaleConnections};
use crate::flow::FlowPolicy;
use crate::metadata::Metadata;

fn on(conn: u64, nth: u64, idle_ms: u64, path: &str) -> Request<Vec<u8>> {
    let mut req = get(path);
    req.extensions_mut()
        .insert(ConnectionInfo::new(conn, nth, ms(idle_ms)));
    req
}

fn stale_sim(stale: StaleConnections) -> (Simulator, Instant) {
    let (mut sim, t0) = sim();
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    sim.apply(
        Op::SetFaults(Faults {
            stale_connections: Some(stale),
            ..Faults::none()
        }),
        t0,
    )
    .unwrap();
    (sim, t0)
}

#[test]
fn a_reused_connection_is_closed_unanswered_after_its_first_request() {
    let (mut sim, t0) = stale_sim(StaleConnections::reused());
    let path = status_path("ins-1");
    let first = sim.handle(&on(1, 1, 0, &path), t0, wall());
    assert_eq!(reply(&first).status, StatusCode::OK);
    let second = sim.handle(&on(1, 2, 0, &path), t0 + ms(5), wall());
    assert_eq!(second.delivery, Delivery::Close);
    assert_eq!(second.fault, Some(FaultKind::StaleConnection));
    assert!(second.reply().is_none());
    // A new connection is answered again.
    let fresh = sim.handle(&on(2, 1, 0, &path), t0 + ms(6), wall());
    assert_eq!(reply(&fresh).status, StatusCode::OK);
    // A request without connection info is a fresh connection.
    assert_eq!(
        reply(&sim.handle(&get(&path), t0, wall())).status,
        StatusCode::OK
    );

    let c = sim.counters();
    assert_eq!(c.global.requests, 4, "the closed request was seen");
    assert_eq!(c.global.stale_closed, 1);
    assert_eq!(c.global.faults["stale_connection"], 1);
    assert_eq!(
        c.instances["ins-1"].requests, 3,
        "it never reached the instance"
    );
    let recs = sim.request_records();
    let shape: Vec<_> = recs
        .iter()
        .map(|r| (r.connection, r.reused, r.status, r.fault))
        .collect();
    assert_eq!(
        shape,
        [
            (Some(1), false, Some(200), None),
            (Some(1), true, None, Some(FaultKind::StaleConnection)),
            (Some(2), false, Some(200), None),
            (None, false, Some(200), None),
        ]
    );
    assert_eq!(recs[1].instance_id.as_deref(), Some("ins-1"));
}

#[test]
fn the_reset_shape_and_times() {
    let (mut sim, t0) = stale_sim(
        StaleConnections::reused()
            .with_close(CloseWith::Reset)
            .with_times(2),
    );
    let path = status_path("ins-1");
    let d: Vec<Delivery> = (2..=5)
        .map(|n| sim.handle(&on(n, 2, 0, &path), t0, wall()).delivery)
        .collect();
    assert_eq!(d[0], Delivery::Reset);
    assert_eq!(d[1], Delivery::Reset);
    assert!(matches!(d[2], Delivery::Respond(_)), "disarmed after two");
    assert!(sim.faults().stale_connections.is_none());
    assert_eq!(sim.counters().global.stale_closed, 2);
}

#[test]
fn the_idle_shape_closes_connections_idle_too_long_first_requests_included() {
    let (mut sim, t0) = stale_sim(StaleConnections::idle_longer_than(ms(2000)));
    let path = status_path("ins-1");
    let status = |sim: &mut Simulator, nth, idle| {
        let d = sim.handle(&on(1, nth, idle, &path), t0, wall());
        d.reply().map(|r| r.status.as_u16())
    };
    assert_eq!(status(&mut sim, 2, 0), Some(200), "reused but busy");
    assert_eq!(status(&mut sim, 3, 2000), Some(200), "exactly the limit");
    assert_eq!(status(&mut sim, 4, 2001), None);
    assert_eq!(status(&mut sim, 1, 5000), None, "idle since accepted");
}

#[test]
fn every_route_but_admin_is_closed_and_the_gateway_never_counts_it() {
    let t0 = Instant::now();
    let config = SimConfig::builder()
        .project_id(P)
        .metadata(Metadata::on())
        .flow_policy(FlowPolicy::per_api(1, Duration::from_secs(60)))
        .faults(Faults {
            stale_connections: Some(StaleConnections::reused()),
            ..Faults::none()
        })
        .build()
        .unwrap();
    let mut sim = Simulator::new(&config, t0);
    let with = |mut req: Request<Vec<u8>>| {
        req.extensions_mut()
            .insert(ConnectionInfo::new(9, 2, Duration::ZERO));
        req
    };
    let put = Request::put("/meta-data/latest/api/token")
        .header("X-Metadata-Token-Ttl-Seconds", "60")
        .body(Vec::new())
        .unwrap();
    let iam = get("/v3/projects?name=cn-east-3");
    let status = get(&status_path("ins-1"));
    let unknown = get("/nowhere");
    for req in [put, iam, status, unknown] {
        let d = sim.handle(&with(req), t0, wall());
        assert_eq!(d.delivery, Delivery::Close);
    }
    let d = sim.handle(&with(get("/_sim/counters")), t0, wall());
    let c = json_of(reply(&d));
    assert_eq!(c["global"]["stale_closed"], 4);
    assert_eq!(c["global"]["metadata_token_requests"], 1);
    assert_eq!(c["global"]["iam_requests"], 1);
    assert_eq!(c["global"]["requests"], 2);
    // Not one of the closed status calls reached the gateway's count.
    assert_eq!(
        reply(&sim.handle(&get(&status_path("ins-1")), t0, wall())).status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn only_the_global_faults_may_close_connections() {
    let (mut sim, t0) = sim();
    let stale = Faults {
        stale_connections: Some(StaleConnections::reused()),
        ..Faults::none()
    };
    let e = sim
        .create_instance(NewInstance::new().with_faults(stale.clone()), t0)
        .unwrap_err();
    assert!(e.to_string().contains("only to the global faults"), "{e}");
    make(&mut sim, "ins-1", Schedule::instant(), t0);
    assert!(
        sim.apply(
            Op::SetInstanceFaults {
                id: "ins-1".to_owned(),
                faults: stale.clone()
            },
            t0
        )
        .is_err()
    );
    let e = sim
        .apply(
            Op::SetMetadata(Metadata::on().with_faults(stale.clone())),
            t0,
        )
        .unwrap_err();
    assert!(e.to_string().contains("metadata faults"), "{e}");
    assert!(sim.apply(Op::SetFaults(stale), t0).is_ok());
}

#[test]
fn json_shape_through_the_admin_api() {
    let (mut sim, t0) = sim();
    let body = json!({"stale_connections": {"idle_ms": 2000, "close": "reset"}});
    let (st, v) = admin(&mut sim, "PUT", "/_sim/faults", body.clone(), t0);
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v, body);
    assert_eq!(
        sim.faults().stale_connections,
        Some(StaleConnections::idle_longer_than(ms(2000)).with_close(CloseWith::Reset))
    );
    let (_, v) = admin(
        &mut sim,
        "PUT",
        "/_sim/faults",
        json!({"stale_connections": {}}),
        t0,
    );
    assert_eq!(v, json!({"stale_connections": {"close": "eof"}}));
    for bad in [
        json!({"stale_connections": {"close": "rst"}}),
        json!({"stale_connections": {"idle": 5}}),
        json!({"stale_connections": {"rate": 2}}),
    ] {
        let (st, _) = admin(&mut sim, "PUT", "/_sim/faults", bad.clone(), t0);
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (st, v) = admin(
        &mut sim,
        "POST",
        "/_sim/instances",
        json!({"id": "x", "faults": {"stale_connections": {}}}),
        t0,
    );
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
}
