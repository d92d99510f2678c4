//! The API's data model: instance states, operation states, error types and the
//! status record a 200 response carries.
//!
//! Owns spelling: the canonical name of every known value, the aliases the
//! vendor's documents and SDKs disagree on, and keeping unknown values exactly
//! as they came. Must not know about HTTP, JSON framing or errors of the call.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

// The three string enums below keep unknown values verbatim. Each known
// variant has one canonical spelling and any number of accepted aliases.
// `Display` writes the canonical spelling (or the unknown value), `FromStr`
// never fails, and serde goes through the same two functions.

/// Serializes a string enum as its spelling.
fn serialize_spelling<S: Serializer>(spelling: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(spelling)
}

/// Deserializes a string enum through its `parse`.
fn deserialize_spelling<'de, D: Deserializer<'de>, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> T,
) -> Result<T, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    Ok(parse(&s))
}

/// The state of an instance.
///
/// Covers the current API reference and the older vendor Go model.
/// `shutting_down` (as the diagrams write it) is read as
/// [`InstanceState::ShuttingDown`] and the Go model's `teminated` as
/// [`InstanceState::Terminated`].
///
/// ```
/// use clouddc_core::InstanceState;
/// assert_eq!("teminated".parse::<InstanceState>().unwrap(), InstanceState::Terminated);
/// assert_eq!(InstanceState::ShuttingDown.to_string(), "shutting-down");
/// assert_eq!(InstanceState::parse("hibernating").as_str(), "hibernating");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InstanceState {
    /// Being created.
    Pending,
    /// Powered on.
    Running,
    /// Powering off (Go model).
    Stopping,
    /// Powered off.
    Stopped,
    /// Operating system being reinstalled (Go model).
    Reinstalling,
    /// Being deleted.
    ShuttingDown,
    /// Deleted.
    Terminated,
    /// An operation failed (API reference).
    Error,
    /// An operation failed (Go model).
    Failed,
    /// A value this version does not know, kept exactly as received.
    Unknown(String),
}

impl InstanceState {
    /// Every known value, in declaration order.
    pub const KNOWN: &'static [Self] = &[
        Self::Pending,
        Self::Running,
        Self::Stopping,
        Self::Stopped,
        Self::Reinstalling,
        Self::ShuttingDown,
        Self::Terminated,
        Self::Error,
        Self::Failed,
    ];

    /// The canonical spelling (for `Unknown`, the value as received).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Reinstalling => "reinstalling",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
            Self::Error => "error",
            Self::Failed => "failed",
            Self::Unknown(s) => s.as_str(),
        }
    }

    /// Parses a value; aliases map to their canonical variant and
    /// anything else becomes `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "reinstalling" => Self::Reinstalling,
            "shutting-down" | "shutting_down" => Self::ShuttingDown,
            "terminated" | "teminated" => Self::Terminated,
            "error" => Self::Error,
            "failed" => Self::Failed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether this is a value this version knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown(_))
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstanceState {
    type Err = Infallible;
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(Self::parse(s))
    }
}

impl Serialize for InstanceState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_spelling(self.as_str(), serializer)
    }
}

impl<'de> Deserialize<'de> for InstanceState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_spelling(deserializer, Self::parse)
    }
}

/// The progress of the last operation on an instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OperationState {
    /// OS installation running.
    InstallProcessing,
    /// OS installation done.
    InstallSucceed,
    /// OS installation failed.
    InstallFailed,
    /// Reinstallation running.
    ReinstallProcessing,
    /// Reinstallation done.
    ReinstallSucceed,
    /// Reinstallation failed.
    ReinstallFailed,
    /// Switch-install running.
    SwitchInstallProcessing,
    /// Switch-install done.
    SwitchInstallSucceed,
    /// Switch-install failed.
    SwitchInstallFailed,
    /// IP change running.
    ModifyIpProcessing,
    /// IP change done.
    ModifyIpSucceed,
    /// IP change failed.
    ModifyIpFailed,
    /// Uninstallation running.
    UninstallProcessing,
    /// Uninstallation done.
    UninstallSucceed,
    /// Uninstallation failed.
    UninstallFailed,
    /// A value this version does not know, kept exactly as received.
    Unknown(String),
}

impl OperationState {
    /// Every known value, in declaration order.
    pub const KNOWN: &'static [Self] = &[
        Self::InstallProcessing,
        Self::InstallSucceed,
        Self::InstallFailed,
        Self::ReinstallProcessing,
        Self::ReinstallSucceed,
        Self::ReinstallFailed,
        Self::SwitchInstallProcessing,
        Self::SwitchInstallSucceed,
        Self::SwitchInstallFailed,
        Self::ModifyIpProcessing,
        Self::ModifyIpSucceed,
        Self::ModifyIpFailed,
        Self::UninstallProcessing,
        Self::UninstallSucceed,
        Self::UninstallFailed,
    ];

    /// The canonical spelling (for `Unknown`, the value as received).
    pub fn as_str(&self) -> &str {
        match self {
            Self::InstallProcessing => "install-processing",
            Self::InstallSucceed => "install-succeed",
            Self::InstallFailed => "install-failed",
            Self::ReinstallProcessing => "reinstall-processing",
            Self::ReinstallSucceed => "reinstall-succeed",
            Self::ReinstallFailed => "reinstall-failed",
            Self::SwitchInstallProcessing => "switch-install-processing",
            Self::SwitchInstallSucceed => "switch-install-succeed",
            Self::SwitchInstallFailed => "switch-install-failed",
            Self::ModifyIpProcessing => "modify-ip-processing",
            Self::ModifyIpSucceed => "modify-ip-succeed",
            Self::ModifyIpFailed => "modify-ip-failed",
            Self::UninstallProcessing => "uninstall-processing",
            Self::UninstallSucceed => "uninstall-succeed",
            Self::UninstallFailed => "uninstall-failed",
            Self::Unknown(s) => s.as_str(),
        }
    }

    /// Parses a value; aliases map to their canonical variant and
    /// anything else becomes `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "install-processing" => Self::InstallProcessing,
            "install-succeed" => Self::InstallSucceed,
            "install-failed" => Self::InstallFailed,
            "reinstall-processing" => Self::ReinstallProcessing,
            "reinstall-succeed" => Self::ReinstallSucceed,
            "reinstall-failed" => Self::ReinstallFailed,
            "switch-install-processing" => Self::SwitchInstallProcessing,
            "switch-install-succeed" => Self::SwitchInstallSucceed,
            "switch-install-failed" => Self::SwitchInstallFailed,
            "modify-ip-processing" => Self::ModifyIpProcessing,
            "modify-ip-succeed" => Self::ModifyIpSucceed,
            "modify-ip-failed" => Self::ModifyIpFailed,
            "uninstall-processing" => Self::UninstallProcessing,
            "uninstall-succeed" => Self::UninstallSucceed,
            "uninstall-failed" => Self::UninstallFailed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether this is a value this version knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown(_))
    }
}

impl fmt::Display for OperationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperationState {
    type Err = Infallible;
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(Self::parse(s))
    }
}

impl Serialize for OperationState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_spelling(self.as_str(), serializer)
    }
}

impl<'de> Deserialize<'de> for OperationState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_spelling(deserializer, Self::parse)
    }
}

/// The kind of failure an [`ErrorStatus`] reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorType {
    /// Creating the instance failed.
    CreateInstanceError,
    /// Deleting the instance failed.
    DeleteInstanceError,
    /// Reinstalling failed.
    ReinstallError,
    /// Changing the IP failed.
    ModifyIpError,
    /// Verifying the server failed.
    VerifyServerError,
    /// Deleting the server failed.
    DeleteServerError,
    /// A value this version does not know, kept exactly as received.
    Unknown(String),
}

impl ErrorType {
    /// Every known value, in declaration order.
    pub const KNOWN: &'static [Self] = &[
        Self::CreateInstanceError,
        Self::DeleteInstanceError,
        Self::ReinstallError,
        Self::ModifyIpError,
        Self::VerifyServerError,
        Self::DeleteServerError,
    ];

    /// The canonical spelling (for `Unknown`, the value as received).
    pub fn as_str(&self) -> &str {
        match self {
            Self::CreateInstanceError => "create_instance_error",
            Self::DeleteInstanceError => "delete_instance_error",
            Self::ReinstallError => "reinstall_error",
            Self::ModifyIpError => "modify_ip_error",
            Self::VerifyServerError => "verify_server_error",
            Self::DeleteServerError => "delete_server_error",
            Self::Unknown(s) => s.as_str(),
        }
    }

    /// Parses a value; aliases map to their canonical variant and
    /// anything else becomes `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "create_instance_error" => Self::CreateInstanceError,
            "delete_instance_error" => Self::DeleteInstanceError,
            "reinstall_error" => Self::ReinstallError,
            "modify_ip_error" => Self::ModifyIpError,
            "verify_server_error" => Self::VerifyServerError,
            "delete_server_error" => Self::DeleteServerError,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether this is a value this version knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Unknown(_))
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorType {
    type Err = Infallible;
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(Self::parse(s))
    }
}

impl Serialize for ErrorType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_spelling(self.as_str(), serializer)
    }
}

impl<'de> Deserialize<'de> for ErrorType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_spelling(deserializer, Self::parse)
    }
}

/// The `error` object of a 200 response: the query worked, but the instance
/// reports a failed operation.
///
/// `#[non_exhaustive]`: the API may add fields. Build one with
/// [`ErrorStatus::default`] and the `with_` methods:
///
/// ```
/// use clouddc_core::{ErrorStatus, ErrorType};
/// let e = ErrorStatus::default()
///     .with_code("CLOUDDC.1001")
///     .with_msg("creating the instance failed")
///     .with_type(ErrorType::CreateInstanceError);
/// assert_eq!(e.error_code.as_deref(), Some("CLOUDDC.1001"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorStatus {
    /// Vendor error code.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Vendor error description.
    #[serde(default)]
    pub error_msg: Option<String>,
    /// What kind of operation failed.
    #[serde(default)]
    pub error_type: Option<ErrorType>,
}

impl ErrorStatus {
    /// With this vendor error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.error_code = Some(code.into());
        self
    }

    /// With this vendor error description.
    pub fn with_msg(mut self, msg: impl Into<String>) -> Self {
        self.error_msg = Some(msg.into());
        self
    }

    /// With this kind of failed operation.
    pub fn with_type(mut self, error_type: ErrorType) -> Self {
        self.error_type = Some(error_type);
        self
    }
}

/// The body of a successful status query.
///
/// `#[non_exhaustive]`: the API may add fields. Build one with
/// [`InstanceStatus::new`] and the `with_` methods:
///
/// ```
/// use clouddc_core::{ErrorStatus, InstanceState, InstanceStatus, OperationState};
/// let s = InstanceStatus::new(InstanceState::Error)
///     .with_operation_state(OperationState::InstallFailed)
///     .with_error(ErrorStatus::default().with_code("CLOUDDC.1001"));
/// assert_eq!(s.operation_state, Some(OperationState::InstallFailed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InstanceStatus {
    /// The instance state.
    pub state: InstanceState,
    /// The progress of the last operation, when the server reports one.
    #[serde(default)]
    pub operation_state: Option<OperationState>,
    /// A failed operation, when the server reports one.
    #[serde(default)]
    pub error: Option<ErrorStatus>,
}

impl InstanceStatus {
    /// A status with only a state.
    pub fn new(state: InstanceState) -> Self {
        Self {
            state,
            operation_state: None,
            error: None,
        }
    }

    /// With this operation state.
    pub fn with_operation_state(mut self, operation_state: OperationState) -> Self {
        self.operation_state = Some(operation_state);
        self
    }

    /// With this failed operation.
    pub fn with_error(mut self, error: ErrorStatus) -> Self {
        self.error = Some(error);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_known_state_round_trips() {
        for s in InstanceState::KNOWN {
            assert_eq!(&InstanceState::parse(s.as_str()), s);
            assert!(s.is_known());
        }
        for s in OperationState::KNOWN {
            assert_eq!(&OperationState::parse(s.as_str()), s);
        }
        for s in ErrorType::KNOWN {
            assert_eq!(&ErrorType::parse(s.as_str()), s);
        }
        assert_eq!(InstanceState::KNOWN.len(), 9);
        assert_eq!(OperationState::KNOWN.len(), 15);
        assert_eq!(ErrorType::KNOWN.len(), 6);
    }

    #[test]
    fn aliases_map_to_canonical() {
        assert_eq!(
            InstanceState::parse("shutting_down"),
            InstanceState::ShuttingDown
        );
        assert_eq!(InstanceState::parse("teminated"), InstanceState::Terminated);
        assert_eq!(InstanceState::Terminated.to_string(), "terminated");
        assert_eq!(
            serde_json::to_string(&InstanceState::parse("shutting_down")).unwrap(),
            "\"shutting-down\""
        );
    }

    #[test]
    fn unknown_values_are_kept() {
        let s = InstanceState::parse("Running");
        assert_eq!(s, InstanceState::Unknown("Running".into()));
        assert!(!s.is_known());
        assert_eq!(s.to_string(), "Running");
        assert_eq!(
            OperationState::parse("resize-processing").as_str(),
            "resize-processing"
        );
        assert_eq!(ErrorType::parse("x_error").as_str(), "x_error");
    }

    #[test]
    fn status_serde_both_ways() {
        let json = r#"{"state":"stopped","operation_state":"install-failed","error":{"error_code":"CLOUDDC.001","error_msg":"boom","error_type":"create_instance_error"}}"#;
        let st: InstanceStatus = serde_json::from_str(json).unwrap();
        assert_eq!(st.state, InstanceState::Stopped);
        assert_eq!(st.operation_state, Some(OperationState::InstallFailed));
        let err = st.error.clone().unwrap();
        assert_eq!(err.error_type, Some(ErrorType::CreateInstanceError));
        assert_eq!(serde_json::to_string(&st).unwrap(), json);
        let minimal: InstanceStatus = serde_json::from_str(r#"{"state":"x"}"#).unwrap();
        assert_eq!(
            minimal,
            InstanceStatus::new(InstanceState::Unknown("x".into()))
        );
    }

    proptest! {
        #[test]
        fn display_from_str_round_trip(s in "\\PC{0,24}") {
            let st: InstanceState = s.parse().unwrap();
            // Re-parsing the display form is a fixed point ...
            prop_assert_eq!(InstanceState::parse(&st.to_string()), st.clone());
            // ... and only aliases change spelling.
            if s != "shutting_down" && s != "teminated" {
                prop_assert_eq!(st.to_string(), s.clone());
            }
            let op: OperationState = s.parse().unwrap();
            prop_assert_eq!(op.to_string(), s.clone());
            let et: ErrorType = s.parse().unwrap();
            prop_assert_eq!(et.to_string(), s);
        }

        #[test]
        fn known_states_round_trip_through_json(i in 0usize..9) {
            let st = InstanceState::KNOWN[i].clone();
            let json = serde_json::to_string(&st).unwrap();
            prop_assert_eq!(serde_json::from_str::<InstanceState>(&json).unwrap(), st);
        }
    }
}
