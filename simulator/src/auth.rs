//! Authentication: how the simulated gateway is set to authenticate
//! ([`Auth`]) and checking one request's credentials against it.
//!
//! Owns the token comparison (constant time), AK/SK verification over the
//! request as it arrived (with the core's canonicalisation), the
//! `X-Sdk-Date` skew check against the gateway's clock, the
//! `X-Security-Token` rule, and why a request was refused ([`Denied`]). A
//! leaf: must not import the rest of the crate, build replies (the heart
//! turns a [`Denied`] into the gateway's or IAM's 401), look up the
//! metadata service's credential generations (the heart does and passes
//! their keys in), or read a clock (the gateway's time is passed in).

use std::fmt;
use std::time::{Duration, SystemTime};

use clouddc_core::http::{self, Request};
use clouddc_core::{AuthorizationHeader, Secret, VerifyError, parse_sdk_date, verify_request};

/// A token to show users when any token is accepted ([`Auth::AnyToken`]).
pub const EXAMPLE_TOKEN: &str = "sim-token";

/// How the simulator authenticates status requests.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// Any non-empty `X-Auth-Token`, or any well-formed SDK-HMAC-SHA256
    /// `Authorization` with an `X-Sdk-Date` within the allowed skew (the
    /// signature is not checked: there is no key). A request with neither
    /// gets 401.
    #[default]
    AnyToken,
    /// Exactly this `X-Auth-Token`.
    Token(Secret),
    /// AK/SK signing, verified from the request as it arrived.
    AkSk {
        /// The access key id.
        access_key: String,
        /// The secret key.
        secret_key: Secret,
        /// When set, requests must carry this `X-Security-Token`, signed;
        /// when not set, a request carrying one is refused.
        security_token: Option<Secret>,
    },
}

impl Auth {
    /// Accept any token.
    pub fn any_token() -> Self {
        Self::AnyToken
    }

    /// Accept only `token` as `X-Auth-Token`.
    pub fn token(token: impl Into<String>) -> Self {
        Self::Token(Secret::new(token))
    }

    /// Accept requests signed with this access key and secret key.
    pub fn ak_sk(access_key: impl Into<String>, secret_key: impl Into<String>) -> Self {
        Self::AkSk {
            access_key: access_key.into(),
            secret_key: Secret::new(secret_key),
            security_token: None,
        }
    }

    /// Temporary credentials: AK/SK plus a required `X-Security-Token`.
    pub fn temporary(
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
        security_token: impl Into<String>,
    ) -> Self {
        Self::AkSk {
            access_key: access_key.into(),
            secret_key: Secret::new(secret_key),
            security_token: Some(Secret::new(security_token)),
        }
    }

    /// `any_token`, `token` or `ak_sk`.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::AnyToken => "any_token",
            Self::Token(_) => "token",
            Self::AkSk { .. } => "ak_sk",
        }
    }

    /// Checks a request's credentials against these settings; `wall` is
    /// the gateway's clock and `max_skew` the `X-Sdk-Date` allowance.
    pub(crate) fn check<B: AsRef<[u8]>>(
        &self,
        req: &Request<B>,
        wall: SystemTime,
        max_skew: Duration,
    ) -> Result<(), Denied> {
        let token = header_str(req, "x-auth-token");
        let signed = req.headers().contains_key(http::header::AUTHORIZATION);
        match self {
            Self::AnyToken => {
                if token.is_some_and(|t| !t.trim().is_empty()) {
                    return Ok(());
                }
                if !signed {
                    return Err(deny(
                        "send any X-Auth-Token (this simulator accepts every token) or sign the request",
                    ));
                }
                let auth = header_str(req, "authorization").unwrap_or("");
                AuthorizationHeader::parse(auth).map_err(|e| deny(format!("{e}")))?;
                let date = header_str(req, "x-sdk-date")
                    .and_then(parse_sdk_date)
                    .ok_or_else(|| deny(VerifyError::BadDate))?;
                check_skew(date, wall, max_skew)
            }
            Self::Token(expected) => match token {
                None if signed => Err(deny(
                    "this simulator expects X-Auth-Token, not AK/SK signing",
                )),
                None => Err(deny("no X-Auth-Token header")),
                Some(t) if same_secret(t, expected.expose()) => Ok(()),
                Some(_) => Err(deny("the X-Auth-Token is not valid")),
            },
            Self::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                if !signed {
                    return Err(deny(if token.is_some() {
                        "this simulator expects AK/SK signing, not X-Auth-Token"
                    } else {
                        "no Authorization header"
                    }));
                }
                let keys = Keys {
                    access_key,
                    secret_key: secret_key.expose(),
                    security_token: security_token.as_ref().map(|s| s.expose()),
                };
                keys.verify(req, wall, max_skew)
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AnyToken => f.write_str("AnyToken"),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::AkSk {
                access_key,
                security_token,
                ..
            } => f
                .debug_struct("AkSk")
                .field("access_key", access_key)
                .field("secret_key", &"<redacted>")
                .field(
                    "security_token",
                    &security_token.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
        }
    }
}

/// One set of AK/SK credentials a signed request must match: the
/// configured ones, or a metadata generation's.
#[derive(Clone, Copy)]
pub(crate) struct Keys<'a> {
    /// The access key id.
    pub(crate) access_key: &'a str,
    /// The secret key.
    pub(crate) secret_key: &'a str,
    /// The `X-Security-Token` required (and required to be signed); `None`:
    /// one sent is refused.
    pub(crate) security_token: Option<&'a str>,
}

impl Keys<'_> {
    /// Verifies the signature over the request as it arrived, the date
    /// against `wall` within `max_skew`, and the security token rule.
    pub(crate) fn verify<B: AsRef<[u8]>>(
        self,
        req: &Request<B>,
        wall: SystemTime,
        max_skew: Duration,
    ) -> Result<(), Denied> {
        let lookup = |ak: &str| (ak == self.access_key).then(|| self.secret_key.to_owned());
        verify_request(req, lookup, wall, max_skew).map_err(verify_denied)?;
        check_security_token(req, self.security_token)
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
    /// Anything but the two below, with a detail for the message.
    Other(String),
    /// `X-Sdk-Date` is too far from the gateway's clock.
    RequestExpired {
        /// By how much, in whole seconds.
        skew_s: u64,
    },
    /// Signed with a metadata generation that has expired.
    CredentialsExpired,
}

/// What a 401 says of an expired metadata generation (worded without
/// "request" or "signature", which clients read as clock skew).
pub(crate) const CREDENTIALS_EXPIRED: &str = "the temporary credentials (security token) have expired; get new ones from the metadata service";

/// The detail of a 401, as the `Err` of the auth checks.
pub(crate) fn deny(detail: impl fmt::Display) -> Denied {
    Denied::Other(detail.to_string())
}

/// A header's value, if present and visible ASCII.
pub(crate) fn header_str<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The access key a request says it is signed with (not verified).
pub(crate) fn access_key_of<B>(req: &Request<B>) -> Option<String> {
    header_str(req, "authorization")
        .and_then(|a| AuthorizationHeader::parse(a).ok())
        .map(|a| a.access_key)
}

/// Byte-wise comparison whose time does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn check_skew(date: SystemTime, wall: SystemTime, max_skew: Duration) -> Result<(), Denied> {
    let skew = match wall.duration_since(date) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > max_skew {
        return Err(Denied::RequestExpired {
            skew_s: skew.as_secs(),
        });
    }
    Ok(())
}

/// A failed signature check as a 401 reason.
fn verify_denied(e: VerifyError) -> Denied {
    match e {
        VerifyError::Skew { skew_s } => Denied::RequestExpired { skew_s },
        other => deny(other),
    }
}

/// The `X-Security-Token` rule: required and signed when `expected` is
/// set, refused when it is not.
fn check_security_token<B>(req: &Request<B>, expected: Option<&str>) -> Result<(), Denied> {
    let sent = header_str(req, "x-security-token");
    match (expected, sent) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(deny(
            "X-Security-Token sent, but these are permanent credentials",
        )),
        (Some(_), None) => Err(deny(
            "these are temporary credentials: X-Security-Token is required",
        )),
        (Some(expected), Some(got)) => {
            let signed_list = header_str(req, "authorization")
                .and_then(|a| AuthorizationHeader::parse(a).ok())
                .map(|a| a.signed_headers)
                .unwrap_or_default();
            if !signed_list.iter().any(|h| h == "x-security-token") {
                Err(deny("X-Security-Token must be signed"))
            } else if !same_secret(got, expected) {
                Err(deny("the X-Security-Token is not valid"))
            } else {
                Ok(())
            }
        }
    }
}
