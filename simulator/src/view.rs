//! Views: the simulator's state as [`Control`](crate::Control) and the
//! admin API show it (instances, their transitions, the counters), plain
//! data with the JSON shape the admin API answers.
//!
//! Owns those shapes and nothing else. A leaf: must not import the rest of
//! the crate, and must not compute a view (the heart,
//! [`Simulator`](crate::Simulator), fills them in from its state).

use std::collections::BTreeMap;

use clouddc_core::{ErrorStatus, InstanceState, InstanceStatus, OperationState};
use serde::{Deserialize, Serialize};

/// Per-instance counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceCounters {
    /// Status requests naming this instance (every outcome).
    pub requests: u64,
    /// 429s sent for it.
    pub throttled: u64,
    /// Faults injected for it (rate limiting excluded).
    pub faults: u64,
}

/// Global counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Requests to the status API and unknown paths (everything outside
    /// `/_sim/`, the metadata routes and IAM), every outcome.
    pub requests: u64,
    /// 429s sent: token buckets' and the gateway's flow control's.
    pub throttled: u64,
    /// 429s sent by the gateway's flow control (`APIGW.0308`), also in
    /// `throttled`.
    pub gateway_throttled: u64,
    /// Requests closed unanswered by the stale-connection fault, on every
    /// route (also in `faults` as `stale_connection`).
    pub stale_closed: u64,
    /// Responses sent, by status (resets and stalled headers have none).
    pub by_status: BTreeMap<u16, u64>,
    /// Faults injected, by kind (`reset`, `server_error`, ...).
    pub faults: BTreeMap<String, u64>,
    /// Requests to the admin API.
    pub admin_requests: u64,
    /// Requests to `/meta-data/latest/api/token` (every method and outcome,
    /// metadata off included).
    pub metadata_token_requests: u64,
    /// Requests to `/openstack/latest/securitykey` (every method and
    /// outcome, metadata off included).
    pub metadata_key_requests: u64,
    /// Credential generations the metadata service has issued so far (the
    /// newest generation's number + 1), as of the last request handled or
    /// counters read through [`Op::Counters`](crate::Op::Counters) (as
    /// [`Control::counters`](crate::Control::counters) does); 0 while the
    /// service has been off. A client refreshing only when needed makes at
    /// most this + 1 `securitykey` requests.
    pub metadata_generations: u64,
    /// Requests to IAM's `/v3/projects` (every outcome).
    pub iam_requests: u64,
    /// Requests to IAM's OIDC exchange 1, `/v3.0/OS-AUTH/id-token/tokens`
    /// (every outcome).
    pub oidc_id_token_requests: u64,
    /// Requests to IAM's OIDC exchange 2,
    /// `/v3.0/OS-CREDENTIAL/securitytokens` (every outcome).
    pub oidc_security_token_requests: u64,
}

/// Every counter: global and per instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CountersSnapshot {
    /// Global counters.
    pub global: Counters,
    /// Per instance, by id.
    pub instances: BTreeMap<String, InstanceCounters>,
}

/// The next scheduled state change of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextTransition {
    /// The state it will enter.
    pub state: InstanceState,
    /// In how many milliseconds (rounded up).
    pub in_ms: u64,
}

/// A recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionView {
    /// The state before (`null` for creation).
    pub from: Option<InstanceState>,
    /// The state after.
    pub to: InstanceState,
    /// Milliseconds since the simulator started (simulated time).
    pub at_ms: u64,
}

/// An instance as the admin API and [`Control`](crate::Control) show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    /// The instance id.
    pub id: String,
    /// Its state now.
    pub state: InstanceState,
    /// The progress of its last operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// A failed operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorStatus>,
    /// What happens next without any action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextTransition>,
    /// Its counters.
    #[serde(default)]
    pub counters: InstanceCounters,
    /// Its transitions so far, oldest first (at most 128).
    #[serde(default)]
    pub history: Vec<TransitionView>,
}

impl InstanceView {
    /// The status a query answers now.
    pub fn status(&self) -> InstanceStatus {
        let mut status = InstanceStatus::new(self.state.clone());
        status.operation_state = self.operation_state.clone();
        status.error = self.error.clone();
        status
    }
}
