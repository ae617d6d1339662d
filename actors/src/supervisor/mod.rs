//! The supervisor: the registry of connections grouped by protocol.
//!
//! It registers and removes connections, looks them up by id, sends to one, broadcasts
//! to a group (the packet encoded once, its bytes shared by every member), and sweeps
//! every `health_interval` for connections silent longer than `idle_timeout`. It also
//! keeps the named groups (see the `groups` module): joins, leaves, the automatic leave
//! of a removed connection, listings and counts, and the cluster's interest.
//!
//! It does not deliver to connections itself: broadcasts and publishes, its own and a
//! cluster link's, go to the hubs of the connections' threads (see the `hub` module),
//! as connections send theirs directly (`fanout.rs`). Only members registered without
//! a hub (stand-ins, or [`Register`] used by hand) get them from the supervisor.
//!
//! Every removal goes through [`Supervisor::remove`]: it happens once per connection,
//! carries a [`RemovalReason`], is logged at `info` with the peer (one line each while
//! removals are few, a count by reason once a second in a burst: `removal_log.rs`),
//! counted by the stats actor, and announced to every subscriber of
//! [`ConnectionRemoved`].

use crate::cluster::{AttachCluster, ClusterBroadcast, ClusterDeliver, ClusterHook, Interest};
use crate::groups::Registry;
use crate::hub::Hubs;
use crate::member::Link;
use crate::stats::{self, DeclareDialed, DeclareGroup, GetStats, Snapshot, Stats};
use crate::{
    ConnId, ConnectionReport, GroupDeliver, GroupMembers, GroupName, Join, Leave, ListGroups,
    Member, Publish, PublishBatch, Published, RemovalReason, SendError, SupervisorConfig,
};
use actix::prelude::*;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

mod fanout;
mod history;
mod listing;
mod memory;
mod messages;
mod named;
mod reclaim;
mod relayed;
mod removal_log;
#[cfg(test)]
mod tests;

pub(crate) use fanout::{Enroll, Notice};
pub(crate) use history::{AttachHistory, HistoryKept};
pub use messages::*;
pub(crate) use reclaim::Reclaim;
pub(crate) use relayed::{Relayed, RelayedBatch};

/// The supervisor actor.
pub(crate) struct Supervisor {
    /// Members by protocol group, then by id.
    groups: HashMap<&'static str, HashMap<ConnId, Member>>,
    /// Groups of connections this process dialed (backends): a peer closing one of
    /// them broke a link we rely on, so that removal is reported as `io_error`.
    dialed: std::collections::HashSet<&'static str>,
    /// The named groups and their members; where the supervisor delivers to a member
    /// itself, how it is reached.
    named: Registry<Option<Link>>,
    /// The hubs that deliver broadcasts and group messages to connections.
    hubs: Hubs,
    /// Members whose hub delivers their broadcasts and group messages.
    served: HashSet<ConnId>,
    /// Connection actors started and not yet stopped (registered or closing).
    alive: usize,
    /// Shutdown requests waiting for `alive` to reach zero.
    drained: Vec<oneshot::Sender<()>>,
    /// Set once shutdown began: late registrations are closed at once.
    shutting_down: bool,
    /// Removal subscribers.
    subscribers: Vec<Recipient<ConnectionRemoved>>,
    /// Where openings, removals and stats queries go.
    stats: Addr<Stats>,
    /// Sweep period and idle limit.
    config: SupervisorConfig,
    /// The link to the other servers of a cluster, if any: it gets every publish and
    /// broadcast once (after it was handed to the hubs), and every change of local
    /// interest.
    cluster: Option<Arc<dyn ClusterHook>>,
    /// Which removals get a log line of their own, and the counts of the others.
    removal_log: removal_log::RemovalLog,
    /// The budget of bytes queued for all connections together, if there is one: told
    /// when room was made after it ran out (`reclaim.rs`).
    budget: Option<Arc<crate::core::budget::OutboundBudget>>,
    /// Connections removed to make room in the budget whose actors are not gone yet,
    /// with the bytes they were holding.
    victims: HashMap<ConnId, usize>,
    /// When to hand freed memory back to the system (`memory.rs`), if asked to.
    trimmer: Option<memory::Trimmer>,
    /// The group histories, if kept: their messages go to their sequencers.
    history: Option<crate::history::Histories>,
    /// History groups whose history this node keeps (it listens for them in the
    /// cluster, members or not).
    kept: HashSet<GroupName>,
}

impl Supervisor {
    /// A supervisor reporting to `stats`.
    pub fn new(config: SupervisorConfig, stats: Addr<Stats>) -> Self {
        Supervisor {
            groups: HashMap::new(),
            dialed: Default::default(),
            named: Registry::default(),
            hubs: Hubs::default(),
            served: HashSet::new(),
            alive: 0,
            drained: Vec::new(),
            shutting_down: false,
            subscribers: Vec::new(),
            stats,
            removal_log: removal_log::RemovalLog::new(config.removal_log_lines),
            budget: None,
            victims: HashMap::new(),
            trimmer: None,
            config,
            cluster: None,
            history: None,
            kept: HashSet::new(),
        }
    }

    /// Tells the cluster link that `protocol`'s group gained its first member or lost
    /// its last (dialed groups are this process's own and stay out of the cluster).
    fn protocol_interest(&self, protocol: &'static str, added: bool) {
        let Some(cluster) = &self.cluster else { return };
        if self.dialed.contains(protocol) {
            return;
        }
        let members = self.groups.get(protocol).map_or(0, HashMap::len);
        match (added, members) {
            (false, 0) => cluster.interest(Interest::Protocol(protocol), false),
            (true, 1) => cluster.interest(Interest::Protocol(protocol), true),
            _ => {}
        }
    }

    /// The hubs of this supervisor's connections (for the connections' context).
    pub(crate) fn hubs(&self) -> &Hubs {
        &self.hubs
    }

    /// The member `id`: looked up in each protocol group (a handful), where an index
    /// by id would cost every connection one more map entry.
    fn member(&self, id: ConnId) -> Option<&Member> {
        self.groups.values().find_map(|members| members.get(&id))
    }

    /// The protocol group of member `id`.
    fn protocol_of(&self, id: ConnId) -> Option<&'static str> {
        let mut groups = self.groups.iter();
        groups.find_map(|(protocol, members)| members.contains_key(&id).then_some(*protocol))
    }

    /// Members registered, in every protocol group.
    fn registered(&self) -> usize {
        self.groups.values().map(HashMap::len).sum()
    }

    /// Takes a connection out of its group, once: logs, counts and announces it.
    /// Returns the member if it was still registered.
    pub fn remove(&mut self, id: ConnId, reason: RemovalReason) -> Option<Member> {
        let protocol = self.protocol_of(id)?;
        let reason = match reason {
            RemovalReason::PeerClosed if self.dialed.contains(protocol) => RemovalReason::IoError,
            reason => reason,
        };
        let member = self.groups.get_mut(protocol)?.remove(&id)?;
        self.served.remove(&id);
        self.refresh_notice();
        self.protocol_interest(protocol, false);
        let left = match self.cluster.is_some() {
            true => self.named.groups_of(id),
            false => Vec::new(),
        };
        if self.named.leave_all(id) > 0 {
            self.stats.do_send(self.named.counts());
        }
        if let Some(cluster) = &self.cluster {
            for group in left.into_iter().filter(|g| !self.interested(g)) {
                cluster.interest(Interest::Group(group), false);
            }
        }
        let peer = member.status.peer;
        let user = member.status.user().cloned();
        let silent_hangup = matches!(reason, RemovalReason::PeerClosed | RemovalReason::IoError)
            && !member.status.has_received();
        if silent_hangup {
            // Probes and port scans do this all day: counted, but not worth an operator's eye.
            tracing::debug!(
                connection = id, %peer, protocol, %reason,
                "removed {protocol} connection {id} from {peer}: {reason} before sending anything"
            );
        } else if let Some(user) = &user {
            tracing::info!(
                connection = id, %peer, protocol, %reason, %user,
                "removed {protocol} connection {id} of {user} from {peer}: {reason}"
            );
        } else {
            let (own_line, ended) = self.removal_log.removed(Instant::now().into_std(), reason);
            if let Some(summary) = ended {
                tracing::info!(removed = summary.total, "{summary}");
            }
            if own_line {
                tracing::info!(
                    connection = id, %peer, protocol, %reason,
                    "removed {protocol} connection {id} from {peer}: {reason}"
                );
            }
        }
        self.stats.do_send(stats::Removed { protocol, reason });
        let event = ConnectionRemoved {
            id,
            protocol,
            peer,
            reason,
            user,
        };
        self.subscribers.retain(|s| s.connected());
        for subscriber in &self.subscribers {
            subscriber.do_send(event.clone());
        }
        Some(member)
    }

    /// Members of `protocol` silent for longer than the idle timeout at `now`.
    pub fn idle_members(&self, now: Instant) -> Vec<ConnId> {
        self.groups
            .values()
            .flat_map(|g| g.values())
            .filter(|m| m.status.idle_for(now) > self.config.idle_timeout)
            .map(|m| m.status.id)
            .collect()
    }

    fn sweep(&mut self) {
        for id in self.idle_members(Instant::now()) {
            if let Some(member) = self.remove(id, RemovalReason::Idle) {
                member.link.close(RemovalReason::Idle);
            }
        }
    }

    /// Members of the group `protocol`, or of every group, in no particular order.
    fn members_in<'a>(&'a self, protocol: Option<&'a str>) -> impl Iterator<Item = &'a Member> {
        self.groups
            .iter()
            .filter(move |(name, _)| protocol.is_none_or(|p| p == **name))
            .flat_map(|(_, g)| g.values())
    }

    /// The cluster link, for a broadcast to a group that is not a dialed one.
    fn cluster_for(&self, protocol: &str) -> Option<&Arc<dyn ClusterHook>> {
        self.cluster
            .as_ref()
            .filter(|_| !self.dialed.contains(protocol))
    }

    /// The members of `protocol` in the audience of its broadcasts (those that must
    /// authenticate first are not, until they did).
    fn members_of(&self, protocol: &str) -> impl Iterator<Item = &Member> {
        self.groups
            .get(protocol)
            .into_iter()
            .flat_map(|g| g.values())
            .filter(|m| m.status.in_audience())
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.config.health_interval, |act, _| act.sweep());
        // The summary of a burst of removals is written within a second of its end.
        ctx.run_interval(removal_log::WINDOW, |act, _| {
            if let Some(summary) = act.removal_log.tick(Instant::now().into_std()) {
                tracing::info!(removed = summary.total, "{summary}");
            }
            if let (Some(trimmer), Some(budget)) = (&mut act.trimmer, &act.budget) {
                if trimmer.observe(budget.limit() - budget.unclaimed()) {
                    memory::trim();
                }
            }
        });
    }
}

impl Handler<DeclareDialed> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: DeclareDialed, _: &mut Context<Self>) {
        self.dialed.insert(msg.0);
        self.groups.entry(msg.0).or_default();
        self.stats.do_send(msg);
    }
}

impl Handler<DeclareGroup> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: DeclareGroup, _: &mut Context<Self>) {
        self.groups.entry(msg.0).or_default();
        self.stats.do_send(msg);
    }
}

impl Handler<Register> for Supervisor {
    type Result = ();
    fn handle(&mut self, Register(member): Register, _: &mut Context<Self>) {
        self.register(member);
    }
}

impl Supervisor {
    fn register(&mut self, member: Member) {
        let status = &member.status;
        self.alive += 1;
        self.stats.do_send(stats::Opened {
            protocol: status.protocol,
        });
        let link = member.link.clone();
        let id = status.id;
        let status_protocol = status.protocol;
        self.groups
            .entry(status.protocol)
            .or_default()
            .insert(id, member);
        self.refresh_notice();
        self.protocol_interest(status_protocol, true);
        if self.shutting_down {
            self.remove(id, RemovalReason::Shutdown);
            link.close(RemovalReason::Shutdown);
        }
    }
}

impl Handler<Deregister> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Deregister, _: &mut Context<Self>) {
        self.remove(msg.id, msg.reason);
    }
}

impl Handler<Gone> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Gone, _: &mut Context<Self>) {
        // A member that stops without deregistering (its arbiter died) is removed here.
        self.remove(msg.0, RemovalReason::Shutdown);
        self.victim_gone(msg.0);
        self.alive = self.alive.saturating_sub(1);
        if self.alive == 0 {
            for waiter in self.drained.drain(..) {
                let _ = waiter.send(());
            }
        }
    }
}

impl Handler<SendTo> for Supervisor {
    type Result = ResponseFuture<Result<(), SendError>>;
    fn handle(&mut self, msg: SendTo, _: &mut Context<Self>) -> Self::Result {
        let answer = self.member(msg.id).map(|m| m.link.deliver(msg.packet));
        Box::pin(async move {
            match answer {
                None => Err(SendError::UnknownConnection(msg.id)),
                Some(answer) => answer.await.unwrap_or(Err(SendError::Stopped)),
            }
        })
    }
}

impl Handler<ToConnection> for Supervisor {
    type Result = ResponseFuture<Result<bool, SendError>>;
    fn handle(&mut self, msg: ToConnection, _: &mut Context<Self>) -> Self::Result {
        let answer = self.member(msg.id).map(|m| m.link.control(msg.control));
        Box::pin(async move {
            match answer {
                None => Err(SendError::UnknownConnection(msg.id)),
                Some(answer) => answer.await.unwrap_or(Err(SendError::Stopped)),
            }
        })
    }
}

impl Handler<Broadcast> for Supervisor {
    type Result = usize;
    fn handle(&mut self, msg: Broadcast, _: &mut Context<Self>) -> usize {
        let packets: Arc<[Bytes]> = Arc::new([msg.packet]);
        let n = self.broadcast_out(msg.protocol, packets.clone(), None, (true, false));
        if let Some(cluster) = self.cluster_for(msg.protocol) {
            cluster.broadcast(msg.protocol, &packets);
        }
        n
    }
}

impl Handler<BroadcastBatch> for Supervisor {
    type Result = usize;
    fn handle(&mut self, msg: BroadcastBatch, _: &mut Context<Self>) -> usize {
        let n = self.broadcast_out(msg.protocol, msg.packets.clone(), msg.except, (true, true));
        if let Some(cluster) = self.cluster_for(msg.protocol) {
            cluster.broadcast(msg.protocol, &msg.packets);
        }
        n
    }
}

impl Handler<BroadcastAcked> for Supervisor {
    type Result = ResponseFuture<BroadcastReport>;
    fn handle(&mut self, msg: BroadcastAcked, _: &mut Context<Self>) -> Self::Result {
        let sends: Vec<_> = self
            .members_of(msg.protocol)
            .map(|m| (m.status.id, m.link.deliver(msg.packet.clone())))
            .collect();
        Box::pin(async move {
            let mut report = BroadcastReport::default();
            for (id, send) in sends {
                match send.await.unwrap_or(Err(SendError::Stopped)) {
                    Ok(()) => report.delivered += 1,
                    Err(e) => report.refused.push((id, e)),
                }
            }
            report
        })
    }
}

impl Handler<CloseConnection> for Supervisor {
    type Result = Result<(), SendError>;
    fn handle(&mut self, msg: CloseConnection, _: &mut Context<Self>) -> Self::Result {
        let member = self
            .remove(msg.id, msg.reason)
            .ok_or(SendError::UnknownConnection(msg.id))?;
        member.link.close(msg.reason);
        Ok(())
    }
}

impl Handler<CloseMany> for Supervisor {
    type Result = usize;
    fn handle(&mut self, msg: CloseMany, _: &mut Context<Self>) -> usize {
        let mut removed = 0;
        for id in msg.ids {
            if let Some(member) = self.remove(id, msg.reason) {
                member.link.close_saying(msg.reason, msg.last_word.clone());
                removed += 1;
            }
        }
        removed
    }
}

impl Handler<Subscribe> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.subscribers.push(msg.0);
    }
}

impl Handler<GetStats> for Supervisor {
    type Result = ResponseFuture<Snapshot>;
    fn handle(&mut self, msg: GetStats, _: &mut Context<Self>) -> Self::Result {
        // Forwarded rather than answered by the caller asking the stats actor directly:
        // the opening of every connection this supervisor registered is then already
        // in the stats actor's mailbox ahead of the query.
        let stats = self.stats.clone();
        let cluster = self.cluster.as_ref().map(|c| c.counters());
        let history = self.history.as_ref().map(|h| h.counters());
        Box::pin(async move {
            let mut snapshot = stats.send(msg).await.unwrap_or_default();
            snapshot.cluster = cluster;
            snapshot.history = history;
            snapshot
        })
    }
}

impl Handler<Shutdown> for Supervisor {
    type Result = ResponseFuture<usize>;
    fn handle(&mut self, msg: Shutdown, _: &mut Context<Self>) -> Self::Result {
        self.shutting_down = true;
        let ids: Vec<ConnId> = self
            .groups
            .values()
            .flat_map(HashMap::keys)
            .copied()
            .collect();
        let closing = ids.len();
        for id in ids {
            if let Some(member) = self.remove(id, RemovalReason::Shutdown) {
                member.link.close(RemovalReason::Shutdown);
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.alive == 0 {
            let _ = tx.send(());
        } else {
            self.drained.push(tx);
        }
        Box::pin(async move {
            let _ = tokio::time::timeout(msg.timeout, rx).await;
            closing
        })
    }
}
