//! `bench slow`: `conns - 1` clients run the echo load while one more client sends
//! ECHO frames as fast as it can and never reads a reply. Figures: the others'
//! frames/s and latency (compare with `--no-slow`, the same run without the slow
//! client), the server's resident-memory growth and CPU, and when the slow client was
//! closed.
//!
//! The slow client cannot see the server's write-progress clock, so it watches its
//! own receive queue (`FIONREAD`) every 10 ms: the server's last write progress is
//! when that queue last grew (`slow_stalled_after_s`), and the gap from there to the
//! reset is what a `write_timeout` should be (`slow_closed_after_stall_s`).

use super::client::{self, op};
use super::echo::{self, EchoLoad, EchoResult};
use super::process::{CpuWatch, Proc};
use super::progress::Progress;
use super::{per_second, round3, BenchError, Target};
use clap::Args;
use serde::Serialize;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the slow client looks at its receive queue.
const WATCH_TICK: Duration = Duration::from_millis(10);
/// How often the server's memory is sampled.
const RSS_TICK: Duration = Duration::from_millis(50);

/// The flags of `bench slow`.
#[derive(Debug, Clone, Args)]
pub struct SlowArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// Connections, the slow one included.
    #[arg(long, default_value_t = 20)]
    pub conns: usize,
    /// Payload bytes per frame of the well-behaved clients.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Frames in flight per well-behaved client.
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Seconds of load (longer than the server's write_timeout to see the closure).
    #[arg(long = "duration-s", default_value_t = 12.0)]
    pub duration_s: f64,
    /// Payload bytes per frame of the slow client.
    #[arg(long = "slow-size", default_value_t = 16 * 1024)]
    pub slow_size: usize,
    /// Leave the slow client out: the reference run.
    #[arg(long = "no-slow")]
    pub no_slow: bool,
}

/// What happened to the slow client.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlowOutcome {
    /// When the server reset or closed it.
    pub closed_at: Option<Instant>,
    /// When its receive queue last grew (the server's last write progress).
    pub stalled_at: Option<Instant>,
    /// Bytes it managed to send.
    pub sent_bytes: u64,
}

/// Bytes waiting in the socket's receive queue.
fn receive_queue(stream: &TcpStream) -> Option<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer; the fd is open for the call.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut queued) };
    (rc == 0).then_some(queued.max(0) as usize)
}

/// Sends ECHO frames without ever reading, until the server closes the connection
/// or `deadline`.
pub async fn slow_client(stream: TcpStream, size: usize, deadline: Instant) -> SlowOutcome {
    let batch = client::frame_batch(op::ECHO, size, 4);
    let mut offset = 0;
    let mut outcome = SlowOutcome::default();
    let mut last_queue = 0;
    let mut ticks = tokio::time::interval(WATCH_TICK);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ready = stream.writable() => {
                let written = ready.and_then(|()| stream.try_write(&batch[offset..]));
                match written {
                    Ok(n) => {
                        offset = (offset + n) % batch.len();
                        outcome.sent_bytes += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        outcome.closed_at = Some(Instant::now());
                        return outcome;
                    }
                }
            }
            _ = ticks.tick() => {
                let now = Instant::now();
                if now >= deadline {
                    return outcome;
                }
                if let Some(queued) = receive_queue(&stream) {
                    if queued > last_queue {
                        last_queue = queued;
                        outcome.stalled_at = Some(now);
                    }
                }
            }
        }
    }
}

/// Samples the server's resident memory until `deadline`; returns (first, largest), KiB.
async fn sample_rss(server: Proc, deadline: Instant) -> Result<(u64, u64), BenchError> {
    let first = server.rss_kib()?;
    let mut largest = first;
    while Instant::now() < deadline {
        tokio::time::sleep(RSS_TICK).await;
        largest = largest.max(server.rss_kib()?);
    }
    Ok((first, largest))
}

/// The JSON line of `bench slow`.
#[derive(Debug, Clone, Serialize)]
pub struct SlowReport {
    /// Always "slow".
    pub scenario: &'static str,
    /// Connections, the slow one included.
    pub conns: usize,
    /// Whether the slow client took part (false: the reference run).
    pub slow_client: bool,
    /// Payload bytes per frame of the well-behaved clients.
    pub size: usize,
    /// Frames in flight per well-behaved client.
    pub window: usize,
    /// Seconds of load.
    pub duration_s: f64,
    /// Replies the well-behaved clients received.
    pub others_frames: u64,
    /// Their replies per second.
    pub others_frames_per_s: f64,
    /// Their median round trip, microseconds.
    pub p50_us: f64,
    /// Their 99th percentile round trip, microseconds.
    pub p99_us: f64,
    /// Their slowest round trip, microseconds.
    pub max_us: f64,
    /// The server's resident memory at the start, KiB (with --pid).
    pub rss_start_kib: Option<u64>,
    /// Its largest resident memory during the run, KiB (with --pid).
    pub rss_max_kib: Option<u64>,
    /// `rss_max_kib - rss_start_kib` (with --pid).
    pub rss_growth_kib: Option<u64>,
    /// Seconds from the start until the server closed the slow client.
    pub slow_closed_after_s: Option<f64>,
    /// Seconds from the start until the slow client's receive queue last grew.
    pub slow_stalled_after_s: Option<f64>,
    /// Seconds from that stall to the closure: the write timeout as observed.
    pub slow_closed_after_stall_s: Option<f64>,
    /// Bytes the slow client sent.
    pub slow_sent_bytes: u64,
    /// The server's CPU seconds during the run (with --pid).
    pub server_cpu_s: Option<f64>,
    /// The load generator's own CPU seconds.
    pub bench_cpu_s: f64,
}

/// Runs `bench slow`.
pub async fn run(args: SlowArgs) -> Result<serde_json::Value, BenchError> {
    let duration = echo::check_load(args.size, args.window, args.duration_s)?;
    if args.conns < 2 {
        return Err(BenchError::Usage("--conns must be at least 2".to_owned()));
    }
    let others = args.conns - 1;
    let streams = client::open("slow", args.target.addr, others).await?;
    let slow_stream = if args.no_slow {
        None
    } else {
        let mut stream = client::connect(args.target.addr, others).await?;
        client::handshake(&mut stream).await?;
        Some(stream)
    };
    let cpu = CpuWatch::start(args.target.pid)?;
    let start = Instant::now();
    let deadline = start + duration;
    let rss = args
        .target
        .pid
        .map(|pid| tokio::spawn(sample_rss(Proc::Pid(pid), deadline)));
    let load = EchoLoad::new(args.size, args.window, deadline);
    let replies = load.replies.clone();
    let _progress = Progress::start(move || {
        let elapsed = start.elapsed().as_secs_f64();
        let rate = per_second(replies.load(Ordering::Relaxed) as f64, elapsed);
        format!(
            "slow: {elapsed:.1}/{:.1} s, others {rate:.0} frames/s",
            duration.as_secs_f64()
        )
    });
    let mut tasks = tokio::task::JoinSet::new();
    for stream in streams {
        tasks.spawn(echo::echo_connection(stream, load.clone()));
    }
    let slow_size = args.slow_size;
    let slow = slow_stream.map(|s| tokio::spawn(slow_client(s, slow_size, deadline)));
    let mut total = EchoResult::default();
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| BenchError::Protocol(format!("echo task: {e}")))??;
        total.merge(&result);
    }
    let outcome = match slow {
        Some(task) => task
            .await
            .map_err(|e| BenchError::Protocol(format!("slow client: {e}")))?,
        None => SlowOutcome::default(),
    };
    let used = cpu.stop()?;
    let rss = match rss {
        Some(task) => Some(
            task.await
                .map_err(|e| BenchError::Protocol(format!("memory sampler: {e}")))??,
        ),
        None => None,
    };
    let since_start = |t: Option<Instant>| t.map(|t| round3((t - start).as_secs_f64()));
    let seconds = duration.as_secs_f64();
    let report = SlowReport {
        scenario: "slow",
        conns: args.conns,
        slow_client: !args.no_slow,
        size: args.size,
        window: args.window,
        duration_s: round3(seconds),
        others_frames: total.frames,
        others_frames_per_s: round3(per_second(total.frames as f64, seconds)),
        p50_us: echo::micros(total.latency.quantile(0.5)),
        p99_us: echo::micros(total.latency.quantile(0.99)),
        max_us: echo::micros(total.latency.max()),
        rss_start_kib: rss.map(|(first, _)| first),
        rss_max_kib: rss.map(|(_, largest)| largest),
        rss_growth_kib: rss.map(|(first, largest)| largest - first),
        slow_closed_after_s: since_start(outcome.closed_at),
        slow_stalled_after_s: since_start(outcome.stalled_at),
        slow_closed_after_stall_s: outcome
            .closed_at
            .zip(outcome.stalled_at)
            .map(|(closed, stalled)| round3((closed - stalled).as_secs_f64())),
        slow_sent_bytes: outcome.sent_bytes,
        server_cpu_s: used.server,
        bench_cpu_s: used.bench,
    };
    super::to_json(&report)
}
