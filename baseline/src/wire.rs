//! The `frame` wire format of PROTOCOL.md, as far as the baseline servers need it:
//! opcodes, the length prefix, writing a frame into a buffer, and the group name rules.

use bytes::{BufMut, BytesMut};

/// Bytes of the length prefix in front of every body.
pub const HEADER_LEN: usize = 4;
/// The largest body accepted from a client (PROTOCOL.md's default `max_frame`).
pub const MAX_FRAME: usize = 65536;

/// Client asks for the identical frame back.
pub const ECHO: u8 = 0x01;
/// Client asks for the identical frame to reach every connection.
pub const BROADCAST: u8 = 0x02;
/// Client asks for a PONG with the same payload.
pub const PING: u8 = 0x03;
/// The answer to PING.
pub const PONG: u8 = 0x04;
/// Client asks for the stats snapshot.
pub const STATS: u8 = 0x05;
/// The answer to STATS.
pub const STATS_REPLY: u8 = 0x06;
/// Client joins the named group in the payload.
pub const JOIN: u8 = 0x0A;
/// The answer to JOIN, with the name.
pub const JOINED: u8 = 0x0B;
/// Client leaves the named group in the payload.
pub const LEAVE: u8 = 0x0C;
/// The answer to LEAVE, with the name.
pub const LEFT: u8 = 0x0D;
/// Client publishes `name_len | name | message` to a named group.
pub const PUBLISH: u8 = 0x0E;
/// A published message, to every member: the PUBLISH payload as it came.
pub const MESSAGE: u8 = 0x0F;
/// Server-only: why a packet was refused.
pub const ERROR: u8 = 0x7F;

/// What the front of a read buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Not a whole frame yet.
    Partial,
    /// A length prefix of 0: an error packet of 4 bytes.
    Empty,
    /// A length past [`MAX_FRAME`]: the stream cannot be trusted any more.
    TooLarge,
    /// A whole frame of `total` bytes (prefix included) with this opcode.
    Frame {
        /// The first body byte.
        opcode: u8,
        /// Prefix and body.
        total: usize,
    },
}

/// Looks at the frame at the front of `buf` without consuming anything.
pub fn head(buf: &[u8]) -> Head {
    let Some(prefix) = buf.get(..HEADER_LEN) else {
        return Head::Partial;
    };
    let body = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if body == 0 {
        return Head::Empty;
    }
    if body > MAX_FRAME {
        return Head::TooLarge;
    }
    match buf.get(HEADER_LEN) {
        Some(&opcode) if buf.len() >= HEADER_LEN + body => Head::Frame {
            opcode,
            total: HEADER_LEN + body,
        },
        _ => Head::Partial,
    }
}

/// Appends a frame with `opcode` and `payload` to `dst`.
pub fn put_frame(dst: &mut BytesMut, opcode: u8, payload: &[u8]) {
    dst.reserve(HEADER_LEN + 1 + payload.len());
    dst.put_u32(payload.len() as u32 + 1);
    dst.put_u8(opcode);
    dst.extend_from_slice(payload);
}

/// Longest group name.
pub const MAX_NAME: usize = 64;
/// Groups one connection may be in at once (PROTOCOL.md's default `max_groups`).
pub const MAX_GROUPS: usize = 64;

/// Whether `name` is a valid group name: 1 to 64 bytes of `A-Z a-z 0-9 . _ -`.
pub fn valid_name(name: &[u8]) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The group name and message of a PUBLISH payload, or why it is malformed.
pub fn split_publish(payload: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let (&len, rest) = payload.split_first().ok_or("empty publish")?;
    let len = len as usize;
    if len == 0 || len > rest.len() {
        return Err("bad name_len");
    }
    let name = &rest[..len];
    if !valid_name(name) {
        return Err("bad group name");
    }
    Ok((name, &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads() {
        assert_eq!(head(&[0, 0]), Head::Partial);
        assert_eq!(head(&[0, 0, 0, 0]), Head::Empty);
        assert_eq!(head(&[0, 0, 0, 2, ECHO]), Head::Partial);
        assert_eq!(
            head(&[0, 0, 0, 2, ECHO, 9, 1]),
            Head::Frame {
                opcode: ECHO,
                total: 6
            }
        );
        assert_eq!(head(&[0xFF, 0, 0, 0]), Head::TooLarge);
    }

    #[test]
    fn put_then_head() {
        let mut buf = BytesMut::new();
        put_frame(&mut buf, PONG, b"abc");
        assert_eq!(&buf[..], &[0, 0, 0, 4, PONG, b'a', b'b', b'c']);
        assert_eq!(
            head(&buf),
            Head::Frame {
                opcode: PONG,
                total: 8
            }
        );
    }
}
