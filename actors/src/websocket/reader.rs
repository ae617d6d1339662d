//! The strict reader of a client's frames: bytes in, whole messages and control frames
//! out, every rule of RFC 6455 checked on the way (see the module's list).
//!
//! A frame's header is taken from the buffer as soon as it is complete and checked at
//! once, so a frame that would pass the size limit is refused before its payload
//! arrives. The payload is unmasked (and, for text, validated) in place as its bytes
//! arrive, each byte once, however the stream is cut. A message in one frame is split
//! off the buffer without a copy (or, with [`MessageReader::read_in_place`], left
//! where it is for the caller to use and take off); the fragments of a longer one are
//! gathered in a buffer of exactly the size the message has reached, never more than
//! the limit.

use super::close::{CloseCode, PeerClose};
use super::frame::{unmask, ClientHeader, Opcode};
use super::utf8::Utf8Validator;
use super::{Incoming, Message, MessageKind, Violation};
use bytes::{Buf, Bytes, BytesMut};

/// The frame being read: its header, checked, is at the buffer's front (it is taken
/// off with the payload, so that a message read in place has its header's bytes
/// before it), its payload follows.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The frame's header.
    header: ClientHeader,
    /// Payload bytes after the header already unmasked (and validated).
    processed: usize,
    /// Whether its payload is text to validate (a Text frame or a continuation of one).
    text: bool,
}

/// A fragmented message between its first and last frames.
#[derive(Debug)]
struct Partial {
    /// Text or binary, from its first frame.
    kind: MessageKind,
    /// Its payload so far; not kept for a message of the wrong kind.
    gathered: Vec<u8>,
    /// Its size so far (what the limit bounds), kept or not.
    len: usize,
    /// Whether the payload is kept (the message is of the kind expected).
    keep: bool,
}

/// What [`MessageReader::read_in_place`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A whole message of the kind expected, in one frame, unmasked (and validated)
    /// where it arrived: its payload is `buf[header..header + len]`. The caller takes
    /// `header + len` bytes off the buffer's front before it reads again; the `header`
    /// bytes before the payload are the frame's header, no longer needed.
    InPlace {
        /// Text or binary.
        kind: MessageKind,
        /// Bytes at the buffer's front before the payload (at least 6: a client's
        /// frame header with its mask).
        header: usize,
        /// The payload's length.
        len: usize,
    },
    /// Anything else, as [`MessageReader::read`] hands it out.
    Owned(Incoming),
}

/// Reads a client's frames into messages, under a size limit; see the module's
/// documentation for the rules.
///
/// ```
/// use bytes::BytesMut;
/// use switchboard::websocket::{Incoming, MessageKind, MessageReader};
///
/// let mut reader = MessageReader::new(1024, Some(MessageKind::Text));
/// // "Hello" in one masked text frame (RFC 6455 section 5.7).
/// let mut buf = BytesMut::from(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58][..]);
/// match reader.read(&mut buf)? {
///     Some(Incoming::Message(message)) => assert_eq!(&message.payload[..], b"Hello"),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(reader.read(&mut buf)?, None);
/// # Ok::<(), switchboard::websocket::Violation>(())
/// ```
#[derive(Debug)]
pub struct MessageReader {
    /// The largest message accepted, all its fragments together, in bytes.
    max_message: usize,
    /// The kind of message the application takes, if only one.
    expect: Option<MessageKind>,
    /// The frame being read, once its header is complete.
    frame: Option<Frame>,
    /// The fragmented message being gathered.
    partial: Option<Box<Partial>>,
    /// UTF-8 state of the text message being read.
    utf8: Utf8Validator,
    /// A Close or a violation was read: nothing more is.
    done: bool,
}

impl MessageReader {
    /// A reader of messages of at most `max_message` bytes; with `expect`, a message
    /// of the other kind is reported as [`Incoming::WrongKind`] and its payload dropped.
    pub fn new(max_message: usize, expect: Option<MessageKind>) -> Self {
        MessageReader {
            max_message,
            expect,
            frame: None,
            partial: None,
            utf8: Utf8Validator::default(),
            done: false,
        }
    }

    /// The size limit.
    pub fn max_message(&self) -> usize {
        self.max_message
    }

    /// Bytes this reader holds of its own: the fragments gathered so far (never more
    /// than the size limit). The payload of the frame being read stays in the
    /// caller's buffer.
    pub fn buffered(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.gathered.capacity())
    }

    /// Whether a frame's header was read or a fragmented message has begun, and not
    /// ended: the peer owes bytes. (So does a buffer that still holds bytes: together,
    /// what an incomplete-packet deadline watches.)
    pub fn is_mid_message(&self) -> bool {
        !self.done && (self.frame.is_some() || self.partial.is_some())
    }

    /// Whether a Close or a violation ended the reading.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reads the next message or control frame from the front of `buf`, where the
    /// caller appends the bytes that arrive: `Ok(None)` when `buf` holds no more than
    /// an incomplete frame (call again after more bytes arrive). After a Close or a
    /// violation, it discards whatever arrives and answers `Ok(None)`.
    pub fn read(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, Violation> {
        Ok(match self.read_in_place(buf)? {
            Some(Arrival::Owned(incoming)) => Some(incoming),
            Some(Arrival::InPlace { kind, header, len }) => {
                // Split off, without a copy.
                buf.advance(header);
                let payload = buf.split_to(len).freeze();
                Some(Incoming::Message(Message { kind, payload }))
            }
            None => None,
        })
    }

    /// As [`read`](Self::read), but a whole message of the kind expected in one frame
    /// (the common case) is left in `buf`, unmasked: no split, no reference count, and
    /// the caller may read it, or answer it, straight from there. See
    /// [`Arrival::InPlace`] for what the caller must take off before reading again.
    pub(crate) fn read_in_place(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Arrival>, Violation> {
        if self.done {
            buf.clear();
            return Ok(None);
        }
        match self.step(buf) {
            Err(violation) => {
                self.end();
                buf.clear();
                Err(violation)
            }
            Ok(Some(Arrival::Owned(Incoming::Close(close)))) => {
                self.end();
                buf.clear();
                Ok(Some(Arrival::Owned(Incoming::Close(close))))
            }
            other => other,
        }
    }

    fn end(&mut self) {
        self.done = true;
        self.frame = None;
        self.partial = None;
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Arrival>, Violation> {
        loop {
            let frame = match self.frame {
                Some(frame) => frame,
                None => match self.begin_frame(buf)? {
                    Some(frame) => frame,
                    None => return Ok(None),
                },
            };
            if !self.unmask_arrived(frame, buf)? {
                return Ok(None);
            }
            let header = frame.header;
            // The header bounds the length by the size limit (or 125), so it fits a usize.
            let len = header.len as usize;
            if header.fin && self.partial.is_none() {
                let kind = match header.opcode {
                    Opcode::Text => Some(MessageKind::Text),
                    Opcode::Binary => Some(MessageKind::Binary),
                    _ => None,
                };
                if let Some(kind) = kind.filter(|&k| self.expect.is_none_or(|e| e == k)) {
                    self.end_text(kind)?;
                    return Ok(Some(Arrival::InPlace {
                        kind,
                        header: header.size,
                        len,
                    }));
                }
            }
            buf.advance(header.size);
            let payload = buf.split_to(len);
            if let Some(incoming) = self.finish_frame(header, payload)? {
                return Ok(Some(Arrival::Owned(incoming)));
            }
        }
    }

    /// Reads a complete header at the buffer's front (leaving it there) and checks it
    /// against the message in progress and the size limit.
    fn begin_frame(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Violation> {
        let so_far = self.partial.as_ref().map_or(0, |p| p.len);
        let room = self.max_message.saturating_sub(so_far) as u64;
        let Some(header) = ClientHeader::parse(buf, room)? else {
            return Ok(None);
        };
        let text = match (header.opcode, &self.partial) {
            (Opcode::Continuation, None) => {
                return Err(protocol("continuation without a message to continue"))
            }
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(protocol("new message before the last one ended"))
            }
            (Opcode::Continuation, Some(partial)) => partial.kind == MessageKind::Text,
            (opcode, _) => opcode == Opcode::Text,
        };
        let frame = Frame {
            header,
            processed: 0,
            text,
        };
        self.frame = Some(frame);
        Ok(Some(frame))
    }

    /// Unmasks (and validates) the payload bytes that arrived after the header; true
    /// once the whole payload has.
    fn unmask_arrived(&mut self, mut frame: Frame, buf: &mut BytesMut) -> Result<bool, Violation> {
        // The header bounds the length by the size limit (or 125), so it fits a usize.
        let len = frame.header.len as usize;
        let at = frame.header.size;
        let arrived = buf.len().saturating_sub(at).min(len);
        if arrived > frame.processed {
            let fresh = &mut buf[at + frame.processed..at + arrived];
            unmask(fresh, frame.header.mask, frame.processed as u64);
            if frame.text && self.utf8.feed(fresh).is_err() {
                return Err(invalid_utf8());
            }
            frame.processed = arrived;
        }
        if arrived < len {
            self.frame = Some(frame);
            return Ok(false);
        }
        self.frame = None;
        Ok(true)
    }

    /// What a complete frame means: a control frame, or a message (or part of one).
    fn finish_frame(
        &mut self,
        header: ClientHeader,
        payload: BytesMut,
    ) -> Result<Option<Incoming>, Violation> {
        let kind = match header.opcode {
            Opcode::Ping => return Ok(Some(Incoming::Ping(payload.freeze()))),
            Opcode::Pong => return Ok(Some(Incoming::Pong(payload.freeze()))),
            Opcode::Close => return PeerClose::parse(&payload).map(|c| Some(Incoming::Close(c))),
            Opcode::Text => MessageKind::Text,
            Opcode::Binary => MessageKind::Binary,
            Opcode::Continuation => {
                return self.continue_message(header.fin, &payload);
            }
        };
        let keep = self.expect.is_none_or(|expect| expect == kind);
        if !header.fin {
            let gathered = if keep {
                self.grown(Vec::new(), payload.len())
            } else {
                Vec::new()
            };
            let mut partial = Box::new(Partial {
                kind,
                gathered,
                len: payload.len(),
                keep,
            });
            if keep {
                partial.gathered.extend_from_slice(&payload);
            }
            self.partial = Some(partial);
            return Ok(None);
        }
        self.end_message(kind, keep, payload.freeze()).map(Some)
    }

    /// Adds a continuation to the message in progress; hands the message out after
    /// its last frame.
    fn continue_message(
        &mut self,
        fin: bool,
        payload: &[u8],
    ) -> Result<Option<Incoming>, Violation> {
        let Some(mut partial) = self.partial.take() else {
            // begin_frame refuses a continuation without a message.
            return Err(protocol("continuation without a message to continue"));
        };
        partial.len += payload.len();
        if partial.keep {
            let gathered = std::mem::take(&mut partial.gathered);
            partial.gathered = self.grown(gathered, payload.len());
            partial.gathered.extend_from_slice(payload);
        }
        if !fin {
            self.partial = Some(partial);
            return Ok(None);
        }
        let payload = Bytes::from(std::mem::take(&mut partial.gathered));
        self.end_message(partial.kind, partial.keep, payload)
            .map(Some)
    }

    /// `gathered` with room for `more` bytes: capacity doubles, but never past the size
    /// limit.
    fn grown(&self, mut gathered: Vec<u8>, more: usize) -> Vec<u8> {
        let needed = gathered.len() + more;
        if needed > gathered.capacity() {
            let target = needed
                .max(gathered.capacity() * 2)
                .max(64)
                .min(self.max_message)
                .max(needed);
            gathered.reserve_exact(target - gathered.len());
        }
        gathered
    }

    /// A whole message: its UTF-8 must be complete; its kind decides what is handed
    /// out.
    fn end_message(
        &mut self,
        kind: MessageKind,
        keep: bool,
        payload: Bytes,
    ) -> Result<Incoming, Violation> {
        self.end_text(kind)?;
        Ok(if keep {
            Incoming::Message(Message { kind, payload })
        } else {
            Incoming::WrongKind(kind)
        })
    }

    /// At the end of a message: a text message's UTF-8 must be complete.
    fn end_text(&mut self, kind: MessageKind) -> Result<(), Violation> {
        if kind == MessageKind::Text && self.utf8.finish().is_err() {
            return Err(invalid_utf8());
        }
        Ok(())
    }
}

fn protocol(reason: &'static str) -> Violation {
    Violation::new(CloseCode::PROTOCOL, reason)
}

fn invalid_utf8() -> Violation {
    Violation::new(CloseCode::INVALID_DATA, "text is not utf-8")
}

#[cfg(test)]
mod tests;
