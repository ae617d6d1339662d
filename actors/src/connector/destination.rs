//! The destination actor: one remote peer, the pool of connections dialed to it, its
//! health, and its redials.
//!
//! A [`Destination`] dials its peer and keeps at least one connection (a *sender*) to
//! it. Each sender is an ordinary [`Connection`](crate::Connection) actor running the
//! application's [`Backend`] protocol wrapped in [`Dialed`](crate::connector::Dialed),
//! registered with the supervisor in the backend's group, so dialed sockets get the same
//! bounded, accounted write path and the same logged, announced removals as accepted
//! ones.
//!
//! - **Sending** ([`Transmit`], `destination/requests.rs`): a request takes an idle
//!   sender from the pool (see `pool.rs`), or waits for one at most `acquire_timeout`.
//!   Its packet is handed to the sender's connection; with `wait_for_ack` the request
//!   then waits for the sender's next unclaimed answer (acks are matched first-in,
//!   first-out: see `acks.rs`) until its deadline. At the deadline the caller is told
//!   `timeout` and the request stays in the sender's ack queue marked expired: **a
//!   request that timed out is never reported delivered later; its late ack is counted
//!   (`late_acks`) and ignored.**
//! - **Health** (`destination/checks.rs`, decided by `health.rs`): every
//!   `health_interval` each sender sends the backend's health check, which must be
//!   answered before its deadline, `health_timeout` after it was sent: an answer at or
//!   after the deadline counts as missed, so a `health_timeout` of 0 is never met. A
//!   sender whose checks go unanswered `max_failures` times in a row is closed with
//!   reason `health_check`; one whose connection breaks is gone with `io_error`. A
//!   destination with no connected sender is *down*; it is *up* again once it answers.
//!   Up and down go to the stats actor as [`BackendState`].
//! - **Redialling** (`destination/dialing.rs`): a destination left with no sender
//!   redials after a [`Backoff`] delay with full jitter, the delay growing while dials
//!   keep failing and starting over once the destination answers. Requests that arrive
//!   while it waits are faulty at once with `not connected`.
//!
//! This file holds the actor's state, its message handlers, and how it reports itself.

mod checks;
mod dialing;
mod requests;

use crate::connector::backend::{Backend, LinkEvent, LinkEventKind};
use crate::connector::health::{Effect, Health};
use crate::connector::link::Link;
use crate::connector::pool::SenderPool;
use crate::connector::report::summary_state;
use crate::connector::{
    Backoff, Describe, DestinationConfig, DestinationReport, Fault, SenderReport, StopDestination,
    Transmit,
};
use crate::stats::{BackendState, DeclareDialed};
use crate::{Close, ConnId, RemovalReason, Switchboard};
use actix::prelude::*;
use bytes::Bytes;
use requests::Waiting;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

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
    /// Whether the destination is up, and each connected sender's missed checks.
    health: Health,
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
                tracing::error!(
                    "{address}: health check cannot be encoded ({e}): no health checks"
                );
                None
            }
        };
        Destination {
            address,
            name: address.to_string(),
            backoff: Backoff::new(config.reconnect_min, config.reconnect_max),
            pool: SenderPool::new(config.pool.clone()),
            health: Health::new(config.health_timeout, config.max_failures),
            config,
            board: board.clone(),
            factory: Box::new(factory),
            health_packet,
            pending: VecDeque::new(),
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

    /// The next sequence number, for a request or a health check.
    fn seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The connection of sender `id`, if it is connected.
    fn link_mut(&mut self, id: ConnId) -> Option<&mut Link> {
        self.pool.get_mut(id).and_then(|slot| slot.link.as_mut())
    }

    /// Tells the stats actor whether the destination is up.
    fn report_state(&self) {
        self.board.stats().do_send(BackendState {
            member: self.name.clone(),
            up: self.health.is_up(),
        });
    }

    /// Carries out what the health core decided about sender `id`.
    fn apply(&mut self, id: ConnId, effect: Effect, ctx: &mut Context<Self>) {
        match effect {
            Effect::Nothing => {}
            Effect::Up => {
                self.backoff.reset();
                tracing::info!("backend {} up", self.name);
                self.report_state();
            }
            Effect::Down => {
                tracing::info!("backend {} down", self.name);
                self.report_state();
            }
            Effect::Evict => self.evict(id, ctx),
        }
    }

    /// Stops everything: waiting requests fail, senders close, nothing is dialled.
    fn stop_all(&mut self) {
        self.stopping = true;
        self.fail_pending(Fault::NotConnected);
        let ids: Vec<ConnId> = self.pool.slots().map(|(id, _)| id).collect();
        for id in ids {
            if let Some(mut slot) = self.pool.remove(id) {
                if let Some(link) = slot.link.as_mut() {
                    link.fail_all(&Fault::NotConnected);
                    link.close.do_send(Close::new(RemovalReason::Shutdown));
                }
            }
        }
        self.health.clear();
    }

    fn describe(&self) -> DestinationReport {
        let now = Instant::now();
        let senders: Vec<SenderReport> = self
            .pool
            .slots()
            .map(|(id, slot)| {
                let health = self.health.sender(id).unwrap_or_default();
                SenderReport {
                    id,
                    state: slot.state(),
                    served: slot.served,
                    in_flight: slot.in_flight,
                    awaiting: slot.link.as_ref().map_or(0, |l| l.acks.live()),
                    outstanding: slot.link.as_ref().map_or(0, |l| l.acks.len()),
                    missed_checks: health.missed,
                    verified: health.verified,
                    retiring: slot.retiring,
                    age: now.saturating_duration_since(slot.born),
                }
            })
            .collect();
        let has_room = |link: &Link| link.acks.has_room();
        DestinationReport {
            name: self.name.clone(),
            address: self.address,
            up: self.health.is_up(),
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
