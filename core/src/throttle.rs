//! The API gateway's flow control: the quota a 429 quotes, and the pacer
//! that keeps every call of one config under the quotas seen so far.
//!
//! The gateway counts calls in fixed windows (per second, minute, hour,
//! day) and refuses every call over the quota for the rest of the window
//! with `APIGW.0308` (`APIG.0308` in older docs), whose message quotes the
//! policy (`limit:20,time:1 second`) and which carries no `Retry-After`.
//!
//! Owns parsing that quote ([`parse_throttle`]) and the [`QuotaPacer`]: a
//! request clock at a safe fraction of the tightest quota, held for a whole
//! window whenever a quota refuses a request it should have kept out. Must
//! not decide retries (that is `retry`) nor adapt to throttles without a
//! quote (that is `limiter`); it reads no clock: time is an argument.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::machine::later;

/// The share of a quoted quota the pacer uses: the rest absorbs the
/// unknown alignment of the gateway's windows and the spread of network
/// delays, so that a paced client is never refused by its own quota.
pub const QUOTA_MARGIN: f64 = 0.95;

/// The longest window a quote is believed for: a larger one is garbled.
const MAX_WINDOW: Duration = Duration::from_secs(31 * 24 * 3600);

/// A quota the gateway quoted: at most `limit` calls per fixed window of
/// `window`.
///
/// ```
/// use clouddc_core::parse_throttle;
/// use std::time::Duration;
/// let msg = "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:5 minute";
/// let t = parse_throttle(msg).unwrap();
/// assert_eq!((t.limit(), t.window()), (200, Duration::from_secs(300)));
/// assert_eq!(t.to_string(), "200/300s");
/// assert_eq!(parse_throttle("The request is overloaded"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Throttle {
    limit: u32,
    window: Duration,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Unit {
    Second,
    Minute,
    Hour,
    Day,
}

impl Unit {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => Self::Second,
            "m" | "min" | "mins" | "minute" | "minutes" => Self::Minute,
            "h" | "hr" | "hrs" | "hour" | "hours" => Self::Hour,
            "d" | "day" | "days" => Self::Day,
            _ => return None,
        })
    }

    fn secs(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3600,
            Self::Day => 86_400,
        }
    }
}

impl Throttle {
    /// A quota of `limit` calls per `window` (both at least 1; whole
    /// seconds), or `None` when either is zero or the window is longer than
    /// a month.
    pub fn new(limit: u32, window: Duration) -> Option<Self> {
        if limit == 0 || window.is_zero() || window > MAX_WINDOW {
            return None;
        }
        let unit = [Unit::Day, Unit::Hour, Unit::Minute, Unit::Second]
            .into_iter()
            .find(|u| window.as_secs().is_multiple_of(u.secs()) && window.subsec_nanos() == 0)
            .unwrap_or(Unit::Second);
        Some(Self {
            limit,
            window,
            unit,
        })
    }

    /// Calls allowed per window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The pause between two requests that keeps a client under this quota
    /// with [`QUOTA_MARGIN`] to spare.
    pub fn interval(&self) -> Duration {
        self.window
            .div_f64(f64::from(self.limit) * QUOTA_MARGIN)
            .max(Duration::from_nanos(1))
    }
}

/// `limit/Ns`, as the `-v` lines of the CLI show it.
impl fmt::Display for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.limit, self.window.as_secs())
    }
}

/// The quota quoted in a gateway throttling message, `limit:N,time:T unit`
/// (any unit from second to day, singular or plural, any case, spaces
/// allowed around the separators), or `None` when the message quotes none
/// or quotes it garbled (a zero, an overflow, an unknown unit).
pub fn parse_throttle(message: &str) -> Option<Throttle> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("limit:")?;
    let rest = &lower[at + "limit:".len()..];
    let (limit, rest) = number(rest)?;
    let rest = rest.trim_start().strip_prefix(',')?.trim_start();
    let rest = rest.strip_prefix("time:")?;
    let (count, rest) = number(rest)?;
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    let unit = Unit::parse(&rest[..end])?;
    let secs = count.checked_mul(unit.secs())?;
    let throttle = Throttle::new(u32::try_from(limit).ok()?, Duration::from_secs(secs))?;
    Some(Throttle { unit, ..throttle })
}

/// A whole decimal number at the start of `s` (after spaces), and the rest.
fn number(s: &str) -> Option<(u64, &str)> {
    let s = s.trim_start();
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// Paces every status request of one config under the quotas its 429s
/// quoted, shared by every fleet and call of that config.
///
/// A request is admitted only at or after the pacer's next free time, which
/// then moves one [`Throttle::interval`] of the tightest quota on, so in any
/// window at most `1 + ⌊limit · margin⌋ ≤ limit` requests start. A quota
/// refusing a request sent before the pacer knew of it (or before its last
/// hold) is news: the pacer holds every request until a whole window after
/// that refusal, so the next one lands in a later window. A refusal of a
/// request the pacer let through says others share the quota: it holds
/// again. Until a quota is known, admitting costs one atomic load.
#[derive(Debug, Default)]
pub(crate) struct QuotaPacer {
    active: AtomicBool,
    state: Mutex<PacerState>,
}

#[derive(Debug, Default)]
struct PacerState {
    /// The latest quota quoted for each window unit.
    quotas: Vec<Throttle>,
    /// The tightest quota's interval.
    interval: Duration,
    /// When the next request may start.
    next_free: Option<Instant>,
    /// When the last hold began: refusals of requests sent before it are
    /// already accounted for.
    hold_began: Option<Instant>,
}

/// How a quoted refusal relates to what the pacer knew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The request was sent before the pacer could keep it out.
    Explained,
    /// The pacer let it through, and the quota still refused it.
    Unexplained,
}

impl QuotaPacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the turn of one request at `now`, or says when there is one.
    pub(crate) fn admit(&self, now: Instant) -> Result<(), Instant> {
        if !self.active.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut s = self.lock();
        match s.next_free {
            Some(at) if at > now => Err(at),
            _ => {
                let interval = s.interval;
                s.next_free = Some(later(now, interval));
                Ok(())
            }
        }
    }

    /// Gives back a turn taken at `now` by [`admit`](Self::admit) for a
    /// request that did not start after all.
    pub(crate) fn give_back(&self, now: Instant) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let mut s = self.lock();
        let interval = s.interval;
        if let Some(at) = s.next_free
            && at.saturating_duration_since(now) <= interval
        {
            s.next_free = Some(at.checked_sub(interval).unwrap_or(now).max(now));
        }
    }

    /// A request sent at `sent` was refused at `now` by `quota`.
    pub(crate) fn on_refusal(&self, now: Instant, sent: Instant, quota: Throttle) -> Refusal {
        let mut s = self.lock();
        let known = s.quotas.contains(&quota);
        match s.quotas.iter_mut().find(|q| q.unit == quota.unit) {
            Some(q) => *q = quota,
            None => s.quotas.push(quota),
        }
        s.interval = s
            .quotas
            .iter()
            .map(Throttle::interval)
            .max()
            .unwrap_or_default();
        let before_hold = s.hold_began.is_some_and(|h| sent <= h);
        let refusal = if known && before_hold {
            // Sent before the pacer could keep it out, and a hold covers
            // its window already.
            return Refusal::Explained;
        } else if known {
            Refusal::Unexplained
        } else {
            Refusal::Explained
        };
        let hold_end = later(now, quota.window);
        s.next_free = Some(s.next_free.map_or(hold_end, |t| t.max(hold_end)));
        s.hold_began = Some(now);
        self.active.store(true, Ordering::Release);
        refusal
    }

    /// The quotas quoted so far, one per window unit.
    pub(crate) fn quotas(&self) -> Vec<Throttle> {
        if !self.active.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.lock().quotas.clone()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick an arbitrary start instant
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn parses_the_vendors_messages() {
        for (msg, limit, window) in [
            (
                "The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second",
                20,
                1,
            ),
            (
                "The throttling threshold has been reached: policy ip over ratelimit,limit:200,time:5 minute",
                200,
                300,
            ),
            ("limit:7,time:2 hours", 7, 7200),
            ("LIMIT:3 , TIME: 1 Day", 3, 86_400),
            ("over ratelimit,limit:10,time:30s", 10, 30),
            ("limit:1,time:1 min.", 1, 60),
        ] {
            let t = parse_throttle(msg).unwrap_or_else(|| panic!("{msg}"));
            assert_eq!((t.limit(), t.window()), (limit, secs(window)), "{msg}");
        }
    }

    #[test]
    fn garbled_quotes_are_no_quota() {
        for msg in [
            "",
            "The request is overloaded",
            "limit:",
            "limit:20",
            "limit:20,time:",
            "limit:20,time:1",
            "limit:20,time:1 fortnight",
            "limit:0,time:1 second",
            "limit:20,time:0 second",
            "limit:-1,time:1 second",
            "limit:99999999999,time:1 second",
            "limit:20,time:99999999999999999999 second",
            "limit:20,time:365 day",
            "limit:20;time:1 second",
            "limit:2.5,time:1 second",
        ] {
            assert_eq!(parse_throttle(msg), None, "{msg}");
        }
    }

    #[test]
    fn shows_limit_per_seconds() {
        let t = parse_throttle("limit:20,time:1 second").unwrap();
        assert_eq!(t.to_string(), "20/1s");
        assert_eq!(Throttle::new(5, secs(120)).unwrap().to_string(), "5/120s");
        assert_eq!(Throttle::new(0, secs(1)), None);
    }

    #[test]
    fn pacer_is_free_until_a_quota_is_quoted() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert_eq!(p.admit(t0), Ok(()));
        }
        assert!(p.quotas().is_empty());
    }

    #[test]
    fn a_new_quota_holds_a_window_then_paces() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        let q = Throttle::new(20, secs(1)).unwrap();
        assert_eq!(p.on_refusal(t0, t0, q), Refusal::Explained);
        assert_eq!(p.admit(t0), Err(t0 + secs(1)));
        let t1 = t0 + secs(1);
        assert_eq!(p.admit(t1), Ok(()));
        assert_eq!(p.admit(t1), Err(t1 + q.interval()));
        // Refusals of requests sent before the hold are the same news.
        assert_eq!(
            p.on_refusal(t0 + Duration::from_millis(5), t0, q),
            Refusal::Explained
        );
        assert_eq!(p.admit(t1 + q.interval()), Ok(()));
        // A refusal of a request sent under the pacing holds again.
        let t2 = t1 + Duration::from_millis(300);
        assert_eq!(p.on_refusal(t2, t1, q), Refusal::Unexplained);
        assert_eq!(p.admit(t2 + Duration::from_millis(999)), Err(t2 + secs(1)));
    }

    #[test]
    fn the_tightest_quota_applies_and_a_unit_is_replaced() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        let per_s = Throttle::new(100, secs(1)).unwrap();
        let per_min = Throttle::new(600, secs(60)).unwrap();
        let _ = p.on_refusal(t0, t0, per_s);
        let _ = p.on_refusal(t0, t0, per_min);
        assert_eq!(p.quotas(), vec![per_s, per_min]);
        let t1 = t0 + secs(60);
        assert_eq!(p.admit(t1), Ok(()));
        assert_eq!(p.admit(t1), Err(t1 + per_min.interval()));
        // A later quote for the minute replaces the earlier one.
        let per_min2 = Throttle::new(6000, secs(60)).unwrap();
        let _ = p.on_refusal(t1, t0, per_min2);
        assert_eq!(p.quotas(), vec![per_s, per_min2]);
    }

    #[test]
    fn giving_back_undoes_one_turn() {
        let p = QuotaPacer::default();
        let t0 = Instant::now();
        let q = Throttle::new(10, secs(1)).unwrap();
        let _ = p.on_refusal(t0, t0, q);
        let t1 = t0 + secs(1);
        assert_eq!(p.admit(t1), Ok(()));
        p.give_back(t1);
        assert_eq!(p.admit(t1), Ok(()));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in ".{0,80}") {
            let _ = parse_throttle(&s);
        }

        #[test]
        fn parses_what_it_prints(limit in 1u32..1_000_000, count in 1u64..1000,
                                 unit in prop::sample::select(vec!["second", "minute", "hour", "day"])) {
            let msg = format!("The throttling threshold has been reached: policy api over ratelimit,limit:{limit},time:{count} {unit}");
            let t = parse_throttle(&msg);
            let secs = count * Unit::parse(unit).unwrap().secs();
            if Duration::from_secs(secs) <= MAX_WINDOW {
                let t = t.unwrap();
                prop_assert_eq!(t.limit(), limit);
                prop_assert_eq!(t.window(), Duration::from_secs(secs));
            } else {
                prop_assert_eq!(t, None);
            }
        }

        /// Paced by a known quota, no window of the gateway's (at any
        /// alignment) sees more than the quota.
        #[test]
        fn paced_requests_fit_every_window(limit in 1u32..500, window_s in 1u64..120,
                                           offset_ms in 0u64..120_000, n in 1usize..2000) {
            let p = QuotaPacer::default();
            let t0 = Instant::now();
            let q = Throttle::new(limit, secs(window_s)).unwrap();
            let _ = p.on_refusal(t0, t0, q);
            let mut now = t0;
            let mut sent = Vec::new();
            while sent.len() < n {
                match p.admit(now) {
                    Ok(()) => sent.push(now),
                    Err(at) => now = at,
                }
            }
            let origin = t0 + Duration::from_millis(offset_ms % (window_s * 1000));
            let w = secs(window_s);
            let mut counts = std::collections::HashMap::new();
            for t in sent {
                let k = t.saturating_duration_since(origin).as_nanos() / w.as_nanos();
                *counts.entry(k).or_insert(0u32) += 1;
            }
            for (_, c) in counts {
                prop_assert!(c <= limit, "{c} > {limit}");
            }
        }
    }
}
