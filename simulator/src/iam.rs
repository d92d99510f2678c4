//! The IAM project lookup, `GET /v3/projects?name={region}`, as AK/SK
//! users' SDKs call it to find their project id.
//!
//! Owns the project list ([`IamProject`]), its validation, the query's
//! `name` filter and the IAM-style bodies (projects, and
//! `{"error": {"code", "title", "message"}}` errors). Must not
//! authenticate (the [`Simulator`](crate::Simulator) does, exactly as for
//! the status call) nor read a clock.

use clouddc_core::http::{HeaderName, HeaderValue, StatusCode, header::ALLOW};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::reply::Reply;

/// The path of the project lookup.
pub const PROJECTS_PATH: &str = "/v3/projects";
/// The region of the default project.
pub const DEFAULT_REGION: &str = "cn-east-3";
/// The `domain_id` of projects given without one.
pub const DEFAULT_DOMAIN_ID: &str = "d0a1b2c3d4e5f60718293a4b5c6d7e8f";
/// The response header carrying IAM's trace id, on every IAM answer.
pub const X_IAM_TRACE_ID: HeaderName = HeaderName::from_static("x-iam-trace-id");
/// The most projects the list may hold.
const MAX_PROJECTS: usize = 1000;

fn yes() -> bool {
    true
}

fn default_domain() -> String {
    DEFAULT_DOMAIN_ID.to_owned()
}

/// A project IAM lists.
///
/// JSON: `{"id": "...", "name": "cn-east-3", "domain_id"?: "...", "enabled"?: true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamProject {
    /// The project id.
    pub id: String,
    /// Its name: the region, such as `cn-east-3` (or a sub-project's
    /// name, such as `cn-east-3_test`).
    pub name: String,
    /// The account's domain id (default [`DEFAULT_DOMAIN_ID`]).
    #[serde(default = "default_domain")]
    pub domain_id: String,
    /// Whether it is enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl IamProject {
    /// An enabled project `id` named `name` in the default domain.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            domain_id: default_domain(),
            enabled: true,
        }
    }

    /// In this domain.
    pub fn with_domain_id(mut self, domain_id: impl Into<String>) -> Self {
        self.domain_id = domain_id.into();
        self
    }

    /// Enabled or not.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

fn printable(what: &str, v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        Err(format!(
            "{what} {v:?} is empty, longer than 256 bytes or has control characters"
        ))
    } else {
        Ok(())
    }
}

/// Checks a project list; the message names the project.
pub(crate) fn validate(projects: &[IamProject]) -> Result<(), String> {
    if projects.len() > MAX_PROJECTS {
        return Err(format!(
            "{} IAM projects given; at most {MAX_PROJECTS}",
            projects.len()
        ));
    }
    for (i, p) in projects.iter().enumerate() {
        printable(&format!("IAM project {i}: id"), &p.id)?;
        printable(&format!("IAM project {i}: name"), &p.name)?;
        printable(&format!("IAM project {i}: domain_id"), &p.domain_id)?;
    }
    Ok(())
}

/// Checks a region name such as `cn-east-3`, by the core's one rule
/// ([`clouddc_core::Region`]).
pub(crate) fn validate_region(region: &str) -> Result<(), String> {
    clouddc_core::Region::new(region).map(drop).map_err(|e| {
        e.to_string()
            .trim_start_matches("invalid input: ")
            .to_owned()
    })
}

/// The `name` filter of a query (`None`: every project); the last `name`
/// wins; other parameters are ignored, as IAM ignores filters it does not
/// need here.
fn name_filter(query: Option<&str>) -> Result<Option<String>, String> {
    let mut name = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == "name" {
            let v = percent_decode_str(&v.replace('+', " "))
                .decode_utf8()
                .map_err(|_| "the name parameter is not UTF-8 once decoded".to_owned())?
                .into_owned();
            name = Some(v);
        }
    }
    Ok(name)
}

/// An IAM-style error: `{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    let mut r = Reply::json(
        status,
        &json!({
            "error": {
                "code": status.as_u16(),
                "title": status.canonical_reason().unwrap_or("Error"),
                "message": message.into(),
            }
        }),
    );
    if status == StatusCode::METHOD_NOT_ALLOWED {
        r.headers.insert(ALLOW, HeaderValue::from_static("GET"));
    }
    r
}

/// The answer to an authenticated lookup: the projects named as the query
/// asks, in list order.
pub(crate) fn projects(list: &[IamProject], query: Option<&str>, base: &str) -> Reply {
    let name = match name_filter(query) {
        Ok(n) => n,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let shown: Vec<_> = list
        .iter()
        .filter(|p| name.as_ref().is_none_or(|n| *n == p.name))
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "domain_id": p.domain_id,
                "parent_id": p.domain_id,
                "enabled": p.enabled,
                "is_domain": false,
                "description": "",
                "links": {"self": format!("{base}{PROJECTS_PATH}/{}", p.id)},
            })
        })
        .collect();
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    Reply::json(
        StatusCode::OK,
        &json!({
            "projects": shown,
            "links": {"self": format!("{base}{PROJECTS_PATH}{query}"), "previous": null, "next": null},
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(r: &Reply) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn the_name_filter_is_decoded_and_the_last_wins() {
        assert_eq!(name_filter(None), Ok(None));
        assert_eq!(name_filter(Some("")), Ok(None));
        assert_eq!(
            name_filter(Some("name=cn-east-3")),
            Ok(Some("cn-east-3".into()))
        );
        assert_eq!(
            name_filter(Some("name=a%5Fb&x=1&name=c")),
            Ok(Some("c".into()))
        );
        assert_eq!(name_filter(Some("name=a%5Fb")), Ok(Some("a_b".into())));
        assert_eq!(name_filter(Some("name")), Ok(Some(String::new())));
        assert!(name_filter(Some("name=%FF")).is_err());
    }

    #[test]
    fn projects_are_filtered_by_name() {
        let list = vec![
            IamProject::new("p1", "cn-east-3"),
            IamProject::new("p2", "cn-east-3_dev").with_enabled(false),
            IamProject::new("p3", "cn-east-3").with_domain_id("dom"),
        ];
        let r = projects(&list, Some("name=cn-east-3"), "http://127.0.0.1:1");
        assert_eq!(r.status, StatusCode::OK);
        let v = body(&r);
        let ids: Vec<_> = v["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].clone())
            .collect();
        assert_eq!(ids, ["p1", "p3"]);
        assert_eq!(v["projects"][1]["domain_id"], "dom");
        assert_eq!(
            v["projects"][0]["links"]["self"],
            "http://127.0.0.1:1/v3/projects/p1"
        );
        assert_eq!(
            body(&projects(&list, None, ""))["projects"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            body(&projects(&list, Some("name=nowhere"), ""))["projects"],
            json!([])
        );
        assert_eq!(
            projects(&list, Some("name=%FF"), "").status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn validation() {
        assert!(validate(&[IamProject::new("p", "cn-east-3")]).is_ok());
        assert!(validate(&[]).is_ok());
        assert!(
            validate(&[IamProject::new("", "r")])
                .unwrap_err()
                .contains("project 0: id")
        );
        assert!(validate(&[IamProject::new("p", "a\nb")]).is_err());
        assert!(validate_region("cn-east-3").is_ok());
        for bad in ["", "CN", "cn_east", "x".repeat(65).as_str()] {
            assert!(validate_region(bad).is_err(), "{bad}");
        }
        let p: IamProject = serde_json::from_str(r#"{"id":"p","name":"r"}"#).unwrap();
        assert_eq!(p, IamProject::new("p", "r"));
    }

    proptest! {
        /// Every project the filter keeps has the name asked for, and none
        /// with that name is left out.
        #[test]
        fn filtering_keeps_exactly_the_named(names in proptest::collection::vec("[a-c]{1,2}", 0..8), asked in "[a-c]{1,2}") {
            let list: Vec<_> = names.iter().enumerate().map(|(i, n)| IamProject::new(format!("p{i}"), n.clone())).collect();
            let v = body(&projects(&list, Some(&format!("name={asked}")), ""));
            let got: Vec<String> = v["projects"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
            let want: Vec<String> = list.iter().filter(|p| p.name == asked).map(|p| p.id.clone()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
