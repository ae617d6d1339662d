//! The actor's side of health: matching the backend's answers to requests and checks,
//! sending a health check on each sender every `health_interval`, and closing senders
//! that missed too many or whose connection closed. What an answer or a miss means is
//! decided by the pure health core (`health.rs`); this file carries it out.

use super::Destination;
use crate::connector::acks::Matched;
use crate::connector::backend::{Answer, Backend};
use crate::connector::health::in_time;
use crate::connector::link::{queue_outcome, Waiter};
use crate::connector::Fault;
use crate::{Close, ConnId, Deliver, RemovalReason};
use actix::fut::wrap_future;
use actix::prelude::*;
use tokio::time::Instant;

impl<B: Backend> Destination<B> {
    /// The backend answered on sender `id`: the answer goes to the oldest outstanding
    /// request or check of that sender.
    pub(super) fn answered(&mut self, id: ConnId, answer: Answer, ctx: &mut Context<Self>) {
        let Some(link) = self.link_mut(id) else {
            self.counts.unmatched += 1;
            return;
        };
        match link.acks.answer() {
            Matched::Live(_, Waiter::Health { deadline }) => {
                // Late answers (at or after the deadline, before the expiry ran) miss.
                let effect = self.health.check_answered(id, deadline, Instant::now());
                self.apply(id, effect, ctx);
            }
            Matched::Live(_, Waiter::Send { reply, deadline }) => {
                let effect = self.health.heard(id);
                self.apply(id, effect, ctx);
                let outcome = if !in_time(deadline, Instant::now()) {
                    // Past its deadline, before the expiry ran: late, as if it had.
                    self.counts.late_acks += 1;
                    Err(Fault::Timeout)
                } else {
                    match answer {
                        Answer::Refused(reason) => Err(Fault::Refused(reason)),
                        Answer::Ack | Answer::Unsolicited => Ok(()),
                    }
                };
                let _ = reply.send(outcome);
                self.finish(id, ctx);
            }
            Matched::Late(seq) => {
                self.counts.late_acks += 1;
                tracing::debug!(
                    "backend {}: late answer to request {seq} ignored",
                    self.name
                );
            }
            Matched::Unmatched => self.counts.unmatched += 1,
        }
    }

    /// Sends a health check on sender `id`, to be answered before its deadline.
    pub(super) fn check(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        let Some(packet) = self.health_packet.clone() else {
            return;
        };
        let seq = self.seq();
        let deadline = self.health.deadline(Instant::now());
        let Some(link) = self.link_mut(id) else {
            return;
        };
        if link.acks.push(seq, Waiter::Health { deadline }).is_err() {
            // Too many answers outstanding to even ask: as good as a missed check.
            return self.missed_check(id, ctx);
        }
        let deliver = link.deliver.clone();
        ctx.run_later(self.config.health_timeout, move |act, ctx| {
            act.expire(id, seq, ctx)
        });
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

    /// Sender `id` missed a health check.
    pub(super) fn missed_check(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        let effect = self.health.missed(id);
        self.apply(id, effect, ctx);
    }

    /// Closes sender `id` for missed health checks.
    pub(super) fn evict(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if let Some(mut slot) = self.pool.remove(id) {
            self.counts.evicted += 1;
            tracing::info!(
                "backend {}: sender {id} missed {} health checks",
                self.name,
                self.config.max_failures
            );
            if let Some(link) = slot.link.as_mut() {
                let reason = RemovalReason::HealthCheck;
                link.fail_all(&Fault::Io(format!("connection removed: {reason}")));
                link.close.do_send(Close::new(reason));
            }
        }
        self.link_lost(id, ctx);
    }

    /// The connection of sender `id` closed.
    pub(super) fn closed(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        if let Some(mut slot) = self.pool.remove(id) {
            tracing::debug!("backend {}: sender {id} closed", self.name);
            if let Some(link) = slot.link.as_mut() {
                link.fail_all(&Fault::Io("connection closed".to_owned()));
            }
            self.link_lost(id, ctx);
        }
    }

    /// The periodic pass: retire worn-out idle senders, check every other one, and
    /// make sure a sender exists.
    pub(super) fn health_tick(&mut self, ctx: &mut Context<Self>) {
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
}
