//! The gateway's flow control: policies of N calls per fixed window, per
//! API or per user, with the time passed in.
//!
//! Owns the policy settings ([`FlowPolicy`]), their validation, the counts
//! per window and the wording of the gateway's `APIGW.0308` message. Must
//! not read a clock, and must not build replies: the heart
//! ([`Simulator`](crate::Simulator)) turns a [`Refusal`] into the 429.
//!
//! How the gateway counts (API.md, "How the gateway throttles"): windows
//! are fixed, of a whole number of seconds, and aligned to the simulator's
//! start (in simulated time, so
//! [`Op::AdvanceClock`](crate::Op::AdvanceClock) moves them): window
//! `k` of a policy is `[k × window, (k + 1) × window)` after the start.
//! Every call a policy applies to counts in its current window, the calls
//! it refuses included; so once a window is over its limit, every call for
//! the rest of that window is refused, retries too.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The most policies in force at once.
pub const MAX_FLOW_POLICIES: usize = 64;

/// The longest policy window: 30 days.
const MAX_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// Per-user windows kept before old ones are dropped.
const USERS_BEFORE_PRUNING: usize = 4096;

/// Whose calls a [`FlowPolicy`] counts together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PolicyScope {
    /// Every call of the status API, whoever sends it (the 429 says
    /// `policy api`).
    #[default]
    Api,
    /// Each caller's calls apart, the caller being the access key of a
    /// signed request or the `X-Auth-Token` of a token request (as sent,
    /// before they are checked); a request with neither is not counted (the
    /// 429 says `policy user`).
    User,
}

impl PolicyScope {
    /// `api` or `user`, as in the 429's message and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::User => "user",
        }
    }
}

/// One flow-control policy of the gateway: at most `limit` calls in each
/// fixed `window`, counted per API or per user.
///
/// Over the limit the gateway answers 429 with `Content-Type:
/// application/json`, an `X-Request-Id`, no `Retry-After`, and the body
/// `{"error_msg":"The throttling threshold has been reached: policy user over
/// ratelimit,limit:20,time:1 second","error_code":"APIGW.0308","request_id":"..."}`
/// (`request_id` is the `X-Request-Id`).
///
/// JSON: `{"scope": "api" | "user", "limit": 20, "window_s": 1}`; `scope`
/// may be left out and is then `api`.
///
/// ```
/// use clouddc_simulator::FlowPolicy;
/// use std::time::Duration;
///
/// let p = FlowPolicy::per_user(200, Duration::from_secs(300));
/// assert!(p.validate().is_ok());
/// assert_eq!(p.message(), "The throttling threshold has been reached: policy user over ratelimit,limit:200,time:5 minute");
/// // Windows are whole seconds.
/// assert!(FlowPolicy::per_api(20, Duration::from_millis(1500)).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowPolicy {
    /// Whose calls count together (default [`PolicyScope::Api`]).
    #[serde(default)]
    pub scope: PolicyScope,
    /// Calls allowed per window, `1..=1_000_000_000`.
    pub limit: u32,
    /// The window: a whole number of seconds, from 1 s to 30 days.
    #[serde(rename = "window_s", with = "secs")]
    pub window: Duration,
}

/// `Duration` as whole seconds in the JSON.
mod secs {
    use super::*;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

impl FlowPolicy {
    /// `limit` calls of the API per `window`, all callers together.
    pub fn per_api(limit: u32, window: Duration) -> Self {
        Self {
            scope: PolicyScope::Api,
            limit,
            window,
        }
    }

    /// `limit` calls per `window` for each caller.
    pub fn per_user(limit: u32, window: Duration) -> Self {
        Self {
            scope: PolicyScope::User,
            limit,
            window,
        }
    }

    /// Checks the limit and the window; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1_000_000_000).contains(&self.limit) {
            return Err(format!(
                "flow policy limit is {}; use a whole number from 1 to 1000000000",
                self.limit
            ));
        }
        if self.window.subsec_nanos() != 0 || self.window.is_zero() || self.window > MAX_WINDOW {
            return Err(format!(
                "flow policy window is {:?}; use a whole number of seconds from 1 s to 30 days (window_s 1 to 2592000)",
                self.window
            ));
        }
        Ok(())
    }

    /// The window as the gateway quotes it: `<n> <unit>`, in the largest of
    /// `day`, `hour`, `minute` and `second` that divides it (singular, as in
    /// the vendor's text: `1 second`, `5 minute`, `90 second`).
    pub fn time_text(&self) -> String {
        let s = self.window.as_secs();
        let (n, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
            .into_iter()
            .find(|(size, _)| s > 0 && s.is_multiple_of(*size))
            .map_or((s, "second"), |(size, unit)| (s / size, unit));
        format!("{n} {unit}")
    }

    /// The `error_msg` of the 429 this policy causes.
    pub fn message(&self) -> String {
        format!(
            "The throttling threshold has been reached: policy {} over ratelimit,limit:{},time:{}",
            self.scope.as_str(),
            self.limit,
            self.time_text()
        )
    }
}

impl fmt::Display for FlowPolicy {
    /// `api: 20 per 1 second`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} per {}",
            self.scope.as_str(),
            self.limit,
            self.time_text()
        )
    }
}

/// Checks a list of policies.
pub(crate) fn validate(policies: &[FlowPolicy]) -> Result<(), String> {
    if policies.len() > MAX_FLOW_POLICIES {
        return Err(format!(
            "{} flow policies; at most {MAX_FLOW_POLICIES}",
            policies.len()
        ));
    }
    for (i, p) in policies.iter().enumerate() {
        p.validate().map_err(|e| format!("policies[{i}]: {e}"))?;
    }
    Ok(())
}

/// Who sent a call, as a per-user policy sees it. Kept as a hash, so the
/// simulator holds no caller's token in its counting state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Caller(u64);

impl Caller {
    /// The caller of a signed request (`Access=` of `Authorization`).
    pub(crate) fn access_key(ak: &str) -> Self {
        Self::of("ak", ak)
    }

    /// The caller of a token request.
    pub(crate) fn token(token: &str) -> Self {
        Self::of("token", token)
    }

    fn of(kind: &str, key: &str) -> Self {
        let mut h = DefaultHasher::new();
        (kind, key).hash(&mut h);
        Self(h.finish())
    }
}

/// Calls counted in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Window {
    index: u64,
    count: u64,
}

impl Window {
    /// Counts one call in window `index`; whether it is within `limit`.
    fn count(&mut self, index: u64, limit: u32) -> bool {
        if self.index != index {
            *self = Self { index, count: 0 };
        }
        self.count = self.count.saturating_add(1);
        self.count <= u64::from(limit)
    }
}

#[derive(Debug, Clone)]
struct Counted {
    policy: FlowPolicy,
    api: Window,
    users: BTreeMap<Caller, Window>,
}

/// Which policy refused a call, and in which of its windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Its position in the list of policies in force.
    pub(crate) index: usize,
    /// The policy.
    pub(crate) policy: FlowPolicy,
    /// The window: `k` is `[k × window, (k + 1) × window)` after the start.
    pub(crate) window_index: u64,
}

/// The policies in force and their counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlowControl {
    counted: Vec<Counted>,
}

impl FlowControl {
    /// Fresh counts for `policies` (which must have passed validation).
    pub(crate) fn new(policies: &[FlowPolicy]) -> Self {
        Self {
            counted: policies
                .iter()
                .map(|&policy| Counted {
                    policy,
                    api: Window::default(),
                    users: BTreeMap::new(),
                })
                .collect(),
        }
    }

    /// The policies in force, in order.
    pub(crate) fn policies(&self) -> Vec<FlowPolicy> {
        self.counted.iter().map(|c| c.policy).collect()
    }

    /// Counts a call by `caller` that arrived `elapsed` after the start
    /// (simulated time) in every policy that applies to it, and refuses it
    /// if any of them is over its limit in its current window: the first
    /// such policy, in order, is the one quoted.
    pub(crate) fn admit(
        &mut self,
        caller: Option<Caller>,
        elapsed: Duration,
    ) -> Result<(), Refusal> {
        let mut refusal = None;
        for (index, c) in self.counted.iter_mut().enumerate() {
            let window_index =
                u64::try_from(elapsed.as_nanos() / c.policy.window.as_nanos().max(1))
                    .unwrap_or(u64::MAX);
            let within = match c.policy.scope {
                PolicyScope::Api => c.api.count(window_index, c.policy.limit),
                PolicyScope::User => {
                    let Some(caller) = caller else { continue };
                    if c.users.len() >= USERS_BEFORE_PRUNING && !c.users.contains_key(&caller) {
                        c.users.retain(|_, w| w.index == window_index);
                    }
                    c.users
                        .entry(caller)
                        .or_default()
                        .count(window_index, c.policy.limit)
                }
            };
            if !within && refusal.is_none() {
                refusal = Some(Refusal {
                    index,
                    policy: c.policy,
                    window_index,
                });
            }
        }
        refusal.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_window_is_quoted_in_the_largest_unit_that_divides_it() {
        let t = |secs| FlowPolicy::per_api(1, s(secs)).time_text();
        assert_eq!(t(1), "1 second");
        assert_eq!(t(6), "6 second");
        assert_eq!(t(60), "1 minute");
        assert_eq!(t(90), "90 second");
        assert_eq!(t(300), "5 minute");
        assert_eq!(t(3600), "1 hour");
        assert_eq!(t(5400), "90 minute");
        assert_eq!(t(86_400), "1 day");
        assert_eq!(t(2 * 86_400), "2 day");
        assert_eq!(t(90_000), "25 hour");
    }

    #[test]
    fn the_message_is_the_vendors() {
        assert_eq!(
            FlowPolicy::per_user(20, s(1)).message(),
            "The throttling threshold has been reached: policy user over ratelimit,limit:20,time:1 second"
        );
        assert_eq!(
            FlowPolicy::per_api(200, s(300)).message(),
            "The throttling threshold has been reached: policy api over ratelimit,limit:200,time:5 minute"
        );
        assert_eq!(
            FlowPolicy::per_api(60, s(6)).to_string(),
            "api: 60 per 6 second"
        );
    }

    #[test]
    fn validation_names_what_is_wrong() {
        assert!(FlowPolicy::per_api(1, s(1)).validate().is_ok());
        assert!(
            FlowPolicy::per_api(1_000_000_000, s(30 * 86_400))
                .validate()
                .is_ok()
        );
        let bad = |p: FlowPolicy| p.validate().unwrap_err();
        assert!(bad(FlowPolicy::per_api(0, s(1))).contains("limit"));
        assert!(bad(FlowPolicy::per_api(1_000_000_001, s(1))).contains("limit"));
        for w in [Duration::ZERO, ms(500), ms(1500), s(30 * 86_400 + 1)] {
            assert!(
                bad(FlowPolicy::per_api(5, w)).contains("whole number of seconds"),
                "{w:?}"
            );
        }
        let many = vec![FlowPolicy::per_api(1, s(1)); MAX_FLOW_POLICIES + 1];
        assert!(validate(&many).unwrap_err().contains("at most"));
        let list = [FlowPolicy::per_api(1, s(1)), FlowPolicy::per_user(0, s(1))];
        assert!(validate(&list).unwrap_err().starts_with("policies[1]"));
    }

    #[test]
    fn json_shape() {
        let p: FlowPolicy = serde_json::from_str(r#"{"limit": 20, "window_s": 1}"#).unwrap();
        assert_eq!(p, FlowPolicy::per_api(20, s(1)));
        let p: FlowPolicy =
            serde_json::from_str(r#"{"scope": "user", "limit": 200, "window_s": 300}"#).unwrap();
        assert_eq!(p, FlowPolicy::per_user(200, s(300)));
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"scope":"user","limit":200,"window_s":300}"#
        );
        for bad in [
            r#"{"limit": 20}"#,
            r#"{"limit": 20, "window_s": 1, "burst": 3}"#,
            r#"{"scope": "app", "limit": 20, "window_s": 1}"#,
            r#"{"limit": -1, "window_s": 1}"#,
        ] {
            assert!(serde_json::from_str::<FlowPolicy>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_are_fixed_and_refused_calls_count() {
        let mut f = FlowControl::new(&[FlowPolicy::per_api(3, s(1))]);
        let at = |f: &mut FlowControl, t| f.admit(None, ms(t)).map_err(|r| r.window_index);
        // Three pass, then the rest of window 0 is refused.
        for t in [0, 10, 20] {
            assert_eq!(at(&mut f, t), Ok(()));
        }
        for t in [30, 500, 999] {
            assert_eq!(at(&mut f, t), Err(0));
        }
        // Window 1 starts at 1000 ms sharp, not 1000 ms after the first call.
        for t in [1000, 1001, 1999] {
            assert_eq!(at(&mut f, t), Ok(()));
        }
        assert_eq!(at(&mut f, 1999), Err(1));
        // A window skipped entirely changes nothing.
        assert_eq!(at(&mut f, 5000), Ok(()));
    }

    #[test]
    fn users_are_counted_apart_and_the_first_exhausted_policy_is_quoted() {
        let api = FlowPolicy::per_api(5, s(10));
        let user = FlowPolicy::per_user(2, s(1));
        let mut f = FlowControl::new(&[user, api]);
        let (a, b) = (Caller::token("a"), Caller::access_key("a"));
        assert_ne!(a, b, "a token and an access key are different callers");
        assert_eq!(f.admit(Some(a), ms(0)), Ok(()));
        assert_eq!(f.admit(Some(a), ms(1)), Ok(()));
        let r = f.admit(Some(a), ms(2)).unwrap_err();
        assert_eq!((r.index, r.policy, r.window_index), (0, user, 0));
        // b has its own count; the API's count has all four calls.
        assert_eq!(f.admit(Some(b), ms(3)), Ok(()));
        // The fifth call of the API window: within 5.
        assert_eq!(f.admit(None, ms(4)), Ok(()));
        // The sixth: the API policy refuses it (the user policy does not
        // count a call without a caller).
        let r = f.admit(None, ms(5)).unwrap_err();
        assert_eq!((r.index, r.policy), (1, api));
        // Both exhausted: the first in order is quoted.
        let r = f.admit(Some(a), ms(6)).unwrap_err();
        assert_eq!(r.index, 0);
        // Next second: the user may call again, the API is still over.
        let r = f.admit(Some(a), ms(1000)).unwrap_err();
        assert_eq!((r.index, r.window_index), (1, 0));
    }

    #[test]
    fn old_user_windows_are_pruned() {
        let mut f = FlowControl::new(&[FlowPolicy::per_user(1, s(1))]);
        for n in 0..USERS_BEFORE_PRUNING {
            assert_eq!(f.admit(Some(Caller::token(&n.to_string())), ms(0)), Ok(()));
        }
        assert_eq!(f.counted[0].users.len(), USERS_BEFORE_PRUNING);
        assert_eq!(f.admit(Some(Caller::token("new")), s(1)), Ok(()));
        assert_eq!(f.counted[0].users.len(), 1);
    }

    /// A policy's window for one caller (or the API): (policy, caller, window).
    type WindowKey = (usize, Option<u8>, u64);
    /// (accepted, counted, refused a call already).
    type Tally = (u64, u64, bool);

    fn policy() -> impl Strategy<Value = FlowPolicy> {
        (1u32..12, 1u64..8, any::<bool>()).prop_map(|(limit, secs, user)| {
            if user {
                FlowPolicy::per_user(limit, s(secs))
            } else {
                FlowPolicy::per_api(limit, s(secs))
            }
        })
    }

    proptest! {
        /// For any policies and arrivals: in every window of every policy,
        /// the calls accepted are at most its limit; a refusal names a
        /// policy that applies to the call, whose window count (refused
        /// calls included) is over its limit, and whose message quotes its
        /// limit and window; once a window refuses a call, it refuses every
        /// later call it counts.
        #[test]
        fn accepted_calls_per_window_never_exceed_the_limit(
            policies in proptest::collection::vec(policy(), 1..4),
            calls in proptest::collection::vec((0u64..700, 0u8..3), 1..300),
        ) {
            let mut f = FlowControl::new(&policies);
            let mut at = Duration::ZERO;
            let mut seen: BTreeMap<WindowKey, Tally> = BTreeMap::new();
            for (gap, who) in calls {
                at += ms(gap);
                let caller = (who > 0).then(|| Caller::token(&who.to_string()));
                let result = f.admit(caller, at);
                if let Err(r) = result {
                    let p = policies[r.index];
                    prop_assert_eq!(r.policy, p);
                    prop_assert!(p.scope == PolicyScope::Api || caller.is_some());
                    let msg = r.policy.message();
                    let limit_text = format!("limit:{},", p.limit);
                    let time_text = format!("time:{}", p.time_text());
                    prop_assert!(msg.contains(&limit_text), "{}", msg);
                    prop_assert!(msg.ends_with(&time_text), "{}", msg);
                    prop_assert_eq!(r.window_index, (at.as_nanos() / p.window.as_nanos()) as u64);
                }
                for (i, p) in policies.iter().enumerate() {
                    let key = match p.scope {
                        PolicyScope::Api => None,
                        PolicyScope::User if who == 0 => continue,
                        PolicyScope::User => Some(who),
                    };
                    let w = (at.as_nanos() / p.window.as_nanos()) as u64;
                    let e = seen.entry((i, key, w)).or_default();
                    e.1 += 1;
                    if e.2 {
                        prop_assert!(result.is_err(), "a window that refused lets a call through");
                    }
                    if e.1 > u64::from(p.limit) {
                        e.2 = true;
                        prop_assert!(result.is_err());
                    }
                    if result.is_ok() {
                        e.0 += 1;
                    }
                    prop_assert!(e.0 <= u64::from(p.limit));
                }
            }
        }
    }
}
