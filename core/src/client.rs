//! What every client shares, whatever moves its bytes: the session, the
//! bound on requests in flight, and how each operation of a client's
//! surface becomes a machine.
//!
//! Owns [`ClientCore`] (so that `clouddc-ureq` and `clouddc-reqwest` differ
//! only in how they send and wait), [`SingleCall`] (one status query
//! without a fleet's bookkeeping) and the profile file's size cap. Must not
//! send, sleep, read a clock or open a file: the adapters do, and hand the
//! results in.

use std::fmt;
use std::io::Read;
use std::iter::Once;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use http::Response;

use crate::config::Config;
use crate::error::Error;
use crate::ids::InstanceId;
use crate::machine::{Machine, Now, Step};
use crate::machines::call::{Call, CallResult};
use crate::machines::fleet::{Fleet, FleetOptions, Job};
use crate::observe::Observer;
use crate::session::{Resolve, Session, SessionOptions};

/// The default bound on a client's requests in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// The largest profile file read, in bytes: a wrong path to a huge file
/// fails as "too large" instead of filling memory.
pub const PROFILE_FILE_LIMIT: u64 = 1 << 20;

/// How a transport's client is made from its [`ClientCore`]: what
/// [`ClientBuilder::build`] calls.
pub trait Connect: Sized {
    /// The transport's product, named in the `User-Agent` after the
    /// core's (e.g. `clouddc-ureq/0.1.0`).
    const PRODUCT: &'static str;

    /// The client over `core`: its connection pool set up.
    fn connect(core: ClientCore) -> Result<Self, Error>;

    /// Reads a file the session reads again while calls run (the OIDC
    /// id-token file): the transport's profile-file reader.
    fn read_file(path: &Path) -> std::io::Result<Vec<u8>>;
}

/// The settings of a client that are not in [`Config`]: the most requests
/// in flight at once (default [`DEFAULT_MAX_IN_FLIGHT`], at least 1).
/// Every fleet of the client stays within it, and so do its connections.
pub struct ClientBuilder<C> {
    max_in_flight: usize,
    observer: Option<Arc<dyn Observer>>,
    client: PhantomData<fn() -> C>,
}

impl<C> Default for ClientBuilder<C> {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            observer: None,
            client: PhantomData,
        }
    }
}

impl<C> Clone for ClientBuilder<C> {
    fn clone(&self) -> Self {
        Self {
            max_in_flight: self.max_in_flight,
            observer: self.observer.clone(),
            client: PhantomData,
        }
    }
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("max_in_flight", &self.max_in_flight)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl<C: Connect> ClientBuilder<C> {
    /// Requests in flight at once across the client (at least 1).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Reports every attempt of the client's calls, waits and fleets to
    /// `observer` (none by default).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Builds the client and its pool for `config`.
    pub fn build(self, config: Config) -> Result<C, Error> {
        let mut options = SessionOptions::new().read_file(C::read_file);
        if let Some(o) = self.observer {
            options = options.observer(o);
        }
        C::connect(ClientCore::with_options(
            config,
            C::PRODUCT,
            self.max_in_flight,
            options,
        )?)
    }
}

/// The state and the decisions a client shares with every other client:
/// cheap to clone (clones share the session).
///
/// ```
/// use clouddc_core::{ClientCore, Config, Credentials, Endpoint, FleetOptions, InstanceId, Job, ProjectId};
/// let config = Config::builder()
///     .endpoint(Endpoint::parse("http://127.0.0.1:8080")?)
///     .project_id(ProjectId::new("p1")?)
///     .credentials(Credentials::token("t")?)
///     .build()?;
/// let core = ClientCore::new(config, "my-transport/1.0", 8)?;
/// assert!(core.config().user_agent().contains(" my-transport/1.0"));
/// // Every fleet of the client stays within its bound.
/// let fleet = core.fleet(Job::Status, Vec::<InstanceId>::new(), FleetOptions::new().max_in_flight(64), 1);
/// # drop(fleet);
/// # Ok::<(), clouddc_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientCore {
    session: Session,
    max_in_flight: usize,
}

impl ClientCore {
    /// The core of a client whose transport is `product` (named in the
    /// `User-Agent`, e.g. `clouddc-ureq/0.1.0`), carrying at most
    /// `max_in_flight` requests at once (at least 1).
    pub fn new(config: Config, product: &str, max_in_flight: usize) -> Result<Self, Error> {
        let config = config.with_user_agent_product(product)?;
        Ok(Self {
            session: Session::new(config),
            max_in_flight: max_in_flight.max(1),
        })
    }

    /// As [`new`](Self::new), the session given `options` (a transport
    /// passes its file reader for the OIDC id-token file; see
    /// [`SessionOptions`]).
    pub fn with_options(
        config: Config,
        product: &str,
        max_in_flight: usize,
        options: SessionOptions,
    ) -> Result<Self, Error> {
        let config = config.with_user_agent_product(product)?;
        Ok(Self {
            session: Session::with_options(config, options),
            max_in_flight: max_in_flight.max(1),
        })
    }

    /// What the client's calls have learned.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// What the user set.
    pub fn config(&self) -> &Config {
        self.session.config()
    }

    /// The most requests in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// A fleet doing `job` for every id, never more requests in flight than
    /// the client carries, its jitter seeded with `seed`.
    pub fn fleet<I: IntoIterator<Item = InstanceId>>(
        &self,
        job: Job,
        ids: I,
        options: FleetOptions,
        seed: u64,
    ) -> Fleet<I::IntoIter> {
        let options = options.seed(seed).cap_in_flight(self.max_in_flight);
        Fleet::new(&self.session, job, ids, options)
    }

    /// A fleet of one id with one request at a time (a wait, or a call
    /// that may need the session to refresh its credentials on the way).
    pub fn one(&self, job: Job, id: &InstanceId, seed: u64) -> Fleet<Once<InstanceId>> {
        self.fleet(
            job,
            std::iter::once(id.clone()),
            FleetOptions::single(),
            seed,
        )
    }

    /// One status query for `id`, started at `now`: the credentials and
    /// project resolved first when they need a request, then the call,
    /// paced like a fleet of one.
    pub fn status(&self, id: &InstanceId, now: Now, seed: u64) -> SingleCall {
        let call = Call::new(&self.session, id.clone(), now, seed);
        let call = match self.session.limits() {
            Some(l) => call.with_limits(l.clone()),
            None => call,
        };
        SingleCall {
            resolve: Some(self.session.resolve()),
            call,
        }
    }

    /// Resolving the credentials and project id now; see
    /// [`Session::resolve`].
    pub fn resolve(&self) -> Resolve {
        self.session.resolve()
    }
}

/// One status query and, first, whatever the session needs to sign it: a
/// [`Machine`] without a fleet's tables, for the single calls that are most
/// of a client's traffic.
#[derive(Debug)]
#[must_use = "a machine does nothing until it is driven"]
pub struct SingleCall {
    resolve: Option<Resolve>,
    call: Call,
}

impl Machine for SingleCall {
    type Output = CallResult;

    fn poll(&mut self, now: Now) -> Step<CallResult> {
        if let Some(resolve) = &mut self.resolve {
            match resolve.poll(now) {
                Step::Done(Ok(())) => self.resolve = None,
                Step::Done(Err(e)) => return Step::Done(Err(e)),
                Step::Send(a) => return Step::Send(a),
                Step::Wait(t) => return Step::Wait(t),
            }
        }
        let step = self.call.poll(now);
        if let Step::Done(result) = &step {
            crate::machines::trace::finished_call(self.call.id(), result);
        }
        step
    }

    fn handle_response(&mut self, now: Now, response: Response<Vec<u8>>) {
        match &mut self.resolve {
            Some(r) => r.handle_response(now, response),
            None => self.call.handle_response(now, response),
        }
    }

    fn handle_transport_error(&mut self, now: Now, error: Error) {
        match &mut self.resolve {
            Some(r) => r.handle_transport_error(now, error),
            None => self.call.handle_transport_error(now, error),
        }
    }
}

/// Reads a profile file from `reader` (the adapters open it): at most
/// [`PROFILE_FILE_LIMIT`] bytes and one more, so that the parser can tell a
/// file that is too large. A pipe is read until its writer closes it.
pub fn read_profile(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(PROFILE_FILE_LIMIT + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machines::call::tests::{resp, settings, t0};

    #[test]
    fn a_single_call_with_fixed_credentials_sends_at_once() {
        let core = ClientCore::new(settings(2), "t/1", 4).unwrap();
        let now = t0();
        let mut one = core.status(&InstanceId::new("i").unwrap(), now, 1);
        let Step::Send(a) = one.poll(now) else {
            panic!("nothing to resolve, so the call goes at once")
        };
        assert_eq!(a.request.uri().path(), "/v1/p/instances/i/status");
        one.handle_response(now, resp(200, &[], r#"{"state":"running"}"#));
        assert!(matches!(one.poll(now), Step::Done(Ok(_))));
    }

    #[test]
    fn every_fleet_of_a_client_stays_within_its_bound() {
        let core = ClientCore::new(settings(1), "t/1", 3).unwrap();
        let ids = (0..10).map(|i| InstanceId::new(format!("i-{i}")).unwrap());
        let mut fleet = core.fleet(Job::Status, ids, FleetOptions::new().max_in_flight(64), 1);
        let now = t0();
        let mut sent = 0;
        while let crate::FleetStep::Send { .. } = fleet.poll(now) {
            sent += 1;
        }
        assert_eq!(sent, 3);
    }

    #[test]
    fn a_profile_file_is_read_to_one_byte_past_the_cap() {
        let big = vec![b'x'; 3 << 20];
        let read = read_profile(&big[..]).unwrap();
        assert_eq!(read.len() as u64, PROFILE_FILE_LIMIT + 1);
        assert_eq!(read_profile(&b"[basic]\n"[..]).unwrap(), b"[basic]\n");
    }
}
