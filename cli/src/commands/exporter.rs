//! `clouddc exporter ID...`: poll a fleet once per interval and serve its
//! states as Prometheus metrics until SIGINT or SIGTERM (exit 0).
//!
//! Owns the order of a start (settings and ids, one client whose
//! credentials and project are resolved, then the address bound: any
//! failure is exit 2 with nothing served; then the poller and the server)
//! and the stop. Must not poll, render or serve itself (see `exporter`).

use std::sync::Arc;

use crate::args::{ExporterArgs, GlobalArgs};
use crate::clients::Held;
use crate::exporter::{self, Control, Metrics, Poller};
use crate::settings::{self, Env};
use crate::usage::UsageError;
use crate::{exit, fds};

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
    let client = Held::build(
        g.transport,
        config,
        concurrency,
        Some(metrics.observer()),
        true,
    )?;
    client.resolve()?;
    let listener = exporter::bind(&a.listen)?;
    let control = Arc::new(Control::default());
    let (stopped, stop) = tokio::sync::oneshot::channel::<()>();
    {
        let (on_stop, on_reload) = (Arc::clone(&control), Arc::clone(&control));
        exporter::on_signals(
            move || {
                on_stop.stop();
                let _ = stopped.send(());
            },
            move || on_reload.reload(),
        );
    }
    let poller = Poller {
        client,
        metrics: Arc::clone(&metrics),
        source,
        ids,
        interval: a.interval,
        concurrency,
        control: Arc::clone(&control),
    };
    let polling = std::thread::Builder::new()
        .name("clouddc-poller".into())
        .spawn(move || poller.run())
        .map_err(|e| UsageError(format!("cannot start the poller: {e}")))?;
    let served = exporter::serve(listener, metrics, async {
        if stop.await.is_err() {
            // No signal thread: serve until killed.
            std::future::pending::<()>().await;
        }
    });
    control.stop();
    let _ = polling.join();
    served
}
