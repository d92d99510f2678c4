//! The exporter's signals: SIGINT and SIGTERM stop it (a service's normal
//! stop, exit 0), SIGHUP re-reads the ids.
//!
//! Owns the signal thread (signal-hook) and which signal does what. Must
//! not stop or reload anything itself: it calls the hooks it is given.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// Starts the signal thread: `stop` on the first SIGINT or SIGTERM (the
/// thread ends then), `reload` on each SIGHUP. Without a signal thread (it
/// could not be set up), signals keep their default effect.
pub(crate) fn install(stop: impl FnOnce() + Send + 'static, reload: impl Fn() + Send + 'static) {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("clouddc-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    reload();
                } else {
                    stop();
                    return;
                }
            }
        });
}
