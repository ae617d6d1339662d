//! `bench idle`: opens `conns` connections (spread over loopback source addresses),
//! confirms each with a PING/PONG, lets the server settle, and reports how much its
//! resident memory grew per connection. Needs `--pid`.

use super::client;
use super::process::{CpuWatch, Proc};
use super::{round3, BenchError, Target};
use clap::Args;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// The flags of `bench idle`.
#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// The server (`--pid` is required).
    #[command(flatten)]
    pub target: Target,
    /// Connections to hold.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    /// Seconds to wait after the last connection before measuring (timers, batched
    /// stats and lazily freed buffers settle).
    #[arg(long = "settle-s", default_value_t = 1.0)]
    pub settle_s: f64,
}

/// The JSON line of `bench idle`.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// Always "idle".
    pub scenario: &'static str,
    /// Connections held.
    pub conns: usize,
    /// The server's resident memory before connecting, KiB.
    pub rss_before_kib: u64,
    /// Its resident memory with every connection held, KiB.
    pub rss_after_kib: u64,
    /// `(after - before) / conns`, bytes.
    pub rss_per_conn_bytes: f64,
    /// Seconds to open and confirm every connection.
    pub connect_s: f64,
    /// The server's CPU seconds while connecting and settling.
    pub server_cpu_s: Option<f64>,
    /// The load generator's own CPU seconds.
    pub bench_cpu_s: f64,
}

/// Runs `bench idle`.
pub async fn run(args: IdleArgs) -> Result<serde_json::Value, BenchError> {
    let pid = args.target.pid.ok_or_else(|| {
        BenchError::Usage("idle measures the server's memory: give --pid".to_owned())
    })?;
    if args.conns == 0 {
        return Err(BenchError::Usage("--conns must be at least 1".to_owned()));
    }
    let settle = Duration::try_from_secs_f64(args.settle_s)
        .map_err(|_| BenchError::Usage("--settle-s must be a number >= 0".to_owned()))?;
    let server = Proc::Pid(pid);
    let rss_before = server.rss_kib()?;
    let cpu = CpuWatch::start(Some(pid))?;
    let start = Instant::now();
    let streams = client::open("idle", args.target.addr, args.conns).await?;
    let connect_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let rss_after = server.rss_kib()?;
    let used = cpu.stop()?;
    drop(streams);
    let grown = rss_after.saturating_sub(rss_before) as f64 * 1024.0;
    let report = IdleReport {
        scenario: "idle",
        conns: args.conns,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        rss_per_conn_bytes: round3(grown / args.conns as f64),
        connect_s: round3(connect_s),
        server_cpu_s: used.server,
        bench_cpu_s: used.bench,
    };
    super::to_json(&report)
}
