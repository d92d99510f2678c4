//! Item 1: the core's per-call cost against bare `serde_json` + HMAC.

use clouddc_bench::per_call;
use clouddc_bench::stats::ratios;

use crate::report::{Goal, Row, Section, Unit};

/// Calls per loop and round.
const CALLS: u64 = 20_000;

/// `rounds` interleaved rounds (plus a warm-up round) in this process.
pub(crate) fn run(rounds: usize) -> Section {
    eprintln!("per-call: {rounds} rounds of {CALLS} calls per loop");
    let s = per_call::measure(rounds, CALLS);
    let ns = |what: &str, v: &[f64]| Row::measured("1", what, v, Unit::Ns, Goal::None);
    let ratio = Row::measured(
        "1",
        "core / bare, per call",
        &ratios(&s.core, &s.bare),
        Unit::Ratio,
        Goal::AtMost(1.5),
    );
    let build = Row::measured(
        "1",
        "breakdown: core build + sign / bare HMAC",
        &ratios(&s.build_sign, &s.bare_hmac),
        Unit::Ratio,
        Goal::None,
    );
    let parse = Row::measured(
        "1",
        "breakdown: core parse / bare `serde_json`",
        &ratios(&s.parse, &s.bare_serde),
        Unit::Ratio,
        Goal::None,
    );
    let rows = vec![
        ns("core: build + sign (AK/SK) + parse, per call", &s.core),
        ns(
            "bare: `serde_json::from_slice` + HMAC-SHA256 of the canonical request",
            &s.bare,
        ),
        ratio.clone(),
        ns("breakdown: core build + sign", &s.build_sign),
        ns("breakdown: bare HMAC-SHA256", &s.bare_hmac),
        build,
        ns(
            "breakdown: core build with token auth (nothing to sign)",
            &s.build_token,
        ),
        ns("breakdown: core parse", &s.parse),
        ns("breakdown: bare `serde_json::from_slice`", &s.bare_serde),
        parse,
    ];
    let notes = vec![crate::discussion::per_call(&s, &ratio, CALLS)];
    Section { rows, notes }
}
