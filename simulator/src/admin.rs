//! The admin API under `/_sim/`: JSON in, JSON out, no auth, no faults.
//!
//! Owns the routes and their JSON shapes; every operation is a method of
//! [`Simulator`], so Rust callers and HTTP callers get the same behaviour.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /_sim` | | `{"project_id", "auth", "example_token"?, "seed", "instances", "elapsed_ms", "metadata": bool, "offset_s"}` |
//! | `GET /_sim/instances` | | `{"instances": [InstanceView...]}` |
//! | `POST /_sim/instances` | `{"id"?, "schedule"?, "faults"?}` | 201 `InstanceView` |
//! | `GET /_sim/instances/{id}` | | `InstanceView` |
//! | `POST /_sim/instances/{id}/delete` | `{"fail"?: bool}` | `InstanceView` |
//! | `POST /_sim/instances/{id}/power-off` | | `InstanceView` |
//! | `POST /_sim/instances/{id}/power-on` | | `InstanceView` |
//! | `POST /_sim/instances/{id}/reinstall` | `{"fail"?: bool}` | `InstanceView` |
//! | `POST /_sim/instances/{id}/fail` | `{"state"?: "error" \| "failed"}` | `InstanceView` |
//! | `GET`/`PUT /_sim/instances/{id}/faults` | `Faults` | `Faults` |
//! | `GET /_sim/faults` | | `{"global": Faults, "instances": {id: Faults}}` |
//! | `PUT /_sim/faults` | `Faults` | `Faults` |
//! | `GET /_sim/flow-control` | | `{"policies": [FlowPolicy...]}` |
//! | `PUT /_sim/flow-control` | `{"policies": [{"scope"?: "api" \| "user", "limit": n, "window_s": n}...]}` | `{"policies": [...]}` |
//! | `GET /_sim/counters` | | `{"global": Counters, "instances": {id: InstanceCounters}}` |
//! | `GET /_sim/requests[?window_ms=N][&records=true][&from_seq=N]` | | `{"count", "window_ms", "max_in_window", "arrivals_us": [...], "records"?: [...]}` |
//! | `POST /_sim/reset` | `{"instances"?: n}` | `{"instances": [InstanceView...]}` |
//! | `GET /_sim/clock` | | `{"elapsed_ms", "offset_s"}` |
//! | `POST /_sim/clock` | `{"advance_ms": n}` | `{"elapsed_ms", "offset_s"}` |
//! | `PUT /_sim/clock` | `{"offset_s": n}` | `{"elapsed_ms", "offset_s"}` |
//! | `GET /_sim/metadata` | | `Metadata` |
//! | `PUT /_sim/metadata` | `Metadata`, any fields (the others are kept) | `Metadata` |
//! | `GET /_sim/metadata/generations` | | `{"newest": {"number", "access_key", "issued_at_ms", "expires_at_ms"} \| null, "oldest_live": n \| null, "generations_issued", "session_tokens"}` |
//! | `POST /_sim/metadata/revoke-tokens` | | `{"revoked": n}` |
//! | `GET /_sim/iam` | | `{"projects": [IamProject...]}` |
//! | `PUT /_sim/iam` | `{"projects": [{"id", "name", "domain_id"?, "enabled"?}...]}` | `{"projects": [...]}` |
//!
//! `Metadata` is
//! `{"enabled", "session_tokens": "required" | "unsupported_404" | "unsupported_405",
//! "agency", "rotation_ms", "lifetime_ms", "faults"?}` (see
//! [`Metadata`]); for example
//! `curl -X PUT $URL/_sim/metadata -d '{"enabled":true,"rotation_ms":2000,"lifetime_ms":6000}'`
//! then `-d '{"agency":false}'` to detach the agency, or
//! `-d '{"faults":{"server_error":{"status":503}}}'` to make it unavailable.
//! `/_sim/metadata/generations` shows no secrets: the credentials
//! themselves come from the metadata route, as clients get them. Times are
//! simulated milliseconds since the start; `oldest_live` to the newest's
//! `number` are the generations the gateway accepts. `offset_s` is the
//! gateway's clock offset in seconds (positive: ahead).
//!
//! `GET /_sim/requests` is the arrival log of
//! [`Simulator::requests`]: `count` API requests since the start or the
//! last reset (admin requests are not counted); `arrivals_us`, the most
//! recent of them (at most [`MAX_ARRIVALS`](crate::MAX_ARRIVALS)), as whole
//! microseconds of real time since the simulator started, ascending; and
//! `max_in_window`, the most of those inside any half-open window
//! `[t, t + window_ms)` (computed before rounding to microseconds).
//! `window_ms` defaults to 1000. For example
//! `{"count": 3, "window_ms": 1000, "max_in_window": 2, "arrivals_us": [1520, 2210, 1003400]}`.
//! With `records=true` it adds what became of each request
//! ([`RequestRecord`](crate::RequestRecord)), oldest first, from number
//! `from_seq` on (default 1):
//! `{"seq": 3, "at_us": 1003400, "instance_id": "ins-1" | null, "status": 429 | null,
//! "fault": "flow_control" | null, "throttled": {"policy_index": 0, "scope": "api",
//! "limit": 20, "window_s": 1, "window_index": 1} | null, "connection": 2 | null, "reused": false}`.
//!
//! `PUT /_sim/flow-control` replaces the gateway's flow-control policies
//! (see [`FlowPolicy`]); counting starts afresh, windows
//! stay aligned to the start; `{"policies": []}` turns flow control off.
//! For example `curl -X PUT $URL/_sim/flow-control -d '{"policies":[{"scope":"user","limit":20,"window_s":1}]}'`.
//! The stale-connection fault is one of the global faults:
//! `curl -X PUT $URL/_sim/faults -d '{"stale_connections":{"idle_ms":2000,"close":"reset"}}'`.
//!
//! Errors are `{"error_code": "SIM.<kind>", "error_msg": "..."}` with 400
//! (invalid input), 404 (no such instance or route), 405 (method) or 409
//! (exists already, or the action is not allowed in the instance's state).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clouddc_core::InstanceState;
use clouddc_core::http::{HeaderValue, Method, Request, StatusCode, header::ALLOW};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::EXAMPLE_TOKEN;
use crate::error::Error;
use crate::faults::Faults;
use crate::flow::FlowPolicy;
use crate::iam::IamProject;
use crate::lifecycle::Action;
use crate::metadata::Metadata;
use crate::sim::{NewInstance, Reply, Simulator};

fn error_reply(e: &Error) -> Reply {
    let status = match e {
        Error::UnknownInstance(_) => StatusCode::NOT_FOUND,
        Error::Duplicate(_) | Error::Conflict { .. } => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    Reply::error(status, &format!("SIM.{}", e.kind()), e.to_string())
}

fn not_found(path: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        "SIM.no_route",
        format!(
            "no admin route {path}; see GET /_sim for the simulator and the crate docs for the routes"
        ),
    )
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = Reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "SIM.method",
        format!("use {allow}"),
    );
    r.headers.insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// Parses a JSON body; an empty body is `{}`. `shape` is shown on errors.
fn body<T: DeserializeOwned>(raw: &[u8], shape: &str) -> Result<T, Error> {
    let raw = if raw.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        raw
    };
    serde_json::from_slice(raw)
        .map_err(|e| Error::Invalid(format!("request body: {e}; expected {shape}")))
}

const FAULTS_SHAPE: &str = r#"a faults object such as {"reset": {"times": 1}, "latency_ms": 100}"#;
const CREATE_SHAPE: &str = r#"{"id"?: "...", "schedule"?: {"pending_ms": 3000, "create_fails": false, ...}, "faults"?: {...}}"#;

fn ok(value: &impl Serialize) -> Reply {
    Reply::json(StatusCode::OK, value)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    fail: Option<bool>,
    state: Option<InstanceState>,
}

fn action(name: &str, raw: &[u8]) -> Result<Option<Action>, Error> {
    let b: ActionBody = body(raw, r#"{"fail"?: true} or {"state"?: "error" | "failed"}"#)?;
    let no_fail = |a: Action| match b.fail {
        Some(_) => Err(Error::Invalid(format!("{name} takes no \"fail\""))),
        None => Ok(a),
    };
    let no_state = |a: Action| match &b.state {
        Some(_) => Err(Error::Invalid(format!("{name} takes no \"state\""))),
        None => Ok(a),
    };
    let fail = b.fail.unwrap_or(false);
    Ok(Some(match name {
        "delete" => no_state(Action::Delete { fail })?,
        "reinstall" => no_state(Action::Reinstall { fail })?,
        "power-off" => no_state(no_fail(Action::PowerOff)?)?,
        "power-on" => no_state(no_fail(Action::PowerOn)?)?,
        "fail" => no_fail(Action::Fail {
            to: b.state.clone(),
        })?,
        _ => return Ok(None),
    }))
}

/// Answers one admin request (`path` starts with `/_sim`).
pub(crate) fn route<B: AsRef<[u8]>>(sim: &mut Simulator, req: &Request<B>, now: Instant) -> Reply {
    let path = req.uri().path();
    let rest = path.strip_prefix("/_sim").unwrap_or(path).trim_matches('/');
    let segs: Result<Vec<String>, _> = if rest.is_empty() {
        Ok(Vec::new())
    } else {
        rest.split('/')
            .map(|s| percent_decode_str(s).decode_utf8().map(|c| c.into_owned()))
            .collect()
    };
    let Ok(segs) = segs else {
        return error_reply(&Error::Invalid(
            "the path is not UTF-8 once decoded".to_owned(),
        ));
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let raw = req.body().as_ref();
    let m = req.method();
    let result: Result<Reply, Error> = match (segs.as_slice(), m) {
        ([], &Method::GET) => {
            let mut info = json!({
                "project_id": sim.project_id(),
                "auth": sim.auth_mode(),
                "seed": sim.seed(),
                "instances": sim.instances(now).len(),
                "elapsed_ms": u64::try_from(sim.elapsed(now).as_millis()).unwrap_or(u64::MAX),
                "metadata": sim.metadata().enabled,
                "offset_s": sim.clock_offset_secs(),
            });
            if sim.auth_mode() == "any_token" {
                info["example_token"] = json!(EXAMPLE_TOKEN);
            }
            Ok(ok(&info))
        }
        ([], _) => Ok(method_not_allowed("GET")),
        (["instances"], &Method::GET) => Ok(ok(&json!({ "instances": sim.instances(now) }))),
        (["instances"], &Method::POST) => create(sim, raw, now),
        (["instances"], _) => Ok(method_not_allowed("GET, POST")),
        (["instances", id], &Method::GET) => sim
            .instance(id, now)
            .map(|v| ok(&v))
            .ok_or_else(|| Error::UnknownInstance((*id).to_owned())),
        (["instances", _], _) => Ok(method_not_allowed("GET")),
        (["instances", id, "faults"], &Method::GET) => sim
            .instance_faults(id)
            .map(ok)
            .ok_or_else(|| Error::UnknownInstance((*id).to_owned())),
        (["instances", id, "faults"], &Method::PUT) => {
            body::<Faults>(raw, FAULTS_SHAPE).and_then(|f| {
                sim.set_instance_faults(id, f)?;
                Ok(ok(sim.instance_faults(id).unwrap_or(&Faults::default())))
            })
        }
        (["instances", _, "faults"], _) => Ok(method_not_allowed("GET, PUT")),
        (["instances", id, name], &Method::POST) => match action(name, raw) {
            Ok(Some(a)) => sim.act(id, a, now).map(|v| ok(&v)),
            Ok(None) => Ok(not_found(path)),
            Err(e) => Err(e),
        },
        (["instances", _, _], _) => Ok(method_not_allowed("POST")),
        (["faults"], &Method::GET) => {
            let per: BTreeMap<String, Faults> = sim
                .instances(now)
                .into_iter()
                .filter_map(|v| {
                    sim.instance_faults(&v.id)
                        .filter(|f| !f.is_empty())
                        .map(|f| (v.id.clone(), f.clone()))
                })
                .collect();
            Ok(ok(&json!({ "global": sim.faults(), "instances": per })))
        }
        (["faults"], &Method::PUT) => body::<Faults>(raw, FAULTS_SHAPE).and_then(|f| {
            sim.set_faults(f)?;
            Ok(ok(sim.faults()))
        }),
        (["faults"], _) => Ok(method_not_allowed("GET, PUT")),
        (["flow-control"], &Method::GET) => Ok(flow_control(sim)),
        (["flow-control"], &Method::PUT) => set_flow_control(sim, raw),
        (["flow-control"], _) => Ok(method_not_allowed("GET, PUT")),
        (["counters"], &Method::GET) => Ok(ok(&sim.counters())),
        (["counters"], _) => Ok(method_not_allowed("GET")),
        (["requests"], &Method::GET) => requests(sim, req.uri().query()),
        (["requests"], _) => Ok(method_not_allowed("GET")),
        (["reset"], &Method::POST) => reset(sim, raw, now),
        (["reset"], _) => Ok(method_not_allowed("POST")),
        (["clock"], &Method::GET) => Ok(clock(sim, now)),
        (["clock"], &Method::POST) => advance(sim, raw, now),
        (["clock"], &Method::PUT) => set_offset(sim, raw, now),
        (["clock"], _) => Ok(method_not_allowed("GET, POST, PUT")),
        (["metadata"], &Method::GET) => Ok(ok(sim.metadata())),
        (["metadata"], &Method::PUT) => set_metadata(sim, raw),
        (["metadata"], _) => Ok(method_not_allowed("GET, PUT")),
        (["metadata", "generations"], &Method::GET) => Ok(generations(sim, now)),
        (["metadata", "generations"], _) => Ok(method_not_allowed("GET")),
        (["metadata", "revoke-tokens"], &Method::POST) => {
            Ok(ok(&json!({ "revoked": sim.revoke_metadata_tokens(now) })))
        }
        (["metadata", "revoke-tokens"], _) => Ok(method_not_allowed("POST")),
        (["iam"], &Method::GET) => Ok(ok(&json!({ "projects": sim.iam_projects() }))),
        (["iam"], &Method::PUT) => set_iam(sim, raw),
        (["iam"], _) => Ok(method_not_allowed("GET, PUT")),
        _ => Ok(not_found(path)),
    };
    result.unwrap_or_else(|e| error_reply(&e))
}

fn create(sim: &mut Simulator, raw: &[u8], now: Instant) -> Result<Reply, Error> {
    let mut v: Value = body(raw, CREATE_SHAPE)?;
    // Schedule fields left out take the simulator's configured schedule.
    if let Some(given) = v.get("schedule").and_then(Value::as_object).cloned() {
        let mut merged =
            serde_json::to_value(sim.schedule()).map_err(|e| Error::Invalid(e.to_string()))?;
        if let Some(m) = merged.as_object_mut() {
            m.extend(given);
        }
        v["schedule"] = merged;
    }
    let new: NewInstance = serde_json::from_value(v)
        .map_err(|e| Error::Invalid(format!("request body: {e}; expected {CREATE_SHAPE}")))?;
    let view = sim.create_instance(new, now)?;
    let mut r = ok(&view);
    r.status = StatusCode::CREATED;
    Ok(r)
}

fn reset(sim: &mut Simulator, raw: &[u8], now: Instant) -> Result<Reply, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        instances: Option<usize>,
    }
    let b: Body = body(raw, r#"{"instances"?: n}"#)?;
    match b.instances {
        Some(n) if n > 100_000 => {
            return Err(Error::Invalid(format!(
                "{n} instances asked for; at most 100000"
            )));
        }
        Some(n) => sim.reset_with(n, now),
        None => sim.reset(now),
    }
    Ok(ok(&json!({ "instances": sim.instances(now) })))
}

fn clock(sim: &Simulator, now: Instant) -> Reply {
    ok(&json!({
        "elapsed_ms": millis(sim.elapsed(now)),
        "offset_s": sim.clock_offset_secs(),
    }))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn set_offset(sim: &mut Simulator, raw: &[u8], now: Instant) -> Result<Reply, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        offset_s: i64,
    }
    let b: Body = body(
        raw,
        r#"{"offset_s": n} (seconds; positive: the gateway is ahead)"#,
    )?;
    sim.set_clock_offset_secs(b.offset_s)?;
    Ok(clock(sim, now))
}

const METADATA_SHAPE: &str = r#"any of {"enabled": true, "session_tokens": "required" | "unsupported_404" | "unsupported_405", "agency": true, "rotation_ms": n, "lifetime_ms": n, "faults": {...}}"#;

/// Fields left out keep their value.
fn set_metadata(sim: &mut Simulator, raw: &[u8]) -> Result<Reply, Error> {
    let given: serde_json::Map<String, Value> = body(raw, METADATA_SHAPE)?;
    let mut merged =
        serde_json::to_value(sim.metadata()).map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(m) = merged.as_object_mut() {
        m.extend(given);
    }
    let m: Metadata = serde_json::from_value(merged)
        .map_err(|e| Error::Invalid(format!("request body: {e}; expected {METADATA_SHAPE}")))?;
    sim.set_metadata(m)?;
    Ok(ok(sim.metadata()))
}

fn generations(sim: &Simulator, now: Instant) -> Reply {
    let e = sim.elapsed(now);
    let m = sim.metadata();
    let newest = sim.metadata_credentials(now).map(|g| {
        json!({
            "number": g.number,
            "access_key": g.access_key,
            "issued_at_ms": millis(g.issued_at),
            "expires_at_ms": millis(g.expires_at),
        })
    });
    ok(&json!({
        "newest": newest,
        "oldest_live": m.enabled.then(|| m.oldest_live_at(e)),
        "generations_issued": sim.global_counters().metadata_generations,
        "session_tokens": sim.metadata_tokens(now),
    }))
}

fn set_iam(sim: &mut Simulator, raw: &[u8]) -> Result<Reply, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        projects: Vec<IamProject>,
    }
    let b: Body = body(
        raw,
        r#"{"projects": [{"id": "...", "name": "cn-east-3", "domain_id"?: "...", "enabled"?: true}]}"#,
    )?;
    sim.set_iam_projects(b.projects)?;
    Ok(ok(&json!({ "projects": sim.iam_projects() })))
}

fn flow_control(sim: &Simulator) -> Reply {
    ok(&json!({ "policies": sim.flow_policies() }))
}

fn set_flow_control(sim: &mut Simulator, raw: &[u8]) -> Result<Reply, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        policies: Vec<FlowPolicy>,
    }
    let b: Body = body(
        raw,
        r#"{"policies": [{"scope"?: "api" | "user", "limit": 20, "window_s": 1}]} (window_s: whole seconds)"#,
    )?;
    sim.set_flow_policies(b.policies)?;
    Ok(flow_control(sim))
}

fn advance(sim: &mut Simulator, raw: &[u8], now: Instant) -> Result<Reply, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        advance_ms: u64,
    }
    let b: Body = body(raw, r#"{"advance_ms": n}"#)?;
    sim.advance_clock(Duration::from_millis(b.advance_ms))?;
    Ok(clock(sim, now))
}

fn requests(sim: &Simulator, query: Option<&str>) -> Result<Reply, Error> {
    #[derive(Serialize)]
    struct Body {
        count: u64,
        window_ms: u64,
        max_in_window: usize,
        arrivals_us: Vec<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        records: Option<Vec<Value>>,
    }
    let mut window_ms = 1000;
    let mut records = false;
    let mut from_seq = 1;
    let number = |name: &str, v: &str| -> Result<u64, Error> {
        v.parse().map_err(|_| {
            Error::Invalid(format!(
                "{name} is {v:?}; expected a whole number, such as {name}=1000"
            ))
        })
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("window_ms", v)) => window_ms = number("window_ms", v)?,
            Some(("from_seq", v)) => from_seq = number("from_seq", v)?,
            Some(("records", "true")) => records = true,
            Some(("records", "false")) => records = false,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown query parameter {pair:?}; GET /_sim/requests takes window_ms=N, records=true|false and from_seq=N"
                )));
            }
        }
    }
    let log = sim.requests(Duration::from_millis(window_ms));
    let micros = |d: &Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let records = records.then(|| {
        sim.request_records_from(from_seq)
            .iter()
            .map(|r| {
                json!({
                    "seq": r.seq,
                    "at_us": micros(&r.at),
                    "instance_id": r.instance_id,
                    "status": r.status,
                    "fault": r.fault.map(|f| f.as_str()),
                    "throttled": r.throttled.map(|t| json!({
                        "policy_index": t.policy_index,
                        "scope": t.policy.scope,
                        "limit": t.policy.limit,
                        "window_s": t.policy.window.as_secs(),
                        "window_index": t.window_index,
                    })),
                    "connection": r.connection,
                    "reused": r.reused,
                })
            })
            .collect()
    });
    Ok(ok(&Body {
        count: log.count,
        window_ms,
        max_in_window: log.max_in_window,
        arrivals_us: log.arrivals.iter().map(micros).collect(),
        records,
    }))
}
