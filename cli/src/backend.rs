//! The backends: which adapter carries the calls (`--transport`).
//!
//! Owns building the adapter's client from the resolved config and running
//! a fleet on it through the client's public API. Must not contain HTTP
//! decisions; a build without a transport says so as a usage error.

use std::ops::ControlFlow;

use crate::interrupt::Interrupt;
use clouddc_core::{Config, FleetEvent, FleetOptions, FleetProgress, InstanceId, Job};

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
}

/// Runs the fleet over the chosen transport's client, handing each event
/// to `on_event` as it happens; a signal cancels it through `interrupt`.
pub(crate) fn run(
    run: FleetRun<'_>,
    interrupt: &Interrupt,
    mut on_event: impl FnMut(FleetEvent, FleetProgress) -> ControlFlow<()>,
) -> Result<(), UsageError> {
    let FleetRun {
        kind,
        config,
        job,
        ids,
        options,
        max_in_flight,
    } = run;
    check(kind)?;
    let ids = ids.iter().cloned();
    let mut skew = SkewNote::new(&config);
    let mut on_event = |e: FleetEvent, p: FleetProgress| {
        skew.check();
        on_event(e, p)
    };
    match kind {
        #[cfg(feature = "reqwest")]
        TransportKind::Reqwest => {
            use futures_util::StreamExt;
            runtime(ids.len() > 1)?.block_on(async {
                let builder = clouddc_reqwest::Client::builder().max_in_flight(max_in_flight);
                let client = builder.build(config)?;
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
            let builder = clouddc_ureq::Client::builder().max_in_flight(max_in_flight);
            let client = builder.build(config)?;
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
/// transport (server metadata, IAM lookup; nothing when both are set).
pub(crate) fn resolve(kind: TransportKind, config: &Config) -> Result<(), UsageError> {
    check(kind)?;
    match kind {
        #[cfg(feature = "reqwest")]
        TransportKind::Reqwest => runtime(false)?.block_on(async {
            let client = clouddc_reqwest::Client::new(config.clone())?;
            client.resolve().await.map_err(unresolved)
        }),
        #[cfg(feature = "ureq")]
        TransportKind::Ureq => {
            let client = clouddc_ureq::Client::new(config.clone())?;
            client.resolve().map_err(unresolved)
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    }
}

/// Resolving the credentials or project failed (no agency, metadata
/// unreachable, no single project): a configuration error, nothing sent
/// to the API.
fn unresolved(e: clouddc_core::Error) -> UsageError {
    UsageError(clouddc_core::error_chain(&e))
}

/// Says once on stderr that calls sign with the gateway's time.
struct SkewNote {
    config: Config,
    said: bool,
}

impl SkewNote {
    fn new(config: &Config) -> Self {
        Self {
            config: config.clone(),
            said: false,
        }
    }

    fn check(&mut self) {
        if !self.said
            && let Some(skew) = self.config.clock_skew()
        {
            self.said = true;
            crate::out::err(format_args!("{skew}; signing with the gateway's time"));
        }
    }
}

impl Drop for SkewNote {
    fn drop(&mut self) {
        self.check();
    }
}
