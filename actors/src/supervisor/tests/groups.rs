//! Named groups in the supervisor's registry, driven with stand-in members: encoding
//! once per protocol present, the publisher's own encoding reused, the automatic leave
//! of a removed connection.

use super::Fake;
use crate::groups::*;
use crate::stats::*;
use crate::supervisor::*;
use crate::*;
use actix::{Actor, Addr};
use bytes::{BufMut, Bytes, BytesMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An encoder writing `tag | group | ' ' | message`, counting its calls.
fn counting_encoder(tag: u8, calls: Arc<AtomicUsize>) -> GroupEncoder {
    GroupEncoder::new(move |group, message| {
        calls.fetch_add(1, Ordering::SeqCst);
        let mut packet = BytesMut::new();
        packet.put_u8(tag);
        packet.put_slice(group.as_str().as_bytes());
        packet.put_u8(b' ');
        packet.put_slice(message);
        Ok(packet.freeze())
    })
}

fn supervisor() -> (Addr<Supervisor>, Addr<Stats>) {
    let stats = Stats::default().start();
    let sup = Supervisor::new(SupervisorConfig::default(), stats.clone()).start();
    (sup, stats)
}

#[actix_rt::test]
async fn a_message_is_encoded_once_per_protocol_present_in_the_group() {
    let (sup, _) = supervisor();
    let (a_calls, b_calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let a_encoder = counting_encoder(b'a', a_calls.clone());
    let b_encoder = counting_encoder(b'b', b_calls.clone());
    let a: Vec<Fake> = (1..=3).map(|id| Fake::register(&sup, id, "a")).collect();
    let b: Vec<Fake> = (4..=5).map(|id| Fake::register(&sup, id, "b")).collect();
    let outsider = Fake::register(&sup, 6, "a");
    for member in &a {
        member.join(&sup, "lobby", &a_encoder);
    }
    for member in &b {
        member.join(&sup, "lobby", &b_encoder);
    }
    outsider.join(&sup, "elsewhere", &a_encoder);
    let message = Bytes::from_static(b"hello");
    let handed = sup
        .send(Publish {
            group: "lobby".into(),
            message,
        })
        .await
        .unwrap();
    assert_eq!(handed, 5);
    assert_eq!(a_calls.load(Ordering::SeqCst), 1, "once for protocol a");
    assert_eq!(b_calls.load(Ordering::SeqCst), 1, "once for protocol b");
    let everyone: Vec<&Fake> = a.iter().chain(&b).chain([&outsider]).collect();
    super::settled(&sup, &everyone).await;
    for member in &a {
        assert_eq!(member.got(), [Ok(Bytes::from_static(b"alobby hello"))]);
    }
    for member in &b {
        assert_eq!(member.got(), [Ok(Bytes::from_static(b"blobby hello"))]);
    }
    assert!(outsider.got().is_empty(), "not a member of lobby");
}

#[actix_rt::test]
async fn a_publishers_own_encoding_is_reused_and_it_is_left_out() {
    let (sup, _) = supervisor();
    let calls = Arc::new(AtomicUsize::new(0));
    let encoder = counting_encoder(b'a', calls.clone());
    let members: Vec<Fake> = (1..=3).map(|id| Fake::register(&sup, id, "a")).collect();
    for member in &members {
        member.join(&sup, "lobby", &encoder);
    }
    let own = Bytes::from_static(b"own bytes");
    let messages = (0..3)
        .map(|n| Published {
            group: "lobby".into(),
            message: Bytes::from(format!("m{n}")),
            encoded: Some(Ok(own.clone())),
        })
        .collect();
    let handed = sup
        .send(PublishBatch {
            publisher: Publisher {
                id: 1,
                protocol: "a",
                user: None,
            },
            messages,
        })
        .await
        .unwrap();
    assert_eq!(handed, 6, "three messages for two members");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "encoded once, by the publisher"
    );
    super::settled(&sup, &members.iter().collect::<Vec<_>>()).await;
    assert!(
        members[0].got().is_empty(),
        "the publisher queued its own copies"
    );
    for member in &members[1..] {
        assert_eq!(member.got(), vec![Ok(own.clone()); 3]);
    }
}

#[actix_rt::test]
async fn publishing_to_a_group_without_members_does_nothing() {
    let (sup, _) = supervisor();
    let calls = Arc::new(AtomicUsize::new(0));
    let member = Fake::register(&sup, 1, "a");
    member.join(&sup, "lobby", &counting_encoder(b'a', calls.clone()));
    sup.do_send(Leave {
        id: 1,
        group: "lobby".into(),
    });
    let handed = sup
        .send(Publish {
            group: "lobby".into(),
            message: Bytes::from_static(b"anyone?"),
        })
        .await
        .unwrap();
    assert_eq!(handed, 0);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing encoded");
    assert!(sup.send(ListGroups).await.unwrap().is_empty());
}

#[actix_rt::test]
async fn a_removed_connection_leaves_all_its_groups() {
    let (sup, stats) = supervisor();
    let encoder = counting_encoder(b'a', Arc::new(AtomicUsize::new(0)));
    let leaving = Fake::register(&sup, 1, "a");
    let staying = Fake::register(&sup, 2, "a");
    for group in ["one", "two", "three"] {
        leaving.join(&sup, group, &encoder);
    }
    // A second join of a group changes nothing.
    leaving.join(&sup, "one", &encoder);
    staying.join(&sup, "two", &encoder);
    let members = sup.send(GroupMembers("two".into())).await.unwrap();
    assert_eq!(members.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
    let snap = stats.send(GetStats).await.unwrap();
    assert_eq!((snap.groups, snap.group_members), (3, 4));

    sup.do_send(Deregister {
        id: 1,
        reason: RemovalReason::PeerClosed,
    });
    // A join that arrives after the removal does not bring it back.
    leaving.join(&sup, "four", &encoder);
    let groups = sup.send(ListGroups).await.unwrap();
    assert_eq!(groups, [(GroupName::from("two"), 1)]);
    let members = sup.send(GroupMembers("two".into())).await.unwrap();
    assert_eq!(members.iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
    let snap = sup.send(GetStats).await.unwrap();
    assert_eq!((snap.groups, snap.group_members), (1, 1));
    let handed = sup
        .send(Publish {
            group: "one".into(),
            message: Bytes::from_static(b"gone"),
        })
        .await
        .unwrap();
    assert_eq!(handed, 0);
}
