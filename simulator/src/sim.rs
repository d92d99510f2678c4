//! The simulator's heart: instances, faults, counters and one decision per
//! request, with the time passed in and no IO.
//!
//! Owns the live state of the simulated services (instances and their life
//! cycles, faults and token buckets, the gateway's flow-control counts, the
//! metadata service's state, IAM's projects and OIDC federation, the clocks, counters and the
//! request log) and the two ways it changes: a request, answered with a
//! [`Decision`](crate::Decision) (`request`: routing, the order of checks,
//! rate limits, fault draws, request ids and `Date`), and an
//! [`Op`](crate::Op), carried out by [`Simulator::apply`] (`apply`, the one
//! place an admin or control operation is done). Replies are built by
//! `reply`, credentials checked by `auth`, the metadata and IAM answers
//! built by [`metadata`] and `iam`, admin requests read and rendered by
//! [`admin`](crate::admin). Must not read a clock, sleep or touch a socket
//! (the crate's `clippy.toml` bans clock reads and sleeps outside the
//! server shell): the shell performs the decision.

mod apply;
mod request;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use clouddc_core::{InstanceState, SplitMix64, mix64};

use crate::arrivals::{Arrivals, RequestLog, RequestRecord};
use crate::auth::Auth;
use crate::bucket::TokenBucket;
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::flow::{FlowControl, FlowPolicy};
use crate::iam::IamProject;
use crate::lifecycle::{Action, Lifecycle, Schedule};
use crate::metadata::{self, CredentialGeneration, Metadata};
use crate::oidc::{self, Oidc};
use crate::view::{
    Counters, CountersSnapshot, InstanceCounters, InstanceView, NextTransition, TransitionView,
};

#[derive(Debug, Clone)]
struct Instance {
    seq: u64,
    life: Lifecycle,
    faults: Faults,
    bucket: Option<TokenBucket>,
    counters: InstanceCounters,
}

/// The simulated service. Every method that depends on time takes `now`
/// (monotonic) and, for signature dates, `wall`: [`handle`](Self::handle)
/// answers a request, [`apply`](Self::apply) carries out an
/// [`Op`](crate::Op), and
/// the other methods read the state.
///
/// ```
/// use clouddc_simulator::{Schedule, SimConfig, Simulator};
/// use clouddc_core::{http, InstanceState};
/// use std::time::{Duration, Instant, SystemTime};
///
/// let t0 = Instant::now();
/// let mut sim = Simulator::new(&SimConfig::default(), t0);
/// let id = sim.create_instance(Schedule::pending_for(Duration::from_secs(3)), t0).unwrap().id;
/// let req = http::Request::get(format!("/v1/{}/instances/{id}/status", sim.project_id()))
///     .header("X-Auth-Token", "any").body(Vec::new()).unwrap();
/// let at = |s| t0 + Duration::from_secs(s);
/// let body = |d: clouddc_simulator::Decision| d.reply().unwrap().body.clone();
/// assert_eq!(body(sim.handle(&req, at(1), SystemTime::now())), r#"{"state":"pending","operation_state":"install-processing"}"#);
/// assert_eq!(body(sim.handle(&req, at(3), SystemTime::now())), r#"{"state":"running","operation_state":"install-succeed"}"#);
/// ```
#[derive(Debug, Clone)]
pub struct Simulator {
    project_id: String,
    auth: Auth,
    max_skew: Duration,
    initial_metadata: Metadata,
    metadata: metadata::State,
    metadata_bucket: Option<TokenBucket>,
    initial_iam_projects: Vec<IamProject>,
    iam_projects: Vec<IamProject>,
    initial_oidc: Oidc,
    oidc: oidc::State,
    initial_clock_offset_secs: i64,
    clock_offset_secs: i64,
    seed: u64,
    schedule: Schedule,
    initial_faults: Faults,
    initial_instances: usize,
    started: Instant,
    skipped: Duration,
    rng: SplitMix64,
    run_id: u64,
    served: u64,
    created: u64,
    instances: BTreeMap<String, Instance>,
    faults: Faults,
    bucket: Option<TokenBucket>,
    initial_flow: Vec<FlowPolicy>,
    flow: FlowControl,
    counters: Counters,
    arrivals: Arrivals,
}

/// The longest total clock jump: 10 years.
const MAX_SKIPPED: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

fn ms_ceil(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

fn ms_floor(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Simulator {
    /// A simulator for `config`, started at `now`, with the configured
    /// number of instances created at `now` from a fixed mix of life cycles
    /// (based on the configured schedule), in this order and then again
    /// from the top, so that even a small fleet shows the life cycle:
    ///
    /// | position | life |
    /// |---|---|
    /// | 1 | `pending` for 1–5 s, then `running` |
    /// | 2 | `running` |
    /// | 3 | `stopped` |
    /// | 4 | `pending` for 1–5 s, then `running` |
    /// | 5 | `running` |
    /// | 6 | `pending` for 1–5 s, then `running` |
    /// | 7 | `pending` for 2–6 s, then `error` (creation fails) |
    /// | 8 | `running` |
    /// | 9 | `pending` for 1–5 s, then `running` |
    /// | 10 | `shutting-down` for 3–8 s, then `terminated` |
    ///
    /// (40 % become `running` within seconds, 30 % are `running`, 10 %
    /// each `stopped`, failing and being deleted.) The durations are fixed
    /// by the seed.
    /// Their ids are `ins-` and 8 hex digits, fixed by the seed.
    pub fn new(config: &SimConfig, now: Instant) -> Self {
        let seed = config.seed();
        let mut sim = Self {
            project_id: config.project_id().to_owned(),
            auth: config.auth().clone(),
            max_skew: config.max_skew(),
            initial_metadata: config.metadata().clone(),
            metadata: metadata::State::new(config.metadata().clone()),
            metadata_bucket: config
                .metadata()
                .faults
                .rate_limit
                .as_ref()
                .map(TokenBucket::new),
            initial_iam_projects: config.iam_projects(),
            iam_projects: config.iam_projects(),
            initial_oidc: config.oidc().clone(),
            oidc: oidc::State::new(config.oidc().clone()),
            initial_clock_offset_secs: config.clock_offset_secs(),
            clock_offset_secs: config.clock_offset_secs(),
            seed,
            schedule: config.schedule().clone(),
            initial_faults: config.faults().clone(),
            initial_instances: config.instances(),
            started: now,
            skipped: Duration::ZERO,
            rng: SplitMix64::new(seed),
            run_id: mix64(seed ^ 0x5EED_0FC1_0DDC_0001),
            served: 0,
            created: 0,
            instances: BTreeMap::new(),
            faults: Faults::default(),
            bucket: None,
            initial_flow: config.flow_policies().to_vec(),
            flow: FlowControl::new(config.flow_policies()),
            counters: Counters::default(),
            arrivals: Arrivals::default(),
        };
        sim.populate(config.instances(), now);
        sim
    }

    fn populate(&mut self, n: usize, now: Instant) {
        /// The life cycles of [`Simulator::new`]'s table, by position.
        #[derive(Clone, Copy)]
        enum Life {
            Pending,
            Running,
            Stopped,
            Failing,
            Deleting,
        }
        use Life::{Deleting, Failing, Pending, Running, Stopped};
        const MIX: [Life; 10] = [
            Pending, Running, Stopped, Pending, Running, Pending, Failing, Running, Pending,
            Deleting,
        ];
        self.rng = SplitMix64::new(self.seed);
        self.instances.clear();
        self.install_faults(self.initial_faults.clone());
        for life in MIX.iter().cycle().take(n) {
            let id = self.fresh_id();
            let base = Schedule {
                pending: Duration::ZERO,
                create_fails: false,
                ..self.schedule.clone()
            };
            let secs = |rng: &mut SplitMix64, lo: u64, hi: u64| {
                Duration::from_millis(rng.between(lo * 1000, hi * 1000))
            };
            let (schedule, then): (Schedule, Option<Action>) = match life {
                Pending => (
                    Schedule {
                        pending: secs(&mut self.rng, 1, 5),
                        ..base
                    },
                    None,
                ),
                Running => (base, None),
                Stopped => (
                    Schedule {
                        stopping: Duration::ZERO,
                        ..base
                    },
                    Some(Action::PowerOff),
                ),
                Failing => (
                    Schedule {
                        pending: secs(&mut self.rng, 2, 6),
                        create_fails: true,
                        ..base
                    },
                    None,
                ),
                Deleting => (
                    Schedule {
                        shutting_down: secs(&mut self.rng, 3, 8),
                        ..base
                    },
                    Some(Action::Delete { fail: false }),
                ),
            };
            let mut life = Lifecycle::create(schedule, now);
            if let Some(a) = then {
                // Cannot be refused: the instance is running at `now`.
                let _ = life.apply(&a, now);
            }
            self.insert(id, life, Faults::default());
        }
    }

    fn fresh_id(&mut self) -> String {
        loop {
            let id = format!("ins-{:08x}", self.rng.next_u64() >> 32);
            if !self.instances.contains_key(&id) {
                return id;
            }
        }
    }

    fn insert(&mut self, id: String, life: Lifecycle, faults: Faults) {
        self.created += 1;
        let bucket = faults.rate_limit.as_ref().map(TokenBucket::new);
        self.instances.insert(
            id,
            Instance {
                seq: self.created,
                life,
                faults,
                bucket,
                counters: InstanceCounters::default(),
            },
        );
    }

    fn install_faults(&mut self, faults: Faults) {
        self.bucket = faults.rate_limit.as_ref().map(TokenBucket::new);
        self.faults = faults;
    }

    /// Simulated time: `now` plus every [`Op::AdvanceClock`](crate::Op::AdvanceClock).
    fn shift(&self, now: Instant) -> Instant {
        now.checked_add(self.skipped).unwrap_or(now)
    }

    /// The project id served.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The schedule of instances created without one.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The auth mode (`any_token`, `token`, `ak_sk`).
    pub fn auth_mode(&self) -> &'static str {
        self.auth.mode()
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// When the simulator started (real, monotonic time): the origin of
    /// [`RequestRecord::at`] and of the arrival log.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Simulated time since start: real time plus clock jumps.
    pub fn elapsed(&self, now: Instant) -> Duration {
        self.shift(now).saturating_duration_since(self.started)
    }

    /// Simulated time since the start at an already shifted `now`.
    fn started_to(&self, shifted: Instant) -> Duration {
        shifted.saturating_duration_since(self.started)
    }

    /// Brings [`Counters::metadata_generations`] up to `now`.
    pub(crate) fn observe(&mut self, now: Instant) {
        if self.metadata.settings.enabled {
            let e = self.elapsed(now);
            let issued = self.metadata.settings.generation_at(e).saturating_add(1);
            let c = &mut self.counters.metadata_generations;
            *c = (*c).max(issued);
        }
    }

    /// The gateway's clock when this machine's reads `wall`: `wall` plus
    /// the [clock offset](Self::clock_offset_secs).
    pub fn gateway_time(&self, wall: SystemTime) -> SystemTime {
        offset_by(wall, self.clock_offset_secs)
    }

    /// The gateway's clock offset in seconds (positive: ahead).
    pub fn clock_offset_secs(&self) -> i64 {
        self.clock_offset_secs
    }

    /// The metadata service's settings (its faults as they are now: a
    /// fault whose `times` ran out is gone).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata.settings
    }

    fn install_metadata(&mut self, metadata: Metadata) {
        self.metadata_bucket = metadata.faults.rate_limit.as_ref().map(TokenBucket::new);
        self.metadata.settings = metadata;
    }

    /// The newest credential generation at `now`, as `securitykey` would
    /// answer it; `None` while the metadata service is off.
    pub fn metadata_credentials(&self, now: Instant) -> Option<CredentialGeneration> {
        let settings = &self.metadata.settings;
        settings.enabled.then(|| {
            let k = settings.generation_at(self.elapsed(now));
            metadata::generation(settings, self.seed, k)
        })
    }

    /// Credential generation `k` under the current settings (issued or
    /// not, live or not).
    pub fn metadata_generation(&self, k: u64) -> CredentialGeneration {
        metadata::generation(&self.metadata.settings, self.seed, k)
    }

    /// How many metadata session tokens are live at `now`.
    pub fn metadata_tokens(&self, now: Instant) -> usize {
        self.metadata.live_tokens(self.elapsed(now))
    }

    /// The id tokens IAM's OIDC federation received so far, in order.
    pub fn oidc_id_tokens(&self) -> &[String] {
        self.oidc.received()
    }

    /// The projects IAM lists.
    pub fn iam_projects(&self) -> &[IamProject] {
        &self.iam_projects
    }

    fn next_request_id(&mut self) -> String {
        self.served += 1;
        let n = self.served;
        format!(
            "{:016x}{:016x}",
            mix64(self.run_id ^ n),
            mix64(n.wrapping_add(self.run_id))
        )
    }

    /// Advances an instance to `now` (simulated) and drops it if forgotten.
    fn refresh(&mut self, id: &str, now: Instant) -> bool {
        let Some(inst) = self.instances.get_mut(id) else {
            return false;
        };
        inst.life.advance(now);
        if inst.life.is_forgotten() {
            self.instances.remove(id);
            return false;
        }
        true
    }

    fn view(&self, id: &str, inst: &Instance, now: Instant) -> InstanceView {
        let st = inst.life.status();
        InstanceView {
            id: id.to_owned(),
            state: st.state.clone(),
            operation_state: st.operation_state.clone(),
            error: st.error.clone(),
            next: inst
                .life
                .next_transition()
                .map(|(at, state)| NextTransition {
                    state: state.clone(),
                    in_ms: ms_ceil(at.saturating_duration_since(now)),
                }),
            counters: inst.counters.clone(),
            history: inst
                .life
                .history()
                .map(|t| TransitionView {
                    from: t.from.clone(),
                    to: t.to.clone(),
                    at_ms: ms_floor(t.at.saturating_duration_since(self.started)),
                })
                .collect(),
        }
    }

    fn view_of(&self, id: &str, now: Instant) -> InstanceView {
        match self.instances.get(id) {
            Some(inst) => self.view(id, inst, now),
            None => InstanceView {
                id: id.to_owned(),
                state: InstanceState::Unknown("forgotten".to_owned()),
                operation_state: None,
                error: None,
                next: None,
                counters: InstanceCounters::default(),
                history: Vec::new(),
            },
        }
    }

    /// The global faults in force (a fault whose `times` ran out is gone).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// One instance's faults.
    pub fn instance_faults(&self, id: &str) -> Option<&Faults> {
        self.instances.get(id).map(|i| &i.faults)
    }

    /// The gateway's flow-control policies in force, in order.
    pub fn flow_policies(&self) -> Vec<FlowPolicy> {
        self.flow.policies()
    }

    /// Every counter.
    pub fn counters(&self) -> CountersSnapshot {
        CountersSnapshot {
            global: self.counters.clone(),
            instances: self
                .instances
                .iter()
                .map(|(id, i)| (id.clone(), i.counters.clone()))
                .collect(),
        }
    }

    /// The global counters.
    pub fn global_counters(&self) -> &Counters {
        &self.counters
    }

    /// One instance's counters.
    pub fn instance_counters(&self, id: &str) -> Option<&InstanceCounters> {
        self.instances.get(id).map(|i| &i.counters)
    }

    /// When API requests arrived: how many since the start or the last
    /// reset, the most recent of them (at most
    /// [`MAX_ARRIVALS`](crate::MAX_ARRIVALS); older ones are dropped, so
    /// memory stays bounded) as real time since the start, and the most of
    /// them inside any `window` (see [`max_in_window`](crate::max_in_window)).
    ///
    /// The requests recorded are those [`Counters::requests`] counts: every
    /// request [`handle`](Self::handle) answers outside `/_sim`, whatever
    /// its outcome, and every [`body_too_large`](Self::body_too_large). Each
    /// is recorded at the `now` passed in, which is real time:
    /// [`Op::AdvanceClock`](crate::Op::AdvanceClock) does not move arrivals.
    pub fn requests(&self, window: Duration) -> RequestLog {
        self.arrivals.log(window)
    }

    /// What became of the API requests in the log (the same requests as
    /// [`requests`](Self::requests), at most
    /// [`MAX_ARRIVALS`](crate::MAX_ARRIVALS), oldest first): arrival, the
    /// instance id in the path, the status, the fault, the flow-control
    /// policy and window that refused it, the connection.
    pub fn request_records(&self) -> Vec<RequestRecord> {
        self.arrivals.records(1)
    }

    /// [`request_records`](Self::request_records) from the one numbered
    /// `seq` on (the first since the start or the last reset is 1), for
    /// reading a long run bit by bit.
    pub fn request_records_from(&self, seq: u64) -> Vec<RequestRecord> {
        self.arrivals.records(seq)
    }
}

/// `wall` moved by `secs` seconds, saturating at what `SystemTime` holds.
fn offset_by(wall: SystemTime, secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    let moved = if secs >= 0 {
        wall.checked_add(d)
    } else {
        wall.checked_sub(d)
    };
    moved.unwrap_or(wall)
}

#[cfg(test)]
// Tests pick arbitrary start instants with the real clock.
#[allow(clippy::disallowed_methods)]
mod tests;
