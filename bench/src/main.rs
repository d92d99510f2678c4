//! `clouddc-bench`: runs the benchmarks of issue 7, prints one Markdown
//! table, and (for `all`) writes `BENCHMARKS.md`.
//!
//! ```text
//! cargo run --profile bench -p clouddc-bench -- all [--skip-footprint] [--note TEXT] [--out PATH]
//! cargo run --profile bench -p clouddc-bench -- per-call | loopback | fleet | gateway | waiter | footprint
//! ```
//!
//! Options (all commands): `--rounds N` (15), `--loop-ms MS` (250),
//! `--wrk-secs S` (1), `--fleet-rounds N` (5), `--fleet-ids N` (10000),
//! `--fleet-rps R` (1000), `--fleet-concurrency N` (64), `--waits N` (40),
//! `--interval-ms MS` (200), `--footprint-rounds N` (1), `--gateway-rounds N`
//! (3), `--gateway-minute` (also 700 ids under 600 per minute).
//!
//! Internal commands, run by the ones above as child processes (pinned with
//! `taskset` where possible): `serve-fixed`, `loopback-client`, `serve-sim`,
//! `serve-gateway`, `fleet-client`.

//!
//! Many short rounds rather than a few long ones: on a shared machine, the
//! loops of one comparison then run within a second of each other, and the
//! median of 15 per-round ratios moves less with someone else's build.

#![forbid(unsafe_code)]

mod child;
mod cost;
mod discussion;
mod fleet;
mod footprint;
mod gateway;
mod loopback;
mod report;
mod waiter;

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use child::{BoxError, Pin};
use report::{Row, Section};

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clouddc-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The command line, consumed option by option.
struct Args {
    rest: Vec<String>,
}

impl Args {
    fn flag(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|a| a == name) {
            Some(i) => {
                self.rest.remove(i);
                true
            }
            None => false,
        }
    }

    fn value<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, BoxError> {
        let Some(i) = self.rest.iter().position(|a| a == name) else {
            return Ok(default);
        };
        if i + 1 >= self.rest.len() {
            return Err(format!("{name} needs a value").into());
        }
        let v = self.rest.remove(i + 1);
        self.rest.remove(i);
        v.parse()
            .map_err(|_| format!("{name}: cannot use {v:?}").into())
    }

    fn string(&mut self, name: &str) -> Result<String, BoxError> {
        let v: String = self.value(name, String::new())?;
        if v.is_empty() {
            return Err(format!("{name} is required").into());
        }
        Ok(v)
    }

    fn finish(self) -> Result<(), BoxError> {
        match self.rest.first() {
            Some(a) => Err(format!("unexpected argument {a:?}; see --help").into()),
            None => Ok(()),
        }
    }
}

/// Settings shared by the user-facing commands.
struct Opts {
    rounds: usize,
    loop_ms: u64,
    wrk_secs: u64,
    fleet: fleet::Settings,
    gateway: gateway::Settings,
    waiter: waiter::Settings,
    footprint_rounds: usize,
}

impl Opts {
    fn parse(a: &mut Args) -> Result<Self, BoxError> {
        let rounds = a.value("--rounds", 15usize)?.max(1);
        Ok(Self {
            rounds,
            loop_ms: a.value("--loop-ms", 250)?,
            wrk_secs: a.value("--wrk-secs", 1)?,
            fleet: fleet::Settings {
                rounds: a.value("--fleet-rounds", 5usize)?.max(1),
                ids: a.value("--fleet-ids", 10_000usize)?.max(1),
                rps: a.value("--fleet-rps", 1000.0f64)?,
                concurrency: a.value("--fleet-concurrency", 64usize)?.max(1),
            },
            gateway: gateway::Settings {
                rounds: a.value("--gateway-rounds", 3usize)?.max(1),
                minute: a.flag("--gateway-minute"),
            },
            waiter: waiter::Settings {
                rounds,
                waits: a.value("--waits", 40usize)?.max(1),
                interval: Duration::from_millis(a.value("--interval-ms", 200u64)?.max(1)),
            },
            footprint_rounds: a.value("--footprint-rounds", 1usize)?.max(1),
        })
    }
}

fn run(argv: Vec<String>) -> Result<(), BoxError> {
    let shown = argv
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut a = Args { rest: argv };
    let Some(cmd) = (!a.rest.is_empty()).then(|| a.rest.remove(0)) else {
        println!("{}", usage());
        return Ok(());
    };
    match cmd.as_str() {
        "serve-fixed" => {
            a.finish()?;
            loopback::serve_main()
        }
        "loopback-client" => {
            let args = loopback::ClientArgs {
                addr: a.string("--addr")?,
                settings: loopback::Settings {
                    rounds: a.value("--rounds", 15)?,
                    loop_ms: a.value("--loop-ms", 250)?,
                    wrk_secs: a.value("--wrk-secs", 1)?,
                },
            };
            a.finish()?;
            loopback::client_main(&args)
        }
        "serve-sim" => {
            let (rps, instances) = (a.value("--rps", 1000.0)?, a.value("--instances", 0)?);
            a.finish()?;
            fleet::serve_main(rps, instances)
        }
        "serve-gateway" => {
            let limit = a.value("--limit", 200u32)?;
            let window_s = a.value("--window-s", 1u64)?;
            let instances = a.value("--instances", 0)?;
            a.finish()?;
            gateway::serve_main(limit, window_s, instances)
        }
        "fleet-client" => {
            let args = fleet::ClientArgs {
                url: a.string("--url")?,
                project: a.string("--project")?,
                ids: a.value("--ids", 10_000)?,
                concurrency: a.value("--concurrency", 64)?,
                rps: a.value("--rps", 1000.0)?,
                mode: a.string("--limiter")?,
            };
            a.finish()?;
            fleet::client_main(&args)
        }
        "all" => {
            let skip_footprint = a.flag("--skip-footprint");
            let note: String = a.value("--note", String::new())?;
            let out: PathBuf =
                a.value("--out", footprint::workspace_root().join("BENCHMARKS.md"))?;
            let opts = Opts::parse(&mut a)?;
            a.finish()?;
            all(&opts, skip_footprint, &note, &out, &shown)
        }
        "per-call" | "loopback" | "fleet" | "gateway" | "waiter" | "footprint" => {
            let opts = Opts::parse(&mut a)?;
            a.finish()?;
            let pin = Pin::detect();
            let section = one(&cmd, &opts, &pin);
            print!("{}", report::table(&section.rows));
            Ok(())
        }
        "help" | "--help" | "-h" => {
            println!("{}", usage());
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{}", usage()).into()),
    }
}

/// `arg` as a POSIX shell word: as is when it is plain, else single-quoted.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

fn usage() -> &'static str {
    "usage: clouddc-bench all [--skip-footprint] [--note TEXT] [--out PATH] [options]\n\
     \x20      clouddc-bench per-call|loopback|fleet|gateway|waiter|footprint [options]\n\
     options: --rounds N (15) --loop-ms MS (250) --wrk-secs S (1) --fleet-rounds N (5)\n\
     \x20        --fleet-ids N (10000) --fleet-rps R (1000) --fleet-concurrency N (64)\n\
     \x20        --gateway-rounds N (3) --gateway-minute\n\
     \x20        --waits N (40) --interval-ms MS (200) --footprint-rounds N (1)"
}

/// One item; a failure becomes a row that says so.
fn one(cmd: &str, o: &Opts, pin: &Pin) -> Section {
    let item = match cmd {
        "per-call" => "1",
        "loopback" => "2",
        "fleet" => "3",
        "waiter" => "4",
        "gateway" => "6",
        _ => "5",
    };
    let result = match cmd {
        "per-call" => Ok(cost::run(o.rounds)),
        "loopback" => loopback::run(
            pin,
            &loopback::Settings {
                rounds: o.rounds,
                loop_ms: o.loop_ms,
                wrk_secs: o.wrk_secs,
            },
        ),
        "fleet" => fleet::run(pin, &o.fleet),
        "gateway" => gateway::run(pin, &o.gateway),
        "waiter" => waiter::run(&o.waiter),
        _ => footprint::run(o.footprint_rounds),
    };
    result.unwrap_or_else(|e| {
        eprintln!("clouddc-bench: {cmd} failed: {e}");
        Section {
            rows: vec![Row::text(item, cmd, format!("not measured: failed: {e}"))],
            notes: vec![format!(
                "**{item}. {cmd}** was not measured in this run: it failed with `{e}`. Rerun: \
                 `cargo run --profile bench -p clouddc-bench -- {cmd}`."
            )],
        }
    })
}

/// Where the part of `BENCHMARKS.md` that `all` keeps begins.
const KEPT_MARKER: &str = "<!-- kept by clouddc-bench all:";

fn all(
    o: &Opts,
    skip_footprint: bool,
    note: &str,
    out: &std::path::Path,
    shown: &str,
) -> Result<(), BoxError> {
    let pin = Pin::detect();
    let date = httpdate::fmt_http_date(SystemTime::now());
    let load_before = report::load();
    let mut sections: Vec<Section> = ["per-call", "loopback", "fleet", "gateway", "waiter"]
        .into_iter()
        .map(|cmd| one(cmd, o, &pin))
        .collect();
    sections.push(if skip_footprint {
        Section {
            rows: vec![Row::text(
                "5",
                "footprint (build times, binary sizes, crate count)",
                "skipped (`--skip-footprint`)",
            )],
            notes: vec![
                "**5. Footprint** was skipped in this run (`--skip-footprint`). Rerun: \
                 `cargo run --profile bench -p clouddc-bench -- footprint`."
                    .to_owned(),
            ],
        }
    } else {
        one("footprint", o, &pin)
    });
    let load_after = report::load();
    let rows: Vec<Row> = sections.iter().flat_map(|s| s.rows.clone()).collect();
    let table = report::table(&rows);
    print!("{table}");

    let command = format!("cargo run --profile bench -p clouddc-bench -- {shown}");
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(
        "Figures from the `clouddc-bench` crate (`bench/`), for issue 7. They are benchmarks, \
         not timed tests: they report figures and never fail CI.\n\n",
    );
    md.push_str(&format!("- **Command:** `{command}`\n"));
    md.push_str(&format!("- **Date:** {date}\n"));
    md.push_str(&format!("- **Machine:** {}\n", report::machine()));
    md.push_str(&format!(
        "- **Load average (1, 5, 15 min):** {load_before} before the run; {load_after} after \
         it, which counts the run's own servers, clients and clean builds\n"
    ));
    md.push_str(&format!("- **Pinning:** {}\n", pin.describe()));
    if !note.is_empty() {
        md.push_str(&format!("- **Note:** {note}\n"));
    }
    // Only the load before the run tells of other work: the run itself keeps
    // both CPUs busy (pinned servers and clients, then clean builds).
    if report::busy(&load_before) {
        md.push_str(
            "- **Busy machine:** the load average shows other work on the CPUs as the run began, \
             so absolute figures are noisy and low; ratios taken within a round are less \
             affected, and the spreads show how much.\n",
        );
    }
    md.push_str(&format!(
        "\nEvery figure is the median over repeated rounds with the spread (min – max) and the \
         number of rounds n; each round runs the loops being compared back to back, so a ratio \
         is taken within one round and then summarised. Items 1 and 2 run {} rounds after a \
         warm-up, item 3 runs {} times per setting, item 4 runs {} rounds. A goal is judged on the median; \
         \"spread crosses the goal\" means some rounds fell on the other side.\n\n",
        o.rounds, o.fleet.rounds, o.waiter.rounds
    ));
    md.push_str("## Results\n\n");
    md.push_str(&table);
    md.push_str("\n## Discussion\n\n");
    for s in &sections {
        for n in &s.notes {
            md.push_str(n);
            md.push_str("\n\n");
        }
    }
    md.push_str(
        "## Running it\n\n\
         ```text\n\
         cargo run --profile bench -p clouddc-bench -- all                   # everything, footprint last; rewrites BENCHMARKS.md\n\
         cargo run --profile bench -p clouddc-bench -- all --skip-footprint  # without the clean builds\n\
         cargo run --profile bench -p clouddc-bench -- per-call              # or loopback, fleet, waiter, footprint: one item, table only\n\
         cargo bench -p clouddc-bench --bench call                           # item 1 under criterion, with a breakdown\n\
         ```\n\n\
         `wrk` is optional (`apt-get install wrk`); `taskset` (util-linux) is used for pinning \
         when present. Nothing here runs in CI except compiling, linting and documenting the \
         crate.\n",
    );
    // The start-up section comes from `bench/startup.sh`, not from this
    // run: keep it as it is.
    if let Ok(old) = std::fs::read_to_string(out)
        && let Some(at) = old.find(KEPT_MARKER)
    {
        md.push('\n');
        md.push_str(&old[at..]);
    }
    std::fs::write(out, md)?;
    eprintln!("clouddc-bench: wrote {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn commands_are_shown_as_a_shell_would_take_them() {
        assert_eq!(shell_quote("--rounds"), "--rounds");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
