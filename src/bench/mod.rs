//! `switchboard bench <scenario>`: a load generator for any server speaking the
//! `frame` protocol of PROTOCOL.md, as `redis-benchmark` is for Redis.
//!
//! Each scenario (`echo`, `fanout`, `history`, `idle`, `rooms`, `slow`) runs on a multi-threaded tokio
//! runtime with one task per connection, pipelines its requests, reuses its buffers
//! (no allocation per frame) and ends by printing one JSON line of figures to standard
//! output. While it runs it shows its progress on standard error when that is a
//! terminal, and stays quiet otherwise. With `--pid` it also reads the server's CPU
//! time (and, where the scenario needs it, its resident memory) from `/proc`, so
//! results can be read per server CPU-second on a machine shared with the generator.
//! With `--ws`, `echo`, `fanout` and `idle` speak to a `ws_frame` listener instead:
//! the same frames, each the body of a WebSocket binary message.

pub mod client;
pub mod echo;
pub mod fanout;
pub mod history;
pub mod idle;
pub mod paced;
pub mod process;
pub mod progress;
pub mod rooms;
pub mod slow;

use clap::{Args, Subcommand};
use std::net::SocketAddr;

/// The arguments of `switchboard bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The scenario to run.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// Pipelined ECHO round trips, or ECHO at a fixed rate: frames/s, payload MB/s,
    /// latency percentiles.
    Echo(echo::EchoArgs),
    /// One sender broadcasts to many receivers: deliveries/s, order and completeness.
    Fanout(fanout::FanoutArgs),
    /// Many connections held open: server memory per connection (needs --pid).
    Idle(idle::IdleArgs),
    /// Group histories: memory per stored message (with --pid), time to recover.
    History(history::HistoryArgs),
    /// Many small named groups, each with its own publishers: deliveries/s and order.
    Rooms(rooms::RoomsArgs),
    /// ECHO load with one client that never reads: isolation, memory, its removal.
    Slow(slow::SlowArgs),
}

/// Where the server is, common to every scenario.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The server's `frame` listener.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7700")]
    pub addr: SocketAddr,
    /// The server's process id: adds its CPU seconds (and memory, where relevant).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Load generator threads (default: every core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Every connection authenticates with this token (AUTH) before anything else, for
    /// a server with users; BROADCAST (fanout) and REPLICATE need an admin's.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SWITCHBOARD_BENCH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The address is a `ws_frame` listener: every frame travels as the body of a
    /// WebSocket binary message (echo, fanout and idle).
    #[arg(long)]
    pub ws: bool,
}

/// Why a benchmark could not produce its figures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The arguments do not make a runnable scenario.
    #[error("{0}")]
    Usage(String),
    /// A socket or `/proc` operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server answered something the protocol does not allow here.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The report could not be made JSON.
    #[error("report: {0}")]
    Report(#[from] serde_json::Error),
}

impl BenchError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }
}

/// Runs `switchboard bench`; returns the process exit status (0, or 1 on failure).
pub fn run(args: BenchArgs) -> i32 {
    let target = match &args.scenario {
        Scenario::Echo(a) => &a.target,
        Scenario::Fanout(a) => &a.target,
        Scenario::Idle(a) => &a.target,
        Scenario::History(a) => &a.target,
        Scenario::Rooms(a) => &a.target,
        Scenario::Slow(a) => &a.target,
    };
    client::authenticate_with(target.token.clone());
    if target.ws {
        if matches!(args.scenario, Scenario::Rooms(_) | Scenario::Slow(_)) {
            eprintln!("switchboard bench: --ws is for echo, fanout and idle");
            return 1;
        }
        client::set_wire(client::Wire::WebSocket);
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = target.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchboard bench: cannot start the runtime: {e}");
            return 1;
        }
    };
    let report = runtime.block_on(async move {
        match args.scenario {
            Scenario::Echo(a) => echo::run(a).await,
            Scenario::Fanout(a) => fanout::run(a).await,
            Scenario::Idle(a) => idle::run(a).await,
            Scenario::History(a) => history::run(a).await,
            Scenario::Rooms(a) => rooms::run(a).await,
            Scenario::Slow(a) => slow::run(a).await,
        }
    });
    // Connections still held by tasks are dropped without waiting for them.
    runtime.shutdown_background();
    match report {
        Ok(json) => {
            println!("{json}");
            0
        }
        Err(e) => {
            eprintln!("switchboard bench: {e}");
            1
        }
    }
}

/// The JSON line of a scenario's report.
pub fn to_json(report: &impl serde::Serialize) -> Result<serde_json::Value, BenchError> {
    Ok(serde_json::to_value(report)?)
}

/// Rounds to three decimals, for readable JSON.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `count / seconds`, or 0 when no time passed.
pub fn per_second(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count / seconds
    } else {
        0.0
    }
}
