//! End to end: credentials in the `cluster` URL, against a real `nats-server` that asks
//! for a user and password (or a token).
//!
//! Right credentials: two real `switchboard` processes deliver a group message across
//! nodes. Wrong ones: the node serves its own clients exactly as when NATS is
//! unreachable (`"connected": false`, `failed_total` counting), logs the refusal at
//! `warn`, and its password appears nowhere: not on standard output, not in any log line
//! (at `debug`, the NATS client's included), not in STATS.

#[path = "support/nats.rs"]
mod nats;
mod support;

use nats::Nats;
use serde_json::Value;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use support::*;

const JOIN: u8 = 0x0A;
const JOINED: u8 = 0x0B;
const PUBLISH: u8 = 0x0E;
const MESSAGE: u8 = 0x0F;

const USER: &str = "switchboard";
const PASSWORD: &str = "pa55-w0rd-never-printed";

/// Logs at `debug`, the NATS client's at `trace`: whatever the level, no secret.
const LOG_LEVEL: &str = "debug,async_nats=trace";

/// Starts node `name` on `url`, reconnecting within 50..500 ms, logging at
/// [`LOG_LEVEL`].
fn node(url: &str, name: &str) -> (Server, Receiver<String>) {
    Server::start_logged_with_args(
        "reconnect_min_ms = 50\nreconnect_max_ms = 500",
        &["--cluster", url, "--node", name],
        LOG_LEVEL,
    )
}

/// A frame client in `group`.
async fn member(server: &Server, group: &str) -> FrameClient {
    let mut client = FrameClient::connect(server.frame).await;
    client.send(JOIN, group.as_bytes()).await;
    assert_eq!(client.recv().await, (JOINED, group.as_bytes().to_vec()));
    client
}

/// A PUBLISH payload of `text` to `group`.
fn publish(group: &str, text: &str) -> Vec<u8> {
    let mut payload = vec![group.len() as u8];
    payload.extend_from_slice(group.as_bytes());
    payload.extend_from_slice(text.as_bytes());
    payload
}

/// Waits until STATS says the node's `cluster.connected` is `connected`.
async fn until_connected(client: &mut FrameClient, connected: bool) -> Value {
    stats_until(client, &format!("cluster.connected {connected}"), |s| {
        s["cluster"]["connected"] == connected
    })
    .await
}

/// Every line received so far.
fn drain(lines: &Receiver<String>) -> Vec<String> {
    lines.try_iter().collect()
}

#[tokio::test]
async fn the_right_user_and_password_deliver_across_nodes() {
    let nats = Nats::with_user(USER, PASSWORD);
    let url = format!("nats://{USER}:{PASSWORD}@127.0.0.1:{}", nats.port);
    let (n1, log1) = node(&url, "n1");
    let (n2, log2) = node(&url, "n2");
    let mut listener = member(&n2, "lobby").await;
    nats.wait_subscriptions("switchboard.group.lobby", 1);
    let mut publisher = FrameClient::connect(n1.frame).await;
    until_connected(&mut publisher, true).await;
    publisher.send(PUBLISH, &publish("lobby", "across")).await;
    assert_eq!(listener.recv().await, (MESSAGE, publish("lobby", "across")));
    let stats = until_connected(&mut listener, true).await;
    assert!(!stats.to_string().contains(PASSWORD));
    let lines: Vec<String> = drain(&log1).into_iter().chain(drain(&log2)).collect();
    assert!(
        lines.iter().any(|l| l.contains("connected to NATS")),
        "the logs were captured: {lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains(PASSWORD), "{line}");
    }
    drop((n1, n2));
}

#[tokio::test]
async fn a_token_in_the_url_authenticates() {
    let token = "t0ken-never-printed";
    let nats = Nats::with_token(token);
    let (server, log) = node(&format!("nats://{token}@127.0.0.1:{}", nats.port), "n1");
    let mut client = FrameClient::connect(server.frame).await;
    let stats = until_connected(&mut client, true).await;
    assert!(!stats.to_string().contains(token));
    for line in drain(&log) {
        assert!(!line.contains(token), "{line}");
    }
}

#[tokio::test]
async fn refused_credentials_leave_the_node_serving_on_its_own_and_print_nothing() {
    let nats = Nats::with_user(USER, PASSWORD);
    let wrong = "wr0ng-pa55-never-printed";
    for (url, secret) in [
        (
            format!("nats://{USER}:{wrong}@127.0.0.1:{}", nats.port),
            wrong,
        ),
        (format!("nats://{wrong}@127.0.0.1:{}", nats.port), wrong),
    ] {
        let (server, log) = node(&url, "n1");
        let mut member = member(&server, "lobby").await;
        let mut publisher = FrameClient::connect(server.frame).await;
        // Local delivery goes on; what was meant for other nodes counts as failed.
        for i in 0..3 {
            let text = format!("local {i}");
            publisher.send(PUBLISH, &publish("lobby", &text)).await;
            assert_eq!(member.recv().await, (MESSAGE, publish("lobby", &text)));
        }
        let stats = stats_until(&mut publisher, "failed_total counting", |s| {
            s["cluster"]["connected"] == false && s["cluster"]["failed_total"].as_u64() >= Some(3)
        })
        .await;
        assert!(!stats.to_string().contains(secret), "{stats}");
        publisher.send(0x10, b"").await;
        let (_, cstats) = publisher.recv().await;
        assert!(!String::from_utf8_lossy(&cstats).contains(secret));
        // The refusal is logged at warn, again as the node retries.
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while !seen
            .iter()
            .any(|l: &String| l.contains("WARN") && l.contains("refused this node's credentials"))
        {
            assert!(Instant::now() < deadline, "no warning in {seen:#?}");
            if let Ok(line) = log.recv_timeout(Duration::from_millis(100)) {
                seen.push(line);
            }
        }
        // Once it is gone, nothing it printed held the secret.
        drop(member);
        drop(publisher);
        let stdout = std::mem::replace(&mut { server }.stdout, std::sync::mpsc::channel().1);
        std::thread::sleep(Duration::from_millis(200));
        seen.extend(drain(&log));
        seen.extend(drain(&stdout));
        assert!(seen.len() > 5, "the logs were captured: {seen:#?}");
        for line in &seen {
            assert!(!line.contains(secret), "printed: {line}");
        }
    }
}

#[test]
fn a_malformed_url_with_credentials_exits_2_without_printing_them() {
    for url in [
        "http://alice:s3cr3t-pa55@127.0.0.1:4222",
        "nats://alice:s3cr3t-pa55@127.0.0.1:4222/path",
        "nats://:s3cr3t-pa55@127.0.0.1:4222",
    ] {
        let (status, stderr) = run_to_exit(&["serve", "--cluster", url]);
        assert_eq!(status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("config key \"cluster\""), "{stderr}");
        assert!(!stderr.contains("s3cr3t-pa55"), "{stderr}");
    }
}
