//! What the connection does with bytes that arrived: cut them into packets with the
//! protocol's codec (as fast as the message rate allows), hand each request to the
//! handler, and carry out the actions it asked for (reply, broadcast, publish, defer,
//! join, leave, count a bad packet or a denial, authenticate, set the timer, close).

use super::*;
use crate::websocket::MAX_SERVER_HEADER;
use bytes::Buf;

/// A read buffer of at most this many bytes is kept as it is, however little of it is
/// used.
const COMPACT_BELOW: usize = 4096;

impl<P: Protocol> Conn<P> {
    // ----- reading -------------------------------------------------------------------

    /// Decodes and handles what the read buffer holds, as far as the limits allow;
    /// returns the buffer it let go of (emptied, or replaced by a smaller one for what
    /// is left), if it let go of one.
    pub(super) fn decode_all(&mut self, now: Instant) -> Option<BytesMut> {
        let before = self.read_buf.len();
        let mut decoded = false;
        let mut held = false;
        while self.phase == Phase::Open {
            if self.replies_full() {
                // Requests already read wait here until a deferred reply is ready: one
                // read must not start more than `max_deferred` of them.
                held = true;
                break;
            }
            if !self.has_token(now) {
                // Over the message rate: what was read waits for the bucket.
                held = true;
                break;
            }
            // The protocol's answer to `raw_echo`, when the message's reading asked it.
            let mut asked = None;
            if self.ws.is_some() {
                // One message is one packet: it becomes the codec's input.
                match self.next_message(now) {
                    Next::Packet => {}
                    Next::Asked(answer) => asked = Some(answer),
                    Next::Handled => {
                        decoded = true;
                        continue;
                    }
                    Next::Nothing => break,
                }
            }
            let input = match self.ws.as_mut() {
                Some(ws) => ws.input(),
                None => &mut self.read_buf,
            };
            let raw = match asked {
                Some(answer) => answer,
                None => self.protocol.raw_echo(input),
            };
            if let Some(n) = raw {
                if n > 0 && n <= input.len() {
                    decoded = true;
                    self.received_packet(now);
                    self.echo_front(now, n);
                    self.message_done(now);
                    continue;
                }
            }
            match self.codec.decode(input) {
                Ok(Some(Inbound::Request(request))) => {
                    decoded = true;
                    self.received_packet(now);
                    self.protocol.handle(request, &mut self.outbox);
                    self.run_actions(now);
                    self.message_done(now);
                }
                Ok(Some(Inbound::Bad(reason))) => {
                    decoded = true;
                    self.received_packet(now);
                    self.bad_packet(now, &reason);
                    self.message_done(now);
                }
                Ok(None) if self.ws.is_some() => {
                    // A message the codec does not read as a whole packet.
                    decoded = true;
                    self.received_packet(now);
                    self.message_done(now);
                }
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be trusted any more: one error packet, the error
                    // reply, and removal at once.
                    self.received_packet(now);
                    self.ledger.error_packet();
                    let reason = e.to_string();
                    tracing::debug!("framing error: {reason}");
                    self.last_word(now, &reason);
                    self.read_buf = BytesMut::new();
                    self.begin_close(now, RemovalReason::ErrorPackets);
                }
            }
        }
        self.release_message_buffer();
        if (self.read_buf.is_empty() && !self.mid_message()) || self.phase != Phase::Open {
            let spent = std::mem::take(&mut self.read_buf);
            if !self.busy {
                // Nothing left to decode: a quiet connection keeps no action list.
                self.outbox.actions = Vec::new();
            }
            self.timers.stop(Timer::Frame);
            Some(spent)
        } else {
            let spent = self.compact_read_buffer(before);
            if held {
                // What is left waits for us, not for the peer: no frame deadline.
                self.timers.stop(Timer::Frame);
            } else if decoded || !self.timers.is_set(Timer::Frame) {
                // What is left began in the bytes that just arrived.
                let deadline = now + self.limits.frame_timeout;
                self.timers.set(Timer::Frame, Some(deadline));
            }
            spent
        }
    }

    /// What is left of a read (an incomplete packet, or packets waiting for the rate
    /// or a deferred reply) moves to a buffer of its own size when it is a small part
    /// of the read's: a connection keeps what it needs, not the allocation of the
    /// largest read it had (nor, through it, the packets split off it).
    ///
    /// `before` is what the buffer held before this pass: what is left lies in an
    /// allocation at least that large (the buffer's own capacity does not show the
    /// part of it that was taken off the front, or split off and still shared).
    /// Returns the buffer it let go of.
    fn compact_read_buffer(&mut self, before: usize) -> Option<BytesMut> {
        let len = self.read_buf.len();
        let allocation = before.max(self.read_buf.capacity());
        if allocation > len.saturating_mul(4).max(COMPACT_BELOW) {
            let compact = BytesMut::from(&self.read_buf[..]);
            return Some(std::mem::replace(&mut self.read_buf, compact));
        }
        None
    }

    /// Whether the message-rate bucket has a token at `now`; if not, reading pauses
    /// until it has one ([`Timer::Rate`]).
    fn has_token(&mut self, now: Instant) -> bool {
        let Some(rate) = Rate::of(&self.limits) else {
            return true;
        };
        let next = rate.next_token(self.timers.bucket_full(), self.timers.born());
        if next <= now {
            return true;
        }
        self.rate_paused = true;
        self.timers.set(Timer::Rate, Some(next));
        false
    }

    /// One packet was decoded at `now`: counted, and a token taken from the
    /// message-rate bucket.
    pub(super) fn received_packet(&mut self, now: Instant) {
        self.ledger.received_packet();
        if let Some(rate) = Rate::of(&self.limits) {
            let full = rate.take(self.timers.bucket_full(), now);
            self.timers.set_bucket_full(full);
        }
    }

    /// Answers the first `n` inbound bytes with themselves (see
    /// [`Protocol::raw_echo`]), through the one admission rule like any reply. A packet
    /// is copied from the read buffer into the queue's tail, unless it is large and at
    /// least half of the read buffer's allocation: then it is split off without a copy
    /// (it keeps that allocation alive until written, so the memory held stays within
    /// twice what the queue counts).
    fn echo_front(&mut self, now: Instant, n: usize) {
        if let Some(ws) = self.ws.as_mut() {
            // The echo of a message is a message.
            if self.replies.is_clear() {
                return self.echo_message(now, Echo::Input(n));
            }
            let packet = ws.input().split_to(n).freeze();
            return self.send_own_copy(now, packet);
        }
        let whole = n >= self.queue.limits().coalesce_below
            && n.saturating_mul(2) >= self.read_buf.capacity();
        if whole || !self.replies.is_clear() {
            let packet = if whole {
                self.read_buf.split_to(n).freeze()
            } else {
                let packet = Bytes::copy_from_slice(&self.read_buf[..n]);
                self.read_buf.advance(n);
                packet
            };
            return self.send_in_order(now, Outgoing::Packet(packet));
        }
        if self.check_open(now, Origin::Own, n).is_err() {
            self.read_buf.advance(n);
            return;
        }
        let was_empty = self.queue.is_empty();
        let pushed = self.queue.push_slice(&self.read_buf[..n]);
        self.read_buf.advance(n);
        // A refusal is recorded where it happens; a reply has no caller to tell.
        let _ = self.conclude(now, was_empty, pushed.map_err(SendError::from), n);
    }

    /// Echoes a packet of a WebSocket connection as one message framed straight into
    /// the queue's tail: one copy, where framing the packet apart and queueing the
    /// frame took two more and an allocation. Nothing may be held before it (the
    /// caller checked that the replies are clear).
    pub(super) fn echo_message(&mut self, now: Instant, echo: Echo) {
        let Some(framing) = self.framing() else {
            return;
        };
        let (n, taken) = match echo {
            Echo::Input(n) => (n, n),
            Echo::InPlace {
                header,
                prefix,
                len,
            } => (prefix + len, header + len),
        };
        let open = self.check_open(now, Origin::Own, n);
        let Some(ws) = self.ws.as_mut() else {
            return;
        };
        let source = match echo {
            Echo::Input(_) => ws.input(),
            Echo::InPlace { .. } => &mut self.read_buf,
        };
        if open.is_err() {
            source.advance(taken);
            return;
        }
        let was_empty = self.queue.is_empty();
        // At most a header more than the payload (the packet, for `Input`).
        let expected = n + MAX_SERVER_HEADER;
        let result = self
            .queue
            .encode_with(expected, |buf: &mut BytesMut| match echo {
                Echo::Input(n) => framing.frame_into(&source[..n], buf),
                Echo::InPlace { header, len, .. } => {
                    framing.frame_payload(&source[header..header + len], buf)
                }
            });
        source.advance(taken);
        let (outcome, size) = match result {
            Ok(size) => (Ok(()), size),
            Err(EncodeRefused::Encode(e)) => {
                tracing::debug!("packet not sendable as a message: {e}");
                (Err(SendError::Encode(e)), n)
            }
            Err(EncodeRefused::OverBudget(over)) => (Err(over.into()), over.packet),
        };
        let _ = self.conclude(now, was_empty, outcome, size);
    }

    pub(super) fn run_actions(&mut self, now: Instant) {
        // Reuse the action list's allocation from one request to the next.
        let mut actions = std::mem::take(&mut self.outbox.actions);
        for action in actions.drain(..) {
            self.act(now, action);
        }
        self.outbox.actions = actions;
    }

    pub(super) fn act(&mut self, now: Instant, action: Action<P::Response>) {
        match action {
            Action::Reply(response) => self.send_in_order(now, Outgoing::Response(response)),
            Action::Broadcast(response) => self.broadcast(now, response),
            Action::Defer(reply) => {
                // A deferred reply may read shared figures (a stats snapshot): report ours first.
                self.report();
                let seq = self.replies.defer();
                self.events.push_back(Event::Defer { seq, reply });
            }
            Action::SendFile(region) => self.send_in_order(now, Outgoing::File(region)),
            Action::Bad(reason) => self.bad_packet(now, &reason),
            Action::Deny(reason) => {
                self.ledger.denied();
                self.last_word(now, &reason);
            }
            Action::Close(reason) => self.begin_close(now, reason),
            Action::CloseWith(reason, last) => {
                self.send_in_order(now, Outgoing::Response(last));
                self.begin_close(now, reason);
            }
            Action::CloseWithError(reason, message) => {
                self.last_word(now, &message);
                self.begin_close(now, reason);
            }
            Action::Authenticate(user) => {
                self.timers.stop(Timer::Auth);
                self.events.push_back(Event::Authenticated(user));
            }
            Action::SetTimer(after) => {
                if self.phase == Phase::Open {
                    let at = after.map(|after| now + after);
                    self.timers.set(Timer::Application, at);
                }
            }
            Action::Join(group) if self.is_history(group.as_str()) => {
                self.history_join(group, None, true, None);
            }
            Action::Join(group) => {
                let encoder = self.group_encoder();
                self.events.push_back(Event::Join(group, encoder));
            }
            Action::JoinFrom {
                group,
                from,
                new_member,
                reply,
            } => {
                if self.is_history(group.as_str()) {
                    return self.history_join(group, from, new_member, Some(reply));
                }
                if new_member {
                    let encoder = self.group_encoder();
                    self.events.push_back(Event::Join(group.clone(), encoder));
                }
                let joined = crate::history::Joined {
                    group,
                    history: None,
                };
                self.send_in_order(now, Outgoing::Response(reply(&joined)));
            }
            Action::Leave(group) => {
                if self.is_history(group.as_str()) {
                    self.history_leave(now, &group);
                }
                self.events.push_back(Event::Leave(group));
            }
            Action::Publish {
                group,
                message,
                member,
            } if self.is_history(group.as_str()) => {
                self.history_publish(now, group, message, member)
            }
            Action::Publish {
                group,
                message,
                member,
            } => self.publish(now, group, message, member),
        }
    }

    /// Publishes to a named group: a member's own copy is encoded here and joins its
    /// queue in order with its replies (an encode failure is its send failure); the
    /// message goes to the other members after this event, with that encoding for the
    /// members of this protocol.
    pub(super) fn publish(&mut self, now: Instant, group: GroupName, message: Bytes, member: bool) {
        let encoded = member.then(|| {
            let encoder = self.group_encoder();
            encoder.encode_from(&group, &message, self.outbox.user())
        });
        match &encoded {
            Some(Ok(packet)) => self.send_own_copy(now, packet.clone()),
            Some(Err(e)) => {
                tracing::debug!("group message not encodable for {}: {e}", P::NAME);
                let refusal = SendError::Encode(e.clone());
                self.ledger.refused(now, FailureReason::Refused(refusal), 0);
            }
            None => {}
        }
        self.fanout().publishes.push(Published {
            group,
            message,
            encoded,
        });
    }

    pub(super) fn bad_packet(&mut self, now: Instant, reason: &str) {
        let count = self.ledger.error_packet();
        self.last_word(now, reason);
        if count >= self.limits.max_error_packets {
            self.begin_close(now, RemovalReason::ErrorPackets);
        }
    }

    /// Queues the protocol's error reply for `reason`, in order with the other replies.
    pub(super) fn last_word(&mut self, now: Instant, reason: &str) {
        if let Some(reply) = self.protocol.error_reply(reason) {
            self.send_in_order(now, Outgoing::Response(reply));
        }
    }

    /// Queues the connection's own copy of an encoded packet (an echo, its broadcast or
    /// group copy) in order with its replies: framed as a message on a WebSocket,
    /// where a packet that cannot be one message is a send failure.
    fn send_own_copy(&mut self, now: Instant, packet: Bytes) {
        let size = packet.len();
        match self.own_copy(packet) {
            Ok(packet) => self.send_in_order(now, Outgoing::Packet(packet)),
            Err(refusal) => {
                tracing::debug!("packet not sendable as a message: {refusal}");
                self.ledger
                    .refused(now, FailureReason::Refused(refusal), size);
            }
        }
    }

    /// Encodes a broadcast once: this connection's copy joins its own queue in order
    /// with its replies, and the same bytes go to the others after this event.
    pub(super) fn broadcast(&mut self, now: Instant, response: P::Response) {
        let mut buf = BytesMut::new();
        match self.codec.encode(response, &mut buf) {
            Ok(()) => {
                let packet = buf.freeze();
                self.fanout().broadcasts.push(packet.clone());
                self.send_own_copy(now, packet);
            }
            Err(e) => {
                tracing::warn!("broadcast encode failed: {e}");
                let refusal = SendError::Encode(e.to_string());
                self.ledger.refused(now, FailureReason::Refused(refusal), 0);
            }
        }
    }
}
