//! `Retry-After` parsing: seconds or HTTP dates, never a panic, never a
//! value for negative or fractional numbers.
#![no_main]

use clouddc_core::parse_retry_after;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, SystemTime};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let r = parse_retry_after(s, now);
    let t = s.trim();
    // Negative or fractional numbers are not delta-seconds.
    let numeric = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if numeric && !t.bytes().all(|b| b.is_ascii_digit()) {
        assert!(r.is_none(), "{s:?} -> {r:?}");
    }
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        assert!(r.is_some());
    }
});
