//! Who every call of one session is: the credentials, the project id and
//! the clock skew.
//!
//! Owns the current generation of credentials (fixed, or temporary ones
//! from server metadata or from IAM by OIDC federation, refreshed ahead of
//! expiry), the project id (fixed, or looked up once from IAM), the
//! gateway's clock offset, and the single flight: at most one metadata or
//! IAM request at a time for every call and fleet sharing the config,
//! whoever drives it. Callers keep signing with unexpired credentials while
//! a refresh is pending. Must not send, sleep or read a clock: fleets call
//! [`Identity::poll`] and [`Identity::handle`] with the time, and
//! [`Identity::abandon`] when they stop. Must not open a file: the OIDC
//! id token is read through the reader the client handed in.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::Response;

use crate::config::{CredentialSource, OidcSource, ProjectSource};
use crate::credentials::{Credentials, Secret};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind};
use crate::identity::iam;
use crate::identity::metadata::{self, Issued, KeyAnswer, TokenAnswer, metadata_refresh_at};
use crate::identity::oidc;
use crate::identity::skew::ClockSkew;
use crate::ids::ProjectId;
use crate::machine::{Attempt, Now, later};
use crate::observe::{AttemptOutcome, AttemptRecord, Observed, Service};
use crate::pacing::retry::backoff;

use super::ReadFile;

/// How often a caller waiting on another caller's request looks again.
const LOOK_AGAIN: Duration = Duration::from_millis(20);
/// How long a failed resolution is reported to every caller before it is
/// tried again.
const FAILURE_HOLD: Duration = Duration::from_secs(1);
/// Requests of one resolution before it fails (when nothing usable is held).
const TRIES: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The most credentials are kept back from their expiry, so that a request
/// signed with them still arrives before it.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// What a caller of [`Identity::poll`] does next.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once per poll; boxing buys nothing
pub(crate) enum SessionStep {
    /// Credentials and project are usable: go ahead.
    Ready,
    /// Send this request on the session's behalf and hand back its result
    /// with [`Identity::handle`] and this flight number.
    Send(u64, Attempt),
    /// Another request is pending or a retry is due: look again then.
    Wait(Instant),
    /// Resolution failed; calls that need it fail with this error.
    Failed(Error),
}

/// The credentials and project a request is signed with, and their
/// generation (bumped whenever either changes).
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub(crate) generation: u64,
    pub(crate) credentials: Credentials,
    pub(crate) project_id: ProjectId,
}

#[derive(Debug)]
pub(crate) struct Identity {
    user_agent: String,
    /// How the OIDC id-token file is read (the client's reader).
    read_file: Option<ReadFile>,
    /// Told about every request sent.
    observed: Observed,
    /// Fixed credentials and project: nothing ever changes but the skew.
    fixed: bool,
    /// The skew in seconds, [`NO_SKEW`] for none: a copy of the state's,
    /// read on every request without the lock.
    skew: AtomicI64,
    state: Mutex<State>,
}

/// The value of [`Identity::skew`] that means no skew.
const NO_SKEW: i64 = i64::MIN;

#[derive(Debug)]
struct State {
    credentials: Creds,
    project: Project,
    skew: Option<ClockSkew>,
    generation: u64,
    flight: Option<Flight>,
    next_flight: u64,
    /// Failures of the current resolution, and when to try again.
    failures: u32,
    retry_at: Option<Instant>,
    /// A failure reported to every caller until the instant.
    failed: Option<(Error, Instant)>,
    /// The lookup was signed again for a clock skew in this round.
    lookup_resigned: bool,
    /// The next request goes on a fresh connection: the last one's pooled
    /// connection closed without answering.
    again: bool,
}

#[derive(Debug)]
enum Creds {
    Fixed(Credentials),
    Metadata(Box<Metadata>),
    Oidc(Box<Oidc>),
}

impl Creds {
    /// The temporary credentials held, if any.
    fn held(&self) -> Option<&Held> {
        match self {
            Self::Fixed(_) => None,
            Self::Metadata(m) => m.current.as_ref(),
            Self::Oidc(o) => o.current.as_ref(),
        }
    }

    /// Where temporary credentials come from, for messages; `None` for
    /// fixed ones.
    fn service(&self) -> Option<String> {
        match self {
            Self::Fixed(_) => None,
            Self::Metadata(m) => Some(format!("server metadata at {}", m.endpoint)),
            Self::Oidc(o) => Some(format!(
                "IAM at {} (OIDC federation)",
                o.source.iam_endpoint()
            )),
        }
    }
}

/// OIDC federation: the credentials from IAM, and the subject token of
/// the exchange under way.
#[derive(Debug)]
struct Oidc {
    source: OidcSource,
    current: Option<Held>,
    /// The answer to exchange 1, for exchange 2 of the same round.
    subject: Option<Secret>,
}

#[derive(Debug)]
struct Metadata {
    endpoint: Endpoint,
    current: Option<Held>,
    token: Token,
    /// A 401 already led to a fresh token once in this round.
    renewed_token: bool,
}

#[derive(Debug)]
struct Held {
    credentials: Credentials,
    expires: SystemTime,
    usable_until: SystemTime,
    refresh_at: SystemTime,
}

#[derive(Debug)]
enum Token {
    None,
    Have { token: Secret, until: Instant },
    Unsupported { until: Instant },
}

#[derive(Debug)]
enum Project {
    Fixed(ProjectId),
    Lookup {
        iam: Endpoint,
        region: crate::endpoint::Region,
        found: Option<ProjectId>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlightKind {
    Token,
    SecurityKey,
    /// OIDC exchange 1: the id token for a subject token.
    IdToken,
    /// OIDC exchange 2: the subject token for credentials.
    SecurityToken,
    Projects,
}

#[derive(Debug)]
struct Flight {
    id: u64,
    kind: FlightKind,
    /// After this, the flight is given up and may be made again.
    deadline: Instant,
    /// Sent on a fresh connection.
    fresh: bool,
    /// When it was sent.
    sent: Instant,
}

/// What the session is still missing.
enum Need {
    Nothing,
    Credentials { usable: bool },
    Project,
}

impl Identity {
    pub(crate) fn new(
        credentials: CredentialSource,
        project: ProjectSource,
        user_agent: String,
    ) -> Self {
        let credentials = match credentials {
            CredentialSource::Fixed(c) => Creds::Fixed(c),
            CredentialSource::Metadata(endpoint) => Creds::Metadata(Box::new(Metadata {
                endpoint,
                current: None,
                token: Token::None,
                renewed_token: false,
            })),
            CredentialSource::Oidc(source) => Creds::Oidc(Box::new(Oidc {
                source,
                current: None,
                subject: None,
            })),
        };
        let project = match project {
            ProjectSource::Fixed(p) => Project::Fixed(p),
            ProjectSource::Lookup { iam, region } => Project::Lookup {
                iam,
                region,
                found: None,
            },
        };
        let fixed = matches!(credentials, Creds::Fixed(_)) && matches!(project, Project::Fixed(_));
        Self {
            user_agent,
            read_file: None,
            observed: Observed::default(),
            fixed,
            skew: AtomicI64::new(NO_SKEW),
            state: Mutex::new(State {
                credentials,
                project,
                skew: None,
                generation: 0,
                flight: None,
                next_flight: 0,
                failures: 0,
                retry_at: None,
                failed: None,
                lookup_resigned: false,
                again: false,
            }),
        }
    }

    /// This identity, telling `observed` about every request it sends.
    pub(crate) fn with_observer(mut self, observed: Observed) -> Self {
        self.observed = observed;
        self
    }

    /// This identity, reading the OIDC id-token file with `read`.
    pub(crate) fn with_file_reader(mut self, read: Option<ReadFile>) -> Self {
        self.read_file = read;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement that can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether nothing ever needs a request (fixed credentials and project).
    pub(crate) fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// Copies the state's skew to the lock-free copy.
    fn publish_skew(&self, skew: Option<ClockSkew>) {
        let secs = skew.map_or(NO_SKEW, |s| s.as_secs().max(NO_SKEW + 1));
        self.skew.store(secs, Ordering::Relaxed);
    }

    /// The credentials and project to sign with at `now`, when usable.
    pub(crate) fn current(&self, now: SystemTime) -> Result<Current, Error> {
        let s = self.lock();
        let credentials = match (&s.credentials, s.credentials.held()) {
            (Creds::Fixed(c), _) => c.clone(),
            (_, Some(h)) if now < h.usable_until => h.credentials.clone(),
            (c, Some(h)) => {
                return Err(expired(
                    c,
                    h.expires,
                    s.failed.as_ref().map(|(e, _)| e.shared()),
                ));
            }
            (c, None) => {
                if let Some((e, _)) = &s.failed {
                    return Err(e.shared());
                }
                return Err(Error::resolve(
                    ErrorKind::Unauthorized,
                    format!(
                        "the credentials from {} are not fetched yet: run the call through a client or a Fleet (an empty fleet only resolves)",
                        c.service().unwrap_or_default()
                    ),
                    None,
                ));
            }
        };
        let project_id = match &s.project {
            Project::Fixed(p) | Project::Lookup { found: Some(p), .. } => p.clone(),
            Project::Lookup { .. } => {
                if let Some((e, _)) = &s.failed {
                    return Err(e.shared());
                }
                return Err(Error::resolve(
                    ErrorKind::InvalidInput,
                    "the project id is not looked up yet: run the call through a client or a Fleet (an empty fleet only resolves)",
                    None,
                ));
            }
        };
        Ok(Current {
            generation: s.generation,
            credentials,
            project_id,
        })
    }

    /// The generation of [`current`](Self::current) and the clock skew,
    /// when the credentials are usable at `now`: one cheap check per
    /// request.
    pub(crate) fn check(&self, now: SystemTime) -> Result<(u64, Option<ClockSkew>), Error> {
        if self.fixed {
            // Generation 0 for ever; no lock.
            return Ok((0, self.skew()));
        }
        {
            let s = self.lock();
            let usable = match &s.credentials {
                Creds::Fixed(_) => true,
                c => c.held().is_some_and(|h| now < h.usable_until),
            };
            let project = !matches!(s.project, Project::Lookup { found: None, .. });
            if usable && project {
                return Ok((s.generation, s.skew));
            }
        }
        // Not usable: `current` says why.
        self.current(now).map(|c| (c.generation, None))
    }

    /// The gateway's clock offset, once one was corrected for.
    pub(crate) fn skew(&self) -> Option<ClockSkew> {
        match self.skew.load(Ordering::Relaxed) {
            NO_SKEW => None,
            secs => Some(ClockSkew::from_secs(secs)),
        }
    }

    /// Records the gateway's clock offset (`None`: none, the clocks
    /// agree); whether it changed.
    pub(crate) fn correct_skew(&self, skew: Option<ClockSkew>) -> bool {
        let skew = skew.filter(|s| s.as_secs() != 0);
        let mut s = self.lock();
        let changed = s.skew != skew;
        s.skew = skew;
        self.publish_skew(skew);
        changed
    }

    /// Gives up flight `id` without an answer (its caller stopped): another
    /// caller may make it at once.
    pub(crate) fn abandon(&self, id: u64) {
        let mut s = self.lock();
        if s.flight.as_ref().is_some_and(|f| f.id == id) {
            s.flight = None;
        }
    }

    /// The project id and credentials resolved so far, for reports.
    pub(crate) fn resolved(&self) -> (Option<ProjectId>, Option<Credentials>, Option<SystemTime>) {
        let s = self.lock();
        let project = match &s.project {
            Project::Fixed(p) | Project::Lookup { found: Some(p), .. } => Some(p.clone()),
            Project::Lookup { .. } => None,
        };
        let (credentials, expires) = match &s.credentials {
            Creds::Fixed(c) => (Some(c.clone()), None),
            c => match c.held() {
                Some(h) => (Some(h.credentials.clone()), Some(h.expires)),
                None => (None, None),
            },
        };
        (project, credentials, expires)
    }

    /// What to do before a request may be signed at `now`; `may_send`
    /// says whether the caller can send a request for the session now.
    pub(crate) fn poll(&self, now: Now, may_send: bool) -> SessionStep {
        if self.fixed {
            return SessionStep::Ready;
        }
        let mut s = self.lock();
        let need = s.need(now.wall);
        let usable = match need {
            Need::Nothing => return SessionStep::Ready,
            Need::Credentials { usable } => usable,
            Need::Project => false,
        };
        if let Some(f) = &s.flight {
            if f.deadline > now.mono {
                return if usable {
                    SessionStep::Ready
                } else {
                    SessionStep::Wait(f.deadline.min(later(now.mono, LOOK_AGAIN)))
                };
            }
            s.flight = None;
        }
        if let Some((e, until)) = &s.failed {
            if now.mono < *until {
                return if usable {
                    SessionStep::Ready
                } else {
                    SessionStep::Failed(e.shared())
                };
            }
            s.failed = None;
        }
        if let Some(at) = s.retry_at.filter(|t| *t > now.mono) {
            return if usable {
                SessionStep::Ready
            } else {
                SessionStep::Wait(at)
            };
        }
        if !may_send {
            return if usable {
                SessionStep::Ready
            } else {
                SessionStep::Wait(later(now.mono, LOOK_AGAIN))
            };
        }
        match s.request(now, &self.user_agent, self.read_file) {
            Ok((kind, attempt)) => {
                let id = s.next_flight;
                s.next_flight += 1;
                let fresh = std::mem::take(&mut s.again);
                s.flight = Some(Flight {
                    id,
                    kind,
                    deadline: later(now.mono, attempt.timeout + Duration::from_secs(1)),
                    fresh,
                    sent: now.mono,
                });
                let attempt = if fresh {
                    attempt.on_fresh_connection()
                } else {
                    attempt
                };
                SessionStep::Send(id, attempt)
            }
            Err(e) => {
                s.fail(now, e, true);
                match &s.failed {
                    Some((e, _)) if !usable => SessionStep::Failed(e.shared()),
                    _ => SessionStep::Ready,
                }
            }
        }
    }

    /// Feeds the result of flight `id`. A result for a flight given up on
    /// is ignored.
    pub(crate) fn handle(&self, id: u64, now: Now, result: Result<Response<Vec<u8>>, Error>) {
        let mut s = self.lock();
        let Some(flight) = s.flight.take_if(|f| f.id == id) else {
            return;
        };
        self.observed.attempt(|| {
            let service = match flight.kind {
                FlightKind::Token | FlightKind::SecurityKey => Service::Metadata,
                FlightKind::IdToken | FlightKind::SecurityToken => Service::Oidc,
                FlightKind::Projects => Service::Iam,
            };
            let outcome = match &result {
                Ok(r) => AttemptOutcome::Status(r.status()),
                Err(e) => AttemptOutcome::Error(e.kind()),
            };
            let duration = now.mono.saturating_duration_since(flight.sent);
            let mut r = AttemptRecord::new(service, outcome, duration, now.mono);
            r.resent = flight.fresh;
            r
        });
        if !flight.fresh
            && let Err(e) = &result
            && e.is_closed_unanswered()
        {
            // A pooled connection the server had closed: the request never
            // reached it. Sent again at once on a new one, not a failure.
            s.again = true;
            return;
        }
        let outcome = s.read(flight.kind, now, result);
        self.publish_skew(s.skew);
        match outcome {
            Ok(()) => {
                s.failures = 0;
                s.retry_at = None;
                s.failed = None;
            }
            Err((e, fatal)) => s.fail(now, e, fatal),
        }
    }
}

impl State {
    fn need(&self, wall: SystemTime) -> Need {
        if !matches!(self.credentials, Creds::Fixed(_)) {
            match self.credentials.held() {
                None => return Need::Credentials { usable: false },
                Some(h) if wall >= h.refresh_at => {
                    return Need::Credentials {
                        usable: wall < h.usable_until,
                    };
                }
                Some(_) => {}
            }
        }
        match &self.project {
            Project::Lookup { found: None, .. } => Need::Project,
            _ => Need::Nothing,
        }
    }

    /// The next request of the resolution, by what is missing.
    fn request(
        &self,
        now: Now,
        user_agent: &str,
        read_file: Option<ReadFile>,
    ) -> Result<(FlightKind, Attempt), Error> {
        if let Creds::Oidc(o) = &self.credentials
            && o.current.as_ref().is_none_or(|h| now.wall >= h.refresh_at)
        {
            let iam = o.source.iam_endpoint();
            if let Some(subject) = &o.subject {
                return Ok((
                    FlightKind::SecurityToken,
                    oidc::security_token_request(iam, subject, user_agent)?,
                ));
            }
            let id_token = read_id_token(&o.source, read_file)?;
            return Ok((
                FlightKind::IdToken,
                oidc::id_token_request(iam, o.source.idp_id(), &id_token, user_agent)?,
            ));
        }
        if let Creds::Metadata(m) = &self.credentials
            && m.current.as_ref().is_none_or(|h| now.wall >= h.refresh_at)
        {
            return match &m.token {
                Token::None => Ok((
                    FlightKind::Token,
                    metadata::token_request(&m.endpoint, user_agent)?,
                )),
                Token::Have { token, until } if *until > now.mono => Ok((
                    FlightKind::SecurityKey,
                    metadata::security_key_request(&m.endpoint, Some(token), user_agent)?,
                )),
                Token::Have { .. } => Ok((
                    FlightKind::Token,
                    metadata::token_request(&m.endpoint, user_agent)?,
                )),
                Token::Unsupported { until } if *until <= now.mono => Ok((
                    FlightKind::Token,
                    metadata::token_request(&m.endpoint, user_agent)?,
                )),
                Token::Unsupported { .. } => Ok((
                    FlightKind::SecurityKey,
                    metadata::security_key_request(&m.endpoint, None, user_agent)?,
                )),
            };
        }
        let Project::Lookup { iam, region, .. } = &self.project else {
            unreachable!("poll asks only when something is missing")
        };
        let credentials = match (&self.credentials, self.credentials.held()) {
            (Creds::Fixed(c), _) => c,
            (_, Some(h)) => &h.credentials,
            (_, None) => unreachable!("credentials come first"),
        };
        let wall = self.skew.map_or(now.wall, |s| s.apply(now.wall));
        Ok((
            FlightKind::Projects,
            iam::projects_request(iam, region, credentials, wall, user_agent)?,
        ))
    }

    /// Reads a flight's result into the state; an error says whether
    /// retrying cannot help.
    fn read(
        &mut self,
        kind: FlightKind,
        now: Now,
        result: Result<Response<Vec<u8>>, Error>,
    ) -> Result<(), (Error, bool)> {
        let response = result.map_err(|e| (e, false))?;
        match (&mut self.credentials, kind) {
            (Creds::Metadata(m), FlightKind::Token) => {
                m.token =
                    match metadata::read_token(&m.endpoint, &response).map_err(|e| (e, false))? {
                        TokenAnswer::Token(token) => Token::Have {
                            token,
                            // Renewed a minute before the host forgets it.
                            until: later(
                                now.mono,
                                metadata::TOKEN_TTL.saturating_sub(Duration::from_secs(60)),
                            ),
                        },
                        TokenAnswer::Unsupported => Token::Unsupported {
                            until: later(now.mono, metadata::NO_TOKENS_FOR),
                        },
                    };
                Ok(())
            }
            (Creds::Metadata(m), FlightKind::SecurityKey) => {
                match metadata::read_security_key(&m.endpoint, &response, now.wall) {
                    Ok(KeyAnswer::Issued(issued)) => {
                        let from = format!("server metadata at {}", m.endpoint);
                        m.current = Some(hold(issued, now.wall, &from).map_err(|e| (e, false))?);
                        m.renewed_token = false;
                        self.generation += 1;
                        Ok(())
                    }
                    Ok(KeyAnswer::StaleToken)
                        if !m.renewed_token && !matches!(m.token, Token::Unsupported { .. }) =>
                    {
                        // The session token went stale: a new one, once.
                        m.token = Token::None;
                        m.renewed_token = true;
                        Ok(())
                    }
                    Ok(KeyAnswer::StaleToken) => Err((
                        Error::resolve(
                            ErrorKind::Unauthorized,
                            format!(
                                "server metadata at {} refused the credentials request with HTTP 401 even with a fresh session token",
                                m.endpoint
                            ),
                            None,
                        ),
                        false,
                    )),
                    Err(e) => {
                        let fatal = e.kind() == ErrorKind::Unauthorized;
                        Err((e, fatal))
                    }
                }
            }
            (Creds::Oidc(o), FlightKind::IdToken) => {
                let iam = o.source.iam_endpoint();
                let subject = oidc::read_subject_token(iam, &response).map_err(|e| {
                    let fatal = oidc::is_final(&e);
                    (e, fatal)
                })?;
                o.subject = Some(subject);
                Ok(())
            }
            (Creds::Oidc(o), FlightKind::SecurityToken) => {
                // A new round starts from the file, whatever the answer.
                o.subject = None;
                let iam = o.source.iam_endpoint();
                let issued = oidc::read_security_token(iam, &response, now.wall).map_err(|e| {
                    let fatal = oidc::is_final(&e);
                    (e, fatal)
                })?;
                let from = format!("IAM at {iam}");
                o.current = Some(hold(issued, now.wall, &from).map_err(|e| (e, false))?);
                self.generation += 1;
                Ok(())
            }
            (_, FlightKind::Projects) => {
                if !self.lookup_resigned
                    && let Some(skew) =
                        crate::identity::skew::correction(&response, now.wall, self.skew)
                {
                    // Refused as expired by a gateway with another clock:
                    // asked again, once, signed with its time.
                    self.skew = skew.filter(|s| s.as_secs() != 0);
                    self.lookup_resigned = true;
                    return Ok(());
                }
                let Project::Lookup { iam, region, found } = &mut self.project else {
                    return Ok(());
                };
                self.lookup_resigned = false;
                match iam::read_projects(iam, region.as_str(), &response) {
                    Ok(p) => {
                        *found = Some(p);
                        self.generation += 1;
                        Ok(())
                    }
                    Err(e) => {
                        let fatal = !matches!(e.kind(), ErrorKind::Server | ErrorKind::RateLimited);
                        Err((e, fatal))
                    }
                }
            }
            (
                _,
                FlightKind::Token
                | FlightKind::SecurityKey
                | FlightKind::IdToken
                | FlightKind::SecurityToken,
            ) => Ok(()),
        }
    }

    /// Records a failed request: retried with backoff while usable
    /// credentials are held; otherwise, after a few tries (or at once when
    /// retrying cannot help), reported to every caller for a while.
    fn fail(&mut self, now: Now, error: Error, fatal: bool) {
        self.failures = self.failures.saturating_add(1);
        let usable = match self.need(now.wall) {
            Need::Nothing => true,
            Need::Credentials { usable } => usable,
            Need::Project => false,
        };
        let mut wait = backoff(
            Duration::ZERO,
            BACKOFF_BASE,
            BACKOFF_MAX,
            self.failures,
            1.0,
        );
        if let Some(left) = self.usable_for(now.wall) {
            // Never past the end of the credentials held.
            wait = wait.min(left);
        }
        self.retry_at = Some(later(now.mono, wait));
        // With nothing held yet, an unreachable service is not asked again
        // and again: off the cloud, the user hears at once.
        let nothing_held =
            !matches!(self.credentials, Creds::Fixed(_)) && self.credentials.held().is_none();
        let fatal = fatal || (nothing_held && is_unreachable(&error));
        if usable || (!fatal && self.failures < TRIES) {
            trace::retrying(&error, wait);
            return;
        }
        let error = self.explain(now.wall, error);
        trace::failed(&error);
        self.failures = 0;
        self.retry_at = None;
        self.failed = Some((error, later(now.mono, FAILURE_HOLD)));
    }

    /// How long the credentials held stay usable, for temporary ones.
    fn usable_for(&self, wall: SystemTime) -> Option<Duration> {
        self.credentials
            .held()
            .map(|h| h.usable_until.duration_since(wall).unwrap_or_default())
    }

    /// The error callers get: for credentials that expired, kind
    /// `unauthorized`; for an unreachable service, what to do about it; the
    /// cause kept either way.
    fn explain(&self, wall: SystemTime, error: Error) -> Error {
        if let Some(h) = self.credentials.held()
            && wall >= h.usable_until
        {
            return expired(&self.credentials, h.expires, Some(error));
        }
        if let Creds::Oidc(o) = &self.credentials
            && o.current.is_none()
            && is_unreachable(&error)
        {
            let kind = error.kind();
            return Error::resolve(
                kind,
                format!(
                    "no credentials: IAM at {} is unreachable for the OIDC exchange: check HUAWEICLOUD_SDK_IAM_ENDPOINT or the region",
                    o.source.iam_endpoint()
                ),
                Some(error),
            );
        }
        if let Creds::Metadata(m) = &self.credentials {
            match &m.current {
                None if is_unreachable(&error) => {
                    let kind = error.kind();
                    return Error::resolve(
                        kind,
                        format!(
                            "no credentials: none were set, and server metadata at {} is unreachable (is this a Huawei Cloud server?): set a token or AK/SK, or turn the metadata source off",
                            m.endpoint
                        ),
                        Some(error),
                    );
                }
                _ => {}
            }
        }
        if let Project::Lookup {
            iam,
            region,
            found: None,
        } = &self.project
            && is_unreachable(&error)
        {
            let kind = error.kind();
            return Error::resolve(
                kind,
                format!(
                    "no project id: the lookup of {region} at IAM {iam} failed: set the project id, or check the IAM endpoint"
                ),
                Some(error),
            );
        }
        error.into_shared()
    }
}

/// A failure to reach a service at all (not an answer from it).
fn is_unreachable(e: &Error) -> bool {
    matches!(e, Error::Transport(_) | Error::Timeout(_))
}

fn expired(from: &Creds, expires: SystemTime, cause: Option<Error>) -> Error {
    let at = humantime::format_rfc3339_seconds(expires);
    Error::resolve(
        ErrorKind::Unauthorized,
        format!(
            "the temporary credentials from {} expired at {at} and could not be refreshed",
            from.service().unwrap_or_default()
        ),
        cause,
    )
}

/// Temporary credentials `issued` by `from`, received at `wall`: held
/// until a margin before their expiry, refreshed when less than min(40
/// min, a third of their lifetime) is left; an error when they are
/// expired already.
fn hold(issued: Issued, wall: SystemTime, from: &str) -> Result<Held, Error> {
    let lifetime = issued.expires.duration_since(wall).unwrap_or_default();
    let margin = EXPIRY_MARGIN.min(lifetime / 6);
    if lifetime <= margin || lifetime.is_zero() {
        let at = humantime::format_rfc3339_seconds(issued.expires);
        return Err(Error::resolve(
            ErrorKind::Unauthorized,
            format!("{from} sent credentials that expired at {at}"),
            None,
        ));
    }
    trace::refreshed(from, issued.expires);
    Ok(Held {
        refresh_at: metadata_refresh_at(wall, issued.expires),
        usable_until: issued.expires.checked_sub(margin).unwrap_or(issued.expires),
        expires: issued.expires,
        credentials: issued.credentials,
    })
}

/// The id token in the OIDC source's file, read with the client's reader.
fn read_id_token(source: &OidcSource, read_file: Option<ReadFile>) -> Result<Secret, Error> {
    let path = source.id_token_file();
    let Some(read) = read_file else {
        return Err(Error::invalid_setting(
            format!(
                "the id-token file {} cannot be read: this session has no file reader (use a client, or give one with SessionOptions::read_file)",
                path.display()
            ),
            vec![crate::error::Setting::IdTokenFile],
        ));
    };
    let bytes = read(path).map_err(|e| oidc::unreadable(path, &e))?;
    oidc::id_token(path, &bytes)
}

/// Tracing of refreshes and failures (feature `tracing`); never a secret.
mod trace {
    use std::time::{Duration, SystemTime};

    use crate::error::Error;

    #[cfg(feature = "tracing")]
    pub(super) fn refreshed(from: &str, expires: SystemTime) {
        tracing::debug!(expires_at = %humantime::format_rfc3339_seconds(expires), "temporary credentials from {from}");
    }
    #[cfg(not(feature = "tracing"))]
    pub(super) fn refreshed(_from: &str, _expires: SystemTime) {}

    #[cfg(feature = "tracing")]
    pub(super) fn retrying(e: &Error, after: Duration) {
        tracing::debug!(error = %crate::error::error_chain(e), delay_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX), "resolving credentials or project failed; retrying");
    }
    #[cfg(not(feature = "tracing"))]
    pub(super) fn retrying(_e: &Error, _after: Duration) {}

    #[cfg(feature = "tracing")]
    pub(super) fn failed(e: &Error) {
        tracing::warn!(error = %crate::error::error_chain(e), "resolving credentials or project failed");
    }
    #[cfg(not(feature = "tracing"))]
    pub(super) fn failed(_e: &Error) {}
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests;

#[cfg(test)]
mod oidc_tests;
