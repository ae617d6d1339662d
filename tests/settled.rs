//! End to end: the "Settled details" of PROTOCOL.md and the stats snapshot's removal
//! reasons, each checked against the real binary.
//!
//! REPLICATE's fault reasons are provoked with small scripted backends (a socket in the
//! test that answers health checks and then refuses, hangs up or falls silent); the
//! others with plain clients.

mod support;
#[path = "support/tls.rs"]
mod tls_support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ----- removal reasons in the snapshot ---------------------------------------------

/// The removal reasons PROTOCOL.md lists under `removed_total`.
const REASONS: [&str; 8] = [
    "error_packets",
    "idle",
    "slow_consumer",
    "write_timeout",
    "peer_closed",
    "io_error",
    "frame_timeout",
    "tls_handshake",
];

#[tokio::test]
async fn removed_total_lists_every_reason_from_the_start() {
    let server = Server::start("");
    let mut f = FrameClient::connect(server.frame).await;
    let mut l = LineClient::connect(server.line).await;
    l.send("STATS").await;
    let from_line: Value = serde_json::from_str(&l.recv().await.unwrap()).unwrap();
    let from_frame = f.stats().await;
    for snap in [&from_line, &from_frame] {
        for reason in REASONS {
            assert_eq!(snap["removed_total"][reason], 0, "{reason} in {snap}");
        }
    }
}

// ----- REPLICATE fault reasons -----------------------------------------------------

/// What a scripted backend does with a replicated PING (health checks, PINGs with the
/// payload `health`, are answered with a PONG unless it is `Silent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Answers `ERROR busy`.
    Refuse,
    /// Closes the connection.
    HangUp,
    /// Answers nothing after the first health check.
    MuteAfterFirst,
    /// Answers nothing at all, health checks included.
    Silent,
}

/// A scripted backend listening on loopback; stops with the test's runtime.
async fn scripted_backend(script: Script) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_script(stream, script));
        }
    });
    addr
}

async fn serve_script(mut stream: TcpStream, script: Script) {
    let mut answered = 0u32;
    loop {
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 || len > 1 << 20 {
            return;
        }
        let mut body = vec![0u8; len];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let (op, payload) = (body[0], &body[1..]);
        let health = op == PING && payload == b"health";
        let answer = match script {
            Script::Silent => None,
            Script::MuteAfterFirst if answered > 0 => None,
            _ if health => Some(encode(PONG, payload)),
            Script::Refuse => Some(encode(ERROR, b"busy")),
            Script::HangUp => return,
            Script::MuteAfterFirst => None,
        };
        if let Some(answer) = answer {
            answered += 1;
            if stream.write_all(&answer).await.is_err() {
                return;
            }
        }
    }
}

/// A front server replicating to `backend`, with `extra` TOML.
fn front(backend: SocketAddr, extra: &str) -> Server {
    Server::start(&format!(
        "backends = [\"{backend}\"]\nreconnect_min_ms = 20\nreconnect_max_ms = 200\n{extra}"
    ))
}

/// Sends REPLICATE and returns the delivery report.
async fn replicate(client: &mut FrameClient, payload: &[u8]) -> Value {
    client.send(REPLICATE, payload).await;
    let (op, body) = client.recv().await;
    assert_eq!(op, REPLICATE_REPLY, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The one faulty backend's reason in `report`, which must ack nobody.
fn only_fault(report: &Value, backend: SocketAddr) -> String {
    assert_eq!(report["acked"], serde_json::json!([]), "{report}");
    let faulty = report["faulty"].as_array().unwrap();
    assert_eq!(faulty.len(), 1, "{report}");
    assert_eq!(faulty[0]["member"], backend.to_string(), "{report}");
    faulty[0]["reason"].as_str().unwrap().to_owned()
}

async fn until_up(client: &mut FrameClient, backend: SocketAddr) {
    let what = format!("backend {backend} up");
    stats_until(client, &what, |s| {
        s["backends"][backend.to_string()] == "up"
    })
    .await;
}

#[tokio::test]
async fn a_backend_error_reply_is_refused_with_its_text() {
    let backend = scripted_backend(Script::Refuse).await;
    let server = front(backend, "ack_timeout_ms = 1000\nhealth_interval_ms = 100");
    let mut c = FrameClient::connect(server.frame).await;
    until_up(&mut c, backend).await;
    let report = replicate(&mut c, b"data").await;
    assert_eq!(only_fault(&report, backend), "refused: busy");
}

#[tokio::test]
async fn a_backend_that_hangs_up_is_an_io_error() {
    let backend = scripted_backend(Script::HangUp).await;
    let server = front(backend, "ack_timeout_ms = 2000\nhealth_interval_ms = 100");
    let mut c = FrameClient::connect(server.frame).await;
    until_up(&mut c, backend).await;
    let report = replicate(&mut c, b"data").await;
    let reason = only_fault(&report, backend);
    assert!(reason.starts_with("io error: "), "{reason}");
}

/// Clients, each pipelining this many REPLICATEs: more than a silent backend can hold
/// (256 in flight on its one connection and 1024 waiting for it), all within the ack
/// timeout.
const CLIENTS: usize = 25;
const PIPELINED: usize = 60;

#[tokio::test]
async fn requests_beyond_the_in_flight_bound_get_no_sender_available() {
    let backend = scripted_backend(Script::MuteAfterFirst).await;
    // One health check (on connect) only, so the link is up and stays open.
    let server = front(
        backend,
        "ack_timeout_ms = 4000\nhealth_interval_ms = 60000\nbackend_max_failures = 1000",
    );
    let mut observer = FrameClient::connect(server.frame).await;
    until_up(&mut observer, backend).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = FrameClient::connect(server.frame).await;
        let burst: Vec<u8> = (0..PIPELINED)
            .flat_map(|_| encode(REPLICATE, b"x"))
            .collect();
        c.send_raw(&burst).await;
        clients.push(c);
    }
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for c in &mut clients {
        for _ in 0..PIPELINED {
            let (op, body) = c.recv().await;
            assert_eq!(op, REPLICATE_REPLY);
            let report: Value = serde_json::from_slice(&body).unwrap();
            *reasons.entry(only_fault(&report, backend)).or_default() += 1;
        }
    }
    assert!(reasons.get("no sender available") > Some(&0), "{reasons:?}");
    assert!(reasons.get("timeout") > Some(&0), "{reasons:?}");
    let known = ["no sender available", "timeout"];
    assert!(
        reasons.keys().all(|r| known.contains(&r.as_str())),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_backend_is_down_until_a_health_check_is_answered() {
    let backend = scripted_backend(Script::Silent).await;
    let server = front(backend, "ack_timeout_ms = 200\nhealth_interval_ms = 100");
    let mut c = FrameClient::connect(server.frame).await;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let snap = c.stats().await;
        assert_eq!(snap["backends"][backend.to_string()], "down", "{snap}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Compare: a backend that answers is up within a few health intervals.
    let answering = scripted_backend(Script::Refuse).await;
    let server = front(answering, "ack_timeout_ms = 200\nhealth_interval_ms = 100");
    let mut c = FrameClient::connect(server.frame).await;
    until_up(&mut c, answering).await;
}

#[tokio::test]
async fn ack_timeout_zero_times_out_at_once() {
    let backend = Server::start("");
    let server = front(
        backend.frame,
        "ack_timeout_ms = 0\nhealth_interval_ms = 100",
    );
    let mut c = FrameClient::connect(server.frame).await;
    let asked = Instant::now();
    let report = replicate(&mut c, b"now").await;
    assert_eq!(only_fault(&report, backend.frame), "timeout");
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
}

/// With `ack_timeout_ms = 0` a health check waits no time, so none can be answered and
/// the backend is never up, even one that answers at once.
#[tokio::test]
async fn ack_timeout_zero_means_no_health_check_is_answered() {
    let backend = Server::start("");
    let server = front(
        backend.frame,
        "ack_timeout_ms = 0\nhealth_interval_ms = 100",
    );
    let mut c = FrameClient::connect(server.frame).await;
    let until = Instant::now() + Duration::from_millis(1000);
    while Instant::now() < until {
        let snap = c.stats().await;
        assert_eq!(
            snap["backends"][backend.frame.to_string()],
            "down",
            "{snap}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ----- line details ------------------------------------------------------------------

#[tokio::test]
async fn max_line_excludes_the_line_ending() {
    let server = Server::start("max_line = 10");
    let mut c = LineClient::connect(server.line).await;
    // Exactly 10 bytes, with either ending.
    c.writer.write_all(b"ECHO 12345\r\n").await.unwrap();
    assert_eq!(c.recv().await.as_deref(), Some("ECHO 12345"));
    c.writer.write_all(b"ECHO abcde\n").await.unwrap();
    assert_eq!(c.recv().await.as_deref(), Some("ECHO abcde"));
    // 11 bytes is too long, CR or not.
    c.writer.write_all(b"ECHO 123456\r\n").await.unwrap();
    assert_eq!(c.recv().await.as_deref(), Some("ERR line too long"));
    assert_eq!(c.recv().await, None);
}

#[tokio::test]
async fn bare_echo_and_bcast_are_echoed_as_they_are() {
    let server = Server::start("");
    let mut a = LineClient::connect(server.line).await;
    let mut b = LineClient::connect(server.line).await;
    for c in [&mut a, &mut b] {
        c.send("PING").await;
        assert_eq!(c.recv().await.as_deref(), Some("PONG"));
    }
    for line in ["ECHO", "ECHO ", "ECHO  two  spaces "] {
        a.send(line).await;
        assert_eq!(a.recv().await.as_deref(), Some(line));
    }
    a.send("BCAST").await;
    assert_eq!(a.recv().await.as_deref(), Some("BCAST"));
    assert_eq!(b.recv().await.as_deref(), Some("BCAST"));
    // Frames: an ECHO or BROADCAST with an empty payload comes back identical.
    let mut f = FrameClient::connect(server.frame).await;
    f.send(ECHO, b"").await;
    assert_eq!(f.recv().await, (ECHO, Vec::new()));
    f.send(BROADCAST, b"").await;
    assert_eq!(f.recv().await, (BROADCAST, Vec::new()));
    let snap = f.stats().await;
    assert_eq!(snap["error_packets_total"], 0, "{snap}");
}

#[tokio::test]
async fn ping_with_an_argument_and_an_empty_line_are_error_packets() {
    let server = Server::start("");
    let mut c = LineClient::connect(server.line).await;
    c.send("PING x").await;
    let reply = c.recv().await.unwrap();
    assert!(reply.starts_with("ERR "), "{reply}");
    c.send("").await;
    let reply = c.recv().await.unwrap();
    assert!(reply.starts_with("ERR "), "{reply}");
    // Two error packets are tolerated; the connection still works.
    c.send("ECHO ok").await;
    assert_eq!(c.recv().await.as_deref(), Some("ECHO ok"));
    c.writer.write_all(b"\r\n").await.unwrap();
    let reply = c.recv().await.unwrap();
    assert!(reply.starts_with("ERR "), "{reply}");
    assert_eq!(c.recv().await, None, "the third error packet closes");
    let mut observer = FrameClient::connect(server.frame).await;
    stats_until(&mut observer, "three error packets", |s| {
        s["error_packets_total"] == 3 && s["removed_total"]["error_packets"] == 1
    })
    .await;
}

#[tokio::test]
async fn pong_with_an_argument_is_taken_silently() {
    let server = Server::start("");
    let mut c = LineClient::connect(server.line).await;
    // More PONGs than max_error_packets: none is an error packet, none is answered.
    for line in ["PONG x", "PONG", "PONG ", "PONG 1 2 3", "PONG x"] {
        c.send(line).await;
    }
    c.send("PING").await;
    assert_eq!(c.recv().await.as_deref(), Some("PONG"), "nothing before it");
    let mut observer = FrameClient::connect(server.frame).await;
    let snap = observer.stats().await;
    assert_eq!(snap["error_packets_total"], 0, "{snap}");
    assert_eq!(snap["connections"]["line"], 1, "{snap}");
}

#[tokio::test]
async fn pub_without_text_publishes_an_empty_message() {
    const JOIN: u8 = 0x0A;
    const JOINED: u8 = 0x0B;
    const MESSAGE: u8 = 0x0F;
    let server = Server::start("");
    let mut frame = FrameClient::connect(server.frame).await;
    frame.send(JOIN, b"lobby").await;
    assert_eq!(frame.recv().await, (JOINED, b"lobby".to_vec()));
    let mut member = LineClient::connect(server.line).await;
    member.send("JOIN lobby").await;
    assert_eq!(member.recv().await.as_deref(), Some("JOINED lobby"));
    let mut publisher = LineClient::connect(server.line).await;
    publisher.send("PUB lobby").await;
    publisher.send("PUB lobby after").await;
    assert_eq!(member.recv().await.as_deref(), Some("MSG lobby "));
    assert_eq!(member.recv().await.as_deref(), Some("MSG lobby after"));
    assert_eq!(frame.recv().await, (MESSAGE, b"\x05lobby".to_vec()));
    assert_eq!(frame.recv().await, (MESSAGE, b"\x05lobbyafter".to_vec()));
    // A bare PUB, or one with an empty name, is still an error packet.
    publisher.send("PUB").await;
    assert_eq!(
        publisher.recv().await.as_deref(),
        Some("ERR PUB takes a group name")
    );
    publisher.send("PUB ").await;
    assert_eq!(
        publisher.recv().await.as_deref(),
        Some("ERR bad group name (empty)")
    );
}

/// The text between the first and the last `"` of `reason`.
fn quoted(reason: &str) -> &str {
    let start = reason.find('"').map_or(0, |i| i + 1);
    let end = reason.rfind('"').unwrap_or(reason.len());
    reason.get(start..end).unwrap_or_default()
}

#[tokio::test]
async fn error_reasons_quote_at_most_64_bytes() {
    let server = Server::start("");
    let mut c = LineClient::connect(server.line).await;
    let long = "Z".repeat(5000);
    c.send(&long).await;
    let reply = c.recv().await.unwrap();
    let quote = quoted(&reply);
    assert!(quote.starts_with("ZZZ"), "{reply}");
    assert!(quote.len() <= 64, "{} bytes quoted: {reply}", quote.len());
    assert!(reply.len() < 64 + 40, "{reply}");
    // Multi-byte characters are cut at a character boundary, still within 64 bytes.
    let wide = format!("{} tail", "é".repeat(100));
    c.send(&wide).await;
    let reply = c.recv().await.unwrap();
    let quote = quoted(&reply);
    assert!(quote.starts_with('é') && quote.len() <= 64, "{reply}");
    // A frame with an unknown opcode and a large payload: the reason stays short.
    let mut f = FrameClient::connect(server.frame).await;
    f.send(0x55, &[b'P'; 4000]).await;
    let (op, reason) = f.recv().await;
    assert_eq!(op, ERROR);
    assert!(
        reason.len() < 64 + 40,
        "{}",
        String::from_utf8_lossy(&reason)
    );
}

// ----- frame details -----------------------------------------------------------------

#[tokio::test]
async fn a_stats_frame_with_a_payload_is_answered() {
    let server = Server::start("");
    let mut c = FrameClient::connect(server.frame).await;
    c.send(STATS, b"this payload is ignored").await;
    let (op, body) = c.recv().await;
    assert_eq!(op, STATS_REPLY, "{}", String::from_utf8_lossy(&body));
    let snap: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(snap["connections"]["frame"], 1, "{snap}");
    assert_eq!(snap["error_packets_total"], 0, "{snap}");
}

// ----- a timeout of 0 means "at once" ------------------------------------------------

#[tokio::test]
async fn idle_timeout_zero_removes_at_the_first_sweep() {
    // Every connection is idle at once, so the stats are read over HTTP, from outside.
    let server = Server::start_with_args(
        "idle_timeout_ms = 0\nhealth_interval_ms = 100",
        &["--metrics", "127.0.0.1:0"],
    );
    let metrics = server.metrics.expect("a metrics address");
    let before = http_stats(metrics);
    assert_eq!(before["removed_total"]["idle"], 0, "{before}");
    let mut c = FrameClient::connect(server.frame).await;
    let opened = Instant::now();
    let mut frames = Vec::new();
    while let Some(frame) = c.try_recv().await {
        frames.push(frame);
        assert!(frames.len() < 10, "{frames:?}");
    }
    assert_eq!(frames, [(ERROR, b"idle".to_vec())], "told why, then closed");
    assert!(
        opened.elapsed() < Duration::from_secs(2),
        "{:?}",
        opened.elapsed()
    );
    let after = tokio::task::spawn_blocking(move || {
        http_stats_until(metrics, "the idle removal", WAIT, |s| {
            s["connections"]["frame"] == 0
        })
    })
    .await
    .unwrap();
    assert_eq!(after["removed_total"]["idle"], 1, "{after}");
    assert_eq!(after["accepted_total"], 1, "{after}");
}

/// A silent connection (nothing sent) to `addr` is closed within a second, before any
/// default deadline could pass; returns the bytes the server sent first.
async fn closed_at_once(addr: SocketAddr) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut got))
        .await
        .expect("closed in time")
        .ok();
    assert!(
        opened.elapsed() < Duration::from_secs(1),
        "{:?}",
        opened.elapsed()
    );
    got
}

#[tokio::test]
async fn handshake_and_auth_timeouts_of_zero_remove_at_once() {
    let server = Server::start_with_args(
        "ws_line = \"127.0.0.1:0\"\nws_handshake_timeout_ms = 0\nauth_timeout_ms = 0\n\
         [[users]]\nname = \"alice\"\ntoken = \"alice-token\"\n",
        &["--metrics", "127.0.0.1:0"],
    );
    assert_eq!(
        closed_at_once(server.line).await,
        b"ERR authentication timeout\n",
    );
    let ws = closed_at_once(server.ws_line.expect("ws_line listening")).await;
    assert!(ws.starts_with(b"HTTP/1.1 400 "), "{ws:?}");
    let tls = tls_support::TestCert::new();
    let tls_server = Server::start_with_args(
        &format!("{}tls_handshake_timeout_ms = 0\n", tls.config()),
        &["--metrics", "127.0.0.1:0"],
    );
    assert_eq!(closed_at_once(tls_server.frame).await, b"");
    http_stats_until(server.metrics.unwrap(), "both removals", WAIT, |s| {
        s["removed_total"]["auth_timeout"] == 1 && s["removed_total"]["ws_handshake"] == 1
    });
    http_stats_until(tls_server.metrics.unwrap(), "the removal", WAIT, |s| {
        s["removed_total"]["tls_handshake"] == 1
    });
}

// ----- max_groups = 0 and node ---------------------------------------------------------

#[tokio::test]
async fn max_groups_zero_is_allowed_and_no_join_succeeds() {
    let server = Server::start("max_groups = 0");
    let mut line = LineClient::connect(server.line).await;
    line.send("JOIN lobby").await;
    assert_eq!(line.recv().await.as_deref(), Some("ERR too many groups"));
    let mut frame = FrameClient::connect(server.frame).await;
    frame.send(JOIN, b"lobby").await;
    assert_eq!(frame.recv().await, (ERROR, b"too many groups".to_vec()));
    // Publishing needs no membership.
    frame
        .send(PUBLISH, &publish_payload("lobby", b"to nobody"))
        .await;
    frame.ready().await;
    let stats = frame.stats().await;
    assert_eq!(stats["groups"], 0, "{stats}");
}

#[test]
fn an_empty_node_name_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "node = \"\"\n").unwrap();
    let (status, stderr) = run_to_exit(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config key \"node\""), "{stderr}");
    let (status, stderr) = run_to_exit(&["serve", "--node", " "]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config key \"node\""), "{stderr}");
}

#[tokio::test]
async fn write_timeout_zero_removes_a_peer_that_does_not_read() {
    let server = Server::start("write_timeout_ms = 0\nmax_outbound_bytes = 268435456");
    let mut reader = FrameClient::connect(server.frame).await;
    reader.ready().await;
    let c = FrameClient::connect(server.frame).await;
    let frame = encode(ECHO, &[b'w'; 60_000]);
    // Ask for echoes and never read them: once the socket buffers are full (a few MB,
    // well under a second on loopback), the server's writes stop progressing.
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        let mut c = c;
        for _ in 0..2000 {
            if c.try_send_raw(&frame).await.is_err() {
                break;
            }
        }
    });
    let snap = stats_until(&mut reader, "write_timeout removal", |s| {
        s["removed_total"]["write_timeout"] == 1
    })
    .await;
    // At once, not after the default write timeout (10 s).
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "removed after {took:?}: {snap}"
    );
    assert_eq!(snap["removed_total"]["slow_consumer"], 0, "{snap}");
    writer.abort();
}
