//! Client frames for the tests: what a browser would send, masked.

use super::{Arrival, Incoming, Message, MessageReader, Violation};
use bytes::{Buf, BytesMut};

/// A masking key that changes every byte it touches.
pub(crate) const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame: `b0` is FIN, RSV and opcode; `payload` is sent masked.
pub(crate) fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A whole text message in one frame.
pub(crate) fn text(payload: &[u8]) -> Vec<u8> {
    frame(0x81, payload)
}

/// A whole binary message in one frame.
pub(crate) fn binary(payload: &[u8]) -> Vec<u8> {
    frame(0x82, payload)
}

/// A Close frame with `code` and `reason`.
pub(crate) fn close(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(reason);
    frame(0x88, &body)
}

/// Concatenates frames.
pub(crate) fn join(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

/// What a reader made of `bytes` fed in pieces of `chunk` bytes: everything it handed
/// out, then the violation that stopped it, if one did. Checks after every piece that
/// the reader's own buffer stays within the size limit, and that what waits in the
/// buffer is at most one incomplete frame (a header, and a payload within the limit).
pub(crate) fn feed(
    reader: &mut MessageReader,
    bytes: &[u8],
    chunk: usize,
) -> (Vec<Incoming>, Option<Violation>) {
    feed_with(reader, bytes, chunk, false)
}

/// As [`feed`], reading with [`MessageReader::read_in_place`] when `in_place`: a
/// message left in the buffer is copied out and taken off, and must be the one its
/// frame holds (so both ways of reading hand out the same).
pub(crate) fn feed_with(
    reader: &mut MessageReader,
    bytes: &[u8],
    chunk: usize,
    in_place: bool,
) -> (Vec<Incoming>, Option<Violation>) {
    let max = reader.max_message();
    let waiting = max.max(super::MAX_CONTROL_PAYLOAD) + super::MAX_CLIENT_HEADER;
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            let read = if in_place {
                reader.read_in_place(&mut buf).map(|arrival| {
                    arrival.map(|arrival| match arrival {
                        Arrival::Owned(incoming) => incoming,
                        Arrival::InPlace { kind, header, len } => {
                            assert!(header >= 6, "a client's header is at least 6 bytes");
                            buf.advance(header);
                            let payload = buf.split_to(len).freeze();
                            Incoming::Message(Message { kind, payload })
                        }
                    })
                })
            } else {
                reader.read(&mut buf)
            };
            match read {
                Ok(Some(incoming)) => out.push(incoming),
                Ok(None) => break,
                Err(violation) => return (out, Some(violation)),
            }
        }
        assert!(
            reader.buffered() <= max,
            "gathered {} past {max}",
            reader.buffered()
        );
        assert!(
            buf.len() < waiting,
            "{} bytes wait, bound {waiting}",
            buf.len()
        );
    }
    (out, None)
}
