//! The supervisor driven through its messages, with stand-in members in place of
//! connections: the registry (broadcasts, refusals, sweeps, removals, shutdown,
//! inspection), named groups, and what a cluster link is told.

mod cluster;
mod groups;
mod logging;
mod registry;

use crate::connection::{Control, Inspect};
use crate::groups::{GroupDeliver, GroupPacket, Join};
use crate::member::{Close, Deliver, DeliverBatch, Link, Member};
use crate::status::ConnectionStatus;
use crate::supervisor::{Register, Supervisor};
use crate::{ConnId, ConnectionRemoved, ConnectionReport, GroupEncoder, RemovalReason, SendError};
use actix::{Actor, ActorContext, Addr, Context, Handler, ResponseFuture};
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use switchboard_testkit::Recording;

/// A stand-in for a connection: records what the supervisor hands it (in order, group
/// packets the supervisor could not encode included) and the reasons it is closed
/// with; a refusing one refuses single deliveries as a closing connection does.
struct StandIn {
    /// Where the packets go.
    packets: Arc<Mutex<Vec<GroupPacket>>>,
    /// Where the close reasons go.
    closed: Arc<Mutex<Vec<RemovalReason>>>,
    /// Refuse what is handed to it.
    refuse: bool,
    /// Never answer a request for its report.
    mute: bool,
    /// What it reports of itself.
    status: Arc<ConnectionStatus>,
}

impl Actor for StandIn {
    type Context = Context<Self>;
}

impl Handler<Deliver> for StandIn {
    type Result = Result<(), SendError>;
    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        if self.refuse {
            return Err(SendError::Closing);
        }
        self.packets.lock().unwrap().push(Ok(msg.0));
        Ok(())
    }
}

impl Handler<DeliverBatch> for StandIn {
    type Result = ();
    fn handle(&mut self, msg: DeliverBatch, _: &mut Context<Self>) {
        if !self.refuse {
            let mut packets = self.packets.lock().unwrap();
            packets.extend(msg.0.iter().cloned().map(Ok));
        }
    }
}

impl Handler<GroupDeliver> for StandIn {
    type Result = ();
    fn handle(&mut self, msg: GroupDeliver, _: &mut Context<Self>) {
        self.packets.lock().unwrap().extend(msg.0);
    }
}

impl Handler<Control> for StandIn {
    type Result = Result<bool, SendError>;
    fn handle(&mut self, _: Control, _: &mut Context<Self>) -> Self::Result {
        Err(SendError::Closing)
    }
}

impl Handler<Close> for StandIn {
    type Result = ();
    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) {
        self.closed.lock().unwrap().push(msg.reason);
        ctx.stop();
    }
}

/// A round trip through a stand-in's mailbox: answered after everything queued before.
#[derive(actix::Message)]
#[rtype(result = "()")]
struct Sync;

impl Handler<Sync> for StandIn {
    type Result = ();
    fn handle(&mut self, _: Sync, _: &mut Context<Self>) {}
}

impl Handler<Inspect> for StandIn {
    type Result = ResponseFuture<ConnectionReport>;
    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        if self.mute {
            return Box::pin(std::future::pending());
        }
        let report = ConnectionReport {
            id: self.status.id,
            protocol: self.status.protocol,
            peer: self.status.peer,
            queued_bytes: 0,
            queued_packets: 0,
            error_packets: 0,
            traffic: Default::default(),
            last_send: None,
            last_receive: None,
            recent_failures: Vec::new(),
        };
        Box::pin(std::future::ready(report))
    }
}

/// A registered stand-in: what it was handed, and how it is reached.
struct Fake {
    /// Its connection id.
    id: ConnId,
    /// Its protocol group.
    protocol: &'static str,
    /// Its live figures, shared with the supervisor.
    status: Arc<ConnectionStatus>,
    /// What it was handed.
    packets: Arc<Mutex<Vec<GroupPacket>>>,
    /// Why it was closed.
    closed: Arc<Mutex<Vec<RemovalReason>>>,
    /// Its mailbox, for the barrier of [`settled`].
    addr: Addr<StandIn>,
}

impl Fake {
    /// Registers a stand-in member `id` of `protocol` with `sup`.
    fn register(sup: &Addr<Supervisor>, id: ConnId, protocol: &'static str) -> Fake {
        Fake::start(sup, id, protocol, (false, false))
    }

    /// Registers a stand-in that refuses everything handed to it.
    fn refusing(sup: &Addr<Supervisor>, id: ConnId, protocol: &'static str) -> Fake {
        Fake::start(sup, id, protocol, (true, false))
    }

    /// Registers a stand-in that never answers a request for its report.
    fn mute(sup: &Addr<Supervisor>, id: ConnId, protocol: &'static str) -> Fake {
        Fake::start(sup, id, protocol, (false, true))
    }

    fn start(
        sup: &Addr<Supervisor>,
        id: ConnId,
        protocol: &'static str,
        (refuse, mute): (bool, bool),
    ) -> Fake {
        let peer = format!("127.0.0.1:{}", 1000 + id).parse().unwrap();
        let status = Arc::new(ConnectionStatus::new(id, protocol, peer));
        let (packets, closed) = (Arc::default(), Arc::default());
        let addr = StandIn {
            packets: Arc::clone(&packets),
            closed: Arc::clone(&closed),
            refuse,
            mute,
            status: status.clone(),
        }
        .start();
        let link: Link = Arc::new(addr.clone());
        sup.do_send(Register(Member {
            status: status.clone(),
            link,
        }));
        Fake {
            id,
            protocol,
            status,
            packets,
            closed,
            addr,
        }
    }

    /// Joins `group`, its protocol writing group messages with `encoder`.
    fn join(&self, sup: &Addr<Supervisor>, group: &str, encoder: &GroupEncoder) {
        sup.do_send(Join {
            id: self.id,
            group: group.into(),
            protocol: self.protocol,
            encoder: encoder.clone(),
        });
    }

    /// Everything handed to it, in order, refusals to encode included.
    fn got(&self) -> Vec<GroupPacket> {
        self.packets.lock().unwrap().clone()
    }

    /// The packets handed to it, in order.
    fn delivered(&self) -> Vec<Bytes> {
        self.got().into_iter().filter_map(Result::ok).collect()
    }

    /// The reasons it was closed with.
    fn closed(&self) -> Vec<RemovalReason> {
        self.closed.lock().unwrap().clone()
    }
}

/// The barrier before looking at what stand-ins were handed: a round trip through the
/// supervisor's mailbox (whatever it was sent before is handled, and what that handed on
/// is queued for the members), then through each of `fakes`' mailboxes (handled too).
/// A stand-in that was stopped (closed) has nothing more to handle and is skipped.
async fn settled(sup: &Addr<Supervisor>, fakes: &[&Fake]) {
    sup.send(crate::stats::GetStats)
        .await
        .expect("the supervisor answers");
    for fake in fakes {
        let _ = fake.addr.send(Sync).await;
    }
}

/// Subscribes a fresh recorder to `supervisor`'s removals. Its `seen()` is a round trip
/// through the recorder's mailbox: once the supervisor has answered a later message, every
/// removal it announced before is in it.
fn record_removals(supervisor: &Addr<super::Supervisor>) -> Recording<ConnectionRemoved> {
    let removed = Recording::start();
    supervisor.do_send(super::Subscribe(removed.recipient()));
    removed
}
