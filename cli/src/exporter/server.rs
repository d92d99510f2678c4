//! The exporter's HTTP server: `GET /metrics`, `GET /healthz` and `GET /`
//! on hyper (HTTP/1.1), on a tokio runtime of its own.
//!
//! Owns binding the address (a busy port or a bad `--listen` is a usage
//! error naming it), the routes and their answers, and the limits that
//! keep idle or slow clients from starving a scrape: a bounded number of
//! connections, one request per connection, a header read timeout, a
//! lifetime per connection and a 16 KiB cap on a request's line and
//! headers. Must not send API requests
//! nor change a series: a scrape only renders what the poller recorded.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::metrics::{self, Metrics};
use crate::usage::UsageError;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's line and headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may stay open: its one request and answer (a
/// client that never reads its answer loses the connection then).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(15);
/// The most bytes of a request's line and headers (hyper answers 431
/// beyond it).
const MAX_HEAD: usize = 16 * 1024;

/// The page at `/`.
const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>clouddc exporter</title></head>\
<body><h1>clouddc exporter</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n";

/// Binds `listen` (`HOST:PORT`): an address that does not parse or
/// cannot be bound is a usage error that names it and the cause.
pub(crate) fn bind(listen: &str) -> Result<TcpListener, UsageError> {
    let failed =
        |cause: &dyn std::fmt::Display| UsageError(format!("cannot listen on {listen}: {cause}"));
    let addrs: Vec<SocketAddr> = listen.to_socket_addrs().map_err(|e| failed(&e))?.collect();
    let mut last = None;
    for addr in addrs {
        match TcpListener::bind(addr) {
            Ok(l) => {
                l.set_nonblocking(true).map_err(|e| failed(&e))?;
                return Ok(l);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => failed(&e),
        None => failed(&"the name has no address"),
    })
}

/// Serves `metrics` on `listener` until `stop` completes; then the
/// connections still open are dropped.
pub(crate) fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    stop: impl Future<Output = ()>,
) -> Result<(), UsageError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start the HTTP server's runtime: {e}")))?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| UsageError(format!("cannot serve: {e}")))?;
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        tokio::pin!(stop);
        loop {
            let slot = tokio::select! {
                () = &mut stop => break,
                slot = Arc::clone(&slots).acquire_owned() => slot,
            };
            let Ok(slot) = slot else { break };
            let stream = tokio::select! {
                () = &mut stop => break,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = stream else {
                // Out of descriptors, or a connection reset before it
                // was accepted: try again shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let metrics = Arc::clone(&metrics);
                    async move { Ok::<_, Infallible>(answer(&metrics, &req).await) }
                });
                // One request per connection: a client cannot hold a slot
                // by sending a small request every few seconds.
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .keep_alive(false)
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_buf_size(MAX_HEAD)
                    .serve_connection(TokioIo::new(stream), service);
                let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
                drop(slot);
            });
        }
        Ok(())
    })
}

/// The answer to one request.
async fn answer(metrics: &Arc<Metrics>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if !matches!(path, "/" | "/metrics" | "/healthz") {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/metrics" => {
            let openmetrics = req
                .headers()
                .get_all(ACCEPT)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("application/openmetrics-text"));
            let m = Arc::clone(metrics);
            // Rendering a large fleet takes a while: off the thread that
            // accepts connections.
            let body = tokio::task::spawn_blocking(move || m.render(openmetrics))
                .await
                .unwrap_or_default();
            let kind = if openmetrics {
                metrics::OPENMETRICS
            } else {
                metrics::TEXT
            };
            with_type(StatusCode::OK, kind, body)
        }
        "/healthz" if metrics.ready() => plain(StatusCode::OK, "ok\n"),
        "/healthz" => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "no poll cycle has completed yet\n",
        ),
        _ => with_type(StatusCode::OK, "text/html; charset=utf-8", INDEX.to_owned()),
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    with_type(status, "text/plain; charset=utf-8", body.to_owned())
}

fn with_type(status: StatusCode, kind: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}
