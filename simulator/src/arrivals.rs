//! The request log: when each API request reached the simulator and what
//! became of it, so tests can check a client's rate cap ("in any one-second
//! window the server saw at most R + 1 requests") and how it met the
//! gateway's flow control and stale connections.
//!
//! Owns the bounded buffer of records (compact: instance ids and policies
//! are interned) and the sliding-window count over arrival times. Times
//! are passed in; must not read a clock, and must not decide anything: the
//! heart records what it decided.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::faults::{ConnectionInfo, FaultKind};
use crate::flow::FlowPolicy;

/// The most requests the log keeps: when it is full, each new one drops the
/// oldest. The log takes about 40 bytes a request plus each distinct
/// instance id once; a snapshot of arrival times, [`RequestLog::arrivals`],
/// takes up to 16 MB more while it lives, and one of [`RequestRecord`]s
/// about 100 bytes a record.
pub const MAX_ARRIVALS: usize = 1_000_000;

/// The largest number of `arrivals` inside any half-open window
/// `[t, t + window)`, for any `t`.
///
/// `arrivals` must be sorted in ascending order (as
/// [`RequestLog::arrivals`] is); for unsorted input the answer is
/// meaningless, but the function still returns without panicking. A zero
/// `window` contains nothing and gives 0. One pass with two indices: O(n)
/// time, no allocation.
///
/// ```
/// use clouddc_simulator::max_in_window;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis;
/// let arrivals = [ms(0), ms(400), ms(999), ms(1000), ms(1500)];
/// // [0, 1000) holds 0, 400 and 999; 1000 is just outside it.
/// assert_eq!(max_in_window(&arrivals, ms(1000)), 3);
/// assert_eq!(max_in_window(&arrivals, ms(1001)), 4);
/// assert_eq!(max_in_window(&arrivals, Duration::ZERO), 0);
/// ```
pub fn max_in_window(arrivals: &[Duration], window: Duration) -> usize {
    let mut best = 0;
    let mut first = 0;
    for (last, &at) in arrivals.iter().enumerate() {
        // Drop arrivals the window starting at `arrivals[first]` cannot
        // stretch to `at`; `first` never passes `last + 1`.
        while first <= last && at.saturating_sub(arrivals[first]) >= window {
            first += 1;
        }
        best = best.max(last + 1 - first);
    }
    best
}

/// The arrival log as [`Control::requests`](crate::Control::requests) and
/// [`Simulator::requests`](crate::Simulator::requests) report it; `GET
/// /_sim/requests` answers the same in JSON (see [`admin`](crate::admin)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLog {
    /// API requests recorded since the start or the last reset, including
    /// any dropped from [`arrivals`](Self::arrivals) once more than
    /// [`MAX_ARRIVALS`] arrived.
    pub count: u64,
    /// [`max_in_window`] over `arrivals` with [`window`](Self::window).
    pub max_in_window: usize,
    /// The window `max_in_window` was computed for.
    pub window: Duration,
    /// When the most recent requests (at most [`MAX_ARRIVALS`]) arrived,
    /// as real (monotonic) time since the simulator started, ascending.
    pub arrivals: Vec<Duration>,
}

/// One API request as the simulator saw it; see
/// [`Control::request_records`](crate::Control::request_records).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// Its number among the API requests since the start or the last
    /// reset, from 1 (as [`RequestLog::count`] counts them).
    pub seq: u64,
    /// When it arrived: real (monotonic) time since the simulator started.
    pub at: Duration,
    /// The instance id of a status request, percent-decoded from the path
    /// (whether or not the instance exists); `None` for other paths.
    pub instance_id: Option<String>,
    /// The status answered; `None` when no response was sent (a reset,
    /// stalled headers, a stale connection closed).
    pub status: Option<u16>,
    /// The fault that shaped the answer, 429s included
    /// ([`FaultKind::FlowControl`], [`FaultKind::RateLimit`]).
    pub fault: Option<FaultKind>,
    /// The gateway policy that refused it, for a flow-control 429.
    pub throttled: Option<Throttled>,
    /// The connection's number, from 1 in the order accepted (`None` when
    /// the request carried no [`ConnectionInfo`]).
    pub connection: Option<u64>,
    /// Whether an earlier request used the same connection.
    pub reused: bool,
}

/// Which flow-control policy refused a request, and in which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Throttled {
    /// Its position in the policies in force at the time, from 0.
    pub policy_index: usize,
    /// The policy, as it was.
    pub policy: FlowPolicy,
    /// The window it was refused in: window `k` is `[k × window, (k + 1) ×
    /// window)` of simulated time after the start.
    pub window_index: u64,
}

/// What the heart records of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen<'a> {
    pub(crate) at: Instant,
    pub(crate) instance_id: Option<&'a str>,
    pub(crate) status: Option<u16>,
    pub(crate) fault: Option<FaultKind>,
    pub(crate) throttled: Option<Throttled>,
    pub(crate) connection: Option<ConnectionInfo>,
}

const NONE32: u32 = u32::MAX;
const NONE16: u16 = u16::MAX;

/// One record, compact.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Nanoseconds since the start.
    at: u64,
    connection: u64,
    window_index: u64,
    /// Index into `ids`, or [`NONE32`].
    instance: u32,
    /// 0: none.
    status: u16,
    /// Index into `policies`, or [`NONE16`].
    policy: u16,
    policy_index: u16,
    fault: Option<FaultKind>,
    has_connection: bool,
    reused: bool,
}

/// The bounded buffer behind [`RequestLog`] and [`RequestRecord`]: entries
/// in the order they were recorded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Arrivals {
    count: u64,
    entries: VecDeque<Entry>,
    ids: Vec<String>,
    id_index: HashMap<String, u32>,
    policies: Vec<FlowPolicy>,
}

impl Arrivals {
    /// Records one request; `started` is the simulator's start.
    pub(crate) fn record(&mut self, started: Instant, seen: Seen<'_>) {
        let offset = seen.at.saturating_duration_since(started).as_nanos();
        if self.entries.len() >= MAX_ARRIVALS {
            self.entries.pop_front();
        }
        let instance = seen.instance_id.map_or(NONE32, |id| self.intern_id(id));
        let (policy, policy_index, window_index) = match seen.throttled {
            Some(t) => (
                self.intern_policy(t.policy),
                u16::try_from(t.policy_index).unwrap_or(NONE16),
                t.window_index,
            ),
            None => (NONE16, 0, 0),
        };
        self.entries.push_back(Entry {
            at: u64::try_from(offset).unwrap_or(u64::MAX),
            connection: seen.connection.map_or(0, |c| c.id),
            window_index,
            instance,
            status: seen.status.unwrap_or(0),
            policy,
            policy_index,
            fault: seen.fault,
            has_connection: seen.connection.is_some(),
            reused: seen.connection.is_some_and(|c| c.is_reused()),
        });
        self.count += 1;
    }

    fn intern_id(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.id_index.get(id) {
            return i;
        }
        // Ids of dropped records are dropped too, now and then, so the
        // table stays within twice the log's size.
        if self.ids.len() >= 2 * MAX_ARRIVALS {
            self.compact_ids();
        }
        let i = u32::try_from(self.ids.len()).unwrap_or(NONE32);
        if i != NONE32 {
            self.ids.push(id.to_owned());
            self.id_index.insert(id.to_owned(), i);
        }
        i
    }

    fn compact_ids(&mut self) {
        let old = std::mem::take(&mut self.ids);
        self.id_index.clear();
        for e in self.entries.iter_mut() {
            if let Some(id) = old.get(e.instance as usize) {
                e.instance = match self.id_index.get(id) {
                    Some(&i) => i,
                    None => {
                        let i = u32::try_from(self.ids.len()).unwrap_or(NONE32);
                        self.ids.push(id.clone());
                        self.id_index.insert(id.clone(), i);
                        i
                    }
                };
            }
        }
    }

    fn intern_policy(&mut self, p: FlowPolicy) -> u16 {
        if let Some(i) = self.policies.iter().position(|q| *q == p) {
            return u16::try_from(i).unwrap_or(NONE16);
        }
        if self.policies.len() >= usize::from(NONE16) {
            return NONE16;
        }
        self.policies.push(p);
        u16::try_from(self.policies.len() - 1).unwrap_or(NONE16)
    }

    /// Forgets every request and gives the memory back.
    pub(crate) fn clear(&mut self) {
        *self = Self::default();
    }

    /// The log with the busiest `window`.
    pub(crate) fn log(&self, window: Duration) -> RequestLog {
        let mut arrivals: Vec<Duration> = self
            .entries
            .iter()
            .map(|e| Duration::from_nanos(e.at))
            .collect();
        // The shell records in clock order, so this is normally sorted
        // already; a sans-IO caller may pass instants out of order.
        if !arrivals.is_sorted() {
            arrivals.sort_unstable();
        }
        RequestLog {
            count: self.count,
            max_in_window: max_in_window(&arrivals, window),
            window,
            arrivals,
        }
    }

    /// The records held, in the order they were recorded, from the one
    /// numbered `from_seq` (1 is the first since the start) on.
    pub(crate) fn records(&self, from_seq: u64) -> Vec<RequestRecord> {
        let first_seq = self.count - self.entries.len() as u64 + 1;
        let skip = usize::try_from(from_seq.saturating_sub(first_seq)).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, e)| RequestRecord {
                seq: first_seq + i as u64,
                at: Duration::from_nanos(e.at),
                instance_id: self.ids.get(e.instance as usize).cloned(),
                status: (e.status != 0).then_some(e.status),
                fault: e.fault,
                throttled: self
                    .policies
                    .get(usize::from(e.policy))
                    .map(|&policy| Throttled {
                        policy_index: usize::from(e.policy_index),
                        policy,
                        window_index: e.window_index,
                    }),
                connection: e.has_connection.then_some(e.connection),
                reused: e.reused,
            })
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
// Tests pick arbitrary start instants with the real clock.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn arrival(at: Instant) -> Seen<'static> {
        Seen {
            at,
            instance_id: None,
            status: Some(200),
            fault: None,
            throttled: None,
            connection: None,
        }
    }

    fn at(offsets_ms: &[u64]) -> Vec<Duration> {
        offsets_ms.iter().copied().map(ms).collect()
    }

    /// The definition, directly: the best window starts at an arrival.
    fn brute_force(arrivals: &[Duration], window: Duration) -> usize {
        arrivals
            .iter()
            .map(|&t| {
                arrivals
                    .iter()
                    .filter(|&&a| a >= t && a - t < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn windows_are_half_open() {
        let one_s = ms(1000);
        assert_eq!(max_in_window(&[], one_s), 0);
        assert_eq!(max_in_window(&at(&[5]), one_s), 1);
        // 1000 ms apart: never in one window of 1000 ms.
        assert_eq!(max_in_window(&at(&[0, 1000, 2000, 3000]), one_s), 1);
        assert_eq!(max_in_window(&at(&[0, 999, 1998]), one_s), 2);
        // Equal instants all count.
        assert_eq!(max_in_window(&at(&[7, 7, 7, 1007]), one_s), 3);
        // The busiest window need not start at the first arrival.
        assert_eq!(max_in_window(&at(&[0, 600, 700, 800, 1599]), one_s), 4);
    }

    #[test]
    fn zero_and_huge_windows() {
        let a = at(&[0, 1, 1, 2]);
        assert_eq!(max_in_window(&a, Duration::ZERO), 0);
        assert_eq!(max_in_window(&a, Duration::from_nanos(1)), 2);
        assert_eq!(max_in_window(&a, Duration::MAX), 4);
    }

    #[test]
    fn unsorted_input_does_not_panic() {
        let a = at(&[5000, 0, 3000, 1, 2]);
        assert!(max_in_window(&a, ms(1000)) <= a.len());
        assert_eq!(max_in_window(&a, Duration::ZERO), 0);
    }

    #[test]
    fn the_log_is_bounded_and_keeps_the_newest() {
        let t0 = Instant::now();
        let mut log = Arrivals::default();
        let extra = 5;
        for n in 0..MAX_ARRIVALS as u64 + extra {
            log.record(t0, arrival(t0 + Duration::from_micros(n)));
        }
        assert_eq!(log.held(), MAX_ARRIVALS);
        let r = log.log(ms(1));
        assert_eq!(r.count, MAX_ARRIVALS as u64 + extra);
        assert_eq!(r.arrivals.len(), MAX_ARRIVALS);
        assert_eq!(r.arrivals[0], Duration::from_micros(extra));
        assert_eq!(r.max_in_window, 1000);
        log.clear();
        assert_eq!(
            log.log(ms(1)),
            RequestLog {
                count: 0,
                max_in_window: 0,
                window: ms(1),
                arrivals: Vec::new(),
            }
        );
    }

    #[test]
    fn the_log_sorts_and_clamps_what_it_is_given() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut log = Arrivals::default();
        for (sign, off) in [(1, 30), (1, 10), (-1, 5), (1, 20)] {
            let now = if sign > 0 { t0 + ms(off) } else { t0 - ms(off) };
            log.record(t0, arrival(now));
        }
        // An instant before the start counts as the start.
        assert_eq!(log.log(ms(15)).arrivals, at(&[0, 10, 20, 30]));
        assert_eq!(log.log(ms(15)).max_in_window, 2);
    }

    #[test]
    fn records_keep_what_was_seen_and_number_it() {
        let t0 = Instant::now();
        let mut log = Arrivals::default();
        let policy = FlowPolicy::per_user(20, Duration::from_secs(1));
        let throttled = Throttled {
            policy_index: 1,
            policy,
            window_index: 7,
        };
        log.record(t0, arrival(t0 + ms(1)));
        log.record(
            t0,
            Seen {
                at: t0 + ms(2),
                instance_id: Some("ins-1"),
                status: Some(429),
                fault: Some(FaultKind::FlowControl),
                throttled: Some(throttled),
                connection: Some(ConnectionInfo::new(3, 2, ms(5))),
            },
        );
        log.record(
            t0,
            Seen {
                at: t0 + ms(3),
                instance_id: Some("ins-1"),
                status: None,
                fault: Some(FaultKind::StaleConnection),
                throttled: None,
                connection: Some(ConnectionInfo::new(4, 1, ms(0))),
            },
        );
        let all = log.records(1);
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].seq, 1);
        assert_eq!(
            (
                all[0].at,
                &all[0].instance_id,
                all[0].status,
                all[0].connection,
                all[0].reused
            ),
            (ms(1), &None, Some(200), None, false)
        );
        assert_eq!(
            all[1],
            RequestRecord {
                seq: 2,
                at: ms(2),
                instance_id: Some("ins-1".to_owned()),
                status: Some(429),
                fault: Some(FaultKind::FlowControl),
                throttled: Some(throttled),
                connection: Some(3),
                reused: true,
            }
        );
        assert_eq!(
            (all[2].status, all[2].connection, all[2].reused),
            (None, Some(4), false)
        );
        assert_eq!(log.ids.len(), 1, "ids are interned");
        assert_eq!(log.records(3).len(), 1);
        assert_eq!(log.records(3)[0].seq, 3);
        assert!(log.records(4).is_empty());
        assert_eq!(log.records(0).len(), 3);
    }

    #[test]
    fn the_id_table_is_compacted_to_the_ids_still_held() {
        let t0 = Instant::now();
        let mut log = Arrivals::default();
        let mut seen = arrival(t0);
        seen.instance_id = Some("kept");
        log.record(t0, seen);
        // Fill the table as if far more ids had passed than are held.
        log.ids
            .extend((1..2 * MAX_ARRIVALS).map(|n| format!("old-{n}")));
        seen.instance_id = Some("new");
        log.record(t0, seen);
        assert_eq!(log.ids, ["kept", "new"]);
        let ids: Vec<_> = log.records(1).into_iter().map(|r| r.instance_id).collect();
        assert_eq!(ids, [Some("kept".to_owned()), Some("new".to_owned())]);
    }

    proptest! {
        /// The sweep agrees with the definition; the answer is at most the
        /// number of arrivals, at least one when there are any and the
        /// window is not empty, never shrinks as the window grows, and is
        /// every arrival once the window is longer than their span.
        #[test]
        fn the_sweep_is_the_definition(
            mut offsets in proptest::collection::vec(0u64..5_000, 0..200),
            window_ms in 0u64..3_000,
            wider_ms in 0u64..3_000,
        ) {
            offsets.sort_unstable();
            let arrivals = at(&offsets);
            let window = ms(window_ms);
            let got = max_in_window(&arrivals, window);
            prop_assert_eq!(got, brute_force(&arrivals, window));
            prop_assert!(got <= arrivals.len());
            if !arrivals.is_empty() && !window.is_zero() {
                prop_assert!(got >= 1);
            }
            prop_assert!(max_in_window(&arrivals, window + ms(wider_ms)) >= got);
            let span = match (arrivals.first(), arrivals.last()) {
                (Some(a), Some(b)) => *b - *a,
                _ => Duration::ZERO,
            };
            prop_assert_eq!(max_in_window(&arrivals, span + ms(1)), arrivals.len());
        }
    }
}
