//! What the supervisor is asked: registration and removal, sends and broadcasts,
//! closes, subscriptions to removals, listings and reports, shutdown.

use super::*;
use crate::User;

/// Hand a request of the [`Handle`](crate::Handle) to connection `id`.
#[derive(Message)]
#[rtype(result = "Result<bool, SendError>")]
pub(crate) struct ToConnection {
    /// The connection.
    pub id: ConnId,
    /// What it is asked.
    pub control: crate::connection::Control,
}

/// Add a connection to its protocol group.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Register(pub Member);

/// Remove a connection from its group (a no-op if it was already removed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deregister {
    /// The connection.
    pub id: ConnId,
    /// Why it leaves.
    pub reason: RemovalReason,
}

/// A connection actor has stopped: its socket is closed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Gone(pub ConnId);

/// Send an encoded packet to one connection.
#[derive(Message)]
#[rtype(result = "Result<(), SendError>")]
pub struct SendTo {
    /// The connection.
    pub id: ConnId,
    /// The encoded packet.
    pub packet: Bytes,
}

/// Send an encoded packet to every member of a protocol group; answers how many
/// members it was handed to (each refusal is recorded by the member itself).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Broadcast {
    /// The protocol group.
    pub protocol: &'static str,
    /// The encoded packet, shared by every member.
    pub packet: Bytes,
}

/// Several encoded packets for every member of a group, in order, as one message per
/// member (a connection sends the broadcasts of one read turn this way). Answers how
/// many members they were handed to.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct BroadcastBatch {
    /// The protocol group.
    pub protocol: &'static str,
    /// The encoded packets, shared by every member.
    pub packets: Arc<[Bytes]>,
    /// A member that already has them (the publisher, whose own copies are queued in
    /// order with its replies).
    pub except: Option<ConnId>,
}

/// Like [`Broadcast`], but waits for every member's answer.
#[derive(Message)]
#[rtype(result = "BroadcastReport")]
pub struct BroadcastAcked {
    /// The protocol group.
    pub protocol: &'static str,
    /// The encoded packet, shared by every member.
    pub packet: Bytes,
}

/// What [`Handle::broadcast_acked`](crate::Handle::broadcast_acked) achieved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastReport {
    /// Members whose queue took the packet.
    pub delivered: usize,
    /// Members that refused it, and why.
    pub refused: Vec<(ConnId, SendError)>,
}

/// Ask a connection to close.
#[derive(Message)]
#[rtype(result = "Result<(), SendError>")]
pub struct CloseConnection {
    /// The connection.
    pub id: ConnId,
    /// The removal reason it will carry.
    pub reason: RemovalReason,
}

/// Be told of every removal.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<ConnectionRemoved>);

/// A connection was removed.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct ConnectionRemoved {
    /// The connection.
    pub id: ConnId,
    /// Its protocol group.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Why it was removed.
    pub reason: RemovalReason,
    /// The user it had authenticated as, if it had.
    pub user: Option<User>,
}

/// Close each of these connections still registered, with a reason and, when given, the
/// protocol's error reply for a last word; answers how many it removed.
#[derive(Message)]
#[rtype(result = "usize")]
pub(crate) struct CloseMany {
    /// The connections.
    pub ids: Vec<ConnId>,
    /// The removal reason they will carry.
    pub reason: RemovalReason,
    /// What each is told before it closes.
    pub last_word: Option<Arc<str>>,
}

/// What the registry knows of these connections (those still registered, in the order
/// given).
#[derive(Message)]
#[rtype(result = "Vec<MemberInfo>")]
pub(crate) struct ListMembers(pub Vec<ConnId>);

/// List the members of a group (or of every group).
#[derive(Message)]
#[rtype(result = "Vec<MemberInfo>")]
pub struct ListConnections {
    /// Only this group, or all.
    pub protocol: Option<String>,
}

/// What the registry knows of one member without asking it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberInfo {
    /// The connection.
    pub id: ConnId,
    /// Its protocol group.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Bytes waiting in its outbound queue.
    pub queued_bytes: usize,
    /// Error packets counted so far.
    pub error_packets: u32,
    /// Milliseconds since the peer last sent anything.
    pub idle_ms: u64,
    /// Bytes its socket accepted since it opened (updated as the connection works).
    pub sent_bytes: u64,
    /// The user it authenticated as, if it did (serialized as the name, or null).
    pub user: Option<User>,
}

/// Ask members of a group (or of every group) for their own [`ConnectionReport`]s.
///
/// The reports are requested from every member at once; the answer comes when all have
/// answered or `timeout` has passed, whichever is first. Members are listed by id.
#[derive(Message)]
#[rtype(result = "Vec<Inspected>")]
pub struct InspectConnections {
    /// Only this group, or all.
    pub protocol: Option<String>,
    /// At most this many members (the lowest ids): bounds the messages and the answer.
    pub limit: usize,
    /// How long to wait for the reports.
    pub timeout: Duration,
}

/// Ask the members with these ids for their own [`ConnectionReport`]s: the reports
/// of a page chosen from a [`ListConnections`] answer. Ids no longer registered are
/// left out; the answer keeps the order of `ids` and comes when all have answered or
/// `timeout` has passed.
#[derive(Message)]
#[rtype(result = "Vec<Inspected>")]
pub struct InspectMembers {
    /// The connections, at most as many as the caller is willing to wait for.
    pub ids: Vec<ConnId>,
    /// How long to wait for the reports.
    pub timeout: Duration,
}

/// One connection as [`Handle::inspect`](crate::Handle::inspect) found it.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// What the registry knows without asking the member.
    pub info: MemberInfo,
    /// The member's own report; `None` if it did not answer in time or has stopped.
    pub report: Option<ConnectionReport>,
}

/// Close every connection, flushing each, and answer once all are gone or `timeout`
/// has passed. Connections registered afterwards are closed at once.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown {
    /// How long to wait for connections to finish.
    pub timeout: Duration,
}
