//! Client configuration: where to send, as whom, and the limits of a call,
//! as plain data.
//!
//! Owns the builder, its defaults and validation, the chain of sources
//! (explicit values, environment, profile file, server metadata; see
//! `sources`) read through functions the caller passes in (so the core
//! itself never touches the process environment or the disk), and where
//! each setting came from. Must not hold anything that changes after
//! [`ConfigBuilder::build`]: what calls learn (credentials from metadata,
//! the project from IAM, the clock offset, quotas) lives in the
//! [`Session`](crate::Session) built from the config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::credentials::Credentials;
use crate::endpoint::{Endpoint, Region};
use crate::error::{Error, Setting};
use crate::ids::ProjectId;
use crate::pacing::retry::RetryPolicy;
use crate::wire::request::PreparedHeaders;
use crate::wire::response::DEFAULT_BODY_LIMIT;

mod sources;

pub use sources::{FileReader, Origin, Origins};

/// The default per-attempt timeout.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a client needs to make calls, as plain data: what was set and
/// where it came from. Comparable, and cheap enough to clone.
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
/// assert_eq!(config.clone(), config);
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    endpoint: Endpoint,
    credentials: CredentialSource,
    project: ProjectSource,
    origins: Origins,
    region: Option<Region>,
    retry: RetryPolicy,
    attempt_timeout: Duration,
    call_timeout: Option<Duration>,
    body_limit: usize,
    user_agent: String,
}

/// Where the credentials come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// Fixed credentials.
    Fixed(Credentials),
    /// Temporary credentials from the server metadata service.
    Metadata(Endpoint),
    /// Temporary credentials from IAM for an OIDC id token.
    Oidc(OidcSource),
}

/// OIDC federation (a Kubernetes workload's identity): temporary
/// credentials from IAM for the id token in a file, exchanged again ahead
/// of their expiry with the file read again (Kubernetes rotates it).
/// Neither the id token nor anything IAM issues is held here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSource {
    idp_id: String,
    id_token_file: PathBuf,
    iam: Endpoint,
}

impl OidcSource {
    /// The IAM identity provider's id (sent as `X-Idp-Id`).
    pub fn idp_id(&self) -> &str {
        &self.idp_id
    }
    /// The file holding the id token.
    pub fn id_token_file(&self) -> &Path {
        &self.id_token_file
    }
    /// The IAM endpoint of the exchanges.
    pub fn iam_endpoint(&self) -> &Endpoint {
        &self.iam
    }
}

/// Where the project id comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProjectSource {
    Fixed(ProjectId),
    /// Looked up from IAM by region name, with AK/SK.
    Lookup {
        iam: Endpoint,
        region: Region,
    },
}

impl Config {
    /// A new builder.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// A config entirely from the environment variables read through
    /// `lookup` and the profile file read through `read_file` (see
    /// [`ConfigBuilder::with_sources`]).
    pub fn from_sources(lookup: EnvLookup<'_>, read_file: FileReader<'_>) -> Result<Self, Error> {
        Self::builder().with_sources(lookup, read_file)?.build()
    }

    /// A config entirely from environment variables read through `lookup`
    /// (see [`ConfigBuilder::with_env`]).
    pub fn from_env(lookup: EnvLookup<'_>) -> Result<Self, Error> {
        Self::builder().with_env(lookup)?.build()
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
    /// The region, when one was set.
    pub fn region(&self) -> Option<&str> {
        self.region.as_ref().map(Region::as_str)
    }
    /// Where the endpoint, region, project id and credentials come from.
    pub fn origins(&self) -> &Origins {
        &self.origins
    }
    /// The project id that was set (`None` when it is looked up from IAM:
    /// see [`Session::project_id`](crate::Session::project_id)).
    pub fn project_id(&self) -> Option<&ProjectId> {
        match &self.project {
            ProjectSource::Fixed(p) => Some(p),
            ProjectSource::Lookup { .. } => None,
        }
    }
    /// The IAM endpoint of the project lookup or of OIDC federation, when
    /// either is used.
    pub fn iam_endpoint(&self) -> Option<&Endpoint> {
        match (&self.project, &self.credentials) {
            (ProjectSource::Lookup { iam, .. }, _) => Some(iam),
            (_, CredentialSource::Oidc(o)) => Some(&o.iam),
            _ => None,
        }
    }
    /// The credentials that were set (`None` when they come from server
    /// metadata or OIDC federation: see
    /// [`Session::credentials`](crate::Session::credentials)).
    pub fn credentials(&self) -> Option<&Credentials> {
        match &self.credentials {
            CredentialSource::Fixed(c) => Some(c),
            CredentialSource::Metadata(_) | CredentialSource::Oidc(_) => None,
        }
    }
    /// The server metadata service the credentials come from, if they do.
    pub fn metadata_endpoint(&self) -> Option<&Endpoint> {
        match &self.credentials {
            CredentialSource::Metadata(e) => Some(e),
            CredentialSource::Fixed(_) | CredentialSource::Oidc(_) => None,
        }
    }
    /// The OIDC federation the credentials come from, if they do.
    pub fn oidc(&self) -> Option<&OidcSource> {
        match &self.credentials {
            CredentialSource::Oidc(o) => Some(o),
            CredentialSource::Fixed(_) | CredentialSource::Metadata(_) => None,
        }
    }
    /// The retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }
    /// The timeout of one attempt (connect to last body byte).
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }
    /// The overall deadline of one call, all attempts and waits included.
    pub fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
    }
    /// The largest body accepted, in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }
    /// The `User-Agent` header value.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    pub(crate) fn credential_source(&self) -> &CredentialSource {
        &self.credentials
    }

    pub(crate) fn project_source(&self) -> &ProjectSource {
        &self.project
    }

    /// This config with `product` (e.g. `clouddc-ureq/0.1.0`) named in the
    /// `User-Agent` after the core's own; unchanged if it is named already.
    pub fn with_user_agent_product(&self, product: &str) -> Result<Self, Error> {
        if self.user_agent.split(' ').any(|p| p == product) {
            return Ok(self.clone());
        }
        if product.is_empty() || !product.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid_input(
                "a user-agent product must be printable ASCII without spaces",
            ));
        }
        let user_agent = match self.user_agent.split_once(' ') {
            Some((core, rest)) => format!("{core} {product} {rest}"),
            None => format!("{} {product}", self.user_agent),
        };
        let config = Self {
            user_agent,
            ..self.clone()
        };
        config.check_headers()?;
        Ok(config)
    }

    /// With fixed credentials and project, the headers of every request,
    /// checked now (a token or key that cannot be a header value fails the
    /// build, not the first call).
    fn check_headers(&self) -> Result<(), Error> {
        if let (CredentialSource::Fixed(c), ProjectSource::Fixed(p)) =
            (&self.credentials, &self.project)
        {
            PreparedHeaders::new(&self.endpoint, p, c, &self.user_agent)?;
        }
        Ok(())
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
    region: Option<String>,
    allow_insecure_http: bool,
    metadata: Option<Endpoint>,
    /// OIDC federation: the identity provider id and the id-token file.
    oidc: Option<(String, PathBuf)>,
    iam_endpoint: Option<Endpoint>,
    origins: Origins,
    /// What the sources could not fill, reported by `build`.
    missing: Vec<(Setting, String)>,
}

/// What a [`ConfigBuilder`] holds so far, for showing a user what is set
/// and where it came from even when [`build`](ConfigBuilder::build) fails.
#[derive(Debug)]
#[non_exhaustive]
pub struct ConfigPreview<'a> {
    /// The endpoint, when set (else it may follow from the region).
    pub endpoint: Option<&'a Endpoint>,
    /// The region, when set.
    pub region: Option<&'a str>,
    /// The project id, when set (else it may be looked up).
    pub project_id: Option<&'a ProjectId>,
    /// The credentials, when set (not when they come from metadata).
    pub credentials: Option<&'a Credentials>,
    /// Where each came from.
    pub origins: &'a Origins,
}

/// The name of an environment variable and its value, as a lookup returns it.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ConfigBuilder {
    /// The endpoint (required).
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = Some(endpoint);
        self.origins.endpoint = Origin::Explicit;
        self
    }
    /// A known region, resolved to an endpoint when no endpoint is set
    /// ([`with_env`](Self::with_env) applies the vendor's
    /// `HUAWEICLOUD_SDK_REGION_CLOUDDC_{REGION}` override).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self.origins.region = Origin::Explicit;
        self
    }
    /// Accepts an `http` endpoint URL from the environment even when its
    /// host is not loopback (tokens then travel unencrypted).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }
    /// The project id (required unless it can be looked up from IAM: with
    /// AK/SK or server metadata credentials and a region).
    pub fn project_id(mut self, project_id: ProjectId) -> Self {
        self.project_id = Some(project_id);
        self.origins.project_id = Origin::Explicit;
        self
    }
    /// The credentials (required unless [`metadata`](Self::metadata) is set).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self.metadata = None;
        self.oidc = None;
        self.origins.credentials = Origin::Explicit;
        self
    }
    /// Temporary credentials from the server metadata service at
    /// `endpoint` (on a Huawei Cloud server, `http://169.254.169.254`,
    /// [`DEFAULT_METADATA_ENDPOINT`](crate::DEFAULT_METADATA_ENDPOINT)),
    /// fetched before the first call and refreshed ahead of expiry.
    pub fn metadata(mut self, endpoint: Endpoint) -> Self {
        self.metadata = Some(endpoint);
        self.credentials = None;
        self.oidc = None;
        self.origins.credentials = Origin::Metadata;
        self
    }
    /// Temporary credentials from IAM by OIDC federation: the id token in
    /// `id_token_file` (re-read at every refresh) exchanged at IAM
    /// identity provider `idp_id`, before the first call and again ahead
    /// of expiry. The client reads the file (see
    /// [`SessionOptions::read_file`](crate::SessionOptions::read_file)).
    pub fn oidc(mut self, idp_id: impl Into<String>, id_token_file: impl Into<PathBuf>) -> Self {
        self.oidc = Some((idp_id.into(), id_token_file.into()));
        self.credentials = None;
        self.metadata = None;
        self.origins.credentials = Origin::Oidc;
        self
    }
    /// The IAM endpoint for the project lookup and OIDC federation
    /// (default `https://iam.{region}.myhuaweicloud.com`; for OIDC
    /// without a region, the global
    /// [`GLOBAL_IAM_ENDPOINT`](crate::GLOBAL_IAM_ENDPOINT)).
    pub fn iam_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.iam_endpoint = Some(endpoint);
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
    /// Text appended to the `User-Agent` (e.g. your program's name/version).
    pub fn user_agent_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.user_agent_suffix = Some(suffix.into());
        self
    }

    /// Fills what is not set yet from environment variables read through
    /// `lookup` (pass `|k| std::env::var(k).ok()`) and from server
    /// metadata, as [`with_sources`](Self::with_sources) does but without
    /// the profile file.
    pub fn with_env(self, lookup: EnvLookup<'_>) -> Result<Self, Error> {
        sources::fill(self, lookup, None)
    }

    /// Fills what is not set yet from the vendor SDKs' sources, first hit
    /// wins, reading environment variables through `lookup` (pass
    /// `|k| std::env::var(k).ok()`) and the profile file through
    /// `read_file` (pass `|p| std::fs::read(p)`); the file is read only when
    /// a value is still missing after the environment.
    ///
    /// - endpoint: `CLOUDDC_ENDPOINT`, else the region's: the vendor
    ///   override `HUAWEICLOUD_SDK_REGION_CLOUDDC_{REGION}` (first entry of
    ///   a comma-separated list) or its public endpoint;
    /// - region: `HUAWEICLOUD_SDK_REGION`;
    /// - credentials, taken whole from the first source that has any of
    ///   them (a partial set there is an error, not a fall-through):
    ///   `CLOUDDC_AUTH_TOKEN`; OIDC federation, `HUAWEICLOUD_SDK_IDP_ID` +
    ///   `HUAWEICLOUD_SDK_ID_TOKEN_FILE` (see [`oidc`](Self::oidc));
    ///   `HUAWEICLOUD_SDK_AK` + `HUAWEICLOUD_SDK_SK`
    ///   (+ `HUAWEICLOUD_SDK_SECURITY_TOKEN`); the `[basic]` section of the
    ///   profile file (`HUAWEICLOUD_SDK_CREDENTIALS_FILE`, else
    ///   `~/.huaweicloud/credentials`: `idp_id` + `id_token_file`, else
    ///   `ak`, `sk`, `security_token`); the
    ///   server metadata service (`CLOUDDC_METADATA_ENDPOINT`, else
    ///   `http://169.254.169.254`; `off` turns it off);
    /// - project id: `HUAWEICLOUD_SDK_PROJECT_ID`, the profile's
    ///   `project_id`, else looked up from IAM with AK/SK (or the temporary
    ///   credentials of metadata or OIDC) by region
    ///   (`HUAWEICLOUD_SDK_IAM_ENDPOINT`, the profile's `iam_endpoint`, else
    ///   `https://iam.{region}.myhuaweicloud.com`; OIDC federation uses the
    ///   same IAM endpoint, and without a region the global
    ///   [`GLOBAL_IAM_ENDPOINT`](crate::GLOBAL_IAM_ENDPOINT)).
    ///
    /// Fails naming the file and line of anything wrong in the profile
    /// file; [`build`](Self::build) then fails naming every variable that
    /// is missing.
    ///
    /// ```
    /// use clouddc_core::{Config, Origin};
    /// let env = |k: &str| match k {
    ///     "HUAWEICLOUD_SDK_REGION" => Some("cn-east-3".to_owned()),
    ///     "HUAWEICLOUD_SDK_CREDENTIALS_FILE" => Some("/etc/hw/credentials".to_owned()),
    ///     "CLOUDDC_METADATA_ENDPOINT" => Some("off".to_owned()),
    ///     _ => None,
    /// };
    /// let file = |_: &std::path::Path| Ok(b"[basic]\nak = AKEXAMPLE\nsk = secret\nproject_id = p-1\n".to_vec());
    /// let config = Config::builder().with_sources(&env, &file)?.build()?;
    /// assert_eq!(config.project_id().unwrap().as_str(), "p-1");
    /// assert_eq!(config.origins().credentials.to_string(), "file:/etc/hw/credentials:2");
    /// # Ok::<(), clouddc_core::Error>(())
    /// ```
    pub fn with_sources(
        self,
        lookup: EnvLookup<'_>,
        read_file: FileReader<'_>,
    ) -> Result<Self, Error> {
        sources::fill(self, lookup, Some(read_file))
    }

    /// What is set so far, and where it came from.
    pub fn preview(&self) -> ConfigPreview<'_> {
        ConfigPreview {
            endpoint: self.endpoint.as_ref(),
            region: self.region.as_deref(),
            project_id: self.project_id.as_ref(),
            credentials: self.credentials.as_ref(),
            origins: &self.origins,
        }
    }

    /// Validates and builds; fails naming everything the sources could not
    /// fill.
    pub fn build(mut self) -> Result<Config, Error> {
        if !self.missing.is_empty() {
            let names: Vec<&str> = self.missing.iter().map(|(_, n)| n.as_str()).collect();
            let settings = self.missing.iter().map(|(s, _)| *s).collect();
            return Err(Error::invalid_setting(
                format!("missing configuration: set {}", names.join("; ")),
                settings,
            ));
        }
        let endpoint = match (self.endpoint.take(), &self.region) {
            (Some(e), _) => Some(e),
            (None, Some(r)) => {
                if self.origins.endpoint == Origin::Unset {
                    self.origins.endpoint = Origin::Default;
                }
                Some(Endpoint::from_region(r)?)
            }
            (None, None) => None,
        };
        let endpoint = endpoint.ok_or_else(|| {
            Error::invalid_input("no endpoint: set an endpoint URL (CLOUDDC_ENDPOINT) or a region")
        })?;
        let credentials = match (
            self.credentials.take(),
            self.metadata.take(),
            self.oidc.take(),
        ) {
            (Some(c), _, _) => CredentialSource::Fixed(c),
            (None, Some(m), _) => CredentialSource::Metadata(m),
            (None, None, Some((idp_id, id_token_file))) => {
                CredentialSource::Oidc(self.oidc_source(idp_id, id_token_file)?)
            }
            (None, None, None) => {
                return Err(Error::invalid_input(
                    "no credentials: set a token (CLOUDDC_AUTH_TOKEN) or AK/SK (HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK)",
                ));
            }
        };
        let project = match self.project_id.take() {
            Some(p) => ProjectSource::Fixed(p),
            None => self.project_lookup(&credentials)?,
        };
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
        let config = Config {
            endpoint,
            credentials,
            project,
            origins: self.origins,
            region: self.region.map(Region::new).transpose()?,
            retry: self.retry,
            attempt_timeout,
            call_timeout: self.call_timeout,
            body_limit: self.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
            user_agent,
        };
        config.check_headers()?;
        Ok(config)
    }

    /// OIDC federation at the IAM endpoint set, else the region's, else
    /// the vendor's global one.
    fn oidc_source(&self, idp_id: String, id_token_file: PathBuf) -> Result<OidcSource, Error> {
        let idp_id = idp_id.trim().to_owned();
        if idp_id.is_empty() || !idp_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid_setting(
                "the OIDC identity provider id (HUAWEICLOUD_SDK_IDP_ID) is empty or has spaces, control or non-ASCII characters: set it to the provider's id in IAM",
                vec![Setting::IdpId],
            ));
        }
        if id_token_file.as_os_str().is_empty() {
            return Err(Error::invalid_setting(
                "the OIDC id-token file (HUAWEICLOUD_SDK_ID_TOKEN_FILE) is an empty path: set it to the file of the workload's token",
                vec![Setting::IdTokenFile],
            ));
        }
        let iam = match (&self.iam_endpoint, &self.region) {
            (Some(e), _) => e.clone(),
            (None, Some(r)) => Region::new(r.as_str())?.iam_endpoint(),
            (None, None) => Endpoint::parse(crate::identity::oidc::GLOBAL_IAM_ENDPOINT)?,
        };
        Ok(OidcSource {
            idp_id,
            id_token_file,
            iam,
        })
    }

    /// The IAM lookup of the project id, when the credentials allow one.
    fn project_lookup(&mut self, credentials: &CredentialSource) -> Result<ProjectSource, Error> {
        if let CredentialSource::Fixed(Credentials::Token(_)) = credentials {
            return Err(Error::invalid_input(
                "no project id: with a token, set it (HUAWEICLOUD_SDK_PROJECT_ID); find it in the console under My Credentials > API Credentials, in the row of your region",
            ));
        }
        let Some(region) = self.region.as_deref().map(Region::new).transpose()? else {
            return Err(Error::invalid_input(
                "no project id: set it (HUAWEICLOUD_SDK_PROJECT_ID), or set a region (HUAWEICLOUD_SDK_REGION) to look it up from IAM",
            ));
        };
        let iam = match self.iam_endpoint.take() {
            Some(e) => e,
            None => region.iam_endpoint(),
        };
        self.origins.project_id = Origin::Iam;
        Ok(ProjectSource::Lookup { iam, region })
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
        assert_eq!(c.credentials().unwrap().kind(), "token");
        assert_eq!(c.project_id().unwrap().as_str(), "p1");
        assert_eq!(
            c.origins().credentials,
            Origin::Env("CLOUDDC_AUTH_TOKEN".into())
        );
        assert_eq!(
            c.origins().project_id.to_string(),
            "env:HUAWEICLOUD_SDK_PROJECT_ID"
        );
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
            c.credentials().unwrap(),
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
        let err = from(&[("CLOUDDC_METADATA_ENDPOINT", "off")]).unwrap_err();
        assert_eq!(
            err.settings(),
            [Setting::Endpoint, Setting::Credentials, Setting::ProjectId]
        );
        let e = err.to_string();
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

    /// `with_sources` over an environment and one file, counting reads.
    fn chain(pairs: &[(&str, &str)], file: Option<&str>) -> (Result<Config, Error>, usize) {
        let m = env(pairs);
        let reads = std::cell::Cell::new(0);
        let read = |p: &Path| {
            reads.set(reads.get() + 1);
            assert_eq!(p, Path::new("/home/u/.huaweicloud/credentials"));
            match file {
                Some(text) => Ok(text.as_bytes().to_vec()),
                None => Err(std::io::ErrorKind::NotFound.into()),
            }
        };
        let mut all = m.clone();
        all.entry("HOME".into()).or_insert_with(|| "/home/u".into());
        let r = Config::builder()
            .with_sources(&|k| all.get(k).cloned(), &read)
            .and_then(ConfigBuilder::build);
        (r, reads.get())
    }

    const EP: (&str, &str) = ("CLOUDDC_ENDPOINT", "http://127.0.0.1:9");
    const REGION: (&str, &str) = ("HUAWEICLOUD_SDK_REGION", "cn-east-3");

    #[test]
    fn the_profile_file_is_read_only_when_needed() {
        let full = [
            EP,
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
            ("CLOUDDC_AUTH_TOKEN", "t"),
        ];
        let (c, reads) = chain(&full, Some("[basic]\nak=A\nsk=S\n"));
        assert_eq!(
            c.unwrap().origins().credentials.to_string(),
            "env:CLOUDDC_AUTH_TOKEN"
        );
        assert_eq!(reads, 0);
        let (c, reads) = chain(
            &[EP, ("HUAWEICLOUD_SDK_PROJECT_ID", "p")],
            Some("[basic]\r\nak = AKFILE\r\nsk = S\r\n"),
        );
        let c = c.unwrap();
        assert_eq!(
            c.origins().credentials.to_string(),
            "file:/home/u/.huaweicloud/credentials:2"
        );
        assert_eq!(reads, 1);
        let (c, _) = chain(
            &[EP, ("HUAWEICLOUD_SDK_AK", "A"), ("HUAWEICLOUD_SDK_SK", "S")],
            Some("\u{feff}[basic]\nproject_id = p-file\n"),
        );
        let c = c.unwrap();
        assert_eq!(c.project_id().unwrap().as_str(), "p-file");
        assert_eq!(
            c.origins().project_id.to_string(),
            "file:/home/u/.huaweicloud/credentials:2"
        );
        assert_eq!(
            c.origins().credentials.to_string(),
            "env:HUAWEICLOUD_SDK_AK"
        );
    }

    #[test]
    fn credentials_are_taken_whole_from_the_first_source_with_any() {
        // An AK alone in the environment is an error, not a fall-through
        // to the file that has both.
        let (e, reads) = chain(
            &[
                EP,
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                ("HUAWEICLOUD_SDK_AK", "A"),
            ],
            Some("[basic]\nak=A\nsk=S\n"),
        );
        assert!(e.unwrap_err().to_string().contains("HUAWEICLOUD_SDK_SK"));
        assert_eq!(reads, 0);
        // An ak alone in the file is an error naming the file and line.
        let (e, _) = chain(
            &[EP, ("HUAWEICLOUD_SDK_PROJECT_ID", "p")],
            Some("[basic]\n\nak=A\n"),
        );
        let e = e.unwrap_err().to_string();
        assert!(e.contains("/home/u/.huaweicloud/credentials:3"), "{e}");
    }

    #[test]
    fn metadata_is_last_and_can_be_turned_off() {
        let (c, reads) = chain(&[EP, ("HUAWEICLOUD_SDK_PROJECT_ID", "p")], None);
        let c = c.unwrap();
        assert_eq!(reads, 1);
        assert_eq!(c.origins().credentials, Origin::Metadata);
        assert!(
            c.credentials().is_none(),
            "fetched only when a call needs them"
        );
        let session = crate::Session::new(c.clone());
        assert!(
            session
                .resolution(std::time::SystemTime::UNIX_EPOCH)
                .is_err()
        );
        let (c, _) = chain(
            &[
                EP,
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                ("CLOUDDC_METADATA_ENDPOINT", "http://127.0.0.1:7"),
            ],
            None,
        );
        assert_eq!(c.unwrap().origins().credentials, Origin::Metadata);
        let (e, _) = chain(
            &[
                EP,
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                ("CLOUDDC_METADATA_ENDPOINT", "off"),
            ],
            None,
        );
        let e = e.unwrap_err().to_string();
        assert!(e.contains("CLOUDDC_AUTH_TOKEN") && e.contains("off"), "{e}");
        // The default address itself may be named, over plain http.
        let (c, _) = chain(
            &[
                EP,
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                ("CLOUDDC_METADATA_ENDPOINT", "http://169.254.169.254/"),
            ],
            None,
        );
        assert_eq!(c.unwrap().origins().credentials, Origin::Metadata);
        // Every URL from the environment that is refused names its variable.
        for var in [
            "CLOUDDC_ENDPOINT",
            "HUAWEICLOUD_SDK_IAM_ENDPOINT",
            "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3",
        ] {
            let mut env = vec![
                REGION,
                ("HUAWEICLOUD_SDK_AK", "A"),
                ("HUAWEICLOUD_SDK_SK", "S"),
            ];
            env.push((var, "http://example.com"));
            let (e, _) = chain(&env, None);
            let e = e.unwrap_err().to_string();
            assert!(e.contains(var) && e.contains("plain http"), "{var}: {e}");
        }
        // Plain http to another host is refused but for the default.
        let (e, _) = chain(
            &[
                EP,
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                ("CLOUDDC_METADATA_ENDPOINT", "http://10.1.2.3"),
            ],
            None,
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("CLOUDDC_METADATA_ENDPOINT")
        );
    }

    #[test]
    fn the_project_is_looked_up_with_aksk_and_a_region() {
        let (c, _) = chain(
            &[
                REGION,
                ("HUAWEICLOUD_SDK_AK", "A"),
                ("HUAWEICLOUD_SDK_SK", "S"),
            ],
            None,
        );
        let c = c.unwrap();
        assert_eq!(c.origins().project_id, Origin::Iam);
        assert!(c.project_id().is_none());
        assert_eq!(c.origins().endpoint, Origin::Default);
        assert_eq!(c.origins().region.to_string(), "env:HUAWEICLOUD_SDK_REGION");
        // With a token it cannot be: the error says where to find it.
        let (e, _) = chain(&[REGION, ("CLOUDDC_AUTH_TOKEN", "t")], None);
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("HUAWEICLOUD_SDK_PROJECT_ID") && e.contains("looked up"),
            "{e}"
        );
        let e = Config::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:9").unwrap())
            .credentials(Credentials::token("t").unwrap())
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("My Credentials"), "{e}");
        // Without a region it cannot either.
        let (e, _) = chain(
            &[EP, ("HUAWEICLOUD_SDK_AK", "A"), ("HUAWEICLOUD_SDK_SK", "S")],
            None,
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("HUAWEICLOUD_SDK_REGION")
        );
    }

    #[test]
    fn profile_file_errors_name_the_file() {
        let m = env(&[EP, ("HUAWEICLOUD_SDK_CREDENTIALS_FILE", "/nope/creds")]);
        let missing = |_: &Path| Err(std::io::ErrorKind::NotFound.into());
        let e = Config::builder()
            .with_sources(&|k| m.get(k).cloned(), &missing)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nope/creds") && e.contains("does not exist"),
            "{e}"
        );
        let denied = |_: &Path| Err(std::io::ErrorKind::PermissionDenied.into());
        let e = Config::builder()
            .with_sources(&|k| m.get(k).cloned(), &denied)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nope/creds") && e.contains("cannot read"),
            "{e}"
        );
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

    const IDP: (&str, &str) = ("HUAWEICLOUD_SDK_IDP_ID", "idp-k8s");
    const TOKEN_FILE: (&str, &str) = ("HUAWEICLOUD_SDK_ID_TOKEN_FILE", "/var/run/token");

    #[test]
    fn oidc_comes_before_aksk_and_after_a_token() {
        let aksk = [("HUAWEICLOUD_SDK_AK", "A"), ("HUAWEICLOUD_SDK_SK", "S")];
        let (c, reads) = chain(&[EP, REGION, IDP, TOKEN_FILE, aksk[0], aksk[1]], None);
        let c = c.unwrap();
        assert_eq!(c.origins().credentials, Origin::Oidc);
        assert_eq!(c.origins().credentials.to_string(), "oidc");
        assert!(c.credentials().is_none());
        let o = c.oidc().unwrap();
        assert_eq!(o.idp_id(), "idp-k8s");
        assert_eq!(o.id_token_file(), Path::new("/var/run/token"));
        assert_eq!(
            o.iam_endpoint().to_string(),
            "https://iam.cn-east-3.myhuaweicloud.com"
        );
        // The project is looked up with the temporary credentials.
        assert_eq!(c.origins().project_id, Origin::Iam);
        assert_eq!(
            reads, 1,
            "the profile is read for the project id and IAM endpoint"
        );

        let (c, reads) = chain(
            &[
                EP,
                REGION,
                IDP,
                TOKEN_FILE,
                ("CLOUDDC_AUTH_TOKEN", "t"),
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
            ],
            None,
        );
        let c = c.unwrap();
        assert_eq!(c.credentials().unwrap().kind(), "token");
        assert!(c.oidc().is_none());
        assert_eq!(reads, 0, "a token wins and nothing else is read");
    }

    #[test]
    fn a_half_set_oidc_pair_names_the_missing_one() {
        let (e, reads) = chain(
            &[
                EP,
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                IDP,
                ("HUAWEICLOUD_SDK_AK", "A"),
                ("HUAWEICLOUD_SDK_SK", "S"),
            ],
            Some("[basic]\nak=A\nsk=S\n"),
        );
        let e = e.unwrap_err();
        assert!(
            e.to_string()
                .contains("HUAWEICLOUD_SDK_ID_TOKEN_FILE (HUAWEICLOUD_SDK_IDP_ID is set)"),
            "{e}"
        );
        assert_eq!(e.settings(), &[Setting::IdTokenFile]);
        assert_eq!(reads, 0);
        let (e, _) = chain(&[EP, ("HUAWEICLOUD_SDK_PROJECT_ID", "p"), TOKEN_FILE], None);
        let e = e.unwrap_err();
        assert!(
            e.to_string()
                .contains("HUAWEICLOUD_SDK_IDP_ID (HUAWEICLOUD_SDK_ID_TOKEN_FILE is set)"),
            "{e}"
        );
        assert_eq!(e.settings(), &[Setting::IdpId]);
    }

    #[test]
    fn oidc_in_the_profile_comes_before_its_aksk() {
        let (c, _) = chain(
            &[EP, ("HUAWEICLOUD_SDK_PROJECT_ID", "p")],
            Some(
                "[basic]\nak=A\nsk=S\nidp_id = idp-f\nid_token_file = /t/token\niam_endpoint = http://127.0.0.1:7\n",
            ),
        );
        let c = c.unwrap();
        assert_eq!(c.origins().credentials, Origin::Oidc);
        assert_eq!(c.oidc().unwrap().idp_id(), "idp-f");
        assert_eq!(c.iam_endpoint().unwrap().to_string(), "http://127.0.0.1:7");
        let (e, _) = chain(
            &[EP, ("HUAWEICLOUD_SDK_PROJECT_ID", "p")],
            Some("[basic]\nak=A\nsk=S\nidp_id = idp-f\n"),
        );
        let e = e.unwrap_err().to_string();
        assert!(
            e.contains("credentials:4") && e.contains("id_token_file"),
            "{e}"
        );
    }

    #[test]
    fn oidc_without_a_region_uses_the_global_iam_endpoint() {
        let (c, _) = chain(
            &[EP, ("HUAWEICLOUD_SDK_PROJECT_ID", "p"), IDP, TOKEN_FILE],
            None,
        );
        let c = c.unwrap();
        assert_eq!(
            c.oidc().unwrap().iam_endpoint().to_string(),
            "https://iam.myhuaweicloud.com"
        );
        let (c, _) = chain(
            &[
                EP,
                ("HUAWEICLOUD_SDK_PROJECT_ID", "p"),
                IDP,
                TOKEN_FILE,
                ("HUAWEICLOUD_SDK_IAM_ENDPOINT", "http://127.0.0.1:8"),
            ],
            None,
        );
        assert_eq!(
            c.unwrap().iam_endpoint().unwrap().to_string(),
            "http://127.0.0.1:8"
        );
        let bad = Config::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:9").unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .oidc("idp 1", "/t")
            .build()
            .unwrap_err();
        assert_eq!(bad.settings(), &[Setting::IdpId]);
    }
}
