//! The `status` and `wait` commands: settings in, records and an exit code
//! out.
//!
//! Owns exit-code rules (status: 0/1/2; wait: 0/3/4/1/2 with precedence
//! 1 > 3 > 4) and the choice of fleet limits. Must not parse HTTP or decide
//! retries (the core does) nor move bytes (the backend does).

use std::ops::ControlFlow;

use clouddc_core::{
    Config, FleetEvent, FleetOptions, FleetProgress, InstanceId, InstanceState, Job, WaitOptions,
};
use clouddc_core::{RateLimiterConfig, RetryBudgetConfig};

use crate::args::{GlobalArgs, IdArgs, OutputFormat, StatusArgs, WaitArgs};
use crate::backend;
use crate::engine::InOrder;
use crate::interrupt::Interrupt;
use crate::out::{self, Stop};
use crate::output::{Record, json_line, table};
use crate::progress::Live;
use crate::settings::{self, Env, UsageError};

/// Process exit codes of the contract.
pub(crate) mod exit {
    pub(crate) const OK: u8 = 0;
    pub(crate) const FAILURE: u8 = 1;
    pub(crate) const USAGE: u8 = 2;
    pub(crate) const WAIT_FAILED: u8 = 3;
    pub(crate) const TIMED_OUT: u8 = 4;
}

/// The fleet's pacing: `--rate-limit` is a hard cap; without it, fleets of
/// more than one id adapt to the API's limit from its 429s. The retry
/// budget is on for fleets.
pub(crate) fn fleet_options(ids: &IdArgs, count: usize, concurrency: usize) -> FleetOptions {
    let rate = match ids.rate_limit {
        Some(r) => Some(RateLimiterConfig::cap(r)),
        None if count > 1 => Some(RateLimiterConfig::default()),
        None => None,
    };
    let budget = (count > 1).then(RetryBudgetConfig::default);
    FleetOptions::new()
        .max_in_flight(concurrency)
        .rate(rate)
        .budget(budget)
}

fn run(
    g: &GlobalArgs,
    env: Env<'_>,
    ids_args: &IdArgs,
    started: std::time::Instant,
    deadline: Option<std::time::Instant>,
    job: impl FnOnce() -> Result<(Job, Option<String>), UsageError>,
) -> Result<Vec<Record>, Failed> {
    let config = settings::config(g, env)?;
    let ids = settings::ids(ids_args)?;
    let (job, target) = job()?;
    let concurrency = crate::fds::fit(ids_args.concurrency as usize);
    let mut options = fleet_options(ids_args, ids.len(), concurrency);
    if let Some(d) = deadline {
        options = options.deadline(d);
    }
    execute(Spec {
        config,
        options,
        max_in_flight: concurrency,
        started,
        unordered: ids_args.unordered,
        progress: !ids_args.no_progress,
        ids: &ids,
        job,
        target,
        transport: g.transport,
        format: g.output,
    })
}

/// One run of `status` or `wait`, settings resolved.
pub(crate) struct Spec<'a> {
    pub(crate) config: Config,
    pub(crate) ids: &'a [InstanceId],
    pub(crate) job: Job,
    /// The target state, for waits.
    pub(crate) target: Option<String>,
    pub(crate) transport: crate::args::TransportKind,
    pub(crate) format: OutputFormat,
    pub(crate) options: FleetOptions,
    /// Requests in flight at once (the client's bound as well as the
    /// fleet's).
    pub(crate) max_in_flight: usize,
    /// When the command started: `elapsed_ms` of a wait counts from here.
    pub(crate) started: std::time::Instant,
    /// Records as they finish instead of in argument order.
    pub(crate) unordered: bool,
    /// Progress on stderr, if it is a terminal.
    pub(crate) progress: bool,
}

/// Why a run ended without its records.
#[derive(Debug)]
pub(crate) enum Failed {
    /// Nothing was sent.
    Usage(UsageError),
    /// Stdout is closed or failing: the run was broken off.
    Output(Stop),
    /// A signal stopped the run after every id got its record; the exit
    /// status for it.
    Interrupted(u8),
}

impl From<UsageError> for Failed {
    fn from(e: UsageError) -> Self {
        Self::Usage(e)
    }
}

impl Failed {
    /// Reports the failure and gives the exit status.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(e) => usage(e),
            Self::Output(stop) => stop.exit_code(),
            Self::Interrupted(code) => *code,
        }
    }
}

/// Runs a spec, printing records as the format asks; returns them in order
/// (the table needs them all; JSON lines are printed as they come).
pub(crate) fn execute(spec: Spec<'_>) -> Result<Vec<Record>, Failed> {
    backend::check(spec.transport)?;
    let ids = spec.ids;
    let format = spec.format;
    let target = spec.target.clone();
    let started = spec.started;
    let live = Live::start(ids.len(), spec.progress);
    let mut records = Vec::with_capacity(ids.len());
    let config = spec.config.clone();
    let emit = |e: FleetEvent| {
        let record = match &target {
            Some(_) => {
                let (id, w) = e.into_wait();
                let mut r = Record::from_wait(id.as_str(), target.as_deref().unwrap_or(""), &w);
                let since_start = started.elapsed().as_millis();
                r.elapsed_ms = Some(u64::try_from(since_start).unwrap_or(u64::MAX));
                r
            }
            None => {
                let (id, r) = e.into_status();
                Record::from_status(id.as_str(), &r)
            }
        };
        let record = record.identify(&config);
        if format == OutputFormat::Json {
            out::bytes(&json_line(&record))?;
        }
        records.push(record);
        Ok::<(), Stop>(())
    };
    let mut order = InOrder::new(emit, !spec.unordered);
    let mut stopped = None;
    let interrupt = Interrupt::install();
    let mut on_event = |e: FleetEvent, p: FleetProgress| {
        if let Some(live) = &live {
            live.update(&p);
        }
        match order.push(e) {
            Ok(()) => ControlFlow::Continue(()),
            Err(stop) => {
                stopped = Some(stop);
                ControlFlow::Break(())
            }
        }
    };
    let run = backend::FleetRun {
        kind: spec.transport,
        config: spec.config,
        job: spec.job,
        ids,
        options: spec.options,
        max_in_flight: spec.max_in_flight,
    };
    backend::run(run, &interrupt, &mut on_event)?;
    drop(order);
    if let Some(live) = &live {
        live.clear();
    }
    if let Some(stop) = stopped {
        return Err(Failed::Output(stop));
    }
    if format == OutputFormat::Table {
        out::bytes(table(&records).as_bytes()).map_err(Failed::Output)?;
    }
    if let Some(code) = interrupt.exit_code() {
        return Err(Failed::Interrupted(code));
    }
    Ok(records)
}

fn usage(e: &UsageError) -> u8 {
    out::err(format_args!("clouddc: error: {}", e.0));
    exit::USAGE
}

/// `clouddc status`.
pub(crate) fn status(
    g: &GlobalArgs,
    env: Env<'_>,
    a: &StatusArgs,
    started: std::time::Instant,
) -> u8 {
    match run(g, env, &a.ids, started, None, || Ok((Job::Status, None))) {
        Ok(records) if records.iter().all(|r| r.ok) => exit::OK,
        Ok(_) => exit::FAILURE,
        Err(e) => e.exit_code(),
    }
}

/// The target state of `--until`: a known state or alias.
pub(crate) fn target_state(s: &str) -> Result<InstanceState, UsageError> {
    let st = InstanceState::parse(s.trim());
    if st.is_known() {
        Ok(st)
    } else {
        let known: Vec<&str> = InstanceState::KNOWN
            .iter()
            .map(InstanceState::as_str)
            .collect();
        Err(UsageError(format!(
            "unknown state {s:?} for --until: use one of {}",
            known.join(", ")
        )))
    }
}

/// The exit code of a set of wait records: 1 over 3 over 4.
pub(crate) fn wait_exit(records: &[Record]) -> u8 {
    let has = |o: &str| records.iter().any(|r| r.outcome == Some(o));
    if has("error") {
        exit::FAILURE
    } else if has("failed") {
        exit::WAIT_FAILED
    } else if has("timed_out") {
        exit::TIMED_OUT
    } else {
        exit::OK
    }
}

/// `clouddc wait`.
pub(crate) fn wait(g: &GlobalArgs, env: Env<'_>, a: &WaitArgs, started: std::time::Instant) -> u8 {
    let job = || {
        let target = target_state(&a.until)?;
        let options = WaitOptions::new().interval(a.interval).max_wait(a.timeout);
        Ok((
            Job::Wait {
                target: target.clone(),
                options,
            },
            Some(target.to_string()),
        ))
    };
    // `--timeout` runs from the command's start for every id.
    let deadline = started.checked_add(a.timeout);
    match run(g, env, &a.ids, started, deadline, job) {
        Ok(records) => wait_exit(&records),
        Err(e) => e.exit_code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(outcome: &'static str) -> Record {
        Record {
            id: "i".into(),
            ok: outcome == "reached",
            state: None,
            operation_state: None,
            error: None,
            failure: None,
            outcome: Some(outcome),
            polls: Some(1),
            elapsed_ms: Some(1),
        }
    }

    #[test]
    fn wait_exit_precedence() {
        assert_eq!(wait_exit(&[rec("reached")]), 0);
        assert_eq!(wait_exit(&[rec("reached"), rec("timed_out")]), 4);
        assert_eq!(wait_exit(&[rec("timed_out"), rec("failed")]), 3);
        assert_eq!(
            wait_exit(&[rec("failed"), rec("error"), rec("timed_out")]),
            1
        );
    }

    #[test]
    fn until_accepts_aliases_and_rejects_typos() {
        assert_eq!(
            target_state("teminated").unwrap(),
            InstanceState::Terminated
        );
        assert_eq!(
            target_state("shutting_down").unwrap(),
            InstanceState::ShuttingDown
        );
        let e = target_state("runing").unwrap_err();
        assert!(e.0.contains("running"), "{}", e.0);
    }
}
