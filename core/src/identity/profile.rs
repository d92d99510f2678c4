//! The vendor profile file (`~/.huaweicloud/credentials`, an INI file).
//!
//! Owns parsing the file's bytes into the values of its `[basic]` section,
//! each with its 1-based line, and the file's own validity rules (syntax,
//! duplicates, empty values, partial credentials), with errors that name the
//! file and the line and never echo a value. Must not read files, read the
//! environment, or decide the order of credential sources (that is
//! `config`): the caller reads the file and hands over its bytes and path.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::credentials::Credentials;
use crate::error::Error;
use crate::ids::ProjectId;

/// A larger file is not a profile file.
pub(crate) const MAX_PROFILE_BYTES: usize = 1024 * 1024;

/// The section this API reads; every other section is checked for syntax
/// only.
const BASIC: &str = "basic";

/// One value from the file, with its 1-based line. `Debug` prints the line
/// only: the value may be a secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) value: String,
    pub(crate) line: usize,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// The `[basic]` section of a profile file.
#[derive(Clone)]
pub(crate) struct Profile {
    path: PathBuf,
    ak: Option<Entry>,
    sk: Option<Entry>,
    security_token: Option<Entry>,
    project_id: Option<Entry>,
    iam_endpoint: Option<Entry>,
    idp_id: Option<Entry>,
    id_token_file: Option<Entry>,
}

impl fmt::Debug for Profile {
    /// Keys and lines; of the values only the access key (not a secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("path", &self.path)
            .field("ak", &self.ak.as_ref().map(|e| (&e.value, e.line)))
            .field("sk", &self.sk)
            .field("security_token", &self.security_token)
            .field("project_id", &self.project_id)
            .field("iam_endpoint", &self.iam_endpoint)
            .field("idp_id", &self.idp_id)
            .field("id_token_file", &self.id_token_file)
            .finish()
    }
}

/// `{path}:{line}: {message}`, as an invalid-input error.
fn at(path: &Path, line: usize, message: impl fmt::Display) -> Error {
    Error::invalid_input(format!("{}:{line}: {message}", path.display()))
}

/// Parses a profile file. `path` is used only in messages.
/// The keys of `[basic]`; any other there is an error, never a silent skip.
const KNOWN_KEYS: &[&str] = &[
    "ak",
    "sk",
    "security_token",
    "project_id",
    "iam_endpoint",
    "idp_id",
    "id_token_file",
];

pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Profile, Error> {
    if bytes.len() > MAX_PROFILE_BYTES {
        return Err(Error::invalid_input(format!(
            "{}: is {} bytes, more than 1 MiB, so not a profile file; \
             point HUAWEICLOUD_SDK_CREDENTIALS_FILE at the credentials INI file",
            path.display(),
            bytes.len()
        )));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        at(path, line, "is not valid UTF-8; save the file as UTF-8")
    })?;

    let mut profile = Profile {
        path: path.to_path_buf(),
        ak: None,
        sk: None,
        security_token: None,
        project_id: None,
        iam_endpoint: None,
        idp_id: None,
        id_token_file: None,
    };
    let mut sections: HashMap<&str, usize> = HashMap::new();
    // The current section's name and the lines of its keys so far.
    let mut section: Option<&str> = None;
    let mut keys: HashMap<String, usize> = HashMap::new();

    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some((name, after)) = rest.split_once(']') else {
                return Err(at(
                    path,
                    line,
                    "section header is not closed; write it as `[name]`",
                ));
            };
            let after = after.trim_start();
            if !(after.is_empty() || after.starts_with(['#', ';'])) {
                return Err(at(
                    path,
                    line,
                    "text follows the section header; put only `[name]` on the line",
                ));
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(at(
                    path,
                    line,
                    "section name is empty; write it as `[name]`, e.g. `[basic]`",
                ));
            }
            if let Some(first) = sections.insert(name, line) {
                return Err(at(
                    path,
                    line,
                    format_args!(
                        "section [{name}] appears again (first at line {first}); \
                         merge the two into one"
                    ),
                ));
            }
            section = Some(name);
            keys.clear();
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(not_key_value(path, line));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(not_key_value(path, line));
        }
        let Some(section) = section else {
            return Err(at(
                path,
                line,
                "`key = value` comes before any section; put it under `[basic]`",
            ));
        };
        // Matched without regard to case, as the vendor's Python SDK does.
        let key = key.to_ascii_lowercase();
        let known = KNOWN_KEYS.contains(&key.as_str());
        if let Some(first) = keys.insert(key.clone(), line) {
            // An unknown key may be a piece of a value wrapped onto its own
            // line: it is not repeated back.
            let what = if known {
                format!("`{key}`")
            } else {
                "a key".to_owned()
            };
            return Err(at(
                path,
                line,
                format_args!(
                    "{what} appears again in [{section}] (first at line {first}); \
                     keep only one"
                ),
            ));
        }
        if section != BASIC {
            continue;
        }
        let slot = match key.as_str() {
            "ak" => &mut profile.ak,
            "sk" => &mut profile.sk,
            "security_token" => &mut profile.security_token,
            "project_id" => &mut profile.project_id,
            "iam_endpoint" => &mut profile.iam_endpoint,
            "idp_id" => &mut profile.idp_id,
            "id_token_file" => &mut profile.id_token_file,
            _ => {
                return Err(at(
                    path,
                    line,
                    format_args!(
                        "[basic] has a key it does not know (a value wrapped onto a second line?); \
                         the keys are {}",
                        KNOWN_KEYS.join(", ")
                    ),
                ));
            }
        };
        let value = unquote(value.trim());
        if value.is_empty() {
            return Err(at(
                path,
                line,
                format_args!("`{key}` is empty; give it a value or remove the line"),
            ));
        }
        *slot = Some(Entry {
            value: value.to_owned(),
            line,
        });
    }

    if !sections.contains_key(BASIC) {
        return Err(Error::invalid_input(format!(
            "{}: has no [basic] section; add one with ak and sk",
            path.display()
        )));
    }
    Ok(profile)
}

fn not_key_value(path: &Path, line: usize) -> Error {
    at(
        path,
        line,
        format_args!(
            "line {line} is not `key = value`; \
             fix it, or start it with `#` to make it a comment"
        ),
    )
}

/// Removes one pair of matching double or single quotes around a value.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|rest| rest.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

impl Profile {
    /// The path the file was read from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The OIDC pair of the file (`idp_id`, `id_token_file`): `None` when
    /// it has neither, an error naming the file and line when it has one
    /// without the other.
    pub(crate) fn oidc(&self) -> Result<Option<(String, PathBuf)>, Error> {
        match (&self.idp_id, &self.id_token_file) {
            (None, None) => Ok(None),
            (Some(idp), Some(file)) => Ok(Some((idp.value.clone(), PathBuf::from(&file.value)))),
            (Some(idp), None) => Err(self.at(
                idp.line,
                "[basic] has `idp_id` but no `id_token_file`; add `id_token_file = <path of the id token>` \
                 or remove `idp_id`",
            )),
            (None, Some(file)) => Err(self.at(
                file.line,
                "[basic] has `id_token_file` but no `idp_id`; add `idp_id = <identity provider id>` \
                 or remove `id_token_file`",
            )),
        }
    }

    /// The credentials of the file, taken whole, with the line of `ak`.
    ///
    /// `None` when the file has none of `ak`, `sk` and `security_token`; an
    /// error naming the file and line when the set is partial or a value is
    /// invalid.
    pub(crate) fn credentials(&self) -> Result<Option<(Credentials, usize)>, Error> {
        let (ak, sk) = match (&self.ak, &self.sk, &self.security_token) {
            (None, None, None) => return Ok(None),
            (Some(ak), Some(sk), _) => (ak, sk),
            (Some(ak), None, _) => {
                return Err(self.at(
                    ak.line,
                    "[basic] has `ak` but no `sk`; add `sk = <secret access key>` \
                     or remove `ak`",
                ));
            }
            (None, Some(sk), _) => {
                return Err(self.at(
                    sk.line,
                    "[basic] has `sk` but no `ak`; add `ak = <access key id>` \
                     or remove `sk`",
                ));
            }
            (None, None, Some(st)) => {
                return Err(self.at(
                    st.line,
                    "[basic] has `security_token` but no `ak` and `sk`; \
                     temporary credentials need all three: add them or remove \
                     `security_token`",
                ));
            }
        };
        let built = match &self.security_token {
            None => Credentials::ak_sk(ak.value.as_str(), sk.value.as_str()),
            Some(st) => {
                Credentials::temporary(ak.value.as_str(), sk.value.as_str(), st.value.as_str())
            }
        };
        match built {
            Ok(c) => Ok(Some((c, ak.line))),
            Err(e) => Err(self.credential_error(&e)),
        }
    }

    /// Restates a credentials validation error at the line of the value it
    /// is about, with a fix that speaks of the file rather than of the
    /// environment. Those messages never echo the value.
    fn credential_error(&self, e: &Error) -> Error {
        let message = match e {
            Error::InvalidInput(inner) => inner.message(),
            _ => "a credential is invalid",
        };
        let what = message.split_once(": ").map_or(message, |(what, _)| what);
        let (key, entry) = if what.starts_with("secret key") {
            ("sk", &self.sk)
        } else if what.starts_with("security token") {
            ("security_token", &self.security_token)
        } else {
            ("ak", &self.ak)
        };
        let line = entry.as_ref().map_or(0, |e| e.line);
        self.at(
            line,
            format_args!("{what}; write the `{key}` value exactly as issued"),
        )
    }

    /// The project id of the file, with its line.
    pub(crate) fn project_id(&self) -> Result<Option<(ProjectId, usize)>, Error> {
        let Some(entry) = &self.project_id else {
            return Ok(None);
        };
        match ProjectId::new(entry.value.as_str()) {
            Ok(id) => Ok(Some((id, entry.line))),
            // Its message quotes the value; restate it without.
            Err(_) => Err(self.at(
                entry.line,
                "`project_id` is not a valid project id (it must be at most \
                 1024 bytes, without control characters, and not `.` or `..`); \
                 set it to the project id shown in the console",
            )),
        }
    }

    /// The IAM endpoint override of the file, unchecked.
    pub(crate) fn iam_endpoint(&self) -> Option<&Entry> {
        self.iam_endpoint.as_ref()
    }

    fn at(&self, line: usize, message: impl fmt::Display) -> Error {
        at(&self.path, line, message)
    }
}

#[cfg(test)]
mod tests;
