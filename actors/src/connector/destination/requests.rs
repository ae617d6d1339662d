//! A destination's requests ([`Transmit`]): waiting for a sender, being handed to its
//! connection, waiting for the ack until the deadline, and freeing the sender (or
//! retiring it) once finished.

use super::Destination;
use crate::connector::backend::Backend;
use crate::connector::link::{queue_outcome, Reply, Waiter};
use crate::connector::pool::{Acquire, Release};
use crate::connector::{Fault, Transmit};
use crate::{Close, ConnId, Deliver, RemovalReason};
use actix::fut::wrap_future;
use actix::prelude::*;
use bytes::Bytes;
use tokio::time::Instant;

/// A request waiting for a sender.
pub(super) struct Waiting {
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

impl<B: Backend> Destination<B> {
    /// Takes a request: refused at once if it cannot be served, else it waits for a
    /// sender at most `acquire_timeout` (and never past its deadline).
    pub(super) fn submit(&mut self, msg: Transmit, reply: Reply, ctx: &mut Context<Self>) {
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

    /// Every waiting request fails with `fault`.
    pub(super) fn fail_pending(&mut self, fault: Fault) {
        for waiting in self.pending.drain(..) {
            let _ = waiting.reply.send(Err(fault.clone()));
        }
    }

    /// Hands waiting requests to idle senders, dialling one more if the pool may grow.
    pub(super) fn pump(&mut self, ctx: &mut Context<Self>) {
        while !self.pending.is_empty() {
            match self.pool.acquire(|link| link.acks.has_room()) {
                Acquire::Use(id) => {
                    if let Some(waiting) = self.pending.pop_front() {
                        self.send_on(id, waiting, ctx);
                    }
                }
                Acquire::Dial if self.redial_scheduled || self.stopping => {
                    // Backing off: nothing will connect before the redial.
                    self.fail_pending(Fault::NotConnected);
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
            if let Err(Waiter::Send { reply, .. }) =
                link.acks.push(seq, Waiter::Send { reply, deadline })
            {
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
            if let Some(Waiter::Send { reply, .. }) = cancelled {
                let _ = reply.send(Err(fault));
                self.finish(id, ctx);
            }
        }
    }

    /// Request `seq` on sender `id` reached its deadline (or a health check its timeout).
    pub(super) fn expire(&mut self, id: ConnId, seq: u64, ctx: &mut Context<Self>) {
        let expired = self.link_mut(id).and_then(|link| link.acks.expire(seq));
        match expired {
            Some(Waiter::Send { reply, .. }) => {
                let _ = reply.send(Err(Fault::Timeout));
                self.finish(id, ctx);
            }
            Some(Waiter::Health { .. }) => self.missed_check(id, ctx),
            None => {}
        }
    }

    /// A request on sender `id` is finished: retire the sender if it is worn out, then
    /// hand it the next waiting request.
    pub(super) fn finish(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if self.pool.finish(id, Instant::now()) == Release::Retire {
            self.retire(id, ctx);
        }
        self.pump(ctx);
    }

    /// Closes sender `id`, worn out by age or use, and makes sure another one exists.
    pub(super) fn retire(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if let Some(mut slot) = self.pool.remove(id) {
            self.counts.retired += 1;
            self.health.retired(id);
            tracing::debug!("backend {}: sender {id} retired", self.name);
            if let Some(link) = slot.link.as_mut() {
                link.fail_all(&Fault::Io("sender retired".to_owned()));
                link.close.do_send(Close::new(RemovalReason::Closed));
            }
        }
        self.ensure_sender(ctx);
    }
}
