//! Publish credit: how many bytes a connection has handed to the hubs that the hubs
//! have not yet handed to members.
//!
//! Every batch a connection publishes or broadcasts travels with one shared
//! [`Ticket`] for its bytes; the ticket is dropped once every hub is done with the
//! batch (or the batch was dropped with a hub that went away), and that gives the bytes
//! back. A connection whose bytes in flight pass its budget
//! ([`ConnectionLimits::max_publish_in_flight`](crate::ConnectionLimits)) stops
//! reading until they are back under half of it: then the last returning ticket sends
//! it a [`CreditRestored`]. So a flood of publishes waits in the publisher's socket,
//! not in the hubs' mailboxes.

use actix::prelude::*;
use actix::WeakRecipient;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// The publisher's bytes in flight are back under half its budget: it may read again.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CreditRestored;

/// One connection's publish credit, shared with the tickets of its batches in flight.
pub(crate) struct Credit {
    /// Bytes of batches handed to hubs whose tickets are not dropped yet.
    in_flight: AtomicUsize,
    /// The connection stopped reading and waits for a [`CreditRestored`]; taken by
    /// whoever sends it (or by the connection itself if nothing is in flight any more).
    waiting: AtomicBool,
    /// Bytes in flight at most before the connection stops reading.
    budget: usize,
    /// The connection, told when it may read again (weak: a ticket outliving its
    /// connection keeps nothing alive).
    wake: WeakRecipient<CreditRestored>,
}

/// The bytes of one batch in flight; dropping it gives them back.
pub(crate) struct Ticket {
    /// Whose bytes they are.
    credit: Arc<Credit>,
    /// How many.
    bytes: usize,
}

impl Credit {
    /// The credit of a connection reached through `wake`, allowed `budget` bytes in
    /// flight.
    pub fn new(budget: usize, wake: WeakRecipient<CreditRestored>) -> Arc<Self> {
        Arc::new(Credit {
            in_flight: AtomicUsize::new(0),
            waiting: AtomicBool::new(false),
            budget,
            wake,
        })
    }

    /// Takes `bytes` from the credit for one batch; the ticket gives them back.
    pub fn ticket(self: &Arc<Self>, bytes: usize) -> Arc<Ticket> {
        self.in_flight.fetch_add(bytes, SeqCst);
        Arc::new(Ticket {
            credit: self.clone(),
            bytes,
        })
    }

    /// Whether the connection must stop reading now: its bytes in flight are over the
    /// budget, and a [`CreditRestored`] will come once they are back under half of it.
    pub fn exhausted(&self) -> bool {
        if self.in_flight.load(SeqCst) <= self.budget {
            return false;
        }
        self.waiting.store(true, SeqCst);
        if self.in_flight.load(SeqCst) > self.budget / 2 {
            return true;
        }
        // Everything came back meanwhile: take the wake-up back, unless a returning
        // ticket took it first (then its CreditRestored is on the way).
        !self.waiting.swap(false, SeqCst)
    }

    fn release(&self, bytes: usize) {
        let before = self.in_flight.fetch_sub(bytes, SeqCst);
        let left = before.saturating_sub(bytes);
        if left <= self.budget / 2 && self.waiting.swap(false, SeqCst) {
            if let Some(connection) = self.wake.upgrade() {
                connection.do_send(CreditRestored);
            }
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.credit.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wake-ups it gets.
    struct Woken(Arc<AtomicUsize>);

    impl Actor for Woken {
        type Context = Context<Self>;
    }

    impl Handler<CreditRestored> for Woken {
        type Result = ();
        fn handle(&mut self, _: CreditRestored, _: &mut Context<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    async fn settle() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    #[actix_rt::test]
    async fn spent_credit_pauses_until_half_of_it_is_back_then_wakes_once() {
        let woken = Arc::new(AtomicUsize::new(0));
        let addr = Woken(woken.clone()).start();
        let credit = Credit::new(100, addr.downgrade().recipient());
        let first = credit.ticket(60);
        assert!(!credit.exhausted(), "60 of 100");
        let second = credit.ticket(60);
        assert!(credit.exhausted(), "120 of 100");
        drop(second);
        settle().await;
        assert_eq!(
            woken.load(SeqCst),
            0,
            "60 in flight is above half the budget"
        );
        drop(first);
        settle().await;
        assert_eq!(woken.load(SeqCst), 1, "back under half: one wake-up");
        assert!(!credit.exhausted());
        settle().await;
        assert_eq!(woken.load(SeqCst), 1);
    }

    #[actix_rt::test]
    async fn a_ticket_shared_by_hubs_gives_its_bytes_back_with_the_last_clone() {
        let woken = Arc::new(AtomicUsize::new(0));
        let addr = Woken(woken.clone()).start();
        let credit = Credit::new(100, addr.downgrade().recipient());
        let ticket = credit.ticket(150);
        let shared = ticket.clone();
        drop(ticket);
        assert!(credit.exhausted(), "a clone still holds the bytes");
        drop(shared);
        settle().await;
        assert_eq!(woken.load(SeqCst), 1, "the last clone gives them back");
        assert!(!credit.exhausted(), "nothing in flight");
        settle().await;
        assert_eq!(woken.load(SeqCst), 1, "no wake-up without a pause");
    }
}
