//! The `frame` protocol of PROTOCOL.md: length-prefixed binary frames.
//!
//! A frame on the wire is `length:u32 BE | opcode:u8 | payload[length-1]`, where
//! `length` counts the body (opcode and payload). [`FrameCodec`] cuts the byte stream
//! into [`Frame`]s without copying payloads, reports an empty frame as a bad packet and
//! an oversize length as a fatal [`FrameError::TooLarge`] (after which it discards all
//! input). [`FrameProtocol`] answers ECHO, BROADCAST, PING, STATS, REPLICATE,
//! CLUSTER_STATS, JOIN, LEAVE and PUBLISH, takes a client's PONG silently, and sends the
//! heartbeat PING when the connection is idle. The group name rule shared with the
//! `line` protocol ([`group_name`], [`join_group`]) lives here too.

use crate::backends::Backends;
use crate::cluster_stats::ClusterStats;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::Serialize;
use std::io;
use switchboard::protocol::Idle;
use switchboard::{GroupEncoder, GroupName, Inbound, Outbox, Protocol, Snapshot};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes taken by the length prefix in front of every frame body.
pub const HEADER_LEN: usize = 4;

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
    /// Server's answer to REPLICATE: a JSON [`DeliveryReport`].
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

/// Why the frame codec gave up on a stream or on a frame to send.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a body longer than `max_frame`; the stream is not trusted.
    #[error("frame too large")]
    TooLarge,
    /// A frame to send has a payload whose length does not fit the u32 prefix.
    #[error("payload of {0} bytes does not fit in a frame")]
    PayloadTooLarge(usize),
    /// The transport failed (required by tokio-util's codec traits).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Cuts a byte stream into [`Frame`]s and encodes frames to send.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    /// The largest body (opcode + payload) accepted from the peer, in bytes.
    pub max_frame: usize,
    /// Set once an oversize length was seen: from then on all input is discarded,
    /// because the frame boundaries can no longer be found.
    pub poisoned: bool,
}

impl FrameCodec {
    /// A codec that accepts bodies of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        FrameCodec {
            max_frame,
            poisoned: false,
        }
    }

    /// Discards all input from now on and reports the oversize frame.
    fn refuse(&mut self, src: &mut BytesMut) -> Result<Option<Inbound<Frame>>, FrameError> {
        self.poisoned = true;
        src.clear();
        Err(FrameError::TooLarge)
    }
}

/// The announced body length, once the whole prefix has arrived.
fn peek_length(src: &BytesMut) -> Option<u32> {
    let prefix: [u8; HEADER_LEN] = src.get(..HEADER_LEN)?.try_into().ok()?;
    Some(u32::from_be_bytes(prefix))
}

/// Splits one complete frame of `body_len` bytes off the front of `src`.
fn split_frame(src: &mut BytesMut, body_len: usize) -> Frame {
    src.advance(HEADER_LEN);
    let mut body = src.split_to(body_len);
    let opcode = body.get_u8();
    Frame {
        opcode,
        payload: body.freeze(),
    }
}

/// The length prefix for a payload of `payload_len` bytes, if it fits in a u32.
fn body_length(payload_len: usize) -> Result<u32, FrameError> {
    payload_len
        .checked_add(1)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(FrameError::PayloadTooLarge(payload_len))
}

impl Decoder for FrameCodec {
    type Item = Inbound<Frame>;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        if self.poisoned {
            src.clear();
            return Ok(None);
        }
        let Some(length) = peek_length(src) else {
            return Ok(None);
        };
        if length == 0 {
            src.advance(HEADER_LEN);
            return Ok(Some(Inbound::Bad("empty frame".to_owned())));
        }
        let body_len = match usize::try_from(length) {
            Ok(n) if n <= self.max_frame => n,
            _ => return self.refuse(src),
        };
        let Some(total) = body_len.checked_add(HEADER_LEN) else {
            return self.refuse(src);
        };
        if src.len() < total {
            // Wait for more without reserving the announced length: memory is spent on
            // bytes that arrived, not on what a peer claims it will send.
            return Ok(None);
        }
        Ok(Some(Inbound::Request(split_frame(src, body_len))))
    }

    /// At end of stream a partial frame is dropped: the peer is gone, so there is
    /// nobody left to tell about it.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, FrameError> {
        let item = self.decode(src)?;
        if item.is_none() {
            src.clear();
        }
        Ok(item)
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        let length = body_length(frame.payload.len())?;
        dst.reserve(
            HEADER_LEN
                .saturating_add(1)
                .saturating_add(frame.payload.len()),
        );
        dst.put_u32(length);
        dst.put_u8(frame.opcode);
        dst.extend_from_slice(&frame.payload);
        Ok(())
    }
}

/// One backend that did not ack a REPLICATE, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Faulty {
    /// The backend's address, as configured.
    pub member: String,
    /// Why it did not ack (`timeout`, `not connected`, ...).
    pub reason: String,
}

/// The JSON body of a REPLICATE reply: who acked and who did not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Backends that answered the replicated PING with a PONG in time.
    pub acked: Vec<String>,
    /// Backends that did not, each with its reason.
    pub faulty: Vec<Faulty>,
}

impl DeliveryReport {
    /// The report as a REPLICATE_REPLY frame (an ERROR frame if it cannot be encoded).
    pub fn to_frame(&self) -> Frame {
        match serde_json::to_vec(self) {
            Ok(json) => Frame::new(Frame::REPLICATE_REPLY, json),
            Err(e) => {
                tracing::warn!("delivery report not encodable: {e}");
                Frame::error("delivery report unavailable")
            }
        }
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

/// The longest group name, in bytes.
pub const MAX_GROUP_NAME: usize = 64;

/// The named groups one connection may be in unless configured otherwise.
pub const DEFAULT_MAX_GROUPS: usize = 64;

/// A group name as PROTOCOL.md allows it (1 to 64 bytes of `A-Z a-z 0-9 . _ -`), or the
/// error reason, quoting at most 64 bytes of what the client sent.
pub fn group_name(name: &[u8]) -> Result<GroupName, String> {
    let allowed = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if (1..=MAX_GROUP_NAME).contains(&name.len()) && name.iter().all(allowed) {
        // All ASCII, so this never replaces anything.
        return Ok(GroupName::new(String::from_utf8_lossy(name)));
    }
    if name.is_empty() {
        return Err("bad group name (empty)".to_owned());
    }
    let quoted = &name[..name.len().min(MAX_GROUP_NAME)];
    let ellipsis = if quoted.len() < name.len() { "..." } else { "" };
    Err(format!(
        "bad group name \"{}\"{ellipsis}",
        quoted.escape_ascii()
    ))
}

/// JOIN for both protocols: joins `group` unless the connection is a member already
/// (then nothing changes); refuses with `too many groups` when it is in `max_groups`.
pub fn join_group<R>(
    out: &mut Outbox<R>,
    group: GroupName,
    max_groups: usize,
) -> Result<(), &'static str> {
    if out.is_member(group.as_str()) {
        return Ok(());
    }
    if out.group_count() >= max_groups {
        return Err("too many groups");
    }
    out.join(group);
    Ok(())
}

/// Splits a PUBLISH payload into its group name and message (sharing the payload's
/// memory), or the error reason.
pub fn split_publish(payload: &Bytes) -> Result<(GroupName, Bytes), String> {
    let Some((&name_len, rest)) = payload.split_first() else {
        return Err("PUBLISH without name_len".to_owned());
    };
    let name_len = usize::from(name_len);
    if name_len == 0 || name_len > rest.len() {
        return Err(format!(
            "bad name_len {name_len} for {} bytes after it",
            rest.len()
        ));
    }
    let name = group_name(&rest[..name_len])?;
    Ok((name, payload.slice(1 + name_len..)))
}

/// The MESSAGE frame for `message` published to `group`, encoded: `name_len | name |
/// message` after the opcode. Every message fits, unless the name is longer than a
/// `name_len` can say (possible for groups named by an embedding application).
pub fn message_frame(group: &GroupName, message: &[u8]) -> Result<Bytes, String> {
    let name = group.as_str().as_bytes();
    let name_len = u8::try_from(name.len())
        .map_err(|_| format!("group name of {} bytes does not fit a name_len", name.len()))?;
    let payload_len = 1usize
        .saturating_add(name.len())
        .saturating_add(message.len());
    let length = body_length(payload_len).map_err(|e| e.to_string())?;
    let mut buf = BytesMut::with_capacity(HEADER_LEN + 1 + payload_len);
    buf.put_u32(length);
    buf.put_u8(Frame::MESSAGE);
    buf.put_u8(name_len);
    buf.put_slice(name);
    buf.put_slice(message);
    Ok(buf.freeze())
}

/// The `frame` protocol of PROTOCOL.md, one value per connection.
#[derive(Debug, Clone)]
pub struct FrameProtocol {
    /// The largest frame body accepted from a client; longer ones close the connection.
    pub max_frame: usize,
    /// Where REPLICATE sends to; with none, REPLICATE reports two empty lists.
    pub backends: Backends,
    /// Answers CLUSTER_STATS under this server's node name.
    pub cluster: ClusterStats,
    /// Named groups this connection may be in at once; a JOIN beyond is refused.
    pub max_groups: usize,
}

impl FrameProtocol {
    /// The protocol with bodies of at most `max_frame` bytes, and no backends.
    pub fn new(max_frame: usize) -> Self {
        FrameProtocol::with_backends(max_frame, Backends::default())
    }

    /// The protocol with bodies of at most `max_frame` bytes, replicating to `backends`.
    pub fn with_backends(max_frame: usize, backends: Backends) -> Self {
        FrameProtocol {
            max_frame,
            backends,
            cluster: ClusterStats::default(),
            max_groups: DEFAULT_MAX_GROUPS,
        }
    }

    /// The same protocol with connections in at most `max_groups` named groups.
    pub fn with_max_groups(self, max_groups: usize) -> Self {
        FrameProtocol { max_groups, ..self }
    }

    /// The same protocol answering CLUSTER_STATS with `cluster`.
    pub fn with_cluster(self, cluster: ClusterStats) -> Self {
        FrameProtocol { cluster, ..self }
    }
}

impl Protocol for FrameProtocol {
    const NAME: &'static str = "frame";
    type Request = Frame;
    type Response = Frame;
    type Codec = FrameCodec;

    fn codec(&self) -> FrameCodec {
        FrameCodec::new(self.max_frame)
    }

    /// An ECHO is answered with the frame as it arrived, never decoded: any body of at
    /// most `max_frame` bytes whose first byte is the ECHO opcode.
    fn raw_echo(&mut self, inbound: &[u8]) -> Option<usize> {
        let length = usize::try_from(u32::from_be_bytes(
            inbound.get(..HEADER_LEN)?.try_into().ok()?,
        ))
        .ok()?;
        if length == 0 || length > self.max_frame {
            return None;
        }
        let total = HEADER_LEN.checked_add(length)?;
        (inbound.len() >= total && inbound.get(HEADER_LEN) == Some(&Frame::ECHO)).then_some(total)
    }

    fn handle(&mut self, frame: Frame, out: &mut Outbox<Frame>) {
        match frame.opcode {
            Frame::ECHO => out.reply(frame),
            Frame::BROADCAST => out.broadcast(frame),
            Frame::PING => out.reply(Frame::new(Frame::PONG, frame.payload)),
            // The answer to a heartbeat: receiving it was the point.
            Frame::PONG => {}
            Frame::STATS => {
                let board = out.handle().clone();
                out.defer(async move { stats_frame::<Snapshot>(board.stats().await) });
            }
            Frame::CLUSTER_STATS => {
                let gather = self.cluster.gather(out.handle().clone());
                out.defer(async move { json_frame(Frame::CLUSTER_STATS_REPLY, gather.await) });
            }
            Frame::REPLICATE if self.backends.is_empty() => {
                out.reply(DeliveryReport::default().to_frame())
            }
            Frame::REPLICATE => {
                let backends = self.backends.clone();
                out.defer(async move { backends.replicate(frame.payload).await.to_frame() });
            }
            Frame::JOIN => match group_name(&frame.payload) {
                Ok(group) => match join_group(out, group, self.max_groups) {
                    Ok(()) => out.reply(Frame::new(Frame::JOINED, frame.payload)),
                    Err(reason) => out.bad_packet(reason),
                },
                Err(reason) => out.bad_packet(reason),
            },
            Frame::LEAVE => match group_name(&frame.payload) {
                Ok(group) => {
                    out.leave(group.as_str());
                    out.reply(Frame::new(Frame::LEFT, frame.payload));
                }
                Err(reason) => out.bad_packet(reason),
            },
            Frame::PUBLISH => match split_publish(&frame.payload) {
                Ok((group, message)) => out.publish(group, message),
                Err(reason) => out.bad_packet(reason),
            },
            other => out.bad_packet(format!("unknown opcode 0x{other:02x}")),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<Frame> {
        Some(Frame::error(reason))
    }

    /// A MESSAGE frame; every message fits one (frames sent have no size limit).
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(message_frame))
    }

    /// The heartbeat: nothing was received for `heartbeat_ms`, so ask for a PONG.
    fn on_idle(&mut self, idle: Idle, out: &mut Outbox<Frame>) {
        if idle == Idle::Read {
            out.reply(Frame::new(Frame::PING, Bytes::new()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard::protocol::Action;

    fn wire(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
        out.push(opcode);
        out.extend_from_slice(payload);
        out
    }

    fn request(item: Option<Inbound<Frame>>) -> Frame {
        match item {
            Some(Inbound::Request(frame)) => frame,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    #[test]
    fn split_reads_one_byte_at_a_time() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::new();
        let bytes = wire(Frame::ECHO, b"hello");
        for (i, byte) in bytes.iter().enumerate() {
            buf.put_u8(*byte);
            let item = codec.decode(&mut buf).unwrap();
            if i + 1 < bytes.len() {
                assert!(item.is_none(), "decoded early at byte {i}");
            } else {
                assert_eq!(request(item), Frame::new(Frame::ECHO, &b"hello"[..]));
            }
        }
        assert!(buf.is_empty());
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&wire(Frame::PING, b"a"));
        buf.extend_from_slice(&wire(Frame::STATS, b""));
        let first = request(codec.decode(&mut buf).unwrap());
        let second = request(codec.decode(&mut buf).unwrap());
        assert_eq!(first, Frame::new(Frame::PING, &b"a"[..]));
        assert_eq!(second, Frame::new(Frame::STATS, Bytes::new()));
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn empty_frame_is_bad_and_stream_goes_on() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        buf.extend_from_slice(&wire(Frame::ECHO, b"x"));
        let bad = codec.decode(&mut buf).unwrap();
        assert_eq!(bad, Some(Inbound::Bad("empty frame".to_owned())));
        assert_eq!(
            request(codec.decode(&mut buf).unwrap()),
            Frame::new(Frame::ECHO, &b"x"[..])
        );
    }

    #[test]
    fn exactly_max_frame_is_accepted() {
        let mut codec = FrameCodec::new(16);
        let payload = [7u8; 15];
        let mut buf = BytesMut::from(&wire(Frame::ECHO, &payload)[..]);
        assert_eq!(
            request(codec.decode(&mut buf).unwrap()).payload,
            &payload[..]
        );
    }

    #[test]
    fn oversize_is_fatal_and_then_everything_is_discarded() {
        let mut codec = FrameCodec::new(16);
        let mut buf = BytesMut::from(&wire(Frame::ECHO, &[7u8; 16])[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge));
        assert_eq!(err.to_string(), "frame too large");
        assert!(codec.poisoned);
        buf.extend_from_slice(&wire(Frame::ECHO, b"ok"));
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
    }

    #[test]
    fn huge_length_is_refused_before_buffering() {
        let mut codec = FrameCodec::new(65536);
        let mut buf = BytesMut::from(&[0xFFu8, 0xFF, 0xFF, 0xFF][..]);
        assert!(codec.decode(&mut buf).is_err());
        assert!(buf.capacity() < 65536);
    }

    #[test]
    fn incomplete_frame_reserves_nothing_for_its_announced_length() {
        let mut codec = FrameCodec::new(65536);
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(&wire(Frame::ECHO, &[1u8; 65535])[..14]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.len(), 14, "nothing consumed");
        assert!(buf.capacity() < 1024, "capacity {}", buf.capacity());
    }

    #[test]
    fn partial_frame_at_eof_is_dropped() {
        let mut codec = FrameCodec::new(64);
        let mut buf = BytesMut::from(&wire(Frame::ECHO, b"abc")[..5]);
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
    }

    #[test]
    fn a_whole_echo_frame_is_answered_raw_and_nothing_else_is() {
        let mut protocol = FrameProtocol::new(8);
        let echo = wire(Frame::ECHO, b"abc");
        let mut two = echo.clone();
        two.extend_from_slice(&wire(Frame::PING, b"x"));
        assert_eq!(protocol.raw_echo(&echo), Some(echo.len()));
        assert_eq!(protocol.raw_echo(&two), Some(echo.len()));
        // Incomplete, another opcode, empty, past max_frame: left to the codec.
        for short in 0..echo.len() {
            assert_eq!(protocol.raw_echo(&echo[..short]), None, "{short} bytes");
        }
        assert_eq!(protocol.raw_echo(&wire(Frame::PING, b"abc")), None);
        assert_eq!(protocol.raw_echo(&[0, 0, 0, 0, Frame::ECHO]), None);
        assert_eq!(
            protocol
                .raw_echo(&wire(Frame::ECHO, &[1; 7]))
                .map(|n| n - 4),
            Some(8)
        );
        assert_eq!(protocol.raw_echo(&wire(Frame::ECHO, &[1; 8])), None);
        assert_eq!(
            protocol.raw_echo(&[0xff, 0xff, 0xff, 0xff, Frame::ECHO]),
            None
        );
    }

    #[test]
    fn encoder_round_trip() {
        let mut codec = FrameCodec::new(64);
        let frame = Frame::new(Frame::STATS_REPLY, &b"{\"a\":1}"[..]);
        let mut buf = BytesMut::new();
        codec.encode(frame.clone(), &mut buf).unwrap();
        assert_eq!(&buf[..], &wire(Frame::STATS_REPLY, b"{\"a\":1}")[..]);
        assert_eq!(request(codec.decode(&mut buf).unwrap()), frame);
    }

    #[test]
    fn encoder_writes_empty_payload() {
        let mut buf = BytesMut::new();
        FrameCodec::new(1)
            .encode(Frame::new(Frame::PONG, Bytes::new()), &mut buf)
            .unwrap();
        assert_eq!(&buf[..], &[0, 0, 0, 1, Frame::PONG]);
    }

    #[test]
    fn length_overflow_is_an_error() {
        assert_eq!(body_length(0).unwrap(), 1);
        assert_eq!(body_length(u32::MAX as usize - 1).unwrap(), u32::MAX);
        assert!(matches!(
            body_length(u32::MAX as usize),
            Err(FrameError::PayloadTooLarge(_))
        ));
        assert!(body_length(usize::MAX).is_err());
    }

    #[test]
    fn error_frame_carries_reason() {
        let frame = FrameProtocol::new(64)
            .error_reply("frame too large")
            .unwrap();
        assert_eq!(frame, Frame::new(Frame::ERROR, &b"frame too large"[..]));
    }

    #[test]
    fn empty_delivery_report_matches_protocol() {
        let frame = DeliveryReport::default().to_frame();
        assert_eq!(frame.opcode, Frame::REPLICATE_REPLY);
        assert_eq!(&frame.payload[..], br#"{"acked":[],"faulty":[]}"#);
    }

    #[test]
    fn delivery_report_json_shape() {
        let report = DeliveryReport {
            acked: vec!["127.0.0.1:9001".to_owned()],
            faulty: vec![Faulty {
                member: "127.0.0.1:9002".to_owned(),
                reason: "timeout".to_owned(),
            }],
        };
        let json: serde_json::Value = serde_json::from_slice(&report.to_frame().payload).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"acked": ["127.0.0.1:9001"],
                               "faulty": [{"member": "127.0.0.1:9002", "reason": "timeout"}]})
        );
    }

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

    /// Runs `handle` for one frame on a fresh outbox and returns the actions.
    fn handle(frame: Frame) -> Vec<Action<Frame>> {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let peer = "127.0.0.1:1".parse().unwrap();
        let mut out = Outbox::new(1, peer, supervisor);
        FrameProtocol::new(64).handle(frame, &mut out);
        out.take()
    }

    fn only(actions: Vec<Action<Frame>>) -> Action<Frame> {
        assert_eq!(actions.len(), 1, "one action expected");
        actions.into_iter().next().unwrap()
    }

    #[actix_rt::test]
    async fn echo_ping_and_broadcast() {
        let echo = Frame::new(Frame::ECHO, &b"e"[..]);
        assert!(matches!(only(handle(echo.clone())), Action::Reply(f) if f == echo));
        let bcast = Frame::new(Frame::BROADCAST, &b"b"[..]);
        assert!(matches!(only(handle(bcast.clone())), Action::Broadcast(f) if f == bcast));
        let pong = Frame::new(Frame::PONG, &b"p"[..]);
        let ping = Frame::new(Frame::PING, &b"p"[..]);
        assert!(matches!(only(handle(ping)), Action::Reply(f) if f == pong));
    }

    #[actix_rt::test]
    async fn replicate_without_backends_reports_nobody() {
        let reply = only(handle(Frame::new(Frame::REPLICATE, &b"r"[..])));
        assert!(matches!(reply, Action::Reply(f) if f == DeliveryReport::default().to_frame()));
    }

    #[actix_rt::test]
    async fn stats_is_deferred_json() {
        let Action::Defer(reply) = only(handle(Frame::new(Frame::STATS, Bytes::new()))) else {
            panic!("STATS must be deferred");
        };
        let frame = reply.await;
        assert_eq!(frame.opcode, Frame::STATS_REPLY);
        let json: serde_json::Value = serde_json::from_slice(&frame.payload).unwrap();
        assert!(json.get("connections").is_some(), "{json}");
    }

    #[actix_rt::test]
    async fn cluster_stats_is_deferred_json_under_the_node_name() {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let mut out = Outbox::new(1, "127.0.0.1:1".parse().unwrap(), supervisor);
        let mut protocol = FrameProtocol::new(64).with_cluster(ClusterStats::new("n1"));
        protocol.handle(Frame::new(Frame::CLUSTER_STATS, &b"ignored"[..]), &mut out);
        let Action::Defer(reply) = only(out.take()) else {
            panic!("CLUSTER_STATS must be deferred");
        };
        let frame = reply.await;
        assert_eq!(frame.opcode, Frame::CLUSTER_STATS_REPLY);
        let json: serde_json::Value = serde_json::from_slice(&frame.payload).unwrap();
        assert!(json["nodes"]["n1"]["connections"].is_object(), "{json}");
        assert_eq!(json["nodes"].as_object().unwrap().len(), 1, "{json}");
    }

    #[actix_rt::test]
    async fn pong_is_taken_silently() {
        for payload in [&b""[..], &b"anything"[..]] {
            assert!(handle(Frame::new(Frame::PONG, payload)).is_empty());
        }
    }

    #[actix_rt::test]
    async fn read_idle_sends_an_empty_ping_and_other_kinds_nothing() {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let mut out = Outbox::new(1, "127.0.0.1:1".parse().unwrap(), supervisor);
        let mut protocol = FrameProtocol::new(64);
        protocol.on_idle(Idle::Write, &mut out);
        protocol.on_idle(Idle::All, &mut out);
        assert!(out.take().is_empty());
        protocol.on_idle(Idle::Read, &mut out);
        let ping = Frame::new(Frame::PING, Bytes::new());
        assert!(matches!(only(out.take()), Action::Reply(f) if f == ping));
    }

    #[actix_rt::test]
    async fn server_and_unknown_opcodes_are_bad_packets() {
        for op in [
            0x00,
            Frame::STATS_REPLY,
            0x07,
            Frame::REPLICATE_REPLY,
            Frame::CLUSTER_STATS_REPLY,
            Frame::ERROR,
            0xFF,
        ] {
            let action = only(handle(Frame::new(op, Bytes::new())));
            let expected = format!("unknown opcode 0x{op:02x}");
            assert!(
                matches!(action, Action::Bad(r) if r == expected),
                "opcode {op:#x}"
            );
        }
    }

    /// Runs `handle` for each frame on one outbox and returns the actions.
    fn handle_all(protocol: &mut FrameProtocol, frames: &[Frame]) -> Vec<Action<Frame>> {
        let supervisor = switchboard::Switchboard::start(
            switchboard::SwitchboardConfig::default().with_workers(0),
        )
        .handle()
        .clone();
        let mut out = Outbox::new(1, "127.0.0.1:1".parse().unwrap(), supervisor);
        for frame in frames {
            protocol.handle(frame.clone(), &mut out);
        }
        out.take()
    }

    #[actix_rt::test]
    async fn join_twice_leave_twice_and_publish() {
        let join = Frame::new(Frame::JOIN, &b"lobby"[..]);
        let leave = Frame::new(Frame::LEAVE, &b"lobby"[..]);
        let publish = Frame::new(Frame::PUBLISH, &b"\x05lobbyhi"[..]);
        let actions = handle_all(
            &mut FrameProtocol::new(64),
            &[
                join.clone(),
                join,
                publish.clone(),
                leave.clone(),
                leave,
                publish,
            ],
        );
        let joined = Frame::new(Frame::JOINED, &b"lobby"[..]);
        let left = Frame::new(Frame::LEFT, &b"lobby"[..]);
        let lobby = GroupName::from("lobby");
        assert_eq!(
            actions.len(),
            8,
            "one join, one leave, four replies, two publishes"
        );
        assert!(matches!(&actions[0], Action::Join(g) if *g == lobby));
        assert!(matches!(&actions[1], Action::Reply(f) if *f == joined));
        assert!(
            matches!(&actions[2], Action::Reply(f) if *f == joined),
            "joined again"
        );
        assert!(
            matches!(&actions[3], Action::Publish { group, message, member: true }
            if *group == lobby && &message[..] == b"hi")
        );
        assert!(matches!(&actions[4], Action::Leave(g) if *g == lobby));
        assert!(matches!(&actions[5], Action::Reply(f) if *f == left));
        assert!(
            matches!(&actions[6], Action::Reply(f) if *f == left),
            "left, not a member"
        );
        assert!(matches!(&actions[7], Action::Publish { member: false, .. }));
    }

    #[actix_rt::test]
    async fn bad_names_and_name_lens_are_bad_packets() {
        let long = vec![b'a'; 65];
        let mut bad = vec![
            Frame::new(Frame::JOIN, Bytes::new()),
            Frame::new(Frame::JOIN, &b"a b"[..]),
            Frame::new(Frame::JOIN, &b"caf\xc3\xa9"[..]),
            Frame::new(Frame::JOIN, long.clone()),
            Frame::new(Frame::LEAVE, &b"x/y"[..]),
            Frame::new(Frame::PUBLISH, Bytes::new()),
            Frame::new(Frame::PUBLISH, &b"\x00lobby"[..]),
            Frame::new(Frame::PUBLISH, &b"\x06lobby"[..]),
            Frame::new(Frame::PUBLISH, &b"\x03a!bmessage"[..]),
        ];
        let mut publish_long = vec![65u8];
        publish_long.extend(&long);
        bad.push(Frame::new(Frame::PUBLISH, publish_long));
        for frame in bad {
            let actions = handle_all(&mut FrameProtocol::new(64), std::slice::from_ref(&frame));
            assert!(matches!(only(actions), Action::Bad(_)), "{frame:?}");
        }
        let max = vec![b'Z'; 64];
        let actions = handle_all(&mut FrameProtocol::new(64), &[Frame::new(Frame::JOIN, max)]);
        assert!(matches!(&actions[0], Action::Join(_)), "64 bytes is a name");
        let reason = group_name(&[b'/'; 200]).unwrap_err();
        assert!(
            reason.len() < 64 + 32 && reason.ends_with("..."),
            "{reason}"
        );
    }

    #[actix_rt::test]
    async fn a_join_beyond_max_groups_is_too_many() {
        let mut protocol = FrameProtocol::new(64).with_max_groups(2);
        let joins: Vec<Frame> = ["a", "b", "a", "c"]
            .iter()
            .map(|name| Frame::new(Frame::JOIN, name.as_bytes().to_vec()))
            .collect();
        let actions = handle_all(&mut protocol, &joins);
        assert_eq!(actions.len(), 6);
        assert!(matches!(&actions[4], Action::Reply(f) if f.opcode == Frame::JOINED));
        assert!(matches!(&actions[5], Action::Bad(r) if r == "too many groups"));
    }

    #[test]
    fn a_message_frame_carries_name_len_name_and_message() {
        let lobby = GroupName::from("lobby");
        let packet = FrameProtocol::new(64)
            .group_encoder()
            .unwrap()
            .encode(&lobby, b"two\nlines")
            .unwrap();
        assert_eq!(
            &packet[..],
            &wire(Frame::MESSAGE, b"\x05lobbytwo\nlines")[..]
        );
        let (group, message) = split_publish(&Bytes::copy_from_slice(&packet[5..])).unwrap();
        assert_eq!((group, &message[..]), (lobby, &b"two\nlines"[..]));
        let huge = GroupName::new("g".repeat(256));
        assert!(
            message_frame(&huge, b"x").is_err(),
            "a name_len is one byte"
        );
    }
}
