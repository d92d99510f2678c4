//! The wire: requests out, responses in.
//!
//! Owns building a signed status request from its parts (the endpoint, the
//! project, the credentials' headers), the SDK-HMAC-SHA256 signer, and
//! parsing a response into a status or a classified [`Error`](crate::Error).
//! Must not hold live state (whose credentials, which clock offset: that is
//! `session`), retry or wait.

pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod signing;
