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
//! // and CLOUDDC_AUTH_TOKEN, HUAWEICLOUD_SDK_IDP_ID + HUAWEICLOUD_SDK_ID_TOKEN_FILE
//! // (a Kubernetes pod's token) or HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK.
//! let client = Client::from_env()?;
//! let id = InstanceId::new("ins-7f3c2a10")?;
//! let status = client.status(&id)?;
//! println!("{id} is {}", status.state);
//!
//! let report = client.wait_until(&id, InstanceState::Running, WaitOptions::new());
//! println!("{} after {} polls", report.outcome.as_str(), report.polls);
//!
//! // Many ids, at most 8 requests in flight; results arrive as they complete.
//! let ids = ["ins-1", "ins-2", "ins-3"].map(|s| InstanceId::new(s).unwrap());
//! for (id, result) in client.statuses(ids, 8) {
//!     println!("{id}: {:?}", result.map(|s| s.state));
//! }
//! # Ok::<(), clouddc_ureq::Error>(())
//! ```
//!
//! ```toml
//! [dependencies]
//! clouddc-ureq = "0.1"
//! ```
//!
//! # Which ureq
//! This crate depends on `ureq = "~3.5"`, not `"3"`: it uses ureq's
//! `unversioned` API (its resolver and connector, and the rustls crypto
//! provider hook), which ureq may change in any 3.x minor release. The pin
//! keeps a `cargo update` from breaking your build; a later ureq minor comes
//! with a release of this crate. ureq's `rustls` feature is off (it would
//! bundle `webpki-roots`): TLS is rustls with the `ring` provider set here,
//! and certificates are checked by the platform's verifier.
//!
//! # Configuring
//! Everything about calls (endpoint, project, credentials, timeouts,
//! retries, shared limits) is a [`Config`], built with [`Config::builder`]
//! (and [`ConfigBuilder::with_env`]); [`Client::new`] takes it.
//! [`Client::builder`] sets only what belongs to this transport: the most
//! requests in flight at once.
//!
//! ```no_run
//! use clouddc_ureq::{Client, Config, Credentials, Endpoint, ProjectId};
//! use std::time::Duration;
//! let config = Config::builder()
//!     .endpoint(Endpoint::from_region("cn-east-3")?)
//!     .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9")?)
//!     .credentials(Credentials::ak_sk("HPUAEXAMPLEAK000001", "exampleSecretKey")?)
//!     .attempt_timeout(Duration::from_secs(5))
//!     .call_timeout(Duration::from_secs(20))
//!     .max_attempts(4)
//!     .build()?;
//! let client = Client::builder().max_in_flight(32).build(config)?;
//! # Ok::<(), clouddc_ureq::Error>(())
//! ```
//!
//! # Fleets
//! [`Client::statuses`], [`Client::wait_all`] and [`Client::fleet`] drive
//! the core's [`Fleet`] machine: one thread (the caller's) owns every call
//! and wait, and a pool of worker threads, never more than the in-flight
//! bound, carries the requests. A wait sleeping between polls costs no
//! thread. [`FleetRun::canceller`] stops a fleet from another thread.
//!
//! # What the transport guarantees
//! - **Timeouts by scope.** Each attempt ends after `attempt_timeout`
//!   (connect, TLS, headers and body together; socket timeouts are set in
//!   10 ms steps, so it may run up to 10 ms longer); the optional `call_timeout`
//!   bounds a whole call, retries and pauses included, and whichever ends
//!   first wins.
//! - **Bounded bodies.** At most `body_limit + 1` bytes of any body are read;
//!   the core turns a longer body into a `decode` error and the rest is never
//!   read.
//! - **No redirects.** A 3xx is handed to the core (kind `api`), so a token
//!   or a signature never travels to another host.
//! - **Proxies** come from `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY` and
//!   `NO_PROXY`, read by ureq when the client is built.
//! - **Stale connections.** A request whose pooled connection closed (or
//!   was reset) before any response byte is reported as
//!   `Error::closed_unanswered`; the core sends it again at once, and an
//!   attempt marked `fresh_connection` goes on a connection of its own.
//! - **Errors.** Every I/O failure is kind `transport` or `timeout`, with
//!   ureq's error as the `source()`.
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
//! clouddc-ureq = { version = "0.1", features = ["metrics"] }
//! ```
//!
//! ```no_run
//! # #[cfg(feature = "metrics")] {
//! use std::sync::Arc;
//! use clouddc_ureq::{Client, Config, MetricsObserver};
//! // Install your recorder first, as for the application's own metrics.
//! let client = Client::builder()
//!     .observer(Arc::new(MetricsObserver::new()))
//!     .build(Config::builder().with_env(&|k: &str| std::env::var(k).ok())?.build()?)?;
//! # drop(client);
//! # }
//! # Ok::<(), clouddc_ureq::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod coarse;
mod resolve;

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

pub use clouddc_core as core;
#[cfg(feature = "metrics")]
pub use clouddc_core::MetricsObserver;
pub use clouddc_core::prelude::*;
use clouddc_core::{Attempt, ClientCore, Clock, Ended, Now, Ticket, Transport};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::unversioned::transport::{Connector, DefaultConnector};

use crate::resolve::CachingResolver;

/// A blocking CloudDC client: one connection pool, shared by every call.
/// Cheap to clone (clones share the pool); `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    core: ClientCore,
    agent: ureq::Agent,
    /// An agent that keeps no connection, for a request sent again on a
    /// fresh one; made at the first need.
    fresh: OnceLock<ureq::Agent>,
}

/// This transport's settings: the most requests in flight at once across
/// one fleet, and so its most worker threads and connections (default 256);
/// everything else is in [`Config`].
pub type ClientBuilder = clouddc_core::ClientBuilder<Client>;

impl clouddc_core::Connect for Client {
    const PRODUCT: &'static str = concat!("clouddc-ureq/", env!("CARGO_PKG_VERSION"));

    fn connect(core: ClientCore) -> Result<Self, Error> {
        // Every worker keeps its connection: no reconnecting between the
        // requests of a fleet.
        let agent = agent(core.config(), core.max_in_flight());
        let fresh = OnceLock::new();
        Ok(Self {
            inner: Arc::new(Inner { core, agent, fresh }),
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
    pub fn status(&self, id: &InstanceId) -> Result<InstanceStatus, Error> {
        let mut call = self.inner.core.status(id, SystemClock.now(), seed());
        clouddc_core::run(&mut call, &self.transport(), &SystemClock)
    }

    /// Polls until the instance reaches `target`, fails, or `options`'
    /// deadline passes; see [`clouddc_core::Waiter`] for the acceptors.
    pub fn wait_until(
        &self,
        id: &InstanceId,
        target: InstanceState,
        options: WaitOptions,
    ) -> WaitReport {
        // One request at a time, sent from the calling thread.
        let mut fleet = self.inner.core.one(Job::wait(target, options), id, seed());
        let transport = self.transport();
        let mut start = |t, a, _| Some((t, transport.send(a)));
        let sleep = |until| {
            SystemClock.sleep_until(until);
            None
        };
        let last = std::iter::from_fn(|| {
            clouddc_core::next_fleet_event(&mut fleet, &SystemClock, || false, &mut start, sleep)
        });
        let last = last.filter(|e| e.outcome.is_final()).last();
        last.unwrap_or_else(|| unreachable!("a fleet finishes every id"))
            .into_wait()
            .1
    }

    /// Queries many instances, at most `concurrency` requests in flight
    /// (0 counts as 1), paced by the fleet's limits (see [`FleetOptions`]).
    /// Results arrive as they complete, tagged with their id; `ids` is
    /// consumed lazily.
    pub fn statuses<I: IntoIterator<Item = InstanceId>>(
        &self,
        ids: I,
        concurrency: usize,
    ) -> impl Iterator<Item = (InstanceId, Result<InstanceStatus, Error>)> + use<I> {
        let options = FleetOptions::new().max_in_flight(concurrency);
        self.fleet(Job::Status, ids, options)
            .map(FleetEvent::into_status)
    }

    /// Waits for many instances to reach `target`, at most `concurrency`
    /// requests in flight; reports arrive as they complete.
    pub fn wait_all<I: IntoIterator<Item = InstanceId>>(
        &self,
        ids: I,
        target: InstanceState,
        options: WaitOptions,
        concurrency: usize,
    ) -> impl Iterator<Item = (InstanceId, WaitReport)> + use<I> {
        let fleet = FleetOptions::new().max_in_flight(concurrency);
        let job = Job::wait(target, options);
        self.fleet(job, ids, fleet).map(FleetEvent::into_wait)
    }

    /// Runs `job` for every id: events as they happen (for a watch, every
    /// status seen); see [`Fleet`].
    pub fn fleet<I: IntoIterator<Item = InstanceId>>(
        &self,
        job: Job,
        ids: I,
        options: FleetOptions,
    ) -> FleetRun<I::IntoIter> {
        FleetRun {
            fleet: self.inner.core.fleet(job, ids, options, seed()),
            pool: Pool::new(self),
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Resolves the credentials and project id now (server metadata, IAM
    /// project lookup), instead of before the first call; fails as that
    /// call would. Does nothing when both are set.
    pub fn resolve(&self) -> Result<(), Error> {
        let mut resolve = self.inner.core.resolve();
        clouddc_core::run(&mut resolve, &self.transport(), &SystemClock)?;
        self.session().resolution(SystemTime::now())
    }

    /// The client's pool as a core [`Transport`], to drive a core machine
    /// by hand with `clouddc_core::run` and a clock of your own.
    pub fn transport(&self) -> UreqTransport<'_> {
        UreqTransport(&self.inner)
    }
}

/// A seed for a fleet's jitter, different for every fleet.
fn seed() -> u64 {
    RandomState::new().hash_one(0u8)
}

/// The system's clocks and `std::thread::sleep`.
#[derive(Debug, Clone, Copy)]
struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now::new(SystemTime::now(), Instant::now())
    }

    fn sleep_until(&self, until: Instant) {
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
    }
}

/// rustls's `ring` crypto provider. rustls 0.23.48 deprecates it ("no
/// support for post-quantum algorithms"); the other routes are aws-lc-rs (a C
/// build and a larger binary, against the command's size limit) or installing
/// a process-wide default provider (global state, which a library must not
/// set). It offers the classical key exchanges, which every Huawei Cloud
/// endpoint accepts. The one place the deprecation is allowed, in this crate.
#[allow(deprecated)]
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An agent for `config` keeping at most `idle` connections per host.
fn agent(config: &Config, idle: usize) -> ureq::Agent {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .unversioned_rustls_crypto_provider(ring_provider())
        .build();
    ureq::Agent::with_parts(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_idle_connections(if idle == 0 { 0 } else { idle.max(10) })
            .max_idle_connections_per_host(idle)
            .timeout_global(Some(config.attempt_timeout()))
            .tls_config(tls)
            .build(),
        DefaultConnector::new().chain(coarse::StepTimeouts),
        CachingResolver::default(),
    )
}

/// A fleet in progress: an iterator of its events, driven on the calling
/// thread. Dropping it stops the fleet (requests in flight finish on their
/// worker threads, and their results are dropped).
#[derive(Debug)]
pub struct FleetRun<I> {
    fleet: Fleet<I>,
    pool: Pool,
    cancelled: Arc<AtomicBool>,
}

/// Cancels a [`FleetRun`] from any thread: every id not finished yet ends
/// with [`Outcome::Interrupted`], at once.
#[derive(Debug, Clone)]
pub struct Canceller {
    flag: Arc<AtomicBool>,
    wake: Sender<Msg>,
}

impl Canceller {
    /// Cancels the fleet.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = self.wake.send(Msg::Wake);
    }
}

impl<I> FleetRun<I> {
    /// A handle that cancels this fleet from another thread.
    pub fn canceller(&self) -> Canceller {
        Canceller {
            flag: self.cancelled.clone(),
            wake: self.pool.tx.clone(),
        }
    }

    /// The fleet's progress counts.
    pub fn progress(&self) -> FleetProgress {
        self.fleet.progress()
    }
}

impl<I: Iterator<Item = InstanceId>> Iterator for FleetRun<I> {
    type Item = FleetEvent;

    fn next(&mut self) -> Option<FleetEvent> {
        let (pool, cancelled) = (&self.pool, &self.cancelled);
        // A cancel wakes the wait, and the driver cancels the fleet.
        clouddc_core::next_fleet_event(
            &mut self.fleet,
            &SystemClock,
            || cancelled.load(Ordering::SeqCst),
            |ticket, attempt, in_flight| pool.send(ticket, attempt, in_flight),
            |until| pool.recv(until),
        )
    }
}

/// A request's end, or a wake-up (a cancel).
#[derive(Debug)]
enum Msg {
    Done(Ended),
    Wake,
}

/// Worker threads, started as requests need them, never more than the
/// requests in flight or the client's bound; when no thread can be started,
/// the calling thread sends.
#[derive(Debug)]
struct Pool {
    client: Client,
    jobs: Sender<(Ticket, Attempt)>,
    queue: Arc<Mutex<Receiver<(Ticket, Attempt)>>>,
    tx: Sender<Msg>,
    results: Receiver<Msg>,
    workers: Cell<usize>,
}

impl Pool {
    fn new(client: &Client) -> Self {
        let ((jobs, queue), (tx, results)) = (mpsc::channel(), mpsc::channel());
        let queue = Arc::new(Mutex::new(queue));
        let client = client.clone();
        Self {
            client,
            jobs,
            queue,
            tx,
            results,
            workers: Cell::new(0),
        }
    }

    /// Starts one attempt; returns its result when it was sent inline.
    fn send(&self, ticket: Ticket, attempt: Attempt, in_flight: usize) -> Option<Ended> {
        let max = self.client.inner.core.max_in_flight();
        let workers = self.workers.get();
        if workers < in_flight.min(max) && self.spawn().is_err() && workers == 0 {
            return Some((ticket, self.client.transport().send(attempt)));
        }
        self.jobs.send((ticket, attempt)).ok().and(None)
    }

    fn spawn(&self) -> std::io::Result<()> {
        let (client, queue, tx) = (self.client.clone(), self.queue.clone(), self.tx.clone());
        std::thread::Builder::new()
            .name("clouddc-ureq".into())
            .spawn(move || {
                while let Ok(Ok((ticket, attempt))) = queue.lock().map(|q| q.recv()) {
                    let ended = (ticket, client.transport().send(attempt));
                    if tx.send(Msg::Done(ended)).is_err() {
                        return;
                    }
                }
            })?;
        self.workers.set(self.workers.get() + 1);
        Ok(())
    }

    /// The next request to end before `until`, if any (a cancel wakes it).
    fn recv(&self, until: Instant) -> Option<Ended> {
        let left = until.saturating_duration_since(Instant::now());
        match self.results.recv_timeout(left) {
            Ok(Msg::Done(ended)) => Some(ended),
            _ => None,
        }
    }
}

/// The I/O error kind beneath a ureq error (its own timeout counts as one).
fn io_kind(e: &ureq::Error) -> Option<std::io::ErrorKind> {
    match e {
        ureq::Error::Timeout(_) => Some(std::io::ErrorKind::TimedOut),
        ureq::Error::Io(io) => Some(io.kind()),
        _ => None,
    }
}

/// This client's connection pool as a core [`Transport`]. An attempt marked
/// [`fresh_connection`](Attempt::fresh_connection) goes on a new connection.
#[derive(Debug, Clone, Copy)]
pub struct UreqTransport<'a>(&'a Inner);

impl Transport for UreqTransport<'_> {
    fn send(&self, attempt: Attempt) -> Result<http::Response<Vec<u8>>, Error> {
        let Attempt {
            request,
            timeout,
            body_limit,
            number,
            fresh_connection,
            ..
        } = attempt;
        let uri = request.uri().clone();
        let fail = |what: &str, before_response, e: ureq::Error| {
            Error::attempt_failed(number, &uri, what, io_kind(&e), before_response, e)
        };
        let agent = if fresh_connection {
            let inner = self.0;
            inner.fresh.get_or_init(|| agent(inner.core.config(), 0))
        } else {
            &self.0.agent
        };
        // An empty body is sent as none at all (no `Content-Length: 0`).
        let (parts, body) = request.into_parts();
        let response = if body.is_empty() {
            run(agent, http::Request::from_parts(parts, ()), timeout)
        } else {
            run(agent, http::Request::from_parts(parts, body), timeout)
        }
        .map_err(|e| fail("failed", true, e))?;
        let (parts, body) = response.into_parts();
        let cap = u64::try_from(body_limit)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        // Room for the announced length (within the cap), read at once.
        let announced = body.content_length().unwrap_or(0).min(cap);
        let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0) + 1);
        body.into_reader()
            .take(cap)
            .read_to_end(&mut bytes)
            .map_err(|e| fail("failed reading the body", false, e.into()))?;
        Ok(http::Response::from_parts(parts, bytes))
    }
}

fn run<S: ureq::AsSendBody>(
    agent: &ureq::Agent,
    request: http::Request<S>,
    timeout: Duration,
) -> Result<http::Response<ureq::Body>, ureq::Error> {
    // The agent's own timeout is the configured attempt timeout; only a
    // shorter one (the call's deadline is near) needs a request-level
    // config, which ureq builds by cloning the agent's.
    if agent.config().timeouts().global == Some(timeout) {
        return agent.run(request);
    }
    let request = agent
        .configure_request(request)
        .timeout_global(Some(timeout))
        .build();
    agent.run(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(suffix: Option<&str>) -> Config {
        let b = Config::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:9").unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::token("t").unwrap());
        match suffix {
            Some(s) => b.user_agent_suffix(s),
            None => b,
        }
        .build()
        .unwrap()
    }

    #[test]
    fn user_agent_names_the_adapter_and_the_suffix() {
        let c = Client::new(config(Some("deployer/2"))).unwrap();
        let ua = c.config().user_agent();
        assert!(ua.starts_with("clouddc-core/"), "{ua}");
        assert!(ua.contains(" clouddc-ureq/"), "{ua}");
        assert!(ua.ends_with(" deployer/2"), "{ua}");
        // Building twice from the same config names the adapter once.
        let again = Client::new(c.config().clone()).unwrap();
        assert_eq!(again.config().user_agent(), ua);
    }

    #[test]
    fn an_empty_fleet_finishes_at_once() {
        let c = Client::new(config(None)).unwrap();
        assert_eq!(c.statuses(Vec::new(), 4).count(), 0);
    }
}
