//! OIDC federation: temporary credentials from IAM for a workload's id
//! token (a Kubernetes pod's projected service-account token on CCE).
//!
//! Owns reading the id-token file's content (trimmed, checked, never
//! echoed), the two unsigned IAM exchanges (`POST
//! /v3.0/OS-AUTH/id-token/tokens` for a subject token, then `POST
//! /v3.0/OS-CREDENTIAL/securitytokens` for temporary AK/SK and security
//! token) and reading their answers, with errors that quote IAM's
//! `error_msg` and `X-IAM-Trace-Id`. Must not read the file itself (the
//! client's reader does, when the session asks), keep state or decide when
//! to ask (the session does), nor send anything.

use std::path::Path;
use std::time::{Duration, SystemTime};

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Response};

use crate::credentials::{Credentials, Secret};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Setting};
use crate::identity::iam::trace_note;
use crate::identity::metadata::{Issued, read_credential};
use crate::machine::Attempt;
use crate::wire::request::{ACCEPT_JSON, header, side_request};
use crate::wire::response::{error_code_and_message, snippet};

/// The vendor's global IAM endpoint, for OIDC without a region or an IAM
/// endpoint set.
pub const GLOBAL_IAM_ENDPOINT: &str = "https://iam.myhuaweicloud.com";
/// The lifetime asked for the temporary credentials, as the vendor's SDKs
/// ask.
pub(crate) const DURATION_SECONDS: u64 = 21_600;
/// Timeout of each exchange.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest id-token file read (a service-account token is a few KiB).
pub(crate) const ID_TOKEN_FILE_LIMIT: usize = 1 << 20;
const BODY_LIMIT: usize = 64 * 1024;
const ID_TOKEN_PATH: &str = "/v3.0/OS-AUTH/id-token/tokens";
const SECURITY_TOKEN_PATH: &str = "/v3.0/OS-CREDENTIAL/securitytokens";
const X_IDP_ID: &str = "x-idp-id";
const X_SUBJECT_TOKEN: &str = "x-subject-token";
const JSON_UTF8: &str = "application/json;charset=UTF-8";

/// The id token in the bytes read from `path` (at most
/// [`ID_TOKEN_FILE_LIMIT`] and one more), trimmed; else an error naming
/// the file (never its content).
pub(crate) fn id_token(path: &Path, bytes: &[u8]) -> Result<Secret, Error> {
    let fix = "mount the workload's service-account token there (a projected volume) or point HUAWEICLOUD_SDK_ID_TOKEN_FILE at it";
    let bad = |what: &str| {
        Error::invalid_setting(
            format!("the id-token file {} {what}: {fix}", path.display()),
            vec![Setting::IdTokenFile],
        )
    };
    if bytes.len() > ID_TOKEN_FILE_LIMIT {
        return Err(bad("is larger than 1 MiB, so not an id token"));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(bad("is not UTF-8 text"));
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(bad("is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad("holds characters an id token cannot have"));
    }
    Ok(Secret::new(token))
}

/// Why the id-token file at `path` could not be read, as an error that
/// names it.
pub(crate) fn unreadable(path: &Path, e: &std::io::Error) -> Error {
    let what = if e.kind() == std::io::ErrorKind::NotFound {
        "does not exist".to_owned()
    } else {
        format!("cannot be read ({e})")
    };
    Error::invalid_setting(
        format!(
            "the id-token file {} {what}: mount the workload's service-account token there (a projected volume) or point HUAWEICLOUD_SDK_ID_TOKEN_FILE at it",
            path.display()
        ),
        vec![Setting::IdTokenFile],
    )
}

fn json_post(
    iam: &Endpoint,
    path: &str,
    body: &serde_json::Value,
    ua: &str,
) -> Result<Attempt, Error> {
    let mut a = side_request(iam, Method::POST, path, ua, TIMEOUT, BODY_LIMIT)?;
    let h = a.request.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    h.insert(http::header::ACCEPT, HeaderValue::from_static(ACCEPT_JSON));
    *a.request.body_mut() = body.to_string().into_bytes();
    Ok(a)
}

/// Exchange 1 (unsigned): the id token for a subject token of identity
/// provider `idp_id`.
pub(crate) fn id_token_request(
    iam: &Endpoint,
    idp_id: &str,
    id_token: &Secret,
    user_agent: &str,
) -> Result<Attempt, Error> {
    let body = serde_json::json!({"auth": {"id_token": {"id": id_token.expose()}}});
    let mut a = json_post(iam, ID_TOKEN_PATH, &body, user_agent)?;
    a.request
        .headers_mut()
        .insert(X_IDP_ID, header(idp_id, "identity provider id", false)?);
    Ok(a)
}

/// Exchange 2 (unsigned): the subject token for temporary credentials
/// living [`DURATION_SECONDS`].
pub(crate) fn security_token_request(
    iam: &Endpoint,
    subject: &Secret,
    user_agent: &str,
) -> Result<Attempt, Error> {
    let body = serde_json::json!({"auth": {"identity": {
        "methods": ["token"],
        "token": {"id": subject.expose(), "duration_seconds": DURATION_SECONDS},
    }}});
    json_post(iam, SECURITY_TOKEN_PATH, &body, user_agent)
}

/// IAM's refusal of `what`, quoting its `error_msg` (or a snippet of the
/// body) and `X-IAM-Trace-Id`, with the fix for the usual causes.
fn refused(iam: &Endpoint, what: &str, r: &Response<Vec<u8>>) -> Error {
    let status = r.status();
    let (code, msg) = error_code_and_message(r.body());
    let said = match (code, msg) {
        (Some(c), Some(m)) => format!(": {c}: {m}"),
        (None, Some(m)) => format!(": {m}"),
        (Some(c), None) => format!(": {c}"),
        (None, None) => {
            let s = snippet(r.body());
            if s.is_empty() {
                String::new()
            } else {
                format!(": {s}")
            }
        }
    };
    let fix = match status.as_u16() {
        400 | 401 | 403 | 404 => {
            "; check the identity provider id (HUAWEICLOUD_SDK_IDP_ID), its OIDC settings and mapping rules in IAM, and that the token file holds the workload's current token"
        }
        _ => "",
    };
    Error::resolve(
        ErrorKind::from_status(status),
        format!(
            "IAM at {iam} refused {what} with HTTP {}{}{said}{fix}",
            status.as_u16(),
            trace_note(r),
        ),
        None,
    )
}

/// Whether retrying a refused exchange cannot help.
pub(crate) fn is_final(e: &Error) -> bool {
    !matches!(
        e.kind(),
        ErrorKind::Server | ErrorKind::RateLimited | ErrorKind::Transport | ErrorKind::Timeout
    )
}

/// Reads exchange 1's answer: the subject token from `X-Subject-Token`.
pub(crate) fn read_subject_token(iam: &Endpoint, r: &Response<Vec<u8>>) -> Result<Secret, Error> {
    let what = "the id token";
    if !r.status().is_success() {
        return Err(refused(iam, what, r));
    }
    match r
        .headers()
        .get(X_SUBJECT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(t) => Ok(Secret::new(t)),
        None => Err(Error::resolve(
            ErrorKind::Decode,
            format!(
                "IAM at {iam} accepted the id token with HTTP {} but sent no X-Subject-Token{}",
                r.status().as_u16(),
                trace_note(r)
            ),
            None,
        )),
    }
}

/// Reads exchange 2's answer, received at local time `now`: the temporary
/// credentials and when they expire.
pub(crate) fn read_security_token(
    iam: &Endpoint,
    r: &Response<Vec<u8>>,
    now: SystemTime,
) -> Result<Issued, Error> {
    if !r.status().is_success() {
        return Err(refused(iam, "the subject token", r));
    }
    let issued = read_credential(r, now).and_then(|issued| {
        // Without its security token, the key pair signs every call into
        // a 401: not credentials at all.
        match &issued.credentials {
            Credentials::AkSk {
                security_token: Some(_),
                ..
            } => Ok(issued),
            _ => Err("there is no securitytoken"),
        }
    });
    issued.map_err(|why| {
        Error::resolve(
            ErrorKind::Decode,
            format!(
                "IAM at {iam} sent temporary credentials that cannot be used ({why}){}",
                trace_note(r)
            ),
            None,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;

    const MARK: &str = "MARKER-ID-TOKEN-5521";

    fn iam() -> Endpoint {
        Endpoint::parse("http://127.0.0.1:9").unwrap()
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Vec<u8>> {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn the_file_is_trimmed_and_checked_without_echoing_it() {
        let p = Path::new("/var/run/token");
        assert_eq!(
            id_token(p, format!("  {MARK}\r\n").as_bytes())
                .unwrap()
                .expose(),
            MARK
        );
        for bad in [
            Vec::new(),
            b" \n\t".to_vec(),
            format!("{MARK}\u{7}x").into_bytes(),
            vec![0xff, 0xfe],
            vec![b'a'; ID_TOKEN_FILE_LIMIT + 1],
        ] {
            let e = id_token(p, &bad).unwrap_err();
            let text = format!("{e} {e:?}");
            assert!(text.contains("/var/run/token"), "{text}");
            assert!(!text.contains(MARK), "{text}");
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert_eq!(e.settings(), &[Setting::IdTokenFile]);
        }
        let gone = unreadable(p, &std::io::ErrorKind::NotFound.into());
        assert!(
            gone.to_string().contains("/var/run/token does not exist"),
            "{gone}"
        );
    }

    #[test]
    fn the_exchanges_are_the_vendors() {
        let a = id_token_request(&iam(), "idp-1", &Secret::new(MARK), "ua/1").unwrap();
        assert_eq!(a.request.method(), Method::POST);
        assert_eq!(
            a.request.uri().to_string(),
            "http://127.0.0.1:9/v3.0/OS-AUTH/id-token/tokens"
        );
        assert_eq!(a.request.headers()["x-idp-id"], "idp-1");
        assert_eq!(a.request.headers()["content-type"], JSON_UTF8);
        assert!(!a.request.headers().contains_key("authorization"));
        let shown = format!("{a:?}");
        assert!(
            !shown.contains(MARK) && shown.contains("body_bytes"),
            "{shown}"
        );
        let body: serde_json::Value = serde_json::from_slice(a.request.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"auth": {"id_token": {"id": MARK}}})
        );

        let a = security_token_request(&iam(), &Secret::new("subj"), "ua/1").unwrap();
        assert_eq!(a.request.uri().path(), "/v3.0/OS-CREDENTIAL/securitytokens");
        let body: serde_json::Value = serde_json::from_slice(a.request.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"auth": {"identity": {"methods": ["token"], "token": {"id": "subj", "duration_seconds": 21600}}}})
        );
    }

    #[test]
    fn answers_are_read_and_refusals_quoted() {
        let ok = answer(
            201,
            &[("x-subject-token", "subj-1")],
            r#"{"token":{"expires_at":"2026-12-03T10:00:00Z"}}"#,
        );
        assert_eq!(read_subject_token(&iam(), &ok).unwrap().expose(), "subj-1");
        let none = answer(201, &[], "{}");
        assert_eq!(
            read_subject_token(&iam(), &none).unwrap_err().kind(),
            ErrorKind::Decode
        );

        let refusal = answer(
            401,
            &[("x-iam-trace-id", "trace-9")],
            r#"{"error_msg":"The id token is invalid.","error_code":"IAM.0101"}"#,
        );
        let e = read_subject_token(&iam(), &refusal).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let text = e.to_string();
        assert!(text.contains("The id token is invalid."), "{text}");
        assert!(text.contains("X-IAM-Trace-Id trace-9"), "{text}");
        assert!(is_final(&e));
        let busy = read_security_token(&iam(), &answer(503, &[], "busy"), SystemTime::UNIX_EPOCH)
            .unwrap_err();
        assert!(!is_final(&busy));

        let creds = answer(
            201,
            &[],
            r#"{"credential":{"access":"AK1","secret":"SK1","securitytoken":"ST1","expires_at":"2026-12-03T10:00:00.000000Z"}}"#,
        );
        let issued = read_security_token(&iam(), &creds, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(
            issued.credentials,
            Credentials::temporary("AK1", "SK1", "ST1").unwrap()
        );
        assert_eq!(
            humantime::format_rfc3339_seconds(issued.expires).to_string(),
            "2026-12-03T10:00:00Z"
        );
        // Without a security token (missing or empty) the pair is no
        // credentials: a decode error that says so.
        for st in ["", r#","securitytoken":"""#] {
            let body = format!(
                r#"{{"credential":{{"access":"AK1","secret":"SK1"{st},"expires_at":"2026-12-03T10:00:00Z"}}}}"#
            );
            let e = read_security_token(&iam(), &answer(201, &[], &body), SystemTime::UNIX_EPOCH)
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Decode, "{body}");
            assert!(e.to_string().contains("securitytoken"), "{e}");
        }
    }
}
