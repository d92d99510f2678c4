//! What the simulator-driven test files share: either client behind one
//! type, with the runtime the async one needs.

use clouddc_core::{
    Config, Error, FleetOptions, InstanceId, InstanceState, InstanceStatus, Job, WaitOptions,
    WaitReport,
};
use futures_util::StreamExt;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Ureq,
    Reqwest,
}

pub(crate) const KINDS: [Kind; 2] = [Kind::Ureq, Kind::Reqwest];

/// Either client, with the runtime the async one needs.
pub(crate) enum Client {
    Ureq(clouddc_ureq::Client),
    Reqwest(clouddc_reqwest::Client, tokio::runtime::Runtime),
}

impl Client {
    pub(crate) fn new(kind: Kind, config: Config) -> Self {
        Self::observed(kind, config, None)
    }

    /// A client whose attempts go to `observer`, if any.
    pub(crate) fn observed(
        kind: Kind,
        config: Config,
        observer: Option<std::sync::Arc<dyn clouddc_core::Observer>>,
    ) -> Self {
        match kind {
            Kind::Ureq => {
                let mut b = clouddc_ureq::Client::builder();
                if let Some(o) = observer {
                    b = b.observer(o);
                }
                Self::Ureq(b.build(config).expect("client"))
            }
            Kind::Reqwest => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                let mut b = clouddc_reqwest::Client::builder();
                if let Some(o) = observer {
                    b = b.observer(o);
                }
                let c = rt.block_on(async { b.build(config) });
                Self::Reqwest(c.expect("client"), rt)
            }
        }
    }

    pub(crate) fn session(&self) -> &clouddc_core::Session {
        match self {
            Self::Ureq(c) => c.session(),
            Self::Reqwest(c, _) => c.session(),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        match self {
            Self::Ureq(c) => c.config(),
            Self::Reqwest(c, _) => c.config(),
        }
    }

    pub(crate) fn resolve(&self) -> Result<(), Error> {
        match self {
            Self::Ureq(c) => c.resolve(),
            Self::Reqwest(c, rt) => rt.block_on(c.resolve()),
        }
    }

    pub(crate) fn status(&self, id: &str) -> Result<InstanceStatus, Error> {
        let id = InstanceId::new(id).expect("id");
        match self {
            Self::Ureq(c) => c.status(&id),
            Self::Reqwest(c, rt) => rt.block_on(c.status(&id)),
        }
    }

    pub(crate) fn fleet(
        &self,
        ids: Vec<InstanceId>,
        options: FleetOptions,
    ) -> Vec<Result<InstanceStatus, Error>> {
        match self {
            Self::Ureq(c) => c
                .fleet(Job::Status, ids, options)
                .map(|e| e.into_status().1)
                .collect(),
            Self::Reqwest(c, rt) => rt.block_on(
                c.fleet(Job::Status, ids, options)
                    .map(|e| e.into_status().1)
                    .collect(),
            ),
        }
    }

    pub(crate) fn wait_all(
        &self,
        ids: Vec<InstanceId>,
        target: InstanceState,
        options: WaitOptions,
    ) -> Vec<(InstanceId, WaitReport)> {
        match self {
            Self::Ureq(c) => c.wait_all(ids, target, options, 16).collect(),
            Self::Reqwest(c, rt) => rt.block_on(c.wait_all(ids, target, options, 16).collect()),
        }
    }
}
