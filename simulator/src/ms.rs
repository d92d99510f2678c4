//! Serde helpers: `Duration` as whole milliseconds in the admin JSON.
//!
//! Owns that representation and the longest duration accepted anywhere
//! ([`check`]). A leaf: must not import the rest of the crate.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// Longest duration accepted anywhere (schedules, faults, clock jumps): 30 days.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_millis(u64::deserialize(d)?))
}

/// `Option<Duration>` as milliseconds or `null`.
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// Rejects durations longer than [`MAX_DURATION`].
pub(crate) fn check(what: &str, d: Duration) -> Result<(), String> {
    if d > MAX_DURATION {
        Err(format!(
            "{what} is {} ms; at most {} ms (30 days) is allowed",
            d.as_millis(),
            MAX_DURATION.as_millis()
        ))
    } else {
        Ok(())
    }
}
