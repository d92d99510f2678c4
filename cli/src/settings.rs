//! Settings: turns flags and environment into a validated client
//! configuration, or a one-line usage error that names the fix.
//!
//! Owns precedence (flag > environment; `--token`/`--token-file` >
//! `CLOUDDC_AUTH_TOKEN` > AK/SK) and the ids to query. Must not send
//! anything: every error here means exit 2 with nothing sent.

use std::io::Read;
use std::path::Path;

use clap::ArgMatches;
use clap::parser::ValueSource;
use clouddc_core::{Config, Credentials, Endpoint, InstanceId, ProjectId};

use crate::args::{GlobalArgs, IdArgs};

/// A usage or configuration error: exit 2, nothing sent.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl From<clouddc_core::Error> for UsageError {
    fn from(e: clouddc_core::Error) -> Self {
        Self(
            e.to_string()
                .trim_start_matches("invalid input: ")
                .to_owned(),
        )
    }
}

/// Reads an environment variable (injected for tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn from_command_line(m: &ArgMatches, id: &str) -> bool {
    matches!(m.value_source(id), Some(ValueSource::CommandLine))
}

/// The endpoint: `--endpoint` > `--region` > `CLOUDDC_ENDPOINT` > `HUAWEICLOUD_SDK_REGION`.
pub(crate) fn endpoint(
    g: &GlobalArgs,
    m: &ArgMatches,
    env: Env<'_>,
) -> Result<Endpoint, UsageError> {
    let parse = |url: &str| {
        if g.insecure_http {
            Endpoint::parse_allow_insecure(url)
        } else {
            Endpoint::parse(url)
        }
    };
    let region = |r: &str| -> Result<Endpoint, UsageError> {
        let over = env(&Endpoint::region_override_var(r)).and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find(|s| !s.is_empty())
                .map(str::to_owned)
        });
        Ok(match over {
            Some(url) => parse(&url)?,
            None => Endpoint::from_region(r)?,
        })
    };
    let (cli_endpoint, cli_region) = (
        from_command_line(m, "endpoint"),
        from_command_line(m, "region"),
    );
    match (&g.endpoint, &g.region) {
        (Some(url), _) if cli_endpoint || !cli_region => Ok(parse(url)?),
        (_, Some(r)) => region(r),
        (Some(url), None) => Ok(parse(url)?),
        (None, None) => Err(UsageError(
            "no endpoint: pass --endpoint URL or --region ID (or set CLOUDDC_ENDPOINT / HUAWEICLOUD_SDK_REGION)".into(),
        )),
    }
}

/// The credentials, in contract order.
pub(crate) fn credentials(g: &GlobalArgs, env: Env<'_>) -> Result<Credentials, UsageError> {
    if let Some(t) = &g.token {
        return Ok(Credentials::token(t.clone())?);
    }
    if let Some(path) = &g.token_file {
        let text = read_text(path)?;
        return Credentials::token(text.trim().to_owned()).map_err(|e| {
            UsageError(format!(
                "token in {}: {}",
                path.display(),
                UsageError::from(e).0
            ))
        });
    }
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(t) = get("CLOUDDC_AUTH_TOKEN") {
        return Ok(Credentials::token(t.trim().to_owned())?);
    }
    match (get("HUAWEICLOUD_SDK_AK"), get("HUAWEICLOUD_SDK_SK")) {
        (Some(ak), Some(sk)) => Ok(match get("HUAWEICLOUD_SDK_SECURITY_TOKEN") {
            Some(st) => Credentials::temporary(ak.trim(), sk.trim(), st.trim())?,
            None => Credentials::ak_sk(ak.trim(), sk.trim())?,
        }),
        (Some(_), None) => Err(UsageError("HUAWEICLOUD_SDK_AK is set but HUAWEICLOUD_SDK_SK is not: set both".into())),
        (None, Some(_)) => Err(UsageError("HUAWEICLOUD_SDK_SK is set but HUAWEICLOUD_SDK_AK is not: set both".into())),
        (None, None) => Err(UsageError(
            "no credentials: pass --token-file PATH (or --token), or set CLOUDDC_AUTH_TOKEN, or HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK".into(),
        )),
    }
}

/// The whole client configuration for API commands.
pub(crate) fn config(g: &GlobalArgs, m: &ArgMatches, env: Env<'_>) -> Result<Config, UsageError> {
    let endpoint = endpoint(g, m, env)?;
    let project = match &g.project_id {
        Some(p) => ProjectId::new(p.clone())?,
        None => {
            return Err(UsageError(
                "no project id: pass --project-id ID (or set HUAWEICLOUD_SDK_PROJECT_ID)".into(),
            ));
        }
    };
    let credentials = credentials(g, env)?;
    Ok(Config::builder()
        .endpoint(endpoint)
        .project_id(project)
        .credentials(credentials)
        .attempt_timeout(g.attempt_timeout)
        .max_attempts(g.max_attempts)
        .user_agent_suffix(concat!("clouddc-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn read_text(path: &Path) -> Result<String, UsageError> {
    let mut s = String::new();
    let res = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut s)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut s))
    };
    res.map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    Ok(s)
}

/// The ids: arguments first, then the ids file; at least one, none empty.
pub(crate) fn ids(a: &IdArgs) -> Result<Vec<InstanceId>, UsageError> {
    let mut raw: Vec<String> = a.ids.clone();
    if let Some(path) = &a.ids_file {
        let text = read_text(path)?;
        raw.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if raw.is_empty() {
        return Err(UsageError(
            "no instance ids: pass one or more IDs or --ids-file PATH".into(),
        ));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, s)| {
            InstanceId::new(s).map_err(|e| {
                UsageError(format!("instance id #{}: {}", i + 1, UsageError::from(e).0))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cli;
    use clap::{CommandFactory, FromArgMatches};
    use std::collections::HashMap;

    fn resolve(args: &[&str], env: &[(&str, &str)]) -> Result<Config, UsageError> {
        let m = Cli::command().try_get_matches_from(args).unwrap();
        let cli = Cli::from_arg_matches(&m).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        config(&cli.global, &m, &|k| env.get(k).cloned())
    }

    #[test]
    fn token_precedence() {
        let c = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--endpoint",
                "http://127.0.0.1:1",
                "--project-id",
                "p",
                "--token",
                "flag",
            ],
            &[
                ("CLOUDDC_AUTH_TOKEN", "env"),
                ("HUAWEICLOUD_SDK_AK", "a"),
                ("HUAWEICLOUD_SDK_SK", "s"),
            ],
        )
        .unwrap();
        assert_eq!(c.credentials().kind(), "token");
        let c = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--endpoint",
                "http://127.0.0.1:1",
                "--project-id",
                "p",
            ],
            &[("HUAWEICLOUD_SDK_AK", "a"), ("HUAWEICLOUD_SDK_SK", "s")],
        )
        .unwrap();
        assert_eq!(c.credentials().kind(), "aksk");
    }

    #[test]
    fn usage_errors_name_the_fix() {
        let e = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--project-id",
                "p",
                "--token",
                "t",
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.0.contains("--endpoint"), "{}", e.0);
        let e = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--endpoint",
                "http://example.com",
                "--project-id",
                "p",
                "--token",
                "t",
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.0.contains("--insecure-http"), "{}", e.0);
        let e = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--region",
                "mars-1",
                "--project-id",
                "p",
                "--token",
                "t",
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.0.contains("cn-east-3"), "{}", e.0);
        let e = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--endpoint",
                "https://x",
                "--token",
                "t",
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.0.contains("--project-id"), "{}", e.0);
        let e = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--endpoint",
                "https://x",
                "--project-id",
                "p",
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.0.contains("--token-file"), "{}", e.0);
        let e = resolve(
            &[
                "clouddc",
                "status",
                "x",
                "--endpoint",
                "https://x",
                "--project-id",
                "p",
                "--token",
                "a\u{7}b",
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.0.contains("control"), "{}", e.0);
        assert!(
            resolve(
                &[
                    "clouddc",
                    "status",
                    "x",
                    "--endpoint",
                    "http://example.com",
                    "--insecure-http",
                    "--project-id",
                    "p",
                    "--token",
                    "t"
                ],
                &[]
            )
            .is_ok()
        );
    }
}
