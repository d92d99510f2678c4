//! The signer: never a panic, and the same input always gives the same
//! signature.
#![no_main]

use clouddc_core::{SignInput, canonical_query, canonical_uri, sign_parts};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    ak: String,
    sk: String,
}

fuzz_target!(|i: Input| {
    let headers: Vec<(&str, &str)> = i.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let input = SignInput {
        method: &i.method,
        path: &i.path,
        query: &i.query,
        headers: &headers,
        body: &i.body,
        access_key: &i.ak,
        secret_key: &i.sk,
    };
    let a = sign_parts(&input);
    let b = sign_parts(&input);
    assert_eq!(a, b);
    assert!(canonical_uri(&i.path).ends_with('/'));
    let _ = canonical_query(&i.query);
});
