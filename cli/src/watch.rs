//! `clouddc watch`: not built yet; the subcommand parses and says so.

pub(crate) fn run(
    g: &crate::args::GlobalArgs,
    env: crate::settings::Env<'_>,
    a: &crate::args::WatchArgs,
    started: std::time::Instant,
) -> u8 {
    let _ = (g, env, a, started);
    crate::out::err(format_args!("clouddc: error: watch is not built yet"));
    crate::commands::exit::USAGE
}
