//! Fleets against an in-memory API gateway that throttles as the real one
//! does: fixed windows at an unknown alignment, `APIGW.0308` quoting the
//! quota, no `Retry-After`, refused calls counted too. Simulated time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{Run, assert_each_once, ids};
use crate::InstanceState;
use crate::ids::InstanceId;
use crate::machines::call::tests::{config, resp, t0};
use crate::machines::fleet::{Fleet, FleetOptions, FleetStep, Job, Outcome};
use crate::machines::waiter::WaitOptions;

/// A fixed-window gateway policy.
struct Gateway {
    quota: u32,
    window: Duration,
    /// The start of window 0.
    origin: Instant,
    counts: HashMap<u128, u32>,
}

impl Gateway {
    fn window_of(&self, t: Instant) -> u128 {
        t.saturating_duration_since(self.origin).as_nanos() / self.window.as_nanos()
    }

    fn answer(&mut self, at: Instant) -> http::Response<Vec<u8>> {
        let w = self.window_of(at);
        let n = self.counts.entry(w).or_insert(0);
        *n += 1;
        if *n <= self.quota {
            resp(200, &[], r#"{"state":"running"}"#)
        } else {
            let body = format!(
                r#"{{"error_msg":"The throttling threshold has been reached: policy user over ratelimit,limit:{},time:{} second","error_code":"APIGW.0308","request_id":"g"}}"#,
                self.quota,
                self.window.as_secs()
            );
            resp(429, &[("X-Request-Id", "g")], &body)
        }
    }
}

/// What a run against the gateway saw.
struct Seen {
    run: Run,
    /// (sent at, arrived in window, throttled) for every request.
    requests: Vec<(Instant, u128, bool)>,
    /// When the fleet was handed its first 429.
    first_throttle: Option<Instant>,
}

/// Drives `fleet` against `gw`; requests arrive `latency / 2` after they
/// are sent and are answered `latency` after.
fn drive_gateway<I: Iterator<Item = InstanceId>>(
    fleet: &mut Fleet<I>,
    gw: &mut Gateway,
    latency: Duration,
) -> Seen {
    let start = t0();
    let mut now = start;
    let mut pending = BinaryHeap::new();
    let mut answers: HashMap<u64, (crate::machines::fleet::Ticket, http::Response<Vec<u8>>)> =
        HashMap::new();
    let mut seen = Seen {
        run: Run {
            events: Vec::new(),
            sends: Vec::new(),
            max_in_flight: 0,
            end: start.mono,
            start: start.mono,
        },
        requests: Vec::new(),
        first_throttle: None,
    };
    let mut seq = 0u64;
    for _ in 0..10_000_000 {
        match fleet.poll(now) {
            FleetStep::Send { ticket, attempt: _ } => {
                let arrival = now.mono + latency / 2;
                let r = gw.answer(arrival);
                seen.requests
                    .push((now.mono, gw.window_of(arrival), r.status() == 429));
                seen.run.sends.push(now.mono);
                seq += 1;
                pending.push(Reverse((now.mono + latency, seq)));
                answers.insert(seq, (ticket, r));
            }
            FleetStep::Event(e) => seen.run.events.push(e),
            FleetStep::Wait(until) => match pending.peek().copied() {
                Some(Reverse((t, s))) if t <= until => {
                    pending.pop();
                    now = now.advance_to(t);
                    let (ticket, r) = answers.remove(&s).unwrap();
                    if r.status() == 429 && seen.first_throttle.is_none() {
                        seen.first_throttle = Some(now.mono);
                    }
                    fleet.handle(now, ticket, Ok(r));
                }
                _ => now = now.advance_to(until.max(now.mono)),
            },
            FleetStep::Finished => {
                seen.run.end = now.mono;
                return seen;
            }
        }
    }
    panic!("the fleet did not finish");
}

impl Seen {
    /// The most requests sent after the first 429 that arrived in one
    /// window.
    fn most_per_window_after_learning(&self) -> u32 {
        let Some(t1) = self.first_throttle else {
            return 0;
        };
        let mut per: HashMap<u128, u32> = HashMap::new();
        for (sent, w, _) in &self.requests {
            if *sent >= t1 {
                *per.entry(*w).or_default() += 1;
            }
        }
        per.values().copied().max().unwrap_or(0)
    }

    fn throttled(&self) -> usize {
        self.requests.iter().filter(|r| r.2).count()
    }
}

fn gateway(quota: u32, window_s: u64, offset_ms: u64) -> Gateway {
    let window = Duration::from_secs(window_s);
    Gateway {
        quota,
        window,
        origin: t0().mono - Duration::from_millis(offset_ms % (window_s * 1000)),
        counts: HashMap::new(),
    }
}

#[test]
fn three_hundred_ids_under_twenty_per_second_lose_none() {
    let mut gw = gateway(20, 1, 300);
    let mut fleet = Fleet::new(&config(3), Job::Status, ids(300), FleetOptions::new());
    let seen = drive_gateway(&mut fleet, &mut gw, Duration::from_millis(5));
    assert_each_once(&seen.run, 300);
    for e in &seen.run.events {
        assert!(matches!(&e.outcome, Outcome::Status(Ok(_))), "{e:?}");
    }
    assert!(seen.most_per_window_after_learning() <= 20);
    // The ones in flight when the first 429 came back, and no more.
    let share = seen.throttled() as f64 / seen.requests.len() as f64;
    assert!(
        share <= 0.10,
        "{} of {}",
        seen.throttled(),
        seen.requests.len()
    );
    // Ideal: 15 windows. A window held after learning, then 95 % pacing.
    let took = seen.run.end - seen.run.start;
    assert!(took <= Duration::from_secs(19), "{took:?}");
}

#[test]
fn a_second_fleet_of_the_client_starts_at_the_quota() {
    let config = config(3);
    let mut gw = gateway(10, 1, 0);
    let mut first = Fleet::new(&config, Job::Status, ids(50), FleetOptions::new());
    let seen = drive_gateway(&mut first, &mut gw, Duration::from_millis(5));
    assert!(seen.throttled() > 0);
    let mut second = Fleet::new(&config, Job::Status, ids(50), FleetOptions::new());
    gw.counts.clear();
    let seen = drive_gateway(&mut second, &mut gw, Duration::from_millis(5));
    assert_eq!(
        seen.throttled(),
        0,
        "the second fleet learned the quota again"
    );
}

#[test]
fn waits_under_a_quota_reach_their_targets() {
    let job = Job::wait(
        InstanceState::Running,
        WaitOptions::new().interval(Duration::from_millis(500)),
    );
    let mut gw = gateway(5, 2, 700);
    let mut fleet = Fleet::new(&config(3), job, ids(40), FleetOptions::new());
    let seen = drive_gateway(&mut fleet, &mut gw, Duration::from_millis(5));
    assert_each_once(&seen.run, 40);
    for e in &seen.run.events {
        let Outcome::Wait(w) = &e.outcome else {
            panic!()
        };
        assert_eq!(w.outcome.as_str(), "reached", "{e:?}");
    }
    assert!(seen.most_per_window_after_learning() <= 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For any window, quota, alignment and fleet, once the client has
    /// seen the quota no window gets more than the quota + 1 of its
    /// requests, and every id finishes exactly once, ok.
    #[test]
    fn a_client_that_saw_the_quota_stays_under_it(
        quota in 1u32..60,
        window_s in 1u64..8,
        offset_ms in 0u64..8000,
        n in 1usize..250,
        in_flight in 1usize..32,
        latency_ms in 1u64..40,
    ) {
        let mut gw = gateway(quota, window_s, offset_ms);
        let opts = FleetOptions::new().max_in_flight(in_flight);
        let mut fleet = Fleet::new(&config(3), Job::Status, ids(n), opts);
        let seen = drive_gateway(&mut fleet, &mut gw, Duration::from_millis(latency_ms));
        assert_each_once(&seen.run, n);
        for e in &seen.run.events {
            prop_assert!(matches!(&e.outcome, Outcome::Status(Ok(_))), "{:?}", e);
        }
        prop_assert!(seen.most_per_window_after_learning() <= quota + 1);
    }
}
