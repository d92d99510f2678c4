//! Credentials and the secret wrapper that keeps them out of logs.
//!
//! Owns validation of tokens and keys (each must be a valid header value) and
//! redaction: no `Debug` or `Display` here ever prints a secret. Must not sign
//! (see `signing`) nor read the environment (see `config`).

use std::fmt;

use crate::error::Error;

/// A secret string (token, secret key, security token). Its `Debug` prints
/// `Secret(<redacted>)`; the value is reachable only through
/// [`expose`](Secret::expose).
///
/// ```
/// use clouddc_core::Secret;
/// let s = Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call only where the value must leave the process.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How requests are authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// An IAM user token sent as `X-Auth-Token`.
    Token(Secret),
    /// Access key / secret key, signed with SDK-HMAC-SHA256.
    AkSk {
        /// The access key id (not secret; it travels in `Authorization`).
        access_key: String,
        /// The secret key.
        secret_key: Secret,
        /// The security token of temporary credentials, sent as the signed
        /// `X-Security-Token` header.
        security_token: Option<Secret>,
    },
}

fn check_header_safe(what: &str, value: &str, fix: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid_input(format!("{what} is empty: {fix}")));
    }
    if value.bytes().any(|b| b.is_ascii_control()) || value.chars().any(char::is_control) {
        // The value itself is never echoed.
        return Err(Error::invalid_input(format!(
            "{what} contains control characters (a stray newline?): {fix}"
        )));
    }
    if !value.is_ascii() {
        return Err(Error::invalid_input(format!(
            "{what} contains non-ASCII characters: {fix}"
        )));
    }
    Ok(())
}

impl Credentials {
    /// Token credentials. The token must be non-empty printable ASCII.
    pub fn token(token: impl Into<String>) -> Result<Self, Error> {
        let token = token.into();
        check_header_safe("token", &token, "pass the IAM token exactly as issued")?;
        Ok(Self::Token(Secret(token)))
    }

    /// Permanent AK/SK credentials.
    pub fn ak_sk(
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::build_ak_sk(access_key.into(), secret_key.into(), None)
    }

    /// Temporary AK/SK credentials with their security token.
    pub fn temporary(
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
        security_token: impl Into<String>,
    ) -> Result<Self, Error> {
        Self::build_ak_sk(
            access_key.into(),
            secret_key.into(),
            Some(security_token.into()),
        )
    }

    fn build_ak_sk(ak: String, sk: String, st: Option<String>) -> Result<Self, Error> {
        check_header_safe(
            "access key",
            &ak,
            "set HUAWEICLOUD_SDK_AK to the access key id",
        )?;
        if ak.contains([' ', ',', '=']) {
            return Err(Error::invalid_input(
                "access key contains a space, ',' or '=': set HUAWEICLOUD_SDK_AK to the access key id",
            ));
        }
        check_header_safe(
            "secret key",
            &sk,
            "set HUAWEICLOUD_SDK_SK to the secret access key",
        )?;
        if let Some(st) = &st {
            check_header_safe(
                "security token",
                st,
                "set HUAWEICLOUD_SDK_SECURITY_TOKEN to the temporary security token",
            )?;
        }
        Ok(Self::AkSk {
            access_key: ak,
            secret_key: Secret(sk),
            security_token: st.map(Secret),
        })
    }

    /// `token` or `aksk`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token(_) => "token",
            Self::AkSk { .. } => "aksk",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &str = "MARKER-SECRET-7731";

    #[test]
    fn debug_never_shows_secrets() {
        let all = [
            Credentials::token(MARK).unwrap(),
            Credentials::ak_sk("AK1", MARK).unwrap(),
            Credentials::temporary("AK1", MARK, MARK).unwrap(),
        ];
        for c in all {
            let dbg = format!("{c:?} {c:#?}");
            assert!(!dbg.contains(MARK), "{dbg}");
        }
    }

    #[test]
    fn bad_values_never_echoed() {
        let bad = format!("{MARK}\n");
        for e in [
            Credentials::token(bad.clone()).unwrap_err(),
            Credentials::ak_sk("AK", bad.clone()).unwrap_err(),
            Credentials::temporary("AK", "SK", bad.clone()).unwrap_err(),
        ] {
            let text = format!("{e} {e:?}");
            assert!(!text.contains(MARK), "{text}");
            assert!(text.contains("control characters"), "{text}");
        }
        assert!(Credentials::token("").is_err());
        assert!(Credentials::token("tök").is_err());
        assert!(Credentials::ak_sk("A K", "s").is_err());
        assert!(Credentials::ak_sk("", "s").is_err());
    }
}
