//! `clouddc demo`: the whole product against an in-process simulator, with
//! no flags, no account and no network.
//!
//! Owns the demo's script: a handful of instances on different life-cycle
//! schedules, a `status` of all of them, and a `wait --until running` of
//! the pending ones with live progress, over the chosen `--transport`. With
//! `--output json` stdout carries only the records (JSON Lines) and the
//! narration goes to stderr. Must not bypass the real client path: its
//! status and wait are the shared fleet runs of `fleet`.

use std::fmt;
use std::time::{Duration, Instant};

use clouddc_core::RateLimiterConfig;
use clouddc_core::{
    Config, Credentials, Endpoint, FleetOptions, InstanceId, InstanceState, Job, ProjectId,
    WaitOptions,
};
use clouddc_simulator::{Auth, NewInstance, Schedule, SimConfig};

use crate::args::{GlobalArgs, OutputFormat, TransportKind};
use crate::fleet::{Failed, Spec, execute};
use crate::stdio::{self, Stop};
use crate::{clients, exit, usage};

/// Where the demo's narration goes: stdout for people, stderr when stdout
/// carries JSON Lines.
#[derive(Clone, Copy)]
struct Narrator {
    json: bool,
}

impl Narrator {
    fn say(self, args: fmt::Arguments<'_>) -> Result<(), Stop> {
        if self.json {
            stdio::err(args);
            Ok(())
        } else {
            stdio::line(args)
        }
    }
}

/// The flags that change what the demo's commands do, as they would be
/// typed.
fn shown_flags(g: &GlobalArgs) -> String {
    let mut flags = String::new();
    if g.transport != TransportKind::built_in_default() {
        flags.push_str(match g.transport {
            TransportKind::Reqwest => " --transport reqwest",
            TransportKind::Ureq => " --transport ureq",
        });
    }
    if g.output == OutputFormat::Json {
        flags.push_str(" --output json");
    }
    flags
}

/// Why the demo stopped.
enum Stopped {
    /// Something did not work as scheduled.
    Failed(String),
    /// Stdout is closed or failing.
    Output(Stop),
}

impl From<String> for Stopped {
    fn from(e: String) -> Self {
        Self::Failed(e)
    }
}

impl From<&str> for Stopped {
    fn from(e: &str) -> Self {
        Self::Failed(e.to_owned())
    }
}

impl From<Stop> for Stopped {
    fn from(e: Stop) -> Self {
        Self::Output(e)
    }
}

impl From<Failed> for Stopped {
    fn from(e: Failed) -> Self {
        match e {
            Failed::Usage(u) => Self::Failed(u.0),
            Failed::Output(stop) => Self::Output(stop),
            Failed::Interrupted(code) => Self::Failed(format!("interrupted (exit {code})")),
        }
    }
}

/// Runs the demo.
pub(crate) fn run(g: &GlobalArgs) -> u8 {
    // A transport this build lacks is a usage error, before anything starts.
    if let Err(e) = clients::check(g.transport) {
        return e.report();
    }
    match demo(g) {
        Ok(code) => code,
        Err(Stopped::Failed(e)) => {
            usage::error(format_args!("demo failed: {e}"));
            exit::FAILURE
        }
        Err(Stopped::Output(stop)) => stop.exit_code(),
    }
}

fn demo(g: &GlobalArgs) -> Result<u8, Stopped> {
    let started = Instant::now();
    let token = format!(
        "demo-{:016x}",
        std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), 1u8)
    );
    let sim_config = SimConfig::builder()
        .listen(([127, 0, 0, 1], 0).into())
        .auth(Auth::token(&token))
        .instances(0)
        .build()
        .map_err(|e| e.to_string())?;
    let sim = clouddc_simulator::start_blocking(sim_config).map_err(|e| e.to_string())?;
    let control = sim.control();
    let secs = Duration::from_secs;
    let plan = [
        ("web-1", Schedule::instant(), "already running"),
        (
            "web-2",
            Schedule::pending_for(secs(2)),
            "pending for 2 s, then running",
        ),
        (
            "web-3",
            Schedule::pending_for(secs(4)),
            "pending for 4 s, then running",
        ),
        (
            "db-1",
            Schedule::pending_for(secs(6)),
            "pending for 6 s, then running",
        ),
        (
            "batch-1",
            Schedule::failing_after(secs(3)),
            "pending for 3 s, then creation fails",
        ),
        (
            "old-1",
            Schedule {
                shutting_down: secs(30),
                ..Schedule::instant()
            },
            "being deleted",
        ),
    ];
    for (id, schedule, _) in &plan {
        control
            .create_instance(
                NewInstance::new()
                    .with_id(*id)
                    .with_schedule(schedule.clone()),
            )
            .map_err(|e| e.to_string())?;
    }
    control.delete("old-1").map_err(|e| e.to_string())?;

    let format = g.output;
    let narrator = Narrator {
        json: format == OutputFormat::Json,
    };
    let flags = shown_flags(g);
    narrator.say(format_args!(
        "clouddc demo: a CloudDC simulator is running at {} (project {}).",
        sim.url(),
        sim.project_id()
    ))?;
    for (id, _, what) in &plan {
        narrator.say(format_args!("  {id:<8} {what}"))?;
    }
    let config = Config::builder()
        .endpoint(Endpoint::parse(sim.url()).map_err(|e| e.to_string())?)
        .project_id(ProjectId::new(sim.project_id()).map_err(|e| e.to_string())?)
        .credentials(Credentials::token(token).map_err(|e| e.to_string())?)
        .attempt_timeout(secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let ids = |names: &[&str]| -> Result<Vec<InstanceId>, String> {
        names
            .iter()
            .map(|n| InstanceId::new(*n).map_err(|e| e.to_string()))
            .collect()
    };
    let all = ids(&plan.iter().map(|p| p.0).collect::<Vec<_>>())?;
    let pending = ids(&["web-2", "web-3", "db-1", "batch-1"])?;

    narrator.say(format_args!(
        "\n$ clouddc status {}{flags}",
        plan.iter().map(|p| p.0).collect::<Vec<_>>().join(" ")
    ))?;
    let records = execute(Spec {
        config: config.clone(),
        ids: &all,
        job: Job::Status,
        target: None,
        transport: g.transport,
        format,
        options: FleetOptions::new()
            .max_in_flight(8)
            .rate(Some(RateLimiterConfig::default()))
            .budget(None),
        max_in_flight: 8,
        started: Instant::now(),
        unordered: false,
        progress: true,
    })?;
    if !records.iter().all(|r| r.ok) {
        return Err("a status query failed".into());
    }

    narrator.say(format_args!(
        "\n$ clouddc wait web-2 web-3 db-1 batch-1 --until running --interval 500ms --timeout 12s{flags}"
    ))?;
    let records = execute(Spec {
        config,
        ids: &pending,
        job: Job::Wait {
            target: InstanceState::Running,
            options: WaitOptions::new()
                .interval(Duration::from_millis(500))
                .max_wait(secs(12)),
        },
        target: Some("running".into()),
        transport: g.transport,
        format,
        options: FleetOptions::new().max_in_flight(8).rate(None).budget(None),
        max_in_flight: 8,
        started: Instant::now(),
        unordered: false,
        progress: true,
    })?;
    let reached = records
        .iter()
        .filter(|r| r.outcome == Some("reached"))
        .count();
    let failed = records
        .iter()
        .filter(|r| r.outcome == Some("failed"))
        .count();
    let seen = control.counters().global.requests;
    sim.shutdown();
    narrator.say(format_args!(
        "\n{reached} reached running, {failed} failed fast (batch-1's creation failed, so it will never run); \
{seen} requests in {:.1} s.",
        started.elapsed().as_secs_f64()
    ))?;
    narrator.say(format_args!(
        "Next: `clouddc simulate` runs this simulator on its own; `clouddc --help` lists every option."
    ))?;
    if reached == 3 && failed == 1 {
        Ok(exit::OK)
    } else {
        Err("the waits did not end as scheduled".into())
    }
}
