//! `clouddc`: query and wait on Huawei Cloud CloudDC instance status from a
//! shell, a CI pipeline or a runbook, and run a local simulator of the API.
//!
//! The command-line contract (flags, environment, JSON fields, exit codes)
//! is documented in the repository's README and is stable.

#![forbid(unsafe_code)]

mod args;
mod backend;
mod commands;
mod demo;
mod engine;
mod fds;
mod out;
mod output;
mod progress;
mod settings;
mod simulate;
mod text;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::args::{Cli, Command};

fn init_logging(verbose: u8) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let ours = match verbose {
        0 => return,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    // Colour only on a terminal, and never with NO_COLOR set.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Only this project's own events: they are written never to contain
    // secrets. Other crates' logs stay at warnings.
    let filter = Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("clouddc", ours)
        .with_target("clouddc_core", ours)
        .with_target("clouddc_ureq", ours)
        .with_target("clouddc_reqwest", ours)
        .with_target("clouddc_simulator", ours);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(colour)
                .with_target(true),
        )
        .with(filter)
        .try_init();
}

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() {
                commands::exit::USAGE
            } else {
                0
            };
            let text = e.render().to_string();
            let shown = if e.use_stderr() {
                out::err(format_args!("{}", text.trim_end()));
                Ok(())
            } else {
                out::bytes(text.as_bytes())
            };
            return ExitCode::from(match shown {
                Ok(()) => code,
                Err(stop) => stop.exit_code(),
            });
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(commands::exit::USAGE);
        }
    };
    init_logging(cli.global.verbose);
    let env = |k: &str| std::env::var(k).ok();
    let code = match &cli.command {
        Command::Status(a) => commands::status(&cli.global, &env, a, started),
        Command::Wait(a) => commands::wait(&cli.global, &env, a, started),
        Command::Simulate(a) => simulate::run(&cli.global, a, &env),
        Command::Demo => demo::run(&cli.global),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "clouddc", &mut script);
            match out::bytes(&script) {
                Ok(()) => commands::exit::OK,
                Err(stop) => stop.exit_code(),
            }
        }
    };
    ExitCode::from(code)
}
