//! Per-call cost of the core under criterion: build + sign + parse of one
//! status call next to a bare `serde_json::from_slice` of the same body plus
//! a bare HMAC-SHA256 of the same canonical request, with a breakdown, and
//! the ratio of the two taken within one run.
//!
//! Run: `cargo bench -p clouddc-bench --bench call`. The same measurement,
//! in the table of `BENCHMARKS.md`: `cargo run --profile bench -p clouddc-bench -- per-call`.

#![allow(missing_docs)]

use clouddc_bench::per_call::{self, Fixture};
use clouddc_bench::stats::{ratios, summarize};
use criterion::{Criterion, criterion_group, criterion_main};

fn benches(c: &mut Criterion) {
    let fx = Fixture::new();
    let mut g = c.benchmark_group("per_call");
    g.bench_function("core_build_sign_parse", |b| b.iter(|| fx.core_call()));
    g.bench_function("bare_serde_plus_hmac", |b| b.iter(per_call::bare_call));
    g.finish();
    let mut g = c.benchmark_group("breakdown");
    g.bench_function("build_sign", |b| b.iter(|| fx.build_sign()));
    g.bench_function("build_token", |b| b.iter(|| fx.build_token()));
    g.bench_function("parse", |b| b.iter(|| fx.parse()));
    g.bench_function("bare_hmac", |b| b.iter(per_call::bare_hmac));
    g.bench_function("bare_serde", |b| b.iter(per_call::bare_serde));
    g.finish();

    // The ratio within one run: 15 interleaved rounds of 20,000 calls each.
    let s = per_call::measure(15, 20_000);
    if let Some(r) = summarize(&ratios(&s.core, &s.bare)) {
        println!(
            "per_call overhead ratio core/bare: median {:.2}x (min {:.2}x, max {:.2}x, {} rounds)",
            r.median, r.min, r.max, r.n
        );
    }
}

criterion_group!(core_benches, benches);
criterion_main!(core_benches);
