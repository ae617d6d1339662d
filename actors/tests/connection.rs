//! Connection actors over loopback sockets, driven through their messages and a peer.

mod common;

use bytes::Bytes;
use common::{eventually, until, LineClient, Recording, TestProto, WAIT};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::config::{ConnectionLimits, SupervisorConfig};
use switchboard::{
    ConnectionRemoved, Handle, RemovalReason, SendError, Switchboard, SwitchboardConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Server {
    board: Switchboard,
    addr: SocketAddr,
    removed: Recording<ConnectionRemoved>,
}

impl Server {
    fn start(limits: ConnectionLimits) -> Server {
        let board = Switchboard::start(
            SwitchboardConfig::default()
                .with_connection(limits)
                .with_supervisor(SupervisorConfig::default())
                .with_max_connections(100)
                .with_workers(1),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let handle = board.listen(listener, || TestProto).unwrap();
        let removed = common::record_removals(board.handle());
        Server {
            board,
            addr: handle.local_addr,
            removed,
        }
    }

    fn sup(&self) -> &Handle {
        self.board.handle()
    }

    /// The id of the only connection, once it has registered.
    async fn registered_id(&self) -> u64 {
        eventually("registration", || async {
            !self.sup().list(None).await.unwrap().is_empty()
        })
        .await;
        self.only_id().await
    }

    async fn only_id(&self) -> u64 {
        let list = self.sup().list(None).await.unwrap();
        assert_eq!(list.len(), 1);
        list[0].id
    }

    async fn removal_of(&self, id: u64) -> RemovalReason {
        until("removal", WAIT, async || {
            let seen = self.removed.seen().await;
            let found = seen.iter().find(|r| r.id == id).map(|r| r.reason);
            found.ok_or(format!("{seen:?}"))
        })
        .await
    }
}

fn limits() -> ConnectionLimits {
    ConnectionLimits::default().with_stats_interval(Duration::from_millis(20))
}

#[actix_rt::test]
async fn nth_error_packet_removes_after_delivering_every_error_reply() {
    let server = Server::start(limits());
    let mut client = LineClient::connect(server.addr).await;
    client.send("ECHO hi").await;
    assert_eq!(client.recv().await.as_deref(), Some("hi"));
    let id = server.only_id().await;
    for _ in 0..3 {
        client.send("NOPE").await;
    }
    for _ in 0..3 {
        assert_eq!(client.recv().await.as_deref(), Some("ERR bad command NOPE"));
    }
    assert_eq!(client.recv().await, None, "closed after the third");
    assert_eq!(server.removal_of(id).await, RemovalReason::ErrorPackets);
    let snap = server.sup().stats().await.unwrap();
    assert_eq!(snap.error_packets_total, 3);
}

#[actix_rt::test]
async fn replies_keep_request_order_around_deferred_ones() {
    let server = Server::start(limits());
    let mut client = LineClient::connect(server.addr).await;
    client.send("LATER one").await;
    client.send("ECHO two").await;
    client.send("LATER three").await;
    client.send("ECHO four").await;
    for want in ["one", "two", "three", "four"] {
        assert_eq!(client.recv().await.as_deref(), Some(want));
    }
}

#[actix_rt::test]
async fn send_over_the_byte_budget_is_refused_and_removes_the_slow_consumer() {
    let server = Server::start(limits().with_max_outbound_bytes(64 * 1024));
    // Connected but never reading: its socket buffers fill, then our queue.
    let client = LineClient::connect(server.addr).await;
    let id = server.registered_id().await;
    let packet = Bytes::from(vec![b'x'; 16 * 1024]);
    let mut refusal = None;
    for _ in 0..10_000 {
        let sent = server.sup().send_encoded(id, packet.clone()).await;
        if let Err(e) = sent {
            refusal = Some(e);
            break;
        }
    }
    assert!(
        matches!(refusal, Some(SendError::OverBudget { limit: 65536, .. })),
        "{refusal:?}"
    );
    assert_eq!(server.removal_of(id).await, RemovalReason::SlowConsumer);
    let after = server.sup().send_encoded(id, packet).await;
    assert_eq!(after, Err(SendError::UnknownConnection(id)));
    drop(client);
    // Every packet offered is accounted: queued = sent + dropped, refusals counted.
    let sup = server.sup().clone();
    eventually("final report", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().refused_packets_total == 1 }
    })
    .await;
    let snap = sup.stats().await.unwrap();
    assert_eq!(
        snap.queued_packets_total,
        snap.sent_packets_total + snap.dropped_packets_total
    );
    assert!(snap.dropped_packets_total > 0);
    assert_eq!(snap.removed_total["slow_consumer"], 1);
}

#[actix_rt::test]
async fn a_peer_that_stops_reading_is_removed_at_the_write_timeout() {
    let server = Server::start(limits().with_write_timeout(Duration::from_millis(300)));
    let mut client = LineClient::connect(server.addr).await;
    // Ask for more than the socket buffers hold, and never read it.
    client.send("BIG 1000000").await;
    client.send("BIG 1000000").await;
    client.send("BIG 1000000").await;
    client.send("BIG 1000000").await;
    let id = server.registered_id().await;
    assert_eq!(server.removal_of(id).await, RemovalReason::WriteTimeout);
}

#[actix_rt::test]
async fn peer_close_flushes_and_counts_traffic() {
    let server = Server::start(limits());
    let mut client = LineClient::connect(server.addr).await;
    client.send("ECHO abc").await;
    client.send("BIG 200000").await;
    client.writer.shutdown().await.ok();
    // Half-closed: the replies still arrive in full before the server closes.
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.reader.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), "abc\n".len() + 200_001);
    let sup = server.sup().clone();
    eventually("peer_closed removal", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().removed_total["peer_closed"] == 1 }
    })
    .await;
    eventually("traffic report", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().sent_bytes_total == 200_005 }
    })
    .await;
    let snap = sup.stats().await.unwrap();
    assert_eq!(snap.sent_packets_total, 2);
    assert_eq!(snap.received_packets_total, 2);
    assert_eq!(snap.send_failures_total, 0);
}

#[actix_rt::test]
async fn broadcast_goes_to_every_member_of_the_group() {
    let server = Server::start(limits());
    let mut a = LineClient::connect(server.addr).await;
    let mut b = LineClient::connect(server.addr).await;
    for c in [&mut a, &mut b] {
        c.send("ECHO ready").await;
        assert_eq!(c.recv().await.as_deref(), Some("ready"));
    }
    a.send("ALL news").await;
    assert_eq!(a.recv().await.as_deref(), Some("news"));
    assert_eq!(b.recv().await.as_deref(), Some("news"));
}

#[actix_rt::test]
async fn shutdown_delivers_what_was_queued() {
    let server = Server::start(limits());
    let mut client = LineClient::connect(server.addr).await;
    client.send("ECHO ready").await;
    assert_eq!(client.recv().await.as_deref(), Some("ready"));
    client.send("LATER last").await;
    // The LATER was read (its reply is deferred) before the shutdown begins: the
    // connection's own count of requests says so.
    let id = server.only_id().await;
    until("the LATER read", WAIT, async || {
        let found = server.sup().inspect(vec![id], WAIT).await.unwrap();
        let received = found
            .first()
            .and_then(|m| m.report.as_ref())
            .map(|r| r.traffic.received_packets);
        match received {
            Some(2) => Ok(()),
            other => Err(format!("{other:?} requests read")),
        }
    })
    .await;
    let closing = server.board.shutdown().await;
    assert_eq!(closing, 1);
    assert_eq!(client.recv().await.as_deref(), Some("last"));
    assert_eq!(client.recv().await.as_deref(), Some("ERR shutdown"));
    assert_eq!(client.recv().await, None);
}

#[actix_rt::test]
async fn an_encode_failure_is_recorded_and_the_connection_lives_on() {
    let server = Server::start(limits());
    let mut client = LineClient::connect(server.addr).await;
    client.send("SPLIT").await;
    client.send("ECHO still here").await;
    assert_eq!(client.recv().await.as_deref(), Some("still here"));
    let sup = server.sup().clone();
    eventually("the refusal in the stats", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().refused_packets_total == 1 }
    })
    .await;
    let snap = sup.stats().await.unwrap();
    assert_eq!(snap.send_failures_total, 1);
    assert_eq!(snap.error_packets_total, 0, "not the peer's fault");
    assert_eq!(snap.connections["test"], 1);
}

#[actix_rt::test]
async fn a_file_region_arrives_exactly_and_in_order_with_packets_around_it() {
    // A small per-flush budget makes the 3 MiB region go out in many sendfile calls,
    // interleaved with waits for writability while the reader is slow.
    let server = Server::start(limits().with_flush_budget(64 * 1024));
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let content: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    std::io::Write::write_all(&mut file, &content).unwrap();
    let mut client = LineClient::connect(server.addr).await;
    client.send("ECHO head").await;
    client
        .send(&format!("FILE {}", file.path().display()))
        .await;
    client.send("LATER late").await;
    client.send("ECHO tail").await;
    let mut expected = b"head\n".to_vec();
    expected.extend_from_slice(&content);
    expected.extend_from_slice(b"late\ntail\n");
    let mut got = vec![0u8; expected.len()];
    let mut filled = 0;
    while filled < got.len() {
        tokio::time::sleep(Duration::from_micros(200)).await;
        let n = tokio::time::timeout(
            Duration::from_secs(5),
            client.reader.read(&mut got[filled..]),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(n > 0, "closed early");
        filled += n;
    }
    assert!(
        got == expected,
        "bytes differ from head + file + late + tail"
    );
    let sup = server.sup().clone();
    let total = expected.len() as u64;
    eventually("the file counted as sent", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().sent_bytes_total == total }
    })
    .await;
    let snap = sup.stats().await.unwrap();
    assert_eq!(snap.sent_packets_total, 4, "the region is one packet");
}

#[actix_rt::test]
async fn a_peer_over_its_message_rate_is_slowed_not_refused_and_others_go_on() {
    // 50 packets a second, 5 at once: 30 echoes sent at once take 25 refills, 0.5 s.
    let s = Server::start(
        ConnectionLimits::default()
            .with_max_messages_per_s(50)
            .with_max_messages_burst(5),
    );
    let mut flooder = LineClient::connect(s.addr).await;
    let mut other = LineClient::connect(s.addr).await;
    let started = tokio::time::Instant::now();
    let burst: String = (0..30).map(|i| format!("ECHO {i}\n")).collect();
    flooder.writer.write_all(burst.as_bytes()).await.unwrap();
    for i in 0..5 {
        assert_eq!(flooder.recv().await, Some(i.to_string()), "the burst");
    }
    // While the flooder waits for its bucket, another peer is answered at once.
    other.send("ECHO still here").await;
    assert_eq!(other.recv().await.as_deref(), Some("still here"));
    for i in 5..30 {
        assert_eq!(flooder.recv().await, Some(i.to_string()), "nothing is lost");
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(480),
        "slowed to the rate: {took:?}"
    );
    let stats = s.sup().stats().await.unwrap();
    assert_eq!(stats.error_packets_total, 0);
    assert_eq!(stats.send_failures_total, 0);
    assert!(s.removed.seen().await.is_empty(), "nobody removed");
}

#[actix_rt::test]
async fn a_peer_that_never_authenticates_gets_the_error_reply_and_is_removed() {
    let s = Server::start(
        ConnectionLimits::default().with_auth_timeout(Some(Duration::from_millis(300))),
    );
    let mut c = LineClient::connect(s.addr).await;
    let id = s.registered_id().await;
    c.send("ECHO hi").await;
    assert_eq!(c.recv().await.as_deref(), Some("hi"));
    assert_eq!(
        c.recv().await.as_deref(),
        Some("ERR authentication timeout")
    );
    assert_eq!(c.recv().await, None, "then the connection ends");
    assert_eq!(s.removal_of(id).await, RemovalReason::AuthTimeout);
}
