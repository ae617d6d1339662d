//! End to end: the `frame` protocol of PROTOCOL.md against the real binary.

mod support;

use support::*;

#[tokio::test]
async fn echo_returns_identical_frames_small_and_large() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    let small: Vec<u8> = (0..63u8).collect();
    c.send(ECHO, &small).await;
    assert_eq!(c.recv().await, (ECHO, small));
    let large: Vec<u8> = (0..59_999u32).map(|i| (i % 251) as u8).collect();
    c.send(ECHO, &large).await;
    assert_eq!(c.recv().await, (ECHO, large));
}

#[tokio::test]
async fn ping_answers_pong_with_the_payload() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    c.send(PING, b"are you there").await;
    assert_eq!(c.recv().await, (PONG, b"are you there".to_vec()));
}

#[tokio::test]
async fn broadcast_reaches_every_frame_connection_and_no_line_connection() {
    let server = Server::start("");
    let mut a = FrameClient::connect(server.frame).await;
    let mut b = FrameClient::connect(server.frame).await;
    let mut l = LineClient::connect(server.line).await;
    // Each is registered once it has answered.
    for c in [&mut a, &mut b] {
        c.send(PING, b"").await;
        assert_eq!(c.recv().await.0, PONG);
    }
    l.send("PING").await;
    assert_eq!(l.recv().await.as_deref(), Some("PONG"));
    a.send(BROADCAST, b"to all frames").await;
    assert_eq!(a.recv().await, (BROADCAST, b"to all frames".to_vec()));
    assert_eq!(b.recv().await, (BROADCAST, b"to all frames".to_vec()));
    // The line client got nothing: its next line is the answer to its next request.
    l.send("PING").await;
    assert_eq!(l.recv().await.as_deref(), Some("PONG"));
}

#[tokio::test]
async fn stats_snapshot_has_the_contract_keys() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    let snap = c.stats().await;
    for key in [
        "accepted_total",
        "sent_bytes_total",
        "received_bytes_total",
        "sent_packets_total",
        "received_packets_total",
        "error_packets_total",
        "send_failures_total",
    ] {
        assert!(snap[key].is_u64(), "{key} missing in {snap}");
    }
    assert_eq!(
        snap["connections"]["frame"], 1,
        "the asker is counted: {snap}"
    );
    assert_eq!(snap["connections"]["line"], 0);
    for reason in [
        "error_packets",
        "idle",
        "slow_consumer",
        "write_timeout",
        "peer_closed",
        "io_error",
    ] {
        assert!(
            snap["removed_total"][reason].is_u64(),
            "{reason} missing in {snap}"
        );
    }
    assert!(
        snap.get("backends").is_none(),
        "no backends configured: {snap}"
    );
}

#[tokio::test]
async fn three_unknown_opcodes_get_three_errors_then_close() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    for op in [0x07u8, 0x7F, 0x55] {
        c.send(op, b"?").await;
    }
    for _ in 0..3 {
        let (op, reason) = c.recv().await;
        assert_eq!(op, ERROR);
        assert!(String::from_utf8(reason).unwrap().contains("opcode"));
    }
    c.expect_closed().await;
    let mut observer = FrameClient::connect(server.frame).await;
    // The removal counts at once; the error packets within one stats interval.
    stats_until(&mut observer, "error_packets removal", |s| {
        s["removed_total"]["error_packets"] == 1 && s["error_packets_total"] == 3
    })
    .await;
}

#[tokio::test]
async fn two_bad_packets_are_tolerated() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    c.send(0x55, b"").await;
    c.send(0x55, b"").await;
    for _ in 0..2 {
        assert_eq!(c.recv().await.0, ERROR);
    }
    c.send(ECHO, b"still here").await;
    assert_eq!(c.recv().await, (ECHO, b"still here".to_vec()));
}

#[tokio::test]
async fn empty_frames_are_error_packets() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    c.send_raw(&0u32.to_be_bytes()).await;
    let (op, reason) = c.recv().await;
    assert_eq!((op, reason.as_slice()), (ERROR, b"empty frame".as_slice()));
    c.send_raw(&[0, 0, 0, 0, 0, 0, 0, 0]).await;
    assert_eq!(c.recv().await.0, ERROR);
    assert_eq!(c.recv().await.0, ERROR);
    c.expect_closed().await;
}

#[tokio::test]
async fn oversize_frame_gets_error_and_close_at_once() {
    let server = Server::start("max_frame = 1000");
    let mut c = FrameClient::connect(server.frame).await;
    c.send(ECHO, &[7u8; 999]).await;
    assert_eq!(c.recv().await.1.len(), 999, "exactly max_frame is fine");
    c.send(ECHO, &[7u8; 1000]).await;
    assert_eq!(c.recv().await, (ERROR, b"frame too large".to_vec()));
    c.expect_closed().await;
    let mut observer = FrameClient::connect(server.frame).await;
    stats_until(&mut observer, "error_packets removal", |s| {
        s["removed_total"]["error_packets"] == 1 && s["error_packets_total"] == 1
    })
    .await;
}

#[tokio::test]
async fn idle_connections_are_removed() {
    let server = Server::start("idle_timeout_ms = 300\nhealth_interval_ms = 100");
    let mut quiet = FrameClient::connect(server.frame).await;
    quiet.send(PING, b"").await;
    assert_eq!(quiet.recv().await.0, PONG);
    // A last ERROR frame may name the reason before the close.
    match quiet.try_recv().await {
        None => {}
        Some((op, reason)) => {
            assert_eq!((op, reason.as_slice()), (ERROR, b"idle".as_slice()));
            quiet.expect_closed().await;
        }
    }
    let mut observer = FrameClient::connect(server.frame).await;
    let snap = observer.stats().await;
    assert_eq!(snap["removed_total"]["idle"], 1, "{snap}");
}

#[tokio::test]
async fn replicate_without_backends_reports_empty_lists() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    c.send(REPLICATE, b"data").await;
    let (op, body) = c.recv().await;
    assert_eq!(op, REPLICATE_REPLY);
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report, serde_json::json!({"acked": [], "faulty": []}));
}
