//! Clock skew between this machine and the gateway.
//!
//! Owns the arithmetic: telling an "expired signature" 401 apart from other
//! 401s, reading the gateway's `Date` header as an offset from the local
//! wall clock, and applying an offset to a signing time. Must not keep
//! state (the session keeps the offset) nor decide retries (the call does).

use std::fmt;
use std::time::{Duration, SystemTime};

use http::Response;

/// The smallest offset corrected: below it, a 401 is not blamed on the
/// clock. The gateway refuses signatures more than 15 minutes off, so an
/// "expired" 401 with a smaller offset has another cause.
pub const SKEW_THRESHOLD: Duration = Duration::from_secs(180);

/// How far the gateway's clock is from this machine's, in whole seconds
/// (positive: the gateway is ahead).
///
/// ```
/// use clouddc_core::ClockSkew;
/// let skew = ClockSkew::from_secs(3600);
/// assert_eq!(skew.to_string(), "the gateway's clock is 3600 s ahead of this machine's");
/// assert_eq!(ClockSkew::from_secs(-5).to_string(), "the gateway's clock is 5 s behind this machine's");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSkew(i64);

impl ClockSkew {
    /// An offset of `secs` seconds (positive: the gateway is ahead).
    pub fn from_secs(secs: i64) -> Self {
        Self(secs)
    }

    /// The offset in seconds (positive: the gateway is ahead).
    pub fn as_secs(self) -> i64 {
        self.0
    }

    /// `wall` moved to the gateway's clock, saturating at what
    /// `SystemTime` can hold.
    pub fn apply(self, wall: SystemTime) -> SystemTime {
        let d = Duration::from_secs(self.0.unsigned_abs());
        let moved = if self.0 >= 0 {
            wall.checked_add(d)
        } else {
            wall.checked_sub(d)
        };
        moved.unwrap_or(wall)
    }
}

impl fmt::Display for ClockSkew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let way = if self.0 >= 0 { "ahead of" } else { "behind" };
        write!(
            f,
            "the gateway's clock is {} s {way} this machine's",
            self.0.unsigned_abs()
        )
    }
}

/// The gateway's offset from `local`, read from the response's `Date`
/// header, when it has a valid one.
pub(crate) fn gateway_offset<B>(response: &Response<B>, local: SystemTime) -> Option<ClockSkew> {
    let gateway = crate::wire::response::response_date(response.headers())?;
    let secs = match gateway.duration_since(local) {
        Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
        Err(behind) => i64::try_from(behind.duration().as_secs()).map_or(i64::MIN, |s| -s),
    };
    Some(ClockSkew(secs))
}

/// The correction an AK/SK call signed with `applied` (the offset in use,
/// if any) should make after `response`: `Some(offset)` when it is a 401
/// saying the request or signature expired, and its `Date` puts the
/// gateway at least [`SKEW_THRESHOLD`] away from where `applied` put it.
/// The new offset is `Some(None)` when the clocks now agree (a correction
/// made earlier is undone).
pub(crate) fn correction<B: AsRef<[u8]>>(
    response: &Response<B>,
    local: SystemTime,
    applied: Option<ClockSkew>,
) -> Option<Option<ClockSkew>> {
    if response.status() != http::StatusCode::UNAUTHORIZED
        || !says_expired(response.body().as_ref())
    {
        return None;
    }
    let measured = gateway_offset(response, local)?;
    let applied = applied.map_or(0, ClockSkew::as_secs);
    if measured.0.abs_diff(applied) < SKEW_THRESHOLD.as_secs() {
        return None;
    }
    Some((measured.0.unsigned_abs() >= SKEW_THRESHOLD.as_secs()).then_some(measured))
}

/// Whether a 401 body says the request or its signature expired (the
/// gateway's APIGW.0301 wording), looked for in the first 4 KiB.
fn says_expired(body: &[u8]) -> bool {
    let head = &body[..body.len().min(4096)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.contains("expired") && (text.contains("request") || text.contains("signature"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::DATE;
    use proptest::prelude::*;

    fn answer(status: u16, date: Option<SystemTime>, body: &str) -> Response<Vec<u8>> {
        let mut b = Response::builder().status(status);
        if let Some(d) = date {
            b = b.header(DATE, httpdate::fmt_http_date(d));
        }
        b.body(body.as_bytes().to_vec()).unwrap()
    }

    const EXPIRED: &str = r#"{"error_msg":"Incorrect IAM authentication information: The request has expired","error_code":"APIGW.0301","request_id":"r"}"#;

    #[test]
    fn expired_401_with_an_hour_of_skew_is_corrected() {
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for secs in [3600i64, -3600] {
            let gateway = ClockSkew(secs).apply(local);
            let r = answer(401, Some(gateway), EXPIRED);
            assert_eq!(correction(&r, local, None), Some(Some(ClockSkew(secs))));
            // Already applied: nothing to correct.
            assert_eq!(correction(&r, local, Some(ClockSkew(secs))), None);
            // The gateway's clock was fixed: the correction is undone.
            let fixed = answer(401, Some(local), EXPIRED);
            assert_eq!(correction(&fixed, local, Some(ClockSkew(secs))), Some(None));
        }
    }

    #[test]
    fn other_answers_are_not_corrected() {
        let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ahead = local + Duration::from_secs(3600);
        // Not a 401, not "expired", no Date, or a small skew.
        assert_eq!(
            correction(&answer(403, Some(ahead), EXPIRED), local, None),
            None
        );
        let wrong_sig = r#"{"error_msg":"Incorrect IAM authentication information: verify aksk signature fail","error_code":"APIGW.0301"}"#;
        assert_eq!(
            correction(&answer(401, Some(ahead), wrong_sig), local, None),
            None
        );
        assert_eq!(correction(&answer(401, None, EXPIRED), local, None), None);
        let near = local + Duration::from_secs(60);
        assert_eq!(
            correction(&answer(401, Some(near), EXPIRED), local, None),
            None
        );
        let mut bad_date = answer(401, None, EXPIRED);
        bad_date
            .headers_mut()
            .insert(DATE, http::HeaderValue::from_static("yesterday"));
        assert_eq!(correction(&bad_date, local, None), None);
    }

    #[test]
    fn extreme_offsets_saturate() {
        // Whatever the platform's SystemTime can hold: no panic, and the
        // offset moves the right way or not at all.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        assert!(ClockSkew(i64::MAX).apply(now) >= now);
        assert!(ClockSkew(i64::MIN).apply(now) <= now);
        assert!(ClockSkew(i64::MIN).to_string().contains("behind"));
    }

    proptest! {
        /// The offset read back from a Date header is the one that made
        /// it, to the second, whichever way and however far.
        #[test]
        fn offset_round_trips(local_s in 1_000_000_000u64..3_000_000_000, offset in -500_000_000i64..500_000_000) {
            let local = SystemTime::UNIX_EPOCH + Duration::from_secs(local_s);
            let gateway = ClockSkew(offset).apply(local);
            let r = answer(401, Some(gateway), EXPIRED);
            prop_assert_eq!(gateway_offset(&r, local), Some(ClockSkew(offset)));
        }

        /// Any body and status never panics, and exactly the 401s that say
        /// the request expired, with a gateway clock at least the threshold
        /// away, are corrected, by the gateway's offset.
        #[test]
        fn correction_only_for_an_expired_401(
            status in prop_oneof![Just(401u16), 100u16..600],
            body in prop_oneof![
                Just(EXPIRED.to_owned()),
                Just(r#"{"error_msg":"The signature expired"}"#.to_owned()),
                ".{0,200}",
            ],
            offset in prop_oneof![-100_000i64..100_000, -1_000i64..1_000],
        ) {
            let local = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
            let r = answer(status, Some(ClockSkew(offset).apply(local)), &body);
            let expected = status == 401
                && says_expired(body.as_bytes())
                && offset.unsigned_abs() >= SKEW_THRESHOLD.as_secs();
            let got = correction(&r, local, None);
            prop_assert_eq!(got.is_some(), expected, "status {} body {:?} offset {}", status, body, offset);
            if let Some(c) = got {
                prop_assert_eq!(c, Some(ClockSkew(offset)));
            }
        }
    }
}
