//! The subcommands, one module each, and the dispatch from the parsed
//! command line to the one that runs.
//!
//! Owns which module runs which subcommand. Must not hold a subcommand's
//! logic, nor anything two subcommands share: shared pieces are top-level
//! modules named after their job (`fleet`, `records`, `settings`, ...).

mod completions;
mod config;
#[cfg(feature = "simulator")]
mod demo;
#[cfg(feature = "exporter")]
mod exporter;
#[cfg(feature = "simulator")]
mod simulate;
mod status;
mod wait;
mod watch;

use std::time::Instant;

use crate::args::{Cli, Command};
use crate::settings::Env;

/// Runs the subcommand of `cli` and gives the process exit status;
/// `started` is when the process started (a wait's deadline and
/// `elapsed_ms` count from it).
pub(crate) fn run(cli: &Cli, env: Env<'_>, started: Instant) -> u8 {
    let g = &cli.global;
    match &cli.command {
        Command::Status(a) => status::run(g, env, a, started),
        Command::Wait(a) => wait::run(g, env, a, started),
        Command::Watch(a) => watch::run(g, env, a),
        #[cfg(feature = "exporter")]
        Command::Exporter(a) => exporter::run(g, env, a),
        Command::Config => config::run(g, env),
        #[cfg(feature = "simulator")]
        Command::Simulate(a) => simulate::run(g, a, env),
        #[cfg(feature = "simulator")]
        Command::Demo => demo::run(g),
        Command::Completions { shell } => completions::run(*shell),
    }
}
