//! The clients: which adapter carries the calls (`--transport`).
//!
//! Owns building the chosen client from a resolved config ([`Held`], which
//! may be kept for many fleets), having it resolve credentials and project
//! (server metadata, IAM), and running a fleet on it through the client's
//! public API; a build without the chosen transport says so as a usage
//! error. Makes the [`Live`] handle of each client, through which every
//! live value is read. Must not contain HTTP decisions (the core and the
//! clients make them) nor read live values itself (see `live`).

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
    let client = Held::build(kind, config, max_in_flight, observer, ids.len() > 1)?;
    #[cfg(any(feature = "reqwest", feature = "ureq"))]
    {
        let on_event = observed(client.session(), on_event);
        client.resolve()?;
        client.fleet(
            job,
            ids.to_vec(),
            options,
            |cancel| interrupt.on_signal(cancel),
            on_event,
        );
    }
    #[cfg(not(any(feature = "reqwest", feature = "ureq")))]
    let _ = (client, job, ids, options, interrupt, on_event);
    Ok(())
}

/// A client of the chosen transport, kept as long as its holder needs it:
/// for one fleet, or for every cycle of `exporter`, so that refreshed
/// credentials, learned quotas and open connections carry over.
pub(crate) enum Held {
    /// The async client, with the runtime that drives it.
    #[cfg(feature = "reqwest")]
    Reqwest(clouddc_reqwest::Client, tokio::runtime::Runtime),
    /// The blocking client.
    #[cfg(feature = "ureq")]
    Ureq(clouddc_ureq::Client),
}

impl Held {
    /// The client of `kind` for `config`, at most `max_in_flight` requests
    /// at once, telling `observer` about every attempt; `workers`: the
    /// async runtime gets worker threads (for a fleet of more than one id).
    pub(crate) fn build(
        kind: TransportKind,
        config: Config,
        max_in_flight: usize,
        observer: Option<Arc<dyn Observer>>,
        workers: bool,
    ) -> Result<Self, UsageError> {
        check(kind)?;
        match kind {
            #[cfg(feature = "reqwest")]
            TransportKind::Reqwest => {
                let mut builder = clouddc_reqwest::Client::builder().max_in_flight(max_in_flight);
                if let Some(o) = observer {
                    builder = builder.observer(o);
                }
                let rt = runtime(workers)?;
                // reqwest's pool belongs to the runtime it was built in.
                let client = rt.block_on(async { builder.build(config) })?;
                Ok(Self::Reqwest(client, rt))
            }
            #[cfg(feature = "ureq")]
            TransportKind::Ureq => {
                let _ = workers;
                let mut builder = clouddc_ureq::Client::builder().max_in_flight(max_in_flight);
                if let Some(o) = observer {
                    builder = builder.observer(o);
                }
                Ok(Self::Ureq(builder.build(config)?))
            }
            #[allow(unreachable_patterns)]
            other => {
                let _ = (config, max_in_flight, observer, workers);
                Err(UsageError(format!("no {} transport", name(other))))
            }
        }
    }

    /// What the client's calls have learned (credentials, their expiry).
    #[cfg(any(feature = "reqwest", feature = "ureq"))]
    pub(crate) fn session(&self) -> &clouddc_core::Session {
        match self {
            #[cfg(feature = "reqwest")]
            Self::Reqwest(c, _) => c.session(),
            #[cfg(feature = "ureq")]
            Self::Ureq(c) => c.session(),
        }
    }

    /// Resolves the credentials and project now: a failure is a
    /// configuration error, nothing sent to the API.
    #[cfg(any(feature = "reqwest", feature = "ureq"))]
    pub(crate) fn resolve(&self) -> Result<(), UsageError> {
        match self {
            #[cfg(feature = "reqwest")]
            Self::Reqwest(c, rt) => rt.block_on(c.resolve()).map_err(unresolved),
            #[cfg(feature = "ureq")]
            Self::Ureq(c) => c.resolve().map_err(unresolved),
        }
    }

    /// Runs `job` for every id on this client, blocking until the fleet
    /// ends, handing each event to `on_event` (a break drops the fleet and
    /// its requests in flight); `on_cancel` is given the fleet's cancel
    /// hook first.
    #[cfg(any(feature = "reqwest", feature = "ureq"))]
    pub(crate) fn fleet(
        &self,
        job: Job,
        ids: Vec<InstanceId>,
        options: FleetOptions,
        on_cancel: impl FnOnce(Box<dyn Fn() + Send>),
        mut on_event: impl FnMut(FleetEvent, FleetProgress) -> ControlFlow<()>,
    ) {
        match self {
            #[cfg(feature = "reqwest")]
            Self::Reqwest(client, rt) => {
                use futures_util::StreamExt;
                rt.block_on(async {
                    let mut events = client.fleet(job, ids, options);
                    let canceller = events.canceller();
                    on_cancel(Box::new(move || canceller.cancel()));
                    while let Some(e) = events.next().await {
                        if on_event(e, events.progress()).is_break() {
                            break;
                        }
                    }
                });
            }
            #[cfg(feature = "ureq")]
            Self::Ureq(client) => {
                let mut events = client.fleet(job, ids, options);
                let canceller = events.canceller();
                on_cancel(Box::new(move || canceller.cancel()));
                while let Some(e) = events.next() {
                    if on_event(e, events.progress()).is_break() {
                        break;
                    }
                }
            }
        }
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
