//! The engine: runs many status queries or waits with bounded concurrency
//! over any transport, reporting each result as it completes.
//!
//! Owns concurrency (async: a bounded stream; blocking: a bounded set of
//! worker threads pulling the next id) and the progress hooks. Must not
//! decide anything about HTTP, retries or waiting: the core's machines do.

use std::sync::Mutex;
#[cfg(any(feature = "ureq", test))]
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "reqwest")]
use clouddc_core::transport::{AsyncClock, AsyncTransport, run_async};
#[cfg(any(feature = "ureq", test))]
use clouddc_core::transport::{Clock, Transport, run};
use clouddc_core::{
    Call, CallResult, Config, Error, InstanceId, InstanceState, InstanceStatus, Machine, Now,
    SharedLimits, Step, WaitOptions, WaitReport, Waiter,
};
#[cfg(feature = "reqwest")]
use futures_util::StreamExt;

/// What a job is.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// One status query per id.
    Status,
    /// Wait for a state.
    Wait {
        target: InstanceState,
        options: WaitOptions,
    },
}

/// What a job ended with.
#[derive(Debug)]
pub(crate) enum Outcome {
    Status(CallResult),
    Wait(WaitReport),
}

/// A poll's progress, for live display.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub(crate) polls: u32,
    pub(crate) last: Option<InstanceStatus>,
}

/// Receives progress and results; called from worker threads.
pub(crate) trait Observer: Sync {
    /// A wait made progress.
    fn progress(&self, index: usize, progress: &Progress);
    /// A job finished.
    fn done(&self, index: usize, outcome: Outcome);
}

/// A waiter that reports its progress after every step.
struct Observed<'a, O: Observer> {
    waiter: Waiter,
    index: usize,
    observer: &'a O,
    reported: u32,
}

impl<O: Observer> Machine for Observed<'_, O> {
    type Output = WaitReport;

    fn poll(&mut self, now: Now) -> Step<WaitReport> {
        let step = self.waiter.poll(now);
        if self.waiter.polls() != self.reported {
            self.reported = self.waiter.polls();
            self.observer.progress(
                self.index,
                &Progress {
                    polls: self.reported,
                    last: self.waiter.last_status().cloned(),
                },
            );
        }
        step
    }
    fn handle_response(&mut self, now: Now, response: clouddc_core::http::Response<Vec<u8>>) {
        self.waiter.handle_response(now, response);
    }
    fn handle_transport_error(&mut self, now: Now, error: Error) {
        self.waiter.handle_transport_error(now, error);
    }
}

/// The seed of job `index`: distinct per job, fixed per run.
fn seed(base: u64, index: usize) -> u64 {
    base ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Everything a run needs besides the transport.
pub(crate) struct Plan<'a> {
    pub(crate) config: &'a Config,
    pub(crate) ids: &'a [InstanceId],
    pub(crate) job: Job,
    pub(crate) concurrency: usize,
    pub(crate) limits: SharedLimits,
    pub(crate) seed: u64,
}

impl<'a> Plan<'a> {
    /// A copy of the plan (the config reference included).
    pub(crate) fn clone_parts(&self) -> Self {
        Self {
            config: self.config,
            ids: self.ids,
            job: self.job.clone(),
            concurrency: self.concurrency,
            limits: self.limits.clone(),
            seed: self.seed,
        }
    }

    fn call(&self, index: usize, now: Now) -> Call {
        Call::new(
            self.config,
            self.ids[index].clone(),
            now,
            seed(self.seed, index),
        )
        .with_limits(self.limits.clone())
    }

    fn waiter<'o, O: Observer>(
        &self,
        index: usize,
        now: Now,
        observer: &'o O,
    ) -> Option<Observed<'o, O>> {
        let Job::Wait { target, options } = &self.job else {
            return None;
        };
        let waiter = Waiter::new(
            self.config,
            self.ids[index].clone(),
            target.clone(),
            options.clone(),
            now,
            seed(self.seed, index),
        )
        .with_limits(self.limits.clone());
        Some(Observed {
            waiter,
            index,
            observer,
            reported: 0,
        })
    }
}

/// Runs the plan over an async transport: at most `concurrency` jobs in
/// flight, ids taken lazily.
#[cfg(feature = "reqwest")]
pub(crate) async fn run_all_async<T, C, O>(plan: &Plan<'_>, transport: &T, clock: &C, observer: &O)
where
    T: AsyncTransport + Sync,
    C: AsyncClock + Sync,
    O: Observer,
{
    let jobs = futures_util::stream::iter(0..plan.ids.len())
        .map(|i| async move {
            let outcome = match plan.waiter(i, clock.now(), observer) {
                Some(mut w) => Outcome::Wait(run_async(&mut w, transport, clock).await),
                None => Outcome::Status(
                    run_async(&mut plan.call(i, clock.now()), transport, clock).await,
                ),
            };
            (i, outcome)
        })
        .buffer_unordered(plan.concurrency.max(1));
    futures_util::pin_mut!(jobs);
    while let Some((i, outcome)) = jobs.next().await {
        observer.done(i, outcome);
    }
}

/// Runs the plan over a blocking transport with `concurrency` worker threads.
#[cfg(any(feature = "ureq", test))]
pub(crate) fn run_all_blocking<T, C, O>(plan: &Plan<'_>, transport: &T, clock: &C, observer: &O)
where
    T: Transport + Sync,
    C: Clock + Sync,
    O: Observer,
{
    let next = AtomicUsize::new(0);
    let workers = plan.concurrency.clamp(1, plan.ids.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= plan.ids.len() {
                        return;
                    }
                    let outcome = match plan.waiter(i, clock.now(), observer) {
                        Some(mut w) => Outcome::Wait(run(&mut w, transport, clock)),
                        None => {
                            Outcome::Status(run(&mut plan.call(i, clock.now()), transport, clock))
                        }
                    };
                    observer.done(i, outcome);
                }
            });
        }
    });
}

/// Collects results and hands them on in index order as soon as each next
/// one is there.
pub(crate) struct InOrder<F: FnMut(usize, Outcome) + Send> {
    state: Mutex<(usize, std::collections::BTreeMap<usize, Outcome>, F)>,
}

impl<F: FnMut(usize, Outcome) + Send> InOrder<F> {
    pub(crate) fn new(emit: F) -> Self {
        Self {
            state: Mutex::new((0, std::collections::BTreeMap::new(), emit)),
        }
    }

    pub(crate) fn push(&self, index: usize, outcome: Outcome) {
        let mut g = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (next, pending, emit) = &mut *g;
        pending.insert(index, outcome);
        while let Some(o) = pending.remove(next) {
            emit(*next, o);
            *next += 1;
        }
    }
}

/// A transport double for engine tests: answers from a function of the
/// attempt.
#[cfg(test)]
pub(crate) struct FnTransport<F>(pub(crate) F);

#[cfg(test)]
impl<F> Transport for FnTransport<F>
where
    F: Fn(&clouddc_core::Attempt) -> Result<clouddc_core::http::Response<Vec<u8>>, Error>,
{
    fn send(
        &self,
        attempt: clouddc_core::Attempt,
    ) -> Result<clouddc_core::http::Response<Vec<u8>>, Error> {
        (self.0)(&attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clouddc_core::test_util::FakeClock;
    use clouddc_core::{Credentials, Endpoint, ProjectId};
    use std::time::Duration;

    struct Collect(Mutex<Vec<(usize, String)>>, Mutex<u32>);
    impl Observer for Collect {
        fn progress(&self, _index: usize, _p: &Progress) {
            *self.1.lock().unwrap() += 1;
        }
        fn done(&self, index: usize, outcome: Outcome) {
            let s = match outcome {
                Outcome::Status(r) => r
                    .map(|s| s.state.to_string())
                    .unwrap_or_else(|e| e.kind().to_string()),
                Outcome::Wait(w) => w.outcome.as_str().to_owned(),
            };
            self.0.lock().unwrap().push((index, s));
        }
    }

    fn config() -> Config {
        Config::builder()
            .endpoint(Endpoint::parse("http://127.0.0.1:1").unwrap())
            .project_id(ProjectId::new("p").unwrap())
            .credentials(Credentials::token("t").unwrap())
            .max_attempts(1)
            .build()
            .unwrap()
    }

    fn answer(a: &clouddc_core::Attempt) -> Result<clouddc_core::http::Response<Vec<u8>>, Error> {
        let path = a.request.uri().path().to_owned();
        let state = if path.contains("/bad/") {
            "error"
        } else {
            "running"
        };
        Ok(clouddc_core::http::Response::new(
            format!(r#"{{"state":"{state}"}}"#).into_bytes(),
        ))
    }

    #[test]
    fn blocking_engine_runs_every_id_once() {
        let ids: Vec<InstanceId> = (0..50)
            .map(|i| {
                InstanceId::new(if i == 7 {
                    "bad".to_owned()
                } else {
                    format!("i-{i}")
                })
                .unwrap()
            })
            .collect();
        let cfg = config();
        let plan = Plan {
            config: &cfg,
            ids: &ids,
            job: Job::Wait {
                target: InstanceState::Running,
                options: WaitOptions::new().interval(Duration::from_secs(1)),
            },
            concurrency: 4,
            limits: SharedLimits::default(),
            seed: 1,
        };
        let obs = Collect(Mutex::new(Vec::new()), Mutex::new(0));
        run_all_blocking(&plan, &FnTransport(answer), &FakeClock::new(), &obs);
        let mut got = obs.0.into_inner().unwrap();
        got.sort();
        assert_eq!(got.len(), 50);
        assert_eq!(got[7], (7, "failed".to_owned()));
        assert_eq!(got[8], (8, "reached".to_owned()));
        assert_eq!(*obs.1.lock().unwrap(), 50);
    }

    #[test]
    fn in_order_emits_in_index_order() {
        let seen = Mutex::new(Vec::new());
        let order = InOrder::new(|i, _o| seen.lock().unwrap().push(i));
        for i in [2, 0, 1, 4, 3] {
            order.push(i, Outcome::Status(Err(Error::invalid_input("x"))));
        }
        drop(order);
        assert_eq!(seen.into_inner().unwrap(), [0, 1, 2, 3, 4]);
    }
}
