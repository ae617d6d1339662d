//! End to end: the server process itself: config errors, signals, slow peers, accounting.

mod support;

use std::time::Duration;
use support::*;
use switchboard_server::config::Config;

#[test]
fn bad_config_exits_2_naming_the_key_or_address() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("bogus_key = 1", "bogus_key"),
        ("max_frame = \"big\"", "max_frame"),
        ("max_error_packets = 0", "max_error_packets"),
        ("frame = \"not an address\"", "frame"),
    ];
    for (i, (toml, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let (status, stderr) = run_to_exit(&["serve", "--config", path.to_str().unwrap()]);
        assert_eq!(status.code(), Some(2), "{toml}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{toml}: stderr does not name {needle}: {stderr}"
        );
    }
    // An address that cannot be bound: one already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, stderr) = run_to_exit(&["serve", "--frame", &addr, "--line", "127.0.0.1:0"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    let (status, stderr) = run_to_exit(&["serve", "--config", "/nonexistent/switchboard.toml"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/switchboard.toml"), "{stderr}");
}

#[tokio::test]
async fn sigterm_delivers_what_was_queued_and_exits_0() {
    let mut server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    let mut observer = FrameClient::connect(server.frame).await;
    let payload = vec![9u8; 60_000];
    // 20 large echoes that this client does not read yet: they wait in the server.
    for _ in 0..20 {
        c.send(ECHO, &payload).await;
    }
    stats_until(&mut observer, "all requests read", |s| {
        s["received_packets_total"].as_u64() >= Some(20)
    })
    .await;
    server.signal(libc::SIGTERM);
    for i in 0..20 {
        assert_eq!(c.recv().await, (ECHO, payload.clone()), "echo {i}");
    }
    // Optionally a last ERROR "shutdown", then the close.
    if let Some((op, reason)) = c.try_recv().await {
        assert_eq!((op, reason.as_slice()), (ERROR, b"shutdown".as_slice()));
        c.expect_closed().await;
    }
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[tokio::test]
async fn a_client_that_never_reads_is_removed_and_memory_stays_bounded() {
    let server = Server::start("write_timeout_ms = 1000\nmax_outbound_bytes = 1048576");
    let mut good = FrameClient::connect(server.frame).await;
    good.send(PING, b"").await;
    assert_eq!(good.recv().await.0, PONG);
    let rss_before = server.rss_kib();
    let mut slow = FrameClient::connect(server.frame).await;
    let slow_peer = slow.stream.local_addr().unwrap().to_string();
    let request = encode(ECHO, &vec![1u8; 60_000]);
    // Send ~60 MB of echo requests and never read a reply: the server must stop
    // reading (its queue is bounded) and remove the peer, not buffer the replies.
    let writer = tokio::spawn(async move {
        for _ in 0..1000 {
            let sent =
                tokio::time::timeout(Duration::from_secs(3), slow.try_send_raw(&request)).await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
        slow
    });
    // Meanwhile a well-behaved client keeps being served.
    for i in 0..20u32 {
        good.send(ECHO, &i.to_be_bytes()).await;
        assert_eq!(good.recv().await, (ECHO, i.to_be_bytes().to_vec()));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let snap = stats_until(&mut good, "the slow client's removal", |s| {
        s["removed_total"]["write_timeout"] == 1 || s["removed_total"]["slow_consumer"] == 1
    })
    .await;
    let mut slow = writer.await.unwrap();
    slow.expect_closed().await;
    let growth_kib = server.rss_kib().saturating_sub(rss_before);
    // Bounded by the queue limit (1 MiB) plus buffers, far below the 60 MB sent.
    assert!(
        growth_kib < 16 * 1024,
        "server grew by {growth_kib} KiB: {snap}"
    );
    good.send(ECHO, b"after").await;
    assert_eq!(good.recv().await, (ECHO, b"after".to_vec()));
    // The replies it never took are recorded with their reason, and the record outlives
    // the connection.
    let snap = stats_until(&mut good, "the slow client's failures", |s| {
        s["recent_failures"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["peer"] == slow_peer.as_str()))
    })
    .await;
    let failures = snap["recent_failures"].as_array().unwrap();
    let its: Vec<&serde_json::Value> = failures
        .iter()
        .filter(|f| f["peer"] == slow_peer.as_str())
        .collect();
    assert!(
        its.iter().all(|f| {
            let reason = f["reason"].as_str().unwrap_or_default();
            f["protocol"] == "frame"
                && (reason.contains("write_timeout") || reason.contains("slow_consumer"))
        }),
        "{failures:?}"
    );
}

#[tokio::test]
async fn accounting_holds_under_load() {
    let server = Server::start("");
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut c = FrameClient::connect(server.frame).await;
        c.ready().await;
        clients.push(c);
    }
    let mut tasks = Vec::new();
    for (n, mut c) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..200usize {
                let payload = vec![(i % 256) as u8; 1 + (i * 37 + n) % 3000];
                c.send(ECHO, &payload).await;
                if i % 10 == 0 {
                    c.send(BROADCAST, b"b").await;
                }
            }
            c
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    // Every client receives its 200 echoes plus 8 * 20 broadcasts.
    let mut received = 0;
    for c in &mut clients {
        let mut echoes = 0;
        let mut broadcasts = 0;
        while echoes < 200 || broadcasts < 160 {
            match c.recv().await.0 {
                ECHO => echoes += 1,
                BROADCAST => broadcasts += 1,
                other => panic!("unexpected opcode {other}"),
            }
        }
        received += c.received_bytes;
    }
    drop(clients);
    // The observer's own earlier STATS replies are part of the totals too; the reply
    // being read is not (the snapshot was taken before it was written).
    let mut observer = FrameClient::connect(server.frame).await;
    let mut replies_before = 0u64;
    let what = format!("the totals to match the {received} bytes received");
    let snap = until(&what, WAIT, async || {
        let bytes_before = observer.received_bytes;
        let snap = observer.stats().await;
        let sent_bytes = snap["sent_bytes_total"].as_u64().unwrap();
        let sent = snap["sent_packets_total"].as_u64().unwrap();
        let settled = snap["connections"]["frame"] == 1
            && sent_bytes == received + bytes_before
            && sent == 8 * (1 + 200 + 160) + replies_before;
        replies_before += 1;
        match settled {
            true => Ok(snap),
            false => Err(snap.to_string()),
        }
    })
    .await;
    let queued = snap["queued_packets_total"].as_u64().unwrap();
    let sent = snap["sent_packets_total"].as_u64().unwrap();
    let dropped = snap["dropped_packets_total"].as_u64().unwrap();
    assert_eq!(queued, sent + dropped, "{snap}");
    assert_eq!(dropped, 0, "{snap}");
    assert_eq!(snap["send_failures_total"], 0, "{snap}");
}

#[tokio::test]
async fn accepting_pauses_at_max_connections() {
    let server = Server::start("max_connections = 2");
    let mut a = FrameClient::connect(server.frame).await;
    let mut b = FrameClient::connect(server.frame).await;
    a.ready().await;
    b.ready().await;
    // The third peer completes the TCP handshake in the kernel's backlog, but is not
    // accepted, so its PING is not answered while two connections are held.
    let mut c = FrameClient::connect(server.frame).await;
    c.send(PING, b"third").await;
    let early = tokio::time::timeout(Duration::from_millis(300), c.stream.readable()).await;
    assert!(
        early.is_err(),
        "the third connection was served beyond max_connections"
    );
    let snap = a.stats().await;
    assert_eq!(snap["accepted_total"], 2, "{snap}");
    drop(b);
    assert_eq!(c.recv().await, (PONG, b"third".to_vec()));
}

// ----- removal reasons that only one cause may produce ---------------------------------

/// Sends 60 KB ECHO requests on `client` without reading a reply, until the server stops
/// taking them (its queue for the client is full and it stopped reading) or 1000 are
/// sent; returns the client.
async fn flood_without_reading(mut client: FrameClient) -> FrameClient {
    let request = encode(ECHO, &[7u8; 60_000]);
    for _ in 0..1000 {
        let sent = tokio::time::timeout(Duration::from_millis(500), client.try_send_raw(&request));
        if !matches!(sent.await, Ok(Ok(()))) {
            break;
        }
    }
    client
}

/// Packets the server has queued and neither written nor dropped yet, in `snap`.
fn on_the_way(snap: &serde_json::Value) -> u64 {
    let count = |key: &str| snap[key].as_u64().unwrap_or(0);
    count("queued_packets_total") - count("sent_packets_total") - count("dropped_packets_total")
}

/// The reasons of the recent send failures to `peer` in `snap`.
fn failure_reasons(snap: &serde_json::Value, peer: &str) -> Vec<String> {
    let failures = snap["recent_failures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    failures
        .iter()
        .filter(|f| f["peer"] == peer)
        .map(|f| f["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_reset_while_replies_are_queued_is_an_io_error() {
    // Neither limit can act first: the queue is large and the write timeout long.
    let server = Server::start("write_timeout_ms = 60000\nmax_outbound_bytes = 268435456");
    let mut observer = FrameClient::connect(server.frame).await;
    observer.ready().await;
    let client = FrameClient::connect(server.frame).await;
    let peer = client.stream.local_addr().unwrap().to_string();
    let client = flood_without_reading(client).await;
    let held = stats_until(&mut observer, "replies held for the client", |s| {
        on_the_way(s) > 0
    })
    .await;
    // A reset, not a close: RST with replies still queued on both sides.
    client.stream.set_zero_linger().unwrap();
    drop(client);
    let snap = stats_until(&mut observer, "the reset client's removal", |s| {
        s["connections"]["frame"] == 1
    })
    .await;
    let removed = &snap["removed_total"];
    assert_eq!(removed["io_error"], 1, "{snap}");
    for other in ["peer_closed", "write_timeout", "slow_consumer"] {
        assert_eq!(removed[other], 0, "{other}: {snap}");
    }
    // What it held is recorded as failed, with the reason.
    assert!(
        snap["send_failures_total"].as_u64() > Some(0),
        "{held}\n{snap}"
    );
    let reasons = failure_reasons(&snap, &peer);
    assert!(
        !reasons.is_empty() && reasons.iter().all(|r| r.starts_with("io error")),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn broadcasts_past_the_byte_budget_remove_a_slow_consumer_before_any_timeout() {
    // A peer whose queue passes 64 KiB is removed at once; the write timeout (60 s)
    // could not have run.
    let server = Server::start("write_timeout_ms = 60000\nmax_outbound_bytes = 65536");
    let mut sender = FrameClient::connect(server.frame).await;
    sender.ready().await;
    let mut stalled = FrameClient::connect(server.frame).await;
    stalled.ready().await;
    let peer = stalled.stream.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    // Broadcasts reach `stalled`, which never reads: once the socket buffers are full
    // (a few MB), its queue grows past the budget. The sender reads its own copies.
    let body = vec![b'b'; 60_000];
    let snap = until("the slow consumer's removal", WAIT, async || {
        for _ in 0..20 {
            sender.send(BROADCAST, &body).await;
            assert_eq!(sender.recv().await, (BROADCAST, body.clone()));
        }
        let snap = sender.stats().await;
        match snap["removed_total"]["slow_consumer"] == 1 {
            true => Ok(snap),
            false => Err(snap.to_string()),
        }
    })
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "removed after {took:?}");
    let removed = &snap["removed_total"];
    for other in ["write_timeout", "io_error", "peer_closed"] {
        assert_eq!(removed[other], 0, "{other}: {snap}");
    }
    assert_eq!(
        snap["connections"]["frame"], 1,
        "only the sender is left: {snap}"
    );
    // The packet that did not fit is refused for the full queue, and what was queued
    // is dropped with the removal's reason.
    let reasons = failure_reasons(&snap, &peer);
    assert!(
        reasons.iter().any(|r| r.contains("slow_consumer"))
            && reasons
                .iter()
                .all(|r| r.contains("slow_consumer") || r.contains("outbound queue full")),
        "{reasons:?}"
    );
    stalled.expect_closed().await;
}

// ----- the shutdown flush is bounded ----------------------------------------------------

/// The limits of the shutdown tests: a flush may take 600 ms; neither the write timeout
/// nor the queue limit can end the never-reading client's connection first.
const DRAIN: &str =
    "shutdown_timeout_ms = 600\nwrite_timeout_ms = 60000\nmax_outbound_bytes = 268435456";

#[tokio::test]
async fn sigterm_with_a_client_that_never_reads_exits_0_within_the_shutdown_timeout() {
    let mut server = Server::start(DRAIN);
    let mut observer = FrameClient::connect(server.frame).await;
    observer.ready().await;
    let client = flood_without_reading(FrameClient::connect(server.frame).await).await;
    stats_until(&mut observer, "replies held for the client", |s| {
        on_the_way(s) > 0
    })
    .await;
    let signalled = std::time::Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit();
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{status}");
    // It tried to flush for the whole timeout (the client could never take the data),
    // and no longer: the supervisor waits the timeout plus 200 ms at most.
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_millis(600 + 2000),
        "exited {took:?} after SIGTERM"
    );
    drop(client);
}

/// The same drain in-process, where the figures can still be read once it is over: the
/// replies the client never took are send failures, each with its reason (the close's
/// deadline passed).
#[actix_rt::test]
async fn what_a_shutdown_could_not_flush_is_counted_as_send_failures() {
    let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let config = Config {
        frame: loopback,
        line: loopback,
        shutdown_timeout_ms: 600,
        write_timeout_ms: 60_000,
        max_outbound_bytes: 256 << 20,
        ..Config::default()
    };
    let bind = || switchboard::bind(loopback).unwrap();
    let running = switchboard_server::server::start(&config, bind(), bind()).unwrap();
    let handle = running.board.handle().clone();
    let client = FrameClient::connect(running.frame.local_addr).await;
    let peer = client.stream.local_addr().unwrap().to_string();
    let client = flood_without_reading(client).await;
    until("replies held for the client", WAIT, async || {
        let snap = handle.stats().await.unwrap();
        let held = snap.queued_packets_total - snap.sent_packets_total - snap.dropped_packets_total;
        match held > 0 {
            true => Ok(()),
            false => Err(format!("{snap:?}")),
        }
    })
    .await;
    let stopping = std::time::Instant::now();
    assert_eq!(running.stop().await, 1, "one connection closing");
    let took = stopping.elapsed();
    assert!(
        took < Duration::from_millis(600 + 1000),
        "stopped after {took:?}"
    );
    let snap = handle.stats().await.unwrap();
    // Every reply was written or dropped, and every one dropped is a send failure.
    assert!(snap.dropped_packets_total > 0, "{snap:?}");
    assert_eq!(
        snap.queued_packets_total,
        snap.sent_packets_total + snap.dropped_packets_total,
        "{snap:?}"
    );
    assert_eq!(
        snap.send_failures_total,
        snap.dropped_packets_total + snap.refused_packets_total,
        "{snap:?}"
    );
    assert_eq!(snap.removed_total.get("shutdown"), Some(&1), "{snap:?}");
    let reasons: Vec<String> = snap
        .recent_failures
        .iter()
        .filter(|f| f.peer == peer)
        .map(|f| f.reason.to_string())
        .collect();
    assert!(
        !reasons.is_empty() && reasons.iter().all(|r| r == "close deadline passed"),
        "{reasons:?}"
    );
    drop(client);
}
