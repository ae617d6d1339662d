//! Named groups: the supervisor's registry driven with stand-in members (encoding once
//! per protocol, the automatic leave of a removed connection), and real connections of
//! two protocols over loopback (an encode failure is each member's send failure).

mod common;

use actix::{Actor, Addr, Context, Handler};
use bytes::{BufMut, Bytes, BytesMut};
use common::{eventually, Client};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::*;
use tokio_util::codec::{Decoder, Encoder, LinesCodec, LinesCodecError};

// ----- stand-in members ------------------------------------------------------------------

/// A member that records the group packets it is handed.
struct FakeMember {
    got: Arc<Mutex<Vec<GroupPacket>>>,
}

impl Actor for FakeMember {
    type Context = Context<Self>;
}

impl Handler<GroupDeliver> for FakeMember {
    type Result = ();
    fn handle(&mut self, msg: GroupDeliver, _: &mut Context<Self>) {
        self.got.lock().unwrap().extend(msg.0);
    }
}

impl Handler<DeliverBatch> for FakeMember {
    type Result = ();
    fn handle(&mut self, _: DeliverBatch, _: &mut Context<Self>) {}
}

impl Handler<Deliver> for FakeMember {
    type Result = Result<(), SendError>;
    fn handle(&mut self, _: Deliver, _: &mut Context<Self>) -> Self::Result {
        Ok(())
    }
}

impl Handler<Close> for FakeMember {
    type Result = ();
    fn handle(&mut self, _: Close, _: &mut Context<Self>) {}
}

impl Handler<Inspect> for FakeMember {
    type Result = actix::MessageResult<Inspect>;
    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        unreachable!("not inspected here")
    }
}

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

/// A registered stand-in member; what it is handed, and where it is reached.
struct Fake {
    id: ConnId,
    protocol: &'static str,
    got: Arc<Mutex<Vec<GroupPacket>>>,
    addr: Addr<FakeMember>,
}

impl Fake {
    fn register(sup: &Addr<Supervisor>, id: ConnId, protocol: &'static str) -> Fake {
        let got = Arc::new(Mutex::new(Vec::new()));
        let addr = FakeMember { got: got.clone() }.start();
        let peer = format!("127.0.0.1:{}", 1000 + id).parse().unwrap();
        sup.do_send(Register(Member {
            status: Arc::new(ConnectionStatus::new(id, protocol, peer)),
            deliver: addr.clone().recipient(),
            deliver_batch: addr.clone().recipient(),
            close: addr.clone().recipient(),
            inspect: addr.clone().recipient(),
        }));
        Fake {
            id,
            protocol,
            got,
            addr,
        }
    }

    fn join(&self, sup: &Addr<Supervisor>, group: &str, encoder: &GroupEncoder) {
        sup.do_send(Join {
            id: self.id,
            group: group.into(),
            protocol: self.protocol,
            encoder: encoder.clone(),
            deliver: self.addr.clone().recipient(),
        });
    }

    fn got(&self) -> Vec<GroupPacket> {
        self.got.lock().unwrap().clone()
    }
}

fn supervisor() -> (Addr<Supervisor>, Addr<Stats>) {
    let stats = Stats::default().start();
    let sup = Supervisor::new(SupervisorConfig::default(), stats.clone()).start();
    (sup, stats)
}

/// Lets the stand-ins' mailboxes drain.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
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
    settle().await;
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
            publisher: 1,
            protocol: "a",
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
    settle().await;
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

// ----- real connections of two protocols --------------------------------------------------

/// Lines in; `JOIN g`, `LEAVE g`, `PUB g text` (a `\n` in the text stands for a
/// newline) and `ECHO x`. The two protocols differ in their group encoding only.
fn handle(line: String, out: &mut Outbox<String>) {
    let mut words = line.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("JOIN"), Some(group), None) => {
            out.join(group);
        }
        (Some("LEAVE"), Some(group), None) => {
            out.leave(group);
        }
        (Some("PUB"), Some(group), Some(text)) => {
            out.publish(group, text.replace("\\n", "\n").into_bytes())
        }
        (Some("ECHO"), Some(text), None) => out.reply(text.to_owned()),
        _ => out.bad_packet("bad command"),
    }
}

/// Reads lines, writes lines.
struct Lines(LinesCodec);

impl Decoder for Lines {
    type Item = Inbound<String>;
    type Error = LinesCodecError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        Ok(self.0.decode(src)?.map(Inbound::Request))
    }
}

impl Encoder<String> for Lines {
    type Error = LinesCodecError;
    fn encode(&mut self, item: String, dst: &mut BytesMut) -> Result<(), Self::Error> {
        self.0.encode(item, dst)
    }
}

/// Group messages as `group text` lines: a text holding a newline cannot be one.
struct Text;

impl Protocol for Text {
    const NAME: &'static str = "text";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines(LinesCodec::new_with_max_length(1024))
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        handle(line, out)
    }
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|group, message| {
            let text = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_owned())?;
            if text.contains('\n') {
                return Err("a line break in a line".to_owned());
            }
            Ok(Bytes::from(format!("{group} {text}\n")))
        }))
    }
}

/// Group messages as `group escaped-text` lines: every message fits.
struct Escaped;

impl Protocol for Escaped {
    const NAME: &'static str = "escaped";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines(LinesCodec::new_with_max_length(1024))
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        handle(line, out)
    }
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|group, message| {
            Ok(Bytes::from(format!("{group} {}\n", message.escape_ascii())))
        }))
    }
}

fn listen<P: Protocol>(board: &Switchboard, protocol: fn() -> P) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    board.listen(listener, protocol).unwrap().local_addr
}

/// Waits until `group` has `n` members.
async fn members(sup: &Addr<Supervisor>, group: &str, n: usize) {
    eventually("the joins", || async {
        sup.send(GroupMembers(group.into())).await.unwrap().len() == n
    })
    .await;
}

#[actix_rt::test]
async fn an_encode_failure_is_a_send_failure_for_each_member_of_that_protocol_only() {
    let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
    let text = listen(&board, || Text);
    let escaped = listen(&board, || Escaped);
    let mut texts = Vec::new();
    for _ in 0..2 {
        let mut client = Client::connect(text).await;
        client.send("JOIN room").await;
        texts.push(client);
    }
    let mut publisher = Client::connect(escaped).await;
    publisher.send("JOIN room").await;
    members(board.supervisor(), "room", 3).await;

    publisher.send("PUB room two\\nlines").await;
    publisher.send("PUB room fine").await;
    publisher.send("ECHO after").await;
    assert_eq!(publisher.line().await.as_deref(), Some("room two\\nlines"));
    assert_eq!(publisher.line().await.as_deref(), Some("room fine"));
    assert_eq!(publisher.line().await.as_deref(), Some("after"));
    for client in &mut texts {
        assert_eq!(
            client.line().await.as_deref(),
            Some("room fine"),
            "the message with a line break is not delivered"
        );
    }

    let sup = board.supervisor().clone();
    eventually("the failures in the stats", || {
        let sup = sup.clone();
        async move { sup.send(GetStats).await.unwrap().send_failures_total == 2 }
    })
    .await;
    let snap = sup.send(GetStats).await.unwrap();
    assert_eq!(
        snap.protocols["text"].send_failures, 2,
        "one per text member"
    );
    assert_eq!(snap.protocols["escaped"].send_failures, 0);
    assert_eq!((snap.groups, snap.group_members), (1, 3));
    let inspected = sup
        .send(InspectConnections {
            protocol: Some("text".into()),
            limit: 10,
            timeout: Duration::from_secs(2),
        })
        .await
        .unwrap();
    assert_eq!(inspected.len(), 2);
    for member in inspected {
        let report = member.report.expect("a report");
        assert_eq!(report.recent_failures.len(), 1);
        assert_eq!(
            report.recent_failures[0].reason,
            FailureReason::Refused(SendError::Encode("a line break in a line".into()))
        );
    }
}

#[actix_rt::test]
async fn a_closed_connection_leaves_its_groups() {
    let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
    let addr = listen(&board, || Text);
    let mut staying = Client::connect(addr).await;
    staying.send("JOIN a").await;
    let mut leaving = Client::connect(addr).await;
    for group in ["a", "b", "c"] {
        leaving.send(&format!("JOIN {group}")).await;
    }
    let sup = board.supervisor().clone();
    members(&sup, "c", 1).await;
    members(&sup, "a", 2).await;
    drop(leaving);
    members(&sup, "a", 1).await;
    assert_eq!(sup.send(ListGroups).await.unwrap(), [("a".into(), 1)]);
    let snap = sup.send(GetStats).await.unwrap();
    assert_eq!((snap.groups, snap.group_members), (1, 1));
    staying.send("PUB a still").await;
    assert_eq!(staying.line().await.as_deref(), Some("a still"));
}
