//! How a destination gets its senders: dialling, turning a dialed socket into a
//! connection actor, and redialling after a [`Backoff`](crate::Backoff) delay once a
//! failure left it without any sender.

use super::Destination;
use crate::connector::acks::AckQueue;
use crate::connector::backend::{Backend, Dialed};
use crate::connector::link::Link;
use crate::{Close, ConnId, Connection, RemovalReason};
use actix::fut::wrap_future;
use actix::prelude::*;
use tokio::net::TcpStream;
use tokio::time::Instant;

impl<B: Backend> Destination<B> {
    /// Dials one more sender, unless the destination stops.
    pub(super) fn dial(&mut self, ctx: &mut Context<Self>) {
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

    /// Sender `id` connected: its connection actor starts, and its first health check
    /// (if the backend has one) decides whether the destination is up.
    fn dialed(&mut self, id: ConnId, stream: TcpStream, ctx: &mut Context<Self>) {
        if self.pool.get(id).is_none() {
            return; // stopped meanwhile: the stream closes here.
        }
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("backend {}: set_nodelay: {e}", self.name);
        }
        let protocol = Dialed::new((self.factory)(), id, ctx.address().recipient());
        let context = self.board.connection_context();
        let peer = match stream.peer_addr() {
            Ok(peer) => peer,
            Err(e) => return self.dial_failed(id, e.to_string(), ctx),
        };
        let connection = Connection::start(id, stream, peer, protocol, context, Default::default());
        let link = Link {
            deliver: connection.clone().recipient(),
            close: connection.recipient(),
            acks: AckQueue::new(self.config.max_outstanding),
        };
        if let Err(link) = self.pool.connected(id, link) {
            link.close.do_send(Close::new(RemovalReason::Shutdown));
            return;
        }
        self.health.connected(id);
        self.last_dial_error = None;
        tracing::debug!("backend {}: sender {id} connected", self.name);
        if self.health_packet.is_some() {
            self.check(id, ctx); // it is up once it answers
        } else {
            let effect = self.health.heard(id);
            self.apply(id, effect, ctx);
        }
        self.pump(ctx);
    }

    fn dial_failed(&mut self, id: ConnId, why: String, ctx: &mut Context<Self>) {
        self.pool.remove(id);
        self.counts.dial_failures += 1;
        tracing::debug!("backend {}: dial failed: {why}", self.name);
        self.last_dial_error = Some(why);
        self.link_lost(id, ctx);
    }

    /// Redials after a backoff delay, unless one is already scheduled.
    fn schedule_redial(&mut self, ctx: &mut Context<Self>) {
        if self.redial_scheduled || self.stopping {
            return;
        }
        let delay = self.backoff.next_delay(&mut self.rng);
        self.last_backoff = Some(delay);
        self.redial_scheduled = true;
        tracing::debug!("backend {}: redial in {delay:?}", self.name);
        ctx.run_later(delay, |act, ctx| {
            act.redial_scheduled = false;
            if act.pool.is_empty() {
                act.dial(ctx);
            }
        });
    }

    /// Dials at once when the pool emptied without a failure (a sender retired).
    pub(super) fn ensure_sender(&mut self, ctx: &mut Context<Self>) {
        if self.pool.is_empty() && !self.redial_scheduled {
            self.dial(ctx);
        }
    }

    /// Sender `id` is gone for a failure (already out of the pool): the destination is
    /// down without another connected sender, and an empty pool redials after a backoff
    /// delay.
    pub(super) fn link_lost(&mut self, id: ConnId, ctx: &mut Context<Self>) {
        let effect = self.health.lost(id);
        self.apply(id, effect, ctx);
        if self.pool.is_empty() {
            self.schedule_redial(ctx);
        }
        self.pump(ctx);
    }
}
