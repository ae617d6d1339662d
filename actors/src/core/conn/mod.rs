//! The connection state machine: every decision about one connection, and no I/O.
//!
//! [`Conn`] is a plain struct in the manner of quinn-proto. Events come in through
//! `handle_*` methods, each with the current [`Instant`] (it reads no clock, so every
//! rule is tested without sockets or a runtime); what to do goes out through
//! [`Conn::poll_transmit`] (bytes to write), [`Conn::poll_timeout`] (when to call
//! [`Conn::handle_timeout`] next), [`Conn::wants_read`] and [`Conn::poll_event`]
//! (removal, broadcasts, deferred replies, counters to report, shut the write half,
//! stop). The actor around it only waits for readiness, runs one timer and makes the
//! system calls.
//!
//! Inside: the phase machine (open, closing, lingering, done), one admission rule for
//! every packet, the byte-bounded outbound queue, reply order behind deferred replies,
//! the error-packet count and denials, the read-pause watermarks, the message-rate
//! bucket, the deadlines (write progress, incomplete frame, authentication, the idle
//! kinds, the application's timer) and the close sequence.

mod admission;
mod closing;
mod history;
mod offers;
mod outputs;
mod reading;
mod timeouts;
mod types;
mod websocket;

pub(crate) use types::Outgoing;
pub use types::{Event, Origin, Phase, RunPacket, Transmit};
use websocket::{Echo, Next, WsStage};

use super::back_to_back::{BackToBack, Handout};
use super::budget::BudgetShare;
use super::ledger::Ledger;
use super::outbound::{EncodeRefused, OutboundQueue};
use super::packet_ends::PacketEnds;
use super::rate::Rate;
use super::replies::ReplyOrder;
use super::timers::{Timer, Timers};
use crate::protocol::{Action, Idle, Inbound, Outbox, Protocol, Refusal};
use crate::{
    ConnectionLimits, FailureReason, FileRegion, GroupEncoder, GroupName, Published, RemovalReason,
    SendError, Traffic,
};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio_util::codec::{Decoder, Encoder};

/// One connection's state machine, speaking protocol `P`.
pub struct Conn<P: Protocol> {
    /// The application's handler for this connection.
    protocol: P,
    /// Cuts inbound bytes into packets and encodes outbound ones.
    codec: P::Codec,
    /// Where the handler puts its actions; its allocation is reused.
    outbox: Outbox<P::Response>,
    /// Inbound bytes not yet decoded: exactly what arrived, never what a header
    /// announced; unallocated between packets.
    read_buf: BytesMut,
    /// Encoded packets waiting for the socket.
    queue: OutboundQueue,
    /// What a TLS layer took but has not yet written to the socket; `None` while
    /// everything taken has reached it (always, for plain TCP).
    unconfirmed: Option<Box<Unconfirmed>>,
    /// Replies in request order while deferred ones are outstanding.
    replies: ReplyOrder<Outgoing<P::Response>>,
    /// The broadcasts and publishes of the current event; allocated at the first one
    /// (most connections never broadcast or publish), kept from then on.
    fanout: Option<Box<Fanout>>,
    /// How this protocol writes group messages; asked of the protocol on first use.
    group_encoder: Option<GroupEncoder>,
    /// The history groups it is in: their streams and the replies waiting for them;
    /// allocated at the first join or publish of one.
    history: Option<Box<history::HistoryState<P::Response>>>,
    /// Counters and failure record.
    ledger: Ledger,
    /// Every deadline the connection keeps.
    timers: Timers,
    /// Where the connection is in its life, and once removed, why.
    phase: Phase,
    /// The peer ended its stream (its end was read): a close then has nothing to
    /// linger for once its own end is sent.
    peer_closed: bool,
    /// Reading is paused because the queue passed the high watermark; it resumes below
    /// the low one (Netty's write-buffer watermarks).
    read_paused: bool,
    /// Reading is paused because too many of the bytes this connection published or
    /// broadcast are still on their way to the members (the owner keeps that count).
    publish_paused: bool,
    /// Reading is paused because the peer sent faster than `max_messages_per_s`: the
    /// message-rate bucket is empty until [`Timer::Rate`] falls.
    rate_paused: bool,
    /// What the owner has to do, oldest first.
    events: VecDeque<Event<P::Response>>,
    /// A packet was queued behind another since the counters' last report: the
    /// connection is busy, and keeps its queue's buffers and its action list from one
    /// turn to the next instead of freeing them whenever they empty.
    busy: bool,
    /// The limits this connection enforces.
    limits: Arc<ConnectionLimits>,
    /// `on_open` ran: only then does `on_close`, so a handler sees both or neither.
    opened: bool,
    /// The WebSocket stage, on a WebSocket connection (see `websocket.rs`); boxed, so
    /// that a stream connection pays one pointer.
    ws: Option<Box<WsStage>>,
}

/// What one event asked to hand to the other connections, handed out together after it.
#[derive(Default)]
struct Fanout {
    /// Encoded broadcasts.
    broadcasts: Vec<Bytes>,
    /// Messages published to named groups.
    publishes: Vec<Published>,
}

/// Packets a TLS layer took and has not yet written: only such connections pay for it.
struct Unconfirmed {
    /// Stream offset (as the queue counts it) up to which taken bytes reached the socket.
    confirmed_offset: u64,
    /// Where the packets taken but not yet confirmed end in the stream, oldest first.
    ends: PacketEnds,
}

impl<P: Protocol> Conn<P> {
    /// A connection opened at `now`; `outbox` tells the handler which connection it serves.
    pub fn new(
        protocol: P,
        outbox: Outbox<P::Response>,
        limits: Arc<ConnectionLimits>,
        now: Instant,
    ) -> Self {
        let mut timers = Timers::new(now, &limits.idle);
        if let Some(timeout) = limits.auth_timeout {
            timers.set(Timer::Auth, Some(now + timeout));
        }
        outbox
            .status
            .set_must_authenticate(limits.auth_timeout.is_some());
        Conn {
            codec: protocol.codec(),
            protocol,
            outbox,
            read_buf: BytesMut::new(),
            queue: OutboundQueue::new(limits.queue_limits()),
            unconfirmed: None,
            replies: ReplyOrder::default(),
            fanout: None,
            group_encoder: None,
            history: None,
            ledger: Ledger::new(limits.max_failure_records),
            timers,
            phase: Phase::Open,
            peer_closed: false,
            read_paused: false,
            publish_paused: false,
            rate_paused: false,
            events: VecDeque::new(),
            busy: false,
            limits,
            opened: false,
            ws: None,
        }
    }

    /// This connection's queue charges `share` (of a budget of the bytes queued for
    /// all connections together, see [`budget`](crate::core::budget)) for the bytes it
    /// holds, and refuses what the budget has no room for. For a new connection, before
    /// anything is queued; a connection that queued something already is left as it is.
    pub fn with_outbound_budget(mut self, share: Rc<BudgetShare>) -> Self {
        if self.queue.is_empty() && self.queue.budget().is_none() {
            self.queue = OutboundQueue::with_budget(self.queue.limits(), share);
        }
        self
    }

    /// Where this event's broadcasts and publishes gather.
    fn fanout(&mut self) -> &mut Fanout {
        self.fanout.get_or_insert_with(Box::default)
    }

    // ----- inputs --------------------------------------------------------------------

    /// The connection is ready: runs the protocol's `on_open`.
    pub fn handle_open(&mut self, now: Instant) {
        self.opened = true;
        self.protocol.on_open(&mut self.outbox);
        self.run_actions(now);
        self.settle(now);
    }

    /// A limit refused the connection before it opened (at accept): the protocol's
    /// error reply for `message` is its one packet, and it is removed for `reason`. Its
    /// handler never runs: neither `on_open` nor `on_close`.
    pub fn handle_refused(&mut self, now: Instant, reason: RemovalReason, message: &str) {
        self.last_word(now, message);
        self.begin_close(now, reason);
        self.settle(now);
    }

    /// A TLS handshake has begun: it must finish by `now + tls_handshake_timeout`.
    pub fn handle_handshake_started(&mut self, now: Instant) {
        let deadline = now + self.limits.tls_handshake_timeout;
        self.timers.set(Timer::Handshake, Some(deadline));
    }

    /// The TLS handshake finished.
    pub fn handle_handshake_done(&mut self, now: Instant) {
        self.timers.stop(Timer::Handshake);
        self.settle(now);
    }

    /// The certificate chain the TLS peer presented and the verifier accepted (end
    /// entity first): the handler finds it in [`Outbox::peer_certificates`].
    pub fn set_peer_certificates(
        &mut self,
        chain: Arc<[rustls::pki_types::CertificateDer<'static>]>,
    ) {
        self.outbox.peer_certificates = Some(chain);
    }

    /// Bytes arrived from the peer.
    pub fn handle_read(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.received_bytes(now, data.len());
        if self.phase == Phase::Open {
            self.read_buf.extend_from_slice(data);
            self.decode_all(now);
        }
        self.settle(now);
    }

    /// Bytes arrived from the peer in `buf`, which the connection takes as its read
    /// buffer instead of copying them, when it holds nothing read before (else they are
    /// copied after what it holds). Returns the buffer, emptied, when the connection
    /// keeps nothing of it, for the caller to read into again: its allocation is
    /// reused unless packets split off it are still alive. Packets decoded from it
    /// keep the whole allocation alive, so a caller hands over only a buffer that the
    /// bytes read fill to a good part (the connection actor: a read of at least a
    /// quarter of its 64 KiB buffer; a smaller one goes to
    /// [`handle_read`](Self::handle_read), which copies it).
    pub fn handle_read_buf(&mut self, now: Instant, mut buf: BytesMut) -> Option<BytesMut> {
        if !self.read_buf.is_empty() || buf.is_empty() {
            self.handle_read(now, &buf);
            buf.clear();
            return Some(buf);
        }
        self.received_bytes(now, buf.len());
        let spent = if self.phase == Phase::Open {
            self.read_buf = buf;
            self.decode_all(now)
        } else {
            Some(buf)
        };
        self.settle(now);
        spent.map(|mut buf| {
            buf.clear();
            buf
        })
    }

    /// `n` bytes arrived at `now`: counted, and the peer is not idle.
    fn received_bytes(&mut self, now: Instant, n: usize) {
        self.ledger.received_bytes(n);
        self.timers.received(now, &self.limits.idle);
    }

    /// The peer closed its side.
    pub fn handle_eof(&mut self, now: Instant) {
        self.peer_closed = true;
        match self.phase {
            Phase::Open => self.begin_close(now, RemovalReason::PeerClosed),
            Phase::Lingering(reason) => self.finish(reason),
            Phase::Closing(_) | Phase::Done(_) => {}
        }
        self.settle(now);
    }

    /// The socket or the TLS layer failed: remove for `reason`, recording what is
    /// queued as failed with `failure`.
    pub fn handle_failure(&mut self, now: Instant, reason: RemovalReason, failure: FailureReason) {
        self.abort(now, reason, failure);
        self.settle(now);
    }

    /// The transport took `taken` more bytes of what [`poll_transmit`](Self::poll_transmit)
    /// offered, and `confirmed` more bytes reached the socket (equal for plain TCP; a TLS
    /// layer confirms once the records holding them are written).
    pub fn handle_written(&mut self, now: Instant, taken: usize, confirmed: usize) {
        if taken > 0 {
            let limits = &self.limits;
            self.timers.wrote(now, limits.write_timeout, &limits.idle);
        }
        if taken == confirmed && self.unconfirmed.is_none() {
            // Plain TCP: what the socket took has reached it.
            let packets = self.queue.advance(taken);
            self.ledger.sent(taken, packets);
            if !self.busy {
                // Freed at once: thousands of mostly idle connections must not each keep
                // buffers between their rare packets.
                self.queue.release_if_empty();
            }
        } else {
            let written = self.queue.written_offset();
            let pending = self.unconfirmed.get_or_insert_with(|| {
                Box::new(Unconfirmed {
                    confirmed_offset: written,
                    ends: PacketEnds::default(),
                })
            });
            self.queue.advance_into(taken, Some(&mut pending.ends));
            self.confirm(confirmed);
            if !self.busy {
                self.queue.release_if_empty();
            }
        }
        self.settle(now);
    }

    /// The owner's count of bytes this connection published or broadcast and that are
    /// not yet handed to the members passed the limit (`exhausted`), or came back under
    /// it: reading pauses until then.
    pub fn handle_publish_credit(&mut self, now: Instant, exhausted: bool) {
        self.publish_paused = exhausted;
        self.settle(now);
    }

    /// Whether reading is paused for publish credit.
    pub fn publish_paused(&self) -> bool {
        self.publish_paused
    }

    /// Whether the connection is in the named group, as of the actions carried out so
    /// far: a group message arriving after it left is not for it any more.
    pub fn is_member(&self, group: &str) -> bool {
        self.outbox.is_member(group)
    }

    /// A deferred reply is ready: `reply` fills slot `seq` of
    /// [`Event::Defer`](Event::Defer).
    pub fn handle_deferred(&mut self, now: Instant, seq: u64, reply: P::Response) {
        self.replies.fill(seq, Outgoing::Response(reply));
        self.release_ready(now);
        self.resume_decoding(now);
        self.settle(now);
    }

    /// After deferred replies were filled (by the application, or by a history group's
    /// sequencer): the requests already read but held back by `max_deferred` go on.
    /// Their bytes are in the read buffer, so no readiness of the socket would bring
    /// them back.
    pub(super) fn resume_decoding(&mut self, now: Instant) {
        if self.phase == Phase::Open && !self.read_buf.is_empty() && !self.replies_full() {
            self.decode_all(now);
        }
    }

    /// Whether the requests read must wait for replies before more are handled:
    /// `max_deferred` deferred replies are outstanding, or the connection's own
    /// messages to history groups awaiting their numbered copies pass
    /// `max_publish_in_flight`, each counted at `ENTRY_OVERHEAD` bytes (they are
    /// publishes in flight; a member may pipeline its publishes as a non-member does).
    pub(super) fn replies_full(&self) -> bool {
        self.replies.outstanding() >= self.limits.max_deferred
            || self
                .replies
                .awaited()
                .saturating_mul(crate::history::ENTRY_OVERHEAD)
                > self.limits.max_publish_in_flight
    }

    /// Someone asked the connection to close for `reason`.
    pub fn close(&mut self, now: Instant, reason: RemovalReason) {
        self.begin_close(now, reason);
        self.settle(now);
    }

    /// Someone asked the connection to close for `reason`, with the protocol's error
    /// reply for `message` as its last word (if it is still open).
    pub fn close_with_error(&mut self, now: Instant, reason: RemovalReason, message: &str) {
        if self.phase == Phase::Open {
            self.last_word(now, message);
        }
        self.close(now, reason);
    }

    /// The owner is going away without a close (its thread stops): everything still
    /// queued or held is recorded as failed.
    pub fn handle_stopped(&mut self, now: Instant) {
        let reason = self.phase.removal().unwrap_or(RemovalReason::Shutdown);
        self.abort(now, reason, FailureReason::Removed(reason));
        self.settle(now);
    }
}

/// What the core's own tests look at inside.
#[cfg(test)]
impl<P: Protocol> Conn<P> {
    /// Reply slots in use: outstanding deferred replies and the replies held behind them.
    pub(super) fn held_replies(&self) -> usize {
        self.replies.slots()
    }

    /// Deferred replies not filled yet.
    pub(super) fn outstanding_replies(&self) -> usize {
        self.replies.outstanding()
    }

    /// When `timer` falls, if it is armed.
    pub(crate) fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// Whether reading is paused for the message rate.
    pub(crate) fn rate_paused(&self) -> bool {
        self.rate_paused
    }

    /// The user the handler authenticated the connection as.
    pub(crate) fn outbox_user(&self) -> Option<&crate::User> {
        self.outbox.user()
    }

    /// Packets queued or taken by the transport and not yet confirmed.
    pub(super) fn packets_on_the_way(&self) -> usize {
        self.queue.len_packets() + self.unconfirmed.as_ref().map_or(0, |u| u.ends.len())
    }

    /// Heap bytes kept between turns for reuse (action list, event list, queue buffers).
    pub(super) fn retained_capacity(&self) -> usize {
        use std::mem::size_of;
        self.outbox.actions.capacity() * size_of::<Action<P::Response>>()
            + self.events.capacity() * size_of::<Event<P::Response>>()
            + self.queue.retained_capacity()
    }
}
