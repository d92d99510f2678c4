//! The clients: which adapter carries the calls (`--transport`).
//!
//! Owns building the chosen client from a resolved config, having it
//! resolve credentials and project (server metadata, IAM), and running a
//! fleet on it through the client's public API; a build without the chosen
//! transport says so as a usage error. Makes the [`Live`] handle of each
//! client, through which every live value is read. Must not contain HTTP
//! decisions (the core and the clients make them) nor read live values
//! itself (see `live`).

use std::ops::ControlFlow;
use std::sync::Arc;

use clouddc_core::{Config, FleetEvent, FleetOptions, FleetProgress, InstanceId, Job, Observer};

use crate::args::TransportKind;
use crate::interrupt::Interrupt;
use crate::live::{Live, SkewNote};
use crate::usage::UsageError;

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

/// One fleet to run: the job for every id, on which transport.
pub(crate) struct FleetRun<'a> {
    pub(crate) kind: TransportKind,
    pub(crate) config: Config,
    pub(crate) job: Job,
    pub(crate) ids: &'a [InstanceId],
    pub(crate) options: FleetOptions,
    /// Requests in flight at once (the client's bound as well as the
    /// fleet's).
    pub(crate) max_in_flight: usize,
    /// Told about every attempt (the progress line's rate).
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

/// Runs the fleet over the chosen transport's client, handing each event
/// to `on_event` as it happens, with the client's live values; a signal
/// cancels it through `interrupt`.
pub(crate) fn run_fleet(
    run: FleetRun<'_>,
    interrupt: &Interrupt,
    on_event: impl FnMut(FleetEvent, FleetProgress, &Live) -> ControlFlow<()>,
) -> Result<(), UsageError> {
    let FleetRun {
        kind,
        config,
        job,
        ids,
        options,
        max_in_flight,
        observer,
    } = run;
    check(kind)?;
    let ids = ids.iter().cloned();
    match kind {
        #[cfg(feature = "reqwest")]
        TransportKind::Reqwest => {
            use futures_util::StreamExt;
            runtime(ids.len() > 1)?.block_on(async {
                let mut builder = clouddc_reqwest::Client::builder().max_in_flight(max_in_flight);
                if let Some(o) = observer {
                    builder = builder.observer(o);
                }
                let client = builder.build(config)?;
                let mut on_event = observed(client.session(), on_event);
                client.resolve().await.map_err(unresolved)?;
                let mut events = client.fleet(job, ids, options);
                let canceller = events.canceller();
                interrupt.on_signal(move || canceller.cancel());
                // Breaking off drops the fleet and its requests in flight.
                while let Some(e) = events.next().await {
                    if on_event(e, events.progress()).is_break() {
                        break;
                    }
                }
                Ok::<(), UsageError>(())
            })
        }
        #[cfg(feature = "ureq")]
        TransportKind::Ureq => {
            let mut builder = clouddc_ureq::Client::builder().max_in_flight(max_in_flight);
            if let Some(o) = observer {
                builder = builder.observer(o);
            }
            let client = builder.build(config)?;
            let mut on_event = observed(client.session(), on_event);
            client.resolve().map_err(unresolved)?;
            let mut events = client.fleet(job, ids, options);
            let canceller = events.canceller();
            interrupt.on_signal(move || canceller.cancel());
            // Breaking off drops the fleet: no request starts any more.
            while let Some(e) = events.next() {
                if on_event(e, events.progress()).is_break() {
                    break;
                }
            }
            Ok(())
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    }
}

/// `on_event` given the live values of the client of `session`, saying the
/// gateway's clock skew once (after an event, or when dropped).
#[cfg(any(feature = "reqwest", feature = "ureq"))]
fn observed<'a>(
    session: &clouddc_core::Session,
    mut on_event: impl FnMut(FleetEvent, FleetProgress, &Live) -> ControlFlow<()> + 'a,
) -> impl FnMut(FleetEvent, FleetProgress) -> ControlFlow<()> + 'a {
    let live = Live::new(session);
    let mut skew = SkewNote::new(&live);
    move |e, p| {
        skew.check();
        on_event(e, p, &live)
    }
}

/// The async client's runtime: for one request, no worker threads to start
/// (start-up is most of a one-call command); for a fleet, two workers for
/// its TLS and parsing.
#[cfg(feature = "reqwest")]
fn runtime(fleet: bool) -> Result<tokio::runtime::Runtime, UsageError> {
    let mut b = if fleet {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    b.enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))
}

/// The clients' profile-file reader (the same in both).
pub(crate) fn read_profile_file(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    #[cfg(feature = "ureq")]
    return clouddc_ureq::read_profile_file(path);
    #[cfg(all(feature = "reqwest", not(feature = "ureq")))]
    return clouddc_reqwest::read_profile_file(path);
    #[cfg(not(any(feature = "reqwest", feature = "ureq")))]
    {
        let _ = path;
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// Resolves the config's credentials and project id over the chosen
/// transport (server metadata, IAM lookup; nothing when both are set): the
/// client's live values, and whether resolving worked.
pub(crate) fn resolve(kind: TransportKind, config: &Config) -> (Live, Result<(), UsageError>) {
    let unbuilt = |e: UsageError| (Live::unbuilt(config), Err(e));
    if let Err(e) = check(kind) {
        return unbuilt(e);
    }
    match kind {
        #[cfg(feature = "reqwest")]
        TransportKind::Reqwest => {
            let rt = match runtime(false) {
                Ok(rt) => rt,
                Err(e) => return unbuilt(e),
            };
            match clouddc_reqwest::Client::new(config.clone()) {
                Ok(client) => {
                    let resolved = rt.block_on(client.resolve()).map_err(unresolved);
                    (Live::new(client.session()), resolved)
                }
                Err(e) => unbuilt(e.into()),
            }
        }
        #[cfg(feature = "ureq")]
        TransportKind::Ureq => match clouddc_ureq::Client::new(config.clone()) {
            Ok(client) => (
                Live::new(client.session()),
                client.resolve().map_err(unresolved),
            ),
            Err(e) => unbuilt(e.into()),
        },
        #[allow(unreachable_patterns)]
        _ => (Live::unbuilt(config), Ok(())),
    }
}

/// Resolving the credentials or project failed (no agency, metadata
/// unreachable, no single project): a configuration error, nothing sent
/// to the API.
fn unresolved(e: clouddc_core::Error) -> UsageError {
    UsageError::from(e)
}
