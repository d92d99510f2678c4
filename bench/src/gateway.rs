//! Item 6: fleets against the API gateway as it really throttles: fixed
//! windows, 429 `APIGW.0308` quoting the quota, no `Retry-After`. Total
//! time against the ideal, the share of 429s, ids lost and the client's
//! peak RSS, with the CLI's default flags and with `--rate-limit` at the
//! quota.
//!
//! Each run starts a fresh simulator process (pinned to one CPU) with one
//! per-API flow-control policy and `ins-00000`, `ins-00001`, ... `running`,
//! and a fresh client process (pinned to the other) that polls them all
//! with one `clouddc_reqwest::Client::fleet`, as item 3 does.

use std::collections::BTreeMap;
use std::time::Duration;

use clouddc_simulator::{FlowPolicy, SimConfig};

use crate::child::{BoxError, Pin};
use crate::fleet::{self, Mode};
use crate::report::{Goal, Row, Section, Unit};

/// The CLI's default `--concurrency`.
const CLI_CONCURRENCY: usize = 16;

/// Settings of the gateway runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) rounds: usize,
    /// Also run 700 ids under 600 per minute (real minutes: about 2.5 min
    /// a mode).
    pub(crate) minute: bool,
}

/// One scenario: ids under a quota of `limit` per `window_s` seconds.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    ids: usize,
    limit: u32,
    window_s: u64,
    /// The goal on time / ideal.
    time_goal: Goal,
    rounds: Option<usize>,
}

impl Scenario {
    fn ideal_secs(&self) -> f64 {
        self.ids as f64 / f64::from(self.limit) * self.window_s as f64
    }

    fn rps(&self) -> f64 {
        f64::from(self.limit) / self.window_s as f64
    }

    fn name(&self) -> String {
        let window = match self.window_s {
            1 => "1 s window".to_owned(),
            60 => "1 min window".to_owned(),
            s => format!("{s} s window"),
        };
        format!("{} ids at {} per {window}", self.ids, self.limit)
    }
}

/// `serve-gateway`: the simulator with one per-API flow-control policy and
/// `instances` running instances; prints its global counters when stdin
/// closes.
pub(crate) fn serve_main(limit: u32, window_s: u64, instances: usize) -> Result<(), BoxError> {
    let policy = FlowPolicy::per_api(limit, Duration::from_secs(window_s));
    fleet::serve(SimConfig::builder().flow_policy(policy).build()?, instances)
}

#[derive(Debug, Default)]
struct Series {
    time_ratio: Vec<f64>,
    throttled_share: Vec<f64>,
    lost: Vec<f64>,
    rss_mib: Vec<f64>,
}

/// The orchestrator's side: every scenario, both modes, `rounds` rounds.
pub(crate) fn run(pin: &Pin, s: &Settings) -> Result<Section, BoxError> {
    let mut scenarios = vec![
        Scenario {
            ids: 10_000,
            limit: 200,
            window_s: 1,
            time_goal: Goal::AtMost(1.15),
            rounds: None,
        },
        Scenario {
            ids: 300,
            limit: 20,
            window_s: 1,
            time_goal: Goal::AtMost(1.25),
            rounds: None,
        },
    ];
    if s.minute {
        scenarios.push(Scenario {
            ids: 700,
            limit: 600,
            window_s: 60,
            time_goal: Goal::None,
            rounds: Some(1),
        });
    }
    let mut rows = Vec::new();
    let mut notes = vec![format!(
        "Setup: a fresh simulator process per run with one per-API flow-control policy \
         (`FlowPolicy::per_api`: fixed windows aligned to its start, refused calls counted, \
         429 `APIGW.0308` quoting the quota, no `Retry-After`) and every id `running`; a fresh \
         client process per run polls them all once with one `clouddc_reqwest::Client::fleet` \
         of `Job::Status`, at most {CLI_CONCURRENCY} requests in flight (the CLI's default \
         `--concurrency`), on a current-thread runtime, {}. \"Default flags\" is the fleet's \
         adaptive limiter and retry budget, as `clouddc status` sets them; \"`--rate-limit`\" \
         adds `RateLimiterConfig::cap` at the quota's rate. Ideal time is ids / quota × \
         window. The 429 share is the simulator's count of flow-control 429s over every \
         request it got, retries included; ids lost are calls that ended in an error.",
        pin.describe()
    )];
    for sc in scenarios {
        let rounds = sc.rounds.unwrap_or(s.rounds);
        let mut series: BTreeMap<&'static str, Series> = BTreeMap::new();
        for round in 0..rounds {
            let order = if round % 2 == 0 {
                [Mode::Adaptive, Mode::Cap]
            } else {
                [Mode::Cap, Mode::Adaptive]
            };
            for mode in order {
                eprintln!(
                    "gateway: {}, round {}/{rounds}, {}",
                    sc.name(),
                    round + 1,
                    mode.name()
                );
                let settings = fleet::Settings {
                    rounds: 1,
                    ids: sc.ids,
                    rps: sc.rps(),
                    concurrency: CLI_CONCURRENCY,
                };
                let (limit, window, ids) = (
                    sc.limit.to_string(),
                    sc.window_s.to_string(),
                    sc.ids.to_string(),
                );
                let server = [
                    "serve-gateway",
                    "--limit",
                    &limit,
                    "--window-s",
                    &window,
                    "--instances",
                    &ids,
                ];
                let (o, counters) = fleet::run_against(pin, &server, &settings, mode)?;
                let e = series.entry(mode.name()).or_default();
                e.time_ratio.push(o.secs / sc.ideal_secs());
                e.throttled_share
                    .push(counters.gateway_throttled as f64 / counters.requests.max(1) as f64);
                e.lost.push(o.failed.values().sum::<u64>() as f64);
                if let Some(kib) = o.peak_rss_kib {
                    e.rss_mib.push(kib as f64 / 1024.0);
                }
            }
        }
        for mode in [Mode::Adaptive, Mode::Cap] {
            let Some(x) = series.get(mode.name()) else {
                continue;
            };
            let label = match mode {
                Mode::Cap => format!("`--rate-limit {:.0}`", sc.rps()),
                _ => "default flags".to_owned(),
            };
            let what = |m: &str| format!("gateway, {}, {label}: {m}", sc.name());
            rows.push(Row::measured(
                "6",
                what(&format!("total time / ideal {:.0} s", sc.ideal_secs())),
                &x.time_ratio,
                Unit::Ratio,
                sc.time_goal,
            ));
            rows.push(Row::measured(
                "6",
                what("share of requests answered 429"),
                &x.throttled_share,
                Unit::Percent,
                if sc.ids >= 10_000 {
                    Goal::AtMost(0.02)
                } else {
                    Goal::AtMost(0.10)
                },
            ));
            rows.push(Row::measured(
                "6",
                what("ids lost"),
                &x.lost,
                Unit::Count,
                Goal::AtMost(0.0),
            ));
            rows.push(Row::measured(
                "6",
                what("client peak RSS"),
                &x.rss_mib,
                Unit::MiB,
                Goal::None,
            ));
        }
    }
    notes.push(
        "Why not 1×: a client learns a quota from its first 429, so the first window is spent \
         at the adaptive limiter's start (or at the cap), then it holds one whole window so \
         that nothing more lands in the window that refused, then paces at 95 % of the quota, \
         the margin that absorbs the unknown alignment of the gateway's windows. The 429s are \
         the requests in flight when the first one came back."
            .to_owned(),
    );
    Ok(Section { rows, notes })
}
