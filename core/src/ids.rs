//! Validated identifiers: project ids and instance ids.
//!
//! Owns what an id may contain and how it becomes exactly one path segment.
//! Must not know about endpoints, signing or HTTP.

use std::fmt;
use std::marker::PhantomData;

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

/// What an id names: its name in messages, the setting that gives it, and
/// the type's name in `Debug`. Implemented by [`Project`] and [`Instance`]
/// only.
pub trait IdKind: sealed::Sealed {
    /// How messages name the id (`project id`).
    const WHAT: &'static str;
    /// Where it is set, for a message (` (HUAWEICLOUD_SDK_PROJECT_ID)`).
    const SETTING: &'static str;
    /// The type's name in `Debug` (`ProjectId`).
    const TYPE: &'static str;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Project {}
    impl Sealed for super::Instance {}
}

/// The kind of a [`ProjectId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Project {}

/// The kind of an [`InstanceId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Instance {}

impl IdKind for Project {
    const WHAT: &'static str = "project id";
    const SETTING: &'static str = " (HUAWEICLOUD_SDK_PROJECT_ID)";
    const TYPE: &'static str = "ProjectId";
}

impl IdKind for Instance {
    const WHAT: &'static str = "instance id";
    const SETTING: &'static str = "";
    const TYPE: &'static str = "InstanceId";
}

/// A validated id of kind `K`: non-empty, no control characters, not `.`
/// or `..`, at most 1024 bytes. Use it as [`ProjectId`] or [`InstanceId`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id<K: IdKind> {
    value: String,
    kind: PhantomData<K>,
}

/// A project id (the `{project_id}` path parameter).
///
/// ```
/// use clouddc_core::ProjectId;
/// assert!(ProjectId::new("0a1b2c3d").is_ok());
/// assert!(ProjectId::new("").is_err());
/// ```
pub type ProjectId = Id<Project>;

/// An instance id (the `{id}` path parameter). Any non-control character
/// is allowed; it travels percent-encoded as one segment.
///
/// ```
/// use clouddc_core::InstanceId;
/// let id = InstanceId::new("a/b c").unwrap();
/// assert_eq!(id.to_path_segment(), "a%2Fb%20c");
/// ```
pub type InstanceId = Id<Instance>;

impl<K: IdKind> Id<K> {
    /// Validates an id: non-empty, no control characters, at most 1024 bytes.
    pub fn new(s: impl Into<String>) -> Result<Self, Error> {
        let value = s.into();
        validate(K::WHAT, K::SETTING, &value)?;
        Ok(Self {
            value,
            kind: PhantomData,
        })
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The id percent-encoded as exactly one path segment.
    pub fn to_path_segment(&self) -> String {
        encode_segment(&self.value)
    }
}

impl<K: IdKind> TryFrom<&str> for Id<K> {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl<K: IdKind> TryFrom<String> for Id<K> {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl<K: IdKind> std::str::FromStr for Id<K> {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl<K: IdKind> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K: IdKind> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?})", K::TYPE, self.value)
    }
}

impl<K: IdKind> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

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
    fn debug_names_the_type() {
        assert_eq!(
            format!("{:?}", InstanceId::new("i").unwrap()),
            "InstanceId(\"i\")"
        );
        assert_eq!(
            format!("{:?}", ProjectId::new("p").unwrap()),
            "ProjectId(\"p\")"
        );
    }

    #[test]
    fn encodes_everything_outside_unreserved() {
        let id = InstanceId::new("a/b c%d~e_f.g-h?#ü").unwrap();
        assert_eq!(id.to_path_segment(), "a%2Fb%20c%25d~e_f.g-h%3F%23%C3%BC");
    }
}
