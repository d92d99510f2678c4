//! The live state every call of one client shares, and its one owner.
//!
//! A [`Config`] is what the user set; a [`Session`] is what calls made with
//! it have learned since: the credentials generation and its refresh, the
//! project id looked up from IAM, the gateway's clock offset (`identity`),
//! the request headers built for the current credentials, the quotas the
//! gateway quoted (the pacer), and the rate limiter and retry budget shared
//! by every fleet, if any. Clients and fleets hold a session, as
//! quinn-proto's endpoint owns its connections. Must not send, sleep or read
//! a clock: [`Session::resolve`] is a machine like any call, driven with
//! the time.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use http::{Request, Response};

use crate::config::Config;
use crate::credentials::Credentials;
use crate::error::Error;
use crate::identity::skew::ClockSkew;
use crate::ids::{InstanceId, ProjectId};
use crate::machine::{Machine, Now, Step};
use crate::observe::{AttemptRecord, Observed, Observer};
use crate::pacing::limiter::SharedLimits;
use crate::pacing::pacer::QuotaPacer;
use crate::quota::Throttle;
use crate::wire::request::PreparedHeaders;

mod identity;

pub(crate) use identity::{Identity, SessionStep};

/// Reads a whole file, for a source read again while calls run (the OIDC
/// id-token file, which Kubernetes rotates): the clients pass their
/// profile-file reader (`clouddc_ureq::read_profile_file`), so that every
/// file is read one way.
pub type ReadFile = fn(&Path) -> std::io::Result<Vec<u8>>;

/// The live state of the calls made with one [`Config`]: cheap to clone
/// (clones share it), `Send + Sync`.
///
/// ```
/// use clouddc_core::{Config, Credentials, Endpoint, ProjectId, Session};
/// let config = Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?;
/// let session = Session::new(config.clone());
/// assert_eq!(session.config(), &config);
/// // Fixed credentials and project: resolved from the start.
/// assert!(session.resolution(std::time::SystemTime::now()).is_ok());
/// assert!(session.learned_quotas().is_empty());
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    identity: Identity,
    /// With fixed credentials and project, the headers of every request,
    /// built once: no lock per request.
    fixed: Option<Arc<PreparedHeaders>>,
    /// Otherwise, the headers of the identity's current generation.
    prepared: Mutex<Option<(u64, Arc<PreparedHeaders>)>>,
    pacer: QuotaPacer,
    limits: Option<SharedLimits>,
    observer: Observed,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.inner.config)
            .field("identity", &self.inner.identity)
            .field("pacer", &self.inner.pacer)
            .finish_non_exhaustive()
    }
}

/// What a [`Session`] may be given besides its [`Config`]; none of it by
/// default ([`Session::with_options`]).
///
/// ```
/// use clouddc_core::{Config, Credentials, Endpoint, ProjectId, Session, SessionOptions, SharedLimits};
/// let config = Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?;
/// let options = SessionOptions::new()
///     .limits(SharedLimits::default())
///     .read_file(|path| std::fs::read(path));
/// let session = Session::with_options(config, options);
/// # drop(session);
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct SessionOptions {
    limits: Option<SharedLimits>,
    observer: Option<Arc<dyn Observer>>,
    read_file: Option<ReadFile>,
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("limits", &self.limits.is_some())
            .field("observer", &self.observer.is_some())
            .field("read_file", &self.read_file.is_some())
            .finish()
    }
}

impl SessionOptions {
    /// Nothing besides the config.
    pub fn new() -> Self {
        Self::default()
    }

    /// One rate limiter and retry budget for every call and fleet of the
    /// session, instead of each fleet its own.
    pub fn limits(mut self, limits: SharedLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Every attempt (status queries, and the metadata and IAM requests
    /// behind the credentials) reported to `observer`.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The OIDC id-token file read with `read` whenever it is exchanged
    /// (see [`ConfigBuilder::oidc`](crate::ConfigBuilder::oidc)); the
    /// clients give theirs. Without a reader, OIDC credentials fail to
    /// resolve.
    pub fn read_file(mut self, read: ReadFile) -> Self {
        self.read_file = Some(read);
        self
    }
}

impl From<Config> for Session {
    fn from(config: Config) -> Self {
        Self::new(config)
    }
}

impl Session {
    /// A session for `config`: nothing learned yet, single calls unpaced
    /// and each fleet with its own adaptive limiter and retry budget.
    pub fn new(config: Config) -> Self {
        Self::build(config, SessionOptions::new())
    }

    /// A session whose calls and fleets all share `limits` (one rate
    /// limiter and retry budget), instead of each fleet its own.
    pub fn with_limits(config: Config, limits: SharedLimits) -> Self {
        Self::build(config, SessionOptions::new().limits(limits))
    }

    /// A session for `config` with what `options` gives it besides: a
    /// rate limiter and retry budget shared by its calls and fleets, an
    /// observer of every attempt, the reader of the OIDC id-token file.
    pub fn with_options(config: Config, options: SessionOptions) -> Self {
        Self::build(config, options)
    }

    fn build(config: Config, options: SessionOptions) -> Self {
        let SessionOptions {
            limits,
            observer,
            read_file: read,
        } = options;
        let identity = Identity::new(
            config.credential_source().clone(),
            config.project_source().clone(),
            config.user_agent().to_owned(),
        )
        .with_file_reader(read)
        .with_observer(Observed::new(observer.clone()));
        let fixed = match (config.credentials(), config.project_id()) {
            (Some(c), Some(p)) if identity.is_fixed() => {
                PreparedHeaders::new(config.endpoint(), p, c, config.user_agent())
                    .ok()
                    .map(Arc::new)
            }
            _ => None,
        };
        Self {
            inner: Arc::new(Inner {
                config,
                identity,
                fixed,
                prepared: Mutex::new(None),
                pacer: QuotaPacer::default(),
                limits,
                observer: Observed::new(observer),
            }),
        }
    }

    /// What the user set.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Reports an attempt to the observer, if there is one (`record` is
    /// built only then).
    pub(crate) fn observe(&self, record: impl FnOnce() -> AttemptRecord) {
        self.inner.observer.attempt(record);
    }

    /// The session's observer, for what else the machines report.
    pub(crate) fn observed(&self) -> &Observed {
        &self.inner.observer
    }

    /// The project id: the one set, or the one IAM returned once it has
    /// been looked up (`None` before).
    pub fn project_id(&self) -> Option<ProjectId> {
        self.inner.identity.resolved().0
    }

    /// The credentials in use: the ones set, or the latest from server
    /// metadata or OIDC federation (`None` before the first fetch).
    pub fn credentials(&self) -> Option<Credentials> {
        self.inner.identity.resolved().1
    }

    /// When the credentials in use expire, for temporary ones from server
    /// metadata or OIDC federation.
    pub fn credentials_expire(&self) -> Option<SystemTime> {
        self.inner.identity.resolved().2
    }

    /// The gateway's clock offset, once a call has corrected for it: every
    /// later AK/SK request is signed with the gateway's time.
    pub fn clock_skew(&self) -> Option<ClockSkew> {
        self.inner.identity.skew()
    }

    /// Whether the credentials and project are usable at `now` without a
    /// request first; else why not (the last failure to resolve them,
    /// when there was one).
    pub fn resolution(&self, now: SystemTime) -> Result<(), Error> {
        self.inner.identity.current(now).map(drop)
    }

    /// The gateway quotas this session's calls have been refused by so far
    /// (one per window unit), which pace every later call and fleet.
    pub fn learned_quotas(&self) -> Vec<Throttle> {
        self.inner.pacer.quotas()
    }

    /// The rate limiter and retry budget every call and fleet of the
    /// session shares, if set ([`Session::with_limits`]).
    pub fn limits(&self) -> Option<&SharedLimits> {
        self.inner.limits.as_ref()
    }

    /// Resolves the credentials and the project id (server metadata, OIDC
    /// federation, IAM project lookup) as a machine: drive it with [`run`](crate::run) or
    /// [`run_async`](crate::run_async) over any transport; it ends `Ok`
    /// once calls can be signed, at once when nothing needs a request.
    pub fn resolve(&self) -> Resolve {
        Resolve {
            session: self.clone(),
            flight: None,
        }
    }

    /// Builds the status request for `id`, signed (with AK/SK) at `wall`,
    /// or at the gateway's time once a clock skew was corrected for
    /// ([`Session::clock_skew`]). Fails when the credentials or project id
    /// are not resolved yet (see [`Session::resolution`]).
    ///
    /// Secret headers (`X-Auth-Token`, `X-Security-Token`,
    /// `Authorization`) are marked sensitive, so `http`'s `Debug` redacts
    /// them.
    pub fn status_request(
        &self,
        id: &InstanceId,
        wall: SystemTime,
    ) -> Result<Request<Vec<u8>>, Error> {
        let (prepared, wall) = self.prepared(wall)?;
        prepared.status_request(self.config().endpoint(), id, wall)
    }

    pub(crate) fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    pub(crate) fn pacer(&self) -> &QuotaPacer {
        &self.inner.pacer
    }

    /// The headers of a request signed at local time `wall`, and the time
    /// to sign it with (the gateway's, when a skew was corrected).
    fn prepared(&self, wall: SystemTime) -> Result<(Arc<PreparedHeaders>, SystemTime), Error> {
        let identity = &self.inner.identity;
        let (generation, skew) = identity.check(wall)?;
        let signing_wall = skew.map_or(wall, |s| s.apply(wall));
        if let Some(p) = &self.inner.fixed {
            return Ok((p.clone(), signing_wall));
        }
        let mut cache = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((g, p)) = cache.as_ref()
            && *g == generation
        {
            return Ok((p.clone(), signing_wall));
        }
        let current = identity.current(wall)?;
        let config = &self.inner.config;
        let prepared = Arc::new(PreparedHeaders::new(
            config.endpoint(),
            &current.project_id,
            &current.credentials,
            config.user_agent(),
        )?);
        *cache = Some((current.generation, prepared.clone()));
        Ok((prepared, signing_wall))
    }
}

/// Builds the status request for `id` with what `session` holds; see
/// [`Session::status_request`].
///
/// ```
/// use clouddc_core::{build_status_request, Config, Credentials, Endpoint, InstanceId, ProjectId, Session};
/// let session = Session::new(Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?);
/// let req = build_status_request(&session, &InstanceId::new("ins-1")?, std::time::SystemTime::UNIX_EPOCH)?;
/// assert_eq!(req.uri().path(), "/v1/p1/instances/ins-1/status");
/// # Ok::<(), clouddc_core::Error>(())
/// ```
pub fn build_status_request(
    session: &Session,
    id: &InstanceId,
    wall: SystemTime,
) -> Result<Request<Vec<u8>>, Error> {
    session.status_request(id, wall)
}

/// Resolving a session's credentials and project id: a [`Machine`] whose
/// requests are the metadata and IAM ones, one at a time for every caller
/// of the session. Dropping it gives up its request, if one is in flight.
#[derive(Debug)]
#[must_use = "a machine does nothing until it is driven"]
pub struct Resolve {
    session: Session,
    /// The session request in flight, if any.
    flight: Option<u64>,
}

impl Machine for Resolve {
    type Output = Result<(), Error>;

    fn poll(&mut self, now: Now) -> Step<Self::Output> {
        let identity = self.session.identity();
        match identity.poll(now, self.flight.is_none()) {
            SessionStep::Ready => Step::Done(Ok(())),
            SessionStep::Send(flight, attempt) => {
                self.flight = Some(flight);
                Step::Send(attempt)
            }
            SessionStep::Wait(until) => Step::Wait(until.max(now.mono)),
            SessionStep::Failed(e) => Step::Done(Err(e)),
        }
    }

    fn handle_response(&mut self, now: Now, response: Response<Vec<u8>>) {
        if let Some(flight) = self.flight.take() {
            self.session.identity().handle(flight, now, Ok(response));
        }
    }

    fn handle_transport_error(&mut self, now: Now, error: Error) {
        if let Some(flight) = self.flight.take() {
            self.session.identity().handle(flight, now, Err(error));
        }
    }
}

impl Drop for Resolve {
    fn drop(&mut self) {
        if let Some(flight) = self.flight.take() {
            self.session.identity().abandon(flight);
        }
    }
}
