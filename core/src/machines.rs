//! The state machines a driver runs: one call, one wait, and the fleet that
//! owns many of them.
//!
//! Owns attempts, deadlines, acceptors, admission and routing. Must not do
//! I/O, read a clock or sleep: drivers (`transport`, the clients) carry out
//! their steps.

pub(crate) mod call;
pub(crate) mod fleet;
pub(crate) mod trace;
pub(crate) mod waiter;
pub(crate) mod watch;
