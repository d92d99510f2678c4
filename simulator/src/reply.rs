//! Replies: the [`Reply`] type and the bodies of the simulated gateway's
//! answers.
//!
//! Owns what those answers look like: the status body, the gateway's
//! `{"error_code", "error_msg"}` errors (404 `APIGW.0101`, 405, 401
//! `APIGW.0301` and the vendor's exact "request has expired" body, 403
//! `APIGW.0302`, 404 `CLOUDDC.0404`, 413), the two 429s (the gateway's flow
//! control, `APIGW.0308` without `Retry-After`; a proxy's token bucket, plain
//! text with `Retry-After`), the simulated 5xx and HTML 502, padding a body
//! to a size, and the `Date` header. A leaf: must not import the rest of the
//! crate, and must not decide when an answer is given (the heart,
//! [`Simulator`](crate::Simulator), does).

use std::time::SystemTime;

use bytes::Bytes;
use clouddc_core::http::{self, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use clouddc_core::{ErrorStatus, InstanceState, InstanceStatus, OperationState};
use serde::Serialize;

/// The response header carrying the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A response to send as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers (`Content-Type`, `X-Request-Id`, `Date`, `Retry-After`,
    /// ...); the server adds `Content-Length`.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    pub(crate) fn new(
        status: StatusCode,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        Self {
            status,
            headers,
            body: body.into(),
        }
    }

    pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Self::new(status, "application/json", body)
    }

    pub(crate) fn text(status: StatusCode, text: String) -> Self {
        Self::new(status, "text/plain; charset=utf-8", text)
    }

    /// A `{"error_code", "error_msg"}` body.
    pub(crate) fn error(status: StatusCode, code: &str, msg: impl Into<String>) -> Self {
        #[derive(Serialize)]
        struct Body<'a> {
            error_code: &'a str,
            error_msg: String,
        }
        Self::json(
            status,
            &Body {
                error_code: code,
                error_msg: msg.into(),
            },
        )
    }

    /// The `X-Request-Id` header, if set.
    pub fn request_id(&self) -> Option<&str> {
        self.headers.get(X_REQUEST_ID).and_then(|v| v.to_str().ok())
    }

    /// Sets `X-Request-Id` to `request_id` (left unset if it is not a
    /// header value).
    pub(crate) fn set_request_id(&mut self, request_id: &str) {
        if let Ok(v) = HeaderValue::from_str(request_id) {
            self.headers.insert(X_REQUEST_ID, v);
        }
    }

    /// Sets `Date` (IMF-fixdate) to `date` unless the reply has one.
    pub(crate) fn set_date(&mut self, date: SystemTime) {
        if !self.headers.contains_key(http::header::DATE)
            && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(date))
        {
            self.headers.insert(http::header::DATE, v);
        }
    }
}

/// The status call's 200: `operation_state` and `error` only when set.
pub(crate) fn status(st: &InstanceStatus) -> Reply {
    #[derive(Serialize)]
    struct Body<'a> {
        state: &'a InstanceState,
        #[serde(skip_serializing_if = "Option::is_none")]
        operation_state: Option<&'a OperationState>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a ErrorStatus>,
    }
    Reply::json(
        StatusCode::OK,
        &Body {
            state: &st.state,
            operation_state: st.operation_state.as_ref(),
            error: st.error.as_ref(),
        },
    )
}

/// The gateway's 404 for a path it does not serve (`APIGW.0101`).
pub(crate) fn gateway_not_found(detail: Option<String>) -> Reply {
    let base = "The API does not exist or has not been published in the environment";
    Reply::error(
        StatusCode::NOT_FOUND,
        "APIGW.0101",
        match detail {
            Some(d) => format!("{base}: {d}"),
            None => base.to_owned(),
        },
    )
}

/// The gateway's 405 for the status call, with `Allow: GET`.
pub(crate) fn gateway_method_not_allowed(method: &Method) -> Reply {
    let mut r = gateway_not_found(Some(format!("{method} is not allowed here; use GET")));
    r.status = StatusCode::METHOD_NOT_ALLOWED;
    r.headers
        .insert(http::header::ALLOW, HeaderValue::from_static("GET"));
    r
}

/// A token bucket's 429, as a proxy in front of the gateway may answer:
/// plain text and `Retry-After` in whole seconds.
pub(crate) fn proxy_throttled(retry_after_s: u64) -> Reply {
    let mut r = Reply::text(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "Too Many Requests: the simulated rate limit is exceeded; retry after {retry_after_s} s\n"
        ),
    );
    r.headers
        .insert(http::header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    r
}

/// The gateway's flow-control 429 (`APIGW.0308`), exactly as the vendor
/// quotes it (`message` names the policy), with no `Retry-After`.
pub(crate) fn gateway_throttled(message: String, request_id: &str) -> Reply {
    #[derive(Serialize)]
    struct Body<'a> {
        error_msg: String,
        error_code: &'a str,
        request_id: &'a str,
    }
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        &Body {
            error_msg: message,
            error_code: "APIGW.0308",
            request_id,
        },
    )
}

/// The gateway's 401 (`APIGW.0301`) with a detail.
pub(crate) fn unauthorized(detail: &str) -> Reply {
    Reply::error(
        StatusCode::UNAUTHORIZED,
        "APIGW.0301",
        format!("Incorrect IAM authentication information: {detail}"),
    )
}

/// The gateway's 401 for an `X-Sdk-Date` too far off its clock: the
/// vendor's exact body, `request_id` included.
pub(crate) fn request_expired(request_id: &str) -> Reply {
    #[derive(Serialize)]
    struct Body<'a> {
        error_msg: &'a str,
        error_code: &'a str,
        request_id: &'a str,
    }
    Reply::json(
        StatusCode::UNAUTHORIZED,
        &Body {
            error_msg: "Incorrect IAM authentication information: The request has expired",
            error_code: "APIGW.0301",
            request_id,
        },
    )
}

/// The gateway's 403 (`APIGW.0302`) for credentials not scoped to the
/// project asked for; `which` says where that project was named.
pub(crate) fn wrong_project(which: &str, served: &str) -> Reply {
    Reply::error(
        StatusCode::FORBIDDEN,
        "APIGW.0302",
        format!(
            "The IAM user is not authorized to access the API: {which}, but this simulator serves project '{served}'"
        ),
    )
}

/// The 404 for an instance that does not exist (`CLOUDDC.0404`).
pub(crate) fn no_instance(id: &str, project: &str) -> Reply {
    Reply::error(
        StatusCode::NOT_FOUND,
        "CLOUDDC.0404",
        format!("Instance '{id}' does not exist in project '{project}'"),
    )
}

/// The 413 for a request body over `limit` bytes (`APIGW.0413`).
pub(crate) fn too_large(limit: usize) -> Reply {
    Reply::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "APIGW.0413",
        format!("The request body is over {limit} bytes"),
    )
}

/// A simulated server error with this status (500 if it is not one).
pub(crate) fn server_error(status: u16) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Reply::error(
        status,
        &format!("CLOUDDC.{}", status.as_u16()),
        format!(
            "{} (simulated)",
            status.canonical_reason().unwrap_or("Server error")
        ),
    )
}

/// A load balancer's HTML 502 page.
pub(crate) fn html_502() -> Reply {
    Reply::new(StatusCode::BAD_GATEWAY, "text/html", HTML_502)
}

const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A JSON object body made exactly `bytes` long (or as short as possible
/// above it) by a `"padding"` member, still valid JSON.
pub(crate) fn pad_json(body: &[u8], bytes: usize) -> Bytes {
    const HEAD: &[u8] = b"{\"padding\":\"";
    const TAIL: &[u8] = b"\",";
    let rest = body.strip_prefix(b"{").unwrap_or(body);
    let fixed = HEAD.len() + TAIL.len() + rest.len();
    let pad = bytes.saturating_sub(fixed);
    let mut out = Vec::with_capacity(fixed + pad);
    out.extend_from_slice(HEAD);
    out.resize(HEAD.len() + pad, b'x');
    out.extend_from_slice(TAIL);
    out.extend_from_slice(rest);
    Bytes::from(out)
}
