//! File descriptors: every request in flight holds a socket.
//!
//! Owns raising the soft `RLIMIT_NOFILE` to the hard limit at start, and
//! fitting `--concurrency` into what the limit allows, with one warning
//! when it must be lowered (on stderr, through `stdio`). Must not decide
//! anything else about a run.

/// Descriptors kept for everything but sockets of requests in flight:
/// stdio, the runtime, files, logs, idle pooled connections closing.
const RESERVED: u64 = 64;

/// The concurrency that fits the process's descriptor limit, raising the
/// soft limit to the hard one first; warns on stderr when `requested` had
/// to be lowered.
pub(crate) fn fit(requested: usize) -> usize {
    let Ok(soft) = rlimit::increase_nofile_limit(u64::MAX) else {
        return requested;
    };
    let room = usize::try_from(soft.saturating_sub(RESERVED).max(1)).unwrap_or(usize::MAX);
    if requested <= room {
        return requested;
    }
    crate::stdio::err(format_args!(
        "clouddc: warning: --concurrency {requested} does not fit the open-file limit of {soft}; using {room} (raise it with `ulimit -n`)"
    ));
    room
}
