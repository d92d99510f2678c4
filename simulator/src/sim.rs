//! The simulator's heart: instances, faults, counters and one decision per
//! request, with the time passed in and no IO.
//!
//! Owns what the service answers: routing, auth (configured keys and the
//! metadata service's live generations), the project check, rate limits
//! (token buckets, and the gateway's [`FlowPolicy`]s, whose windows the
//! `flow` module counts), fault draws (stale connections included, from
//! the [`ConnectionInfo`] the shell attaches), the status body, request ids,
//! the gateway's clock offset and `Date`, the request log, the metadata and
//! IAM routes (their answers are
//! built by [`metadata`](crate::metadata) and `iam`), and the admin API
//! (see [`admin`](crate::admin)). Must not read a clock, sleep or touch a
//! socket (the crate's `clippy.toml` bans clock reads and sleeps outside the
//! server shell): the shell performs the [`Decision`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use clouddc_core::http::{self, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use clouddc_core::{AuthorizationHeader, VerifyError, parse_sdk_date, verify_request};
use clouddc_core::{ErrorStatus, InstanceId, InstanceState, InstanceStatus, OperationState};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

use crate::arrivals::{Arrivals, RequestLog, RequestRecord, Seen, Throttled};
use crate::bucket::{TokenBucket, retry_after_secs};
use crate::config::{Auth, SimConfig, check_clock_offset};
use crate::error::Error;
use crate::faults::{CloseWith, ConnectionInfo, FaultKind, Faults, Fired};
use crate::flow::{self, Caller, FlowControl, FlowPolicy};
use crate::iam::{self, IamProject, X_IAM_TRACE_ID};
use crate::lifecycle::{Action, Lifecycle, Schedule};
use crate::metadata::{self, CredentialGeneration, Metadata};
use crate::ms;
use clouddc_core::{SplitMix64, mix64};

/// The response header carrying the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A response to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers (`Content-Type`, `X-Request-Id`, `Date`, `Retry-After`,
    /// ...); the server adds `Content-Length`.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn new(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::new(status, "application/json", body)
    }

    pub(crate) fn text(status: StatusCode, text: String) -> Self {
        Self::new(status, "text/plain; charset=utf-8", text)
    }

    /// A `{"error_code", "error_msg"}` body.
    pub(crate) fn error(status: StatusCode, code: &str, msg: impl Into<String>) -> Self {
        #[derive(Serialize)]
        struct Body<'a> {
            error_code: &'a str,
            error_msg: String,
        }
        Self::json(
            status,
            &Body {
                error_code: code,
                error_msg: msg.into(),
            },
        )
    }

    /// The `X-Request-Id` header, if set.
    pub fn request_id(&self) -> Option<&str> {
        self.headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok())
    }
}

/// How the server shell delivers a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Send this response.
    Respond(Reply),
    /// Send nothing for `hold`, then close the connection.
    StallHeaders {
        /// How long to hold the connection.
        hold: Duration,
    },
    /// Send the status, the headers (with the full `Content-Length`) and the
    /// first `after_bytes` of the body; then one byte per `trickle` if set;
    /// close the connection if the body is still incomplete after `hold`.
    StallBody {
        /// The response whose body is stalled.
        reply: Reply,
        /// Body bytes sent at once.
        after_bytes: usize,
        /// Then one byte per this interval.
        trickle: Option<Duration>,
        /// Give up (close) after this long.
        hold: Duration,
    },
    /// Reset the connection (TCP RST) without a response.
    Reset,
    /// Close the connection (FIN) without a response, at once.
    Close,
}

/// What to do with one request.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The request id (also in the reply's `X-Request-Id`, when one is sent).
    pub request_id: String,
    /// Wait this long before delivering (added latency).
    pub delay: Duration,
    /// What to send.
    pub delivery: Delivery,
    /// The fault that shaped this decision, if any.
    pub fault: Option<FaultKind>,
}

impl Decision {
    /// The response to send, if one is sent at all (a stalled body's
    /// response included).
    pub fn reply(&self) -> Option<&Reply> {
        match &self.delivery {
            Delivery::Respond(r) | Delivery::StallBody { reply: r, .. } => Some(r),
            _ => None,
        }
    }
}

/// Per-instance counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceCounters {
    /// Status requests naming this instance (every outcome).
    pub requests: u64,
    /// 429s sent for it.
    pub throttled: u64,
    /// Faults injected for it (rate limiting excluded).
    pub faults: u64,
}

/// Global counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Requests to the status API and unknown paths (everything outside
    /// `/_sim/`, the metadata routes and IAM), every outcome.
    pub requests: u64,
    /// 429s sent: token buckets' and the gateway's flow control's.
    pub throttled: u64,
    /// 429s sent by the gateway's flow control (`APIGW.0308`), also in
    /// `throttled`.
    pub gateway_throttled: u64,
    /// Requests closed unanswered by the stale-connection fault, on every
    /// route (also in `faults` as `stale_connection`).
    pub stale_closed: u64,
    /// Responses sent, by status (resets and stalled headers have none).
    pub by_status: BTreeMap<u16, u64>,
    /// Faults injected, by kind (`reset`, `server_error`, ...).
    pub faults: BTreeMap<String, u64>,
    /// Requests to the admin API.
    pub admin_requests: u64,
    /// Requests to `/meta-data/latest/api/token` (every method and outcome,
    /// metadata off included).
    pub metadata_token_requests: u64,
    /// Requests to `/openstack/latest/securitykey` (every method and
    /// outcome, metadata off included).
    pub metadata_key_requests: u64,
    /// Credential generations the metadata service has issued so far (the
    /// newest generation's number + 1), as of the last request handled or
    /// counters read through [`Control`](crate::Control); 0 while the
    /// service has been off. A client refreshing only when needed makes at
    /// most this + 1 `securitykey` requests.
    pub metadata_generations: u64,
    /// Requests to IAM's `/v3/projects` (every outcome).
    pub iam_requests: u64,
}

/// Every counter: global and per instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CountersSnapshot {
    /// Global counters.
    pub global: Counters,
    /// Per instance, by id.
    pub instances: BTreeMap<String, InstanceCounters>,
}

/// The next scheduled state change of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextTransition {
    /// The state it will enter.
    pub state: InstanceState,
    /// In how many milliseconds (rounded up).
    pub in_ms: u64,
}

/// A recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionView {
    /// The state before (`null` for creation).
    pub from: Option<InstanceState>,
    /// The state after.
    pub to: InstanceState,
    /// Milliseconds since the simulator started (simulated time).
    pub at_ms: u64,
}

/// An instance as the admin API and [`Control`](crate::Control) show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    /// The instance id.
    pub id: String,
    /// Its state now.
    pub state: InstanceState,
    /// The progress of its last operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// A failed operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorStatus>,
    /// What happens next without any action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextTransition>,
    /// Its counters.
    #[serde(default)]
    pub counters: InstanceCounters,
    /// Its transitions so far, oldest first (at most 128).
    #[serde(default)]
    pub history: Vec<TransitionView>,
}

impl InstanceView {
    /// The status a query answers now.
    pub fn status(&self) -> InstanceStatus {
        let mut status = InstanceStatus::new(self.state.clone());
        status.operation_state = self.operation_state.clone();
        status.error = self.error.clone();
        status
    }
}

/// An instance to create.
///
/// JSON: `{"id": "ins-1", "schedule": {"pending_ms": 500}, "faults": {...}}`,
/// every field optional (a random id, the simulator's schedule, no faults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewInstance {
    /// The id; random (from the seed) when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its schedule; the simulator's default when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Faults for this instance only.
    #[serde(skip_serializing_if = "Faults::is_empty")]
    pub faults: Faults,
}

impl NewInstance {
    /// A random id, the default schedule, no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// With this schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// With these faults.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
}

impl From<Schedule> for NewInstance {
    fn from(schedule: Schedule) -> Self {
        Self::new().with_schedule(schedule)
    }
}

#[derive(Debug, Clone)]
struct Instance {
    seq: u64,
    life: Lifecycle,
    faults: Faults,
    bucket: Option<TokenBucket>,
    counters: InstanceCounters,
}

/// The simulated service. Every method that depends on time takes `now`
/// (monotonic) and, for signature dates, `wall`.
///
/// ```
/// use clouddc_simulator::{Schedule, SimConfig, Simulator};
/// use clouddc_core::{http, InstanceState};
/// use std::time::{Duration, Instant, SystemTime};
///
/// let t0 = Instant::now();
/// let mut sim = Simulator::new(&SimConfig::default(), t0);
/// let id = sim.create_instance(Schedule::pending_for(Duration::from_secs(3)), t0).unwrap().id;
/// let req = http::Request::get(format!("/v1/{}/instances/{id}/status", sim.project_id()))
///     .header("X-Auth-Token", "any").body(Vec::new()).unwrap();
/// let at = |s| t0 + Duration::from_secs(s);
/// let body = |d: clouddc_simulator::Decision| d.reply().unwrap().body.clone();
/// assert_eq!(body(sim.handle(&req, at(1), SystemTime::now())), r#"{"state":"pending","operation_state":"install-processing"}"#);
/// assert_eq!(body(sim.handle(&req, at(3), SystemTime::now())), r#"{"state":"running","operation_state":"install-succeed"}"#);
/// ```
#[derive(Debug, Clone)]
pub struct Simulator {
    project_id: String,
    auth: Auth,
    max_skew: Duration,
    initial_metadata: Metadata,
    metadata: metadata::State,
    metadata_bucket: Option<TokenBucket>,
    initial_iam_projects: Vec<IamProject>,
    iam_projects: Vec<IamProject>,
    initial_clock_offset_secs: i64,
    clock_offset_secs: i64,
    seed: u64,
    schedule: Schedule,
    initial_faults: Faults,
    initial_instances: usize,
    started: Instant,
    skipped: Duration,
    rng: SplitMix64,
    run_id: u64,
    served: u64,
    created: u64,
    instances: BTreeMap<String, Instance>,
    faults: Faults,
    bucket: Option<TokenBucket>,
    initial_flow: Vec<FlowPolicy>,
    flow: FlowControl,
    counters: Counters,
    arrivals: Arrivals,
}

/// The longest total clock jump: 10 years.
const MAX_SKIPPED: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn ms_ceil(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn ms_floor(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Splits `/v1/{project}/instances/{id}/status` and percent-decodes the
/// two parameters; anything else is `None`.
fn parse_status_path(path: &str) -> Option<(String, String)> {
    let mut it = path.split('/');
    let (Some(""), Some("v1"), Some(p), Some("instances"), Some(i), Some("status"), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    let decode = |s: &str| -> Option<String> {
        let d = percent_decode_str(s).decode_utf8().ok()?;
        (!d.is_empty()).then(|| d.into_owned())
    };
    Some((decode(p)?, decode(i)?))
}

/// Byte-wise comparison whose time does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header_str<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Denied {
    /// Anything but the two below, with a detail for the message.
    Other(String),
    /// `X-Sdk-Date` is too far from the gateway's clock.
    RequestExpired {
        /// By how much, in whole seconds.
        skew_s: u64,
    },
    /// Signed with a metadata generation that has expired.
    CredentialsExpired,
}

/// The detail of a 401, as the `Err` of the auth checks.
fn deny(detail: impl std::fmt::Display) -> Denied {
    Denied::Other(detail.to_string())
}

/// The gateway's 401 (`APIGW.0301`). An expired signature gets the
/// vendor's exact body, `request_id` included.
fn unauthorized(denied: Denied, request_id: &str) -> Reply {
    let detail = match denied {
        Denied::Other(d) => d,
        Denied::RequestExpired { .. } => {
            #[derive(Serialize)]
            struct Body<'a> {
                error_msg: &'a str,
                error_code: &'a str,
                request_id: &'a str,
            }
            return Reply::json(
                StatusCode::UNAUTHORIZED,
                &Body {
                    error_msg: "Incorrect IAM authentication information: The request has expired",
                    error_code: "APIGW.0301",
                    request_id,
                },
            );
        }
        Denied::CredentialsExpired => CREDENTIALS_EXPIRED.to_owned(),
    };
    Reply::error(
        StatusCode::UNAUTHORIZED,
        "APIGW.0301",
        format!("Incorrect IAM authentication information: {detail}"),
    )
}

/// IAM's 401.
fn iam_unauthorized(denied: Denied) -> Reply {
    let message = match denied {
        Denied::Other(d) => format!("The request you have made requires authentication: {d}"),
        Denied::RequestExpired { skew_s } => {
            format!("The request has expired: X-Sdk-Date is {skew_s} s away from the server clock")
        }
        Denied::CredentialsExpired => CREDENTIALS_EXPIRED.to_owned(),
    };
    iam::error(StatusCode::UNAUTHORIZED, message)
}

/// What a 401 says of an expired metadata generation (worded without
/// "request" or "signature", which clients read as clock skew).
const CREDENTIALS_EXPIRED: &str = "the temporary credentials (security token) have expired; get new ones from the metadata service";

/// The gateway's flow-control 429 (`APIGW.0308`), exactly as the vendor
/// quotes it, with no `Retry-After`.
fn flow_throttled(policy: &FlowPolicy, request_id: &str) -> Reply {
    #[derive(Serialize)]
    struct Body<'a> {
        error_msg: String,
        error_code: &'a str,
        request_id: &'a str,
    }
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        &Body {
            error_msg: policy.message(),
            error_code: "APIGW.0308",
            request_id,
        },
    )
}

/// Who calls, as a per-user flow policy counts: the access key of a
/// signed request, else the `X-Auth-Token`; neither is checked here.
fn caller_of<B>(req: &Request<B>) -> Option<Caller> {
    if let Some(a) =
        header_str(req, "authorization").and_then(|a| AuthorizationHeader::parse(a).ok())
    {
        return Some(Caller::access_key(&a.access_key));
    }
    header_str(req, "x-auth-token")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Caller::token)
}

/// What [`Simulator::decide`] settled for a status-API request.
struct Decided {
    delay: Duration,
    delivery: Delivery,
    fault: Option<FaultKind>,
    /// The instance, when it exists (for its counters).
    known: Option<String>,
    /// The instance id named in the path, whether or not it exists.
    named: Option<String>,
    throttled: Option<Throttled>,
}

/// The rate limit's 429: plain text and `Retry-After` in whole seconds.
fn throttled(wait: Duration) -> Reply {
    let secs = retry_after_secs(wait);
    let mut r = Reply::text(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Too Many Requests: the simulated rate limit is exceeded; retry after {secs} s\n"),
    );
    r.headers
        .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// How a stale connection is closed.
fn close_delivery(close: CloseWith) -> Delivery {
    match close {
        CloseWith::Reset => Delivery::Reset,
        CloseWith::Eof => Delivery::Close,
    }
}

/// How a fault that fired reshapes or replaces the `normal` answer.
fn deliver(fired: Fired, normal: Reply) -> Delivery {
    match fired {
        Fired::Reset => Delivery::Reset,
        Fired::StallHeaders(s) => Delivery::StallHeaders { hold: s.hold },
        Fired::StallBody(s) => Delivery::StallBody {
            reply: normal,
            after_bytes: s.after_bytes,
            trickle: s.trickle,
            hold: s.hold,
        },
        Fired::ServerError(s) => {
            let status =
                StatusCode::from_u16(s.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Delivery::Respond(Reply::error(
                status,
                &format!("CLOUDDC.{}", status.as_u16()),
                format!(
                    "{} (simulated)",
                    status.canonical_reason().unwrap_or("Server error")
                ),
            ))
        }
        Fired::Html502 => {
            Delivery::Respond(Reply::new(StatusCode::BAD_GATEWAY, "text/html", HTML_502))
        }
        Fired::Oversized(o) => {
            let mut r = normal;
            r.body = pad_json(&r.body, o.bytes);
            Delivery::Respond(r)
        }
        Fired::InvalidJson => {
            let mut r = normal;
            r.body = r.body.slice(..r.body.len() / 2);
            Delivery::Respond(r)
        }
    }
}

/// Mixed into IAM trace ids so they differ from request ids.
const IAM_SALT: u64 = 0x1A3E_7ACE_1DDC_0002;

/// Sets `Date` (IMF-fixdate) to `date` unless the reply has one.
fn insert_date(r: &mut Reply, date: SystemTime) {
    if !r.headers.contains_key(http::header::DATE)
        && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(date))
    {
        r.headers.insert(http::header::DATE, v);
    }
}

/// A failed signature check as a 401 reason.
fn verify_denied(e: VerifyError) -> Denied {
    match e {
        VerifyError::Skew { skew_s } => Denied::RequestExpired { skew_s },
        other => deny(other),
    }
}

/// The `X-Security-Token` rule: required and signed when `expected` is
/// set, refused when it is not.
fn check_security_token<B>(req: &Request<B>, expected: Option<&str>) -> Result<(), Denied> {
    let sent = header_str(req, "x-security-token");
    match (expected, sent) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(deny(
            "X-Security-Token sent, but these are permanent credentials",
        )),
        (Some(_), None) => Err(deny(
            "these are temporary credentials: X-Security-Token is required",
        )),
        (Some(expected), Some(got)) => {
            let signed_list = header_str(req, "authorization")
                .and_then(|a| AuthorizationHeader::parse(a).ok())
                .map(|a| a.signed_headers)
                .unwrap_or_default();
            if !signed_list.iter().any(|h| h == "x-security-token") {
                Err(deny("X-Security-Token must be signed"))
            } else if !same_secret(got, expected) {
                Err(deny("the X-Security-Token is not valid"))
            } else {
                Ok(())
            }
        }
    }
}

/// `wall` moved by `secs` seconds, saturating at what `SystemTime` holds.
fn offset_by(wall: SystemTime, secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    let moved = if secs >= 0 {
        wall.checked_add(d)
    } else {
        wall.checked_sub(d)
    };
    moved.unwrap_or(wall)
}

fn gateway_not_found(detail: Option<String>) -> Reply {
    let base = "The API does not exist or has not been published in the environment";
    Reply::error(
        StatusCode::NOT_FOUND,
        "APIGW.0101",
        match detail {
            Some(d) => format!("{base}: {d}"),
            None => base.to_owned(),
        },
    )
}

const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The status body: `operation_state` and `error` only when set.
#[derive(Serialize)]
struct StatusBody<'a> {
    state: &'a InstanceState,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_state: Option<&'a OperationState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorStatus>,
}

/// A JSON object body made exactly `bytes` long (or as short as possible
/// above it) by a `"padding"` member, still valid JSON.
fn pad_json(body: &[u8], bytes: usize) -> Bytes {
    const HEAD: &[u8] = b"{\"padding\":\"";
    const TAIL: &[u8] = b"\",";
    let rest = body.strip_prefix(b"{").unwrap_or(body);
    let fixed = HEAD.len() + TAIL.len() + rest.len();
    let pad = bytes.saturating_sub(fixed);
    let mut out = Vec::with_capacity(fixed + pad);
    out.extend_from_slice(HEAD);
    out.resize(HEAD.len() + pad, b'x');
    out.extend_from_slice(TAIL);
    out.extend_from_slice(rest);
    Bytes::from(out)
}

impl Simulator {
    /// A simulator for `config`, started at `now`, with the configured
    /// number of instances created at `now` from a seeded mix of schedules
    /// (based on the configured schedule):
    ///
    /// | share | life |
    /// |---|---|
    /// | 40 % | `pending` for 1–5 s, then `running` |
    /// | 30 % | `running` |
    /// | 10 % | `stopped` |
    /// | 10 % | `pending` for 2–6 s, then `error` (creation fails) |
    /// | 10 % | `shutting-down` for 3–8 s, then `terminated` |
    ///
    /// Their ids are `ins-` and 8 hex digits, fixed by the seed.
    pub fn new(config: &SimConfig, now: Instant) -> Self {
        let seed = config.seed();
        let mut sim = Self {
            project_id: config.project_id().to_owned(),
            auth: config.auth().clone(),
            max_skew: config.max_skew(),
            initial_metadata: config.metadata().clone(),
            metadata: metadata::State::new(config.metadata().clone()),
            metadata_bucket: config
                .metadata()
                .faults
                .rate_limit
                .as_ref()
                .map(TokenBucket::new),
            initial_iam_projects: config.iam_projects(),
            iam_projects: config.iam_projects(),
            initial_clock_offset_secs: config.clock_offset_secs(),
            clock_offset_secs: config.clock_offset_secs(),
            seed,
            schedule: config.schedule().clone(),
            initial_faults: config.faults().clone(),
            initial_instances: config.instances(),
            started: now,
            skipped: Duration::ZERO,
            rng: SplitMix64::new(seed),
            run_id: mix64(seed ^ 0x5EED_0FC1_0DDC_0001),
            served: 0,
            created: 0,
            instances: BTreeMap::new(),
            faults: Faults::default(),
            bucket: None,
            initial_flow: config.flow_policies().to_vec(),
            flow: FlowControl::new(config.flow_policies()),
            counters: Counters::default(),
            arrivals: Arrivals::default(),
        };
        sim.populate(config.instances(), now);
        sim
    }

    fn populate(&mut self, n: usize, now: Instant) {
        self.rng = SplitMix64::new(self.seed);
        self.instances.clear();
        self.install_faults(self.initial_faults.clone());
        for _ in 0..n {
            let id = self.fresh_id();
            let base = self.schedule.clone();
            let u = self.rng.next_f64();
            let secs = |rng: &mut SplitMix64, lo: u64, hi: u64| {
                Duration::from_millis(rng.between(lo * 1000, hi * 1000))
            };
            let (schedule, then): (Schedule, Option<Action>) = if u < 0.4 {
                let pending = secs(&mut self.rng, 1, 5);
                (
                    Schedule {
                        pending,
                        create_fails: false,
                        ..base
                    },
                    None,
                )
            } else if u < 0.7 {
                (
                    Schedule {
                        pending: Duration::ZERO,
                        create_fails: false,
                        ..base
                    },
                    None,
                )
            } else if u < 0.8 {
                let s = Schedule {
                    pending: Duration::ZERO,
                    create_fails: false,
                    stopping: Duration::ZERO,
                    ..base
                };
                (s, Some(Action::PowerOff))
            } else if u < 0.9 {
                let pending = secs(&mut self.rng, 2, 6);
                (
                    Schedule {
                        pending,
                        create_fails: true,
                        ..base
                    },
                    None,
                )
            } else {
                let shutting_down = secs(&mut self.rng, 3, 8);
                let s = Schedule {
                    pending: Duration::ZERO,
                    create_fails: false,
                    shutting_down,
                    ..base
                };
                (s, Some(Action::Delete { fail: false }))
            };
            let mut life = Lifecycle::create(schedule, now);
            if let Some(a) = then {
                // Cannot be refused: the instance is running at `now`.
                let _ = life.apply(&a, now);
            }
            self.insert(id, life, Faults::default());
        }
    }

    fn fresh_id(&mut self) -> String {
        loop {
            let id = format!("ins-{:08x}", self.rng.next_u64() >> 32);
            if !self.instances.contains_key(&id) {
                return id;
            }
        }
    }

    fn insert(&mut self, id: String, life: Lifecycle, faults: Faults) {
        self.created += 1;
        let bucket = faults.rate_limit.as_ref().map(TokenBucket::new);
        self.instances.insert(
            id,
            Instance {
                seq: self.created,
                life,
                faults,
                bucket,
                counters: InstanceCounters::default(),
            },
        );
    }

    fn install_faults(&mut self, faults: Faults) {
        self.bucket = faults.rate_limit.as_ref().map(TokenBucket::new);
        self.faults = faults;
    }

    /// Simulated time: `now` plus every [`advance_clock`](Self::advance_clock).
    fn shift(&self, now: Instant) -> Instant {
        now.checked_add(self.skipped).unwrap_or(now)
    }

    /// The project id served.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The schedule of instances created without one.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The auth mode (`any_token`, `token`, `ak_sk`).
    pub fn auth_mode(&self) -> &'static str {
        self.auth.mode()
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// When the simulator started (real, monotonic time): the origin of
    /// [`RequestRecord::at`] and of the arrival log.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Simulated time since start: real time plus clock jumps.
    pub fn elapsed(&self, now: Instant) -> Duration {
        self.shift(now).saturating_duration_since(self.started)
    }

    /// Moves simulated time forward by `by` for every instance and rate
    /// limit (real delays such as latency are unaffected).
    pub fn advance_clock(&mut self, by: Duration) -> Result<(), Error> {
        ms::check("advance_ms", by).map_err(Error::Invalid)?;
        let total = self.skipped.saturating_add(by);
        if total > MAX_SKIPPED {
            return Err(Error::Invalid(
                "the clock was moved forward by more than 10 years in total".to_owned(),
            ));
        }
        self.skipped = total;
        Ok(())
    }

    /// Simulated time since the start at an already shifted `now`.
    fn started_to(&self, shifted: Instant) -> Duration {
        shifted.saturating_duration_since(self.started)
    }

    /// Brings [`Counters::metadata_generations`] up to `now`.
    pub(crate) fn observe(&mut self, now: Instant) {
        if self.metadata.settings.enabled {
            let e = self.elapsed(now);
            let issued = self.metadata.settings.generation_at(e).saturating_add(1);
            let c = &mut self.counters.metadata_generations;
            *c = (*c).max(issued);
        }
    }

    /// The gateway's clock when this machine's reads `wall`: `wall` plus
    /// the [clock offset](Self::clock_offset_secs).
    pub fn gateway_time(&self, wall: SystemTime) -> SystemTime {
        offset_by(wall, self.clock_offset_secs)
    }

    /// The gateway's clock offset in seconds (positive: ahead).
    pub fn clock_offset_secs(&self) -> i64 {
        self.clock_offset_secs
    }

    /// Sets the gateway's clock offset in seconds (positive: ahead of this
    /// machine's wall clock; at most
    /// [`MAX_CLOCK_OFFSET_SECS`](crate::MAX_CLOCK_OFFSET_SECS) either way).
    pub fn set_clock_offset_secs(&mut self, secs: i64) -> Result<(), Error> {
        check_clock_offset(secs).map_err(Error::Invalid)?;
        self.clock_offset_secs = secs;
        Ok(())
    }

    /// The metadata service's settings (its faults as they are now: a
    /// fault whose `times` ran out is gone).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata.settings
    }

    /// Replaces the metadata service's settings (its rate limit's bucket
    /// starts full). Session tokens handed out stay valid; the rotation
    /// schedule is always counted from the start, so new `rotation` or
    /// `lifetime` values apply to every generation at once.
    pub fn set_metadata(&mut self, metadata: Metadata) -> Result<(), Error> {
        metadata.validate().map_err(Error::Invalid)?;
        self.install_metadata(metadata);
        Ok(())
    }

    fn install_metadata(&mut self, metadata: Metadata) {
        self.metadata_bucket = metadata.faults.rate_limit.as_ref().map(TokenBucket::new);
        self.metadata.settings = metadata;
    }

    /// The newest credential generation at `now`, as `securitykey` would
    /// answer it; `None` while the metadata service is off.
    pub fn metadata_credentials(&self, now: Instant) -> Option<CredentialGeneration> {
        let settings = &self.metadata.settings;
        settings.enabled.then(|| {
            let k = settings.generation_at(self.elapsed(now));
            metadata::generation(settings, self.seed, k)
        })
    }

    /// Credential generation `k` under the current settings (issued or
    /// not, live or not).
    pub fn metadata_generation(&self, k: u64) -> CredentialGeneration {
        metadata::generation(&self.metadata.settings, self.seed, k)
    }

    /// Forgets every metadata session token, so the next `securitykey`
    /// request with one gets 401; returns how many were live at `now`.
    pub fn revoke_metadata_tokens(&mut self, now: Instant) -> usize {
        let e = self.elapsed(now);
        self.metadata.revoke_tokens(e)
    }

    /// How many metadata session tokens are live at `now`.
    pub fn metadata_tokens(&self, now: Instant) -> usize {
        self.metadata.live_tokens(self.elapsed(now))
    }

    /// The projects IAM lists.
    pub fn iam_projects(&self) -> &[IamProject] {
        &self.iam_projects
    }

    /// Replaces the projects IAM lists (any number, zero included).
    pub fn set_iam_projects(&mut self, projects: Vec<IamProject>) -> Result<(), Error> {
        iam::validate(&projects).map_err(Error::Invalid)?;
        self.iam_projects = projects;
        Ok(())
    }

    fn next_request_id(&mut self) -> String {
        self.served += 1;
        let n = self.served;
        format!(
            "{:016x}{:016x}",
            mix64(self.run_id ^ n),
            mix64(n.wrapping_add(self.run_id))
        )
    }

    /// Advances an instance to `now` (simulated) and drops it if forgotten.
    fn refresh(&mut self, id: &str, now: Instant) -> bool {
        let Some(inst) = self.instances.get_mut(id) else {
            return false;
        };
        inst.life.advance(now);
        if inst.life.is_forgotten() {
            self.instances.remove(id);
            return false;
        }
        true
    }

    fn view(&self, id: &str, inst: &Instance, now: Instant) -> InstanceView {
        let st = inst.life.status();
        InstanceView {
            id: id.to_owned(),
            state: st.state.clone(),
            operation_state: st.operation_state.clone(),
            error: st.error.clone(),
            next: inst
                .life
                .next_transition()
                .map(|(at, state)| NextTransition {
                    state: state.clone(),
                    in_ms: ms_ceil(at.saturating_duration_since(now)),
                }),
            counters: inst.counters.clone(),
            history: inst
                .life
                .history()
                .map(|t| TransitionView {
                    from: t.from.clone(),
                    to: t.to.clone(),
                    at_ms: ms_floor(t.at.saturating_duration_since(self.started)),
                })
                .collect(),
        }
    }

    /// Creates an instance at `now`.
    pub fn create_instance(
        &mut self,
        new: impl Into<NewInstance>,
        now: Instant,
    ) -> Result<InstanceView, Error> {
        let now = self.shift(now);
        let new = new.into();
        let schedule = new.schedule.unwrap_or_else(|| self.schedule.clone());
        schedule.validate().map_err(Error::Invalid)?;
        new.faults.validate().map_err(Error::Invalid)?;
        new.faults
            .check_local("an instance")
            .map_err(Error::Invalid)?;
        let id = match new.id {
            Some(id) => {
                let id = InstanceId::new(id).map_err(|e| Error::Invalid(e.to_string()))?;
                let id = id.as_str().to_owned();
                self.refresh(&id, now);
                if self.instances.contains_key(&id) {
                    return Err(Error::Duplicate(id));
                }
                id
            }
            None => self.fresh_id(),
        };
        if self.instances.len() >= 1_000_000 {
            return Err(Error::Invalid(
                "the simulator holds 1000000 instances already".to_owned(),
            ));
        }
        let life = Lifecycle::create(schedule, now);
        self.insert(id.clone(), life, new.faults);
        Ok(self.view_of(&id, now))
    }

    fn view_of(&self, id: &str, now: Instant) -> InstanceView {
        match self.instances.get(id) {
            Some(inst) => self.view(id, inst, now),
            None => InstanceView {
                id: id.to_owned(),
                state: InstanceState::Unknown("forgotten".to_owned()),
                operation_state: None,
                error: None,
                next: None,
                counters: InstanceCounters::default(),
                history: Vec::new(),
            },
        }
    }

    /// Starts an admin action on instance `id` at `now`.
    pub fn act(&mut self, id: &str, action: Action, now: Instant) -> Result<InstanceView, Error> {
        let now = self.shift(now);
        if !self.refresh(id, now) {
            return Err(Error::UnknownInstance(id.to_owned()));
        }
        let Some(inst) = self.instances.get_mut(id) else {
            return Err(Error::UnknownInstance(id.to_owned()));
        };
        inst.life.apply(&action, now).map_err(|r| Error::Conflict {
            id: id.to_owned(),
            state: r.state,
            action: r.action,
            reason: r.reason,
        })?;
        Ok(self.view_of(id, now))
    }

    /// One instance as of `now`.
    pub fn instance(&mut self, id: &str, now: Instant) -> Option<InstanceView> {
        let now = self.shift(now);
        self.refresh(id, now).then(|| self.view_of(id, now))
    }

    /// Every instance as of `now`, in creation order.
    pub fn instances(&mut self, now: Instant) -> Vec<InstanceView> {
        let now = self.shift(now);
        for inst in self.instances.values_mut() {
            inst.life.advance(now);
        }
        self.instances.retain(|_, i| !i.life.is_forgotten());
        let mut all: Vec<(&String, &Instance)> = self.instances.iter().collect();
        all.sort_by_key(|(_, i)| i.seq);
        all.into_iter()
            .map(|(id, inst)| self.view(id, inst, now))
            .collect()
    }

    /// The status a query for `id` would report at `now` (no fault, no count).
    pub fn status(&mut self, id: &str, now: Instant) -> Option<InstanceStatus> {
        let now = self.shift(now);
        if !self.refresh(id, now) {
            return None;
        }
        self.instances.get(id).map(|i| i.life.status().clone())
    }

    /// The global faults in force (a fault whose `times` ran out is gone).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// One instance's faults.
    pub fn instance_faults(&self, id: &str) -> Option<&Faults> {
        self.instances.get(id).map(|i| &i.faults)
    }

    /// Replaces the global faults (the rate limit's bucket starts full).
    pub fn set_faults(&mut self, faults: Faults) -> Result<(), Error> {
        faults.validate().map_err(Error::Invalid)?;
        self.install_faults(faults);
        Ok(())
    }

    /// Replaces one instance's faults.
    pub fn set_instance_faults(&mut self, id: &str, faults: Faults) -> Result<(), Error> {
        faults.validate().map_err(Error::Invalid)?;
        faults.check_local("an instance").map_err(Error::Invalid)?;
        let inst = self
            .instances
            .get_mut(id)
            .ok_or_else(|| Error::UnknownInstance(id.to_owned()))?;
        inst.bucket = faults.rate_limit.as_ref().map(TokenBucket::new);
        inst.faults = faults;
        Ok(())
    }

    /// The gateway's flow-control policies in force, in order.
    pub fn flow_policies(&self) -> Vec<FlowPolicy> {
        self.flow.policies()
    }

    /// Replaces the gateway's flow-control policies (any number up to
    /// [`MAX_FLOW_POLICIES`](crate::MAX_FLOW_POLICIES), none included). Counting starts
    /// afresh: every policy's current window counts only calls from now on;
    /// windows stay aligned to the start.
    pub fn set_flow_policies(&mut self, policies: Vec<FlowPolicy>) -> Result<(), Error> {
        flow::validate(&policies).map_err(Error::Invalid)?;
        self.flow = FlowControl::new(&policies);
        Ok(())
    }

    /// Every counter.
    pub fn counters(&self) -> CountersSnapshot {
        CountersSnapshot {
            global: self.counters.clone(),
            instances: self
                .instances
                .iter()
                .map(|(id, i)| (id.clone(), i.counters.clone()))
                .collect(),
        }
    }

    /// The global counters.
    pub fn global_counters(&self) -> &Counters {
        &self.counters
    }

    /// One instance's counters.
    pub fn instance_counters(&self, id: &str) -> Option<&InstanceCounters> {
        self.instances.get(id).map(|i| &i.counters)
    }

    /// When API requests arrived: how many since the start or the last
    /// reset, the most recent of them (at most
    /// [`MAX_ARRIVALS`](crate::MAX_ARRIVALS); older ones are dropped, so
    /// memory stays bounded) as real time since the start, and the most of
    /// them inside any `window` (see [`max_in_window`](crate::max_in_window)).
    ///
    /// The requests recorded are those [`Counters::requests`] counts: every
    /// request [`handle`](Self::handle) answers outside `/_sim`, whatever
    /// its outcome, and every [`body_too_large`](Self::body_too_large). Each
    /// is recorded at the `now` passed in, which is real time:
    /// [`advance_clock`](Self::advance_clock) does not move arrivals.
    pub fn requests(&self, window: Duration) -> RequestLog {
        self.arrivals.log(window)
    }

    /// What became of the API requests in the log (the same requests as
    /// [`requests`](Self::requests), at most
    /// [`MAX_ARRIVALS`](crate::MAX_ARRIVALS), oldest first): arrival, the
    /// instance id in the path, the status, the fault, the flow-control
    /// policy and window that refused it, the connection.
    pub fn request_records(&self) -> Vec<RequestRecord> {
        self.arrivals.records(1)
    }

    /// [`request_records`](Self::request_records) from the one numbered
    /// `seq` on (the first since the start or the last reset is 1), for
    /// reading a long run bit by bit.
    pub fn request_records_from(&self, seq: u64) -> Vec<RequestRecord> {
        self.arrivals.records(seq)
    }

    /// Back to the state at start: the configured instances (same ids, same
    /// schedules, from `now`), the configured faults, flow-control policies
    /// (counted afresh), metadata settings (no session tokens), IAM projects
    /// and clock offset, zero counters, an empty request log, no clock
    /// jumps. Request ids keep counting, so they
    /// stay unique.
    pub fn reset(&mut self, now: Instant) {
        self.reset_with(self.initial_instances, now);
    }

    /// [`reset`](Self::reset), with `instances` seeded instances instead of
    /// the configured number.
    pub fn reset_with(&mut self, instances: usize, now: Instant) {
        self.skipped = Duration::ZERO;
        self.counters = Counters::default();
        self.arrivals.clear();
        self.flow = FlowControl::new(&self.initial_flow);
        self.install_metadata(self.initial_metadata.clone());
        self.metadata.revoke_tokens(Duration::ZERO);
        self.iam_projects = self.initial_iam_projects.clone();
        self.clock_offset_secs = self.initial_clock_offset_secs;
        self.populate(instances, now);
    }

    /// Decides the answer to one request that arrived at `now` (monotonic)
    /// when this machine's wall clock read `wall`. The gateway's clock is
    /// `wall` plus the [clock offset](Self::clock_offset_secs): `X-Sdk-Date`
    /// is checked against it and it is the `Date` of gateway and IAM
    /// answers; metadata and admin answers are dated `wall`. The request's
    /// URI path must be the path as it arrived, still percent-encoded.
    ///
    /// Order: admin routes (`/_sim/...`); then the stale-connection fault
    /// (see [`StaleConnections`](crate::StaleConnections); it needs the
    /// [`ConnectionInfo`] in the request's extensions, which the server
    /// shell adds), which closes the connection unanswered on any of the
    /// routes below; the metadata routes (see [`metadata`](crate::metadata));
    /// IAM's `/v3/projects` (405, auth 401, projects); then the status API:
    /// routing (404 `APIGW.0101`, 405); token buckets (instance, then
    /// global; 429 with `Retry-After`); the gateway's flow-control policies
    /// (429 `APIGW.0308`); auth (401); project (403); the instance (404) and
    /// its status (200); then at most one fault (instance faults before
    /// global ones) reshapes or replaces the answer.
    pub fn handle<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        now: Instant,
        wall: SystemTime,
    ) -> Decision {
        let request_id = self.next_request_id();
        let path = req.uri().path();
        self.observe(now);
        if path == "/_sim" || path.starts_with("/_sim/") {
            self.counters.admin_requests += 1;
            let mut reply = crate::admin::route(self, req, now);
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                reply.headers.insert(X_REQUEST_ID, v);
            }
            insert_date(&mut reply, wall);
            return Decision {
                request_id,
                delay: Duration::ZERO,
                delivery: Delivery::Respond(reply),
                fault: None,
            };
        }
        let connection = req.extensions().get::<ConnectionInfo>().copied();
        let stale = connection.and_then(|c| self.faults.draw_stale(&c, &mut self.rng));
        if let Some(route) = metadata::Route::of(path) {
            return self.handle_metadata(route, req, request_id, stale, now, wall);
        }
        let gateway = self.gateway_time(wall);
        let shifted = self.shift(now);
        if path == iam::PROJECTS_PATH {
            self.counters.iam_requests += 1;
            if let Some(close) = stale {
                return self.close_stale(request_id, close, gateway);
            }
            let mut reply = self.iam(req, shifted, gateway);
            let trace = format!(
                "{:016x}{:016x}",
                mix64(self.run_id ^ IAM_SALT ^ self.served),
                mix64(self.served.wrapping_add(IAM_SALT))
            );
            if let Ok(v) = HeaderValue::from_str(&trace) {
                reply.headers.insert(X_IAM_TRACE_ID, v);
            }
            return self.finish(
                request_id,
                Duration::ZERO,
                Delivery::Respond(reply),
                None,
                None,
                gateway,
            );
        }
        self.counters.requests += 1;
        let decided = match stale {
            Some(close) => Decided {
                delay: Duration::ZERO,
                delivery: close_delivery(close),
                fault: Some(FaultKind::StaleConnection),
                known: None,
                named: parse_status_path(path).map(|(_, id)| id),
                throttled: None,
            },
            None => self.decide(req, &request_id, shifted, gateway),
        };
        let d = self.finish(
            request_id,
            decided.delay,
            decided.delivery,
            decided.fault,
            decided.known.as_deref(),
            gateway,
        );
        self.arrivals.record(
            self.started,
            Seen {
                at: now,
                instance_id: decided.named.as_deref(),
                status: d.reply().map(|r| r.status.as_u16()),
                fault: d.fault,
                throttled: decided.throttled,
                connection,
            },
        );
        d
    }

    /// A request on a stale connection: closed unanswered.
    fn close_stale(&mut self, request_id: String, close: CloseWith, date: SystemTime) -> Decision {
        let fault = Some(FaultKind::StaleConnection);
        self.finish(
            request_id,
            Duration::ZERO,
            close_delivery(close),
            fault,
            None,
            date,
        )
    }

    /// The decision for a request whose body was over the server's limit
    /// and that arrived at `now` (`wall` as in [`handle`](Self::handle)):
    /// 413 with an error body.
    pub fn body_too_large(&mut self, limit: usize, now: Instant, wall: SystemTime) -> Decision {
        let request_id = self.next_request_id();
        self.arrivals.record(
            self.started,
            Seen {
                at: now,
                instance_id: None,
                status: Some(StatusCode::PAYLOAD_TOO_LARGE.as_u16()),
                fault: None,
                throttled: None,
                connection: None,
            },
        );
        self.counters.requests += 1;
        let r = Reply::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "APIGW.0413",
            format!("The request body is over {limit} bytes"),
        );
        let gateway = self.gateway_time(wall);
        self.finish(
            request_id,
            Duration::ZERO,
            Delivery::Respond(r),
            None,
            None,
            gateway,
        )
    }

    /// A metadata route: counted, closed if `stale`, 404 while the service
    /// is off, else its rate limit (429), its answer, then at most one of
    /// its faults.
    fn handle_metadata<B>(
        &mut self,
        route: metadata::Route,
        req: &Request<B>,
        request_id: String,
        stale: Option<CloseWith>,
        now: Instant,
        wall: SystemTime,
    ) -> Decision {
        match route {
            metadata::Route::Token => self.counters.metadata_token_requests += 1,
            metadata::Route::SecurityKey => self.counters.metadata_key_requests += 1,
        }
        if let Some(close) = stale {
            return self.close_stale(request_id, close, wall);
        }
        let respond = |r: Reply| Delivery::Respond(r);
        if !self.metadata.settings.enabled {
            let r = respond(gateway_not_found(None));
            return self.finish(request_id, Duration::ZERO, r, None, None, wall);
        }
        let now = self.shift(now);
        let delay = self.metadata.settings.faults.latency.unwrap_or_default();
        if let Some(b) = self.metadata_bucket.as_mut()
            && let Err(wait) = b.try_acquire(now)
        {
            let r = respond(throttled(wait));
            let kind = Some(FaultKind::RateLimit);
            return self.finish(request_id, delay, r, kind, None, wall);
        }
        let elapsed = now.saturating_duration_since(self.started);
        let normal = self.metadata.answer(route, req, self.seed, elapsed, wall);
        let (delivery, fault) = match self.metadata.settings.faults.draw(&mut self.rng) {
            Some(fired) => {
                let kind = fired.kind();
                (deliver(fired, normal), Some(kind))
            }
            None => (respond(normal), None),
        };
        self.finish(request_id, delay, delivery, fault, None, wall)
    }

    /// IAM's project lookup, authenticated like the status call.
    fn iam<B: AsRef<[u8]>>(&self, req: &Request<B>, now: Instant, gateway: SystemTime) -> Reply {
        if req.method() != Method::GET {
            return iam::error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed here; use GET", req.method()),
            );
        }
        if let Err(denied) = self.authenticate(req, now, gateway) {
            return iam_unauthorized(denied);
        }
        let base = header_str(req, "host")
            .map(|h| format!("http://{h}"))
            .unwrap_or_default();
        iam::projects(&self.iam_projects, req.uri().query(), &base)
    }

    fn decide<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        request_id: &str,
        now: Instant,
        wall: SystemTime,
    ) -> Decided {
        match parse_status_path(req.uri().path()) {
            Some((project, id)) => self.decide_status(req, request_id, &project, id, now, wall),
            None => Decided {
                delay: Duration::ZERO,
                delivery: Delivery::Respond(gateway_not_found(None)),
                fault: None,
                known: None,
                named: None,
                throttled: None,
            },
        }
    }

    /// [`decide`](Self::decide) for a status-API path naming `project` and
    /// instance `id`.
    fn decide_status<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        request_id: &str,
        project: &str,
        id: String,
        now: Instant,
        wall: SystemTime,
    ) -> Decided {
        let known = project == self.project_id && self.refresh(&id, now);
        let inst_id = known.then(|| id.clone());
        let mut latency = self.faults.latency;
        if let Some(inst) = self.instances.get_mut(&id).filter(|_| known) {
            inst.counters.requests += 1;
            latency = inst.faults.latency.or(latency);
        }
        let delay = latency.unwrap_or_default();
        let out = |delay, delivery, fault, throttled| Decided {
            delay,
            delivery,
            fault,
            known: inst_id.clone(),
            named: Some(id.clone()),
            throttled,
        };
        if req.method() != Method::GET {
            let mut r = gateway_not_found(Some(format!(
                "{} is not allowed here; use GET",
                req.method()
            )));
            r.status = StatusCode::METHOD_NOT_ALLOWED;
            r.headers
                .insert(http::header::ALLOW, HeaderValue::from_static("GET"));
            return out(Duration::ZERO, Delivery::Respond(r), None, None);
        }

        // Token buckets: a request passes only if every bucket has a token,
        // and then takes one from each.
        let mut waits = Vec::new();
        let mut inst_bucket = inst_id
            .as_ref()
            .and_then(|i| self.instances.get(i))
            .and_then(|i| i.bucket.clone());
        let mut global_bucket = self.bucket.clone();
        for b in [&mut inst_bucket, &mut global_bucket].into_iter().flatten() {
            if let Err(w) = b.try_acquire(now) {
                waits.push(w);
            }
        }
        if let Some(wait) = waits.into_iter().max() {
            let r = Delivery::Respond(throttled(wait));
            return out(delay, r, Some(FaultKind::RateLimit), None);
        }
        if let Some(b) = global_bucket {
            self.bucket = Some(b);
        }
        if let (Some(b), Some(i)) = (inst_bucket, inst_id.as_ref())
            && let Some(inst) = self.instances.get_mut(i)
        {
            inst.bucket = Some(b);
        }

        // The gateway's flow control: every call counts, refused or not.
        let elapsed = self.started_to(now);
        if let Err(refusal) = self.flow.admit(caller_of(req), elapsed) {
            let r = Delivery::Respond(flow_throttled(&refusal.policy, request_id));
            let t = Throttled {
                policy_index: refusal.index,
                policy: refusal.policy,
                window_index: refusal.window_index,
            };
            return out(delay, r, Some(FaultKind::FlowControl), Some(t));
        }

        if let Err(denied) = self.authenticate(req, now, wall) {
            let r = Delivery::Respond(unauthorized(denied, request_id));
            return out(delay, r, None, None);
        }
        let header_project = header_str(req, "x-project-id");
        if project != self.project_id || header_project.is_some_and(|p| p != self.project_id) {
            let which = if project != self.project_id {
                format!("the path names project '{project}'")
            } else {
                format!(
                    "X-Project-Id names project '{}'",
                    header_project.unwrap_or("")
                )
            };
            let r = Reply::error(
                StatusCode::FORBIDDEN,
                "APIGW.0302",
                format!(
                    "The IAM user is not authorized to access the API: {which}, but this simulator serves project '{}'",
                    self.project_id
                ),
            );
            return out(delay, Delivery::Respond(r), None, None);
        }

        let normal = match inst_id.as_ref().and_then(|i| self.instances.get(i)) {
            Some(inst) => {
                let st = inst.life.status();
                Reply::json(
                    StatusCode::OK,
                    &StatusBody {
                        state: &st.state,
                        operation_state: st.operation_state.as_ref(),
                        error: st.error.as_ref(),
                    },
                )
            }
            None => Reply::error(
                StatusCode::NOT_FOUND,
                "CLOUDDC.0404",
                format!("Instance '{id}' does not exist in project '{project}'"),
            ),
        };

        let Self {
            instances,
            faults,
            rng,
            ..
        } = self;
        let fired = inst_id
            .as_ref()
            .and_then(|i| instances.get_mut(i))
            .and_then(|inst| inst.faults.draw(rng))
            .or_else(|| faults.draw(rng));
        let Some(fired) = fired else {
            return out(delay, Delivery::Respond(normal), None, None);
        };
        let kind = Some(fired.kind());
        out(delay, deliver(fired, normal), kind, None)
    }

    /// Checks a request's credentials at simulated `now`, against the
    /// gateway's clock `wall`: a live metadata generation, or the
    /// configured [`Auth`].
    fn authenticate<B: AsRef<[u8]>>(
        &self,
        req: &Request<B>,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(), Denied> {
        let token = header_str(req, "x-auth-token");
        let signed = req.headers().contains_key(http::header::AUTHORIZATION);
        if signed
            && self.metadata.settings.enabled
            && let Some(k) = header_str(req, "authorization")
                .and_then(|a| AuthorizationHeader::parse(a).ok())
                .and_then(|a| metadata::generation_of(self.seed, &a.access_key))
        {
            return self.authenticate_generation(req, k, now, wall);
        }
        match &self.auth {
            Auth::AnyToken => {
                if token.is_some_and(|t| !t.trim().is_empty()) {
                    return Ok(());
                }
                if !signed {
                    return Err(deny(
                        "send any X-Auth-Token (this simulator accepts every token) or sign the request",
                    ));
                }
                let auth = header_str(req, "authorization").unwrap_or("");
                AuthorizationHeader::parse(auth).map_err(|e| deny(format!("{e}")))?;
                let date = header_str(req, "x-sdk-date")
                    .and_then(parse_sdk_date)
                    .ok_or_else(|| deny(VerifyError::BadDate))?;
                self.check_skew(date, wall)
            }
            Auth::Token(expected) => match token {
                None if signed => Err(deny(
                    "this simulator expects X-Auth-Token, not AK/SK signing",
                )),
                None => Err(deny("no X-Auth-Token header")),
                Some(t) if same_secret(t, expected.expose()) => Ok(()),
                Some(_) => Err(deny("the X-Auth-Token is not valid")),
            },
            Auth::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                if !signed {
                    return Err(deny(if token.is_some() {
                        "this simulator expects AK/SK signing, not X-Auth-Token"
                    } else {
                        "no Authorization header"
                    }));
                }
                let lookup = |ak: &str| (ak == access_key).then(|| secret_key.expose().to_owned());
                verify_request(req, lookup, wall, self.max_skew).map_err(verify_denied)?;
                check_security_token(req, security_token.as_ref().map(|s| s.expose()))
            }
        }
    }

    /// A request signed with metadata generation `k`'s access key: refused
    /// unless `k` is issued and not expired at `now`, the signature verifies
    /// and the generation's security token is sent and signed.
    fn authenticate_generation<B: AsRef<[u8]>>(
        &self,
        req: &Request<B>,
        k: u64,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(), Denied> {
        let settings = &self.metadata.settings;
        let elapsed = self.started_to(now);
        if elapsed < settings.issued_at(k) {
            return Err(deny(VerifyError::UnknownAccessKey));
        }
        if !settings.is_live(k, elapsed) {
            return Err(Denied::CredentialsExpired);
        }
        let g = metadata::generation(settings, self.seed, k);
        let lookup = |ak: &str| (ak == g.access_key).then(|| g.secret_key.expose().to_owned());
        verify_request(req, lookup, wall, self.max_skew).map_err(verify_denied)?;
        check_security_token(req, Some(g.security_token.expose()))
    }

    fn check_skew(&self, date: SystemTime, wall: SystemTime) -> Result<(), Denied> {
        let skew = match wall.duration_since(date) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if skew > self.max_skew {
            return Err(Denied::RequestExpired {
                skew_s: skew.as_secs(),
            });
        }
        Ok(())
    }

    /// Stamps the request id and `Date` (`date`) on the reply, and counts.
    fn finish(
        &mut self,
        request_id: String,
        delay: Duration,
        mut delivery: Delivery,
        fault: Option<FaultKind>,
        id: Option<&str>,
        date: SystemTime,
    ) -> Decision {
        let id_value = HeaderValue::from_str(&request_id).ok();
        if let Delivery::Respond(r) | Delivery::StallBody { reply: r, .. } = &mut delivery {
            if let Some(v) = id_value {
                r.headers.insert(X_REQUEST_ID, v);
            }
            insert_date(r, date);
            *self
                .counters
                .by_status
                .entry(r.status.as_u16())
                .or_default() += 1;
        }
        let inst = id.and_then(|i| self.instances.get_mut(i));
        match fault {
            Some(kind @ (FaultKind::RateLimit | FaultKind::FlowControl)) => {
                self.counters.throttled += 1;
                if kind == FaultKind::FlowControl {
                    self.counters.gateway_throttled += 1;
                }
                if let Some(inst) = inst {
                    inst.counters.throttled += 1;
                }
            }
            Some(kind) => {
                if kind == FaultKind::StaleConnection {
                    self.counters.stale_closed += 1;
                }
                *self
                    .counters
                    .faults
                    .entry(kind.as_str().to_owned())
                    .or_default() += 1;
                if let Some(inst) = inst {
                    inst.counters.faults += 1;
                }
            }
            None => {}
        }
        Decision {
            request_id,
            delay,
            delivery,
            fault,
        }
    }
}

#[cfg(test)]
// Tests pick arbitrary start instants with the real clock.
#[allow(clippy::disallowed_methods)]
mod tests;
