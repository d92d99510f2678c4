//! Usage and configuration errors, and how every error line of the command
//! reads: `clouddc: error: ...` on stderr.
//!
//! Owns [`UsageError`] (exit 2, nothing sent to the API), turning a core
//! error into one, and the one place that renders and writes an error line.
//! Must not decide which flags fix an error (`settings` adds those) nor write
//! to stdout; uses no module of this crate but `exit`, so that every other
//! module may report through it.

use std::fmt;
use std::io::Write;

use crate::exit;

/// A usage or configuration error: exit 2, nothing sent.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl From<clouddc_core::Error> for UsageError {
    /// The error with its causes on one line; the kind's `invalid input: `
    /// is left out (every usage error is one).
    fn from(e: clouddc_core::Error) -> Self {
        Self(
            clouddc_core::error_chain(&e)
                .trim_start_matches("invalid input: ")
                .to_owned(),
        )
    }
}

impl UsageError {
    /// Writes the error line and gives the exit status.
    pub(crate) fn report(&self) -> u8 {
        error(format_args!("{}", self.0));
        exit::USAGE
    }
}

/// The command-line parser's error text in the one style: its leading
/// `error: ` becomes `clouddc: error: `; the rest (usage line, tip) stays.
pub(crate) fn parser_error(rendered: &str) -> String {
    let text = rendered.trim_end();
    match text.strip_prefix("error: ") {
        Some(rest) => format!("clouddc: error: {rest}"),
        None => format!("clouddc: error: {text}"),
    }
}

/// Writes `clouddc: error: {args}` to stderr; a failure is ignored (there is
/// nowhere left to report it).
pub(crate) fn error(args: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "clouddc: error: {args}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_errors_read_like_every_other_error() {
        assert_eq!(
            parser_error("error: unexpected argument '--x' found\n\nUsage: clouddc\n"),
            "clouddc: error: unexpected argument '--x' found\n\nUsage: clouddc"
        );
        assert_eq!(parser_error("no prefix"), "clouddc: error: no prefix");
    }
}
