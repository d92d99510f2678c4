//! The server metadata service (ECS/BMS style): session tokens and the
//! agency's temporary credentials, rotated on a schedule.
//!
//! Owns the settings ([`Metadata`]), the rotation arithmetic (which
//! generation is the newest, which are live at a simulated time), each
//! generation's keys (derived from the seed and the generation number), the
//! session tokens handed out, and the two routes' normal answers. Must not
//! read a clock: every time is simulated time since the simulator started
//! ([`Simulator::elapsed`](crate::Simulator::elapsed)), plus the wall time
//! passed in for `expires_at`. Rate limits and faults are applied by the
//! [`Simulator`](crate::Simulator), as for the status call.
//!
//! # Rotation
//!
//! Generation `k` (0, 1, 2, ...) is issued at `k × rotation` after the start
//! and expires `lifetime` later. `securitykey` always answers the newest
//! generation issued; every generation issued and not yet expired is
//! accepted by the gateway. With `rotation` 2 s and `lifetime` 6 s:
//!
//! | simulated time | newest | live (accepted) |
//! |---|---|---|
//! | 0 s ≤ t < 2 s | 0 | 0 |
//! | 2 s ≤ t < 4 s | 1 | 0, 1 |
//! | 4 s ≤ t < 6 s | 2 | 0, 1, 2 |
//! | 6 s ≤ t < 8 s | 3 | 1, 2, 3 |
//!
//! ```
//! use clouddc_simulator::Metadata;
//! use std::time::Duration;
//! let s = Duration::from_secs;
//! let m = Metadata::on().with_rotation(s(2), s(6));
//! assert_eq!(m.generation_at(s(5)), 2);
//! assert_eq!((m.issued_at(1), m.expires_at(1)), (s(2), s(8)));
//! assert!(m.is_live(0, s(5)) && !m.is_live(0, s(6)) && !m.is_live(3, s(5)));
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use clouddc_core::http::{self, HeaderValue, Method, Request, StatusCode};
use clouddc_core::{Secret, mix64};
use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::ms;
use crate::reply::Reply;

/// The path of the session token request (`PUT`).
pub const TOKEN_PATH: &str = "/meta-data/latest/api/token";
/// The path of the credentials request (`GET`).
pub const SECURITY_KEY_PATH: &str = "/openstack/latest/securitykey";
/// The words of the 401 answered when no agency is attached.
pub const NO_AGENCY_MESSAGE: &str = "Please configure Cloud Service Agency first";
/// The longest session token lifetime asked for: 6 hours, in seconds.
pub const MAX_TOKEN_TTL_SECS: u64 = 21_600;
/// The prefix of every generation's access key.
const AK_PREFIX: &str = "SIMSTS";
/// At most this many session tokens are remembered; beyond it the one
/// expiring first is forgotten.
const MAX_TOKENS: usize = 10_000;
const KEY_SALT: u64 = 0x4D45_5441_4441_5441;
const TOKEN_SALT: u64 = 0x5345_5353_494F_4E54;

fn default_rotation() -> Duration {
    Duration::from_secs(3600)
}

fn default_lifetime() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn yes() -> bool {
    true
}

/// Whether the metadata service hands out session tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionTokens {
    /// `PUT /meta-data/latest/api/token` answers a token, and
    /// `securitykey` requires it in `X-Metadata-Token` (401 when missing,
    /// unknown or expired).
    #[default]
    Required,
    /// An older host: the token request answers 404, and `securitykey`
    /// needs no token.
    #[serde(rename = "unsupported_404")]
    Unsupported404,
    /// An older host: the token request answers 405, and `securitykey`
    /// needs no token.
    #[serde(rename = "unsupported_405")]
    Unsupported405,
}

/// The server metadata service's settings: off by default.
///
/// JSON (admin API), every field optional:
/// `{"enabled": true, "session_tokens": "required" | "unsupported_404" |
/// "unsupported_405", "agency": true, "rotation_ms": 3600000,
/// "lifetime_ms": 86400000, "faults": {...}}`.
///
/// ```
/// use clouddc_simulator::{Faults, Metadata, ServerError, SessionTokens};
/// use std::time::Duration;
/// let m = Metadata::on()
///     .with_rotation(Duration::from_secs(2), Duration::from_secs(6))
///     .with_session_tokens(SessionTokens::Unsupported405)
///     .with_faults(Faults { server_error: Some(ServerError::status(503).with_times(1)), ..Faults::none() });
/// assert!(m.validate().is_ok());
/// assert!(Metadata::on().with_rotation(Duration::from_secs(6), Duration::from_secs(2)).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metadata {
    /// Whether the metadata routes are served at all (when not, they
    /// answer 404 like any unknown path, and no generation is accepted).
    pub enabled: bool,
    /// Session tokens: required, or an older host without them.
    pub session_tokens: SessionTokens,
    /// Whether an agency is attached to the server; without one
    /// `securitykey` answers 401 with [`NO_AGENCY_MESSAGE`].
    #[serde(default = "yes")]
    pub agency: bool,
    /// A new generation of credentials is issued this often (default 1 h).
    #[serde(rename = "rotation_ms", with = "crate::ms")]
    pub rotation: Duration,
    /// Each generation is valid this long after it is issued (default
    /// 24 h; at least `rotation`).
    #[serde(rename = "lifetime_ms", with = "crate::ms")]
    pub lifetime: Duration,
    /// Faults of the metadata routes only (rate limit, latency, 5xx,
    /// stalls, resets, ...), drawn like the status call's.
    #[serde(skip_serializing_if = "Faults::is_empty")]
    pub faults: Faults,
}

impl Default for Metadata {
    /// Off; when turned on: session tokens required, an agency attached,
    /// rotation 1 h, lifetime 24 h, no faults.
    fn default() -> Self {
        Self {
            enabled: false,
            session_tokens: SessionTokens::Required,
            agency: true,
            rotation: default_rotation(),
            lifetime: default_lifetime(),
            faults: Faults::none(),
        }
    }
}

/// `a × k`, saturating at `Duration::MAX`.
fn times(a: Duration, k: u64) -> Duration {
    let nanos = a.as_nanos().saturating_mul(u128::from(k));
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    if secs == u64::MAX {
        return Duration::MAX;
    }
    // The remainder is below 10^9, so it fits.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

impl Metadata {
    /// Served, with the defaults of [`Metadata::default`].
    pub fn on() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }

    /// Not served (the default).
    pub fn off() -> Self {
        Self::default()
    }

    /// With session tokens required or unsupported.
    pub fn with_session_tokens(mut self, tokens: SessionTokens) -> Self {
        self.session_tokens = tokens;
        self
    }

    /// With or without an agency attached.
    pub fn with_agency(mut self, agency: bool) -> Self {
        self.agency = agency;
        self
    }

    /// A new generation every `rotation`, each valid for `lifetime`.
    pub fn with_rotation(mut self, rotation: Duration, lifetime: Duration) -> Self {
        self.rotation = rotation;
        self.lifetime = lifetime;
        self
    }

    /// With these faults on the metadata routes.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Checks every value is in range; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.rotation < Duration::from_millis(1) {
            return Err("metadata rotation_ms is 0; use at least 1 ms".to_owned());
        }
        ms::check("metadata rotation_ms", self.rotation)?;
        ms::check("metadata lifetime_ms", self.lifetime)?;
        if self.lifetime < self.rotation {
            return Err(format!(
                "metadata lifetime_ms ({}) is shorter than rotation_ms ({}); a generation must live at least until the next one is issued",
                self.lifetime.as_millis(),
                self.rotation.as_millis()
            ));
        }
        self.faults
            .validate()
            .and_then(|()| self.faults.check_local("the metadata service"))
            .map_err(|e| format!("metadata faults: {e}"))
    }

    /// The newest generation issued at `elapsed` (simulated time since the
    /// start): `floor(elapsed / rotation)`.
    pub fn generation_at(&self, elapsed: Duration) -> u64 {
        let r = self.rotation.as_nanos();
        if r == 0 {
            return 0;
        }
        u64::try_from(elapsed.as_nanos() / r).unwrap_or(u64::MAX)
    }

    /// When generation `k` is issued: `k × rotation` after the start.
    pub fn issued_at(&self, k: u64) -> Duration {
        times(self.rotation, k)
    }

    /// When generation `k` expires: `lifetime` after it is issued.
    pub fn expires_at(&self, k: u64) -> Duration {
        self.issued_at(k).saturating_add(self.lifetime)
    }

    /// The oldest generation live at `elapsed`: every generation from it to
    /// [`generation_at`](Self::generation_at) is live, and no other.
    pub fn oldest_live_at(&self, elapsed: Duration) -> u64 {
        match elapsed.checked_sub(self.lifetime) {
            None => 0,
            Some(d) => self.generation_at(d).saturating_add(1),
        }
    }

    /// Whether generation `k` is issued and not yet expired at `elapsed`
    /// (issued at or before, expiring strictly after).
    pub fn is_live(&self, k: u64, elapsed: Duration) -> bool {
        self.issued_at(k) <= elapsed && elapsed < self.expires_at(k)
    }
}

/// One generation of the agency's temporary credentials.
///
/// Keys are derived from the simulator's seed and the generation number
/// alone: the access key is `SIMSTS`, the number in at least six digits,
/// and eight hex digits (`SIMSTS000003A1B2C3D4`); the secret key is 40
/// hex digits; the security token starts with `simst-`.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialGeneration {
    /// Its number: 0 for the first one issued at the start.
    pub number: u64,
    /// The access key.
    pub access_key: String,
    /// The secret key.
    pub secret_key: Secret,
    /// The security token, required (signed) with these keys.
    pub security_token: Secret,
    /// When it was issued, in simulated time since the start.
    pub issued_at: Duration,
    /// When it expires, in simulated time since the start.
    pub expires_at: Duration,
}

impl fmt::Debug for CredentialGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialGeneration")
            .field("number", &self.number)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("security_token", &"<redacted>")
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The `i`th word of generation `k`'s keys.
fn word(seed: u64, k: u64, i: u64) -> u64 {
    mix64(mix64(seed ^ KEY_SALT).wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ mix64(i))
}

fn access_key(seed: u64, k: u64) -> String {
    format!("{AK_PREFIX}{k:06}{:08X}", word(seed, k, 0) >> 32)
}

/// Generation `k`'s credentials under `settings`.
pub(crate) fn generation(settings: &Metadata, seed: u64, k: u64) -> CredentialGeneration {
    let w = |i| word(seed, k, i);
    CredentialGeneration {
        number: k,
        access_key: access_key(seed, k),
        secret_key: Secret::new(format!("{:016x}{:016x}{:08x}", w(1), w(2), w(3) >> 32)),
        security_token: Secret::new(format!(
            "simst-{k}-{:016x}{:016x}{:016x}{:016x}",
            w(4),
            w(5),
            w(6),
            w(7)
        )),
        issued_at: settings.issued_at(k),
        expires_at: settings.expires_at(k),
    }
}

/// The generation an access key names, if it is exactly one of this
/// seed's generation keys (issued or not).
pub(crate) fn generation_of(seed: u64, ak: &str) -> Option<u64> {
    let rest = ak.strip_prefix(AK_PREFIX)?;
    if rest.len() < 14 || !rest.is_ascii() {
        return None;
    }
    let digits = &rest[..rest.len() - 8];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let k: u64 = digits.parse().ok()?;
    (access_key(seed, k) == ak).then_some(k)
}

/// The two routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Token,
    SecurityKey,
}

impl Route {
    /// The route of a path as it arrived, if it is one of the two.
    pub(crate) fn of(path: &str) -> Option<Self> {
        match path {
            TOKEN_PATH => Some(Self::Token),
            SECURITY_KEY_PATH => Some(Self::SecurityKey),
            _ => None,
        }
    }
}

/// The service's state: its settings and the session tokens handed out.
#[derive(Clone)]
pub(crate) struct State {
    pub(crate) settings: Metadata,
    /// Live session tokens and when they expire (simulated time).
    tokens: BTreeMap<String, Duration>,
    minted: u64,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("settings", &self.settings)
            .field("tokens", &format_args!("<{} redacted>", self.tokens.len()))
            .field("minted", &self.minted)
            .finish()
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    Reply::text(status, body.into())
}

fn method_not_allowed(allow: &'static str) -> Reply {
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "405 Method Not Allowed\n".to_owned(),
    );
    r.headers
        .insert(http::header::ALLOW, HeaderValue::from_static(allow));
    r
}

impl State {
    pub(crate) fn new(settings: Metadata) -> Self {
        Self {
            settings,
            tokens: BTreeMap::new(),
            minted: 0,
        }
    }

    /// Forgets every session token; returns how many were live.
    pub(crate) fn revoke_tokens(&mut self, elapsed: Duration) -> usize {
        let live = self.live_tokens(elapsed);
        self.tokens.clear();
        live
    }

    /// How many session tokens are live at `elapsed`.
    pub(crate) fn live_tokens(&self, elapsed: Duration) -> usize {
        self.tokens.values().filter(|&&e| elapsed < e).count()
    }

    fn mint(&mut self, seed: u64, ttl: Duration, elapsed: Duration) -> String {
        self.minted += 1;
        let n = self.minted;
        let token = format!(
            "{:016x}{:016x}{:016x}",
            mix64(seed ^ TOKEN_SALT ^ mix64(n)),
            mix64(n.wrapping_add(TOKEN_SALT)),
            mix64(seed.wrapping_add(n))
        );
        self.tokens.retain(|_, e| elapsed < *e);
        if self.tokens.len() >= MAX_TOKENS
            && let Some(first) = self
                .tokens
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(t, _)| t.clone())
        {
            self.tokens.remove(&first);
        }
        self.tokens
            .insert(token.clone(), elapsed.saturating_add(ttl));
        token
    }

    /// The answer to an enabled route before faults: `elapsed` is simulated
    /// time since the start, `wall` the wall time the answer's
    /// `expires_at` is computed from.
    pub(crate) fn answer<B>(
        &mut self,
        route: Route,
        req: &Request<B>,
        seed: u64,
        elapsed: Duration,
        wall: SystemTime,
    ) -> Reply {
        match route {
            Route::Token => self.token(req, seed, elapsed),
            Route::SecurityKey => self.security_key(req, seed, elapsed, wall),
        }
    }

    fn token<B>(&mut self, req: &Request<B>, seed: u64, elapsed: Duration) -> Reply {
        match self.settings.session_tokens {
            SessionTokens::Unsupported404 => {
                return text(StatusCode::NOT_FOUND, "404 Not Found\n");
            }
            SessionTokens::Unsupported405 => return method_not_allowed("GET"),
            SessionTokens::Required => {}
        }
        if req.method() != Method::PUT {
            return method_not_allowed("PUT");
        }
        let ttl = req
            .headers()
            .get("x-metadata-token-ttl-seconds")
            .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
        let ttl = match ttl {
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "400 Bad Request: the X-Metadata-Token-Ttl-Seconds header is missing\n",
                );
            }
            Some(Some(n)) if (1..=MAX_TOKEN_TTL_SECS).contains(&n) => n,
            Some(_) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "400 Bad Request: X-Metadata-Token-Ttl-Seconds must be whole seconds from 1 to {MAX_TOKEN_TTL_SECS}\n"
                    ),
                );
            }
        };
        let token = self.mint(seed, Duration::from_secs(ttl), elapsed);
        let mut r = text(StatusCode::OK, token);
        r.headers
            .insert("x-metadata-token-ttl-seconds", HeaderValue::from(ttl));
        r
    }

    fn security_key<B>(
        &mut self,
        req: &Request<B>,
        seed: u64,
        elapsed: Duration,
        wall: SystemTime,
    ) -> Reply {
        if req.method() != Method::GET {
            return method_not_allowed("GET");
        }
        if self.settings.session_tokens == SessionTokens::Required {
            let sent = req
                .headers()
                .get("x-metadata-token")
                .map(|v| v.to_str().unwrap_or(""));
            let why = match sent.map(|t| self.tokens.get(t.trim())) {
                None => Some("the X-Metadata-Token header is missing"),
                Some(None) => Some("the X-Metadata-Token is not one this server issued"),
                Some(Some(e)) if elapsed >= *e => Some("the X-Metadata-Token has expired"),
                Some(Some(_)) => None,
            };
            if let Some(why) = why {
                return text(
                    StatusCode::UNAUTHORIZED,
                    format!("401 Unauthorized: {why}\n"),
                );
            }
        }
        if !self.settings.agency {
            return Reply::json(
                StatusCode::UNAUTHORIZED,
                &serde_json::json!({
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": NO_AGENCY_MESSAGE,
                    }
                }),
            );
        }
        let k = self.settings.generation_at(elapsed);
        let g = generation(&self.settings, seed, k);
        let left = g.expires_at.saturating_sub(elapsed);
        let expires = wall.checked_add(left).unwrap_or(wall);
        Reply::json(
            StatusCode::OK,
            &serde_json::json!({
                "credential": {
                    "access": g.access_key,
                    "secret": g.secret_key.expose(),
                    "securitytoken": g.security_token.expose(),
                    "expires_at": humantime::format_rfc3339_micros(expires).to_string(),
                }
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn generations_at_the_exact_boundaries() {
        let m = Metadata::on().with_rotation(s(2), s(6));
        assert_eq!(m.generation_at(Duration::ZERO), 0);
        assert_eq!(m.generation_at(s(2) - Duration::from_nanos(1)), 0);
        assert_eq!(m.generation_at(s(2)), 1);
        assert_eq!(m.generation_at(s(7)), 3);
        for (k, issued, expires) in [(0, 0, 6), (1, 2, 8), (5, 10, 16)] {
            assert_eq!(m.issued_at(k), s(issued));
            assert_eq!(m.expires_at(k), s(expires));
            // Live from the instant it is issued, dead at the instant it expires.
            assert!(m.is_live(k, s(issued)));
            if issued > 0 {
                assert!(!m.is_live(k, s(issued) - Duration::from_nanos(1)));
            }
            assert!(m.is_live(k, s(expires) - Duration::from_nanos(1)));
            assert!(!m.is_live(k, s(expires)));
        }
        // Far-off generations saturate instead of overflowing.
        assert_eq!(m.issued_at(u64::MAX), times(s(2), u64::MAX));
        assert!(!m.is_live(u64::MAX, s(100)));
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |m: Metadata| m.validate().unwrap_err();
        assert!(bad(Metadata::on().with_rotation(Duration::ZERO, s(1))).contains("rotation_ms"));
        assert!(bad(Metadata::on().with_rotation(s(3), s(2))).contains("lifetime_ms"));
        assert!(bad(Metadata::on().with_rotation(s(1), s(31 * 86_400))).contains("lifetime_ms"));
        let faults = Faults {
            latency: Some(s(31 * 86_400)),
            ..Faults::none()
        };
        assert!(bad(Metadata::on().with_faults(faults)).contains("metadata faults"));
        assert!(Metadata::on().with_rotation(s(2), s(2)).validate().is_ok());
    }

    #[test]
    fn json_shape_and_partial_input() {
        let v = serde_json::to_value(Metadata::on().with_rotation(s(2), s(6))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"enabled": true, "session_tokens": "required", "agency": true,
                "rotation_ms": 2000, "lifetime_ms": 6000})
        );
        let m: Metadata =
            serde_json::from_str(r#"{"enabled": true, "session_tokens": "unsupported_405"}"#)
                .unwrap();
        assert_eq!(m.session_tokens, SessionTokens::Unsupported405);
        assert!(m.agency);
        assert_eq!(m.rotation, s(3600));
        assert!(serde_json::from_str::<Metadata>(r#"{"rotation": 1}"#).is_err());
    }

    #[test]
    fn keys_are_fixed_by_seed_and_number_and_never_debug_printed() {
        let m = Metadata::on();
        let a = generation(&m, 7, 3);
        assert_eq!(a, generation(&m, 7, 3));
        assert_ne!(a.access_key, generation(&m, 8, 3).access_key);
        assert!(a.access_key.starts_with("SIMSTS000003"));
        assert_eq!(a.access_key.len(), 20);
        assert_eq!(a.secret_key.expose().len(), 40);
        assert!(a.security_token.expose().starts_with("simst-3-"));
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(a.secret_key.expose()) && !shown.contains(a.security_token.expose())
        );
        assert_eq!(generation_of(7, &a.access_key), Some(3));
        assert_eq!(generation_of(8, &a.access_key), None);
        for junk in ["", "SIMSTS", "SIMSTS00000", "SIMSTSabcdef12345678", "AK"] {
            assert_eq!(generation_of(7, junk), None, "{junk}");
        }
        let big = generation(&m, 7, 12_345_678);
        assert_eq!(generation_of(7, &big.access_key), Some(12_345_678));
    }

    #[test]
    fn session_tokens_never_show_in_debug() {
        let mut st = State::new(Metadata::on());
        let t = st.mint(1, s(60), Duration::ZERO);
        let shown = format!("{st:?}");
        assert!(
            !shown.contains(&t) && shown.contains("<1 redacted>"),
            "{shown}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// The newest generation is live, was issued at or before now, and
        /// the next is not issued yet; the live ones are exactly those
        /// issued less than a lifetime ago.
        #[test]
        fn rotation_invariants(
            rotation_ms in 1u64..10_000,
            extra_ms in 0u64..40_000,
            elapsed_ms in 0u64..1_000_000,
        ) {
            let m = Metadata::on().with_rotation(
                Duration::from_millis(rotation_ms),
                Duration::from_millis(rotation_ms + extra_ms),
            );
            prop_assert!(m.validate().is_ok());
            let e = Duration::from_millis(elapsed_ms);
            let k = m.generation_at(e);
            prop_assert!(m.issued_at(k) <= e && e < m.issued_at(k + 1));
            prop_assert!(m.is_live(k, e));
            prop_assert!(!m.is_live(k + 1, e));
            let live: Vec<u64> = (0..=k + 1).filter(|&j| m.is_live(j, e)).collect();
            let lifetime_ms = rotation_ms + extra_ms;
            let expected: Vec<u64> = (0..=k)
                .filter(|&j| j * rotation_ms + lifetime_ms > elapsed_ms)
                .collect();
            prop_assert_eq!(live.first().copied(), Some(m.oldest_live_at(e)));
            prop_assert_eq!(live, expected);
        }

        /// Distinct generations never share an access key, and each key
        /// names its own generation.
        #[test]
        fn keys_are_distinct_and_parse_back(seed in any::<u64>(), start in 0u64..1_000_000) {
            let m = Metadata::on();
            let mut seen = BTreeSet::new();
            for k in start..start + 16 {
                let g = generation(&m, seed, k);
                prop_assert_eq!(generation_of(seed, &g.access_key), Some(k));
                prop_assert!(seen.insert(g.access_key));
            }
        }
    }
}
