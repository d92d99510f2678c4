//! Request building: one `GET …/status` as an `http::Request`, authenticated.
//!
//! Owns the URI, the fixed headers (`Host`, `Accept`, `User-Agent`) and the
//! auth headers: `X-Auth-Token`, or `X-Project-Id` / `X-Security-Token`
//! signed with SDK-HMAC-SHA256 at the wall time passed in. The headers and
//! the project's part of the path are prepared once per credentials
//! generation (the session keeps them) and cloned per request. Must not
//! read a clock, hold live state, nor send anything.

use std::time::SystemTime;

use http::header::{ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};

use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ids::{InstanceId, ProjectId};
use crate::machine::Attempt;
use crate::wire::signing::{SDK_DATE_NAME, SigningTemplate};

/// Header carrying the IAM token.
pub const X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
/// Header carrying the project id with AK/SK.
pub const X_PROJECT_ID: HeaderName = HeaderName::from_static("x-project-id");
/// Header carrying the security token of temporary credentials.
pub const X_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-security-token");

/// The `Accept` header value of every status request.
pub(crate) const ACCEPT_JSON: &str = "application/json";

/// Every header of a status request, validated once at build time and cloned
/// per request; with AK/SK, the signer that completes them.
pub(crate) struct PreparedHeaders {
    /// `Host`, `Accept`, `User-Agent` and the auth headers, in wire order.
    /// With AK/SK, `X-Sdk-Date` and `Authorization` hold empty placeholders
    /// (so that a clone has room for them) which the signer replaces.
    pub(crate) headers: HeaderMap,
    pub(crate) signer: Option<Box<SigningTemplate>>,
    /// `{prefix}/v1/{project}/instances/`, encoded once.
    pub(crate) instances_path: String,
}

/// A request of the config's session (server metadata, IAM) to `path`
/// (with its query) under `endpoint`: `Host` and `User-Agent` set, one
/// attempt with `timeout` and `body_limit`.
pub(crate) fn side_request(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    user_agent: &str,
    timeout: std::time::Duration,
    body_limit: usize,
) -> Result<Attempt, Error> {
    let mut request = Request::new(Vec::new());
    *request.method_mut() = method;
    *request.uri_mut() = endpoint.uri_under_prefix(path)?;
    let h = request.headers_mut();
    h.insert(HOST, header(endpoint.host_header(), "host", false)?);
    h.insert(USER_AGENT, header(user_agent, "user agent", false)?);
    Ok(Attempt::new(request, timeout, body_limit, 1))
}

pub(crate) fn header(value: &str, what: &str, sensitive: bool) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_input(format!("{what} is not a valid header value")))?;
    v.set_sensitive(sensitive);
    Ok(v)
}

impl PreparedHeaders {
    /// The status request for `id` under `endpoint`, signed (with AK/SK)
    /// at `wall`.
    pub(crate) fn status_request(
        &self,
        endpoint: &Endpoint,
        id: &InstanceId,
        wall: SystemTime,
    ) -> Result<Request<Vec<u8>>, Error> {
        let uri = endpoint.status_uri_under(&self.instances_path, id)?;
        let mut req = Request::new(Vec::new());
        *req.method_mut() = Method::GET;
        *req.uri_mut() = uri;
        *req.headers_mut() = self.headers.clone();
        if let Some(signer) = &self.signer {
            signer.sign(&mut req, wall);
        }
        Ok(req)
    }

    pub(crate) fn new(
        endpoint: &Endpoint,
        project_id: &ProjectId,
        credentials: &Credentials,
        user_agent: &str,
    ) -> Result<Self, Error> {
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(HOST, header(endpoint.host_header(), "host", false)?);
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_JSON));
        headers.insert(USER_AGENT, header(user_agent, "user agent", false)?);
        let signer = match credentials {
            Credentials::Token(t) => {
                headers.insert(X_AUTH_TOKEN, header(t.expose(), "token", true)?);
                None
            }
            Credentials::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                headers.insert(
                    X_PROJECT_ID,
                    header(
                        project_id.as_str(),
                        "project id (sent as X-Project-Id)",
                        false,
                    )?,
                );
                if let Some(st) = security_token {
                    headers.insert(
                        X_SECURITY_TOKEN,
                        header(st.expose(), "security token", true)?,
                    );
                }
                headers.insert(SDK_DATE_NAME, HeaderValue::from_static(""));
                headers.insert(AUTHORIZATION, HeaderValue::from_static(""));
                Some(Box::new(SigningTemplate::new(
                    access_key,
                    secret_key.expose(),
                    &headers,
                )))
            }
        };
        Ok(Self {
            headers,
            signer,
            instances_path: endpoint.instances_path(project_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::signing::{parse_sdk_date, verify_request};
    use crate::{Config, Credentials, Endpoint, ProjectId, Session, build_status_request};
    use http::header::{ACCEPT, HOST};
    use std::time::Duration;

    const MARK: &str = "MARKER-SECRET-9913";

    fn config(creds: Credentials) -> Session {
        Session::new(
            Config::builder()
                .endpoint(Endpoint::parse("http://127.0.0.1:8080").unwrap())
                .project_id(ProjectId::new("project-local").unwrap())
                .credentials(creds)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn token_request_whole() {
        let c = config(Credentials::token(MARK).unwrap());
        let id = InstanceId::new("ins-1").unwrap();
        let req = build_status_request(&c, &id, SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:8080/v1/project-local/instances/ins-1/status"
        );
        let mut names: Vec<_> = req.headers().keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "host", "user-agent", "x-auth-token"]);
        assert_eq!(req.headers()[HOST], "127.0.0.1:8080");
        assert_eq!(req.headers()[ACCEPT], "application/json");
        assert!(req.headers()[X_AUTH_TOKEN].is_sensitive());
        assert!(req.body().is_empty());
        assert!(!format!("{req:?}").contains(MARK));
    }

    #[test]
    fn aksk_request_verifies() {
        let c = config(Credentials::temporary("AK9", MARK, "sec-tok").unwrap());
        let id = InstanceId::new("a/b c%ü").unwrap();
        let wall = parse_sdk_date("20261128T101500Z").unwrap();
        let req = build_status_request(&c, &id, wall).unwrap();
        assert_eq!(
            req.uri().path(),
            "/v1/project-local/instances/a%2Fb%20c%25%C3%BC/status"
        );
        assert_eq!(req.headers()["x-sdk-date"], "20261128T101500Z");
        assert_eq!(req.headers()[X_PROJECT_ID], "project-local");
        assert!(req.headers()[X_SECURITY_TOKEN].is_sensitive());
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.contains(
                "SignedHeaders=accept;host;user-agent;x-project-id;x-sdk-date;x-security-token"
            ),
            "{auth}"
        );
        let ok = verify_request(
            &req,
            |ak| (ak == "AK9").then(|| MARK.to_owned()),
            wall,
            Duration::from_secs(900),
        );
        assert_eq!(ok.as_deref(), Ok("AK9"));
        assert!(!format!("{req:?}").contains(MARK));
    }

    fn authorization(req: &Request<Vec<u8>>) -> String {
        req.headers()["authorization"].to_str().unwrap().to_owned()
    }

    proptest::proptest! {
        /// The prepared signer gives byte for byte what the general signer
        /// gives for the same request, for any id, key, token, suffix and time.
        #[test]
        fn prepared_signer_matches_the_general_one(
            id in "\\PC{1,24}",
            ak in "[A-Z0-9]{1,24}",
            sk in "[ -~]{1,48}",
            token in proptest::option::of("[!-~]{1,40}"),
            suffix in proptest::option::of("[a-z0-9/.]{1,12}"),
            secs in 0u64..8_000_000_000,
        ) {
            let Ok(id) = InstanceId::new(id) else { return Ok(()) };
            let creds = match &token {
                Some(t) => Credentials::temporary(ak.clone(), sk.clone(), t.clone()),
                None => Credentials::ak_sk(ak.clone(), sk.clone()),
            };
            let Ok(creds) = creds else { return Ok(()) };
            let mut b = Config::builder()
                .endpoint(Endpoint::from_region("cn-east-3").unwrap())
                .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9").unwrap())
                .credentials(creds);
            if let Some(s) = &suffix {
                b = b.user_agent_suffix(s.clone());
            }
            let c = Session::new(b.build().unwrap());
            let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            let prepared = build_status_request(&c, &id, wall).unwrap();

            let mut general = prepared.clone();
            general.headers_mut().remove("authorization");
            general.headers_mut().remove("x-sdk-date");
            crate::wire::signing::sign_request(&mut general, &ak, &sk, wall);
            proptest::prop_assert_eq!(authorization(&prepared), authorization(&general));
            proptest::prop_assert_eq!(&prepared.headers()["x-sdk-date"], &general.headers()["x-sdk-date"]);
            proptest::prop_assert_eq!(prepared.headers().len(), general.headers().len());
            let verified = verify_request(
                &prepared,
                |k| (k == ak).then(|| sk.clone()),
                wall,
                Duration::from_secs(900),
            );
            proptest::prop_assert_eq!(verified.as_deref(), Ok(ak.as_str()));
        }
    }
}
