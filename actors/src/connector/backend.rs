//! The application's side of a dialed connection, and the protocol wrapper that routes
//! a destination's answers back to the [`Destination`](crate::Destination) actor.
//!
//! A dialed connection is an ordinary [`Connection`](crate::Connection): the same
//! bounded, accounted write path, error-packet counting and supervision as an accepted
//! one. What differs is who reads its inbound packets. The application implements
//! [`Backend`] on top of [`Protocol`]: it says which inbound packets answer a request
//! ([`Answer::Ack`], [`Answer::Refused`]) and what a health check sends. The library
//! wraps it in [`Dialed`], whose handler passes answers to the destination actor (acks
//! are matched there, first-in first-out) and everything else to the application's
//! own handler. When the connection actor ends, the wrapper is dropped with it and tells
//! the destination that the link is gone.

use crate::protocol::{Outbox, Protocol};
use crate::ConnId;
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use tokio_util::codec::Encoder;

/// What an inbound packet on a dialed connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The positive answer (the ack) to the oldest outstanding request.
    Ack,
    /// A negative answer to the oldest outstanding request (an error reply).
    Refused(String),
    /// Not an answer to a request (a broadcast the destination forwards, say): handed
    /// to [`Protocol::handle`] and not matched against requests.
    Unsolicited,
}

/// A protocol spoken to a destination: the application's [`Protocol`] plus what the
/// connector needs to match acks and check health.
///
/// The destination must answer requests in the order it receives them (every request
/// that expects an ack gets exactly one [`Answer::Ack`] or [`Answer::Refused`]), so
/// answers can be matched to requests first-in, first-out. A destination that skips an
/// answer puts the matching out of step (a later answer is taken for the skipped one);
/// the connection is back in step only once it is closed, which missed health checks
/// do. Requests sent without `wait_for_ack` must draw no answer at all.
pub trait Backend: Protocol {
    /// What `packet`, just received from the destination, is.
    fn classify(&self, packet: &Self::Request) -> Answer;

    /// The request a health check sends; its ack proves the destination alive.
    fn health_check(&self) -> Self::Response;
}

/// Encodes `packet` with `protocol`'s codec, once, for sending to many destinations.
pub fn encode<P: Protocol>(protocol: &P, packet: P::Response) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    protocol
        .codec()
        .encode(packet, &mut buf)
        .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// Something happened on one of a destination's links.
#[derive(Message, Debug, Clone, PartialEq, Eq)]
#[rtype(result = "()")]
pub struct LinkEvent {
    /// The link's connection id.
    pub link: ConnId,
    /// What happened.
    pub kind: LinkEventKind,
}

/// What happened on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEventKind {
    /// The destination answered the oldest outstanding request.
    Answered(Answer),
    /// The connection actor ended: the link is gone.
    Closed,
}

/// The protocol a dialed connection runs: the application's
/// [`Backend`], with answers routed to the destination actor.
pub struct Dialed<B: Backend> {
    /// The application's protocol.
    inner: B,
    /// The connection this value belongs to.
    link: ConnId,
    /// The destination actor that owns the link.
    events: Recipient<LinkEvent>,
}

impl<B: Backend> Dialed<B> {
    /// Wraps `inner` for link `link` of the destination reached through `events`.
    pub fn new(inner: B, link: ConnId, events: Recipient<LinkEvent>) -> Self {
        Dialed {
            inner,
            link,
            events,
        }
    }
}

impl<B: Backend> Protocol for Dialed<B> {
    const NAME: &'static str = B::NAME;
    type Request = B::Request;
    type Response = B::Response;
    type Codec = B::Codec;

    fn codec(&self) -> B::Codec {
        self.inner.codec()
    }

    fn handle(&mut self, packet: B::Request, out: &mut Outbox<B::Response>) {
        match self.inner.classify(&packet) {
            Answer::Unsolicited => self.inner.handle(packet, out),
            answer => self.events.do_send(LinkEvent {
                link: self.link,
                kind: LinkEventKind::Answered(answer),
            }),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<B::Response> {
        self.inner.error_reply(reason)
    }
}

impl<B: Backend> Drop for Dialed<B> {
    /// The connection actor owns this value, so its drop is the actor's end.
    fn drop(&mut self) {
        self.events.do_send(LinkEvent {
            link: self.link,
            kind: LinkEventKind::Closed,
        });
    }
}
