//! `clouddc watch`: poll a fleet and print each instance when first seen
//! and whenever its `state` or `operation_state` changes.
//!
//! Owns what a watch prints and when it ends (`--for`, `--until-all`, a
//! signal) with the exit statuses of CLI.md. Must not poll by itself: the
//! client's fleet (job `Watch`) does, with the same pacing as `status`
//! (`fleet::options`); a dropped id's failure is the record's
//! (`records::Failure`).

use std::ops::ControlFlow;
use std::time::SystemTime;

use clouddc_core::default_failure_states;
use clouddc_core::{FleetEvent, FleetProgress, Job, Outcome};
use serde::Serialize;

use crate::args::{GlobalArgs, OutputFormat, WatchArgs};
use crate::clients::{self, FleetRun};
use crate::fleet::{self, Failed};
use crate::interrupt::Interrupt;
use crate::live::Live;
use crate::records::Failure;
use crate::settings::{self, Env};
use crate::stdio::{self, Stop};
use crate::{exit, fds, text};

/// One line of a watch.
#[derive(Serialize)]
struct Change<'a> {
    id: &'a str,
    from: Option<&'a str>,
    to: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_state: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<Failure>,
    at: String,
}

/// What the watch has seen of one id.
#[derive(Default, Clone)]
struct Seen {
    state: Option<String>,
    operation: Option<String>,
    dropped: bool,
}

/// How a watch ended, by itself.
enum End {
    /// Every id left is in the target state.
    AllThere,
    /// An id entered a state it will not leave.
    Stuck,
}

/// `clouddc watch`.
pub(crate) fn run(g: &GlobalArgs, env: Env<'_>, a: &WatchArgs) -> u8 {
    match watch(g, env, a) {
        Ok(code) => code,
        Err(e) => e.exit_code(),
    }
}

fn watch(g: &GlobalArgs, env: Env<'_>, a: &WatchArgs) -> Result<u8, Failed> {
    let config = settings::config(g, env)?;
    let ids = settings::ids(&a.ids)?;
    let target = match &a.until_all {
        Some(s) => Some(settings::target_state(s)?),
        None => None,
    };
    let stuck_states = target
        .as_ref()
        .map(default_failure_states)
        .unwrap_or_default();
    let concurrency = fds::fit(a.ids.concurrency as usize);
    let options = fleet::options(&a.ids, ids.len(), concurrency);
    let interrupt = Interrupt::install();
    if let Some(d) = a.for_ {
        interrupt.expire_after(d);
    }
    let table = (g.output == OutputFormat::Table).then(|| Columns::for_ids(&ids));
    if let Some(columns) = &table {
        columns
            .line(["ID", "FROM", "TO", "OPERATION", "AT"])
            .map_err(Failed::Output)?;
    }
    let mut seen = vec![Seen::default(); ids.len()];
    let (mut in_target, mut dropped) = (0usize, 0usize);
    let mut ended = None;
    let mut stopped = None;
    let on_event = |e: FleetEvent, _: FleetProgress, live: &Live| {
        let Some(last) = usize::try_from(e.index).ok().and_then(|i| seen.get_mut(i)) else {
            return ControlFlow::Continue(());
        };
        let printed = match e.outcome {
            Outcome::Seen(Ok(status)) => {
                let to = status.state.to_string();
                let op = status.operation_state.as_ref().map(ToString::to_string);
                if last.state.as_deref() == Some(to.as_str()) && last.operation == op {
                    Ok(())
                } else {
                    let was_there = target
                        .as_ref()
                        .is_some_and(|t| last.state.as_deref() == Some(t.as_str()));
                    let change = Change {
                        id: e.id.as_str(),
                        from: last.state.as_deref(),
                        to: Some(&to),
                        operation_state: Some(op.as_deref()),
                        failure: None,
                        at: now(),
                    };
                    let r = print(&change, table.as_ref());
                    let is_there = target.as_ref() == Some(&status.state);
                    match (was_there, is_there) {
                        (false, true) => in_target += 1,
                        (true, false) => in_target -= 1,
                        _ => {}
                    }
                    if stuck_states.contains(&status.state) {
                        ended = Some(End::Stuck);
                    }
                    last.state = Some(to);
                    last.operation = op;
                    r
                }
            }
            Outcome::Seen(Err(err)) => {
                stdio::err(format_args!(
                    "clouddc: {}: {} ({}); polling again",
                    text::safe(e.id.as_str()),
                    err.kind(),
                    text::cut(&text::safe(&err.to_string()), 200)
                ));
                Ok(())
            }
            Outcome::Status(Err(err)) => {
                if target
                    .as_ref()
                    .is_some_and(|t| last.state.as_deref() == Some(t.as_str()))
                {
                    in_target -= 1;
                }
                dropped += 1;
                last.dropped = true;
                let change = Change {
                    id: e.id.as_str(),
                    from: last.state.as_deref(),
                    to: None,
                    operation_state: None,
                    failure: Some({
                        let mut f = Failure::from_error(&err);
                        f.identify(live);
                        f
                    }),
                    at: now(),
                };
                print(&change, table.as_ref())
            }
            _ => Ok(()),
        };
        if let Err(stop) = printed {
            stopped = Some(stop);
            return ControlFlow::Break(());
        }
        if target.is_some() && ended.is_none() && in_target + dropped == ids.len() && in_target > 0
        {
            ended = Some(End::AllThere);
        }
        if ended.is_some() || dropped == ids.len() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let job = Job::Watch {
        interval: a.interval,
    };
    let run = FleetRun {
        kind: g.transport,
        config,
        job,
        ids: &ids,
        options,
        max_in_flight: concurrency,
        observer: None,
    };
    clients::run_fleet(run, &interrupt, on_event)?;
    if let Some(stop) = stopped {
        return Err(Failed::Output(stop));
    }
    if let Some(code) = interrupt.exit_code() {
        return Ok(code);
    }
    Ok(match ended {
        Some(End::Stuck) => exit::WAIT_FAILED,
        Some(End::AllThere) if dropped > 0 => exit::FAILURE,
        Some(End::AllThere) => exit::OK,
        // `--for` ran out: 1 if an id was dropped on the way, as when
        // every id was.
        None if interrupt.expired() && dropped == 0 => exit::OK,
        None => exit::FAILURE,
    })
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The table's columns: fixed widths, since lines are printed as they
/// come. The id column fits the longest id; states and operations fit the
/// known ones (a longer value from the server pushes its line's later
/// columns, and only that line's).
struct Columns {
    widths: [usize; 4],
}

impl Columns {
    /// `shutting-down`, the longest known state.
    const STATE: usize = 13;
    /// `switch-install-processing`, the longest known operation state.
    const OPERATION: usize = 25;

    fn for_ids(ids: &[clouddc_core::InstanceId]) -> Self {
        let id = ids
            .iter()
            .map(|i| text::width(&text::safe(i.as_str())))
            .max()
            .unwrap_or(0)
            .max(2);
        Self {
            widths: [id, Self::STATE, Self::STATE, Self::OPERATION],
        }
    }

    /// One line: each cell but the last padded to its column, two spaces
    /// apart.
    fn line<S: AsRef<str>>(&self, cells: [S; 5]) -> Result<(), Stop> {
        let mut l = String::new();
        for (cell, width) in cells.iter().zip(self.widths) {
            let cell = cell.as_ref();
            l.push_str(cell);
            let pad = width.saturating_sub(text::width(cell)) + 2;
            l.extend(std::iter::repeat_n(' ', pad));
        }
        l.push_str(cells[4].as_ref());
        stdio::line(format_args!("{l}"))
    }
}

fn print(change: &Change<'_>, table: Option<&Columns>) -> Result<(), Stop> {
    let Some(columns) = table else {
        return stdio::json_line(change);
    };
    let detail = match &change.failure {
        Some(f) => format!("{} {}", f.kind, f.error_msg.as_deref().unwrap_or("")),
        None => change.operation_state.flatten().unwrap_or("-").to_owned(),
    };
    columns.line([
        text::safe(change.id),
        text::safe(change.from.unwrap_or("-")),
        text::safe(change.to.unwrap_or("-")),
        text::cut(&text::safe(&detail), 200),
        change.at.clone(),
    ])
}
