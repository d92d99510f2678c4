//! Where requests go: the base URL of the CloudDC service.
//!
//! Owns URL validation (scheme, host, optional path prefix), the https-only
//! rule with its loopback exception, and the known regions. Must not read the
//! environment (see `config`) nor build requests (see `request`).

use std::fmt;
use std::net::IpAddr;

use http::Uri;
use http::uri::{Authority, Scheme};

use crate::error::Error;
use crate::ids::{InstanceId, ProjectId, push_segment};

/// The regions the vendor SDK knows for CloudDC.
pub const KNOWN_REGIONS: &[&str] = &[
    "cn-east-3",
    "cn-southwest-2",
    "cn-south-1",
    "ap-southeast-3",
];

/// A region name such as `cn-east-3`: lowercase ASCII letters, digits and
/// hyphens, at most 64 of them. The one check of a region, for the core,
/// the command and the simulator.
///
/// ```
/// use clouddc_core::Region;
/// let r = Region::new("cn-east-3")?;
/// assert!(r.is_known());
/// assert_eq!(r.iam_endpoint().to_string(), "https://iam.cn-east-3.myhuaweicloud.com");
/// assert!(Region::new("CN East 3").is_err());
/// assert!(!Region::new("xx-north-9")?.is_known());
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Region(String);

impl Region {
    /// `name`, when it is a region name.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(name))
        } else {
            let shown: String = name.chars().take(64).collect();
            Err(Error::invalid_input(format!(
                "region {shown:?} is not a region name such as cn-east-3"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the vendor's SDK knows CloudDC in this region
    /// ([`KNOWN_REGIONS`]).
    pub fn is_known(&self) -> bool {
        KNOWN_REGIONS.contains(&self.0.as_str())
    }

    /// The region's public IAM endpoint.
    pub fn iam_endpoint(&self) -> Endpoint {
        Endpoint::parse(&format!("https://iam.{}.myhuaweicloud.com", self.0))
            .unwrap_or_else(|_| unreachable!("a region name makes a valid host"))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Region {
    type Error = Error;
    fn try_from(name: &str) -> Result<Self, Error> {
        Self::new(name)
    }
}

/// The base URL of the service: scheme, host, optional port and path prefix.
///
/// `https` is required unless the host is loopback (`127.0.0.0/8`, `::1`,
/// `localhost`) or [`Endpoint::parse_allow_insecure`] is used.
///
/// ```
/// use clouddc_core::Endpoint;
/// let e = Endpoint::from_region("cn-east-3").unwrap();
/// assert_eq!(e.to_string(), "https://clouddc.cn-east-3.myhuaweicloud.com");
/// assert!(Endpoint::parse("http://127.0.0.1:8080").is_ok());
/// assert!(Endpoint::parse("http://example.com").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
}

impl Endpoint {
    /// Parses a base URL, refusing plain `http` to a non-loopback host.
    pub fn parse(url: &str) -> Result<Self, Error> {
        Self::parse_inner(url, false)
    }

    /// Parses a base URL, allowing plain `http` to any host. Requests and
    /// tokens then travel unencrypted.
    pub fn parse_allow_insecure(url: &str) -> Result<Self, Error> {
        Self::parse_inner(url, true)
    }

    /// The public endpoint of a known region.
    pub fn from_region(region: &str) -> Result<Self, Error> {
        if !Region::new(region).is_ok_and(|r| r.is_known()) {
            return Err(Error::invalid_input(format!(
                "unknown region {region:?}: use one of {} or pass an endpoint URL",
                KNOWN_REGIONS.join(", ")
            )));
        }
        Self::parse(&format!("https://clouddc.{region}.myhuaweicloud.com"))
    }

    /// The environment variable the vendor SDKs read to override a region's
    /// endpoint, e.g. `HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3`.
    pub fn region_override_var(region: &str) -> String {
        format!(
            "HUAWEICLOUD_SDK_REGION_CLOUDDC_{}",
            region.to_ascii_uppercase().replace('-', "_")
        )
    }

    fn parse_inner(url: &str, allow_insecure: bool) -> Result<Self, Error> {
        let url = url.trim();
        // Every message shows the URL with its password hidden.
        let shown = redact_userinfo(url);
        let bad = |why: &str| {
            Error::invalid_input(format!(
                "endpoint {shown:?} {why}: expected scheme://host[:port][/prefix], e.g. https://clouddc.cn-east-3.myhuaweicloud.com"
            ))
        };
        let uri: Uri = url.parse().map_err(|_| bad("is not a valid URL"))?;
        let scheme = uri.scheme().cloned().ok_or_else(|| bad("has no scheme"))?;
        let authority = uri.authority().cloned().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("contains user info; pass credentials separately"));
        }
        if authority.host().is_empty() {
            return Err(bad("has no host"));
        }
        let after_host = &authority.as_str()[authority.as_str().rfind(']').unwrap_or(0)..];
        if after_host.ends_with(':')
            || (after_host.contains(':') && authority.port_u16().is_none_or(|p| p == 0))
        {
            return Err(bad("has an invalid port (1-65535)"));
        }
        let authority: Authority = authority
            .as_str()
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| bad("has an invalid host"))?;
        if uri.query().is_some() || url.contains('#') {
            return Err(bad("has a query or fragment"));
        }
        if scheme == Scheme::HTTP {
            if !allow_insecure && !is_loopback_host(authority.host()) {
                return Err(Error::invalid_setting(
                    format!(
                        "endpoint {shown:?} uses plain http to a non-loopback host: use https, or allow insecure http explicitly"
                    ),
                    vec![crate::error::Setting::InsecureHttp],
                ));
            }
        } else if scheme != Scheme::HTTPS {
            return Err(bad("must use https (or http to a loopback host)"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let b = prefix.as_bytes();
        let bad_escape = b.iter().enumerate().any(|(i, &c)| {
            c == b'%'
                && !(i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit())
        });
        if bad_escape {
            return Err(bad("has a path prefix with an invalid %-escape"));
        }
        Ok(Self {
            scheme,
            authority,
            prefix,
        })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &str {
        self.scheme.as_str()
    }

    /// The value of the `Host` header: host and, when given, port.
    pub fn host_header(&self) -> &str {
        self.authority.as_str()
    }

    /// The path prefix, empty or starting with `/`, no trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the host is loopback.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.authority.host())
    }

    /// The path of the status call, each id one percent-encoded segment.
    pub fn status_path(&self, project: &ProjectId, id: &InstanceId) -> String {
        status_path(&self.instances_path(project), id)
    }

    /// The full URI of the status call.
    pub fn status_uri(&self, project: &ProjectId, id: &InstanceId) -> Result<Uri, Error> {
        self.status_uri_under(&self.instances_path(project), id)
    }

    /// `{prefix}/v1/{project}/instances/`, the part of every status path that
    /// does not depend on the instance (a config keeps it).
    pub(crate) fn instances_path(&self, project: &ProjectId) -> String {
        let mut p = String::with_capacity(self.prefix.len() + project.as_str().len() * 3 + 16);
        p.push_str(&self.prefix);
        p.push_str("/v1/");
        push_segment(&mut p, project.as_str());
        p.push_str("/instances/");
        p
    }

    /// The status URI of `id` under an [`Endpoint::instances_path`].
    pub(crate) fn status_uri_under(&self, instances: &str, id: &InstanceId) -> Result<Uri, Error> {
        self.uri_of(status_path(instances, id))
    }

    /// The URI of `path` (with its query) under this endpoint's prefix.
    pub(crate) fn uri_under_prefix(&self, path_and_query: &str) -> Result<Uri, Error> {
        self.uri_of(format!("{}{path_and_query}", self.prefix))
    }

    fn uri_of(&self, path_and_query: String) -> Result<Uri, Error> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(
            http::uri::PathAndQuery::try_from(path_and_query)
                .map_err(|e| Error::invalid_input(format!("cannot build the request URI: {e}")))?,
        );
        Uri::from_parts(parts)
            .map_err(|e| Error::invalid_input(format!("cannot build the request URI: {e}")))
    }
}

fn status_path(instances: &str, id: &InstanceId) -> String {
    let mut p = String::with_capacity(instances.len() + id.as_str().len() * 3 + 8);
    p.push_str(instances);
    push_segment(&mut p, id.as_str());
    p.push_str("/status");
    p
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

impl std::str::FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

/// Loopback means `127.0.0.0/8`, `::1` and `localhost`; `0.0.0.0` is not.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `url` with the password of its user info (or the whole user info, when
/// it has no `user:` part) shown as `****`: `http://admin:pw@host` becomes
/// `http://admin:****@host`. Text that is not a URL is returned as it is.
pub fn redact_userinfo(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return url.to_owned();
    };
    let user = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:****"),
        None => "****".to_owned(),
    };
    format!("{}{user}{}", &url[..start], &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_is_never_echoed() {
        for (url, shown) in [
            (
                "http://admin:S3cretPw@example.com",
                "http://admin:****@example.com",
            ),
            ("https://tok3n@h:8443/p?q=1", "https://****@h:8443/p?q=1"),
            ("http://a:b:c@h/x@y", "http://a:****@h/x@y"),
            ("not a url S3cretPw", "not a url S3cretPw"),
        ] {
            assert_eq!(redact_userinfo(url), shown);
        }
        for url in [
            "http://admin:S3cretPw@example.com",
            "https://admin:S3cretPw@h:0/",
        ] {
            for e in [Endpoint::parse(url), Endpoint::parse_allow_insecure(url)] {
                let e = e.unwrap_err().to_string();
                assert!(!e.contains("S3cretPw"), "{e}");
                assert!(e.contains("admin:****@"), "{e}");
            }
        }
    }

    #[test]
    fn regions() {
        for r in KNOWN_REGIONS {
            let e = Endpoint::from_region(r).unwrap();
            assert_eq!(e.host_header(), format!("clouddc.{r}.myhuaweicloud.com"));
            assert_eq!(e.scheme(), "https");
        }
        let err = Endpoint::from_region("eu-west-0").unwrap_err().to_string();
        assert!(
            err.contains("cn-east-3") && err.contains("ap-southeast-3"),
            "{err}"
        );
        assert_eq!(
            Endpoint::region_override_var("cn-east-3"),
            "HUAWEICLOUD_SDK_REGION_CLOUDDC_CN_EAST_3"
        );
    }

    #[test]
    fn loopback_rule() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:1",
            "http://LOCALHOST",
            "http://[::1]:9000",
            "https://example.com",
        ] {
            assert!(Endpoint::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://0.0.0.0:80",
            "http://10.0.0.1",
            "http://example.com",
            "http://[::2]",
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(e.to_string().contains("allow insecure http"), "{e}");
            assert_eq!(e.settings(), [crate::Setting::InsecureHttp]);
            assert!(Endpoint::parse_allow_insecure(bad).is_ok());
        }
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/?q=1",
            "https://example.com/#x",
            "https:///path",
            "not a url",
            "https://example.com:99999",
            "https://example.com:0",
            "https://example.com:",
            "https://example.com/%zz",
            "https://example.com/a%2",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prefix_and_path() {
        let e = Endpoint::parse("https://gw.example.com:8443/proxy/clouddc/").unwrap();
        assert_eq!(e.prefix(), "/proxy/clouddc");
        assert_eq!(e.host_header(), "gw.example.com:8443");
        let p = ProjectId::new("p 1").unwrap();
        let i = InstanceId::new("i/1").unwrap();
        assert_eq!(
            e.status_uri(&p, &i).unwrap().to_string(),
            "https://gw.example.com:8443/proxy/clouddc/v1/p%201/instances/i%2F1/status"
        );
        assert_eq!(e.to_string(), "https://gw.example.com:8443/proxy/clouddc");
        let e = Endpoint::parse("HTTPS://GW.Example.com/P%2f").unwrap();
        assert_eq!(e.host_header(), "gw.example.com");
        assert_eq!(e.prefix(), "/P%2f");
        assert!(Endpoint::parse("http://[::1]:8080").unwrap().is_loopback());
    }
}
