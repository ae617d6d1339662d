//! Sending one message to many destinations at once (Tomcat's `ParallelNioSender`).
//!
//! [`send_to_many`] hands the same encoded packet (shared, not copied) to every
//! destination before awaiting any answer, so the destinations work in parallel and the
//! whole send takes as long as the slowest destination, bounded by one overall timeout.
//! The [`Delivery`] names every destination exactly once: in `acked`, or in `faulty`
//! with its [`Fault`].

use crate::connector::{Fault, Transmit};
use actix::{MailboxError, Recipient};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::time::Instant;

/// Extra time granted to a destination's own answer past the overall deadline: the
/// destination answers `timeout` at the deadline itself, this only covers the mailbox
/// round trip. Past it the destination counts as timed out.
const ANSWER_GRACE: Duration = Duration::from_millis(100);

/// One destination of a send to many: its name in the report and its actor.
#[derive(Clone)]
pub struct Target {
    /// How the destination is named in the [`Delivery`] (its address, say).
    pub name: String,
    /// The destination actor (a [`Destination`](super::Destination), or a stand-in).
    pub transmit: Recipient<Transmit>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("name", &self.name).finish()
    }
}

/// One destination that did not ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultyMember {
    /// The destination's name.
    pub member: String,
    /// Why it did not ack.
    pub fault: Fault,
}

/// What a send to many achieved: every destination is in exactly one of the lists, in
/// the order the destinations were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Destinations that acked (or, without `wait_for_ack`, queued the packet).
    pub acked: Vec<String>,
    /// Destinations that did not, each with its fault.
    pub faulty: Vec<FaultyMember>,
}

impl Delivery {
    /// Whether every destination acked.
    pub fn is_complete(&self) -> bool {
        self.faulty.is_empty()
    }
}

/// Sends `packet` to every target at once and, with `wait_for_ack`, waits for each
/// ack; everything is over within `timeout` (plus a mailbox round trip).
///
/// A destination that has not acked by then is faulty with `timeout`, and stays so:
/// its late ack is consumed by the destination, counted and ignored.
pub async fn send_to_many(
    targets: &[Target],
    packet: Bytes,
    wait_for_ack: bool,
    timeout: Duration,
) -> Delivery {
    let deadline = Instant::now() + timeout;
    let answers = targets.iter().map(|target| {
        let request = target.transmit.send(Transmit {
            packet: packet.clone(),
            wait_for_ack,
            deadline,
        });
        tokio::time::timeout_at(deadline + ANSWER_GRACE, request)
    });
    let answers = join_all(answers.collect()).await;
    let mut delivery = Delivery::default();
    for (target, answer) in targets.iter().zip(answers) {
        match outcome(answer) {
            Ok(()) => delivery.acked.push(target.name.clone()),
            Err(fault) => delivery.faulty.push(FaultyMember {
                member: target.name.clone(),
                fault,
            }),
        }
    }
    delivery
}

/// One destination's answer as an outcome.
fn outcome<E>(answer: Result<Result<Result<(), Fault>, MailboxError>, E>) -> Result<(), Fault> {
    match answer {
        Ok(Ok(result)) => result,
        Ok(Err(MailboxError::Closed)) => Err(Fault::NotConnected),
        Ok(Err(MailboxError::Timeout)) | Err(_) => Err(Fault::Timeout),
    }
}

/// Polls every future until all are done; outputs in input order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_keeps_input_order() {
        let sleeps = [30u64, 10, 20].map(|ms| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        });
        assert_eq!(join_all(sleeps.into()).await, vec![30, 10, 20]);
        assert!(join_all(Vec::<std::future::Ready<u8>>::new())
            .await
            .is_empty());
    }

    #[test]
    fn answers_become_outcomes() {
        assert_eq!(outcome::<()>(Ok(Ok(Ok(())))), Ok(()));
        assert_eq!(
            outcome::<()>(Ok(Ok(Err(Fault::NoSenderAvailable)))),
            Err(Fault::NoSenderAvailable)
        );
        assert_eq!(
            outcome::<()>(Ok(Err(MailboxError::Closed))),
            Err(Fault::NotConnected)
        );
        assert_eq!(outcome(Err(())), Err(Fault::Timeout));
    }
}
