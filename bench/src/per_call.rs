//! Per-call cost of the core: build + sign + parse of one status call, next
//! to a bare `serde_json::from_slice` of the same body plus a bare
//! HMAC-SHA256 of the same canonical request the call signs.
//!
//! The fixture is the vendor's "plain" signing vector: the same project,
//! instance, keys and signing time, so the bare baseline MACs exactly the
//! bytes any signer must hash for this call.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use clouddc_core::{
    Config, Credentials, Endpoint, InstanceId, ProjectId, Session, build_status_request, http,
    parse_status_response,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::stats::{per_second, time_n};

/// The response body parsed on every call.
pub const BODY: &[u8] = br#"{"state":"running","operation_state":"install-succeed","error":{"error_code":"CDC.0000","error_msg":"none","error_type":"create_instance_error"}}"#;

/// The canonical request this call signs (the "plain" vendor vector): the
/// bytes any signer must hash, so the bare baseline MACs the same data.
pub const CANONICAL_REQUEST: &str = "GET\n/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/instances/ins-7f3c2a10/status/\n\naccept:application/json\nhost:clouddc.cn-east-3.myhuaweicloud.com\nuser-agent:clouddc-core/0.1.0\nx-project-id:0a1b2c3d4e5f60718293a4b5c6d7e8f9\nx-sdk-date:20261128T101500Z\n\naccept;host;user-agent;x-project-id;x-sdk-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The secret key of the fixture (the bare baseline keys its HMAC with it).
pub const SECRET_KEY: &str = "exampleSecretKey0000000000000000000000001";

/// The project id of the fixture.
pub const PROJECT_ID: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// The instance id of the fixture.
pub const INSTANCE_ID: &str = "ins-7f3c2a10";

/// What the bare baseline deserialises: the same fields, no validation.
#[derive(Debug, serde::Deserialize)]
pub struct BareStatus {
    /// The instance state, as sent.
    pub state: String,
    /// The operation state, as sent.
    pub operation_state: Option<String>,
    /// The error object, untyped.
    pub error: Option<serde_json::Value>,
}

/// Everything one core call needs, built once.
#[derive(Debug)]
pub struct Fixture {
    config: Session,
    token_config: Session,
    id: InstanceId,
    response: http::Response<&'static [u8]>,
    wall: SystemTime,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// The "plain" vendor vector: AK/SK in `cn-east-3`, signed at
    /// 2026-11-28T10:15:00Z.
    pub fn new() -> Self {
        let session = |credentials| {
            Session::new(
                Config::builder()
                    .endpoint(Endpoint::from_region("cn-east-3").expect("region"))
                    .project_id(ProjectId::new(PROJECT_ID).expect("project"))
                    .credentials(credentials)
                    .build()
                    .expect("config"),
            )
        };
        let mut response = http::Response::new(BODY);
        response
            .headers_mut()
            .insert("x-request-id", http::HeaderValue::from_static("5b2c1e7a9f"));
        Self {
            config: session(
                Credentials::ak_sk("HPUAEXAMPLEAK000001", SECRET_KEY).expect("credentials"),
            ),
            token_config: session(Credentials::token("tok").expect("token")),
            id: InstanceId::new(INSTANCE_ID).expect("id"),
            response,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_860_900),
        }
    }

    /// One call: build and sign the request, then parse the response.
    pub fn core_call(&self) {
        self.build_sign();
        self.parse();
    }

    /// Builds and signs the request (AK/SK).
    pub fn build_sign(&self) {
        let req = build_status_request(&self.config, &self.id, self.wall).expect("request");
        black_box(req);
    }

    /// Builds the request with token auth (nothing to sign).
    pub fn build_token(&self) {
        let req = build_status_request(&self.token_config, &self.id, self.wall).expect("request");
        black_box(req);
    }

    /// Parses the response into a validated status.
    pub fn parse(&self) {
        let status =
            parse_status_response(black_box(&self.response), 65536, self.wall).expect("status");
        black_box(status);
    }
}

/// The bare baseline: `serde_json::from_slice` of the body plus HMAC-SHA256
/// of the canonical request.
pub fn bare_call() {
    bare_serde();
    bare_hmac();
}

/// `serde_json::from_slice` of the body into [`BareStatus`].
pub fn bare_serde() {
    let v: BareStatus = serde_json::from_slice(black_box(BODY)).expect("json");
    black_box(v);
}

/// HMAC-SHA256 of the canonical request under the secret key, the key set
/// up on each call.
pub fn bare_hmac() {
    let mut m = Hmac::<Sha256>::new_from_slice(SECRET_KEY.as_bytes()).expect("key");
    m.update(black_box(CANONICAL_REQUEST.as_bytes()));
    black_box(m.finalize().into_bytes());
}

/// Nanoseconds per call of each measured loop, one sample per round.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Core build + sign + parse.
    pub core: Vec<f64>,
    /// Bare serde + HMAC.
    pub bare: Vec<f64>,
    /// Core build + sign alone.
    pub build_sign: Vec<f64>,
    /// Core build with token auth (nothing to sign).
    pub build_token: Vec<f64>,
    /// Core parse alone.
    pub parse: Vec<f64>,
    /// Bare HMAC alone.
    pub bare_hmac: Vec<f64>,
    /// Bare serde alone.
    pub bare_serde: Vec<f64>,
}

/// Runs one warm-up round and then `rounds` rounds of `calls` calls of each
/// loop, interleaved; within each pair the order alternates every round so
/// a drift in machine load does not favour either side.
pub fn measure(rounds: usize, calls: u64) -> Samples {
    let fx = Fixture::new();
    let ns = |f: &dyn Fn()| time_n(calls, f).as_nanos() as f64 / calls as f64;
    let pair = |r: usize, a: &dyn Fn(), b: &dyn Fn()| {
        if r.is_multiple_of(2) {
            let x = ns(a);
            (x, ns(b))
        } else {
            let y = ns(b);
            (ns(a), y)
        }
    };
    let mut s = Samples::default();
    for r in 0..=rounds {
        let (core, bare) = pair(r, &|| fx.core_call(), &bare_call);
        let (build_sign, hmac) = pair(r, &|| fx.build_sign(), &bare_hmac);
        let (parse, serde) = pair(r, &|| fx.parse(), &bare_serde);
        let build_token = ns(&|| fx.build_token());
        if r == 0 {
            continue; // warm-up
        }
        s.core.push(core);
        s.bare.push(bare);
        s.build_sign.push(build_sign);
        s.build_token.push(build_token);
        s.bare_hmac.push(hmac);
        s.parse.push(parse);
        s.bare_serde.push(serde);
    }
    s
}

/// Calls per second for a cost in nanoseconds per call.
pub fn calls_per_second(ns_per_call: f64) -> f64 {
    per_second(1, Duration::from_secs_f64(ns_per_call / 1e9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_signs_the_canonical_request_of_the_vector() {
        // The bare baseline must hash the same bytes the core signs: the
        // canonical request names exactly the headers the core sends.
        let fx = Fixture::new();
        let req = build_status_request(&fx.config, &fx.id, fx.wall).unwrap();
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.contains("SignedHeaders=accept;host;user-agent;x-project-id;x-sdk-date"),
            "{auth}"
        );
        assert_eq!(req.headers()["x-sdk-date"], "20261128T101500Z");
        assert!(CANONICAL_REQUEST.contains(&format!("/instances/{INSTANCE_ID}/status/")));
        fx.core_call();
        bare_call();
    }

    #[test]
    fn measure_fills_every_series() {
        let s = measure(2, 10);
        for v in [
            &s.core,
            &s.bare,
            &s.build_sign,
            &s.build_token,
            &s.parse,
            &s.bare_hmac,
            &s.bare_serde,
        ] {
            assert_eq!(v.len(), 2);
            assert!(v.iter().all(|x| *x > 0.0));
        }
    }
}
