//! The interface between the supervisor and a cluster link.

use crate::{GroupName, Published};
use actix::Message;
use bytes::Bytes;
use serde::Serialize;
use std::sync::Arc;

/// A group whose local membership started or ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Interest {
    /// A named group.
    Group(GroupName),
    /// The group of a protocol (the target of its broadcasts).
    Protocol(&'static str),
}

/// A cluster link's figures, the `cluster` object of a stats snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClusterCounters {
    /// This server's name in the cluster.
    pub node: String,
    /// Whether the link is connected now.
    pub connected: bool,
    /// Messages handed to the link's transport for the other nodes: group messages,
    /// broadcasts, and sends to one connection on another node.
    pub published_total: u64,
    /// Messages received from other nodes, sends to one of this node's connections
    /// included.
    pub received_total: u64,
    /// Messages for other nodes that could not be handed over (disconnected, or the
    /// link's buffer full), sends to one connection on another node included.
    pub failed_total: u64,
    /// Times the transport dropped messages for this node because it read them too
    /// slowly (each one is an incident, not a message count).
    pub slow_consumer_total: u64,
    /// Times the connection to the transport was lost (and then retried by itself).
    pub disconnects_total: u64,
}

/// What the supervisor tells a cluster link. Every method is called on the supervisor's
/// thread and must return at once: a link buffers (boundedly) or counts a failure.
pub(crate) trait ClusterHook: Send + Sync + 'static {
    /// Messages published on this server (already delivered to its own members), in
    /// publish order.
    fn published(&self, messages: &[Published]);
    /// Packets broadcast to the group of `protocol` on this server (already delivered to
    /// its own members), in order.
    fn broadcast(&self, protocol: &'static str, packets: &[Bytes]);
    /// This server now has members of `interest` (`true`) or none any more (`false`).
    fn interest(&self, interest: Interest, present: bool);
    /// The link's figures.
    fn counters(&self) -> ClusterCounters;
}

/// Connect the supervisor to a cluster link (replacing any link it had). The supervisor
/// announces its current interest to the new link at once.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub(crate) struct AttachCluster(pub Arc<dyn ClusterHook>);

/// Messages other nodes published to a named group, in order: delivered to this
/// server's members, each in its protocol's encoding (one delivery per member for the
/// whole batch), and not handed to the link again. Answers how many packets were handed
/// to members.
#[derive(Message, Debug, Clone)]
#[rtype(result = "usize")]
pub(crate) struct ClusterDeliver {
    /// The group.
    pub group: GroupName,
    /// The protocol-neutral messages, in order.
    pub messages: Vec<Bytes>,
}

/// Packets other nodes broadcast to a protocol group, in order: delivered as they are
/// to this server's members of that protocol, and not handed to the link again.
/// Answers how many members they were handed to.
#[derive(Message, Debug, Clone)]
#[rtype(result = "usize")]
pub(crate) struct ClusterBroadcast {
    /// The protocol group.
    pub protocol: &'static str,
    /// The encoded packets, in order.
    pub packets: Vec<Bytes>,
}
