//! WebSocket (RFC 6455) for the server side, without I/O: the opening handshake, a
//! strict reader of client frames that hands out whole messages, and the frames the
//! server writes.
//!
//! Like the connection core, nothing here touches a socket or a clock: bytes that
//! arrived are appended to a buffer and handed in, and what to write comes out as
//! bytes. [`Session`] puts the pieces together for one connection (handshake, then
//! messages, then the closing handshake); [`Handshake`], [`MessageReader`] and the
//! frame functions can also be used on their own.
//!
//! What the reader enforces, each rule answered with the close code RFC 6455 gives it
//! ([`Violation`]):
//!
//! - client frames are masked, reserved bits are 0, opcodes are known, lengths are in
//!   their shortest form (1002);
//! - control frames carry at most 125 bytes and are never fragmented; a continuation
//!   needs a message to continue, and a new message waits for the last to end (1002);
//! - a message, all its fragments together, is at most the configured size: it is
//!   refused from the header that would pass the limit, before its payload is
//!   buffered (1009);
//! - text is UTF-8, checked as it arrives and across fragments (1007);
//! - a Close carries no body, or a valid code and a UTF-8 reason (1002, 1007).
//!
//! Memory is spent on bytes that arrived, never on a length a peer announces: a frame's
//! payload stays in the caller's buffer until it is complete, and a fragmented
//! message is gathered in a buffer that never grows past the size limit. A message
//! sent in one frame is handed out without a copy.
//!
//! The server's frames are never masked, so a message's frame is a [`Header`] of 2 to
//! 10 bytes and the payload as it is: the header can be written as its own slice
//! before a payload that many connections share, and the same framed bytes serve
//! every connection that receives the message.
//!
//! permessage-deflate is not offered: the handshake selects no extension, so a client
//! never compresses, and a frame with RSV1 set is a protocol error.

mod close;
mod frame;
mod handshake;
mod packets;
mod reader;
mod request;
mod session;
mod utf8;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
pub(crate) mod testing;

pub use close::{close_frame, CloseCode, PeerClose};
pub use frame::{Header, Opcode, MAX_CLIENT_HEADER, MAX_CONTROL_PAYLOAD, MAX_SERVER_HEADER};
pub use handshake::{accept_key, Accepted, Handshake, HandshakeConfig, Refusal, MAX_HEADERS};
pub use packets::{Framing, PacketMapping};
pub(crate) use reader::Arrival;
pub use reader::MessageReader;
pub use request::Request;
pub use session::{Event, Session};

use bytes::{BufMut, Bytes, BytesMut};

/// Whether a message is text or binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (checked by the reader).
    Text,
    /// Bytes.
    Binary,
}

impl MessageKind {
    /// The opcode of a message of this kind.
    pub fn opcode(self) -> Opcode {
        match self {
            MessageKind::Text => Opcode::Text,
            MessageKind::Binary => Opcode::Binary,
        }
    }
}

/// One whole message from the client, its fragments joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Text or binary.
    pub kind: MessageKind,
    /// The payload, unmasked; valid UTF-8 for a text message.
    pub payload: Bytes,
}

/// What the reader found in the client's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message of the kind expected (or of either kind, if none is).
    Message(Message),
    /// A whole message of the other kind than the one expected; its payload was
    /// checked (UTF-8, size) and dropped.
    WrongKind(MessageKind),
    /// A Ping: answer it with [`pong_frame`] of this payload.
    Ping(Bytes),
    /// A Pong (an answer to the server's Ping, or a heartbeat of the client's own).
    Pong(Bytes),
    /// The client's Close; the reader reads nothing after it.
    Close(PeerClose),
}

/// A rule of RFC 6455 that the client broke: close with `code`. The reader reads
/// nothing after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The close code the rule calls for: 1002, 1007 or 1009.
    code: CloseCode,
    /// Which rule, in a few words.
    reason: &'static str,
}

impl Violation {
    pub(crate) fn new(code: CloseCode, reason: &'static str) -> Self {
        Violation { code, reason }
    }

    /// The close code: 1002 for a protocol error, 1007 for text that is not UTF-8,
    /// 1009 for a message over the size limit.
    pub fn code(&self) -> CloseCode {
        self.code
    }

    /// Which rule was broken, in a few words.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.reason, self.code)
    }
}

impl std::error::Error for Violation {}

/// Appends the frame of a whole message (header, then payload) to `dst`.
pub fn encode_message(kind: MessageKind, payload: &[u8], dst: &mut BytesMut) {
    let header = Header::new(kind.opcode(), payload.len());
    dst.reserve(header.len() + payload.len());
    dst.put_slice(header.as_bytes());
    dst.put_slice(payload);
}

/// The frame of a whole message as one buffer: what a group delivery shares among
/// every WebSocket member that receives it.
pub fn message_frame(kind: MessageKind, payload: &[u8]) -> Bytes {
    let mut dst = BytesMut::with_capacity(MAX_SERVER_HEADER + payload.len());
    encode_message(kind, payload, &mut dst);
    dst.freeze()
}

/// Frames the payload that was written to `dst` from offset `start` on, in place: a
/// header goes before it and the payload moves after the header. For small payloads
/// encoded straight into a buffer; a large shared payload is better sent after a
/// [`Header`] of its own. Does nothing if `start` is past the end of `dst`.
pub fn frame_in_place(kind: MessageKind, dst: &mut BytesMut, start: usize) {
    let Some(len) = dst.len().checked_sub(start) else {
        return;
    };
    let header = Header::new(kind.opcode(), len);
    let size = header.len();
    dst.resize(dst.len() + size, 0);
    dst.copy_within(start..start + len, start + size);
    dst[start..start + size].copy_from_slice(header.as_bytes());
}

/// The Pong that answers a Ping with `payload` (at most 125 bytes, as every Ping the
/// reader hands out).
pub fn pong_frame(payload: &[u8]) -> Bytes {
    control_frame(Opcode::Pong, payload)
}

/// A Ping from the server (a heartbeat) with `payload`, cut to 125 bytes.
pub fn ping_frame(payload: &[u8]) -> Bytes {
    control_frame(Opcode::Ping, payload)
}

fn control_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
    let header = Header::new(opcode, payload.len());
    let mut dst = BytesMut::with_capacity(header.len() + payload.len());
    dst.put_slice(header.as_bytes());
    dst.put_slice(payload);
    dst.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_frames_in_every_length_form() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536] {
            let payload = vec![0x5A; len];
            let frame = message_frame(MessageKind::Binary, &payload);
            let header = Header::new(Opcode::Binary, len);
            assert_eq!(&frame[..header.len()], header.as_bytes());
            assert_eq!(&frame[header.len()..], &payload[..]);
        }
    }

    #[test]
    fn framing_in_place_equals_framing_a_copy() {
        for len in [0usize, 5, 125, 126, 300, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut dst = BytesMut::from(&b"before"[..]);
            dst.extend_from_slice(&payload);
            frame_in_place(MessageKind::Text, &mut dst, 6);
            let mut expected = BytesMut::from(&b"before"[..]);
            encode_message(MessageKind::Text, &payload, &mut expected);
            assert_eq!(dst, expected, "{len}");
        }
        let mut dst = BytesMut::from(&b"ab"[..]);
        frame_in_place(MessageKind::Text, &mut dst, 3);
        assert_eq!(&dst[..], b"ab");
    }

    #[test]
    fn control_frames() {
        assert_eq!(&pong_frame(b"hi")[..], &[0x8A, 2, b'h', b'i']);
        assert_eq!(&ping_frame(b"")[..], &[0x89, 0]);
        let long = ping_frame(&[1; 200]);
        assert_eq!(long.len(), 2 + MAX_CONTROL_PAYLOAD);
    }
}
