//! The figures of a switchboard: what connections really wrote and read, removals by
//! reason, groups, backends, recent send failures.
//!
//! A stats actor aggregates them: connections report batched traffic deltas, the
//! supervisor reports openings, removals and the named groups' figures.
//! [`Handle::stats`](crate::Handle::stats) answers a [`Snapshot`], a serde value (the
//! demo server answers STATS with it) with totals and a per-protocol breakdown. Because
//! connections batch their counters, a snapshot may lag the sockets by at most
//! [`ConnectionLimits::stats_interval`](crate::config::ConnectionLimits::stats_interval).

use crate::{GroupCounts, RemovalReason, SendFailure, Traffic};
use actix::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Send failures kept for the snapshot, across all connections, newest last.
const RECENT_FAILURES: usize = 32;

/// The send failures a connection recorded, reported when it stops, so that their
/// reasons outlive it.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Failures {
    /// The connection's protocol group.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Its most recent send failures, oldest first.
    pub failures: Vec<SendFailure>,
}

/// One send failure of some connection, as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureRecord {
    /// The connection's protocol group.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: String,
    /// When it was recorded, in milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Why the packet failed.
    pub reason: String,
    /// The packet's size in bytes (0 when it was never encoded).
    pub size: usize,
}

/// A protocol group exists (so snapshots list it even with no connection).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct DeclareGroup(pub &'static str);

/// The connections of a group are dialed by this process (backends), not accepted:
/// they stay out of `connections`, `accepted_total` and `removed_total`, which count
/// accepted connections only; their figures are listed under `protocols`.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub(crate) struct DeclareDialed(pub &'static str);

/// A connection of `protocol` was registered.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Opened {
    /// Its protocol group.
    pub protocol: &'static str,
}

/// A connection of `protocol` was removed for `reason`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Removed {
    /// Its protocol group.
    pub protocol: &'static str,
    /// Why it was removed.
    pub reason: RemovalReason,
}

/// Counters a connection accumulated since its last report.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct TrafficDelta {
    /// The connection's protocol group.
    pub protocol: &'static str,
    /// What changed.
    pub delta: Traffic,
}

/// A backend went up or down.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct BackendState {
    /// The backend's address as configured.
    pub member: String,
    /// Whether it is up.
    pub up: bool,
}

/// Asks for a [`Snapshot`].
#[derive(Message)]
#[rtype(result = "Snapshot")]
pub(crate) struct GetStats;

/// Figures of one protocol group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupSnapshot {
    /// Connections registered now.
    pub connections: u64,
    /// Connections ever registered.
    pub accepted: u64,
    /// Removals by reason.
    pub removed: BTreeMap<&'static str, u64>,
    /// Everything the group's connections reported.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// Refused plus dropped packets.
    pub send_failures: u64,
}

/// Every figure at one moment: totals, and the same per protocol group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Snapshot {
    /// Registered connections per protocol group.
    pub connections: BTreeMap<&'static str, u64>,
    /// Connections ever registered.
    pub accepted_total: u64,
    /// Removals by reason, every reason listed.
    pub removed_total: BTreeMap<&'static str, u64>,
    /// Bytes the sockets accepted.
    pub sent_bytes_total: u64,
    /// Bytes read from the sockets.
    pub received_bytes_total: u64,
    /// Packets written completely.
    pub sent_packets_total: u64,
    /// Packets decoded, bad ones included.
    pub received_packets_total: u64,
    /// Packets judged bad.
    pub error_packets_total: u64,
    /// Packets refused or dropped.
    pub send_failures_total: u64,
    /// Packets accepted into outbound queues (= sent + dropped + still queued).
    pub queued_packets_total: u64,
    /// Packets accepted and never written.
    pub dropped_packets_total: u64,
    /// Packets refused before queueing.
    pub refused_packets_total: u64,
    /// Requests refused for want of permission (never error packets).
    pub denied_total: u64,
    /// Named groups with at least one member.
    pub groups: u64,
    /// Memberships in named groups.
    pub group_members: u64,
    /// Connections open now on WebSocket listeners, handshake finished or not (they
    /// are counted under their protocol too).
    pub websocket: u64,
    /// Backend address -> `"up"` or `"down"`; absent when there are no backends.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub backends: BTreeMap<String, &'static str>,
    /// The same figures per protocol group.
    pub protocols: BTreeMap<&'static str, GroupSnapshot>,
    /// The cluster link's figures; absent without a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterCounters>,
    /// The group histories' figures; absent while no history is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::history::HistoryCounters>,
    /// The last send failures of connections that stopped, newest last (at most 32).
    pub recent_failures: Vec<FailureRecord>,
}

/// Running figures of one group.
#[derive(Debug, Default)]
struct Group {
    /// Connections registered now.
    live: u64,
    /// Connections ever registered.
    accepted: u64,
    /// Removals per reason.
    removed: HashMap<RemovalReason, u64>,
    /// Reported traffic.
    traffic: Traffic,
}

/// The stats actor.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Figures per protocol group.
    groups: HashMap<&'static str, Group>,
    /// Backend address -> up.
    backends: BTreeMap<String, bool>,
    /// Groups of dialed connections, kept out of the accepted-connection figures.
    dialed: HashSet<&'static str>,
    /// The named groups' figures, as the supervisor last reported them.
    named: GroupCounts,
    /// The last send failures of stopped connections, newest last.
    recent_failures: VecDeque<FailureRecord>,
    /// Connections open now on WebSocket listeners, kept by the connections.
    websockets: Arc<AtomicU64>,
}

impl Stats {
    /// The snapshot of the figures so far.
    pub fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        let mut total = Traffic::default();
        for reason in RemovalReason::ALL {
            snap.removed_total.insert(reason.as_str(), 0);
        }
        for (&name, group) in &self.groups {
            let accepted = !self.dialed.contains(name);
            if accepted {
                snap.connections.insert(name, group.live);
                snap.accepted_total += group.accepted;
            }
            let mut removed = BTreeMap::new();
            for (reason, &count) in &group.removed {
                removed.insert(reason.as_str(), count);
                if accepted {
                    *snap.removed_total.entry(reason.as_str()).or_default() += count;
                }
            }
            total.add(&group.traffic);
            snap.protocols.insert(
                name,
                GroupSnapshot {
                    connections: group.live,
                    accepted: group.accepted,
                    removed,
                    traffic: group.traffic,
                    send_failures: group.traffic.send_failures(),
                },
            );
        }
        snap.sent_bytes_total = total.sent_bytes;
        snap.received_bytes_total = total.received_bytes;
        snap.sent_packets_total = total.sent_packets;
        snap.received_packets_total = total.received_packets;
        snap.error_packets_total = total.error_packets;
        snap.send_failures_total = total.send_failures();
        snap.queued_packets_total = total.queued_packets;
        snap.dropped_packets_total = total.dropped_packets;
        snap.refused_packets_total = total.refused_packets;
        snap.denied_total = total.denied;
        snap.groups = self.named.groups;
        snap.group_members = self.named.members;
        snap.websocket = self.websockets.load(Relaxed);
        snap.recent_failures = self.recent_failures.iter().cloned().collect();
        snap.backends = self
            .backends
            .iter()
            .map(|(member, &up)| (member.clone(), if up { "up" } else { "down" }))
            .collect();
        snap
    }

    /// The count of open WebSocket connections, which the connections keep and the
    /// snapshots read.
    pub fn websockets(&self) -> Arc<AtomicU64> {
        self.websockets.clone()
    }

    fn group(&mut self, name: &'static str) -> &mut Group {
        self.groups.entry(name).or_default()
    }
}

impl Actor for Stats {
    type Context = Context<Self>;
}

impl Handler<DeclareGroup> for Stats {
    type Result = ();
    fn handle(&mut self, msg: DeclareGroup, _: &mut Context<Self>) {
        self.group(msg.0);
    }
}

impl Handler<DeclareDialed> for Stats {
    type Result = ();
    fn handle(&mut self, msg: DeclareDialed, _: &mut Context<Self>) {
        self.dialed.insert(msg.0);
        self.group(msg.0);
    }
}

impl Handler<Opened> for Stats {
    type Result = ();
    fn handle(&mut self, msg: Opened, _: &mut Context<Self>) {
        let group = self.group(msg.protocol);
        group.live += 1;
        group.accepted += 1;
    }
}

impl Handler<Removed> for Stats {
    type Result = ();
    fn handle(&mut self, msg: Removed, _: &mut Context<Self>) {
        let group = self.group(msg.protocol);
        group.live = group.live.saturating_sub(1);
        *group.removed.entry(msg.reason).or_default() += 1;
    }
}

impl Handler<Failures> for Stats {
    type Result = ();
    fn handle(&mut self, msg: Failures, _: &mut Context<Self>) {
        let peer = msg.peer.to_string();
        for failure in msg.failures {
            let at_unix_ms = failure
                .at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            if self.recent_failures.len() == RECENT_FAILURES {
                self.recent_failures.pop_front();
            }
            self.recent_failures.push_back(FailureRecord {
                protocol: msg.protocol,
                peer: peer.clone(),
                at_unix_ms,
                reason: failure.reason.to_string(),
                size: failure.size,
            });
        }
    }
}

impl Handler<TrafficDelta> for Stats {
    type Result = ();
    fn handle(&mut self, msg: TrafficDelta, _: &mut Context<Self>) {
        self.group(msg.protocol).traffic.add(&msg.delta);
    }
}

impl Handler<GroupCounts> for Stats {
    type Result = ();
    fn handle(&mut self, msg: GroupCounts, _: &mut Context<Self>) {
        self.named = msg;
    }
}

impl Handler<BackendState> for Stats {
    type Result = ();
    fn handle(&mut self, msg: BackendState, _: &mut Context<Self>) {
        self.backends.insert(msg.member, msg.up);
    }
}

impl Handler<GetStats> for Stats {
    type Result = MessageResult<GetStats>;
    fn handle(&mut self, _: GetStats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn the_last_failures_of_stopped_connections_are_kept_newest_last() {
        let stats = Stats::default().start();
        let failure = |n: usize| SendFailure {
            at: UNIX_EPOCH + std::time::Duration::from_millis(1_000 + n as u64),
            reason: crate::FailureReason::Removed(RemovalReason::WriteTimeout),
            size: n,
        };
        let peer: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        stats.do_send(Failures {
            protocol: "frame",
            peer,
            failures: (0..RECENT_FAILURES + 5).map(failure).collect(),
        });
        let snap = stats.send(GetStats).await.unwrap();
        assert_eq!(snap.recent_failures.len(), RECENT_FAILURES, "bounded");
        let newest = snap.recent_failures.last().unwrap();
        assert_eq!(
            newest.size,
            RECENT_FAILURES + 4,
            "the oldest ones left first"
        );
        assert_eq!(newest.at_unix_ms, 1_000 + (RECENT_FAILURES + 4) as u64);
        assert_eq!(newest.peer, "127.0.0.1:4000");
        assert_eq!(newest.reason, "removed: write_timeout");
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["recent_failures"][0]["protocol"], "frame");
    }

    #[actix_rt::test]
    async fn aggregates_deltas_openings_and_removals() {
        let stats = Stats::default().start();
        stats.do_send(DeclareGroup("line"));
        for _ in 0..3 {
            stats.do_send(Opened { protocol: "frame" });
        }
        stats.do_send(Removed {
            protocol: "frame",
            reason: RemovalReason::Idle,
        });
        for n in [100, 23] {
            stats.do_send(TrafficDelta {
                protocol: "frame",
                delta: Traffic {
                    sent_bytes: n,
                    sent_packets: 1,
                    refused_packets: 1,
                    ..Traffic::default()
                },
            });
        }
        let snap = stats.send(GetStats).await.unwrap();
        assert_eq!(snap.connections["frame"], 2);
        assert_eq!(snap.connections["line"], 0);
        assert_eq!(snap.accepted_total, 3);
        assert_eq!(snap.removed_total["idle"], 1);
        assert_eq!(snap.removed_total["error_packets"], 0);
        assert_eq!(snap.sent_bytes_total, 123);
        assert_eq!(snap.sent_packets_total, 2);
        assert_eq!(snap.send_failures_total, 2);
        assert_eq!(snap.protocols["frame"].removed["idle"], 1);
        let json = serde_json::to_value(&snap).unwrap();
        for key in [
            "connections",
            "accepted_total",
            "removed_total",
            "sent_bytes_total",
            "received_bytes_total",
            "sent_packets_total",
            "received_packets_total",
            "error_packets_total",
            "send_failures_total",
            "groups",
            "group_members",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert!(json.get("backends").is_none());
    }

    #[actix_rt::test]
    async fn dialed_groups_stay_out_of_accepted_figures() {
        let stats = Stats::default().start();
        stats.do_send(DeclareDialed("backend"));
        stats.do_send(Opened { protocol: "frame" });
        for _ in 0..2 {
            stats.do_send(Opened {
                protocol: "backend",
            });
        }
        stats.do_send(Removed {
            protocol: "backend",
            reason: RemovalReason::HealthCheck,
        });
        stats.do_send(TrafficDelta {
            protocol: "backend",
            delta: Traffic {
                sent_bytes: 9,
                ..Traffic::default()
            },
        });
        let snap = stats.send(GetStats).await.unwrap();
        assert_eq!(snap.connections.len(), 1, "{:?}", snap.connections);
        assert_eq!(snap.accepted_total, 1);
        assert_eq!(snap.removed_total["health_check"], 0);
        assert_eq!(snap.protocols["backend"].connections, 1);
        assert_eq!(snap.protocols["backend"].removed["health_check"], 1);
        assert_eq!(
            snap.sent_bytes_total, 9,
            "bytes written to any socket count"
        );
    }

    #[actix_rt::test]
    async fn lists_backends_up_and_down() {
        let stats = Stats::default().start();
        stats.do_send(BackendState {
            member: "127.0.0.1:9".into(),
            up: false,
        });
        let snap = stats.send(GetStats).await.unwrap();
        assert_eq!(snap.backends["127.0.0.1:9"], "down");
    }
}
