//! Client-side traffic control shared by all calls of one client: an
//! adaptive rate limiter that learns the server's limit from 429s, and a
//! retry budget that keeps a failing dependency from multiplying traffic.
//!
//! Owns the pacing arithmetic only; time is always an argument. Must not
//! sleep or read a clock: a call that must wait is told when to poll again.
//!
//! ```
//! use clouddc_core::{AdaptiveRateLimiter, RateLimiterConfig};
//! use std::time::{Duration, Instant};
//! let t0 = Instant::now();
//! let mut rl = AdaptiveRateLimiter::new(RateLimiterConfig::default().initial_rate(10.0).burst(1.0));
//! assert!(rl.acquire(t0).is_ok());
//! // The next token comes about 100 ms later at 10 requests/s; it may be
//! // taken a millisecond early (the timers' resolution).
//! let Err(again) = rl.acquire(t0) else { unreachable!() };
//! assert!(again > t0 + Duration::from_millis(98) && again < t0 + Duration::from_millis(100));
//! rl.on_throttle(t0);
//! assert!(rl.rate() < 10.0);
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::pacing::pacer::{QuotaPacer, Refusal};

/// How early a token may be taken: the resolution of the drivers' timers
/// (tokio's is a millisecond).
const EARLY: Duration = Duration::from_millis(1);

/// Settings of an [`AdaptiveRateLimiter`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimiterConfig {
    initial_rate: f64,
    min_rate: f64,
    max_rate: f64,
    burst: f64,
    decrease: f64,
    increase_per_s: f64,
    slow_start: bool,
    cooldown: Duration,
}

impl Default for RateLimiterConfig {
    fn default() -> Self {
        Self {
            initial_rate: 100.0,
            min_rate: 0.5,
            max_rate: 100_000.0,
            burst: 10.0,
            decrease: 0.85,
            increase_per_s: 0.05,
            slow_start: true,
            cooldown: Duration::from_secs(1),
        }
    }
}

impl RateLimiterConfig {
    /// Defaults: start at 100 requests/s and ramp up (slow start) until the
    /// first 429.
    pub fn new() -> Self {
        Self::default()
    }
    /// A known limit: start at `rps` and probe upward slowly, no slow start.
    pub fn hint(rps: f64) -> Self {
        Self::default().initial_rate(rps).slow_start(false)
    }
    /// A hard cap: in any one-second window at most `rps` requests, give or
    /// take one for timing. The rate starts at the cap, backs off on 429s,
    /// probes upward again, and never goes above the cap; the bucket holds
    /// one token, so there is no burst above the rate.
    pub fn cap(rps: f64) -> Self {
        let rps = sane(rps, 1.0);
        Self::default()
            .initial_rate(rps)
            .max_rate(rps)
            .min_rate(rps.min(0.5))
            .burst(1.0)
            .slow_start(false)
    }
    /// The starting rate in requests/s.
    pub fn initial_rate(mut self, rps: f64) -> Self {
        self.initial_rate = sane(rps, 1.0);
        self
    }
    /// The floor of the rate.
    pub fn min_rate(mut self, rps: f64) -> Self {
        self.min_rate = sane(rps, 0.5);
        self
    }
    /// The ceiling of the rate.
    pub fn max_rate(mut self, rps: f64) -> Self {
        self.max_rate = sane(rps, 100_000.0);
        self
    }
    /// How many requests may go at once after a quiet spell.
    pub fn burst(mut self, tokens: f64) -> Self {
        self.burst = sane(tokens, 1.0).max(1.0);
        self
    }
    /// The factor applied to the rate on throttling, in `(0, 1)`.
    pub fn decrease(mut self, factor: f64) -> Self {
        self.decrease = if factor.is_finite() {
            factor.clamp(0.05, 0.99)
        } else {
            0.85
        };
        self
    }
    /// Upward probing after throttling, as a fraction of the rate per second.
    pub fn increase_per_s(mut self, fraction: f64) -> Self {
        self.increase_per_s = if fraction.is_finite() && fraction >= 0.0 {
            fraction
        } else {
            0.05
        };
        self
    }
    /// Whether to double the rate every half second until the first 429.
    pub fn slow_start(mut self, on: bool) -> Self {
        self.slow_start = on;
        self
    }
    /// Throttles within this long of a decrease count as the same event.
    pub fn cooldown(mut self, d: Duration) -> Self {
        self.cooldown = d;
        self
    }
}

fn sane(x: f64, default: f64) -> f64 {
    if x.is_finite() && x > 0.0 { x } else { default }
}

/// A token bucket whose fill rate backs off multiplicatively on 429s and
/// probes upward again while calls succeed.
#[derive(Debug, Clone)]
pub struct AdaptiveRateLimiter {
    cfg: RateLimiterConfig,
    rate: f64,
    tokens: f64,
    last_refill: Option<Instant>,
    last_increase: Option<Instant>,
    last_decrease: Option<Instant>,
    slow_start: bool,
    window_start: Option<Instant>,
    window_sent: u32,
    window_ok: u32,
    measured: Option<f64>,
    measured_ok: Option<f64>,
    ok_since_decrease: u32,
    throttles: u64,
}

impl AdaptiveRateLimiter {
    /// A limiter with these settings, its bucket full.
    pub fn new(cfg: RateLimiterConfig) -> Self {
        let rate = cfg.initial_rate.clamp(cfg.min_rate, cfg.max_rate);
        Self {
            tokens: cfg.burst,
            slow_start: cfg.slow_start,
            cfg,
            rate,
            last_refill: None,
            last_increase: None,
            last_decrease: None,
            window_start: None,
            window_sent: 0,
            window_ok: 0,
            measured: None,
            measured_ok: None,
            ok_since_decrease: 0,
            throttles: 0,
        }
    }

    /// The current fill rate in requests/s.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Throttling events counted (coalesced within the cooldown).
    pub fn throttle_events(&self) -> u64 {
        self.throttles
    }

    /// Tokens per second: the rate, less the share a token taken `EARLY`
    /// could add, so that in any second at most `burst + rate` go (a cap
    /// stays a cap, give or take one).
    fn refill_rate(&self) -> f64 {
        self.rate / (1.0 + EARLY.as_secs_f64())
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last_refill {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.refill_rate()).min(self.cfg.burst);
        }
        self.last_refill = Some(now.max(self.last_refill.unwrap_or(now)));
    }

    /// Takes a token for one request at `now`, or says when one will be there.
    pub fn acquire(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        // A token due within the drivers' timer resolution is taken now (the
        // bucket runs that much into debt), so that a wake-up a little late
        // does not slow the pace: a late token is not lost.
        let early = self.rate * EARLY.as_secs_f64();
        if self.tokens + early >= 1.0 {
            self.tokens -= 1.0;
            self.measure(now);
            return Ok(());
        }
        let missing = 1.0 - early - self.tokens;
        let wait = Duration::from_secs_f64((missing / self.refill_rate()).min(3600.0))
            .max(Duration::from_micros(1));
        Err(crate::machine::later(now, wait))
    }

    fn measure(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        self.window_sent += 1;
        let span = now.saturating_duration_since(start);
        if span >= Duration::from_millis(500) {
            let secs = span.as_secs_f64();
            self.measured = Some(f64::from(self.window_sent) / secs);
            self.measured_ok = Some(f64::from(self.window_ok) / secs);
            self.window_start = Some(now);
            self.window_sent = 0;
            self.window_ok = 0;
        }
    }

    /// A request was answered 429 at `now`. Throttles within the cooldown
    /// of the last decrease count as the same event.
    pub fn on_throttle(&mut self, now: Instant) {
        if let Some(last) = self.last_decrease
            && now.saturating_duration_since(last) < self.cfg.cooldown
        {
            return;
        }
        self.decrease(now);
    }

    /// A request sent at `sent` was answered 429 at `now`. A request sent
    /// before the last decrease says nothing about the decreased rate and is
    /// ignored; one sent after it says the rate is still too high, and cuts
    /// again at once, cooldown or not.
    pub fn on_throttle_of(&mut self, now: Instant, sent: Instant) {
        match self.last_decrease {
            Some(last) if sent < last => {}
            Some(last) if sent.saturating_duration_since(last) < Duration::from_millis(50) => {
                // Sent in the first instants after the cut, from tokens the
                // bucket still held: the same event.
            }
            _ => self.decrease(now),
        }
    }

    fn decrease(&mut self, now: Instant) {
        self.refill(now);
        self.throttles += 1;
        self.slow_start = false;
        // Back off from what the server really accepted, not from an
        // unreached ceiling. Since the last decrease, successes per second
        // are the server's sustained rate; before the first one, a server's
        // burst may have hidden its limit, so the first cut halves.
        let sent = self.measured.map_or(self.rate, |m| m.min(self.rate));
        let since_last = self
            .last_decrease
            .map(|t| now.saturating_duration_since(t).as_secs_f64());
        let (base, factor) = match since_last {
            Some(secs) if secs >= 0.5 && self.ok_since_decrease > 0 => {
                (f64::from(self.ok_since_decrease) / secs, self.cfg.decrease)
            }
            // Cut again soon after a cut: the rate set then is still too
            // high, but not by half.
            Some(secs) if secs < 0.5 => (self.rate, self.cfg.decrease),
            _ => {
                let ok = self.measured_ok.filter(|ok| *ok > 0.0).unwrap_or(sent);
                (ok.min(sent), self.cfg.decrease.min(0.5))
            }
        };
        self.rate = (base * factor).clamp(self.cfg.min_rate, self.cfg.max_rate);
        self.ok_since_decrease = 0;
        self.tokens = self.tokens.min(1.0);
        self.last_decrease = Some(now);
        self.last_increase = Some(now);
    }

    /// A request succeeded at `now`: probe upward.
    pub fn on_success(&mut self, now: Instant) {
        self.window_ok = self.window_ok.saturating_add(1);
        self.ok_since_decrease = self.ok_since_decrease.saturating_add(1);
        let Some(last) = self.last_increase else {
            self.last_increase = Some(now);
            return;
        };
        let dt = now.saturating_duration_since(last).as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        let factor = if self.slow_start {
            // Doubling every half second.
            4f64.powf(dt.min(10.0))
        } else {
            1.0 + self.cfg.increase_per_s * dt.min(10.0)
        };
        self.rate = (self.rate * factor).clamp(self.cfg.min_rate, self.cfg.max_rate);
        self.last_increase = Some(now);
    }
}

/// Settings of a [`RetryBudget`].
///
/// `#[non_exhaustive]`: start from [`RetryBudgetConfig::default`] and
/// change what you need with the `with_` methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryBudgetConfig {
    /// Tokens in a full budget.
    pub capacity: u32,
    /// Tokens a retry after a throttling or server error costs.
    pub retry_cost: u32,
    /// Tokens a retry after a timeout or transport error costs.
    pub timeout_cost: u32,
    /// Tokens a success puts back.
    pub success_refund: u32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            capacity: 500,
            retry_cost: 5,
            timeout_cost: 10,
            success_refund: 1,
        }
    }
}

impl RetryBudgetConfig {
    /// With this many tokens in a full budget.
    pub fn with_capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// With this cost of a retry after a throttling or server error.
    pub fn with_retry_cost(mut self, cost: u32) -> Self {
        self.retry_cost = cost;
        self
    }

    /// With this cost of a retry after a timeout or transport error.
    pub fn with_timeout_cost(mut self, cost: u32) -> Self {
        self.timeout_cost = cost;
        self
    }

    /// With this refund per success.
    pub fn with_success_refund(mut self, refund: u32) -> Self {
        self.success_refund = refund;
        self
    }
}

/// A token bucket of retries: each retry withdraws, each success refunds.
/// When it is empty, failed attempts are not retried, so a failing service
/// sees at most about one request per call instead of `max_attempts`.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    cfg: RetryBudgetConfig,
    balance: u32,
}

impl RetryBudget {
    /// A full budget.
    pub fn new(cfg: RetryBudgetConfig) -> Self {
        Self {
            balance: cfg.capacity,
            cfg,
        }
    }

    /// Tokens left.
    pub fn balance(&self) -> u32 {
        self.balance
    }

    /// Withdraws the cost of retrying after `error`; false when the budget
    /// cannot pay (the retry must not happen).
    pub fn try_withdraw(&mut self, error: &Error) -> bool {
        let cost = match error.kind() {
            ErrorKind::Timeout | ErrorKind::Transport => self.cfg.timeout_cost,
            _ => self.cfg.retry_cost,
        };
        if self.balance >= cost {
            self.balance -= cost;
            true
        } else {
            false
        }
    }

    /// A call succeeded.
    pub fn on_success(&mut self) {
        self.balance = (self.balance + self.cfg.success_refund).min(self.cfg.capacity);
    }
}

/// Traffic control shared by every call of one client (cheap to clone).
#[derive(Clone, Default)]
pub struct SharedLimits {
    inner: Arc<Mutex<Limits>>,
}

/// What [`SharedLimits`] holds; either part may be off.
///
/// `#[non_exhaustive]`: it may hold more; start from
/// [`Limits::default`] (both off).
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Limits {
    /// The adaptive rate limiter, if on.
    pub rate: Option<AdaptiveRateLimiter>,
    /// The retry budget, if on.
    pub budget: Option<RetryBudget>,
}

impl fmt::Debug for SharedLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedLimits").field(&*self.lock()).finish()
    }
}

impl SharedLimits {
    /// Limits with the given parts.
    pub fn new(rate: Option<RateLimiterConfig>, budget: Option<RetryBudgetConfig>) -> Self {
        Self::from_limits(Limits::new(rate, budget))
    }

    /// Shares `limits`.
    pub fn from_limits(limits: Limits) -> Self {
        Self {
            inner: Arc::new(Mutex::new(limits)),
        }
    }

    /// Both parts on with default settings (fleet operations).
    pub fn fleet_default() -> Self {
        Self::from_limits(Limits::fleet_default())
    }

    /// Locks the state (a poisoned lock is recovered: the state is plain data).
    pub fn lock(&self) -> MutexGuard<'_, Limits> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Limits {
    /// Limits with the given parts.
    pub fn new(rate: Option<RateLimiterConfig>, budget: Option<RetryBudgetConfig>) -> Self {
        Self {
            rate: rate.map(AdaptiveRateLimiter::new),
            budget: budget.map(RetryBudget::new),
        }
    }

    /// Both parts on with default settings.
    pub fn fleet_default() -> Self {
        Self::new(
            Some(RateLimiterConfig::default()),
            Some(RetryBudgetConfig::default()),
        )
    }

    /// The adaptive limiter's rate, if it is on.
    pub(crate) fn current_rate(&self) -> Option<f64> {
        self.rate.as_ref().map(AdaptiveRateLimiter::rate)
    }

    /// Takes a rate token at `now`, or says when one will be there.
    pub(crate) fn acquire(&mut self, now: Instant) -> Result<(), Instant> {
        match &mut self.rate {
            Some(r) => r.acquire(now),
            None => Ok(()),
        }
    }

    pub(crate) fn on_success(&mut self, now: Instant) {
        if let Some(r) = &mut self.rate {
            r.on_success(now);
        }
        if let Some(b) = &mut self.budget {
            b.on_success();
        }
    }

    /// An attempt sent at `sent` failed with `error` at `now`. A 429 that
    /// quotes a quota is the `pacer`'s to handle; the adaptive rate is cut
    /// only when the pacer could not explain it (others share the quota).
    pub(crate) fn on_error(
        &mut self,
        now: Instant,
        sent: Instant,
        error: &Error,
        pacer: &QuotaPacer,
    ) {
        if error.kind() != ErrorKind::RateLimited {
            return;
        }
        if let Some(quota) = error.throttle()
            && pacer.on_refusal(now, sent, quota) == Refusal::Explained
        {
            return;
        }
        if let Some(r) = &mut self.rate {
            r.on_throttle_of(now, sent);
        }
    }

    pub(crate) fn try_withdraw(&mut self, error: &Error) -> bool {
        match &mut self.budget {
            Some(b) => b.try_withdraw(error),
            None => true,
        }
    }
}

/// Why an attempt could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// No request slot is free.
    Slot,
    /// The rate limiter has a token at this time.
    Rate(Instant),
}

/// Admission of one machine's next attempt: a request slot, the config's
/// quota pacer and a rate token. The machine asks; whoever drives it reads
/// why it was refused.
pub(crate) struct Gate<'a> {
    limits: &'a mut Limits,
    /// Whether a request may start now, its turn in the queue included.
    slot: bool,
    /// Whether a slot is free at all, for a request sent again at once.
    slot_free: bool,
    blocked: Option<Blocked>,
}

impl<'a> Gate<'a> {
    /// A gate over `limits`; `slot` says whether a request may start at all.
    pub(crate) fn new(limits: &'a mut Limits, slot: bool) -> Self {
        Self {
            limits,
            slot,
            slot_free: slot,
            blocked: None,
        }
    }

    /// Says whether a slot is free even when it is not this machine's turn:
    /// a request sent again at once because its connection closed
    /// unanswered takes back the slot it just had.
    pub(crate) fn with_slot_free(mut self, free: bool) -> Self {
        self.slot_free = free || self.slot;
        self
    }

    /// Admits one attempt at `now`, taking the quota pacer's turn and a
    /// rate token; on refusal, the time to ask again, if the refusal was
    /// the pacer's or the rate limiter's.
    pub(crate) fn admit(
        &mut self,
        now: Instant,
        pacer: &QuotaPacer,
    ) -> Result<(), Option<Instant>> {
        if !self.slot {
            self.blocked = Some(Blocked::Slot);
            return Err(None);
        }
        if let Err(at) = pacer.admit(now) {
            self.blocked = Some(Blocked::Rate(at));
            return Err(Some(at));
        }
        self.limits.acquire(now).map_err(|at| {
            pacer.give_back(now);
            self.blocked = Some(Blocked::Rate(at));
            Some(at)
        })
    }

    /// Admits a request sent again at once (its connection closed before
    /// answering): it needs a free slot, not a new turn or token, since the
    /// server never saw it.
    pub(crate) fn admit_again(&mut self) -> Result<(), Option<Instant>> {
        if self.slot_free {
            Ok(())
        } else {
            self.blocked = Some(Blocked::Slot);
            Err(None)
        }
    }

    /// Why the last [`admit`](Self::admit) refused, if it did.
    pub(crate) fn blocked(&self) -> Option<Blocked> {
        self.blocked
    }

    /// The limits, for feeding outcomes.
    pub(crate) fn limits(&mut self) -> &mut Limits {
        self.limits
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests pick an arbitrary start instant
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends as fast as the limiter allows for `secs`, returns sends.
    fn saturate(rl: &mut AdaptiveRateLimiter, start: Instant, secs: u64) -> (u64, Instant) {
        let mut now = start;
        let end = start + Duration::from_secs(secs);
        let mut sent = 0;
        while now < end {
            match rl.acquire(now) {
                Ok(()) => {
                    sent += 1;
                    rl.on_success(now);
                }
                Err(t) => now = t,
            }
        }
        (sent, now)
    }

    #[test]
    fn paces_at_the_rate() {
        let t0 = Instant::now();
        let mut rl =
            AdaptiveRateLimiter::new(RateLimiterConfig::hint(50.0).increase_per_s(0.0).burst(1.0));
        let (sent, _) = saturate(&mut rl, t0, 10);
        assert!((495..=505).contains(&sent), "{sent}");
    }

    #[test]
    fn slow_start_doubles_until_throttled() {
        let t0 = Instant::now();
        let mut rl = AdaptiveRateLimiter::new(RateLimiterConfig::default().initial_rate(100.0));
        // Doubling every half second: 100 -> about 6,400 in 3 s.
        let (_, t1) = saturate(&mut rl, t0, 3);
        let before = rl.rate();
        assert!(before > 3000.0 && before < 7000.0, "{before}");
        rl.on_throttle(t1);
        let after = rl.rate();
        assert!(after <= before / 2.0 + 1e-9, "{after} vs {before}");
        // Throttles inside the cooldown are the same event.
        rl.on_throttle(t1 + ms(10));
        assert_eq!(rl.rate(), after);
        assert_eq!(rl.throttle_events(), 1);
        // No more doubling: probing is slow.
        let (_, _) = saturate(&mut rl, t1, 1);
        assert!(rl.rate() < after * 1.1, "{} vs {after}", rl.rate());
    }

    #[test]
    fn backs_off_to_what_the_server_accepted() {
        // Sending 400/s while the server accepts 100/s: the first throttle
        // halves what was accepted (50/s), not what was sent.
        let t0 = Instant::now();
        let mut rl = AdaptiveRateLimiter::new(
            RateLimiterConfig::hint(400.0)
                .burst(1.0)
                .increase_per_s(0.0),
        );
        let mut now = t0;
        let mut sent = 0u32;
        while now < t0 + Duration::from_secs(2) {
            match rl.acquire(now) {
                Ok(()) => {
                    sent += 1;
                    if sent.is_multiple_of(4) {
                        rl.on_success(now);
                    }
                }
                Err(t) => now = t,
            }
        }
        rl.on_throttle(now);
        assert!((45.0..55.0).contains(&rl.rate()), "{}", rl.rate());
        // Later cuts use the success rate since the last cut: 40 ok in 2 s.
        let later = now + Duration::from_secs(2);
        for i in 0..40u64 {
            rl.on_success(now + Duration::from_millis(50 * i));
        }
        rl.on_throttle(later);
        assert!(
            (16.0..18.0).contains(&rl.rate()),
            "0.85 x 20/s, got {}",
            rl.rate()
        );
    }

    #[test]
    fn throttles_count_by_when_their_request_was_sent() {
        let t0 = Instant::now();
        let mut rl = AdaptiveRateLimiter::new(RateLimiterConfig::hint(1000.0).increase_per_s(0.0));
        rl.on_throttle_of(t0 + ms(10), t0);
        let first = rl.rate();
        assert!(first < 1000.0);
        // Sent before the cut: the same event, however late it is answered.
        rl.on_throttle_of(t0 + ms(900), t0 + ms(5));
        assert_eq!(rl.rate(), first);
        assert_eq!(rl.throttle_events(), 1);
        // Sent well after the cut, inside the cooldown: the cut rate is still
        // too high, so it is cut again at once, by the decrease factor.
        rl.on_throttle_of(t0 + ms(300), t0 + ms(200));
        assert_eq!(rl.throttle_events(), 2);
        assert!(
            (rl.rate() - first * 0.85).abs() < 1e-6,
            "{} vs {first}",
            rl.rate()
        );
    }

    #[test]
    fn recovers_after_the_limit_is_lifted() {
        let t0 = Instant::now();
        let mut rl = AdaptiveRateLimiter::new(RateLimiterConfig::hint(200.0));
        rl.on_throttle(t0);
        let low = rl.rate();
        let (_, _) = saturate(&mut rl, t0 + ms(1), 20);
        assert!(rl.rate() > low * 1.9, "{} vs {low}", rl.rate());
    }

    #[test]
    fn budget_empties_and_refills() {
        let mut b = RetryBudget::new(RetryBudgetConfig {
            capacity: 20,
            retry_cost: 5,
            timeout_cost: 10,
            success_refund: 1,
        });
        let server = Error::timeout("t", None);
        assert!(b.try_withdraw(&server));
        assert!(b.try_withdraw(&server));
        assert!(!b.try_withdraw(&server));
        assert_eq!(b.balance(), 0);
        for _ in 0..10 {
            b.on_success();
        }
        assert!(b.try_withdraw(&server));
        for _ in 0..100 {
            b.on_success();
        }
        assert_eq!(b.balance(), 20);
    }

    proptest! {
        /// After a 429 the limiter never lets more through than the learned
        /// rate allows (plus what the bucket held).
        #[test]
        fn never_exceeds_the_learned_rate_after_a_429(
            initial in 10.0f64..2000.0,
            burst in 1.0f64..50.0,
            warm_ms in 0u64..3000,
            window_s in 1u64..5,
        ) {
            let t0 = Instant::now();
            let mut rl = AdaptiveRateLimiter::new(RateLimiterConfig::default().initial_rate(initial).burst(burst).increase_per_s(0.0));
            let (_, t1) = saturate(&mut rl, t0, 0);
            let t1 = t1 + ms(warm_ms);
            rl.on_throttle(t1);
            let learned = rl.rate();
            prop_assert!(learned <= initial.max(0.5) * 2f64.powf(warm_ms as f64 / 1000.0) + 1e-9);
            let (sent, _) = saturate(&mut rl, t1, window_s);
            let allowed = learned * window_s as f64 + 1.0 + 1e-6;
            prop_assert!((sent as f64) <= allowed, "sent {} > allowed {}", sent, allowed);
        }

        #[test]
        fn acquire_waits_are_in_the_future(rate in 0.5f64..10_000.0, n in 1usize..200) {
            let t0 = Instant::now();
            let mut rl = AdaptiveRateLimiter::new(RateLimiterConfig::hint(rate).burst(1.0));
            let mut now = t0;
            for _ in 0..n {
                match rl.acquire(now) {
                    Ok(()) => {}
                    Err(t) => { prop_assert!(t > now); now = t; }
                }
            }
        }
    }
}
