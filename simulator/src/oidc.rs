//! IAM's OIDC federation, as CCE workloads use it: an id token exchanged
//! for a subject token (`POST /v3.0/OS-AUTH/id-token/tokens`), then the
//! subject token for temporary credentials (`POST
//! /v3.0/OS-CREDENTIAL/securitytokens`), which the gateway accepts until
//! they expire.
//!
//! Owns the settings ([`Oidc`]: the identity provider's id, the id tokens
//! accepted, the credentials' lifetime, a refusal), the state (the id
//! tokens received, in order, the subject tokens and credentials issued)
//! and both answers, with IAM-style `{"error_msg", "error_code"}` refusals.
//! Must not read a clock (simulated time and the gateway's wall time are
//! passed in), stamp `X-IAM-Trace-Id` or apply faults (the
//! [`Simulator`](crate::Simulator) does, as for the project lookup).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use clouddc_core::http::{HeaderValue, Method, Request, StatusCode};
use clouddc_core::{Secret, mix64};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::reply::Reply;

/// The path of exchange 1 (the id token for a subject token).
pub const ID_TOKEN_PATH: &str = "/v3.0/OS-AUTH/id-token/tokens";
/// The path of exchange 2 (the subject token for credentials).
pub const SECURITY_TOKEN_PATH: &str = "/v3.0/OS-CREDENTIAL/securitytokens";
/// The identity provider's id a simulator expects by default.
pub const DEFAULT_IDP_ID: &str = "sim-idp";
/// The prefix of every access key issued by OIDC federation.
const AK_PREFIX: &str = "SIMOIDC";
/// At most this many id tokens are remembered (the oldest are dropped).
const MAX_RECORDED: usize = 10_000;
const SALT: u64 = 0x0D1C_FED0_0DDC_0003;

fn default_idp() -> String {
    DEFAULT_IDP_ID.to_owned()
}

/// A refusal of exchange 1, as IAM words one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcRefusal {
    /// The HTTP status (400–599).
    pub status: u16,
    /// IAM's `error_code`.
    pub error_code: String,
    /// IAM's `error_msg`.
    pub error_msg: String,
}

/// OIDC federation's settings: off by default.
///
/// JSON (admin API), every field optional: `{"enabled": true, "idp_id":
/// "sim-idp", "accepted_tokens": ["..."], "lifetime_ms": 21600000,
/// "refusal": {"status": 401, "error_code": "...", "error_msg": "..."}}`.
///
/// ```
/// use clouddc_simulator::Oidc;
/// use std::time::Duration;
/// let o = Oidc::on("idp-1").with_accepted_tokens(["token-1"]).with_lifetime(Duration::from_secs(6));
/// assert!(o.validate().is_ok());
/// assert!(Oidc::on("").validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Oidc {
    /// Whether both routes are served (when not, they answer 404).
    pub enabled: bool,
    /// The identity provider's id `X-Idp-Id` must name (else 404, as IAM
    /// answers for an unknown provider).
    #[serde(default = "default_idp")]
    pub idp_id: String,
    /// The id tokens accepted (`None`: any non-empty one); a token can be
    /// added while the simulator runs, as a rotated one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_tokens: Option<Vec<String>>,
    /// How long issued credentials live (`None`: the `duration_seconds`
    /// asked for).
    #[serde(
        rename = "lifetime_ms",
        with = "crate::ms::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lifetime: Option<Duration>,
    /// When set, exchange 1 is refused with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<OidcRefusal>,
}

impl Default for Oidc {
    fn default() -> Self {
        Self {
            enabled: false,
            idp_id: default_idp(),
            accepted_tokens: None,
            lifetime: None,
            refusal: None,
        }
    }
}

impl Oidc {
    /// Off.
    pub fn off() -> Self {
        Self::default()
    }

    /// On, for identity provider `idp_id`, any id token accepted.
    pub fn on(idp_id: impl Into<String>) -> Self {
        Self {
            enabled: true,
            idp_id: idp_id.into(),
            ..Self::default()
        }
    }

    /// Accepting only these id tokens.
    pub fn with_accepted_tokens<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        tokens: I,
    ) -> Self {
        self.accepted_tokens = Some(tokens.into_iter().map(Into::into).collect());
        self
    }

    /// Issuing credentials that live `lifetime`.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Refusing exchange 1 with `status`, IAM's `error_code` and
    /// `error_msg`.
    pub fn with_refusal(
        mut self,
        status: u16,
        error_code: impl Into<String>,
        error_msg: impl Into<String>,
    ) -> Self {
        self.refusal = Some(OidcRefusal {
            status,
            error_code: error_code.into(),
            error_msg: error_msg.into(),
        });
        self
    }

    /// Checks the settings; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.idp_id.is_empty() || !self.idp_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("oidc idp_id must be non-empty printable ASCII".to_owned());
        }
        if self
            .lifetime
            .is_some_and(|l| l < Duration::from_secs(2) || l > Duration::from_secs(86_400 * 7))
        {
            return Err("oidc lifetime_ms must be between 2 s and 7 days".to_owned());
        }
        if let Some(r) = &self.refusal
            && !(400..=599).contains(&r.status)
        {
            return Err("oidc refusal status must be 400-599".to_owned());
        }
        Ok(())
    }
}

/// Credentials issued by exchange 2.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) secret_key: Secret,
    pub(crate) security_token: Secret,
    /// Simulated time since the start at which they expire.
    pub(crate) expires: Duration,
}

/// OIDC federation's live state.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) settings: Oidc,
    /// The id tokens received by exchange 1, in order.
    received: Vec<String>,
    /// Subject tokens issued, unused.
    subjects: BTreeMap<String, ()>,
    /// Credentials issued, by access key.
    issued: BTreeMap<String, Issued>,
    next: u64,
}

/// Which of the two routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    IdToken,
    SecurityToken,
}

impl Route {
    /// The route of `path`, if it is one of the two.
    pub(crate) fn of(path: &str) -> Option<Self> {
        match path {
            ID_TOKEN_PATH => Some(Self::IdToken),
            SECURITY_TOKEN_PATH => Some(Self::SecurityToken),
            _ => None,
        }
    }
}

/// An IAM-style refusal: `{"error_msg", "error_code"}`.
fn refusal(status: StatusCode, code: &str, msg: &str) -> Reply {
    Reply::json(status, &json!({"error_msg": msg, "error_code": code}))
}

fn body_json<B: AsRef<[u8]>>(req: &Request<B>) -> Option<Value> {
    serde_json::from_slice(req.body().as_ref()).ok()
}

impl State {
    pub(crate) fn new(settings: Oidc) -> Self {
        Self {
            settings,
            received: Vec::new(),
            subjects: BTreeMap::new(),
            issued: BTreeMap::new(),
            next: 0,
        }
    }

    /// Back to `settings`, nothing received or issued.
    pub(crate) fn reset(&mut self, settings: Oidc) {
        *self = Self::new(settings);
    }

    /// The id tokens received so far, in order.
    pub(crate) fn received(&self) -> &[String] {
        &self.received
    }

    /// The credentials issued with `access_key`, if any.
    pub(crate) fn issued(&self, access_key: &str) -> Option<&Issued> {
        access_key
            .starts_with(AK_PREFIX)
            .then(|| self.issued.get(access_key))
            .flatten()
    }

    fn mint(&mut self, seed: u64, what: &str) -> String {
        self.next += 1;
        let a = mix64(seed ^ SALT ^ self.next);
        let b = mix64(a ^ self.next.rotate_left(17));
        format!("{what}{:016X}{:016x}", self.next, a ^ b)
    }

    /// The answer to `route`, at simulated `elapsed` and the gateway's
    /// `wall` time; 404 while off.
    pub(crate) fn answer<B: AsRef<[u8]>>(
        &mut self,
        route: Route,
        req: &Request<B>,
        seed: u64,
        elapsed: Duration,
        wall: SystemTime,
    ) -> Reply {
        if !self.settings.enabled {
            return refusal(
                StatusCode::NOT_FOUND,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
            );
        }
        if req.method() != Method::POST {
            return refusal(StatusCode::METHOD_NOT_ALLOWED, "IAM.0007", "use POST");
        }
        match route {
            Route::IdToken => self.id_token(req, seed),
            Route::SecurityToken => self.security_token(req, seed, elapsed, wall),
        }
    }

    fn id_token<B: AsRef<[u8]>>(&mut self, req: &Request<B>, seed: u64) -> Reply {
        let token =
            body_json(req).and_then(|v| v["auth"]["id_token"]["id"].as_str().map(str::to_owned));
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return refusal(
                StatusCode::BAD_REQUEST,
                "IAM.0006",
                "The request body is invalid: auth.id_token.id is required.",
            );
        };
        if self.received.len() >= MAX_RECORDED {
            self.received.remove(0);
        }
        self.received.push(token.clone());
        let idp = crate::auth::header_str(req, "x-idp-id");
        if idp != Some(self.settings.idp_id.as_str()) {
            return refusal(
                StatusCode::NOT_FOUND,
                "IAM.0004",
                "The identity provider does not exist.",
            );
        }
        if let Some(r) = &self.settings.refusal {
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::UNAUTHORIZED);
            return refusal(status, &r.error_code, &r.error_msg);
        }
        if self
            .settings
            .accepted_tokens
            .as_ref()
            .is_some_and(|a| !a.contains(&token))
        {
            return refusal(
                StatusCode::UNAUTHORIZED,
                "IAM.0101",
                "The id token is invalid or has expired.",
            );
        }
        let subject = self.mint(seed, "SIMSUBJ");
        self.subjects.insert(subject.clone(), ());
        let mut r = Reply::json(
            StatusCode::CREATED,
            &json!({"token": {"methods": ["token"], "expires_at": "2099-01-01T00:00:00.000000Z", "user": {"name": "sim-federated"}}}),
        );
        if let Ok(v) = HeaderValue::from_str(&subject) {
            r.headers.insert("x-subject-token", v);
        }
        r
    }

    fn security_token<B: AsRef<[u8]>>(
        &mut self,
        req: &Request<B>,
        seed: u64,
        elapsed: Duration,
        wall: SystemTime,
    ) -> Reply {
        let v = body_json(req).unwrap_or(Value::Null);
        let identity = &v["auth"]["identity"];
        let subject = identity["token"]["id"].as_str().unwrap_or("");
        if identity["methods"] != json!(["token"]) || subject.is_empty() {
            return refusal(
                StatusCode::BAD_REQUEST,
                "IAM.0006",
                "The request body is invalid: auth.identity.methods must be [\"token\"] with token.id.",
            );
        }
        if self.subjects.remove(subject).is_none() {
            return refusal(
                StatusCode::UNAUTHORIZED,
                "IAM.0102",
                "The token is invalid or has expired.",
            );
        }
        let asked = identity["token"]["duration_seconds"]
            .as_u64()
            .unwrap_or(900)
            .clamp(900, 86_400);
        let lifetime = self.settings.lifetime.unwrap_or(Duration::from_secs(asked));
        let access_key = self.mint(seed, AK_PREFIX);
        let secret_key = self.mint(seed, "simsk");
        let security_token = self.mint(seed, "simst");
        let expires_at = humantime::format_rfc3339_micros(wall + lifetime).to_string();
        self.issued.insert(
            access_key.clone(),
            Issued {
                secret_key: Secret::new(secret_key.clone()),
                security_token: Secret::new(security_token.clone()),
                expires: elapsed + lifetime,
            },
        );
        Reply::json(
            StatusCode::CREATED,
            &json!({"credential": {
                "access": access_key,
                "secret": secret_key,
                "securitytoken": security_token,
                "expires_at": expires_at,
            }}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(path: &str, idp: Option<&str>, body: Value) -> Request<Vec<u8>> {
        let mut b = Request::post(path);
        if let Some(i) = idp {
            b = b.header("x-idp-id", i);
        }
        b.body(body.to_string().into_bytes()).unwrap()
    }

    fn exchange1(s: &mut State, token: &str) -> Reply {
        let req = post(
            ID_TOKEN_PATH,
            Some("idp-1"),
            json!({"auth": {"id_token": {"id": token}}}),
        );
        s.answer(
            Route::IdToken,
            &req,
            7,
            Duration::ZERO,
            SystemTime::UNIX_EPOCH,
        )
    }

    fn exchange2(s: &mut State, subject: &str, at: Duration) -> Reply {
        let req = post(
            SECURITY_TOKEN_PATH,
            None,
            json!({"auth": {"identity": {"methods": ["token"], "token": {"id": subject, "duration_seconds": 21600}}}}),
        );
        s.answer(
            Route::SecurityToken,
            &req,
            7,
            at,
            SystemTime::UNIX_EPOCH + at,
        )
    }

    #[test]
    fn both_exchanges_issue_credentials_the_gateway_can_look_up() {
        let mut s = State::new(Oidc::on("idp-1").with_lifetime(Duration::from_secs(6)));
        let r = exchange1(&mut s, "tok-1");
        assert_eq!(r.status, StatusCode::CREATED);
        let subject = r.headers["x-subject-token"].to_str().unwrap().to_owned();
        let r = exchange2(&mut s, &subject, Duration::from_secs(10));
        assert_eq!(r.status, StatusCode::CREATED);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        let ak = v["credential"]["access"].as_str().unwrap();
        let issued = s.issued(ak).unwrap();
        assert_eq!(issued.expires, Duration::from_secs(16));
        assert_eq!(
            issued.security_token.expose(),
            v["credential"]["securitytoken"]
        );
        // A subject token is used once.
        assert_eq!(
            exchange2(&mut s, &subject, Duration::ZERO).status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(s.received(), ["tok-1"]);
    }

    #[test]
    fn refusals_are_iam_style() {
        let mut s = State::new(Oidc::on("idp-1").with_accepted_tokens(["good"]));
        let r = exchange1(&mut s, "bad");
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["error_msg"].as_str().unwrap().contains("id token"));
        assert_eq!(exchange1(&mut s, "good").status, StatusCode::CREATED);
        let mut s = State::new(Oidc::on("other"));
        assert_eq!(exchange1(&mut s, "t").status, StatusCode::NOT_FOUND);
        let mut s =
            State::new(Oidc::on("idp-1").with_refusal(403, "IAM.0103", "No mapping rule matched."));
        assert_eq!(exchange1(&mut s, "t").status, StatusCode::FORBIDDEN);
        let mut s = State::new(Oidc::off());
        assert_eq!(exchange1(&mut s, "t").status, StatusCode::NOT_FOUND);
        assert!(s.received().is_empty());
    }
}
