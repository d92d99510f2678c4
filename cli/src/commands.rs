//! The `status` and `wait` commands: settings in, records and an exit code
//! out.
//!
//! Owns exit-code rules (status: 0/1/2; wait: 0/3/4/1/2 with precedence
//! 1 > 3 > 4) and the choice of fleet limits. Must not parse HTTP or decide
//! retries (the core does) nor move bytes (the backend does).

use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::sync::Mutex;

use clap::ArgMatches;
use clouddc_core::limiter::{RateLimiterConfig, RetryBudgetConfig};
use clouddc_core::{InstanceState, SharedLimits, WaitOptions};

use crate::args::{GlobalArgs, IdArgs, OutputFormat, StatusArgs, WaitArgs};
use crate::backend;
use crate::engine::{InOrder, Job, Observer, Outcome, Plan, Progress};
use crate::output::{Record, table, write_json};
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

/// Fleet operations pace themselves: the adaptive limiter and the retry
/// budget are on for more than one id or when a rate hint is given.
fn limits(ids: &IdArgs, count: usize) -> SharedLimits {
    let rate = match ids.rate_limit {
        Some(r) => Some(RateLimiterConfig::hint(r)),
        None if count > 1 => Some(RateLimiterConfig::default()),
        None => None,
    };
    let budget = (count > 1).then(RetryBudgetConfig::default);
    SharedLimits::new(rate, budget)
}

fn random_seed() -> u64 {
    RandomState::new().hash_one(std::process::id())
}

/// Records in argument order, as JSON lines now or as a table at the end.
struct Printer<'a> {
    ids: &'a [clouddc_core::InstanceId],
    order: InOrder<Box<dyn FnMut(usize, Outcome) + Send + 'a>>,
    live: Option<Live>,
}

impl Observer for Printer<'_> {
    fn progress(&self, index: usize, progress: &Progress) {
        if let Some(live) = &self.live {
            live.update(index, progress);
        }
        tracing::debug!(
            id = %self.ids[index],
            polls = progress.polls,
            state = progress.last.as_ref().map(|s| s.state.to_string()).unwrap_or_default(),
            "poll finished"
        );
    }

    fn done(&self, index: usize, outcome: Outcome) {
        if let Some(live) = &self.live {
            let summary = match &outcome {
                Outcome::Wait(w) => format!(
                    "{:<14} {} after {} polls",
                    w.outcome
                        .status()
                        .map_or_else(|| "-".to_owned(), |s| s.state.to_string()),
                    w.outcome.as_str(),
                    w.polls
                ),
                Outcome::Status(_) => String::new(),
            };
            live.finish(index, &summary);
        }
        let id = &self.ids[index];
        match &outcome {
            Outcome::Status(Ok(s)) => tracing::debug!(%id, state = %s.state, "status"),
            Outcome::Status(Err(e)) => tracing::debug!(
                %id,
                kind = e.kind().as_str(),
                http_status = e.http_status().map(|s| s.as_u16()),
                request_id = e.request_id(),
                "status failed"
            ),
            Outcome::Wait(w) => tracing::debug!(
                %id,
                outcome = w.outcome.as_str(),
                polls = w.polls,
                elapsed_ms = u64::try_from(w.elapsed.as_millis()).unwrap_or(u64::MAX),
                "wait finished"
            ),
        }
        self.order.push(index, outcome);
    }
}

fn run(
    g: &GlobalArgs,
    m: &ArgMatches,
    env: Env<'_>,
    ids_args: &IdArgs,
    job: impl FnOnce() -> Result<(Job, Option<String>), UsageError>,
) -> Result<Vec<Record>, UsageError> {
    let config = settings::config(g, m, env)?;
    let ids = settings::ids(ids_args)?;
    let (job, target) = job()?;
    let limits = limits(ids_args, ids.len());
    execute(&Spec {
        config: &config,
        ids: &ids,
        job,
        target,
        transport: g.transport,
        format: g.output,
        concurrency: ids_args.concurrency as usize,
        limits,
    })
}

/// One run of `status` or `wait`, settings resolved.
pub(crate) struct Spec<'a> {
    pub(crate) config: &'a clouddc_core::Config,
    pub(crate) ids: &'a [clouddc_core::InstanceId],
    pub(crate) job: Job,
    /// The target state, for waits.
    pub(crate) target: Option<String>,
    pub(crate) transport: crate::args::TransportKind,
    pub(crate) format: OutputFormat,
    pub(crate) concurrency: usize,
    pub(crate) limits: SharedLimits,
}

/// Runs a spec, printing records as the format asks; returns them in order.
pub(crate) fn execute(spec: &Spec<'_>) -> Result<Vec<Record>, UsageError> {
    backend::check(spec.transport)?;
    let ids = spec.ids;
    let plan = Plan {
        config: spec.config,
        ids,
        job: spec.job.clone(),
        concurrency: spec.concurrency,
        limits: spec.limits.clone(),
        seed: random_seed(),
    };
    let records = Mutex::new(Vec::with_capacity(ids.len()));
    let format = spec.format;
    let emit = {
        let target = spec.target.clone();
        let records = &records;
        move |i: usize, outcome: Outcome| {
            let id = ids[i].as_str();
            let record = match &outcome {
                Outcome::Status(r) => Record::from_status(id, r),
                Outcome::Wait(w) => Record::from_wait(id, target.as_deref().unwrap_or(""), w),
            };
            if format == OutputFormat::Json {
                let mut out = std::io::stdout().lock();
                let _ = write_json(&mut out, &record);
                let _ = out.flush();
            }
            records
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(record);
        }
    };
    let live = (format == OutputFormat::Table && spec.target.is_some())
        .then(|| Live::start(ids))
        .flatten();
    let printer = Printer {
        ids,
        order: InOrder::new(Box::new(emit)),
        live,
    };
    backend::run(spec.transport, &plan, &printer)?;
    if let Some(live) = &printer.live {
        live.clear();
    }
    drop(printer);
    let records = records
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if format == OutputFormat::Table {
        print!("{}", table(&records));
    }
    Ok(records)
}

fn usage(e: &UsageError) -> u8 {
    eprintln!("clouddc: error: {}", e.0);
    exit::USAGE
}

/// `clouddc status`.
pub(crate) fn status(g: &GlobalArgs, m: &ArgMatches, env: Env<'_>, a: &StatusArgs) -> u8 {
    match run(g, m, env, &a.ids, || Ok((Job::Status, None))) {
        Ok(records) if records.iter().all(|r| r.ok) => exit::OK,
        Ok(_) => exit::FAILURE,
        Err(e) => usage(&e),
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
pub(crate) fn wait(g: &GlobalArgs, m: &ArgMatches, env: Env<'_>, a: &WaitArgs) -> u8 {
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
    match run(g, m, env, &a.ids, job) {
        Ok(records) => wait_exit(&records),
        Err(e) => usage(&e),
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
