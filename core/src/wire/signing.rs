//! AK/SK request signing and verification, algorithm `SDK-HMAC-SHA256`.
//!
//! Owns the vendor's canonicalisation (URI, query, headers), the string to
//! sign, the `Authorization` header and its verification, and the
//! `X-Sdk-Date` format. The time is always an argument. Must not read a clock,
//! hold keys beyond one call, or print a key or signature anywhere.
//!
//! ```
//! use clouddc_core::{sign_parts, SignInput};
//! let parts = sign_parts(&SignInput {
//!     method: "GET",
//!     path: "/v1/p/instances/i/status",
//!     query: "",
//!     headers: &[("Host", "127.0.0.1:8080"), ("X-Sdk-Date", "20261231T235959Z")],
//!     body: b"",
//!     access_key: "AK",
//!     secret_key: "SK",
//! });
//! assert!(parts.authorization.starts_with("SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature="));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderValue;
use http::header::{AUTHORIZATION, HOST};
use percent_encoding::{percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::ids::NOT_UNRESERVED;

/// The algorithm name.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// The header that carries the signing time.
pub const SDK_DATE: &str = "x-sdk-date";
pub(crate) const SDK_DATE_NAME: http::HeaderName = http::HeaderName::from_static(SDK_DATE);

/// HMAC-SHA256 keyed with a secret key; cloning reuses the keyed state.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// What is signed.
#[derive(Clone, Copy)]
pub struct SignInput<'a> {
    /// HTTP method, upper case.
    pub method: &'a str,
    /// The request path as it travels (percent-encoded).
    pub path: &'a str,
    /// The raw query string without `?`, or empty.
    pub query: &'a str,
    /// The headers to sign, including `Host` and `X-Sdk-Date`. Names with
    /// `_` are skipped, as the vendor does.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body.
    pub body: &'a [u8],
    /// Access key id.
    pub access_key: &'a str,
    /// Secret key.
    pub secret_key: &'a str,
}

impl fmt::Debug for SignInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignInput")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// Every intermediate of a signature, for tests against vendor vectors.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedParts {
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// `;`-joined lower-case signed header names.
    pub signed_headers: String,
    /// The full `Authorization` header value.
    pub authorization: String,
}

impl fmt::Debug for SignedParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedParts")
            .field("canonical_request", &self.canonical_request)
            .field("signed_headers", &self.signed_headers)
            .field("authorization", &"<redacted>")
            .finish()
    }
}

/// The canonical URI: percent-decode the path, split on `/`, encode each
/// piece, join, and end with `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    push_canonical_uri(&mut out, path);
    out
}

/// Whether decoding and re-encoding `path` changes nothing.
fn is_canonical_path(path: &str) -> bool {
    path.bytes()
        .all(|b| b == b'/' || b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

fn push_canonical_uri(out: &mut String, path: &str) {
    if is_canonical_path(path) {
        // Decoding and re-encoding changes nothing.
        out.push_str(path);
    } else {
        let decoded = percent_decode_str(path).decode_utf8_lossy();
        for (i, piece) in decoded.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.extend(utf8_percent_encode(piece, NOT_UNRESERVED));
        }
    }
    if !out.ends_with('/') {
        out.push('/');
    }
}

/// The canonical query: `k=v` pairs, each side re-encoded, sorted, joined
/// with `&`.
pub fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let enc = |s: &str| {
                let plus = s.replace('+', " ");
                let d = percent_decode_str(&plus).decode_utf8_lossy().into_owned();
                utf8_percent_encode(&d, NOT_UNRESERVED).to_string()
            };
            (enc(k), enc(v))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// hex(sha256("")), the body hash of every GET.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn push_body_hash(out: &mut String, headers: &[(&str, &str)], body: &[u8]) {
    let unsigned = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("x-sdk-content-sha256") && v.trim() == "UNSIGNED-PAYLOAD"
    });
    if unsigned {
        out.push_str("UNSIGNED-PAYLOAD");
    } else if body.is_empty() {
        out.push_str(EMPTY_SHA256);
    } else {
        push_hex(out, &Sha256::digest(body));
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    let n = bytes.len().min(32) * 2;
    if hex::encode_to_slice(&bytes[..n / 2], &mut buf[..n]).is_ok() {
        out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or(""));
    }
}

pub(crate) fn mac(secret_key: &str) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    match HmacSha256::new_from_slice(secret_key.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

struct Computed {
    canonical_request: String,
    string_to_sign: String,
    signed_headers: String,
    authorization: String,
}

/// The canonical headers: lower-case names without `_`, trimmed values,
/// sorted by name.
fn canonical_headers<'a>(headers: &[(&'a str, &'a str)]) -> Vec<(Cow<'a, str>, &'a str)> {
    let mut hs: Vec<(Cow<'a, str>, &'a str)> = headers
        .iter()
        .filter(|(n, _)| !n.contains('_'))
        .map(|&(n, v)| {
            let name = if n.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(n.to_ascii_lowercase())
            } else {
                Cow::Borrowed(n)
            };
            (name, v.trim())
        })
        .collect();
    hs.sort_by(|a, b| a.0.cmp(&b.0));
    hs
}

/// `;`-joined names of canonical headers.
fn signed_header_names(hs: &[(Cow<'_, str>, &str)]) -> String {
    let mut signed = String::with_capacity(hs.len() * 16);
    for (i, (n, _)) in hs.iter().enumerate() {
        if i > 0 {
            signed.push(';');
        }
        signed.push_str(n);
    }
    signed
}

/// A header map's names and values as the signer reads them.
fn header_pairs(headers: &http::HeaderMap) -> Vec<(&str, Cow<'_, str>)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

fn compute(input: &SignInput<'_>) -> Computed {
    let hs = canonical_headers(input.headers);
    let signed_headers = signed_header_names(&hs);

    let mut cr = String::with_capacity(256 + input.path.len() + hs.len() * 48);
    cr.push_str(input.method);
    cr.push('\n');
    push_canonical_uri(&mut cr, input.path);
    cr.push('\n');
    cr.push_str(&canonical_query(input.query));
    cr.push('\n');
    for (n, v) in &hs {
        cr.push_str(n);
        cr.push(':');
        cr.push_str(v);
        cr.push('\n');
    }
    cr.push('\n');
    cr.push_str(&signed_headers);
    cr.push('\n');
    push_body_hash(&mut cr, input.headers, input.body);

    let date = input
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(SDK_DATE))
        .map_or("", |(_, v)| v.trim());
    let mut sts = String::with_capacity(ALGORITHM.len() + date.len() + 66);
    sts.push_str(ALGORITHM);
    sts.push('\n');
    sts.push_str(date);
    sts.push('\n');
    push_hex(&mut sts, &Sha256::digest(cr.as_bytes()));

    let mut m = mac(input.secret_key);
    m.update(sts.as_bytes());
    let sig = m.finalize().into_bytes();
    let mut authorization = String::with_capacity(
        ALGORITHM.len() + input.access_key.len() + signed_headers.len() + 110,
    );
    authorization.push_str(ALGORITHM);
    authorization.push_str(" Access=");
    authorization.push_str(input.access_key);
    authorization.push_str(", SignedHeaders=");
    authorization.push_str(&signed_headers);
    authorization.push_str(", Signature=");
    push_hex(&mut authorization, &sig);
    Computed {
        canonical_request: cr,
        string_to_sign: sts,
        signed_headers,
        authorization,
    }
}

/// Computes the canonical request, string to sign and `Authorization` value.
pub fn sign_parts(input: &SignInput<'_>) -> SignedParts {
    let c = compute(input);
    SignedParts {
        canonical_request: c.canonical_request,
        string_to_sign: c.string_to_sign,
        signed_headers: c.signed_headers,
        authorization: c.authorization,
    }
}

/// Signs a request in place: sets `X-Sdk-Date` from `wall` (and `Host` from
/// the URI when missing), then `Authorization` over every header.
pub fn sign_request(
    request: &mut http::Request<Vec<u8>>,
    access_key: &str,
    secret_key: &str,
    wall: SystemTime,
) {
    sign_with(request, access_key, secret_key, wall);
}

/// The parts of a status request's signature that do not change between
/// calls of one configuration, prepared once.
///
/// Every status request of a configuration carries the same headers and an
/// empty body, so only the path and the date differ per call. The template
/// canonicalises the prepared headers with the same rules as
/// [`sign_request`] and keeps the lines before and after `x-sdk-date`;
/// [`SigningTemplate::sign`] then streams the canonical request straight
/// into SHA-256 instead of assembling it (a property test holds the two
/// signers together). Holds the keyed HMAC and the security token: it has
/// no `Debug`.
pub(crate) struct SigningTemplate {
    key: HmacSha256,
    /// Canonical header lines sorted before `x-sdk-date`.
    before_date: String,
    /// Canonical header lines sorted after `x-sdk-date`.
    after_date: String,
    /// The blank line, the signed header names and the empty body's hash.
    tail: String,
    /// `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=`.
    authorization_prefix: String,
}

impl SigningTemplate {
    /// A template for requests that carry exactly `headers` (any
    /// `Authorization` and `X-Sdk-Date` in it are ignored: the signer sets
    /// them).
    pub(crate) fn new(access_key: &str, secret_key: &str, headers: &http::HeaderMap) -> Self {
        let pairs = header_pairs(headers);
        let mut refs: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(n, _)| *n != AUTHORIZATION.as_str() && *n != SDK_DATE)
            .map(|(n, v)| (*n, v.as_ref()))
            .collect();
        refs.push((SDK_DATE, ""));
        let hs = canonical_headers(&refs);
        let (mut before_date, mut after_date) = (String::new(), String::new());
        let mut out = &mut before_date;
        for (n, v) in &hs {
            if n == SDK_DATE {
                out = &mut after_date;
                continue;
            }
            out.push_str(n);
            out.push(':');
            out.push_str(v);
            out.push('\n');
        }
        let signed = signed_header_names(&hs);
        Self {
            key: mac(secret_key),
            before_date,
            after_date,
            tail: format!("\n{signed}\n{EMPTY_SHA256}"),
            authorization_prefix: format!(
                "{ALGORITHM} Access={access_key}, SignedHeaders={signed}, Signature="
            ),
        }
    }

    /// Sets `X-Sdk-Date` from `wall` and `Authorization` on a status request
    /// that carries exactly the template's headers.
    pub(crate) fn sign(&self, request: &mut http::Request<Vec<u8>>, wall: SystemTime) {
        let date = sdk_date_bytes(wall);
        let mut hash = Sha256::new();
        hash.update(request.method().as_str().as_bytes());
        hash.update(b"\n");
        let path = request.uri().path();
        if is_canonical_path(path) {
            hash.update(path.as_bytes());
            if !path.ends_with('/') {
                hash.update(b"/");
            }
        } else {
            hash.update(canonical_uri(path).as_bytes());
        }
        hash.update(b"\n\n");
        hash.update(self.before_date.as_bytes());
        hash.update(b"x-sdk-date:");
        hash.update(date);
        hash.update(b"\n");
        hash.update(self.after_date.as_bytes());
        hash.update(self.tail.as_bytes());
        let mut hex_digest = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(hash.finalize(), &mut hex_digest);

        let mut m = self.key.clone();
        m.update(ALGORITHM.as_bytes());
        m.update(b"\n");
        m.update(&date);
        m.update(b"\n");
        m.update(&hex_digest);
        let mut hex_sig = [0u8; 64];
        let _ = hex::encode_to_slice(m.finalize().into_bytes(), &mut hex_sig);

        let mut authorization = Vec::with_capacity(self.authorization_prefix.len() + 64);
        authorization.extend_from_slice(self.authorization_prefix.as_bytes());
        authorization.extend_from_slice(&hex_sig);
        // Both values are ASCII by construction (the access key was checked
        // when the credentials were made), so neither branch drops a header
        // in practice; if one did, the request goes unsigned and the server
        // answers 401, never with an empty placeholder.
        let headers = request.headers_mut();
        match HeaderValue::from_bytes(&date) {
            Ok(v) => headers.insert(SDK_DATE_NAME, v),
            Err(_) => headers.remove(SDK_DATE_NAME),
        };
        match HeaderValue::try_from(authorization) {
            Ok(mut v) => {
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v)
            }
            Err(_) => headers.remove(AUTHORIZATION),
        };
    }
}

fn sign_with(
    request: &mut http::Request<Vec<u8>>,
    access_key: &str,
    secret_key: &str,
    wall: SystemTime,
) {
    let date = format_sdk_date(wall);
    let headers = request.headers_mut();
    headers.remove(AUTHORIZATION);
    if let Ok(v) = HeaderValue::try_from(date) {
        headers.insert(SDK_DATE_NAME, v);
    }
    if !request.headers().contains_key(HOST)
        && let Some(a) = request.uri().authority().cloned()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        request.headers_mut().insert(HOST, v);
    }
    let pairs = header_pairs(request.headers());
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_ref())).collect();
    let computed = compute(&SignInput {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: request.uri().query().unwrap_or(""),
        headers: &refs,
        body: request.body(),
        access_key,
        secret_key,
    });
    if let Ok(mut v) = HeaderValue::try_from(computed.authorization) {
        v.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, v);
    }
}

/// Why a signed request was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// The header is not `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
    #[error("malformed Authorization header")]
    Malformed,
    /// The access key is not known.
    #[error("unknown access key")]
    UnknownAccessKey,
    /// `X-Sdk-Date` is missing or not `YYYYMMDDTHHMMSSZ`.
    #[error("missing or malformed X-Sdk-Date")]
    BadDate,
    /// `X-Sdk-Date` is too far from the verifier's clock.
    #[error("X-Sdk-Date is {skew_s}s away from the server clock")]
    Skew {
        /// Difference in whole seconds.
        skew_s: u64,
    },
    /// A header named in `SignedHeaders` is absent, or `host`/`x-sdk-date` unsigned.
    #[error("signed header {0:?} missing from the request")]
    MissingSignedHeader(String),
    /// The signature does not match.
    #[error("signature mismatch")]
    Mismatch,
}

/// Parsed `Authorization: SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// The access key id.
    pub access_key: String,
    /// Lower-case signed header names.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

impl fmt::Debug for AuthorizationHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationHeader")
            .field("access_key", &self.access_key)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &"<redacted>")
            .finish()
    }
}

impl AuthorizationHeader {
    /// Parses the header value.
    pub fn parse(value: &str) -> Result<Self, VerifyError> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(VerifyError::Malformed)?;
        let (mut ak, mut sh, mut sig) = (None, None, None);
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=').ok_or(VerifyError::Malformed)?;
            match k {
                "Access" => ak = Some(v.to_owned()),
                "SignedHeaders" => sh = Some(v.split(';').map(str::to_owned).collect()),
                "Signature" => sig = Some(v.to_owned()),
                _ => return Err(VerifyError::Malformed),
            }
        }
        match (ak, sh, sig) {
            (Some(access_key), Some(signed_headers), Some(signature)) if !access_key.is_empty() => {
                Ok(Self {
                    access_key,
                    signed_headers,
                    signature,
                })
            }
            _ => Err(VerifyError::Malformed),
        }
    }
}

/// Verifies a signed request as it arrived: recomputes the signature over
/// the headers it names, checks the date is within `max_skew` of `now`, and
/// compares in constant time. `secret_for` maps an access key to its secret.
/// Returns the access key on success.
pub fn verify_request<B: AsRef<[u8]>>(
    request: &http::Request<B>,
    secret_for: impl Fn(&str) -> Option<String>,
    now: SystemTime,
    max_skew: Duration,
) -> Result<String, VerifyError> {
    let auth = request
        .headers()
        .get(AUTHORIZATION)
        .ok_or(VerifyError::Missing)?
        .to_str()
        .map_err(|_| VerifyError::Malformed)?;
    let auth = AuthorizationHeader::parse(auth)?;
    let secret = secret_for(&auth.access_key).ok_or(VerifyError::UnknownAccessKey)?;
    for needed in ["host", SDK_DATE] {
        if !auth.signed_headers.iter().any(|h| h == needed) {
            return Err(VerifyError::MissingSignedHeader(needed.to_owned()));
        }
    }
    let date = request
        .headers()
        .get(SDK_DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_sdk_date)
        .ok_or(VerifyError::BadDate)?;
    let skew = match now.duration_since(date) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > max_skew {
        return Err(VerifyError::Skew {
            skew_s: skew.as_secs(),
        });
    }
    let mut owned = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let values: Vec<String> = request
            .headers()
            .get_all(name.as_str())
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if values.is_empty() {
            return Err(VerifyError::MissingSignedHeader(name.clone()));
        }
        owned.push((name.as_str(), values.join(",")));
    }
    let refs: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let parts = sign_parts(&SignInput {
        method: request.method().as_str(),
        path: request.uri().path(),
        query: request.uri().query().unwrap_or(""),
        headers: &refs,
        body: request.body().as_ref(),
        access_key: &auth.access_key,
        secret_key: &secret,
    });
    let string_to_sign = parts.string_to_sign;
    let expected = hex::decode(&auth.signature).map_err(|_| VerifyError::Mismatch)?;
    let mut m = mac(&secret);
    m.update(string_to_sign.as_bytes());
    m.verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch)?;
    Ok(auth.access_key)
}

/// Formats a wall-clock time as `YYYYMMDDTHHMMSSZ` (UTC). Times before 1970
/// format as the epoch.
pub fn format_sdk_date(t: SystemTime) -> String {
    sdk_date_bytes(t).iter().map(|&b| char::from(b)).collect()
}

/// `YYYYMMDDTHHMMSSZ` as ASCII bytes, without allocating.
fn sdk_date_bytes(t: SystemTime) -> [u8; 16] {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let mut out = [0u8; 16];
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y.clamp(0, 9999) as u64);
    put(4, 2, u64::from(m));
    put(6, 2, u64::from(d));
    put(9, 2, rem / 3600);
    put(11, 2, (rem % 3600) / 60);
    put(13, 2, rem % 60);
    out[8] = b'T';
    out[15] = b'Z';
    out
}

/// Parses `YYYYMMDDTHHMMSSZ` (UTC).
pub fn parse_sdk_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59
    {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    if days < 0 {
        return None;
    }
    let secs = days as u64 * 86_400 + h * 3600 + mi * 60 + se;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Proleptic Gregorian calendar conversions (H. Hinnant's algorithms).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Vector {
        name: String,
        method: String,
        host: String,
        path: String,
        project_id: String,
        instance_id: String,
        ak: String,
        sk: String,
        headers_before_signing: std::collections::BTreeMap<String, String>,
        canonical_request: String,
        string_to_sign: String,
        authorization: String,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct VectorFile {
        #[allow(dead_code)]
        about: String,
        vectors: Vec<Vector>,
    }

    fn vectors() -> Vec<Vector> {
        let text = include_str!("../../tests/data/signing-vectors.json");
        let file: VectorFile =
            serde_json::from_str(text).expect("signing-vectors.json is malformed");
        assert!(
            !file.vectors.is_empty(),
            "signing-vectors.json has no vectors"
        );
        file.vectors
    }

    #[test]
    fn vendor_vectors_byte_for_byte() {
        let vs = vectors();
        assert_eq!(vs.len(), 3, "every vector in the file is checked");
        for v in &vs {
            let mut headers: Vec<(&str, &str)> = v
                .headers_before_signing
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            headers.push(("Host", &v.host));
            let parts = sign_parts(&SignInput {
                method: &v.method,
                path: &v.path,
                query: "",
                headers: &headers,
                body: b"",
                access_key: &v.ak,
                secret_key: &v.sk,
            });
            assert_eq!(parts.canonical_request, v.canonical_request, "{}", v.name);
            assert_eq!(parts.string_to_sign, v.string_to_sign, "{}", v.name);
            assert_eq!(parts.authorization, v.authorization, "{}", v.name);
            assert!(v.path.contains(&v.project_id) && v.path.contains(&v.instance_id));
        }
    }

    #[test]
    fn vendor_vectors_through_the_request_builder_and_verifier() {
        for v in vectors() {
            let date = &v.headers_before_signing["X-Sdk-Date"];
            let wall = parse_sdk_date(date).unwrap();
            let mut req = http::Request::builder()
                .method(v.method.as_str())
                .uri(format!("https://{}{}", v.host, v.path));
            for (k, val) in &v.headers_before_signing {
                req = req.header(k, val);
            }
            let mut req = req.body(Vec::new()).unwrap();
            sign_request(&mut req, &v.ak, &v.sk, wall);
            assert_eq!(
                req.headers()[AUTHORIZATION],
                v.authorization.as_str(),
                "{}",
                v.name
            );
            assert!(req.headers()[AUTHORIZATION].is_sensitive());
            let sk = v.sk.clone();
            let ak = v.ak.clone();
            let lookup = move |a: &str| (a == ak).then(|| sk.clone());
            assert_eq!(
                verify_request(&req, &lookup, wall, Duration::from_secs(900)),
                Ok(v.ak.clone())
            );
            // 16 minutes later the date is too old.
            assert!(matches!(
                verify_request(
                    &req,
                    &lookup,
                    wall + Duration::from_secs(960),
                    Duration::from_secs(900)
                ),
                Err(VerifyError::Skew { skew_s: 960 })
            ));
            // A tampered path fails.
            let mut bad = req.clone();
            *bad.uri_mut() = format!("https://{}{}x", v.host, v.path).parse().unwrap();
            assert_eq!(
                verify_request(&bad, &lookup, wall, Duration::from_secs(900)),
                Err(VerifyError::Mismatch)
            );
            // The wrong secret fails.
            assert_eq!(
                verify_request(
                    &req,
                    |_| Some("nope".to_owned()),
                    wall,
                    Duration::from_secs(900)
                ),
                Err(VerifyError::Mismatch)
            );
        }
    }

    #[test]
    fn canonical_uri_matches_vendor_rules() {
        assert_eq!(
            canonical_uri("/v1/p/instances/a%2Fb/status"),
            "/v1/p/instances/a/b/status/"
        );
        assert_eq!(
            canonical_uri("/v1/p/instances/a%20b/status"),
            "/v1/p/instances/a%20b/status/"
        );
        assert_eq!(
            canonical_uri("/v1/p/instances/%C3%BC/status/"),
            "/v1/p/instances/%C3%BC/status/"
        );
        assert_eq!(canonical_uri("/a~b_c.d-e"), "/a~b_c.d-e/");
        assert_eq!(canonical_uri("/x%25y"), "/x%25y/");
        assert_eq!(canonical_uri("/"), "/");
        // Invalid UTF-8 is replaced, as the vendor's Python unquote does.
        assert_eq!(canonical_uri("/%FF"), "/%EF%BF%BD/");
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=1"), "a=1&b=2");
        assert_eq!(canonical_query("a=x%20y&c"), "a=x%20y&c=");
    }

    #[test]
    fn underscore_headers_are_not_signed() {
        let parts = sign_parts(&SignInput {
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                ("Host", "h"),
                ("X_Odd", "1"),
                ("X-Sdk-Date", "20260101T000000Z"),
            ],
            body: b"",
            access_key: "AK",
            secret_key: "SK",
        });
        assert_eq!(parts.signed_headers, "host;x-sdk-date");
        assert!(!format!("{parts:?}").contains("Signature="));
    }

    #[test]
    fn authorization_header_parse() {
        assert!(AuthorizationHeader::parse("Bearer x").is_err());
        assert!(
            AuthorizationHeader::parse("SDK-HMAC-SHA256 Access=, SignedHeaders=a, Signature=b")
                .is_err()
        );
        assert!(AuthorizationHeader::parse("SDK-HMAC-SHA256 Access=a").is_err());
        let h = AuthorizationHeader::parse(
            "SDK-HMAC-SHA256 Access=a, SignedHeaders=host;x, Signature=ff",
        )
        .unwrap();
        assert_eq!(h.signed_headers, ["host", "x"]);
        assert!(!format!("{h:?}").contains("ff"));
    }

    #[test]
    fn sdk_date_known_values() {
        assert_eq!(format_sdk_date(UNIX_EPOCH), "19700101T000000Z");
        let t = parse_sdk_date("20261128T101500Z").unwrap();
        assert_eq!(format_sdk_date(t), "20261128T101500Z");
        assert_eq!(httpdate::fmt_http_date(t), "Sat, 28 Nov 2026 10:15:00 GMT");
        for bad in [
            "",
            "20261128T101500",
            "20261328T101500Z",
            "20260230T000000Z",
            "2026112xT101500Z",
            "20261128T246000Z",
            "+0261128T101500Z",
        ] {
            assert!(parse_sdk_date(bad).is_none(), "{bad}");
        }
        assert!(parse_sdk_date("20240229T000000Z").is_some());
        assert!(parse_sdk_date("21000229T000000Z").is_none());
    }

    proptest! {
        #[test]
        fn sdk_date_agrees_with_httpdate(secs in 0u64..253_402_300_799) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let ours = format_sdk_date(t);
            prop_assert_eq!(parse_sdk_date(&ours), Some(t));
            // Cross-check the calendar with an independent implementation.
            let http = httpdate::fmt_http_date(t);
            let back = httpdate::parse_http_date(&http).unwrap();
            prop_assert_eq!(back, t);
            let day: u32 = http[5..7].parse().unwrap();
            prop_assert_eq!(ours[6..8].parse::<u32>().unwrap(), day);
            prop_assert_eq!(&ours[9..11], &http[17..19]);
        }

        #[test]
        fn signing_is_deterministic_and_key_sensitive(
            path in "/[ -~]{0,40}",
            sk in "[!-~]{1,40}",
            date in 0u64..4_000_000_000,
        ) {
            let d = format_sdk_date(UNIX_EPOCH + Duration::from_secs(date));
            let headers = [("Host", "h:1"), ("X-Sdk-Date", d.as_str())];
            let input = SignInput { method: "GET", path: &path, query: "", headers: &headers, body: b"", access_key: "AK", secret_key: &sk };
            let a = sign_parts(&input);
            prop_assert_eq!(&a, &sign_parts(&input));
            let other = format!("{sk}x");
            let b = sign_parts(&SignInput { secret_key: &other, ..input });
            prop_assert_ne!(a.authorization, b.authorization);
            prop_assert!(a.canonical_request.lines().nth(1).unwrap().ends_with('/'));
        }
    }
}
