//! The watch machine: one poll after another, `interval` apart, until the
//! fleet that owns it is cancelled.
//!
//! Owns when the next poll of one id starts and which failures end the
//! watch (a non-retryable one; transient ones are reported and polled
//! again). Must not admit, time or route requests: the fleet does, through
//! the gate it hands in.

use std::time::{Duration, Instant};

use crate::ids::InstanceId;
use crate::machine::{Now, Step, later};
use crate::machines::call::{Call, CallResult};
use crate::pacing::limiter::Gate;
use crate::pacing::rng::SplitMix64;
use crate::session::Session;

/// A watch: one poll after another, `interval` apart.
#[derive(Debug)]
pub(crate) struct Watch {
    pub(crate) session: Session,
    pub(crate) id: InstanceId,
    pub(crate) interval: Duration,
    pub(crate) jitter: SplitMix64,
    pub(crate) current: Option<Call>,
    pub(crate) next_poll: Instant,
}

/// What a watch says when polled.
pub(crate) enum WatchStep {
    Step(Step<CallResult>),
    Seen(CallResult),
}

impl Watch {
    pub(crate) fn poll_in(&mut self, now: Now, gate: &mut Gate<'_>) -> WatchStep {
        if self.current.is_none() {
            if now.mono < self.next_poll {
                return WatchStep::Step(Step::Wait(self.next_poll));
            }
            let seed = self.jitter.next_u64();
            self.current = Some(Call::new(&self.session, self.id.clone(), now, seed));
        }
        let Some(call) = &mut self.current else {
            unreachable!("a poll was started above")
        };
        match call.poll_in(now, gate) {
            Step::Done(result) => {
                self.current = None;
                self.next_poll = later(now.mono, self.interval);
                match result {
                    Err(e) if !e.is_retryable() => WatchStep::Step(Step::Done(Err(e))),
                    r => WatchStep::Seen(r),
                }
            }
            other => WatchStep::Step(other),
        }
    }
}
