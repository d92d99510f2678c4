//! `clouddc`: query and wait on Huawei Cloud CloudDC instance status from a
//! shell, a CI pipeline or a runbook, and run a local simulator of the API.
//!
//! The command-line contract (flags, environment, JSON fields, exit codes)
//! is documented in the repository's README and is stable.

#![forbid(unsafe_code)]

mod args;
mod backend;
mod commands;
#[cfg(feature = "simulator")]
mod demo;
mod engine;
mod fds;
mod interrupt;
mod out;
mod output;
mod progress;
mod settings;
mod show_config;
#[cfg(feature = "simulator")]
mod simulate;
mod text;
mod watch;

use std::process::ExitCode;

use clap::CommandFactory;

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
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(c) => c,
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
    init_logging(cli.global.verbose);
    let env = |k: &str| std::env::var(k).ok();
    let code = match &cli.command {
        Command::Status(a) => commands::status(&cli.global, &env, a, started),
        Command::Wait(a) => commands::wait(&cli.global, &env, a, started),
        Command::Watch(a) => watch::run(&cli.global, &env, a),
        Command::Config => show_config::run(&cli.global, &env),
        #[cfg(feature = "simulator")]
        Command::Simulate(a) => simulate::run(&cli.global, a, &env),
        #[cfg(feature = "simulator")]
        Command::Demo => demo::run(&cli.global),
        Command::Completions { shell } => completions(*shell),
    };
    ExitCode::from(code)
}

/// Prints the completion script for `shell` on stdout, and how to install
/// it on stderr (so that `> file` keeps only the script).
fn completions(shell: clap_complete::Shell) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "clouddc", &mut script);
    if let Err(stop) = out::bytes(&script) {
        return stop.exit_code();
    }
    out::err(format_args!("{}", install_hint(shell)));
    commands::exit::OK
}

/// One line on how to install the completion script for `shell`.
fn install_hint(shell: clap_complete::Shell) -> &'static str {
    use clap_complete::Shell;
    match shell {
        Shell::Bash => {
            "# install: clouddc completions bash > ~/.local/share/bash-completion/completions/clouddc"
        }
        Shell::Zsh => {
            "# install: clouddc completions zsh > ~/.zfunc/_clouddc, with fpath+=(~/.zfunc) before compinit in ~/.zshrc"
        }
        Shell::Fish => {
            "# install: clouddc completions fish > ~/.config/fish/completions/clouddc.fish"
        }
        Shell::Elvish => {
            "# install: add `eval (clouddc completions elvish | slurp)` to ~/.config/elvish/rc.elv"
        }
        Shell::PowerShell => {
            "# install: add `clouddc completions powershell | Out-String | Invoke-Expression` to $PROFILE"
        }
        _ => "# install: save the script where your shell loads completions from",
    }
}
