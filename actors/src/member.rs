//! What the supervisor holds for each connection, and what it can ask of one.
//!
//! It is not generic over protocols: it reaches a connection through a [`Link`], its
//! one mailbox address behind a trait object, so connections of every protocol (and test
//! doubles) fit one registry. One address shared by every holder costs one sender per
//! connection; a `Recipient` per message kind costs a sender (three allocations) each.

use crate::connection::Control;
use crate::{ConnectionReport, ConnectionStatus, GroupDeliver, Inspect, RemovalReason, SendError};
use actix::dev::MailboxError;
use actix::prelude::*;
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// An answer to come from a connection's mailbox.
pub(crate) type Answer<T> = Pin<Box<dyn Future<Output = Result<T, MailboxError>>>>;

/// What can be asked of a connection, whatever its protocol.
pub(crate) trait Reach: Send + Sync {
    /// Queue one encoded packet; the answer says whether it was admitted.
    fn deliver(&self, packet: Bytes) -> Answer<Result<(), SendError>>;
    /// Queue one encoded packet, without waiting for the answer.
    fn deliver_now(&self, packet: Bytes);
    /// Queue encoded packets, in order.
    fn deliver_batch(&self, packets: Arc<[Bytes]>);
    /// Group messages from the supervisor.
    fn group(&self, packets: GroupDeliver);
    /// Close with `reason`.
    fn close(&self, reason: RemovalReason) {
        self.close_saying(reason, None);
    }
    /// Close with `reason`, after the protocol's error reply for `last_word` if given.
    fn close_saying(&self, reason: RemovalReason, last_word: Option<Arc<str>>);
    /// Its own report of itself.
    fn inspect(&self) -> Answer<ConnectionReport>;
    /// An application's request on its behalf.
    fn control(&self, control: Control) -> Answer<Result<bool, SendError>>;
}

impl<A> Reach for Addr<A>
where
    A: Actor<Context = Context<A>>
        + Handler<Deliver>
        + Handler<DeliverBatch>
        + Handler<GroupDeliver>
        + Handler<Close>
        + Handler<Inspect>
        + Handler<Control>,
{
    fn deliver(&self, packet: Bytes) -> Answer<Result<(), SendError>> {
        Box::pin(self.send(Deliver(packet)))
    }
    fn deliver_now(&self, packet: Bytes) {
        self.do_send(Deliver(packet));
    }
    fn deliver_batch(&self, packets: Arc<[Bytes]>) {
        self.do_send(DeliverBatch(packets));
    }
    fn group(&self, packets: GroupDeliver) {
        self.do_send(packets);
    }
    fn close_saying(&self, reason: RemovalReason, last_word: Option<Arc<str>>) {
        self.do_send(Close { reason, last_word });
    }
    fn inspect(&self) -> Answer<ConnectionReport> {
        Box::pin(self.send(Inspect))
    }
    fn control(&self, control: Control) -> Answer<Result<bool, SendError>> {
        Box::pin(self.send(control))
    }
}

/// A connection's mailbox, shared by the supervisor and its groups.
pub(crate) type Link = Arc<dyn Reach>;

/// Queue an already-encoded packet for the peer.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), SendError>")]
pub struct Deliver(pub Bytes);

/// Queue several encoded packets for the peer, in order: one message for a burst of
/// broadcasts instead of one per packet. Each packet is admitted (or refused and
/// recorded) on its own, exactly as if it came in its own [`Deliver`].
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct DeliverBatch(pub Arc<[Bytes]>);

/// Close the connection: flush what is queued (when the reason allows it), then stop.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Close {
    /// The removal reason it will carry.
    pub reason: RemovalReason,
    /// Its last word, if any: sent as the protocol's error reply before it closes.
    pub last_word: Option<Arc<str>>,
}

impl Close {
    /// Close for `reason`, without a last word.
    pub fn new(reason: RemovalReason) -> Self {
        Close {
            reason,
            last_word: None,
        }
    }
}

/// A registered connection, as the supervisor sees it.
#[derive(Clone)]
pub struct Member {
    /// Live figures written by the connection itself.
    pub status: Arc<ConnectionStatus>,
    /// How it is reached: packets, closes, reports, the application's requests.
    pub(crate) link: Link,
}
