//! The values the connection core takes in and hands out: its phase, who offers a
//! packet, what waits in reply order, what the owner must do, and what to write next.

use crate::history::Position;
use crate::protocol::Deferred;
use crate::{
    FileRegion, GroupEncoder, GroupName, Published, RemovalReason, SendError, Traffic, User,
};
use bytes::Bytes;

/// Where a connection is in its life; once removed, with the reason it was removed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading, writing, admitting packets.
    Open,
    /// Removed: admitting only its own last replies, flushing what is queued.
    Closing(RemovalReason),
    /// Write half shut: reading and discarding until EOF or the linger deadline.
    Lingering(RemovalReason),
    /// Finished; nothing more happens.
    Done(RemovalReason),
}

impl Phase {
    /// Why the connection was removed, once it was.
    pub fn removal(self) -> Option<RemovalReason> {
        match self {
            Phase::Open => None,
            Phase::Closing(reason) | Phase::Lingering(reason) | Phase::Done(reason) => Some(reason),
        }
    }

    /// Whether it is finished.
    pub fn is_done(self) -> bool {
        matches!(self, Phase::Done(_))
    }
}

/// Who offers a packet: the connection's own protocol (replies, its own broadcast
/// copy), or someone outside (a send by id, a delivery from a group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The connection's protocol handler.
    Own,
    /// Anyone else.
    External,
}

/// Something that waits for its turn in reply order.
pub(crate) enum Outgoing<R> {
    /// A response to encode with the connection's codec.
    Response(R),
    /// Bytes already encoded (a broadcast, this connection's own copy included).
    Packet(Bytes),
    /// A region of a file, sent zero-copy.
    File(FileRegion),
    /// A message of a history group for this member (admitted as from outside: a
    /// closing connection takes none), or why its protocol could not encode it.
    Group(Result<Bytes, SendError>),
    /// These, in order: a reply slot that waited for the member's stream.
    Several(Vec<Outgoing<R>>),
}

impl<R> Outgoing<R> {
    /// The size to record if it fails before it was encoded.
    pub(super) fn known_size(&self) -> usize {
        match self {
            Outgoing::Response(_) | Outgoing::Group(Err(_)) => 0,
            Outgoing::Packet(bytes) | Outgoing::Group(Ok(bytes)) => bytes.len(),
            Outgoing::File(region) => region.remaining() as usize,
            Outgoing::Several(items) => items.iter().map(Outgoing::known_size).sum(),
        }
    }

    /// The sizes to record, one per packet, if it fails before it was encoded.
    pub(super) fn sizes(&self, into: &mut Vec<usize>) {
        match self {
            Outgoing::Several(items) => items.iter().for_each(|item| item.sizes(into)),
            out => into.push(out.known_size()),
        }
    }

    /// Bytes of group messages in it (held back in reply order, and bounded).
    pub(super) fn group_bytes(&self) -> usize {
        match self {
            Outgoing::Group(Ok(bytes)) => bytes.len(),
            Outgoing::Several(items) => items.iter().map(Outgoing::group_bytes).sum(),
            _ => 0,
        }
    }
}

/// What the connection asks its owner to do, in order.
pub enum Event<R> {
    /// Hand these counters to the stats actor.
    Report(Traffic),
    /// The connection left its groups for this reason (it happens once).
    Removed(RemovalReason),
    /// The connection authenticated as this user (it happens once): it joins the
    /// audience of broadcasts if it had to wait for that.
    Authenticated(User),
    /// Send these encoded packets, in order, to every other member of the protocol
    /// group (this connection's own copies are already queued in order).
    Broadcast(Vec<Bytes>),
    /// Join the named group; the encoder says how this protocol writes its messages.
    Join(GroupName, GroupEncoder),
    /// Leave the named group.
    Leave(GroupName),
    /// Hand these messages, in order, to every other member of their named groups
    /// (this connection's own copies, where it is a member, are already queued).
    Publish(Vec<Published>),
    /// Ask the sequencer of a history group where its history stands for this
    /// connection: joining it if `new_member` (after the group's [`Event::Join`]), from
    /// `from` if it asks to recover. The answer comes back with `token`
    /// into the connection's inbox, ahead of every message numbered after it.
    HistoryJoin {
        /// The group.
        group: GroupName,
        /// Names the join in its answer.
        token: u64,
        /// The position to recover from, for a new member.
        from: Option<Position>,
        /// Whether the connection was not a member yet.
        new_member: bool,
    },
    /// Hand these messages, in order, to the sequencers of their history groups, to be
    /// numbered and delivered to every member, this connection included.
    Sequence(Vec<Published>),
    /// Run this future; hand its output to [`Conn::handle_deferred`](super::Conn::handle_deferred)
    /// with `seq`.
    Defer {
        /// The reply slot to fill.
        seq: u64,
        /// The reply being computed.
        reply: Deferred<R>,
    },
    /// Shut down the write half of the socket (everything queued is written).
    ShutdownWrite,
    /// Close the socket and stop; nothing more will happen.
    Stop,
}

/// What to write next.
pub enum Transmit<'a> {
    /// Nothing is queued.
    Nothing,
    /// The first `n` slices handed in hold the next bytes.
    Slices(usize),
    /// The next bytes are this file region's (send it with `sendfile`).
    File(&'a FileRegion),
}

/// One packet of a run offered at once ([`Conn::deliver_all`](super::Conn::deliver_all)):
/// encoded bytes, or a group message this connection's protocol could not encode.
pub trait RunPacket {
    /// The encoded packet, or why there is none.
    fn packet(&self) -> Result<&Bytes, &SendError>;
}

impl RunPacket for Bytes {
    fn packet(&self) -> Result<&Bytes, &SendError> {
        Ok(self)
    }
}

impl RunPacket for Result<Bytes, SendError> {
    fn packet(&self) -> Result<&Bytes, &SendError> {
        self.as_ref()
    }
}
