//! The connection core driven directly: no socket, no runtime, no clock.
//!
//! A small test protocol (a `u16` length prefix, one command byte) and a fake socket
//! that takes as many bytes as a test allows. Deterministic tests pin each rule; a
//! property test runs random sequences of reads (joins, leaves and publishes to a named
//! group among them), deliveries, group encode failures, partial writes, TLS
//! confirmations, timer firings and closes, and checks the accounting invariants after
//! every step.

use super::budget::{BudgetShare, OutboundBudget};
use super::{Conn, Event, Origin, Phase, Transmit};
use crate::protocol::{Idle, Inbound, Outbox, Protocol};
use crate::{
    ConnectionLimits, FailureReason, GroupEncoder, GroupName, IdleLimits, Published, RemovalReason,
    SendError, Traffic,
};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::codec::{Decoder, Encoder};

use protocol::*;

// ----- the harness -----------------------------------------------------------------------

/// A connection core with a fake socket and a hand-moved clock.
struct Harness {
    conn: Conn<TestProto>,
    log: Rc<Log>,
    now: Instant,
    /// The socket is TLS-like: bytes taken are confirmed only by [`Harness::confirm`].
    tls: bool,
    /// Every byte the fake socket took, in order.
    wire: Vec<u8>,
    /// Of those, the bytes confirmed as having reached the socket.
    confirmed: usize,
    /// Inbound bytes not yet handed to the core.
    inbound: VecDeque<u8>,
    /// Packets offered from outside (by id or from a group).
    external_offers: u64,
    /// Sequence number of the next external packet.
    next_external: u32,
    /// Sequence number of the next raw request.
    next_raw: u32,
    /// Deferred replies waiting for their value: (slot, body).
    defers: VecDeque<(u64, Bytes)>,
    /// Counters handed out in `Report` events.
    reported: Traffic,
    /// Packets handed out for the rest of the group.
    broadcast_out: usize,
    /// Joins (true) and leaves (false) handed out, in order.
    memberships: Vec<(GroupName, bool)>,
    /// Messages handed out for the other members of named groups.
    published: Vec<Published>,
    /// Removal events seen.
    removals: Vec<RemovalReason>,
    /// Authentication events seen.
    authenticated: Vec<crate::User>,
    shutdown_write: bool,
    stopped: bool,
    /// The share of a budget of all connections' bytes the core's queue charges, and
    /// what other connections charge it (held by the test), if the test gives one.
    budget: Option<(Rc<BudgetShare>, usize)>,
}

impl Harness {
    fn new(limits: ConnectionLimits) -> Self {
        Self::with(limits, false)
    }

    fn with(limits: ConnectionLimits, tls: bool) -> Self {
        let log = Rc::new(Log::default());
        let now = Instant::now();
        let proto = TestProto { log: log.clone() };
        let conn = Conn::new(proto, outbox(), Arc::new(limits), now);
        Harness {
            conn,
            log,
            now,
            tls,
            wire: Vec::new(),
            confirmed: 0,
            inbound: VecDeque::new(),
            external_offers: 0,
            next_external: 0,
            next_raw: 0,
            defers: VecDeque::new(),
            reported: Traffic::default(),
            broadcast_out: 0,
            memberships: Vec::new(),
            published: Vec::new(),
            removals: Vec::new(),
            authenticated: Vec::new(),
            shutdown_write: false,
            stopped: false,
            budget: None,
        }
    }

    /// A harness whose core's queue also charges `share` of a budget of all
    /// connections' bytes.
    fn budgeted(limits: ConnectionLimits, tls: bool, share: Rc<BudgetShare>) -> Self {
        let mut h = Self::with(limits, tls);
        let core = Conn::new(
            TestProto { log: h.log.clone() },
            outbox(),
            Arc::new(h.conn.limits().clone()),
            h.now,
        );
        h.conn = core.with_outbound_budget(share.clone());
        h.budget = Some((share, 0));
        h
    }

    /// Carries out what the core asked for.
    fn pump(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            assert!(!self.stopped, "an event after Stop");
            match event {
                Event::Report(delta) => self.reported.add(&delta),
                Event::Removed(reason) => self.removals.push(reason),
                Event::Authenticated(user) => self.authenticated.push(user),
                Event::Broadcast(packets) => self.broadcast_out += packets.len(),
                Event::Join(group, _) => self.memberships.push((group, true)),
                Event::Leave(group) => self.memberships.push((group, false)),
                Event::Publish(messages) => self.published.extend(messages),
                Event::HistoryJoin { .. } | Event::Sequence(_) => {
                    panic!("no group keeps a history here")
                }
                Event::Defer { seq, reply: _ } => {
                    let body = self.log.deferred.borrow_mut().pop_front();
                    self.defers.push_back((seq, body.expect("a deferred body")));
                }
                Event::ShutdownWrite => self.shutdown_write = true,
                Event::Stop => {
                    self.stopped = true;
                    assert_eq!(self.reported, self.conn.traffic(), "unreported at stop");
                }
            }
        }
    }

    fn open(&mut self) {
        self.conn.handle_open(self.now);
        self.pump();
    }

    /// The peer sends a request that the protocol answers raw, with itself:
    /// `r | seq:u32 | pad`.
    fn raw(&mut self, pad: usize) {
        let seq = self.next_raw;
        self.next_raw += 1;
        let mut frame = ((5 + pad) as u16).to_be_bytes().to_vec();
        frame.push(b'r');
        frame.extend_from_slice(&seq.to_be_bytes());
        frame.resize(7 + pad, b'.');
        self.send(&frame);
    }

    /// The peer sends these bytes; the core reads them only while it wants to.
    fn send(&mut self, bytes: &[u8]) {
        self.inbound.extend(bytes);
    }

    /// Hands the core up to `n` pending inbound bytes, if it wants to read.
    fn feed(&mut self, n: usize) {
        if !self.conn.wants_read() || self.stopped {
            return;
        }
        let n = n.min(self.inbound.len());
        let chunk: Vec<u8> = self.inbound.drain(..n).collect();
        self.conn.handle_read(self.now, &chunk);
        self.pump();
    }

    fn feed_all(&mut self) {
        self.feed(usize::MAX);
    }

    /// The socket takes up to `budget` bytes.
    fn write(&mut self, budget: usize) {
        if self.stopped {
            return;
        }
        let mut slices = [IoSlice::new(&[]); 64];
        let taken = match self.conn.poll_transmit(&mut slices, budget) {
            Transmit::Nothing => return,
            Transmit::File(_) => panic!("the test protocol sends no files"),
            Transmit::Slices(n) => {
                let mut taken = 0;
                for slice in &slices[..n] {
                    let room = budget - taken;
                    let part = &slice[..slice.len().min(room)];
                    self.wire.extend_from_slice(part);
                    taken += part.len();
                    if taken == budget {
                        break;
                    }
                }
                taken
            }
        };
        let confirmed = if self.tls { 0 } else { taken };
        if !self.tls {
            self.confirmed += taken;
        }
        self.conn.handle_written(self.now, taken, confirmed);
        self.pump();
    }

    fn write_all(&mut self) {
        for _ in 0..10_000 {
            if !self.conn.wants_write() {
                return;
            }
            self.write(usize::MAX);
        }
        panic!("the queue never drained");
    }

    /// A TLS layer reports up to `n` more taken bytes as written to the socket.
    fn confirm(&mut self, n: usize) {
        let n = n.min(self.wire.len() - self.confirmed);
        if n == 0 || self.stopped {
            return;
        }
        self.confirmed += n;
        self.conn.handle_written(self.now, 0, n);
        self.pump();
    }

    /// An external packet, already encoded (as a group delivery is).
    fn deliver(&mut self, pad: usize) -> Result<(), SendError> {
        let body = self.external_body(pad);
        let mut packet = BytesMut::new();
        TestCodec.encode(body, &mut packet).expect("encodes");
        let result = self
            .conn
            .deliver(self.now, packet.freeze(), Origin::External);
        self.offered(&result);
        result
    }

    /// An external response, encoded by the connection (a send by id).
    fn send_response(&mut self, pad: usize) -> Result<(), SendError> {
        let body = self.external_body(pad);
        let result = self.conn.send(self.now, body);
        self.offered(&result);
        result
    }

    /// A group message that could not be encoded for this connection's protocol.
    fn group_failure(&mut self) {
        if !self.stopped {
            self.external_offers += 1;
        }
        let error = SendError::Encode("not for this protocol".into());
        self.conn.group_refused(self.now, error);
        self.pump();
    }

    /// Counts an external offer: a stopped connection refuses without counting, as
    /// its owner is gone and only the caller can learn of it.
    fn offered(&mut self, result: &Result<(), SendError>) {
        if self.stopped {
            assert_eq!(*result, Err(SendError::Closing));
        } else {
            self.external_offers += 1;
        }
        self.pump();
    }

    /// Moves the clock from deadline to deadline until the connection stops.
    fn run_to_stop(&mut self) {
        for _ in 0..100 {
            if self.stopped || !self.next_deadline() {
                break;
            }
        }
        assert!(self.stopped, "no deadline stops the connection");
    }

    fn external_body(&mut self, pad: usize) -> Bytes {
        let seq = self.next_external;
        self.next_external += 1;
        let mut body = BytesMut::new();
        body.put_u8(b'e');
        body.put_u32(seq);
        body.put_bytes(b'.', pad);
        body.freeze()
    }

    /// The oldest deferred reply becomes ready.
    fn fill(&mut self) {
        if let Some((seq, body)) = self.defers.pop_front() {
            self.conn.handle_deferred(self.now, seq, body);
            self.pump();
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.conn.handle_timeout(self.now);
        self.pump();
    }

    /// Moves the clock to the core's next deadline, if it has one.
    fn next_deadline(&mut self) -> bool {
        match self.conn.poll_timeout() {
            Some(at) => {
                self.now = self.now.max(at);
                self.conn.handle_timeout(self.now);
                self.pump();
                true
            }
            None => false,
        }
    }

    fn close(&mut self, reason: RemovalReason) {
        self.conn.close(self.now, reason);
        self.pump();
    }

    fn eof(&mut self) {
        self.conn.handle_eof(self.now);
        self.pump();
    }

    fn fail(&mut self) {
        let reason = RemovalReason::IoError;
        self.conn
            .handle_failure(self.now, reason, FailureReason::Io("reset".into()));
        self.pump();
    }

    /// The complete packets the fake socket took, as (kind, seq, body length).
    fn written(&self) -> Vec<(u8, u32, usize)> {
        let mut out = Vec::new();
        let mut rest = &self.wire[..];
        while rest.len() >= 2 {
            let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            if rest.len() < 2 + len {
                break;
            }
            let body = &rest[2..2 + len];
            assert!(
                len >= 5,
                "every packet carries a kind and a sequence number"
            );
            let seq = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
            out.push((body[0], seq, len));
            rest = &rest[2 + len..];
        }
        out
    }

    /// The accounting invariants; called after every step of the property test.
    fn check(&self) {
        let t = self.conn.traffic();
        let own = u64::from(self.log.next_own.get()) + u64::from(self.log.raw_echoed.get());
        let held = self.conn.held_replies() as u64;
        // Every packet offered is queued, refused, or still waiting in reply order.
        assert_eq!(
            own + self.external_offers,
            t.queued_packets + t.refused_packets + held,
            "offers unaccounted: {t:?}, held {held}"
        );
        // Every queued packet is sent, dropped with a reason, or still on its way.
        let on_the_way = self.conn.packets_on_the_way();
        assert_eq!(
            t.queued_packets,
            t.sent_packets + t.dropped_packets + on_the_way as u64,
            "queued packets unaccounted: {t:?}"
        );
        // Bytes reported as sent are exactly those that reached the fake socket.
        assert_eq!(t.sent_bytes, self.confirmed as u64, "sent bytes");
        // Per-connection order: own outputs in the order asked for, external ones too.
        let written = self.written();
        for kind in [b'o', b'e', b'r'] {
            let seqs: Vec<u32> = written
                .iter()
                .filter(|w| w.0 == kind)
                .map(|w| w.1)
                .collect();
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "{} packets out of order: {seqs:?}",
                kind as char
            );
        }
        // Memory within the limits.
        assert!(self.conn.queued_bytes() <= self.conn.limits().max_outbound_bytes);
        // The read buffer holds at most one frame and one read (what arrived, never
        // what a header announced), twice over for the buffer's doubling growth, and
        // nothing once it is empty.
        let buffered = self.conn.read_buffered();
        assert!(
            self.conn.read_capacity() <= 2 * (2 + MAX_BODY + MAX_FEED),
            "read buffer {} for {buffered} bytes held",
            self.conn.read_capacity()
        );
        assert!(
            buffered > 0 || self.conn.read_capacity() == 0,
            "an empty read buffer is freed"
        );
        assert!(self.conn.outstanding_replies() <= self.conn.limits().max_deferred);
        // A connection that stopped reading for the rate has the deadline that resumes
        // it: it never stalls, and never needs polling.
        if self.conn.rate_paused() && self.conn.phase() == Phase::Open {
            assert!(self
                .conn
                .deadline(crate::core::timers::Timer::Rate)
                .is_some());
            assert!(!self.conn.wants_read());
        }
        // Only the close sequence's deadlines outlive the open phase.
        if self.conn.phase().is_done() {
            assert_eq!(self.conn.poll_timeout(), None, "a deadline after the stop");
        }
        if let Some((share, others)) = &self.budget {
            // The queue charges exactly what it holds, whatever the others hold.
            assert_eq!(share.used(), self.conn.queued_bytes() + others, "budget");
            assert!(share.used() <= share.budget().limit());
        }
        assert!(
            self.removals.len() <= 1,
            "removed twice: {:?}",
            self.removals
        );
        if self.stopped {
            assert!(self.conn.phase().is_done());
            assert_eq!(held, 0, "held replies left at stop");
            assert_eq!(on_the_way, 0, "queued packets left at stop");
            assert_eq!(self.removals.len(), 1, "stopped without a removal");
            // `on_close` pairs with `on_open`: a core never opened calls neither.
            let closed = if self.log.opened.get() > 0 {
                self.removals.clone()
            } else {
                Vec::new()
            };
            assert_eq!(*self.log.closed.borrow(), closed, "on_close");
        }
    }
}

/// The largest read the property test hands the core at once.
const MAX_FEED: usize = 4096;

fn limits() -> ConnectionLimits {
    ConnectionLimits {
        max_outbound_bytes: 64 * 1024,
        read_pause_bytes: 16 * 1024,
        max_error_packets: 3,
        write_timeout: Duration::from_secs(5),
        close_timeout: Duration::from_secs(3),
        linger: Duration::from_secs(1),
        frame_timeout: Duration::from_secs(2),
        max_deferred: 4,
        coalesce_below: 64,
        ..ConnectionLimits::default()
    }
}

mod batch;
mod credit;
mod deadlines;
mod groups;
mod limits;
mod property;
mod protocol;
mod rate;
mod raw;
mod reading;
mod rules;
mod tls;
mod websocket;
