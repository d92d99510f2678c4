//! Who the caller is, as the vendor's users hold it: the profile file, the
//! server metadata service, OIDC federation, the IAM project lookup and the
//! gateway's clock.
//!
//! Owns parsing the profile file, building and reading metadata, OIDC and
//! IAM requests, and judging clock skew from a response. Must not hold live
//! state or send anything: the session (`session`) asks for these requests
//! and keeps what they return.

pub(crate) mod iam;
pub(crate) mod metadata;
pub(crate) mod oidc;
pub(crate) mod profile;
pub(crate) mod skew;
