//! Settings: turns flags and environment into a validated client
//! configuration, the ids to query and the target state, or a one-line
//! usage error that names the fix.
//!
//! Owns precedence (flag > environment > profile file > server metadata;
//! `--token`/`--token-file` > `CLOUDDC_AUTH_TOKEN` > AK/SK) and which flag
//! sets each setting a core error is about. The environment and the profile
//! file are read by the core's `ConfigBuilder::with_sources` alone, through
//! the functions passed in. Must not send anything: every error here means
//! exit 2 with nothing sent; nor read what a client resolves later (see
//! `live`).

use std::io::Read;
use std::path::Path;

use clouddc_core::{
    Config, ConfigBuilder, Credentials, Endpoint, InstanceId, InstanceState, ProjectId, Setting,
};

use crate::args::{GlobalArgs, IdArgs};
use crate::clients;
use crate::usage::UsageError;

/// Reads an environment variable (injected for tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The flags that set each setting a core error can be about, in the
/// order hints are given (a setting without a flag gets no hint).
const FLAG_HINTS: [(Setting, &str); 4] = [
    (Setting::Endpoint, "--endpoint URL or --region ID"),
    (Setting::ProjectId, "--project-id ID"),
    (Setting::Credentials, "--token-file PATH (or --token)"),
    (Setting::InsecureHttp, "--insecure-http"),
];

/// A core configuration error with the flags that set what it is about.
fn with_flags(e: clouddc_core::Error) -> UsageError {
    let hints: Vec<&str> = FLAG_HINTS
        .iter()
        .filter(|(setting, _)| e.settings().contains(setting))
        .map(|(_, flags)| *flags)
        .collect();
    let mut msg = UsageError::from(e).0;
    if !hints.is_empty() {
        msg.push_str(&format!(" (flags: {})", hints.join("; ")));
    }
    UsageError(msg)
}

/// Credentials given as flags: `--token` > `--token-file`.
fn flag_credentials(g: &GlobalArgs) -> Result<Option<Credentials>, UsageError> {
    if let Some(t) = &g.token {
        return Ok(Some(Credentials::token(t.clone())?));
    }
    let Some(path) = &g.token_file else {
        return Ok(None);
    };
    let text = read_text(path)?;
    Credentials::token(text.trim().to_owned())
        .map(Some)
        .map_err(|e| {
            UsageError(format!(
                "token in {}: {}",
                path.display(),
                UsageError::from(e).0
            ))
        })
}

/// Reads a file for the core (the profile file), injected for tests.
pub(crate) type Files<'a> = clouddc_core::FileReader<'a>;

/// The profile file's reader: the client library's, whichever transport
/// this build has.
pub(crate) fn read_file(path: &Path) -> std::io::Result<Vec<u8>> {
    clients::read_profile_file(path)
}

/// The whole client configuration for API commands: flags on the core's
/// builder, and `ConfigBuilder::with_sources` filling what they leave out
/// from the environment, the profile file and server metadata.
pub(crate) fn config(g: &GlobalArgs, env: Env<'_>) -> Result<Config, UsageError> {
    config_with(g, env, &read_file)
}

/// [`config`] reading files through `files`.
pub(crate) fn config_with(
    g: &GlobalArgs,
    env: Env<'_>,
    files: Files<'_>,
) -> Result<Config, UsageError> {
    builder(g, env, files)?.build().map_err(with_flags)
}

/// Flags on the core's builder, the sources filling the rest.
fn builder(g: &GlobalArgs, env: Env<'_>, files: Files<'_>) -> Result<ConfigBuilder, UsageError> {
    flags(g)?.with_sources(env, files).map_err(with_flags)
}

/// The flags on the core's builder.
fn flags(g: &GlobalArgs) -> Result<ConfigBuilder, UsageError> {
    let mut b = Config::builder()
        .allow_insecure_http(g.insecure_http)
        .attempt_timeout(g.attempt_timeout)
        .max_attempts(g.max_attempts)
        .user_agent_suffix(concat!("clouddc-cli/", env!("CARGO_PKG_VERSION")));
    if let Some(url) = &g.endpoint {
        let parsed = if g.insecure_http {
            Endpoint::parse_allow_insecure(url)
        } else {
            Endpoint::parse(url)
        };
        b = b.endpoint(parsed.map_err(with_flags)?);
    }
    // With an endpoint too, the region still picks the IAM endpoint; an
    // unknown one is refused either way, listing the known ones.
    if let Some(region) = &g.region {
        Endpoint::from_region(region).map_err(with_flags)?;
        b = b.region(region.clone());
    }
    if let Some(p) = &g.project_id {
        b = b.project_id(ProjectId::new(p.clone())?);
    }
    if let Some(c) = flag_credentials(g)? {
        b = b.credentials(c);
    }
    Ok(b)
}

/// The builder [`config`] builds, sources filled in: for showing what is
/// set even when building fails. The second value is why it fails.
pub(crate) fn preview(
    g: &GlobalArgs,
    env: Env<'_>,
) -> Result<(ConfigBuilder, Option<UsageError>), UsageError> {
    let given = flags(g)?;
    match given.clone().with_sources(env, &read_file) {
        Ok(b) => {
            let failure = b.clone().build().err().map(with_flags);
            Ok((b, failure))
        }
        // A source that fails (a malformed profile file) hides nothing
        // else: what the flags and the environment give still shows.
        Err(e) => {
            let shown = given.clone().with_env(env).unwrap_or(given);
            Ok((shown, Some(with_flags(e))))
        }
    }
}

fn read_text(path: &Path) -> Result<String, UsageError> {
    let mut s = String::new();
    let res = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut s)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut s))
    };
    res.map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    // Files saved by Windows editors start with a byte-order mark.
    Ok(match s.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => s,
    })
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

/// The target state of `--until` (and `--until-all`): a known state or
/// alias.
pub(crate) fn target_state(s: &str) -> Result<InstanceState, UsageError> {
    let st = InstanceState::parse(s.trim());
    if st.is_known() {
        Ok(st)
    } else {
        let known: Vec<&str> = InstanceState::KNOWN
            .iter()
            .map(InstanceState::as_str)
            .collect();
        Err(UsageError(format!(
            "unknown state {s:?} for --until: use one of {}",
            known.join(", ")
        )))
    }
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
        let _ = &m;
        let mut env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        env.entry("CLOUDDC_METADATA_ENDPOINT".into())
            .or_insert_with(|| "off".into());
        let no_file = |_: &Path| Err(std::io::ErrorKind::NotFound.into());
        config_with(&cli.global, &|k| env.get(k).cloned(), &no_file)
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
        assert_eq!(c.credentials().unwrap().kind(), "token");
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
        assert_eq!(c.credentials().unwrap().kind(), "aksk");
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

    #[test]
    fn until_accepts_aliases_and_rejects_typos() {
        assert_eq!(
            target_state("teminated").unwrap(),
            InstanceState::Terminated
        );
        assert_eq!(
            target_state("shutting_down").unwrap(),
            InstanceState::ShuttingDown
        );
        let e = target_state("runing").unwrap_err();
        assert!(e.0.contains("running"), "{}", e.0);
    }

    #[test]
    fn hints_follow_the_settings_an_error_is_about_not_its_text() {
        let e = clouddc_core::Error::invalid_setting(
            "missing configuration: set X",
            vec![Setting::Credentials, Setting::Endpoint],
        );
        assert_eq!(
            with_flags(e).0,
            "missing configuration: set X (flags: --endpoint URL or --region ID; --token-file PATH (or --token))"
        );
        // Naming an environment variable is not being about its setting.
        let e = clouddc_core::Error::invalid_input("CLOUDDC_ENDPOINT: bad");
        assert_eq!(with_flags(e).0, "CLOUDDC_ENDPOINT: bad");
        let e = clouddc_core::Error::invalid_setting("plain http", vec![Setting::InsecureHttp]);
        assert_eq!(with_flags(e).0, "plain http (flags: --insecure-http)");
    }
}
