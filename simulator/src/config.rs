//! The simulator's configuration: where it listens, which project it
//! serves, how it authenticates, its seed, its first instances and faults,
//! the gateway's flow-control policies, the server metadata service, IAM's
//! projects and the gateway's clock.
//!
//! Owns those settings as plain data and their checks, made once by
//! [`SimConfigBuilder::build`]. Must not hold live state (the
//! [`Simulator`](crate::Simulator) built from a config owns it; a config
//! never changes after `build`) nor read a clock.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clouddc_core::ProjectId;

use crate::auth::Auth;
use crate::bucket::RateLimit;
use crate::error::Error;
use crate::faults::Faults;
use crate::flow::{self, FlowPolicy};
use crate::iam::{self, DEFAULT_REGION, IamProject};
use crate::lifecycle::Schedule;
use crate::metadata::Metadata;
use crate::oidc::Oidc;

/// The project id served when none is configured.
pub const DEFAULT_PROJECT_ID: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// The largest `X-Sdk-Date` skew accepted by default: 15 minutes.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The largest gateway clock offset, either way: 10 years, in seconds.
pub const MAX_CLOCK_OFFSET_SECS: i64 = 10 * 365 * 24 * 3600;

/// The most seeded instances: at start, or after a reset.
const MAX_SEEDED_INSTANCES: usize = 100_000;

/// Checks a number of seeded instances.
pub(crate) fn check_instances(n: usize) -> Result<(), String> {
    if n > MAX_SEEDED_INSTANCES {
        Err(format!(
            "{n} instances asked for; at most {MAX_SEEDED_INSTANCES}"
        ))
    } else {
        Ok(())
    }
}

/// Checks a gateway clock offset.
pub(crate) fn check_clock_offset(secs: i64) -> Result<(), String> {
    if secs.unsigned_abs() > MAX_CLOCK_OFFSET_SECS.unsigned_abs() {
        Err(format!(
            "the clock offset is {secs} s; at most {MAX_CLOCK_OFFSET_SECS} s either way"
        ))
    } else {
        Ok(())
    }
}

/// The simulator's settings. Build with [`SimConfig::builder`].
///
/// ```
/// use clouddc_simulator::{Auth, FlowPolicy, SimConfig};
/// use std::time::Duration;
/// let config = SimConfig::builder()
///     .listen("127.0.0.1:0".parse().unwrap())
///     .project_id("p1")
///     .auth(Auth::token("secret"))
///     .instances(5)
///     .seed(7)
///     // The gateway's flow control: 20 calls per second per user, 200 per
///     // 5 minutes for the API.
///     .flow_policy(FlowPolicy::per_user(20, Duration::from_secs(1)))
///     .flow_policy(FlowPolicy::per_api(200, Duration::from_secs(300)))
///     .build()
///     .unwrap();
/// assert_eq!(config.project_id(), "p1");
/// assert_eq!(config.flow_policies().len(), 2);
/// // IAM lists one project by default: this one, named after the region.
/// assert_eq!(config.iam_projects()[0].id, "p1");
/// assert_eq!(config.iam_projects()[0].name, "cn-east-3");
/// ```
#[derive(Debug, Clone)]
pub struct SimConfig {
    listen: SocketAddr,
    project_id: String,
    auth: Auth,
    seed: u64,
    instances: usize,
    schedule: Schedule,
    faults: Faults,
    flow_policies: Vec<FlowPolicy>,
    max_skew: Duration,
    metadata: Metadata,
    region: String,
    iam_projects: Option<Vec<IamProject>>,
    oidc: Oidc,
    clock_offset_secs: i64,
}

impl Default for SimConfig {
    /// `127.0.0.1:0`, project [`DEFAULT_PROJECT_ID`], any token, seed 1,
    /// no instances, the default [`Schedule`], no faults, no flow-control
    /// policies, 15 minutes skew,
    /// no metadata service, region [`DEFAULT_REGION`](crate::DEFAULT_REGION)
    /// with IAM listing the one project, the gateway's clock on time.
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            project_id: DEFAULT_PROJECT_ID.to_owned(),
            auth: Auth::AnyToken,
            seed: 1,
            instances: 0,
            schedule: Schedule::default(),
            faults: Faults::default(),
            flow_policies: Vec::new(),
            max_skew: DEFAULT_MAX_SKEW,
            metadata: Metadata::off(),
            region: DEFAULT_REGION.to_owned(),
            iam_projects: None,
            oidc: Oidc::off(),
            clock_offset_secs: 0,
        }
    }
}

impl SimConfig {
    /// A builder starting from [`SimConfig::default`].
    pub fn builder() -> SimConfigBuilder {
        SimConfigBuilder {
            config: Self::default(),
        }
    }

    /// The address to listen on.
    pub fn listen(&self) -> SocketAddr {
        self.listen
    }

    /// The project id served.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// How requests are authenticated.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The seed of every random choice.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many instances exist at start (and after a reset).
    pub fn instances(&self) -> usize {
        self.instances
    }

    /// The schedule of instances created without one.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The global faults at start (and after a reset).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The gateway's flow-control policies at start (and after a reset).
    pub fn flow_policies(&self) -> &[FlowPolicy] {
        &self.flow_policies
    }

    /// The largest accepted `X-Sdk-Date` skew.
    pub fn max_skew(&self) -> Duration {
        self.max_skew
    }

    /// The server metadata service's settings at start (and after a reset).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// IAM's OIDC federation at start (and after a reset).
    pub fn oidc(&self) -> &Oidc {
        &self.oidc
    }

    /// The region: the name of IAM's default project.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The projects IAM lists at start (and after a reset): those set with
    /// [`SimConfigBuilder::iam_projects`], or else one, the served project
    /// named after the region.
    pub fn iam_projects(&self) -> Vec<IamProject> {
        self.iam_projects.clone().unwrap_or_else(|| {
            vec![IamProject::new(
                self.project_id.clone(),
                self.region.clone(),
            )]
        })
    }

    /// The gateway's clock offset from the simulator's wall clock, in
    /// seconds (positive: the gateway is ahead).
    pub fn clock_offset_secs(&self) -> i64 {
        self.clock_offset_secs
    }
}

/// Builds a [`SimConfig`]; setters are named after the setting.
#[derive(Debug, Clone)]
#[must_use]
pub struct SimConfigBuilder {
    config: SimConfig,
}

impl SimConfigBuilder {
    /// Address to listen on (port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.listen = addr;
        self
    }

    /// The project id served; requests for another get 403.
    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.config.project_id = project_id.into();
        self
    }

    /// How requests are authenticated.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.config.auth = auth;
        self
    }

    /// The seed of the schedules, ids and fault draws.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// How many instances to create at start, with a seeded mix of
    /// schedules (see [`Simulator::new`](crate::Simulator::new)).
    pub fn instances(mut self, n: usize) -> Self {
        self.config.instances = n;
        self
    }

    /// The schedule of instances created without one.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.config.schedule = schedule;
        self
    }

    /// The global faults at start.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.config.faults = faults;
        self
    }

    /// Adds a flow-control policy of the gateway (none by default): at most
    /// `limit` calls per fixed window, per API or per user, answered beyond
    /// it with 429 `APIGW.0308` and no `Retry-After`. Several may be added;
    /// a call over any of them is refused, quoting the first exhausted one
    /// in the order added.
    pub fn flow_policy(mut self, policy: FlowPolicy) -> Self {
        self.config.flow_policies.push(policy);
        self
    }

    /// Replaces the flow-control policies with `policies`.
    pub fn flow_policies(mut self, policies: impl IntoIterator<Item = FlowPolicy>) -> Self {
        self.config.flow_policies = policies.into_iter().collect();
        self
    }

    /// A global token bucket of `rps` requests per second (burst
    /// `ceil(rps)`), answered beyond it with 429, a plain-text body and
    /// `Retry-After`, as a proxy in front of the gateway may; sets
    /// [`Faults::rate_limit`]. The gateway itself throttles with
    /// [`flow_policy`](Self::flow_policy).
    pub fn token_bucket(mut self, rps: f64) -> Self {
        self.config.faults.rate_limit = Some(RateLimit::per_second(rps));
        self
    }

    /// The largest accepted `X-Sdk-Date` skew (default 15 minutes).
    pub fn max_skew(mut self, skew: Duration) -> Self {
        self.config.max_skew = skew;
        self
    }

    /// The server metadata service (default [`Metadata::off`]): session
    /// tokens, agency, credential rotation and its faults.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.config.metadata = metadata;
        self
    }

    /// IAM's OIDC federation (default [`Oidc::off`]): the identity
    /// provider, the id tokens accepted, the credentials' lifetime, a
    /// refusal.
    pub fn oidc(mut self, oidc: Oidc) -> Self {
        self.config.oidc = oidc;
        self
    }

    /// The region (default `cn-east-3`): the name IAM gives the served
    /// project, unless [`iam_projects`](Self::iam_projects) is set.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.config.region = region.into();
        self
    }

    /// The projects IAM lists (any number, zero included), instead of the
    /// served project named after the region.
    pub fn iam_projects(mut self, projects: impl IntoIterator<Item = IamProject>) -> Self {
        self.config.iam_projects = Some(projects.into_iter().collect());
        self
    }

    /// The gateway's clock offset in seconds (positive: ahead of this
    /// machine's clock; default 0). It moves the `Date` of gateway and IAM
    /// answers and the time `X-Sdk-Date` is checked against.
    pub fn clock_offset_secs(mut self, secs: i64) -> Self {
        self.config.clock_offset_secs = secs;
        self
    }

    /// Checks the settings.
    pub fn build(self) -> Result<SimConfig, Error> {
        let c = self.config;
        let project = ProjectId::new(c.project_id.clone())
            .map_err(|e| Error::Config(format!("project id: {e}")))?;
        if project.as_str().contains('/') {
            return Err(Error::Config("project id must not contain '/'".to_owned()));
        }
        match &c.auth {
            Auth::Token(t) if t.expose().is_empty() => {
                return Err(Error::Config("the token is empty".to_owned()));
            }
            Auth::AkSk {
                access_key,
                secret_key,
                security_token,
            } => {
                if access_key.is_empty() || access_key.contains([',', ' ', '=']) {
                    return Err(Error::Config(
                        "the access key is empty or contains ',', ' ' or '='".to_owned(),
                    ));
                }
                if secret_key.expose().is_empty() {
                    return Err(Error::Config("the secret key is empty".to_owned()));
                }
                if security_token
                    .as_ref()
                    .is_some_and(|s| s.expose().is_empty())
                {
                    return Err(Error::Config("the security token is empty".to_owned()));
                }
            }
            _ => {}
        }
        check_instances(c.instances).map_err(Error::Config)?;
        c.schedule.validate().map_err(Error::Config)?;
        c.faults.validate().map_err(Error::Config)?;
        flow::validate(&c.flow_policies).map_err(Error::Config)?;
        c.metadata.validate().map_err(Error::Config)?;
        iam::validate_region(&c.region).map_err(Error::Config)?;
        if let Some(p) = &c.iam_projects {
            iam::validate(p).map_err(Error::Config)?;
        }
        check_clock_offset(c.clock_offset_secs).map_err(Error::Config)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = SimConfig::builder().build().unwrap();
        assert_eq!(c.listen(), "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.project_id(), DEFAULT_PROJECT_ID);
        assert_eq!(c.auth().mode(), "any_token");
        assert_eq!(c.max_skew(), Duration::from_secs(900));
        assert!(SimConfig::builder().project_id("").build().is_err());
        assert!(SimConfig::builder().project_id("a/b").build().is_err());
        assert!(SimConfig::builder().auth(Auth::token("")).build().is_err());
        assert!(
            SimConfig::builder()
                .auth(Auth::ak_sk("", "sk"))
                .build()
                .is_err()
        );
        assert!(
            SimConfig::builder()
                .auth(Auth::ak_sk("ak", ""))
                .build()
                .is_err()
        );
        assert!(SimConfig::builder().token_bucket(0.0).build().is_err());
        let c = SimConfig::builder().token_bucket(2.5).build().unwrap();
        assert_eq!(c.faults().rate_limit, Some(RateLimit::per_second(2.5)));
        assert!(c.flow_policies().is_empty());
    }

    #[test]
    fn flow_policies_are_added_in_order_and_checked() {
        let s = Duration::from_secs;
        assert!(
            SimConfig::builder()
                .build()
                .unwrap()
                .flow_policies()
                .is_empty()
        );
        let (a, b) = (
            FlowPolicy::per_api(60, s(6)),
            FlowPolicy::per_user(20, s(1)),
        );
        let c = SimConfig::builder()
            .flow_policy(a)
            .flow_policy(b)
            .build()
            .unwrap();
        assert_eq!(c.flow_policies(), [a, b]);
        assert!(c.faults().rate_limit.is_none(), "no token bucket");
        let c = SimConfig::builder()
            .flow_policy(a)
            .flow_policies([b])
            .build()
            .unwrap();
        assert_eq!(c.flow_policies(), [b]);
        let bad = |p: FlowPolicy| {
            SimConfig::builder()
                .flow_policy(p)
                .build()
                .unwrap_err()
                .to_string()
        };
        assert!(bad(FlowPolicy::per_api(0, s(1))).contains("limit"));
        assert!(
            bad(FlowPolicy::per_api(5, Duration::from_millis(500)))
                .contains("whole number of seconds")
        );
    }

    #[test]
    fn metadata_iam_and_clock_settings() {
        let c = SimConfig::builder().build().unwrap();
        assert!(!c.metadata().enabled);
        assert_eq!(c.region(), "cn-east-3");
        assert_eq!(
            c.iam_projects(),
            [IamProject::new(DEFAULT_PROJECT_ID, "cn-east-3")]
        );
        assert_eq!(c.clock_offset_secs(), 0);
        let c = SimConfig::builder()
            .project_id("p9")
            .region("ap-southeast-3")
            .clock_offset_secs(-3600)
            .metadata(Metadata::on())
            .build()
            .unwrap();
        assert_eq!(c.iam_projects(), [IamProject::new("p9", "ap-southeast-3")]);
        assert_eq!(c.clock_offset_secs(), -3600);
        assert!(c.metadata().enabled);
        let none = SimConfig::builder().iam_projects([]).build().unwrap();
        assert!(none.iam_projects().is_empty());
        let bad = |b: SimConfigBuilder| b.build().unwrap_err().to_string();
        assert!(bad(SimConfig::builder().region("Bad Region")).contains("region"));
        assert!(bad(SimConfig::builder().iam_projects([IamProject::new("", "r")])).contains("id"));
        assert!(bad(SimConfig::builder().clock_offset_secs(i64::MIN)).contains("offset"));
        assert!(
            bad(SimConfig::builder().metadata(
                Metadata::on().with_rotation(Duration::from_secs(2), Duration::from_secs(1))
            ))
            .contains("lifetime_ms")
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let marker = "MARKER-SECRET-5521";
        for auth in [
            Auth::token(marker),
            Auth::ak_sk("AK", marker),
            Auth::temporary("AK", marker, marker),
        ] {
            let c = SimConfig::builder().auth(auth).build().unwrap();
            let shown = format!("{c:?}");
            assert!(!shown.contains(marker), "{shown}");
        }
    }
}
