//! The quota an API gateway 429 quotes.
//!
//! The gateway counts calls in fixed windows (per second, minute, hour,
//! day) and refuses every call over the quota for the rest of the window
//! with `APIGW.0308` (`APIG.0308` in older docs), whose message quotes the
//! policy (`limit:20,time:1 second`) and which carries no `Retry-After`.
//!
//! Owns the [`Throttle`] value and parsing it from a message
//! ([`parse_throttle`]). Must not pace or retry (that is `pacing`); it
//! depends on nothing else of the crate.

use std::fmt;
use std::time::Duration;

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

    /// Whether `other` is quoted in the same window unit (a later quote
    /// for the unit replaces an earlier one).
    pub(crate) fn same_unit(&self, other: &Self) -> bool {
        self.unit == other.unit
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

#[cfg(test)]
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

    }
}
