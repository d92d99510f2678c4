//! The engine: hands fleet events on in argument order.
//!
//! Owns re-ordering only: the clients' fleets report ids as they finish, and
//! the command prints them in the order they were given (or, with
//! `--unordered`, as they finish). Must not decide
//! anything about HTTP, retries, pacing or waiting: the core's fleet does,
//! driven by the client the backend picks.

use std::collections::BTreeMap;

use clouddc_core::FleetEvent;

/// Collects finished ids and hands them on in index order as soon as each
/// next one is there.
pub(crate) struct InOrder<E, F: FnMut(FleetEvent) -> Result<(), E>> {
    ordered: bool,
    next: u64,
    pending: BTreeMap<u64, FleetEvent>,
    emit: F,
    _error: std::marker::PhantomData<E>,
}

impl<E, F: FnMut(FleetEvent) -> Result<(), E>> InOrder<E, F> {
    /// Hands events on in index order, or as they come when not `ordered`.
    pub(crate) fn new(emit: F, ordered: bool) -> Self {
        Self {
            ordered,
            next: 0,
            pending: BTreeMap::new(),
            emit,
            _error: std::marker::PhantomData,
        }
    }

    /// Takes `event`; hands on every event now next in order, stopping at
    /// the first that cannot be handed on.
    pub(crate) fn push(&mut self, event: FleetEvent) -> Result<(), E> {
        if !self.ordered {
            return (self.emit)(event);
        }
        self.pending.insert(event.index, event);
        while let Some(e) = self.pending.remove(&self.next) {
            self.next += 1;
            (self.emit)(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clouddc_core::{InstanceId, Outcome};

    #[test]
    fn in_order_emits_in_index_order() {
        let mut seen = Vec::new();
        let mut order = InOrder::new(
            |e: FleetEvent| {
                seen.push(e.index);
                Ok::<(), ()>(())
            },
            true,
        );
        for i in [2, 0, 1, 4, 3] {
            let e = FleetEvent::new(i, InstanceId::new("i").unwrap(), Outcome::Interrupted);
            order.push(e).unwrap();
        }
        drop(order);
        assert_eq!(seen, [0, 1, 2, 3, 4]);
    }
}
