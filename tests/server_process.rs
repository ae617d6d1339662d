//! End to end: the server process itself: config errors, signals, slow peers, accounting.

mod support;

use std::time::Duration;
use support::*;

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
