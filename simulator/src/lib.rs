//! A local simulator of the Huawei Cloud CloudDC "Query Instance Status" API
//! (`GET /v1/{project_id}/instances/{id}/status`), for testing programs
//! offline: instance life cycles, token and AK/SK auth, where credentials
//! come from (server metadata, IAM's project lookup), a gateway whose clock
//! is off, and the faults real gateways produce.
//!
//! **In scope:** the status call exactly as the vendor's API reference and
//! SDKs describe it (percent-decoded path segments, token or SDK-HMAC-SHA256
//! auth verified from the request as it arrived, gateway-style error bodies,
//! an `X-Request-Id` and a `Date` on every response); instance life cycles
//! driven by schedules and admin actions; the gateway's flow control
//! (policies of N calls per fixed window, per API or per user, answered
//! with the vendor's `APIGW.0308` JSON and no `Retry-After`; see
//! [`FlowPolicy`]); faults (token buckets answering with `Retry-After`, as a
//! proxy may, 5xx, HTML 502 pages, latency, stalled headers or bodies, TCP
//! resets, oversized and invalid bodies, and kept-alive connections closed
//! unanswered as a load balancer's idle timeout does, see
//! [`StaleConnections`]); the ECS/BMS server metadata
//! service on the same listener (`PUT /meta-data/latest/api/token`,
//! `GET /openstack/latest/securitykey`: session tokens or an older host
//! without them, an agency attached or not, temporary credentials rotated
//! on a schedule and accepted by the gateway while they live, its own
//! faults; see [`metadata`]); IAM's project lookup
//! (`GET /v3/projects?name={region}`, signed, answering zero, one or several
//! projects with an `X-IAM-Trace-Id`); a gateway clock offset (its `Date`
//! and its `X-Sdk-Date` check, refusing with the vendor's "The request has
//! expired" body); counters; a log of when requests arrived and what
//! became of them (status, fault, the flow-control policy and window that
//! refused them, their connection), to check client rate caps and
//! retries; an admin API under `/_sim/`; all of it deterministic for a
//! seed.
//! **Out of scope:** TLS, HTTP/2, other CloudDC calls, other IAM or
//! metadata routes, persistence, and pretending to be exact about the
//! vendor's own error codes for failures the documents do not show (see
//! [Decisions](#decisions)).
//!
//! # Contents
//! - [In a test, five lines](#in-a-test-five-lines)
//! - [In async code](#in-async-code)
//! - [Credentials from server metadata](#credentials-from-server-metadata)
//! - [Without sockets](#without-sockets)
//! - [The admin API](#the-admin-api)
//! - [Decisions](#decisions)
//! - [Security notes](#security-notes)
//!
//! # In a test, five lines
//!
//! The examples below need these dependencies (in a test suite,
//! `[dev-dependencies]`):
//!
//! ```toml
//! [dev-dependencies]
//! clouddc-simulator = "0.1"
//! clouddc-core = "0.1"      # or a client: clouddc-ureq, clouddc-reqwest
//! serde_json = "1"          # only for the admin API example
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "time"] }
//! ```
//!
//! [`start_blocking_default`] runs the server on a thread of its own, so a
//! plain `#[test]` needs no async runtime:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use clouddc_simulator::{start_blocking_default, Schedule};
//! let sim = start_blocking_default()?; // 127.0.0.1:<free port>, any token accepted
//! let id = sim.control().create_instance(Schedule::pending_for(std::time::Duration::from_millis(200)))?.id;
//! // Point your client at sim.url() with project sim.project_id() and any X-Auth-Token.
//! # let _ = id;
//! # Ok(()) }
//! ```
//!
//! The same, with a real request on a bare `std::net::TcpStream`:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use clouddc_simulator::{start_blocking_default, NewInstance, Schedule};
//! use std::io::{Read, Write};
//!
//! let sim = start_blocking_default()?;
//! sim.control().create_instance(NewInstance::new().with_id("ins-1").with_schedule(Schedule::instant()))?;
//! let mut s = std::net::TcpStream::connect(sim.addr())?;
//! write!(s, "GET /v1/{}/instances/ins-1/status HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: t\r\nConnection: close\r\n\r\n",
//!     sim.project_id(), sim.addr())?;
//! let mut answer = String::new();
//! s.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.to_ascii_lowercase().contains("x-request-id: "));
//! assert!(answer.ends_with(r#"{"state":"running","operation_state":"install-succeed"}"#));
//! assert_eq!(sim.control().counters().instances["ins-1"].requests, 1);
//! # Ok(()) }
//! ```
//!
//! # In async code
//!
//! [`start`] serves on the caller's tokio runtime (IO and time enabled).
//! With a blocking HTTP client inside a current-thread runtime, use
//! [`start_blocking`] instead, or the client will block the server.
//!
//! ```
//! # async fn demo() -> Result<(), clouddc_simulator::Error> {
//! use clouddc_simulator::{start, Auth, Faults, FlowPolicy, ServerError, SimConfig};
//! let config = SimConfig::builder()
//!     .auth(Auth::ak_sk("HPUAEXAMPLEAK000001", "exampleSecretKey"))
//!     .instances(100)
//!     .seed(7)
//!     // The gateway's flow control: 50 calls per second per access key.
//!     .flow_policy(FlowPolicy::per_user(50, std::time::Duration::from_secs(1)))
//!     .build()?;
//! let sim = start(config).await?;
//! // The first two requests get a 503, then the faults are gone.
//! sim.control().set_faults(Faults { server_error: Some(ServerError::status(503).with_times(2)), ..Faults::none() })?;
//! // ... run the client against sim.url() ...
//! let seen = sim.control().wait_until_async(std::time::Duration::from_secs(5), |s| s.global_counters().requests >= 3).await;
//! sim.shutdown().await;
//! # let _ = seen; Ok(()) }
//! ```
//!
//! # Credentials from server metadata
//!
//! With [`Metadata::on`] the simulator also plays the server's metadata
//! service: a client gets a session token, then the agency's temporary
//! credentials, and signs with them. A new generation of credentials is
//! issued every `rotation` and lives `lifetime`; the gateway accepts every
//! generation still alive and refuses expired ones with 401.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use clouddc_simulator::{start_blocking, Metadata, NewInstance, Schedule, SimConfig};
//! use clouddc_core::{build_status_request, Config, Credentials, Endpoint, InstanceId, ProjectId, Session};
//! use std::io::{Read, Write};
//! use std::time::{Duration, SystemTime};
//!
//! let config = SimConfig::builder()
//!     .metadata(Metadata::on().with_rotation(Duration::from_secs(2), Duration::from_secs(6)))
//!     .build()?;
//! let sim = start_blocking(config)?;
//! sim.control().create_instance(NewInstance::new().with_id("ins-1").with_schedule(Schedule::instant()))?;
//! let exchange = |request: String| -> std::io::Result<String> {
//!     let mut s = std::net::TcpStream::connect(sim.addr())?;
//!     s.write_all(request.as_bytes())?;
//!     let mut answer = String::new();
//!     s.read_to_string(&mut answer)?;
//!     Ok(answer)
//! };
//! let body = |answer: &str| answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
//!
//! // 1. A session token, 2. the credentials, as a workload on the server asks.
//! let token = body(&exchange(format!("PUT /meta-data/latest/api/token HTTP/1.1\r\nHost: {}\r\n\
//!     X-Metadata-Token-Ttl-Seconds: 21600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", sim.addr()))?);
//! let answer = exchange(format!("GET /openstack/latest/securitykey HTTP/1.1\r\nHost: {}\r\n\
//!     X-Metadata-Token: {token}\r\nConnection: close\r\n\r\n", sim.addr()))?;
//! let v: serde_json::Value = serde_json::from_str(&body(&answer))?;
//! let c = &v["credential"];
//! let credentials = Credentials::temporary(
//!     c["access"].as_str().unwrap_or_default(),
//!     c["secret"].as_str().unwrap_or_default(),
//!     c["securitytoken"].as_str().unwrap_or_default(),
//! )?;
//! assert!(c["expires_at"].as_str().unwrap_or_default().ends_with("Z"));
//!
//! // 3. A status request signed with them (X-Security-Token included).
//! let client = Config::builder()
//!     .endpoint(Endpoint::parse(sim.url())?)
//!     .project_id(ProjectId::new(sim.project_id())?)
//!     .credentials(credentials)
//!     .build()?;
//! let req = build_status_request(&Session::new(client), &InstanceId::new("ins-1")?, SystemTime::now())?;
//! let mut text = format!("GET {} HTTP/1.1\r\n", req.uri().path());
//! for (name, value) in req.headers() {
//!     text.push_str(&format!("{name}: {}\r\n", value.to_str()?));
//! }
//! let answer = exchange(text + "Connection: close\r\n\r\n")?;
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
//!
//! let counters = sim.control().counters().global;
//! assert_eq!((counters.metadata_token_requests, counters.metadata_key_requests), (1, 1));
//! assert!(counters.metadata_generations >= 1);
//! # Ok(()) }
//! ```
//!
//! [`Control::set_metadata`] changes it at run time (detach the agency,
//! drop session tokens, make it answer 503 through its
//! [`faults`](Metadata::faults)); [`Control::set_iam_projects`] sets what
//! IAM lists; [`Op::SetClockOffset`] (through [`Control::apply`]) puts the
//! gateway's clock ahead or behind.
//!
//! # Without sockets
//!
//! [`Simulator`] is the whole service as a value: `handle(request, now,
//! wall)` returns a [`Decision`] (respond, or which byte-level fault to
//! perform) and `apply(op, now)` carries out an [`Op`], with the clocks
//! passed in, so life cycles, auth and faults are tested with a fake clock.
//! The server shell only performs decisions:
//!
//! 1. Read the request (body capped at 1 MiB).
//! 2. `Simulator::handle(&request, Instant::now(), SystemTime::now())`.
//! 3. Wait [`Decision::delay`], then perform [`Decision::delivery`]: send the
//!    reply; send nothing for a while then close; send headers and part of
//!    the body then stop or trickle; close at once without a response; or
//!    reset the connection (`SO_LINGER` 0).
//!
//! The shell also attaches a [`ConnectionInfo`] to each request's
//! extensions (the connection's number, the request's place on it, how
//! long it had been idle), from which the heart decides whether the
//! stale-connection fault closes it; a sans-IO caller may attach one too.
//!
//! # The admin API
//!
//! JSON under `/_sim/`, without auth, faults or rate limits. Each route is
//! one [`Op`], the list of every operation, carried out by the same
//! [`Simulator::apply`] as [`Control::apply`]. See [`admin`] for the table
//! of routes. For
//! example `curl -X POST $URL/_sim/instances -d '{"id":"ins-1","schedule":{"pending_ms":3000}}'`,
//! `curl -X PUT $URL/_sim/flow-control -d '{"policies":[{"scope":"user","limit":20,"window_s":1}]}'`
//! (the gateway's flow control),
//! `curl -X PUT $URL/_sim/faults -d '{"rate_limit":{"rps":5},"reset":{"times":1}}'`,
//! `curl -X PUT $URL/_sim/faults -d '{"stale_connections":{"idle_ms":2000}}'`
//! (kept-alive connections idle over 2 s closed unanswered),
//! `curl $URL/_sim/counters`, `curl "$URL/_sim/requests?window_ms=1000"`
//! (when each request arrived, and the most inside any one second; add
//! `&records=true` for what became of each),
//! `curl -X PUT $URL/_sim/metadata -d '{"enabled":true,"rotation_ms":2000,"lifetime_ms":6000}'`,
//! `curl -X PUT $URL/_sim/iam -d '{"projects":[{"id":"p1","name":"cn-east-3"}]}'`,
//! `curl -X PUT $URL/_sim/clock -d '{"offset_s":3600}'` (the gateway's
//! clock an hour ahead).
//!
//! # Decisions
//!
//! - **Order of checks:** the stale-connection fault (any route but the
//!   admin API), then route (404 `APIGW.0101`, 405 with `Allow: GET`),
//!   token buckets (429 with `Retry-After`), the gateway's flow control
//!   (429 `APIGW.0308`), auth (401 `APIGW.0301`), project (403), instance
//!   (404 `CLOUDDC.0404`), then at most one fault. The metadata and IAM
//!   routes are answered before the status call's rate limits and faults,
//!   which do not apply to them (they are other services);
//!   [`Counters::requests`] and the request log count only the status API
//!   and unknown paths, and the metadata and IAM routes have counters of
//!   their own.
//! - **Gateway flow control** ([`FlowPolicy`], none by default): fixed
//!   windows of whole seconds aligned to the start (simulated time, so
//!   [`Op::AdvanceClock`] moves them); every status call a policy
//!   applies to counts in its window, refused ones included, so a retry
//!   inside the window is refused and counted again. Per-API policies count
//!   every status call (any instance, any project in the path, with or
//!   without credentials); per-user ones count each access key or token as
//!   sent (before auth), and not calls with neither. Over any policy the
//!   answer is 429, `Content-Type: application/json`, no `Retry-After`,
//!   `{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second","error_code":"APIGW.0308","request_id":"..."}`
//!   quoting the first exhausted policy in the order set (`policy api` or
//!   `policy user`, the window in the largest whole unit: `time:5 minute`).
//!   A token bucket, when also set, is in front: calls it refuses never
//!   reach the gateway's count.
//! - **Stale connections** ([`StaleConnections`], a global fault): the
//!   request is read, then the connection is closed (FIN, or RST with
//!   [`CloseWith::Reset`]) without a byte; it is counted as a request of
//!   its route and as `stale_closed`, but never reaches the gateway's flow
//!   control, auth or the instance.
//! - **Wrong project id:** 403 `{"error_code":"APIGW.0302","error_msg":"The
//!   IAM user is not authorized to access the API: ..."}`, as a gateway
//!   answers credentials that are not scoped to the project in the path. An
//!   `X-Project-Id` naming another project gets the same.
//! - **Token buckets** ([`Faults::rate_limit`],
//!   [`SimConfigBuilder::token_bucket`]): one per instance and one global;
//!   429 with a plain-text body and `Retry-After` in whole seconds (rounded
//!   up, at least 1), as a proxy in front of the gateway may answer. 429s,
//!   theirs and the gateway's, are counted as `throttled`, not as faults.
//! - **AK/SK:** verified with the core's canonicalisation over the raw path
//!   as received, so requests signed by the vendor's SDKs are accepted;
//!   `X-Sdk-Date` more than 15 minutes off the gateway's clock gets the
//!   vendor's 401, exactly
//!   `{"error_msg":"Incorrect IAM authentication information: The request has expired","error_code":"APIGW.0301","request_id":"..."}`
//!   (the id of `X-Request-Id`). A configured security token is required
//!   and must be signed; without one configured, a request carrying
//!   `X-Security-Token` is refused.
//! - **Gateway clock:** [`SimConfigBuilder::clock_offset_secs`] moves the
//!   gateway's clock away from this machine's: every answer of the status
//!   API, unknown paths and IAM carries `Date` (IMF-fixdate) in the
//!   gateway's time, and `X-Sdk-Date` is checked against it. The metadata
//!   service and the admin API date their answers with this machine's clock
//!   (the metadata service is on the server itself), and `expires_at` is in
//!   this machine's clock too.
//! - **Metadata generations:** generation `k` of the agency's credentials
//!   is issued `k × rotation` after the start (simulated time, so
//!   [`Op::AdvanceClock`] moves it) and expires `lifetime` later; its
//!   access key is `SIMSTS`, `k` in six digits or more, and eight hex
//!   digits, all derived from the seed. The status call and IAM accept a
//!   live generation's keys with its security token signed, whatever
//!   [`Auth`] is configured, and answer an expired one with 401
//!   `APIGW.0301` saying the temporary credentials have expired (worded
//!   without "request" or "signature", so that clients do not take it for
//!   clock skew). With the metadata service off no generation is accepted.
//! - **IAM:** `GET /v3/projects` authenticates like the status call
//!   (configured [`Auth`] and live generations; with AK/SK the query is
//!   signed as canonical-query), then lists the configured projects whose
//!   `name` equals the query's (all without `name`). Its errors are IAM's
//!   shape, `{"error": {"code": 401, "title": "Unauthorized", "message":
//!   "..."}}`, and every answer has an `X-IAM-Trace-Id` of its own.
//! - **Any token** ([`Auth::AnyToken`], the default): any non-empty
//!   `X-Auth-Token`, or any well-formed signed request within the skew;
//!   nothing at all gets 401. [`EXAMPLE_TOKEN`] is a token to show users.
//! - **Error codes** `CLOUDDC.*` in bodies and `error` objects are invented
//!   for the simulator; the gateway codes `APIGW.*` follow the vendor's.
//! - **Time:** transitions are evaluated lazily from the clock; no timers
//!   run. [`Op::AdvanceClock`] (or `POST /_sim/clock`) jumps simulated
//!   time, so tests need not sleep through schedules.
//!
//! # Security notes
//! - It is a test double: plain HTTP only, and the admin API has no auth at
//!   all. Keep the default loopback listen address; anyone who can reach
//!   `/_sim/` can change every answer.
//! - Configured tokens and secret keys are never in `Debug` output, logs or
//!   error bodies; tokens are compared in constant time. The metadata
//!   service's generated keys and session tokens are handed out by its
//!   routes, as the real one does, and nowhere else (not in `Debug`, logs
//!   or the admin API).
//! - Logs go through `tracing` under the target `clouddc_simulator` (method,
//!   path, request id, status, fault; never headers).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
mod arrivals;
mod auth;
mod bucket;
mod config;
mod decision;
mod error;
mod faults;
mod flow;
mod iam;
mod lifecycle;
pub mod metadata;
mod ms;
mod oidc;
mod op;
mod reply;
mod server;
mod sim;
mod view;

pub use arrivals::{MAX_ARRIVALS, RequestLog, RequestRecord, Throttled, max_in_window};
pub use auth::{Auth, EXAMPLE_TOKEN};
pub use bucket::RateLimit;
pub use config::{
    DEFAULT_MAX_SKEW, DEFAULT_PROJECT_ID, MAX_CLOCK_OFFSET_SECS, SimConfig, SimConfigBuilder,
};
pub use decision::{Decision, Delivery};
pub use error::Error;
pub use faults::{
    CloseWith, ConnectionInfo, FaultKind, Faults, OversizedBody, ServerError, StaleConnections,
    StallBody, StallHeaders, Trigger,
};
pub use flow::{FlowPolicy, MAX_FLOW_POLICIES, PolicyScope};
pub use iam::{DEFAULT_DOMAIN_ID, DEFAULT_REGION, IamProject, PROJECTS_PATH, X_IAM_TRACE_ID};
pub use lifecycle::{Action, Lifecycle, Refused, Schedule, Transition, is_allowed_transition};
pub use metadata::{CredentialGeneration, Metadata, NO_AGENCY_MESSAGE, SessionTokens};
pub use oidc::{DEFAULT_IDP_ID, ID_TOKEN_PATH, Oidc, OidcRefusal, SECURITY_TOKEN_PATH};
pub use op::{NewInstance, Op, Outcome};
pub use reply::{Reply, X_REQUEST_ID};
pub use server::{
    BlockingHandle, Control, Handle, start, start_blocking, start_blocking_default, start_default,
};
pub use sim::Simulator;
pub use view::{
    Counters, CountersSnapshot, InstanceCounters, InstanceView, NextTransition, TransitionView,
};
