//! The connection actor: the thin shell that gives a [`Conn`] a socket, a clock and a
//! mailbox.
//!
//! Every decision is the core's. The actor waits for readiness with small spawned
//! futures, then reads and writes synchronously (`try_read`, `try_write_vectored`)
//! inside its own handlers, so no buffer is ever lent to a future; it runs one timer,
//! at the core's earliest deadline; and it carries out the core's events (report
//! counters, deregister, hand broadcasts, joins, leaves and publishes to the
//! supervisor, run deferred replies, shut
//! the write half, stop). actix's `FramedWrite` is not used: it has no working
//! backpressure under tokio 1 and delivers nothing once the actor stops.

mod messages;

pub use messages::{ConnectionReport, Inspect, SendFile, SendPacket};

use crate::core::{Conn, Event, Transmit};
use crate::protocol::{Outbox, Protocol};
use crate::stats::{Stats, TrafficDelta};
use crate::supervisor::{BroadcastBatch, Deregister, Gone, Register};
use crate::transport::{ReadFailure, Transport, Written};
use crate::{
    ConnId, ConnectionLimits, ConnectionStatus, FailureReason, Join, Leave, Member, PublishBatch,
    RemovalReason, Supervisor,
};
use actix::fut::{ready, wrap_future};
use actix::prelude::*;
use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;

/// Slices handed to one vectored write.
const MAX_IOV: usize = 64;
/// Bytes read from the socket at once.
const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    /// Every connection of a worker reads into this one buffer, and the core keeps only
    /// what an incomplete packet needs: an idle connection holds no read buffer.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
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

/// One TCP connection speaking protocol `P`.
pub struct Connection<P: Protocol> {
    /// Every decision about the connection.
    core: Conn<P>,
    /// The socket; futures waiting for readiness hold a clone.
    stream: Rc<TcpStream>,
    /// Plain TCP or TLS between the core and the socket.
    transport: Transport,
    /// Live figures shared with the supervisor (id, peer, idle time, queue size).
    status: Arc<ConnectionStatus>,
    /// The registry this connection belongs to.
    supervisor: Addr<Supervisor>,
    /// Where traffic deltas go.
    stats: Addr<Stats>,
    /// A readability wait (or a read yield) is pending.
    read_waiting: bool,
    /// A writability wait is pending.
    write_waiting: bool,
    /// A flush is scheduled for the end of this actor turn.
    flush_scheduled: bool,
    /// The one timer: when it fires, and its handle.
    timer: Option<(Instant, SpawnHandle)>,
    /// The core still keeps a handshake deadline (TLS, until the handshake ends).
    handshaking: bool,
    /// The TLS session could not even be created (logged then): the connection is
    /// removed (`tls_handshake`) as soon as it starts.
    broken: bool,
    /// Holds one of the listener's `max_connections` places until the actor is dropped.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The time in the clock the actor's timers use (tokio's, which tests may pause).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl<P: Protocol> Connection<P> {
    /// Starts a connection actor on the current arbiter for an accepted socket.
    pub fn start(
        id: ConnId,
        stream: TcpStream,
        peer: SocketAddr,
        protocol: P,
        context: ConnectionContext,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Addr<Self> {
        Self::start_with(id, stream, peer, protocol, context, permit, None)
    }

    /// Starts a connection actor that speaks TLS under `tls` when it is given.
    pub(crate) fn start_with(
        id: ConnId,
        stream: TcpStream,
        peer: SocketAddr,
        protocol: P,
        context: ConnectionContext,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Addr<Self> {
        let outbox = Outbox::new(id, peer, context.supervisor.clone());
        let (transport, broken) = match tls.map(Transport::tls) {
            None => (Transport::Plain, false),
            Some(Ok(transport)) => (transport, false),
            Some(Err(e)) => {
                log::warn!("connection {id}: TLS session not created: {e}");
                (Transport::Plain, true)
            }
        };
        Connection {
            core: Conn::new(protocol, outbox, context.limits, now()),
            stream: Rc::new(stream),
            transport,
            status: Arc::new(ConnectionStatus::new(id, P::NAME, peer)),
            supervisor: context.supervisor,
            stats: context.stats,
            read_waiting: false,
            write_waiting: false,
            flush_scheduled: false,
            timer: None,
            handshaking: false,
            broken,
            _permit: permit,
        }
        .start()
    }

    fn id(&self) -> ConnId {
        self.status.id
    }

    /// After every input: carries out the core's events, then waits for what it wants.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        if self.handshaking && !self.transport.is_handshaking() {
            self.handshaking = false;
            self.core.handshake_done();
        }
        while let Some(event) = self.core.poll_event() {
            match self.tell(event, ctx) {
                Some(Event::Defer { seq, reply }) => {
                    ctx.spawn(wrap_future(reply).map(move |reply, act: &mut Self, ctx| {
                        act.core.fill_deferred(now(), seq, reply);
                        act.drive(ctx);
                    }));
                }
                Some(Event::ShutdownWrite) => {
                    if let Err(e) = self.transport.shutdown(&self.stream) {
                        log::debug!("connection {}: shutdown failed: {e}", self.id());
                    }
                }
                Some(Event::Stop) => ctx.stop(),
                _ => {}
            }
        }
        self.status.set_queued_bytes(self.core.queued_bytes());
        self.status.set_error_packets(self.core.error_packets());
        self.status.set_sent_bytes(self.core.traffic().sent_bytes);
        if self.core.wants_write() || self.transport.wants_write() {
            self.schedule_flush(ctx);
        }
        if self.core.wants_read() {
            self.wait_readable(ctx);
        }
        self.arm_timer(ctx);
    }

    /// Hands the core's messages for others to them; returns what the shell must do.
    fn tell(&self, event: Event<P::Response>, ctx: &Context<Self>) -> Option<Event<P::Response>> {
        match event {
            Event::Report(delta) => self.stats.do_send(TrafficDelta {
                protocol: P::NAME,
                delta,
            }),
            Event::Removed(reason) => self.supervisor.do_send(Deregister {
                id: self.id(),
                reason,
            }),
            Event::Broadcast(packets) => self.supervisor.do_send(BroadcastBatch {
                protocol: P::NAME,
                packets: packets.into(),
                except: Some(self.id()),
            }),
            Event::Join(group, encoder) => self.supervisor.do_send(Join {
                id: self.id(),
                group,
                protocol: P::NAME,
                encoder,
                deliver: ctx.address().recipient(),
            }),
            Event::Leave(group) => self.supervisor.do_send(Leave {
                id: self.id(),
                group,
            }),
            Event::Publish(messages) => self.supervisor.do_send(PublishBatch {
                publisher: self.id(),
                protocol: P::NAME,
                messages,
            }),
            other => return Some(other),
        }
        None
    }

    fn arm_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(at) = self.core.poll_timeout() else {
            return;
        };
        if let Some((armed, handle)) = self.timer {
            if armed <= at {
                return;
            }
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_later(at.saturating_duration_since(now()), |act, ctx| {
            act.timer = None;
            act.core.handle_timeout(now());
            act.drive(ctx);
        });
        self.timer = Some((at, handle));
    }

    // ----- reading -------------------------------------------------------------------

    fn wait_readable(&mut self, ctx: &mut Context<Self>) {
        if self.read_waiting {
            return;
        }
        self.read_waiting = true;
        let stream = self.stream.clone();
        let wait = async move { stream.readable().await };
        ctx.spawn(wrap_future(wait).map(|res, act: &mut Self, ctx| {
            act.read_waiting = false;
            match res {
                Ok(()) => act.read_turn(ctx),
                Err(e) => act.failed(RemovalReason::IoError, FailureReason::Io(e.to_string())),
            }
            act.drive(ctx);
        }));
    }

    /// Reads until the socket is empty or the read budget is spent.
    fn read_turn(&mut self, ctx: &mut Context<Self>) {
        let mut budget = self.core.limits().read_budget;
        while self.core.wants_read() {
            let read = SCRATCH.with(|scratch| {
                let mut scratch = scratch.borrow_mut();
                let result = self.transport.read(&self.stream, &mut scratch);
                if let Ok(n @ 1..) = result {
                    self.status.touch_rx(tokio::time::Instant::now());
                    self.core.handle_read(now(), &scratch[..n]);
                }
                result
            });
            match read {
                Ok(0) => return self.core.handle_eof(now()),
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        return self.yield_then(ctx, false);
                    }
                }
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(ReadFailure::Io(e)) => {
                    return self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()))
                }
                Err(ReadFailure::Handshake(e)) => {
                    log::debug!("connection {}: TLS handshake failed: {e}", self.id());
                    let reason = RemovalReason::TlsHandshake;
                    return self.failed(reason, FailureReason::Removed(reason));
                }
                Err(ReadFailure::Tls(e)) => {
                    return self.failed(RemovalReason::IoError, FailureReason::Io(e))
                }
            }
        }
    }

    /// Lets the worker's other actors run, then goes on reading or flushing: a
    /// budget was spent, and one busy peer must not starve the rest.
    fn yield_then(&mut self, ctx: &mut Context<Self>, flush: bool) {
        *self.pending(flush) = true;
        let resume = wrap_future(tokio::task::yield_now());
        ctx.spawn(resume.map(move |(), act: &mut Self, ctx| {
            *act.pending(flush) = false;
            if flush {
                act.flush(ctx);
            } else {
                act.read_turn(ctx);
            }
            act.drive(ctx);
        }));
    }

    /// The flag that says a flush (or a read) is already on its way.
    fn pending(&mut self, flush: bool) -> &mut bool {
        if flush {
            &mut self.flush_scheduled
        } else {
            &mut self.read_waiting
        }
    }

    fn failed(&mut self, reason: RemovalReason, failure: FailureReason) {
        self.core.handle_failure(now(), reason, failure);
    }

    // ----- writing -------------------------------------------------------------------

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        // During a TLS handshake only the handshake's own records are written.
        let handshake_idle = self.transport.is_handshaking() && !self.transport.wants_write();
        if self.flush_scheduled || self.write_waiting || handshake_idle {
            return;
        }
        self.flush_scheduled = true;
        // Runs after the mailbox is drained: a burst of deliveries becomes one writev.
        ctx.spawn(ready(()).map(|(), act: &mut Self, ctx| {
            act.flush_scheduled = false;
            act.flush(ctx);
            act.drive(ctx);
        }));
    }

    /// Writes until the queue is empty, the socket is full or the flush budget is spent.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let mut budget = self.core.limits().flush_budget;
        loop {
            let written = match self.write_once(budget) {
                Ok(Some(written)) => written,
                Ok(None) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return self.wait_writable(ctx),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return self.failed(RemovalReason::IoError, FailureReason::Io(e.to_string()))
                }
            };
            self.core
                .handle_written(now(), written.taken, written.confirmed);
            budget = budget.saturating_sub(written.taken);
            if budget == 0 {
                return self.yield_then(ctx, true);
            }
        }
    }

    /// One write: the transport's own pending bytes first (TLS records), else the core's
    /// next bytes. `None` when there is nothing to write.
    fn write_once(&mut self, budget: usize) -> io::Result<Option<Written>> {
        if self.transport.wants_write() {
            let confirmed = self.transport.flush(&self.stream)?;
            return Ok(Some(Written {
                taken: 0,
                confirmed,
            }));
        }
        if self.transport.is_handshaking() {
            return Ok(None);
        }
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let written = match self.core.poll_transmit(&mut slices, budget) {
            Transmit::Nothing => return Ok(None),
            Transmit::Slices(n) => self.transport.write(&self.stream, &slices[..n])?,
            Transmit::File(region) => self.transport.send_file(&self.stream, region, budget)?,
        };
        if written.taken == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        Ok(Some(written))
    }

    /// Waits for room in the socket; the core's write deadline bounds the wait.
    fn wait_writable(&mut self, ctx: &mut Context<Self>) {
        if self.write_waiting {
            return;
        }
        self.write_waiting = true;
        let stream = self.stream.clone();
        let wait = async move { stream.writable().await };
        ctx.spawn(wrap_future(wait).map(|res, act: &mut Self, ctx| {
            act.write_waiting = false;
            match res {
                Ok(()) => act.flush(ctx),
                Err(e) => act.failed(RemovalReason::IoError, FailureReason::Io(e.to_string())),
            }
            act.drive(ctx);
        }));
    }
}

impl<P: Protocol> Actor for Connection<P> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let addr = ctx.address();
        self.supervisor.do_send(Register(Member {
            status: self.status.clone(),
            deliver: addr.clone().recipient(),
            deliver_batch: addr.clone().recipient(),
            close: addr.clone().recipient(),
            inspect: addr.recipient(),
        }));
        if self.transport.is_handshaking() {
            self.handshaking = true;
            self.core.begin_handshake(now());
        }
        self.core.handle_open(now());
        if self.broken {
            let reason = RemovalReason::TlsHandshake;
            self.failed(reason, FailureReason::Removed(reason));
        }
        self.drive(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        // Stopped from outside (the arbiter is going away): nothing may vanish silently.
        self.core.handle_stopped(now());
        while let Some(event) = self.core.poll_event() {
            self.tell(event, ctx);
        }
        self.supervisor.do_send(Gone(self.id()));
    }
}
