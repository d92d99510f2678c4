//! Writes the `clouddc` man page, generated from the same argument
//! definitions as `clouddc --help`, so the two never disagree.
//!
//! `cargo run -p clouddc-cli --example man > clouddc.1` prints the page of
//! `clouddc` (every option, and the list of subcommands);
//! `cargo run -p clouddc-cli --example man -- DIR` writes it and one page per
//! subcommand (`clouddc-status.1`, `clouddc-wait.1`, ...) into DIR.
//!
//! Not part of the `clouddc` binary: `clap_mangen` is a dev-dependency.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

// The command's own definitions, built here without the rest of the binary.
#[allow(dead_code)]
#[path = "../src/args.rs"]
mod args;

fn main() -> ExitCode {
    let cmd = args::Cli::command();
    let done = match std::env::args_os().nth(1) {
        Some(dir) => {
            std::fs::create_dir_all(&dir).and_then(|()| clap_mangen::generate_to(cmd, &dir))
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .and_then(|()| std::io::stdout().lock().write_all(&page))
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("man: {e}");
            ExitCode::FAILURE
        }
    }
}
