//! SIGINT and SIGTERM: stop the run, keep what finished.
//!
//! Owns the signal thread (signal-hook, so the blocking-only build needs no
//! tokio), remembering which signal came, and calling the run's cancel hook
//! once. Must not print anything: the command prints one record per id as
//! the cancelled fleet reports them.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGINT, SIGTERM};

type Hook = Box<dyn Fn() + Send>;

/// A signal watcher for one run.
#[derive(Clone)]
pub(crate) struct Interrupt {
    inner: Arc<Inner>,
}

struct Inner {
    signal: AtomicI32,
    expired: AtomicBool,
    hook: Mutex<Option<Hook>>,
}

impl Inner {
    fn fire(&self) {
        if let Ok(hook) = self.hook.lock()
            && let Some(hook) = hook.as_ref()
        {
            hook();
        }
    }
}

impl Interrupt {
    /// Starts watching for SIGINT and SIGTERM; without a signal thread (it
    /// could not be set up), signals keep their default effect.
    pub(crate) fn install() -> Self {
        let this = Self {
            inner: Arc::new(Inner {
                signal: AtomicI32::new(0),
                expired: AtomicBool::new(false),
                hook: Mutex::new(None),
            }),
        };
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            let inner = this.inner.clone();
            let _ = std::thread::Builder::new()
                .name("clouddc-signals".into())
                .spawn(move || {
                    if let Some(sig) = signals.forever().next() {
                        inner.signal.store(sig, Ordering::SeqCst);
                        inner.fire();
                    }
                });
        }
        this
    }

    /// Also stops the run after `after` (for `watch --for`); a run stopped
    /// that way is [`expired`](Self::expired), not signalled.
    pub(crate) fn expire_after(&self, after: std::time::Duration) {
        let inner = self.inner.clone();
        let _ = std::thread::Builder::new()
            .name("clouddc-timer".into())
            .spawn(move || {
                std::thread::sleep(after);
                inner.expired.store(true, Ordering::SeqCst);
                inner.fire();
            });
    }

    /// Whether the run was stopped by [`expire_after`](Self::expire_after).
    pub(crate) fn expired(&self) -> bool {
        self.inner.expired.load(Ordering::SeqCst)
    }

    /// Calls `cancel` when a signal comes (at once if one came already).
    pub(crate) fn on_signal(&self, cancel: impl Fn() + Send + 'static) {
        if let Ok(mut hook) = self.inner.hook.lock() {
            if self.signalled() || self.expired() {
                cancel();
            }
            *hook = Some(Box::new(cancel));
        }
    }

    /// Whether a signal came.
    pub(crate) fn signalled(&self) -> bool {
        self.inner.signal.load(Ordering::SeqCst) != 0
    }

    /// The exit status for the signal that came (128 + its number), if any.
    pub(crate) fn exit_code(&self) -> Option<u8> {
        match self.inner.signal.load(Ordering::SeqCst) {
            0 => None,
            sig => u8::try_from(128 + sig).ok(),
        }
    }
}
