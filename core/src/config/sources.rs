//! The chain of sources a config is filled from, and where each setting
//! came from.
//!
//! Owns the vendor SDKs' order (explicit values, environment, profile file,
//! server metadata, with an OIDC pair before AK/SK within the environment
//! and within the profile; the project id: explicit, environment, profile,
//! IAM lookup), taking credentials whole from the first source that has any,
//! and reading the profile file only when a value is still missing. Reads
//! through the functions the caller passes in. Must not parse the profile
//! file (see `profile`) nor fetch anything.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{ConfigBuilder, EnvLookup};
use crate::credentials::Credentials;
use crate::endpoint::Endpoint;
use crate::error::{Error, Setting};
use crate::identity::metadata::DEFAULT_METADATA_ENDPOINT;
use crate::identity::profile::{self, Profile};
use crate::ids::ProjectId;

/// Reads a whole file, as `std::fs::read` does.
pub type FileReader<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

/// Where a setting came from.
///
/// Its `Display` is the stable spelling `explicit`, `env:NAME`,
/// `file:PATH:LINE`, `metadata`, `oidc`, `iam`, `default` or `unset`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Origin {
    /// Set in code (in a command: a flag).
    Explicit,
    /// An environment variable.
    Env(String),
    /// A line of the profile file.
    File {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
    },
    /// The server metadata service.
    Metadata,
    /// IAM, by OIDC federation (an id token exchanged for temporary
    /// credentials).
    Oidc,
    /// The IAM project lookup.
    Iam,
    /// A built-in default (a region's public endpoint).
    Default,
    /// Not set.
    #[default]
    Unset,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit => f.write_str("explicit"),
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File { path, line } => write!(f, "file:{}:{line}", path.display()),
            Self::Metadata => f.write_str("metadata"),
            Self::Oidc => f.write_str("oidc"),
            Self::Iam => f.write_str("iam"),
            Self::Default => f.write_str("default"),
            Self::Unset => f.write_str("unset"),
        }
    }
}

/// Where each setting of a config came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Origins {
    /// The endpoint.
    pub endpoint: Origin,
    /// The region.
    pub region: Origin,
    /// The project id ([`Origin::Iam`]: looked up, or to be).
    pub project_id: Origin,
    /// The credentials.
    pub credentials: Origin,
}

const CREDENTIALS_FILE: &str = "HUAWEICLOUD_SDK_CREDENTIALS_FILE";
const IDP_ID: &str = "HUAWEICLOUD_SDK_IDP_ID";
const ID_TOKEN_FILE: &str = "HUAWEICLOUD_SDK_ID_TOKEN_FILE";
const IAM_ENDPOINT: &str = "HUAWEICLOUD_SDK_IAM_ENDPOINT";
const METADATA: &str = "CLOUDDC_METADATA_ENDPOINT";

/// The profile file, read at most once and only when asked for.
struct LazyProfile<'a> {
    lookup: EnvLookup<'a>,
    read_file: Option<FileReader<'a>>,
    loaded: Option<Option<Profile>>,
}

impl LazyProfile<'_> {
    fn get(&mut self) -> Result<Option<&Profile>, Error> {
        if self.loaded.is_none() {
            self.loaded = Some(self.load()?);
        }
        Ok(self.loaded.as_ref().and_then(Option::as_ref))
    }

    fn load(&self) -> Result<Option<Profile>, Error> {
        let Some(read) = self.read_file else {
            return Ok(None);
        };
        let named = non_empty(self.lookup, CREDENTIALS_FILE);
        let path = match &named {
            Some(p) => PathBuf::from(p),
            None => match non_empty(self.lookup, "HOME")
                .or_else(|| non_empty(self.lookup, "USERPROFILE"))
            {
                Some(home) => Path::new(&home).join(".huaweicloud").join("credentials"),
                None => return Ok(None),
            },
        };
        match read(&path) {
            Ok(bytes) => profile::parse(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && named.is_none() => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::invalid_input(format!(
                    "{CREDENTIALS_FILE} names {}, which does not exist: fix the path or unset it",
                    path.display()
                )))
            }
            Err(e) => Err(Error::invalid_input(format!(
                "cannot read the profile file {}: {e}: make it readable, or point {CREDENTIALS_FILE} at another file",
                path.display()
            ))),
        }
    }
}

/// Whether `url` is the metadata service's own address, the one plain
/// `http` URL allowed without opting in.
fn is_default_metadata(url: &str) -> bool {
    url.trim().trim_end_matches('/') == DEFAULT_METADATA_ENDPOINT
}

fn non_empty(lookup: EnvLookup<'_>, key: &str) -> Option<String> {
    lookup(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Fills `b` from the sources, first hit wins; see
/// [`ConfigBuilder::with_sources`].
pub(super) fn fill(
    mut b: ConfigBuilder,
    lookup: EnvLookup<'_>,
    read_file: Option<FileReader<'_>>,
) -> Result<ConfigBuilder, Error> {
    let get = |k: &str| non_empty(lookup, k);
    let mut profile = LazyProfile {
        lookup,
        read_file,
        loaded: None,
    };
    let mut missing = Vec::new();
    let allow_insecure = b.allow_insecure_http;
    // Every URL error names where the URL came from.
    let parse_from = |url: &str, from: &str| {
        let parsed = if allow_insecure || is_default_metadata(url) && from == METADATA {
            Endpoint::parse_allow_insecure(url)
        } else {
            Endpoint::parse(url)
        };
        parsed.map_err(|e| {
            // The refusal keeps what it is about (plain http), and a bad
            // endpoint URL is about the endpoint.
            let mut settings = e.settings().to_vec();
            if from.starts_with("CLOUDDC_ENDPOINT") || from.starts_with("HUAWEICLOUD_SDK_REGION_") {
                settings.insert(0, Setting::Endpoint);
            }
            Error::invalid_setting(
                format!(
                    "{from}: {}",
                    e.to_string().trim_start_matches("invalid input: ")
                ),
                settings,
            )
        })
    };

    // Region, then endpoint: an explicit region wins over CLOUDDC_ENDPOINT.
    let explicit_region = b.region.is_some();
    if b.region.is_none()
        && let Some(r) = get("HUAWEICLOUD_SDK_REGION")
    {
        b.region = Some(r);
        b.origins.region = Origin::Env("HUAWEICLOUD_SDK_REGION".into());
    }
    if b.endpoint.is_none() {
        match (explicit_region, get("CLOUDDC_ENDPOINT"), b.region.clone()) {
            (false, Some(url), _) => {
                b.endpoint = Some(parse_from(&url, "CLOUDDC_ENDPOINT")?);
                b.origins.endpoint = Origin::Env("CLOUDDC_ENDPOINT".into());
            }
            (_, _, Some(region)) => {
                let var = Endpoint::region_override_var(&region);
                let over = get(&var).and_then(|v| {
                    v.split(',')
                        .map(str::trim)
                        .find(|s| !s.is_empty())
                        .map(str::to_owned)
                });
                b.endpoint = Some(match over {
                    Some(url) => {
                        let e = parse_from(&url, &var)?;
                        b.origins.endpoint = Origin::Env(var);
                        e
                    }
                    None => {
                        b.origins.endpoint = Origin::Default;
                        Endpoint::from_region(&region)?
                    }
                });
            }
            _ => missing.push((
                Setting::Endpoint,
                "CLOUDDC_ENDPOINT or HUAWEICLOUD_SDK_REGION".to_owned(),
            )),
        }
    }

    // Credentials, whole from the first source with any of them.
    if b.credentials.is_none() && b.metadata.is_none() && b.oidc.is_none() {
        let (idp, token_file) = (get(IDP_ID), get(ID_TOKEN_FILE));
        let (ak, sk, st) = (
            get("HUAWEICLOUD_SDK_AK"),
            get("HUAWEICLOUD_SDK_SK"),
            get("HUAWEICLOUD_SDK_SECURITY_TOKEN"),
        );
        if let Some(t) = get("CLOUDDC_AUTH_TOKEN") {
            b.credentials = Some(Credentials::token(t)?);
            b.origins.credentials = Origin::Env("CLOUDDC_AUTH_TOKEN".into());
        } else if idp.is_some() || token_file.is_some() {
            match (idp, token_file) {
                (Some(idp), Some(file)) => b = b.oidc(idp, file),
                (Some(_), None) => missing.push((
                    Setting::IdTokenFile,
                    format!("{ID_TOKEN_FILE} ({IDP_ID} is set)"),
                )),
                (None, _) => {
                    missing.push((Setting::IdpId, format!("{IDP_ID} ({ID_TOKEN_FILE} is set)")))
                }
            }
        } else if ak.is_some() || sk.is_some() || st.is_some() {
            match (ak, sk) {
                (Some(ak), Some(sk)) => {
                    b.credentials = Some(match st {
                        Some(st) => Credentials::temporary(ak, sk, st)?,
                        None => Credentials::ak_sk(ak, sk)?,
                    });
                    b.origins.credentials = Origin::Env("HUAWEICLOUD_SDK_AK".into());
                }
                (Some(_), None) => missing.push((Setting::AccessKeys, "HUAWEICLOUD_SDK_SK (HUAWEICLOUD_SDK_AK is set)".into())),
                (None, Some(_)) => missing.push((Setting::AccessKeys, "HUAWEICLOUD_SDK_AK (HUAWEICLOUD_SDK_SK is set)".into())),
                (None, None) => missing.push((
                    Setting::AccessKeys,
                    "HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (HUAWEICLOUD_SDK_SECURITY_TOKEN is set)".into(),
                )),
            }
        } else if let Some((idp, file)) = match profile.get()? {
            Some(p) => p.oidc()?,
            None => None,
        } {
            b = b.oidc(idp, file);
        } else if let Some((c, line)) = match profile.get()? {
            Some(p) => p
                .credentials()?
                .map(|(c, line)| (c, (p.path().to_owned(), line))),
            None => None,
        } {
            b.credentials = Some(c);
            b.origins.credentials = Origin::File {
                path: line.0,
                line: line.1,
            };
        } else {
            match get(METADATA).as_deref() {
                Some(off) if off.eq_ignore_ascii_case("off") => {
                    let file = profile.get()?.map(|p| p.path().display().to_string());
                    missing.push((Setting::Credentials, match file {
                        Some(f) => format!(
                            "CLOUDDC_AUTH_TOKEN, {IDP_ID} + {ID_TOKEN_FILE} or HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK, or ak and sk in the [basic] section of {f} (server metadata is off: {METADATA}=off)"
                        ),
                        None => format!(
                            "CLOUDDC_AUTH_TOKEN, {IDP_ID} + {ID_TOKEN_FILE} or HUAWEICLOUD_SDK_AK + HUAWEICLOUD_SDK_SK, or a profile file (server metadata is off: {METADATA}=off)"
                        ),
                    }));
                }
                Some(url) => {
                    b.metadata = Some(parse_from(url, METADATA)?);
                    b.origins.credentials = Origin::Metadata;
                }
                None => {
                    b.metadata = Some(Endpoint::parse_allow_insecure(DEFAULT_METADATA_ENDPOINT)?);
                    b.origins.credentials = Origin::Metadata;
                }
            }
        }
    }

    // The project id: environment, profile, else (at build) IAM.
    if b.project_id.is_none() {
        if let Some(p) = get("HUAWEICLOUD_SDK_PROJECT_ID") {
            b.project_id = Some(ProjectId::new(p)?);
            b.origins.project_id = Origin::Env("HUAWEICLOUD_SDK_PROJECT_ID".into());
        } else if let Some((p, line, path)) = match profile.get()? {
            Some(prof) => prof
                .project_id()?
                .map(|(p, line)| (p, line, prof.path().to_owned())),
            None => None,
        } {
            b.project_id = Some(p);
            b.origins.project_id = Origin::File { path, line };
        } else if matches!(b.credentials, Some(Credentials::Token(_))) {
            missing.push((
                Setting::ProjectId,
                "HUAWEICLOUD_SDK_PROJECT_ID (with a token it cannot be looked up: find it in the console under My Credentials > API Credentials, in the row of your region)"
                    .into(),
            ));
        } else if b.iam_endpoint.is_none() {
            b.iam_endpoint = iam_endpoint(&get, &mut profile, &parse_from)?;
            if b.region.is_none() {
                missing.push((
                    Setting::ProjectId,
                    "HUAWEICLOUD_SDK_PROJECT_ID, or HUAWEICLOUD_SDK_REGION to look it up".into(),
                ));
            }
        }
    }
    // OIDC federation's IAM endpoint, as the lookup's.
    if b.oidc.is_some() && b.iam_endpoint.is_none() {
        b.iam_endpoint = iam_endpoint(&get, &mut profile, &parse_from)?;
    }
    b.missing.extend(missing);
    Ok(b)
}

/// The IAM endpoint set: `HUAWEICLOUD_SDK_IAM_ENDPOINT`, else the profile's
/// `iam_endpoint`.
fn iam_endpoint(
    get: &dyn Fn(&str) -> Option<String>,
    profile: &mut LazyProfile<'_>,
    parse_from: &dyn Fn(&str, &str) -> Result<Endpoint, Error>,
) -> Result<Option<Endpoint>, Error> {
    if let Some(url) = get(IAM_ENDPOINT) {
        return parse_from(&url, IAM_ENDPOINT).map(Some);
    }
    match profile.get()?.and_then(|p| {
        p.iam_endpoint()
            .map(|e| (e.value.clone(), e.line, p.path().to_owned()))
    }) {
        Some((url, line, path)) => {
            parse_from(&url, &format!("{}:{line}: iam_endpoint", path.display())).map(Some)
        }
        None => Ok(None),
    }
}
