//! `clouddc demo`: the whole product against an in-process simulator.

use crate::args::GlobalArgs;

/// Runs the demo.
pub(crate) fn run(_g: &GlobalArgs) -> u8 {
    eprintln!("clouddc: demo is not available yet");
    crate::commands::exit::USAGE
}
