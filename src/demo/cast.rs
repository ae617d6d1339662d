//! The demo's scripted clients: well-behaved ones that check every answer, and the
//! misbehaving ones whose removal the demo expects.
//!
//! Each client registers its local address under its name, so the demo can tell whose
//! removal the supervisor reports. Every client ends by itself when the demo ends.

use crate::protocols::frame::Frame;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Peer address (as the server sees it) -> cast member name.
pub type Names = Arc<Mutex<HashMap<SocketAddr, &'static str>>>;

/// What the well-behaved clients observed.
#[derive(Debug, Default)]
pub struct Tally {
    /// Answers that matched what was sent.
    pub good: AtomicU64,
    /// Answers that did not match, or did not come.
    pub bad: AtomicU64,
}

/// One REPLICATE round's outcome: (acked, faulty members).
pub type Rounds = Arc<Mutex<Vec<(Vec<String>, Vec<String>)>>>;

/// Connects and registers the client's address under `name`.
pub async fn connect(
    addr: SocketAddr,
    name: &'static str,
    names: &Names,
) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    if let Ok(local) = stream.local_addr() {
        if let Ok(mut names) = names.lock() {
            names.insert(local, name);
        }
    }
    Ok(stream)
}

/// Writes one frame.
pub async fn send(stream: &mut TcpStream, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.extend_from_slice(&((payload.len() + 1) as u32).to_be_bytes());
    out.push(opcode);
    out.extend_from_slice(payload);
    stream.write_all(&out).await
}

/// Reads one frame, within two seconds.
pub async fn recv(stream: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let read = async {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).await?;
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        stream.read_exact(&mut body).await?;
        if body.is_empty() {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        let payload = body.split_off(1);
        Ok((body[0], payload))
    };
    tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// ECHO five times a second on the frame protocol, checking each answer, until `until`.
pub async fn frame_echo(addr: SocketAddr, names: Names, tally: Arc<Tally>, until: Instant) {
    let Ok(mut s) = connect(addr, "frame-echo", &names).await else {
        tally.bad.fetch_add(1, Relaxed);
        return;
    };
    for i in (0u64..).take_while(|_| Instant::now() < until) {
        let payload = format!("echo {i}").into_bytes();
        let ok = send(&mut s, Frame::ECHO, &payload).await.is_ok()
            && recv_skipping_broadcasts(&mut s)
                .await
                .is_ok_and(|f| f == (Frame::ECHO, payload));
        count(&tally, ok);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads the next frame that is not a broadcast (broadcasts to the group arrive too)
/// nor a heartbeat PING (sent by the server when the client was quiet for a while).
async fn recv_skipping_broadcasts(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    loop {
        let frame = recv(s).await?;
        if frame.0 != Frame::BROADCAST && frame.0 != Frame::PING {
            return Ok(frame);
        }
    }
}

/// BROADCAST every half second and check the copy that comes back to the sender.
pub async fn frame_broadcast(addr: SocketAddr, names: Names, tally: Arc<Tally>, until: Instant) {
    let Ok(mut s) = connect(addr, "frame-bcast", &names).await else {
        tally.bad.fetch_add(1, Relaxed);
        return;
    };
    for i in (0u64..).take_while(|_| Instant::now() < until) {
        let payload = format!("news {i}").into_bytes();
        let ok = send(&mut s, Frame::BROADCAST, &payload).await.is_ok()
            && wait_for(&mut s, &payload).await;
        count(&tally, ok);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads broadcasts until our own `payload` comes back (other members broadcast too).
async fn wait_for(s: &mut TcpStream, payload: &[u8]) -> bool {
    for _ in 0..64 {
        match recv(s).await {
            Ok((Frame::BROADCAST, p)) if p == payload => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// ECHO and BCAST on the line protocol, checking each answer.
pub async fn line_client(addr: SocketAddr, names: Names, tally: Arc<Tally>, until: Instant) {
    let Ok(s) = connect(addr, "line-chat", &names).await else {
        tally.bad.fetch_add(1, Relaxed);
        return;
    };
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    for i in (0u64..).take_while(|_| Instant::now() < until) {
        let line = if i % 2 == 0 {
            format!("ECHO hi {i}")
        } else {
            format!("BCAST all {i}")
        };
        let mut answer = String::new();
        let ok = w.write_all(format!("{line}\n").as_bytes()).await.is_ok()
            && tokio::time::timeout(Duration::from_secs(2), r.read_line(&mut answer))
                .await
                .is_ok_and(|n| n.is_ok_and(|n| n > 0))
            && answer.trim_end() == line;
        count(&tally, ok);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn count(tally: &Tally, ok: bool) {
    if ok {
        tally.good.fetch_add(1, Relaxed);
    } else {
        tally.bad.fetch_add(1, Relaxed);
    }
}

/// Sends unknown opcodes until the server removes it.
pub async fn bad_opcodes(addr: SocketAddr, names: Names) {
    let Ok(mut s) = connect(addr, "bad-opcodes", &names).await else {
        return;
    };
    for op in [0x42u8, 0x43, 0x44] {
        if send(&mut s, op, b"?").await.is_err() {
            return;
        }
        let _ = recv(&mut s).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _ = recv(&mut s).await;
}

/// Sends large echo requests and never reads a reply.
pub async fn never_reads(addr: SocketAddr, names: Names, for_how_long: Duration) {
    let Ok(mut s) = connect(addr, "never-reads", &names).await else {
        return;
    };
    let payload = vec![0x5a; 60_000];
    let flood = async { while send(&mut s, Frame::ECHO, &payload).await.is_ok() {} };
    let _ = tokio::time::timeout(for_how_long, flood).await;
}

/// Says one PING, reads the PONG, then falls silent until the server gives up on it.
pub async fn falls_silent(addr: SocketAddr, names: Names, for_how_long: Duration) {
    let Ok(mut s) = connect(addr, "falls-silent", &names).await else {
        return;
    };
    if send(&mut s, Frame::PING, b"hello").await.is_err() {
        return;
    }
    let _ = recv(&mut s).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(for_how_long, s.read_to_end(&mut rest)).await;
}

/// REPLICATE once a second, recording who acked and who was faulty.
pub async fn replicator(addr: SocketAddr, names: Names, rounds_out: Rounds, until: Instant) {
    let Ok(mut s) = connect(addr, "replicator", &names).await else {
        return;
    };
    for i in (0u64..).take_while(|_| Instant::now() < until) {
        let payload = format!("replica {i}").into_bytes();
        if send(&mut s, Frame::REPLICATE, &payload).await.is_err() {
            return;
        }
        if let Ok((Frame::REPLICATE_REPLY, body)) = recv_skipping_broadcasts(&mut s).await {
            let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let list = |key: &str, field: Option<&str>| -> Vec<String> {
                report[key]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| field.map_or(v, |f| &v[f]).as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            if let Ok(mut out) = rounds_out.lock() {
                out.push((list("acked", None), list("faulty", Some("member"))));
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
