//! `clouddc exporter`'s machinery: the fleet's states and the client's
//! requests as Prometheus metrics, polled in the background and served
//! over HTTP.
//!
//! Owns, one module each: the series and their rendering (`metrics`), the
//! HTTP server (`server`), the poll cycles (`poller`) and the signals
//! (`signals`). Must not parse the command line nor resolve settings (the
//! command, `commands::exporter`, does), and reaches the API only through
//! the one client `clients::Held` gives the poller. Inside, leaves first:
//! `signals`, `metrics`, `server`, `poller`.

mod metrics;
mod poller;
mod server;
mod signals;

pub(crate) use metrics::Metrics;
pub(crate) use poller::{Control, Ids, Poller, watch_ids};
pub(crate) use server::{bind, serve};
pub(crate) use signals::install as on_signals;
