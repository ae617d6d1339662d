//! The connection actor: the thin shell that gives a [`Conn`] a socket, a clock and a
//! mailbox.
//!
//! Every decision is the core's. The actor's one long-lived I/O task waits for
//! readiness, then reads and writes synchronously (`try_read`, `try_write_vectored`)
//! with the actor in hand, so no buffer is ever lent to a future (`syscalls.rs`); it
//! registers the core's earliest deadline with its worker thread's one timer
//! (`deadlines.rs`), which wakes the task when it comes; and it carries out the core's
//! events (`events.rs`): report counters, deregister, hand joins and leaves to its thread's hub and
//! the supervisor, hand broadcasts and publishes to every hub (pausing reads while its
//! publish credit is spent), run deferred replies, shut the write half, stop. Its messages are in
//! `messages.rs`. actix's `FramedWrite` is not used: it has no working backpressure
//! under tokio 1 and delivers nothing once the actor stops.

mod deadlines;
mod events;
mod messages;
mod syscalls;

pub(crate) use messages::Control;
pub use messages::{ConnectionReport, Inspect};

use crate::config::WebSocketConfig;
use crate::core::budget::OutboundBudget;
use crate::core::Conn;
use crate::hub::{Credit, Hub, Hubs, Inbox};
use crate::listener::Admission;
use crate::member::Link;
use crate::protocol::{Outbox, Protocol};
use crate::stats::Failures;
use crate::supervisor::{Enroll, Gone, Relayed};
use crate::transport::Transport;
use crate::{
    ConnId, ConnectionLimits, ConnectionStatus, FailureReason, Member, RemovalReason, Supervisor,
};
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Instant, SystemTime};
use tokio::net::TcpStream;

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Every connection of a worker reads into this one buffer, and the core keeps only
    /// what an incomplete packet needs: an idle connection holds no read buffer.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
    /// The same for plain TCP, as a buffer a connection can take whole when a read
    /// fills a good part of it and it holds nothing of its own: no copy. It comes back
    /// when the connection keeps nothing of it.
    static SPARE: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// Everything a connection needs from the switchboard that started it; one per
/// listener, shared by its connections (a clone is one reference count, where cloning
/// the addresses inside would create a sender, three allocations, each).
#[derive(Clone)]
pub(crate) struct ConnectionContext(Arc<Shared>);

/// What the connections of one listener share.
pub(crate) struct Shared {
    /// The registry to join, and the handle a handler asks.
    pub handle: crate::Handle,
    /// The limits to enforce.
    pub limits: Arc<ConnectionLimits>,
    /// Where broadcasts and group messages fan out.
    pub hubs: Hubs,
    /// The budget of bytes queued for all connections together, if there is one.
    pub budget: Option<Arc<OutboundBudget>>,
    /// The listener's WebSocket configuration, for a WebSocket listener.
    pub ws: Option<Arc<WebSocketConfig>>,
    /// Connections open now on the switchboard's WebSocket listeners.
    pub websockets: Arc<AtomicU64>,
}

/// What the transport stacks on the socket, besides what the listener's context says.
#[derive(Default)]
pub(crate) struct Layers {
    /// TLS under this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Bytes of a WebSocket request already read from the socket (by an HTTP server
    /// that handed the connection over).
    pub early: Bytes,
}

impl ConnectionContext {
    /// A context sharing `shared`.
    pub(crate) fn new(shared: Shared) -> Self {
        ConnectionContext(Arc::new(shared))
    }

    /// The registry.
    pub(crate) fn supervisor(&self) -> &Addr<Supervisor> {
        self.0.handle.supervisor()
    }
}

impl std::ops::Deref for ConnectionContext {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// One TCP connection speaking protocol `P`.
pub(crate) struct Connection<P: Protocol> {
    /// Every decision about the connection.
    core: Conn<P>,
    /// The socket.
    stream: TcpStream,
    /// Plain TCP or TLS between the core and the socket.
    transport: Transport,
    /// Live figures shared with the supervisor (id, peer, idle time, queue size).
    status: Arc<ConnectionStatus>,
    /// The registry and every hub of the switchboard (where this connection's
    /// broadcasts and publishes go), shared with the listener's other connections.
    context: ConnectionContext,
    /// The hub of this connection's thread, once started: where it registers, joins
    /// and leaves.
    hub: Option<Arc<Addr<Hub>>>,
    /// Where that hub hands it broadcasts and group messages (taken by the I/O task).
    inbox: Arc<Inbox>,
    /// Bytes this connection handed to the hubs and they have not yet handed on;
    /// created at its first broadcast or publish.
    credit: Option<Arc<Credit>>,
    /// Wakes the I/O task after inputs that arrive outside the mailbox (timers,
    /// deferred replies); set by the task on its first poll.
    waker: Option<Waker>,
    /// The connection's tracing span (id, peer, protocol, and user once it
    /// authenticated), entered around everything the connection does, so its events
    /// carry who they are about; kept only while a subscriber is interested in it
    /// (boxed: an idle connection pays one pointer).
    span: Option<Box<tracing::Span>>,
    /// The deadline registered with its worker's timer (`deadlines.rs`), if one is:
    /// when its task is woken to run the core's `handle_timeout`.
    timer: Option<Instant>,
    /// Whether the write of fan-out deliveries waits for one turn of the worker's
    /// other tasks first (`syscalls.rs`).
    cork: Cork,
    /// The core still keeps a handshake deadline (TLS, until the handshake ends).
    handshaking: bool,
    /// A WebSocket connection whose handshake has not finished: the core opens when
    /// the transport hands over the request.
    upgrading: bool,
    /// The count of open WebSocket connections this one is in, until it is removed.
    websocket: Option<Arc<AtomicU64>>,
    /// The TLS session could not even be created (logged then): the connection is
    /// removed (`tls_handshake`) as soon as it starts.
    broken: bool,
    /// It must authenticate before it is in the audience of broadcasts: it registers
    /// with its hub once it did.
    unheard: bool,
    /// Holds the listener's places (one of `max_connections`, one of its address's)
    /// until the actor is dropped; says whether a limit refused it at accept.
    admission: Admission,
    /// Reads whose replies are not written yet (measurement builds only).
    #[cfg(feature = "probe")]
    probe: crate::probe::Pending,
}

/// Flush consolidation for fan-out: a hub hands a member one batch at a time, and
/// writing each at once costs one `writev` (and one wake of the peer) per batch. A
/// member whose write waits until the worker's other ready tasks have run once (the
/// hub among them, with the batches that arrived meanwhile) writes them together. It
/// waits at most once per write, so a steady stream of deliveries cannot hold its
/// bytes back; replies to its own peer are not delayed by it. Netty's
/// `FlushConsolidationHandler` does the same for a channel's flushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cork {
    /// Writes go out as soon as the socket takes them.
    Open,
    /// A delivery arrived: the next poll of the I/O task yields before writing.
    Corked,
    /// The I/O task yielded once; it writes on its next poll, whatever arrives.
    Released,
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
        admission: Admission,
    ) -> Addr<Self> {
        Self::start_with(
            id,
            stream,
            peer,
            protocol,
            context,
            admission,
            Layers::default(),
        )
    }

    /// Starts a connection actor that speaks TLS under `layers.tls` when it is given,
    /// and WebSocket when the listener's context says so.
    pub(crate) fn start_with(
        id: ConnId,
        stream: TcpStream,
        peer: SocketAddr,
        protocol: P,
        context: ConnectionContext,
        admission: Admission,
        layers: Layers,
    ) -> Addr<Self> {
        let status = Arc::new(ConnectionStatus::new(id, P::NAME, peer));
        let outbox = Outbox::with_status(status.clone(), context.handle.clone());
        let (transport, broken) = match layers.tls.map(Transport::tls) {
            None => (Transport::Plain, false),
            Some(Ok(transport)) => (transport, false),
            Some(Err(e)) => {
                tracing::warn!("connection {id}: TLS session not created: {e}");
                (Transport::Plain, true)
            }
        };
        #[cfg(feature = "probe")]
        if matches!(transport, Transport::Plain) {
            crate::probe::enable_timestamps(&stream);
        }
        let user = tracing::field::Empty;
        let span = tracing::info_span!("connection", id, %peer, protocol = P::NAME, user);
        let mut core = match &context.budget {
            Some(budget) => Conn::new(protocol, outbox, context.limits.clone(), now())
                .with_outbound_budget(budget.local_share()),
            None => Conn::new(protocol, outbox, context.limits.clone(), now()),
        };
        let transport = match &context.ws {
            Some(ws) => {
                core = core.with_websocket(ws.clone(), now());
                transport.websocket(ws.handshake.clone(), layers.early)
            }
            None => transport,
        };
        Connection {
            span: (!span.is_disabled()).then(|| Box::new(span)),
            core,
            stream,
            transport,
            status,
            context,
            hub: None,
            inbox: Arc::default(),
            credit: None,
            waker: None,
            timer: None,
            cork: Cork::Open,
            handshaking: false,
            upgrading: false,
            websocket: None,
            broken,
            unheard: false,
            admission,
            #[cfg(feature = "probe")]
            probe: Default::default(),
        }
        .start()
    }

    fn id(&self) -> ConnId {
        self.status.id
    }

    /// Enters the connection's span until the guard is dropped.
    fn enter(&self) -> tracing::span::EnteredSpan {
        let span = self.span.as_deref().cloned();
        span.unwrap_or_else(tracing::Span::none).entered()
    }

    /// After every input: carries out the core's events, then waits for what it wants.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        self.finish_handshake();
        self.finish_upgrade();
        while let Some(event) = self.core.poll_event() {
            self.carry_out(event, ctx);
        }
        if !self.core.publish_paused() && self.credit.as_ref().is_some_and(|c| c.exhausted()) {
            // Its broadcasts and publishes just spent the credit: reading pauses.
            self.core.handle_publish_credit(now(), true);
            while let Some(event) = self.core.poll_event() {
                self.carry_out(event, ctx);
            }
        }
        self.status.set_queued_bytes(self.core.queued_bytes());
        self.status.set_error_packets(self.core.error_packets());
        self.status.set_sent_bytes(self.core.traffic().sent_bytes);
        self.arm_timer();
    }

    /// If the TLS handshake has just finished: the core learns it and the peer's
    /// certificates, and the connection opens (`on_open` runs), unless a limit refused
    /// it at accept.
    fn finish_handshake(&mut self) {
        if !self.handshaking || self.transport.is_tls_handshaking() {
            return;
        }
        self.handshaking = false;
        self.core.handle_handshake_done(now());
        if let Some(chain) = self.transport.peer_certificates() {
            self.core.set_peer_certificates(chain);
        }
        // A WebSocket inside TLS opens after its own handshake (`finish_upgrade`).
        if self.admission.refused.is_none() && !self.upgrading {
            self.core.handle_open(now());
        }
    }

    /// If the WebSocket handshake has just finished: the connection opens with the
    /// request (`on_open` runs with it at hand), unless a limit refused it at accept;
    /// once the handshake's stage has nothing left to do, it is dropped.
    fn finish_upgrade(&mut self) {
        if self.upgrading && !self.transport.is_handshaking() {
            self.upgrading = false;
            if let Some(request) = self.transport.take_request() {
                if self.admission.refused.is_none() {
                    self.core.handle_upgraded(now(), request);
                }
            }
        }
        if !self.upgrading {
            self.transport.settle();
        }
    }

    /// Registers the core's earliest deadline with the worker's timer, unless one as
    /// early is registered already (a deadline that moved later wakes the connection
    /// early, and `handle_timeout` then finds nothing due and the next one is
    /// registered). Before the I/O task's first poll there is no waker yet: that poll
    /// registers it.
    fn arm_timer(&mut self) {
        let Some(at) = self.core.poll_timeout() else {
            return;
        };
        let Some(waker) = &self.waker else {
            return;
        };
        if let Some(armed) = self.timer {
            if armed <= at {
                return;
            }
            deadlines::cancel(armed, waker);
        }
        deadlines::arm(at, waker);
        self.timer = Some(at);
    }

    /// If the registered deadline has come: the core's timers run. Returns whether
    /// they did.
    fn run_timer(&mut self, ctx: &mut Context<Self>) -> bool {
        if !self.timer.is_some_and(deadlines::fired) {
            return false;
        }
        let _span = self.enter();
        self.timer = None;
        self.core.handle_timeout(now());
        self.drive(ctx);
        true
    }
}

impl<P: Protocol> Drop for Connection<P> {
    /// The worker's timer lets go of the connection's task.
    fn drop(&mut self) {
        if let (Some(at), Some(waker)) = (self.timer, &self.waker) {
            deadlines::cancel(at, waker);
        }
    }
}

impl<P: Protocol> Actor for Connection<P> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let _span = self.enter();
        // One mailbox address, shared by the supervisor and every group it keeps.
        let link: Link = Arc::new(ctx.address());
        self.hub = Some(self.context.hubs.local(self.context.supervisor()));
        // One that must authenticate first is in no audience until it did.
        self.unheard = self.status.awaits_authentication();
        if !self.unheard {
            self.register_with_hub();
        }
        self.context.supervisor().do_send(Enroll(Member {
            status: self.status.clone(),
            link,
        }));
        // Polled after the mailbox on every wake of the actor, for its whole life.
        ctx.spawn(syscalls::Io::new());
        if self.transport.is_tls_handshaking() {
            self.handshaking = true;
            self.core.handle_handshake_started(now());
        }
        if self.context.ws.is_some() {
            // Opens with the request, once the transport accepted it (`finish_upgrade`).
            self.upgrading = true;
            self.context.websockets.fetch_add(1, Relaxed);
            self.websocket = Some(self.context.websockets.clone());
        }
        match self.admission.refused.as_deref().copied() {
            Some(refusal) => self
                .core
                .handle_refused(now(), refusal.reason, refusal.message),
            // Under TLS, once the handshake has finished (`finish_handshake`); never
            // if TLS could not even start; on a WebSocket, once its handshake has
            // (`finish_upgrade`).
            None if self.handshaking || self.broken || self.upgrading => {}
            None => self.core.handle_open(now()),
        }
        if self.broken {
            let reason = RemovalReason::TlsHandshake;
            self.failed(reason, FailureReason::Removed(reason));
        }
        self.drive(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        let _span = self.enter();
        // Stopped from outside (the arbiter is going away): nothing may vanish silently.
        self.core.handle_stopped(now());
        while let Some(event) = self.core.poll_event() {
            self.carry_out(event, ctx);
        }
        if let Some(open) = self.websocket.take() {
            open.fetch_sub(1, Relaxed);
        }
        // The reasons of its send failures outlive the connection in the stats.
        let failures = self.core.recent_failures(now(), SystemTime::now());
        if !failures.is_empty() {
            self.relay(Relayed::Failures(Failures {
                protocol: P::NAME,
                peer: self.status.peer,
                failures,
            }));
        }
        self.relay(Relayed::Gone(Gone(self.id())));
    }
}
