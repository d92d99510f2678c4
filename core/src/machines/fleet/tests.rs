//! The fleet on a simulated clock with an in-memory server: requests take a
//! fixed latency, the server answers from a script, and nothing touches a
//! socket or sleeps.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::ErrorKind;
use crate::machines::call::tests::{config, resp, t0};
use crate::pacing::limiter::RateLimiterConfig;
use crate::{Config, Session};

mod gateway;

/// What the in-memory server answers to one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Running,
    Pending,
    Status(u16),
    Silent,
}

struct Run {
    events: Vec<FleetEvent>,
    sends: Vec<Instant>,
    max_in_flight: usize,
    end: Instant,
    start: Instant,
}

/// Drives `fleet` to the end (or `cancel_at`), answering each request after
/// `latency` with `answer(index, attempt_number, poll_count)`.
fn drive<I: Iterator<Item = InstanceId>>(
    fleet: &mut Fleet<I>,
    latency: Duration,
    mut answer: impl FnMut(u64, u32) -> Answer,
    cancel_at: Option<Duration>,
) -> Run {
    let start = t0();
    let mut now = start;
    let mut pending: BinaryHeap<Reverse<(Instant, u64, Ticket)>> = BinaryHeap::new();
    let mut replies: HashMap<u64, (Ticket, Answer)> = HashMap::new();
    let mut seq = 0u64;
    let mut run = Run {
        events: Vec::new(),
        sends: Vec::new(),
        max_in_flight: 0,
        end: start.mono,
        start: start.mono,
    };
    let mut in_flight = 0usize;
    for _ in 0..5_000_000 {
        if let Some(c) = cancel_at
            && now.mono >= start.mono + c
            && !fleet.is_cancelled()
        {
            fleet.cancel();
        }
        match fleet.poll(now) {
            FleetStep::Send { ticket, attempt } => {
                run.sends.push(now.mono);
                in_flight += 1;
                run.max_in_flight = run.max_in_flight.max(fleet.progress().in_flight);
                assert!(in_flight >= fleet.progress().in_flight);
                let a = answer(ticket.index(), attempt.number);
                seq += 1;
                if !matches!(a, Answer::Silent) {
                    pending.push(Reverse((now.mono + latency, seq, ticket)));
                }
                replies.insert(seq, (ticket, a));
            }
            FleetStep::Event(e) => run.events.push(e),
            FleetStep::Wait(until) => {
                assert!(
                    until > now.mono || !pending.is_empty(),
                    "a wait in the past"
                );
                let next = pending.peek().map(|Reverse((t, _, _))| *t);
                match next {
                    Some(t) if t <= until => {
                        let Some(Reverse((t, s, ticket))) = pending.pop() else {
                            unreachable!()
                        };
                        now = now.advance_to(t);
                        in_flight -= 1;
                        let (_, a) = replies.remove(&s).unwrap();
                        let r = match a {
                            Answer::Running => Ok(resp(200, &[], r#"{"state":"running"}"#)),
                            Answer::Pending => Ok(resp(200, &[], r#"{"state":"pending"}"#)),
                            Answer::Status(code) => Ok(resp(code, &[("X-Request-Id", "r")], "")),
                            Answer::Silent => unreachable!(),
                        };
                        fleet.handle(now, ticket, r);
                    }
                    _ => now = now.advance_to(until.max(now.mono)),
                }
            }
            FleetStep::Finished => {
                run.end = now.mono;
                return run;
            }
        }
    }
    panic!("the fleet did not finish");
}

fn ids(n: usize) -> Vec<InstanceId> {
    (0..n)
        .map(|i| InstanceId::new(format!("i-{i}")).unwrap())
        .collect()
}

/// Each key finishes exactly once, with its own id.
fn assert_each_once(run: &Run, n: usize) {
    let mut seen = vec![0u32; n];
    for e in &run.events {
        if e.outcome.is_final() {
            seen[e.index as usize] += 1;
            assert_eq!(e.id.as_str(), format!("i-{}", e.index));
        }
    }
    assert!(seen.iter().all(|c| *c == 1), "{seen:?}");
}

/// The most sends in any one-second window.
fn max_per_second(sends: &[Instant]) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..sends.len() {
        while sends[hi] - sends[lo] >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[test]
fn statuses_are_bounded_and_each_finishes_once() {
    let ids = ids(100);
    let opts = FleetOptions::new().max_in_flight(8).rate(None);
    let mut fleet = Fleet::new(&config(3), Job::Status, ids, opts);
    let run = drive(
        &mut fleet,
        Duration::from_millis(10),
        |_, _| Answer::Running,
        None,
    );
    assert_each_once(&run, 100);
    assert_eq!(run.max_in_flight, 8);
    // 100 requests, 8 at a time, 10 ms each: 13 rounds.
    assert_eq!(run.end - run.start, Duration::from_millis(130));
}

#[test]
fn sleeping_waits_hold_no_slot() {
    // 200 waits with 16 slots, 3 s deadline: every id polls from the start.
    let opts = WaitOptions::new()
        .interval(Duration::from_millis(200))
        .max_wait(Duration::from_secs(3));
    let job = Job::Wait {
        target: InstanceState::Terminated,
        options: opts,
    };
    let mut fleet = Fleet::new(
        &config(3),
        job,
        ids(200),
        FleetOptions::new().max_in_flight(16).rate(None),
    );
    let run = drive(
        &mut fleet,
        Duration::from_millis(2),
        |_, _| Answer::Pending,
        None,
    );
    assert_each_once(&run, 200);
    assert!(run.max_in_flight <= 16);
    assert!(run.end - run.start <= Duration::from_secs(3) + Duration::from_secs(5));
    for e in &run.events {
        let Outcome::Wait(w) = &e.outcome else {
            panic!()
        };
        assert_eq!(w.outcome.as_str(), "timed_out");
        assert!(w.polls >= 14, "{} polls", w.polls);
    }
}

#[test]
fn a_shared_deadline_ends_every_wait() {
    let deadline = t0().mono + Duration::from_secs(2);
    let job = Job::Wait {
        target: InstanceState::Running,
        options: WaitOptions::new().interval(Duration::from_secs(1)),
    };
    let opts = FleetOptions::new()
        .max_in_flight(1)
        .rate(None)
        .deadline(deadline);
    let mut fleet = Fleet::new(&config(3), job, ids(50), opts);
    let run = drive(
        &mut fleet,
        Duration::from_millis(100),
        |_, _| Answer::Pending,
        None,
    );
    assert_each_once(&run, 50);
    // Waits not admitted by the deadline end at it; the one in flight
    // ends when its answer comes.
    assert!(
        run.end <= deadline + Duration::from_millis(100),
        "{:?}",
        run.end - deadline
    );
}

#[test]
fn a_cap_holds_with_retries() {
    let ids = ids(60);
    let opts = FleetOptions::new()
        .max_in_flight(64)
        .rate(Some(RateLimiterConfig::cap(10.0)));
    let mut fleet = Fleet::new(&config(3), Job::Status, ids, opts);
    let run = drive(
        &mut fleet,
        Duration::from_millis(5),
        |i, n| {
            if i % 3 == 0 && n < 3 {
                Answer::Status(503)
            } else {
                Answer::Running
            }
        },
        None,
    );
    assert_each_once(&run, 60);
    assert!(
        max_per_second(&run.sends) <= 11,
        "{}",
        max_per_second(&run.sends)
    );
    assert_eq!(run.sends.len(), 100);
}

#[test]
fn cancel_interrupts_every_unfinished_id_once() {
    let job = Job::Watch {
        interval: Duration::from_millis(100),
    };
    let mut fleet = Fleet::new(
        &config(3),
        job,
        ids(30),
        FleetOptions::new().max_in_flight(4).rate(None),
    );
    let run = drive(
        &mut fleet,
        Duration::from_millis(10),
        |i, _| {
            if i == 5 {
                Answer::Status(404)
            } else {
                Answer::Pending
            }
        },
        Some(Duration::from_secs(1)),
    );
    assert_each_once(&run, 30);
    let interrupted = run
        .events
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Interrupted))
        .count();
    assert_eq!(interrupted, 29);
    let failed = run.events.iter().find(|e| e.index == 5).unwrap();
    let Outcome::Status(Err(e)) = &failed.outcome else {
        panic!()
    };
    assert_eq!(e.kind(), ErrorKind::NotFound);
    // Every id was seen several times before the cancel.
    let seen = run
        .events
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Seen(_)))
        .count();
    assert!(seen >= 29 * 5, "{seen}");
}

#[test]
fn a_cancelled_wait_keeps_its_polls_and_last_status() {
    let job = Job::Wait {
        target: InstanceState::Running,
        options: WaitOptions::new()
            .interval(Duration::from_secs(1))
            .max_wait(Duration::from_secs(60)),
    };
    let mut fleet = Fleet::new(&config(1), job, ids(3), FleetOptions::new().rate(None));
    // Polls answer at 0, 1, 2 and 3 s; the driver cancels at its first
    // step after 3.5 s.
    let run = drive(
        &mut fleet,
        Duration::from_millis(10),
        |_, _| Answer::Pending,
        Some(Duration::from_millis(3500)),
    );
    assert_each_once(&run, 3);
    for e in run.events {
        let Outcome::Wait(report) = e.outcome else {
            panic!("{:?}", e.outcome)
        };
        assert!((4..=5).contains(&report.polls), "{}", report.polls);
        assert!(report.elapsed >= Duration::from_millis(3500));
        assert!(report.elapsed <= Duration::from_millis(4100));
        let crate::WaitOutcome::Interrupted { last: Some(s) } = report.outcome else {
            panic!("{:?}", report.outcome)
        };
        assert_eq!(s.state, InstanceState::Pending);
    }
}

#[test]
fn a_silent_transport_is_timed_out_by_the_core() {
    let mut fleet = Fleet::new(
        &config(2),
        Job::Status,
        ids(3),
        FleetOptions::new().rate(None),
    );
    let run = drive(
        &mut fleet,
        Duration::from_millis(1),
        |_, _| Answer::Silent,
        None,
    );
    assert_each_once(&run, 3);
    for e in &run.events {
        let Outcome::Status(Err(err)) = &e.outcome else {
            panic!()
        };
        assert_eq!(err.kind(), ErrorKind::Timeout);
    }
    assert_eq!(run.sends.len(), 6);
}

#[test]
fn cancelling_also_reports_ids_not_yet_taken() {
    let mut fleet = Fleet::new(
        &config(1),
        Job::Status,
        ids(10),
        FleetOptions::new().max_in_flight(2).rate(None),
    );
    let run = drive(
        &mut fleet,
        Duration::from_millis(10),
        |_, _| Answer::Running,
        Some(Duration::from_millis(15)),
    );
    assert_each_once(&run, 10);
    let ok = run
        .events
        .iter()
        .filter(|e| matches!(e.outcome, Outcome::Status(Ok(_))))
        .count();
    assert_eq!(ok, 2);
}

fn arb_answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        6 => Just(Answer::Running),
        2 => Just(Answer::Pending),
        1 => prop::sample::select(vec![429u16, 503, 404]).prop_map(Answer::Status),
        1 => Just(Answer::Silent),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random fleets, faults and limits: the in-flight bound and the rate
    /// cap hold, and every id finishes exactly once.
    #[test]
    fn bounds_hold_and_every_key_finishes_once(
        n in 1usize..120,
        bound in 1usize..20,
        cap in prop::option::of(1.0f64..200.0),
        wait in any::<bool>(),
        latency_ms in 1u64..200,
        answers in prop::collection::vec(arb_answer(), 1..40),
        seed in any::<u64>(),
    ) {
        let job = if wait {
            Job::Wait {
                target: InstanceState::Running,
                options: WaitOptions::new().interval(Duration::from_millis(300)).max_wait(Duration::from_secs(4)),
            }
        } else {
            Job::Status
        };
        let opts = FleetOptions::new().max_in_flight(bound).rate(cap.map(RateLimiterConfig::cap)).seed(seed);
        let mut fleet = Fleet::new(&config(3), job, ids(n), opts);
        let mut k = 0usize;
        let run = drive(&mut fleet, Duration::from_millis(latency_ms), |_, _| {
            k += 1;
            answers[k % answers.len()]
        }, None);
        assert_each_once(&run, n);
        prop_assert!(run.max_in_flight <= bound);
        if let Some(cap) = cap {
            let most = max_per_second(&run.sends);
            prop_assert!(most as f64 <= cap + 1.0, "{} sends in a second under a cap of {}", most, cap);
        }
    }

    /// With no faults, the fleet takes at most 1.15 × the ideal time: the
    /// best schedule the in-flight bound and the cap allow together.
    #[test]
    fn near_ideal_time_without_faults(
        n in 1usize..400,
        bound in 1usize..64,
        cap in prop::option::of(5.0f64..500.0),
        latency_ms in 1u64..100,
    ) {
        let opts = FleetOptions::new().max_in_flight(bound).rate(cap.map(RateLimiterConfig::cap));
        let mut fleet = Fleet::new(&config(3), Job::Status, ids(n), opts);
        let latency = Duration::from_millis(latency_ms);
        let run = drive(&mut fleet, latency, |_, _| Answer::Running, None);
        assert_each_once(&run, n);
        // The best any scheduler can do: request i starts no earlier than
        // i / cap (one token of burst) and no earlier than the end of
        // request i - bound (the slot it takes over).
        let l = latency.as_secs_f64();
        let mut starts: Vec<f64> = Vec::with_capacity(n);
        for i in 0..n {
            let by_rate = cap.map_or(0.0, |c| i as f64 / c);
            let by_slot = if i >= bound { starts[i - bound] + l } else { 0.0 };
            starts.push(by_rate.max(by_slot));
        }
        let ideal = starts[n - 1] + l;
        let took = (run.end - run.start).as_secs_f64();
        prop_assert!(took <= ideal * 1.15 + 1e-9, "took {} s, ideal {} s", took, ideal);
    }
}

/// Durations no clock can add saturate to "no deadline": nothing times out
/// at once, nothing panics.
#[test]
fn extreme_durations_saturate() {
    let config = Session::new(
        Config::builder()
            .endpoint(crate::Endpoint::parse("http://127.0.0.1:1").unwrap())
            .project_id(crate::ProjectId::new("p").unwrap())
            .credentials(crate::Credentials::token("t").unwrap())
            .attempt_timeout(Duration::MAX)
            .call_timeout(Duration::MAX)
            .build()
            .unwrap(),
    );
    let job = Job::Wait {
        target: InstanceState::Running,
        options: WaitOptions::new()
            .interval(Duration::MAX)
            .max_wait(Duration::MAX),
    };
    let deadline = later(t0().mono, Duration::MAX);
    let opts = FleetOptions::new().rate(None).deadline(deadline);
    let mut fleet = Fleet::new(&config, job, ids(3), opts);
    let mut polls = 0;
    let run = drive(
        &mut fleet,
        Duration::from_millis(5),
        |_, _| {
            polls += 1;
            if polls > 3 {
                Answer::Running
            } else {
                Answer::Pending
            }
        },
        None,
    );
    assert_each_once(&run, 3);
    let reached = run
        .events
        .iter()
        .filter(|e| matches!(&e.outcome, Outcome::Wait(w) if w.outcome.as_str() == "reached"))
        .count();
    // The first poll of each id sees pending; the pause before the next is
    // capped near a century, which the simulated clock jumps.
    assert_eq!(reached, 3);
    let mut status = Fleet::new(&config, Job::Status, ids(2), FleetOptions::new().rate(None));
    let run = drive(
        &mut status,
        Duration::from_millis(5),
        |_, _| Answer::Running,
        None,
    );
    assert_eq!(
        run.events
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Status(Ok(_))))
            .count(),
        2
    );
}

/// A config whose credentials come from server metadata at a loopback
/// address (no request is really sent here).
fn metadata_config() -> Session {
    Session::new(
        Config::builder()
            .endpoint(crate::Endpoint::parse("http://127.0.0.1:9").unwrap())
            .project_id(crate::ProjectId::new("p").unwrap())
            .metadata(crate::Endpoint::parse("http://127.0.0.1:10").unwrap())
            .build()
            .unwrap(),
    )
}

#[test]
fn fleets_sharing_a_config_make_one_session_request_and_a_cancelled_one_lets_go() {
    let config = metadata_config();
    let now = t0();
    let mut first = Fleet::new(&config, Job::Status, ids(3), FleetOptions::new());
    let mut second = Fleet::new(&config, Job::Status, ids(3), FleetOptions::new());
    let FleetStep::Send { ticket, attempt } = first.poll(now) else {
        panic!("the first fleet asks for a session token")
    };
    assert_eq!(attempt.request.uri().path(), "/meta-data/latest/api/token");
    // The second waits: nothing to sign with, and the request is made.
    assert!(matches!(second.poll(now), FleetStep::Wait(_)));
    assert_eq!(second.progress().in_flight, 0);
    // The first is cancelled: its ids end, and the request is given up.
    first.cancel();
    let mut interrupted = 0;
    loop {
        match first.poll(now) {
            FleetStep::Event(e) => {
                assert!(matches!(e.outcome, Outcome::Interrupted));
                interrupted += 1;
            }
            FleetStep::Finished => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(interrupted, 3);
    // A late answer for it is ignored (no count goes below zero).
    first.handle(now, ticket, Ok(resp(200, &[], "tok")));
    assert_eq!(first.progress().in_flight, 0);
    // The second makes the request at once, not after its deadline.
    let FleetStep::Send { attempt, .. } = second.poll(now) else {
        panic!("the second fleet takes the request over")
    };
    assert_eq!(attempt.request.uri().path(), "/meta-data/latest/api/token");
}

#[test]
fn a_dropped_fleet_lets_go_of_its_session_request() {
    let config = metadata_config();
    let now = t0();
    let mut first = Fleet::new(&config, Job::Status, ids(1), FleetOptions::new());
    assert!(matches!(first.poll(now), FleetStep::Send { .. }));
    drop(first);
    let mut second = Fleet::new(&config, Job::Status, ids(1), FleetOptions::new());
    assert!(matches!(second.poll(now), FleetStep::Send { .. }));
}

#[test]
fn a_failed_resolution_ends_every_id_with_its_error() {
    let config = metadata_config();
    let now = t0();
    let job = Job::wait(InstanceState::Running, WaitOptions::default());
    let mut fleet = Fleet::new(&config, job, ids(4), FleetOptions::new());
    let FleetStep::Send { ticket, .. } = fleet.poll(now) else {
        panic!()
    };
    fleet.handle(
        now,
        ticket,
        Err(Error::transport(
            "refused",
            std::io::Error::other("refused"),
        )),
    );
    let mut ended = 0;
    loop {
        match fleet.poll(now) {
            FleetStep::Event(e) => {
                let (_, report) = e.into_wait();
                let crate::WaitOutcome::Error(err) = report.outcome else {
                    panic!("{:?}", report.outcome)
                };
                assert!(err.to_string().contains("unreachable"), "{err}");
                ended += 1;
            }
            FleetStep::Finished => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(ended, 4);
}
