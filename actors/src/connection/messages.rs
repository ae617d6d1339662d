//! What a connection actor answers besides readiness and its hub's inbox: packets,
//! group messages and files from outside, close requests and reports of itself. Each handler hands the message to the core
//! and lets the shell carry out what follows.

use super::{now, Connection};
use crate::core::Origin;
use crate::hub::CreditRestored;
use crate::protocol::Protocol;
use crate::GroupName;
use crate::{Close, ConnId, Deliver, DeliverBatch, GroupDeliver, SendError, SendFailure, Traffic};
use actix::prelude::*;
use std::any::Any;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

/// What the [`Handle`](crate::Handle) asks of one connection on an application's behalf.
/// Answers whether something changed (a send: always true once admitted).
#[derive(Message)]
#[rtype(result = "Result<bool, SendError>")]
pub(crate) enum Control {
    /// A value of the protocol's `Response` type, to encode and queue.
    Send(Box<dyn Any + Send>, &'static str),
    /// Join this named group.
    Join(GroupName),
    /// Leave this named group.
    Leave(GroupName),
}

/// Ask a connection for a report of itself.
#[derive(Message)]
#[rtype(result = "ConnectionReport")]
pub struct Inspect;

/// A connection's own account of itself.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    /// The connection.
    pub id: ConnId,
    /// Its protocol group.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Bytes waiting in the outbound queue.
    pub queued_bytes: usize,
    /// Packets waiting in the outbound queue.
    pub queued_packets: usize,
    /// Error packets counted so far.
    pub error_packets: u32,
    /// Everything counted since the connection opened.
    pub traffic: Traffic,
    /// When the socket last accepted bytes from us.
    pub last_send: Option<SystemTime>,
    /// When the peer last sent bytes.
    pub last_receive: Option<SystemTime>,
    /// The most recent send failures, oldest first.
    pub recent_failures: Vec<SendFailure>,
}

impl<P: Protocol> Connection<P> {
    fn inspect(&self) -> ConnectionReport {
        let (now, wall) = (now(), SystemTime::now());
        let at = |t: Instant| wall - now.saturating_duration_since(t);
        let (last_receive, last_send) = self.core.last_activity();
        ConnectionReport {
            id: self.id(),
            protocol: P::NAME,
            peer: self.status.peer,
            queued_bytes: self.core.queued_bytes(),
            queued_packets: self.core.queued_packets(),
            error_packets: self.core.error_packets(),
            traffic: self.core.traffic(),
            last_send: last_send.map(at),
            last_receive: last_receive.map(at),
            recent_failures: self.core.recent_failures(now, wall),
        }
    }
}

impl<P: Protocol> Handler<Deliver> for Connection<P> {
    type Result = Result<(), SendError>;
    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) -> Self::Result {
        let _span = self.enter();
        let result = self.core.deliver_encoded(now(), msg.0, Origin::External);
        self.drive(ctx);
        result
    }
}

impl<P: Protocol> Handler<DeliverBatch> for Connection<P> {
    type Result = ();
    fn handle(&mut self, msg: DeliverBatch, ctx: &mut Context<Self>) {
        let _span = self.enter();
        // Each packet is admitted, or refused and recorded, on its own.
        self.core
            .deliver_all_encoded(now(), &msg.0, Origin::External);
        self.drive(ctx);
    }
}

impl<P: Protocol> Handler<GroupDeliver> for Connection<P> {
    type Result = ();
    fn handle(&mut self, msg: GroupDeliver, ctx: &mut Context<Self>) {
        let _span = self.enter();
        // Each packet is admitted, or refused and recorded, on its own; a message this
        // protocol could not encode is recorded as a send failure.
        self.core
            .deliver_all_encoded(now(), &msg.0, Origin::External);
        self.drive(ctx);
    }
}

impl<P: Protocol> Handler<CreditRestored> for Connection<P> {
    type Result = ();
    fn handle(&mut self, _: CreditRestored, ctx: &mut Context<Self>) {
        let _span = self.enter();
        self.core.handle_publish_credit(now(), false);
        self.drive(ctx);
    }
}

impl<P: Protocol> Handler<Close> for Connection<P> {
    type Result = ();
    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) {
        let _span = self.enter();
        match msg.last_word {
            Some(word) => self.core.close_with_error(now(), msg.reason, &word),
            None => self.core.close(now(), msg.reason),
        }
        self.drive(ctx);
    }
}

impl<P: Protocol> Handler<Inspect> for Connection<P> {
    type Result = MessageResult<Inspect>;
    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.inspect())
    }
}

impl<P: Protocol> Handler<Control> for Connection<P> {
    type Result = Result<bool, SendError>;
    fn handle(&mut self, msg: Control, ctx: &mut Context<Self>) -> Self::Result {
        let _span = self.enter();
        let now = now();
        let result = match msg {
            Control::Send(value, given) => match value.downcast::<P::Response>() {
                Ok(response) => self.core.send(now, *response).map(|()| true),
                Err(_) => Err(SendError::WrongProtocol {
                    protocol: P::NAME,
                    given,
                }),
            },
            Control::Join(group) => self.core.join_group(now, group),
            Control::Leave(group) => self.core.leave_group(now, group.as_str()),
        };
        self.drive(ctx);
        result
    }
}
