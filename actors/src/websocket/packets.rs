//! How one WebSocket message maps to one packet of a protocol's codec, and back.
//!
//! A protocol written for a byte stream delimits its packets itself (a line ending, a
//! length prefix); over WebSocket the message delimits them. [`PacketMapping`] says
//! what to add to a message so that the protocol's codec reads it as one packet, and
//! what to take off a packet the codec wrote so that it goes out as one message. The
//! codec and the handler stay exactly those of the stream listener.

use super::{Header, MessageKind, MAX_SERVER_HEADER};
use bytes::{BufMut, Bytes, BytesMut};

/// How a message maps to one packet of the protocol's codec, and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketMapping {
    /// A message is one line without its ending: `\n` is added for the codec, and a
    /// packet the codec wrote loses its final `\n` (and a `\r` before it). A message
    /// holding `\r` or `\n` is an error packet.
    Line,
    /// A message is one packet's body: a big-endian length prefix of `bytes` bytes (1
    /// to 8), counting the body, is added for the codec and taken off every packet it
    /// wrote.
    LengthPrefixed {
        /// The prefix's size in bytes.
        bytes: u8,
    },
    /// A message is one packet exactly as the codec reads and writes it.
    Verbatim,
}

impl PacketMapping {
    /// The prefix size of [`LengthPrefixed`](Self::LengthPrefixed), cut to 1 to 8.
    fn prefix(bytes: u8) -> usize {
        usize::from(bytes.clamp(1, 8))
    }

    /// The big-endian length prefix of [`LengthPrefixed`](Self::LengthPrefixed) for a
    /// message of `len` bytes: its size, and the prefix as the last that many bytes of
    /// the array; an error when `len` does not fit it.
    fn length_prefix(bytes: u8, len: usize) -> Result<(usize, [u8; 8]), &'static str> {
        let size = Self::prefix(bytes);
        let len = len as u64;
        if size < 8 && len >> (8 * size) != 0 {
            return Err("message too long for its length prefix");
        }
        Ok((size, len.to_be_bytes()))
    }

    /// Appends what the codec reads for the message `payload` to `dst`; an error (the
    /// reason of an error packet) when the message cannot be one packet.
    pub fn to_codec(self, payload: &[u8], dst: &mut BytesMut) -> Result<(), &'static str> {
        match self {
            PacketMapping::Line => {
                if payload.iter().any(|&b| b == b'\n' || b == b'\r') {
                    return Err("message holds a line break");
                }
                dst.reserve(payload.len() + 1);
                dst.put_slice(payload);
                dst.put_u8(b'\n');
            }
            PacketMapping::LengthPrefixed { bytes } => {
                let (size, be) = Self::length_prefix(bytes, payload.len())?;
                dst.reserve(size + payload.len());
                dst.put_slice(&be[8 - size..]);
                dst.put_slice(payload);
            }
            PacketMapping::Verbatim => dst.extend_from_slice(payload),
        }
        Ok(())
    }

    /// Makes the codec's input for a message of `len` bytes that follows `room` in
    /// the same buffer without copying it, when what the mapping adds is a prefix that
    /// fits `room`: writes the prefix at the end of `room` and answers its size (0
    /// for [`Verbatim`](Self::Verbatim)). `None` when it cannot (a line ending goes
    /// after the message; a prefix larger than `room`; a message too long for its
    /// prefix, which [`to_codec`](Self::to_codec) refuses with its reason).
    pub fn prefix_in_place(self, len: usize, room: &mut [u8]) -> Option<usize> {
        match self {
            PacketMapping::Line => None,
            PacketMapping::LengthPrefixed { bytes } => {
                let (size, be) = Self::length_prefix(bytes, len).ok()?;
                let at = room.len().checked_sub(size)?;
                room[at..].copy_from_slice(&be[8 - size..]);
                Some(size)
            }
            PacketMapping::Verbatim => Some(0),
        }
    }

    /// The part of an encoded `packet` that goes out as the message: the packet
    /// without its line ending or its length prefix. An error when the packet does
    /// not have the form the mapping takes off.
    pub fn payload(self, packet: &[u8]) -> Result<&[u8], String> {
        match self {
            PacketMapping::Line => {
                let line = packet
                    .strip_suffix(b"\n")
                    .ok_or("packet is not one line: no line ending")?;
                Ok(line.strip_suffix(b"\r").unwrap_or(line))
            }
            PacketMapping::LengthPrefixed { bytes } => {
                let size = Self::prefix(bytes);
                let (prefix, body) = match packet.split_at_checked(size) {
                    Some(split) => split,
                    None => return Err("packet shorter than its length prefix".into()),
                };
                let mut len = [0u8; 8];
                len[8 - size..].copy_from_slice(prefix);
                if u64::from_be_bytes(len) != body.len() as u64 {
                    return Err("packet length prefix does not match its body".into());
                }
                Ok(body)
            }
            PacketMapping::Verbatim => Ok(packet),
        }
    }
}

/// How the packets of one connection go out as messages: the mapping, and whether
/// messages are text or binary. Connections that share it share their framed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Framing {
    /// Text or binary messages.
    pub kind: MessageKind,
    /// What is taken off each packet.
    pub mapping: PacketMapping,
}

impl Framing {
    /// Checks that `payload` may be the payload of a message of this kind: text must be
    /// UTF-8.
    fn check(self, payload: &[u8]) -> Result<(), String> {
        if self.kind == MessageKind::Text && simdutf8::basic::from_utf8(payload).is_err() {
            return Err("packet is not UTF-8 for a text message".into());
        }
        Ok(())
    }

    /// The message frame for one encoded `packet`, or why it cannot be one message.
    pub fn frame(self, packet: &[u8]) -> Result<Bytes, String> {
        let mut dst = BytesMut::with_capacity(MAX_SERVER_HEADER + packet.len());
        self.frame_into(packet, &mut dst)?;
        Ok(dst.freeze())
    }

    /// Appends to `dst` the message frame for one encoded `packet` (its header, then
    /// the payload: one copy), or answers why it cannot be one message, `dst` untouched.
    pub fn frame_into(self, packet: &[u8], dst: &mut BytesMut) -> Result<(), String> {
        self.frame_payload(self.mapping.payload(packet)?, dst)
    }

    /// Appends to `dst` the message frame whose payload is `payload` as it is (what
    /// the mapping adds already taken off), or answers why it cannot be one message
    /// (text that is not UTF-8), `dst` untouched.
    pub fn frame_payload(self, payload: &[u8], dst: &mut BytesMut) -> Result<(), String> {
        self.check(payload)?;
        dst.put_slice(Header::new(self.kind.opcode(), payload.len()).as_bytes());
        dst.put_slice(payload);
        Ok(())
    }

    /// Frames in place the packet that a codec wrote to `dst` from offset `start` on:
    /// what the mapping takes off goes, and the message's header comes before the
    /// rest. On an error `dst` is left as it was.
    pub fn frame_in_place(self, dst: &mut BytesMut, start: usize) -> Result<(), String> {
        let Some(packet) = dst.get(start..) else {
            return Ok(());
        };
        let payload = self.mapping.payload(packet)?;
        self.check(payload)?;
        // Where the payload sits in `dst`, and how long it is.
        let offset = start + (payload.as_ptr() as usize - packet.as_ptr() as usize);
        let len = payload.len();
        let header = Header::new(self.kind.opcode(), len);
        let size = header.len();
        let end = start + size + len;
        if end > dst.len() {
            dst.resize(end, 0);
        }
        dst.copy_within(offset..offset + len, start + size);
        dst[start..start + size].copy_from_slice(header.as_bytes());
        dst.truncate(end);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::{encode_message, Opcode};

    fn codec_input(mapping: PacketMapping, payload: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut dst = BytesMut::new();
        mapping.to_codec(payload, &mut dst)?;
        Ok(dst.to_vec())
    }

    #[test]
    fn messages_become_one_packet_for_the_codec() {
        let line = PacketMapping::Line;
        assert_eq!(codec_input(line, b"ECHO hi"), Ok(b"ECHO hi\n".to_vec()));
        assert_eq!(codec_input(line, b""), Ok(b"\n".to_vec()));
        for bad in [&b"a\nb"[..], b"a\r", b"\n"] {
            assert_eq!(codec_input(line, bad), Err("message holds a line break"));
        }
        let four = PacketMapping::LengthPrefixed { bytes: 4 };
        assert_eq!(
            codec_input(four, b"\x01hi"),
            Ok(b"\x00\x00\x00\x03\x01hi".to_vec())
        );
        assert_eq!(codec_input(four, b""), Ok(vec![0, 0, 0, 0]));
        let one = PacketMapping::LengthPrefixed { bytes: 1 };
        assert_eq!(codec_input(one, &[7; 255]).map(|v| v[0]), Ok(255));
        assert!(codec_input(one, &[7; 256]).is_err());
        assert_eq!(
            codec_input(PacketMapping::Verbatim, b"as is\n"),
            Ok(b"as is\n".to_vec())
        );
    }

    #[test]
    fn packets_lose_what_the_mapping_adds() {
        let line = PacketMapping::Line;
        assert_eq!(line.payload(b"PONG\n"), Ok(&b"PONG"[..]));
        assert_eq!(line.payload(b"PONG\r\n"), Ok(&b"PONG"[..]));
        assert!(line.payload(b"PONG").is_err());
        let four = PacketMapping::LengthPrefixed { bytes: 4 };
        assert_eq!(four.payload(b"\x00\x00\x00\x02\x04x"), Ok(&b"\x04x"[..]));
        assert!(four.payload(b"\x00\x00\x00\x05\x04x").is_err());
        assert!(four.payload(b"\x00\x00").is_err());
        assert_eq!(PacketMapping::Verbatim.payload(b"x\n"), Ok(&b"x\n"[..]));
    }

    #[test]
    fn framing_in_place_equals_framing_a_copy() {
        let cases: [(Framing, Vec<u8>); 4] = [
            (
                Framing {
                    kind: MessageKind::Text,
                    mapping: PacketMapping::Line,
                },
                b"MSG lobby hello\n".to_vec(),
            ),
            (
                Framing {
                    kind: MessageKind::Text,
                    mapping: PacketMapping::Line,
                },
                [vec![b'x'; 300], b"\r\n".to_vec()].concat(),
            ),
            (
                Framing {
                    kind: MessageKind::Binary,
                    mapping: PacketMapping::LengthPrefixed { bytes: 4 },
                },
                [vec![0, 0, 0, 1], vec![9]].concat(),
            ),
            (
                Framing {
                    kind: MessageKind::Binary,
                    mapping: PacketMapping::LengthPrefixed { bytes: 4 },
                },
                [70_000u32.to_be_bytes().to_vec(), vec![3; 70_000]].concat(),
            ),
        ];
        for (framing, packet) in cases {
            let framed = framing.frame(&packet).unwrap();
            let mut expected = BytesMut::new();
            encode_message(
                framing.kind,
                framing.mapping.payload(&packet).unwrap(),
                &mut expected,
            );
            assert_eq!(framed, expected);
            let mut dst = BytesMut::from(&b"before"[..]);
            dst.extend_from_slice(&packet);
            framing.frame_in_place(&mut dst, 6).unwrap();
            assert_eq!(&dst[..6], b"before");
            assert_eq!(&dst[6..], &framed[..], "{}", packet.len());
        }
    }

    #[test]
    fn text_must_be_utf8_and_errors_leave_the_buffer_alone() {
        let text = Framing {
            kind: MessageKind::Text,
            mapping: PacketMapping::Verbatim,
        };
        assert!(text.frame(&[0xff, 0xfe]).is_err());
        let mut dst = BytesMut::from(&[b'a', 0xff][..]);
        assert!(text.frame_in_place(&mut dst, 1).is_err());
        assert_eq!(&dst[..], &[b'a', 0xff]);
        let binary = Framing {
            kind: MessageKind::Binary,
            mapping: PacketMapping::Verbatim,
        };
        let framed = binary.frame(&[0xff]).unwrap();
        assert_eq!(&framed[..], &[0x80 | Opcode::Binary.bits(), 1, 0xff]);
    }
}
