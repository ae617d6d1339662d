//! The WebSocket stage of a connection's core: after the handshake (which the
//! transport carries out), the client's frames are read into messages, each message
//! becomes one packet for the protocol's codec, and everything the connection queues
//! goes out as one message (framed where it is made: replies as they are encoded, its
//! own broadcast and group copies, raw echoes; deliveries from its hub come framed).
//!
//! The stage also owns what RFC 6455 adds to the connection's rules: a Ping is
//! answered with a Pong, the heartbeat is a Ping, a violation closes with its code
//! (1002, 1007, 1009: an error packet, removal as `error_packets`), the client's Close
//! is answered with the same code (removal as `peer_closed`), and a connection the
//! server removes gets a Close frame after its last replies, with a code for its
//! reason and the reason as text. One removed before its handshake finished gets no
//! Close: nothing could be written to it, so it is aborted.

use super::*;
use crate::config::WebSocketConfig;
use crate::websocket::{
    close_frame, ping_frame, pong_frame, Arrival, CloseCode, Framing, Incoming, MessageKind,
    MessageReader, PeerClose, Request,
};
use bytes::Buf;

/// A connection's WebSocket state; only WebSocket connections have one.
pub(crate) struct WsStage {
    /// Reads the client's frames into messages, once the handshake is done.
    reader: MessageReader,
    /// How packets go out as messages (and how messages map to packets).
    framing: Framing,
    /// The listener's configuration, shared by its connections.
    config: Arc<WebSocketConfig>,
    /// The codec's input for the message being handled: the message with what the
    /// mapping adds (split off the read buffer when that could be made in place, a
    /// copy otherwise); empty between messages.
    packet: BytesMut,
    /// The handshake finished: frames flow, and a removal gets a Close frame.
    open: bool,
    /// The close code what the client did calls for (1009 for an oversize message,
    /// 1002 or 1007 for a violation); otherwise the removal reason decides.
    code: Option<CloseCode>,
    /// The client's Close, to be answered with its code.
    peer_close: Option<PeerClose>,
    /// A Close frame was queued (the server's, or the answer to the client's): no
    /// frame may follow it.
    close_sent: bool,
}

impl WsStage {
    /// The codec's input for the message being handled.
    pub(super) fn input(&mut self) -> &mut BytesMut {
        &mut self.packet
    }
}

/// What the next message from the client came to.
pub(super) enum Next {
    /// A packet for the codec is in the stage's buffer.
    Packet,
    /// A packet for the codec is in the stage's buffer, and the protocol was asked
    /// already whether it is a raw echo: its answer.
    Asked(Option<usize>),
    /// Something was handled (a control frame, a bad message): look again.
    Handled,
    /// Nothing whole has arrived.
    Nothing,
}

/// Where the packet a WebSocket connection echoes is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Echo {
    /// The first `n` bytes of the codec's input: a packet, with what the mapping added.
    Input(usize),
    /// A message left in the read buffer: its payload is `len` bytes after `header`
    /// bytes at the buffer's front; the packet the codec would read is `prefix` bytes
    /// longer (what the mapping adds, written over the header's end).
    InPlace {
        header: usize,
        prefix: usize,
        len: usize,
    },
}

/// The close code a removal for `reason` is announced with: 1008 (policy) for the
/// reasons that are the client's fault or the server's policy, 1001 (going away) for
/// a shutdown, 1000 otherwise.
pub(crate) fn close_code(reason: RemovalReason) -> CloseCode {
    match reason {
        RemovalReason::Unauthorized
        | RemovalReason::AuthTimeout
        | RemovalReason::TokenExpired
        | RemovalReason::Kicked
        | RemovalReason::IpLimit
        | RemovalReason::UserLimit
        | RemovalReason::ErrorPackets => CloseCode::POLICY,
        RemovalReason::Shutdown => CloseCode::GOING_AWAY,
        _ => CloseCode::NORMAL,
    }
}

/// Encodes `response` with `codec` at the end of `buf`, framed as one message when
/// the connection is a WebSocket (`framing`).
pub(super) fn encode_framed<R, C: Encoder<R>>(
    codec: &mut C,
    response: R,
    buf: &mut BytesMut,
    framing: Option<Framing>,
) -> Result<(), String>
where
    C::Error: std::fmt::Display,
{
    let start = buf.len();
    codec.encode(response, buf).map_err(|e| e.to_string())?;
    match framing {
        Some(framing) => framing.frame_in_place(buf, start),
        None => Ok(()),
    }
}

impl<P: Protocol> Conn<P> {
    /// Makes this a WebSocket connection under `config`, whose transport is carrying
    /// out the handshake: it must finish within `config.handshake_timeout` of `now`.
    /// Until [`handle_upgraded`](Self::handle_upgraded), nothing is decoded and the
    /// protocol hears nothing (not even `on_open`); packets offered meanwhile wait in
    /// the queue for the handshake's response to go first.
    pub fn with_websocket(mut self, config: Arc<WebSocketConfig>, now: Instant) -> Self {
        let deadline = now + config.handshake_timeout;
        self.timers.set(Timer::WsHandshake, Some(deadline));
        self.ws = Some(Box::new(WsStage {
            reader: MessageReader::new(config.max_message, Some(config.kind)),
            framing: config.framing(),
            config,
            packet: BytesMut::new(),
            open: false,
            code: None,
            peer_close: None,
            close_sent: false,
        }));
        self
    }

    /// The WebSocket handshake finished with `request`: the connection opens, and
    /// `on_open` runs with the request at hand ([`Outbox::handshake`]), then whatever
    /// arrived after it is read.
    pub fn handle_upgraded(&mut self, now: Instant, request: Request) {
        self.timers.stop(Timer::WsHandshake);
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        if ws.open || self.phase != Phase::Open {
            return;
        }
        ws.open = true;
        self.opened = true;
        self.outbox.request = Some(Box::new(request));
        self.protocol.on_open(&mut self.outbox);
        self.outbox.request = None;
        self.run_actions(now);
        if !self.read_buf.is_empty() {
            self.decode_all(now);
        }
        self.settle(now);
    }

    /// Whether this is a WebSocket connection whose handshake has not finished.
    pub fn is_upgrading(&self) -> bool {
        self.ws.as_ref().is_some_and(|ws| !ws.open)
    }

    /// The framing of a WebSocket connection's messages.
    pub(super) fn framing(&self) -> Option<Framing> {
        self.ws.as_ref().map(|ws| ws.framing)
    }

    /// The connection's own copy of an encoded `packet` (a broadcast, a group
    /// message, an echo): the packet itself, or its message frame on a WebSocket.
    pub(super) fn own_copy(&self, packet: Bytes) -> Result<Bytes, SendError> {
        match self.framing() {
            None => Ok(packet),
            Some(framing) => framing.frame(&packet).map_err(SendError::Encode),
        }
    }

    /// Offers a packet in the protocol's own encoding, from outside the hubs (a
    /// broadcast the application waits on, a relay): as [`deliver`](Self::deliver) on a
    /// stream; framed as one message first on a WebSocket, where a packet that cannot
    /// be one is refused and recorded.
    pub fn deliver_encoded(
        &mut self,
        now: Instant,
        packet: Bytes,
        origin: Origin,
    ) -> Result<(), SendError> {
        if self.ws.is_none() {
            return self.deliver(now, packet, origin);
        }
        let size = packet.len();
        let framed = self.own_copy(packet);
        let result = match framed {
            Ok(framed) => self.admit(now, origin, Outgoing::Packet(framed)),
            Err(refusal) if !self.phase.is_done() => Err(self.refuse(now, refusal, size)),
            Err(refusal) => Err(refusal),
        };
        self.settle(now);
        result
    }

    /// [`deliver_all`](Self::deliver_all) for packets in the protocol's own encoding,
    /// framed first on a WebSocket (see [`deliver_encoded`](Self::deliver_encoded)).
    pub fn deliver_all_encoded<T: RunPacket>(
        &mut self,
        now: Instant,
        packets: &[T],
        origin: Origin,
    ) -> usize {
        if self.ws.is_none() {
            return self.deliver_all(now, packets, origin);
        }
        let framed: Vec<Result<Bytes, SendError>> = packets
            .iter()
            .map(|p| match p.packet() {
                Ok(packet) => self.own_copy(packet.clone()),
                Err(refusal) => Err(refusal.clone()),
            })
            .collect();
        self.deliver_all(now, &framed, origin)
    }

    /// Whether the fragments of a message have begun and not ended (the incomplete
    /// packet the frame deadline watches, besides what waits in the read buffer).
    pub(super) fn mid_message(&self) -> bool {
        self.ws
            .as_ref()
            .is_some_and(|ws| ws.reader.is_mid_message())
    }

    /// Reads the client's next message into the stage's buffer as one packet for the
    /// codec, answering control frames and handling bad messages and violations on
    /// the way. A message in one frame is read where it arrived: when what the mapping
    /// adds is a prefix, it is written over the frame's header, and a raw echo is
    /// answered straight from there.
    pub(super) fn next_message(&mut self, now: Instant) -> Next {
        let read = match self.ws.as_mut() {
            // Bytes that came with the handshake wait for `on_open`.
            Some(ws) if ws.open => ws.reader.read_in_place(&mut self.read_buf),
            _ => return Next::Nothing,
        };
        let incoming = match read {
            Ok(None) => return Next::Nothing,
            Ok(Some(Arrival::InPlace { header, len, .. })) => {
                return self.message_in_place(now, header, len)
            }
            Ok(Some(Arrival::Owned(incoming))) => incoming,
            Err(violation) => {
                tracing::debug!("websocket violation: {violation}");
                // One error packet, and removal; an oversize message is answered
                // first, like an oversize packet on a stream.
                self.received_packet(now);
                self.ledger.error_packet();
                let code = violation.code();
                if let Some(ws) = self.ws.as_mut() {
                    ws.code.get_or_insert(code);
                }
                if code == CloseCode::TOO_BIG {
                    let reason = self.ws_config().map(|c| c.oversize_reason.clone());
                    self.last_word(now, reason.as_deref().unwrap_or("message too big"));
                }
                self.begin_close(now, RemovalReason::ErrorPackets);
                return Next::Handled;
            }
        };
        match incoming {
            Incoming::Message(message) => {
                let mapped = match self.ws.as_mut() {
                    Some(ws) => ws
                        .framing
                        .mapping
                        .to_codec(&message.payload, &mut ws.packet),
                    None => Ok(()),
                };
                self.mapped(now, mapped)
            }
            Incoming::WrongKind(kind) => {
                self.received_packet(now);
                self.bad_packet(
                    now,
                    match kind {
                        MessageKind::Text => "text message where binary is expected",
                        MessageKind::Binary => "binary message where text is expected",
                    },
                );
                Next::Handled
            }
            Incoming::Ping(payload) => {
                let pong = pong_frame(&payload);
                let _ = self.admit(now, Origin::Own, Outgoing::Packet(pong));
                Next::Handled
            }
            Incoming::Pong(_) => Next::Handled,
            Incoming::Close(close) => {
                // Answered with its code once the last replies are queued (see
                // `ws_close_frame`): nothing may follow the answer.
                if let Some(ws) = self.ws.as_mut() {
                    ws.peer_close = Some(close);
                }
                self.begin_close(now, RemovalReason::PeerClosed);
                Next::Handled
            }
        }
    }

    /// A message of `len` bytes after `header` bytes at the read buffer's front: the
    /// codec's input made where it is (the prefix written over the header's end), or
    /// copied with what the mapping adds when that is not a prefix that fits. With
    /// nothing held before it, a whole raw echo is answered from the payload in place.
    fn message_in_place(&mut self, now: Instant, header: usize, len: usize) -> Next {
        let Some(ws) = self.ws.as_mut() else {
            return Next::Nothing;
        };
        let mapping = ws.framing.mapping;
        let Some(prefix) = mapping.prefix_in_place(len, &mut self.read_buf[..header]) else {
            let mapped = mapping.to_codec(&self.read_buf[header..header + len], &mut ws.packet);
            self.read_buf.advance(header + len);
            return self.mapped(now, mapped);
        };
        let start = header - prefix;
        let n = prefix + len;
        let mut asked = None;
        if self.replies.is_clear() {
            let answer = self.protocol.raw_echo(&self.read_buf[start..start + n]);
            if answer == Some(n) {
                self.received_packet(now);
                self.echo_message(
                    now,
                    Echo::InPlace {
                        header,
                        prefix,
                        len,
                    },
                );
                return Next::Handled;
            }
            asked = Some(answer);
        }
        self.read_buf.advance(start);
        if let Some(ws) = self.ws.as_mut() {
            ws.packet = self.read_buf.split_to(n);
        }
        match asked {
            Some(answer) => Next::Asked(answer),
            None => Next::Packet,
        }
    }

    /// The codec's input was made for a message (`Ok`), or the message cannot be one
    /// packet: an error packet with the mapping's reason.
    fn mapped(&mut self, now: Instant, mapped: Result<(), &'static str>) -> Next {
        if let Err(reason) = mapped {
            if let Some(ws) = self.ws.as_mut() {
                ws.packet.clear();
            }
            self.received_packet(now);
            self.bad_packet(now, reason);
            return Next::Handled;
        }
        Next::Packet
    }

    /// After a packet was decoded from the stage's buffer: what the codec left there
    /// (a message holding more than one packet, or less than one) is an error packet.
    pub(super) fn message_done(&mut self, now: Instant) {
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        if ws.packet.is_empty() {
            return;
        }
        ws.packet.clear();
        self.bad_packet(now, "message is not exactly one packet");
    }

    /// After a read's messages: the buffer of the codec's input goes, if it is empty
    /// (a quiet connection keeps none; a burst reuses it within one read).
    pub(super) fn release_message_buffer(&mut self) {
        if let Some(ws) = self.ws.as_mut() {
            if ws.packet.is_empty() && ws.packet.capacity() > 0 {
                ws.packet = BytesMut::new();
            }
        }
    }

    /// The listener's configuration, on a WebSocket connection.
    fn ws_config(&self) -> Option<&WebSocketConfig> {
        self.ws.as_ref().map(|ws| &*ws.config)
    }

    /// The heartbeat of a WebSocket connection whose configuration asks for Pings: a
    /// Ping control frame. Answers whether the read-idle period was taken care of
    /// (the protocol's `on_idle` is then not called).
    pub(super) fn ws_heartbeat(&mut self, now: Instant) -> bool {
        let Some(ws) = self.ws.as_ref() else {
            return false;
        };
        if !ws.config.ping_on_read_idle {
            return false;
        }
        if ws.open && !ws.close_sent {
            let ping = ping_frame(b"");
            let _ = self.admit(now, Origin::Own, Outgoing::Packet(ping));
        }
        true
    }

    /// While closing, once its last replies are queued: the Close frame goes after
    /// them, with the code the client's doing or the removal reason calls for and the
    /// reason as text (once, and only after a finished handshake).
    pub(super) fn ws_close_frame(&mut self, now: Instant, reason: RemovalReason) {
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        if !ws.open || ws.close_sent {
            return;
        }
        ws.close_sent = true;
        let frame = match &ws.peer_close {
            Some(close) => close.answer(),
            None => close_frame(
                ws.code.unwrap_or_else(|| close_code(reason)),
                reason.as_str(),
            ),
        };
        let _ = self.admit(now, Origin::Own, Outgoing::Packet(frame));
    }
}
