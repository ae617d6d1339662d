//! `bench history`: what a group history costs, against a server that keeps histories
//! (`history_size` at least `--messages`, `history_groups` matching `hist*`).
//!
//! Memory: `--groups` groups without members are each sent `--messages` messages of
//! `--size` bytes, which the server keeps; the server's resident memory before and after
//! (with `--pid`), divided by the messages its STATS says it keeps, is the memory per
//! stored message, payload and bookkeeping together.
//!
//! Recovery: `--recoveries` times, a member joins a fresh group, reads `--messages`
//! messages published to it, and goes; a new connection then asks to recover from the
//! position before them (`JOIN <group> <epoch> <offset>`), and the time from that
//! request to the last replayed message is one sample.

use super::client::{self, op, FrameReader};
use super::process::Proc;
use super::{per_second, round3, BenchError, Target};
use clap::Args;
use serde::Serialize;
use std::time::Duration;
use switchboard::probe::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Read buffer of one connection.
const READ_BUFFER: usize = 64 * 1024;
/// How long one exchange may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags of `bench history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// Groups filled for the memory figure (no member: kept only).
    #[arg(long, default_value_t = 100)]
    pub groups: usize,
    /// Messages per group, and missed messages per recovery.
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Message bytes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Recoveries timed.
    #[arg(long, default_value_t = 20)]
    pub recoveries: usize,
}

/// The JSON line of `bench history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// Always "history".
    pub scenario: &'static str,
    /// Groups filled.
    pub groups: usize,
    /// Messages per group and per recovery.
    pub messages: u64,
    /// Message bytes.
    pub size: usize,
    /// Messages the server says it keeps after filling (its STATS `history.messages`).
    pub kept_messages: u64,
    /// Bytes of those messages (`history.bytes`).
    pub kept_bytes: u64,
    /// The server's resident memory before filling, KiB (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_before_kib: Option<u64>,
    /// And after, KiB (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_after_kib: Option<u64>,
    /// Resident memory grown per message kept, bytes (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_per_message_bytes: Option<f64>,
    /// Recoveries timed.
    pub recoveries: usize,
    /// From the recovery JOIN to the last replayed message: median, ms.
    pub recover_p50_ms: f64,
    /// 99th percentile, ms.
    pub recover_p99_ms: f64,
    /// Slowest, ms.
    pub recover_max_ms: f64,
    /// Replayed messages per second at the median.
    pub replayed_per_s: f64,
}

/// One connection with its reader.
struct Conn {
    stream: TcpStream,
    reader: FrameReader,
}

impl Conn {
    async fn open(target: &Target, index: usize) -> Result<Conn, BenchError> {
        let mut stream = client::connect(target.addr, index).await?;
        client::handshake(&mut stream).await?;
        Ok(Conn {
            stream,
            reader: FrameReader::new(READ_BUFFER),
        })
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), BenchError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(BenchError::io("send"))
    }

    /// The next frame as (opcode, payload), within [`STEP_TIMEOUT`].
    async fn next(&mut self) -> Result<(u8, Vec<u8>), BenchError> {
        let step = async {
            loop {
                if let Some(frame) = self.reader.next_frame()? {
                    return Ok((frame.opcode, frame.payload.to_vec()));
                }
                let n = self
                    .reader
                    .fill(&mut self.stream)
                    .await
                    .map_err(BenchError::io("read"))?;
                if n == 0 {
                    return Err(BenchError::Protocol("the server closed".to_owned()));
                }
            }
        };
        tokio::time::timeout(STEP_TIMEOUT, step)
            .await
            .map_err(|_| BenchError::Protocol("no answer within 30 s".to_owned()))?
    }

    /// Skips `n` MESSAGE frames, checking each is one.
    async fn skip_messages(&mut self, n: u64) -> Result<(), BenchError> {
        for _ in 0..n {
            let (opcode, payload) = self.next().await?;
            if opcode != op::MESSAGE {
                return Err(BenchError::Protocol(format!(
                    "expected a MESSAGE, got {opcode:#x} {:?}",
                    String::from_utf8_lossy(&payload)
                )));
            }
        }
        Ok(())
    }

    /// The answer to a JOIN: what follows JOINED's group name.
    async fn joined(&mut self, argument: &str) -> Result<String, BenchError> {
        let mut frame = Vec::new();
        client::put_frame(&mut frame, op::JOIN, argument.as_bytes());
        self.send(&frame).await?;
        let (opcode, payload) = self.next().await?;
        let text = String::from_utf8_lossy(&payload).into_owned();
        match (opcode, text.split_once(' ')) {
            (op::JOINED, Some((_, rest))) => Ok(rest.to_owned()),
            _ => Err(BenchError::Protocol(format!(
                "expected JOINED with an epoch: {opcode:#x} {text:?} (does the server keep histories of hist*?)"
            ))),
        }
    }

    /// The server's STATS snapshot.
    async fn stats(&mut self) -> Result<serde_json::Value, BenchError> {
        let mut frame = Vec::new();
        client::put_frame(&mut frame, op::Frame::STATS, b"");
        self.send(&frame).await?;
        let (opcode, payload) = self.next().await?;
        if opcode != op::Frame::STATS_REPLY {
            return Err(BenchError::Protocol(format!(
                "expected STATS, got {opcode:#x}"
            )));
        }
        Ok(serde_json::from_slice(&payload)?)
    }
}

/// `count` PUBLISH frames of `size` bytes to `group`, back to back.
fn publishes(group: &str, size: usize, count: u64) -> Vec<u8> {
    let mut payload = vec![group.len() as u8];
    payload.extend_from_slice(group.as_bytes());
    payload.extend((0..size).map(|i| (i % 251) as u8));
    let mut out = Vec::new();
    for _ in 0..count {
        client::put_frame(&mut out, op::PUBLISH, &payload);
    }
    out
}

/// Runs `bench history`.
pub async fn run(args: HistoryArgs) -> Result<serde_json::Value, BenchError> {
    if args.messages == 0 || args.recoveries == 0 || args.size > 60_000 {
        return Err(BenchError::Usage(
            "--messages and --recoveries must be at least 1, --size at most 60000".to_owned(),
        ));
    }
    let mut control = Conn::open(&args.target, 0).await?;
    let before = control.stats().await?;
    if before.get("history").is_none() {
        return Err(BenchError::Usage(
            "the server keeps no history: start it with history_size > 0".to_owned(),
        ));
    }
    let kept_before = before["history"]["messages"].as_u64().unwrap_or(0);
    let server = args.target.pid.map(Proc::Pid);
    let rss_before = server.map(|s| s.rss_kib()).transpose()?;

    // Memory: fill groups nobody is in, then wait for the server to have kept them.
    let mut publisher = Conn::open(&args.target, 1).await?;
    for g in 0..args.groups {
        publisher
            .send(&publishes(&format!("hist{g}"), args.size, args.messages))
            .await?;
    }
    client::handshake(&mut publisher.stream).await?;
    let wanted = kept_before + args.groups as u64 * args.messages;
    let deadline = Instant::now() + STEP_TIMEOUT;
    let after = loop {
        let stats = control.stats().await?;
        let kept = stats["history"]["messages"].as_u64().unwrap_or(0);
        if kept >= wanted || Instant::now() >= deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let rss_after = server.map(|s| s.rss_kib()).transpose()?;
    let kept_messages = after["history"]["messages"].as_u64().unwrap_or(0);
    let kept_bytes = after["history"]["bytes"].as_u64().unwrap_or(0);

    // Recovery: a member reads the messages and goes; another comes back from before them.
    let mut samples = Histogram::default();
    for r in 0..args.recoveries {
        let group = format!("histrec{r}");
        let mut member = Conn::open(&args.target, 2).await?;
        let stand = member.joined(&group).await?;
        let (epoch, from) = stand
            .split_once(' ')
            .ok_or_else(|| BenchError::Protocol(format!("JOINED {group} {stand}")))?;
        publisher
            .send(&publishes(&group, args.size, args.messages))
            .await?;
        member.skip_messages(args.messages).await?;
        drop(member);
        let mut back = Conn::open(&args.target, 3).await?;
        let start = Instant::now();
        let answer = back.joined(&format!("{group} {epoch} {from}")).await?;
        if !answer.ends_with(&format!(" RECOVERED {}", args.messages)) {
            return Err(BenchError::Protocol(format!(
                "JOINED {group} {answer}: not every message recovered (history_size too small?)"
            )));
        }
        back.skip_messages(args.messages).await?;
        samples.record(start.elapsed().as_nanos() as u64);
    }
    let ms = |nanos: u64| round3(nanos as f64 / 1e6);
    let p50 = samples.quantile(0.5) as f64 / 1e9;
    let grown = match (rss_before, rss_after) {
        (Some(before), Some(after)) if kept_messages > kept_before => Some(round3(
            after.saturating_sub(before) as f64 * 1024.0 / (kept_messages - kept_before) as f64,
        )),
        _ => None,
    };
    let report = HistoryReport {
        scenario: "history",
        groups: args.groups,
        messages: args.messages,
        size: args.size,
        kept_messages,
        kept_bytes,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        rss_per_message_bytes: grown,
        recoveries: args.recoveries,
        recover_p50_ms: ms(samples.quantile(0.5)),
        recover_p99_ms: ms(samples.quantile(0.99)),
        recover_max_ms: ms(samples.max()),
        replayed_per_s: round3(per_second(args.messages as f64, p50)),
    };
    super::to_json(&report)
}
