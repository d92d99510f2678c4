//! Records: the JSON Lines records of `status` and `wait` (and the failure
//! object `watch` shares), and the table for people.
//!
//! Owns field names, the failure record, and column layout. Must not write
//! anything (the caller prints what is built here through `stdio`) nor
//! decide exit codes beyond what a record says (each command does).

use std::time::Duration;

use clouddc_core::ceil_secs;
use clouddc_core::{Error, ErrorStatus, InstanceStatus, WaitOutcome, WaitReport};
use serde::Serialize;

use crate::live::Live;
use crate::text;

/// The columns of a server message in the table; longer ones are cut at a
/// word boundary.
const MESSAGE_COLUMNS: usize = 200;

/// Why a query failed, as scripts see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: &'static str,
    pub(crate) http_status: Option<u16>,
    pub(crate) error_code: Option<String>,
    pub(crate) error_msg: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) retry_after_s: Option<u64>,
    /// The quota a 429 of the gateway's quoted: `{"limit": N, "window_s": S}`.
    pub(crate) throttle: Option<Quota>,
    /// For 401 and 403: where the credentials came from (as `config`
    /// shows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) credential_source: Option<String>,
    /// For 401 and 403: the project id the request was for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) project_id: Option<String>,
}

/// A gateway quota as scripts see it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub(crate) struct Quota {
    pub(crate) limit: u32,
    pub(crate) window_s: u64,
}

impl Failure {
    pub(crate) fn from_error(e: &Error) -> Self {
        let error_msg = match e {
            // The request id has a field of its own.
            Error::Decode(d) => {
                let mut m = format!("{} (body starts {:?})", d.reason(), d.snippet());
                if let Some(cause) = std::error::Error::source(&**d) {
                    m.push_str(&format!(": {cause}"));
                }
                Some(m)
            }
            _ => e.error_msg().map(str::to_owned).or_else(|| Some(chain(e))),
        };
        Self {
            kind: e.kind().as_str(),
            http_status: e.http_status().map(|s| s.as_u16()),
            error_code: e.error_code().map(str::to_owned),
            error_msg,
            request_id: e.request_id().map(str::to_owned),
            retry_after_s: e.retry_after().map(ceil_secs),
            throttle: e.throttle().map(|t| Quota {
                limit: t.limit(),
                window_s: ceil_secs(t.window()),
            }),
            credential_source: None,
            project_id: None,
        }
    }

    /// Adds, to a 401 or 403, who asked: the credentials' source and the
    /// project id.
    pub(crate) fn identify(&mut self, live: &Live) {
        if matches!(self.kind, "unauthorized" | "forbidden") {
            let who = live.who();
            self.credential_source = Some(who.credential_source);
            self.project_id = who.project_id;
        }
    }
}

impl Record {
    /// [`Failure::identify`] on this record's failure, if any.
    pub(crate) fn identify(mut self, live: &Live) -> Self {
        if let Some(f) = &mut self.failure {
            f.identify(live);
        }
        self
    }
}

/// One instance's line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) ok: bool,
    pub(crate) state: Option<String>,
    pub(crate) operation_state: Option<String>,
    pub(crate) error: Option<ErrorStatus>,
    pub(crate) failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) polls: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) elapsed_ms: Option<u64>,
}

impl Record {
    fn with_status(id: &str, ok: bool, status: Option<&InstanceStatus>) -> Self {
        Self {
            id: id.to_owned(),
            ok,
            state: status.map(|s| s.state.to_string()),
            operation_state: status
                .and_then(|s| s.operation_state.as_ref().map(ToString::to_string)),
            error: status.and_then(|s| s.error.clone()),
            failure: None,
            outcome: None,
            polls: None,
            elapsed_ms: None,
        }
    }

    /// The record of a status query.
    pub(crate) fn from_status(id: &str, result: &Result<InstanceStatus, Error>) -> Self {
        match result {
            Ok(s) => Self::with_status(id, true, Some(s)),
            Err(e) => Self {
                failure: Some(Failure::from_error(e)),
                ..Self::with_status(id, false, None)
            },
        }
    }

    /// The final record of a wait that ended `finished` after the command
    /// started.
    pub(crate) fn from_wait(
        id: &str,
        target: &str,
        report: &WaitReport,
        finished: Duration,
    ) -> Self {
        let mut r = match &report.outcome {
            WaitOutcome::Reached(s) => {
                let mut r = Self::with_status(id, true, s.as_ref());
                // Reached by a 404 while waiting for terminated: the instance is gone.
                r.state.get_or_insert_with(|| target.to_owned());
                r
            }
            WaitOutcome::Failed(s) => Self::with_status(id, false, Some(s)),
            WaitOutcome::TimedOut { last, last_error } => match (last, last_error) {
                (Some(s), _) => Self::with_status(id, false, Some(s)),
                (None, Some(e)) => Self {
                    failure: Some(Failure::from_error(e)),
                    ..Self::with_status(id, false, None)
                },
                (None, None) => Self::with_status(id, false, None),
            },
            WaitOutcome::Error(e) => Self {
                failure: Some(Failure::from_error(e)),
                ..Self::with_status(id, false, None)
            },
            // Interrupted, and outcomes to come: the last status seen.
            other => Self::with_status(id, false, other.status()),
        };
        r.outcome = Some(report.outcome.as_str());
        r.polls = Some(report.polls);
        r.elapsed_ms = Some(u64::try_from(finished.as_millis()).unwrap_or(u64::MAX));
        r
    }
}

/// An error and its root cause on one line: `what failed: root cause`.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let top = e.to_string();
    let mut root = None;
    let mut cur = e.source();
    while let Some(c) = cur {
        root = Some(c);
        cur = c.source();
    }
    match root.map(ToString::to_string) {
        Some(r) if !top.contains(&r) => format!("{top}: {r}"),
        _ => top,
    }
}

fn cell_failure(f: &Failure) -> String {
    let mut s = f.kind.to_owned();
    if let Some(st) = f.http_status {
        s.push_str(&format!(" {st}"));
    }
    if let Some(c) = &f.error_code {
        s.push_str(&format!(" {c}"));
    }
    if let Some(m) = &f.error_msg {
        s.push_str(&format!(": {}", text::cut(m, MESSAGE_COLUMNS)));
    }
    if let Some(id) = &f.request_id {
        s.push_str(&format!(" (request id {id})"));
    }
    s
}

/// Renders records as aligned columns.
pub(crate) fn table(records: &[Record]) -> String {
    let waiting = records.iter().any(|r| r.outcome.is_some());
    let mut head = vec!["ID", "STATE", "OPERATION"];
    if waiting {
        head.extend(["OUTCOME", "POLLS", "ELAPSED"]);
    }
    head.push("DETAIL");
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let dash = || "-".to_owned();
            let mut row = vec![
                r.id.clone(),
                r.state.clone().unwrap_or_else(dash),
                r.operation_state.clone().unwrap_or_else(dash),
            ];
            if waiting {
                row.push(r.outcome.unwrap_or("-").to_owned());
                row.push(r.polls.map_or_else(dash, |p| p.to_string()));
                row.push(
                    r.elapsed_ms
                        .map_or_else(dash, |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                );
            }
            let detail = match (&r.failure, &r.error) {
                (Some(f), _) => cell_failure(f),
                (None, Some(e)) => format!(
                    "instance error {} {}: {}",
                    e.error_type.as_ref().map_or("-", |t| t.as_str()),
                    e.error_code.as_deref().unwrap_or("-"),
                    e.error_msg.as_deref().unwrap_or("-")
                ),
                (None, None) => String::new(),
            };
            row.push(detail);
            row
        })
        .collect();
    // Every cell may hold text from the server: escaped, then measured in
    // terminal columns.
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| row.iter().map(|c| text::safe(c)).collect())
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(text::width(c));
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                l.push_str(c);
            } else {
                l.push_str(c);
                let pad = widths[i].saturating_sub(text::width(c)) + 2;
                l.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(head.iter().map(|s| (*s).to_owned()).collect());
    for row in rows {
        line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clouddc_core::parse_status_response;
    use std::time::{Duration, SystemTime};

    fn parse(
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: &str,
    ) -> Result<InstanceStatus, Error> {
        let mut r = clouddc_core::http::Response::builder().status(status);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.body(body.as_bytes()).unwrap();
        parse_status_response(&r, 65536, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn json_fields_success_and_failure() {
        let ok = Record::from_status("i-1", &parse(200, &[], r#"{"state":"shutting_down"}"#));
        // As `stdio::json_line` writes it, without the line end.
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            "{\"id\":\"i-1\",\"ok\":true,\"state\":\"shutting-down\",\"operation_state\":null,\"error\":null,\"failure\":null}"
        );
        let bad = Record::from_status(
            "i-2",
            &parse(
                429,
                &[("retry-after", "1"), ("x-request-id", "r-9")],
                "Too Many Requests",
            ),
        );
        let v: serde_json::Value = serde_json::to_value(&bad).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["state"], serde_json::Value::Null);
        assert_eq!(v["failure"]["kind"], "rate_limited");
        assert_eq!(v["failure"]["http_status"], 429);
        assert_eq!(v["failure"]["request_id"], "r-9");
        assert_eq!(v["failure"]["retry_after_s"], 1);
        assert_eq!(v["failure"]["throttle"], serde_json::Value::Null);
        let keys: Vec<_> = v["failure"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys.len(), 7);
    }

    #[test]
    fn a_quoted_quota_is_in_the_failure() {
        for (code, msg, limit, window_s) in [
            (
                "APIGW.0308",
                "policy user over ratelimit,limit:20,time:1 second",
                20,
                1,
            ),
            (
                "APIG.0308",
                "policy api over ratelimit,limit:200,time:5 minute",
                200,
                300,
            ),
        ] {
            let body = format!(
                r#"{{"error_code":"{code}","error_msg":"The throttling threshold has been reached: {msg}","request_id":"r"}}"#
            );
            let r = Record::from_status("i", &parse(429, &[("x-request-id", "r-7")], &body));
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["failure"]["kind"], "rate_limited");
            assert_eq!(v["failure"]["error_code"], code);
            assert_eq!(v["failure"]["request_id"], "r-7");
            assert_eq!(v["failure"]["retry_after_s"], serde_json::Value::Null);
            assert_eq!(
                v["failure"]["throttle"],
                serde_json::json!({"limit": limit, "window_s": window_s})
            );
        }
    }

    #[test]
    fn error_object_passes_through_on_success() {
        let r = Record::from_status(
            "i",
            &parse(
                200,
                &[],
                r#"{"state":"error","error":{"error_code":"C1","error_msg":"m","error_type":"reinstall_error"}}"#,
            ),
        );
        assert!(r.ok);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["error"]["error_type"], "reinstall_error");
        assert!(table(&[r]).contains("instance error reinstall_error C1: m"));
    }

    #[test]
    fn wait_record() {
        let report = WaitReport::new(WaitOutcome::Reached(None), 3, Duration::from_millis(2500));
        let r = Record::from_wait("i", "terminated", &report, Duration::from_millis(2500));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["outcome"], "reached");
        assert_eq!(v["state"], "terminated");
        assert_eq!(v["polls"], 3);
        assert_eq!(v["elapsed_ms"], 2500);
        assert!(table(&[r]).lines().next().unwrap().contains("OUTCOME"));
    }
}
