//! Carrying out the core's events: what a connection tells others (its counters and
//! its removal, through its thread's hub to the supervisor; its joins and leaves; its
//! broadcasts and publishes, handed to every hub under a ticket of its publish
//! credit, or to the sequencers of history groups), and what it does to itself (run a
//! deferred reply, shut its write half, stop).

use super::{now, Connection};
use crate::core::Event;
use crate::groups::Publisher;
use crate::history::{SeqJoin, SeqLeave};
use crate::hub::{
    Credit, HubBroadcast, HubGone, HubJoin, HubLeave, HubPublish, HubRegister, HubRelay, Ticket,
};
use crate::protocol::Protocol;
use crate::stats::TrafficDelta;
use crate::supervisor::{Deregister, Notice, Relayed, RelayedBatch};
use crate::{Join, Leave, Published, RemovalReason};
use actix::fut::wrap_future;
use actix::prelude::*;
use bytes::Bytes;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

impl<P: Protocol> Connection<P> {
    /// Carries out one of the core's events: hands its messages for others to them,
    /// runs a deferred reply, shuts the write half, stops.
    pub(super) fn carry_out(&mut self, event: Event<P::Response>, ctx: &mut Context<Self>) {
        let id = self.id();
        match event {
            Event::Report(delta) => {
                let delta = TrafficDelta {
                    protocol: P::NAME,
                    delta,
                };
                // In order with its removal, which may follow.
                self.relay(Relayed::Traffic(delta));
            }
            Event::Removed(reason) => {
                if let Some(hub) = &self.hub {
                    hub.do_send(HubGone(id));
                }
                if let Some(open) = self.websocket.take() {
                    open.fetch_sub(1, Relaxed);
                }
                if reason == RemovalReason::WsHandshake && self.upgrading {
                    self.transport
                        .abandon_handshake(&self.stream, "handshake timeout");
                }
                for group in self.core.history_memberships() {
                    self.history_leave(group);
                }
                self.relay(Relayed::Removed(Deregister { id, reason }));
            }
            Event::Authenticated(user) => {
                if let Some(span) = &self.span {
                    span.record("user", user.name());
                }
                if std::mem::take(&mut self.unheard) {
                    self.register_with_hub();
                }
            }
            Event::Broadcast(packets) => self.broadcast(packets.into(), ctx),
            Event::Join(group, encoder) => {
                if let Some(hub) = &self.hub {
                    hub.do_send(HubJoin {
                        id,
                        group: group.clone(),
                        encoder: encoder.clone(),
                    });
                }
                self.context.supervisor().do_send(Join {
                    id,
                    group,
                    protocol: P::NAME,
                    encoder,
                });
            }
            Event::Leave(group) => {
                if let Some(hub) = &self.hub {
                    hub.do_send(HubLeave {
                        id,
                        group: group.clone(),
                    });
                }
                if self.context.handle.has_history(group.as_str()) {
                    self.history_leave(group.clone());
                }
                self.context.supervisor().do_send(Leave { id, group });
            }
            Event::Publish(messages) => self.publish(messages.into(), ctx),
            Event::HistoryJoin {
                group,
                token,
                from,
                new_member,
            } => {
                let histories = self.context.handle.histories();
                if let Some(sequencer) = histories.and_then(|h| h.sequencer_of(group.as_str())) {
                    sequencer.do_send(SeqJoin {
                        id,
                        group,
                        token,
                        from,
                        new_member,
                        inbox: self.inbox.clone(),
                    });
                }
            }
            Event::Sequence(messages) => self.sequence(messages, ctx),
            Event::Defer { seq, reply } => {
                ctx.spawn(wrap_future(reply).map(move |reply, act: &mut Self, ctx| {
                    let _span = act.enter();
                    act.core.handle_deferred(now(), seq, reply);
                    act.drive(ctx);
                    act.wake_io();
                }));
            }
            Event::ShutdownWrite => {
                if let Err(e) = self.transport.shutdown(&self.stream) {
                    tracing::debug!("connection {id}: shutdown failed: {e}");
                }
            }
            // Also while stopping already (`stopped`), where it changes nothing.
            Event::Stop => ctx.stop(),
        }
    }

    /// Tells the supervisor (or, through it, the stats) something: through its
    /// thread's hub, which hands on what its connections said in one turn together
    /// (see `RelayedBatch`); straight to it when there is no hub (any more).
    pub(super) fn relay(&self, relayed: Relayed) {
        match &self.hub {
            Some(hub) if hub.connected() => hub.do_send(HubRelay(relayed)),
            _ => self
                .context
                .supervisor()
                .do_send(RelayedBatch(vec![relayed])),
        }
    }

    /// A ticket for `bytes` more in flight to the hubs.
    fn ticket(&mut self, bytes: usize, ctx: &Context<Self>) -> Arc<Ticket> {
        let budget = self.core.limits().max_publish_in_flight;
        self.credit
            .get_or_insert_with(|| Credit::new(budget, ctx.address().downgrade().recipient()))
            .ticket(bytes)
    }

    /// Hands this turn's broadcasts to every hub (its own copies are queued already).
    fn broadcast(&mut self, packets: Arc<[Bytes]>, ctx: &mut Context<Self>) {
        let bytes = packets.iter().map(Bytes::len).sum();
        let ticket = self.ticket(bytes, ctx);
        for hub in self.context.hubs.all().iter() {
            hub.do_send(HubBroadcast {
                protocol: P::NAME,
                packets: packets.clone(),
                except: Some(self.id()),
                ticket: Some(ticket.clone()),
            });
        }
        if self.context.hubs.notify_supervisor() {
            self.context.supervisor().do_send(Notice::Broadcast {
                protocol: P::NAME,
                packets,
                except: self.id(),
            });
        }
    }

    /// Hands this turn's publishes to every hub (its own copies are queued already).
    fn publish(&mut self, messages: Arc<[Published]>, ctx: &mut Context<Self>) {
        let bytes = messages.iter().map(|m| m.message.len()).sum();
        let ticket = self.ticket(bytes, ctx);
        let publisher = Publisher {
            id: self.id(),
            protocol: P::NAME,
            user: self.status.user().cloned(),
        };
        for hub in self.context.hubs.all().iter() {
            hub.do_send(HubPublish {
                publisher: Some(publisher.clone()),
                messages: messages.clone(),
                ticket: Some(ticket.clone()),
            });
        }
        if self.context.hubs.notify_supervisor() {
            self.context.supervisor().do_send(Notice::Published {
                publisher,
                messages,
            });
        }
    }

    /// Hands this turn's publishes to history groups to their sequencers (they come
    /// back numbered, to this connection too where it is a member), and tells the
    /// supervisor for the cluster.
    fn sequence(&mut self, messages: Vec<Published>, ctx: &mut Context<Self>) {
        let Some(histories) = self.context.handle.histories().cloned() else {
            return;
        };
        let bytes = messages.iter().map(|m| m.message.len()).sum();
        let ticket = self.ticket(bytes, ctx);
        let notice = self
            .context
            .hubs
            .notify_supervisor()
            .then(|| Arc::<[Published]>::from(messages.clone()));
        histories.publish(Some(self.id()), messages, Some(ticket));
        if let Some(messages) = notice {
            let publisher = Publisher {
                id: self.id(),
                protocol: P::NAME,
                user: self.status.user().cloned(),
            };
            self.context.supervisor().do_send(Notice::Published {
                publisher,
                messages,
            });
        }
    }

    /// Tells the sequencer of a history group that this connection left it.
    pub(super) fn history_leave(&self, group: crate::GroupName) {
        let histories = self.context.handle.histories();
        if let Some(sequencer) = histories.and_then(|h| h.sequencer_of(group.as_str())) {
            sequencer.do_send(SeqLeave {
                id: self.id(),
                group,
            });
        }
    }

    /// Joins its hub's members of its protocol group: the audience of broadcasts.
    pub(super) fn register_with_hub(&self) {
        if let Some(hub) = &self.hub {
            hub.do_send(HubRegister {
                id: self.id(),
                protocol: P::NAME,
                inbox: self.inbox.clone(),
                framing: self.context.ws.as_ref().map(|ws| ws.framing()),
            });
        }
    }
}
