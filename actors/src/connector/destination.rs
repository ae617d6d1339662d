//! The destination actor: one remote peer, the pool of connections dialed to it, its
//! health, and its redials.
//!
//! A [`Destination`] dials its peer and keeps at least one connection (a *sender*) to
//! it. Each sender is an ordinary [`Connection`] actor running the application's
//! [`Backend`] protocol wrapped in [`Dialed`], registered with the supervisor in the
//! backend's group, so dialed sockets get the same bounded, accounted write path and
//! the same logged, announced removals as accepted ones.
//!
//! - **Sending** ([`Transmit`]): a request takes an idle sender from the pool (see
//!   `pool.rs`), or waits for one at most `acquire_timeout`. Its packet is handed to the
//!   sender's connection; with `wait_for_ack` the request then waits for the sender's
//!   next unclaimed answer (acks are matched first-in, first-out: see `acks.rs`) until
//!   its deadline. At the deadline the caller is told `timeout` and the request stays
//!   in the sender's ack queue marked expired: **a request that timed out is never
//!   reported delivered later; its late ack is counted (`late_acks`) and ignored.**
//! - **Health** (seed 000's `checkConnection`): every `health_interval` each sender
//!   sends the backend's health check, which must be answered before its deadline,
//!   `health_timeout` after it was sent: an answer at or after the deadline counts as
//!   missed, so a `health_timeout` of 0 is never met. A sender whose checks go unanswered
//!   `max_failures` times in a row is closed with reason `health_check`; one whose
//!   connection breaks is gone with `io_error`. A destination with no connected sender
//!   is *down*; it is *up* again once it answers. Up and down go to the stats actor as
//!   [`BackendState`].
//! - **Redialling** (seed 001: failed senders reconnect): a destination left with no
//!   sender redials after a [`Backoff`] delay with full jitter, the delay growing while
//!   dials keep failing and starting over once the destination answers. Requests that
//!   arrive while it waits are faulty at once with `not connected`.

use crate::connector::acks::{AckQueue, Matched};
use crate::connector::backend::{Answer, Backend, Dialed, LinkEvent, LinkEventKind};
use crate::connector::link::{queue_outcome, Link, Reply, Waiter};
use crate::connector::pool::{Acquire, PoolConfig, Release, SenderPool};
use crate::connector::report::summary_state;
use crate::connector::{Backoff, DestinationReport, Fault, SenderReport};
use crate::stats::{BackendState, DeclareDialed};
use crate::{Close, ConnId, Connection, Deliver, RemovalReason, Switchboard};
use actix::fut::wrap_future;
use actix::prelude::*;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Send one encoded packet to the destination, optionally waiting for its ack.
///
/// Answers `Ok(())` once the destination acked (or, without `wait_for_ack`, once the
/// packet is in a connection's outbound queue), or the [`Fault`] that kept it from
/// doing so. The answer comes by `deadline`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), Fault>")]
pub struct Transmit {
    /// The packet, already encoded (see [`encode`](crate::encode)); shared, not copied,
    /// when sent to many destinations.
    pub packet: Bytes,
    /// Whether to wait for the destination's ack. Without it, send only packets the
    /// destination does not answer: an answer would be taken for another request's ack.
    pub wait_for_ack: bool,
    /// When to give up.
    pub deadline: Instant,
}

/// Ask a destination how it is doing.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "DestinationReport")]
pub struct Describe;

/// Stop a destination: its senders close (reason `shutdown`), waiting requests are
/// faulty with `not connected`, and it dials no more.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopDestination;

/// How a destination dials, pools, checks and redials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationConfig {
    /// Senders and their retirement.
    pub pool: PoolConfig,
    /// A dial that takes longer fails.
    pub connect_timeout: Duration,
    /// How often every sender is health-checked.
    pub health_interval: Duration,
    /// How long a health check waits for its ack before it counts as missed (0: every
    /// check is missed, however fast the answer).
    pub health_timeout: Duration,
    /// Missed health checks in a row before a sender is closed as `health_check`.
    pub max_failures: u32,
    /// The shortest wait before a redial.
    pub reconnect_min: Duration,
    /// The longest wait before a redial.
    pub reconnect_max: Duration,
    /// Requests outstanding on one sender at most, expired ones waiting for their late
    /// acks included: bounds the ack queue of a destination that stopped answering.
    pub max_outstanding: usize,
    /// Requests waiting for a sender at most; beyond it, `no sender available` at once.
    pub max_pending: usize,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        DestinationConfig {
            pool: PoolConfig::default(),
            connect_timeout: Duration::from_secs(1),
            health_interval: Duration::from_secs(5),
            health_timeout: Duration::from_secs(1),
            max_failures: 2,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            max_outstanding: 256,
            max_pending: 1024,
        }
    }
}

/// A request waiting for a sender.
struct Waiting {
    /// Identifies it while it waits (its ack-queue entry gets a new number when sent,
    /// so that entries stay in send order).
    ticket: u64,
    /// What to send.
    packet: Bytes,
    /// Whether it waits for an ack.
    wait_for_ack: bool,
    /// When the caller gives up.
    deadline: Instant,
    /// Where the outcome goes.
    reply: Reply,
}

/// Running counts for [`DestinationReport`].
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Dials started.
    dials: u64,
    /// Dials that failed.
    dial_failures: u64,
    /// Senders retired.
    retired: u64,
    /// Senders closed for missed health checks.
    evicted: u64,
    /// Late acks ignored.
    late_acks: u64,
    /// Answers that matched nothing.
    unmatched: u64,
}

/// One remote peer and the senders dialed to it.
pub struct Destination<B: Backend> {
    /// Where to dial.
    address: SocketAddr,
    /// Its name in reports and stats.
    name: String,
    /// Limits and timings.
    config: DestinationConfig,
    /// Where connections get their ids, context and supervisor.
    board: Switchboard,
    /// Makes the protocol value of each new sender.
    factory: Box<dyn Fn() -> B>,
    /// The health check, encoded once; `None` if it cannot be encoded (no checks).
    health_packet: Option<Bytes>,
    /// The senders.
    pool: SenderPool<Link>,
    /// Requests waiting for a sender, oldest first.
    pending: VecDeque<Waiting>,
    /// Whether the destination is up.
    up: bool,
    /// Set by [`StopDestination`]: nothing new starts.
    stopping: bool,
    /// The redial delays.
    backoff: Backoff,
    /// Jitter for the redial delays, one generator per destination.
    rng: fastrand::Rng,
    /// Whether a redial is scheduled (the destination is backing off).
    redial_scheduled: bool,
    /// The last redial delay chosen.
    last_backoff: Option<Duration>,
    /// Why the last dial failed.
    last_dial_error: Option<String>,
    /// The next request sequence number.
    next_seq: u64,
    /// Counts for reports.
    counts: Counts,
}

impl<B: Backend> Destination<B> {
    /// Starts a destination actor for `address` on the current arbiter; it dials at
    /// once. Its senders join `board`'s supervisor in the group `B::NAME`.
    pub fn start(
        address: SocketAddr,
        board: &Switchboard,
        config: DestinationConfig,
        factory: impl Fn() -> B + 'static,
    ) -> Addr<Self> {
        let sample = factory();
        let health_packet = match crate::connector::encode(&sample, sample.health_check()) {
            Ok(packet) => Some(packet),
            Err(e) => {
                log::error!("{address}: health check cannot be encoded ({e}): no health checks");
                None
            }
        };
        Destination {
            address,
            name: address.to_string(),
            backoff: Backoff::new(config.reconnect_min, config.reconnect_max),
            pool: SenderPool::new(config.pool.clone()),
            config,
            board: board.clone(),
            factory: Box::new(factory),
            health_packet,
            pending: VecDeque::new(),
            up: false,
            stopping: false,
            rng: fastrand::Rng::new(),
            redial_scheduled: false,
            last_backoff: None,
            last_dial_error: None,
            next_seq: 1,
            counts: Counts::default(),
        }
        .start()
    }

    fn seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn link_mut(&mut self, id: ConnId) -> Option<&mut Link> {
        self.pool.get_mut(id).and_then(|slot| slot.link.as_mut())
    }

    // ----- up and down ---------------------------------------------------------------

    fn report_state(&self) {
        self.board.stats().do_send(BackendState {
            member: self.name.clone(),
            up: self.up,
        });
    }

    fn mark_up(&mut self) {
        if !self.up {
            self.up = true;
            self.backoff.reset();
            log::info!("backend {} up", self.name);
            self.report_state();
        }
    }

    fn mark_down(&mut self) {
        if self.up {
            self.up = false;
            log::info!("backend {} down", self.name);
            self.report_state();
        }
    }

    // ----- dialling ------------------------------------------------------------------

    fn dial(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let id = self.board.next_id();
        self.pool.insert_connecting(id, Instant::now());
        self.counts.dials += 1;
        let (address, timeout) = (self.address, self.config.connect_timeout);
        let connect =
            async move { tokio::time::timeout(timeout, TcpStream::connect(address)).await };
        ctx.spawn(
            wrap_future(connect).map(move |res, act: &mut Self, ctx| match res {
                Ok(Ok(stream)) => act.dialed(id, stream, ctx),
                Ok(Err(e)) => act.dial_failed(id, e.to_string(), ctx),
                Err(_) => act.dial_failed(id, "connect timed out".to_owned(), ctx),
            }),
        );
    }

    fn dialed(&mut self, id: ConnId, stream: TcpStream, ctx: &mut Context<Self>) {
        if self.pool.get(id).is_none() {
            return; // stopped meanwhile: the stream closes here.
        }
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("backend {}: set_nodelay: {e}", self.name);
        }
        let protocol = Dialed::new((self.factory)(), id, ctx.address().recipient());
        let context = self.board.connection_context();
        let peer = match stream.peer_addr() {
            Ok(peer) => peer,
            Err(e) => return self.dial_failed(id, e.to_string(), ctx),
        };
        let connection = Connection::start(id, stream, peer, protocol, context, None);
        let link = Link {
            deliver: connection.clone().recipient(),
            close: connection.recipient(),
            acks: AckQueue::new(self.config.max_outstanding),
        };
        if let Err(link) = self.pool.connected(id, link) {
            link.close.do_send(Close(RemovalReason::Shutdown));
            return;
        }
        self.last_dial_error = None;
        log::debug!("backend {}: sender {id} connected", self.name);
        if self.health_packet.is_some() {
            self.check(id, ctx); // it is up once it answers
        } else {
            self.pool.answered(id);
            self.mark_up();
        }
        self.pump(ctx);
    }

    fn dial_failed(&mut self, id: ConnId, why: String, ctx: &mut Context<Self>) {
        self.pool.remove(id);
        self.counts.dial_failures += 1;
        log::debug!("backend {}: dial failed: {why}", self.name);
        self.last_dial_error = Some(why);
        self.link_lost(ctx);
    }

    /// Redials after a backoff delay, unless one is already scheduled.
    fn schedule_redial(&mut self, ctx: &mut Context<Self>) {
        if self.redial_scheduled || self.stopping {
            return;
        }
        let delay = self.backoff.next_delay(&mut self.rng);
        self.last_backoff = Some(delay);
        self.redial_scheduled = true;
        log::debug!("backend {}: redial in {delay:?}", self.name);
        ctx.run_later(delay, |act, ctx| {
            act.redial_scheduled = false;
            if act.pool.is_empty() {
                act.dial(ctx);
            }
        });
    }

    /// Dials at once when the pool emptied without a failure (a sender retired).
    fn ensure_sender(&mut self, ctx: &mut Context<Self>) {
        if self.pool.is_empty() && !self.redial_scheduled {
            self.dial(ctx);
        }
    }

    /// A sender is gone for a failure: the destination is down without another
    /// connected one, and an empty pool redials after a backoff delay.
    fn link_lost(&mut self, ctx: &mut Context<Self>) {
        if !self.pool.any_connected() {
            self.mark_down();
        }
        if self.pool.is_empty() {
            self.schedule_redial(ctx);
        }
        self.pump(ctx);
    }

    // ----- requests ------------------------------------------------------------------

    fn submit(&mut self, msg: Transmit, reply: Reply, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let refusal = if self.stopping {
            Some(Fault::NotConnected)
        } else if msg.deadline <= now {
            Some(Fault::Timeout)
        } else if self.pending.len() >= self.config.max_pending {
            Some(Fault::NoSenderAvailable)
        } else {
            None
        };
        if let Some(fault) = refusal {
            let _ = reply.send(Err(fault));
            return;
        }
        let ticket = self.seq();
        let give_up = msg.deadline.min(now + self.config.pool.acquire_timeout);
        self.pending.push_back(Waiting {
            ticket,
            packet: msg.packet,
            wait_for_ack: msg.wait_for_ack,
            deadline: msg.deadline,
            reply,
        });
        ctx.run_later(give_up - now, move |act, _| act.give_up(ticket));
        self.pump(ctx);
    }

    /// A request waited for a sender too long.
    fn give_up(&mut self, ticket: u64) {
        let Some(index) = self.pending.iter().position(|w| w.ticket == ticket) else {
            return;
        };
        if let Some(waiting) = self.pending.remove(index) {
            let fault = if self.pool.any_connected() {
                Fault::NoSenderAvailable
            } else {
                Fault::NotConnected
            };
            let _ = waiting.reply.send(Err(fault));
        }
    }

    /// Hands waiting requests to idle senders, dialling one more if the pool may grow.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while !self.pending.is_empty() {
            match self.pool.acquire(|link| link.acks.has_room()) {
                Acquire::Use(id) => {
                    if let Some(waiting) = self.pending.pop_front() {
                        self.send_on(id, waiting, ctx);
                    }
                }
                Acquire::Dial if self.redial_scheduled || self.stopping => {
                    // Backing off: nothing will connect before the redial.
                    for waiting in self.pending.drain(..) {
                        let _ = waiting.reply.send(Err(Fault::NotConnected));
                    }
                }
                Acquire::Dial => {
                    self.dial(ctx);
                    break;
                }
                Acquire::Wait => break,
            }
        }
    }

    fn send_on(&mut self, id: ConnId, waiting: Waiting, ctx: &mut Context<Self>) {
        let now = Instant::now();
        if waiting.deadline <= now {
            let _ = waiting.reply.send(Err(Fault::Timeout));
            return;
        }
        let Waiting {
            packet,
            wait_for_ack,
            deadline,
            reply,
            ..
        } = waiting;
        let seq = self.seq();
        let Some(link) = self.link_mut(id) else {
            let _ = reply.send(Err(Fault::NotConnected));
            return;
        };
        let deliver = link.deliver.clone();
        let reply_when_queued = if wait_for_ack {
            if let Err(Waiter::Send(reply)) = link.acks.push(seq, Waiter::Send(reply)) {
                let _ = reply.send(Err(Fault::NoSenderAvailable));
                return;
            }
            ctx.run_later(deadline - now, move |act, ctx| act.expire(id, seq, ctx));
            None
        } else {
            Some(reply)
        };
        self.pool.take(id);
        ctx.spawn(wrap_future(deliver.send(Deliver(packet))).map(
            move |res, act: &mut Self, ctx| {
                act.queued(id, seq, queue_outcome(res), reply_when_queued, ctx)
            },
        ));
    }

    /// The connection took (or refused) the packet of request `seq`.
    fn queued(
        &mut self,
        id: ConnId,
        seq: u64,
        outcome: Result<(), Fault>,
        reply_when_queued: Option<Reply>,
        ctx: &mut Context<Self>,
    ) {
        self.pool.written(id);
        if let Some(reply) = reply_when_queued {
            let _ = reply.send(outcome);
            return self.finish(id, ctx);
        }
        if let Err(fault) = outcome {
            // Never written: no answer will come, so it must not wait in the ack queue.
            let cancelled = self.link_mut(id).and_then(|link| link.acks.cancel(seq));
            if let Some(Waiter::Send(reply)) = cancelled {
                let _ = reply.send(Err(fault));
                self.finish(id, ctx);
            }
        }
    }

    /// Request `seq` on sender `id` reached its deadline (or a health check its timeout).
    fn expire(&mut self, id: ConnId, seq: u64, ctx: &mut Context<Self>) {
        let expired = self.link_mut(id).and_then(|link| link.acks.expire(seq));
        match expired {
            Some(Waiter::Send(reply)) => {
                let _ = reply.send(Err(Fault::Timeout));
                self.finish(id, ctx);
            }
            Some(Waiter::Health { .. }) => self.missed_check(id, ctx),
            None => {}
        }
    }

    /// A request on sender `id` is finished: retire the sender if it is worn out, then
    /// hand it the next waiting request.
    fn finish(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if self.pool.finish(id, Instant::now()) == Release::Retire {
            self.retire(id, ctx);
        }
        self.pump(ctx);
    }

    fn retire(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if let Some(mut slot) = self.pool.remove(id) {
            self.counts.retired += 1;
            log::debug!("backend {}: sender {id} retired", self.name);
            if let Some(link) = slot.link.as_mut() {
                link.fail_all(&Fault::Io("sender retired".to_owned()));
                link.close.do_send(Close(RemovalReason::Closed));
            }
        }
        self.ensure_sender(ctx);
    }

    // ----- answers and health --------------------------------------------------------

    fn answered(&mut self, id: ConnId, answer: Answer, ctx: &mut Context<Self>) {
        let Some(link) = self.link_mut(id) else {
            self.counts.unmatched += 1;
            return;
        };
        match link.acks.answer() {
            Matched::Live(_, Waiter::Health { deadline }) if Instant::now() >= deadline => {
                // Answered too late, though before its expiry ran: missed all the same.
                self.missed_check(id, ctx);
            }
            Matched::Live(_, waiter) => {
                self.pool.answered(id);
                self.mark_up();
                if let Waiter::Send(reply) = waiter {
                    let outcome = match answer {
                        Answer::Refused(reason) => Err(Fault::Refused(reason)),
                        Answer::Ack | Answer::Unsolicited => Ok(()),
                    };
                    let _ = reply.send(outcome);
                    self.finish(id, ctx);
                }
            }
            Matched::Late(seq) => {
                self.counts.late_acks += 1;
                log::debug!(
                    "backend {}: late answer to request {seq} ignored",
                    self.name
                );
            }
            Matched::Unmatched => self.counts.unmatched += 1,
        }
    }

    /// Sends a health check on sender `id`.
    fn check(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        let Some(packet) = self.health_packet.clone() else {
            return;
        };
        let seq = self.seq();
        let timeout = self.config.health_timeout;
        let deadline = Instant::now() + timeout;
        let Some(link) = self.link_mut(id) else {
            return;
        };
        if link.acks.push(seq, Waiter::Health { deadline }).is_err() {
            // Too many answers outstanding to even ask: as good as a missed check.
            return self.missed_check(id, ctx);
        }
        let deliver = link.deliver.clone();
        ctx.run_later(timeout, move |act, ctx| act.expire(id, seq, ctx));
        ctx.spawn(
            wrap_future(deliver.send(Deliver(packet))).map(move |res, act: &mut Self, _| {
                if queue_outcome(res).is_err() {
                    if let Some(link) = act.link_mut(id) {
                        link.acks.cancel(seq);
                    }
                }
            }),
        );
    }

    fn missed_check(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if self.pool.missed(id) >= self.config.max_failures {
            self.evict(id, ctx);
        }
    }

    /// Closes sender `id` for missed health checks.
    fn evict(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if let Some(mut slot) = self.pool.remove(id) {
            self.counts.evicted += 1;
            log::info!(
                "backend {}: sender {id} missed {} health checks",
                self.name,
                self.config.max_failures
            );
            if let Some(link) = slot.link.as_mut() {
                let reason = RemovalReason::HealthCheck;
                link.fail_all(&Fault::Io(format!("connection removed: {reason}")));
                link.close.do_send(Close(reason));
            }
        }
        self.link_lost(ctx);
    }

    fn closed(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if let Some(mut slot) = self.pool.remove(id) {
            log::debug!("backend {}: sender {id} closed", self.name);
            if let Some(link) = slot.link.as_mut() {
                link.fail_all(&Fault::Io("connection closed".to_owned()));
            }
            self.link_lost(ctx);
        }
    }

    /// The periodic pass: retire worn-out idle senders, check every other one, and
    /// make sure a sender exists.
    fn health_tick(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        for id in self.pool.keepalive(Instant::now()) {
            self.retire(id, ctx);
        }
        let live: Vec<ConnId> = self
            .pool
            .slots()
            .filter(|(_, s)| s.link.is_some() && !s.retiring)
            .map(|(id, _)| id)
            .collect();
        for id in live {
            self.check(id, ctx);
        }
        self.ensure_sender(ctx);
    }

    fn stop_all(&mut self) {
        self.stopping = true;
        for waiting in self.pending.drain(..) {
            let _ = waiting.reply.send(Err(Fault::NotConnected));
        }
        let ids: Vec<ConnId> = self.pool.slots().map(|(id, _)| id).collect();
        for id in ids {
            if let Some(mut slot) = self.pool.remove(id) {
                if let Some(link) = slot.link.as_mut() {
                    link.fail_all(&Fault::NotConnected);
                    link.close.do_send(Close(RemovalReason::Shutdown));
                }
            }
        }
    }

    fn describe(&self) -> DestinationReport {
        let now = Instant::now();
        let senders: Vec<SenderReport> = self
            .pool
            .slots()
            .map(|(id, slot)| SenderReport {
                id,
                state: slot.state(),
                served: slot.served,
                in_flight: slot.in_flight,
                awaiting: slot.link.as_ref().map_or(0, |l| l.acks.live()),
                outstanding: slot.link.as_ref().map_or(0, |l| l.acks.len()),
                missed_checks: slot.missed,
                verified: slot.verified,
                retiring: slot.retiring,
                age: now.saturating_duration_since(slot.born),
            })
            .collect();
        let has_room = |link: &Link| link.acks.has_room();
        DestinationReport {
            name: self.name.clone(),
            address: self.address,
            up: self.up,
            state: summary_state(senders.iter().map(|s| s.state)),
            idle: self.pool.idle(has_room),
            busy: self.pool.busy(has_room),
            senders,
            pending: self.pending.len(),
            dials: self.counts.dials,
            dial_failures: self.counts.dial_failures,
            retired: self.counts.retired,
            evicted: self.counts.evicted,
            late_acks: self.counts.late_acks,
            unmatched_answers: self.counts.unmatched,
            last_backoff: self.last_backoff,
            redial_scheduled: self.redial_scheduled,
            last_dial_error: self.last_dial_error.clone(),
        }
    }
}

impl<B: Backend> Actor for Destination<B> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.board.supervisor().do_send(DeclareDialed(B::NAME));
        self.report_state();
        self.dial(ctx);
        ctx.run_interval(self.config.health_interval, |act, ctx| act.health_tick(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.stop_all();
    }
}

impl<B: Backend> Handler<Transmit> for Destination<B> {
    type Result = ResponseFuture<Result<(), Fault>>;
    fn handle(&mut self, msg: Transmit, ctx: &mut Context<Self>) -> Self::Result {
        let (reply, outcome) = oneshot::channel();
        self.submit(msg, reply, ctx);
        Box::pin(async move { outcome.await.unwrap_or(Err(Fault::NotConnected)) })
    }
}

impl<B: Backend> Handler<LinkEvent> for Destination<B> {
    type Result = ();
    fn handle(&mut self, msg: LinkEvent, ctx: &mut Context<Self>) {
        match msg.kind {
            LinkEventKind::Answered(answer) => self.answered(msg.link, answer, ctx),
            LinkEventKind::Closed => self.closed(msg.link, ctx),
        }
    }
}

impl<B: Backend> Handler<Describe> for Destination<B> {
    type Result = MessageResult<Describe>;
    fn handle(&mut self, _: Describe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.describe())
    }
}

impl<B: Backend> Handler<StopDestination> for Destination<B> {
    type Result = ();
    fn handle(&mut self, _: StopDestination, ctx: &mut Context<Self>) {
        self.stop_all();
        ctx.stop();
    }
}
