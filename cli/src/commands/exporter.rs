//! `clouddc exporter ID...`: poll a fleet once per interval and serve its
//! states as Prometheus metrics until SIGINT or SIGTERM (exit 0).
//!
//! Owns the order of a start (settings and ids, one client whose
//! credentials and project are resolved, then the address bound: any
//! failure is exit 2 with nothing served; then the poller and the server)
//! and the stop. Must not poll, render or serve itself (see `exporter`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::args::{ExporterArgs, GlobalArgs};
use crate::clients::Held;
use crate::exporter::{self, Control, Ids, Metrics, Poller};
use crate::settings::{self, Env};
use crate::usage::UsageError;
use crate::{exit, fds, stdio};

/// How long a stop waits for the poller to end its fleet.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// `clouddc exporter`.
pub(crate) fn run(g: &GlobalArgs, env: Env<'_>, a: &ExporterArgs) -> u8 {
    match serve(g, env, a) {
        Ok(()) => exit::OK,
        Err(e) => e.report(),
    }
}

fn serve(g: &GlobalArgs, env: Env<'_>, a: &ExporterArgs) -> Result<(), UsageError> {
    let config = settings::config(g, env)?;
    let source = a.id_args();
    let ids = settings::ids(&source)?;
    let concurrency = fds::fit(a.concurrency as usize);
    let metrics = Metrics::new();
    let control = Arc::new(Control::default());
    let ids = Arc::new(Ids::new(source, ids, Arc::clone(&metrics)));
    // Signals from the start: a stop while the credentials are resolved
    // (which may take seconds) is a normal stop too, with nothing served.
    let listening = Arc::new(AtomicBool::new(false));
    let (stopped, stop) = tokio::sync::oneshot::channel::<()>();
    {
        let (on_stop, on_reload) = (Arc::clone(&control), Arc::clone(&ids));
        let listening = Arc::clone(&listening);
        exporter::on_signals(
            move || {
                if !listening.load(Ordering::SeqCst) {
                    std::process::exit(i32::from(exit::OK));
                }
                on_stop.stop();
                let _ = stopped.send(());
            },
            move || on_reload.reread(),
        );
    }
    let client = Held::build(
        g.transport,
        config,
        concurrency,
        Some(metrics.observer()),
        true,
    )?;
    client.resolve()?;
    let listener = exporter::bind(&a.listen)?;
    listening.store(true, Ordering::SeqCst);
    if let Ok(addr) = listener.local_addr() {
        stdio::err(format_args!("clouddc: serving http://{addr}/metrics"));
    }
    exporter::watch_ids(Arc::clone(&ids), Arc::clone(&control), a.interval);
    let poller = Poller {
        client,
        metrics: Arc::clone(&metrics),
        ids,
        interval: a.interval,
        concurrency,
        rate_limit: a.rate_limit,
        control: Arc::clone(&control),
    };
    let (polled, polling) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("clouddc-poller".into())
        .spawn(move || {
            poller.run();
            let _ = polled.send(());
        })
        .map_err(|e| UsageError(format!("cannot start the poller: {e}")))?;
    let served = exporter::serve(listener, metrics, async {
        if stop.await.is_err() {
            // No signal thread: serve until killed.
            std::future::pending::<()>().await;
        }
    });
    control.stop();
    // A request in flight may take up to its attempt timeout to end: the
    // process does not wait for it long (exiting ends it).
    let _ = polling.recv_timeout(STOP_GRACE);
    served
}
