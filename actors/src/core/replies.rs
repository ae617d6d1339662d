//! Keeps replies in request order when some of them are computed later.
//!
//! A handler may defer a reply (a stats query, a replication round). Replies asked for
//! after it must not overtake it, so while any deferred reply is outstanding, later
//! replies wait here in their slots; when the oldest slot fills, the ready prefix is
//! released in order. Pure data: the connection actor drives it.

use std::collections::VecDeque;

/// Reply slots in request order.
#[derive(Debug)]
pub struct ReplyOrder<R> {
    /// The slots and their numbering, allocated at the first deferred reply: most
    /// connections never defer one, and pay one pointer. Kept once allocated, so that
    /// the numbering goes on.
    inner: Option<Box<Slots<R>>>,
}

/// The slots of a [`ReplyOrder`] that deferred a reply at least once.
#[derive(Debug)]
struct Slots<R> {
    /// Slots oldest first: `None` is a deferred reply not ready yet.
    slots: VecDeque<Option<R>>,
    /// Sequence number of the front slot.
    front_seq: u64,
    /// Deferred replies not filled yet.
    outstanding: usize,
}

impl<R> Default for ReplyOrder<R> {
    fn default() -> Self {
        ReplyOrder { inner: None }
    }
}

impl<R> ReplyOrder<R> {
    /// Whether a reply asked for now can go out at once (nothing is held).
    pub fn is_clear(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.slots.is_empty())
    }

    /// Slots in use: deferred replies and the replies held behind them.
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.slots.len())
    }

    /// Deferred replies not filled yet.
    pub fn outstanding(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.outstanding)
    }

    /// Reserves a slot for a deferred reply; returns its sequence number.
    pub fn defer(&mut self) -> u64 {
        let inner = self.inner.get_or_insert_with(|| {
            Box::new(Slots {
                slots: VecDeque::new(),
                front_seq: 0,
                outstanding: 0,
            })
        });
        inner.slots.push_back(None);
        inner.outstanding += 1;
        inner.front_seq + inner.slots.len() as u64 - 1
    }

    /// Holds a ready reply behind the outstanding ones (there is one: otherwise the
    /// reply would not be held).
    pub fn hold(&mut self, reply: R) {
        match &mut self.inner {
            Some(inner) => inner.slots.push_back(Some(reply)),
            // Nothing was ever deferred: the reply is the next one out.
            None => {
                self.inner = Some(Box::new(Slots {
                    slots: VecDeque::from([Some(reply)]),
                    front_seq: 0,
                    outstanding: 0,
                }))
            }
        }
    }

    /// Fills the slot `seq`. A slot that no longer exists (cleared) is ignored.
    pub fn fill(&mut self, seq: u64, reply: R) {
        let Some(inner) = &mut self.inner else {
            return;
        };
        let Some(index) = seq.checked_sub(inner.front_seq) else {
            return;
        };
        if let Some(slot @ None) = inner.slots.get_mut(index as usize) {
            *slot = Some(reply);
            inner.outstanding -= 1;
        }
    }

    /// Empties the order at close: every held reply (`Some`) and every deferred one not
    /// filled yet (`None`), oldest first. Later fills of those slots are ignored.
    pub fn drain(&mut self) -> impl Iterator<Item = Option<R>> + '_ {
        self.inner.iter_mut().flat_map(|inner| {
            inner.front_seq += inner.slots.len() as u64;
            inner.outstanding = 0;
            inner.slots.drain(..)
        })
    }

    /// Takes the oldest reply if it is ready.
    pub fn pop_ready(&mut self) -> Option<R> {
        let inner = self.inner.as_mut()?;
        if matches!(inner.slots.front(), Some(Some(_))) {
            inner.front_seq += 1;
            return inner.slots.pop_front().flatten();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_replies_wait_for_the_deferred_one() {
        let mut order = ReplyOrder::default();
        let a = order.defer();
        order.hold("b");
        let c = order.defer();
        order.hold("d");
        assert_eq!(order.pop_ready(), None);
        order.fill(c, "c");
        assert_eq!(order.pop_ready(), None);
        order.fill(a, "a");
        let out: Vec<_> = std::iter::from_fn(|| order.pop_ready()).collect();
        assert_eq!(out, vec!["a", "b", "c", "d"]);
        assert!(order.is_clear());
        assert_eq!(order.outstanding(), 0);
    }

    #[test]
    fn drained_slots_ignore_late_fills() {
        let mut order = ReplyOrder::default();
        let a = order.defer();
        order.hold("b");
        let drained: Vec<_> = order.drain().collect();
        assert_eq!(drained, vec![None, Some("b")]);
        assert_eq!(order.outstanding(), 0);
        order.fill(a, "late");
        assert!(order.is_clear());
        let c = order.defer();
        assert_ne!(a, c, "a new slot never takes a drained one's number");
    }

    #[test]
    fn stale_or_repeated_fills_are_ignored() {
        let mut order = ReplyOrder::default();
        let a = order.defer();
        order.fill(a, 1);
        order.fill(a, 2);
        assert_eq!(order.pop_ready(), Some(1));
        order.fill(a, 3);
        assert_eq!(order.pop_ready(), None);
        assert!(order.is_clear());
    }
}
