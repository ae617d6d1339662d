//! Cuts the read stream into whole frames (length prefix included), for `FramedRead`.
//!
//! A frame announcing more than [`wire::MAX_FRAME`] bytes is a decode error, which ends
//! the stream; an empty frame (a length of 0) is handed on as its 4 bytes, to be
//! answered with an error packet.

use baseline::wire::{self, Head};
use bytes::BytesMut;
use std::io;
use tokio_util::codec::Decoder;

/// The `frame` protocol's framing.
pub struct FrameCodec;

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        match wire::head(src) {
            Head::Partial => Ok(None),
            Head::Empty => Ok(Some(src.split_to(wire::HEADER_LEN))),
            Head::TooLarge => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "frame too large",
            )),
            Head::Frame { total, .. } => Ok(Some(src.split_to(total))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_whole_frames_and_refuses_oversize() {
        let mut buf = BytesMut::new();
        wire::put_frame(&mut buf, wire::ECHO, b"ab");
        buf.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let first = FrameCodec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&first[..], &[0, 0, 0, 3, wire::ECHO, b'a', b'b']);
        assert_eq!(FrameCodec.decode(&mut buf).unwrap().unwrap().len(), 4);
        assert!(FrameCodec.decode(&mut buf).unwrap().is_none());
        let mut big = BytesMut::from(&(70_000u32).to_be_bytes()[..]);
        assert!(FrameCodec.decode(&mut big).is_err());
    }
}
