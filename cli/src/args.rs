//! Command-line arguments: the flags, environment variables and defaults of
//! the `clouddc` contract (`CLI.md`).
//!
//! Owns parsing only, and which subcommand takes which option. The options
//! that may come before or after the subcommand are defined once
//! ([`GlobalArgs`]); each subcommand offers the ones it uses ([`takes`]) and
//! refuses the others in either position; after parsing they are merged, so
//! [`Cli::global`] holds them wherever they were given. Must not resolve
//! settings (see `settings`) or talk to the network, and uses nothing else of
//! this crate: the man-page example builds this module on its own.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{
    ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum, ValueHint,
};
use clouddc_core::InstanceState;

/// The help heading of the options every subcommand that prints uses.
const GLOBAL: &str = "Global options";
/// The help heading of the options that say where and how to reach the API.
const CONNECTION: &str = "Connection options";

/// The parsed command line: the options that may come on either side of the
/// subcommand, merged, and the subcommand with its own arguments.
#[derive(Debug)]
pub(crate) struct Cli {
    /// The options of [`GlobalArgs`], from either position (after the
    /// subcommand wins; `-v` counts in both).
    pub(crate) global: GlobalArgs,
    /// The subcommand.
    pub(crate) command: Command,
}

/// Query and wait on Huawei Cloud CloudDC instance status.
#[derive(Debug, Parser)]
#[command(name = "clouddc", version, propagate_version = true)]
#[command(
    after_help = "Options may come before or after the subcommand; each subcommand takes only the \
options it uses (see `clouddc SUBCOMMAND --help`): the connection options go with status, wait, watch, \
exporter and config (--project-id and --token also with simulate, --transport also with demo).\n\
Environment: CLOUDDC_ENDPOINT, HUAWEICLOUD_SDK_REGION, HUAWEICLOUD_SDK_PROJECT_ID, \
CLOUDDC_AUTH_TOKEN, HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_SECURITY_TOKEN, \
HUAWEICLOUD_SDK_CREDENTIALS_FILE (else ~/.huaweicloud/credentials), HUAWEICLOUD_SDK_IAM_ENDPOINT, \
CLOUDDC_METADATA_ENDPOINT (`off` turns server metadata off).\n\
Exit codes: 0 ok; 1 API failure; 2 usage or configuration error (nothing sent); \
3 wait: an instance failed; 4 wait: timed out; 130/143 interrupted; 141 stdout closed."
)]
struct Definition {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options that may come before or after the subcommand, for the
/// subcommands that use them ([`takes`]).
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Output format: a table for people, JSON Lines for scripts.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table, help_heading = GLOBAL)]
    pub(crate) output: OutputFormat,
    /// Debug logs to stderr (never secrets); repeat for more detail.
    #[arg(short, long = "verbose", action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub(crate) verbose: u8,
    /// Base URL: scheme, host, optional port and path prefix [env: CLOUDDC_ENDPOINT].
    #[arg(long, value_name = "URL", value_hint = ValueHint::Url, help_heading = CONNECTION)]
    pub(crate) endpoint: Option<String>,
    /// A known region [env: HUAWEICLOUD_SDK_REGION].
    #[arg(long, value_name = "ID", value_parser = regions(), help_heading = CONNECTION)]
    pub(crate) region: Option<String>,
    /// The project id, required for API commands [env: HUAWEICLOUD_SDK_PROJECT_ID].
    #[arg(long, value_name = "ID", help_heading = CONNECTION)]
    pub(crate) project_id: Option<String>,
    /// IAM token (prefer --token-file or CLOUDDC_AUTH_TOKEN: arguments are visible to other users).
    #[arg(
        long,
        value_name = "TOKEN",
        conflicts_with = "token_file",
        help_heading = CONNECTION
    )]
    pub(crate) token: Option<String>,
    /// A file holding the IAM token (surrounding whitespace is trimmed).
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath, help_heading = CONNECTION)]
    pub(crate) token_file: Option<PathBuf>,
    /// Which adapter carries the calls (default: reqwest when built in).
    #[arg(long, value_enum, default_value_t = TransportKind::built_in_default(), help_heading = CONNECTION)]
    pub(crate) transport: TransportKind,
    /// Per-attempt timeout, e.g. 10s, 500ms.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration, help_heading = CONNECTION)]
    pub(crate) attempt_timeout: Duration,
    /// Total attempts per call, the first included.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=20),
        help_heading = CONNECTION
    )]
    pub(crate) max_attempts: u32,
    /// Allow plain http to a non-loopback host (tokens travel unencrypted).
    #[arg(long, help_heading = CONNECTION)]
    pub(crate) insecure_http: bool,
}

/// The options of [`GlobalArgs`] (by argument id) that `subcommand` takes;
/// it refuses the others, before or after its name.
fn takes(subcommand: &str) -> &'static [&'static str] {
    const API: &[&str] = &[
        "output",
        "verbose",
        "endpoint",
        "region",
        "project_id",
        "token",
        "token_file",
        "transport",
        "attempt_timeout",
        "max_attempts",
        "insecure_http",
    ];
    match subcommand {
        "status" | "wait" | "watch" | "config" => API,
        // Serves metrics, prints no records: no `--output`.
        "exporter" => &API[1..],
        "simulate" => &["output", "verbose", "project_id", "token", "token_file"],
        "demo" => &["output", "verbose", "transport"],
        // completions: `-v` is accepted and changes nothing.
        _ => &["verbose"],
    }
}

impl GlobalArgs {
    /// The clap definitions of the options, in help order.
    fn definitions() -> Vec<clap::Arg> {
        Self::augment_args(clap::Command::new("clouddc"))
            .get_arguments()
            .cloned()
            .collect()
    }

    /// Takes option `id` from `m` (matches in which it was given): the
    /// value replaces the one from before the subcommand; `-v` adds up.
    fn overlay(&mut self, m: &ArgMatches, id: &str) {
        fn one<T: Clone + Send + Sync + 'static>(m: &ArgMatches, id: &str) -> Option<T> {
            m.get_one::<T>(id).cloned()
        }
        match id {
            "endpoint" => self.endpoint = one(m, id),
            "region" => self.region = one(m, id),
            "project_id" => self.project_id = one(m, id),
            "token" => self.token = one(m, id),
            "token_file" => self.token_file = one(m, id),
            "output" => self.output = one(m, id).unwrap_or(self.output),
            "transport" => self.transport = one(m, id).unwrap_or(self.transport),
            "attempt_timeout" => self.attempt_timeout = one(m, id).unwrap_or(self.attempt_timeout),
            "max_attempts" => self.max_attempts = one(m, id).unwrap_or(self.max_attempts),
            "insecure_http" => self.insecure_http |= m.get_flag(id),
            "verbose" => self.verbose = self.verbose.saturating_add(m.get_count(id)),
            other => debug_assert!(false, "option {other} is not merged"),
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Query the status of one or more instances.
    Status(StatusArgs),
    /// Wait until instances reach a state.
    Wait(WaitArgs),
    /// Poll instances and print a line whenever one's state changes.
    Watch(WatchArgs),
    /// Serve the fleet's states as Prometheus metrics, polling every id once per interval.
    #[cfg(feature = "exporter")]
    #[command(long_about = "Serve the fleet's states as Prometheus metrics.\n\n\
Every id is polled once per --interval in the background, the polls of a cycle spread over the \
interval (and never faster than --rate-limit); GET /metrics serves what was last seen (Prometheus \
text format 0.0.4, or OpenMetrics when the Accept header asks for application/openmetrics-text) \
and never sends an API request. GET /healthz answers 503 until the first cycle completed, then 200. \
The ids file is re-read when it changes and on SIGHUP. SIGINT or SIGTERM stops it with exit 0. \
Credentials and the project are resolved before it listens: failing that, or an address in use, \
is exit 2.")]
    Exporter(ExporterArgs),
    /// Show the endpoint, region, project id and credentials an API command would use, and where
    /// each comes from (secrets never shown).
    Config,
    /// Run the local CloudDC simulator in the foreground.
    #[cfg(feature = "simulator")]
    Simulate(SimulateArgs),
    /// Start a simulator in-process and show status and wait against it.
    #[cfg(feature = "simulator")]
    Demo,
    /// Print a shell completion script (how to install it goes to stderr).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Which ids, how many at once, and how they are shown.
#[derive(Debug, Clone, Args)]
pub(crate) struct IdArgs {
    /// Instance ids.
    #[arg(value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Read ids from a file, one per line (`-` for stdin); blank lines and `#` comments are skipped.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub(crate) ids_file: Option<PathBuf>,
    /// Requests in flight at once (a wait sleeping between polls holds none).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) concurrency: u32,
    /// A cap in requests/s: in any second at most RPS requests, retries included
    /// (without it, fleets adapt to the API's limit from its 429s).
    #[arg(long, value_name = "RPS", value_parser = parse_rate)]
    pub(crate) rate_limit: Option<f64>,
    /// Print records as they finish instead of in argument order.
    #[arg(long)]
    pub(crate) unordered: bool,
    /// No progress display on stderr (it is shown only when stderr is a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
}

/// `status` arguments.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) ids: IdArgs,
}

/// `wait` arguments.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    #[command(flatten)]
    pub(crate) ids: IdArgs,
    /// The target state (aliases such as shutting_down and teminated are accepted).
    #[arg(long, value_name = "STATE", value_parser = states())]
    pub(crate) until: String,
    /// Overall deadline, from the command's start, for every id.
    #[arg(long, value_name = "DUR", default_value = "10m", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// Pause between polls.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub(crate) interval: Duration,
}

/// `watch` arguments.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) ids: IdArgs,
    /// Pause between polls.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub(crate) interval: Duration,
    /// Stop after this long (exit 0).
    #[arg(long = "for", value_name = "DUR", value_parser = parse_duration, conflicts_with = "until_all")]
    pub(crate) for_: Option<Duration>,
    /// Stop when every id is in STATE (exit 0); exit 3 as soon as one entered a state it will not
    /// leave (aliases such as shutting_down and teminated are accepted).
    #[arg(long, value_name = "STATE", value_parser = states())]
    pub(crate) until_all: Option<String>,
}

/// `exporter` arguments.
#[cfg(feature = "exporter")]
#[derive(Debug, Args)]
pub(crate) struct ExporterArgs {
    /// Instance ids.
    #[arg(value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Read ids from a file, one per line; blank lines and `#` comments are skipped. Re-read when
    /// it changes and on SIGHUP.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub(crate) ids_file: Option<PathBuf>,
    /// How often every id is polled (at least 1s).
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_interval)]
    pub(crate) interval: Duration,
    /// Address to serve /metrics on (another host needs an explicit 0.0.0.0:9810).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9810")]
    pub(crate) listen: String,
    /// Requests in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) concurrency: u32,
    /// A cap in requests/s, retries included (without it, the polls are spread over the interval
    /// and adapt to the API's limit from its 429s).
    #[arg(long, value_name = "RPS", value_parser = parse_rate)]
    pub(crate) rate_limit: Option<f64>,
}

#[cfg(feature = "exporter")]
impl ExporterArgs {
    /// The ids, the file and the pacing as the fleet commands take them.
    pub(crate) fn id_args(&self) -> IdArgs {
        IdArgs {
            ids: self.ids.clone(),
            ids_file: self.ids_file.clone(),
            concurrency: self.concurrency,
            rate_limit: self.rate_limit,
            unordered: false,
            no_progress: true,
        }
    }
}

/// `--interval` of `exporter`: a duration of at least one second.
#[cfg(feature = "exporter")]
fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}

/// `simulate` arguments.
#[cfg(feature = "simulator")]
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// Access key the simulator accepts (with --sk).
    #[arg(long, value_name = "AK", requires = "sk")]
    pub(crate) ak: Option<String>,
    /// Secret key the simulator accepts (with --ak).
    #[arg(long, value_name = "SK", requires = "ak")]
    pub(crate) sk: Option<String>,
    /// Security token the simulator requires with AK/SK.
    #[arg(long, value_name = "ST", requires = "ak")]
    pub(crate) security_token: Option<String>,
    /// How many instances to create.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub(crate) instances: usize,
    /// Seed for the life-cycle schedules and faults.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub(crate) seed: u64,
    /// Gateway flow control: N calls per fixed window of one UNIT (second,
    /// the default, or minute); beyond it 429 APIGW.0308, no Retry-After.
    #[arg(long, value_name = "N[/UNIT]", value_parser = parse_gateway_rate)]
    pub(crate) rate_limit: Option<clouddc_simulator::FlowPolicy>,
}

/// `--rate-limit N[/UNIT]` of `simulate`: one per-API gateway policy of N
/// calls per fixed second or minute.
#[cfg(feature = "simulator")]
pub(crate) fn parse_gateway_rate(s: &str) -> Result<clouddc_simulator::FlowPolicy, String> {
    const FORMS: &str = "use N or N/UNIT, with N a whole number from 1 to 1000000000 and UNIT second (the default) or minute, e.g. 20, 20/second, 200/minute";
    let (n, unit) = s.split_once('/').unwrap_or((s, "second"));
    let window = match unit {
        "second" => 1,
        "minute" => 60,
        other => return Err(format!("the unit {other:?} is not accepted; {FORMS}")),
    };
    let limit = match n.parse::<u32>() {
        Ok(limit) if n.bytes().all(|b| b.is_ascii_digit()) => limit,
        _ => return Err(format!("{n:?} is not a whole number of calls; {FORMS}")),
    };
    let policy = clouddc_simulator::FlowPolicy::per_api(limit, Duration::from_secs(window));
    policy
        .validate()
        .map_err(|_| format!("{limit} calls is out of range; {FORMS}"))?;
    Ok(policy)
}

impl CommandFactory for Cli {
    fn command() -> clap::Command {
        let shared = GlobalArgs::definitions();
        let mut cmd = Definition::command();
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        for name in names {
            let taken = takes(&name);
            let args: Vec<clap::Arg> = shared
                .iter()
                .filter(|a| taken.contains(&a.get_id().as_str()))
                .cloned()
                .collect();
            cmd = cmd.mut_subcommand(name, |s| s.args(args));
        }
        #[cfg(feature = "simulator")]
        let cmd = cmd.mut_subcommand("simulate", |s| {
            s.mut_arg("project_id", |a| {
                a.help("The project id the simulator serves (default: a fixed example id)")
            })
            .mut_arg("token", |a| {
                a.help("The only token the simulator accepts (default: any token)")
            })
            .mut_arg("token_file", |a| {
                a.help("A file holding the token the simulator accepts")
            })
        });
        // Watch prints changes as they are observed: there is no argument
        // order to keep.
        cmd.mut_subcommand("watch", |s| s.mut_arg("unordered", |a| a.hide(true)))
    }

    fn command_for_update() -> clap::Command {
        Self::command()
    }
}

impl FromArgMatches for Cli {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let Definition {
            mut global,
            command,
        } = Definition::from_arg_matches(m)?;
        let Some((name, sub)) = m.subcommand() else {
            return Ok(Self { global, command });
        };
        let taken = takes(name);
        for arg in GlobalArgs::definitions() {
            let id = arg.get_id().as_str();
            let given = m.value_source(id) == Some(ValueSource::CommandLine);
            if given && !taken.contains(&id) {
                return Err(clap::Error::raw(
                    ErrorKind::UnknownArgument,
                    format!(
                        "`clouddc {name}` does not take {}: it is an option of {}",
                        flag(&arg),
                        takers(id)
                    ),
                ));
            }
        }
        for id in taken {
            if sub.value_source(id) == Some(ValueSource::CommandLine) {
                global.overlay(sub, id);
            }
        }
        if global.token.is_some() && global.token_file.is_some() {
            return Err(clap::Error::raw(
                ErrorKind::ArgumentConflict,
                "--token cannot be used with --token-file",
            ));
        }
        Ok(Self { global, command })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Parser for Cli {}

impl Cli {
    /// Parses a command line. An option that the chosen subcommand does not
    /// take is an error (exit 2) in either position, naming the
    /// subcommands that do take it.
    pub(crate) fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = Self::command();
        let matches = cmd.try_get_matches_from_mut(args).map_err(explain)?;
        Self::from_arg_matches(&matches).map_err(|e| {
            // The usage line of the subcommand the error is about.
            match matches.subcommand_name() {
                Some(name) => match cmd.find_subcommand_mut(name) {
                    Some(sub) => e.format(sub),
                    None => e.format(&mut cmd),
                },
                None => e.format(&mut cmd),
            }
        })
    }
}

/// How an option is spelled on the command line.
fn flag(arg: &clap::Arg) -> String {
    match (arg.get_long(), arg.get_short()) {
        (Some(long), _) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => arg.get_id().to_string(),
    }
}

/// The subcommands that take option `id`, comma-separated.
fn takers(id: &str) -> String {
    let names: Vec<String> = Definition::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .filter(|name| takes(name).contains(&id))
        .collect();
    names.join(", ")
}

/// Adds to clap's "unexpected argument" error, for an option some other
/// subcommand takes, which subcommands take it.
fn explain(mut e: clap::Error) -> clap::Error {
    if e.kind() != ErrorKind::UnknownArgument {
        return e;
    }
    let Some(ContextValue::String(given)) = e.get(ContextKind::InvalidArg) else {
        return e;
    };
    let given = given.split('=').next().unwrap_or_default().to_owned();
    let Some(arg) = GlobalArgs::definitions()
        .into_iter()
        .find(|a| flag(a) == given || a.get_short().is_some_and(|s| given == format!("-{s}")))
    else {
        return e;
    };
    let tip = format!("{given} is an option of {}", takers(arg.get_id().as_str()));
    let mut tips = match e.get(ContextKind::Suggested) {
        Some(ContextValue::StyledStrs(s)) => s.clone(),
        _ => Vec::new(),
    };
    tips.push(tip.into());
    e.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
    e
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// JSON Lines for scripts: one object per line (per instance for
    /// status, wait and watch; one for config; the start line for simulate).
    Json,
}

/// Transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TransportKind {
    /// Async (tokio) via reqwest.
    Reqwest,
    /// Blocking via ureq.
    Ureq,
}

impl TransportKind {
    /// reqwest when this build has it, else ureq.
    pub(crate) fn built_in_default() -> Self {
        if cfg!(feature = "reqwest") {
            Self::Reqwest
        } else {
            Self::Ureq
        }
    }
}

/// Accepts any text, and offers a list of known values to `--help` and
/// to shell completion. For values whose check (and aliases) live
/// elsewhere: the states of `--until`, the regions of `--region`.
#[derive(Clone)]
struct Suggest(Vec<&'static str>);

impl TypedValueParser for Suggest {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}

/// The known instance states, in their canonical spelling.
fn states() -> Suggest {
    Suggest(
        InstanceState::KNOWN
            .iter()
            .map(InstanceState::as_str)
            .collect(),
    )
}

/// The known regions.
fn regions() -> Suggest {
    Suggest(clouddc_core::KNOWN_REGIONS.to_vec())
}

/// The longest duration accepted: 100 years (of 365.25 days, as the
/// `y` unit counts them).
const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// Parses a duration with a unit: `500ms`, `10s`, `5m`, `1h 30m`. A bare
/// number, zero, and more than 100 years are errors.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    const EXAMPLES: &str = "examples: 500ms, 10s, 5m, 1h";
    let too_long = || "must be at most 100 years".to_owned();
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        if t.bytes().all(|b| b == b'0') {
            return Err("must be greater than zero".into());
        }
        return Err(format!(
            "a unit is required: did you mean {t}s? ({EXAMPLES})"
        ));
    }
    let d = humantime::parse_duration(t).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => too_long(),
        e => format!("{e} ({EXAMPLES})"),
    })?;
    if d > MAX_DURATION {
        return Err(too_long());
    }
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("must be a positive number of requests per second".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::parse_args(std::iter::once("clouddc").chain(args.iter().copied()))
    }

    /// A value for every option of [`GlobalArgs`] that differs from its
    /// default.
    fn sample(id: &str) -> Option<&'static str> {
        Some(match id {
            "endpoint" => "https://x.example",
            "region" => "cn-east-3",
            "project_id" | "token" => "p",
            "token_file" => "/t",
            "output" => "json",
            "transport" => match TransportKind::built_in_default() {
                TransportKind::Reqwest => "ureq",
                TransportKind::Ureq => "reqwest",
            },
            "attempt_timeout" => "2s",
            "max_attempts" => "5",
            _ => return None,
        })
    }

    fn args_for(arg: &clap::Arg) -> Vec<String> {
        let mut v = vec![flag(arg)];
        v.extend(sample(arg.get_id().as_str()).map(str::to_owned));
        v
    }

    /// A minimal invocation of each subcommand, split at where options go.
    const SUBCOMMANDS: &[&[&str]] = &[
        &["status", "i-1"],
        &["wait", "i-1", "--until", "running"],
        &["watch", "i-1"],
        #[cfg(feature = "exporter")]
        &["exporter", "i-1"],
        &["config"],
        &["simulate"],
        &["demo"],
        &["completions", "bash"],
    ];

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_api_subcommands_take_every_shared_option() {
        let ids: Vec<String> = GlobalArgs::definitions()
            .iter()
            .map(|a| a.get_id().to_string())
            .collect();
        assert_eq!(ids, takes("status"));
        let names: Vec<String> = Definition::command()
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        assert_eq!(
            names,
            [
                "status",
                "wait",
                "watch",
                "exporter",
                "config",
                "simulate",
                "demo",
                "completions"
            ]
        );
    }

    #[test]
    fn every_option_means_the_same_before_and_after_the_subcommand() {
        for arg in GlobalArgs::definitions() {
            let opt = args_for(&arg);
            for sub in SUBCOMMANDS {
                let before: Vec<&str> = opt
                    .iter()
                    .map(String::as_str)
                    .chain(sub.iter().copied())
                    .collect();
                let after: Vec<&str> = sub
                    .iter()
                    .copied()
                    .chain(opt.iter().map(String::as_str))
                    .collect();
                let taken = takes(sub[0]).contains(&arg.get_id().as_str());
                match (parse(&before), parse(&after)) {
                    (Ok(b), Ok(a)) => {
                        assert!(taken, "{before:?} was accepted");
                        assert_eq!(format!("{:?}", b.global), format!("{:?}", a.global));
                        let plain = parse(sub).unwrap_or_else(|e| panic!("{sub:?}: {e}"));
                        assert_ne!(
                            format!("{:?}", b.global),
                            format!("{:?}", plain.global),
                            "{before:?} changed nothing"
                        );
                    }
                    (Err(b), Err(a)) => {
                        assert!(!taken, "{before:?}: {b}");
                        let (b, a) = (b.to_string(), a.to_string());
                        assert!(b.contains(&opt[0]), "{b}");
                        assert!(a.contains(&opt[0]), "{a}");
                        assert!(b.contains("status") && a.contains("status"), "{b}\n{a}");
                    }
                    (b, a) => panic!("{before:?}: {b:?}\n{after:?}: {a:?}"),
                }
            }
        }
    }

    #[test]
    fn a_refused_option_names_the_subcommands_that_take_it() {
        let e = parse(&["--endpoint", "x", "completions", "bash"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--endpoint"), "{e}");
        assert!(e.contains("status, wait, watch"), "{e}");
        let e = parse(&["completions", "bash", "--endpoint", "x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("status, wait, watch"), "{e}");
        let e = parse(&["demo", "--attempt-timeout", "5s"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--attempt-timeout"), "{e}");
        assert_eq!(
            parse(&["-o", "json", "completions", "bash"])
                .unwrap_err()
                .kind(),
            ErrorKind::UnknownArgument
        );
    }

    #[test]
    fn after_the_subcommand_wins_and_verbose_adds_up() {
        let cli = parse(&["-o", "table", "-v", "status", "a", "-o", "json", "-vv"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.verbose, 3);
        let cli = parse(&["--output", "json", "wait", "a", "--until", "running"]).unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.max_attempts, 3);
        assert_eq!(cli.global.attempt_timeout, Duration::from_secs(10));
        assert!(parse(&["--token", "t", "status", "a", "--token-file", "f"]).is_err());
    }

    #[test]
    fn until_takes_aliases_and_offers_the_known_states() {
        for state in ["teminated", "shutting_down", "running"] {
            let cli = parse(&["wait", "a", "--until", state]).unwrap();
            let Command::Wait(w) = cli.command else {
                panic!("not wait")
            };
            assert_eq!(w.until, state);
        }
        let cmd = Cli::command();
        let offered = |sub: &str, id: &str| -> Vec<String> {
            cmd.find_subcommand(sub)
                .and_then(|s| s.get_arguments().find(|a| a.get_id() == id))
                .map(|a| {
                    a.get_possible_values()
                        .iter()
                        .map(|v| v.get_name().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        for (sub, id) in [("wait", "until"), ("watch", "until_all")] {
            let values = offered(sub, id);
            assert!(values.contains(&"shutting-down".to_owned()), "{values:?}");
            assert_eq!(values.len(), InstanceState::KNOWN.len());
        }
        assert!(offered("status", "region").contains(&"cn-east-3".to_owned()));
        // An unknown region is left to the settings, which list the known ones.
        assert!(parse(&["status", "a", "--region", "mars-1"]).is_ok());
    }

    #[test]
    fn watch_for_and_until_all_conflict() {
        let cli = parse(&["watch", "a", "b", "--for", "1m"]).unwrap();
        let Command::Watch(w) = cli.command else {
            panic!("not watch")
        };
        assert_eq!(w.for_, Some(Duration::from_secs(60)));
        assert_eq!(w.interval, Duration::from_secs(5));
        assert_eq!(w.ids.ids, ["a", "b"]);
        assert!(parse(&["watch", "a", "--for", "1m", "--until-all", "running"]).is_err());
        let cli = parse(&["watch", "a", "--until-all", "teminated", "--no-progress"]).unwrap();
        let Command::Watch(w) = cli.command else {
            panic!("not watch")
        };
        assert_eq!(w.until_all.as_deref(), Some("teminated"));
        assert!(w.ids.no_progress);
    }

    #[test]
    fn id_options() {
        let cli = parse(&["status", "a", "--unordered", "--no-progress"]).unwrap();
        let Command::Status(s) = cli.command else {
            panic!("not status")
        };
        assert!(s.ids.unordered && s.ids.no_progress);
        let cli = parse(&["status", "a"]).unwrap();
        let Command::Status(s) = cli.command else {
            panic!("not status")
        };
        assert!(!s.ids.unordered && !s.ids.no_progress);
    }

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 15 minutes "), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("100y"), Ok(MAX_DURATION));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn a_bare_number_is_refused_with_the_unit_it_probably_meant() {
        let e = parse_duration("15").unwrap_err();
        assert!(e.contains("did you mean 15s?"), "{e}");
        assert!(parse_duration(" 30 ").unwrap_err().contains("30s"));
    }

    #[test]
    fn zero_is_refused() {
        for zero in ["0s", "0ms", "0", "000"] {
            let e = parse_duration(zero).unwrap_err();
            assert!(e.contains("greater than zero"), "{zero}: {e}");
        }
    }

    #[test]
    fn more_than_a_century_is_refused() {
        for long in [
            "101y",
            "36525000d",
            "99999999999999999999s",
            "1000000000000h",
        ] {
            let e = parse_duration(long).unwrap_err();
            assert!(e.contains("100 years"), "{long}: {e}");
        }
    }

    #[test]
    fn a_unitless_timeout_does_not_swallow_the_next_word_as_an_id() {
        let e = parse(&[
            "wait",
            "i-1",
            "--until",
            "running",
            "--timeout",
            "15",
            "minutes",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        assert!(e.to_string().contains("did you mean 15s?"), "{e}");
    }
}
