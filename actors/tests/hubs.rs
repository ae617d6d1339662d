//! Fan-out through the hubs, with real connections over loopback on several worker
//! threads: members of two protocols on two workers get every message once and in
//! order, a publisher's own copies come before its later replies, joins, leaves and
//! removals during a flood of publishes lose or repeat nothing for the members present
//! throughout and deliver nothing after a leave, and a publisher whose bytes in flight
//! pass its budget stops reading until the hubs have handed them on.

mod common;

use bytes::Bytes;
use common::{eventually, LineClient};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::config::{ConnectionLimits, SwitchboardConfig};
use switchboard::*;
use tokio::io::AsyncWriteExt;

/// Set while a `SLEEP` blocks its worker thread.
static ASLEEP: AtomicBool = AtomicBool::new(false);

/// Lines in: `JOIN g`, `LEAVE g` (answered `LEFT g`), `PUB g text`, `BC text` (a
/// broadcast to the protocol group), `ECHO x`, `SLEEP ms` (blocks the worker thread,
/// with [`ASLEEP`] set meanwhile), `WHERE` (answered with the worker thread's id).
fn handle(line: String, out: &mut Outbox<String>) {
    let mut words = line.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("JOIN"), Some(group), None) => {
            out.join(group);
        }
        (Some("LEAVE"), Some(group), None) => {
            out.leave(group);
            out.reply(format!("LEFT {group}"));
        }
        (Some("PUB"), Some(group), Some(text)) => out.publish(group, text.to_owned()),
        (Some("BC"), Some(text), None) => out.broadcast(format!("bc {text}")),
        (Some("ECHO"), Some(text), None) => out.reply(text.to_owned()),
        (Some("SLEEP"), Some(ms), None) => {
            ASLEEP.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
            ASLEEP.store(false, Ordering::SeqCst);
            out.reply("AWAKE".to_owned());
        }
        (Some("WHERE"), None, None) => out.reply(format!("{:?}", std::thread::current().id())),
        _ => out.bad_packet("bad command"),
    }
}

/// Group messages as `group text` lines.
struct Plain;

impl Protocol for Plain {
    const NAME: &'static str = "plain";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines::new(4096)
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

/// Group messages as `[group] text` lines.
struct Tagged;

impl Protocol for Tagged {
    const NAME: &'static str = "tagged";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines::new(4096)
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        handle(line, out)
    }
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|group, message| {
            Ok(Bytes::from(format!(
                "[{group}] {}\n",
                message.escape_ascii()
            )))
        }))
    }
}

/// A switchboard with `workers` worker threads, listening for both protocols.
fn start(workers: usize, limits: ConnectionLimits) -> (Switchboard, SocketAddr, SocketAddr) {
    let board = Switchboard::start(
        SwitchboardConfig::default()
            .with_workers(workers)
            .with_connection(limits),
    );
    let listener = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain = board.listen(listener(), || Plain).unwrap().local_addr;
    let tagged = board.listen(listener(), || Tagged).unwrap().local_addr;
    (board, plain, tagged)
}

/// Connects and waits for an echo, so the connection runs before the next one comes
/// (connections go to the workers in turn).
async fn connect(addr: SocketAddr) -> LineClient {
    let mut client = LineClient::connect(addr).await;
    client.send("ECHO up").await;
    assert_eq!(client.recv().await.as_deref(), Some("up"));
    client
}

/// The id of the worker thread `client`'s connection runs on.
async fn thread_of(client: &mut LineClient) -> String {
    client.send("WHERE").await;
    client.recv().await.expect("an answer to WHERE")
}

/// Waits until `group` has `n` members.
async fn members(board: &Handle, group: &str, n: usize) {
    eventually("the joins", || async {
        board.members(group).await.unwrap().len() == n
    })
    .await;
}

/// Writes `lines` in one write.
async fn send_all(client: &mut LineClient, lines: impl Iterator<Item = String>) {
    let batch: String = lines.map(|l| l + "\n").collect();
    client.writer.write_all(batch.as_bytes()).await.unwrap();
}

/// Two publishers, members of two protocols spread over `workers` threads: everyone
/// gets each publisher's messages once and in publish order, the member publisher its
/// own copies before the reply to a later request.
async fn two_publishers_reach_every_member(workers: usize) {
    const N: usize = 300;
    let (board, plain, tagged) = start(workers, ConnectionLimits::default());
    let mut publisher = connect(plain).await;
    let mut outsider = connect(tagged).await;
    let mut receivers = Vec::new();
    for i in 0..6 {
        receivers.push((
            i % 2 == 0,
            connect(if i % 2 == 0 { plain } else { tagged }).await,
        ));
    }
    publisher.send("JOIN room").await;
    for (_, r) in &mut receivers {
        r.send("JOIN room").await;
    }
    members(board.handle(), "room", 7).await;

    let from_member = (0..N).map(|i| format!("PUB room a{i}"));
    send_all(&mut publisher, from_member.chain(["ECHO after".to_owned()])).await;
    send_all(&mut outsider, (0..N).map(|i| format!("PUB room b{i}"))).await;

    // Its own copies, in order with its reply; the outsider's interleaved.
    let (mut own, mut others) = (0, 0);
    loop {
        let line = publisher.recv().await.expect("a line");
        if line == "after" {
            break;
        }
        if line == format!("room a{own}") {
            own += 1;
        } else {
            assert_eq!(line, format!("room b{others}"), "the outsider's in order");
            others += 1;
        }
    }
    assert_eq!(own, N, "every own copy before the reply to a later request");
    for (plain, r) in &mut receivers {
        let prefix = if *plain { "room " } else { "[room] " };
        let (mut a, mut b) = (0, 0);
        while a < N || b < N {
            let line = r.recv().await.expect("a message");
            let text = line.strip_prefix(prefix).expect("this protocol's encoding");
            if let Some(n) = text.strip_prefix('a') {
                assert_eq!(n, a.to_string(), "the member publisher's in order");
                a += 1;
            } else {
                assert_eq!(text, format!("b{b}"), "the outsider's in order");
                b += 1;
            }
        }
        r.send("ECHO end").await;
        assert_eq!(r.recv().await.as_deref(), Some("end"), "nothing more");
    }
    while others < N {
        assert_eq!(publisher.recv().await, Some(format!("room b{others}")));
        others += 1;
    }
    board.shutdown().await;
}

#[actix_rt::test]
async fn members_of_two_protocols_on_two_workers_get_every_message_once_in_order() {
    two_publishers_reach_every_member(2).await;
}

#[actix_rt::test]
async fn without_workers_the_accepting_thread_has_the_one_hub() {
    two_publishers_reach_every_member(0).await;
}

#[actix_rt::test]
async fn a_broadcast_reaches_its_protocol_on_every_worker_and_the_others_not() {
    let (board, plain, tagged) = start(2, ConnectionLimits::default());
    let mut sender = connect(plain).await;
    let mut same: Vec<LineClient> = Vec::new();
    for _ in 0..3 {
        same.push(connect(plain).await);
    }
    let mut other = connect(tagged).await;
    send_all(&mut sender, (0..50).map(|i| format!("BC {i}"))).await;
    for i in 0..50 {
        assert_eq!(sender.recv().await, Some(format!("bc {i}")), "own copy");
    }
    for client in &mut same {
        for i in 0..50 {
            assert_eq!(client.recv().await, Some(format!("bc {i}")));
        }
    }
    let handed = board
        .handle()
        .broadcast_encoded("plain", Bytes::from_static(b"from outside\n"))
        .await
        .unwrap();
    assert_eq!(handed, 4);
    for client in same.iter_mut().chain([&mut sender]) {
        assert_eq!(client.recv().await.as_deref(), Some("from outside"));
    }
    other.send("ECHO only").await;
    assert_eq!(other.recv().await.as_deref(), Some("only"), "no broadcast");
    board.shutdown().await;
}

#[actix_rt::test]
async fn joins_leaves_and_removals_during_a_flood_lose_nothing_and_deliver_nothing_after_a_leave() {
    const N: usize = 2000;
    let (board, plain, tagged) = start(2, ConnectionLimits::default());
    let mut publisher = connect(tagged).await;
    let mut steady = Vec::new();
    for i in 0..4 {
        steady.push(connect(if i % 2 == 0 { plain } else { tagged }).await);
    }
    for s in &mut steady {
        s.send("JOIN room").await;
    }
    members(board.handle(), "room", 4).await;

    let flood = tokio::spawn(async move {
        for chunk in 0..N / 100 {
            let lines = (chunk * 100..(chunk + 1) * 100).map(|i| format!("PUB room {i}"));
            send_all(&mut publisher, lines).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        publisher
    });

    // Churners join, read a little, leave; after `LEFT` nothing of the room arrives.
    let mut churners = Vec::new();
    for round in 0..3 {
        for i in 0..4 {
            let addr = if (round + i) % 2 == 0 { plain } else { tagged };
            churners.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                c.send("JOIN room").await;
                tokio::time::sleep(Duration::from_millis(5 + 3 * i as u64)).await;
                c.send("LEAVE room").await;
                c.send("ECHO done").await;
                let mut last: Option<usize> = None;
                loop {
                    let line = c.recv().await.expect("a line");
                    if line == "LEFT room" {
                        break;
                    }
                    let text = line.rsplit(' ').next().unwrap_or_default();
                    let n: usize = text.parse().expect("a message number");
                    assert!(last.is_none_or(|l| n == l + 1), "in order, no repeats");
                    last = Some(n);
                }
                assert_eq!(
                    c.recv().await.as_deref(),
                    Some("done"),
                    "nothing after LEFT"
                );
            }));
            // Removals: members that hang up without leaving.
            churners.push(tokio::spawn(async move {
                let mut c = connect(addr).await;
                c.send("JOIN room").await;
                tokio::time::sleep(Duration::from_millis(7)).await;
                drop(c);
            }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for churner in churners {
        churner.await.unwrap();
    }
    let _publisher = flood.await.unwrap();
    for s in &mut steady {
        for i in 0..N {
            let line = s.recv().await.expect("a message");
            assert_eq!(line.rsplit(' ').next(), Some(i.to_string().as_str()));
        }
        s.send("ECHO end").await;
        assert_eq!(s.recv().await.as_deref(), Some("end"), "exactly once each");
    }
    let sup = board.handle().clone();
    members(&sup, "room", 4).await;
    board.shutdown().await;
}

#[actix_rt::test]
async fn a_publisher_over_its_budget_stops_reading_until_the_hubs_hand_its_bytes_on() {
    let limits = ConnectionLimits::default().with_max_publish_in_flight(1000);
    let (board, plain, _) = start(2, limits);
    // The publisher and the control member on one worker, the sleeper on the other,
    // whichever way the connections were spread: each says which thread it is on.
    let mut publisher = connect(plain).await;
    let home = thread_of(&mut publisher).await;
    let (mut sleeper, mut control) = (None, None);
    for _ in 0..8 {
        if sleeper.is_some() && control.is_some() {
            break;
        }
        let mut client = connect(plain).await;
        let same = thread_of(&mut client).await == home;
        match (same, &sleeper, &control) {
            (false, None, _) => sleeper = Some(client),
            (true, _, None) => control = Some(client),
            _ => {}
        }
    }
    let mut sleeper = sleeper.expect("a connection on the other worker");
    let mut control = control.expect("another connection on the publisher's worker");
    control.send("JOIN room").await;
    members(board.handle(), "room", 1).await;

    // The other worker's thread, and so its hub, is busy for a while.
    sleeper.send("SLEEP 2000").await;
    eventually("the other worker asleep", || async {
        ASLEEP.load(Ordering::SeqCst)
    })
    .await;
    let text = "x".repeat(200);
    send_all(&mut publisher, (0..10).map(|_| format!("PUB room {text}"))).await;
    for _ in 0..10 {
        assert_eq!(control.recv().await, Some(format!("room {text}")));
    }
    // The 2000 bytes are still on their way through the sleeping worker's hub: no
    // reading.
    publisher.send("ECHO late").await;
    let early = tokio::time::timeout(Duration::from_millis(700), publisher.recv()).await;
    assert!(early.is_err(), "the publisher read while over its budget");
    control.send("ECHO alive").await;
    assert_eq!(
        control.recv().await.as_deref(),
        Some("alive"),
        "the publisher's worker reads"
    );

    // The hub wakes up and hands them on: the publisher reads again.
    assert_eq!(sleeper.recv().await.as_deref(), Some("AWAKE"));
    assert_eq!(publisher.recv().await.as_deref(), Some("late"));
    board.shutdown().await;
}
