//! End to end: incomplete frames and lines (`frame_timeout_ms`), and the memory an
//! incomplete frame may hold.
//!
//! A frame or line whose first byte arrived more than `frame_timeout_ms` ago and that
//! is still incomplete is answered `ERROR frame timeout` (`ERR frame timeout`) and its
//! connection is removed with reason `frame_timeout`, even while bytes keep trickling
//! in. The server reserves memory for the bytes it received, not for the length a
//! peer announces.

mod support;

use std::time::{Duration, Instant};
use support::*;

/// The length prefix and opcode of an ECHO frame announcing a body of `body` bytes.
fn echo_header(body: u32) -> Vec<u8> {
    let mut out = body.to_be_bytes().to_vec();
    out.push(ECHO);
    out
}

async fn removed_for_frame_timeout(observer: &mut FrameClient, count: u64) {
    stats_until(observer, "frame_timeout removals", |s| {
        s["removed_total"]["frame_timeout"] == count
    })
    .await;
}

#[tokio::test]
async fn half_a_frame_gets_error_frame_timeout_and_removal() {
    let server = Server::start("frame_timeout_ms = 300");
    let mut c = FrameClient::connect(server.frame).await;
    c.ready().await;
    let sent = Instant::now();
    c.send_raw(&echo_header(11)).await;
    c.send_raw(b"half").await;
    assert_eq!(c.recv().await, (ERROR, b"frame timeout".to_vec()));
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_millis(250), "after {waited:?}");
    c.expect_closed().await;
    let mut observer = FrameClient::connect(server.frame).await;
    removed_for_frame_timeout(&mut observer, 1).await;
    let snap = observer.stats().await;
    assert_eq!(snap["removed_total"]["idle"], 0, "{snap}");
    assert_eq!(snap["removed_total"]["error_packets"], 0, "{snap}");
}

#[tokio::test]
async fn half_a_line_gets_err_frame_timeout_and_removal() {
    let server = Server::start("frame_timeout_ms = 300");
    let mut c = LineClient::connect(server.line).await;
    c.send("PING").await;
    assert_eq!(c.recv().await.as_deref(), Some("PONG"));
    let sent = Instant::now();
    c.writer.write_all(b"ECHO no newline yet").await.unwrap();
    assert_eq!(c.recv().await.as_deref(), Some("ERR frame timeout"));
    let waited = sent.elapsed();
    assert!(waited >= Duration::from_millis(250), "after {waited:?}");
    assert_eq!(c.recv().await, None);
    let mut observer = FrameClient::connect(server.frame).await;
    removed_for_frame_timeout(&mut observer, 1).await;
    let snap = observer.stats().await;
    assert_eq!(
        snap["protocols"]["line"]["removed"]["frame_timeout"], 1,
        "{snap}"
    );
}

#[tokio::test]
async fn a_trickler_is_not_idle_but_is_removed_for_frame_timeout() {
    // Silent for 300 ms would be idle; one byte every 50 ms is not silent.
    let server =
        Server::start("frame_timeout_ms = 800\nidle_timeout_ms = 300\nhealth_interval_ms = 50");
    let mut c = FrameClient::connect(server.frame).await;
    c.ready().await;
    let mut frame = echo_header(100);
    frame.extend_from_slice(&[b't'; 99]);
    let started = Instant::now();
    let (mut rd, mut wr) = c.stream.split();
    let trickle = async {
        for byte in frame {
            if wr.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let answer = async {
        let mut len = [0u8; 4];
        rd.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        rd.read_exact(&mut body).await.ok()?;
        Some(body)
    };
    let answer = tokio::select! {
        () = trickle => panic!("the whole frame trickled in: never removed"),
        answer = tokio::time::timeout(WAIT, answer) => answer.expect("no answer in time"),
    };
    let closed_after = started.elapsed();
    let mut expected = vec![ERROR];
    expected.extend_from_slice(b"frame timeout");
    assert_eq!(answer, Some(expected));
    assert!(
        closed_after >= Duration::from_millis(700),
        "removed after {closed_after:?}"
    );
    let mut observer = FrameClient::connect(server.frame).await;
    removed_for_frame_timeout(&mut observer, 1).await;
    let snap = observer.stats().await;
    assert_eq!(snap["removed_total"]["idle"], 0, "{snap}");
}

#[tokio::test]
async fn frames_split_across_reads_within_the_timeout_are_answered() {
    let server = Server::start("frame_timeout_ms = 300");
    let mut c = FrameClient::connect(server.frame).await;
    let started = Instant::now();
    // Ten frames, each in two halves 100 ms apart: a second in all, over 300 ms.
    for i in 0..10u8 {
        let mut frame = echo_header(3);
        frame.extend_from_slice(&[b'n', i]);
        c.send_raw(&frame[..3]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.send_raw(&frame[3..]).await;
        assert_eq!(c.recv().await, (ECHO, vec![b'n', i]));
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    let snap = c.stats().await;
    assert_eq!(snap["removed_total"]["frame_timeout"], 0, "{snap}");
}

#[tokio::test]
async fn frame_timeout_zero_removes_an_incomplete_frame_at_once() {
    let server = Server::start("frame_timeout_ms = 0");
    let mut f = FrameClient::connect(server.frame).await;
    f.ready().await;
    let sent = Instant::now();
    f.send_raw(&echo_header(8)[..2]).await;
    assert_eq!(f.recv().await, (ERROR, b"frame timeout".to_vec()));
    f.expect_closed().await;
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    let mut l = LineClient::connect(server.line).await;
    l.writer.write_all(b"ECH").await.unwrap();
    assert_eq!(l.recv().await.as_deref(), Some("ERR frame timeout"));
    assert_eq!(l.recv().await, None);
    let mut observer = FrameClient::connect(server.frame).await;
    removed_for_frame_timeout(&mut observer, 2).await;
}

/// Connections that each announce a 64 KiB frame and send 10 bytes of it.
const HOLDERS: usize = 200;

#[tokio::test]
async fn an_announced_length_costs_no_memory_until_it_arrives() {
    let server = Server::start("frame_timeout_ms = 60000");
    let mut holders = Vec::with_capacity(HOLDERS);
    for _ in 0..HOLDERS {
        let mut c = FrameClient::connect(server.frame).await;
        c.ready().await;
        holders.push(c);
    }
    let mut observer = FrameClient::connect(server.frame).await;
    let before_bytes = observer.stats().await["received_bytes_total"]
        .as_u64()
        .unwrap();
    let before = server.rss_kib();
    let data_before = server.status_kib("VmData");
    let mut partial = 65536u32.to_be_bytes().to_vec();
    partial.push(ECHO);
    partial.extend_from_slice(&[0xAB; 9]);
    assert_eq!(partial.len(), 14);
    for c in &mut holders {
        c.send_raw(&partial).await;
    }
    let expected = before_bytes + (HOLDERS * partial.len()) as u64;
    stats_until(&mut observer, "every partial frame read", |s| {
        s["received_bytes_total"].as_u64() >= Some(expected)
    })
    .await;
    let after = server.rss_kib();
    let grown = after.saturating_sub(before);
    let data_after = server.status_kib("VmData");
    let mapped = data_after.saturating_sub(data_before);
    // 64 KiB each would be 12.5 MiB, touched (VmRSS) or merely allocated (VmData);
    // the bytes that arrived are 2.7 KiB in all.
    assert!(
        grown < 4 * 1024,
        "{HOLDERS} incomplete frames grew VmRSS by {grown} KiB ({before} -> {after})"
    );
    assert!(
        mapped < 4 * 1024,
        "{HOLDERS} incomplete frames grew VmData by {mapped} KiB ({data_before} -> {data_after})"
    );
    let snap = observer.stats().await;
    assert_eq!(snap["connections"]["frame"], HOLDERS as u64 + 1, "{snap}");
}

use tokio::io::{AsyncReadExt, AsyncWriteExt};
