//! Every write of the command to stdout, and its plain lines to stderr.
//!
//! Owns what a failed write means: a closed stdout (EPIPE) stops the
//! command quietly with exit 141, as a process killed by SIGPIPE would; any
//! other write error (a full disk, say) is reported on stderr with exit 1.
//! A failed write to stderr is ignored: there is nowhere left to report it.
//! Must not format records or decide anything else about exit codes; error
//! lines are rendered by `usage`.

use std::fmt;
use std::io::{self, Write};

use crate::{exit, usage};

/// Why the command must stop writing.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The reader of stdout is gone.
    Closed,
    /// Any other write error.
    Failed(io::Error),
}

impl Stop {
    fn of(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Self::Closed
        } else {
            Self::Failed(e)
        }
    }

    /// Reports the failure (if it is not a closed pipe) and gives the exit
    /// status.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Closed => exit::CLOSED_PIPE,
            Self::Failed(e) => {
                usage::error(format_args!("cannot write to stdout: {e}"));
                exit::FAILURE
            }
        }
    }
}

/// Writes `bytes` to stdout and flushes, so that a closed or full output
/// is noticed at once.
pub(crate) fn bytes(bytes: &[u8]) -> Result<(), Stop> {
    let mut out = io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Stop::of)
}

/// Writes one formatted line to stdout.
pub(crate) fn line(args: fmt::Arguments<'_>) -> Result<(), Stop> {
    bytes(format!("{args}\n").as_bytes())
}

/// Writes one value as a JSON line to stdout.
pub(crate) fn json_line(value: &impl serde::Serialize) -> Result<(), Stop> {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    bytes(&line)
}

/// Writes one line to stderr; a failure is ignored.
pub(crate) fn err(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_a_quiet_stop_and_others_fail() {
        assert!(matches!(
            Stop::of(io::Error::from(io::ErrorKind::BrokenPipe)),
            Stop::Closed
        ));
        assert_eq!(Stop::Closed.exit_code(), 141);
        let full = Stop::of(io::Error::from_raw_os_error(28));
        assert!(matches!(full, Stop::Failed(_)));
        assert_eq!(full.exit_code(), 1);
    }
}
