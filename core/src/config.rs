//! Client configuration: where to send, as whom, and the limits of a call.
//!
//! Owns the builder, its defaults and validation, and the reading of the
//! vendor SDK's environment variables through a lookup function the caller
//! passes in (so the core itself never touches the process environment).
//! Must not build requests (the headers it prepares once are built by
//! `request`) or decide retries.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::ids::ProjectId;
use crate::limiter::SharedLimits;
use crate::request::PreparedHeaders;
use crate::response::DEFAULT_BODY_LIMIT;
use crate::retry::RetryPolicy;

/// The default per-attempt timeout.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a client needs to make calls. Cheap to clone (shared inside).
///
/// ```
/// use clouddc_core::{Config, Credentials, Endpoint, ProjectId};
/// let config = Config::builder()
///     .endpoint(Endpoint::from_region("cn-east-3")?)
///     .project_id(ProjectId::new("0a1b2c3d")?)
///     .credentials(Credentials::token("MIIE...")?)
///     .max_attempts(5)
///     .build()?;
/// assert_eq!(config.retry().max_attempts(), 5);
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    inner: Arc<Inner>,
}

struct Inner {
    headers: PreparedHeaders,
    endpoint: Endpoint,
    project_id: ProjectId,
    credentials: Credentials,
    retry: RetryPolicy,
    attempt_timeout: Duration,
    call_timeout: Option<Duration>,
    body_limit: usize,
    user_agent: String,
    limits: Option<SharedLimits>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Config")
            .field("endpoint", &i.endpoint)
            .field("project_id", &i.project_id)
            .field("credentials", &i.credentials)
            .field("retry", &i.retry)
            .field("attempt_timeout", &i.attempt_timeout)
            .field("call_timeout", &i.call_timeout)
            .field("body_limit", &i.body_limit)
            .field("user_agent", &i.user_agent)
            .finish()
    }
}

impl Config {
    /// A new builder.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A config entirely from environment variables read through `lookup`
    /// (see [`ConfigBuilder::with_env`]).
    pub fn from_env(lookup: EnvLookup<'_>) -> Result<Self, Error> {
        Self::builder().with_env(lookup)?.build()
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }
    /// The project id.
    pub fn project_id(&self) -> &ProjectId {
        &self.inner.project_id
    }
    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }
    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.inner.retry
    }
    /// The timeout of one attempt (connect to last body byte).
    pub fn attempt_timeout(&self) -> Duration {
        self.inner.attempt_timeout
    }
    /// The overall deadline of one call, all attempts and waits included.
    pub fn call_timeout(&self) -> Option<Duration> {
        self.inner.call_timeout
    }
    /// The largest body accepted, in bytes.
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }
    /// The `User-Agent` header value.
    pub fn user_agent(&self) -> &str {
        &self.inner.user_agent
    }

    /// The rate limiter and retry budget every call and fleet made with
    /// this config shares, if set.
    pub fn limits(&self) -> Option<&SharedLimits> {
        self.inner.limits.as_ref()
    }

    /// This config with `product` (e.g. `clouddc-ureq/0.1.0`) named in the
    /// `User-Agent` after the core's own; unchanged if it is named already.
    pub fn with_user_agent_product(&self, product: &str) -> Result<Self, Error> {
        let i = &self.inner;
        if i.user_agent.split(' ').any(|p| p == product) {
            return Ok(self.clone());
        }
        if product.is_empty() || !product.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid_input(
                "a user-agent product must be printable ASCII without spaces",
            ));
        }
        let user_agent = match i.user_agent.split_once(' ') {
            Some((core, rest)) => format!("{core} {product} {rest}"),
            None => format!("{} {product}", i.user_agent),
        };
        let headers =
            PreparedHeaders::new(&i.endpoint, &i.project_id, &i.credentials, &user_agent)?;
        Ok(Self {
            inner: Arc::new(Inner {
                headers,
                endpoint: i.endpoint.clone(),
                project_id: i.project_id.clone(),
                credentials: i.credentials.clone(),
                retry: i.retry.clone(),
                attempt_timeout: i.attempt_timeout,
                call_timeout: i.call_timeout,
                body_limit: i.body_limit,
                user_agent,
                limits: i.limits.clone(),
            }),
        })
    }

    pub(crate) fn prepared(&self) -> &PreparedHeaders {
        &self.inner.headers
    }
}

/// Builds a [`Config`].
#[derive(Default, Clone, Debug)]
pub struct ConfigBuilder {
    endpoint: Option<Endpoint>,
    project_id: Option<ProjectId>,
    credentials: Option<Credentials>,
    retry: RetryPolicy,
    attempt_timeout: Option<Duration>,
    call_timeout: Option<Duration>,
    body_limit: Option<usize>,
    user_agent_suffix: Option<String>,
    limits: Option<SharedLimits>,
    region: Option<String>,
    allow_insecure_http: bool,
}

/// The name of an environment variable and its value, as a lookup returns it.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ConfigBuilder {
    /// The endpoint (required).
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }
    /// A known region, resolved to an endpoint when no endpoint is set
    /// ([`with_env`](Self::with_env) applies the vendor's
    /// `HUAWEICLOUD_SDK_REGION_CLOUDDC_{REGION}` override).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
    /// Accepts an `http` endpoint URL from the environment even when its
    /// host is not loopback (tokens then travel unencrypted).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }
    /// The project id (required).
    pub fn project_id(mut self, project_id: ProjectId) -> Self {
        self.project_id = Some(project_id);
        self
    }
    /// The credentials (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
    /// The whole retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    /// Total attempts per call, the first included (default 3, at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.retry = self.retry.with_max_attempts(n);
        self
    }
    /// Timeout of one attempt (default 10 s).
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = Some(d);
        self
    }
    /// Overall deadline of one call, retries included (default none: bounded
    /// by attempts × (attempt timeout + backoff)).
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.call_timeout = Some(d);
        self
    }
    /// Largest accepted body (default 64 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = Some(bytes);
        self
    }
    /// A rate limiter and retry budget shared by every call and fleet made
    /// with this config (default: single calls unpaced, each fleet with its
    /// own adaptive limiter and budget).
    pub fn limits(mut self, limits: SharedLimits) -> Self {
        self.limits = Some(limits);
        self
    }
    /// Text appended to the `User-Agent` (e.g. your program's name/version).
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Fills endpoint, project id and credentials from environment variables,
    /// read through `lookup` (pass `|k| std::env::var(k).ok()`):
    ///
    /// - endpoint: `CLOUDDC_ENDPOINT`, else `HUAWEICLOUD_SDK_REGION` with the
    ///   vendor override `HUAWEICLOUD_SDK_REGION_CLOUDDC_{REGION}` (first
    ///   entry of a comma-separated list) or the region's public endpoint;
    /// - project: `HUAWEICLOUD_SDK_PROJECT_ID`;
    /// - credentials: `CLOUDDC_AUTH_TOKEN`, else `HUAWEICLOUD_SDK_AK` +
    ///   `HUAWEICLOUD_SDK_SK` (+ `HUAWEICLOUD_SDK_SECURITY_TOKEN`).
    ///
    /// Values already set on the builder win. Fails naming every variable
    /// that is missing.
    pub fn with_env(mut self, lookup: EnvLookup<'_>) -> Result<Self, Error> {
        let get = |k: &str| {
            lookup(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut missing = Vec::new();
        let parse = |url: &str| {
            if self.allow_insecure_http {
                Endpoint::parse_allow_insecure(url)
            } else {
                Endpoint::parse(url)
            }
        };
        if self.endpoint.is_none() {
            let region = self.region.clone();
            if let (None, Some(url)) = (&region, get("CLOUDDC_ENDPOINT")) {
                self.endpoint = Some(parse(&url)?);
            } else if let Some(region) = region.or_else(|| get("HUAWEICLOUD_SDK_REGION")) {
                let over = get(&Endpoint::region_override_var(&region)).and_then(|v| {
                    v.split(',')
                        .map(str::trim)
                        .find(|s| !s.is_empty())
                        .map(str::to_owned)
                });
                self.endpoint = Some(match over {
                    Some(url) => parse(&url)?,
                    None => Endpoint::from_region(&region)?,
                });
            } else {
                missing.push("CLOUDDC_ENDPOINT or HUAWEICLOUD_SDK_REGION");
            }
        }
        if self.project_id.is_none() {
            match get("HUAWEICLOUD_SDK_PROJECT_ID") {
                Some(p) => self.project_id = Some(ProjectId::new(p)?),
                None => missing.push("HUAWEICLOUD_SDK_PROJECT_ID"),
            }
        }
        if self.credentials.is_none() {
            if let Some(t) = get("CLOUDDC_AUTH_TOKEN") {
                self.credentials = Some(Credentials::token(t)?);
            } else {
                match (get("HUAWEICLOUD_SDK_AK"), get("HUAWEICLOUD_SDK_SK")) {
                    (Some(ak), Some(sk)) => {
                        self.credentials = Some(match get("HUAWEICLOUD_SDK_SECURITY_TOKEN") {
                            Some(st) => Credentials::temporary(ak, sk, st)?,
                            None => Credentials::ak_sk(ak, sk)?,
                        });
                    }
                    (Some(_), None) => missing.push("HUAWEICLOUD_SDK_SK"),
                    (None, Some(_)) => missing.push("HUAWEICLOUD_SDK_AK"),
                    (None, None) => missing
                        .push("CLOUDDC_AUTH_TOKEN or HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK"),
                }
            }
        }
        if missing.is_empty() {
            Ok(self)
        } else {
            Err(Error::invalid_input(format!(
                "missing configuration: set {}",
                missing.join("; ")
            )))
        }
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Config, Error> {
        let endpoint = match (self.endpoint, &self.region) {
            (Some(e), _) => Some(e),
            (None, Some(r)) => Some(Endpoint::from_region(r)?),
            (None, None) => None,
        };
        let endpoint = endpoint.ok_or_else(|| {
            Error::invalid_input("no endpoint: set an endpoint URL (CLOUDDC_ENDPOINT) or a region")
        })?;
        let project_id = self.project_id.ok_or_else(|| {
            Error::invalid_input("no project id: set one (HUAWEICLOUD_SDK_PROJECT_ID)")
        })?;
        let credentials = self.credentials.ok_or_else(|| {
            Error::invalid_input(
                "no credentials: set a token (CLOUDDC_AUTH_TOKEN) or AK/SK (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK)",
            )
        })?;
        let attempt_timeout = self.attempt_timeout.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        if attempt_timeout.is_zero() {
            return Err(Error::invalid_input(
                "attempt timeout is zero: use a positive duration",
            ));
        }
        if self.call_timeout.is_some_and(|d| d.is_zero()) {
            return Err(Error::invalid_input(
                "call timeout is zero: use a positive duration",
            ));
        }
        let mut user_agent = format!("clouddc-core/{}", env!("CARGO_PKG_VERSION"));
        if let Some(s) = self.user_agent_suffix {
            if s.chars().any(char::is_control) || !s.is_ascii() {
                return Err(Error::invalid_input(
                    "user-agent suffix must be printable ASCII: remove control or non-ASCII characters",
                ));
            }
            if !s.trim().is_empty() {
                user_agent.push(' ');
                user_agent.push_str(s.trim());
            }
        }
        let headers = PreparedHeaders::new(&endpoint, &project_id, &credentials, &user_agent)?;
        Ok(Config {
            inner: Arc::new(Inner {
                headers,
                endpoint,
                project_id,
                credentials,
                retry: self.retry,
                attempt_timeout,
                call_timeout: self.call_timeout,
                body_limit: self.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
                user_agent,
                limits: self.limits,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn from(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let m = env(pairs);
        Config::builder().with_env(&|k| m.get(k).cloned())?.build()
    }

    #[test]
    fn env_token() {
        let c = from(&[
            ("CLOUDDC_ENDPOINT", "http://127.0.0.1:9"),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p1"),
            ("CLOUDDC_AUTH_TOKEN", "tok"),
            ("HUAWEICLOUD_SDK_AK", "ak"),
        ])
        .unwrap();
        assert_eq!(c.credentials().kind(), "token");
        assert_eq!(c.project_id().as_str(), "p1");
        assert!(c.user_agent().starts_with("clouddc-core/"));
    }

    #[test]
    fn env_aksk_and_region_override() {
        let c = from(&[
            ("HUAWEICLOUD_SDK_REGION", "cn-east-3"),
            (
                "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
                " https://a.example.com , https://b.example.com",
            ),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p1"),
            ("HUAWEICLOUD_SDK_AK", "ak"),
            ("HUAWEICLOUD_SDK_SK", "sk"),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "st"),
        ])
        .unwrap();
        assert_eq!(c.endpoint().to_string(), "https://a.example.com");
        assert!(matches!(
            c.credentials(),
            Credentials::AkSk {
                security_token: Some(_),
                ..
            }
        ));
        let c = from(&[
            ("HUAWEICLOUD_SDK_REGION", "ap-southeast-3"),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p1"),
            ("HUAWEICLOUD_SDK_AK", "ak"),
            ("HUAWEICLOUD_SDK_SK", "sk"),
        ])
        .unwrap();
        assert_eq!(
            c.endpoint().host_header(),
            "clouddc.ap-southeast-3.myhuaweicloud.com"
        );
    }

    #[test]
    fn env_missing_names_everything() {
        let e = from(&[]).unwrap_err().to_string();
        for v in [
            "CLOUDDC_ENDPOINT",
            "HUAWEICLOUD_SDK_PROJECT_ID",
            "HUAWEICLOUD_SDK_AK",
            "CLOUDDC_AUTH_TOKEN",
        ] {
            assert!(e.contains(v), "{e}");
        }
        let e = from(&[
            ("HUAWEICLOUD_SDK_AK", "ak"),
            ("CLOUDDC_ENDPOINT", "https://x"),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("HUAWEICLOUD_SDK_SK"), "{e}");
        let e = from(&[("HUAWEICLOUD_SDK_REGION", "mars-1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cn-east-3"), "{e}");
    }

    #[test]
    fn build_validation() {
        assert!(Config::builder().build().is_err());
        let base = || {
            Config::builder()
                .endpoint(Endpoint::parse("https://x").unwrap())
                .project_id(ProjectId::new("p").unwrap())
                .credentials(Credentials::token("t").unwrap())
        };
        assert!(base().attempt_timeout(Duration::ZERO).build().is_err());
        assert!(base().call_timeout(Duration::ZERO).build().is_err());
        assert!(base().user_agent_suffix("a\nb").build().is_err());
        let c = base()
            .user_agent_suffix("deployer/2")
            .body_limit(10)
            .build()
            .unwrap();
        assert!(c.user_agent().ends_with(" deployer/2"));
        assert_eq!(c.body_limit(), 10);
        assert!(!format!("{c:?}").contains("\"t\""));
    }
}
