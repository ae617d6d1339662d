//! `baseline-server`: the `frame` protocol of PROTOCOL.md written by hand on plain
//! tokio, as the opponent in Switchboard's benchmarks.
//!
//! It is meant to be what an expert would write without actors: a multi-threaded
//! runtime using every core, a reader task and a writer task per connection, an
//! outbound queue bounded in bytes (4 MiB) with vectored writes and a 10 s write
//! timeout, and broadcast encoded once through a shared registry. It answers ECHO,
//! BROADCAST, PING, STATS (connections only), and JOIN, LEAVE and PUBLISH to named
//! groups (a MESSAGE built once per publish), counts error packets (closing at 3)
//! and closes on an oversize frame. It keeps no send-failure records, no idle sweep
//! and no stats beyond the connection count: everything Switchboard does on top is
//! extra work the baseline is spared.
//!
//! With `--ws-frame ADDR` it also serves the `frame` protocol over WebSocket (`ws.rs`):
//! frame bodies in binary messages, as `switchboard serve`'s `ws_frame`, on the same
//! sans-IO WebSocket layer, for the WebSocket benchmarks (ECHO, BROADCAST among the
//! WebSocket connections, PING).
//!
//! ```text
//! baseline-server [--frame ADDR] [--ws-frame ADDR] [--workers N] [--per-frame] [--pinned]
//! ```
//!
//! `--per-frame` answers every frame on its own, as a generic codec-and-handler
//! server must: each ECHO is split off as its own buffer and queued, each BROADCAST
//! is fanned out alone. By default consecutive ECHO (or BROADCAST) frames of one read
//! are answered with one queue operation per receiver.
//!
//! `--pinned` runs each connection's tasks on one of N single-threaded runtimes, each
//! on its own thread, handed out in turn (as actix's arbiters, and so Switchboard, run
//! connections): a connection is served only when its thread has a CPU. By default
//! the runtime's worker threads steal each other's tasks.
//!
//! It prints `listening frame ADDR` once bound, like `switchboard serve`, and exits 0
//! on SIGINT or SIGTERM (without draining).

mod groups;
mod outbound;
mod reader;
mod registry;
mod writer;
mod ws;

use outbound::Outbound;
use reader::Reader;
use registry::Registry;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::signal::unix::{signal, SignalKind};
use writer::Writer;

/// Pause after a failed accept (out of file descriptors), so the loop never spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

fn main() {
    let args = match baseline::parse_args(std::env::args().skip(1), true) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("baseline-server: {e}\nusage: baseline-server [--frame ADDR] [--ws-frame ADDR] [--workers N] [--per-frame] [--pinned]");
            std::process::exit(2);
        }
    };
    let result = if args.pinned {
        let workers = args.workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        pinned_runtimes(workers.max(1)).and_then(|pinned| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(serve(args.frame, args.ws_frame, args.per_frame, pinned))
        })
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = args.workers {
            builder.worker_threads(n.max(1));
        }
        builder.enable_all().build().and_then(|rt| {
            rt.block_on(serve(args.frame, args.ws_frame, args.per_frame, Vec::new()))
        })
    };
    if let Err(e) = result {
        eprintln!("baseline-server: {e}");
        std::process::exit(1);
    }
}

/// Starts `n` threads, each running a single-threaded runtime until the process ends;
/// answers their handles.
fn pinned_runtimes(n: usize) -> std::io::Result<Vec<Handle>> {
    (0..n)
        .map(|i| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name(format!("pinned-{i}"))
                .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
            Ok(handle)
        })
        .collect()
}

/// Accepts until a signal; each connection runs on the current runtime, or on the
/// `pinned` runtimes in turn when there are any (WebSocket connections, on `ws`,
/// always run on the current runtime).
async fn serve(
    addr: SocketAddr,
    ws: Option<SocketAddr>,
    per_frame: bool,
    pinned: Vec<Handle>,
) -> std::io::Result<()> {
    let listener = baseline::bind(addr)?;
    let ws_listener = ws.map(baseline::bind).transpose()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening frame {}", listener.local_addr()?)?;
        if let Some(ws) = &ws_listener {
            writeln!(out, "listening ws_frame {}", ws.local_addr()?)?;
        }
        out.flush()?;
    }
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let registry = Arc::new(Registry::new(per_frame));
    if let Some(ws_listener) = ws_listener {
        // The WebSocket connections broadcast among themselves, framed once per batch.
        let ws_registry = Arc::new(Registry::new(per_frame));
        tokio::spawn(async move {
            loop {
                match ws_listener.accept().await {
                    Ok((stream, _peer)) => start_ws_connection(stream, &ws_registry),
                    Err(e) => {
                        eprintln!("baseline-server: accept: {e}");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                }
            }
        });
    }
    let mut next = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) if pinned.is_empty() => start_connection(stream, &registry),
                Ok((stream, _peer)) => {
                    // Registered with the reactor of the runtime that runs it.
                    let Ok(stream) = stream.into_std() else { continue };
                    let registry = registry.clone();
                    pinned[next % pinned.len()].spawn(async move {
                        match TcpStream::from_std(stream) {
                            Ok(stream) => start_connection(stream, &registry),
                            Err(e) => eprintln!("baseline-server: register a connection: {e}"),
                        }
                    });
                    next += 1;
                }
                Err(e) => {
                    eprintln!("baseline-server: accept: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = sigterm.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
    }
}

/// Registers a WebSocket connection and starts its reader and writer tasks.
fn start_ws_connection(stream: TcpStream, registry: &Arc<Registry>) {
    let _ = stream.set_nodelay(true);
    let out = Arc::new(Outbound::default());
    let id = registry.insert(out.clone());
    let (read_half, write_half) = stream.into_split();
    let reader = ws::WsReader::new(id, read_half, out.clone(), registry.clone());
    let reader = tokio::spawn(reader.run()).abort_handle();
    tokio::spawn(
        Writer {
            id,
            socket: write_half,
            out,
            registry: registry.clone(),
            reader,
        }
        .run(),
    );
}

/// Registers the connection and starts its reader and writer tasks.
fn start_connection(stream: TcpStream, registry: &Arc<Registry>) {
    // Replies are batched by the queue already; do not let Nagle delay them.
    let _ = stream.set_nodelay(true);
    let out = Arc::new(Outbound::default());
    let id = registry.insert(out.clone());
    let (read_half, write_half) = stream.into_split();
    let reader = Reader::new(id, read_half, out.clone(), registry.clone());
    let reader = tokio::spawn(reader.run()).abort_handle();
    tokio::spawn(
        Writer {
            id,
            socket: write_half,
            out,
            registry: registry.clone(),
            reader,
        }
        .run(),
    );
}
