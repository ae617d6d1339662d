//! [`LineCodec`]: tokio-util's `LinesCodec`, with two things fixed for this protocol.
//!
//! The `max_line` limit does not count the line ending (`LinesCodec` counts a `\r`
//! before the `\n` as part of the line), and a line that is not UTF-8 is a bad packet
//! rather than a stream error. An over-long line is fatal ([`LineError::TooLong`]) and
//! from then on all input is discarded.

use bytes::{BufMut, BytesMut};
use std::io;
use switchboard::Inbound;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// Why the line codec gave up on a stream.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// A line longer than `max_line` bytes; the stream is not trusted any more.
    #[error("line too long")]
    TooLong,
    /// The transport failed (required by tokio-util's codec traits).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Cuts a byte stream into lines and encodes lines to send.
#[derive(Debug, Clone)]
pub struct LineCodec {
    /// Finds the line endings; its limit is `max_line + 1` so that a `\r` before the
    /// `\n` fits, and the exact limit is checked here.
    inner: LinesCodec,
    /// The longest line accepted, in bytes, not counting `\n` or `\r\n`.
    max_line: usize,
    /// Set once a line was too long: from then on all input is discarded.
    poisoned: bool,
}

impl LineCodec {
    /// A codec that accepts lines of at most `max_line` bytes (line ending excluded).
    pub fn new(max_line: usize) -> Self {
        LineCodec {
            inner: LinesCodec::new_with_max_length(max_line.saturating_add(1)),
            max_line,
            poisoned: false,
        }
    }

    /// The longest line accepted, in bytes, not counting the line ending.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether an over-long line was seen and all input is now discarded.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Whether the first line in `src` is `max_line + 1` bytes without a `\r`, which
    /// the inner codec lets through and this protocol refuses.
    fn one_over_limit(&self, src: &BytesMut) -> bool {
        let Some(newline_at) = self.max_line.checked_add(1) else {
            return false;
        };
        src.get(newline_at) == Some(&b'\n') && src.get(self.max_line) != Some(&b'\r')
    }

    /// Discards all input from now on and reports the over-long line.
    fn refuse(&mut self, src: &mut BytesMut) -> Result<Option<Inbound<String>>, LineError> {
        self.poisoned = true;
        src.clear();
        Err(LineError::TooLong)
    }
}

impl Decoder for LineCodec {
    type Item = Inbound<String>;
    type Error = LineError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, LineError> {
        if self.poisoned {
            src.clear();
            return Ok(None);
        }
        // Only meaningful if the line decoded now is the one ending at max_line + 1.
        let one_over = self.one_over_limit(src);
        let before = src.len();
        let decoded = self.inner.decode(src);
        let consumed = before - src.len();
        let at_limit = Some(consumed) == self.max_line.checked_add(2);
        match decoded {
            Ok(Some(line)) if line.len() > self.max_line => self.refuse(src),
            Ok(Some(line)) => Ok(Some(Inbound::Request(line))),
            Ok(None) => Ok(None),
            Err(LinesCodecError::MaxLineLengthExceeded) => self.refuse(src),
            Err(LinesCodecError::Io(_)) if at_limit && one_over => self.refuse(src),
            Err(LinesCodecError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                Ok(Some(Inbound::Bad("invalid utf-8".to_owned())))
            }
            Err(LinesCodecError::Io(e)) => Err(LineError::Io(e)),
        }
    }

    /// At end of stream an unterminated line is dropped: lines end with `\n`.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, LineError> {
        let item = self.decode(src)?;
        if item.is_none() {
            src.clear();
        }
        Ok(item)
    }
}

impl Encoder<String> for LineCodec {
    type Error = LineError;

    fn encode(&mut self, line: String, dst: &mut BytesMut) -> Result<(), LineError> {
        dst.reserve(line.len() + 1);
        dst.put_slice(line.as_bytes());
        dst.put_u8(b'\n');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<Inbound<String>> {
        let mut out = Vec::new();
        while let Some(item) = codec.decode(buf).unwrap() {
            out.push(item);
        }
        out
    }

    fn req(s: &str) -> Inbound<String> {
        Inbound::Request(s.to_owned())
    }

    #[test]
    fn lf_and_crlf_lines() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"PING\r\nECHO a b\nSTATS\r\n\r\npartial"[..]);
        let items = decode_all(&mut codec, &mut buf);
        assert_eq!(
            items,
            vec![req("PING"), req("ECHO a b"), req("STATS"), req("")]
        );
        assert_eq!(&buf[..], b"partial");
    }

    #[test]
    fn split_reads_one_byte_at_a_time() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for byte in b"ECHO hi\r\nPING\n" {
            buf.put_u8(*byte);
            items.extend(decode_all(&mut codec, &mut buf));
        }
        assert_eq!(items, vec![req("ECHO hi"), req("PING")]);
    }

    #[test]
    fn exactly_max_line_is_accepted_with_either_ending() {
        let line = "x".repeat(8);
        for ending in ["\n", "\r\n"] {
            let mut codec = LineCodec::new(8);
            let mut buf = BytesMut::from(format!("{line}{ending}").as_bytes());
            assert_eq!(decode_all(&mut codec, &mut buf), vec![req(&line)]);
        }
    }

    #[test]
    fn max_line_plus_one_is_refused_with_either_ending() {
        let line = "x".repeat(9);
        for ending in ["\n", "\r\n", ""] {
            let mut codec = LineCodec::new(8);
            let mut buf = BytesMut::from(format!("{line}{ending}+").as_bytes());
            let err = codec.decode(&mut buf).unwrap_err();
            assert_eq!(err.to_string(), "line too long", "ending {ending:?}");
            assert!(codec.is_poisoned());
        }
    }

    #[test]
    fn over_long_without_newline_is_refused_early() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert!(matches!(codec.decode(&mut buf), Err(LineError::TooLong)));
    }

    #[test]
    fn after_too_long_everything_is_discarded() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"ECHO long\nPING\n"[..]);
        assert!(codec.decode(&mut buf).is_err());
        buf.extend_from_slice(b"PING\n");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn invalid_utf8_is_bad_then_next_line_decodes() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"ECHO \xff\xfe\r\nPING\n"[..]);
        let items = decode_all(&mut codec, &mut buf);
        assert_eq!(
            items,
            vec![Inbound::Bad("invalid utf-8".to_owned()), req("PING")]
        );
    }

    #[test]
    fn invalid_utf8_at_the_limit_is_still_judged_by_length() {
        // max_line bytes + CRLF: within the limit, so only a bad packet.
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff\r\nPING\n"[..]);
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![Inbound::Bad("invalid utf-8".to_owned()), req("PING")]
        );
        // max_line + 1 bytes + LF: too long, whatever the content.
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff\xff\nPING\n"[..]);
        assert!(matches!(codec.decode(&mut buf), Err(LineError::TooLong)));
    }

    #[test]
    fn incomplete_line_reserves_nothing() {
        let mut codec = LineCodec::new(8192);
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(b"ECHO not yet");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"ECHO not yet");
        assert!(buf.capacity() < 1024, "capacity {}", buf.capacity());
    }

    #[test]
    fn unterminated_line_at_eof_is_dropped() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"PING\nPIN"[..]);
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), Some(req("PING")));
        assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn encoder_appends_newline() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::new();
        codec.encode("PONG".to_owned(), &mut buf).unwrap();
        codec.encode(String::new(), &mut buf).unwrap();
        assert_eq!(&buf[..], b"PONG\n\n");
    }
}
