//! A member's inbox at its hub: how a hub hands a connection of its own thread a
//! batch.
//!
//! A hub and its members share a thread, so a delivery needs no actor message (an
//! envelope allocated, sent through a channel and dispatched per member per batch):
//! the hub appends it to the member's inbox and wakes the member's I/O task, which
//! takes everything waiting in one go before it writes. Only the first delivery into
//! an empty inbox wakes the member; the rest join the same turn.

use super::HubDeliver;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::task::Waker;

/// Deliveries waiting for one member, and how to wake it.
#[derive(Default)]
pub(crate) struct Inbox(Mutex<State>);

#[derive(Default)]
struct State {
    /// Deliveries not yet taken, in the order they came.
    deliveries: VecDeque<HubDeliver>,
    /// Wakes the member's I/O task; set by the task on its first poll.
    waker: Option<Waker>,
}

impl Inbox {
    /// Appends a delivery, waking the member if the inbox was empty.
    pub fn push(&self, delivery: HubDeliver) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.deliveries.push_back(delivery);
        if state.deliveries.len() == 1 {
            if let Some(waker) = &state.waker {
                waker.wake_by_ref();
            }
        }
    }

    /// Takes every delivery waiting, oldest first; `waker` wakes the member for the
    /// next one.
    pub fn take(&self, waker: &Waker) -> VecDeque<HubDeliver> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        std::mem::take(&mut state.deliveries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Handout;
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// Counts its wakes.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn broadcast(packet: &'static [u8]) -> HubDeliver {
        let packets: Arc<[Bytes]> = Arc::new([Bytes::from_static(packet)]);
        HubDeliver::Broadcast(Arc::new(Handout::Packets(packets)))
    }

    fn packets(deliveries: VecDeque<HubDeliver>) -> Vec<Bytes> {
        deliveries
            .into_iter()
            .flat_map(|d| match d {
                HubDeliver::Broadcast(batch) => batch.packets().to_vec(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn deliveries_are_taken_in_order_and_only_the_first_wakes() {
        let inbox = Inbox::default();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        // Before the member's first poll nothing can be woken; the delivery waits.
        inbox.push(broadcast(b"a"));
        assert_eq!(packets(inbox.take(&waker)), [Bytes::from_static(b"a")]);
        inbox.push(broadcast(b"b"));
        inbox.push(broadcast(b"c"));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake for one turn");
        assert_eq!(
            packets(inbox.take(&waker)),
            [Bytes::from_static(b"b"), Bytes::from_static(b"c")]
        );
        assert!(inbox.take(&waker).is_empty());
        inbox.push(broadcast(b"d"));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "an emptied inbox wakes again"
        );
    }
}
