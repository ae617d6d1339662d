//! The trait an application implements to speak its protocol over Switchboard.
//!
//! A protocol is two things: a tokio-util codec that cuts the byte stream into
//! requests and encodes responses, and a handler that turns each request into actions
//! (reply, broadcast to the group, join, leave or publish to a named group, defer a
//! reply, count a bad packet or a denial, authenticate, set a timer, close).
//!
//! The codec must decode *structurally*: input that is framed but malformed (an
//! unknown opcode, an empty frame, invalid UTF-8) is handed up as [`Inbound::Bad`], so
//! the connection counts it and lives on. A decoder `Err` means the stream can no
//! longer be trusted (an oversize length): the connection counts one error packet,
//! sends the protocol's error reply, and is removed with reason `error_packets`.

use crate::identity::Access;
use crate::{GroupEncoder, GroupName, RemovalReason};
use std::future::Future;
use std::pin::Pin;
use tokio_util::codec::{Decoder, Encoder};

mod outbox;

pub use outbox::{Action, Outbox};

/// One decoded item: a request, or a framed packet the codec found malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<R> {
    /// A well-formed request for the handler.
    Request(R),
    /// A framed but malformed packet; the reason goes into the error reply.
    Bad(String),
}

/// A reply that is computed later (a stats query, a replication round).
pub type Deferred<R> = Pin<Box<dyn Future<Output = R>>>;

/// What an application implements to run its protocol on Switchboard connections.
///
/// One value is created per connection by the listener's factory, on the worker
/// thread that owns the connection, so it may hold per-connection state.
pub trait Protocol: Unpin + 'static {
    /// The protocol group's name: connections are grouped, broadcast to and counted by it.
    const NAME: &'static str;
    /// What the codec decodes.
    type Request;
    /// What the codec encodes.
    type Response: Unpin;
    /// Cuts the inbound stream into requests and encodes responses.
    type Codec: Decoder<Item = Inbound<Self::Request>, Error: std::fmt::Display>
        + Encoder<Self::Response, Error: std::fmt::Display>
        + Unpin
        + 'static;

    /// A codec for a new connection.
    fn codec(&self) -> Self::Codec;

    /// Turns one request into actions on `out`.
    fn handle(&mut self, request: Self::Request, out: &mut Outbox<Self::Response>);

    /// Answers a packet with its own bytes, without decoding it: if `inbound` begins
    /// with a whole packet that this protocol answers with exactly the same bytes (an
    /// echo), that packet's length; otherwise `None` (the default), and the packet goes
    /// through the codec and [`handle`](Self::handle) as usual.
    ///
    /// The answer is counted, admitted, bounded and ordered exactly like a reply: one
    /// packet received, one queued (or held behind deferred replies, or refused and
    /// recorded). It skips decoding into a request and encoding the response, and a
    /// large one is queued without a copy. Claim only packets the codec would accept
    /// as a request; a length of 0 or past `inbound` is ignored.
    fn raw_echo(&mut self, _inbound: &[u8]) -> Option<usize> {
        None
    }

    /// The packet sent to the peer for a bad packet or a removal (`ERROR reason`),
    /// or `None` to send nothing.
    fn error_reply(&self, _reason: &str) -> Option<Self::Response> {
        None
    }

    /// How a message published to a named group is written on this protocol's wire
    /// (see [`GroupEncoder`]), or `None` (the default) for a protocol whose connections
    /// take no group messages: for its members each one is then a send failure.
    ///
    /// Called once per connection, when it first joins or publishes; the encoder may
    /// capture this connection's configuration (a maximum line length, say).
    fn group_encoder(&self) -> Option<GroupEncoder> {
        None
    }

    /// Called once when the connection opens, before anything is read: send a
    /// welcome, say. Actions asked for here are carried out like a request's. Under
    /// TLS it runs when the handshake has finished, so the peer's certificates are
    /// known ([`Outbox::peer_certificates`]).
    fn on_open(&mut self, _out: &mut Outbox<Self::Response>) {}

    /// Called when an idle limit of [`ConnectionLimits::idle`](crate::ConnectionLimits)
    /// passes; again after each further period of the same idleness. A heartbeat is
    /// `out.reply(ping)` on [`Idle::Read`].
    fn on_idle(&mut self, _idle: Idle, _out: &mut Outbox<Self::Response>) {}

    /// Called when the timer set with [`Outbox::set_timer`] falls (once; set it again
    /// for another). The connection keeps the timer among its own deadlines, so it
    /// needs no task of its own and cannot fire after the connection closed: a token's
    /// expiry is `out.set_timer(expiry)` at authentication and
    /// `out.close_with(reason, goodbye)` here.
    fn on_timer(&mut self, _out: &mut Outbox<Self::Response>) {}

    /// Called once when the connection is removed, with the reason: clean up
    /// application state kept for it. Nothing can be sent any more. Called only for a
    /// connection whose [`on_open`](Self::on_open) ran: one refused at accept (by a limit)
    /// or whose TLS handshake failed sees neither.
    fn on_close(&mut self, _reason: RemovalReason) {}
}

/// Why a join or a publish was refused. Its text is what a peer is told
/// (`permission denied: join lobby`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The connection may not: its user's [`Permissions`](crate::identity::Permissions)
    /// do not allow it, or it has yet to authenticate where it must. Counted as a
    /// denial (`denied_total`) when answered with [`Outbox::deny`], or when the
    /// switchboard refuses it itself.
    #[error("permission denied: {access} {group}")]
    Denied {
        /// What it asked.
        access: Access,
        /// Of which group.
        group: GroupName,
    },
    /// Joining would create one named group more than
    /// [`max_groups_total`](crate::SwitchboardConfig::max_groups_total) allows.
    #[error("too many groups on this server")]
    TooManyGroups,
}

/// Which kind of idleness passed its limit (Netty's `IdleState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Idle {
    /// Nothing was received from the peer.
    Read,
    /// Nothing was written to the socket.
    Write,
    /// Nothing was received or written.
    All,
}
