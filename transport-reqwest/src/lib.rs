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
//! // and CLOUDDC_AUTH_TOKEN, HUAWEICLOUD_SDK_IDP_ID + HUAWEICLOUD_SDK_ID_TOKEN_FILE
//! // (a Kubernetes pod's token) or HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK.
//! let client = Client::from_env()?;
//! let id = InstanceId::new("ins-7f3c2a10")?;
//! let status = client.status(&id).await?;
//! println!("{id} is {}", status.state);
//!
//! let report = client.wait_until(&id, InstanceState::Running, WaitOptions::new()).await;
//! println!("{} after {} polls", report.outcome.as_str(), report.polls);
//!
//! // Many ids, at most 8 requests in flight; results arrive as they complete.
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
//! futures-util = "0.3" # StreamExt, for the streams of statuses and fleets
//! tokio = { version = "1", features = ["rt-multi-thread", "macros", "time"] }
//! ```
//!
//! # Configuring
//! Everything about calls (endpoint, project, credentials, timeouts,
//! retries, shared limits) is a [`Config`], built with [`Config::builder`]
//! (and [`ConfigBuilder::with_env`]); [`Client::new`] takes it.
//! [`Client::builder`] sets only what belongs to this transport: the most
//! requests in flight at once across the client.
//!
//! ```no_run
//! use clouddc_reqwest::{Client, Config, Credentials, Endpoint, ProjectId};
//! use std::time::Duration;
//! let config = Config::builder()
//!     .endpoint(Endpoint::from_region("cn-east-3")?)
//!     .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9")?)
//!     .credentials(Credentials::ak_sk("HPUAEXAMPLEAK000001", "exampleSecretKey")?)
//!     .attempt_timeout(Duration::from_secs(5))
//!     .call_timeout(Duration::from_secs(20))
//!     .max_attempts(4)
//!     .build()?;
//! let client = Client::builder().max_in_flight(64).build(config)?;
//! # Ok::<(), clouddc_reqwest::Error>(())
//! ```
//!
//! # Fleets
//! [`Client::statuses`], [`Client::wait_all`] and [`Client::fleet`] drive
//! the core's [`Fleet`] machine from one stream: the stream owns every call
//! and wait, and only requests in flight (never more than the bound) are
//! futures. A wait sleeping between polls is a timer entry.
//! [`FleetStream::canceller`] stops a fleet from anywhere.
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
//! - **Stale connections.** A request whose pooled connection closed (or
//!   was reset) before any response byte is reported as
//!   `Error::closed_unanswered`; the core sends it again at once, and an
//!   attempt marked `fresh_connection` goes on a connection of its own.
//! - **Errors.** Every I/O failure is kind `transport` or `timeout`, with
//!   reqwest's error as the `source()`.
//!
//! # Tracing
//! The `tracing` feature turns on the core's: one `debug` event per attempt
//! (`attempt`, `status`, `request_id`, and `delay_ms` before a retry) and
//! one per finished id. Headers are never recorded, so tokens, secret keys
//! and signatures never reach a log.
//!
//! # Metrics
//! With the `metrics` feature, [`MetricsObserver`] records every attempt
//! (requests by status or error kind, retries, 429s, durations, the requests
//! behind the credentials, and the limiter's rate) through the `metrics`
//! facade, into the recorder your application installs (for example
//! `metrics-exporter-prometheus`); the series are those of `clouddc
//! exporter`, listed on [`MetricsObserver`]. Without an observer, nothing is
//! recorded or built.
//!
//! ```toml
//! [dependencies]
//! clouddc-reqwest = { version = "0.1", features = ["metrics"] }
//! ```
//!
//! ```no_run
//! # #[cfg(feature = "metrics")] {
//! use std::sync::Arc;
//! use clouddc_reqwest::{Client, Config, MetricsObserver};
//! // Install your recorder first, as for the application's own metrics.
//! let client = Client::builder()
//!     .observer(Arc::new(MetricsObserver::new()))
//!     .build(Config::builder().with_env(&|k: &str| std::env::var(k).ok())?.build()?)?;
//! # drop(client);
//! # }
//! # Ok::<(), clouddc_reqwest::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod tls;

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

pub use clouddc_core as core;
#[cfg(feature = "metrics")]
pub use clouddc_core::MetricsObserver;
pub use clouddc_core::prelude::*;
use clouddc_core::{AsyncClock, AsyncTransport, Attempt, ClientCore, FleetStep, Now, Ticket};
use futures_util::stream::FuturesUnordered;
use futures_util::task::AtomicWaker;
use futures_util::{Stream, StreamExt};

/// An async CloudDC client: one connection pool, shared by every call.
/// `Send + Sync`, and cheap to clone (clones share the pool), so one client
/// can serve a whole service.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    core: ClientCore,
    http: reqwest::Client,
    /// A client that keeps no connection, for a request sent again on a
    /// fresh one.
    fresh: reqwest::Client,
    /// Bounds requests in flight across the client, so that many fleets and
    /// calls at once cannot open thousands of connections.
    in_flight: tokio::sync::Semaphore,
    origin: Origin,
}

type Sent = Result<http::Response<Vec<u8>>, Error>;

/// This transport's settings: the most requests in flight at once across
/// the client (default 256), and so the most connections it opens;
/// requests beyond it wait for a slot, and the wait counts against their
/// attempt timeout. Everything else is in [`Config`].
pub type ClientBuilder = clouddc_core::ClientBuilder<Client>;

impl clouddc_core::Connect for Client {
    const PRODUCT: &'static str = concat!("clouddc-reqwest/", env!("CARGO_PKG_VERSION"));

    fn connect(core: ClientCore) -> Result<Self, Error> {
        let failed = |e| Error::transport("cannot build the HTTP client", e);
        let tls = tls::config()?;
        let http = http_client(tls.clone(), true).map_err(failed)?;
        let fresh = http_client(tls, false).map_err(failed)?;
        let origin = Origin::of(core.config())?;
        let in_flight = tokio::sync::Semaphore::new(core.max_in_flight());
        let inner = Inner {
            core,
            http,
            fresh,
            in_flight,
            origin,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    fn read_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
        read_profile_file(path)
    }
}

/// Reads a profile file for [`ConfigBuilder::with_sources`]: at most 1 MiB
/// and a byte ([`clouddc_core::read_profile`]). A pipe works (for example a
/// shell's `<(command)`), and is read until its writer closes it.
pub fn read_profile_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    clouddc_core::read_profile(std::fs::File::open(path)?)
}

impl Client {
    /// A client for `config` with this transport's defaults.
    pub fn new(config: Config) -> Result<Self, Error> {
        ClientBuilder::default().build(config)
    }

    /// The transport's own settings.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured the way the vendor's SDKs find their settings:
    /// environment variables, the profile file (`~/.huaweicloud/credentials`)
    /// and server metadata (see [`ConfigBuilder::with_sources`]); the error
    /// names every variable that is missing and the file and line of
    /// anything wrong in the profile file.
    pub fn from_env() -> Result<Self, Error> {
        let lookup = |k: &str| std::env::var(k).ok();
        Self::new(Config::from_sources(&lookup, &read_profile_file)?)
    }

    /// What every call is configured with.
    pub fn config(&self) -> &Config {
        self.inner.core.config()
    }

    /// What the client's calls have learned: credentials, project, clock
    /// offset, quotas.
    pub fn session(&self) -> &Session {
        self.inner.core.session()
    }

    /// Queries the status of one instance, retrying as the policy allows.
    pub async fn status(&self, id: &InstanceId) -> Result<InstanceStatus, Error> {
        let mut call = self.inner.core.status(id, TokioClock.now(), seed());
        clouddc_core::run_async(&mut call, &self.transport(), &TokioClock).await
    }

    /// Polls until the instance reaches `target`, fails, or `options`'
    /// deadline passes; see [`clouddc_core::Waiter`] for the acceptors.
    pub async fn wait_until(
        &self,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
    ) -> WaitReport {
        let fleet = self.inner.core.one(Job::wait(target, options), id, seed());
        let mut events = self.stream(fleet);
        while let Some(e) = events.next().await {
            if e.outcome.is_final() {
                return e.into_wait().1;
            }
        }
        unreachable!("a fleet finishes every id")
    }

    /// Resolves the credentials and project id now (server metadata, IAM
    /// project lookup), instead of before the first call; fails as that
    /// call would. Does nothing when both are set.
    pub async fn resolve(&self) -> Result<(), Error> {
        let mut resolve = self.inner.core.resolve();
        clouddc_core::run_async(&mut resolve, &self.transport(), &TokioClock).await?;
        self.session().resolution(SystemTime::now())
    }

    /// Queries many instances, at most `concurrency` requests in flight
    /// (0 counts as 1), paced by the fleet's limits (see [`FleetOptions`]).
    /// Results arrive as they complete, tagged with their id; `ids` is
    /// consumed lazily.
    pub fn statuses<I>(
        &self,
        ids: I,
        concurrency: usize,
    ) -> impl Stream<Item = (InstanceId, Result<InstanceStatus, Error>)> + Send + 'static + use<I>
    where
        I: IntoIterator<Item = InstanceId>,
        I::IntoIter: Send + 'static,
    {
        let options = FleetOptions::new().max_in_flight(concurrency);
        self.fleet(Job::Status, ids, options)
            .map(FleetEvent::into_status)
    }

    /// Waits for many instances to reach `target`, at most `concurrency`
    /// requests in flight; reports arrive as they complete.
    pub fn wait_all<I>(
        &self,
        ids: I,
        target: InstanceState,
        options: WaitOptions,
        concurrency: usize,
    ) -> impl Stream<Item = (InstanceId, WaitReport)> + Send + 'static + use<I>
    where
        I: IntoIterator<Item = InstanceId>,
        I::IntoIter: Send + 'static,
    {
        let fleet = FleetOptions::new().max_in_flight(concurrency);
        let job = Job::wait(target, options);
        self.fleet(job, ids, fleet).map(FleetEvent::into_wait)
    }

    /// Runs `job` for every id: a stream of events as they happen (for a
    /// watch, every status seen); see [`Fleet`].
    pub fn fleet<I: IntoIterator<Item = InstanceId>>(
        &self,
        job: Job,
        ids: I,
        options: FleetOptions,
    ) -> FleetStream<I::IntoIter> {
        self.stream(self.inner.core.fleet(job, ids, options, seed()))
    }

    fn stream<I>(&self, fleet: Fleet<I>) -> FleetStream<I> {
        FleetStream {
            fleet,
            client: self.clone(),
            sends: FuturesUnordered::new(),
            sleep: None,
            cancel: Arc::default(),
        }
    }

    /// The client's pool as a core [`AsyncTransport`].
    pub fn transport(&self) -> ReqwestTransport<'_> {
        ReqwestTransport(&self.inner)
    }
}

/// A seed for a fleet's jitter, different for every fleet.
fn seed() -> u64 {
    RandomState::new().hash_one(0u8)
}

/// The system's clocks and tokio's timer.
#[derive(Debug, Clone, Copy)]
struct TokioClock;

impl AsyncClock for TokioClock {
    fn now(&self) -> Now {
        Now::new(SystemTime::now(), Instant::now())
    }

    fn sleep_until(&self, until: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(tokio::time::Instant::from_std(until))
    }
}

/// A reqwest client over `tls`; `pooled: false` keeps no idle connection,
/// so every request goes on a new one.
fn http_client(tls: rustls::ClientConfig, pooled: bool) -> Result<reqwest::Client, reqwest::Error> {
    let b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none());
    if pooled {
        b
    } else {
        b.pool_max_idle_per_host(0)
    }
    .build()
}

/// The I/O error kind beneath a reqwest error: its own timeout counts as
/// one, and so does hyper's "connection closed before the message
/// completed" (an end of file); a failure to connect counts as none (it
/// never had a response to lose).
fn io_kind(e: &reqwest::Error) -> Option<std::io::ErrorKind> {
    use std::io::ErrorKind::{TimedOut, UnexpectedEof};
    if e.is_timeout() {
        return Some(TimedOut);
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause.filter(|_| !e.is_connect()) {
        if c.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return Some(UnexpectedEof);
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cause = c.source();
    }
    None
}

type SendFuture = Pin<Box<dyn Future<Output = (Ticket, Sent)> + Send>>;

/// A fleet in progress: a stream of its events. Only requests in flight are
/// futures; dropping the stream drops them and stops the fleet.
#[derive(Debug)]
pub struct FleetStream<I> {
    fleet: Fleet<I>,
    client: Client,
    sends: FuturesUnordered<SendFuture>,
    /// Made at the first pause, so that a fleet can be built outside a
    /// runtime and driven inside one.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    cancel: Arc<Cancel>,
}

#[derive(Debug, Default)]
struct Cancel {
    flag: AtomicBool,
    waker: AtomicWaker,
}

/// Cancels a [`FleetStream`] from anywhere: every id not finished yet ends
/// with [`Outcome::Interrupted`], at once.
#[derive(Debug, Clone)]
pub struct Canceller(Arc<Cancel>);

impl Canceller {
    /// Cancels the fleet.
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.waker.wake();
    }
}

impl<I> FleetStream<I> {
    /// A handle that cancels this fleet.
    pub fn canceller(&self) -> Canceller {
        Canceller(self.cancel.clone())
    }

    /// The fleet's progress counts.
    pub fn progress(&self) -> FleetProgress {
        self.fleet.progress()
    }
}

// Nothing of a fleet is ever pinned in place: only the send futures and
// the timer are, and those are boxed.
impl<I> Unpin for FleetStream<I> {}

impl<I: Iterator<Item = InstanceId>> Stream for FleetStream<I> {
    type Item = FleetEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<FleetEvent>> {
        let this = self.get_mut();
        this.cancel.waker.register(cx.waker());
        loop {
            if this.cancel.flag.load(Ordering::SeqCst) && !this.fleet.is_cancelled() {
                this.fleet.cancel();
                this.sends = FuturesUnordered::new();
            }
            while let Poll::Ready(Some((ticket, result))) = this.sends.poll_next_unpin(cx) {
                this.fleet.handle(TokioClock.now(), ticket, result);
            }
            match this.fleet.poll(TokioClock.now()) {
                FleetStep::Send { ticket, attempt } => {
                    let client = this.client.clone();
                    this.sends.push(Box::pin(async move {
                        (ticket, client.transport().send(attempt).await)
                    }));
                }
                FleetStep::Event(e) => return Poll::Ready(Some(e)),
                FleetStep::Finished => return Poll::Ready(None),
                FleetStep::Wait(until) => {
                    let until = tokio::time::Instant::from_std(until);
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
                    if sleep.deadline() != until {
                        sleep.as_mut().reset(until);
                    }
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// This client's connection pool as a core [`AsyncTransport`]. Every
/// attempt also races its own timeout, so a stalled request never outlives
/// it.
#[derive(Debug, Clone, Copy)]
pub struct ReqwestTransport<'a>(&'a Inner);

impl AsyncTransport for ReqwestTransport<'_> {
    fn send(&self, attempt: Attempt) -> impl Future<Output = Sent> + Send {
        let inner = self.0;
        // The request's own timeout covers the exchange; the fleet (or the
        // core's driver) also gives up on the attempt at its end, so a wait
        // for a slot counts against it too.
        async move {
            // The semaphore is never closed.
            let _slot = inner.in_flight.acquire().await.ok();
            let http = match attempt.fresh_connection {
                true => &inner.fresh,
                false => &inner.http,
            };
            exchange(http, &inner.origin, attempt).await
        }
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
        ..
    } = attempt;
    let uri = request.uri().clone();
    let fail = |what: &str, before_response, e: reqwest::Error| {
        Error::attempt_failed(number, &uri, what, io_kind(&e), before_response, e)
    };
    let mut request = origin
        .request(request)
        .map_err(|e| fail("is malformed", false, e))?;
    *request.timeout_mut() = Some(timeout);
    let mut response = http
        .execute(request)
        .await
        .map_err(|e| fail("failed", true, e))?;
    let cap = body_limit.saturating_add(1);
    let announced = response.content_length().unwrap_or(0);
    let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0).min(cap));
    while bytes.len() < cap {
        let chunk = response.chunk().await;
        let Some(chunk) = chunk.map_err(|e| fail("failed reading the body", false, e))? else {
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
                let req = clouddc_core::build_status_request(
                    &Session::new(config.clone()),
                    &id,
                    std::time::UNIX_EPOCH,
                )
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
        let req =
            clouddc_core::build_status_request(&Session::new(other), &id, std::time::UNIX_EPOCH)
                .unwrap();
        let converted = origin.request(req).unwrap();
        assert_eq!(
            converted.url().as_str(),
            "https://b.example:444/x/v1/p%201%2F%C3%BC/instances/i/status"
        );
    }

    #[test]
    fn user_agent_names_the_adapter_and_the_suffix() {
        let config = Config::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:9").unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::token("t").unwrap())
            .user_agent_suffix("deployer/2")
            .build()
            .unwrap();
        let c = Client::new(config).unwrap();
        let ua = c.config().user_agent();
        assert!(ua.contains(" clouddc-reqwest/"), "{ua}");
        assert!(ua.ends_with(" deployer/2"), "{ua}");
    }
}
