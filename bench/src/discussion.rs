//! The discussion of `BENCHMARKS.md`: each goal met, or missed by how much
//! and why, written from the figures of the run.

use clouddc_bench::per_call::Samples;
use clouddc_bench::stats::{ratios, summarize};

use crate::report::{Row, Verdict};

pub(crate) fn verdict(r: &Row, goal: &str) -> String {
    match r.verdict {
        Verdict::Met if r.result.contains("crosses") => format!(
            "**met** on the median ({}; goal {goal}), though some rounds fell on the other side",
            r.median
        ),
        Verdict::Met => format!("**met** ({}; goal {goal})", r.median),
        Verdict::Missed(_) => format!("**{}** ({}; goal {goal})", r.result, r.median),
        Verdict::NoGoal => r.median.clone(),
        Verdict::NotMeasured => format!("**not measured** ({})", r.result),
    }
}

/// Item 1.
pub(crate) fn per_call(s: &Samples, ratio: &Row, calls: u64) -> String {
    let m = |v: &[f64]| summarize(v).map_or(f64::NAN, |s| s.median);
    let (core, bare) = (m(&s.core), m(&s.bare));
    let (build, token, hmac) = (m(&s.build_sign), m(&s.build_token), m(&s.bare_hmac));
    let (parse, serde) = (m(&s.parse), m(&s.bare_serde));
    let parse_ratio = m(&ratios(&s.parse, &s.bare_serde));
    let why = match ratio.verdict {
        Verdict::Met => String::new(),
        _ => format!(
            " Parsing is not where the miss is ({:.2}× of the bare parse: the core \
             deserialises with serde too and validates as it goes). Building and signing is: \
             {token:.0} ns of it is building the request with nothing to sign (token auth: \
             cloning the config's prepared `http::HeaderMap`, percent-encoding the id and \
             building an `http::Uri`), and the remaining {:.0} ns is the signature, against \
             the baseline's {hmac:.0} ns for one HMAC of a ready-made canonical request. Both \
             hash the same number of SHA-256 blocks (the core hashes the canonical request and \
             then HMACs the string to sign with a key prepared once per config; the baseline \
             keys its HMAC on each call), so the difference is the work around the hashes: \
             formatting `X-Sdk-Date`, streaming the canonical request from the config's \
             prepared template, hex-encoding two digests, and building and inserting two \
             `http::HeaderValue`s. Closing the rest would mean leaving the `http` types that \
             every transport takes. Next to one loopback round trip (item 2, tens of \
             microseconds) or a real network call, the {:.1} µs of a call do not show.",
            parse_ratio,
            (build - token).max(0.0),
            core / 1000.0,
        ),
    };
    format!(
        "**1. Core per call** — goal ≤ 1.5×: {}. One AK/SK call (build, sign, parse) costs \
         {core:.0} ns against {bare:.0} ns for `serde_json::from_slice` of the same body plus \
         HMAC-SHA256 of the same canonical request ({calls} calls per loop and round, loops \
         interleaved). Breakdown: build + sign {build:.0} ns against the bare HMAC's \
         {hmac:.0} ns; parse {parse:.0} ns against bare serde's {serde:.0} ns.{why}",
        verdict(ratio, "≤ 1.50×"),
    )
}

/// What a per-request timeout costs inside ureq (ureq 3.5, read in its
/// source and seen with `strace -c`), and how clouddc-ureq avoids it.
pub(crate) const UREQ_TIMEOUT: &str = "About the timeout row, from ureq 3.5's source and \
    `strace -c` rather than from this noisy table: ureq resolves the host on every request, \
    pooled connection or not, and when any timeout is set it resolves on a freshly spawned \
    thread so that it can give up (`resolve_async` in ureq's `unversioned/resolver.rs`), one \
    `clone3` per request; that is what the bare loop with the timeout pays. clouddc-ureq sets \
    a timeout on every attempt too, but gives its agent a resolver that answers IP literals \
    directly and keeps a host name's addresses for 30 s, so it spawns no thread per call \
    (40 sequential calls: 1 `clone3` instead of 41).";

/// The same, for the 64-thread loops: the timeout's price inside ureq is
/// the same resolver thread per request, now 64 requests at a time.
pub(crate) const UREQ_TIMEOUT_64: &str = "The timeout's price inside ureq is the one described \
    for the sequential loops: with a timeout set, every bare request resolves the host on a \
    thread of its own, here from 64 threads at once; clouddc-ureq's resolver spawns none.";

/// Item 2, one client: `[sdk / bare, bare with timeout / bare, sdk / bare
/// with timeout]`, and what is known about the timeout's cost, if anything.
pub(crate) fn loopback(name: &str, rows: [&Row; 3], timeout_why: Option<&str>) -> String {
    let [ratio, timeout, own] = rows;
    let spread = |r: &Row| {
        r.summary
            .map_or_else(String::new, |s| format!(" ({:.2}–{:.2})", s.min, s.max))
    };
    let split = if timeout.summary.is_some() && own.summary.is_some() {
        format!(
            " A bare loop that sets the same per-request timeout runs at {}×{} of the plain \
             bare loop, and {name} at {}×{} of that one{}",
            timeout.median.trim_end_matches('×'),
            spread(timeout),
            own.median.trim_end_matches('×'),
            spread(own),
            if timeout_why.is_none() {
                ": the first figure is the price of the timeout inside the HTTP library, the \
                 second the SDK's own per-call work (item 1's build and parse, the call \
                 machine, the capped body read)."
            } else {
                "."
            },
        )
    } else {
        String::new()
    };
    let noisy = ratio.result.contains("crosses");
    // Three quarters of the rounds or more below the goal: the miss is not noise.
    let mostly_below = ratio.summary.is_some_and(|s| s.q3 < 0.95);
    let cpu = " The miss is the SDK's own per-call CPU work: on loopback the client CPU is busy \
        for most of each round trip, so its microseconds (item 1, plus the call machine and, \
        for a fleet, the fleet machine, the in-flight bound and the hand-off to the stream's \
        futures or the worker threads) show in throughput; against a real \
        endpoint, with milliseconds of network per call, they do not.";
    let why = match (ratio.verdict, noisy) {
        (Verdict::Missed(_), true) if mostly_below => format!(
            " A round or two reached the goal, but three quarters of the rounds or more fell \
             short, so the miss is not noise.{cpu}"
        ),
        (Verdict::Missed(_), true) => " The spread crosses the goal: on this machine the \
            rounds disagree by more than the miss, so this run does not settle it."
            .to_owned(),
        (Verdict::Missed(_), false) => cpu.to_owned(),
        _ => String::new(),
    };
    let known = timeout_why.map_or_else(String::new, |w| format!(" {w}"));
    format!(
        "**2. {name} vs the bare loop** — goal ≥ 0.95×: {}.{split}{why}{known}",
        verdict(ratio, "≥ 0.95×")
    )
}

/// Item 5.
pub(crate) fn footprint(rows: &[Row], listed: usize, unique: usize, rounds: usize) -> String {
    let find = |needle: &str| {
        rows.iter()
            .find(|r| r.what.contains(needle))
            .map_or_else(|| "not measured".to_owned(), |r| r.median.clone())
    };
    format!(
        "**5. Footprint** — no numeric goal. A clean release build of the workspace took {}, \
         of the CLI with only `ureq` {} ({rounds} clean build(s) each, in fresh target \
         directories; build times depend on everything else the machine was doing). The \
         stripped `clouddc` binary is {} with both transports and {} with only `ureq`. The \
         issue's command counts {listed} lines for `clouddc-core`; that count lists a crate \
         twice when `cargo tree` marks a repeat with `(*)`, and includes `clouddc-core` \
         itself: {unique} distinct crates, so {} dependencies, build-time ones (proc macros) \
         included.",
        find("whole workspace"),
        find("CLI with only"),
        find("binary, default features"),
        find("binary, only"),
        unique.saturating_sub(1),
    )
}
