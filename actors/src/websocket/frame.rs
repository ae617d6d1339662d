//! The frame header of RFC 6455 (section 5.2): opcodes, the header as a client sends
//! it (parsed strictly) and as the server writes it, and the masking of a client's
//! payload.
//!
//! A server's frames are never masked, so the frame of a message is its header (2 to
//! 10 bytes) followed by the payload as it is: the header can be written as a slice
//! of its own before a payload shared by many connections.

use super::close::CloseCode;
use super::Violation;

/// Bytes of the longest header a client sends: 2, an 8-byte length and a 4-byte mask.
pub const MAX_CLIENT_HEADER: usize = 14;

/// Bytes of the longest header the server writes: 2 and an 8-byte length.
pub const MAX_SERVER_HEADER: usize = 10;

/// The longest payload a control frame (Close, Ping, Pong) may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// What a frame carries (the 4-bit opcode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// The next fragment of a message begun by a Text or Binary frame.
    Continuation,
    /// The first (or only) frame of a text message.
    Text,
    /// The first (or only) frame of a binary message.
    Binary,
    /// The closing handshake.
    Close,
    /// A liveness probe; the peer answers it with a Pong.
    Ping,
    /// The answer to a Ping, or an unsolicited heartbeat.
    Pong,
}

impl Opcode {
    /// The opcode of the 4 bits `bits`, or `None` for a reserved one.
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// The 4 bits of this opcode.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Whether this is a control frame (Close, Ping, Pong).
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A client frame's header, checked against every rule that the header alone can
/// break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientHeader {
    /// Whether this is the last frame of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The masking key the payload is XORed with.
    pub mask: [u8; 4],
    /// The payload's length as announced (checked against the limits by the caller,
    /// before any of it is buffered).
    pub len: u64,
    /// Bytes the header took on the wire.
    pub size: usize,
}

impl ClientHeader {
    /// Parses the header at the front of `buf`: `Ok(None)` while it is incomplete.
    /// Refuses (code 1002) reserved bits, reserved opcodes, an unmasked frame, a
    /// fragmented or over-long control frame, a length with its top bit set and a
    /// length not written in its shortest form; and (code 1009) a data frame longer
    /// than `room`. Each rule is checked as soon as the bytes it needs are there.
    pub fn parse(buf: &[u8], room: u64) -> Result<Option<ClientHeader>, Violation> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            // No extension is negotiated, so none of RSV1-3 may be set.
            return Err(protocol_error("reserved bits set"));
        }
        let Some(opcode) = Opcode::from_bits(b0 & 0x0F) else {
            return Err(protocol_error("reserved opcode"));
        };
        let fin = b0 & 0x80 != 0;
        if opcode.is_control() && !fin {
            return Err(protocol_error("fragmented control frame"));
        }
        let Some(&b1) = buf.get(1) else {
            return Ok(None);
        };
        if b1 & 0x80 == 0 {
            return Err(protocol_error("unmasked client frame"));
        }
        let (len, at) = match b1 & 0x7F {
            126 => {
                let Some(bytes) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u16::from_be_bytes([bytes[0], bytes[1]]) as u64;
                if len < 126 {
                    return Err(protocol_error("length not in its shortest form"));
                }
                (len, 4)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(protocol_error("length with its top bit set"));
                }
                if len <= u16::MAX as u64 {
                    return Err(protocol_error("length not in its shortest form"));
                }
                (len, 10)
            }
            short => (short as u64, 2),
        };
        if opcode.is_control() && len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(protocol_error("control frame longer than 125 bytes"));
        }
        if !opcode.is_control() && len > room {
            return Err(Violation::new(CloseCode::TOO_BIG, "message too big"));
        }
        let Some(key) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        let mut mask = [0u8; 4];
        mask.copy_from_slice(key);
        Ok(Some(ClientHeader {
            fin,
            opcode,
            mask,
            len,
            size: at + 4,
        }))
    }
}

fn protocol_error(reason: &'static str) -> Violation {
    Violation::new(CloseCode::PROTOCOL, reason)
}

/// The header of a frame the server writes: unmasked, 2 to 10 bytes.
///
/// ```
/// use switchboard::websocket::{Header, Opcode};
///
/// let header = Header::new(Opcode::Text, 5);
/// assert_eq!(header.as_bytes(), &[0x81, 5]);
/// assert_eq!(Header::new(Opcode::Binary, 70_000).as_bytes().len(), 10);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The header's bytes, from the front.
    bytes: [u8; MAX_SERVER_HEADER],
    /// How many of them are used.
    len: u8,
}

impl Header {
    /// The header of a final (unfragmented) frame of `opcode` carrying `len` bytes.
    pub fn new(opcode: Opcode, len: usize) -> Header {
        let mut bytes = [0u8; MAX_SERVER_HEADER];
        bytes[0] = 0x80 | opcode.bits();
        let used = if len < 126 {
            bytes[1] = len as u8;
            2
        } else if len <= u16::MAX as usize {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        Header { bytes, len: used }
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// How many bytes the header takes (2, 4 or 10).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Header").field(&self.as_bytes()).finish()
    }
}

/// XORs `data` with the masking key, `data` starting `offset` bytes into the payload.
pub(crate) fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    let mut key = mask;
    key.rotate_left((offset % 4) as usize);
    // 32 bytes at a time, byte by byte against a key repeated to the block's width:
    // the compiler turns the inner loop into vector instructions.
    let mut wide = [0u8; 32];
    for (i, byte) in wide.iter_mut().enumerate() {
        *byte = key[i % 4];
    }
    let mut blocks = data.chunks_exact_mut(32);
    for block in &mut blocks {
        for (byte, k) in block.iter_mut().zip(wide) {
            *byte ^= k;
        }
    }
    for (byte, k) in blocks.into_remainder().iter_mut().zip(wide) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a masked client frame's header.
    fn client(b0: u8, len: u64) -> Vec<u8> {
        let mut out = vec![b0];
        if len < 126 {
            out.push(0x80 | len as u8);
        } else if len <= u16::MAX as u64 {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out
    }

    fn refused(bytes: &[u8]) -> &'static str {
        match ClientHeader::parse(bytes, u64::MAX) {
            Err(v) => {
                assert_eq!(v.code(), CloseCode::PROTOCOL);
                v.reason()
            }
            other => panic!("expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn parses_each_length_form_and_the_mask() {
        for (len, size) in [(0, 6), (125, 6), (126, 8), (65_535, 8), (65_536, 14)] {
            let bytes = client(0x82, len);
            let header = ClientHeader::parse(&bytes, u64::MAX).unwrap().unwrap();
            assert_eq!(
                header,
                ClientHeader {
                    fin: true,
                    opcode: Opcode::Binary,
                    mask: [1, 2, 3, 4],
                    len,
                    size
                }
            );
            // Every proper prefix is incomplete, not an error.
            for cut in 0..bytes.len() {
                assert_eq!(
                    ClientHeader::parse(&bytes[..cut], u64::MAX),
                    Ok(None),
                    "{len} {cut}"
                );
            }
        }
        let header = ClientHeader::parse(&client(0x01, 3), u64::MAX)
            .unwrap()
            .unwrap();
        assert!(!header.fin);
        assert_eq!(header.opcode, Opcode::Text);
    }

    #[test]
    fn refuses_every_rule_the_header_breaks() {
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(refused(&client(0x81 | rsv, 1)), "reserved bits set");
        }
        for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(refused(&client(0x80 | op, 0)), "reserved opcode");
        }
        assert_eq!(refused(&[0x81, 0x05]), "unmasked client frame");
        for op in [0x8, 0x9, 0xA] {
            assert_eq!(refused(&client(op, 0)), "fragmented control frame");
            assert_eq!(
                refused(&client(0x80 | op, 126)),
                "control frame longer than 125 bytes"
            );
            assert!(ClientHeader::parse(&client(0x80 | op, 125), 0)
                .unwrap()
                .is_some());
        }
        // 126 and 127 announcing a length that fits a shorter form.
        assert_eq!(
            refused(&[0x82, 0x80 | 126, 0, 125, 1, 2, 3, 4]),
            "length not in its shortest form"
        );
        let mut long = vec![0x82, 0x80 | 127];
        long.extend_from_slice(&65_535u64.to_be_bytes());
        assert_eq!(refused(&long), "length not in its shortest form");
        let mut top = vec![0x82, 0x80 | 127];
        top.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert_eq!(refused(&top), "length with its top bit set");
    }

    #[test]
    fn a_violation_is_seen_before_the_rest_of_the_header_arrives() {
        // Fail fast: the first two bytes are enough to refuse.
        assert_eq!(refused(&[0xC1]), "reserved bits set");
        assert_eq!(refused(&[0x81, 0x7E]), "unmasked client frame");
        assert_eq!(refused(&[0x09]), "fragmented control frame");
    }

    #[test]
    fn a_data_frame_longer_than_the_room_left_is_too_big_before_its_mask_arrives() {
        let bytes = client(0x82, 1001);
        let too_big = ClientHeader::parse(&bytes[..4], 1000).unwrap_err();
        assert_eq!(
            (too_big.code(), too_big.reason()),
            (CloseCode::TOO_BIG, "message too big")
        );
        assert!(ClientHeader::parse(&bytes, 1001).unwrap().is_some());
        // Control frames have their own bound, whatever the room.
        assert!(ClientHeader::parse(&client(0x89, 5), 0).unwrap().is_some());
    }

    #[test]
    fn server_headers_use_the_shortest_form() {
        assert_eq!(Header::new(Opcode::Text, 0).as_bytes(), &[0x81, 0]);
        assert_eq!(Header::new(Opcode::Binary, 125).as_bytes(), &[0x82, 125]);
        assert_eq!(
            Header::new(Opcode::Binary, 126).as_bytes(),
            &[0x82, 126, 0, 126]
        );
        assert_eq!(
            Header::new(Opcode::Ping, 65_535).as_bytes(),
            &[0x89, 126, 0xFF, 0xFF]
        );
        let big = Header::new(Opcode::Binary, 65_536);
        assert_eq!(big.as_bytes(), &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(big.len(), 10);
    }

    #[test]
    fn unmasking_in_pieces_equals_unmasking_at_once() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let plain: Vec<u8> = (0..100u8).collect();
        let masked: Vec<u8> = plain
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        for split in [0, 1, 3, 5, 8, 13, 99, 100] {
            let mut data = masked.clone();
            let (a, b) = data.split_at_mut(split);
            unmask(a, mask, 0);
            unmask(b, mask, split as u64);
            assert_eq!(data, plain, "split at {split}");
        }
    }
}
