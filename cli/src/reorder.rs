//! The reorder buffer: hands fleet events on in argument order.
//!
//! Owns re-ordering only: the clients' fleets report ids as they finish, and
//! the command prints them in the order they were given (or, with
//! `--unordered`, as they finish). Must not decide anything about HTTP,
//! retries, pacing or waiting (the core's fleet does, driven by the client
//! `clients` picks), nor print: what it hands on goes to the caller's
//! closure. Uses no other module of this crate.

use std::collections::BTreeMap;

/// Collects finished ids (each an item at its index in the input) and
/// hands them on in index order as soon as each next one is there.
pub(crate) struct InOrder<T> {
    ordered: bool,
    next: u64,
    pending: BTreeMap<u64, T>,
}

impl<T> InOrder<T> {
    /// Hands events on in index order, or as they come when not `ordered`.
    pub(crate) fn new(ordered: bool) -> Self {
        Self {
            ordered,
            next: 0,
            pending: BTreeMap::new(),
        }
    }

    /// Takes `item`, the one at `index`; hands every item now next in order
    /// to `emit`, stopping at the first that cannot be handed on.
    pub(crate) fn push<E>(
        &mut self,
        index: u64,
        item: T,
        mut emit: impl FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.ordered {
            return emit(item);
        }
        self.pending.insert(index, item);
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

    #[test]
    fn in_order_emits_in_index_order() {
        let mut seen = Vec::new();
        let mut order = InOrder::new(true);
        for i in [2, 0, 1, 4, 3] {
            order
                .push(i, i * 10, |item| {
                    seen.push(item);
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        assert_eq!(seen, [0, 10, 20, 30, 40]);
    }

    #[test]
    fn unordered_emits_as_they_come() {
        let mut seen = Vec::new();
        let mut order = InOrder::new(false);
        for i in [2, 0, 1] {
            order
                .push(i, i, |item| {
                    seen.push(item);
                    Ok::<(), ()>(())
                })
                .unwrap();
        }
        assert_eq!(seen, [2, 0, 1]);
    }
}
