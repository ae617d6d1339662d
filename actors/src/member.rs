//! What the supervisor holds for each connection, and the two things it can ask of one.
//!
//! The supervisor is not generic over protocols: it reaches a connection through two
//! [`Recipient`]s, so connections of every protocol (and test doubles) fit one registry.

use crate::{ConnectionStatus, RemovalReason, SendError};
use actix::prelude::*;
use bytes::Bytes;
use std::sync::Arc;

/// Queue an already-encoded packet for the peer.
#[derive(Message, Clone)]
#[rtype(result = "Result<(), SendError>")]
pub struct Deliver(pub Bytes);

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
    /// Where a close request goes.
    pub close: Recipient<Close>,
}
