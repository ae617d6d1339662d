//! What a handler asks for: the [`Action`]s it puts in its [`Outbox`] (reply,
//! broadcast, defer, join, leave, publish, authenticate, set a timer, close), which the
//! connection carries out in order after `handle` returns, and what the outbox tells
//! the handler about its connection (its id, peer, user, groups, the TLS client's
//! certificates, the WebSocket request that opened it).

#[cfg(doc)]
use super::Protocol;
use super::{Deferred, Refusal};
use crate::history::{Joined, Position};
use crate::identity::{Access, AuthError};
use crate::{ConnId, ConnectionStatus, FileRegion, GroupName, Handle, RemovalReason, User};
use bytes::Bytes;
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One action a handler asked for; the connection carries them out in order.
pub enum Action<R> {
    /// Send this to the peer.
    Reply(R),
    /// Encode this once and send it to every member of the protocol group.
    Broadcast(R),
    /// Send the future's output to the peer once ready; later replies wait behind it.
    Defer(Deferred<R>),
    /// Send a region of a file to the peer, zero-copy, in order with the replies.
    SendFile(FileRegion),
    /// Count one error packet and send the protocol's error reply for `reason`.
    Bad(String),
    /// Count one denial (not an error packet) and send the protocol's error reply for
    /// `reason`.
    Deny(String),
    /// Join the named group (the connection was not a member yet).
    Join(GroupName),
    /// Join the named group (unless a member already) and reply once where its history
    /// stands is known (see [`Outbox::join_from`]).
    JoinFrom {
        /// The group.
        group: GroupName,
        /// For a group with history, the position to recover from.
        from: Option<Position>,
        /// Whether the connection was not a member yet.
        new_member: bool,
        /// Writes the reply.
        reply: Box<dyn FnOnce(&Joined) -> R>,
    },
    /// Leave the named group (the connection was a member).
    Leave(GroupName),
    /// Publish a protocol-neutral message to every member of the named group.
    Publish {
        /// The group.
        group: GroupName,
        /// The message; each member's protocol encodes it.
        message: Bytes,
        /// Whether the publisher is a member at this point: then its own copy is
        /// queued in order with its replies.
        member: bool,
    },
    /// Flush what is queued and close, removed with this reason.
    Close(RemovalReason),
    /// Send this last reply, flush what is queued and close, removed with this reason.
    CloseWith(RemovalReason, R),
    /// Send the protocol's error reply for this message, flush what is queued and
    /// close, removed with this reason.
    CloseWithError(RemovalReason, String),
    /// The connection authenticated as this user.
    Authenticate(User),
    /// Call [`Protocol::on_timer`] after this long; `None` cancels the timer.
    SetTimer(Option<Duration>),
}

/// Where a handler puts its actions; also tells it which connection it serves.
pub struct Outbox<R> {
    /// The actions asked for so far, carried out in order after `handle` returns.
    pub(crate) actions: Vec<Action<R>>,
    /// The connection being served: its id, peer and user, shared with the registry.
    pub(crate) status: Arc<ConnectionStatus>,
    /// The switchboard, for handlers that query the registry or the stats.
    pub(crate) handle: Handle,
    /// The named groups the connection is in, as of the actions asked for so far;
    /// allocated at the first join (most connections never join one), boxed so that
    /// the others pay one pointer instead of an empty set's 48 bytes.
    #[allow(clippy::box_collection)]
    pub(crate) groups: Option<Box<HashSet<GroupName>>>,
    /// The certificate chain a TLS client presented and the listener's verifier
    /// accepted; `None` for plain TCP or a client without a certificate.
    pub(crate) peer_certificates: Option<crate::transport::PeerCertificates>,
    /// The request that opened a WebSocket connection, while `on_open` runs.
    pub(crate) request: Option<Box<crate::websocket::Request>>,
}

impl<R> Outbox<R> {
    /// An empty outbox for connection `id` of the switchboard behind `handle` (for a
    /// handler's unit test, [`Handle::disconnected`]).
    pub fn new(id: ConnId, peer: SocketAddr, handle: Handle) -> Self {
        Self::with_status(Arc::new(ConnectionStatus::new(id, "", peer)), handle)
    }

    /// An empty outbox for the connection whose live figures are `status`.
    pub(crate) fn with_status(status: Arc<ConnectionStatus>, handle: Handle) -> Self {
        Outbox {
            actions: Vec::new(),
            status,
            handle,
            groups: None,
            peer_certificates: None,
            request: None,
        }
    }

    /// Sends `response` to the peer.
    pub fn reply(&mut self, response: R) {
        self.actions.push(Action::Reply(response));
    }

    /// Sends `response`, encoded once, to every connection of this protocol's group,
    /// this one included.
    pub fn broadcast(&mut self, response: R) {
        self.actions.push(Action::Broadcast(response));
    }

    /// Sends the future's output to the peer when it is ready. Replies asked for later
    /// are held so the peer sees replies in request order.
    pub fn defer(&mut self, reply: impl Future<Output = R> + 'static) {
        self.actions.push(Action::Defer(Box::pin(reply)));
    }

    /// Sends a region of a file to the peer with `sendfile(2)`, in order with the
    /// replies around it. The protocol writes any header the file needs as a reply first.
    pub fn send_file(&mut self, region: FileRegion) {
        self.actions.push(Action::SendFile(region));
    }

    /// Joins the named group: from now on the connection receives what is published
    /// there. Answers whether it was not a member yet (a second join changes nothing),
    /// or why the join is refused (see [`Refusal`]); a refusal changes nothing and is
    /// not answered: the handler answers it ([`deny`](Self::deny) counts a denial).
    pub fn try_join(&mut self, group: impl Into<GroupName>) -> Result<bool, Refusal> {
        let group = group.into();
        if self.is_member(group.as_str()) {
            return Ok(false);
        }
        let group = self.admit_join(group)?;
        self.groups.get_or_insert_default().insert(group.clone());
        self.actions.push(Action::Join(group));
        Ok(true)
    }

    /// Admits a connection that is not yet a member into `group`: its permissions allow
    /// the join and the server's cap on groups has room (the group is counted from here
    /// on). Shared by every form of join, so a join from a position is a join for both.
    fn admit_join(&mut self, group: GroupName) -> Result<GroupName, Refusal> {
        if !self.may(Access::Join, group.as_str()) {
            return Err(Refusal::Denied {
                access: Access::Join,
                group,
            });
        }
        if self.handle.census().enter(&group).is_err() {
            return Err(Refusal::TooManyGroups);
        }
        Ok(group)
    }

    /// Like [`try_join`](Self::try_join), answering a refusal itself with the
    /// protocol's error reply for it: `permission denied: join <group>` counted as a
    /// denial (never as an error packet), `too many groups on this server` as an error
    /// packet. Answers whether the connection joined.
    pub fn join(&mut self, group: impl Into<GroupName>) -> bool {
        self.try_join(group).unwrap_or_else(|refusal| {
            self.refuse(&refusal);
            false
        })
    }

    /// Answers `refusal` with the protocol's error reply: a denial is counted as such.
    fn refuse(&mut self, refusal: &Refusal) {
        match refusal {
            Refusal::Denied { .. } => self.deny(refusal.to_string()),
            Refusal::TooManyGroups => self.bad_packet(refusal.to_string()),
        }
    }

    /// Whether the connection may `access` the named group `group`: always, where no
    /// connection must authenticate and it did not; as its user's [`Permissions`](crate::identity::Permissions)
    /// say once it authenticated; never while it has yet to authenticate where it
    /// must.
    pub fn may(&self, access: Access, group: &str) -> bool {
        match self.status.user() {
            Some(user) => user.may(access, group),
            None => !self.status.awaits_authentication(),
        }
    }

    /// Joins the named group, like [`try_join`](Self::try_join), and replies with
    /// `reply(&joined)` once it is known where the group's history stands (see
    /// [`history`](crate::history)); the reply keeps its place among the replies.
    ///
    /// For a group with history, [`Joined::history`] says the epoch and the offset of
    /// the last message before the join, and the member's messages carry the offsets
    /// after it. A connection that was not a member and asks `from` a position gets,
    /// after the reply, the messages it missed since then (in order, each with its
    /// offset) and then the live ones, with no gap and no duplicate; or it is told they
    /// are lost. A connection that is a member already changes nothing and is told
    /// where its stream is (`from` is ignored). For a group without history the reply
    /// is written at once, with `history: None`. Answers whether the connection was not
    /// a member yet, or why the join is refused (as [`try_join`](Self::try_join): the
    /// permissions and the cap on groups apply; a refusal is not answered).
    pub fn try_join_from(
        &mut self,
        group: impl Into<GroupName>,
        from: Option<Position>,
        reply: impl FnOnce(&Joined) -> R + 'static,
    ) -> Result<bool, Refusal> {
        let mut group = group.into();
        let new_member = !self.is_member(group.as_str());
        if new_member {
            group = self.admit_join(group)?;
        }
        let groups = self.groups.get_or_insert_default();
        // A group it is in is named by the name it joined with.
        let group = groups.get(group.as_str()).cloned().unwrap_or(group);
        if new_member {
            groups.insert(group.clone());
        }
        self.actions.push(Action::JoinFrom {
            group,
            from,
            new_member,
            reply: Box::new(reply),
        });
        Ok(new_member)
    }

    /// Like [`try_join_from`](Self::try_join_from), answering a refusal itself as
    /// [`join`](Self::join) does. Answers whether the connection was not a member yet.
    pub fn join_from(
        &mut self,
        group: impl Into<GroupName>,
        from: Option<Position>,
        reply: impl FnOnce(&Joined) -> R + 'static,
    ) -> bool {
        self.try_join_from(group, from, reply)
            .unwrap_or_else(|refusal| {
                self.refuse(&refusal);
                false
            })
    }

    /// Leaves the named group. Answers false, and changes nothing, if it was not a
    /// member. A connection that is removed leaves all its groups by itself.
    pub fn leave(&mut self, group: &str) -> bool {
        let Some(group) = self.groups.as_mut().and_then(|groups| groups.take(group)) else {
            return false;
        };
        self.handle.census().leave([&group]);
        self.actions.push(Action::Leave(group));
        true
    }

    /// Publishes `message` to every member of the named group, each receiving it in its
    /// own protocol's encoding; this connection too, if it is a member, with its copy
    /// queued in order with its replies. A group without members takes nothing. A
    /// publish the connection may not make ([`may`](Self::may)) delivers nothing and
    /// is refused (see [`Refusal`]); the handler answers it ([`deny`](Self::deny)
    /// counts a denial).
    pub fn try_publish(
        &mut self,
        group: impl Into<GroupName>,
        message: impl Into<Bytes>,
    ) -> Result<(), Refusal> {
        let group = group.into();
        if !self.may(Access::Publish, group.as_str()) {
            return Err(Refusal::Denied {
                access: Access::Publish,
                group,
            });
        }
        // A group it is in is named by the name it joined with: messages to one group
        // then share one name.
        let known = self.groups.as_ref().and_then(|g| g.get(group.as_str()));
        let member = known.is_some();
        let group = known.cloned().unwrap_or(group);
        self.actions.push(Action::Publish {
            group,
            message: message.into(),
            member,
        });
        Ok(())
    }

    /// Like [`try_publish`](Self::try_publish), answering a refusal itself with the
    /// protocol's error reply for it (`permission denied: publish <group>`, counted as
    /// a denial, never as an error packet).
    pub fn publish(&mut self, group: impl Into<GroupName>, message: impl Into<Bytes>) {
        if let Err(refusal) = self.try_publish(group, message) {
            self.refuse(&refusal);
        }
    }

    /// Whether the connection is in the named group (as of the actions asked so far).
    pub fn is_member(&self, group: &str) -> bool {
        self.groups
            .as_ref()
            .is_some_and(|groups| groups.contains(group))
    }

    /// The named groups the connection is in (as of the actions asked so far).
    pub fn groups(&self) -> impl Iterator<Item = &GroupName> + '_ {
        self.groups.iter().flat_map(|groups| groups.iter())
    }

    /// How many named groups the connection is in (as of the actions asked so far).
    pub fn group_count(&self) -> usize {
        self.groups.as_ref().map_or(0, |groups| groups.len())
    }

    /// Counts one error packet against the connection and sends the error reply.
    pub fn bad_packet(&mut self, reason: impl Into<String>) {
        self.actions.push(Action::Bad(reason.into()));
    }

    /// Refuses a request the peer may not make: sends the protocol's error reply for
    /// `reason` and counts one denial (`denied` in the stats), but not an error packet,
    /// so a peer refused any number of times is not removed for it.
    pub fn deny(&mut self, reason: impl Into<String>) {
        self.actions.push(Action::Deny(reason.into()));
    }

    /// Flushes what is queued, then closes the connection with `reason`.
    pub fn close(&mut self, reason: RemovalReason) {
        self.actions.push(Action::Close(reason));
    }

    /// Sends `last_reply`, flushes what is queued, then closes the connection with
    /// `reason` (one of the library's, or [`RemovalReason::Application`] for one of
    /// the application's own): a goodbye the peer reads before the connection ends.
    pub fn close_with(&mut self, reason: RemovalReason, last_reply: R) {
        self.actions.push(Action::CloseWith(reason, last_reply));
    }

    /// Sends the protocol's error reply for `message` (its
    /// [`error_reply`](Protocol::error_reply)), flushes what is queued, then closes the
    /// connection with `reason`: the same goodbye in every protocol's words.
    pub fn close_with_error(&mut self, reason: RemovalReason, message: impl Into<String>) {
        self.actions
            .push(Action::CloseWithError(reason, message.into()));
    }

    /// Authenticates the connection as `user`: from now on the user is known to the
    /// switchboard (in listings, removals, the connection's log span, the group
    /// messages it publishes, the [`Handle`]'s per-user operations), and an
    /// authentication deadline
    /// ([`ConnectionLimits::auth_timeout`](crate::ConnectionLimits::auth_timeout)) no
    /// longer applies. A connection authenticates once.
    ///
    /// The switchboard counts the user's connections at once, on this thread: when it
    /// has as many as
    /// [`max_connections_per_user`](crate::SwitchboardConfig::max_connections_per_user)
    /// allows, this answers [`AuthError::UserLimit`] and the connection is removed
    /// ([`RemovalReason::UserLimit`]) after the protocol's error reply for `too many
    /// connections for this user`; the user's other connections stay.
    pub fn authenticate(&mut self, user: User) -> Result<(), AuthError> {
        let status = &self.status;
        if status.user().is_some() {
            return Err(AuthError::AlreadyAuthenticated);
        }
        if let Err(refused) = self.handle.users().admit(user.name(), status.id) {
            self.close_with_error(RemovalReason::UserLimit, refused.to_string());
            return Err(refused);
        }
        status.set_user(user.clone());
        self.actions.push(Action::Authenticate(user));
        Ok(())
    }

    /// The user the connection authenticated as, if it did.
    pub fn user(&self) -> Option<&User> {
        self.status.user()
    }

    /// Gives up the connection's place among its user's, and its places in the named
    /// groups' counts: it was removed (it leaves every group). Once.
    pub(crate) fn release(&mut self) {
        if let Some(user) = self.status.user() {
            self.handle.users().release(user.name(), self.status.id);
        }
        if let Some(groups) = self.groups.take() {
            self.handle.census().leave(groups.iter());
        }
    }

    /// The HTTP request that opened a WebSocket connection (path, query, headers,
    /// cookies, bearer token), while [`Protocol::on_open`] runs, so that the handler
    /// can authenticate the connection from it as it opens; `None` elsewhere and on
    /// stream connections. The connection does not keep it.
    pub fn handshake(&self) -> Option<&crate::websocket::Request> {
        self.request.as_deref()
    }

    /// Calls [`Protocol::on_timer`] once `after` has passed, unless the connection
    /// closed before. A connection has one such timer: setting it again replaces it.
    pub fn set_timer(&mut self, after: Duration) {
        self.actions.push(Action::SetTimer(Some(after)));
    }

    /// Cancels the timer of [`set_timer`](Self::set_timer), if one is set.
    pub fn cancel_timer(&mut self) {
        self.actions.push(Action::SetTimer(None));
    }

    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.status.id
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.status.peer
    }

    /// The certificate chain the peer presented in its TLS handshake, end entity first,
    /// as verified by the listener's client-certificate verifier (see
    /// [`tls::client_verifier`](crate::tls::client_verifier)); `None` over plain TCP
    /// or when the client sent none. Available from
    /// [`on_open`](Protocol::on_open) on: under TLS, `on_open` runs once the handshake
    /// has finished. An application authenticates its peer from it (the subject's
    /// common name, say).
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.peer_certificates.as_deref()
    }

    /// The switchboard, e.g. to ask for its [`stats`](Handle::stats) or a group's
    /// [`members`](Handle::members).
    ///
    /// Actions asked for on this outbox (a join, a leave, a publish) take effect only
    /// after `handle` returns; a query sent from `handle` itself would overtake them.
    /// Send queries from inside a deferred reply ([`defer`](Self::defer)), which runs
    /// after this turn's actions went out.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Takes the actions asked for so far: with [`Outbox::new`], a handler can be
    /// unit-tested as a plain function, without a connection or a socket.
    pub fn take(&mut self) -> Vec<Action<R>> {
        std::mem::take(&mut self.actions)
    }
}

impl<R> Drop for Outbox<R> {
    fn drop(&mut self) {
        // Normally done at the removal; a connection that went without one (its thread
        // stopped) must not keep its place among its user's.
        self.release();
    }
}
