//! The server metadata protocol: temporary credentials of the agency
//! attached to a Huawei Cloud server.
//!
//! Owns the two requests (`PUT …/api/token` for a session token, `GET
//! …/securitykey` for the credentials), reading their answers, and when
//! credentials are due for a refresh. Must not keep state or decide when to
//! ask (the session does) nor send anything.

use std::time::{Duration, SystemTime};

use http::{Method, Response, StatusCode};
use serde::Deserialize;

use crate::credentials::{Credentials, Secret};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind};
use crate::machine::Attempt;
use crate::wire::request::{header, side_request};
use crate::wire::response::snippet;

/// The metadata service's address on every Huawei Cloud server.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";
/// Timeout of each metadata request, as the vendor's SDKs use.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(3);
/// The lifetime asked for a session token.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(21_600);
/// How long to carry on without session tokens on a host without them.
pub(crate) const NO_TOKENS_FOR: Duration = Duration::from_secs(24 * 3600);
/// The words of a 401 that means no agency is attached to the server.
pub(crate) const NO_AGENCY: &str = "Please configure Cloud Service Agency first";
/// The largest metadata answer read.
const BODY_LIMIT: usize = 16 * 1024;
/// Refresh when less than this is left, or a third of the lifetime if less.
const REFRESH_AHEAD: Duration = Duration::from_secs(40 * 60);

const TOKEN_PATH: &str = "/meta-data/latest/api/token";
const SECURITY_KEY_PATH: &str = "/openstack/latest/securitykey";

/// When credentials issued at `issued` and expiring at `expires` are due
/// for a refresh: when less than min(40 min, a third of their lifetime) is
/// left.
///
/// ```
/// use clouddc_core::metadata_refresh_at;
/// use std::time::{Duration, UNIX_EPOCH};
/// let issued = UNIX_EPOCH;
/// // A day's credentials: refreshed 40 minutes before they expire.
/// let day = Duration::from_secs(86_400);
/// assert_eq!(metadata_refresh_at(issued, issued + day), issued + day - Duration::from_secs(2400));
/// // Six seconds' credentials: refreshed after four.
/// assert_eq!(metadata_refresh_at(issued, issued + Duration::from_secs(6)), issued + Duration::from_secs(4));
/// ```
pub fn metadata_refresh_at(issued: SystemTime, expires: SystemTime) -> SystemTime {
    let lifetime = expires.duration_since(issued).unwrap_or_default();
    let ahead = REFRESH_AHEAD.min(lifetime / 3);
    expires.checked_sub(ahead).unwrap_or(expires)
}

fn attempt(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    user_agent: &str,
) -> Result<Attempt, Error> {
    side_request(endpoint, method, path, user_agent, TIMEOUT, BODY_LIMIT)
}

/// `PUT /meta-data/latest/api/token`, asking for a six-hour session token.
pub(crate) fn token_request(endpoint: &Endpoint, user_agent: &str) -> Result<Attempt, Error> {
    let mut a = attempt(endpoint, Method::PUT, TOKEN_PATH, user_agent)?;
    a.request.headers_mut().insert(
        "x-metadata-token-ttl-seconds",
        http::HeaderValue::from(TOKEN_TTL.as_secs()),
    );
    Ok(a)
}

/// `GET /openstack/latest/securitykey`, with the session token if any.
pub(crate) fn security_key_request(
    endpoint: &Endpoint,
    token: Option<&Secret>,
    user_agent: &str,
) -> Result<Attempt, Error> {
    let mut a = attempt(endpoint, Method::GET, SECURITY_KEY_PATH, user_agent)?;
    if let Some(t) = token {
        let v = header(t.expose(), "metadata session token", true)?;
        a.request.headers_mut().insert("x-metadata-token", v);
    }
    Ok(a)
}

/// What a token request's answer means.
#[derive(Debug)]
pub(crate) enum TokenAnswer {
    /// A session token.
    Token(Secret),
    /// The host has no session tokens (404/405): carry on without.
    Unsupported,
}

/// Reads the answer to [`token_request`].
pub(crate) fn read_token(endpoint: &Endpoint, r: &Response<Vec<u8>>) -> Result<TokenAnswer, Error> {
    match r.status() {
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Ok(TokenAnswer::Unsupported),
        s if s.is_success() => {
            let body = std::str::from_utf8(r.body()).unwrap_or("").trim();
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_graphic()) || body.len() > 4096 {
                return Err(failure(
                    endpoint,
                    "answered the token request with an unusable token",
                    None,
                ));
            }
            Ok(TokenAnswer::Token(Secret::new(body)))
        }
        s => Err(failure(
            endpoint,
            &format!("answered the token request with HTTP {}", s.as_u16()),
            Some(r),
        )),
    }
}

/// Credentials from the metadata service and when they expire.
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) credentials: Credentials,
    pub(crate) expires: SystemTime,
}

/// What a security-key request's answer means.
#[derive(Debug)]
pub(crate) enum KeyAnswer {
    /// Credentials.
    Issued(Issued),
    /// 401: the session token is stale; get a new one and ask again.
    StaleToken,
}

#[derive(Deserialize)]
struct Body {
    credential: Credential,
}

#[derive(Deserialize)]
struct Credential {
    access: String,
    secret: String,
    securitytoken: Option<String>,
    expires_at: String,
}

/// Reads the answer to [`security_key_request`], received at local time
/// `now` (see [`read_credential`]).
pub(crate) fn read_security_key(
    endpoint: &Endpoint,
    r: &Response<Vec<u8>>,
    now: SystemTime,
) -> Result<KeyAnswer, Error> {
    let status = r.status();
    if status == StatusCode::UNAUTHORIZED {
        if String::from_utf8_lossy(r.body()).contains(NO_AGENCY) {
            return Err(Error::resolve(
                ErrorKind::Unauthorized,
                format!(
                    "server metadata at {endpoint} says no agency is attached to this server ({NO_AGENCY}): attach an agency to the server in the console, or set credentials another way"
                ),
                None,
            ));
        }
        return Ok(KeyAnswer::StaleToken);
    }
    if !status.is_success() {
        return Err(failure(
            endpoint,
            &format!(
                "answered the credentials request with HTTP {}",
                status.as_u16()
            ),
            Some(r),
        ));
    }
    let issued = read_credential(r, now).map_err(|why| {
        failure(
            endpoint,
            &format!("sent credentials that cannot be used ({why})"),
            None,
        )
    })?;
    Ok(KeyAnswer::Issued(issued))
}

/// Reads the `{"credential":{access, secret, securitytoken, expires_at}}`
/// body that both the metadata service and IAM's security-token exchange
/// send, received at local time `now`; else why it cannot be used. The
/// expiry is kept in local time: `expires_at` less the answer's own `Date`
/// is how long the credentials live, whatever either clock says (without a
/// `Date`, the two clocks are taken to agree).
pub(crate) fn read_credential(
    r: &Response<Vec<u8>>,
    now: SystemTime,
) -> Result<Issued, &'static str> {
    let body: Body = serde_json::from_slice(r.body()).map_err(|_| "not the expected JSON")?;
    let c = body.credential;
    let expires_at = humantime::parse_rfc3339_weak(c.expires_at.trim())
        .map_err(|_| "expires_at is not an RFC 3339 time")?;
    let served_at = crate::wire::response::response_date(r.headers());
    // A `Date` has whole seconds, so the answer may be up to a second
    // later than it says: that second is taken off the lifetime.
    let expires = match served_at {
        Some(date) => match expires_at.duration_since(date) {
            Ok(left) => now
                .checked_add(left.saturating_sub(Duration::from_secs(1)))
                .unwrap_or(expires_at),
            Err(_) => now,
        },
        None => expires_at,
    };
    let credentials = match c.securitytoken.filter(|s| !s.is_empty()) {
        Some(st) => Credentials::temporary(c.access, c.secret, st),
        None => Credentials::ak_sk(c.access, c.secret),
    }
    .map_err(|_| "a key or token is empty or has characters a header cannot carry")?;
    Ok(Issued {
        credentials,
        expires,
    })
}

/// A metadata request that failed in a way worth retrying.
fn failure(endpoint: &Endpoint, what: &str, r: Option<&Response<Vec<u8>>>) -> Error {
    let mut message = format!("server metadata at {endpoint} {what}");
    if let Some(r) = r {
        let s = snippet(r.body());
        if !s.is_empty() {
            message.push_str(&format!(": {s}"));
        }
    }
    Error::resolve(ErrorKind::Server, message, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(r: &Response<Vec<u8>>) -> Result<KeyAnswer, Error> {
        read_security_key(&ep(), r, SystemTime::UNIX_EPOCH)
    }

    fn ep() -> Endpoint {
        Endpoint::parse("http://127.0.0.1:9").unwrap()
    }

    fn answer(status: u16, body: &str) -> Response<Vec<u8>> {
        Response::builder()
            .status(status)
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn requests_have_the_vendor_paths_and_headers() {
        let t = token_request(&ep(), "ua/1").unwrap();
        assert_eq!(t.request.method(), Method::PUT);
        assert_eq!(
            t.request.uri().to_string(),
            "http://127.0.0.1:9/meta-data/latest/api/token"
        );
        assert_eq!(t.request.headers()["x-metadata-token-ttl-seconds"], "21600");
        assert_eq!(t.timeout, TIMEOUT);
        let k = security_key_request(&ep(), Some(&Secret::new("tok")), "ua/1").unwrap();
        assert_eq!(k.request.uri().path(), "/openstack/latest/securitykey");
        assert_eq!(k.request.headers()["x-metadata-token"], "tok");
        assert!(format!("{:?}", k.request).contains("Sensitive"));
        let k = security_key_request(&ep(), None, "ua/1").unwrap();
        assert!(!k.request.headers().contains_key("x-metadata-token"));
    }

    #[test]
    fn answers() {
        assert!(
            matches!(read_token(&ep(), &answer(200, "abc\n")).unwrap(), TokenAnswer::Token(t) if t.expose() == "abc")
        );
        assert!(matches!(
            read_token(&ep(), &answer(404, "")).unwrap(),
            TokenAnswer::Unsupported
        ));
        assert!(matches!(
            read_token(&ep(), &answer(405, "")).unwrap(),
            TokenAnswer::Unsupported
        ));
        assert!(read_token(&ep(), &answer(500, "")).is_err());
        assert!(read_token(&ep(), &answer(200, "a b")).is_err());
        let ok = r#"{"credential":{"access":"AK1","secret":"SK1","securitytoken":"ST1","expires_at":"2026-12-03T10:00:00.000000Z"}}"#;
        let KeyAnswer::Issued(i) = key(&answer(200, ok)).unwrap() else {
            panic!()
        };
        assert_eq!(
            i.expires,
            humantime::parse_rfc3339("2026-12-03T10:00:00Z").unwrap()
        );
        assert!(matches!(
            i.credentials,
            Credentials::AkSk {
                security_token: Some(_),
                ..
            }
        ));
        assert!(matches!(
            key(&answer(401, "token expired")).unwrap(),
            KeyAnswer::StaleToken
        ));
        let e = key(&answer(
            401,
            r#"{"message":"Please configure Cloud Service Agency first"}"#,
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.to_string().contains("no agency"), "{e}");
        for bad in [
            "",
            "{}",
            r#"{"credential":{"access":"A","secret":"S","expires_at":"soon"}}"#,
            r#"{"credential":{"access":"A\n","secret":"S","expires_at":"2026-12-03T10:00:00Z"}}"#,
        ] {
            let e = key(&answer(200, bad)).unwrap_err();
            assert!(e.to_string().contains("127.0.0.1:9"), "{e}");
        }
    }

    #[test]
    fn expiry_is_measured_on_the_answers_own_clock() {
        let ok = r#"{"credential":{"access":"AK1","secret":"SK1","securitytoken":"ST1","expires_at":"2026-12-03T10:00:00Z"}}"#;
        let expires_at = humantime::parse_rfc3339("2026-12-03T10:00:00Z").unwrap();
        // The service's clock says 09:00: an hour left, whatever the local
        // clock says.
        let served = expires_at - Duration::from_secs(3600);
        let local = expires_at + Duration::from_secs(7200);
        let r = Response::builder()
            .status(200)
            .header(http::header::DATE, httpdate::fmt_http_date(served))
            .body(ok.as_bytes().to_vec())
            .unwrap();
        let KeyAnswer::Issued(i) = read_security_key(&ep(), &r, local).unwrap() else {
            panic!()
        };
        assert_eq!(i.expires, local + Duration::from_secs(3599));
    }

    #[test]
    fn secrets_never_in_errors() {
        let mark = "MARKER-SECRET-4411";
        let body = format!(
            r#"{{"credential":{{"access":"AK","secret":"{mark}","securitytoken":"{mark}","expires_at":"never"}}}}"#
        );
        let e = key(&answer(200, &body)).unwrap_err();
        assert!(!format!("{e} {e:?}").contains(mark));
        let ok = format!(
            r#"{{"credential":{{"access":"AK","secret":"{mark}","securitytoken":"{mark}","expires_at":"2026-12-03T10:00:00Z"}}}}"#
        );
        let a = key(&answer(200, &ok)).unwrap();
        assert!(!format!("{a:?}").contains(mark));
    }

    proptest! {
        /// Refresh comes before expiry, no earlier than two thirds of the
        /// lifetime, and at most 40 minutes ahead.
        #[test]
        fn refresh_timing(issued in 0u64..4_000_000_000, lifetime in 0u64..10_000_000) {
            let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(issued);
            let expires = issued + Duration::from_secs(lifetime);
            let at = metadata_refresh_at(issued, expires);
            prop_assert!(at <= expires);
            prop_assert!(at >= issued);
            let ahead = expires.duration_since(at).unwrap();
            prop_assert!(ahead <= REFRESH_AHEAD);
            prop_assert!(ahead <= Duration::from_secs(lifetime) / 3 + Duration::from_nanos(1));
            prop_assert!(ahead == REFRESH_AHEAD || ahead == Duration::from_secs(lifetime) / 3);
        }

        /// Any answer is read without panicking.
        #[test]
        fn any_answer(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = Response::builder().status(status).body(body).unwrap();
            let _ = read_token(&ep(), &r);
            let _ = key(&r);
        }
    }
}
