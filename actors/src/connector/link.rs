//! The destination's handle on one dialed connection: where its packets go, how it is
//! closed, and who waits for its answers.

use crate::connector::acks::AckQueue;
use crate::connector::Fault;
use crate::{Close, Deliver, SendError};
use actix::{MailboxError, Recipient};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Where a request's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<(), Fault>>;

/// Who waits for an answer on a sender.
pub(crate) enum Waiter {
    /// A health check.
    Health {
        /// When it counts as missed: an answer arriving at or after it is too late,
        /// even if the expiry timer has not run yet (a timeout of 0 is never met).
        deadline: Instant,
    },
    /// An application request.
    Send {
        /// Where the outcome goes.
        reply: Reply,
        /// When it times out: an ack arriving at or after it is late, even if the
        /// expiry timer has not run yet.
        deadline: Instant,
    },
}

/// The destination's handle on one connected sender.
pub(crate) struct Link {
    /// Where its packets go (the connection's write path).
    pub deliver: Recipient<Deliver>,
    /// How it is closed (the connection deregisters itself with the reason).
    pub close: Recipient<Close>,
    /// Its outstanding requests, oldest first.
    pub acks: AckQueue<Waiter>,
}

impl Link {
    /// Tells everyone still waiting on this link that it failed with `fault`.
    pub fn fail_all(&mut self, fault: &Fault) {
        for waiter in self.acks.drain() {
            if let Waiter::Send { reply, .. } = waiter {
                let _ = reply.send(Err(fault.clone()));
            }
        }
    }
}

/// What a connection's answer to a [`Deliver`] means for the request.
pub(crate) fn queue_outcome(res: Result<Result<(), SendError>, MailboxError>) -> Result<(), Fault> {
    match res {
        Ok(Ok(())) => Ok(()),
        Ok(Err(SendError::Closing | SendError::Stopped)) | Err(_) => Err(Fault::NotConnected),
        Ok(Err(e)) => Err(Fault::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_refusals_become_faults() {
        assert_eq!(queue_outcome(Ok(Ok(()))), Ok(()));
        assert_eq!(
            queue_outcome(Ok(Err(SendError::Closing))),
            Err(Fault::NotConnected)
        );
        assert_eq!(
            queue_outcome(Err(MailboxError::Closed)),
            Err(Fault::NotConnected)
        );
        let over = SendError::OverBudget {
            queued: 1,
            packet: 2,
            limit: 2,
        };
        assert_eq!(
            queue_outcome(Ok(Err(over.clone()))),
            Err(Fault::Io(over.to_string()))
        );
    }
}
