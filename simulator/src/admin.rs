//! The admin API under `/_sim/`: JSON in, JSON out, no auth, no faults.
//!
//! Owns the routes and their JSON shapes: each route reads its input into
//! an [`Op`], has the heart apply it (the same
//! [`Simulator::apply`](crate::Simulator::apply) that
//! [`Control`](crate::Control) uses, so Rust callers and HTTP callers get
//! the same behaviour) and renders the [`Outcome`]. Must not carry out an
//! operation or hold state (it never sees the simulator, only a function
//! that applies operations), and must not read a clock.
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
//! [`Simulator::requests`](crate::Simulator::requests): `count` API requests since the start or the
//! last reset (admin requests are not counted); `arrivals_us`, the most
//! recent of them (at most [`MAX_ARRIVALS`](crate::MAX_ARRIVALS)), as whole
//! microseconds of real time since the simulator started, ascending; and
//! `max_in_window`, the most of those inside any half-open window
//! `[t, t + window_ms)` (computed before rounding to microseconds).
//! `window_ms` defaults to 1000. For example
//! `{"count": 3, "window_ms": 1000, "max_in_window": 2, "arrivals_us": [1520, 2210, 1003400]}`.
//! With `records=true` it adds what became of each request
//! ([`RequestRecord`]), oldest first, from number
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

use std::time::Duration;

use clouddc_core::InstanceState;
use clouddc_core::http::{HeaderValue, Method, Request, StatusCode, header::ALLOW};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::arrivals::{RequestLog, RequestRecord};
use crate::auth::EXAMPLE_TOKEN;
use crate::error::Error;
use crate::flow::FlowPolicy;
use crate::iam::IamProject;
use crate::lifecycle::{Action, Schedule};
use crate::metadata::Metadata;
use crate::op::{Op, Outcome};
use crate::reply::Reply;

/// What a partial admin body is completed with: the settings in force.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    /// The schedule of instances created without one.
    pub(crate) schedule: Schedule,
    /// The metadata service's settings.
    pub(crate) metadata: Metadata,
}

/// Answers one admin request (`path` starts with `/_sim`), applying the
/// operations it asks for with `apply`.
pub(crate) fn answer<B: AsRef<[u8]>>(
    req: &Request<B>,
    defaults: &Defaults,
    mut apply: impl FnMut(Op) -> Result<Outcome, Error>,
) -> Reply {
    let result = route(req, defaults).and_then(|call| match call {
        Call::Apply(op, status) => apply(*op).map(|o| with_status(render(o), status)),
        Call::Requests {
            window,
            records_from,
        } => requests(window, records_from, &mut apply),
        Call::Answer(reply) => Ok(reply),
    });
    result.unwrap_or_else(|e| error_reply(&e))
}

/// What an admin request asks for.
enum Call {
    /// Apply this operation and answer its outcome with this status.
    Apply(Box<Op>, StatusCode),
    /// The request log over `window`, and its records from number
    /// `records_from` on when asked for (two operations, one answer).
    Requests {
        window: Duration,
        records_from: Option<u64>,
    },
    /// Answer this, applying nothing (no such route, wrong method).
    Answer(Reply),
}

impl Call {
    fn ok(op: Op) -> Self {
        Self::Apply(Box::new(op), StatusCode::OK)
    }
}

/// The route of an admin request, with its input read.
fn route<B: AsRef<[u8]>>(req: &Request<B>, defaults: &Defaults) -> Result<Call, Error> {
    let path = req.uri().path();
    let rest = path.strip_prefix("/_sim").unwrap_or(path).trim_matches('/');
    let segs: Vec<String> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/')
            .map(|s| percent_decode_str(s).decode_utf8().map(|c| c.into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|_| Error::Invalid("the path is not UTF-8 once decoded".to_owned()))?
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let raw = req.body().as_ref();
    let allow = |methods: &'static str| Ok(Call::Answer(method_not_allowed(methods)));
    let id = |id: &str| id.to_owned();
    match (segs.as_slice(), req.method()) {
        ([], &Method::GET) => Ok(Call::ok(Op::Info)),
        ([], _) => allow("GET"),
        (["instances"], &Method::GET) => Ok(Call::ok(Op::Instances)),
        (["instances"], &Method::POST) => new_instance(raw, &defaults.schedule)
            .map(|op| Call::Apply(Box::new(op), StatusCode::CREATED)),
        (["instances"], _) => allow("GET, POST"),
        (["instances", i], &Method::GET) => Ok(Call::ok(Op::Instance(id(i)))),
        (["instances", _], _) => allow("GET"),
        (["instances", i, "faults"], &Method::GET) => Ok(Call::ok(Op::InstanceFaults(id(i)))),
        (["instances", i, "faults"], &Method::PUT) => body(raw, FAULTS_SHAPE)
            .map(|faults| Call::ok(Op::SetInstanceFaults { id: id(i), faults })),
        (["instances", _, "faults"], _) => allow("GET, PUT"),
        (["instances", i, name], &Method::POST) => Ok(match action(name, raw)? {
            Some(action) => Call::ok(Op::Act { id: id(i), action }),
            None => Call::Answer(not_found(path)),
        }),
        (["instances", _, _], _) => allow("POST"),
        (["faults"], &Method::GET) => Ok(Call::ok(Op::Faults)),
        (["faults"], &Method::PUT) => body(raw, FAULTS_SHAPE).map(|f| Call::ok(Op::SetFaults(f))),
        (["faults"], _) => allow("GET, PUT"),
        (["flow-control"], &Method::GET) => Ok(Call::ok(Op::FlowPolicies)),
        (["flow-control"], &Method::PUT) => set_flow_control(raw).map(Call::ok),
        (["flow-control"], _) => allow("GET, PUT"),
        (["counters"], &Method::GET) => Ok(Call::ok(Op::Counters)),
        (["counters"], _) => allow("GET"),
        (["requests"], &Method::GET) => requests_query(req.uri().query()),
        (["requests"], _) => allow("GET"),
        (["reset"], &Method::POST) => reset(raw).map(Call::ok),
        (["reset"], _) => allow("POST"),
        (["clock"], &Method::GET) => Ok(Call::ok(Op::Clock)),
        (["clock"], &Method::POST) => advance(raw).map(Call::ok),
        (["clock"], &Method::PUT) => set_offset(raw).map(Call::ok),
        (["clock"], _) => allow("GET, POST, PUT"),
        (["metadata"], &Method::GET) => Ok(Call::ok(Op::Metadata)),
        (["metadata"], &Method::PUT) => set_metadata(raw, &defaults.metadata).map(Call::ok),
        (["metadata"], _) => allow("GET, PUT"),
        (["metadata", "generations"], &Method::GET) => Ok(Call::ok(Op::MetadataGenerations)),
        (["metadata", "generations"], _) => allow("GET"),
        (["metadata", "revoke-tokens"], &Method::POST) => Ok(Call::ok(Op::RevokeMetadataTokens)),
        (["metadata", "revoke-tokens"], _) => allow("POST"),
        (["iam"], &Method::GET) => Ok(Call::ok(Op::IamProjects)),
        (["iam"], &Method::PUT) => set_iam(raw).map(Call::ok),
        (["iam"], _) => allow("GET, PUT"),
        (["oidc"], &Method::GET) => Ok(Call::ok(Op::Oidc)),
        (["oidc"], &Method::PUT) => body(raw, OIDC_SHAPE).map(|o| Call::ok(Op::SetOidc(o))),
        (["oidc"], _) => allow("GET, PUT"),
        (["oidc", "id-tokens"], &Method::GET) => Ok(Call::ok(Op::OidcIdTokens)),
        (["oidc", "id-tokens"], _) => allow("GET"),
        _ => Ok(Call::Answer(not_found(path))),
    }
}

/// An outcome as its route answers it.
fn render(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Info {
            project_id,
            auth,
            seed,
            instances,
            elapsed,
            metadata,
            clock_offset_secs,
        } => {
            let mut info = json!({
                "project_id": project_id,
                "auth": auth,
                "seed": seed,
                "instances": instances,
                "elapsed_ms": millis(elapsed),
                "metadata": metadata,
                "offset_s": clock_offset_secs,
            });
            if auth == "any_token" {
                info["example_token"] = json!(EXAMPLE_TOKEN);
            }
            ok(&info)
        }
        Outcome::Instance(view) => ok(&view),
        Outcome::Instances(views) => ok(&json!({ "instances": views })),
        Outcome::Faults(faults) => ok(&faults),
        Outcome::AllFaults { global, instances } => {
            ok(&json!({ "global": global, "instances": instances }))
        }
        Outcome::FlowPolicies(policies) => ok(&json!({ "policies": policies })),
        Outcome::Counters(counters) => ok(&counters),
        Outcome::Requests(log) => ok(&RequestsBody::new(&log, None)),
        Outcome::RequestRecords(records) => ok(&json!({ "records": records_json(&records) })),
        Outcome::Clock {
            elapsed,
            clock_offset_secs,
        } => ok(&json!({
            "elapsed_ms": millis(elapsed),
            "offset_s": clock_offset_secs,
        })),
        Outcome::Metadata(metadata) => ok(&metadata),
        Outcome::Generations {
            newest,
            oldest_live,
            issued,
            session_tokens,
        } => {
            let newest = newest.map(|g| {
                json!({
                    "number": g.number,
                    "access_key": g.access_key,
                    "issued_at_ms": millis(g.issued_at),
                    "expires_at_ms": millis(g.expires_at),
                })
            });
            ok(&json!({
                "newest": newest,
                "oldest_live": oldest_live,
                "generations_issued": issued,
                "session_tokens": session_tokens,
            }))
        }
        Outcome::Revoked(n) => ok(&json!({ "revoked": n })),
        Outcome::IamProjects(projects) => ok(&json!({ "projects": projects })),
        Outcome::Oidc(oidc) => ok(&oidc),
        Outcome::IdTokens(tokens) => ok(&json!({ "id_tokens": tokens })),
    }
}

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

fn ok(value: &impl Serialize) -> Reply {
    Reply::json(StatusCode::OK, value)
}

fn with_status(mut r: Reply, status: StatusCode) -> Reply {
    r.status = status;
    r
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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

/// `value` as JSON with the members of `given` over it (a patch of one
/// level).
fn patched(value: &impl Serialize, given: serde_json::Map<String, Value>) -> Result<Value, Error> {
    let mut merged = serde_json::to_value(value).map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(m) = merged.as_object_mut() {
        m.extend(given);
    }
    Ok(merged)
}

/// A JSON value as `T`; `shape` is shown on errors.
fn parsed<T: DeserializeOwned>(v: Value, shape: &str) -> Result<T, Error> {
    serde_json::from_value(v)
        .map_err(|e| Error::Invalid(format!("request body: {e}; expected {shape}")))
}

const OIDC_SHAPE: &str = r#"any of {"enabled": true, "idp_id": "...", "accepted_tokens": ["..."], "lifetime_ms": n, "refusal": {"status": 401, "error_code": "...", "error_msg": "..."}}"#;
const FAULTS_SHAPE: &str = r#"a faults object such as {"reset": {"times": 1}, "latency_ms": 100}"#;
const CREATE_SHAPE: &str = r#"{"id"?: "...", "schedule"?: {"pending_ms": 3000, "create_fails": false, ...}, "faults"?: {...}}"#;
const METADATA_SHAPE: &str = r#"any of {"enabled": true, "session_tokens": "required" | "unsupported_404" | "unsupported_405", "agency": true, "rotation_ms": n, "lifetime_ms": n, "faults": {...}}"#;

/// `POST /_sim/instances`: schedule fields left out take the simulator's
/// configured schedule.
fn new_instance(raw: &[u8], schedule: &Schedule) -> Result<Op, Error> {
    let mut v: Value = body(raw, CREATE_SHAPE)?;
    if let Some(given) = v.get("schedule").and_then(Value::as_object).cloned() {
        v["schedule"] = patched(schedule, given)?;
    }
    parsed(v, CREATE_SHAPE).map(Op::CreateInstance)
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

fn reset(raw: &[u8]) -> Result<Op, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        instances: Option<usize>,
    }
    let b: Body = body(raw, r#"{"instances"?: n}"#)?;
    Ok(Op::Reset {
        instances: b.instances,
    })
}

fn advance(raw: &[u8]) -> Result<Op, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        advance_ms: u64,
    }
    let b: Body = body(raw, r#"{"advance_ms": n}"#)?;
    Ok(Op::AdvanceClock(Duration::from_millis(b.advance_ms)))
}

fn set_offset(raw: &[u8]) -> Result<Op, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        offset_s: i64,
    }
    let b: Body = body(
        raw,
        r#"{"offset_s": n} (seconds; positive: the gateway is ahead)"#,
    )?;
    Ok(Op::SetClockOffset(b.offset_s))
}

/// `PUT /_sim/metadata`: fields left out keep their value.
fn set_metadata(raw: &[u8], current: &Metadata) -> Result<Op, Error> {
    let given: serde_json::Map<String, Value> = body(raw, METADATA_SHAPE)?;
    parsed(patched(current, given)?, METADATA_SHAPE).map(Op::SetMetadata)
}

fn set_iam(raw: &[u8]) -> Result<Op, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        projects: Vec<IamProject>,
    }
    let b: Body = body(
        raw,
        r#"{"projects": [{"id": "...", "name": "cn-east-3", "domain_id"?: "...", "enabled"?: true}]}"#,
    )?;
    Ok(Op::SetIamProjects(b.projects))
}

fn set_flow_control(raw: &[u8]) -> Result<Op, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        policies: Vec<FlowPolicy>,
    }
    let b: Body = body(
        raw,
        r#"{"policies": [{"scope"?: "api" | "user", "limit": 20, "window_s": 1}]} (window_s: whole seconds)"#,
    )?;
    Ok(Op::SetFlowPolicies(b.policies))
}

/// `GET /_sim/requests[?window_ms=N][&records=true][&from_seq=N]`.
fn requests_query(query: Option<&str>) -> Result<Call, Error> {
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
    Ok(Call::Requests {
        window: Duration::from_millis(window_ms),
        records_from: records.then_some(from_seq),
    })
}

/// The arrival log over `window` and, when asked for, its records from
/// number `records_from` on, in one answer.
fn requests(
    window: Duration,
    records_from: Option<u64>,
    apply: &mut impl FnMut(Op) -> Result<Outcome, Error>,
) -> Result<Reply, Error> {
    let log = apply(Op::Requests { window })?.into_request_log()?;
    let records = match records_from {
        Some(from_seq) => {
            let r = apply(Op::RequestRecords { from_seq })?.into_request_records()?;
            Some(records_json(&r))
        }
        None => None,
    };
    Ok(ok(&RequestsBody::new(&log, records)))
}

#[derive(Serialize)]
struct RequestsBody {
    count: u64,
    window_ms: u64,
    max_in_window: usize,
    arrivals_us: Vec<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    records: Option<Vec<Value>>,
}

impl RequestsBody {
    fn new(log: &RequestLog, records: Option<Vec<Value>>) -> Self {
        Self {
            count: log.count,
            window_ms: millis(log.window),
            max_in_window: log.max_in_window,
            arrivals_us: log.arrivals.iter().map(micros).collect(),
            records,
        }
    }
}

fn micros(d: &Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn records_json(records: &[RequestRecord]) -> Vec<Value> {
    records
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
}

#[cfg(test)]
mod tests {
    //! The router alone: which operations a request asks for, with a
    //! stand-in for the heart (the heart's own tests cover the answers).

    use clouddc_core::http::Request;

    use super::*;
    use crate::op::NewInstance;

    /// The operations `method path body` applies, and its status; every
    /// operation answers `Ok` with an outcome of the right kind.
    fn ops_of(method: &str, path: &str, body: &str) -> (Vec<Op>, StatusCode) {
        let defaults = Defaults {
            schedule: Schedule::default(),
            metadata: Metadata::on(),
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(body.as_bytes().to_vec())
            .unwrap();
        let mut seen = Vec::new();
        let reply = answer(&req, &defaults, |op| {
            let outcome = match &op {
                Op::Requests { .. } => Outcome::Requests(RequestLog::default()),
                Op::RequestRecords { .. } => Outcome::RequestRecords(Vec::new()),
                _ => Outcome::Revoked(0),
            };
            seen.push(op);
            Ok(outcome)
        });
        (seen, reply.status)
    }

    #[test]
    fn each_route_asks_for_its_operation() {
        let ms = Duration::from_millis;
        let patched_schedule = Schedule {
            pending: ms(10),
            ..Schedule::default()
        };
        for (method, path, body, op, status) in [
            ("GET", "/_sim", "", Op::Info, 200),
            (
                "POST",
                "/_sim/instances",
                r#"{"schedule": {"pending_ms": 10}}"#,
                Op::CreateInstance(NewInstance::new().with_schedule(patched_schedule)),
                201,
            ),
            (
                "POST",
                "/_sim/instances/x%2F1/power-off",
                "",
                Op::Act {
                    id: "x/1".to_owned(),
                    action: Action::PowerOff,
                },
                200,
            ),
            (
                "POST",
                "/_sim/instances/i/fail",
                r#"{"state": "failed"}"#,
                Op::Act {
                    id: "i".to_owned(),
                    action: Action::Fail {
                        to: Some(InstanceState::Failed),
                    },
                },
                200,
            ),
            (
                "PUT",
                "/_sim/metadata",
                r#"{"agency": false}"#,
                Op::SetMetadata(Metadata::on().with_agency(false)),
                200,
            ),
            (
                "POST",
                "/_sim/reset",
                r#"{"instances": 3}"#,
                Op::Reset { instances: Some(3) },
                200,
            ),
            (
                "POST",
                "/_sim/clock",
                r#"{"advance_ms": 5}"#,
                Op::AdvanceClock(ms(5)),
                200,
            ),
            (
                "PUT",
                "/_sim/clock",
                r#"{"offset_s": -60}"#,
                Op::SetClockOffset(-60),
                200,
            ),
            (
                "GET",
                "/_sim/requests?window_ms=250",
                "",
                Op::Requests { window: ms(250) },
                200,
            ),
        ] {
            assert_eq!(
                ops_of(method, path, body),
                (vec![op], StatusCode::from_u16(status).unwrap()),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn the_request_log_with_records_is_two_operations_in_one_answer() {
        let (ops, status) = ops_of("GET", "/_sim/requests?records=true&from_seq=4", "");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ops,
            [
                Op::Requests {
                    window: Duration::from_secs(1)
                },
                Op::RequestRecords { from_seq: 4 }
            ]
        );
    }

    #[test]
    fn refused_requests_apply_nothing() {
        for (method, path, body, status) in [
            ("DELETE", "/_sim/faults", "", 405),
            ("GET", "/_sim/reset", "", 405),
            ("GET", "/_sim/whatever", "", 404),
            ("POST", "/_sim/instances/i/explode", "", 404),
            ("PUT", "/_sim/faults", r#"{"reset": "often"}"#, 400),
            (
                "POST",
                "/_sim/instances/i/power-off",
                r#"{"fail": true}"#,
                400,
            ),
            ("GET", "/_sim/requests?window_ms=soon", "", 400),
            ("GET", "/_sim/%FF", "", 400),
        ] {
            let (ops, got) = ops_of(method, path, body);
            assert_eq!((ops, got.as_u16()), (Vec::new(), status), "{method} {path}");
        }
    }
}
