//! The instance life cycle: states, scheduled transitions and the admin
//! actions that start them, with the time passed in.
//!
//! Owns which action is allowed in which state, what each transition sets
//! (`operation_state`, `error`), and evaluating scheduled transitions lazily
//! from `now` (no timers). Must not know about HTTP, auth or faults.
//!
//! ```text
//!  create ──▶ pending ──(pending_ms)──▶ running ◀──(power_on_ms)── stopped
//!               │  └──(create fails)──▶ error ──power-on──▶ running
//!               └──delete──▶ shutting-down ──(shutting_down_ms)──▶ terminated
//!  running ──power-off──▶ stopping ──(stopping_ms)──▶ stopped
//!  stopped | failed ──reinstall──▶ reinstalling ──(reinstalling_ms)──▶ running | failed
//!  running | stopped | error ──delete──▶ shutting-down ──▶ terminated | error
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use clouddc_core::{ErrorStatus, ErrorType, InstanceState, InstanceStatus, OperationState};
use serde::{Deserialize, Serialize};

use crate::ms;

/// How long each phase of an instance's life lasts.
///
/// JSON (every field optional, milliseconds):
/// `{"pending_ms": 3000, "create_fails": false, "stopping_ms": 1000,
///   "power_on_ms": 1000, "reinstalling_ms": 3000, "shutting_down_ms": 2000,
///   "forget_after_ms": null}`.
///
/// A zero duration makes the transition happen at once (it is still
/// recorded in the history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schedule {
    /// Time in `pending` after create (default 3 s).
    #[serde(rename = "pending_ms", with = "ms")]
    pub pending: Duration,
    /// Whether creation fails: `pending -> error` instead of `running`.
    pub create_fails: bool,
    /// Time in `stopping` after power off (default 1 s); zero goes straight
    /// to `stopped`, as the current API reference draws it.
    #[serde(rename = "stopping_ms", with = "ms")]
    pub stopping: Duration,
    /// Time an instance stays `stopped` after power on before `running`
    /// (default 1 s).
    #[serde(rename = "power_on_ms", with = "ms")]
    pub power_on: Duration,
    /// Time in `reinstalling` (default 3 s).
    #[serde(rename = "reinstalling_ms", with = "ms")]
    pub reinstalling: Duration,
    /// Time in `shutting-down` after delete (default 2 s).
    #[serde(rename = "shutting_down_ms", with = "ms")]
    pub shutting_down: Duration,
    /// When set, a `terminated` instance disappears this long after it
    /// terminated, and queries for it get 404 (default: kept).
    #[serde(
        rename = "forget_after_ms",
        with = "ms::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub forget_after: Option<Duration>,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            pending: Duration::from_secs(3),
            create_fails: false,
            stopping: Duration::from_secs(1),
            power_on: Duration::from_secs(1),
            reinstalling: Duration::from_secs(3),
            shutting_down: Duration::from_secs(2),
            forget_after: None,
        }
    }
}

impl Schedule {
    /// Every phase takes no time: each action's transitions happen at once.
    pub fn instant() -> Self {
        Self {
            pending: Duration::ZERO,
            create_fails: false,
            stopping: Duration::ZERO,
            power_on: Duration::ZERO,
            reinstalling: Duration::ZERO,
            shutting_down: Duration::ZERO,
            forget_after: None,
        }
    }

    /// The default schedule, `pending` for `d` then `running`.
    pub fn pending_for(d: Duration) -> Self {
        Self {
            pending: d,
            ..Self::default()
        }
    }

    /// The default schedule, `pending` for `d` then `error` (creation fails).
    pub fn failing_after(d: Duration) -> Self {
        Self {
            pending: d,
            create_fails: true,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        ms::check("pending_ms", self.pending)?;
        ms::check("stopping_ms", self.stopping)?;
        ms::check("power_on_ms", self.power_on)?;
        ms::check("reinstalling_ms", self.reinstalling)?;
        ms::check("shutting_down_ms", self.shutting_down)?;
        if let Some(f) = self.forget_after {
            ms::check("forget_after_ms", f)?;
        }
        Ok(())
    }
}

/// An admin action on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// `running -> stopping -> stopped` (or straight to `stopped`).
    PowerOff,
    /// `stopped -> running` (power on), or `error -> running` (retry provision).
    PowerOn,
    /// `stopped | failed -> reinstalling -> running`, or `-> failed` when `fail`.
    Reinstall {
        /// Make the reinstallation fail.
        fail: bool,
    },
    /// `pending | running | stopped | error -> shutting-down -> terminated`,
    /// or `-> error` when `fail`.
    Delete {
        /// Make the deletion fail.
        fail: bool,
    },
    /// The operation in progress fails now: `pending -> error | failed`,
    /// `shutting-down -> error | failed`, `reinstalling -> failed`,
    /// `stopped -> error` (provision failed).
    Fail {
        /// The failure state (`error` or `failed`); `None` picks the one the
        /// API reference uses (`failed` for `reinstalling`, else `error`).
        to: Option<InstanceState>,
    },
}

impl Action {
    /// The action's name in the admin API (`power-off`, `delete`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::PowerOff => "power-off",
            Self::PowerOn => "power-on",
            Self::Reinstall { .. } => "reinstall",
            Self::Delete { .. } => "delete",
            Self::Fail { .. } => "fail",
        }
    }
}

/// Whether API.md allows `from -> to` (`from` is `None` for creation).
///
/// The union of the API reference's transitions and the vendor Go model's
/// extra ones (`stopping`, `reinstalling`, `failed`).
pub fn is_allowed_transition(from: Option<&InstanceState>, to: &InstanceState) -> bool {
    use InstanceState as S;
    let Some(from) = from else {
        return *to == S::Pending;
    };
    matches!(
        (from, to),
        (
            S::Pending,
            S::Running | S::Error | S::ShuttingDown | S::Failed
        ) | (S::Running, S::Stopped | S::Stopping | S::ShuttingDown)
            | (S::Stopping, S::Stopped)
            | (
                S::Stopped,
                S::Running | S::Stopped | S::Error | S::Reinstalling | S::ShuttingDown
            )
            | (S::Error, S::Running | S::ShuttingDown)
            | (S::Reinstalling, S::Running | S::Failed)
            | (S::ShuttingDown, S::Terminated | S::Error | S::Failed)
            | (S::Failed, S::Reinstalling)
    )
}

/// One state change, as recorded in an instance's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state before (`None` for creation).
    pub from: Option<InstanceState>,
    /// The state after.
    pub to: InstanceState,
    /// When it happened (the scheduled instant, not when it was observed).
    pub at: Instant,
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The instance's state when the action was asked for.
    pub state: InstanceState,
    /// The action's name.
    pub action: &'static str,
    /// What would make it possible.
    pub reason: String,
}

#[derive(Debug, Clone)]
enum Next {
    Become(InstanceStatus),
    Forget,
}

#[derive(Debug, Clone)]
struct Planned {
    at: Instant,
    next: Next,
}

/// How many transitions an instance remembers.
pub(crate) const HISTORY_LEN: usize = 128;

/// One instance's life: its current status, what is scheduled next, and the
/// transitions so far.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    status: InstanceStatus,
    schedule: Schedule,
    plan: VecDeque<Planned>,
    history: VecDeque<Transition>,
    forgotten: bool,
}

fn error_status(code: &str, msg: &str, kind: ErrorType) -> ErrorStatus {
    ErrorStatus::default()
        .with_code(code)
        .with_msg(msg)
        .with_type(kind)
}

fn status(
    state: InstanceState,
    op: Option<OperationState>,
    error: Option<ErrorStatus>,
) -> InstanceStatus {
    let mut status = InstanceStatus::new(state);
    status.operation_state = op;
    status.error = error;
    status
}

fn create_failed(to: InstanceState) -> InstanceStatus {
    status(
        to,
        Some(OperationState::InstallFailed),
        Some(error_status(
            "CLOUDDC.1001",
            "Creating the instance failed (simulated)",
            ErrorType::CreateInstanceError,
        )),
    )
}

fn delete_failed(to: InstanceState) -> InstanceStatus {
    status(
        to,
        Some(OperationState::UninstallFailed),
        Some(error_status(
            "CLOUDDC.1002",
            "Deleting the instance failed (simulated)",
            ErrorType::DeleteInstanceError,
        )),
    )
}

fn reinstall_failed() -> InstanceStatus {
    status(
        InstanceState::Failed,
        Some(OperationState::ReinstallFailed),
        Some(error_status(
            "CLOUDDC.1003",
            "Reinstalling the operating system failed (simulated)",
            ErrorType::ReinstallError,
        )),
    )
}

fn provision_failed(op: Option<OperationState>) -> InstanceStatus {
    status(
        InstanceState::Error,
        op,
        Some(error_status(
            "CLOUDDC.1004",
            "Provisioning the server failed (simulated)",
            ErrorType::VerifyServerError,
        )),
    )
}

fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

impl Lifecycle {
    /// A new instance, `pending` from `now`, following `schedule`.
    pub fn create(schedule: Schedule, now: Instant) -> Self {
        let mut life = Self {
            status: status(
                InstanceState::Pending,
                Some(OperationState::InstallProcessing),
                None,
            ),
            schedule,
            plan: VecDeque::new(),
            history: VecDeque::new(),
            forgotten: false,
        };
        life.record(None, InstanceState::Pending, now);
        let done = if life.schedule.create_fails {
            create_failed(InstanceState::Error)
        } else {
            status(
                InstanceState::Running,
                Some(OperationState::InstallSucceed),
                None,
            )
        };
        life.plan_at(later(now, life.schedule.pending), done);
        life.advance(now);
        life
    }

    fn record(&mut self, from: Option<InstanceState>, to: InstanceState, at: Instant) {
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(Transition { from, to, at });
    }

    fn plan_at(&mut self, at: Instant, next: InstanceStatus) {
        self.plan.push_back(Planned {
            at,
            next: Next::Become(next),
        });
    }

    fn become_now(&mut self, next: InstanceStatus, at: Instant) {
        let from = self.status.state.clone();
        let to = next.state.clone();
        self.status = next;
        self.record(Some(from), to, at);
    }

    /// Applies every scheduled transition due at or before `now`.
    pub fn advance(&mut self, now: Instant) {
        while let Some(p) = self.plan.front() {
            if p.at > now {
                break;
            }
            let Some(p) = self.plan.pop_front() else {
                break;
            };
            match p.next {
                Next::Become(next) => {
                    let terminated = next.state == InstanceState::Terminated;
                    self.become_now(next, p.at);
                    if terminated && let Some(after) = self.schedule.forget_after {
                        self.plan.push_back(Planned {
                            at: later(p.at, after),
                            next: Next::Forget,
                        });
                    }
                }
                Next::Forget => self.forgotten = true,
            }
        }
    }

    /// The status as of the last [`advance`](Self::advance).
    pub fn status(&self) -> &InstanceStatus {
        &self.status
    }

    /// The schedule this instance follows.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Whether the instance has been forgotten (see [`Schedule::forget_after`]).
    pub fn is_forgotten(&self) -> bool {
        self.forgotten
    }

    /// The next scheduled state change: when, and to which state.
    pub fn next_transition(&self) -> Option<(Instant, &InstanceState)> {
        self.plan.iter().find_map(|p| match &p.next {
            Next::Become(s) => Some((p.at, &s.state)),
            Next::Forget => None,
        })
    }

    /// The transitions so far, oldest first (at most the last 128).
    pub fn history(&self) -> impl ExactSizeIterator<Item = &Transition> {
        self.history.iter()
    }

    fn busy(&self) -> bool {
        self.plan.iter().any(|p| matches!(p.next, Next::Become(_)))
    }

    /// Starts `action` at `now` (after applying what was due).
    pub fn apply(&mut self, action: &Action, now: Instant) -> Result<(), Refused> {
        use InstanceState as S;
        self.advance(now);
        let state = self.status.state.clone();
        let refuse = |reason: &str| Refused {
            state: state.clone(),
            action: action.name(),
            reason: reason.to_owned(),
        };
        let busy = self.busy();
        match action {
            Action::PowerOff => {
                if state != S::Running || busy {
                    return Err(refuse("only a running instance can be powered off"));
                }
                let op = self.status.operation_state.clone();
                if self.schedule.stopping.is_zero() {
                    self.become_now(status(S::Stopped, op, None), now);
                } else {
                    self.become_now(status(S::Stopping, op.clone(), None), now);
                    self.plan_at(
                        later(now, self.schedule.stopping),
                        status(S::Stopped, op, None),
                    );
                }
            }
            Action::PowerOn => {
                if !matches!(state, S::Stopped | S::Error) || busy {
                    return Err(refuse(
                        "only a stopped instance (or one in error, to retry provisioning) can be powered on",
                    ));
                }
                let op = self.status.operation_state.clone();
                self.plan_at(
                    later(now, self.schedule.power_on),
                    status(S::Running, op, None),
                );
            }
            Action::Reinstall { fail } => {
                if !matches!(state, S::Stopped | S::Failed) || busy {
                    return Err(refuse(
                        "only a stopped or failed instance can be reinstalled",
                    ));
                }
                self.become_now(
                    status(
                        S::Reinstalling,
                        Some(OperationState::ReinstallProcessing),
                        None,
                    ),
                    now,
                );
                let done = if *fail {
                    reinstall_failed()
                } else {
                    status(S::Running, Some(OperationState::ReinstallSucceed), None)
                };
                self.plan_at(later(now, self.schedule.reinstalling), done);
            }
            Action::Delete { fail } => {
                let allowed = match state {
                    S::Pending => true,
                    S::Running | S::Stopped | S::Error => !busy,
                    _ => false,
                };
                if !allowed {
                    return Err(refuse(
                        "only a pending, running, stopped or error instance with no operation in progress can be deleted",
                    ));
                }
                self.plan.clear();
                self.become_now(
                    status(
                        S::ShuttingDown,
                        Some(OperationState::UninstallProcessing),
                        None,
                    ),
                    now,
                );
                let done = if *fail {
                    delete_failed(S::Error)
                } else {
                    status(S::Terminated, Some(OperationState::UninstallSucceed), None)
                };
                self.plan_at(later(now, self.schedule.shutting_down), done);
            }
            Action::Fail { to } => {
                let (default, allowed): (S, &[S]) = match state {
                    S::Pending | S::ShuttingDown => (S::Error, &[S::Error, S::Failed]),
                    S::Reinstalling => (S::Failed, &[S::Failed]),
                    S::Stopped => (S::Error, &[S::Error]),
                    _ => {
                        return Err(refuse(
                            "only a pending, stopped, reinstalling or shutting-down instance can fail",
                        ));
                    }
                };
                let to = to.clone().unwrap_or(default);
                if !allowed.contains(&to) {
                    let names: Vec<&str> = allowed.iter().map(S::as_str).collect();
                    return Err(refuse(&format!(
                        "from {state} an instance can only fail to {}",
                        names.join(" or ")
                    )));
                }
                let next = match state {
                    S::Pending => create_failed(to),
                    S::ShuttingDown => delete_failed(to),
                    S::Reinstalling => reinstall_failed(),
                    _ => provision_failed(self.status.operation_state.clone()),
                };
                self.plan.clear();
                self.become_now(next, now);
            }
        }
        self.advance(now);
        Ok(())
    }
}

#[cfg(test)]
// Tests pick arbitrary start instants with the real clock.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use InstanceState as S;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn states(l: &Lifecycle) -> Vec<String> {
        l.history().map(|t| t.to.to_string()).collect()
    }

    #[test]
    fn create_waits_in_pending_then_runs() {
        let t0 = Instant::now();
        let mut l = Lifecycle::create(Schedule::pending_for(ms(3000)), t0);
        assert_eq!(l.status().state, S::Pending);
        assert_eq!(
            l.status().operation_state,
            Some(OperationState::InstallProcessing)
        );
        assert_eq!(l.next_transition(), Some((t0 + ms(3000), &S::Running)));
        l.advance(t0 + ms(2999));
        assert_eq!(l.status().state, S::Pending);
        l.advance(t0 + ms(3000));
        assert_eq!(l.status().state, S::Running);
        assert_eq!(
            l.status().operation_state,
            Some(OperationState::InstallSucceed)
        );
        assert_eq!(l.status().error, None);
        // The transition is stamped with its scheduled time, not the observation time.
        let mut late = Lifecycle::create(Schedule::pending_for(ms(10)), t0);
        late.advance(t0 + ms(5000));
        assert_eq!(late.history().last().unwrap().at, t0 + ms(10));
        assert_eq!(states(&late), ["pending", "running"]);
    }

    #[test]
    fn failed_creation_ends_in_error_with_an_error_object() {
        let t0 = Instant::now();
        let mut l = Lifecycle::create(Schedule::failing_after(ms(100)), t0);
        l.advance(t0 + ms(100));
        assert_eq!(l.status().state, S::Error);
        assert_eq!(
            l.status().operation_state,
            Some(OperationState::InstallFailed)
        );
        let e = l.status().error.clone().unwrap();
        assert_eq!(e.error_type, Some(ErrorType::CreateInstanceError));
        assert!(e.error_code.unwrap().starts_with("CLOUDDC."));
        // Retry provisioning: error -> running, the error cleared.
        l.apply(&Action::PowerOn, t0 + ms(200)).unwrap();
        l.advance(t0 + ms(200) + Schedule::default().power_on);
        assert_eq!(l.status().state, S::Running);
        assert_eq!(l.status().error, None);
    }

    #[test]
    fn power_off_and_on() {
        let t0 = Instant::now();
        let mut l = Lifecycle::create(Schedule::instant(), t0);
        assert_eq!(l.status().state, S::Running);
        // Zero stopping time: straight to stopped (API reference).
        l.apply(&Action::PowerOff, t0).unwrap();
        assert_eq!(states(&l), ["pending", "running", "stopped"]);
        l.apply(&Action::PowerOn, t0).unwrap();
        assert_eq!(l.status().state, S::Running);

        // With a stopping time: running -> stopping -> stopped (Go model).
        let mut l = Lifecycle::create(
            Schedule {
                pending: Duration::ZERO,
                ..Schedule::default()
            },
            t0,
        );
        l.apply(&Action::PowerOff, t0).unwrap();
        assert_eq!(l.status().state, S::Stopping);
        // Nothing else is allowed while stopping.
        let refused = l.apply(&Action::PowerOn, t0 + ms(10)).unwrap_err();
        assert_eq!(refused.state, S::Stopping);
        assert_eq!(refused.action, "power-on");
        assert!(
            l.apply(&Action::Delete { fail: false }, t0 + ms(10))
                .is_err()
        );
        l.advance(t0 + ms(1000));
        assert_eq!(l.status().state, S::Stopped);
        // Power on keeps it stopped for power_on, then running.
        l.apply(&Action::PowerOn, t0 + ms(1000)).unwrap();
        assert_eq!(l.status().state, S::Stopped);
        assert!(l.apply(&Action::PowerOn, t0 + ms(1500)).is_err(), "busy");
        l.advance(t0 + ms(2000));
        assert_eq!(l.status().state, S::Running);
        assert!(l.apply(&Action::PowerOn, t0 + ms(2000)).is_err());
    }

    #[test]
    fn delete_from_pending_cancels_creation() {
        let t0 = Instant::now();
        let mut l = Lifecycle::create(Schedule::pending_for(ms(3000)), t0);
        l.apply(&Action::Delete { fail: false }, t0 + ms(500))
            .unwrap();
        assert_eq!(l.status().state, S::ShuttingDown);
        assert_eq!(
            l.status().operation_state,
            Some(OperationState::UninstallProcessing)
        );
        let done = t0 + ms(500) + Schedule::default().shutting_down;
        l.advance(done - ms(1));
        assert_eq!(l.status().state, S::ShuttingDown);
        l.advance(done);
        assert_eq!(l.status().state, S::Terminated);
        // Creation's `running` (due at 3 s) never happens.
        l.advance(t0 + ms(3000));
        assert_eq!(states(&l), ["pending", "shutting-down", "terminated"]);
        // Terminated is final.
        for a in [
            Action::PowerOn,
            Action::PowerOff,
            Action::Delete { fail: false },
            Action::Reinstall { fail: false },
            Action::Fail { to: None },
        ] {
            assert!(l.apply(&a, t0 + ms(9000)).is_err(), "{a:?}");
        }
        assert!(!l.is_forgotten());
    }

    #[test]
    fn failed_delete_and_forgetting() {
        let t0 = Instant::now();
        let mut l = Lifecycle::create(Schedule::instant(), t0);
        l.apply(&Action::Delete { fail: true }, t0).unwrap();
        assert_eq!(l.status().state, S::Error);
        assert_eq!(
            l.status().error.as_ref().unwrap().error_type,
            Some(ErrorType::DeleteInstanceError)
        );
        // Deleting again from error works.
        let sched = Schedule {
            forget_after: Some(ms(100)),
            ..Schedule::instant()
        };
        let mut l = Lifecycle::create(sched, t0);
        l.apply(&Action::Delete { fail: false }, t0).unwrap();
        assert_eq!(l.status().state, S::Terminated);
        assert!(!l.is_forgotten());
        l.advance(t0 + ms(99));
        assert!(!l.is_forgotten());
        l.advance(t0 + ms(100));
        assert!(l.is_forgotten());
    }

    #[test]
    fn reinstall_succeeds_or_fails() {
        let t0 = Instant::now();
        let sched = Schedule {
            reinstalling: ms(300),
            ..Schedule::instant()
        };
        let mut l = Lifecycle::create(sched.clone(), t0);
        // A running instance must be stopped first.
        assert!(l.apply(&Action::Reinstall { fail: false }, t0).is_err());
        l.apply(&Action::PowerOff, t0).unwrap();
        l.apply(&Action::Reinstall { fail: false }, t0).unwrap();
        assert_eq!(l.status().state, S::Reinstalling);
        assert_eq!(
            l.status().operation_state,
            Some(OperationState::ReinstallProcessing)
        );
        l.advance(t0 + ms(300));
        assert_eq!(l.status().state, S::Running);
        assert_eq!(
            l.status().operation_state,
            Some(OperationState::ReinstallSucceed)
        );

        let mut l = Lifecycle::create(sched, t0);
        l.apply(&Action::PowerOff, t0).unwrap();
        l.apply(&Action::Reinstall { fail: true }, t0).unwrap();
        l.advance(t0 + ms(300));
        assert_eq!(l.status().state, S::Failed);
        assert_eq!(
            l.status().error.as_ref().unwrap().error_type,
            Some(ErrorType::ReinstallError)
        );
        // failed -> reinstalling (retry) is the only way out.
        assert!(
            l.apply(&Action::Delete { fail: false }, t0 + ms(300))
                .is_err()
        );
        l.apply(&Action::Reinstall { fail: false }, t0 + ms(300))
            .unwrap();
        l.advance(t0 + ms(600));
        assert_eq!(l.status().state, S::Running);
        assert_eq!(l.status().error, None);
    }

    #[test]
    fn fail_picks_the_state_each_model_uses() {
        let t0 = Instant::now();
        let mut l = Lifecycle::create(Schedule::pending_for(ms(1000)), t0);
        l.apply(&Action::Fail { to: None }, t0).unwrap();
        assert_eq!(l.status().state, S::Error);
        l.advance(t0 + ms(5000));
        assert_eq!(l.status().state, S::Error, "creation's plan was cancelled");

        let mut l = Lifecycle::create(Schedule::pending_for(ms(1000)), t0);
        l.apply(
            &Action::Fail {
                to: Some(S::Failed),
            },
            t0,
        )
        .unwrap();
        assert_eq!(l.status().state, S::Failed);

        let mut l = Lifecycle::create(Schedule::pending_for(ms(1000)), t0);
        let refused = l
            .apply(
                &Action::Fail {
                    to: Some(S::Stopped),
                },
                t0,
            )
            .unwrap_err();
        assert!(refused.reason.contains("error or failed"), "{refused:?}");

        // Running has nowhere to fail to.
        let mut l = Lifecycle::create(Schedule::instant(), t0);
        assert!(l.apply(&Action::Fail { to: None }, t0).is_err());
        // Stopped fails to error (provision failed).
        l.apply(&Action::PowerOff, t0).unwrap();
        l.apply(&Action::Fail { to: None }, t0).unwrap();
        assert_eq!(l.status().state, S::Error);
        assert_eq!(
            l.status().error.as_ref().unwrap().error_type,
            Some(ErrorType::VerifyServerError)
        );
    }

    #[test]
    fn the_allowed_table_matches_api_md() {
        assert!(is_allowed_transition(None, &S::Pending));
        assert!(!is_allowed_transition(None, &S::Running));
        assert!(is_allowed_transition(Some(&S::Pending), &S::Running));
        assert!(is_allowed_transition(Some(&S::ShuttingDown), &S::Error));
        assert!(is_allowed_transition(Some(&S::Failed), &S::Reinstalling));
        assert!(!is_allowed_transition(Some(&S::Terminated), &S::Running));
        assert!(!is_allowed_transition(Some(&S::Running), &S::Error));
        assert!(!is_allowed_transition(Some(&S::Failed), &S::ShuttingDown));
        assert!(!is_allowed_transition(Some(&S::Stopping), &S::Running));
    }

    #[derive(Debug, Clone)]
    enum Step {
        Wait(u64),
        Act(Action),
    }

    fn any_action() -> impl Strategy<Value = Action> {
        prop_oneof![
            Just(Action::PowerOff),
            Just(Action::PowerOn),
            any::<bool>().prop_map(|fail| Action::Reinstall { fail }),
            any::<bool>().prop_map(|fail| Action::Delete { fail }),
            prop_oneof![
                Just(None),
                Just(Some(S::Error)),
                Just(Some(S::Failed)),
                Just(Some(S::Running)),
            ]
            .prop_map(|to| Action::Fail { to }),
        ]
    }

    fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..4000).prop_map(Step::Wait),
            any_action().prop_map(Step::Act),
        ]
    }

    fn any_schedule() -> impl Strategy<Value = Schedule> {
        (
            0u64..3000,
            any::<bool>(),
            0u64..2000,
            0u64..2000,
            0u64..3000,
            0u64..3000,
        )
            .prop_map(|(p, f, s, on, r, d)| Schedule {
                pending: ms(p),
                create_fails: f,
                stopping: ms(s),
                power_on: ms(on),
                reinstalling: ms(r),
                shutting_down: ms(d),
                forget_after: None,
            })
    }

    proptest! {
        /// Whatever actions are asked for and however time jumps, the history
        /// only holds transitions API.md allows, it is continuous, its times
        /// never go backwards or into the future, and it ends in the state
        /// the instance reports. Refused actions change nothing.
        #[test]
        fn only_allowed_transitions(schedule in any_schedule(), steps in proptest::collection::vec(any_step(), 0..30)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut l = Lifecycle::create(schedule, t0);
            for step in steps {
                match step {
                    Step::Wait(d) => { now += ms(d); l.advance(now); }
                    Step::Act(a) => {
                        l.advance(now);
                        let before_state = l.status().clone();
                        let before_len = l.history().len();
                        if let Err(refused) = l.apply(&a, now) {
                            prop_assert_eq!(&refused.state, &before_state.state);
                            prop_assert_eq!(l.status(), &before_state);
                            prop_assert_eq!(l.history().len(), before_len);
                        }
                    }
                }
                let h: Vec<&Transition> = l.history().collect();
                prop_assert!(h.len() < HISTORY_LEN);
                prop_assert_eq!(h[0].from.as_ref(), None);
                for (i, t) in h.iter().enumerate() {
                    prop_assert!(is_allowed_transition(t.from.as_ref(), &t.to), "{:?} -> {:?}", t.from, t.to);
                    prop_assert!(t.at <= now);
                    if i > 0 {
                        prop_assert_eq!(t.from.as_ref(), Some(&h[i - 1].to));
                        prop_assert!(t.at >= h[i - 1].at);
                    }
                }
                prop_assert_eq!(&h[h.len() - 1].to, &l.status().state);
                // A failure state always carries an error object; running never does.
                match l.status().state {
                    S::Error | S::Failed => prop_assert!(l.status().error.is_some()),
                    S::Running => prop_assert!(l.status().error.is_none()),
                    _ => {}
                }
                if let Some((at, _)) = l.next_transition() {
                    prop_assert!(at > now);
                }
            }
        }

        /// With no actions, time alone takes a new instance to running or
        /// error exactly at `pending`, never earlier.
        #[test]
        fn creation_completes_exactly_on_schedule(pending in 0u64..10_000, fails in any::<bool>(), probe in 0u64..20_000) {
            let t0 = Instant::now();
            let sched = Schedule { pending: ms(pending), create_fails: fails, ..Schedule::default() };
            let mut l = Lifecycle::create(sched, t0);
            l.advance(t0 + ms(probe));
            let expected = if probe < pending { S::Pending } else if fails { S::Error } else { S::Running };
            prop_assert_eq!(&l.status().state, &expected);
        }
    }
}
