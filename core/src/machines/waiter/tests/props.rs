//! Pacing and deadline over any run: pauses between polls never shorter
//! than the floor (but for one last poll at the deadline), and no run past
//! the deadline by more than one attempt timeout.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::state;
use crate::error::Error;
use crate::ids::InstanceId;
use crate::machine::{Machine, Step};
use crate::machines::call::Call;
use crate::machines::call::tests::{config, resp, t0};
use crate::machines::waiter::{WaitOptions, WaitOutcome, Waiter};
use crate::model::InstanceState;

proptest! {
    #[test]
    fn never_faster_than_floor_and_ends_by_deadline(
        floor_ms in 100u64..5_000,
        ceil_extra_ms in 0u64..20_000,
        max_wait_s in 1u64..120,
        answers in prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 3, 4]), 1..20),
    ) {
        let floor = Duration::from_millis(floor_ms);
        let max_wait = Duration::from_secs(max_wait_s);
        let opts = WaitOptions::new()
            .min_delay(floor)
            .max_delay(Duration::from_millis(floor_ms + ceil_extra_ms))
            .max_wait(max_wait);
        let mut now = t0();
        let start = now.mono;
        let deadline = start + max_wait;
        let mut w = Waiter::new(&config(2), InstanceId::new("i").unwrap(), InstanceState::Running, opts, now, 3);
        let mut it = answers.iter().cycle();
        // (start, end) of every poll.
        let mut polls: Vec<(Instant, Option<Instant>)> = Vec::new();
        let report = loop {
            let before = w.polls();
            let step = w.poll(now);
            if w.polls() != before && let Some(p) = polls.last_mut() {
                p.1 = Some(now.mono);
            }
            match step {
                Step::Send(_) => {
                    if w.current_call().map(Call::attempts) == Some(1) {
                        polls.push((now.mono, None));
                    }
                    match *it.next().unwrap() {
                        0 => w.handle_response(now, state("pending")),
                        1 => w.handle_response(now, resp(503, &[], "")),
                        2 => w.handle_transport_error(now, Error::timeout("t", None)),
                        3 => {}
                        _ => w.handle_response(now, state("hibernating")),
                    }
                }
                Step::Wait(t) => {
                    prop_assert!(t > now.mono);
                    now = now.advance_to(t);
                }
                Step::Done(r) => break r,
            }
        };
        // Every pause between polls is at least the floor, except the
        // one last poll placed at the deadline.
        for pair in polls.windows(2) {
            let gap = pair[1].0 - pair[0].1.unwrap();
            prop_assert!(gap >= floor || pair[1].0 == deadline, "gap {:?} < floor {:?}", gap, floor);
        }
        // Never ends past deadline + one attempt timeout (5 s in config()).
        prop_assert!(now.mono <= deadline + Duration::from_secs(5));
        let timed_out = matches!(report.outcome, WaitOutcome::TimedOut { .. });
        prop_assert!(timed_out);
        prop_assert_eq!(report.polls as usize, polls.len());
    }
}
