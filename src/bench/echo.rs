//! `bench echo`: every connection keeps `window` ECHO frames in flight and sends a new
//! one for each reply, for `duration`; frames/s, payload MB/s and round-trip latency.
//!
//! Requests for a connection are written as one slice of a batch built once, and the
//! send time of each is kept in a ring the size of the window (the server answers a
//! connection's ECHOs in order), so a round trip costs no allocation. The [`slow`]
//! scenario reuses [`echo_connection`] for its well-behaved clients.
//!
//! With `--rate N` the connections send at a fixed rate instead (`paced.rs`): the
//! window keeps the server saturated and measures its throughput, the fixed rate
//! measures its latency under a load it can take.
//!
//! [`slow`]: super::slow

use super::client::{self, op, FrameReader};
use super::paced::{paced_connection, Pace};
use super::process::CpuWatch;
use super::progress::Progress;
use super::{per_second, round3, BenchError, Target};
use clap::Args;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard::probe::Histogram;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long after the end of the run a reply may still be awaited before the server
/// is declared stuck.
pub const REPLY_GRACE: Duration = Duration::from_secs(10);
/// Read buffer of one connection (grown for frames larger than half of it).
const READ_BUFFER: usize = 64 * 1024;

/// The flags of `bench echo`.
#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// Connections.
    #[arg(long, default_value_t = 100)]
    pub conns: usize,
    /// Payload bytes per frame.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Frames in flight per connection (not with --rate).
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Seconds of load.
    #[arg(long = "duration-s", default_value_t = 5.0)]
    pub duration_s: f64,
    /// Send this many frames per second in all, on a fixed schedule, instead of keeping
    /// a window of frames in flight.
    #[arg(long, value_name = "FRAMES_PER_S")]
    pub rate: Option<f64>,
}

/// Frames one write of the paced load carries at most.
const PACED_BATCH: usize = 64;

/// The load one echo connection generates.
#[derive(Debug, Clone)]
pub struct EchoLoad {
    /// `window` ECHO frames back to back; a prefix of it is what gets written.
    pub batch: Arc<Vec<u8>>,
    /// Payload bytes per frame.
    pub size: usize,
    /// Frames in flight.
    pub window: usize,
    /// Replies arriving after this are not counted, and the connection stops.
    pub deadline: Instant,
    /// Replies received by every connection, for progress.
    pub replies: Arc<AtomicU64>,
}

impl EchoLoad {
    /// The load for `size`-byte frames, `window` in flight, until `deadline`.
    pub fn new(size: usize, window: usize, deadline: Instant) -> Self {
        EchoLoad {
            batch: Arc::new(client::frame_batch(op::ECHO, size, window)),
            size,
            window,
            deadline,
            replies: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// What one echo connection measured.
#[derive(Debug, Clone, Default)]
pub struct EchoResult {
    /// Replies received before the deadline.
    pub frames: u64,
    /// Their round-trip times, in nanoseconds, to when the generator read the reply.
    pub latency: Histogram,
    /// Their round-trip times, in nanoseconds, to when the reply reached the
    /// generator's socket (the kernel's stamp): without the generator's own delays.
    pub arrival: Histogram,
    /// With a fixed rate: how late each write was against the schedule, nanoseconds.
    pub send_lag: Histogram,
    /// With a fixed rate: frames not sent because too many were in flight.
    pub skipped: u64,
}

impl EchoResult {
    /// One reply to a frame sent at `sent`, read at `read`, that reached the socket at
    /// `arrived` (if stamped).
    pub fn record(&mut self, sent: Instant, read: Instant, arrived: Option<Instant>) {
        self.frames += 1;
        self.latency.record((read - sent).as_nanos() as u64);
        if let Some(arrived) = arrived {
            let rtt = arrived.saturating_duration_since(sent).min(read - sent);
            self.arrival.record(rtt.as_nanos() as u64);
        }
    }

    /// Adds another connection's figures.
    pub fn merge(&mut self, other: &EchoResult) {
        self.frames += other.frames;
        self.latency.merge(&other.latency);
        self.arrival.merge(&other.arrival);
        self.send_lag.merge(&other.send_lag);
        self.skipped += other.skipped;
    }
}

/// Runs the echo load on one connection until the load's deadline.
pub async fn echo_connection(
    mut stream: TcpStream,
    load: EchoLoad,
) -> Result<EchoResult, BenchError> {
    let frame_len = client::frame_len(load.size);
    switchboard::probe::enable_timestamps(&stream);
    let mut reader = FrameReader::new(READ_BUFFER.max(2 * frame_len));
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(load.window);
    let mut credits = load.window;
    let mut result = EchoResult::default();
    loop {
        let now = Instant::now();
        if now >= load.deadline {
            return Ok(result);
        }
        if credits > 0 {
            stream
                .write_all(&load.batch[..credits * frame_len])
                .await
                .map_err(BenchError::io("send ECHO"))?;
            sent_at.extend(std::iter::repeat_n(now, credits));
            credits = 0;
        }
        let (read, arrived) =
            tokio::time::timeout_at(load.deadline + REPLY_GRACE, reader.fill_stamped(&stream))
                .await
                .map_err(|_| BenchError::Protocol("no ECHO reply for 10 s".to_owned()))?
                .map_err(BenchError::io("read ECHO replies"))?;
        if read == 0 {
            return Err(BenchError::Protocol(
                "the server closed an echo connection".to_owned(),
            ));
        }
        let now = Instant::now();
        let counted = now <= load.deadline;
        while let Some(frame) = reader.next_frame()? {
            if frame.opcode != op::ECHO || frame.payload.len() != load.size {
                return Err(client::unexpected(frame, "an ECHO reply"));
            }
            let sent = sent_at
                .pop_front()
                .ok_or_else(|| BenchError::Protocol("more replies than requests".to_owned()))?;
            if counted {
                result.record(sent, now, arrived);
            }
            credits += 1;
        }
        load.replies.fetch_add(credits as u64, Ordering::Relaxed);
    }
}

/// The JSON line of `bench echo`.
#[derive(Debug, Clone, Serialize)]
pub struct EchoReport {
    /// Always "echo".
    pub scenario: &'static str,
    /// Connections.
    pub conns: usize,
    /// Payload bytes per frame.
    pub size: usize,
    /// Frames in flight per connection (without --rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// Seconds of load.
    pub duration_s: f64,
    /// Replies received in that time.
    pub frames: u64,
    /// Replies per second.
    pub frames_per_s: f64,
    /// Replies to the connection that got the fewest, over the mean per connection:
    /// 1 when the server served every connection alike.
    pub fewest_conn_share: f64,
    /// Replies to the connection that got the most, over the mean per connection.
    pub most_conn_share: f64,
    /// Payload megabytes (10^6) per second, one direction.
    pub payload_mb_per_s: f64,
    /// Median round trip, microseconds.
    pub p50_us: f64,
    /// 99th percentile round trip, microseconds.
    pub p99_us: f64,
    /// 99.9th percentile round trip, microseconds.
    pub p999_us: f64,
    /// Median round trip to the reply's arrival at the generator's socket (the
    /// kernel's stamp), microseconds: the round trip without the generator's own
    /// delay in reading it.
    pub arrival_p50_us: f64,
    /// 99th percentile of the same.
    pub arrival_p99_us: f64,
    /// 99.9th percentile of the same.
    pub arrival_p999_us: f64,
    /// Slowest round trip, microseconds.
    pub max_us: f64,
    /// The offered rate, frames per second (with --rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_s: Option<f64>,
    /// 99th percentile of how late the generator's writes were against the schedule,
    /// microseconds (with --rate): when it nears the round trips, the generator was
    /// short of CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_lag_p99_us: Option<f64>,
    /// Frames due but not sent because [`paced::MAX_IN_FLIGHT`] were outstanding on
    /// their connection (with --rate).
    ///
    /// [`paced::MAX_IN_FLIGHT`]: super::paced::MAX_IN_FLIGHT
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    /// The server's CPU seconds during the load (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_s: Option<f64>,
    /// Replies per server CPU-second (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_per_server_cpu_s: Option<f64>,
    /// The load generator's own CPU seconds.
    pub bench_cpu_s: f64,
    /// Seconds the server's threads were runnable but waited for a CPU (with --pid):
    /// time the machine, not the server, kept requests waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_runqueue_wait_s: Option<f64>,
    /// Context switches of the server's threads, voluntary (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_voluntary_switches: Option<u64>,
    /// Context switches of the server's threads, forced by the scheduler (with --pid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_involuntary_switches: Option<u64>,
}

/// `frames` of one connection over the mean of `total` over `conns` (0 when none).
fn share(frames: u64, total: u64, conns: usize) -> f64 {
    if total == 0 {
        return 0.0;
    }
    frames as f64 * conns as f64 / total as f64
}

/// Microseconds, one decimal, from nanoseconds.
pub fn micros(nanos: u64) -> f64 {
    (nanos as f64 / 100.0).round() / 10.0
}

/// Checks the flags shared by `echo` and `slow`.
pub fn check_load(size: usize, window: usize, duration_s: f64) -> Result<Duration, BenchError> {
    if window == 0 {
        return Err(BenchError::Usage("--window must be at least 1".to_owned()));
    }
    if size >= client::MAX_REPLY_BODY {
        return Err(BenchError::Usage(format!(
            "--size must be below {} bytes",
            client::MAX_REPLY_BODY
        )));
    }
    Duration::try_from_secs_f64(duration_s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| BenchError::Usage("--duration-s must be a positive number".to_owned()))
}

/// Runs `bench echo`.
pub async fn run(args: EchoArgs) -> Result<serde_json::Value, BenchError> {
    let duration = check_load(args.size, args.window, args.duration_s)?;
    if args.conns == 0 {
        return Err(BenchError::Usage("--conns must be at least 1".to_owned()));
    }
    if let Some(rate) = args.rate {
        // At least one frame per connection per duration, at most one per microsecond.
        let per_conn = rate / args.conns as f64;
        if !(per_conn.is_finite() && per_conn * duration.as_secs_f64() >= 1.0 && per_conn <= 1e6) {
            return Err(BenchError::Usage(format!(
                "--rate must give each connection between one frame per run and 10^6 per second ({rate} over {} connections)",
                args.conns
            )));
        }
    }
    let streams = client::open("echo", args.target.addr, args.conns).await?;
    let cpu = CpuWatch::start(args.target.pid)?;
    let start = Instant::now();
    let window = match args.rate {
        Some(_) => PACED_BATCH,
        None => args.window,
    };
    let load = EchoLoad::new(args.size, window, start + duration);
    let replies = load.replies.clone();
    let _progress = Progress::start(move || {
        let elapsed = start.elapsed().as_secs_f64();
        let rate = per_second(replies.load(Ordering::Relaxed) as f64, elapsed);
        format!(
            "echo: {elapsed:.1}/{:.1} s, {rate:.0} frames/s",
            duration.as_secs_f64()
        )
    });
    let mut tasks = tokio::task::JoinSet::new();
    for (i, stream) in streams.into_iter().enumerate() {
        match args.rate {
            Some(rate) => {
                let pace = Pace::new(rate, args.conns, i, start);
                tasks.spawn(paced_connection(stream, load.clone(), pace))
            }
            None => tasks.spawn(echo_connection(stream, load.clone())),
        };
    }
    let mut total = EchoResult::default();
    let (mut fewest, mut most) = (u64::MAX, 0);
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| BenchError::Protocol(format!("echo task: {e}")))??;
        fewest = fewest.min(result.frames);
        most = most.max(result.frames);
        total.merge(&result);
    }
    let used = cpu.stop()?;
    let seconds = duration.as_secs_f64();
    let report = EchoReport {
        scenario: "echo",
        conns: args.conns,
        size: args.size,
        window: args.rate.is_none().then_some(args.window),
        duration_s: round3(seconds),
        frames: total.frames,
        frames_per_s: round3(per_second(total.frames as f64, seconds)),
        fewest_conn_share: round3(share(fewest, total.frames, args.conns)),
        most_conn_share: round3(share(most, total.frames, args.conns)),
        payload_mb_per_s: round3(
            per_second((total.frames * args.size as u64) as f64, seconds) / 1e6,
        ),
        p50_us: micros(total.latency.quantile(0.5)),
        p99_us: micros(total.latency.quantile(0.99)),
        p999_us: micros(total.latency.quantile(0.999)),
        arrival_p50_us: micros(total.arrival.quantile(0.5)),
        arrival_p99_us: micros(total.arrival.quantile(0.99)),
        arrival_p999_us: micros(total.arrival.quantile(0.999)),
        max_us: micros(total.latency.max()),
        offered_per_s: args.rate,
        send_lag_p99_us: args.rate.map(|_| micros(total.send_lag.quantile(0.99))),
        skipped: args.rate.map(|_| total.skipped),
        server_cpu_s: used.server,
        frames_per_server_cpu_s: used
            .server
            .map(|cpu| round3(per_second(total.frames as f64, cpu))),
        bench_cpu_s: used.bench,
        server_runqueue_wait_s: used.sched.map(|s| round3(s.runqueue_wait_ns as f64 / 1e9)),
        server_voluntary_switches: used.sched.map(|s| s.voluntary_switches),
        server_involuntary_switches: used.sched.map(|s| s.involuntary_switches),
    };
    super::to_json(&report)
}
