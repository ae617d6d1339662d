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
    /// Slots oldest first: `None` is a deferred reply not ready yet.
    slots: VecDeque<Option<R>>,
    /// Sequence number of the front slot.
    front_seq: u64,
    /// Deferred replies not filled yet.
    outstanding: usize,
}

impl<R> Default for ReplyOrder<R> {
    fn default() -> Self {
        ReplyOrder {
            slots: VecDeque::new(),
            front_seq: 0,
            outstanding: 0,
        }
    }
}

impl<R> ReplyOrder<R> {
    /// Whether a reply asked for now can go out at once (nothing is held).
    pub fn is_clear(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slots in use: deferred replies and the replies held behind them.
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Deferred replies not filled yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// Reserves a slot for a deferred reply; returns its sequence number.
    pub fn defer(&mut self) -> u64 {
        self.slots.push_back(None);
        self.outstanding += 1;
        self.front_seq + self.slots.len() as u64 - 1
    }

    /// Holds a ready reply behind the outstanding ones.
    pub fn hold(&mut self, reply: R) {
        self.slots.push_back(Some(reply));
    }

    /// Fills the slot `seq`. A slot that no longer exists (cleared) is ignored.
    pub fn fill(&mut self, seq: u64, reply: R) {
        let Some(index) = seq.checked_sub(self.front_seq) else {
            return;
        };
        if let Some(slot @ None) = self.slots.get_mut(index as usize) {
            *slot = Some(reply);
            self.outstanding -= 1;
        }
    }

    /// Empties the order at close: every held reply (`Some`) and every deferred one not
    /// filled yet (`None`), oldest first. Later fills of those slots are ignored.
    pub fn drain(&mut self) -> impl Iterator<Item = Option<R>> + '_ {
        self.front_seq += self.slots.len() as u64;
        self.outstanding = 0;
        self.slots.drain(..)
    }

    /// Takes the oldest reply if it is ready.
    pub fn pop_ready(&mut self) -> Option<R> {
        if matches!(self.slots.front(), Some(Some(_))) {
            self.front_seq += 1;
            return self.slots.pop_front().flatten();
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
