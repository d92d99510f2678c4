//! The server shell: tokio + hyper (HTTP/1.1) around the [`Simulator`],
//! with its own accept loop so it can misbehave on the wire.
//!
//! Owns sockets, the clock and sleeping: it reads the time, tells the heart
//! which connection a request came on ([`ConnectionInfo`]: its number, the
//! request's place on it, how long it had been idle), asks the heart for a
//! [`Decision`], then performs it (added latency, a real TCP reset with
//! `SO_LINGER` 0, a close without a response, stalled headers, a body that
//! stops or trickles). Also owns [`Control`], the in-process handle, which
//! reads the clock and hands [`Op`]s to the heart. Must not decide anything
//! about the API itself, nor which connections are stale (the heart does,
//! from the `ConnectionInfo`), nor carry out an operation (the heart's
//! [`Simulator::apply`] does).

// The shell is where the clock is read; clippy.toml bans it everywhere else.
#![allow(clippy::disallowed_methods)]

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use clouddc_core::http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Sleep;

use crate::arrivals::{RequestLog, RequestRecord};
use crate::config::SimConfig;
use crate::decision::{Decision, Delivery};
use crate::error::Error;
use crate::faults::{ConnectionInfo, Faults};
use crate::iam::IamProject;
use crate::lifecycle::Action;
use crate::metadata::{CredentialGeneration, Metadata};
use crate::oidc::Oidc;
use crate::op::{NewInstance, Op, Outcome};
use crate::reply::Reply;
use crate::sim::Simulator;
use crate::view::{CountersSnapshot, InstanceView};

/// Request bodies over this are answered with 413.
const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// How long shutdown waits for responses in flight before dropping them:
/// short, so that `clouddc simulate` is gone within half a second of
/// SIGTERM even with a slow (latency-fault) response in flight.
const GRACE: Duration = Duration::from_millis(250);

struct Shared {
    sim: Mutex<Simulator>,
    changed: Condvar,
    notify: Notify,
}

/// Drives a running simulator from Rust: [`apply`](Self::apply) any
/// [`Op`] (the admin API's operations), a few of them typed (creating and
/// deleting instances, faults, counters, the request log, ...), and wait
/// for a condition. Cheap to clone; every method reads the real clock and
/// locks the simulator briefly.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    fn new(sim: Simulator) -> Self {
        Self {
            shared: Arc::new(Shared {
                sim: Mutex::new(sim),
                changed: Condvar::new(),
                notify: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Simulator> {
        self.shared
            .sim
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        self.shared.changed.notify_all();
        self.shared.notify.notify_waiters();
    }

    /// Runs `f` on the simulator with the current time: for reading its
    /// state, or for anything an [`Op`] does not cover.
    pub fn with<R>(&self, f: impl FnOnce(&mut Simulator, Instant) -> R) -> R {
        let r = f(&mut self.lock(), Instant::now());
        self.wake();
        r
    }

    /// The project id served.
    pub fn project_id(&self) -> String {
        self.lock().project_id().to_owned()
    }

    /// When the simulator started (real, monotonic time): request records'
    /// [`at`](RequestRecord::at) and arrivals count from it, so
    /// `control.started() + record.at` is the `Instant` a request arrived.
    pub fn started(&self) -> Instant {
        self.lock().started()
    }

    /// Carries out `op` now ([`Simulator::apply`]): every admin operation,
    /// the same as the admin API's.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clouddc_simulator::{start_blocking_default, FlowPolicy, Op, Outcome};
    /// use std::time::Duration;
    ///
    /// let sim = start_blocking_default()?;
    /// let policy = FlowPolicy::per_api(20, Duration::from_secs(1));
    /// let now_set = sim.control().apply(Op::SetFlowPolicies(vec![policy]))?;
    /// assert_eq!(now_set, Outcome::FlowPolicies(vec![policy]));
    /// sim.control().apply(Op::SetClockOffset(3600))?; // the gateway an hour ahead
    /// # Ok(()) }
    /// ```
    pub fn apply(&self, op: Op) -> Result<Outcome, Error> {
        self.with(|sim, now| sim.apply(op, now))
    }

    /// Creates an instance now ([`Op::CreateInstance`]):
    /// `control.create_instance(Schedule::pending_for(d))` or
    /// `control.create_instance(NewInstance::new().with_id("ins-1"))`.
    pub fn create_instance(&self, new: impl Into<NewInstance>) -> Result<InstanceView, Error> {
        self.apply(Op::CreateInstance(new.into()))
            .and_then(Outcome::into_instance)
    }

    /// Deletes an instance (`shutting-down`, then `terminated`):
    /// [`Op::Act`] with [`Action::Delete`].
    pub fn delete(&self, id: &str) -> Result<InstanceView, Error> {
        self.act(id, Action::Delete { fail: false })
    }

    /// Makes the operation in progress on an instance fail now: [`Op::Act`]
    /// with [`Action::Fail`].
    pub fn fail(&self, id: &str) -> Result<InstanceView, Error> {
        self.act(id, Action::Fail { to: None })
    }

    fn act(&self, id: &str, action: Action) -> Result<InstanceView, Error> {
        let id = id.to_owned();
        self.apply(Op::Act { id, action })
            .and_then(Outcome::into_instance)
    }

    /// Every instance, in creation order ([`Op::Instances`]).
    pub fn instances(&self) -> Vec<InstanceView> {
        self.apply(Op::Instances)
            .and_then(Outcome::into_instances)
            .unwrap_or_default()
    }

    /// Replaces the global faults ([`Op::SetFaults`]).
    pub fn set_faults(&self, faults: Faults) -> Result<(), Error> {
        self.apply(Op::SetFaults(faults)).map(drop)
    }

    /// Every counter, [`Counters::metadata_generations`](crate::Counters::metadata_generations)
    /// brought up to now ([`Op::Counters`]).
    pub fn counters(&self) -> CountersSnapshot {
        self.apply(Op::Counters)
            .and_then(Outcome::into_counters)
            .unwrap_or_default()
    }

    /// Replaces the metadata service's settings ([`Op::SetMetadata`]):
    /// turn it on or off, change session tokens, the agency, the rotation
    /// or its faults.
    pub fn set_metadata(&self, metadata: Metadata) -> Result<(), Error> {
        self.apply(Op::SetMetadata(metadata)).map(drop)
    }

    /// The newest credential generation now, as `securitykey` answers it;
    /// `None` while the metadata service is off ([`Op::MetadataGenerations`]).
    pub fn metadata_credentials(&self) -> Option<CredentialGeneration> {
        self.apply(Op::MetadataGenerations)
            .and_then(Outcome::into_newest_credentials)
            .unwrap_or_default()
    }

    /// Replaces IAM's OIDC federation settings ([`Op::SetOidc`]).
    pub fn set_oidc(&self, oidc: Oidc) -> Result<(), Error> {
        self.apply(Op::SetOidc(oidc)).map(drop)
    }

    /// The id tokens IAM's OIDC federation received so far, in order
    /// ([`Op::OidcIdTokens`]).
    pub fn oidc_id_tokens(&self) -> Vec<String> {
        match self.apply(Op::OidcIdTokens) {
            Ok(Outcome::IdTokens(t)) => t,
            _ => Vec::new(),
        }
    }

    /// Replaces the projects IAM lists, any number, zero included
    /// ([`Op::SetIamProjects`]).
    pub fn set_iam_projects(
        &self,
        projects: impl IntoIterator<Item = IamProject>,
    ) -> Result<(), Error> {
        self.apply(Op::SetIamProjects(projects.into_iter().collect()))
            .map(drop)
    }

    /// When the API requests so far arrived, and the most of them inside
    /// any `window` ([`Op::Requests`], see [`Simulator::requests`]); for
    /// checking a client's rate cap. Arrivals are real time since the
    /// simulator started.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clouddc_simulator::start_blocking_default;
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    ///
    /// let sim = start_blocking_default()?;
    /// for _ in 0..3 {
    ///     let mut s = std::net::TcpStream::connect(sim.addr())?;
    ///     write!(s, "GET /v1/{}/instances/ins-1/status HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: t\r\nConnection: close\r\n\r\n",
    ///         sim.project_id(), sim.addr())?;
    ///     s.read_to_end(&mut Vec::new())?;
    /// }
    /// let log = sim.control().requests(Duration::from_secs(60));
    /// assert_eq!((log.count, log.arrivals.len(), log.max_in_window), (3, 3, 3));
    /// // A client capped at R requests a second passes
    /// // `sim.control().requests(Duration::from_secs(1)).max_in_window <= R + 1`.
    /// # Ok(()) }
    /// ```
    pub fn requests(&self, window: Duration) -> RequestLog {
        self.apply(Op::Requests { window })
            .and_then(Outcome::into_request_log)
            .unwrap_or_default()
    }

    /// What became of each API request in the log, oldest first
    /// ([`Op::RequestRecords`], see [`Simulator::request_records`]):
    /// arrival since the start, instance id, status, fault, the
    /// flow-control policy and window that refused it, its connection and
    /// whether that was reused.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use clouddc_simulator::{start_blocking, FaultKind, FlowPolicy, SimConfig};
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    ///
    /// let config = SimConfig::builder()
    ///     .flow_policy(FlowPolicy::per_api(2, Duration::from_secs(60)))
    ///     .build()?;
    /// let sim = start_blocking(config)?;
    /// for _ in 0..3 {
    ///     let mut s = std::net::TcpStream::connect(sim.addr())?;
    ///     write!(s, "GET /v1/{}/instances/ins-1/status HTTP/1.1\r\nHost: {}\r\nX-Auth-Token: t\r\nConnection: close\r\n\r\n",
    ///         sim.project_id(), sim.addr())?;
    ///     s.read_to_end(&mut Vec::new())?;
    /// }
    /// let records = sim.control().request_records();
    /// let statuses: Vec<_> = records.iter().map(|r| r.status).collect();
    /// assert_eq!(statuses, [Some(404), Some(404), Some(429)]);
    /// let refused = records[2].throttled.expect("refused by a policy");
    /// assert_eq!((refused.policy_index, refused.window_index), (0, 0));
    /// assert_eq!(records[2].fault, Some(FaultKind::FlowControl));
    /// assert_eq!(records[2].instance_id.as_deref(), Some("ins-1"));
    /// assert!(!records[2].reused);
    /// # Ok(()) }
    /// ```
    pub fn request_records(&self) -> Vec<RequestRecord> {
        self.apply(Op::RequestRecords { from_seq: 1 })
            .and_then(Outcome::into_request_records)
            .unwrap_or_default()
    }

    /// Blocks until `condition` holds (checked after every request and
    /// admin call) or `timeout` passes; returns whether it holds. For plain
    /// threads; in async code use [`wait_until_async`](Self::wait_until_async).
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Simulator) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let mut sim = self.lock();
        loop {
            if condition(&sim) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            sim = self
                .shared
                .changed
                .wait_timeout(sim, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits (asynchronously) until `condition` holds or `timeout` passes;
    /// returns whether it holds. Needs a tokio runtime with time enabled.
    pub async fn wait_until_async(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Simulator) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if condition(&self.lock()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return condition(&self.lock());
            }
        }
    }

    fn decide(&self, req: &Request<Bytes>) -> Decision {
        let d = self.with(|sim, now| sim.handle(req, now, SystemTime::now()));
        tracing::debug!(
            method = %req.method(),
            path = %req.uri().path(),
            request_id = %d.request_id,
            status = ?d.reply().map(|r| r.status.as_u16()),
            fault = ?d.fault.map(|f| f.as_str()),
            "simulated a response"
        );
        d
    }

    fn too_large(&self) -> Decision {
        self.with(|sim, now| sim.body_too_large(MAX_REQUEST_BODY, now, SystemTime::now()))
    }
}

/// A running simulator on the caller's tokio runtime. Dropping it stops the
/// server (without waiting); [`shutdown`](Self::shutdown) waits.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    url: String,
    project_id: String,
    control: Control,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Handle {
    /// The base URL, `http://127.0.0.1:PORT` (an unspecified listen address
    /// is shown as loopback).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The project id served.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Drives the simulator.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops accepting, lets responses in flight finish (stalls are cut),
    /// and waits until the server is gone.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until `signal` completes (e.g. Ctrl-C), then shuts down.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn base_url(addr: SocketAddr) -> String {
    let shown = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    };
    format!("http://{shown}")
}

/// Starts the simulator on the current tokio runtime (which needs IO and
/// time enabled) and returns once it is listening.
pub async fn start(config: SimConfig) -> Result<Handle, Error> {
    let asked = config.listen();
    let listener = TcpListener::bind(asked)
        .await
        .map_err(|source| Error::Bind {
            addr: asked,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: asked,
        source,
    })?;
    let sim = Simulator::new(&config, Instant::now());
    let project_id = sim.project_id().to_owned();
    let control = Control::new(sim);
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, control.clone(), stop_rx));
    tracing::debug!(%addr, "simulator listening");
    Ok(Handle {
        addr,
        url: base_url(addr),
        project_id,
        control,
        stop,
        task: Some(task),
    })
}

/// [`start`] with [`SimConfig::default`]: `127.0.0.1:0`, any token, no
/// instances, no faults.
pub async fn start_default() -> Result<Handle, Error> {
    start(SimConfig::default()).await
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the handle is gone: stop as well.
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_loop(listener: TcpListener, control: Control, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let mut accepted_so_far: u64 = 0;
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    accepted_so_far += 1;
                    let conn = Arc::new(Conn::new(accepted_so_far));
                    conns.spawn(serve_connection(stream, conn, control.clone(), stop.clone()));
                }
                Err(e) => {
                    // Out of descriptors and the like: back off a little.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(GRACE, drain).await.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    tracing::debug!("simulator stopped");
}

/// What the shell knows of one connection.
struct Conn {
    /// Its number, from 1, in accept order.
    id: u64,
    /// Requests that have arrived on it.
    requests: AtomicU64,
    /// When it was accepted or last handed a response over.
    last_active: Mutex<Instant>,
}

impl Conn {
    fn new(id: u64) -> Self {
        Self {
            id,
            requests: AtomicU64::new(0),
            last_active: Mutex::new(Instant::now()),
        }
    }

    fn last_active(&self) -> MutexGuard<'_, Instant> {
        self.last_active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A request arrives now: its place on the connection and the idle time.
    fn arrive(&self) -> ConnectionInfo {
        let nth = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let idle = self.last_active().elapsed();
        ConnectionInfo::new(self.id, nth, idle)
    }

    /// A response is handed over now.
    fn answered(&self) {
        *self.last_active() = Instant::now();
    }
}

/// How a service call asks its connection to end.
enum Kill {
    /// Close abortively: RST.
    Reset,
    /// Close without a response: FIN.
    Close,
}

async fn serve_connection(
    stream: TcpStream,
    conn_info: Arc<Conn>,
    control: Control,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    // A second descriptor of the same socket, kept so a reset can set
    // SO_LINGER to 0 after hyper has taken the stream; the RST goes out when
    // both are closed.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(dup) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let (kill_tx, mut kill_rx) = mpsc::channel::<Kill>(1);
    let stalling = Arc::new(AtomicBool::new(false));
    let service = {
        let stalling = stalling.clone();
        let stop = stop.clone();
        service_fn(move |req| {
            let (control, kill, stop, stalling, conn) = (
                control.clone(),
                kill_tx.clone(),
                stop.clone(),
                stalling.clone(),
                conn_info.clone(),
            );
            async move {
                let seen = conn.arrive();
                let resp = respond(req, seen, control, kill, stop, stalling).await;
                conn.answered();
                Ok::<_, Infallible>(resp)
            }
        })
    };
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            kill = kill_rx.recv() => {
                if let Some(Kill::Reset) = kill {
                    let _ = socket2::SockRef::from(&dup).set_linger(Some(Duration::ZERO));
                }
                break;
            }
            () = stopped(&mut stop), if !draining => {
                if stalling.load(Ordering::Relaxed) {
                    break;
                }
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    // `conn` and `dup` are dropped here, closing the socket.
}

async fn respond(
    req: Request<Incoming>,
    connection: ConnectionInfo,
    control: Control,
    kill: mpsc::Sender<Kill>,
    mut stop: watch::Receiver<bool>,
    stalling: Arc<AtomicBool>,
) -> Response<SimBody> {
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(connection);
    let decision = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => control.decide(&Request::from_parts(parts, collected.to_bytes())),
        Err(_) => control.too_large(),
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    match decision.delivery {
        Delivery::Respond(reply) => {
            let body = SimBody::Full(Some(reply.body.clone()));
            into_response(reply, body)
        }
        Delivery::StallBody {
            reply,
            after_bytes,
            trickle,
            hold,
        } => {
            stalling.store(true, Ordering::Relaxed);
            let body = SimBody::trickle(reply.body.clone(), after_bytes, trickle, hold);
            into_response(reply, body)
        }
        Delivery::StallHeaders { hold } => {
            stalling.store(true, Ordering::Relaxed);
            tokio::select! {
                () = tokio::time::sleep(hold) => {}
                () = stopped(&mut stop) => {}
            }
            let _ = kill.send(Kill::Close).await;
            std::future::pending().await
        }
        Delivery::Reset => {
            let _ = kill.send(Kill::Reset).await;
            std::future::pending().await
        }
        Delivery::Close => {
            let _ = kill.send(Kill::Close).await;
            std::future::pending().await
        }
        // `Delivery` is non-exhaustive for users; every variant is handled above.
        #[allow(unreachable_patterns)]
        _ => std::future::pending().await,
    }
}

fn into_response(reply: Reply, body: SimBody) -> Response<SimBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = reply.status;
    *resp.headers_mut() = reply.headers;
    resp
}

/// A response body: all at once, or stalled/trickling.
enum SimBody {
    Full(Option<Bytes>),
    Trickle(Box<Trickle>),
}

struct Trickle {
    head: Option<Bytes>,
    rest: Bytes,
    every: Option<Duration>,
    tick: Option<Pin<Box<Sleep>>>,
    deadline: Pin<Box<Sleep>>,
}

impl SimBody {
    fn trickle(mut body: Bytes, after: usize, every: Option<Duration>, hold: Duration) -> Self {
        let head = body.split_to(after.min(body.len()));
        Self::Trickle(Box::new(Trickle {
            head: (!head.is_empty()).then_some(head),
            rest: body,
            every,
            tick: None,
            deadline: Box::pin(tokio::time::sleep(hold)),
        }))
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let t = match self.get_mut() {
            Self::Full(b) => {
                return Poll::Ready(
                    b.take()
                        .filter(|b| !b.is_empty())
                        .map(|b| Ok(Frame::data(b))),
                );
            }
            Self::Trickle(t) => t,
        };
        if let Some(head) = t.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if t.rest.is_empty() {
            return Poll::Ready(None);
        }
        if t.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "stalled body abandoned",
            ))));
        }
        let Some(every) = t.every else {
            return Poll::Pending;
        };
        let tick = t
            .tick
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        ready!(tick.as_mut().poll(cx));
        t.tick = None;
        Poll::Ready(Some(Ok(Frame::data(t.rest.split_to(1)))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.as_ref().is_none_or(Bytes::is_empty),
            Self::Trickle(t) => t.head.is_none() && t.rest.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        let n = match self {
            Self::Full(b) => b.as_ref().map_or(0, Bytes::len),
            Self::Trickle(t) => t.head.as_ref().map_or(0, Bytes::len) + t.rest.len(),
        };
        SizeHint::with_exact(n as u64)
    }
}

/// A running simulator with its own runtime thread, for plain `#[test]`s
/// and blocking programs. Dropping it stops the server and joins the thread.
#[derive(Debug)]
pub struct BlockingHandle {
    addr: SocketAddr,
    url: String,
    project_id: String,
    control: Control,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BlockingHandle {
    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The project id served.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Drives the simulator.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BlockingHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

type Ready = Result<(SocketAddr, String, String, Control), Error>;

/// Starts the simulator on a thread of its own (a current-thread tokio
/// runtime) and returns once it is listening. No async code needed.
pub fn start_blocking(config: SimConfig) -> Result<BlockingHandle, Error> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Ready>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("clouddc-simulator".to_owned())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(Error::Runtime(e)));
                    return;
                }
            };
            rt.block_on(async move {
                match start(config).await {
                    Ok(h) => {
                        let info = (
                            h.addr,
                            h.url.clone(),
                            h.project_id.clone(),
                            h.control.clone(),
                        );
                        let _ = ready_tx.send(Ok(info));
                        // A dropped sender also means stop.
                        let _ = stop_rx.await;
                        h.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })
        .map_err(Error::Runtime)?;
    match ready_rx.recv() {
        Ok(Ok((addr, url, project_id, control))) => Ok(BlockingHandle {
            addr,
            url,
            project_id,
            control,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(Error::Runtime(io::Error::other(
                "the simulator thread ended before it was listening",
            )))
        }
    }
}

/// [`start_blocking`] with [`SimConfig::default`].
pub fn start_blocking_default() -> Result<BlockingHandle, Error> {
    start_blocking(SimConfig::default())
}
