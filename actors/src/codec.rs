//! Ready-made codecs for [`Protocol::Codec`](crate::Protocol::Codec).
//!
//! [`Lines`] is what every newline-terminated text protocol needs: tokio-util's
//! `LinesCodec` with a length limit, adapted to what a connection expects. Each line is
//! handed up as [`Inbound::Request`]; a line that is not UTF-8 is [`Inbound::Bad`]
//! (counted as an error packet, the connection lives on); a line longer than the limit
//! is a stream error ([`LinesError::TooLong`]), as with `LinesCodec`, so the connection
//! is removed. A response that holds `\n` or `\r` is refused with
//! [`LinesError::LineBreak`] rather than written as two lines that would corrupt the
//! stream: the refusal is reported to whoever sent it (`SendError::Encode`).

use crate::Inbound;
use bytes::BytesMut;
use std::io;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

/// Why [`Lines`] refused a stream or a response.
#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    /// A line passed the codec's maximum length: the stream is not trusted any more.
    #[error("max line length exceeded")]
    TooLong,
    /// A response holds `\n` or `\r`, so it cannot be sent as one line.
    #[error("a line to send holds a line break")]
    LineBreak,
    /// The transport failed (tokio-util's codec traits require this variant).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Newline-terminated UTF-8 lines: decodes [`Inbound<String>`], encodes any `AsRef<str>`.
///
/// Decoding strips the `\n` and a `\r` before it, like `LinesCodec`. Encoding appends
/// `\n`.
///
/// ```
/// use bytes::BytesMut;
/// use switchboard::codec::Lines;
/// use switchboard::Inbound;
/// use tokio_util::codec::{Decoder, Encoder};
///
/// let mut codec = Lines::new(16);
/// let mut input = BytesMut::from(&b"hello\r\n\xff\n"[..]);
/// assert_eq!(codec.decode(&mut input)?, Some(Inbound::Request("hello".to_string())));
/// assert_eq!(codec.decode(&mut input)?, Some(Inbound::Bad("invalid utf-8".to_string())));
///
/// let mut output = BytesMut::new();
/// codec.encode("hi", &mut output)?;
/// assert_eq!(&output[..], b"hi\n");
/// assert!(codec.encode("two\nlines", &mut output).is_err());
/// # Ok::<(), switchboard::codec::LinesError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Lines {
    /// Finds the line endings and enforces the maximum length.
    inner: LinesCodec,
}

impl Lines {
    /// A codec for lines of at most `max_length` bytes, not counting the `\n` (a `\r`
    /// before it counts, as in `LinesCodec`).
    pub fn new(max_length: usize) -> Self {
        Lines {
            inner: LinesCodec::new_with_max_length(max_length),
        }
    }

    /// The longest line accepted, in bytes.
    pub fn max_length(&self) -> usize {
        self.inner.max_length()
    }

    /// What `LinesCodec` decoded, as a connection wants it.
    fn adapt(
        decoded: Result<Option<String>, LinesCodecError>,
    ) -> Result<Option<Inbound<String>>, LinesError> {
        match decoded {
            Ok(line) => Ok(line.map(Inbound::Request)),
            Err(LinesCodecError::MaxLineLengthExceeded) => Err(LinesError::TooLong),
            // `LinesCodec` has already consumed the line it could not convert.
            Err(LinesCodecError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                Ok(Some(Inbound::Bad("invalid utf-8".to_owned())))
            }
            Err(LinesCodecError::Io(e)) => Err(LinesError::Io(e)),
        }
    }
}

impl Decoder for Lines {
    type Item = Inbound<String>;
    type Error = LinesError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, LinesError> {
        Self::adapt(self.inner.decode(src))
    }

    /// At the end of the stream an unterminated last line is handed up, as with
    /// `LinesCodec`.
    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, LinesError> {
        Self::adapt(self.inner.decode_eof(src))
    }
}

impl<T: AsRef<str>> Encoder<T> for Lines {
    type Error = LinesError;

    fn encode(&mut self, line: T, dst: &mut BytesMut) -> Result<(), LinesError> {
        let line = line.as_ref();
        if line.contains(['\n', '\r']) {
            return Err(LinesError::LineBreak);
        }
        self.inner.encode(line, dst).map_err(|e| match e {
            LinesCodecError::MaxLineLengthExceeded => LinesError::TooLong,
            LinesCodecError::Io(e) => LinesError::Io(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(line: &str) -> Option<Inbound<String>> {
        Some(Inbound::Request(line.to_owned()))
    }

    #[test]
    fn decodes_lines_with_either_ending() {
        let mut codec = Lines::new(64);
        let mut src = BytesMut::from(&b"one\ntwo\r\n\nthr"[..]);
        assert_eq!(codec.decode(&mut src).ok(), Some(request("one")));
        assert_eq!(codec.decode(&mut src).ok(), Some(request("two")));
        assert_eq!(codec.decode(&mut src).ok(), Some(request("")));
        assert_eq!(codec.decode(&mut src).ok(), Some(None));
        assert_eq!(&src[..], b"thr");
        src.extend_from_slice(b"ee\n");
        assert_eq!(codec.decode(&mut src).ok(), Some(request("three")));
        assert!(src.is_empty());
    }

    #[test]
    fn invalid_utf8_is_a_bad_packet_and_decoding_goes_on() {
        let mut codec = Lines::new(64);
        let mut src = BytesMut::from(&b"ok\n\xc3\x28\nnext\n"[..]);
        assert_eq!(codec.decode(&mut src).ok(), Some(request("ok")));
        assert_eq!(
            codec.decode(&mut src).ok(),
            Some(Some(Inbound::Bad("invalid utf-8".to_owned())))
        );
        assert_eq!(codec.decode(&mut src).ok(), Some(request("next")));
    }

    #[test]
    fn a_line_at_the_limit_passes_and_one_past_it_is_a_stream_error() {
        let mut codec = Lines::new(4);
        assert_eq!(codec.max_length(), 4);
        let mut src = BytesMut::from(&b"abcd\n"[..]);
        assert_eq!(codec.decode(&mut src).ok(), Some(request("abcd")));

        let mut src = BytesMut::from(&b"abcde"[..]);
        assert!(matches!(codec.decode(&mut src), Err(LinesError::TooLong)));
        // Even before the line ends: memory is spent only up to the limit.
        let mut codec = Lines::new(4);
        let mut src = BytesMut::from(&b"abcdefgh"[..]);
        assert!(matches!(codec.decode(&mut src), Err(LinesError::TooLong)));
    }

    #[test]
    fn an_unterminated_last_line_is_handed_up_at_eof() {
        let mut codec = Lines::new(64);
        let mut src = BytesMut::from(&b"last"[..]);
        assert_eq!(codec.decode(&mut src).ok(), Some(None));
        assert_eq!(codec.decode_eof(&mut src).ok(), Some(request("last")));
        assert_eq!(codec.decode_eof(&mut src).ok(), Some(None));
    }

    #[test]
    fn encodes_a_line_with_a_newline() {
        let mut codec = Lines::new(64);
        let mut dst = BytesMut::new();
        assert!(codec.encode("hello".to_owned(), &mut dst).is_ok());
        assert!(codec.encode("", &mut dst).is_ok());
        assert_eq!(&dst[..], b"hello\n\n");
    }

    #[test]
    fn refuses_a_response_with_a_line_break_and_writes_nothing() {
        let mut codec = Lines::new(64);
        let mut dst = BytesMut::from(&b"queued\n"[..]);
        for bad in ["two\nlines", "cr\rinside", "trailing\r\n", "\n"] {
            let refused = codec.encode(bad.to_owned(), &mut dst);
            assert!(matches!(refused, Err(LinesError::LineBreak)), "{bad:?}");
        }
        assert_eq!(&dst[..], b"queued\n");
    }

    #[test]
    fn what_it_encodes_decodes_to_the_same_line() {
        let mut codec = Lines::new(64);
        let mut buf = BytesMut::new();
        for line in ["a", "with spaces", "ünïcödé", ""] {
            assert!(codec.encode(line, &mut buf).is_ok());
            assert_eq!(codec.decode(&mut buf).ok(), Some(request(line)));
        }
        assert!(buf.is_empty());
    }
}
