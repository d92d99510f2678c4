//! Response parsing: status, headers and body bytes in, a typed
//! [`InstanceStatus`] or a typed [`Error`] out.
//!
//! Owns the classification of every status, every known error-body shape,
//! `X-Request-Id`, `Retry-After` (seconds or HTTP date) and the body cap.
//! Never panics, whatever the input. Must not retry or wait (see `retry`).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiError, DecodeError, DecodeReason, Error};
use crate::model::{ErrorStatus, InstanceState, InstanceStatus, OperationState};
use crate::quota::parse_throttle;

/// The default body cap: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// How many characters of a body an error keeps.
pub const SNIPPET_CHARS: usize = 160;
/// The response header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";
/// How many characters of a vendor error code an error keeps.
pub const CODE_CHARS: usize = 64;
/// How many characters of a vendor error message an error keeps.
pub const MESSAGE_CHARS: usize = 512;

#[derive(Deserialize)]
struct RawStatus {
    state: Option<String>,
    #[serde(default)]
    operation_state: Option<OperationState>,
    #[serde(default)]
    error: Option<ErrorStatus>,
}

/// A short, lossy, whitespace-collapsed excerpt of a body.
pub fn snippet(body: &[u8]) -> String {
    let head = &body[..body.len().min(SNIPPET_CHARS * 4)];
    one_line(&String::from_utf8_lossy(head), SNIPPET_CHARS)
}

/// `text` made safe to print on one line: every run of whitespace, control
/// characters (C0, DEL, C1, so no terminal escapes) and bidirectional
/// overrides becomes one space, and at most `max_chars` characters are kept
/// (then `…`).
fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut last_space = true;
    for c in text.chars() {
        if count >= max_chars {
            out.push('…');
            break;
        }
        let blank = c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        let c = if blank { ' ' } else { c };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
        count += 1;
    }
    out.trim_end().to_owned()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The `X-Request-Id` of a response, at most 256 characters.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    header_str(headers, REQUEST_ID).map(|s| s.chars().take(256).collect())
}

/// Parses a `Retry-After` value: whole seconds, or an HTTP date taken
/// relative to `reference` (the response's `Date` header when it has one,
/// otherwise the caller's wall clock). Negative or garbage values are `None`;
/// a date in the past is zero.
pub fn parse_retry_after(value: &str, reference: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurd values; the retry policy caps them anyway.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(reference).unwrap_or(Duration::ZERO))
}

/// The time a response's `Date` header says it was sent, when it has a
/// valid one.
pub(crate) fn response_date(headers: &HeaderMap) -> Option<SystemTime> {
    header_str(headers, "date").and_then(|d| httpdate::parse_http_date(d).ok())
}

/// The quota a 429 response's message quotes, if any (for logs).
#[cfg(feature = "tracing")]
pub(crate) fn quoted_throttle(
    response: &http::Response<Vec<u8>>,
) -> Option<crate::quota::Throttle> {
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    parse_error_body(response.body())?
        .msg
        .as_deref()
        .and_then(parse_throttle)
}

fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = header_str(headers, "retry-after")?;
    let reference = response_date(headers).unwrap_or(now);
    parse_retry_after(value, reference)
}

fn string_field(obj: &serde_json::Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match obj.get(*k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// `(code, message)` from one object in any of the vendor's shapes, each on
/// one line and capped: they end up in the error's one-line `Display`, so a
/// hostile server must not be able to put newlines, terminal escapes or
/// 64 KiB of text into a caller's logs.
fn error_fields(obj: &serde_json::Map<String, Value>) -> (Option<String>, Option<String>) {
    (
        string_field(obj, &["error_code", "errorCode", "code"]).map(|s| one_line(&s, CODE_CHARS)),
        string_field(obj, &["error_msg", "errorMsg", "message"])
            .map(|s| one_line(&s, MESSAGE_CHARS)),
    )
}

struct ErrorBody {
    code: Option<String>,
    msg: Option<String>,
    encoded_authorization_message: Option<String>,
}

/// Reads the vendor's error-body shapes: `{error_code,error_msg}`,
/// `{errorCode,errorMsg}`, `{code,message}`, and any of them one level down.
fn parse_error_body(body: &[u8]) -> Option<ErrorBody> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let encoded = string_field(&obj, &["encoded_authorization_message"]);
    let (mut code, mut msg) = error_fields(&obj);
    if code.is_none() && msg.is_none() {
        // One level down; prefer "error", then any other object value.
        let nested = obj
            .get("error")
            .into_iter()
            .chain(obj.values())
            .filter_map(Value::as_object);
        for inner in nested {
            (code, msg) = error_fields(inner);
            if code.is_some() || msg.is_some() {
                break;
            }
        }
    }
    (code.is_some() || msg.is_some() || encoded.is_some()).then_some(ErrorBody {
        code,
        msg,
        encoded_authorization_message: encoded,
    })
}

/// The code and the message of an error body in any of the vendor's shapes
/// (see [`parse_error_body`]), each on one line and capped.
pub(crate) fn error_code_and_message(body: &[u8]) -> (Option<String>, Option<String>) {
    parse_error_body(body).map_or((None, None), |b| (b.code, b.msg))
}

fn decode_error(
    status: StatusCode,
    request_id: Option<String>,
    reason: DecodeReason,
    body: &[u8],
    source: Option<serde_json::Error>,
) -> Error {
    Error::Decode(Box::new(DecodeError {
        status: Some(status),
        reason,
        request_id,
        snippet: snippet(body),
        source,
    }))
}

/// Parses one response of the status call.
///
/// `body` may be longer than `body_limit` only by what the transport read
/// (it should read at most `body_limit + 1` bytes); anything longer than the
/// cap is a decode error. `now` is the wall clock, used only to turn a
/// `Retry-After` date into a delay when the response has no `Date`.
///
/// ```
/// use clouddc_core::{parse_status_response, http::Response, ErrorKind, InstanceState};
/// use std::time::SystemTime;
/// let ok = Response::new(br#"{"state":"running"}"#);
/// let ok = parse_status_response(&ok, 65536, SystemTime::UNIX_EPOCH).unwrap();
/// assert_eq!(ok.state, InstanceState::Running);
/// let denied = Response::builder().status(401)
///     .body(r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}"#)
///     .unwrap();
/// let err = parse_status_response(&denied, 65536, SystemTime::UNIX_EPOCH).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Unauthorized);
/// assert_eq!(err.error_code(), Some("APIGW.0301"));
/// ```
pub fn parse_status_response<B: AsRef<[u8]>>(
    response: &http::Response<B>,
    body_limit: usize,
    now: SystemTime,
) -> Result<InstanceStatus, Error> {
    parse_parts(
        response.status(),
        response.headers(),
        response.body().as_ref(),
        body_limit,
        now,
    )
}

fn parse_parts(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    body_limit: usize,
    now: SystemTime,
) -> Result<InstanceStatus, Error> {
    let rid = request_id(headers);
    if body.len() > body_limit {
        return Err(decode_error(
            status,
            rid,
            DecodeReason::TooLarge { limit: body_limit },
            body,
            None,
        ));
    }
    if !status.is_success() {
        return Err(api_error(status, headers, body, rid, now));
    }
    if std::str::from_utf8(body).is_err() {
        return Err(decode_error(
            status,
            rid,
            DecodeReason::InvalidUtf8,
            body,
            None,
        ));
    }
    let raw: RawStatus = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        Err(e) => {
            return Err(decode_error(
                status,
                rid,
                DecodeReason::InvalidJson,
                body,
                Some(e),
            ));
        }
    };
    match raw.state {
        Some(s) if !s.trim().is_empty() => Ok(InstanceStatus {
            state: InstanceState::parse(&s),
            operation_state: raw.operation_state,
            error: raw.error,
        }),
        _ => Err(decode_error(
            status,
            rid,
            DecodeReason::MissingState,
            body,
            None,
        )),
    }
}

fn api_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    request_id: Option<String>,
    now: SystemTime,
) -> Error {
    let parsed = parse_error_body(body);
    let body_snippet = match &parsed {
        Some(_) => None,
        None => Some(snippet(body)).filter(|s| !s.is_empty()),
    };
    let (error_code, error_msg, encoded) = match parsed {
        Some(b) => (b.code, b.msg, b.encoded_authorization_message),
        None => (None, None, None),
    };
    let throttle = (status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| error_msg.as_deref().and_then(parse_throttle))
        .flatten();
    Error::Api(Box::new(ApiError {
        throttle,
        status,
        error_code,
        error_msg,
        encoded_authorization_message: encoded,
        request_id,
        retry_after: retry_after(headers, now),
        body_snippet,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::model::ErrorType;
    use proptest::prelude::*;

    const LIMIT: usize = DEFAULT_BODY_LIMIT;

    fn now() -> SystemTime {
        httpdate::parse_http_date("Sat, 28 Nov 2026 10:00:00 GMT").unwrap()
    }

    fn parse(status: u16, headers: &[(&str, &str)], body: &str) -> Result<InstanceStatus, Error> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        parse_parts(
            StatusCode::from_u16(status).unwrap(),
            &h,
            body.as_bytes(),
            LIMIT,
            now(),
        )
    }

    #[test]
    fn ok_minimal_and_full() {
        let s = parse(200, &[], r#"{"state":"running"}"#).unwrap();
        assert_eq!(s, InstanceStatus::new(InstanceState::Running));
        let s = parse(
            200,
            &[],
            r#"{"state":"error","operation_state":"install-failed","error":{"error_code":"CDC.1","error_msg":"disk","error_type":"create_instance_error"},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(s.state, InstanceState::Error);
        assert_eq!(s.operation_state, Some(OperationState::InstallFailed));
        let e = s.error.unwrap();
        assert_eq!(e.error_code.as_deref(), Some("CDC.1"));
        assert_eq!(e.error_type, Some(ErrorType::CreateInstanceError));
    }

    #[test]
    fn ok_aliases_unknowns_and_nulls() {
        assert_eq!(
            parse(200, &[], r#"{"state":"shutting_down"}"#)
                .unwrap()
                .state,
            InstanceState::ShuttingDown
        );
        assert_eq!(
            parse(200, &[], r#"{"state":"teminated"}"#).unwrap().state,
            InstanceState::Terminated
        );
        let s = parse(200, &[], r#"{"state":"hibernating","operation_state":"warp-processing","error":{"error_type":"odd_error"}}"#).unwrap();
        assert_eq!(s.state.as_str(), "hibernating");
        assert_eq!(s.operation_state.unwrap().as_str(), "warp-processing");
        assert_eq!(s.error.unwrap().error_type.unwrap().as_str(), "odd_error");
        let s = parse(
            200,
            &[],
            r#"{"state":"stopped","operation_state":null,"error":null}"#,
        )
        .unwrap();
        assert_eq!(s, InstanceStatus::new(InstanceState::Stopped));
        // Any 2xx with a status body is accepted.
        assert!(parse(203, &[], r#"{"state":"running"}"#).is_ok());
    }

    #[test]
    fn ok_decode_failures() {
        for (body, reason) in [
            ("", DecodeReason::InvalidJson),
            ("not json", DecodeReason::InvalidJson),
            ("[]", DecodeReason::InvalidJson),
            (r#"{"state":1}"#, DecodeReason::InvalidJson),
            (r#"{"state":"a","state":"b"}"#, DecodeReason::InvalidJson),
            (
                r#"{"state":"running","error":"x"}"#,
                DecodeReason::InvalidJson,
            ),
            ("{}", DecodeReason::MissingState),
            (r#"{"state":null}"#, DecodeReason::MissingState),
            (r#"{"state":"  "}"#, DecodeReason::MissingState),
        ] {
            let e = parse(200, &[("x-request-id", "rid-1")], body).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Decode, "{body}");
            let Error::Decode(d) = &e else { panic!() };
            assert_eq!(d.reason(), reason, "{body}");
            assert_eq!(e.http_status(), Some(StatusCode::OK));
            assert_eq!(e.request_id(), Some("rid-1"));
            assert!(!e.is_retryable());
        }
        let e = parse_parts(
            StatusCode::OK,
            &HeaderMap::new(),
            b"{\"state\":\"\xff\"}",
            LIMIT,
            now(),
        )
        .unwrap_err();
        let Error::Decode(d) = &e else { panic!() };
        assert_eq!(d.reason(), DecodeReason::InvalidUtf8);
        let deep = "[".repeat(100_000);
        assert_eq!(
            parse(200, &[], &deep).unwrap_err().kind(),
            ErrorKind::Decode
        );
    }

    #[test]
    fn body_cap_exact_boundary() {
        let pad = |n: usize| {
            let base = r#"{"state":"running","x":""}"#;
            let mut s = String::from(r#"{"state":"running","x":""#);
            s.push_str(&"a".repeat(n - base.len()));
            s.push_str(r#""}"#);
            assert_eq!(s.len(), n);
            s
        };
        let at = pad(100);
        let over = pad(101);
        let h = HeaderMap::new();
        assert!(parse_parts(StatusCode::OK, &h, at.as_bytes(), 100, now()).is_ok());
        let e = parse_parts(StatusCode::OK, &h, over.as_bytes(), 100, now()).unwrap_err();
        let Error::Decode(d) = &e else { panic!() };
        assert_eq!(d.reason(), DecodeReason::TooLarge { limit: 100 });
        assert!(d.snippet().chars().count() <= SNIPPET_CHARS + 1);
        // An oversized error body is a decode failure too, keeping its status.
        let e = parse_parts(StatusCode::BAD_GATEWAY, &h, over.as_bytes(), 100, now()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert_eq!(e.http_status(), Some(StatusCode::BAD_GATEWAY));
    }

    #[test]
    fn every_error_body_shape() {
        for body in [
            r#"{"error_code":"APIGW.0301","error_msg":"bad token"}"#,
            r#"{"errorCode":"APIGW.0301","errorMsg":"bad token"}"#,
            r#"{"code":"APIGW.0301","message":"bad token"}"#,
            r#"{"error":{"code":"APIGW.0301","message":"bad token"}}"#,
            r#"{"error":{"error_code":"APIGW.0301","error_msg":"bad token"}}"#,
            r#"{"wrapper":{"errorCode":"APIGW.0301","errorMsg":"bad token"}}"#,
        ] {
            let e = parse(401, &[("X-Request-Id", "req-42")], body).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unauthorized, "{body}");
            assert_eq!(e.error_code(), Some("APIGW.0301"), "{body}");
            assert_eq!(e.error_msg(), Some("bad token"), "{body}");
            assert_eq!(e.request_id(), Some("req-42"));
            assert_eq!(
                e.to_string(),
                "unauthorized: HTTP 401 Unauthorized: APIGW.0301: bad token (request id req-42)"
            );
        }
        let e = parse(403, &[], r#"{"error_code":"IAM.0002","error_msg":"denied","encoded_authorization_message":"enc"}"#).unwrap_err();
        let Error::Api(a) = &e else { panic!() };
        assert_eq!(a.encoded_authorization_message(), Some("enc"));
        assert_eq!(e.kind(), ErrorKind::Forbidden);
    }

    #[test]
    fn hostile_error_fields_are_one_short_line() {
        let msg = "forged\\n2030-01-01 ERROR ok\\r\\u001b[2J\\u0007\\u202e ".repeat(1000);
        let body = format!(r#"{{"error_code":"CDC.\n4000\u001b[0m","error_msg":"{msg}"}}"#);
        let e = parse(400, &[], &body).unwrap_err();
        let code = e.error_code().unwrap();
        assert_eq!(code, "CDC. 4000 [0m");
        let m = e.error_msg().unwrap();
        assert!(
            m.starts_with("forged 2030-01-01 ERROR ok [2J forged "),
            "{m}"
        );
        assert_eq!(m.chars().count(), MESSAGE_CHARS + 1);
        assert!(m.ends_with('…'));
        let text = e.to_string();
        assert!(!text.contains(char::is_control), "{text:?}");
        assert!(!text.contains('\u{202e}'));
        assert!(text.chars().count() < 1200, "{}", text.chars().count());
        let long_code = "C".repeat(100);
        let e = parse(400, &[], &format!(r#"{{"code":"{long_code}"}}"#)).unwrap_err();
        assert_eq!(e.error_code().unwrap().chars().count(), CODE_CHARS + 1);
        // Ordinary messages are untouched.
        let e = parse(
            401,
            &[],
            r#"{"error_code":"APIGW.0301","error_msg":"Incorrect IAM authentication information"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.error_msg(),
            Some("Incorrect IAM authentication information")
        );
    }

    #[test]
    fn every_status_class() {
        for (status, kind, retryable) in [
            (400, ErrorKind::Api, false),
            (401, ErrorKind::Unauthorized, false),
            (403, ErrorKind::Forbidden, false),
            (404, ErrorKind::NotFound, false),
            (409, ErrorKind::Api, false),
            (429, ErrorKind::RateLimited, true),
            (500, ErrorKind::Server, true),
            (501, ErrorKind::Server, false),
            (502, ErrorKind::Server, true),
            (503, ErrorKind::Server, true),
            (504, ErrorKind::Server, true),
            (301, ErrorKind::Api, false),
            (302, ErrorKind::Api, false),
            (101, ErrorKind::Api, false),
        ] {
            let e = parse(status, &[], "").unwrap_err();
            assert_eq!(e.kind(), kind, "{status}");
            assert_eq!(e.is_retryable(), retryable, "{status}");
            assert_eq!(e.http_status().unwrap().as_u16(), status);
        }
    }

    #[test]
    fn plain_html_and_empty_bodies() {
        let e = parse(429, &[("Retry-After", "3")], "Too Many Requests").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(
            e.to_string(),
            "rate_limited: HTTP 429 Too Many Requests: \"Too Many Requests\" (retry after 3s)"
        );
        let html = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>";
        let e = parse(502, &[], html).unwrap_err();
        let Error::Api(a) = &e else { panic!() };
        assert!(
            a.body_snippet()
                .unwrap()
                .starts_with("<html> <head><title>502")
        );
        assert_eq!(e.error_code(), None);
        let e = parse(500, &[], "").unwrap_err();
        assert_eq!(e.to_string(), "server: HTTP 500 Internal Server Error");
        let e = parse(
            500,
            &[],
            r#"{"error_code":"CDC.5000","error_msg":"internal"}"#,
        )
        .unwrap_err();
        assert_eq!(e.error_code(), Some("CDC.5000"));
    }

    #[test]
    fn retry_after_forms() {
        let n = now();
        assert_eq!(parse_retry_after("0", n), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 120 ", n),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", n),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after("-1", n), None);
        assert_eq!(parse_retry_after("1.5", n), None);
        assert_eq!(parse_retry_after("soon", n), None);
        assert_eq!(parse_retry_after("", n), None);
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 10:00:30 GMT", n),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sat, 28 Nov 2026 09:00:00 GMT", n),
            Some(Duration::ZERO)
        );
        // A Date header is the reference when present.
        let e = parse(
            429,
            &[
                ("Retry-After", "Sat, 28 Nov 2026 12:00:05 GMT"),
                ("Date", "Sat, 28 Nov 2026 12:00:00 GMT"),
            ],
            "",
        )
        .unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(5)));
    }

    fn arb_headers() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        let name = prop_oneof![
            Just("retry-after".to_owned()),
            Just("x-request-id".to_owned()),
            Just("date".to_owned()),
            "[a-z-]{1,12}",
        ];
        prop::collection::vec((name, prop::collection::vec(32u8..=255, 0..40)), 0..5)
    }

    fn arb_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            r#"\{"state":"[a-z_-]{0,12}"(,"operation_state":"[a-z-]{0,10}")?(,"error":\{"error_code":"[A-Z.0-9]{0,8}"\})?\}"#.prop_map(String::into_bytes),
            r#"\{"(error_code|errorCode|code)":"[A-Z.0-9]{0,8}"\}"#.prop_map(String::into_bytes),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_and_kind_follows_status(
            status in 100u16..600,
            headers in arb_headers(),
            body in arb_body(),
            limit in 0usize..300,
        ) {
            let mut h = HeaderMap::new();
            for (k, v) in &headers {
                if let (Ok(n), Ok(v)) = (http::HeaderName::from_bytes(k.as_bytes()), http::HeaderValue::from_bytes(v)) {
                    h.append(n, v);
                }
            }
            let status = StatusCode::from_u16(status).unwrap();
            match parse_parts(status, &h, &body, limit, now()) {
                Ok(s) => {
                    prop_assert!(status.is_success());
                    prop_assert!(body.len() <= limit);
                    prop_assert!(!s.state.as_str().trim().is_empty());
                }
                Err(e) => {
                    prop_assert_eq!(e.http_status(), Some(status));
                    if body.len() > limit || status.is_success() {
                        prop_assert_eq!(e.kind(), ErrorKind::Decode);
                    } else {
                        prop_assert_eq!(e.kind(), ErrorKind::from_status(status));
                    }
                    let text = e.to_string();
                    prop_assert!(text.chars().count() < 1200);
                }
            }
        }

        #[test]
        fn every_prefix_of_a_good_body_is_handled(cut in 0usize..60) {
            let body = br#"{"state":"running","operation_state":"install-succeed"}"#;
            let cut = cut.min(body.len());
            let r = parse_parts(StatusCode::OK, &HeaderMap::new(), &body[..cut], LIMIT, now());
            prop_assert_eq!(r.is_ok(), cut == body.len());
        }
    }
}
