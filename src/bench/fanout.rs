//! `bench fanout`: `conns` receivers and one sender; the sender broadcasts `frames`
//! frames, each carrying its sequence number, and every receiver checks that it gets
//! every one, in order. Figures: deliveries per second (receivers only) from the first
//! frame sent to the last frame received, and whether the fan-out was complete and
//! ordered.
//!
//! Every connection does a PING/PONG before the first broadcast, so the server has
//! registered it; the sender reads its own copies too (BROADCAST includes the sender),
//! so that it never becomes a slow consumer itself.
//!
//! With `--receivers-addr`, the receivers connect to another server of the same cluster
//! and the figure is delivery across servers through NATS. That server subscribes to
//! the broadcasts only once it has connections, so the sender first broadcasts probe
//! frames (one byte longer than the measured ones, ignored by the receivers) until a
//! receiver sees one; the clock starts after that.

use super::client::{self, op, FrameReader};
use super::process::CpuWatch;
use super::progress::Progress;
use super::{per_second, round3, BenchError, Target};
use clap::Args;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::time::Instant;

/// Bytes of the sequence number at the front of each payload.
const SEQ_LEN: usize = 8;
/// Frames the sender writes per write.
const SEND_CHUNK: usize = 256;
/// Read buffer of one receiver.
const READ_BUFFER: usize = 16 * 1024;

/// The flags of `bench fanout`.
#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// Receiving connections (the sender is one more).
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Frames broadcast.
    #[arg(long, default_value_t = 1000)]
    pub frames: u64,
    /// Payload bytes per frame (at least 8: the sequence number).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Connect the receivers to this server instead: another node of the sender's
    /// cluster, for the cross-node figure.
    #[arg(long = "receivers-addr", value_name = "ADDR")]
    pub receivers_addr: Option<std::net::SocketAddr>,
    /// Seconds to wait for every delivery before reporting what arrived.
    #[arg(long = "timeout-s", default_value_t = 60.0)]
    pub timeout_s: f64,
}

/// What one receiver got.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// Broadcast frames received.
    pub count: u64,
    /// Whether each carried the next sequence number.
    pub in_order: bool,
    /// When the last expected frame arrived (none if it did not in time).
    pub done_at: Option<Instant>,
}

/// Reads `frames` broadcast frames of `size` bytes from `source`, checking their
/// order, until `deadline`.
pub async fn receive<R: AsyncRead + Unpin>(
    mut source: R,
    frames: u64,
    size: usize,
    deadline: Instant,
    delivered: &AtomicU64,
    probed: &AtomicBool,
) -> Result<Received, BenchError> {
    let mut reader = FrameReader::new(READ_BUFFER.max(2 * client::frame_len(size)));
    let mut got = Received {
        count: 0,
        in_order: true,
        done_at: None,
    };
    while got.count < frames {
        let read = match tokio::time::timeout_at(deadline, reader.fill(&mut source)).await {
            Ok(read) => read.map_err(BenchError::io("read broadcasts"))?,
            Err(_elapsed) => break,
        };
        if read == 0 {
            break;
        }
        let before = got.count;
        while let Some(frame) = reader.next_frame()? {
            if frame.opcode == op::BROADCAST && frame.payload.len() == size + 1 {
                // A probe of a cross-node run: not counted.
                probed.store(true, Ordering::Relaxed);
                continue;
            }
            if frame.opcode != op::BROADCAST || frame.payload.len() != size {
                return Err(client::unexpected(frame, "a BROADCAST delivery"));
            }
            let mut seq = [0u8; SEQ_LEN];
            seq.copy_from_slice(&frame.payload[..SEQ_LEN]);
            got.in_order &= u64::from_be_bytes(seq) == got.count;
            got.count += 1;
        }
        delivered.fetch_add(got.count - before, Ordering::Relaxed);
    }
    if got.count >= frames {
        got.done_at = Some(Instant::now());
    }
    got.in_order &= got.count == frames;
    Ok(got)
}

/// Writes `frames` BROADCAST frames numbered from 0, [`SEND_CHUNK`] per write.
async fn send<W: tokio::io::AsyncWrite + Unpin>(
    mut sink: W,
    frames: u64,
    size: usize,
) -> Result<W, BenchError> {
    let (frame_len, payload_at) = (client::frame_len(size), client::body_offset(size) + 1);
    let mut chunk = client::frame_batch(op::BROADCAST, size, SEND_CHUNK);
    let mut next = 0u64;
    while next < frames {
        let n = (frames - next).min(SEND_CHUNK as u64) as usize;
        for i in 0..n {
            let at = i * frame_len + payload_at;
            chunk[at..at + SEQ_LEN].copy_from_slice(&(next + i as u64).to_be_bytes());
        }
        sink.write_all(&chunk[..n * frame_len])
            .await
            .map_err(BenchError::io("send BROADCAST"))?;
        next += n as u64;
    }
    Ok(sink)
}

/// The JSON line of `bench fanout`.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    /// Always "fanout".
    pub scenario: &'static str,
    /// Receiving connections.
    pub conns: usize,
    /// Frames broadcast.
    pub frames: u64,
    /// Payload bytes per frame.
    pub size: usize,
    /// Frames received by the receivers.
    pub deliveries: u64,
    /// `conns * frames`.
    pub expected_deliveries: u64,
    /// Every receiver got every frame, in order.
    pub in_order: bool,
    /// From the first frame sent to the last frame received, seconds.
    pub elapsed_s: f64,
    /// Deliveries per second.
    pub deliveries_per_s: f64,
    /// The server's CPU seconds during the run (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// Deliveries per server CPU-second (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries_per_server_cpu_s: Option<f64>,
    /// The load generator's own CPU seconds.
    pub bench_cpu_s: f64,
}

/// Runs `bench fanout`.
pub async fn run(args: FanoutArgs) -> Result<serde_json::Value, BenchError> {
    if args.size < SEQ_LEN || args.size >= client::MAX_REPLY_BODY {
        return Err(BenchError::Usage(format!(
            "--size must be from {SEQ_LEN} (the sequence number) to {}",
            client::MAX_REPLY_BODY - 1
        )));
    }
    if args.conns == 0 || args.frames == 0 {
        return Err(BenchError::Usage(
            "--conns and --frames must be at least 1".to_owned(),
        ));
    }
    let timeout = Duration::try_from_secs_f64(args.timeout_s)
        .map_err(|_| BenchError::Usage("--timeout-s must be a positive number".to_owned()))?;
    let (mut streams, sender) = match args.receivers_addr {
        None => {
            let mut streams = client::open("fanout", args.target.addr, args.conns + 1).await?;
            let sender = streams.pop();
            (streams, sender)
        }
        Some(receivers) => {
            let streams = client::open("fanout", receivers, args.conns).await?;
            let sender = client::open("fanout", args.target.addr, 1).await?.pop();
            (streams, sender)
        }
    };
    let sender = sender.ok_or_else(|| BenchError::Usage("no sender".to_owned()))?;
    let (frames, size) = (args.frames, args.size);
    let expected = frames * args.conns as u64;
    let delivered = Arc::new(AtomicU64::new(0));
    let _progress = {
        let delivered = delivered.clone();
        Progress::start(move || {
            format!(
                "fanout: {}/{expected} deliveries",
                delivered.load(Ordering::Relaxed)
            )
        })
    };
    let deadline = Instant::now() + timeout;
    let probed = Arc::new(AtomicBool::new(args.receivers_addr.is_none()));
    let mut receivers = tokio::task::JoinSet::new();
    for stream in streams.drain(..) {
        let (delivered, probed) = (delivered.clone(), probed.clone());
        receivers.spawn(async move {
            receive(stream, frames, size, deadline, &delivered, &probed).await
        });
    }
    let (own_copies, mut sink) = sender.into_split();
    let own = tokio::spawn(async move {
        let (none, probes) = (AtomicU64::new(0), AtomicBool::new(false));
        receive(own_copies, frames, size, deadline, &none, &probes).await
    });
    let probe = client::frame_batch(op::BROADCAST, size + 1, 1);
    while !probed.load(Ordering::Relaxed) && Instant::now() < deadline {
        sink.write_all(&probe)
            .await
            .map_err(BenchError::io("send a probe"))?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu = CpuWatch::start(args.target.pid)?;
    let start = Instant::now();
    // Keep the write half until the end: dropping it would end the sender's stream.
    let _sink = send(sink, frames, size).await?;
    let mut deliveries = 0;
    let mut in_order = true;
    let mut end = start;
    while let Some(joined) = receivers.join_next().await {
        let got = joined.map_err(|e| BenchError::Protocol(format!("receiver task: {e}")))??;
        deliveries += got.count;
        in_order &= got.in_order;
        end = end.max(got.done_at.unwrap_or_else(Instant::now));
    }
    let used = cpu.stop()?;
    // The sender's own copies are not deliveries to receivers; they only must not fail.
    own.await
        .map_err(|e| BenchError::Protocol(format!("sender's reader: {e}")))??;
    let seconds = (end - start).as_secs_f64();
    let report = FanoutReport {
        scenario: "fanout",
        conns: args.conns,
        frames,
        size,
        deliveries,
        expected_deliveries: expected,
        in_order,
        elapsed_s: round3(seconds),
        deliveries_per_s: round3(per_second(deliveries as f64, seconds)),
        server_cpu_s: used.server,
        deliveries_per_server_cpu_s: used
            .server
            .map(|cpu| round3(per_second(deliveries as f64, cpu))),
        bench_cpu_s: used.bench,
    };
    super::to_json(&report)
}
