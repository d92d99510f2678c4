//! Sans-IO protocol core for the Huawei Cloud CloudDC "Query Instance Status"
//! API (`GET /v1/{project_id}/instances/{id}/status`).
//!
//! This crate builds `http::Request` values (endpoint, path encoding, token
//! or AK/SK signing with the time passed in), parses responses into a typed
//! [`InstanceStatus`] or a typed [`Error`], and owns every decision: retries,
//! backoff, `Retry-After`, and waiting for a state.
//!
//! **In scope:** the data model, request building and signing, response
//! parsing, the retry policy, and the [`Call`] and [`Waiter`] state machines
//! with blocking and async drivers over a one-method [`Transport`].
//! **Out of scope:** sockets, TLS, sleeping, clocks, randomness sources and
//! global state. The adapter crates `clouddc-ureq` (blocking) and
//! `clouddc-reqwest` (async) supply those; so can your own code.
//!
//! # Contents
//! - [By hand: build, sign, parse](#by-hand-build-sign-parse)
//! - [Driving a call](#driving-a-call)
//! - [Bring your own transport](#bring-your-own-transport)
//! - [Credentials, project and clock](#credentials-project-and-clock)
//! - [Throttling and dropped connections](#throttling-and-dropped-connections)
//! - [Security notes](#security-notes)
//! - [Why sans-IO, and what it asks of you](#why-sans-io-and-what-it-asks-of-you)
//!
//! # By hand: build, sign, parse
//!
//! The examples below need these dependencies (a transport of your own
//! needs `http` too; it is also re-exported as `clouddc_core::http`):
//!
//! ```toml
//! [dependencies]
//! clouddc-core = "0.1"
//! http = "1"
//! ```
//!
//! ```
//! use clouddc_core::{build_status_request, parse_status_response, Config, Session, Credentials,
//!     Endpoint, InstanceId, InstanceState, ProjectId};
//! use std::time::{Duration, SystemTime};
//!
//! let session = Session::new(Config::builder()
//!     .endpoint(Endpoint::from_region("cn-east-3")?)
//!     .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9")?)
//!     .credentials(Credentials::ak_sk("HPUAEXAMPLEAK000001", "exampleSecretKey")?)
//!     .build()?);
//! let id = InstanceId::new("ins-7f3c2a10")?;
//!
//! // 1. Build and sign, with the time passed in.
//! let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_860_900);
//! let request = build_status_request(&session, &id, signed_at)?;
//! assert_eq!(request.uri().to_string(),
//!     "https://clouddc.cn-east-3.myhuaweicloud.com/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/instances/ins-7f3c2a10/status");
//! assert_eq!(request.headers()["x-sdk-date"], "20261128T101500Z");
//! assert!(request.headers()["authorization"].to_str().unwrap()
//!     .starts_with("SDK-HMAC-SHA256 Access=HPUAEXAMPLEAK000001, SignedHeaders="));
//!
//! // 2. Send it with any HTTP client; then parse what came back.
//! let response = http::Response::new(
//!     br#"{"state": "shutting_down", "operation_state": "uninstall-processing"}"#,
//! );
//! let status = parse_status_response(&response, session.config().body_limit(), signed_at)?;
//! assert_eq!(status.state, InstanceState::ShuttingDown);
//! # Ok::<(), clouddc_core::Error>(())
//! ```
//!
//! # Driving a call
//!
//! A [`Call`] (one query with retries) and a [`Waiter`] (poll until a
//! state) are [`Machine`]s. The loop that drives them:
//!
//! 1. `machine.poll(now)` returns a [`Step`].
//! 2. [`Step::Send`]: send the [`Attempt`] (honouring its `timeout` and
//!    `body_limit`), then feed the result to `handle_response(now, resp)` or
//!    `handle_transport_error(now, err)`. Back to 1.
//! 3. [`Step::Wait`]: sleep until the instant given. Back to 1.
//! 4. [`Step::Done`]: the output.
//!
//! [`run`] and [`run_async`] are that loop.
//!
//! # Bring your own transport
//!
//! A transport is one method, and closures qualify, so a test double is one
//! line. `core/examples/tcp_transport.rs` drives a real query over a
//! hand-written HTTP/1.1 client on `std::net::TcpStream`.
//!
//! ```
//! use clouddc_core::{run, Clock, Attempt, Call, Config, Session, Credentials, Endpoint,
//!     Error, ErrorKind, InstanceId, Now, ProjectId};
//! use std::time::{Instant, SystemTime};
//!
//! struct SystemClock;
//! impl Clock for SystemClock {
//!     fn now(&self) -> Now { Now::new(SystemTime::now(), Instant::now()) }
//!     fn sleep_until(&self, until: Instant) {
//!         std::thread::sleep(until.saturating_duration_since(Instant::now()))
//!     }
//! }
//! let session = Session::new(Config::builder()
//!     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
//!     .project_id(ProjectId::new("p1")?)
//!     .credentials(Credentials::token("t")?)
//!     .max_attempts(1)
//!     .build()?);
//! let always_401 = |_: Attempt| Ok(http::Response::builder().status(401)
//!     .header("X-Request-Id", "req-1")
//!     .body(br#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}"#.to_vec())
//!     .unwrap());
//! let mut call = Call::new(&session, InstanceId::new("ins-1")?, SystemClock.now(), 1);
//! let err = run(&mut call, &always_401, &SystemClock).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Unauthorized);
//! assert_eq!(err.request_id(), Some("req-1"));
//! # Ok::<(), clouddc_core::Error>(())
//! ```
//!
//! # Credentials, project and clock
//!
//! [`ConfigBuilder::with_sources`] fills what code did not set, first hit
//! wins, in the vendor SDKs' order: the environment, the profile file
//! (`~/.huaweicloud/credentials`, section `[basic]`), then server metadata
//! (the temporary credentials of the agency attached to a Huawei Cloud
//! server). Credentials are taken whole from the first source that has any
//! of them. Without a project id, AK/SK users get it from IAM by region.
//! [`Config::origins`] says where each value came from.
//!
//! Metadata credentials and the IAM lookup are requests, so the config's
//! session makes them through whatever drives a [`Fleet`] (the clients'
//! `status`, `wait_until`, `fleet` and `resolve`): at most one at a time for
//! every call sharing the config, refreshing metadata credentials when less
//! than min(40 min, a third of their lifetime) is left while calls keep
//! signing with the unexpired ones. A standalone [`Call`] or [`Waiter`]
//! signs with what is resolved already and fails if nothing is; drive a
//! fleet (an empty one resolves and ends) to resolve.
//!
//! When an AK/SK call gets a 401 saying the request expired and the
//! response's `Date` is at least [`SKEW_THRESHOLD`] off the local clock, the
//! call signs again once with the gateway's time (outside its attempt limit
//! and the retry budget) and every later call of the config does so from
//! the start ([`Session::clock_skew`]).
//!
//! # Throttling and dropped connections
//!
//! The API gateway counts calls in fixed windows and answers a call over a
//! quota with 429 `APIGW.0308` (`APIG.0308` in older documents), quoting the
//! policy (`…over ratelimit,limit:20,time:1 second`) and sending no
//! `Retry-After`; every call in the rest of the window is refused, and the
//! vendor advises retrying after 2 to 5 s. [`parse_throttle`] reads the
//! quote into a [`Throttle`] ([`Error::throttle`]); the retry waits a whole
//! quoted window ([`throttle_delay`]), bounded only by the call's deadline,
//! and spends no retry budget. Every call and fleet of a config is then
//! paced under the tightest quota seen ([`QUOTA_MARGIN`] of it, after a
//! window's hold; [`Session::learned_quotas`]). A `Retry-After`, which a
//! proxy may send, is honoured as before, up to
//! [`RetryPolicy::max_retry_after`].
//!
//! A transport reports a request whose connection closed before any
//! response byte (a pooled connection the server had closed: the
//! idle-timeout race) as [`Error::closed_unanswered`]; the machine sends it
//! again at once as the same attempt, with [`Attempt::fresh_connection`]
//! set, and the transport uses a new connection for it.
//!
//! ```
//! use clouddc_core::{parse_status_response, http::Response, ErrorKind};
//! use std::time::{Duration, SystemTime};
//! let refused = Response::builder().status(429).body(
//!     r#"{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second","error_code":"APIGW.0308","request_id":"r1"}"#,
//! ).unwrap();
//! let err = parse_status_response(&refused, 65536, SystemTime::UNIX_EPOCH).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::RateLimited);
//! let quota = err.throttle().unwrap();
//! assert_eq!((quota.limit(), quota.window()), (20, Duration::from_secs(1)));
//! ```
//!
//! # Security notes
//! - [`Endpoint`] refuses plain `http` unless the host is loopback or you
//!   opt in with [`Endpoint::parse_allow_insecure`].
//! - Transports must not follow redirects: a redirect would carry a token
//!   or a signature to another host. A 3xx ends the call as kind `api`.
//! - Tokens, secret keys and signatures are never in `Debug`, `Display` or
//!   error text; secret headers are marked sensitive.
//! - Bodies are capped (64 KiB by default) and a longer one is an error.
//!
//! # Why sans-IO, and what it asks of you
//! Every decision is a pure function of its inputs, so it is tested with a
//! fake clock and reused by any transport, blocking, async, or hand-written
//! on a small device. The price: you (or an adapter crate) supply the clock,
//! the sleep and the socket, and feed the machine in the loop above.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod config;
mod credentials;
mod endpoint;
mod error;
mod identity;
mod ids;
mod machine;
mod machines;
#[cfg(feature = "metrics")]
mod metrics;
mod model;
mod observe;
mod pacing;
mod quota;
mod session;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
mod transport;
mod wire;

// The public API, in one list.
pub use http;

pub use client::{
    ClientBuilder, ClientCore, Connect, DEFAULT_MAX_IN_FLIGHT, PROFILE_FILE_LIMIT, SingleCall,
    read_profile,
};
pub use config::{
    Config, ConfigBuilder, ConfigPreview, DEFAULT_ATTEMPT_TIMEOUT, EnvLookup, FileReader,
    OidcSource, Origin, Origins,
};
pub use credentials::{Credentials, Secret};
pub use endpoint::{Endpoint, KNOWN_REGIONS, Region, is_loopback_host, redact_userinfo};
pub use error::{
    ApiError, BoxError, DecodeError, DecodeReason, Error, ErrorKind, InvalidInput, ResolveError,
    Setting, TransportError, ceil_secs, error_chain,
};
pub use identity::metadata::{DEFAULT_METADATA_ENDPOINT, metadata_refresh_at};
pub use identity::oidc::GLOBAL_IAM_ENDPOINT;
pub use identity::skew::{ClockSkew, SKEW_THRESHOLD};
pub use ids::{Id, IdKind, Instance, InstanceId, Project, ProjectId};
pub use machine::{Attempt, Machine, Now, Step, later};
pub use machines::call::{Call, CallResult};
pub use machines::fleet::{
    Fleet, FleetEvent, FleetOptions, FleetStep, Job, Outcome, Progress as FleetProgress, Ticket,
};
pub use machines::waiter::{
    Acceptor, WaitOptions, WaitOutcome, WaitReport, Waiter, default_failure_states, judge,
};
#[cfg(feature = "metrics")]
pub use metrics::MetricsObserver;
pub use model::{ErrorStatus, ErrorType, InstanceState, InstanceStatus, OperationState};
pub use observe::{AttemptOutcome, AttemptRecord, Observer, Service, metric};
pub use pacing::limiter::{
    AdaptiveRateLimiter, Limits, RateLimiterConfig, RetryBudget, RetryBudgetConfig, SharedLimits,
};
pub use pacing::retry::{RetryDecision, RetryPolicy, StopReason, backoff, throttle_delay};
pub use pacing::rng::{SplitMix64, mix64};
pub use quota::{QUOTA_MARGIN, Throttle, parse_throttle};
pub use session::{ReadFile, Resolve, Session, SessionOptions, build_status_request};
pub use transport::{
    AsyncClock, AsyncTransport, Clock, Ended, Transport, next_fleet_event, run, run_async,
};
pub use wire::request::{X_AUTH_TOKEN, X_PROJECT_ID, X_SECURITY_TOKEN};
pub use wire::response::{
    CODE_CHARS, DEFAULT_BODY_LIMIT, MESSAGE_CHARS, REQUEST_ID, SNIPPET_CHARS, parse_retry_after,
    parse_status_response, request_id, snippet,
};
pub use wire::signing::{
    ALGORITHM, AuthorizationHeader, SDK_DATE, SignInput, SignedParts, VerifyError, canonical_query,
    canonical_uri, format_sdk_date, parse_sdk_date, sign_parts, sign_request, verify_request,
};

/// What a client crate re-exports to its users: the settings, the ids, the
/// results and the fleet vocabulary, in one list, so that every client has
/// the same surface.
pub mod prelude {
    pub use crate::{
        AttemptOutcome, AttemptRecord, Config, ConfigBuilder, Credentials, Endpoint, Error,
        ErrorKind, Fleet, FleetEvent, FleetOptions, FleetProgress, InstanceId, InstanceState,
        InstanceStatus, Job, Observer, Outcome, ProjectId, RetryPolicy, Service, Session,
        SharedLimits, WaitOptions, WaitOutcome, WaitReport, http,
    };
}

// Compile-time checks: what clients share across threads and tasks, and
// what they hand back, is `Send + Sync`.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Error>();
    send_sync::<Config>();
    send_sync::<Session>();
    send_sync::<ClientCore>();
    send_sync::<Credentials>();
    send_sync::<SharedLimits>();
    send_sync::<InstanceStatus>();
    send_sync::<WaitReport>();
    send_sync::<Call>();
    send_sync::<Waiter>();
    send_sync::<Fleet<std::vec::IntoIter<InstanceId>>>();
    send_sync::<FleetEvent>();
};
