//! Named groups (rooms, topics): which connections joined which group, and how a
//! message published to a group reaches its members.
//!
//! Besides the group of its protocol, a connection may join any number of named groups;
//! a group is a value, a [`GroupName`], not a type. A handler joins, leaves and
//! publishes through its [`Outbox`](crate::Outbox); the supervisor keeps the
//! memberships (group → members by protocol, and connection → groups, so a removed
//! connection leaves all its groups at once).
//!
//! A published message is protocol-neutral bytes. Each protocol says how such a
//! message looks on its wire with a [`GroupEncoder`] (see
//! [`Protocol::group_encoder`](crate::Protocol::group_encoder)); the hub of each thread
//! that runs members runs it once per protocol present among them, not once per member,
//! and hands every member the shared bytes (the supervisor does the same for members
//! registered without a hub). When the encoder refuses the message for one protocol, each member
//! of that protocol records a send failure with the encoder's reason; members of the
//! other protocols get the message.
//!
//! Order: the messages of one publisher to one group reach every member in publish
//! order. A publisher that is a member queues its own copy itself, in order with its
//! replies, and is left out of the fan-out.

mod census;
mod encoder;
mod name;
mod registry;
mod run;

pub(crate) use census::Census;
pub use encoder::GroupEncoder;
pub use name::GroupName;
pub(crate) use registry::{NumberedShare, Registry, Run};
pub(crate) use run::{group_packets, group_run, GroupRun};

use crate::{ConnId, SendError, User};
use actix::prelude::*;
use bytes::Bytes;

/// One group message for a member: the packet encoded for its protocol, or why the
/// message could not be encoded for it.
pub type GroupPacket = Result<Bytes, SendError>;

/// Group messages for one member, in order. Each packet is admitted (or refused and
/// recorded) on its own; each error is recorded as a send failure.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct GroupDeliver(pub Vec<GroupPacket>);

/// A connection joins a named group (sent by the connection for its handler's
/// [`Outbox::join`](crate::Outbox::join)); it carries how the member is reached and how
/// its protocol encodes group messages. Ignored for a connection that is not registered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    /// The connection.
    pub id: ConnId,
    /// The group it joins.
    pub group: GroupName,
    /// Its protocol.
    pub protocol: &'static str,
    /// How its protocol writes group messages.
    pub encoder: GroupEncoder,
}

/// A connection leaves a named group (a no-op if it is not a member).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The connection.
    pub id: ConnId,
    /// The group it leaves.
    pub group: GroupName,
}

/// Publish `message` to every member of `group` (from outside any connection). Answers
/// how many members it was handed to, encoded or as a failure; 0 for a group without
/// members.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Publish {
    /// The group.
    pub group: GroupName,
    /// The protocol-neutral message, encoded by each member's protocol.
    pub message: Bytes,
}

/// One message a connection published during one turn.
#[derive(Debug, Clone)]
pub struct Published {
    /// The group.
    pub group: GroupName,
    /// The protocol-neutral message.
    pub message: Bytes,
    /// The publisher's own encoding of it, when the publisher (a member) made one: the
    /// other members of its protocol get the same bytes, so it is encoded only once.
    pub encoded: Option<Result<Bytes, String>>,
}

/// Who published a batch of group messages.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// The publishing connection: it never receives its batch from the fan-out (its
    /// own copies, if it is a member, are already queued).
    pub id: ConnId,
    /// Its protocol: where its own encodings may be reused.
    pub protocol: &'static str,
    /// The user it authenticated as, for the group encoders
    /// ([`GroupEncoder::with_publisher`]).
    pub user: Option<User>,
}

/// The messages a connection published during one turn, in order.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct PublishBatch {
    /// Who published them.
    pub publisher: Publisher,
    /// The messages, in publish order.
    pub messages: Vec<Published>,
}

/// List the members of a named group (empty for a group without members).
#[derive(Message)]
#[rtype(result = "Vec<crate::MemberInfo>")]
pub struct GroupMembers(pub GroupName);

/// List the named groups with at least one member, and how many members each has.
#[derive(Message)]
#[rtype(result = "Vec<(GroupName, usize)>")]
pub struct ListGroups;

/// The named groups' figures, sent to the stats actor whenever they change.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[rtype(result = "()")]
pub struct GroupCounts {
    /// Named groups with at least one member.
    pub groups: u64,
    /// Memberships in named groups.
    pub members: u64,
}
