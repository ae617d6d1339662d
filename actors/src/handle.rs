//! The handle: everything an application asks of a running switchboard, as methods.
//!
//! A [`Handle`] is cheap to clone and can be used from any thread of the actix system:
//! [`Switchboard::handle`](crate::Switchboard::handle) gives one to the code that
//! started the switchboard, [`Outbox::handle`](crate::Outbox::handle) to a protocol
//! handler. Behind it the supervisor actor keeps the registry, and each connection
//! actor its own queue; the messages they exchange stay inside the crate, so no caller
//! can forge a removal or a registration.
//!
//! Values sent to one connection are typed: [`Handle::send_to`] takes the protocol's
//! `Response` and the connection's own codec encodes it, so a caller cannot break the
//! peer's framing. Broadcasts are encoded once, by the codec of the protocol value the
//! caller passes, and the bytes are shared by every member.

use crate::connection::Control;
use crate::groups::{Census, GroupMembers, ListGroups, Publish};
use crate::identity::Users;
use crate::stats::{GetStats, Snapshot};
use crate::supervisor::CloseMany;
use crate::supervisor::{
    Broadcast, BroadcastAcked, BroadcastReport, CloseConnection, ConnectionRemoved, InspectMembers,
    Inspected, ListConnections, ListMembers, MemberInfo, SendTo, Subscribe, Supervisor,
    ToConnection,
};
use crate::{ConnId, GroupName, Protocol, RemovalReason, SendError};
use actix::{Addr, Recipient};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// The switchboard has stopped (or never ran): its supervisor no longer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the switchboard has stopped")]
pub struct Stopped;

/// What an application asks of a running switchboard: send to one connection, broadcast
/// to a protocol's connections, publish to a named group, join and leave groups on a
/// connection's behalf, list, inspect and close connections, subscribe to removals, and
/// read the stats.
#[derive(Clone)]
pub struct Handle {
    /// What every clone shares (cloning a handle allocates nothing, where cloning an
    /// address creates a sender).
    shared: Arc<Shared>,
    /// The group histories, when the switchboard keeps them.
    histories: Option<crate::history::Histories>,
}

/// What the clones of a [`Handle`] share.
struct Shared {
    /// The registry every request goes through.
    supervisor: Addr<Supervisor>,
    /// Which connections each user has; connections enter it when they authenticate.
    users: Users,
    /// The named groups and their member counts, under `max_groups_total`.
    census: Census,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("running", &self.shared.supervisor.connected())
            .finish()
    }
}

impl Handle {
    /// The handle of the switchboard whose supervisor is `supervisor`, where a user may
    /// have `max_connections_per_user` connections at once (`None`: any number) and
    /// there may be `max_groups_total` named groups.
    pub(crate) fn new(
        supervisor: Addr<Supervisor>,
        max_connections_per_user: Option<usize>,
        max_groups_total: usize,
    ) -> Self {
        Handle {
            shared: Arc::new(Shared {
                supervisor,
                users: Users::new(max_connections_per_user),
                census: Census::new(max_groups_total),
            }),
            histories: None,
        }
    }

    /// This handle, for a switchboard that keeps `histories`.
    pub(crate) fn with_histories(mut self, histories: crate::history::Histories) -> Self {
        self.histories = Some(histories);
        self
    }

    /// The group histories, when the switchboard keeps them.
    pub(crate) fn histories(&self) -> Option<&crate::history::Histories> {
        self.histories.as_ref()
    }

    /// Whether the named group `group` keeps a history (see
    /// [`history`](crate::history)).
    pub fn has_history(&self, group: &str) -> bool {
        self.histories.as_ref().is_some_and(|h| h.accepts(group))
    }

    /// A handle to no switchboard: every request answers as a stopped switchboard does.
    /// For unit-testing a handler with [`Outbox::new`](crate::Outbox::new), without
    /// sockets or actors.
    pub fn disconnected() -> Self {
        let (sender, _) = actix::dev::channel::channel(1);
        Handle::new(Addr::new(sender), None, usize::MAX)
    }

    /// The supervisor, for the crate's own actors.
    pub(crate) fn supervisor(&self) -> &Addr<Supervisor> {
        &self.shared.supervisor
    }

    /// Which connections each user has.
    pub(crate) fn users(&self) -> &Users {
        &self.shared.users
    }

    /// The named groups' member counts, under the cap.
    pub(crate) fn census(&self) -> &Census {
        &self.shared.census
    }

    /// Sends `response` to connection `id`, encoded by that connection's codec, in
    /// order after what is already queued for it. Refused (and recorded by the
    /// connection as a send failure) like any packet over its limits; refused with
    /// [`SendError::WrongProtocol`] if the connection speaks a protocol whose responses
    /// are of another type.
    pub async fn send_to<P>(&self, id: ConnId, response: P::Response) -> Result<(), SendError>
    where
        P: Protocol,
        P::Response: Send,
    {
        self.to_connection(
            id,
            Control::Send(Box::new(response), std::any::type_name::<P::Response>()),
        )
        .await
        .map(drop)
    }

    /// Hands `packet`, already in the wire format of connection `id`'s protocol (framing
    /// included), to that connection. Prefer [`send_to`](Self::send_to), which encodes
    /// for you and so cannot break the peer's framing; this serves callers that hold
    /// encoded bytes already (a relay, a cache).
    pub async fn send_encoded(&self, id: ConnId, packet: Bytes) -> Result<(), SendError> {
        self.supervisor()
            .send(SendTo { id, packet })
            .await
            .unwrap_or(Err(SendError::Stopped))
    }

    /// Makes connection `id` join the named group, as if its handler had called
    /// [`Outbox::try_join`](crate::Outbox::try_join). Answers whether it was not a
    /// member yet, or [`SendError::Refused`] when it may not (its user's permissions
    /// deny it, counted as a denial; or the server has as many groups as it allows).
    pub async fn join(&self, id: ConnId, group: impl Into<GroupName>) -> Result<bool, SendError> {
        self.to_connection(id, Control::Join(group.into())).await
    }

    /// Makes connection `id` leave the named group, as if its handler had called
    /// [`Outbox::leave`](crate::Outbox::leave). Answers whether it was a member.
    pub async fn leave(&self, id: ConnId, group: impl Into<GroupName>) -> Result<bool, SendError> {
        self.to_connection(id, Control::Leave(group.into())).await
    }

    async fn to_connection(&self, id: ConnId, control: Control) -> Result<bool, SendError> {
        self.supervisor()
            .send(ToConnection { id, control })
            .await
            .unwrap_or(Err(SendError::Stopped))
    }

    /// Encodes `response` once with the codec of `protocol` and hands the bytes to every
    /// connection of the protocol group `P::NAME` (and, in a cluster, to the group on
    /// the other servers). Answers how many connections on this server it was handed
    /// to; each admits or refuses its copy on its own, a refusal being recorded as that
    /// connection's send failure. Connections of one protocol are expected to share one
    /// wire format: pass a protocol value configured like the listener's.
    pub async fn broadcast<P: Protocol>(
        &self,
        protocol: &P,
        response: P::Response,
    ) -> Result<usize, SendError> {
        let packet = crate::connector::encode(protocol, response).map_err(SendError::Encode)?;
        self.broadcast_encoded(P::NAME, packet).await
    }

    /// Like [`broadcast`](Self::broadcast), for `packet` already in the wire format of
    /// protocol group `protocol` (framing included): for callers that hold encoded
    /// bytes already (a relay, a cache).
    pub async fn broadcast_encoded(
        &self,
        protocol: &'static str,
        packet: Bytes,
    ) -> Result<usize, SendError> {
        if packet.is_empty() {
            return Err(SendError::Empty);
        }
        self.supervisor()
            .send(Broadcast { protocol, packet })
            .await
            .map_err(|_| SendError::Stopped)
    }

    /// Like [`broadcast_encoded`](Self::broadcast_encoded) on this server only, waiting
    /// for each connection to admit or refuse its copy: the report says which did
    /// which, and why.
    pub async fn broadcast_acked(
        &self,
        protocol: &'static str,
        packet: Bytes,
    ) -> Result<BroadcastReport, SendError> {
        if packet.is_empty() {
            return Err(SendError::Empty);
        }
        self.supervisor()
            .send(BroadcastAcked { protocol, packet })
            .await
            .map_err(|_| SendError::Stopped)
    }

    /// Publishes `message` to the named group: each member gets it in its own
    /// protocol's encoding (see [`Protocol::group_encoder`]). Answers how many members
    /// on this server it was handed to.
    pub async fn publish(
        &self,
        group: impl Into<GroupName>,
        message: impl Into<Bytes>,
    ) -> Result<usize, Stopped> {
        let publish = Publish {
            group: group.into(),
            message: message.into(),
        };
        self.supervisor().send(publish).await.map_err(|_| Stopped)
    }

    /// The members of the named group on this server, by id.
    pub async fn members(&self, group: impl Into<GroupName>) -> Result<Vec<MemberInfo>, Stopped> {
        let ask = GroupMembers(group.into());
        self.supervisor().send(ask).await.map_err(|_| Stopped)
    }

    /// The named groups with members on this server, and how many each has, by name.
    pub async fn groups(&self) -> Result<Vec<(GroupName, usize)>, Stopped> {
        self.supervisor()
            .send(ListGroups)
            .await
            .map_err(|_| Stopped)
    }

    /// The registered connections of protocol group `protocol`, or of every group.
    pub async fn list(&self, protocol: Option<&str>) -> Result<Vec<MemberInfo>, Stopped> {
        let ask = ListConnections {
            protocol: protocol.map(str::to_owned),
        };
        self.supervisor().send(ask).await.map_err(|_| Stopped)
    }

    /// Asks each connection of `ids` for its own report (queue, failures, last
    /// activity), waiting at most `timeout` for all of them; a connection that did not
    /// answer in time has no report. Unknown ids are left out.
    pub async fn inspect(
        &self,
        ids: Vec<ConnId>,
        timeout: Duration,
    ) -> Result<Vec<Inspected>, Stopped> {
        let ask = InspectMembers { ids, timeout };
        self.supervisor().send(ask).await.map_err(|_| Stopped)
    }

    /// Removes connection `id` with `reason`: what is queued is flushed (when the reason
    /// allows it), then the socket is closed.
    pub async fn close(&self, id: ConnId, reason: RemovalReason) -> Result<(), SendError> {
        self.supervisor()
            .send(CloseConnection { id, reason })
            .await
            .unwrap_or(Err(SendError::Stopped))
    }

    /// The connections of `user` on this server (those its handlers authenticated as
    /// that user and that are not removed yet), in the order they authenticated.
    pub async fn connections_of(&self, user: &str) -> Result<Vec<MemberInfo>, Stopped> {
        let ids = self.users().connections(user);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ask = ListMembers(ids);
        self.supervisor().send(ask).await.map_err(|_| Stopped)
    }

    /// Sends `response` to each connection of `user` that speaks `P`, encoded by that
    /// connection's codec, as [`send_to`](Self::send_to) would one by one: the report
    /// says which admitted it and which refused it, and why.
    pub async fn send_to_user<P>(
        &self,
        user: &str,
        response: P::Response,
    ) -> Result<BroadcastReport, Stopped>
    where
        P: Protocol,
        P::Response: Clone + Send,
    {
        let mut report = BroadcastReport::default();
        for member in self.connections_of(user).await? {
            if member.protocol != P::NAME {
                continue;
            }
            match self.send_to::<P>(member.id, response.clone()).await {
                Ok(()) => report.delivered += 1,
                Err(SendError::Stopped) if !self.supervisor().connected() => return Err(Stopped),
                Err(refused) => report.refused.push((member.id, refused)),
            }
        }
        Ok(report)
    }

    /// Removes every connection of `user` on this server with `reason`, each after
    /// the protocol's error reply for `last_word` when one is given (`"kicked"`, say:
    /// each connection says it in its own protocol's words), then flushes and closes
    /// them. Answers how many were removed.
    pub async fn close_user(
        &self,
        user: &str,
        reason: RemovalReason,
        last_word: Option<&str>,
    ) -> Result<usize, Stopped> {
        let ids = self.users().connections(user);
        let ask = CloseMany {
            ids,
            reason,
            last_word: last_word.map(Arc::from),
        };
        self.supervisor().send(ask).await.map_err(|_| Stopped)
    }

    /// Sends every later removal, with its reason, to `subscriber`.
    pub fn subscribe(&self, subscriber: Recipient<ConnectionRemoved>) {
        self.supervisor().do_send(Subscribe(subscriber));
    }

    /// The figures of this server: connections, removals by reason, traffic, groups.
    pub async fn stats(&self) -> Result<Snapshot, Stopped> {
        self.supervisor().send(GetStats).await.map_err(|_| Stopped)
    }
}
