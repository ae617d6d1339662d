//! The test protocol the core is driven with: a `u16` length prefix and one command byte
//! (echo, broadcast, deferred reply, bad packet, denial, close, close with a goodbye,
//! authenticate, set or cancel the timer, join, leave, publish, raw echo), logging what
//! it produced so tests can check order and accounting.

use super::*;
use crate::identity::Access;

/// The largest body the test codec accepts.
pub(super) const MAX_BODY: usize = 4000;

/// `len:u16 | body`; an empty body is a bad packet, one over `MAX_BODY` breaks the stream.
pub(super) struct TestCodec;

impl Decoder for TestCodec {
    type Item = Inbound<Bytes>;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if src.len() < 2 {
            return Ok(None);
        }
        let len = u16::from_be_bytes([src[0], src[1]]) as usize;
        if len > MAX_BODY {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "too large",
            ));
        }
        if len == 0 {
            src.advance(2);
            return Ok(Some(Inbound::Bad("empty".into())));
        }
        if src.len() < 2 + len {
            // Reserves nothing for the announced length.
            return Ok(None);
        }
        src.advance(2);
        Ok(Some(Inbound::Request(src.split_to(len).freeze())))
    }
}

impl Encoder<Bytes> for TestCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let len = u16::try_from(item.len())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "too long"))?;
        dst.put_u16(len);
        dst.put_slice(&item);
        Ok(())
    }
}

/// What the test protocol produced, shared with the test.
#[derive(Default)]
pub(super) struct Log {
    /// Sequence number of the next own output (reply, broadcast copy, deferred reply,
    /// error reply, heartbeat); every own output carries one, so order can be checked.
    pub(super) next_own: Cell<u32>,
    /// Bodies of deferred replies, in the order they were deferred.
    pub(super) deferred: RefCell<VecDeque<Bytes>>,
    /// Heartbeats sent from `on_idle`, by kind.
    pub(super) idle: RefCell<Vec<Idle>>,
    /// Reasons passed to `on_close`.
    pub(super) closed: RefCell<Vec<RemovalReason>>,
    /// Welcomes sent by `on_open`.
    pub(super) opened: Cell<u32>,
    /// The path of the WebSocket request `on_open` saw, for each `on_open`.
    pub(super) handshakes: RefCell<Vec<Option<String>>>,
    /// Raw requests answered with themselves by `raw_echo`; also the sequence number
    /// the next one must carry to be answered that way.
    pub(super) raw_echoed: Cell<u32>,
    /// Times `on_timer` was called.
    pub(super) timers: Cell<u32>,
}

impl Log {
    /// The body of the next own output: `o | seq:u32 | pad`.
    pub(super) fn own(&self, pad: usize) -> Bytes {
        let seq = self.next_own.get();
        self.next_own.set(seq + 1);
        let mut body = BytesMut::with_capacity(5 + pad);
        body.put_u8(b'o');
        body.put_u32(seq);
        body.put_bytes(b'.', pad);
        body.freeze()
    }
}

/// The named group the test protocol joins, leaves and publishes to.
pub(super) const GROUP: &str = "g";

/// The user the test protocol authenticates as.
pub(super) const USER: &str = "u";

/// A group [`USER`] may not join (anyone else may).
pub(super) const SECRET: &str = "secret";

/// [`USER`], who may join and publish to [`GROUP`] only.
pub(super) fn user() -> crate::User {
    use crate::identity::{Access, Pattern, Permissions};
    let group = || Pattern::parse(GROUP).expect("a pattern");
    let permissions = Permissions::none()
        .allow(Access::Join, group())
        .allow(Access::Publish, group());
    crate::User::new(USER, permissions)
}

/// The reason of a close with a goodbye.
pub(super) const BYE: RemovalReason = RemovalReason::Application("bye");

/// The longest message the test protocol's group encoder takes.
pub(super) const MAX_GROUP_MESSAGE: usize = 2500;

/// Commands: `r` answered raw with itself (see [`Harness::raw`]), `E` echo, `B`
/// broadcast, `D` deferred reply, `X` bad packet, `N` denial, `C` close, `W` close with a
/// goodbye (reason `bye`), `A` authenticate as [`USER`] (a bad packet if it did
/// already), `T` set the timer to 100 ms per byte of padding, `t` cancel it, `J` join
/// [`GROUP`], `K` join [`SECRET`] and `Q` publish to it (refused once authenticated, the
/// refusal answered), `L` leave [`GROUP`], `P` publish to it (an own output when a
/// member, so that its
/// copy is accounted and ordered like a reply). The bytes after the command are padding
/// that sizes the reply. `on_timer` answers with an own output.
pub(super) struct TestProto {
    pub(super) log: Rc<Log>,
}

impl Protocol for TestProto {
    const NAME: &'static str = "test";
    type Request = Bytes;
    type Response = Bytes;
    type Codec = TestCodec;

    fn codec(&self) -> TestCodec {
        TestCodec
    }

    /// A whole `r | seq:u32 | pad` request carrying the next raw sequence number is
    /// its own answer (another one is an unknown command for `handle`).
    fn raw_echo(&mut self, inbound: &[u8]) -> Option<usize> {
        let len = u16::from_be_bytes([*inbound.first()?, *inbound.get(1)?]) as usize;
        let body = inbound.get(2..2 + len)?;
        let seq = u32::from_be_bytes(body.get(1..5)?.try_into().ok()?);
        if len > MAX_BODY || body[0] != b'r' || seq != self.log.raw_echoed.get() {
            return None;
        }
        self.log.raw_echoed.set(seq + 1);
        Some(2 + len)
    }

    fn handle(&mut self, request: Bytes, out: &mut Outbox<Bytes>) {
        let pad = request.len() - 1;
        match request[0] {
            b'E' => out.reply(self.log.own(pad)),
            b'B' => out.broadcast(self.log.own(pad)),
            b'D' => {
                self.log.deferred.borrow_mut().push_back(self.log.own(pad));
                out.defer(std::future::pending());
            }
            b'C' => out.close(RemovalReason::Closed),
            b'W' => out.close_with(BYE, self.log.own(pad)),
            b'N' => out.deny("denied"),
            b'A' => {
                if out.authenticate(user()).is_err() {
                    out.bad_packet("authenticated already");
                }
            }
            b'T' => out.set_timer(Duration::from_millis(100 * pad as u64)),
            b't' => out.cancel_timer(),
            b'J' => {
                out.join(GROUP);
            }
            b'K' => {
                out.join(SECRET);
            }
            b'Q' if out.is_member(SECRET) && out.may(Access::Publish, SECRET) => {
                out.publish(SECRET, self.log.own(pad))
            }
            // Not a member: no copy comes back; refused, the error reply is an own output.
            b'Q' => out.publish(SECRET, request),
            b'L' => {
                out.leave(GROUP);
            }
            b'P' if out.is_member(GROUP) && out.may(Access::Publish, GROUP) => {
                out.publish(GROUP, self.log.own(pad))
            }
            // Not a member: no copy comes back, so the message is not an own output (a
            // refusal's error reply is one).
            b'P' => out.publish(GROUP, request),
            _ => out.bad_packet("unknown command"),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<Bytes> {
        Some(self.log.own(reason.len()))
    }

    fn on_open(&mut self, out: &mut Outbox<Bytes>) {
        self.log.opened.set(self.log.opened.get() + 1);
        let path = out.handshake().map(|request| request.path().to_owned());
        self.log.handshakes.borrow_mut().push(path);
        out.reply(self.log.own(0));
    }

    fn on_idle(&mut self, idle: Idle, out: &mut Outbox<Bytes>) {
        self.log.idle.borrow_mut().push(idle);
        out.reply(self.log.own(0));
    }

    fn on_close(&mut self, reason: RemovalReason) {
        self.log.closed.borrow_mut().push(reason);
    }

    fn on_timer(&mut self, out: &mut Outbox<Bytes>) {
        self.log.timers.set(self.log.timers.get() + 1);
        out.reply(self.log.own(0));
    }

    /// The test codec's framing around the message; a message over
    /// [`MAX_GROUP_MESSAGE`] bytes cannot be a group message.
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|_, message| {
            if message.len() > MAX_GROUP_MESSAGE {
                return Err("too long for a group message".to_owned());
            }
            let mut packet = BytesMut::new();
            TestCodec
                .encode(Bytes::copy_from_slice(message), &mut packet)
                .map_err(|e| e.to_string())?;
            Ok(packet.freeze())
        }))
    }
}

/// One request on the wire.
pub(super) fn request(command: u8, pad: usize) -> Vec<u8> {
    let mut frame = Vec::with_capacity(3 + pad);
    frame.extend_from_slice(&((1 + pad) as u16).to_be_bytes());
    frame.push(command);
    frame.resize(3 + pad, b'.');
    frame
}

/// An outbox of no switchboard: the core never sends to the supervisor.
pub(super) fn outbox() -> Outbox<Bytes> {
    Outbox::new(
        7,
        "127.0.0.1:9".parse().expect("address"),
        crate::Handle::disconnected(),
    )
}
