//! Keeps replies in request order when some of them are computed later.
//!
//! A handler may defer a reply (a stats query, a replication round). Replies asked for
//! after it must not overtake it, so while any deferred reply is outstanding, later
//! replies wait here in their slots; when the oldest slot fills, the ready prefix is
//! released in order. A member's own message to a history group waits the same way for
//! its numbered copy, counted apart ([`ReplyOrder::await_copy`]). Pure data: the
//! connection actor drives it.

use std::collections::VecDeque;

/// Reply slots in request order.
#[derive(Debug)]
pub struct ReplyOrder<R> {
    /// The slots and their numbering, allocated at the first deferred reply: most
    /// connections never defer one, and pay one pointer. Kept once allocated, so that
    /// the numbering goes on.
    inner: Option<Box<Slots<R>>>,
}

/// One place in the reply order.
#[derive(Debug)]
enum Slot<R> {
    /// A deferred reply not ready yet (`copy`: the numbered copy of the connection's
    /// own message to a history group).
    Waiting { copy: bool },
    /// A reply ready to go out, once the slots before it are.
    Ready(R),
}

/// The slots of a [`ReplyOrder`] that deferred a reply at least once.
#[derive(Debug)]
struct Slots<R> {
    /// Slots oldest first.
    slots: VecDeque<Slot<R>>,
    /// Sequence number of the front slot.
    front_seq: u64,
    /// Deferred replies not filled yet (the application's and join answers): what
    /// `max_deferred` bounds.
    outstanding: usize,
    /// Own copies not back yet: bounded with the publishes in flight instead.
    awaited: usize,
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

    /// Deferred replies not filled yet, own copies left out.
    pub fn outstanding(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.outstanding)
    }

    /// Own copies of history-group messages not back yet.
    pub fn awaited(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.awaited)
    }

    fn inner(&mut self) -> &mut Slots<R> {
        self.inner.get_or_insert_with(|| {
            Box::new(Slots {
                slots: VecDeque::new(),
                front_seq: 0,
                outstanding: 0,
                awaited: 0,
            })
        })
    }

    /// Reserves a slot for a deferred reply; returns its sequence number.
    pub fn defer(&mut self) -> u64 {
        let inner = self.inner();
        inner.slots.push_back(Slot::Waiting { copy: false });
        inner.outstanding += 1;
        inner.front_seq + inner.slots.len() as u64 - 1
    }

    /// Reserves a slot for the numbered copy of the connection's own message to a
    /// history group: it holds later replies as a deferred reply does, but counts among
    /// [`awaited`](Self::awaited), not [`outstanding`](Self::outstanding).
    pub fn await_copy(&mut self) -> u64 {
        let inner = self.inner();
        inner.slots.push_back(Slot::Waiting { copy: true });
        inner.awaited += 1;
        inner.front_seq + inner.slots.len() as u64 - 1
    }

    /// Holds a ready reply behind the outstanding ones.
    pub fn hold(&mut self, reply: R) {
        self.inner().slots.push_back(Slot::Ready(reply));
    }

    /// Fills the slot `seq`. A slot that no longer exists (cleared) is ignored.
    pub fn fill(&mut self, seq: u64, reply: R) {
        let Some(inner) = &mut self.inner else {
            return;
        };
        let Some(index) = seq.checked_sub(inner.front_seq) else {
            return;
        };
        if let Some(slot) = inner.slots.get_mut(index as usize) {
            if let Slot::Waiting { copy } = *slot {
                *slot = Slot::Ready(reply);
                match copy {
                    true => inner.awaited -= 1,
                    false => inner.outstanding -= 1,
                }
            }
        }
    }

    /// Empties the order at close: every held reply (`Some`) and every deferred one not
    /// filled yet (`None`), oldest first. Later fills of those slots are ignored.
    pub fn drain(&mut self) -> impl Iterator<Item = Option<R>> + '_ {
        self.inner.iter_mut().flat_map(|inner| {
            inner.front_seq += inner.slots.len() as u64;
            inner.outstanding = 0;
            inner.awaited = 0;
            inner.slots.drain(..).map(|slot| match slot {
                Slot::Ready(reply) => Some(reply),
                Slot::Waiting { .. } => None,
            })
        })
    }

    /// Takes the oldest reply if it is ready.
    pub fn pop_ready(&mut self) -> Option<R> {
        let inner = self.inner.as_mut()?;
        if matches!(inner.slots.front(), Some(Slot::Ready(_))) {
            inner.front_seq += 1;
            if let Some(Slot::Ready(reply)) = inner.slots.pop_front() {
                return Some(reply);
            }
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
    fn an_awaited_copy_holds_later_replies_but_is_not_outstanding() {
        let mut order = ReplyOrder::default();
        let a = order.await_copy();
        order.hold("b");
        let c = order.defer();
        assert_eq!((order.outstanding(), order.awaited()), (1, 1));
        assert_eq!(order.pop_ready(), None);
        order.fill(a, "a");
        assert_eq!((order.outstanding(), order.awaited()), (1, 0));
        assert_eq!(order.pop_ready(), Some("a"));
        assert_eq!(order.pop_ready(), Some("b"));
        assert_eq!(order.pop_ready(), None, "c is still deferred");
        order.fill(c, "c");
        assert_eq!(order.pop_ready(), Some("c"));
        let d = order.await_copy();
        let drained: Vec<_> = order.drain().collect();
        assert_eq!(drained, vec![None]);
        assert_eq!((order.outstanding(), order.awaited()), (0, 0));
        order.fill(d, "late");
        assert!(order.is_clear());
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
