//! Item 4: how long after the simulator's state change `wait_until`
//! returns, against the poll interval.
//!
//! Per round, instances are created `pending` for times spread evenly over
//! five poll intervals (so the change falls at every phase of the polling),
//! and all of them are awaited at once with `clouddc_reqwest`'s
//! `wait_until(id, Running, interval)`. The change happens at exactly the
//! creation instant plus the pending time (the simulator evaluates its
//! schedules lazily from the clock it is handed), so the delay is the
//! instant `wait_until` returned minus that.

use std::time::{Duration, Instant};

use clouddc_core::{
    Config, Credentials, Endpoint, InstanceId, InstanceState, ProjectId, WaitOptions,
};
use clouddc_reqwest::WaitOutcome;
use clouddc_simulator::{NewInstance, Schedule, SimConfig, start_blocking};
use futures_util::future::join_all;

use crate::child::BoxError;
use crate::report::{Goal, Row, Section, Unit};
use clouddc_bench::stats::summarize;

/// Settings of the waiter runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) rounds: usize,
    pub(crate) waits: usize,
    pub(crate) interval: Duration,
}

/// Runs in this process: the simulator on its own thread, the client on a
/// current-thread runtime.
pub(crate) fn run(s: &Settings) -> Result<Section, BoxError> {
    let sim = start_blocking(SimConfig::default())?;
    let config = Config::builder()
        .endpoint(Endpoint::parse(sim.url())?)
        .project_id(ProjectId::new(sim.project_id())?)
        .credentials(Credentials::token("bench-token")?)
        .build()?;
    let client = clouddc_reqwest::Client::new(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = WaitOptions::new()
        .interval(s.interval)
        .max_wait(Duration::from_secs(60));
    let span = s.interval * 5;
    let (mut medians, mut ratios, mut polls) = (Vec::new(), Vec::new(), Vec::new());
    let mut all = Vec::new();
    for round in 0..s.rounds {
        eprintln!("waiter: round {}/{}", round + 1, s.rounds);
        let mut due = Vec::with_capacity(s.waits);
        for k in 0..s.waits {
            // Evenly spread phases, shifted a little every round.
            let frac = (k as f64 + (round as f64 + 0.5) / s.rounds as f64) / s.waits as f64;
            let pending = s.interval * 3 + span.mul_f64(frac);
            let id = format!("wait-{round}-{k}");
            let created = sim.control().with(|sim, now| {
                sim.create_instance(
                    NewInstance::new()
                        .with_id(id.clone())
                        .with_schedule(Schedule::pending_for(pending)),
                    now,
                )
                .map(|_| now)
            })?;
            due.push((InstanceId::new(id)?, created + pending));
        }
        let reports = rt.block_on(join_all(due.iter().map(|(id, _)| async {
            let report = client
                .wait_until(id, InstanceState::Running, options.clone())
                .await;
            (report, Instant::now())
        })));
        let mut delays = Vec::with_capacity(s.waits);
        for ((id, at), (report, returned)) in due.iter().zip(reports) {
            if !matches!(report.outcome, WaitOutcome::Reached(_)) {
                return Err(format!("waiting for {id} ended {}", report.outcome.as_str()).into());
            }
            let ms = returned.saturating_duration_since(*at).as_secs_f64() * 1000.0;
            delays.push(ms);
            polls.push(f64::from(report.polls));
        }
        all.extend_from_slice(&delays);
        if let Some(m) = summarize(&delays) {
            medians.push(m.median);
            ratios.push(m.median / (s.interval.as_secs_f64() * 1000.0));
        }
    }
    sim.shutdown();
    let interval_ms = s.interval.as_secs_f64() * 1000.0;
    let delay = Row::measured(
        "4",
        format!(
            "waiter: delay from state change to `wait_until` return (poll interval {interval_ms:.0} ms)"
        ),
        &medians,
        Unit::Ms,
        Goal::None,
    );
    let ratio = Row::measured(
        "4",
        "waiter: that delay / poll interval",
        &ratios,
        Unit::Ratio,
        Goal::None,
    );
    let notes = vec![discussion(s, &delay, &ratio, &all, &polls)];
    Ok(Section {
        rows: vec![delay, ratio],
        notes,
    })
}
/// Item 4.
fn discussion(s: &Settings, delay: &Row, ratio: &Row, all: &[f64], polls: &[f64]) -> String {
    let all = summarize(all);
    let polls = summarize(polls).map_or(f64::NAN, |p| p.median);
    let (p_min, p_max) = all.map_or((f64::NAN, f64::NAN), |a| (a.min, a.max));
    format!(
        "**4. Waiter** — no numeric goal: the median delay from the simulator's state change \
         to `wait_until` returning is {} with a fixed poll interval of {:.0} ms, {} of the \
         interval ({} waits per round, {} rounds; single delays from {p_min:.1} to \
         {p_max:.1} ms; median {polls:.0} polls per wait; the simulator and the client share \
         one unpinned process, since a millisecond of scheduling does not matter here). A poller that looks every interval \
         sees a change that happens at a random moment half an interval later on average, so \
         about 0.5× plus one round trip is the best any poller can do; more means the waiter \
         adds delay of its own.",
        delay.median,
        s.interval.as_secs_f64() * 1000.0,
        ratio.median,
        s.waits,
        s.rounds,
    )
}
