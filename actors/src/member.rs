//! What the supervisor holds for each connection, and the three things it can ask of one.
//!
//! The supervisor is not generic over protocols: it reaches a connection through three
//! [`Recipient`]s, so connections of every protocol (and test doubles) fit one registry.

use crate::{ConnectionStatus, Inspect, RemovalReason, SendError};
use actix::prelude::*;
use bytes::Bytes;
use std::sync::Arc;

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
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Close(pub RemovalReason);

/// A registered connection, as the supervisor sees it.
#[derive(Clone)]
pub struct Member {
    /// Live figures written by the connection itself.
    pub status: Arc<ConnectionStatus>,
    /// Where packets for the peer go.
    pub deliver: Recipient<Deliver>,
    /// Where bursts of packets for the peer go.
    pub deliver_batch: Recipient<DeliverBatch>,
    /// Where a close request goes.
    pub close: Recipient<Close>,
    /// Where a request for the connection's own report goes (last send and receive,
    /// recent send failures: figures only the actor has).
    pub inspect: Recipient<Inspect>,
}
