//! Bounds that hold over any run: never more than `max_attempts` attempts,
//! none started at or running past the deadline, and always an end.

use std::time::Duration;

use proptest::prelude::*;

use super::{config, id, resp, t0};
use crate::error::Error;
use crate::machine::{Machine, Step};
use crate::machines::call::Call;

#[derive(Debug, Clone)]
enum Ev {
    Ok,
    Status(u16, Option<u8>),
    Transport,
    Silent,
}

fn arb_ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        Just(Ev::Ok),
        (
            prop::sample::select(vec![400u16, 401, 404, 429, 500, 502, 503, 504]),
            prop::option::of(0u8..5)
        )
            .prop_map(|(s, r)| Ev::Status(s, r)),
        Just(Ev::Transport),
        Just(Ev::Silent),
    ]
}

proptest! {
    #[test]
    fn never_exceeds_attempts_or_deadline(
        max in 1u32..6,
        deadline_s in prop::option::of(1u64..60),
        events in prop::collection::vec(arb_ev(), 1..12),
        seed in any::<u64>(),
    ) {
        let start = t0();
        let mut now = start;
        let deadline = deadline_s.map(|s| start.mono + Duration::from_secs(s));
        let mut c = Call::with_deadline(&config(max), id(), now, seed, deadline);
        let mut evs = events.into_iter().cycle();
        let mut sends = 0;
        for _ in 0..100 {
            match c.poll(now) {
                Step::Send(a) => {
                    sends += 1;
                    prop_assert!(sends <= max);
                    if let Some(d) = deadline {
                        prop_assert!(now.mono < d);
                        prop_assert!(crate::machine::later(now.mono, a.timeout) <= d);
                    }
                    match evs.next().unwrap() {
                        Ev::Ok => c.handle_response(now, resp(200, &[], r#"{"state":"running"}"#)),
                        Ev::Status(s, ra) => {
                            let ra = ra.map(|r| r.to_string());
                            let h: Vec<(&str, &str)> = ra.iter().map(|r| ("Retry-After", r.as_str())).collect();
                            c.handle_response(now, resp(s, &h, ""));
                        }
                        Ev::Transport => c.handle_transport_error(now, Error::transport("reset", std::io::Error::other("x"))),
                        Ev::Silent => {}
                    }
                }
                Step::Wait(t) => {
                    prop_assert!(t > now.mono);
                    now = now.advance_to(t);
                }
                Step::Done(_) => {
                    prop_assert!(matches!(c.poll(now), Step::Done(Err(_))));
                    if let Some(d) = deadline {
                        prop_assert!(now.mono <= d);
                    }
                    return Ok(());
                }
            }
        }
        prop_assert!(false, "the call did not finish");
    }
}
