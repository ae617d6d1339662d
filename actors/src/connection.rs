//! The connection actor: one socket, its inbound decoder, its outbound queue.
//!
//! The actor does its own I/O on a non-blocking [`TcpStream`] instead of actix's
//! `FramedRead`/`FramedWrite` (see DESIGN.md: `FramedWrite` has no working backpressure
//! and delivers nothing once stopped). It waits for readiness with small spawned
//! futures and reads and writes synchronously (`try_read_buf`, `try_write_vectored`)
//! inside its own handlers, so no buffer is ever lent to a future and every byte is
//! accounted where it moves:
//!
//! - **Reading**: on readability, read at most `read_budget` bytes into a buffer that
//!   exists only while it holds a partial packet, decode every complete packet, and let
//!   the protocol handle each. Reading pauses while `read_pause_bytes` are queued for the
//!   peer (its requests wait in its socket, not in our memory) or while too many
//!   deferred replies are outstanding.
//! - **Writing**: replies and deliveries go into the [`OutboundQueue`]; one flush per
//!   actor turn writes them with vectored writes, at most `flush_budget` bytes before
//!   yielding. When the socket is full the actor waits for writability, never spins, and
//!   a peer that lets `write_timeout` pass without progress is removed.
//! - **Closing**: stop admitting, flush what is queued within `close_timeout`, shut the
//!   write half, read and discard for `linger` so the last replies are not destroyed by
//!   a reset, then stop. Whatever could not be written is recorded as a send failure.

use crate::outbound::{EncodeRefused, OutboundQueue};
use crate::protocol::{Action, Inbound, Outbox, Protocol};
use crate::replies::ReplyOrder;
use crate::stats::{Stats, TrafficDelta};
use crate::supervisor::{Broadcast, BroadcastBatch, Deregister, Gone, Register};
use crate::{
    Close, ConnId, ConnectionLimits, ConnectionStatus, Deliver, DeliverBatch, FailureLog,
    FailureReason, FileRegion, Member, RemovalReason, SendError, SendFailure, Supervisor, Traffic,
};
use actix::fut::{ready, wrap_future};
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::{Decoder, Encoder};

/// Slices handed to one vectored write.
const MAX_IOV: usize = 64;
/// Bytes reserved for each read.
const READ_CHUNK: usize = 8 * 1024;

/// Queue an application packet: encoded by this connection's codec, then sent.
#[derive(Message)]
#[rtype(result = "Result<(), SendError>")]
pub struct SendPacket<R: 'static>(pub R);

/// Queue a region of a file for the peer, sent zero-copy in order with other packets.
#[derive(Message)]
#[rtype(result = "Result<(), SendError>")]
pub struct SendFile(pub FileRegion);

/// What waits for its turn in reply order: a response to encode, or a file region.
enum Outgoing<R> {
    /// A protocol response.
    Response(R),
    /// A file region.
    File(FileRegion),
}

/// Ask a connection for a report of itself.
#[derive(Message)]
#[rtype(result = "ConnectionReport")]
pub struct Inspect;

/// A connection's own account of itself.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    /// The connection.
    pub id: ConnId,
    /// Its protocol group.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Bytes waiting in the outbound queue.
    pub queued_bytes: usize,
    /// Packets waiting in the outbound queue.
    pub queued_packets: usize,
    /// Error packets counted so far.
    pub error_packets: u32,
    /// Everything counted since the connection opened.
    pub traffic: Traffic,
    /// When the socket last accepted bytes from us.
    pub last_send: Option<SystemTime>,
    /// When the peer last sent bytes.
    pub last_receive: Option<SystemTime>,
    /// The most recent send failures, oldest first.
    pub recent_failures: Vec<SendFailure>,
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading, writing, admitting packets.
    Open,
    /// Removed: admitting nothing new, flushing what is queued.
    Closing,
    /// Write half shut: reading and discarding until EOF or the linger deadline.
    Lingering,
    /// Stopping; nothing more happens.
    Done,
}

/// What one flush turn achieved.
enum Flushed {
    /// The queue is empty.
    Drained,
    /// The socket is full: wait for writability.
    Blocked,
    /// The per-turn budget is spent: yield, then go on.
    BudgetSpent,
    /// The socket failed.
    Failed(io::Error),
}

/// One TCP connection speaking protocol `P`.
pub struct Connection<P: Protocol> {
    /// Live figures shared with the supervisor (id, peer, idle time, queue size).
    status: Arc<ConnectionStatus>,
    /// The application's handler for this connection.
    protocol: P,
    /// Cuts the inbound bytes into packets and encodes outbound ones.
    codec: P::Codec,
    /// The socket; futures waiting for readiness hold a clone.
    stream: Rc<TcpStream>,
    /// Inbound bytes not yet decoded; empty (unallocated) between packets.
    read_buf: BytesMut,
    /// Encoded packets waiting for the socket.
    queue: OutboundQueue,
    /// The limits this connection enforces.
    limits: Arc<ConnectionLimits>,
    /// The registry this connection belongs to.
    supervisor: Addr<Supervisor>,
    /// Where traffic deltas go.
    stats: Addr<Stats>,
    /// Counters already reported to the stats actor.
    reported: Traffic,
    /// Counters since the last report.
    unreported: Traffic,
    /// Recent send failures.
    failures: FailureLog,
    /// Error packets over the connection's lifetime.
    error_packets: u32,
    /// Where the connection is in its life.
    phase: Phase,
    /// Why it was removed, once it was.
    removal: Option<RemovalReason>,
    /// A readability wait (or a read yield) is pending.
    read_waiting: bool,
    /// A writability wait is pending.
    write_waiting: bool,
    /// A flush is scheduled for the end of this actor turn.
    flush_scheduled: bool,
    /// A traffic report is scheduled.
    report_scheduled: bool,
    /// When the queue last made progress (or became non-empty): the write timeout's origin.
    last_progress: Instant,
    /// When the socket last accepted bytes.
    last_send: Option<SystemTime>,
    /// When the peer last sent bytes.
    last_receive: Option<SystemTime>,
    /// Replies in request order while deferred ones are outstanding.
    replies: ReplyOrder<Outgoing<P::Response>>,
    /// Broadcasts asked for during the current read turn, sent together after it.
    broadcasts: Vec<Bytes>,
    /// Reused action list for the protocol handler.
    outbox: Outbox<P::Response>,
    /// Holds one of the listener's `max_connections` places until the actor is dropped.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Everything a connection needs from the server that accepted it.
#[derive(Clone)]
pub struct ConnectionContext {
    /// The registry to join.
    pub supervisor: Addr<Supervisor>,
    /// Where traffic deltas go.
    pub stats: Addr<Stats>,
    /// The limits to enforce.
    pub limits: Arc<ConnectionLimits>,
}

impl<P: Protocol> Connection<P> {
    /// Starts a connection actor on the current arbiter for an accepted socket.
    pub fn start(
        id: ConnId,
        stream: TcpStream,
        protocol: P,
        context: ConnectionContext,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> io::Result<Addr<Self>> {
        let peer = stream.peer_addr()?;
        let codec = protocol.codec();
        let limits = context.limits;
        let status = Arc::new(ConnectionStatus::new(id, P::NAME, peer));
        let supervisor = context.supervisor;
        Ok(Connection {
            queue: OutboundQueue::new(limits.queue_limits()),
            failures: FailureLog::new(limits.max_failure_records),
            outbox: Outbox::new(id, peer, supervisor.clone()),
            status,
            protocol,
            codec,
            stream: Rc::new(stream),
            read_buf: BytesMut::new(),
            limits,
            supervisor,
            stats: context.stats,
            reported: Traffic::default(),
            unreported: Traffic::default(),
            error_packets: 0,
            phase: Phase::Open,
            removal: None,
            read_waiting: false,
            write_waiting: false,
            flush_scheduled: false,
            report_scheduled: false,
            last_progress: Instant::now(),
            last_send: None,
            last_receive: None,
            replies: ReplyOrder::default(),
            broadcasts: Vec::new(),
            _permit: permit,
        }
        .start())
    }

    fn id(&self) -> ConnId {
        self.status.id
    }

    // ----- reading -------------------------------------------------------------------

    fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open => {
                self.queue.len_bytes() < self.limits.read_pause_bytes
                    && self.replies.outstanding() < self.limits.max_deferred
            }
            Phase::Lingering => true,
            Phase::Closing | Phase::Done => false,
        }
    }

    /// Resumes reading below half the pause threshold (hysteresis, like Netty's
    /// low and high write-buffer watermarks).
    fn may_resume_read(&self) -> bool {
        self.phase != Phase::Open || self.queue.len_bytes() <= self.limits.read_pause_bytes / 2
    }

    fn wait_readable(&mut self, ctx: &mut Context<Self>) {
        if self.read_waiting || !self.wants_read() || !self.may_resume_read() {
            return;
        }
        self.read_waiting = true;
        let stream = self.stream.clone();
        let wait = async move { stream.readable().await };
        ctx.spawn(wrap_future(wait).map(|res, act: &mut Self, ctx| {
            act.read_waiting = false;
            match res {
                Ok(()) => act.on_readable(ctx),
                Err(e) => act.abort(
                    RemovalReason::IoError,
                    FailureReason::Io(e.to_string()),
                    ctx,
                ),
            }
        }));
    }

    /// One read turn, then the broadcasts its packets asked for, sent as one message.
    fn on_readable(&mut self, ctx: &mut Context<Self>) {
        self.read_turn(ctx);
        self.send_broadcasts();
    }

    fn read_turn(&mut self, ctx: &mut Context<Self>) {
        let mut budget = self.limits.read_budget;
        while self.wants_read() {
            self.read_buf.reserve(READ_CHUNK);
            match self.stream.try_read_buf(&mut self.read_buf) {
                Ok(0) => return self.on_eof(ctx),
                Ok(n) => {
                    self.note_received(n, ctx);
                    if self.phase == Phase::Lingering {
                        self.read_buf.clear();
                    } else {
                        self.decode_all(ctx);
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.yield_then_read(ctx);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return self.abort(
                        RemovalReason::IoError,
                        FailureReason::Io(e.to_string()),
                        ctx,
                    )
                }
            }
        }
        if self.read_buf.is_empty() {
            self.read_buf = BytesMut::new();
        }
        self.wait_readable(ctx);
    }

    fn yield_then_read(&mut self, ctx: &mut Context<Self>) {
        self.read_waiting = true;
        ctx.spawn(
            wrap_future(tokio::task::yield_now()).map(|(), act: &mut Self, ctx| {
                act.read_waiting = false;
                act.on_readable(ctx);
            }),
        );
    }

    fn note_received(&mut self, n: usize, ctx: &mut Context<Self>) {
        self.status.touch_rx(Instant::now());
        self.last_receive = Some(SystemTime::now());
        self.unreported.received_bytes += n as u64;
        self.schedule_report(ctx);
    }

    fn on_eof(&mut self, ctx: &mut Context<Self>) {
        match self.phase {
            Phase::Open => self.begin_close(RemovalReason::PeerClosed, ctx),
            Phase::Lingering => self.finish(ctx),
            Phase::Closing | Phase::Done => {}
        }
    }

    fn decode_all(&mut self, ctx: &mut Context<Self>) {
        while self.phase == Phase::Open {
            match self.codec.decode(&mut self.read_buf) {
                Ok(Some(Inbound::Request(request))) => {
                    self.unreported.received_packets += 1;
                    self.protocol.handle(request, &mut self.outbox);
                    // Reuse the action list's allocation from one request to the next.
                    let mut actions = std::mem::take(&mut self.outbox.actions);
                    for action in actions.drain(..) {
                        self.act(action, ctx);
                    }
                    self.outbox.actions = actions;
                }
                Ok(Some(Inbound::Bad(reason))) => {
                    self.unreported.received_packets += 1;
                    self.bad_packet(&reason, ctx);
                }
                Ok(None) => break,
                Err(e) => {
                    // The stream cannot be trusted any more: one error packet, the error
                    // reply, and removal at once.
                    self.unreported.received_packets += 1;
                    let reason = e.to_string();
                    log::debug!("connection {} framing error: {reason}", self.id());
                    self.count_error_packet(ctx);
                    if let Some(reply) = self.protocol.error_reply(&reason) {
                        self.reply(reply, ctx);
                    }
                    self.read_buf = BytesMut::new();
                    self.begin_close(RemovalReason::ErrorPackets, ctx);
                }
            }
        }
    }

    fn act(&mut self, action: Action<P::Response>, ctx: &mut Context<Self>) {
        match action {
            Action::Reply(response) => self.reply(response, ctx),
            Action::Broadcast(response) => self.broadcast(response),
            Action::Defer(future) => self.defer(future, ctx),
            Action::SendFile(region) => self.send_in_order(Outgoing::File(region), ctx),
            Action::Bad(reason) => self.bad_packet(&reason, ctx),
            Action::Close(reason) => self.begin_close(reason, ctx),
        }
    }

    fn count_error_packet(&mut self, ctx: &mut Context<Self>) {
        self.error_packets += 1;
        self.status.set_error_packets(self.error_packets);
        self.unreported.error_packets += 1;
        self.schedule_report(ctx);
    }

    fn bad_packet(&mut self, reason: &str, ctx: &mut Context<Self>) {
        self.count_error_packet(ctx);
        if let Some(reply) = self.protocol.error_reply(reason) {
            self.reply(reply, ctx);
        }
        if self.error_packets >= self.limits.max_error_packets {
            self.begin_close(RemovalReason::ErrorPackets, ctx);
        }
    }

    // ----- replies and deliveries ----------------------------------------------------

    fn reply(&mut self, response: P::Response, ctx: &mut Context<Self>) {
        self.send_in_order(Outgoing::Response(response), ctx);
    }

    /// Queues a reply now, or holds it behind outstanding deferred replies.
    fn send_in_order(&mut self, out: Outgoing<P::Response>, ctx: &mut Context<Self>) {
        if self.replies.is_clear() {
            // A refusal is recorded where it happens; a reply has no caller to tell.
            let _ = self.enqueue(out, ctx);
        } else {
            self.replies.hold(out);
        }
    }

    fn enqueue(
        &mut self,
        out: Outgoing<P::Response>,
        ctx: &mut Context<Self>,
    ) -> Result<(), SendError> {
        match out {
            Outgoing::Response(response) => self.enqueue_response(response, ctx),
            Outgoing::File(region) => self.enqueue_file(region, ctx),
        }
    }

    /// Queues a file region (its bytes stay in the file, so no byte budget applies).
    fn enqueue_file(
        &mut self,
        region: FileRegion,
        ctx: &mut Context<Self>,
    ) -> Result<(), SendError> {
        if matches!(self.phase, Phase::Lingering | Phase::Done) {
            return Err(self.refuse(SendError::Closing, 0));
        }
        let was_empty = self.queue.is_empty();
        if self.queue.push_file(region) {
            self.queued(was_empty, ctx);
        }
        Ok(())
    }

    fn defer(&mut self, future: crate::protocol::Deferred<P::Response>, ctx: &mut Context<Self>) {
        // A deferred reply may read shared figures (a stats snapshot): report ours first.
        self.report();
        let seq = self.replies.defer();
        ctx.spawn(
            wrap_future(future).map(move |response, act: &mut Self, ctx| {
                act.replies.fill(seq, Outgoing::Response(response));
                while let Some(ready) = act.replies.pop_ready() {
                    let _ = act.enqueue(ready, ctx);
                }
                act.after_progress(ctx);
            }),
        );
    }

    /// Encodes a broadcast once; it leaves with the others of this read turn.
    fn broadcast(&mut self, response: P::Response) {
        let mut buf = BytesMut::new();
        match self.codec.encode(response, &mut buf) {
            Ok(()) => self.broadcasts.push(buf.freeze()),
            Err(e) => {
                log::warn!("connection {}: encode failed: {e}", self.id());
                self.refuse(SendError::Encode(e.to_string()), 0);
            }
        }
    }

    /// Hands this turn's broadcasts to the supervisor: one message for all of them, so
    /// each member gets one delivery per turn instead of one per packet.
    fn send_broadcasts(&mut self) {
        let packets = match self.broadcasts.len() {
            0 => return,
            1 => {
                if let Some(packet) = self.broadcasts.pop() {
                    self.supervisor.do_send(Broadcast {
                        protocol: P::NAME,
                        packet,
                    });
                }
                return;
            }
            _ => self.broadcasts.drain(..).collect(),
        };
        self.supervisor.do_send(BroadcastBatch {
            protocol: P::NAME,
            packets,
        });
    }

    /// Encodes a response straight into the queue. A refusal is recorded as a send
    /// failure and returned.
    fn enqueue_response(
        &mut self,
        response: P::Response,
        ctx: &mut Context<Self>,
    ) -> Result<(), SendError> {
        if matches!(self.phase, Phase::Lingering | Phase::Done) {
            return Err(self.refuse(SendError::Closing, 0));
        }
        let was_empty = self.queue.is_empty();
        let codec = &mut self.codec;
        match self.queue.encode_with(|buf| codec.encode(response, buf)) {
            Ok(0) => Ok(()),
            Ok(_) => {
                self.queued(was_empty, ctx);
                Ok(())
            }
            Err(EncodeRefused::Encode(e)) => {
                log::warn!("connection {}: encode failed: {e}", self.id());
                Err(self.refuse(SendError::Encode(e.to_string()), 0))
            }
            Err(EncodeRefused::OverBudget(over)) => {
                let err = self.refuse(over.into(), over.packet);
                self.slow_consumer(ctx);
                Err(err)
            }
        }
    }

    /// Queues an encoded packet from outside (a broadcast, a send by id).
    fn deliver(&mut self, packet: Bytes, ctx: &mut Context<Self>) -> Result<(), SendError> {
        let refusal = if self.phase != Phase::Open {
            Some(SendError::Closing)
        } else if packet.is_empty() {
            Some(SendError::Empty)
        } else {
            None
        };
        if let Some(err) = refusal {
            return Err(self.refuse(err, packet.len()));
        }
        let was_empty = self.queue.is_empty();
        let size = packet.len();
        match self.queue.push(packet) {
            Ok(()) => {
                self.queued(was_empty, ctx);
                Ok(())
            }
            Err(over) => {
                let err = self.refuse(over.into(), size);
                self.slow_consumer(ctx);
                Err(err)
            }
        }
    }

    fn queued(&mut self, was_empty: bool, ctx: &mut Context<Self>) {
        if was_empty {
            self.last_progress = Instant::now();
        }
        self.unreported.queued_packets += 1;
        self.status.set_queued_bytes(self.queue.len_bytes());
        self.schedule_report(ctx);
        self.schedule_flush(ctx);
    }

    /// Records a refused packet; returns the refusal for the caller.
    fn refuse(&mut self, err: SendError, size: usize) -> SendError {
        self.unreported.refused_packets += 1;
        self.failures
            .record(FailureReason::Refused(err.clone()), size);
        err
    }

    fn slow_consumer(&mut self, ctx: &mut Context<Self>) {
        let reason = RemovalReason::SlowConsumer;
        self.abort(reason, FailureReason::Removed(reason), ctx);
    }

    // ----- writing -------------------------------------------------------------------

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if self.flush_scheduled || self.write_waiting {
            return;
        }
        self.flush_scheduled = true;
        // Runs after the mailbox is drained: a burst of deliveries becomes one writev.
        ctx.spawn(ready(()).map(|(), act: &mut Self, ctx| {
            act.flush_scheduled = false;
            act.flush(ctx);
        }));
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.write_waiting || matches!(self.phase, Phase::Lingering | Phase::Done) {
            return;
        }
        let outcome = self.write_some();
        self.status.set_queued_bytes(self.queue.len_bytes());
        match outcome {
            Flushed::Drained => self.after_progress(ctx),
            Flushed::Blocked => {
                self.wait_writable(ctx);
                self.after_progress(ctx);
            }
            Flushed::BudgetSpent => {
                self.flush_scheduled = true;
                ctx.spawn(
                    wrap_future(tokio::task::yield_now()).map(|(), act: &mut Self, ctx| {
                        act.flush_scheduled = false;
                        act.flush(ctx);
                    }),
                );
                self.after_progress(ctx);
            }
            Flushed::Failed(e) => self.abort(
                RemovalReason::IoError,
                FailureReason::Io(e.to_string()),
                ctx,
            ),
        }
    }

    /// Writes until the queue is empty, the socket is full or the budget is spent.
    fn write_some(&mut self) -> Flushed {
        let mut budget = self.limits.flush_budget;
        loop {
            if self.queue.is_empty() {
                return Flushed::Drained;
            }
            let attempt = match self.queue.front_file() {
                Some(region) => region.send_to(&self.stream, budget),
                None => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOV];
                    let n = self.queue.io_slices(&mut slices, budget);
                    self.stream.try_write_vectored(&slices[..n])
                }
            };
            match attempt {
                Ok(0) => return Flushed::Failed(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    let packets = self.queue.advance(written);
                    self.unreported.sent_bytes += written as u64;
                    self.unreported.sent_packets += packets as u64;
                    self.last_progress = Instant::now();
                    self.last_send = Some(SystemTime::now());
                    budget = budget.saturating_sub(written);
                    if budget == 0 && !self.queue.is_empty() {
                        return Flushed::BudgetSpent;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Flushed::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Flushed::Failed(e),
            }
        }
    }

    fn wait_writable(&mut self, ctx: &mut Context<Self>) {
        if self.write_waiting {
            return;
        }
        self.write_waiting = true;
        let stream = self.stream.clone();
        let deadline = self.last_progress + self.limits.write_timeout;
        let wait = async move { tokio::time::timeout_at(deadline, stream.writable()).await };
        ctx.spawn(wrap_future(wait).map(|res, act: &mut Self, ctx| {
            act.write_waiting = false;
            match res {
                Ok(Ok(())) => act.flush(ctx),
                Ok(Err(e)) => act.abort(
                    RemovalReason::IoError,
                    FailureReason::Io(e.to_string()),
                    ctx,
                ),
                Err(_elapsed) => {
                    let reason = RemovalReason::WriteTimeout;
                    act.abort(reason, FailureReason::Removed(reason), ctx)
                }
            }
        }));
    }

    /// After the queue shrank or a reply arrived: resume reading, or finish a close.
    fn after_progress(&mut self, ctx: &mut Context<Self>) {
        self.schedule_report(ctx);
        match self.phase {
            Phase::Open => self.wait_readable(ctx),
            Phase::Closing if self.queue.is_empty() && self.replies.is_clear() => {
                self.shut_write_half(ctx)
            }
            _ => {}
        }
    }

    // ----- closing -------------------------------------------------------------------

    /// Removes the connection and starts a graceful close (or an abort, for reasons
    /// where the peer cannot take more data).
    fn begin_close(&mut self, reason: RemovalReason, ctx: &mut Context<Self>) {
        if !reason.flushes() {
            return self.abort(reason, FailureReason::Removed(reason), ctx);
        }
        if self.phase != Phase::Open {
            return;
        }
        self.deregister(reason);
        if matches!(reason, RemovalReason::Idle | RemovalReason::Shutdown) {
            if let Some(last_word) = self.protocol.error_reply(reason.as_str()) {
                self.reply(last_word, ctx);
            }
        }
        self.phase = Phase::Closing;
        self.read_buf = BytesMut::new();
        ctx.run_later(self.limits.close_timeout, |act, ctx| {
            if act.phase == Phase::Closing {
                act.abort(
                    act.removal.unwrap_or(RemovalReason::Closed),
                    FailureReason::CloseTimeout,
                    ctx,
                );
            }
        });
        self.schedule_flush(ctx);
        self.after_progress(ctx);
    }

    fn deregister(&mut self, reason: RemovalReason) {
        if self.removal.is_none() {
            self.removal = Some(reason);
            // Counters first: whoever learns of the removal then finds them current
            // (the bad packets that caused it, say), not one stats interval behind.
            self.report();
            self.supervisor.do_send(Deregister {
                id: self.id(),
                reason,
            });
        }
    }

    fn shut_write_half(&mut self, ctx: &mut Context<Self>) {
        if let Err(e) = socket2::SockRef::from(&*self.stream).shutdown(Shutdown::Write) {
            log::debug!("connection {}: shutdown failed: {e}", self.id());
            return self.finish(ctx);
        }
        self.phase = Phase::Lingering;
        ctx.run_later(self.limits.linger, |act, ctx| act.finish(ctx));
        self.wait_readable(ctx);
    }

    /// Closes at once: every packet still queued is recorded as dropped with `failure`.
    fn abort(&mut self, reason: RemovalReason, failure: FailureReason, ctx: &mut Context<Self>) {
        if self.phase == Phase::Done {
            return;
        }
        self.deregister(reason);
        self.drop_queued(failure);
        self.finish(ctx);
    }

    fn drop_queued(&mut self, failure: FailureReason) {
        for size in self.queue.drain_unwritten() {
            self.unreported.dropped_packets += 1;
            self.failures.record(failure.clone(), size);
        }
        self.status.set_queued_bytes(0);
    }

    fn finish(&mut self, ctx: &mut Context<Self>) {
        self.phase = Phase::Done;
        ctx.stop();
    }

    // ----- stats ---------------------------------------------------------------------

    fn schedule_report(&mut self, ctx: &mut Context<Self>) {
        if self.report_scheduled || self.unreported.is_zero() {
            return;
        }
        self.report_scheduled = true;
        ctx.run_later(self.limits.stats_interval, |act, _ctx| {
            act.report_scheduled = false;
            act.report();
        });
    }

    fn report(&mut self) {
        if self.unreported.is_zero() {
            return;
        }
        let delta = self.unreported.take();
        self.reported.add(&delta);
        self.stats.do_send(TrafficDelta {
            protocol: P::NAME,
            delta,
        });
    }

    fn inspect(&self) -> ConnectionReport {
        ConnectionReport {
            id: self.id(),
            protocol: P::NAME,
            peer: self.status.peer,
            queued_bytes: self.queue.len_bytes(),
            queued_packets: self.queue.len_packets(),
            error_packets: self.error_packets,
            traffic: self.reported.plus(&self.unreported),
            last_send: self.last_send,
            last_receive: self.last_receive,
            recent_failures: self.failures.recent().cloned().collect(),
        }
    }
}

impl<P: Protocol> Actor for Connection<P> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        log::trace!("connection {} started", self.id());
        let addr = ctx.address();
        self.supervisor.do_send(Register(Member {
            status: self.status.clone(),
            deliver: addr.clone().recipient(),
            deliver_batch: addr.clone().recipient(),
            close: addr.clone().recipient(),
            inspect: addr.recipient(),
        }));
        self.wait_readable(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // Stopped from outside (the arbiter is going away): nothing may vanish silently.
        let reason = self.removal.unwrap_or(RemovalReason::Shutdown);
        self.deregister(reason);
        self.drop_queued(FailureReason::Removed(reason));
        self.report();
        self.supervisor.do_send(Gone(self.id()));
    }
}

impl<P: Protocol> Handler<Deliver> for Connection<P> {
    type Result = Result<(), SendError>;
    fn handle(&mut self, msg: Deliver, ctx: &mut Context<Self>) -> Self::Result {
        self.deliver(msg.0, ctx)
    }
}

impl<P: Protocol> Handler<DeliverBatch> for Connection<P> {
    type Result = ();
    fn handle(&mut self, msg: DeliverBatch, ctx: &mut Context<Self>) {
        for packet in msg.0.iter() {
            // Each packet is admitted, or refused and recorded, on its own.
            let _ = self.deliver(packet.clone(), ctx);
        }
    }
}

impl<P: Protocol> Handler<SendPacket<P::Response>> for Connection<P> {
    type Result = Result<(), SendError>;
    fn handle(&mut self, msg: SendPacket<P::Response>, ctx: &mut Context<Self>) -> Self::Result {
        if self.phase != Phase::Open {
            return Err(self.refuse(SendError::Closing, 0));
        }
        self.enqueue_response(msg.0, ctx)
    }
}

impl<P: Protocol> Handler<SendFile> for Connection<P> {
    type Result = Result<(), SendError>;
    fn handle(&mut self, msg: SendFile, ctx: &mut Context<Self>) -> Self::Result {
        if self.phase != Phase::Open {
            return Err(self.refuse(SendError::Closing, 0));
        }
        self.enqueue_file(msg.0, ctx)
    }
}

impl<P: Protocol> Handler<Close> for Connection<P> {
    type Result = ();
    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) {
        self.begin_close(msg.0, ctx);
    }
}

impl<P: Protocol> Handler<Inspect> for Connection<P> {
    type Result = MessageResult<Inspect>;
    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.inspect())
    }
}
