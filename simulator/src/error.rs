//! The crate's one error type.
//!
//! Owns the kinds of failure (binding, the runtime thread, configuration,
//! invalid input, unknown or duplicate instances, refused actions) and
//! their short names. A leaf: must not import the rest of the crate nor
//! decide how an error is answered (the admin API maps kinds to statuses).

use std::net::SocketAddr;

use clouddc_core::InstanceState;

/// What went wrong starting the simulator or driving it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The runtime thread of a blocking simulator could not be started.
    #[error("could not start the simulator's runtime thread")]
    Runtime(#[source] std::io::Error),
    /// A configuration value is out of range.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// An admin request's input is invalid.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// No instance with this id.
    #[error("no instance {0:?}")]
    UnknownInstance(String),
    /// An instance with this id exists already.
    #[error("an instance {0:?} exists already")]
    Duplicate(String),
    /// The action is not allowed in the instance's state.
    #[error("cannot {action} instance {id:?} while it is {state}: {reason}")]
    Conflict {
        /// The instance.
        id: String,
        /// Its state.
        state: InstanceState,
        /// The action's name.
        action: &'static str,
        /// What would make it possible.
        reason: String,
    },
}

impl Error {
    /// A short snake_case name of the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "bind",
            Self::Runtime(_) => "runtime",
            Self::Config(_) => "config",
            Self::Invalid(_) => "invalid",
            Self::UnknownInstance(_) => "unknown_instance",
            Self::Duplicate(_) => "duplicate",
            Self::Conflict { .. } => "conflict",
        }
    }
}
