//! One WebSocket connection from the server's side, without I/O: the opening
//! handshake, then the client's messages, then the closing handshake.
//!
//! The owner appends the bytes that arrive to a buffer and calls [`Session::poll`]
//! until it answers `None`; each [`Event`] says what to write or what happened. The
//! owner writes the handshake's response before anything else, answers Pings, and
//! ends the connection with the one Close frame [`Session::close`] gives.

use super::handshake::{Accepted, Handshake, HandshakeConfig, Refusal};
use super::reader::MessageReader;
use super::{pong_frame, CloseCode, Incoming, Message, MessageKind, PeerClose, Violation};
use bytes::{Bytes, BytesMut};

/// Where the session is.
#[derive(Debug)]
enum Stage {
    /// Waiting for the client's request.
    Handshake(Handshake),
    /// The handshake succeeded: frames flow.
    Open(MessageReader),
    /// The handshake failed; nothing more is read or written.
    Refused,
}

/// What happened, in the order the client's bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake succeeded: write `response` before anything else, then hand
    /// `request` to the application.
    Accepted(Box<Accepted>),
    /// The handshake failed: write the refusal's response and close the connection.
    Refused(Refusal),
    /// A whole message of the kind expected.
    Message(Message),
    /// A whole message of the other kind (an error packet for the application).
    WrongKind(MessageKind),
    /// A Ping: write `pong`, the frame that answers it.
    Ping {
        /// The Pong carrying the Ping's payload.
        pong: Bytes,
    },
    /// A Pong: the client is alive.
    Pong,
    /// The client's Close: write `answer` if there is one (the Close with the same
    /// code, unless the server had sent its own Close already), then close the
    /// connection. Nothing more is read.
    PeerClosed {
        /// What the client's Close said.
        close: PeerClose,
        /// The answering Close frame, to write last.
        answer: Option<Bytes>,
    },
    /// The client broke a rule: close the connection with [`Session::close`] of the
    /// violation's code. Nothing more is read.
    Violation(Violation),
}

/// The WebSocket side of one server connection.
#[derive(Debug)]
pub struct Session {
    /// Where it is.
    stage: Stage,
    /// The largest message accepted, its fragments together.
    max_message: usize,
    /// The kind of message the application takes, if only one.
    expect: Option<MessageKind>,
    /// A Close frame was handed out: no frame may follow it.
    close_sent: bool,
}

impl Session {
    /// A session waiting for the handshake under `handshake`, then reading messages of
    /// at most `max_message` bytes (of kind `expect`, if given).
    pub fn new(
        handshake: HandshakeConfig,
        max_message: usize,
        expect: Option<MessageKind>,
    ) -> Self {
        Session {
            stage: Stage::Handshake(Handshake::new(handshake)),
            max_message,
            expect,
            close_sent: false,
        }
    }

    /// Whether the handshake is still under way: nothing may be written before its
    /// response.
    pub fn is_handshaking(&self) -> bool {
        matches!(self.stage, Stage::Handshake(_))
    }

    /// Whether the handshake succeeded and no Close was sent: messages may be written.
    pub fn is_open(&self) -> bool {
        matches!(self.stage, Stage::Open(_)) && !self.close_sent
    }

    /// Whether the client owes bytes: the request is incomplete, or a frame or a
    /// fragmented message has begun and not ended.
    pub fn is_mid_message(&self) -> bool {
        match &self.stage {
            Stage::Handshake(_) => true,
            Stage::Open(reader) => reader.is_mid_message(),
            Stage::Refused => false,
        }
    }

    /// Bytes the session holds of its own (the fragments of a message being gathered).
    pub fn buffered(&self) -> usize {
        match &self.stage {
            Stage::Open(reader) => reader.buffered(),
            _ => 0,
        }
    }

    /// The next event from the front of `buf`, where the caller appends the bytes
    /// that arrive; `None` when `buf` holds nothing more that is whole.
    pub fn poll(&mut self, buf: &mut BytesMut) -> Option<Event> {
        let reader = match &mut self.stage {
            Stage::Handshake(handshake) => {
                let outcome = handshake.read(buf)?;
                return Some(match outcome {
                    Ok(accepted) => {
                        self.stage = Stage::Open(MessageReader::new(self.max_message, self.expect));
                        Event::Accepted(Box::new(accepted))
                    }
                    Err(refusal) => {
                        self.stage = Stage::Refused;
                        buf.clear();
                        Event::Refused(refusal)
                    }
                });
            }
            Stage::Open(reader) => reader,
            Stage::Refused => {
                buf.clear();
                return None;
            }
        };
        loop {
            return match reader.read(buf) {
                Ok(None) => None,
                Ok(Some(Incoming::Message(message))) => Some(Event::Message(message)),
                Ok(Some(Incoming::WrongKind(kind))) => Some(Event::WrongKind(kind)),
                // After its own Close the server writes nothing, so a Ping goes
                // unanswered; the client's Close is all it waits for.
                Ok(Some(Incoming::Ping(_))) if self.close_sent => continue,
                Ok(Some(Incoming::Ping(payload))) => Some(Event::Ping {
                    pong: pong_frame(&payload),
                }),
                Ok(Some(Incoming::Pong(_))) => Some(Event::Pong),
                Ok(Some(Incoming::Close(close))) => {
                    let answer = (!self.close_sent).then(|| close.answer());
                    self.close_sent = true;
                    Some(Event::PeerClosed { close, answer })
                }
                Err(violation) => Some(Event::Violation(violation)),
            };
        }
    }

    /// The Close frame that ends the connection, with `code` and `reason` (cut to fit
    /// a control frame): once, and only after a successful handshake (a connection
    /// closed during its handshake gets no Close frame). Write it after everything
    /// else; nothing may follow it.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Option<Bytes> {
        if !matches!(self.stage, Stage::Open(_)) || self.close_sent {
            return None;
        }
        self.close_sent = true;
        Some(super::close_frame(code, reason))
    }
}

#[cfg(test)]
mod tests;
