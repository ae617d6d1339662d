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
//! baseline-server [--frame ADDR] [--ws-frame ADDR] [--workers N] [--per-frame]
//! ```
//!
//! `--per-frame` answers every frame on its own, as a generic codec-and-handler
//! server must: each ECHO is split off as its own buffer and queued, each BROADCAST
//! is fanned out alone. By default consecutive ECHO (or BROADCAST) frames of one read
//! are answered with one queue operation per receiver.
//!
//! It prints `listening frame ADDR` once bound, like `switchboard serve`, and exits 0
//! on SIGINT or SIGTERM (without draining).

mod groups;
mod outbound;
mod reader;
mod registry;
mod wire;
mod writer;
mod ws;

use outbound::Outbound;
use reader::Reader;
use registry::Registry;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use writer::Writer;

/// Pause after a failed accept (out of file descriptors), so the loop never spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Pending connections the kernel holds before accepting (as Switchboard's).
const BACKLOG: u32 = 1024;

/// The command line.
struct Args {
    /// Where to listen.
    frame: SocketAddr,
    /// Where to listen for WebSocket clients, if anywhere.
    ws_frame: Option<SocketAddr>,
    /// Runtime worker threads (default: every core).
    workers: Option<usize>,
    /// Answer each frame on its own (default: a read's run of ECHO or BROADCAST
    /// frames at once).
    per_frame: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        frame: SocketAddr::from(([127, 0, 0, 1], 7700)),
        ws_frame: None,
        workers: None,
        per_frame: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--per-frame" {
            args.per_frame = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--frame" => {
                args.frame = value.parse().map_err(|e| format!("--frame {value}: {e}"))?;
            }
            "--ws-frame" => {
                let addr = value
                    .parse()
                    .map_err(|e| format!("--ws-frame {value}: {e}"))?;
                args.ws_frame = Some(addr);
            }
            "--workers" => {
                let n = value
                    .parse()
                    .map_err(|e| format!("--workers {value}: {e}"))?;
                args.workers = Some(n);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("baseline-server: {e}\nusage: baseline-server [--frame ADDR] [--ws-frame ADDR] [--workers N] [--per-frame]");
            std::process::exit(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        builder.worker_threads(n.max(1));
    }
    let result = builder
        .enable_all()
        .build()
        .and_then(|rt| rt.block_on(serve(args.frame, args.ws_frame, args.per_frame)));
    if let Err(e) = result {
        eprintln!("baseline-server: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr, ws: Option<SocketAddr>, per_frame: bool) -> std::io::Result<()> {
    let listener = bind(addr)?;
    let ws_listener = ws.map(bind).transpose()?;
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
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => start_connection(stream, &registry),
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

/// Binds like `switchboard::bind`: `SO_REUSEADDR` and a backlog of [`BACKLOG`]
/// (tokio's `TcpListener::bind` uses 128, which overflows under connect bursts).
fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
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
