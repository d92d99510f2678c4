//! The IAM project lookup: the project id of a region, for AK/SK users who
//! did not set one.
//!
//! Owns the request (`GET /v3/projects?name={region}`, signed like every
//! AK/SK request, query included) and reading its answer: exactly one
//! project is the answer, anything else an error quoting `X-IAM-Trace-Id`.
//! Must not keep the result (the session caches it) nor send anything.

use std::time::{Duration, SystemTime};

use http::{Method, Response};
use serde::Deserialize;

use crate::credentials::Credentials;
use crate::endpoint::{Endpoint, Region};
use crate::error::{Error, ErrorKind};
use crate::ids::ProjectId;
use crate::machine::Attempt;
use crate::wire::request::{ACCEPT_JSON, X_SECURITY_TOKEN, header, side_request};
use crate::wire::response::snippet;
use crate::wire::signing::sign_request;

/// Timeout of the lookup request.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
const BODY_LIMIT: usize = 256 * 1024;
const TRACE_ID: &str = "x-iam-trace-id";

/// The lookup request for `region`, signed with `credentials` at `wall`
/// (the gateway's time, when a clock skew is known).
pub(crate) fn projects_request(
    iam: &Endpoint,
    region: &Region,
    credentials: &Credentials,
    wall: SystemTime,
    user_agent: &str,
) -> Result<Attempt, Error> {
    let Credentials::AkSk {
        access_key,
        secret_key,
        security_token,
    } = credentials
    else {
        return Err(Error::invalid_input(
            "the project id can be looked up only with AK/SK credentials: set the project id",
        ));
    };
    let path = format!("/v3/projects?name={region}");
    let mut a = side_request(iam, Method::GET, &path, user_agent, TIMEOUT, BODY_LIMIT)?;
    let h = a.request.headers_mut();
    h.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static(ACCEPT_JSON),
    );
    if let Some(st) = security_token {
        h.insert(
            X_SECURITY_TOKEN,
            header(st.expose(), "security token", true)?,
        );
    }
    sign_request(&mut a.request, access_key, secret_key.expose(), wall);
    if let Some(v) = a.request.headers_mut().get_mut(http::header::AUTHORIZATION) {
        v.set_sensitive(true);
    }
    Ok(a)
}

/// ` (X-IAM-Trace-Id …)` when IAM's answer carries one, else nothing: what
/// IAM's support asks for.
pub(crate) fn trace_note(r: &Response<Vec<u8>>) -> String {
    r.headers()
        .get(TRACE_ID)
        .and_then(|v| v.to_str().ok())
        .map(|t| format!(" (X-IAM-Trace-Id {})", snippet(t.as_bytes())))
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct Projects {
    projects: Vec<Project>,
}

#[derive(Deserialize)]
struct Project {
    id: String,
    #[serde(default)]
    name: String,
}

/// Reads the lookup's answer: the one project named `region`.
pub(crate) fn read_projects(
    iam: &Endpoint,
    region: &str,
    r: &Response<Vec<u8>>,
) -> Result<ProjectId, Error> {
    let trace = trace_note(r);
    let status = r.status();
    if !status.is_success() {
        let kind = ErrorKind::from_status(status);
        let body = snippet(r.body());
        let fix = match status.as_u16() {
            401 => ": check the AK/SK",
            403 => ": the credentials may not list projects; set the project id",
            _ => "",
        };
        return Err(Error::resolve(
            kind,
            format!(
                "IAM at {iam} answered the project lookup for {region} with HTTP {}{trace}: {body}{fix}",
                status.as_u16()
            ),
            None,
        ));
    }
    let parsed: Projects = serde_json::from_slice(r.body()).map_err(|_| {
        Error::resolve(
            ErrorKind::Decode,
            format!("IAM at {iam} answered the project lookup for {region} with a body that is not a project list{trace}"),
            None,
        )
    })?;
    let named: Vec<&Project> = parsed
        .projects
        .iter()
        .filter(|p| p.name == region)
        .collect();
    let list = |projects: &[&Project]| {
        let mut shown: Vec<String> = projects
            .iter()
            .take(10)
            .map(|p| {
                format!(
                    "{} ({})",
                    snippet(p.id.as_bytes()),
                    snippet(p.name.as_bytes())
                )
            })
            .collect();
        if projects.len() > 10 {
            shown.push(format!("and {} more", projects.len() - 10));
        }
        shown.join(", ")
    };
    match named.as_slice() {
        [one] => ProjectId::new(one.id.clone()).map_err(|e| {
            Error::resolve(
                ErrorKind::Decode,
                format!("IAM at {iam} returned a project id that cannot be used{trace}"),
                Some(e),
            )
        }),
        [] => {
            let all: Vec<&Project> = parsed.projects.iter().collect();
            let came = if all.is_empty() {
                "none came back".to_owned()
            } else {
                format!("it returned {}", list(&all))
            };
            Err(Error::resolve(
                ErrorKind::InvalidInput,
                format!(
                    "IAM at {iam} has no project named {region} for these credentials ({came}){trace}: set the project id, or check the region"
                ),
                None,
            ))
        }
        many => Err(Error::resolve(
            ErrorKind::InvalidInput,
            format!(
                "IAM at {iam} has {} projects named {region}: {}{trace}: set the project id to one of them",
                many.len(),
                list(many)
            ),
            None,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::signing::verify_request;
    use proptest::prelude::*;

    fn ep() -> Endpoint {
        Endpoint::parse("http://127.0.0.1:9").unwrap()
    }

    fn answer(status: u16, body: &str) -> Response<Vec<u8>> {
        Response::builder()
            .status(status)
            .header(TRACE_ID, "trace-77")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    #[test]
    fn the_request_is_signed_query_included() {
        let creds = Credentials::temporary("AK1", "SK1", "ST1").unwrap();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let east = Region::new("cn-east-3").unwrap();
        let a = projects_request(&ep(), &east, &creds, wall, "ua/1").unwrap();
        assert_eq!(
            a.request.uri().to_string(),
            "http://127.0.0.1:9/v3/projects?name=cn-east-3"
        );
        assert_eq!(a.request.headers()[X_SECURITY_TOKEN], "ST1");
        let lookup = |ak: &str| (ak == "AK1").then(|| "SK1".to_owned());
        verify_request(&a.request, lookup, wall, Duration::from_secs(900)).unwrap();
        let mut tampered = a.request;
        *tampered.uri_mut() = "http://127.0.0.1:9/v3/projects?name=cn-south-1"
            .parse()
            .unwrap();
        assert!(verify_request(&tampered, lookup, wall, Duration::from_secs(900)).is_err());
        assert!(
            projects_request(&ep(), &east, &Credentials::token("t").unwrap(), wall, "ua").is_err()
        );
        assert!(Region::new("cn east?3").is_err());
    }

    #[test]
    fn answers() {
        let one = r#"{"projects":[{"id":"p-1","name":"cn-east-3","enabled":true}]}"#;
        assert_eq!(
            read_projects(&ep(), "cn-east-3", &answer(200, one))
                .unwrap()
                .as_str(),
            "p-1"
        );
        let zero = r#"{"projects":[]}"#;
        let e = read_projects(&ep(), "cn-east-3", &answer(200, zero)).unwrap_err();
        assert!(
            e.to_string().contains("trace-77") && e.to_string().contains("no project"),
            "{e}"
        );
        let two =
            r#"{"projects":[{"id":"p-1","name":"cn-east-3"},{"id":"p-2","name":"cn-east-3"}]}"#;
        let e = read_projects(&ep(), "cn-east-3", &answer(200, two))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("p-1") && e.contains("p-2") && e.contains("trace-77"),
            "{e}"
        );
        let e = read_projects(
            &ep(),
            "cn-east-3",
            &answer(401, r#"{"error":{"message":"bad sig"}}"#),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.to_string().contains("trace-77"));
        assert_eq!(
            read_projects(&ep(), "cn-east-3", &answer(200, "<html>"))
                .unwrap_err()
                .kind(),
            ErrorKind::Decode
        );
    }

    proptest! {
        #[test]
        fn any_answer(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = Response::builder().status(status).body(body).unwrap();
            let _ = read_projects(&ep(), "cn-east-3", &r);
        }
    }
}
