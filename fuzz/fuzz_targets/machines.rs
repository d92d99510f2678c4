//! The call and waiter machines fed arbitrary event sequences: never a
//! panic, never a send after done, never more than max attempts per call.
#![no_main]

use clouddc_core::http::Response;
use clouddc_core::{
    Call, Config, Credentials, Endpoint, Error, InstanceId, InstanceState, Machine, Now, ProjectId,
    Session,
    Step, WaitOptions, Waiter,
};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, arbitrary::Arbitrary)]
enum Ev {
    Status { code: u16, retry_after: Option<u8>, state: u8 },
    Transport,
    Timeout,
    Silent,
    Jump(u16),
    PollEarly,
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    max_attempts: u8,
    waiter: bool,
    max_wait_s: u8,
    seed: u64,
    events: Vec<Ev>,
}

const STATES: &[&str] = &["pending", "running", "stopped", "terminated", "error", "weird", ""];

fn response(code: u16, ra: Option<u8>, state: u8) -> Response<Vec<u8>> {
    let mut b = Response::builder().status(100 + code % 500);
    if let Some(r) = ra {
        b = b.header("retry-after", r.to_string());
    }
    let body = format!(r#"{{"state":"{}"}}"#, STATES[usize::from(state) % STATES.len()]);
    b.body(body.into_bytes()).unwrap_or_else(|_| Response::new(Vec::new()))
}

fn drive<M: Machine>(m: &mut M, mut now: Now, events: &[Ev], max_sends: Option<u32>) {
    let mut sends = 0u32;
    let mut done = false;
    let mut evs = events.iter();
    for _ in 0..10_000 {
        match m.poll(now) {
            Step::Send(a) => {
                assert!(!done, "send after done");
                sends += 1;
                if let Some(max) = max_sends {
                    assert!(sends <= max, "more than max attempts");
                    assert_eq!(a.number, sends);
                }
                match evs.next() {
                    Some(Ev::Status { code, retry_after, state }) => {
                        m.handle_response(now, response(*code, *retry_after, *state))
                    }
                    Some(Ev::Transport) => {
                        m.handle_transport_error(now, Error::transport("reset", std::io::Error::other("x")))
                    }
                    Some(Ev::Timeout) => m.handle_transport_error(now, Error::timeout("t", None)),
                    Some(Ev::Jump(ms)) => now = now.advance(Duration::from_millis(u64::from(*ms))),
                    Some(Ev::Silent) | Some(Ev::PollEarly) => {}
                    None => m.handle_response(now, response(200, None, 1)),
                }
            }
            Step::Wait(t) => {
                assert!(t > now.mono, "wait must be in the future");
                now = now.advance_to(t);
            }
            Step::Done(_) => {
                if done {
                    return;
                }
                done = true;
            }
        }
    }
    panic!("machine did not finish");
}

fuzz_target!(|i: Input| {
    let Ok(config) = Config::builder()
        .endpoint(Endpoint::parse("http://127.0.0.1:1").expect("endpoint"))
        .project_id(ProjectId::new("p").expect("p"))
        .credentials(Credentials::ak_sk("AK", "SK").expect("creds"))
        .max_attempts(u32::from(i.max_attempts % 6))
        .attempt_timeout(Duration::from_secs(2))
        .build()
    else {
        return;
    };
    let now = Now::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000), Instant::now());
    let id = InstanceId::new("i-1").expect("id");
    let session = Session::new(config.clone());
    if i.waiter {
        let opts = WaitOptions::new()
            .interval(Duration::from_secs(1))
            .max_wait(Duration::from_secs(u64::from(i.max_wait_s % 60)));
        let mut w = Waiter::new(&session, id, InstanceState::Running, opts, now, i.seed);
        drive(&mut w, now, &i.events, None);
    } else {
        let mut c = Call::new(&session, id, now, i.seed);
        drive(&mut c, now, &i.events, Some(config.retry().max_attempts()));
    }
});
