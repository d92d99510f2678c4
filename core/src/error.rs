//! The one error type of the core and of every transport built on it.
//!
//! Owns the stable error kinds, retryability and the facts a support ticket
//! needs (HTTP status, vendor code and message, request id, `Retry-After`).
//! Must not decide how an error is classified from a response (that is
//! `response`) nor whether to retry it (that is `retry`).

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::quota::Throttle;

/// A boxed error from a transport, kept as the `source()` of [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The stable kind of an [`Error`]; its [`as_str`](ErrorKind::as_str)
/// spelling never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input caught before anything was sent.
    InvalidInput,
    /// HTTP 401.
    Unauthorized,
    /// HTTP 403.
    Forbidden,
    /// HTTP 404.
    NotFound,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    Server,
    /// Any other non-success status (other 4xx, 3xx, 1xx).
    Api,
    /// A response that could not be decoded.
    Decode,
    /// The request did not complete: refused, reset, DNS, TLS.
    Transport,
    /// An attempt or deadline ran out.
    Timeout,
    /// The work was cancelled before it finished.
    Interrupted,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: &'static [Self] = &[
        Self::InvalidInput,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::RateLimited,
        Self::Server,
        Self::Api,
        Self::Decode,
        Self::Transport,
        Self::Timeout,
        Self::Interrupted,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::Server => "server",
            Self::Api => "api",
            Self::Decode => "decode",
            Self::Transport => "transport",
            Self::Timeout => "timeout",
            Self::Interrupted => "interrupted",
        }
    }

    /// The kind an error response with this status has.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            429 => Self::RateLimited,
            500..=599 => Self::Server,
            _ => Self::Api,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong with a status query.
///
/// Compare [`kind()`](Error::kind) in code, not the message. `Display` is one
/// line that names what failed, including the server's code and message; the
/// underlying cause, where there is one, is the `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input caught before anything was sent.
    #[error("invalid input: {0}")]
    InvalidInput(InvalidInput),
    /// The server answered with an error status.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The server's answer could not be decoded.
    #[error(transparent)]
    Decode(Box<DecodeError>),
    /// The request did not complete.
    #[error(transparent)]
    Transport(TransportError),
    /// An attempt or the overall deadline ran out.
    #[error(transparent)]
    Timeout(TransportError),
    /// The work was cancelled before it finished.
    #[error("interrupted: {0}")]
    Interrupted(InvalidInput),
    /// The credentials or the project id could not be resolved or
    /// refreshed (server metadata, IAM project lookup).
    #[error(transparent)]
    Resolve(ResolveError),
}

impl Error {
    /// An invalid-input error with a message that names the fix.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::invalid_setting(message, Vec::new())
    }

    /// An invalid-input error about these `settings` (missing or refused),
    /// with a message that names the fix.
    pub fn invalid_setting(message: impl Into<String>, settings: Vec<Setting>) -> Self {
        Self::InvalidInput(InvalidInput {
            message: message.into(),
            settings,
        })
    }

    /// The settings an invalid-input error is about (missing or refused),
    /// so that a caller can name its own way to set them.
    pub fn settings(&self) -> &[Setting] {
        match self {
            Self::InvalidInput(e) => &e.settings,
            _ => &[],
        }
    }

    /// A transport failure (refused, reset, DNS, TLS, …) keeping its cause.
    pub fn transport(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Transport(TransportError {
            message: message.into(),
            source: Some(source.into()),
            unanswered: false,
        })
    }

    /// A timeout, keeping its cause when there is one.
    pub fn timeout(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Self::Timeout(TransportError {
            message: message.into(),
            source,
            unanswered: false,
        })
    }

    /// How attempt `number` to `uri` failed in a transport: kind `timeout`
    /// when `timed_out`, else `transport`, with `what` happened (e.g.
    /// "failed reading the body") and the transport's error as the source.
    pub fn attempt(
        number: u32,
        uri: &http::Uri,
        what: &str,
        timed_out: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        let host = uri.authority().map_or("the endpoint", |a| a.as_str());
        if timed_out {
            Self::timeout(
                format!("attempt {number} to {host} timed out"),
                Some(source.into()),
            )
        } else {
            Self::transport(format!("attempt {number} to {host} {what}"), source)
        }
    }

    /// How attempt `number` to `uri` failed in a transport that saw `io`,
    /// the I/O error kind beneath its own error (if any): a timeout for
    /// `TimedOut` or `WouldBlock`; for a connection closed or reset
    /// (`UnexpectedEof`, `ConnectionReset`, `ConnectionAborted`,
    /// `BrokenPipe`) before any response byte (`before_response`),
    /// [`Error::closed_unanswered`]; else kind `transport`, with `what`
    /// happened. The transport's error is the source.
    ///
    /// ```
    /// use clouddc_core::{Error, ErrorKind};
    /// use std::io::ErrorKind as Io;
    /// let uri: http::Uri = "http://h/x".parse().unwrap();
    /// let e = |io, before| Error::attempt_failed(1, &uri, "failed", Some(io), before, std::io::Error::from(io));
    /// assert_eq!(e(Io::TimedOut, true).kind(), ErrorKind::Timeout);
    /// assert!(e(Io::UnexpectedEof, true).is_closed_unanswered());
    /// assert!(!e(Io::UnexpectedEof, false).is_closed_unanswered());
    /// assert_eq!(e(Io::ConnectionRefused, true).kind(), ErrorKind::Transport);
    /// ```
    pub fn attempt_failed(
        number: u32,
        uri: &http::Uri,
        what: &str,
        io: Option<std::io::ErrorKind>,
        before_response: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        use std::io::ErrorKind::{
            BrokenPipe, ConnectionAborted, ConnectionReset, TimedOut, UnexpectedEof, WouldBlock,
        };
        match io {
            Some(TimedOut | WouldBlock) => Self::attempt(number, uri, what, true, source),
            Some(UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe)
                if before_response =>
            {
                Self::closed_unanswered(number, uri, source)
            }
            _ => Self::attempt(number, uri, what, false, source),
        }
    }

    /// How attempt `number` to `uri` failed when the connection it was sent
    /// on closed (or was reset) before any byte of a response arrived: on a
    /// reused keep-alive connection, the idle-timeout race every load
    /// balancer has. Kind `transport`; the core sends the request once more
    /// at once on a fresh connection (see [`Attempt::fresh_connection`]),
    /// without counting an attempt.
    ///
    /// [`Attempt::fresh_connection`]: crate::Attempt::fresh_connection
    pub fn closed_unanswered(number: u32, uri: &http::Uri, source: impl Into<BoxError>) -> Self {
        let host = uri.authority().map_or("the endpoint", |a| a.as_str());
        Self::Transport(TransportError {
            message: format!(
                "attempt {number} to {host}: the connection closed before any response byte"
            ),
            source: Some(source.into()),
            unanswered: true,
        })
    }

    /// Whether the request was lost with its connection before any byte of
    /// a response came back ([`Error::closed_unanswered`]).
    pub fn is_closed_unanswered(&self) -> bool {
        matches!(self, Self::Transport(e) if e.unanswered)
    }

    /// The quota a 429's message quoted (`limit:N,time:T unit`).
    pub fn throttle(&self) -> Option<Throttle> {
        match self {
            Self::Api(e) => e.throttle,
            _ => None,
        }
    }

    /// A 429 without `Retry-After`: the gateway's own flow control, whose
    /// windows pace the retry instead of the backoff and the retry budget.
    pub(crate) fn is_gateway_throttle(&self) -> bool {
        matches!(self, Self::Api(e) if e.status == StatusCode::TOO_MANY_REQUESTS && e.retry_after.is_none())
    }

    /// Cancelled work, with what was cancelled.
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self::Interrupted(InvalidInput {
            message: message.into(),
            settings: Vec::new(),
        })
    }

    /// The stable kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidInput(_) => ErrorKind::InvalidInput,
            Self::Api(e) => ErrorKind::from_status(e.status),
            Self::Decode(_) => ErrorKind::Decode,
            Self::Transport(_) => ErrorKind::Transport,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::Interrupted(_) => ErrorKind::Interrupted,
            Self::Resolve(e) => e.kind,
        }
    }

    /// Whether trying the same request again may succeed: 429, 500, 502,
    /// 503, 504, transport failures and timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => matches!(e.status.as_u16(), 429 | 500 | 502 | 503 | 504),
            Self::Transport(_) | Self::Timeout(_) => true,
            Self::InvalidInput(_) | Self::Decode(_) | Self::Interrupted(_) | Self::Resolve(_) => {
                false
            }
        }
    }

    /// The HTTP status that ended the call, when a response arrived.
    pub fn http_status(&self) -> Option<StatusCode> {
        match self {
            Self::Api(e) => Some(e.status),
            Self::Decode(e) => e.status,
            _ => None,
        }
    }

    /// The `X-Request-Id` of the response, when one arrived.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.request_id.as_deref(),
            Self::Decode(e) => e.request_id.as_deref(),
            _ => None,
        }
    }

    /// The delay the server asked for with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api(e) => e.retry_after,
            _ => None,
        }
    }

    /// The vendor error code, when the body carried one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.error_code.as_deref(),
            _ => None,
        }
    }

    /// The vendor error message, when the body carried one.
    pub fn error_msg(&self) -> Option<&str> {
        match self {
            Self::Api(e) => e.error_msg.as_deref(),
            _ => None,
        }
    }
}

/// A setting of a [`Config`](crate::Config) an invalid-input error can be
/// about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// The endpoint (or the region it follows from).
    Endpoint,
    /// The project id.
    ProjectId,
    /// The credentials.
    Credentials,
    /// An access key and secret key, of which only a part is given.
    AccessKeys,
    /// Plain `http` to a host that is not loopback.
    InsecureHttp,
    /// The OIDC identity provider id (`HUAWEICLOUD_SDK_IDP_ID`).
    IdpId,
    /// The OIDC id-token file (`HUAWEICLOUD_SDK_ID_TOKEN_FILE`): missing,
    /// unreadable or empty.
    IdTokenFile,
}

/// Input rejected before anything was sent.
#[derive(Debug, Clone)]
pub struct InvalidInput {
    message: String,
    settings: Vec<Setting>,
}

impl InvalidInput {
    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// An error status from the server, with what its body and headers said.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) error_code: Option<String>,
    pub(crate) error_msg: Option<String>,
    pub(crate) encoded_authorization_message: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) throttle: Option<Throttle>,
    pub(crate) body_snippet: Option<String>,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The vendor error code (`APIGW.0301`, …).
    pub fn error_code(&self) -> Option<&str> {
        self.error_code.as_deref()
    }
    /// The vendor error message.
    pub fn error_msg(&self) -> Option<&str> {
        self.error_msg.as_deref()
    }
    /// The `encoded_authorization_message` some 403s carry.
    pub fn encoded_authorization_message(&self) -> Option<&str> {
        self.encoded_authorization_message.as_deref()
    }
    /// The `X-Request-Id` header.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    /// The delay `Retry-After` asked for.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    /// The quota a 429's message quoted.
    pub fn throttle(&self) -> Option<Throttle> {
        self.throttle
    }
    /// A short, lossy excerpt of a body that was not a known JSON shape.
    pub fn body_snippet(&self) -> Option<&str> {
        self.body_snippet.as_deref()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = ErrorKind::from_status(self.status);
        write!(f, "{kind}: HTTP {}", self.status.as_u16())?;
        if let Some(reason) = self.status.canonical_reason() {
            write!(f, " {reason}")?;
        }
        match (&self.error_code, &self.error_msg) {
            (Some(c), Some(m)) => write!(f, ": {c}: {m}")?,
            (Some(c), None) => write!(f, ": {c}")?,
            (None, Some(m)) => write!(f, ": {m}")?,
            (None, None) => {
                if let Some(s) = &self.body_snippet {
                    write!(f, ": {s:?}")?;
                }
            }
        }
        if let Some(d) = self.retry_after {
            write!(f, " (retry after {}s)", ceil_secs(d))?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Why a response could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeReason {
    /// The body is larger than the configured cap.
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The body is not UTF-8.
    InvalidUtf8,
    /// The body is not JSON of the expected shape.
    InvalidJson,
    /// The body has no usable `state`.
    MissingState,
}

impl fmt::Display for DecodeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "body larger than the {limit}-byte cap"),
            Self::InvalidUtf8 => f.write_str("body is not valid UTF-8"),
            Self::InvalidJson => f.write_str("body is not the expected JSON"),
            Self::MissingState => f.write_str("body has no usable `state`"),
        }
    }
}

/// A response whose body could not be decoded.
#[derive(Debug)]
pub struct DecodeError {
    pub(crate) status: Option<StatusCode>,
    pub(crate) reason: DecodeReason,
    pub(crate) request_id: Option<String>,
    pub(crate) snippet: String,
    pub(crate) source: Option<serde_json::Error>,
}

impl DecodeError {
    /// Why decoding failed.
    pub fn reason(&self) -> DecodeReason {
        self.reason
    }
    /// The status of the response.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
    /// The `X-Request-Id` header.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    /// A short, lossy excerpt of the body.
    pub fn snippet(&self) -> &str {
        &self.snippet
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decode: ")?;
        if let Some(s) = self.status {
            write!(f, "HTTP {}: ", s.as_u16())?;
        }
        write!(f, "{}", self.reason)?;
        if !self.snippet.is_empty() {
            write!(f, ", starting {:?}", self.snippet)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl StdError for DecodeError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// A request that did not complete; the underlying error is the `source()`.
#[derive(Debug)]
pub struct TransportError {
    message: String,
    source: Option<BoxError>,
    /// Closed before any response byte ([`Error::closed_unanswered`]).
    unanswered: bool,
}

impl TransportError {
    /// What the transport was doing when it failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// Resolving or refreshing the credentials or the project id failed; the
/// failure of the request behind it, if any, is the `source()`. Cheap to
/// clone, so that every call waiting on the same resolution gets it.
#[derive(Debug, Clone)]
pub struct ResolveError {
    kind: ErrorKind,
    message: String,
    source: Option<std::sync::Arc<Error>>,
}

impl ResolveError {
    /// What failed and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ResolveError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

impl Error {
    /// A resolution failure of `kind`, keeping `source` as its cause.
    pub(crate) fn resolve(
        kind: ErrorKind,
        message: impl Into<String>,
        source: Option<Self>,
    ) -> Self {
        Self::Resolve(ResolveError {
            kind,
            message: message.into(),
            source: source.map(std::sync::Arc::new),
        })
    }

    /// This error in a form that can be copied to every caller waiting on
    /// it: as it is when it can, else as the cause of a resolution error of
    /// the same kind and text.
    pub(crate) fn into_shared(self) -> Self {
        match self {
            Self::Resolve(_) | Self::InvalidInput(_) => self,
            other => Self::resolve(other.kind(), other.to_string(), Some(other)),
        }
    }

    /// A copy of an error made by [`into_shared`](Self::into_shared)
    /// (other errors are copied as their kind and text).
    pub(crate) fn shared(&self) -> Self {
        match self {
            Self::Resolve(e) => Self::Resolve(e.clone()),
            Self::InvalidInput(e) => Self::InvalidInput(e.clone()),
            other => Self::resolve(other.kind(), other.to_string(), None),
        }
    }
}

impl StdError for ApiError {}
impl StdError for InvalidInput {}

/// `e` and its causes on one line, `: `-separated, skipping a cause whose
/// text the line already holds.
///
/// ```
/// let e = clouddc_core::Error::transport("attempt 1 to h failed", std::io::Error::other("refused"));
/// assert_eq!(clouddc_core::error_chain(&e), "attempt 1 to h failed: refused");
/// ```
pub fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

/// Whole seconds, rounded up.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_names() {
        let names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "invalid_input",
                "unauthorized",
                "forbidden",
                "not_found",
                "rate_limited",
                "server",
                "api",
                "decode",
                "transport",
                "timeout",
                "interrupted"
            ]
        );
    }

    #[test]
    fn status_classes() {
        for (code, kind) in [
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Forbidden),
            (404, ErrorKind::NotFound),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Server),
            (503, ErrorKind::Server),
            (599, ErrorKind::Server),
            (400, ErrorKind::Api),
            (302, ErrorKind::Api),
            (204, ErrorKind::Api),
        ] {
            assert_eq!(
                ErrorKind::from_status(StatusCode::from_u16(code).unwrap()),
                kind
            );
        }
    }

    #[test]
    fn transport_keeps_source_and_does_not_repeat_it() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer reset");
        let e = Error::transport("connection reset while reading the response", io);
        assert_eq!(e.kind(), ErrorKind::Transport);
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "connection reset while reading the response");
        let src = StdError::source(&e).unwrap();
        assert_eq!(src.to_string(), "peer reset");
    }

    #[test]
    fn ceil_secs_rounds_up() {
        assert_eq!(ceil_secs(Duration::from_millis(0)), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2001)), 3);
    }
}
