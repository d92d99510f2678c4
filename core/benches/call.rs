//! Per-call cost of the core: build + sign + parse of one status call, next
//! to a bare `serde_json::from_slice` of the same body plus a bare
//! HMAC-SHA256 of the same canonical request the call signs, so the
//! overhead ratio shows in one run.
//!
//! Run: `cargo bench -p clouddc-core --bench call`

// Benchmarks measure time; the core itself never reads a clock.
#![allow(clippy::disallowed_methods, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use clouddc_core::{
    Config, Credentials, Endpoint, InstanceId, ProjectId, build_status_request, http,
    parse_status_response,
};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const BODY: &[u8] = br#"{"state":"running","operation_state":"install-succeed","error":{"error_code":"CDC.0000","error_msg":"none","error_type":"create_instance_error"}}"#;
/// The canonical request this call signs (the "plain" vendor vector): the
/// bytes any signer must hash, so the bare baseline MACs the same data.
const CANONICAL_REQUEST: &str = "GET\n/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/instances/ins-7f3c2a10/status/\n\naccept:application/json\nhost:clouddc.cn-east-3.myhuaweicloud.com\nuser-agent:clouddc-core/0.1.0\nx-project-id:0a1b2c3d4e5f60718293a4b5c6d7e8f9\nx-sdk-date:20261128T101500Z\n\naccept;host;user-agent;x-project-id;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn config() -> Config {
    Config::builder()
        .endpoint(Endpoint::from_region("cn-east-3").expect("region"))
        .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9").expect("project"))
        .credentials(
            Credentials::ak_sk(
                "HPUAEXAMPLEAK000001",
                "exampleSecretKey0000000000000000000000001",
            )
            .expect("creds"),
        )
        .build()
        .expect("config")
}

fn core_call(config: &Config, id: &InstanceId, headers: &http::HeaderMap, wall: SystemTime) {
    let req = build_status_request(config, id, wall).expect("request");
    black_box(&req);
    let status = parse_status_response(http::StatusCode::OK, headers, black_box(BODY), 65536, wall)
        .expect("status");
    black_box(status);
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Bare {
    state: String,
    operation_state: Option<String>,
    error: Option<serde_json::Value>,
}

fn bare(key: &[u8]) {
    let v: Bare = serde_json::from_slice(black_box(BODY)).expect("json");
    black_box(v);
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("key");
    m.update(black_box(CANONICAL_REQUEST.as_bytes()));
    black_box(m.finalize().into_bytes());
}

fn benches(c: &mut Criterion) {
    let config = config();
    let id = InstanceId::new("ins-7f3c2a10").expect("id");
    let mut headers = http::HeaderMap::new();
    headers.insert("x-request-id", http::HeaderValue::from_static("5b2c1e7a9f"));
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_860_900);
    let key = b"exampleSecretKey0000000000000000000000001";

    let mut g = c.benchmark_group("per_call");
    g.bench_function("core_build_sign_parse", |b| {
        b.iter(|| core_call(&config, &id, &headers, wall))
    });
    g.bench_function("bare_serde_plus_hmac", |b| b.iter(|| bare(key)));
    g.finish();
    let mut g = c.benchmark_group("breakdown");
    g.bench_function("build_sign", |b| {
        b.iter(|| black_box(build_status_request(&config, &id, wall).expect("r")))
    });
    let tconfig = Config::builder()
        .endpoint(Endpoint::from_region("cn-east-3").expect("region"))
        .project_id(ProjectId::new("0a1b2c3d4e5f60718293a4b5c6d7e8f9").expect("project"))
        .credentials(Credentials::token("tok").expect("t"))
        .build()
        .expect("c");
    g.bench_function("build_token", |b| {
        b.iter(|| black_box(build_status_request(&tconfig, &id, wall).expect("r")))
    });
    g.bench_function("parse", |b| {
        b.iter(|| {
            black_box(
                parse_status_response(http::StatusCode::OK, &headers, black_box(BODY), 65536, wall)
                    .expect("s"),
            )
        })
    });
    g.finish();

    // The ratio within one run: median of 15 rounds of 20,000 calls each.
    let round = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..20_000 {
            f();
        }
        t.elapsed()
    };
    let mut ratios: Vec<f64> = (0..15)
        .map(|_| {
            let ours = round(&|| core_call(&config, &id, &headers, wall));
            let base = round(&|| bare(key));
            ours.as_secs_f64() / base.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "per_call overhead ratio core/bare: median {:.2}x (min {:.2}x, max {:.2}x, 15 rounds)",
        ratios[7], ratios[0], ratios[14]
    );
}

criterion_group!(core_benches, benches);
criterion_main!(core_benches);
