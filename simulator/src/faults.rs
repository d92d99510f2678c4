//! Faults: what can go wrong, how often, and for how many requests.
//!
//! Owns the fault settings (global or per instance), their validation and
//! the draw that decides whether one fires for a request, using the
//! simulator's seeded generator. Must not perform any of them: the server
//! shell does that from a [`Decision`](crate::Decision).
//!
//! Every fault has `rate` (probability per request, default 1: always) and
//! `times` (fire for at most this many requests, then disarm; default
//! unlimited). JSON example:
//!
//! ```json
//! {"rate_limit": {"rps": 5, "burst": 5}, "latency_ms": 200,
//!  "server_error": {"rate": 0.3, "status": 503}, "reset": {"times": 1},
//!  "stale_connections": {"idle_ms": 2000, "close": "reset"}}
//! ```
//!
//! `rate_limit` here is a token bucket answering 429 with `Retry-After`, as
//! a proxy in front of the gateway may; the gateway's own flow control
//! (fixed windows, `APIGW.0308`, no `Retry-After`) is not a fault but a
//! setting, see [`FlowPolicy`](crate::FlowPolicy).
//!
//! `stale_connections` is the idle-timeout race of every load balancer: a
//! request arriving on a kept-alive connection the balancer has given up on
//! is read and then the connection is closed without a response byte. The
//! server shell describes each request's connection with a
//! [`ConnectionInfo`] (a sans-IO caller may attach one to the request's
//! extensions); the fault only applies to the global faults, on every
//! route but the admin API.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bucket::RateLimit;
use crate::ms;
use clouddc_core::SplitMix64;

fn one() -> f64 {
    1.0
}

fn is_one(r: &f64) -> bool {
    *r == 1.0
}

fn default_hold() -> Duration {
    Duration::from_secs(30)
}

fn default_status() -> u16 {
    500
}

fn default_after_bytes() -> usize {
    8
}

fn default_oversize() -> usize {
    1024 * 1024 + 1
}

/// A fault with no parameters: the HTML 502 page, the connection reset,
/// the invalid JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Trigger {
    /// Probability per request (default 1).
    #[serde(skip_serializing_if = "is_one")]
    pub rate: f64,
    /// Fire for at most this many requests (default unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl Default for Trigger {
    fn default() -> Self {
        Self {
            rate: one(),
            times: None,
        }
    }
}

impl Trigger {
    /// Fires for every request.
    pub fn always() -> Self {
        Self::default()
    }
}

/// A 5xx with a JSON error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerError {
    /// Probability per request (default 1).
    #[serde(skip_serializing_if = "is_one")]
    pub rate: f64,
    /// Fire for at most this many requests (default unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// The status, 500..=599 (default 500).
    pub status: u16,
}

impl Default for ServerError {
    fn default() -> Self {
        Self {
            rate: one(),
            times: None,
            status: default_status(),
        }
    }
}

impl ServerError {
    /// Always answers `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::default()
        }
    }
}

/// Reads the request, then sends nothing for `hold_ms`, then closes the
/// connection without a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StallHeaders {
    /// Probability per request (default 1).
    #[serde(skip_serializing_if = "is_one")]
    pub rate: f64,
    /// Fire for at most this many requests (default unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// How long to hold the connection (default 30 s).
    #[serde(rename = "hold_ms", with = "ms")]
    pub hold: Duration,
}

impl Default for StallHeaders {
    fn default() -> Self {
        Self {
            rate: one(),
            times: None,
            hold: default_hold(),
        }
    }
}

/// Sends the status line, the headers (with the full `Content-Length`) and
/// the first `after_bytes` of the body, then either stops or trickles one
/// byte every `trickle_ms`; the connection is closed if the body is not
/// complete after `hold_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StallBody {
    /// Probability per request (default 1).
    #[serde(skip_serializing_if = "is_one")]
    pub rate: f64,
    /// Fire for at most this many requests (default unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Body bytes sent at once (default 8).
    pub after_bytes: usize,
    /// Then one byte per this interval (default: none, the body stops).
    #[serde(
        rename = "trickle_ms",
        with = "ms::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub trickle: Option<Duration>,
    /// Close the connection if the body is still incomplete after this long
    /// (default 30 s).
    #[serde(rename = "hold_ms", with = "ms")]
    pub hold: Duration,
}

impl Default for StallBody {
    fn default() -> Self {
        Self {
            rate: one(),
            times: None,
            after_bytes: default_after_bytes(),
            trickle: None,
            hold: default_hold(),
        }
    }
}

/// How a connection is closed without a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloseWith {
    /// An orderly close (FIN): the client reads end-of-file before any
    /// status line.
    #[default]
    Eof,
    /// An abortive close (RST, `SO_LINGER` 0): the client's read fails with
    /// "connection reset".
    Reset,
}

/// Closes kept-alive connections unanswered, as a load balancer whose idle
/// timeout expired does: the request is read, then the connection is
/// closed (see [`CloseWith`]) without any response byte.
///
/// Without `idle`, every request after the first on a connection is closed
/// (the first is answered normally). With `idle`, a request is closed when
/// its connection had been idle longer than that when it arrived: since the
/// previous response was handed over or, for the first request, since the
/// connection was accepted (real time, not moved by clock jumps).
///
/// JSON: `{"idle_ms"?: 2000, "close"?: "eof" | "reset", "rate"?: 1, "times"?: n}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaleConnections {
    /// Probability per eligible request (default 1).
    #[serde(skip_serializing_if = "is_one")]
    pub rate: f64,
    /// Close at most this many requests (default unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Only requests arriving after the connection was idle longer than
    /// this (default: every request on a reused connection).
    #[serde(
        rename = "idle_ms",
        with = "ms::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle: Option<Duration>,
    /// How the connection is closed (default [`CloseWith::Eof`]).
    pub close: CloseWith,
}

impl Default for StaleConnections {
    fn default() -> Self {
        Self {
            rate: one(),
            times: None,
            idle: None,
            close: CloseWith::Eof,
        }
    }
}

impl StaleConnections {
    /// Every request after the first on a connection is closed unanswered.
    pub fn reused() -> Self {
        Self::default()
    }

    /// Requests arriving on a connection idle for longer than `idle` are
    /// closed unanswered.
    pub fn idle_longer_than(idle: Duration) -> Self {
        Self {
            idle: Some(idle),
            ..Self::default()
        }
    }

    /// The same, closing with `close`.
    pub fn with_close(mut self, close: CloseWith) -> Self {
        self.close = close;
        self
    }

    /// The same fault firing with probability `rate` (0..=1).
    pub fn with_rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// The same fault firing for at most `n` more requests.
    pub fn with_times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Whether a request on `conn` is one this fault closes (before `rate`
    /// and `times`).
    pub fn applies(&self, conn: &ConnectionInfo) -> bool {
        match self.idle {
            None => conn.nth > 1,
            Some(limit) => conn.idle > limit,
        }
    }
}

impl Armed for StaleConnections {
    fn arm(&mut self) -> (f64, &mut Option<u32>) {
        (self.rate, &mut self.times)
    }
}

/// The connection a request arrived on, as the server shell tells the
/// heart (in the request's extensions). A request without one is taken as
/// the first on a fresh connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The connection's number, from 1, in the order they were accepted.
    pub id: u64,
    /// Which request on the connection this is, from 1.
    pub nth: u64,
    /// How long the connection had been idle when the request arrived:
    /// since the previous response was handed over, or since it was
    /// accepted.
    pub idle: Duration,
}

impl ConnectionInfo {
    /// Request `nth` (from 1) on connection `id`, after `idle`.
    pub fn new(id: u64, nth: u64, idle: Duration) -> Self {
        Self { id, nth, idle }
    }

    /// Whether an earlier request used the same connection.
    pub fn is_reused(&self) -> bool {
        self.nth > 1
    }
}

/// A 200 whose valid JSON body is `bytes` long (default 1 MiB + 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OversizedBody {
    /// Probability per request (default 1).
    #[serde(skip_serializing_if = "is_one")]
    pub rate: f64,
    /// Fire for at most this many requests (default unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Body length, 64..=67108864 (default 1048577).
    pub bytes: usize,
}

impl Default for OversizedBody {
    fn default() -> Self {
        Self {
            rate: one(),
            times: None,
            bytes: default_oversize(),
        }
    }
}

// Every fault has `rate` and `times`: written out for each (no macro
// defines public API).
impl Trigger {
    /// The same fault firing with probability `rate` (0..=1).
    pub fn with_rate(self, rate: f64) -> Self {
        Self { rate, ..self }
    }

    /// The same fault firing for at most `n` more requests.
    pub fn with_times(self, n: u32) -> Self {
        Self {
            times: Some(n),
            ..self
        }
    }
}

impl Armed for Trigger {
    fn arm(&mut self) -> (f64, &mut Option<u32>) {
        (self.rate, &mut self.times)
    }
}

impl ServerError {
    /// The same fault firing with probability `rate` (0..=1).
    pub fn with_rate(self, rate: f64) -> Self {
        Self { rate, ..self }
    }

    /// The same fault firing for at most `n` more requests.
    pub fn with_times(self, n: u32) -> Self {
        Self {
            times: Some(n),
            ..self
        }
    }
}

impl Armed for ServerError {
    fn arm(&mut self) -> (f64, &mut Option<u32>) {
        (self.rate, &mut self.times)
    }
}

impl StallHeaders {
    /// The same fault firing with probability `rate` (0..=1).
    pub fn with_rate(self, rate: f64) -> Self {
        Self { rate, ..self }
    }

    /// The same fault firing for at most `n` more requests.
    pub fn with_times(self, n: u32) -> Self {
        Self {
            times: Some(n),
            ..self
        }
    }
}

impl Armed for StallHeaders {
    fn arm(&mut self) -> (f64, &mut Option<u32>) {
        (self.rate, &mut self.times)
    }
}

impl StallBody {
    /// The same fault firing with probability `rate` (0..=1).
    pub fn with_rate(self, rate: f64) -> Self {
        Self { rate, ..self }
    }

    /// The same fault firing for at most `n` more requests.
    pub fn with_times(self, n: u32) -> Self {
        Self {
            times: Some(n),
            ..self
        }
    }
}

impl Armed for StallBody {
    fn arm(&mut self) -> (f64, &mut Option<u32>) {
        (self.rate, &mut self.times)
    }
}

impl OversizedBody {
    /// The same fault firing with probability `rate` (0..=1).
    pub fn with_rate(self, rate: f64) -> Self {
        Self { rate, ..self }
    }

    /// The same fault firing for at most `n` more requests.
    pub fn with_times(self, n: u32) -> Self {
        Self {
            times: Some(n),
            ..self
        }
    }
}

impl Armed for OversizedBody {
    fn arm(&mut self) -> (f64, &mut Option<u32>) {
        (self.rate, &mut self.times)
    }
}

/// A fault's firing settings.
trait Armed {
    fn arm(&mut self) -> (f64, &mut Option<u32>);
}

/// Whether a fault fires for this request; consumes one of its `times`.
fn fires(fault: &mut impl Armed, rng: &mut SplitMix64) -> bool {
    let (rate, times) = fault.arm();
    if *times == Some(0) {
        return false;
    }
    let hit = if rate >= 1.0 {
        true
    } else if rate <= 0.0 {
        false
    } else {
        rng.next_f64() < rate
    };
    if hit && let Some(n) = times {
        *n -= 1;
    }
    hit
}

/// Fires the fault in `slot` (if armed) and disarms it once its `times` are used up.
fn draw<F: Armed + Clone>(slot: &mut Option<F>, rng: &mut SplitMix64) -> Option<F> {
    let f = slot.as_mut()?;
    if !fires(f, rng) {
        return None;
    }
    let fired = f.clone();
    if *f.arm().1 == Some(0) {
        *slot = None;
    }
    Some(fired)
}

/// Faults to inject, globally or for one instance. `Faults::default()`
/// injects none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Token bucket: beyond it, 429 with a plain-text body and `Retry-After`
    /// (a proxy's limit; the gateway's own is a
    /// [`FlowPolicy`](crate::FlowPolicy)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Added before any response (or reset) is sent.
    #[serde(
        rename = "latency_ms",
        with = "ms::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub latency: Option<Duration>,
    /// 5xx with a JSON error body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_error: Option<ServerError>,
    /// 502 with an HTML page, as a load balancer sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_502: Option<Trigger>,
    /// A TCP reset (RST) instead of a response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset: Option<Trigger>,
    /// No response at all for a while.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_headers: Option<StallHeaders>,
    /// Headers, then a body that stops or trickles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_body: Option<StallBody>,
    /// A 200 far larger than any client should read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oversized_body: Option<OversizedBody>,
    /// A 200 whose body is not valid JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_json: Option<Trigger>,
    /// Requests on kept-alive connections closed unanswered (global faults
    /// only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_connections: Option<StaleConnections>,
}

/// Which fault shaped a response. Its `as_str` is the key in the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FaultKind {
    /// 429 from a token bucket.
    RateLimit,
    /// 429 from a gateway flow-control policy (`APIGW.0308`).
    FlowControl,
    /// A request on a stale kept-alive connection, closed unanswered.
    StaleConnection,
    /// 5xx with a JSON body.
    ServerError,
    /// 502 with an HTML body.
    Html502,
    /// TCP reset.
    Reset,
    /// No response.
    StallHeaders,
    /// Incomplete or trickling body.
    StallBody,
    /// Body over 1 MiB.
    OversizedBody,
    /// Body that is not JSON.
    InvalidJson,
}

impl FaultKind {
    /// The snake_case name, as in the fault settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimit => "rate_limit",
            Self::FlowControl => "flow_control",
            Self::StaleConnection => "stale_connection",
            Self::ServerError => "server_error",
            Self::Html502 => "html_502",
            Self::Reset => "reset",
            Self::StallHeaders => "stall_headers",
            Self::StallBody => "stall_body",
            Self::OversizedBody => "oversized_body",
            Self::InvalidJson => "invalid_json",
        }
    }
}

/// The fault chosen for one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fired {
    Reset,
    StallHeaders(StallHeaders),
    StallBody(StallBody),
    ServerError(ServerError),
    Html502,
    Oversized(OversizedBody),
    InvalidJson,
}

impl Fired {
    pub(crate) fn kind(&self) -> FaultKind {
        match self {
            Self::Reset => FaultKind::Reset,
            Self::StallHeaders(_) => FaultKind::StallHeaders,
            Self::StallBody(_) => FaultKind::StallBody,
            Self::ServerError(_) => FaultKind::ServerError,
            Self::Html502 => FaultKind::Html502,
            Self::Oversized(_) => FaultKind::OversizedBody,
            Self::InvalidJson => FaultKind::InvalidJson,
        }
    }
}

fn check_rate(what: &str, rate: f64) -> Result<(), String> {
    if rate.is_finite() && (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!(
            "{what}.rate is {rate}; use a probability from 0 to 1"
        ))
    }
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether no fault is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every value is in range; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(r) = &self.rate_limit {
            r.validate()?;
        }
        if let Some(l) = self.latency {
            ms::check("latency_ms", l)?;
        }
        if let Some(f) = &self.server_error {
            check_rate("server_error", f.rate)?;
            if !(500..=599).contains(&f.status) {
                return Err(format!(
                    "server_error.status is {}; use 500 to 599",
                    f.status
                ));
            }
        }
        for (name, t) in [
            ("html_502", &self.html_502),
            ("reset", &self.reset),
            ("invalid_json", &self.invalid_json),
        ] {
            if let Some(t) = t {
                check_rate(name, t.rate)?;
            }
        }
        if let Some(f) = &self.stall_headers {
            check_rate("stall_headers", f.rate)?;
            ms::check("stall_headers.hold_ms", f.hold)?;
        }
        if let Some(f) = &self.stall_body {
            check_rate("stall_body", f.rate)?;
            ms::check("stall_body.hold_ms", f.hold)?;
            if let Some(t) = f.trickle {
                ms::check("stall_body.trickle_ms", t)?;
            }
        }
        if let Some(f) = &self.stale_connections {
            check_rate("stale_connections", f.rate)?;
            if let Some(idle) = f.idle {
                ms::check("stale_connections.idle_ms", idle)?;
            }
        }
        if let Some(f) = &self.oversized_body {
            check_rate("oversized_body", f.rate)?;
            if !(64..=64 * 1024 * 1024).contains(&f.bytes) {
                return Err(format!(
                    "oversized_body.bytes is {}; use 64 to 67108864",
                    f.bytes
                ));
            }
        }
        Ok(())
    }

    /// Refuses settings that only the global faults can have, for the
    /// faults of `owner` (an instance, the metadata service).
    pub(crate) fn check_local(&self, owner: &str) -> Result<(), String> {
        if self.stale_connections.is_some() {
            return Err(format!(
                "stale_connections applies to whole connections, so only to the global faults, not to {owner}"
            ));
        }
        Ok(())
    }

    /// Whether the stale-connection fault closes a request on `conn`
    /// (drawn: consumes one of its `times`); how, if so.
    pub(crate) fn draw_stale(
        &mut self,
        conn: &ConnectionInfo,
        rng: &mut SplitMix64,
    ) -> Option<CloseWith> {
        if !self.stale_connections.as_ref()?.applies(conn) {
            return None;
        }
        draw(&mut self.stale_connections, rng).map(|f| f.close)
    }

    /// Draws the faults in a fixed order (reset, stalled headers, stalled
    /// body, 5xx, HTML 502, oversized body, invalid JSON); the first that
    /// fires wins and the later ones are not drawn.
    pub(crate) fn draw(&mut self, rng: &mut SplitMix64) -> Option<Fired> {
        if draw(&mut self.reset, rng).is_some() {
            return Some(Fired::Reset);
        }
        if let Some(f) = draw(&mut self.stall_headers, rng) {
            return Some(Fired::StallHeaders(f));
        }
        if let Some(f) = draw(&mut self.stall_body, rng) {
            return Some(Fired::StallBody(f));
        }
        if let Some(f) = draw(&mut self.server_error, rng) {
            return Some(Fired::ServerError(f));
        }
        if draw(&mut self.html_502, rng).is_some() {
            return Some(Fired::Html502);
        }
        if let Some(f) = draw(&mut self.oversized_body, rng) {
            return Some(Fired::Oversized(f));
        }
        if draw(&mut self.invalid_json, rng).is_some() {
            return Some(Fired::InvalidJson);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_disarms_after_n_requests() {
        let mut rng = SplitMix64::new(1);
        let mut f = Faults {
            reset: Some(Trigger::always().with_times(2)),
            ..Faults::none()
        };
        assert_eq!(f.draw(&mut rng), Some(Fired::Reset));
        assert_eq!(f.reset, Some(Trigger::always().with_times(1)));
        assert_eq!(f.draw(&mut rng), Some(Fired::Reset));
        assert_eq!(f.reset, None, "disarmed and removed");
        assert_eq!(f.draw(&mut rng), None);
        assert!(f.is_empty());
    }

    #[test]
    fn order_is_fixed_and_the_first_to_fire_wins() {
        let mut rng = SplitMix64::new(1);
        let mut f = Faults {
            invalid_json: Some(Trigger::always().with_times(1)),
            server_error: Some(ServerError::status(503).with_times(1)),
            ..Faults::none()
        };
        match f.draw(&mut rng) {
            Some(Fired::ServerError(e)) => assert_eq!(e.status, 503),
            other => panic!("expected the 503 first, got {other:?}"),
        }
        assert_eq!(f.server_error, None);
        // invalid_json was not drawn, so it still has its one time.
        assert_eq!(f.draw(&mut rng), Some(Fired::InvalidJson));
        assert_eq!(f.draw(&mut rng), None);
    }

    #[test]
    fn rates_are_deterministic_by_seed_and_roughly_right() {
        let run = |seed| {
            let mut rng = SplitMix64::new(seed);
            let mut f = Faults {
                html_502: Some(Trigger::always().with_rate(0.3)),
                ..Faults::none()
            };
            (0..2000)
                .map(|_| f.draw(&mut rng).is_some())
                .collect::<Vec<_>>()
        };
        let a = run(5);
        assert_eq!(a, run(5));
        assert_ne!(a, run(6));
        let hits = a.iter().filter(|h| **h).count();
        assert!((450..750).contains(&hits), "{hits} of 2000 at rate 0.3");
        let mut rng = SplitMix64::new(1);
        let mut never = Faults {
            reset: Some(Trigger::always().with_rate(0.0)),
            ..Faults::none()
        };
        assert!((0..100).all(|_| never.draw(&mut rng).is_none()));
    }

    #[test]
    fn json_shape_and_validation() {
        let f: Faults = serde_json::from_str(
            r#"{"rate_limit":{"rps":5},"latency_ms":200,"server_error":{"rate":0.5,"status":503},
                "stall_body":{"after_bytes":3,"trickle_ms":50,"hold_ms":1000},"reset":{"times":1}}"#,
        )
        .unwrap();
        assert_eq!(f.latency, Some(Duration::from_millis(200)));
        assert_eq!(f.server_error.as_ref().unwrap().status, 503);
        assert_eq!(
            f.stall_body.as_ref().unwrap().trickle,
            Some(Duration::from_millis(50))
        );
        assert_eq!(f.reset, Some(Trigger::always().with_times(1)));
        assert!(f.validate().is_ok());
        // Round trip.
        let back: Faults = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(serde_json::to_string(&Faults::none()).unwrap(), "{}");
        // Typos and bad values are refused with the field's name.
        assert!(serde_json::from_str::<Faults>(r#"{"rest":{}}"#).is_err());
        assert!(serde_json::from_str::<Faults>(r#"{"reset":{"rat":1}}"#).is_err());
        let bad = |json: &str| {
            serde_json::from_str::<Faults>(json)
                .unwrap()
                .validate()
                .unwrap_err()
        };
        assert!(bad(r#"{"server_error":{"status":404}}"#).contains("server_error.status"));
        assert!(bad(r#"{"reset":{"rate":1.5}}"#).contains("reset.rate"));
        assert!(bad(r#"{"oversized_body":{"bytes":1}}"#).contains("oversized_body.bytes"));
        assert!(bad(r#"{"latency_ms":999999999999}"#).contains("latency_ms"));
        assert!(bad(r#"{"rate_limit":{"rps":0}}"#).contains("rps"));
    }
}
