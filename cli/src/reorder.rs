//! The reorder buffer: hands fleet events on in argument order.
//!
//! Owns re-ordering only: the clients' fleets report ids as they finish, and
//! the command prints them in the order they were given (or, with
//! `--unordered`, as they finish). Must not decide anything about HTTP,
//! retries, pacing or waiting (the core's fleet does, driven by the client
//! `clients` picks), nor print: what it hands on goes to the caller's
//! closure. Uses no other module of this crate.

use std::collections::BTreeMap;

use clouddc_core::FleetEvent;

/// Collects finished ids and hands them on in index order as soon as each
/// next one is there.
pub(crate) struct InOrder {
    ordered: bool,
    next: u64,
    pending: BTreeMap<u64, FleetEvent>,
}

impl InOrder {
    /// Hands events on in index order, or as they come when not `ordered`.
    pub(crate) fn new(ordered: bool) -> Self {
        Self {
            ordered,
            next: 0,
            pending: BTreeMap::new(),
        }
    }

    /// Takes `event`; hands every event now next in order to `emit`,
    /// stopping at the first that cannot be handed on.
    pub(crate) fn push<E>(
        &mut self,
        event: FleetEvent,
        mut emit: impl FnMut(FleetEvent) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.ordered {
            return emit(event);
        }
        self.pending.insert(event.index, event);
        while let Some(e) = self.pending.remove(&self.next) {
            self.next += 1;
            emit(e)?;
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
        let mut order = InOrder::new(true);
        for i in [2, 0, 1, 4, 3] {
            let e = FleetEvent::new(i, InstanceId::new("i").unwrap(), Outcome::Interrupted);
            order
                .push(e, |e| {
                    seen.push(e.index);
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        assert_eq!(seen, [0, 1, 2, 3, 4]);
    }
}
