//! The process exit statuses of the contract (`CLI.md`), by name.
//!
//! Owns the numbers only: which outcome maps to which status is decided by
//! each command (and, for a closed or failing stdout, by `stdio`). A leaf:
//! must not use any other module of this crate.

/// Everything worked.
pub(crate) const OK: u8 = 0;
/// An API failure, a failing stdout, or a watch that dropped an id.
pub(crate) const FAILURE: u8 = 1;
/// A usage or configuration error: nothing was sent to the API.
pub(crate) const USAGE: u8 = 2;
/// `wait`: an instance entered a state from which the target is not
/// expected (`watch --until-all` too).
pub(crate) const WAIT_FAILED: u8 = 3;
/// `wait`: the deadline passed.
pub(crate) const TIMED_OUT: u8 = 4;
/// Stdout was closed: what a process killed by SIGPIPE would give.
pub(crate) const CLOSED_PIPE: u8 = 141;
