//! A blocking client for Huawei Cloud CloudDC's "Query Instance Status" API
//! (`GET /v1/{project_id}/instances/{id}/status`), built on [ureq].
//!
//! **In scope:** moving bytes and waiting: one [`ureq::Agent`] (one
//! connection pool) per [`Client`], TLS with rustls and the `ring` provider
//! checked by the platform verifier, the per-attempt timeout, the body cap,
//! name resolution (IP literals as they are, a host name looked up at most
//! every 30 s rather than before every request), and a real clock. **Out of
//! scope:** every decision. Signing, parsing, retries, `Retry-After` and the
//! waiter's acceptors live in
//! [`clouddc_core`], which this crate re-exports; for async code use
//! `clouddc-reqwest`, which has the same surface.
//!
//! ```no_run
//! use clouddc_ureq::{Client, InstanceId, InstanceState, WaitOptions};
//!
//! // CLOUDDC_ENDPOINT or HUAWEICLOUD_SDK_REGION, HUAWEICLOUD_SDK_PROJECT_ID,
//! // and CLOUDDC_AUTH_TOKEN or HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK.
//! let client = Client::from_env()?;
//! let id = InstanceId::new("ins-7f3c2a10")?;
//! let status = client.status(&id)?;
//! println!("{id} is {}", status.state);
//!
//! let report = client.wait_until(&id, InstanceState::Running, WaitOptions::new());
//! println!("{} after {} polls", report.outcome.as_str(), report.polls);
//! # Ok::<(), clouddc_ureq::Error>(())
//! ```
//!
//! ```toml
//! [dependencies]
//! clouddc-ureq = "0.1"
//! ```
//!
//! # Configuring
//! [`Client::builder`] takes everything [`ConfigBuilder`] takes, under the
//! same names; [`ClientBuilder::with_env`] fills what is not set from the
//! vendor SDK's environment variables (see [`ConfigBuilder::with_env`]) and
//! fails naming every variable that is missing.
//!
//! ```no_run
//! use clouddc_ureq::{Client, Credentials, Endpoint, ProjectId};
//! use std::time::Duration;
//! let client = Client::builder()
//!     .endpoint(Endpoint::from_region("cn-east-3")?)
//!     .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9")?)
//!     .credentials(Credentials::ak_sk("HPUAEXAMPLEAK000001", "exampleSecretKey")?)
//!     .attempt_timeout(Duration::from_secs(5))
//!     .call_timeout(Duration::from_secs(20))
//!     .max_attempts(4)
//!     .build()?;
//! # Ok::<(), clouddc_ureq::Error>(())
//! ```
//!
//! # What the transport guarantees
//! - **Timeouts by scope.** Each attempt ends after `attempt_timeout`
//!   (connect, TLS, headers and body together); the optional `call_timeout`
//!   bounds a whole call, retries and pauses included, and whichever ends
//!   first wins.
//! - **Bounded bodies.** At most `body_limit + 1` bytes of any body are read;
//!   the core turns a longer body into a `decode` error and the rest is never
//!   read.
//! - **No redirects.** A 3xx is handed to the core (kind `api`), so a token
//!   or a signature never travels to another host.
//! - **Proxies** come from `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY` and
//!   `NO_PROXY`, read by ureq when the client is built.
//! - **Errors.** Every I/O failure is kind `transport` or `timeout`, with
//!   ureq's error as the `source()`.
//!
//! # Tracing
//! With the `tracing` feature, each call or wait gets a `clouddc.call` span
//! (`op`, `instance_id`, `attempts`, `outcome`) and each attempt a
//! `clouddc.attempt` span (`number`, `status`, `request_id`, `error`);
//! pauses are `debug` events with `delay_ms`. Headers are never recorded, so
//! tokens, secret keys and signatures never reach a log.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod obs;
mod resolve;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use clouddc_core::transport::{Clock, Transport, run};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::transport::DefaultConnector;

use crate::resolve::CachingResolver;

pub use clouddc_core::{
    self as core, Config, ConfigBuilder, Credentials, Endpoint, Error, ErrorKind, InstanceId,
    InstanceState, InstanceStatus, ProjectId, RetryPolicy, SharedLimits, WaitOptions, WaitOutcome,
    WaitReport, http,
};
use clouddc_core::{Attempt, Call, Now, Waiter};

/// A blocking CloudDC client: one connection pool, shared by every call.
///
/// Cheap to clone (clones share the pool); `Send + Sync`.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    config: Config,
    limits: Option<SharedLimits>,
    seeds: Seeds,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder with the core's defaults.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured entirely from the environment; the error names
    /// every variable that is missing.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().with_env()?.build()
    }

    /// The configuration every call uses.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Queries the status of one instance, retrying as the policy allows.
    pub fn status(&self, id: &InstanceId) -> Result<InstanceStatus, Error> {
        let span = obs::call("status", id);
        obs::in_scope(&span, || {
            let call = Call::new(
                &self.inner.config,
                id.clone(),
                SystemClock.now(),
                self.seed(),
            );
            let mut call = match &self.inner.limits {
                Some(limits) => call.with_limits(limits.clone()),
                None => call,
            };
            let result = run(&mut obs::Traced(&mut call), &self.transport(), &SystemClock);
            let outcome = result.as_ref().map_or_else(|e| e.kind().as_str(), |_| "ok");
            obs::done(&span, call.attempts(), outcome);
            result
        })
    }

    /// Polls until the instance reaches `target`, fails, or `options`' deadline
    /// passes; see [`Waiter`] for the acceptors.
    pub fn wait_until(
        &self,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
    ) -> WaitReport {
        let span = obs::call("wait_until", id);
        obs::in_scope(&span, || {
            let (config, now, seed) = (&self.inner.config, SystemClock.now(), self.seed());
            let waiter = Waiter::new(config, id.clone(), target, options, now, seed);
            let mut waiter = match &self.inner.limits {
                Some(limits) => waiter.with_limits(limits.clone()),
                None => waiter,
            };
            let report = run(
                &mut obs::Traced(&mut waiter),
                &self.transport(),
                &SystemClock,
            );
            obs::done(&span, report.polls, report.outcome.as_str());
            report
        })
    }

    fn seed(&self) -> u64 {
        self.inner.seeds.next()
    }

    /// The client's pool as a core [`Transport`] (use with [`SystemClock`]
    /// and `clouddc_core::transport::run`).
    pub fn transport(&self) -> UreqTransport<'_> {
        UreqTransport(&self.inner.agent)
    }
}

/// Builds a [`Client`]: the settings of [`ConfigBuilder`], same names.
#[derive(Debug, Clone, Default)]
pub struct ClientBuilder {
    config: ConfigBuilder,
    user_agent_suffix: Option<String>,
    limits: Option<SharedLimits>,
}

impl ClientBuilder {
    /// The endpoint: [`Endpoint::parse`] for a URL, [`Endpoint::from_region`]
    /// for a region (required, or from the environment).
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.config = self.config.endpoint(endpoint);
        self
    }
    /// The project id (required, or from the environment).
    pub fn project_id(mut self, project_id: ProjectId) -> Self {
        self.config = self.config.project_id(project_id);
        self
    }
    /// A token, or AK/SK with an optional security token (required, or from
    /// the environment).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.config = self.config.credentials(credentials);
        self
    }
    /// The timeout of one attempt, connect to last body byte (default 10 s).
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.config = self.config.attempt_timeout(d);
        self
    }
    /// The overall deadline of one call, retries included (default none).
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.config = self.config.call_timeout(d);
        self
    }
    /// Attempts per call, the first included (default 3).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config = self.config.max_attempts(n);
        self
    }
    /// The largest body accepted, in bytes (default 64 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config = self.config.body_limit(bytes);
        self
    }
    /// Text appended to the `User-Agent`, e.g. `my-deployer/2.1`.
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }
    /// The whole retry policy (replaces `max_attempts`).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.config = self.config.retry(retry);
        self
    }
    /// A rate limiter and retry budget shared by every call of the client.
    pub fn limits(mut self, limits: SharedLimits) -> Self {
        self.limits = Some(limits);
        self
    }
    /// Fills endpoint, project id and credentials that are not set yet from
    /// the process environment, as [`ConfigBuilder::with_env`] describes.
    pub fn with_env(mut self) -> Result<Self, Error> {
        self.config = self.config.with_env(&|k| std::env::var(k).ok())?;
        Ok(self)
    }

    /// Validates the settings and builds the client and its pool.
    pub fn build(self) -> Result<Client, Error> {
        let ours = concat!("clouddc-ureq/", env!("CARGO_PKG_VERSION"));
        let suffix = match self.user_agent_suffix {
            Some(s) => format!("{ours} {s}"),
            None => ours.to_owned(),
        };
        let config = self.config.user_agent_suffix(suffix).build()?;
        let tls = TlsConfig::builder()
            .root_certs(RootCerts::PlatformVerifier)
            .build();
        let agent = ureq::Agent::with_parts(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(config.attempt_timeout()))
                .tls_config(tls)
                .build(),
            DefaultConnector::new(),
            CachingResolver::default(),
        );
        Ok(Client {
            inner: Arc::new(Inner {
                agent,
                config,
                limits: self.limits,
                seeds: Seeds::default(),
            }),
        })
    }
}

/// Jitter seeds: a per-client counter mixed with per-process random keys.
#[derive(Default)]
struct Seeds {
    counter: AtomicU64,
    keys: RandomState,
}

impl Seeds {
    fn next(&self) -> u64 {
        self.keys
            .hash_one(self.counter.fetch_add(1, Ordering::Relaxed))
    }
}

/// The wall clock, the monotonic clock and `thread::sleep`: the clock this
/// client drives the core's machines with. Public so that code driving
/// machines itself (see [`Client::transport`]) uses the same one.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now::new(SystemTime::now(), Instant::now())
    }

    fn sleep_until(&self, until: Instant) {
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
    }
}

/// This client's connection pool as a core [`Transport`], for driving the
/// core's machines directly (e.g. a `Waiter` observed step by step).
#[derive(Debug, Clone, Copy)]
pub struct UreqTransport<'a>(&'a ureq::Agent);

impl Transport for UreqTransport<'_> {
    fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, Error> {
        let span = obs::attempt(&attempt);
        obs::in_scope(&span, || obs::attempt_result(&span, self.exchange(attempt)))
    }
}

impl UreqTransport<'_> {
    fn exchange(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, Error> {
        let Attempt {
            request,
            timeout,
            body_limit,
            number,
        } = attempt;
        let uri = request.uri().clone();
        let fail = |what: &str, e: ureq::Error| map_error(number, &uri, what, e);
        // An empty body is sent as none at all (no `Content-Length: 0`).
        let (parts, body) = request.into_parts();
        let response = if body.is_empty() {
            self.run(http::Request::from_parts(parts, ()), timeout)
        } else {
            self.run(http::Request::from_parts(parts, body), timeout)
        }
        .map_err(|e| fail("failed", e))?;
        let (parts, body) = response.into_parts();
        let mut bytes = Vec::new();
        body.into_reader()
            .take(
                u64::try_from(body_limit)
                    .unwrap_or(u64::MAX)
                    .saturating_add(1),
            )
            .read_to_end(&mut bytes)
            .map_err(|e| fail("failed reading the body", e.into()))?;
        Ok(http::Response::from_parts(parts, bytes))
    }

    fn run<S: ureq::AsSendBody>(
        &self,
        request: http::Request<S>,
        timeout: Duration,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        // The agent's own timeout is the configured attempt timeout; only a
        // shorter one (the call's deadline is near) needs a request-level
        // config, which ureq builds by cloning the agent's.
        if self.0.config().timeouts().global == Some(timeout) {
            return self.0.run(request);
        }
        let request = self
            .0
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        self.0.run(request)
    }
}

/// ureq's error as the core's `timeout` or `transport` kind, kept as source.
fn map_error(number: u32, uri: &http::Uri, what: &str, e: ureq::Error) -> Error {
    let host = uri.authority().map_or("the endpoint", |a| a.as_str());
    let timed_out = match &e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
        _ => false,
    };
    if timed_out {
        Error::timeout(
            format!("attempt {number} to {host} timed out"),
            Some(Box::new(e)),
        )
    } else {
        Error::transport(format!("attempt {number} to {host} {what}"), e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Client>();
    }

    #[test]
    fn seeds_differ_per_call() {
        let s = Seeds::default();
        let (a, b) = (s.next(), s.next());
        assert_ne!(a, b);
    }

    #[test]
    fn builder_names_missing_settings() {
        let e = Client::builder().build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("endpoint"), "{e}");
    }

    #[test]
    fn user_agent_names_the_adapter_and_the_suffix() {
        let c = Client::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:9").unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::token("t").unwrap())
            .user_agent_suffix("deployer/2")
            .build()
            .unwrap();
        let ua = c.config().user_agent();
        assert!(ua.starts_with("clouddc-core/"), "{ua}");
        assert!(ua.contains(" clouddc-ureq/"), "{ua}");
        assert!(ua.ends_with(" deployer/2"), "{ua}");
        assert!(
            Client::builder()
                .endpoint(Endpoint::parse("http://127.0.0.1:9").unwrap())
                .project_id(ProjectId::new("p").unwrap())
                .credentials(Credentials::token("t").unwrap())
                .user_agent_suffix("bad\nsuffix")
                .build()
                .is_err()
        );
    }
}
