//! `clouddc simulate`: the local CloudDC simulator in the foreground.

use crate::args::{GlobalArgs, SimulateArgs};
use crate::settings::Env;

/// Runs the simulator until Ctrl-C / SIGTERM.
pub(crate) fn run(_g: &GlobalArgs, _a: &SimulateArgs, _env: Env<'_>) -> u8 {
    eprintln!("clouddc: simulate is not available yet");
    crate::commands::exit::USAGE
}
