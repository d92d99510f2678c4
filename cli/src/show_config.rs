//! `clouddc config`: what an API command would use, and where each value
//! comes from.
//!
//! Owns the shown fields (endpoint, region, project id, credentials) and
//! their exit code: 0 when everything an API command needs is resolved, 2
//! otherwise, the object printed either way. Sends nothing but what
//! resolving needs (server metadata, the IAM project lookup). Must not
//! print a secret: the access key shows as `****` and its last four
//! characters, and nothing else of the credentials shows at all.

use clouddc_core::{Config, ConfigPreview, Credentials, Origin};
use serde::Serialize;

use crate::args::{GlobalArgs, OutputFormat};
use crate::backend;
use crate::commands::exit;
use crate::out;
use crate::settings::{self, Env};
use crate::text;

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

fn unset() -> Setting {
    Setting {
        value: None,
        source: settings::source(&Origin::Unset),
    }
}

impl View {
    /// Nothing could be resolved: why.
    fn failed(error: String) -> Self {
        Self {
            endpoint: unset(),
            region: unset(),
            project_id: unset(),
            credentials: CredentialsView {
                kind: None,
                access_key: None,
                source: settings::source(&Origin::Unset),
            },
            error: Some(error),
        }
    }

    fn of(config: &Config) -> Self {
        let o = config.origins();
        let credentials = config.credentials();
        let kind = match &credentials {
            Some(c) => Some(kind_of(c)),
            None if o.credentials == Origin::Metadata => Some("temporary"),
            None => None,
        };
        let access_key = credentials.as_ref().and_then(access_key);
        Self {
            endpoint: Setting {
                value: Some(config.endpoint().to_string()),
                source: settings::source(&o.endpoint),
            },
            region: Setting {
                value: config.region().map(str::to_owned),
                source: settings::source(&o.region),
            },
            project_id: Setting {
                value: config.project_id().map(|p| p.to_string()),
                source: settings::source(&o.project_id),
            },
            credentials: CredentialsView {
                kind,
                access_key,
                source: settings::source(&o.credentials),
            },
            error: None,
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

/// What is set so far, when the config cannot be built yet.
fn partial(p: &ConfigPreview<'_>, error: String) -> View {
    let o = p.origins;
    let kind = match p.credentials {
        Some(c) => Some(kind_of(c)),
        None if o.credentials == Origin::Metadata => Some("temporary"),
        None => None,
    };
    View {
        endpoint: Setting {
            value: p.endpoint.map(ToString::to_string),
            source: settings::source(&o.endpoint),
        },
        region: Setting {
            value: p.region.map(str::to_owned),
            source: settings::source(&o.region),
        },
        project_id: Setting {
            value: p.project_id.map(ToString::to_string),
            source: settings::source(&o.project_id),
        },
        credentials: CredentialsView {
            kind,
            access_key: p.credentials.and_then(access_key),
            source: settings::source(&o.credentials),
        },
        error: Some(error),
    }
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
        Err(e) => Err(View::failed(e.0)),
        Ok((b, Some(e))) => Err(partial(&b.preview(), e.0)),
        Ok((b, None)) => b.build().map_err(|e| View::failed(e.to_string())),
    };
    let (view, code) = match built {
        Err(view) => (view, exit::USAGE),
        Ok(config) => match backend::resolve(g.transport, &config) {
            Ok(()) => (View::of(&config), exit::OK),
            Err(e) => (
                View {
                    error: Some(e.0),
                    ..View::of(&config)
                },
                exit::USAGE,
            ),
        },
    };
    let shown = match g.output {
        OutputFormat::Json => {
            let mut line = serde_json::to_vec(&view).unwrap_or_default();
            line.push(b'\n');
            out::bytes(&line)
        }
        OutputFormat::Table => out::bytes(table(&view).as_bytes()),
    };
    match shown {
        Ok(()) => {
            if let Some(e) = &view.error {
                out::err(format_args!("clouddc: error: {e}"));
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
