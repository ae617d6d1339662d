//! End to end: the `line` protocol of PROTOCOL.md against the real binary.

mod support;

use support::*;

#[tokio::test]
async fn every_line_command() {
    let server = Server::start("");
    let mut a = LineClient::connect(server.line).await;
    let mut b = LineClient::connect(server.line).await;
    let mut f = FrameClient::connect(server.frame).await;
    a.send("ECHO hello world").await;
    assert_eq!(a.recv().await.as_deref(), Some("ECHO hello world"));
    a.writer.write_all(b"PING\r\n").await.unwrap();
    assert_eq!(
        a.recv().await.as_deref(),
        Some("PONG"),
        "a trailing CR is ignored"
    );
    b.send("PING").await;
    assert_eq!(b.recv().await.as_deref(), Some("PONG"));
    f.send(PING, b"").await;
    assert_eq!(f.recv().await.0, PONG);
    a.send("BCAST news").await;
    assert_eq!(a.recv().await.as_deref(), Some("BCAST news"));
    assert_eq!(b.recv().await.as_deref(), Some("BCAST news"));
    a.send("STATS").await;
    let snap: serde_json::Value = serde_json::from_str(&a.recv().await.unwrap()).unwrap();
    assert_eq!(snap["connections"]["line"], 2);
    assert_eq!(snap["connections"]["frame"], 1);
    // The frame client saw no line broadcast.
    f.send(PING, b"x").await;
    assert_eq!(f.recv().await, (PONG, b"x".to_vec()));
}

#[tokio::test]
async fn unknown_commands_get_err_and_the_third_closes() {
    let server = Server::start("");
    let mut c = LineClient::connect(server.line).await;
    for cmd in ["HELLO", "echo lower", "PING extra"] {
        c.send(cmd).await;
    }
    for _ in 0..3 {
        let reply = c.recv().await.unwrap();
        assert!(reply.starts_with("ERR "), "{reply}");
    }
    assert_eq!(c.recv().await, None);
}

#[tokio::test]
async fn over_long_line_gets_err_and_close() {
    let server = Server::start("max_line = 100");
    let mut c = LineClient::connect(server.line).await;
    let fits = format!("ECHO {}", "x".repeat(95));
    c.send(&fits).await;
    assert_eq!(c.recv().await.as_deref(), Some(fits.as_str()));
    c.send(&"y".repeat(101)).await;
    assert_eq!(c.recv().await.as_deref(), Some("ERR line too long"));
    assert_eq!(c.recv().await, None);
    let mut observer = FrameClient::connect(server.frame).await;
    stats_until(&mut observer, "error_packets removal", |s| {
        s["removed_total"]["error_packets"] == 1
    })
    .await;
}

use tokio::io::AsyncWriteExt;
