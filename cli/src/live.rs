//! Every read of what a client knows at run time: the credentials and
//! project id in use (set, or resolved from server metadata and IAM), where
//! each setting came from, and the gateway's clock skew.
//!
//! Owns these reads and nothing else, so that a change in where the core
//! and the clients keep live values is adapted here (and where `clients`
//! makes a [`Live`]) alone: `config` shows a [`Snapshot`], a 401 or 403
//! record says [`Who`] asked, and a fleet says once when it signs with the
//! gateway's time ([`SkewNote`]). Must not resolve anything itself (the
//! clients do), nor decide what is shown: secrets stay in [`Credentials`]
//! for the caller to mask.

use clouddc_core::{Config, ConfigBuilder, Credentials, Origin, Origins, Session};

use crate::stdio;

/// The live values of one client, read where the core keeps them: the
/// client's session (clones share it). Made by `clients`, next to the
/// client.
#[derive(Clone)]
pub(crate) struct Live {
    session: Session,
}

impl Live {
    /// The live values of the client whose session this is.
    pub(crate) fn new(session: &Session) -> Self {
        Self {
            session: session.clone(),
        }
    }

    /// What a client of `config` would start from, when none could be
    /// built: only what was set.
    pub(crate) fn unbuilt(config: &Config) -> Self {
        Self {
            session: Session::new(config.clone()),
        }
    }

    /// [`Who`] asks, now.
    pub(crate) fn who(&self) -> Who {
        Who {
            credential_source: source(&self.session.config().origins().credentials),
            project_id: self.session.project_id().map(|p| p.to_string()),
        }
    }

    /// What the client holds now: its project id and credentials as
    /// resolved so far.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let c = self.session.config();
        Snapshot {
            endpoint: Some(c.endpoint().to_string()),
            region: c.region().map(str::to_owned),
            project_id: self.session.project_id().map(|p| p.to_string()),
            credentials: self.session.credentials(),
            origins: c.origins().clone(),
        }
    }
}

/// Where a setting came from, as `config` and failure records show it:
/// `flag` for what the command line set, else the core's spelling
/// (`env:NAME`, `file:PATH:LINE`, `metadata`, `iam`, `default`, `unset`).
pub(crate) fn source(origin: &Origin) -> String {
    match origin {
        Origin::Explicit => "flag".to_owned(),
        other => other.to_string(),
    }
}

/// What a client holds (or a builder so far), and where each value came
/// from; all unset by default.
#[derive(Default)]
pub(crate) struct Snapshot {
    pub(crate) endpoint: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) project_id: Option<String>,
    /// The credentials in use (none yet when they come from metadata).
    pub(crate) credentials: Option<Credentials>,
    pub(crate) origins: Origins,
}

impl Snapshot {
    /// What a builder holds so far, when it cannot build a config yet.
    pub(crate) fn of_builder(b: &ConfigBuilder) -> Self {
        let p = b.preview();
        Self {
            endpoint: p.endpoint.map(ToString::to_string),
            region: p.region.map(str::to_owned),
            project_id: p.project_id.map(ToString::to_string),
            credentials: p.credentials.cloned(),
            origins: p.origins.clone(),
        }
    }
}

/// Who asked, for a 401 or 403: where the credentials came from and the
/// project id the request was for.
pub(crate) struct Who {
    pub(crate) credential_source: String,
    pub(crate) project_id: Option<String>,
}

/// Says once on stderr that calls sign with the gateway's time: checked
/// after every event of a fleet, and when the fleet is done.
pub(crate) struct SkewNote {
    live: Live,
    said: bool,
}

impl SkewNote {
    pub(crate) fn new(live: &Live) -> Self {
        Self {
            live: live.clone(),
            said: false,
        }
    }

    /// Says it, if the client now corrects for a skew and it was not said.
    pub(crate) fn check(&mut self) {
        if !self.said
            && let Some(skew) = self.live.session.clock_skew()
        {
            self.said = true;
            stdio::err(format_args!("{skew}; signing with the gateway's time"));
        }
    }
}

impl Drop for SkewNote {
    fn drop(&mut self) {
        self.check();
    }
}
