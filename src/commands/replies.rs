//! [`Replies`]: how one protocol writes the server's answers, the only part of carrying
//! out a command that depends on the wire.

use crate::backends::DeliveryReport;
use bytes::Bytes;
use serde::Serialize;
use std::fmt::Display;
use switchboard::history::Joined;
use switchboard::GroupName;

/// How one protocol writes the packets the server sends of its own accord: the answers
/// to commands, the heartbeat and error packets. Implemented by each protocol's handler;
/// any handler that writes the same packets (over another transport, say) can name it
/// too, since nothing here reads the handler's state.
pub trait Replies: 'static {
    /// One packet of the protocol (a frame, a line).
    type Packet: 'static;

    /// The PONG answering a PING with `payload` (a line PING has none).
    fn pong(payload: Bytes) -> Self::Packet;

    /// The heartbeat: a PING asking the peer for a PONG.
    fn ping() -> Self::Packet;

    /// The answer to a JOIN of `group`, also when the connection was a member already.
    fn joined(group: &GroupName) -> Self::Packet;

    /// The answer to a JOIN of a history group, once its history said where it stands
    /// (see [`joined_text`](super::join::joined_text)).
    fn joined_history(joined: &Joined) -> Self::Packet;

    /// The answer to a LEAVE of `group`, also when the connection was not a member.
    fn left(group: &GroupName) -> Self::Packet;

    /// The answer to STATS: the snapshot as JSON, or an error packet if there is none.
    fn stats<S: Serialize, E: Display>(answer: Result<S, E>) -> Self::Packet;

    /// The answer to CLUSTER_STATS: the nodes' snapshots as JSON, or an error packet if
    /// there are none.
    fn cluster_stats<S: Serialize, E: Display>(answer: Result<S, E>) -> Self::Packet;

    /// The answer to REPLICATE: who acked and who did not, as JSON.
    fn replicated(report: &DeliveryReport) -> Self::Packet;

    /// The answer to an AUTH that succeeded: the user's name.
    fn authed(user: &str) -> Self::Packet;

    /// The answer to KICK: the user named and how many of its connections were removed.
    fn kicked(user: &str, removed: usize) -> Self::Packet;

    /// The error packet carrying `reason` (what the protocol's `error_reply` sends).
    fn error(reason: &str) -> Self::Packet;
}
