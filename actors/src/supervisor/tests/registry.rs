//! The supervisor, driven through its messages with stand-in members.

use super::Fake;
use crate::stats::*;
use crate::supervisor::*;
use crate::*;
use actix::{Actor, Addr};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Registers stand-in `id` of `protocol`, refusing deliveries if `refuse`.
fn register(
    sup: &Addr<Supervisor>,
    id: ConnId,
    protocol: &'static str,
    refuse: bool,
) -> (Fake, Arc<ConnectionStatus>) {
    let fake = match refuse {
        true => Fake::refusing(sup, id, protocol),
        false => Fake::register(sup, id, protocol),
    };
    let status = fake.status.clone();
    (fake, status)
}

fn start(idle_timeout: Duration) -> (Addr<Supervisor>, Addr<Stats>) {
    let stats = Stats::default().start();
    let config = SupervisorConfig::default()
        .with_health_interval(Duration::from_secs(1))
        .with_idle_timeout(idle_timeout);
    (Supervisor::new(config, stats.clone()).start(), stats)
}

#[actix_rt::test]
async fn broadcast_reaches_only_its_group_sharing_one_buffer() {
    let (sup, _) = start(Duration::from_secs(60));
    let (a, _) = register(&sup, 1, "frame", false);
    let (b, _) = register(&sup, 2, "frame", false);
    let (c, _) = register(&sup, 3, "line", false);
    let packet = Bytes::from_static(b"hello");
    let n = sup
        .send(Broadcast {
            protocol: "frame",
            packet: packet.clone(),
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    let report = sup
        .send(BroadcastAcked {
            protocol: "frame",
            packet: packet.clone(),
        })
        .await
        .unwrap();
    assert_eq!(report.delivered, 2);
    for seen in [&a, &b] {
        let got = seen.delivered();
        assert_eq!(got.len(), 2);
        // Encoded once: every member holds the same allocation.
        assert_eq!(got[0].as_ptr(), packet.as_ptr());
    }
    assert!(c.delivered().is_empty());
}

#[actix_rt::test]
async fn a_batch_reaches_each_group_member_once_in_order() {
    let (sup, _) = start(Duration::from_secs(60));
    let (a, _) = register(&sup, 1, "frame", false);
    let (other, _) = register(&sup, 2, "line", false);
    let packets: std::sync::Arc<[Bytes]> =
        vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")].into();
    let n = sup
        .send(BroadcastBatch {
            protocol: "frame",
            packets: packets.clone(),
            except: None,
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    // A round trip through the member's mailbox: the batch was handled before it.
    sup.send(SendTo {
        id: 1,
        packet: Bytes::from_static(b"three"),
    })
    .await
    .unwrap()
    .unwrap();
    let got = a.delivered();
    assert_eq!(got, vec!["one", "two", "three"]);
    assert_eq!(got[0].as_ptr(), packets[0].as_ptr(), "shared, not copied");
    assert!(other.delivered().is_empty());
}

#[actix_rt::test]
async fn refusals_are_values() {
    let (sup, _) = start(Duration::from_secs(60));
    register(&sup, 1, "frame", true);
    let err = sup
        .send(SendTo {
            id: 99,
            packet: Bytes::from_static(b"x"),
        })
        .await
        .unwrap();
    assert_eq!(err, Err(SendError::UnknownConnection(99)));
    let err = sup
        .send(SendTo {
            id: 1,
            packet: Bytes::from_static(b"x"),
        })
        .await
        .unwrap();
    assert_eq!(err, Err(SendError::Closing));
    let report = sup
        .send(BroadcastAcked {
            protocol: "frame",
            packet: Bytes::from_static(b"x"),
        })
        .await
        .unwrap();
    assert_eq!(report.refused, vec![(1, SendError::Closing)]);
}

#[actix_rt::test]
async fn idle_sweep_removes_silent_members_with_reason_and_notifies() {
    tokio::time::pause();
    let (sup, stats) = start(Duration::from_secs(10));
    let removed = super::record_removals(&sup);
    let (quiet, _) = register(&sup, 1, "frame", false);
    let (chatty, chatty_status) = register(&sup, 2, "frame", false);
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        chatty_status.touch_rx(tokio::time::Instant::now());
    }
    let list = sup.send(ListConnections { protocol: None }).await.unwrap();
    assert_eq!(list.iter().map(|m| m.id).collect::<Vec<_>>(), vec![2]);
    assert_eq!(quiet.closed(), vec![RemovalReason::Idle]);
    assert!(chatty.closed().is_empty());
    let events = removed.seen().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, 1);
    assert_eq!(events[0].reason, RemovalReason::Idle);
    let snap = stats.send(GetStats).await.unwrap();
    assert_eq!(snap.removed_total["idle"], 1);
    assert_eq!(snap.connections["frame"], 1);
}

#[actix_rt::test]
async fn removal_happens_once_with_the_first_reason() {
    let (sup, _) = start(Duration::from_secs(60));
    let removed = super::record_removals(&sup);
    register(&sup, 7, "line", false);
    sup.do_send(Deregister {
        id: 7,
        reason: RemovalReason::ErrorPackets,
    });
    sup.do_send(Deregister {
        id: 7,
        reason: RemovalReason::PeerClosed,
    });
    let snap = sup.send(GetStats).await.unwrap();
    assert_eq!(snap.removed_total["error_packets"], 1);
    assert_eq!(snap.removed_total["peer_closed"], 0);
    assert_eq!(snap.accepted_total, 1);
    assert_eq!(snap.connections["line"], 0);
    // The supervisor has answered: its announcements are in the recorder's mailbox.
    let events = removed.seen().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, RemovalReason::ErrorPackets);
}

#[actix_rt::test]
async fn shutdown_closes_everyone_and_waits_for_them() {
    let (sup, _) = start(Duration::from_secs(60));
    let (a, _) = register(&sup, 1, "frame", false);
    let (b, _) = register(&sup, 2, "line", false);
    let closing = sup
        .send(Shutdown {
            timeout: Duration::from_secs(1),
        })
        .await
        .unwrap();
    assert_eq!(closing, 2);
    assert_eq!(a.closed(), vec![RemovalReason::Shutdown]);
    assert_eq!(b.closed(), vec![RemovalReason::Shutdown]);
    // Registered after shutdown began: closed at once.
    let (late, _) = register(&sup, 3, "frame", false);
    let snap = sup.send(GetStats).await.unwrap();
    assert_eq!(snap.removed_total["shutdown"], 3);
    assert_eq!(late.closed(), vec![RemovalReason::Shutdown]);
}

/// Never answers an [`Inspect`]: stands for a member stuck behind a long mailbox.
#[actix_rt::test]
async fn inspect_gathers_reports_of_one_group_in_id_order_within_the_wait() {
    tokio::time::pause();
    let (sup, _) = start(Duration::from_secs(600));
    register(&sup, 3, "frame", false);
    register(&sup, 1, "frame", false);
    register(&sup, 2, "line", false);
    // A member that never answers a request for its report.
    Fake::mute(&sup, 4, "frame");
    let found = sup
        .send(InspectConnections {
            protocol: Some("frame".to_owned()),
            limit: 10,
            timeout: Duration::from_secs(1),
        })
        .await
        .unwrap();
    let ids: Vec<ConnId> = found.iter().map(|m| m.info.id).collect();
    assert_eq!(ids, vec![1, 3, 4]);
    assert_eq!(found[0].report.as_ref().map(|r| r.id), Some(1));
    assert_eq!(
        found[1].report.as_ref().map(|r| r.peer),
        Some(found[1].info.peer)
    );
    assert!(found[2].report.is_none(), "the mute member has no report");
    let first = sup
        .send(InspectConnections {
            protocol: None,
            limit: 2,
            timeout: Duration::from_secs(1),
        })
        .await
        .unwrap();
    let ids: Vec<ConnId> = first.iter().map(|m| m.info.id).collect();
    assert_eq!(ids, vec![1, 2]);
}

#[actix_rt::test]
async fn inspect_members_answers_the_chosen_ids_in_their_order() {
    let (sup, _) = start(Duration::from_secs(600));
    let (_, sent_status) = register(&sup, 1, "frame", false);
    register(&sup, 2, "line", false);
    register(&sup, 3, "frame", false);
    sent_status.set_sent_bytes(42);
    let found = sup
        .send(InspectMembers {
            ids: vec![3, 99, 1],
            timeout: Duration::from_secs(1),
        })
        .await
        .unwrap();
    let ids: Vec<ConnId> = found.iter().map(|m| m.info.id).collect();
    assert_eq!(ids, vec![3, 1], "the unknown id 99 is left out");
    assert_eq!(found[1].info.sent_bytes, 42);
    assert_eq!(found[0].report.as_ref().map(|r| r.id), Some(3));
    let list = sup.send(ListConnections { protocol: None }).await.unwrap();
    let first = list.iter().find(|m| m.id == 1).map(|m| m.sent_bytes);
    assert_eq!(first, Some(42));
}

#[actix_rt::test]
async fn relayed_counters_removal_and_stop_are_handled_in_order() {
    let (sup, _) = start(Duration::from_secs(60));
    let removed = super::record_removals(&sup);
    register(&sup, 7, "line", false);
    let delta = Traffic {
        sent_bytes: 10,
        sent_packets: 2,
        ..Traffic::default()
    };
    sup.do_send(RelayedBatch(vec![
        Relayed::Traffic(TrafficDelta {
            protocol: "line",
            delta,
        }),
        Relayed::Removed(Deregister {
            id: 7,
            reason: RemovalReason::PeerClosed,
        }),
        Relayed::Gone(Gone(7)),
    ]));
    let snap = sup.send(GetStats).await.unwrap();
    assert_eq!(snap.sent_bytes_total, 10);
    assert_eq!(snap.sent_packets_total, 2);
    assert_eq!(snap.removed_total["peer_closed"], 1);
    assert_eq!(snap.removed_total["shutdown"], 0, "the removal came first");
    assert_eq!(snap.connections["line"], 0);
    // The supervisor has answered: its announcements are in the recorder's mailbox.
    let events = removed.seen().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, RemovalReason::PeerClosed);
    // Nobody is left to wait for.
    let closing = sup
        .send(Shutdown {
            timeout: Duration::from_secs(60),
        })
        .await
        .unwrap();
    assert_eq!(closing, 0);
}
