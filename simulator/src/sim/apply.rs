//! Carrying out operations: [`Simulator::apply`], the one place each
//! admin and control operation ([`Op`]) is done, whoever asks (the admin
//! API, [`Control`](crate::Control), a sans-IO caller).
//!
//! Owns each operation's validation and its effect on the state. Must not
//! know how an operation was asked for (HTTP or Rust) nor how its outcome
//! is shown.

use std::time::{Duration, Instant};

use clouddc_core::InstanceId;

use super::{Instance, MAX_SKIPPED, Simulator};
use crate::bucket::TokenBucket;
use crate::config::{check_clock_offset, check_instances};
use crate::error::Error;
use crate::flow::{self, FlowControl};
use crate::iam;
use crate::lifecycle::{Action, Lifecycle};
use crate::ms;
use crate::op::{NewInstance, Op, Outcome};
use crate::view::{Counters, InstanceView};

impl Simulator {
    /// Carries out `op` at `now` (monotonic, real time: each operation
    /// adds the clock jumps itself) and answers with the [`Outcome`] the
    /// operation names; invalid input changes nothing.
    ///
    /// ```
    /// # fn main() -> Result<(), clouddc_simulator::Error> {
    /// use clouddc_simulator::{Faults, Op, Outcome, ServerError, SimConfig, Simulator};
    /// use std::time::Instant;
    ///
    /// let t0 = Instant::now();
    /// let mut sim = Simulator::new(&SimConfig::default(), t0);
    /// let faults = Faults { server_error: Some(ServerError::status(503)), ..Faults::none() };
    /// assert_eq!(sim.apply(Op::SetFaults(faults.clone()), t0)?, Outcome::Faults(faults));
    /// assert!(sim.apply(Op::Instance("nope".into()), t0).is_err());
    /// # Ok(()) }
    /// ```
    pub fn apply(&mut self, op: Op, now: Instant) -> Result<Outcome, Error> {
        Ok(match op {
            Op::Info => Outcome::Info {
                project_id: self.project_id.clone(),
                auth: self.auth.mode(),
                seed: self.seed,
                instances: self.instances(now).len(),
                elapsed: self.elapsed(now),
                metadata: self.metadata.settings.enabled,
                clock_offset_secs: self.clock_offset_secs,
            },
            Op::Instances => Outcome::Instances(self.instances(now)),
            Op::CreateInstance(new) => Outcome::Instance(self.create_instance(new, now)?),
            Op::Instance(id) => match self.instance(&id, now) {
                Some(view) => Outcome::Instance(view),
                None => return Err(Error::UnknownInstance(id)),
            },
            Op::Act { id, action } => Outcome::Instance(self.act(&id, action, now)?),
            Op::Faults => {
                self.refresh_all(self.shift(now));
                Outcome::AllFaults {
                    global: self.faults.clone(),
                    instances: self
                        .instances
                        .iter()
                        .filter(|(_, i)| !i.faults.is_empty())
                        .map(|(id, i)| (id.clone(), i.faults.clone()))
                        .collect(),
                }
            }
            Op::SetFaults(faults) => {
                faults.validate().map_err(Error::Invalid)?;
                self.install_faults(faults);
                Outcome::Faults(self.faults.clone())
            }
            Op::InstanceFaults(id) => match self.instances.get(&id) {
                Some(inst) => Outcome::Faults(inst.faults.clone()),
                None => return Err(Error::UnknownInstance(id)),
            },
            Op::SetInstanceFaults { id, faults } => {
                faults.validate().map_err(Error::Invalid)?;
                faults.check_local("an instance").map_err(Error::Invalid)?;
                let Some(inst) = self.instances.get_mut(&id) else {
                    return Err(Error::UnknownInstance(id));
                };
                inst.bucket = faults.rate_limit.as_ref().map(TokenBucket::new);
                inst.faults = faults;
                Outcome::Faults(inst.faults.clone())
            }
            Op::FlowPolicies => Outcome::FlowPolicies(self.flow_policies()),
            Op::SetFlowPolicies(policies) => {
                flow::validate(&policies).map_err(Error::Invalid)?;
                self.flow = FlowControl::new(&policies);
                Outcome::FlowPolicies(self.flow_policies())
            }
            Op::Counters => {
                self.observe(now);
                Outcome::Counters(self.counters())
            }
            Op::Requests { window } => Outcome::Requests(self.requests(window)),
            Op::RequestRecords { from_seq } => {
                Outcome::RequestRecords(self.request_records_from(from_seq))
            }
            Op::Reset { instances } => {
                let n = instances.unwrap_or(self.initial_instances);
                check_instances(n).map_err(Error::Invalid)?;
                self.reset_with(n, now);
                Outcome::Instances(self.instances(now))
            }
            Op::Clock => self.clock(now),
            Op::AdvanceClock(by) => {
                ms::check("advance_ms", by).map_err(Error::Invalid)?;
                let total = self.skipped.saturating_add(by);
                if total > MAX_SKIPPED {
                    return Err(Error::Invalid(
                        "the clock was moved forward by more than 10 years in total".to_owned(),
                    ));
                }
                self.skipped = total;
                self.clock(now)
            }
            Op::SetClockOffset(secs) => {
                check_clock_offset(secs).map_err(Error::Invalid)?;
                self.clock_offset_secs = secs;
                self.clock(now)
            }
            Op::Metadata => Outcome::Metadata(self.metadata.settings.clone()),
            Op::SetMetadata(metadata) => {
                metadata.validate().map_err(Error::Invalid)?;
                self.install_metadata(metadata);
                Outcome::Metadata(self.metadata.settings.clone())
            }
            Op::MetadataGenerations => {
                let settings = &self.metadata.settings;
                let elapsed = self.elapsed(now);
                Outcome::Generations {
                    newest: self.metadata_credentials(now),
                    oldest_live: settings.enabled.then(|| settings.oldest_live_at(elapsed)),
                    issued: self.counters.metadata_generations,
                    session_tokens: self.metadata_tokens(now),
                }
            }
            Op::RevokeMetadataTokens => {
                let elapsed = self.elapsed(now);
                Outcome::Revoked(self.metadata.revoke_tokens(elapsed))
            }
            Op::IamProjects => Outcome::IamProjects(self.iam_projects.clone()),
            Op::SetIamProjects(projects) => {
                iam::validate(&projects).map_err(Error::Invalid)?;
                self.iam_projects = projects;
                Outcome::IamProjects(self.iam_projects.clone())
            }
            Op::Oidc => Outcome::Oidc(self.oidc.settings.clone()),
            Op::SetOidc(oidc) => {
                oidc.validate().map_err(Error::Invalid)?;
                self.oidc.settings = oidc;
                Outcome::Oidc(self.oidc.settings.clone())
            }
            Op::OidcIdTokens => Outcome::IdTokens(self.oidc.received().to_vec()),
        })
    }

    /// Creates an instance at `now`: [`Op::CreateInstance`], typed, for
    /// code that holds the simulator (such as
    /// [`Control::with`](crate::Control::with)).
    pub fn create_instance(
        &mut self,
        new: impl Into<NewInstance>,
        now: Instant,
    ) -> Result<InstanceView, Error> {
        let now = self.shift(now);
        let new = new.into();
        let schedule = new.schedule.unwrap_or_else(|| self.schedule.clone());
        schedule.validate().map_err(Error::Invalid)?;
        new.faults.validate().map_err(Error::Invalid)?;
        new.faults
            .check_local("an instance")
            .map_err(Error::Invalid)?;
        let id = match new.id {
            Some(id) => {
                let id = InstanceId::new(id).map_err(|e| Error::Invalid(e.to_string()))?;
                let id = id.as_str().to_owned();
                self.refresh(&id, now);
                if self.instances.contains_key(&id) {
                    return Err(Error::Duplicate(id));
                }
                id
            }
            None => self.fresh_id(),
        };
        if self.instances.len() >= 1_000_000 {
            return Err(Error::Invalid(
                "the simulator holds 1000000 instances already".to_owned(),
            ));
        }
        let life = Lifecycle::create(schedule, now);
        self.insert(id.clone(), life, new.faults);
        Ok(self.view_of(&id, now))
    }

    /// Starts an admin action on instance `id` at `now` ([`Op::Act`]).
    pub(super) fn act(
        &mut self,
        id: &str,
        action: Action,
        now: Instant,
    ) -> Result<InstanceView, Error> {
        let now = self.shift(now);
        if !self.refresh(id, now) {
            return Err(Error::UnknownInstance(id.to_owned()));
        }
        let Some(inst) = self.instances.get_mut(id) else {
            return Err(Error::UnknownInstance(id.to_owned()));
        };
        inst.life.apply(&action, now).map_err(|r| Error::Conflict {
            id: id.to_owned(),
            state: r.state,
            action: r.action,
            reason: r.reason,
        })?;
        Ok(self.view_of(id, now))
    }

    /// One instance as of `now` ([`Op::Instance`]).
    pub(super) fn instance(&mut self, id: &str, now: Instant) -> Option<InstanceView> {
        let now = self.shift(now);
        self.refresh(id, now).then(|| self.view_of(id, now))
    }

    /// Every instance as of `now`, in creation order ([`Op::Instances`]).
    pub(super) fn instances(&mut self, now: Instant) -> Vec<InstanceView> {
        let now = self.shift(now);
        self.refresh_all(now);
        let mut all: Vec<(&String, &Instance)> = self.instances.iter().collect();
        all.sort_by_key(|(_, i)| i.seq);
        all.into_iter()
            .map(|(id, inst)| self.view(id, inst, now))
            .collect()
    }

    /// Advances every instance to `now` (simulated) and drops the forgotten.
    fn refresh_all(&mut self, now: Instant) {
        for inst in self.instances.values_mut() {
            inst.life.advance(now);
        }
        self.instances.retain(|_, i| !i.life.is_forgotten());
    }

    /// Back to the state at start with `instances` seeded instances
    /// ([`Op::Reset`]).
    pub(super) fn reset_with(&mut self, instances: usize, now: Instant) {
        self.skipped = Duration::ZERO;
        self.counters = Counters::default();
        self.arrivals.clear();
        self.flow = FlowControl::new(&self.initial_flow);
        self.install_metadata(self.initial_metadata.clone());
        self.metadata.revoke_tokens(Duration::ZERO);
        self.iam_projects = self.initial_iam_projects.clone();
        self.oidc.reset(self.initial_oidc.clone());
        self.clock_offset_secs = self.initial_clock_offset_secs;
        self.populate(instances, now);
    }

    /// [`Outcome::Clock`] at `now`.
    fn clock(&self, now: Instant) -> Outcome {
        Outcome::Clock {
            elapsed: self.elapsed(now),
            clock_offset_secs: self.clock_offset_secs,
        }
    }
}
