//! Validated identifiers: project ids and instance ids.
//!
//! Owns what an id may contain and how it becomes exactly one path segment.
//! Must not know about endpoints, signing or HTTP.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;

/// Every byte outside RFC 3986 "unreserved" (`A-Z a-z 0-9 - _ . ~`) is
/// percent-encoded, as the vendor SDK does.
pub(crate) const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` so that it is one path segment.
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_segment(&mut out, s);
    out
}

/// Appends `s` percent-encoded as one path segment.
pub(crate) fn push_segment(out: &mut String, s: &str) {
    out.extend(utf8_percent_encode(s, NOT_UNRESERVED));
}

fn validate(what: &str, flag: &str, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(Error::invalid_input(format!(
            "{what} is empty: pass a non-empty {what}{flag}"
        )));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(Error::invalid_input(format!(
            "{what} {:?} contains the control character {:?}: remove it",
            s.escape_debug().to_string(),
            c
        )));
    }
    if s == "." || s == ".." {
        // Unreserved, so they would travel as-is and be read as path steps.
        return Err(Error::invalid_input(format!(
            "{what} {s:?} is a relative path step, not an id: pass the real {what}"
        )));
    }
    if s.len() > 1024 {
        return Err(Error::invalid_input(format!(
            "{what} is {} bytes long: ids are at most 1024 bytes",
            s.len()
        )));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $what:literal, $flag:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates an id: non-empty, no control characters, at most 1024 bytes.
            pub fn new(s: impl Into<String>) -> Result<Self, Error> {
                let s = s.into();
                validate($what, $flag, &s)?;
                Ok(Self(s))
            }

            /// The id as given.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id percent-encoded as exactly one path segment.
            pub fn to_path_segment(&self) -> String {
                encode_segment(&self.0)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A project id (the `{project_id}` path parameter).
    ///
    /// ```
    /// use clouddc_core::ProjectId;
    /// assert!(ProjectId::new("0a1b2c3d").is_ok());
    /// assert!(ProjectId::new("").is_err());
    /// ```
    ProjectId,
    "project id",
    " (HUAWEICLOUD_SDK_PROJECT_ID)"
);

id_type!(
    /// An instance id (the `{id}` path parameter). Any non-control
    /// character is allowed; it travels percent-encoded as one segment.
    ///
    /// ```
    /// use clouddc_core::InstanceId;
    /// let id = InstanceId::new("a/b c").unwrap();
    /// assert_eq!(id.to_path_segment(), "a%2Fb%20c");
    /// ```
    InstanceId,
    "instance id",
    ""
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn rejects_empty_and_control_characters() {
        for bad in [
            "",
            "a\nb",
            "tab\there",
            "nul\0",
            "del\u{7f}",
            "c1\u{85}",
            ".",
            "..",
        ] {
            let e = InstanceId::new(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        let e = ProjectId::new("").unwrap_err();
        assert!(e.to_string().contains("HUAWEICLOUD_SDK_PROJECT_ID"), "{e}");
        assert!(InstanceId::new("x".repeat(1025)).is_err());
        assert!(InstanceId::new("x".repeat(1024)).is_ok());
        assert!(ProjectId::new("..").is_err());
        assert!(InstanceId::new("...").is_ok());
        assert!(InstanceId::new("./x").is_ok());
    }

    #[test]
    fn encodes_everything_outside_unreserved() {
        let id = InstanceId::new("a/b c%d~e_f.g-h?#ü").unwrap();
        assert_eq!(id.to_path_segment(), "a%2Fb%20c%25d~e_f.g-h%3F%23%C3%BC");
    }
}
