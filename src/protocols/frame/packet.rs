//! [`Frame`]: one opcode and its payload, the opcodes of PROTOCOL.md, and the frames
//! the server builds (an ERROR, a JSON answer, a group MESSAGE).

use super::codec::{body_length, HEADER_LEN};
use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use switchboard::GroupName;

/// One frame: an opcode and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame asks for or answers; one of the `Frame::*` opcode constants.
    pub opcode: u8,
    /// The body after the opcode; shares the read buffer's memory when decoded.
    pub payload: Bytes,
}

impl Frame {
    /// Client asks for the identical frame back.
    pub const ECHO: u8 = 0x01;
    /// Client asks for the identical frame to reach every `frame` connection.
    pub const BROADCAST: u8 = 0x02;
    /// Client asks for a PONG with the same payload.
    pub const PING: u8 = 0x03;
    /// Server's answer to PING (also a backend's ack to REPLICATE).
    pub const PONG: u8 = 0x04;
    /// Client asks for the stats snapshot.
    pub const STATS: u8 = 0x05;
    /// Server's answer to STATS: the snapshot as UTF-8 JSON.
    pub const STATS_REPLY: u8 = 0x06;
    /// Client asks for the payload to be replicated to every backend.
    pub const REPLICATE: u8 = 0x08;
    /// Server's answer to REPLICATE: a JSON [`DeliveryReport`](crate::backends::DeliveryReport).
    pub const REPLICATE_REPLY: u8 = 0x09;
    /// Client asks for the stats of every node of the cluster.
    pub const CLUSTER_STATS: u8 = 0x10;
    /// Server's answer to CLUSTER_STATS: `{"nodes": {NAME: snapshot}}` as UTF-8 JSON.
    pub const CLUSTER_STATS_REPLY: u8 = 0x11;
    /// Client joins the named group in the payload.
    pub const JOIN: u8 = 0x0A;
    /// Server's answer to JOIN: the group name.
    pub const JOINED: u8 = 0x0B;
    /// Client leaves the named group in the payload.
    pub const LEAVE: u8 = 0x0C;
    /// Server's answer to LEAVE (also when not a member): the group name.
    pub const LEFT: u8 = 0x0D;
    /// Client publishes `name_len:u8 | name | message` to a named group.
    pub const PUBLISH: u8 = 0x0E;
    /// A message published to a group, to each member: `name_len:u8 | name | message`.
    pub const MESSAGE: u8 = 0x0F;
    /// Client authenticates with the token in the payload.
    pub const AUTH: u8 = 0x12;
    /// Server's answer to AUTH: the user's name.
    pub const AUTHED: u8 = 0x13;
    /// Client (an admin) removes every connection of the user named in the payload.
    pub const KICK: u8 = 0x14;
    /// Server's answer to KICK: `<name> <n>`, the user and how many connections went.
    pub const KICKED: u8 = 0x15;
    /// Server-only: the reason a packet was refused or the connection is closed.
    pub const ERROR: u8 = 0x7F;

    /// A frame with `opcode` and `payload`.
    pub fn new(opcode: u8, payload: impl Into<Bytes>) -> Self {
        Frame {
            opcode,
            payload: payload.into(),
        }
    }

    /// An ERROR frame carrying `reason` as UTF-8.
    pub fn error(reason: &str) -> Self {
        Frame::new(Frame::ERROR, Bytes::copy_from_slice(reason.as_bytes()))
    }
}

/// The STATS reply for the supervisor's answer: the snapshot as JSON, or an ERROR.
pub fn stats_frame<S: Serialize>(answer: Result<S, impl std::fmt::Display>) -> Frame {
    json_frame(Frame::STATS_REPLY, answer)
}

/// A reply of `opcode` carrying `answer` as JSON, or an ERROR if there is none.
pub fn json_frame<S: Serialize>(opcode: u8, answer: Result<S, impl std::fmt::Display>) -> Frame {
    let json = answer
        .map_err(|e| e.to_string())
        .and_then(|snapshot| serde_json::to_vec(&snapshot).map_err(|e| e.to_string()));
    match json {
        Ok(json) => Frame::new(opcode, json),
        Err(e) => {
            tracing::warn!("stats unavailable: {e}");
            Frame::error("stats unavailable")
        }
    }
}

/// The MESSAGE frame for `message` published to `group`, encoded: `name_len | name |
/// message` after the opcode. Every message fits, unless the name is longer than a
/// `name_len` can say (possible for groups named by an embedding application).
pub fn message_frame(group: &GroupName, message: &[u8]) -> Result<Bytes, String> {
    numbered_frame(group, None, message)
}

/// The MESSAGE frame of a history group's message: `name_len | name | offset:u64
/// big-endian | message` after the opcode (without the offset when there is none).
pub fn numbered_frame(
    group: &GroupName,
    offset: Option<u64>,
    message: &[u8],
) -> Result<Bytes, String> {
    let name = group.as_str().as_bytes();
    let name_len = u8::try_from(name.len())
        .map_err(|_| format!("group name of {} bytes does not fit a name_len", name.len()))?;
    let numbered = if offset.is_some() { 8 } else { 0 };
    let payload_len = 1usize
        .saturating_add(name.len())
        .saturating_add(numbered)
        .saturating_add(message.len());
    let length = body_length(payload_len).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(HEADER_LEN + 1 + payload_len);
    buf.put_u32(length);
    buf.put_u8(Frame::MESSAGE);
    buf.put_u8(name_len);
    buf.put_slice(name);
    if let Some(offset) = offset {
        buf.put_u64(offset);
    }
    buf.put_slice(message);
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_frame_is_json_or_error() {
        let ok = stats_frame(Ok::<_, switchboard::Stopped>(
            serde_json::json!({"accepted_total": 1}),
        ));
        assert_eq!(
            ok,
            Frame::new(Frame::STATS_REPLY, &br#"{"accepted_total":1}"#[..])
        );
        let gone = stats_frame::<u8>(Err(switchboard::Stopped));
        assert_eq!(gone, Frame::error("stats unavailable"));
    }
}
