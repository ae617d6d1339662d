//! The handle an application holds: typed sends through each connection's own codec,
//! joins and leaves on a connection's behalf, publishes, broadcasts, closes, listings,
//! subscriptions and stats, over real loopback connections.

mod common;

use common::{record_removals, LineClient, Talk};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::config::SwitchboardConfig;
use switchboard::{Handle, Outbox, Protocol, RemovalReason, SendError, Stopped, Switchboard};

/// A protocol whose responses are numbers: not what a `talk` connection takes.
struct Numbers;

impl Protocol for Numbers {
    const NAME: &'static str = "numbers";
    type Request = String;
    type Response = u32;
    type Codec = NumberCodec;
    fn codec(&self) -> NumberCodec {
        NumberCodec(Lines::new(16))
    }
    fn handle(&mut self, _: String, _: &mut Outbox<u32>) {}
}

/// Lines in, decimal numbers out.
struct NumberCodec(Lines);

impl tokio_util::codec::Decoder for NumberCodec {
    type Item = switchboard::Inbound<String>;
    type Error = <Lines as tokio_util::codec::Decoder>::Error;
    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        self.0.decode(src)
    }
}

impl tokio_util::codec::Encoder<u32> for NumberCodec {
    type Error = <Lines as tokio_util::codec::Encoder<String>>::Error;
    fn encode(&mut self, n: u32, dst: &mut bytes::BytesMut) -> Result<(), Self::Error> {
        self.0.encode(n.to_string(), dst)
    }
}

/// A switchboard with a `talk` listener, and `n` clients greeted and registered.
async fn start(n: usize) -> (Switchboard, SocketAddr, Vec<(u64, LineClient)>) {
    let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
    let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = board.listen(listener, || Talk).unwrap().local_addr;
    let mut clients = Vec::new();
    for _ in 0..n {
        let mut client = LineClient::connect(addr).await;
        assert_eq!(client.recv().await.as_deref(), Some("hello"));
        // Greeted means registered: the registration is sent before the greeting.
        let list = board.handle().list(Some("talk")).await.unwrap();
        let known: Vec<u64> = clients.iter().map(|(id, _)| *id).collect();
        let id = list.iter().map(|m| m.id).find(|id| !known.contains(id));
        clients.push((id.expect("a new connection listed"), client));
    }
    (board, addr, clients)
}

#[actix_rt::test]
async fn send_to_encodes_with_the_connections_codec_and_refuses_what_would_break_framing() {
    let (board, _, mut clients) = start(1).await;
    let handle = board.handle();
    let (id, client) = &mut clients[0];
    handle
        .send_to::<Talk>(*id, "typed".to_owned())
        .await
        .unwrap();
    assert_eq!(client.recv().await.as_deref(), Some("typed"));

    // A line break inside a line would end it early: the codec refuses, nothing is
    // written, and the connection lives on.
    let refused = handle.send_to::<Talk>(*id, "two\nlines".to_owned()).await;
    assert!(matches!(refused, Err(SendError::Encode(_))), "{refused:?}");
    handle
        .send_to::<Talk>(*id, "after".to_owned())
        .await
        .unwrap();
    assert_eq!(client.recv().await.as_deref(), Some("after"));
    let report = handle
        .inspect(vec![*id], Duration::from_secs(1))
        .await
        .unwrap();
    let failures = &report[0].report.as_ref().unwrap().recent_failures;
    assert_eq!(failures.len(), 1, "the refusal is recorded: {failures:?}");

    // A value of another protocol's response type is refused, naming both.
    let wrong = handle.send_to::<Numbers>(*id, 7).await;
    assert_eq!(
        wrong,
        Err(SendError::WrongProtocol {
            protocol: "talk",
            given: "u32"
        })
    );
    assert_eq!(
        handle.send_to::<Talk>(999_999, "nobody".to_owned()).await,
        Err(SendError::UnknownConnection(999_999))
    );
}

#[actix_rt::test]
async fn join_and_leave_on_a_connections_behalf_drive_publishes_and_membership() {
    let (board, _, mut clients) = start(2).await;
    let handle = board.handle();
    let (a, b) = (clients[0].0, clients[1].0);
    assert_eq!(handle.join(a, "room").await, Ok(true));
    assert_eq!(handle.join(a, "room").await, Ok(false), "already a member");
    assert_eq!(handle.join(b, "room").await, Ok(true));
    let mut members: Vec<u64> = handle
        .members("room")
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    members.sort_unstable();
    assert_eq!(members, [a.min(b), a.max(b)]);
    assert_eq!(handle.groups().await.unwrap(), [("room".into(), 2)]);

    assert_eq!(handle.publish("room", "first").await, Ok(2));
    for (_, client) in &mut clients {
        assert_eq!(client.recv().await.as_deref(), Some("room: first"));
    }
    assert_eq!(handle.leave(b, "room").await, Ok(true));
    assert_eq!(
        handle.leave(b, "room").await,
        Ok(false),
        "not a member any more"
    );
    assert_eq!(handle.publish("room", "second").await, Ok(1));
    assert_eq!(clients[0].1.recv().await.as_deref(), Some("room: second"));
    // b got nothing after leaving: its next line is the echo of what it sends now.
    clients[1].1.send("ping").await;
    assert_eq!(clients[1].1.recv().await.as_deref(), Some("echo ping"));
    assert_eq!(
        handle.join(424_242, "room").await,
        Err(SendError::UnknownConnection(424_242))
    );
}

/// `talk` whose codec counts every response it encodes (the connections' own replies
/// included), so a test can tell how often a broadcast was encoded.
struct Counted(Arc<AtomicUsize>);

impl Protocol for Counted {
    const NAME: &'static str = "talk";
    type Request = String;
    type Response = String;
    type Codec = CountingCodec;
    fn codec(&self) -> CountingCodec {
        CountingCodec(Lines::new(256), self.0.clone())
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        Talk.handle(line, out)
    }
}

/// [`Lines`], counting encodes.
struct CountingCodec(Lines, Arc<AtomicUsize>);

impl tokio_util::codec::Decoder for CountingCodec {
    type Item = switchboard::Inbound<String>;
    type Error = <Lines as tokio_util::codec::Decoder>::Error;
    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        self.0.decode(src)
    }
}

impl tokio_util::codec::Encoder<String> for CountingCodec {
    type Error = <Lines as tokio_util::codec::Encoder<String>>::Error;
    fn encode(&mut self, line: String, dst: &mut bytes::BytesMut) -> Result<(), Self::Error> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.encode(line, dst)
    }
}

#[actix_rt::test]
async fn broadcast_encodes_once_for_every_member() {
    let (board, _, mut clients) = start(3).await;
    let encodes = Arc::new(AtomicUsize::new(0));
    let protocol = Counted(encodes.clone());
    let handed = board
        .handle()
        .broadcast(&protocol, "to all".to_owned())
        .await;
    assert_eq!(handed, Ok(3));
    for (_, client) in &mut clients {
        assert_eq!(client.recv().await.as_deref(), Some("to all"));
    }
    assert_eq!(
        encodes.load(Ordering::SeqCst),
        1,
        "one encode for 3 members"
    );
    let bad = board.handle().broadcast(&protocol, "a\nb".to_owned()).await;
    assert!(matches!(bad, Err(SendError::Encode(_))), "{bad:?}");
    assert_eq!(
        encodes.load(Ordering::SeqCst),
        2,
        "refused at its one encode"
    );
}

#[actix_rt::test]
async fn close_removes_with_the_reason_and_subscribers_hear_it() {
    let (board, _, mut clients) = start(1).await;
    let removed = record_removals(board.handle());
    let handle = board.handle();
    let (id, client) = &mut clients[0];
    handle
        .send_to::<Talk>(*id, "last words".to_owned())
        .await
        .unwrap();
    handle.close(*id, RemovalReason::Idle).await.unwrap();
    assert_eq!(client.recv().await.as_deref(), Some("last words"));
    assert_eq!(client.recv().await, None, "closed after the flush");
    common::eventually("the removal announced", || async {
        removed.seen().await.iter().any(|r| r.id == *id)
    })
    .await;
    let stats = handle.stats().await.unwrap();
    assert_eq!(stats.removed_total.get("idle"), Some(&1));
    assert_eq!(
        handle.close(*id, RemovalReason::Idle).await,
        Err(SendError::UnknownConnection(*id))
    );
}

#[actix_rt::test]
async fn a_disconnected_handle_answers_as_a_stopped_switchboard() {
    let handle = Handle::disconnected();
    assert_eq!(handle.stats().await.err(), Some(Stopped));
    assert_eq!(handle.list(None).await.err(), Some(Stopped));
    assert_eq!(
        handle.send_to::<Talk>(1, "x".to_owned()).await,
        Err(SendError::Stopped)
    );
    assert_eq!(handle.join(1, "room").await, Err(SendError::Stopped));
}
