//! The messages a [`Destination`](crate::Destination) actor answers: [`Transmit`] a
//! packet, [`Describe`] itself, [`StopDestination`].

use crate::connector::{DestinationReport, Fault};
use actix::prelude::*;
use bytes::Bytes;
use tokio::time::Instant;

/// Send one encoded packet to the destination, optionally waiting for its ack.
///
/// Answers `Ok(())` once the destination acked (or, without `wait_for_ack`, once the
/// packet is in a connection's outbound queue), or the [`Fault`] that kept it from
/// doing so. The answer comes by `deadline`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), Fault>")]
pub struct Transmit {
    /// The packet, already encoded (see [`encode`](super::encode)); shared, not copied,
    /// when sent to many destinations.
    pub packet: Bytes,
    /// Whether to wait for the destination's ack. Without it, send only packets the
    /// destination does not answer: an answer would be taken for another request's ack.
    pub wait_for_ack: bool,
    /// When to give up.
    pub deadline: Instant,
}

/// Ask a destination how it is doing.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "DestinationReport")]
pub struct Describe;

/// Stop a destination: its senders close (reason `shutdown`), waiting requests are
/// faulty with `not connected`, and it dials no more.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopDestination;
