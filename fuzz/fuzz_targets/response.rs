//! Response parsing: any status, headers and body. Never panics; the error
//! kind follows the status class; success only for 2xx bodies within the cap.
#![no_main]

use clouddc_core::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use clouddc_core::{ErrorKind, parse_status_response};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    status: u16,
    limit: u16,
    headers: Vec<(u8, Vec<u8>)>,
    body: Vec<u8>,
}

const NAMES: &[&str] = &["retry-after", "x-request-id", "date", "content-type", "x-other"];

fuzz_target!(|input: Input| {
    let Ok(status) = StatusCode::from_u16(100 + input.status % 500) else { return };
    let mut headers = HeaderMap::new();
    for (n, v) in &input.headers {
        let name = HeaderName::from_static(NAMES[usize::from(*n) % NAMES.len()]);
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.append(name, v);
        }
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let limit = usize::from(input.limit);
    let mut response = clouddc_core::http::Response::new(&input.body[..]);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    match parse_status_response(&response, limit, now) {
        Ok(s) => {
            assert!(status.is_success());
            assert!(input.body.len() <= limit);
            assert!(!s.state.as_str().trim().is_empty());
        }
        Err(e) => {
            assert_eq!(e.http_status(), Some(status));
            if input.body.len() > limit || status.is_success() {
                assert_eq!(e.kind(), ErrorKind::Decode);
            } else {
                assert_eq!(e.kind(), ErrorKind::from_status(status));
            }
            let _ = e.to_string();
        }
    }
});
