//! An async client for Huawei Cloud CloudDC's "Query Instance Status" API
//! (`GET /v1/{project_id}/instances/{id}/status`), built on [reqwest] and
//! tokio.
//!
//! **In scope:** moving bytes and waiting: one [`reqwest::Client`] (one
//! connection pool) per [`Client`], TLS with rustls and the `ring` provider
//! checked by the platform verifier, the per-attempt timeout, the body cap,
//! tokio's clock, and bounded fan-out over many ids. **Out of scope:** every
//! decision. Signing, parsing, retries, `Retry-After` and the waiter's
//! acceptors live in [`clouddc_core`], which this crate re-exports; for
//! blocking code use `clouddc-ureq`, which has the same surface. Calls must
//! run inside a tokio runtime with the time driver enabled.
//!
//! ```no_run
//! use clouddc_reqwest::{Client, InstanceId, InstanceState, WaitOptions};
//! use futures_util::StreamExt;
//!
//! # async fn demo() -> Result<(), clouddc_reqwest::Error> {
//! // CLOUDDC_ENDPOINT or HUAWEICLOUD_SDK_REGION, HUAWEICLOUD_SDK_PROJECT_ID,
//! // and CLOUDDC_AUTH_TOKEN or HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK.
//! let client = Client::from_env()?;
//! let id = InstanceId::new("ins-7f3c2a10")?;
//! let status = client.status(&id).await?;
//! println!("{id} is {}", status.state);
//!
//! let report = client.wait_until(&id, InstanceState::Running, WaitOptions::new()).await;
//! println!("{} after {} polls", report.outcome.as_str(), report.polls);
//!
//! // Many ids, at most 8 in flight; results arrive as they complete.
//! let ids = ["ins-1", "ins-2", "ins-3"].map(|s| InstanceId::new(s).unwrap());
//! let mut results = client.statuses(ids, 8);
//! while let Some((id, result)) = results.next().await {
//!     println!("{id}: {:?}", result.map(|s| s.state));
//! }
//! # Ok(()) }
//! ```
//!
//! ```toml
//! [dependencies]
//! clouddc-reqwest = "0.1"
//! ```
//!
//! # Configuring
//! [`Client::builder`] takes everything [`ConfigBuilder`] takes, under the
//! same names; [`ClientBuilder::with_env`] fills what is not set from the
//! vendor SDK's environment variables (see [`ConfigBuilder::with_env`]) and
//! fails naming every variable that is missing.
//!
//! ```no_run
//! use clouddc_reqwest::{Client, Credentials, Endpoint, ProjectId};
//! use std::time::Duration;
//! let client = Client::builder()
//!     .endpoint(Endpoint::from_region("cn-east-3")?)
//!     .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9")?)
//!     .credentials(Credentials::ak_sk("HPUAEXAMPLEAK000001", "exampleSecretKey")?)
//!     .attempt_timeout(Duration::from_secs(5))
//!     .call_timeout(Duration::from_secs(20))
//!     .max_attempts(4)
//!     .build()?;
//! # Ok::<(), clouddc_reqwest::Error>(())
//! ```
//!
//! # What the transport guarantees
//! - **Timeouts by scope.** Each attempt ends after `attempt_timeout`
//!   (connect, TLS, headers and body together; the core's driver also races
//!   every attempt against the clock); the optional `call_timeout` bounds a
//!   whole call, retries and pauses included, and whichever ends first wins.
//! - **Bounded bodies.** At most `body_limit + 1` bytes of any body are read;
//!   the core turns a longer body into a `decode` error and the rest is never
//!   read.
//! - **No redirects.** A 3xx is handed to the core (kind `api`), so a token
//!   or a signature never travels to another host.
//! - **Proxies** come from `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY` and
//!   `NO_PROXY`, read by reqwest when the client is built.
//! - **Errors.** Every I/O failure is kind `transport` or `timeout`, with
//!   reqwest's error as the `source()`.
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

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use clouddc_core::transport::{AsyncClock, AsyncTransport, run_async};
use futures_util::{Stream, StreamExt, stream};
use rustls_platform_verifier::BuilderVerifierExt;

pub use clouddc_core::{
    self as core, Config, ConfigBuilder, Credentials, Endpoint, Error, ErrorKind, InstanceId,
    InstanceState, InstanceStatus, ProjectId, RetryPolicy, SharedLimits, WaitOptions, WaitOutcome,
    WaitReport, http,
};
use clouddc_core::{Attempt, Call, Now, Waiter};

/// An async CloudDC client: one connection pool, shared by every call.
///
/// `Send + Sync`, and cheap to clone (clones share the pool), so one client
/// can serve a whole service.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Bounds requests in flight, so a burst of calls cannot open
    /// thousands of connections at once.
    in_flight: tokio::sync::Semaphore,
    origin: Origin,
    config: Config,
    limits: Option<SharedLimits>,
    fleet: SharedLimits,
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
    pub async fn status(&self, id: &InstanceId) -> Result<InstanceStatus, Error> {
        self.status_with(id, self.inner.limits.as_ref()).await
    }

    async fn status_with(
        &self,
        id: &InstanceId,
        limits: Option<&SharedLimits>,
    ) -> Result<InstanceStatus, Error> {
        let span = obs::call("status", id);
        let call = Call::new(
            &self.inner.config,
            id.clone(),
            TokioClock.now(),
            self.seed(),
        );
        let mut call = match limits {
            Some(limits) => call.with_limits(limits.clone()),
            None => call,
        };
        let (transport, mut traced) = (self.transport(), obs::Traced(&mut call));
        let run = run_async(&mut traced, &transport, &TokioClock);
        let result = obs::instrument(run, span.clone()).await;
        let outcome = result.as_ref().map_or_else(|e| e.kind().as_str(), |_| "ok");
        obs::done(&span, call.attempts(), outcome);
        result
    }

    /// Polls until the instance reaches `target`, fails, or `options`' deadline
    /// passes; see [`Waiter`] for the acceptors.
    pub async fn wait_until(
        &self,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
    ) -> WaitReport {
        self.wait_with(id, target, options, self.inner.limits.as_ref())
            .await
    }

    async fn wait_with(
        &self,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
        limits: Option<&SharedLimits>,
    ) -> WaitReport {
        let span = obs::call("wait_until", id);
        let (config, now, seed) = (&self.inner.config, TokioClock.now(), self.seed());
        let waiter = Waiter::new(config, id.clone(), target, options, now, seed);
        let mut waiter = match limits {
            Some(limits) => waiter.with_limits(limits.clone()),
            None => waiter,
        };
        let (transport, mut traced) = (self.transport(), obs::Traced(&mut waiter));
        let run = run_async(&mut traced, &transport, &TokioClock);
        let report = obs::instrument(run, span.clone()).await;
        obs::done(&span, report.polls, report.outcome.as_str());
        report
    }

    /// Queries many instances with at most `concurrency` queries in flight
    /// (0 counts as 1). Results arrive as they complete, each tagged with its
    /// id. `ids` is consumed lazily, so memory does not grow with its length.
    ///
    /// Fleet operations are paced by the client's fleet limits (an adaptive
    /// rate limiter that learns the API's limit from 429s, and a retry
    /// budget), on by default; see [`ClientBuilder::fleet_limits`].
    pub fn statuses<I>(
        &self,
        ids: I,
        concurrency: usize,
    ) -> impl Stream<Item = (InstanceId, Result<InstanceStatus, Error>)> + Send + 'static
    where
        I: IntoIterator<Item = InstanceId>,
        I::IntoIter: Send + 'static,
    {
        let client = self.clone();
        stream::iter(ids)
            .map(move |id| {
                let client = client.clone();
                async move {
                    let fleet = client.inner.fleet.clone();
                    let result = client.status_with(&id, Some(&fleet)).await;
                    (id, result)
                }
            })
            .buffer_unordered(concurrency.max(1))
    }

    /// Waits for many instances to reach `target`, at most `concurrency`
    /// waits at once (0 counts as 1), paced by the fleet limits. Reports
    /// arrive as they complete; `ids` is consumed lazily.
    pub fn wait_all<I>(
        &self,
        ids: I,
        target: InstanceState,
        options: WaitOptions,
        concurrency: usize,
    ) -> impl Stream<Item = (InstanceId, WaitReport)> + Send + 'static
    where
        I: IntoIterator<Item = InstanceId>,
        I::IntoIter: Send + 'static,
    {
        let client = self.clone();
        stream::iter(ids)
            .map(move |id| {
                let (client, target, options) = (client.clone(), target.clone(), options.clone());
                async move {
                    let fleet = client.inner.fleet.clone();
                    let report = client.wait_with(&id, target, options, Some(&fleet)).await;
                    (id, report)
                }
            })
            .buffer_unordered(concurrency.max(1))
    }

    fn seed(&self) -> u64 {
        self.inner.seeds.next()
    }

    /// The client's pool as a core [`AsyncTransport`] (use with
    /// [`TokioClock`] and `clouddc_core::transport::run_async`).
    pub fn transport(&self) -> ReqwestTransport<'_> {
        ReqwestTransport(&self.inner)
    }
}

/// Builds a [`Client`]: the settings of [`ConfigBuilder`], same names.
#[derive(Debug, Clone, Default)]
pub struct ClientBuilder {
    config: ConfigBuilder,
    user_agent_suffix: Option<String>,
    limits: Option<SharedLimits>,
    fleet_limits: Option<SharedLimits>,
    max_in_flight: Option<usize>,
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
    /// The limits of fleet operations ([`Client::statuses`],
    /// [`Client::wait_all`]). Default: the ones set with [`limits`](Self::limits),
    /// else a per-client [`SharedLimits::fleet_default`]; pass
    /// `SharedLimits::new(None, None)` to turn pacing off.
    pub fn fleet_limits(mut self, limits: SharedLimits) -> Self {
        self.fleet_limits = Some(limits);
        self
    }
    /// Requests in flight at once across the client (default 256, at least
    /// 1), and so the most connections it opens. Calls beyond it wait for a
    /// slot; the wait counts against their attempt timeout.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n.max(1));
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
        let ours = concat!("clouddc-reqwest/", env!("CARGO_PKG_VERSION"));
        let suffix = match self.user_agent_suffix {
            Some(s) => format!("{ours} {s}"),
            None => ours.to_owned(),
        };
        let config = self.config.user_agent_suffix(suffix).build()?;
        let tls_error = |e| Error::transport("cannot set up TLS (rustls with ring)", e);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_platform_verifier()
            .map_err(tls_error)?
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::transport("cannot build the HTTP client", e))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                in_flight: tokio::sync::Semaphore::new(self.max_in_flight.unwrap_or(256)),
                origin: Origin::of(&config)?,
                config,
                fleet: self
                    .fleet_limits
                    .or_else(|| self.limits.clone())
                    .unwrap_or_else(SharedLimits::fleet_default),
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

/// The wall clock, the monotonic clock and tokio's timer: the clock this
/// client drives the core's machines with. Public so that code driving
/// machines itself (see [`Client::transport`]) uses the same one.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl AsyncClock for TokioClock {
    fn now(&self) -> Now {
        Now::new(SystemTime::now(), Instant::now())
    }

    fn sleep_until(&self, until: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(tokio::time::Instant::from_std(until))
    }
}

/// This client's connection pool as a core [`AsyncTransport`], for driving
/// the core's machines directly.
#[derive(Clone, Copy)]
pub struct ReqwestTransport<'a>(&'a Inner);

impl fmt::Debug for ReqwestTransport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("origin", &self.0.origin.url.as_str())
            .finish_non_exhaustive()
    }
}

impl AsyncTransport for ReqwestTransport<'_> {
    fn send(
        &self,
        attempt: Attempt,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, Error>> + Send {
        let span = obs::attempt(&attempt);
        let recorder = span.clone();
        let (http, in_flight, origin) = (&self.0.http, &self.0.in_flight, &self.0.origin);
        let exchange = async move {
            // Waiting for a slot counts against the attempt's timeout.
            let Ok(_slot) = in_flight.acquire().await else {
                return Err(Error::transport(
                    "the client is shutting down",
                    std::io::Error::other("in-flight limit closed"),
                ));
            };
            obs::attempt_result(&recorder, exchange(http, origin, attempt).await)
        };
        obs::instrument(exchange, span)
    }
}

/// The endpoint's scheme and authority, with its URL parsed once, so that a
/// request to it needs no full URL parse (host and IDNA processing) each time.
#[derive(Debug)]
struct Origin {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    url: reqwest::Url,
}

impl Origin {
    fn of(config: &Config) -> Result<Self, Error> {
        let endpoint = config.endpoint();
        let invalid =
            || Error::invalid_input(format!("cannot use the endpoint {endpoint} as a URL"));
        let uri: http::Uri = format!("{}://{}/", endpoint.scheme(), endpoint.host_header())
            .parse()
            .map_err(|_| invalid())?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(invalid());
        };
        let url = reqwest::Url::parse(&uri.to_string()).map_err(|_| invalid())?;
        Ok(Self {
            scheme,
            authority,
            url,
        })
    }

    /// `request` as reqwest's type: from the parsed origin when it is
    /// addressed there (as every request built from this client's config
    /// is), else through reqwest's own conversion.
    fn request(&self, request: http::Request<Vec<u8>>) -> Result<reqwest::Request, reqwest::Error> {
        let uri = request.uri();
        let ours = uri.scheme() == Some(&self.scheme)
            && uri.authority() == Some(&self.authority)
            && uri.query().is_none();
        if !ours {
            return reqwest::Request::try_from(request);
        }
        let (parts, body) = request.into_parts();
        let mut url = self.url.clone();
        url.set_path(parts.uri.path());
        let mut out = reqwest::Request::new(parts.method, url);
        *out.headers_mut() = parts.headers;
        *out.version_mut() = parts.version;
        *out.body_mut() = Some(body.into());
        Ok(out)
    }
}

async fn exchange(
    http: &reqwest::Client,
    origin: &Origin,
    attempt: Attempt,
) -> Result<http::Response<Vec<u8>>, Error> {
    let Attempt {
        request,
        timeout,
        body_limit,
        number,
    } = attempt;
    let uri = request.uri().clone();
    let fail = |what: &str, e: reqwest::Error| map_error(number, &uri, what, e);
    let mut request = origin
        .request(request)
        .map_err(|e| fail("is malformed", e))?;
    *request.timeout_mut() = Some(timeout);
    let mut response = http.execute(request).await.map_err(|e| fail("failed", e))?;
    let cap = body_limit.saturating_add(1);
    let mut bytes = Vec::new();
    while bytes.len() < cap {
        let chunk = response.chunk().await;
        let Some(chunk) = chunk.map_err(|e| fail("failed reading the body", e))? else {
            break;
        };
        let take = chunk.len().min(cap - bytes.len());
        bytes.extend_from_slice(&chunk[..take]);
    }
    let mut out = http::Response::new(bytes);
    *out.status_mut() = response.status();
    *out.version_mut() = response.version();
    *out.headers_mut() = std::mem::take(response.headers_mut());
    Ok(out)
}

/// reqwest's error as the core's `timeout` or `transport` kind, kept as source.
fn map_error(number: u32, uri: &http::Uri, what: &str, e: reqwest::Error) -> Error {
    let host = uri.authority().map_or("the endpoint", |a| a.as_str());
    if e.is_timeout() {
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

    fn config(endpoint: &str) -> Config {
        Config::builder()
            .endpoint(Endpoint::parse(endpoint).unwrap())
            .project_id(ProjectId::new("p 1/ü").unwrap())
            .credentials(Credentials::token("t").unwrap())
            .build()
            .unwrap()
    }

    /// The request converted from the parsed origin is the one reqwest's
    /// own conversion gives, for tricky ids and endpoints.
    #[test]
    fn origin_conversion_matches_reqwest() {
        let ids = [
            "ins-1",
            "a/b c%ü",
            "%2F..%",
            "日本 語",
            "~._-",
            "?#[]@!$&'()*+,;=",
        ];
        for endpoint in [
            "http://127.0.0.1:8080",
            "https://clouddc.cn-east-3.myhuaweicloud.com",
            "https://h.example:8443/pre/fix",
            "http://[::1]:9000/p",
            "http://localhost",
        ] {
            let config = config(endpoint);
            let origin = Origin::of(&config).unwrap();
            for id in ids {
                let id = InstanceId::new(id).unwrap();
                let req = clouddc_core::build_status_request(&config, &id, std::time::UNIX_EPOCH)
                    .unwrap();
                let ours = origin.request(req.clone()).unwrap();
                let theirs = reqwest::Request::try_from(req).unwrap();
                assert_eq!(ours.url(), theirs.url(), "{endpoint} {id}");
                assert_eq!(ours.method(), theirs.method());
                assert_eq!(ours.headers(), theirs.headers());
                assert_eq!(ours.version(), theirs.version());
            }
        }
    }

    /// A request addressed elsewhere (another config driven through this
    /// client's transport) keeps its own address.
    #[test]
    fn other_origins_keep_their_address() {
        let origin = Origin::of(&config("https://a.example")).unwrap();
        let other = config("https://b.example:444/x");
        let id = InstanceId::new("i").unwrap();
        let req = clouddc_core::build_status_request(&other, &id, std::time::UNIX_EPOCH).unwrap();
        let converted = origin.request(req).unwrap();
        assert_eq!(
            converted.url().as_str(),
            "https://b.example:444/x/v1/p%201%2F%C3%BC/instances/i/status"
        );
    }

    #[test]
    fn client_and_futures_are_send_sync() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Client>();
        fn send<T: Send>(_: &T) {}
        let c = Client::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:9").unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::token("t").unwrap())
            .build()
            .unwrap();
        let id = InstanceId::new("i").unwrap();
        send(&c.status(&id));
        send(&c.wait_until(&id, InstanceState::Running, WaitOptions::new()));
        send(&c.statuses(Vec::new(), 2));
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
        assert!(ua.contains(" clouddc-reqwest/"), "{ua}");
        assert!(ua.ends_with(" deployer/2"), "{ua}");
    }
}
