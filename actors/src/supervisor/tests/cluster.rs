//! The supervisor's side of a cluster, without any transport: a recording
//! [`ClusterHook`] sees each local publish and broadcast once, interest that follows
//! local membership (joins, leaves, removals), and messages from other nodes are
//! delivered locally but never handed back to the link.

use super::Fake;
use crate::cluster::{
    AttachCluster, ClusterBroadcast, ClusterCounters, ClusterDeliver, ClusterHook, Interest,
};
use crate::groups::*;
use crate::stats::*;
use crate::supervisor::*;
use crate::*;
use actix::{Actor, Addr};
use bytes::Bytes;
use std::sync::{Arc, Mutex};

/// What the link was told, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Told {
    Published(String, Bytes),
    Broadcast(&'static str, Bytes),
    Interest(Interest, bool),
}

/// A link that records what the supervisor tells it.
#[derive(Default)]
struct Recorder(Mutex<Vec<Told>>);

impl Recorder {
    fn take(&self) -> Vec<Told> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl ClusterHook for Recorder {
    fn published(&self, messages: &[Published]) {
        let mut told = self.0.lock().unwrap();
        for m in messages {
            told.push(Told::Published(m.group.to_string(), m.message.clone()));
        }
    }
    fn broadcast(&self, protocol: &'static str, packets: &[Bytes]) {
        let mut told = self.0.lock().unwrap();
        for p in packets {
            told.push(Told::Broadcast(protocol, p.clone()));
        }
    }
    fn interest(&self, interest: Interest, present: bool) {
        self.0
            .lock()
            .unwrap()
            .push(Told::Interest(interest, present));
    }
    fn counters(&self) -> ClusterCounters {
        ClusterCounters {
            node: "recorder".into(),
            connected: true,
            published_total: 7,
            ..ClusterCounters::default()
        }
    }
}

/// Registers a stand-in `chat` member `id`.
fn register(sup: &Addr<Supervisor>, id: ConnId) -> Fake {
    Fake::register(sup, id, "chat")
}

/// Joins `fake` to `group`, its group messages written as the bare message.
fn join(fake: &Fake, sup: &Addr<Supervisor>, group: &str) {
    fake.join(
        sup,
        group,
        &GroupEncoder::new(|_, m| Ok(Bytes::copy_from_slice(m))),
    );
}

fn group(name: &str) -> Interest {
    Interest::Group(name.into())
}

#[actix_rt::test]
async fn the_link_hears_local_traffic_and_interest_but_never_its_own_deliveries() {
    let stats = Stats::default().start();
    let sup = Supervisor::new(SupervisorConfig::default(), stats).start();
    let early = register(&sup, 1);
    join(&early, &sup, "lobby");
    let recorder = Arc::new(Recorder::default());
    sup.send(AttachCluster(recorder.clone())).await.unwrap();
    // Attaching announces what this server already has members of.
    let mut told = recorder.take();
    told.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(
        told,
        [
            Told::Interest(group("lobby"), true),
            Told::Interest(Interest::Protocol("chat"), true),
        ]
    );

    // A second member of the same group changes no interest; a new group does.
    let second = register(&sup, 2);
    join(&second, &sup, "lobby");
    join(&second, &sup, "side");
    super::settled(&sup, &[]).await;
    assert_eq!(recorder.take(), [Told::Interest(group("side"), true)]);

    // A local publish is delivered here and handed to the link once.
    let hello = Bytes::from_static(b"hello");
    let handed = sup
        .send(Publish {
            group: "lobby".into(),
            message: hello.clone(),
        })
        .await
        .unwrap();
    assert_eq!(handed, 2);
    assert_eq!(
        recorder.take(),
        [Told::Published("lobby".into(), hello.clone())]
    );

    // A message from another node is delivered here, and not handed back.
    let remote = Bytes::from_static(b"from afar");
    let handed = sup
        .send(ClusterDeliver {
            group: "lobby".into(),
            messages: vec![remote.clone(), remote.clone()],
        })
        .await
        .unwrap();
    assert_eq!(handed, 4, "two messages for two members");
    let handed = sup
        .send(ClusterBroadcast {
            protocol: "chat",
            packets: vec![Bytes::from_static(b"bcast afar")],
        })
        .await
        .unwrap();
    assert_eq!(handed, 2);
    super::settled(&sup, &[&early, &second]).await;
    assert_eq!(recorder.take(), []);
    assert_eq!(
        early.delivered(),
        [
            hello.clone(),
            remote.clone(),
            remote.clone(),
            Bytes::from_static(b"bcast afar")
        ]
    );

    // A local broadcast is handed to the link.
    let local = Bytes::from_static(b"bcast here");
    sup.send(Broadcast {
        protocol: "chat",
        packet: local.clone(),
    })
    .await
    .unwrap();
    assert_eq!(recorder.take(), [Told::Broadcast("chat", local)]);

    // The last member leaving, or removed, ends the interest.
    sup.do_send(Leave {
        id: 2,
        group: "side".into(),
    });
    sup.do_send(Deregister {
        id: 1,
        reason: RemovalReason::PeerClosed,
    });
    super::settled(&sup, &[]).await;
    assert_eq!(recorder.take(), [Told::Interest(group("side"), false)]);
    sup.do_send(Deregister {
        id: 2,
        reason: RemovalReason::PeerClosed,
    });
    super::settled(&sup, &[]).await;
    let mut told = recorder.take();
    told.sort_by_key(|t| format!("{t:?}"));
    assert_eq!(
        told,
        [
            Told::Interest(group("lobby"), false),
            Told::Interest(Interest::Protocol("chat"), false),
        ]
    );

    // STATS carries the link's figures.
    let snapshot = sup.send(GetStats).await.unwrap();
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["cluster"]["node"], "recorder", "{json}");
    assert_eq!(json["cluster"]["published_total"], 7, "{json}");
}

#[actix_rt::test]
async fn without_a_link_stats_have_no_cluster_key() {
    let stats = Stats::default().start();
    let sup = Supervisor::new(SupervisorConfig::default(), stats).start();
    let json = serde_json::to_value(sup.send(GetStats).await.unwrap()).unwrap();
    assert!(json.get("cluster").is_none(), "{json}");
}
