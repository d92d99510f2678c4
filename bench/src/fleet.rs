//! Item 3: a fleet poll of many ids against the simulator with a global rate
//! limit: total time against the ideal, the share of 429s, and the client's
//! peak RSS; with the adaptive limiter as it ships, with a rate hint, and
//! off for contrast.
//!
//! Each run starts a fresh simulator process (pinned to one CPU) holding
//! `ins-00000`, `ins-00001`, ... in state `running`, and a fresh client
//! process (pinned to the other) that polls them all with one
//! `clouddc_reqwest::Client::fleet` and reports its own `VmHWM`.

use std::collections::BTreeMap;
use std::time::Instant;

use clouddc_core::RateLimiterConfig;
use clouddc_core::{
    Config, Credentials, Endpoint, FleetEvent, FleetOptions, InstanceId, Job, ProjectId,
};
use clouddc_simulator::{Counters, NewInstance, Schedule, SimConfig, start_blocking};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::child::{self, BoxError, Pin, Server};
use crate::discussion::verdict;
use crate::report::{Goal, Row, Section, Unit, Verdict};
use clouddc_bench::stats::summarize;

/// How the client paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The fleet default: adaptive limiter from 100 requests/s with slow
    /// start, retry budget.
    Adaptive,
    /// `RateLimiterConfig::hint(rps)` (the CLI's `--rate-limit`), retry budget.
    Hint,
    /// No limiter, no budget: retries on 429 after `Retry-After` only.
    Off,
    /// `RateLimiterConfig::cap(rps)`: what the CLI's `--rate-limit` sets.
    Cap,
}

impl Mode {
    /// The modes of the fleet item.
    const ALL: [Self; 3] = [Self::Adaptive, Self::Hint, Self::Off];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Adaptive => "adaptive",
            Self::Hint => "hint",
            Self::Off => "off",
            Self::Cap => "cap",
        }
    }

    fn parse(s: &str) -> Result<Self, BoxError> {
        [Self::Adaptive, Self::Hint, Self::Off, Self::Cap]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!("--limiter must be adaptive, hint, off or cap, not {s:?}").into()
            })
    }

    fn label(self, rps: f64) -> String {
        match self {
            Self::Adaptive => "limiter as shipped (adaptive, no hint)".to_owned(),
            Self::Hint => format!("limiter with hint {rps:.0}/s (`--rate-limit`)"),
            Self::Off => "limiter off (contrast)".to_owned(),
            Self::Cap => format!("`--rate-limit {rps:.0}` (a cap)"),
        }
    }
}

/// Settings of the fleet runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) rounds: usize,
    pub(crate) ids: usize,
    pub(crate) rps: f64,
    pub(crate) concurrency: usize,
}

/// The id of fleet instance `i`.
fn fleet_id(i: usize) -> String {
    format!("ins-{i:05}")
}

/// `serve-sim`: the simulator with `instances` running instances and a
/// global rate limit; prints its global counters when stdin closes.
pub(crate) fn serve_main(rps: f64, instances: usize) -> Result<(), BoxError> {
    serve(SimConfig::builder().token_bucket(rps).build()?, instances)
}

/// Serves `config` with `instances` running instances (`ins-00000`, …):
/// prints `URL PROJECT` when listening, and the global counters when stdin
/// closes.
pub(crate) fn serve(config: SimConfig, instances: usize) -> Result<(), BoxError> {
    let sim = start_blocking(config)?;
    for i in 0..instances {
        sim.control().create_instance(
            NewInstance::new()
                .with_id(fleet_id(i))
                .with_schedule(Schedule::instant()),
        )?;
    }
    child::listening(&format!("{} {}", sim.url(), sim.project_id()))?;
    child::until_stdin_closes();
    let counters = sim.control().with(|s, _| s.global_counters().clone());
    println!("COUNTERS {}", serde_json::to_string(&counters)?);
    sim.shutdown();
    Ok(())
}

/// What one client run reports.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub(crate) secs: f64,
    pub(crate) ok: u64,
    pub(crate) failed: BTreeMap<String, u64>,
    pub(crate) peak_rss_kib: Option<u64>,
}

/// Arguments of the client child.
#[derive(Debug)]
pub(crate) struct ClientArgs {
    pub(crate) url: String,
    pub(crate) project: String,
    pub(crate) ids: usize,
    pub(crate) concurrency: usize,
    pub(crate) rps: f64,
    pub(crate) mode: String,
}

/// `fleet-client`: polls every id once, reports time, failures and RSS.
pub(crate) fn client_main(a: &ClientArgs) -> Result<(), BoxError> {
    // The fleet's defaults are the adaptive limiter and the retry budget.
    let base = FleetOptions::new().max_in_flight(a.concurrency);
    let options = match Mode::parse(&a.mode)? {
        Mode::Adaptive => base,
        Mode::Hint => base.rate(Some(RateLimiterConfig::hint(a.rps))),
        Mode::Off => base.rate(None).budget(None),
        Mode::Cap => base.rate(Some(RateLimiterConfig::cap(a.rps))),
    };
    let config = Config::builder()
        .endpoint(Endpoint::parse(&a.url)?)
        .project_id(ProjectId::new(a.project.clone())?)
        .credentials(Credentials::token("bench-token")?)
        .build()?;
    let client = clouddc_reqwest::Client::new(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ids = (0..a.ids).map(|i| InstanceId::new(fleet_id(i)).expect("fleet ids are valid"));
    let (secs, ok, failed) = rt.block_on(async {
        let t = Instant::now();
        let (mut ok, mut failed) = (0u64, BTreeMap::<String, u64>::new());
        let mut results = client
            .fleet(Job::Status, ids, options)
            .map(FleetEvent::into_status);
        while let Some((_, r)) = results.next().await {
            match r {
                Ok(_) => ok += 1,
                Err(e) => *failed.entry(e.kind().as_str().to_owned()).or_default() += 1,
            }
        }
        (t.elapsed().as_secs_f64(), ok, failed)
    });
    child::report(&Outcome {
        secs,
        ok,
        failed,
        peak_rss_kib: child::peak_rss_kib(),
    })
}

#[derive(Debug, Default)]
struct Series {
    time_ratio: Vec<f64>,
    throttled_share: Vec<f64>,
    rss_mib: Vec<f64>,
    failed: Vec<f64>,
    secs: Vec<f64>,
}

/// The orchestrator's side: `rounds` rounds of every mode, order rotating.
pub(crate) fn run(pin: &Pin, s: &Settings) -> Result<Section, BoxError> {
    let ideal = s.ids as f64 / s.rps;
    let mut series: BTreeMap<&'static str, Series> = BTreeMap::new();
    for round in 0..s.rounds {
        for k in 0..Mode::ALL.len() {
            let mode = Mode::ALL[(k + round) % Mode::ALL.len()];
            eprintln!(
                "fleet: round {}/{}, limiter {}",
                round + 1,
                s.rounds,
                mode.name()
            );
            let (o, counters) = one_run(pin, s, mode)?;
            let e = series.entry(mode.name()).or_default();
            e.time_ratio.push(o.secs / ideal);
            e.secs.push(o.secs);
            e.throttled_share
                .push(counters.throttled as f64 / counters.requests.max(1) as f64);
            if let Some(kib) = o.peak_rss_kib {
                e.rss_mib.push(kib as f64 / 1024.0);
            }
            e.failed.push(o.failed.values().sum::<u64>() as f64);
        }
    }
    Ok(section(&series, s, ideal, pin))
}

fn one_run(pin: &Pin, s: &Settings, mode: Mode) -> Result<(Outcome, Counters), BoxError> {
    let (rps, ids) = (s.rps.to_string(), s.ids.to_string());
    let server = ["serve-sim", "--rps", &rps, "--instances", &ids];
    run_against(pin, &server, s, mode)
}

/// Starts the server child `server` (which prints `URL PROJECT`, then its
/// counters when stdin closes) and polls `s.ids` ids from a client child.
pub(crate) fn run_against(
    pin: &Pin,
    server: &[&str],
    s: &Settings,
    mode: Mode,
) -> Result<(Outcome, Counters), BoxError> {
    let (rps, ids) = (s.rps.to_string(), s.ids.to_string());
    let sim = Server::start(pin.server(server)?)?;
    let (url, project) = sim
        .listening
        .split_once(' ')
        .map(|(u, p)| (u.to_owned(), p.to_owned()))
        .ok_or("serve-sim printed no project")?;
    let concurrency = s.concurrency.to_string();
    let outcome = child::run_client::<Outcome>(pin.client(&[
        "fleet-client",
        "--url",
        &url,
        "--project",
        &project,
        "--ids",
        &ids,
        "--concurrency",
        &concurrency,
        "--rps",
        &rps,
        "--limiter",
        mode.name(),
    ])?)?;
    let lines = sim.stop()?;
    let counters = lines
        .iter()
        .find_map(|l| l.strip_prefix("COUNTERS "))
        .ok_or("serve-sim printed no counters")?;
    Ok((outcome, serde_json::from_str(counters)?))
}

fn section(
    series: &BTreeMap<&'static str, Series>,
    s: &Settings,
    ideal: f64,
    pin: &Pin,
) -> Section {
    let mut rows = Vec::new();
    let mut notes = vec![format!(
        "Setup: {} ids (`ins-00000`…), all `running`, in a fresh simulator process per run \
         limited to {:.0} requests/s globally (burst {:.0}); a fresh client process per run \
         polls them all once with one `clouddc_reqwest::Client::fleet` of \
         `Job::Status`, at most {} requests in flight (`FleetOptions::max_in_flight`), on a \
         current-thread runtime, {}. Ideal time {ideal:.1} s (ids / limit, as the issue \
         defines it; the simulator's initial burst of {:.0} makes {:.1} s the true floor, which \
         is how a run can finish under 1×). The 429 share is the simulator's count of 429s \
         over every request it got, retries included. Peak RSS is the client process's \
         `VmHWM` (runtime, pool, stream; the ids are generated lazily).",
        s.ids,
        s.rps,
        s.rps.ceil(),
        s.concurrency,
        pin.describe(),
        s.rps.ceil(),
        (s.ids as f64 - s.rps.ceil()).max(0.0) / s.rps,
    )];
    for mode in Mode::ALL {
        let Some(x) = series.get(mode.name()) else {
            continue;
        };
        let goal = |g| if mode == Mode::Off { Goal::None } else { g };
        let label = mode.label(s.rps);
        let time = Row::measured(
            "3",
            format!("fleet, {label}: total time / ideal {ideal:.0} s"),
            &x.time_ratio,
            Unit::Ratio,
            goal(Goal::AtMost(1.15)),
        );
        let share = Row::measured(
            "3",
            format!("fleet, {label}: share of requests answered 429"),
            &x.throttled_share,
            Unit::Percent,
            goal(Goal::AtMost(0.01)),
        );
        let rss = Row::measured(
            "3",
            format!("fleet, {label}: client peak RSS"),
            &x.rss_mib,
            Unit::MiB,
            goal(Goal::AtMost(64e6 / 1024.0 / 1024.0)),
        );
        notes.push(discussion(
            mode,
            &label,
            &time,
            &share,
            &rss,
            x.failed.as_slice(),
            &x.secs,
        ));
        rows.extend([time, share, rss]);
    }
    Section { rows, notes }
}

/// Item 3, one mode.
fn discussion(
    mode: Mode,
    label: &str,
    time: &Row,
    share: &Row,
    rss: &Row,
    failed: &[f64],
    secs: &[f64],
) -> String {
    let failed = summarize(failed).map_or(0.0, |s| s.max);
    let secs = summarize(secs).map_or(f64::NAN, |s| s.median);
    match mode {
        Mode::Off => format!(
            "**3. Fleet, {label}** — for contrast: {secs:.1} s ({} of the ideal), {} of \
             requests answered 429, peak RSS {}; up to {failed:.0} calls per run failed after \
             their retries. Without a limiter every call that meets an empty bucket retries \
             after `Retry-After`, so the 429 share shows the traffic the limiter saves.",
            time.median, share.median, rss.median
        ),
        Mode::Adaptive | Mode::Hint | Mode::Cap => {
            let mut why = String::new();
            if matches!(time.verdict, Verdict::Missed(_)) {
                why.push_str(if mode == Mode::Adaptive {
                    " Total time misses because the limiter as shipped does not know the limit: \
                     it starts well below it (100 requests/s by default) and ramps up (slow \
                     start), so the first seconds send less than the server would take, and \
                     after its first 429s it cuts its rate below the limit and climbs back \
                     slowly. With a rate hint it starts at the limit (next paragraph)."
                } else {
                    " Total time misses although the client starts at the limit: after a 429 \
                     the limiter cuts its rate below the limit and climbs back slowly."
                });
            }
            if matches!(share.verdict, Verdict::Missed(_)) {
                why.push_str(
                    " The 429s come from probing: the limiter only learns the limit by \
                     crossing it, first when slow start overshoots and then whenever the \
                     upward probe passes it again; each crossing costs the requests already \
                     sent at the higher rate.",
                );
            }
            format!(
                "**3. Fleet, {label}** — time ≤ 1.15× ideal: {}; 429 share ≤ 1 %: {}; peak RSS ≤ \
                 64 MB: {}. Failed calls: at most {failed:.0} per run.{why}",
                verdict(time, "≤ 1.15×"),
                verdict(share, "≤ 1.00 %"),
                verdict(rss, "≤ 64 MB, i.e. 61.0 MiB"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order() {
        assert_eq!(fleet_id(7), "ins-00007");
        assert!(fleet_id(9_999) < fleet_id(10_000));
        assert!(InstanceId::new(fleet_id(123)).is_ok());
    }

    #[test]
    fn modes_round_trip() {
        for m in Mode::ALL {
            assert_eq!(Mode::parse(m.name()).unwrap(), m);
        }
        assert!(Mode::parse("fast").is_err());
    }
}
