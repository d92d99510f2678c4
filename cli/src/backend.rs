//! The backends: which adapter carries the calls (`--transport`).
//!
//! Owns building the adapter's client from the resolved config and running
//! a fleet on it through the client's public API. Must not contain HTTP
//! decisions; a build without a transport says so as a usage error.

use std::ops::ControlFlow;

use clouddc_core::{Config, FleetEvent, FleetOptions, InstanceId, Job};

use crate::args::TransportKind;
use crate::settings::UsageError;

/// Fails before anything is sent when this build lacks the transport.
pub(crate) fn check(kind: TransportKind) -> Result<(), UsageError> {
    match kind {
        #[cfg(feature = "reqwest")]
        TransportKind::Reqwest => Ok(()),
        #[cfg(feature = "ureq")]
        TransportKind::Ureq => Ok(()),
        #[allow(unreachable_patterns)]
        other => Err(UsageError(format!(
            "this build of clouddc lacks the {} transport: use --transport {}, or rebuild with --features {}",
            name(other),
            name(other_kind(other)),
            name(other)
        ))),
    }
}

fn name(k: TransportKind) -> &'static str {
    match k {
        TransportKind::Reqwest => "reqwest",
        TransportKind::Ureq => "ureq",
    }
}

fn other_kind(k: TransportKind) -> TransportKind {
    match k {
        TransportKind::Reqwest => TransportKind::Ureq,
        TransportKind::Ureq => TransportKind::Reqwest,
    }
}

/// Runs `job` for every id over the chosen transport's client, handing
/// each event to `on_event` as it happens.
pub(crate) fn run(
    kind: TransportKind,
    config: Config,
    job: Job,
    ids: &[InstanceId],
    options: FleetOptions,
    max_in_flight: usize,
    on_event: impl FnMut(FleetEvent) -> ControlFlow<()>,
) -> Result<(), UsageError> {
    check(kind)?;
    let ids = ids.iter().cloned();
    match kind {
        #[cfg(feature = "reqwest")]
        TransportKind::Reqwest => {
            use futures_util::StreamExt;
            let mut on_event = on_event;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))?;
            rt.block_on(async {
                let builder = clouddc_reqwest::Client::builder().max_in_flight(max_in_flight);
                let client = builder.build(config)?;
                let mut events = client.fleet(job, ids, options);
                // Breaking off drops the fleet and its requests in flight.
                while let Some(e) = events.next().await {
                    if on_event(e).is_break() {
                        break;
                    }
                }
                Ok::<(), UsageError>(())
            })
        }
        #[cfg(feature = "ureq")]
        TransportKind::Ureq => {
            let builder = clouddc_ureq::Client::builder().max_in_flight(max_in_flight);
            let mut events = builder.build(config)?.fleet(job, ids, options);
            // Breaking off drops the fleet: no request starts any more.
            let _ = events.try_for_each(on_event);
            Ok(())
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    }
}
