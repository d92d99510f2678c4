//! Answering one request: [`Simulator::handle`] and
//! [`Simulator::body_too_large`], with the time passed in.
//!
//! Owns the order of checks (admin routes, stale connections, the metadata
//! and IAM routes, then the status call's route, token buckets, the
//! gateway's flow control, auth, project, instance and at most one fault),
//! request ids, IAM trace ids, the `Date` stamp and counting each answer.
//! Must not build reply bodies (see [`reply`]), check credentials itself
//! (see [`auth`]), carry out admin operations (it hands them to
//! [`Simulator::apply`]) or read a clock.

use std::time::{Duration, Instant, SystemTime};

use clouddc_core::VerifyError;
use clouddc_core::http::{HeaderValue, Method, Request, StatusCode};
use clouddc_core::mix64;
use percent_encoding::percent_decode_str;

use super::Simulator;
use crate::admin;
use crate::arrivals::{Seen, Throttled};
use crate::auth::{self, CREDENTIALS_EXPIRED, Denied, Keys, deny};
use crate::bucket::retry_after_secs;
use crate::decision::{Decision, Delivery};
use crate::faults::{CloseWith, ConnectionInfo, FaultKind};
use crate::flow::Caller;
use crate::iam::{self, X_IAM_TRACE_ID};
use crate::metadata;
use crate::oidc;
use crate::reply::{self, Reply};

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

/// The gateway's 401 (`APIGW.0301`). An expired signature gets the
/// vendor's exact body, `request_id` included.
fn unauthorized(denied: Denied, request_id: &str) -> Reply {
    match denied {
        Denied::Other(detail) => reply::unauthorized(&detail),
        Denied::RequestExpired { .. } => reply::request_expired(request_id),
        Denied::CredentialsExpired => reply::unauthorized(CREDENTIALS_EXPIRED),
    }
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

/// Who calls, as a per-user flow policy counts: the access key of a
/// signed request, else the `X-Auth-Token`; neither is checked here.
fn caller_of<B>(req: &Request<B>) -> Option<Caller> {
    if let Some(ak) = auth::access_key_of(req) {
        return Some(Caller::access_key(&ak));
    }
    auth::header_str(req, "x-auth-token")
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

/// Mixed into IAM trace ids so they differ from request ids.
const IAM_SALT: u64 = 0x1A3E_7ACE_1DDC_0002;

impl Simulator {
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
    /// routes below; the metadata routes (see [`metadata`]);
    /// IAM's OIDC exchanges (see [`Oidc`](crate::Oidc)); IAM's
    /// `/v3/projects` (405, auth 401, projects); then the status API:
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
            let defaults = admin::Defaults {
                schedule: self.schedule.clone(),
                metadata: self.metadata.settings.clone(),
            };
            let mut reply = admin::answer(req, &defaults, |op| self.apply(op, now));
            reply.set_request_id(&request_id);
            reply.set_date(wall);
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
        if let Some(route) = oidc::Route::of(path) {
            match route {
                oidc::Route::IdToken => self.counters.oidc_id_token_requests += 1,
                oidc::Route::SecurityToken => self.counters.oidc_security_token_requests += 1,
            }
            if let Some(close) = stale {
                return self.close_stale(request_id, close, gateway);
            }
            let elapsed = self.started_to(shifted);
            let reply = self.oidc.answer(route, req, self.seed, elapsed, gateway);
            return self.iam_reply(request_id, reply, gateway);
        }
        if path == iam::PROJECTS_PATH {
            self.counters.iam_requests += 1;
            if let Some(close) = stale {
                return self.close_stale(request_id, close, gateway);
            }
            let reply = self.iam(req, shifted, gateway);
            return self.iam_reply(request_id, reply, gateway);
        }
        self.counters.requests += 1;
        let decided = match stale {
            Some(close) => Decided {
                delay: Duration::ZERO,
                delivery: Delivery::close(close),
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

    /// An IAM answer, with an `X-IAM-Trace-Id` as IAM sends, dated by the
    /// gateway's clock.
    fn iam_reply(&mut self, request_id: String, mut reply: Reply, gateway: SystemTime) -> Decision {
        let trace = format!(
            "{:016x}{:016x}",
            mix64(self.run_id ^ IAM_SALT ^ self.served),
            mix64(self.served.wrapping_add(IAM_SALT))
        );
        if let Ok(v) = HeaderValue::from_str(&trace) {
            reply.headers.insert(X_IAM_TRACE_ID, v);
        }
        let delivery = Delivery::Respond(reply);
        self.finish(request_id, Duration::ZERO, delivery, None, None, gateway)
    }

    /// A request on a stale connection: closed unanswered.
    fn close_stale(&mut self, request_id: String, close: CloseWith, date: SystemTime) -> Decision {
        let fault = Some(FaultKind::StaleConnection);
        self.finish(
            request_id,
            Duration::ZERO,
            Delivery::close(close),
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
        let r = reply::too_large(limit);
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
            let r = respond(reply::gateway_not_found(None));
            return self.finish(request_id, Duration::ZERO, r, None, None, wall);
        }
        let now = self.shift(now);
        let delay = self.metadata.settings.faults.latency.unwrap_or_default();
        if let Some(b) = self.metadata_bucket.as_mut()
            && let Err(wait) = b.try_acquire(now)
        {
            let r = respond(reply::proxy_throttled(retry_after_secs(wait)));
            let kind = Some(FaultKind::RateLimit);
            return self.finish(request_id, delay, r, kind, None, wall);
        }
        let elapsed = now.saturating_duration_since(self.started);
        let normal = self.metadata.answer(route, req, self.seed, elapsed, wall);
        let (delivery, fault) = match self.metadata.settings.faults.draw(&mut self.rng) {
            Some(fired) => {
                let kind = fired.kind();
                (Delivery::faulty(fired, normal), Some(kind))
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
        let base = auth::header_str(req, "host")
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
                delivery: Delivery::Respond(reply::gateway_not_found(None)),
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
            let r = reply::gateway_method_not_allowed(req.method());
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
            let r = Delivery::Respond(reply::proxy_throttled(retry_after_secs(wait)));
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
            let r = reply::gateway_throttled(refusal.policy.message(), request_id);
            let r = Delivery::Respond(r);
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
        let header_project = auth::header_str(req, "x-project-id");
        if project != self.project_id || header_project.is_some_and(|p| p != self.project_id) {
            let which = if project != self.project_id {
                format!("the path names project '{project}'")
            } else {
                format!(
                    "X-Project-Id names project '{}'",
                    header_project.unwrap_or("")
                )
            };
            let r = reply::wrong_project(&which, &self.project_id);
            return out(delay, Delivery::Respond(r), None, None);
        }

        let normal = match inst_id.as_ref().and_then(|i| self.instances.get(i)) {
            Some(inst) => reply::status(inst.life.status()),
            None => reply::no_instance(&id, project),
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
        out(delay, Delivery::faulty(fired, normal), kind, None)
    }

    /// Checks a request's credentials at simulated `now`, against the
    /// gateway's clock `wall`: a live metadata generation, or the
    /// configured [`Auth`](crate::Auth).
    fn authenticate<B: AsRef<[u8]>>(
        &self,
        req: &Request<B>,
        now: Instant,
        wall: SystemTime,
    ) -> Result<(), Denied> {
        if let Some(ak) = auth::access_key_of(req)
            && let Some(issued) = self.oidc.issued(&ak)
        {
            // Temporary credentials from OIDC federation.
            if self.started_to(now) >= issued.expires {
                return Err(Denied::CredentialsExpired);
            }
            let keys = Keys {
                access_key: &ak,
                secret_key: issued.secret_key.expose(),
                security_token: Some(issued.security_token.expose()),
            };
            return keys.verify(req, wall, self.max_skew);
        }
        if self.metadata.settings.enabled
            && let Some(k) =
                auth::access_key_of(req).and_then(|ak| metadata::generation_of(self.seed, &ak))
        {
            return self.authenticate_generation(req, k, now, wall);
        }
        self.auth.check(req, wall, self.max_skew)
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
        let keys = Keys {
            access_key: &g.access_key,
            secret_key: g.secret_key.expose(),
            security_token: Some(g.security_token.expose()),
        };
        keys.verify(req, wall, self.max_skew)
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
        if let Some(r) = delivery.reply_mut() {
            r.set_request_id(&request_id);
            r.set_date(date);
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
