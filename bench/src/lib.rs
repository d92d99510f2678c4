//! The clouddc benchmark suite: figures, never pass/fail tests.
//!
//! **In scope:** the measurements of issue 7's "Benchmarks" section (per-call
//! cost of the core, loopback throughput of both clients next to bare HTTP
//! loops and `wrk`, fleet pacing and waiter latency against the simulator,
//! build footprint), their statistics (median and spread over repeated
//! rounds, ratios taken within one round) and the report `BENCHMARKS.md`.
//! **Out of scope:** deciding anything about speed in CI. CI only compiles,
//! lints and documents this crate; nothing here fails on a slow machine.
//!
//! Run everything and rewrite `BENCHMARKS.md` (the build footprint, which
//! takes minutes, runs last):
//!
//! ```text
//! cargo run --profile bench -p clouddc-bench -- all
//! cargo run --profile bench -p clouddc-bench -- all --skip-footprint
//! cargo run --profile bench -p clouddc-bench -- per-call     # or loopback, fleet, waiter, footprint
//! ```
//!
//! The criterion version of the per-call measurement, with a breakdown, is
//! `cargo bench -p clouddc-bench --bench call`.
//!
//! This library holds what the binary and the criterion bench share: the
//! per-call fixture ([`per_call`]) and the statistics ([`stats`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod per_call;
pub mod stats;
