//! Making room in the budget of bytes queued for all connections together
//! ([`OutboundBudget`]): when a connection's queue could not get the bytes a packet
//! needs, the budget asks the supervisor, once, to [`Reclaim`] at least that much. The
//! supervisor removes the connections with the most queued bytes as slow consumers
//! (each drops its queue, giving its bytes back) until the bytes of the connections so
//! removed and not yet gone cover the request: a second request arriving before they
//! are gone removes nobody more unless it needs more than they free.
//!
//! The queued bytes it ranks by are those each connection published in its status
//! after its last turn: a few microseconds old, never a message round trip.

use super::Supervisor;
use crate::core::budget::OutboundBudget;
use crate::{ConnId, RemovalReason};
use actix::prelude::*;
use std::sync::Arc;

/// The budget ran out: make room for at least `needed` bytes.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct Reclaim {
    /// Bytes of the packet that did not fit.
    pub needed: usize,
}

/// Whom to remove to free at least `needed` bytes, given every member's queued bytes
/// and the bytes `pending` that removals already decided on will free: the largest
/// queues first, and none if `pending` covers it. Ties go to the lower id.
pub(crate) fn victims(
    needed: usize,
    pending: usize,
    mut queued: Vec<(ConnId, usize)>,
) -> Vec<(ConnId, usize)> {
    queued.retain(|(_, bytes)| *bytes > 0);
    queued.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut freed = pending;
    queued
        .into_iter()
        .take_while(|(_, bytes)| {
            let take = freed < needed;
            freed += bytes;
            take
        })
        .collect()
}

impl Supervisor {
    /// Sets the budget whose exhaustions this supervisor handles; with `trim`, it also
    /// hands freed memory back to the system after a large fall in the bytes queued.
    pub(crate) fn with_budget(mut self, budget: Arc<OutboundBudget>, trim: bool) -> Self {
        self.trimmer = trim.then(|| super::memory::Trimmer::new(budget.limit()));
        self.budget = Some(budget);
        self
    }

    /// A removed connection's actor is gone: its queue's bytes are back.
    pub(super) fn victim_gone(&mut self, id: ConnId) {
        if let (Some(bytes), Some(trimmer)) = (self.victims.remove(&id), &mut self.trimmer) {
            trimmer.freed(bytes);
        }
    }
}

impl Handler<Reclaim> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Reclaim, _: &mut Context<Self>) {
        let pending = self.victims.values().sum();
        let queued = self
            .members_in(None)
            .filter(|m| !self.victims.contains_key(&m.status.id))
            .map(|m| (m.status.id, m.status.queued_bytes()))
            .collect();
        for (id, bytes) in victims(msg.needed, pending, queued) {
            self.victims.insert(id, bytes);
            let reason = RemovalReason::SlowConsumer;
            if let Some(member) = self.remove(id, reason) {
                member.link.close(reason);
            }
        }
        if let Some(budget) = &self.budget {
            budget.reclaimed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_largest_queues_go_first_until_the_bytes_are_covered() {
        let queued = vec![(1, 100), (2, 400), (3, 0), (4, 300), (5, 400)];
        assert_eq!(victims(1, 0, queued.clone()), [(2, 400)]);
        assert_eq!(victims(500, 0, queued.clone()), [(2, 400), (5, 400)]);
        assert_eq!(
            victims(900, 0, queued.clone()),
            [(2, 400), (5, 400), (4, 300)]
        );
        // What removals under way will free counts.
        assert_eq!(victims(500, 450, queued.clone()), [(2, 400)]);
        assert_eq!(victims(500, 500, queued.clone()), []);
        // Never an empty queue, even if nothing else is left.
        assert_eq!(victims(10_000, 0, queued).len(), 4);
    }

    proptest! {
        /// The victims are the largest queues, as few as cover what is needed.
        #[test]
        fn as_few_and_as_large_as_needed(
            needed in 1usize..5_000,
            pending in 0usize..2_000,
            sizes in proptest::collection::vec(0usize..1_000, 0..40),
        ) {
            let queued: Vec<(ConnId, usize)> = sizes.iter().copied().enumerate()
                .map(|(i, s)| (i as ConnId, s)).collect();
            let chosen = victims(needed, pending, queued.clone());
            let freed: usize = pending + chosen.iter().map(|v| v.1).sum::<usize>();
            let total: usize = pending + sizes.iter().sum::<usize>();
            // Enough, or everyone with bytes.
            prop_assert!(freed >= needed || chosen.len() == sizes.iter().filter(|s| **s > 0).count());
            prop_assert!(freed >= needed.min(total));
            // No fewer would do: without the last victim it was not enough.
            if let Some(last) = chosen.last() {
                prop_assert!(freed - last.1 < needed);
            }
            // Nobody left out has more than a victim.
            let smallest = chosen.iter().map(|v| v.1).min().unwrap_or(usize::MAX);
            for (id, size) in &queued {
                if !chosen.iter().any(|v| v.0 == *id) {
                    prop_assert!(*size <= smallest);
                }
            }
        }
    }
}
