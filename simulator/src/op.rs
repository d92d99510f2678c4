//! Operations: the one list of what can be done to a simulator from
//! outside its API ([`Op`]), and what each answers ([`Outcome`]).
//!
//! Every admin route and every [`Control`](crate::Control) method builds an
//! [`Op`] and hands it to [`Simulator::apply`](crate::Simulator::apply),
//! the only place an operation is carried out; so Rust callers and HTTP
//! callers get the same behaviour, and a new operation is added here, in
//! `apply`, and (if HTTP should reach it) in the admin router. Owns the
//! operations' inputs and outputs as plain data. Must not carry an
//! operation out, know about HTTP or JSON routes (the admin module maps
//! them), or read a clock.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::arrivals::{RequestLog, RequestRecord};
use crate::error::Error;
use crate::faults::Faults;
use crate::flow::FlowPolicy;
use crate::iam::IamProject;
use crate::lifecycle::{Action, Schedule};
use crate::metadata::{CredentialGeneration, Metadata};
use crate::oidc::Oidc;
use crate::view::{CountersSnapshot, InstanceView};

/// One operation on a simulator, as the admin API and
/// [`Control`](crate::Control) carry it out: apply it with
/// [`Control::apply`](crate::Control::apply) or
/// [`Simulator::apply`](crate::Simulator::apply). Each names the
/// [`Outcome`] it answers with and its admin route (see
/// [`admin`](crate::admin)).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use clouddc_simulator::{start_blocking_default, Action, NewInstance, Op, Schedule};
/// use clouddc_core::InstanceState;
/// use std::time::Duration;
///
/// let sim = start_blocking_default()?;
/// let control = sim.control();
/// let new = NewInstance::new().with_id("ins-1").with_schedule(Schedule::pending_for(Duration::from_secs(30)));
/// control.apply(Op::CreateInstance(new))?;
/// // Thirty seconds later, without waiting them.
/// control.apply(Op::AdvanceClock(Duration::from_secs(30)))?;
/// let view = control.apply(Op::Instance("ins-1".into()))?.into_instance()?;
/// assert_eq!(view.state, InstanceState::Running);
/// let view = control.apply(Op::Act { id: "ins-1".into(), action: Action::PowerOff })?.into_instance()?;
/// assert_eq!(view.state, InstanceState::Stopping);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// What the simulator serves and how (project, auth mode, seed, number
    /// of instances, simulated time, metadata on or off, clock offset):
    /// [`Outcome::Info`]. `GET /_sim`.
    Info,
    /// Every instance now, in creation order: [`Outcome::Instances`]. `GET
    /// /_sim/instances`.
    Instances,
    /// Creates an instance now: [`Outcome::Instance`]; an id in use is
    /// [`Error::Duplicate`]. `POST /_sim/instances`.
    CreateInstance(NewInstance),
    /// One instance now: [`Outcome::Instance`], or
    /// [`Error::UnknownInstance`]. `GET /_sim/instances/{id}`.
    Instance(String),
    /// Starts an action on an instance now: [`Outcome::Instance`]; an
    /// action its state does not allow is [`Error::Conflict`]. `POST
    /// /_sim/instances/{id}/{delete|power-off|power-on|reinstall|fail}`.
    Act {
        /// The instance.
        id: String,
        /// The action.
        action: Action,
    },
    /// The global faults in force and every instance's non-empty ones:
    /// [`Outcome::AllFaults`]. `GET /_sim/faults`.
    Faults,
    /// Replaces the global faults (the rate limit's bucket starts full):
    /// [`Outcome::Faults`], those now in force. `PUT /_sim/faults`.
    SetFaults(Faults),
    /// One instance's faults: [`Outcome::Faults`]. `GET
    /// /_sim/instances/{id}/faults`.
    InstanceFaults(String),
    /// Replaces one instance's faults: [`Outcome::Faults`], those now in
    /// force. `PUT /_sim/instances/{id}/faults`.
    SetInstanceFaults {
        /// The instance.
        id: String,
        /// Its faults (no stale-connection fault: that one is global).
        faults: Faults,
    },
    /// The gateway's flow-control policies in force, in order:
    /// [`Outcome::FlowPolicies`]. `GET /_sim/flow-control`.
    FlowPolicies,
    /// Replaces the gateway's flow-control policies (any number up to
    /// [`MAX_FLOW_POLICIES`](crate::MAX_FLOW_POLICIES), none included: flow
    /// control off). Counting starts afresh: every policy's current window
    /// counts only calls from now on; windows stay aligned to the start.
    /// [`Outcome::FlowPolicies`]. `PUT /_sim/flow-control`.
    SetFlowPolicies(Vec<FlowPolicy>),
    /// Every counter, [`Counters::metadata_generations`](crate::Counters::metadata_generations)
    /// brought up to now: [`Outcome::Counters`]. `GET /_sim/counters`.
    Counters,
    /// When the API requests arrived and the most of them inside any
    /// `window` (see [`Simulator::requests`](crate::Simulator::requests)):
    /// [`Outcome::Requests`]. `GET /_sim/requests?window_ms=N`.
    Requests {
        /// The sliding window.
        window: Duration,
    },
    /// What became of the API requests in the log, from the one numbered
    /// `from_seq` on (see
    /// [`Simulator::request_records_from`](crate::Simulator::request_records_from)):
    /// [`Outcome::RequestRecords`]. `GET
    /// /_sim/requests?records=true&from_seq=N`.
    RequestRecords {
        /// The first record's number (the first since the start or the
        /// last reset is 1).
        from_seq: u64,
    },
    /// Back to the state at start: the configured instances (same ids,
    /// same schedules, from now) or `instances` seeded ones (at most
    /// 100000), the configured faults, flow-control policies (counted
    /// afresh), metadata settings (no session tokens), IAM projects, OIDC federation
    /// (nothing received or issued) and
    /// clock offset, zero counters, an empty request log, no clock jumps.
    /// Request ids keep counting, so they stay unique.
    /// [`Outcome::Instances`]. `POST /_sim/reset`.
    Reset {
        /// How many seeded instances; the configured number when `None`.
        instances: Option<usize>,
    },
    /// Simulated time since the start and the gateway's clock offset:
    /// [`Outcome::Clock`]. `GET /_sim/clock`.
    Clock,
    /// Moves simulated time forward for every instance, rate limit,
    /// flow-control window and metadata generation (real delays such as
    /// latency, and the request log's arrival times, are unaffected); at
    /// most 10 years in all. [`Outcome::Clock`]. `POST /_sim/clock`.
    AdvanceClock(Duration),
    /// Sets the gateway's clock offset in seconds (positive: ahead of this
    /// machine's clock; at most
    /// [`MAX_CLOCK_OFFSET_SECS`](crate::MAX_CLOCK_OFFSET_SECS) either way):
    /// the `Date` of gateway and IAM answers and the time `X-Sdk-Date` is
    /// checked against. [`Outcome::Clock`]. `PUT /_sim/clock`.
    SetClockOffset(i64),
    /// The metadata service's settings in force (its faults as they are
    /// now: a fault whose `times` ran out is gone): [`Outcome::Metadata`].
    /// `GET /_sim/metadata`.
    Metadata,
    /// Replaces the metadata service's settings (its rate limit's bucket
    /// starts full). Session tokens handed out stay valid; the rotation
    /// schedule is always counted from the start, so new `rotation` or
    /// `lifetime` values apply to every generation at once.
    /// [`Outcome::Metadata`]. `PUT /_sim/metadata` (a patch: fields left
    /// out keep their value).
    SetMetadata(Metadata),
    /// The metadata service's credential generations now:
    /// [`Outcome::Generations`]. `GET /_sim/metadata/generations` (which
    /// shows no secrets).
    MetadataGenerations,
    /// Forgets every metadata session token, so the next `securitykey`
    /// request with one gets 401: [`Outcome::Revoked`], how many were
    /// live. `POST /_sim/metadata/revoke-tokens`.
    RevokeMetadataTokens,
    /// The projects IAM lists: [`Outcome::IamProjects`]. `GET /_sim/iam`.
    IamProjects,
    /// Replaces the projects IAM lists (any number up to 1000, zero
    /// included): [`Outcome::IamProjects`]. `PUT /_sim/iam`.
    SetIamProjects(Vec<IamProject>),
    /// IAM's OIDC federation settings: [`Outcome::Oidc`]. `GET
    /// /_sim/oidc`.
    Oidc,
    /// Replaces IAM's OIDC federation settings (subject tokens and
    /// credentials issued stay valid; a new accepted token is how a
    /// rotated one is accepted): [`Outcome::Oidc`]. `PUT /_sim/oidc`.
    SetOidc(Oidc),
    /// The id tokens OIDC federation received so far, in order (the
    /// newest 10000): [`Outcome::IdTokens`]. `GET /_sim/oidc/id-tokens`.
    OidcIdTokens,
}

/// What an [`Op`] answers with; each operation names its outcome.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// What the simulator serves and how ([`Op::Info`]).
    Info {
        /// The project id served.
        project_id: String,
        /// The auth mode: `any_token`, `token` or `ak_sk`.
        auth: &'static str,
        /// The seed.
        seed: u64,
        /// How many instances exist now.
        instances: usize,
        /// Simulated time since the start.
        elapsed: Duration,
        /// Whether the metadata service is on.
        metadata: bool,
        /// The gateway's clock offset in seconds (positive: ahead).
        clock_offset_secs: i64,
    },
    /// One instance.
    Instance(InstanceView),
    /// Instances, in creation order.
    Instances(Vec<InstanceView>),
    /// Faults (global or one instance's).
    Faults(Faults),
    /// The global faults and every instance's non-empty ones.
    AllFaults {
        /// The global faults.
        global: Faults,
        /// By instance id; instances without faults are left out.
        instances: BTreeMap<String, Faults>,
    },
    /// The gateway's flow-control policies, in order.
    FlowPolicies(Vec<FlowPolicy>),
    /// Every counter.
    Counters(CountersSnapshot),
    /// The arrival log.
    Requests(RequestLog),
    /// What became of the requests in the log, oldest first.
    RequestRecords(Vec<RequestRecord>),
    /// The simulator's clocks.
    Clock {
        /// Simulated time since the start (real time plus clock jumps).
        elapsed: Duration,
        /// The gateway's clock offset in seconds (positive: ahead).
        clock_offset_secs: i64,
    },
    /// The metadata service's settings.
    Metadata(Metadata),
    /// The metadata service's credential generations.
    Generations {
        /// The newest generation, as `securitykey` answers it now; `None`
        /// while the service is off.
        newest: Option<CredentialGeneration>,
        /// The oldest generation still accepted (the newest's number is
        /// the newest accepted); `None` while the service is off.
        oldest_live: Option<u64>,
        /// [`Counters::metadata_generations`](crate::Counters::metadata_generations).
        issued: u64,
        /// How many session tokens are live.
        session_tokens: usize,
    },
    /// How many metadata session tokens were revoked.
    Revoked(usize),
    /// The projects IAM lists.
    IamProjects(Vec<IamProject>),
    /// IAM's OIDC federation settings.
    Oidc(Oidc),
    /// The id tokens OIDC federation received, in order.
    IdTokens(Vec<String>),
}

impl Outcome {
    /// The view of [`Outcome::Instance`].
    pub fn into_instance(self) -> Result<InstanceView, Error> {
        match self {
            Self::Instance(v) => Ok(v),
            _ => Err(unexpected("an instance")),
        }
    }

    /// The views of [`Outcome::Instances`].
    pub fn into_instances(self) -> Result<Vec<InstanceView>, Error> {
        match self {
            Self::Instances(v) => Ok(v),
            _ => Err(unexpected("instances")),
        }
    }

    /// The counters of [`Outcome::Counters`].
    pub fn into_counters(self) -> Result<CountersSnapshot, Error> {
        match self {
            Self::Counters(c) => Ok(c),
            _ => Err(unexpected("counters")),
        }
    }

    /// The log of [`Outcome::Requests`].
    pub fn into_request_log(self) -> Result<RequestLog, Error> {
        match self {
            Self::Requests(log) => Ok(log),
            _ => Err(unexpected("the request log")),
        }
    }

    /// The records of [`Outcome::RequestRecords`].
    pub fn into_request_records(self) -> Result<Vec<RequestRecord>, Error> {
        match self {
            Self::RequestRecords(r) => Ok(r),
            _ => Err(unexpected("request records")),
        }
    }

    /// The newest credential generation of [`Outcome::Generations`].
    pub fn into_newest_credentials(self) -> Result<Option<CredentialGeneration>, Error> {
        match self {
            Self::Generations { newest, .. } => Ok(newest),
            _ => Err(unexpected("credential generations")),
        }
    }
}

/// Taking a value an outcome does not hold: each [`Op`] names its
/// outcome, so within this crate this is a bug.
fn unexpected(wanted: &str) -> Error {
    Error::Invalid(format!("the operation's outcome holds no {wanted}"))
}

/// An instance to create.
///
/// JSON: `{"id": "ins-1", "schedule": {"pending_ms": 500}, "faults": {...}}`,
/// every field optional (a random id, the simulator's schedule, no faults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewInstance {
    /// The id; random (from the seed) when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its schedule; the simulator's default when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Faults for this instance only.
    #[serde(skip_serializing_if = "Faults::is_empty")]
    pub faults: Faults,
}

impl NewInstance {
    /// A random id, the default schedule, no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// With this schedule.
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = Some(schedule);
        self
    }

    /// With these faults.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
}

impl From<Schedule> for NewInstance {
    fn from(schedule: Schedule) -> Self {
        Self::new().with_schedule(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_what_an_outcome_does_not_hold_is_an_error_not_a_panic() {
        assert_eq!(
            Outcome::Revoked(2)
                .into_counters()
                .map(drop)
                .unwrap_err()
                .kind(),
            "invalid"
        );
        let log = Outcome::Requests(RequestLog::default()).into_request_log();
        assert_eq!(log.unwrap(), RequestLog::default());
        assert!(Outcome::Instances(Vec::new()).into_instance().is_err());
    }
}
