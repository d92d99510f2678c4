//! One `status` or `wait` fleet, run to its records: settings in, the records
//! printed as the format asks (JSON lines as they come, in argument order
//! unless `--unordered`; the table at the end), live progress on a terminal,
//! and a signal ending the run with a record for every id.
//!
//! Owns the fleet's limits (`--concurrency` fitted to the descriptor limit,
//! `--rate-limit` or adaptive pacing, the retry budget) for `status`, `wait`
//! and `watch`, and what ends a run without its records ([`Failed`]). Must
//! not parse HTTP or decide retries (the core does), pick a transport (see
//! `clients`), nor turn records into an exit code (each command does).

use std::ops::ControlFlow;
use std::time::Instant;

use clouddc_core::{Config, FleetEvent, FleetOptions, FleetProgress, InstanceId, Job};
use clouddc_core::{RateLimiterConfig, RetryBudgetConfig};

use crate::args::{GlobalArgs, IdArgs, OutputFormat, TransportKind};
use crate::clients::{self, FleetRun};
use crate::fds;
use crate::interrupt::Interrupt;
use crate::live::Live;
use crate::progress::Line;
use crate::records::{Record, table};
use crate::reorder::InOrder;
use crate::settings::{self, Env};
use crate::stdio::{self, Stop};
use crate::usage::UsageError;

/// The fleet's pacing: `--rate-limit` is a hard cap; without it, fleets of
/// more than one id adapt to the API's limit from its 429s. The retry
/// budget is on for fleets.
pub(crate) fn options(ids: &IdArgs, count: usize, concurrency: usize) -> FleetOptions {
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

/// Runs the fleet the flags describe: settings, ids and the job (with the
/// target state of a wait) resolved first, so that a usage error sends
/// nothing; then [`execute`].
pub(crate) fn run(
    g: &GlobalArgs,
    env: Env<'_>,
    ids_args: &IdArgs,
    started: Instant,
    deadline: Option<Instant>,
    job: impl FnOnce() -> Result<(Job, Option<String>), UsageError>,
) -> Result<Vec<Record>, Failed> {
    let config = settings::config(g, env)?;
    let ids = settings::ids(ids_args)?;
    let (job, target) = job()?;
    let concurrency = fds::fit(ids_args.concurrency as usize);
    let mut options = options(ids_args, ids.len(), concurrency);
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
    pub(crate) transport: TransportKind,
    pub(crate) format: OutputFormat,
    pub(crate) options: FleetOptions,
    /// Requests in flight at once (the client's bound as well as the
    /// fleet's).
    pub(crate) max_in_flight: usize,
    /// When the command started: `elapsed_ms` of a wait counts from here.
    pub(crate) started: Instant,
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
            Self::Usage(e) => e.report(),
            Self::Output(stop) => stop.exit_code(),
            Self::Interrupted(code) => *code,
        }
    }
}

/// Runs a spec, printing records as the format asks; returns them in order
/// (the table needs them all; JSON lines are printed as they come).
pub(crate) fn execute(spec: Spec<'_>) -> Result<Vec<Record>, Failed> {
    clients::check(spec.transport)?;
    let ids = spec.ids;
    let format = spec.format;
    let target = spec.target.clone();
    let started = spec.started;
    let progress = Line::start(ids.len(), spec.progress);
    let mut records = Vec::with_capacity(ids.len());
    // Every field is the id's own, fixed when its event comes (not when
    // argument order lets its record print): `elapsed_ms` from the
    // command's start, and who asked, for a 401 or 403.
    let record_of = |e: FleetEvent, live: &Live| {
        let record = match &target {
            Some(t) => {
                let (id, w) = e.into_wait();
                Record::from_wait(id.as_str(), t, &w, started.elapsed())
            }
            None => {
                let (id, r) = e.into_status();
                Record::from_status(id.as_str(), &r)
            }
        };
        record.identify(live)
    };
    let mut emit = |record: Record| {
        if format == OutputFormat::Json {
            stdio::json_line(&record)?;
        }
        records.push(record);
        Ok::<(), Stop>(())
    };
    let mut order = InOrder::new(!spec.unordered);
    let mut stopped = None;
    let interrupt = Interrupt::install();
    let on_event = |e: FleetEvent, p: FleetProgress, live: &Live| {
        if let Some(progress) = &progress {
            progress.update(&p);
        }
        let index = e.index;
        match order.push(index, record_of(e, live), &mut emit) {
            Ok(()) => ControlFlow::Continue(()),
            Err(stop) => {
                stopped = Some(stop);
                ControlFlow::Break(())
            }
        }
    };
    let run = FleetRun {
        kind: spec.transport,
        config: spec.config,
        job: spec.job,
        ids,
        options: spec.options,
        max_in_flight: spec.max_in_flight,
        observer: progress.as_ref().map(Line::observer),
    };
    clients::run_fleet(run, &interrupt, on_event)?;
    if let Some(progress) = &progress {
        progress.clear();
    }
    if let Some(stop) = stopped {
        return Err(Failed::Output(stop));
    }
    if format == OutputFormat::Table {
        stdio::bytes(table(&records).as_bytes()).map_err(Failed::Output)?;
    }
    if let Some(code) = interrupt.exit_code() {
        return Err(Failed::Interrupted(code));
    }
    Ok(records)
}
