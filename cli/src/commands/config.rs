//! `clouddc config`: what an API command would use, and where each value
//! comes from.
//!
//! Owns the shown fields (endpoint, region, project id, credentials) and
//! their exit code: 0 when everything an API command needs is resolved, 2
//! otherwise, the object printed either way. Sends nothing but what
//! resolving needs (server metadata, OIDC federation's IAM exchanges, the
//! IAM project lookup, through
//! `clients`), and reads the values through `live` alone. Must not print a
//! secret: the access key shows as `****` and its last four characters, and
//! nothing else of the credentials shows at all.

use clouddc_core::{Credentials, Origin};
use serde::Serialize;

use crate::args::{GlobalArgs, OutputFormat};
use crate::live::{self, Snapshot};
use crate::settings::{self, Env};
use crate::{clients, exit, stdio, text, usage};

#[derive(Debug, Serialize)]
struct Setting {
    value: Option<String>,
    source: String,
}

#[derive(Debug, Serialize)]
struct CredentialsView {
    kind: Option<&'static str>,
    access_key: Option<String>,
    source: String,
}

#[derive(Debug, Serialize)]
struct View {
    endpoint: Setting,
    region: Setting,
    project_id: Setting,
    credentials: CredentialsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl View {
    /// What `s` holds, with why the config is not usable (if it is not).
    fn of(s: Snapshot, error: Option<String>) -> Self {
        let o = &s.origins;
        // A source is named only for a value in hand: one that was tried
        // and could not deliver (metadata unreachable, an IAM refusal) is
        // `unset`, and `error` says why.
        let source = |has: bool, origin: &Origin| {
            if has {
                live::source(origin)
            } else {
                live::source(&Origin::Unset)
            }
        };
        let setting = |value: Option<String>, origin: &Origin| Setting {
            source: source(value.is_some(), origin),
            value,
        };
        Self {
            endpoint: setting(s.endpoint, &o.endpoint),
            region: setting(s.region, &o.region),
            project_id: setting(s.project_id, &o.project_id),
            credentials: CredentialsView {
                kind: s.credentials.as_ref().map(kind_of),
                access_key: s.credentials.as_ref().and_then(access_key),
                source: source(s.credentials.is_some(), &o.credentials),
            },
            error,
        }
    }
}

/// `****` and the last four characters of an access key (only `****` for
/// a key of fewer than eight, so that at least half stays hidden).
fn masked(access_key: &str) -> String {
    let chars: Vec<char> = access_key.chars().collect();
    if chars.len() < 8 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

fn kind_of(c: &Credentials) -> &'static str {
    match c {
        Credentials::Token(_) => "token",
        Credentials::AkSk {
            security_token: Some(_),
            ..
        } => "temporary",
        _ => "aksk",
    }
}

fn access_key(c: &Credentials) -> Option<String> {
    match c {
        Credentials::AkSk { access_key, .. } => Some(masked(access_key)),
        _ => None,
    }
}

/// `clouddc config`.
pub(crate) fn run(g: &GlobalArgs, env: Env<'_>) -> u8 {
    let built = match settings::preview(g, env) {
        Err(e) => Err(View::of(Snapshot::default(), Some(e.0))),
        Ok((b, Some(e))) => Err(View::of(Snapshot::of_builder(&b), Some(e.0))),
        Ok((b, None)) => b
            .build()
            .map_err(|e| View::of(Snapshot::default(), Some(e.to_string()))),
    };
    let (view, code) = match built {
        Err(view) => (view, exit::USAGE),
        Ok(config) => match clients::resolve(g.transport, &config) {
            (live, Ok(())) => (View::of(live.snapshot(), None), exit::OK),
            (live, Err(e)) => (View::of(live.snapshot(), Some(e.0)), exit::USAGE),
        },
    };
    let shown = match g.output {
        OutputFormat::Json => stdio::json_line(&view),
        OutputFormat::Table => stdio::bytes(table(&view).as_bytes()),
    };
    match shown {
        Ok(()) => {
            if let Some(e) = &view.error {
                usage::error(format_args!("{e}"));
            }
            code
        }
        Err(stop) => stop.exit_code(),
    }
}

fn table(v: &View) -> String {
    let value = |s: &Option<String>| s.as_deref().map_or_else(|| "-".to_owned(), text::safe);
    let creds = match (&v.credentials.kind, &v.credentials.access_key) {
        (Some(k), Some(ak)) => format!("{k} {ak}"),
        (Some(k), None) => (*k).to_owned(),
        (None, _) => "-".to_owned(),
    };
    let rows = [
        ("endpoint", value(&v.endpoint.value), &v.endpoint.source),
        ("region", value(&v.region.value), &v.region.source),
        (
            "project_id",
            value(&v.project_id.value),
            &v.project_id.source,
        ),
        ("credentials", creds, &v.credentials.source),
    ];
    let wide = rows.iter().map(|r| text::width(&r.1)).max().unwrap_or(0);
    let mut s = String::new();
    for (name, val, source) in rows {
        let pad = wide.saturating_sub(text::width(&val));
        s.push_str(&format!(
            "{name:<12} {val}{} {}\n",
            " ".repeat(pad),
            text::safe(source)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_keys_are_masked() {
        assert_eq!(masked("HPUAEXAMPLEWXYZ"), "****WXYZ");
        assert_eq!(masked("SHORT"), "****");
        assert_eq!(masked("ÄÖÜäöüßẞ"), "****üßẞ".replacen("üßẞ", "öüßẞ", 1));
    }
}
