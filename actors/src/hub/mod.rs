//! Hubs: fan-out without a central hop.
//!
//! Each thread that runs connections has one [`Hub`] actor per switchboard. It holds
//! that thread's connections only: by protocol group (for broadcasts) and by named
//! group (for publishes), each with where its packets go and how its protocol encodes
//! group messages. A connection registers with its own hub when it starts, tells it its
//! joins and leaves, and leaves it when removed, all on its own thread.
//!
//! A connection that broadcasts or publishes sends the batch to every hub, one message
//! per hub carrying the shared bytes; each hub encodes a group message once per
//! protocol present among its members and hands each member its packets through the
//! member's inbox (`inbox.rs`). Mailboxes and inboxes are first in, first out, so every
//! member gets one publisher's batches in publish order. The publisher's own copies are queued by itself, in order with its
//! replies, and hubs leave it out. Bytes in flight to the hubs are bounded per
//! publisher by its publish credit (`credit.rs`).
//!
//! The supervisor remains the registry for everything else (listings, stats, removal
//! reasons, the cluster's interest); its own broadcasts and publishes, and what a
//! cluster link brings from other servers, also go out through the hubs.

mod credit;
mod inbox;
mod messages;
mod set;

pub(crate) use credit::{Credit, CreditRestored, Ticket};
pub(crate) use inbox::Inbox;
pub(crate) use messages::{
    HubBroadcast, HubDeliver, HubGone, HubJoin, HubLeave, HubNumbered, HubPublish, HubRegister,
    HubRelay, Numbered,
};
pub(crate) use set::Hubs;

use crate::core::{BackToBack, Handout};
use crate::groups::Registry;
use crate::supervisor::{Relayed, RelayedBatch};
use crate::websocket::Framing;
use crate::ConnId;
use crate::Supervisor;
use actix::prelude::*;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// The fan-out point of one thread's connections.
pub(crate) struct Hub {
    /// This thread's connections by protocol group, with where their packets go.
    protocols: HashMap<&'static str, HashMap<ConnId, Arc<Inbox>>>,
    /// The protocol group of each registered connection.
    index: HashMap<ConnId, &'static str>,
    /// How the WebSocket connections among them frame their messages (the others
    /// take packets as their protocol encodes them).
    framings: HashMap<ConnId, Framing>,
    /// This thread's connections in named groups.
    named: Registry<Arc<Inbox>>,
    /// What this thread's connections told the supervisor during this turn, not yet
    /// handed on.
    relayed: Vec<Relayed>,
    /// Where that goes.
    supervisor: Addr<Supervisor>,
}

impl Hub {
    /// A hub handing what its connections tell on to `supervisor`.
    pub fn new(supervisor: Addr<Supervisor>) -> Self {
        Hub {
            protocols: HashMap::new(),
            index: HashMap::new(),
            framings: HashMap::new(),
            named: Registry::default(),
            relayed: Vec::new(),
            supervisor,
        }
    }
}

impl Actor for Hub {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Polled after the mailbox on every wake: what the turn's messages said is
        // handed on as one message.
        ctx.spawn(HandOn);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Stopped between a message and its turn's end (its thread is going away):
        // what its connections said still reaches the supervisor.
        self.hand_on();
    }
}

impl Hub {
    /// Hands what its connections told during this turn to the supervisor.
    fn hand_on(&mut self) {
        if !self.relayed.is_empty() {
            let relayed = std::mem::take(&mut self.relayed);
            self.supervisor.do_send(RelayedBatch(relayed));
        }
    }
}

/// The hub's one long-lived task: hands what its connections told during each turn
/// to the supervisor.
struct HandOn;

impl ActorFuture<Hub> for HandOn {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        hub: &mut Hub,
        _: &mut Context<Hub>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        hub.hand_on();
        std::task::Poll::Pending
    }
}

impl Handler<HubRelay> for Hub {
    type Result = ();
    fn handle(&mut self, HubRelay(relayed): HubRelay, _: &mut Context<Self>) {
        self.relayed.push(relayed);
    }
}

impl Handler<HubRegister> for Hub {
    type Result = ();
    fn handle(&mut self, msg: HubRegister, _: &mut Context<Self>) {
        self.index.insert(msg.id, msg.protocol);
        if let Some(framing) = msg.framing {
            self.framings.insert(msg.id, framing);
        }
        self.protocols
            .entry(msg.protocol)
            .or_default()
            .insert(msg.id, msg.inbox);
    }
}

impl Handler<HubJoin> for Hub {
    type Result = ();
    fn handle(&mut self, msg: HubJoin, _: &mut Context<Self>) {
        // A join that arrives after its connection went must not outlive it.
        let Some(&protocol) = self.index.get(&msg.id) else {
            return;
        };
        let Some(inbox) = self.protocols.get(protocol).and_then(|m| m.get(&msg.id)) else {
            return;
        };
        let framing = self.framings.get(&msg.id).copied();
        let (group, encoder) = (msg.group, msg.encoder);
        self.named
            .join_framed(msg.id, group, protocol, encoder, framing, || inbox.clone());
    }
}

impl Handler<HubLeave> for Hub {
    type Result = ();
    fn handle(&mut self, msg: HubLeave, _: &mut Context<Self>) {
        self.named.leave(msg.id, &msg.group);
    }
}

impl Handler<HubGone> for Hub {
    type Result = ();
    fn handle(&mut self, HubGone(id): HubGone, _: &mut Context<Self>) {
        self.framings.remove(&id);
        if let Some(protocol) = self.index.remove(&id) {
            if let Some(members) = self.protocols.get_mut(protocol) {
                members.remove(&id);
                if members.is_empty() {
                    self.protocols.remove(protocol);
                }
            }
        }
        self.named.leave_all(id);
    }
}

impl Handler<HubPublish> for Hub {
    type Result = ();
    fn handle(&mut self, msg: HubPublish, _: &mut Context<Self>) {
        let publisher = msg.publisher.as_ref();
        for (_, inbox, packets) in self.named.fan_out(&msg.messages, publisher, |_| true) {
            inbox.push(HubDeliver::Group(packets));
        }
        // This hub is done with the batch.
        drop(msg.ticket);
    }
}

impl Handler<HubNumbered> for Hub {
    type Result = ();
    fn handle(&mut self, HubNumbered(numbered): HubNumbered, _: &mut Context<Self>) {
        for (_, inbox, shares) in self.named.fan_out_numbered(&numbered.runs) {
            inbox.push(HubDeliver::Numbered(shares));
        }
        // This hub is done with the runs (their tickets go with the last hub's copy).
        drop(numbered);
    }
}

/// Members past which a hub copies a broadcast batch before handing it out.
const LOCAL_COPY_ABOVE: usize = 8;

/// A broadcast batch framed as WebSocket messages by `framing`, for `members`
/// members: shared back to back like any batch when every packet could be framed;
/// otherwise one by one, each member recording those that could not as send failures.
fn frame_batch(framing: Framing, packets: &[Bytes], members: usize) -> HubDeliver {
    let framed: Vec<Result<Bytes, String>> = packets.iter().map(|p| framing.frame(p)).collect();
    if framed.iter().all(Result::is_ok) {
        let framed: Arc<[Bytes]> = framed.into_iter().flatten().collect();
        return HubDeliver::Broadcast(Arc::new(match members > LOCAL_COPY_ABOVE {
            true => Handout::Copied(BackToBack::copy_of(&framed)),
            false => Handout::Packets(framed),
        }));
    }
    HubDeliver::Framed(
        framed
            .into_iter()
            .map(|p| p.map_err(crate::SendError::Encode))
            .collect(),
    )
}

impl Handler<HubBroadcast> for Hub {
    type Result = ();
    fn handle(&mut self, msg: HubBroadcast, _: &mut Context<Self>) {
        let Some(members) = self.protocols.get(msg.protocol) else {
            return;
        };
        // A copy in one allocation of this thread: every member's clone and drop then
        // touches a reference count no other thread does, and its queue takes the
        // packets without copying each.
        let batch = Arc::new(match members.len() > LOCAL_COPY_ABOVE {
            true => Handout::Copied(BackToBack::copy_of(&msg.packets)),
            false => Handout::Packets(msg.packets.clone()),
        });
        // WebSocket members get the packets framed, once per framing.
        let mut framed: Vec<(Framing, HubDeliver)> = Vec::new();
        for (&id, inbox) in members {
            if Some(id) == msg.except {
                continue;
            }
            let Some(&framing) = self.framings.get(&id) else {
                inbox.push(HubDeliver::Broadcast(batch.clone()));
                continue;
            };
            let delivery = match framed.iter().find(|(f, _)| *f == framing) {
                Some((_, delivery)) => delivery.share(),
                None => {
                    let delivery = frame_batch(framing, &msg.packets, members.len());
                    framed.push((framing, delivery.share()));
                    delivery
                }
            };
            inbox.push(delivery);
        }
        // This hub is done with the batch.
        drop(msg.ticket);
    }
}
