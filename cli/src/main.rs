//! `clouddc`: query and wait on Huawei Cloud CloudDC instance status from a
//! shell, a CI pipeline or a runbook, and run a local simulator of the API.
//!
//! The command-line contract (flags, environment, JSON fields, exit codes)
//! is documented in the repository's README and is stable.
//!
//! This file owns the process: parsing the command line (a parse error or
//! `--help` is printed here), the debug logs of `-v`, and handing the
//! parsed command to `commands`. It must not hold a subcommand's logic.
//! Modules, leaves first (none imports one listed after it, so there is no
//! import circle): `exit`, `usage`, `stdio`, `text`, `args`, `interrupt`,
//! `reorder`, `progress`, `fds`, `live`, `clients`, `settings`, `records`,
//! `fleet`, `exporter`, `commands`.

#![forbid(unsafe_code)]

mod args;
mod clients;
mod commands;
mod exit;
#[cfg(feature = "exporter")]
mod exporter;
mod fds;
mod fleet;
mod interrupt;
mod live;
mod progress;
mod records;
mod reorder;
mod settings;
mod stdio;
mod text;
mod usage;

use std::process::ExitCode;

use crate::args::Cli;

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
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let text = e.render().to_string();
            let shown = if e.use_stderr() {
                stdio::err(format_args!("{}", usage::parser_error(&text)));
                Ok(())
            } else {
                stdio::bytes(text.as_bytes())
            };
            return ExitCode::from(match shown {
                Ok(()) => code,
                Err(stop) => stop.exit_code(),
            });
        }
    };
    init_logging(cli.global.verbose);
    let env = |k: &str| std::env::var(k).ok();
    ExitCode::from(commands::run(&cli, &env, started))
}
