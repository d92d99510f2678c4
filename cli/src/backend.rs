//! The backends: which adapter carries the calls (`--transport`).
//!
//! Owns building the adapter's client from the resolved settings and
//! handing its transport and clock to the engine. Must not contain HTTP
//! decisions; a build without a transport says so as a usage error.

use clouddc_core::Config;

use crate::args::TransportKind;
use crate::engine::{Observer, Plan};
use crate::settings::UsageError;

macro_rules! client_builder {
    ($krate:ident, $config:expr) => {{
        let c: &Config = $config;
        $krate::Client::builder()
            .endpoint(c.endpoint().clone())
            .project_id(c.project_id().clone())
            .credentials(c.credentials().clone())
            .attempt_timeout(c.attempt_timeout())
            .retry(c.retry().clone())
            .body_limit(c.body_limit())
            .user_agent_suffix(concat!("clouddc-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(UsageError::from)
    }};
}

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

/// Runs the plan over the chosen transport.
pub(crate) fn run<O: Observer>(
    kind: TransportKind,
    plan: &Plan<'_>,
    observer: &O,
) -> Result<(), UsageError> {
    check(kind)?;
    match kind {
        #[cfg(feature = "reqwest")]
        TransportKind::Reqwest => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))?;
            rt.block_on(async {
                let client = client_builder!(clouddc_reqwest, plan.config)?;
                let plan = Plan {
                    config: client.config(),
                    ..plan.clone_parts()
                };
                crate::engine::run_all_async(
                    &plan,
                    &client.transport(),
                    &clouddc_reqwest::TokioClock,
                    observer,
                )
                .await;
                Ok::<(), UsageError>(())
            })
        }
        #[cfg(feature = "ureq")]
        TransportKind::Ureq => {
            let client = client_builder!(clouddc_ureq, plan.config)?;
            let plan = Plan {
                config: client.config(),
                ..plan.clone_parts()
            };
            crate::engine::run_all_blocking(
                &plan,
                &client.transport(),
                &clouddc_ureq::SystemClock,
                observer,
            );
            Ok(())
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()),
    }
}
