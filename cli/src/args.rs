//! Command-line arguments: the flags, environment variables and defaults of
//! the `clouddc` contract (`CLI.md`).
//!
//! Owns parsing only. Must not resolve settings (see `settings`) or talk to
//! the network.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Query and wait on Huawei Cloud CloudDC instance status.
#[derive(Debug, Parser)]
#[command(name = "clouddc", version, about, propagate_version = true)]
#[command(
    after_help = "Environment: CLOUDDC_ENDPOINT, HUAWEICLOUD_SDK_REGION, HUAWEICLOUD_SDK_PROJECT_ID, \
CLOUDDC_AUTH_TOKEN, HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_SECURITY_TOKEN.\n\
Exit codes: 0 ok; 1 API failure; 2 usage or configuration error (nothing sent); \
3 wait: an instance failed; 4 wait: timed out."
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options shared by every subcommand; they work before or after it.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Base URL: scheme, host, optional port and path prefix [env: CLOUDDC_ENDPOINT].
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// A known region, e.g. cn-east-3 [env: HUAWEICLOUD_SDK_REGION].
    #[arg(long, global = true, value_name = "ID")]
    pub(crate) region: Option<String>,
    /// The project id, required for API commands [env: HUAWEICLOUD_SDK_PROJECT_ID].
    #[arg(long, global = true, value_name = "ID")]
    pub(crate) project_id: Option<String>,
    /// IAM token (prefer --token-file or CLOUDDC_AUTH_TOKEN: arguments are visible to other users).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        conflicts_with = "token_file"
    )]
    pub(crate) token: Option<String>,
    /// A file holding the IAM token (surrounding whitespace is trimmed).
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,
    /// Output format: a table for people, JSON Lines for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub(crate) output: OutputFormat,
    /// Which adapter carries the calls (default: reqwest when built in).
    #[arg(long, global = true, value_enum, default_value_t = TransportKind::built_in_default())]
    pub(crate) transport: TransportKind,
    /// Per-attempt timeout, e.g. 10s, 500ms.
    #[arg(long, global = true, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub(crate) attempt_timeout: Duration,
    /// Total attempts per call, the first included.
    #[arg(long, global = true, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) max_attempts: u32,
    /// Allow plain http to a non-loopback host (tokens travel unencrypted).
    #[arg(long, global = true)]
    pub(crate) insecure_http: bool,
    /// Debug logs to stderr (never secrets); repeat for more detail.
    #[arg(short, long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Query the status of one or more instances.
    Status(StatusArgs),
    /// Wait until instances reach a state.
    Wait(WaitArgs),
    /// Run the local CloudDC simulator in the foreground.
    Simulate(SimulateArgs),
    /// Start a simulator in-process and show status and wait against it.
    Demo,
    /// Print shell completions.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Which ids, and how many at once.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    /// Instance ids.
    #[arg(value_name = "ID")]
    pub(crate) ids: Vec<String>,
    /// Read ids from a file, one per line (`-` for stdin); blank lines and `#` comments are skipped.
    #[arg(long, value_name = "PATH")]
    pub(crate) ids_file: Option<PathBuf>,
    /// Requests in flight at once (a wait sleeping between polls holds none).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) concurrency: u32,
    /// A cap in requests/s: in any second at most RPS requests, retries included
    /// (without it, fleets adapt to the API's limit from its 429s).
    #[arg(long, value_name = "RPS", value_parser = parse_rate)]
    pub(crate) rate_limit: Option<f64>,
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
    #[arg(long, value_name = "STATE")]
    pub(crate) until: String,
    /// Overall deadline, from the command's start, for every id.
    #[arg(long, value_name = "DUR", default_value = "10m", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// Pause between polls.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub(crate) interval: Duration,
}

/// `simulate` arguments.
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
    /// Server-side rate limit in requests/s (429 with Retry-After beyond it).
    #[arg(long, value_name = "RPS", value_parser = parse_rate)]
    pub(crate) rate_limit: Option<f64>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// JSON Lines, one object per instance.
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

/// Parses `10s`, `500ms`, `10m`, `1h 30m`, or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let d = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| e.to_string())?
    } else {
        humantime::parse_duration(t).map_err(|e| format!("{e} (examples: 500ms, 10s, 5m)"))?
    };
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
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn globals_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "clouddc",
            "status",
            "a",
            "--output",
            "json",
            "--max-attempts",
            "2",
        ])
        .unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(cli.global.max_attempts, 2);
        let cli = Cli::try_parse_from([
            "clouddc", "--output", "json", "wait", "a", "--until", "running",
        ])
        .unwrap();
        assert_eq!(cli.global.output, OutputFormat::Json);
    }
}
