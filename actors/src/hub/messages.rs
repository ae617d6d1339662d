//! What a hub is told: its thread's connections registering, joining, leaving and
//! going; batches to fan out; and what it hands its members.

use super::credit::Ticket;
use crate::core::Handout;
use crate::groups::{NumberedShare, Publisher, Run};
use crate::history::{JoinAnswer, SeqRun};
use crate::websocket::Framing;
use crate::{ConnId, GroupEncoder, GroupName, Published};
use actix::prelude::*;
use bytes::Bytes;
use std::sync::Arc;

/// A connection of the hub's thread starts: it is a member of its protocol group.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubRegister {
    /// The connection.
    pub id: ConnId,
    /// Its protocol group.
    pub protocol: &'static str,
    /// Where its hub hands it packets.
    pub inbox: Arc<super::Inbox>,
    /// How its packets go out as WebSocket messages, for a WebSocket connection: its
    /// hub frames what it hands it, once for all its members framed alike.
    pub framing: Option<Framing>,
}

/// A registered connection joins a named group.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubJoin {
    /// The connection.
    pub id: ConnId,
    /// The group.
    pub group: GroupName,
    /// How its protocol writes group messages.
    pub encoder: GroupEncoder,
}

/// A connection leaves a named group.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubLeave {
    /// The connection.
    pub id: ConnId,
    /// The group.
    pub group: GroupName,
}

/// Something a connection tells the supervisor or the stats, handed on with what the
/// hub's other connections said in the same turn.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubRelay(pub crate::supervisor::Relayed);

/// A connection was removed: it leaves its protocol group and every named group.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubGone(pub ConnId);

/// Messages published to named groups, for the hub's members of those groups.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubPublish {
    /// The publishing connection and its protocol (its own copies are queued already,
    /// and its own encodings are reused for its protocol), or none for a publish from
    /// outside any connection.
    pub publisher: Option<Publisher>,
    /// The messages, in publish order, shared by every hub.
    pub messages: Arc<[Published]>,
    /// The publisher's credit for these bytes, given back when every hub is done.
    pub ticket: Option<Arc<Ticket>>,
}

/// Encoded packets for the hub's members of a protocol group.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubBroadcast {
    /// The protocol group.
    pub protocol: &'static str,
    /// The packets, in order, shared by every hub and member.
    pub packets: Arc<[Bytes]>,
    /// A member that already has them (the broadcasting connection).
    pub except: Option<ConnId>,
    /// The broadcaster's credit for these bytes, given back when every hub is done.
    pub ticket: Option<Arc<Ticket>>,
}

/// Messages of history groups numbered by one sequencer during one turn, for the
/// hub's members of those groups.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HubNumbered(pub Arc<Numbered>);

/// What a sequencer numbered during one turn, shared by every hub.
pub(crate) struct Numbered {
    /// The runs, in the order they were numbered.
    pub runs: Vec<Arc<SeqRun>>,
    /// The publishers' credit for these bytes, given back when every hub is done
    /// (held for that only).
    pub _tickets: Vec<Arc<Ticket>>,
}

/// What a hub (or a history group's sequencer) hands one of its members.
pub(crate) enum HubDeliver {
    /// Packets broadcast to its protocol group, in order.
    Broadcast(Arc<Batch>),
    /// Group messages for it, in publish order, in runs of one group each (a
    /// connection that left that group meanwhile drops the run).
    Group(Vec<Run>),
    /// Packets broadcast to its protocol group, framed as messages for it, of which
    /// some could not be (each a send failure).
    Framed(Arc<[Result<Bytes, crate::SendError>]>),
    /// Numbered messages of history groups, in the order they were numbered.
    Numbered(Vec<NumberedShare>),
    /// A history group's sequencer answers the member's join.
    Joined {
        /// The group.
        group: GroupName,
        /// The join it answers.
        token: u64,
        /// Where the history stands, and what a recovery replays.
        answer: JoinAnswer,
    },
}

impl HubDeliver {
    /// Another handle on the same delivery (the packets are shared, not copied).
    pub fn share(&self) -> HubDeliver {
        match self {
            HubDeliver::Broadcast(batch) => HubDeliver::Broadcast(batch.clone()),
            HubDeliver::Group(runs) => HubDeliver::Group(runs.clone()),
            HubDeliver::Framed(packets) => HubDeliver::Framed(packets.clone()),
            HubDeliver::Numbered(shares) => HubDeliver::Numbered(shares.clone()),
            HubDeliver::Joined {
                group,
                token,
                answer,
            } => HubDeliver::Joined {
                group: group.clone(),
                token: *token,
                answer: answer.clone(),
            },
        }
    }
}

/// Packets broadcast to a protocol group, shared by the hub's members.
pub(crate) type Batch = Handout<Arc<[Bytes]>>;

#[cfg(test)]
impl Handout<Arc<[Bytes]>> {
    /// The packets, in order.
    pub fn packets(&self) -> &[Bytes] {
        match self {
            Handout::Packets(packets) => packets,
            Handout::Copied(batch) => batch.packets(),
        }
    }
}
