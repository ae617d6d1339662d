//! End to end: server PINGs (`heartbeat_ms`) and client PONGs, for both protocols.
//!
//! A client that answers every heartbeat stays connected well past `idle_timeout_ms`
//! although it never sends a request; one that ignores them is removed as `idle`. A
//! PONG is taken silently at any time: no reply and no error packet.

mod support;

use std::time::{Duration, Instant};
use support::*;

/// Heartbeat every 200 ms of silence; silent connections removed after one second.
const LIVELY: &str = "heartbeat_ms = 200\nidle_timeout_ms = 1000\nhealth_interval_ms = 100";

/// How long the answering client is watched: well past the idle timeout.
const WATCH: Duration = Duration::from_millis(2500);

/// Reads frames for `WATCH`, answering each PING with a PONG; returns the PINGs seen.
async fn answer_frame_pings(c: &mut FrameClient) -> usize {
    let end = Instant::now() + WATCH;
    let mut pings = 0;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(next) = tokio::time::timeout(left, c.try_recv()).await else {
            break;
        };
        let (op, payload) = next.expect("the answering client was disconnected");
        assert_eq!(
            (op, payload.as_slice()),
            (PING, &b""[..]),
            "only PINGs expected"
        );
        pings += 1;
        c.send(PONG, b"").await;
    }
    pings
}

/// Reads lines for `WATCH`, answering each `PING` with `PONG`; returns the PINGs seen.
async fn answer_line_pings(c: &mut LineClient) -> usize {
    let end = Instant::now() + WATCH;
    let mut pings = 0;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(next) = tokio::time::timeout(left, c.recv()).await else {
            break;
        };
        let line = next.expect("the answering client was disconnected");
        assert_eq!(line, "PING", "only PINGs expected");
        pings += 1;
        c.send("PONG").await;
    }
    pings
}

/// Reads what a silent frame client gets until the server closes it: PINGs, then
/// perhaps one last ERROR naming the reason. Returns the PINGs and that reason.
async fn frame_until_closed(c: &mut FrameClient) -> (usize, Option<String>) {
    let mut pings = 0;
    for _ in 0..1000 {
        match c.try_recv().await {
            None => return (pings, None),
            Some((PING, payload)) if payload.is_empty() => pings += 1,
            Some((ERROR, reason)) => {
                c.expect_closed().await;
                return (pings, Some(String::from_utf8_lossy(&reason).into_owned()));
            }
            Some(other) => panic!("unexpected frame {other:?}"),
        }
    }
    panic!("never closed");
}

#[tokio::test]
async fn frame_client_answering_pings_stays_and_a_silent_one_is_idle() {
    let server = Server::start(LIVELY);
    let mut lively = FrameClient::connect(server.frame).await;
    let mut silent = FrameClient::connect(server.frame).await;
    lively.ready().await;
    silent.ready().await;
    let (pings, silent_outcome) = tokio::join!(
        answer_frame_pings(&mut lively),
        frame_until_closed(&mut silent)
    );
    // Roughly one PING per 200 ms of silence: about 12 in 2.5 s.
    assert!(pings >= 5, "only {pings} PINGs in {WATCH:?}");
    let (silent_pings, reason) = silent_outcome;
    assert!(
        silent_pings >= 2,
        "the silent client got {silent_pings} PINGs"
    );
    assert!(
        matches!(reason.as_deref(), None | Some("idle")),
        "{reason:?}"
    );
    // The answering client is still served, and is the only connection removed as idle.
    lively.send(ECHO, b"still here").await;
    assert_eq!(lively.recv().await, (ECHO, b"still here".to_vec()));
    let snap = lively.stats().await;
    assert_eq!(snap["removed_total"]["idle"], 1, "{snap}");
    assert_eq!(snap["connections"]["frame"], 1, "{snap}");
    assert_eq!(snap["error_packets_total"], 0, "PONGs are no error: {snap}");
}

#[tokio::test]
async fn line_client_answering_pings_stays_and_a_silent_one_is_idle() {
    let server = Server::start(LIVELY);
    let mut lively = LineClient::connect(server.line).await;
    let mut silent = LineClient::connect(server.line).await;
    for c in [&mut lively, &mut silent] {
        c.send("PING").await;
        assert_eq!(c.recv().await.as_deref(), Some("PONG"));
    }
    let silent_lines = async {
        let mut lines = Vec::new();
        while let Some(line) = silent.recv().await {
            lines.push(line);
            assert!(lines.len() < 1000, "never closed");
        }
        lines
    };
    let (pings, silent_lines) = tokio::join!(answer_line_pings(&mut lively), silent_lines);
    assert!(pings >= 5, "only {pings} PINGs in {WATCH:?}");
    let (last, heartbeats) = match silent_lines.split_last() {
        Some((last, rest)) if last.starts_with("ERR ") => (Some(last.as_str()), rest),
        _ => (None, silent_lines.as_slice()),
    };
    assert!(matches!(last, None | Some("ERR idle")), "{silent_lines:?}");
    assert!(heartbeats.len() >= 2, "{silent_lines:?}");
    assert!(heartbeats.iter().all(|l| l == "PING"), "{silent_lines:?}");
    lively.send("ECHO still here").await;
    assert_eq!(lively.recv().await.as_deref(), Some("ECHO still here"));
    lively.send("STATS").await;
    let snap: serde_json::Value = serde_json::from_str(&lively.recv().await.unwrap()).unwrap();
    assert_eq!(snap["removed_total"]["idle"], 1, "{snap}");
    assert_eq!(snap["connections"]["line"], 1, "{snap}");
    assert_eq!(snap["error_packets_total"], 0, "PONGs are no error: {snap}");
}

#[tokio::test]
async fn pong_gets_no_reply_and_counts_no_error_in_either_protocol() {
    let server = Server::start("");
    let mut f = FrameClient::connect(server.frame).await;
    // Unsolicited, with and without a payload, more often than max_error_packets.
    for payload in [&b""[..], b"x", b"whatever", b"", b""] {
        f.send(PONG, payload).await;
    }
    f.send(ECHO, b"after").await;
    assert_eq!(
        f.recv().await,
        (ECHO, b"after".to_vec()),
        "PONG was answered"
    );
    let mut l = LineClient::connect(server.line).await;
    for _ in 0..5 {
        l.send("PONG").await;
    }
    l.send("ECHO after").await;
    assert_eq!(
        l.recv().await.as_deref(),
        Some("ECHO after"),
        "PONG was answered"
    );
    let snap = stats_until(&mut f, "the PONGs counted as received", |s| {
        s["received_packets_total"].as_u64() >= Some(12)
    })
    .await;
    assert_eq!(snap["error_packets_total"], 0, "{snap}");
    assert_eq!(snap["removed_total"]["error_packets"], 0, "{snap}");
}

#[tokio::test]
async fn heartbeat_zero_is_off() {
    let server =
        Server::start("heartbeat_ms = 0\nidle_timeout_ms = 5000\nhealth_interval_ms = 100");
    let mut f = FrameClient::connect(server.frame).await;
    let mut l = LineClient::connect(server.line).await;
    f.ready().await;
    l.send("PING").await;
    assert_eq!(l.recv().await.as_deref(), Some("PONG"));
    let quiet = Duration::from_millis(800);
    let frame = tokio::time::timeout(quiet, f.try_recv()).await;
    assert!(frame.is_err(), "frame client got {frame:?}");
    let line = tokio::time::timeout(quiet, l.recv()).await;
    assert!(line.is_err(), "line client got {line:?}");
}
