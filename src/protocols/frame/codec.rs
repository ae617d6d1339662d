//! [`FrameCodec`]: cuts a byte stream into [`Frame`]s without copying payloads and
//! encodes frames to send.
//!
//! An empty frame is a bad packet; an oversize length is a fatal
//! [`FrameError::TooLarge`], after which all input is discarded.

use super::Frame;
use bytes::{Buf, BufMut, BytesMut};
use std::io;
use switchboard::Inbound;
use tokio_util::codec::{Decoder, Encoder};

/// Bytes taken by the length prefix in front of every frame body.
pub const HEADER_LEN: usize = 4;

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
pub(super) fn body_length(payload_len: usize) -> Result<u32, FrameError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::testing::wire;
    use bytes::Bytes;

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
}
