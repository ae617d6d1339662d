//! What the two baseline servers share: the `frame` wire format (`wire`) and how they
//! bind. `baseline-server` (plain tokio, batching or `--per-frame`) and `baseline-actix`
//! (one actix actor per connection, written the obvious way) are the hand-written peers
//! Switchboard's benchmarks compare against.

pub mod wire;

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel holds before accepting (as Switchboard's).
pub const BACKLOG: u32 = 1024;

/// Binds like `switchboard::bind`: `SO_REUSEADDR` and a backlog of [`BACKLOG`]
/// (tokio's `TcpListener::bind` uses 128, which overflows under connect bursts).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The command line.
pub struct Args {
    /// Where to listen.
    pub frame: SocketAddr,
    /// Where to listen for WebSocket clients, if anywhere (`baseline-server` only).
    pub ws_frame: Option<SocketAddr>,
    /// Runtime worker threads (default: every core).
    pub workers: Option<usize>,
    /// Answer each frame on its own (default: a read's run of ECHO or BROADCAST
    /// frames at once).
    pub per_frame: bool,
    /// Run each connection on one single-threaded runtime per worker thread, handed
    /// out in turn, as actix's arbiters do (default: one work-stealing runtime).
    pub pinned: bool,
}

/// Parses the flags (without the program name); `--per-frame`, `--pinned` and
/// `--ws-frame` only where `tokio_flags` (for `baseline-server`).
pub fn parse_args(
    flags: impl IntoIterator<Item = String>,
    tokio_flags: bool,
) -> Result<Args, String> {
    let mut args = Args {
        frame: SocketAddr::from(([127, 0, 0, 1], 7700)),
        ws_frame: None,
        workers: None,
        per_frame: false,
        pinned: false,
    };
    let mut it = flags.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--per-frame" || flag == "--pinned" {
            if !tokio_flags {
                return Err(format!("unknown flag {flag}"));
            }
            match flag.as_str() {
                "--per-frame" => args.per_frame = true,
                _ => args.pinned = true,
            }
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--frame" => {
                args.frame = value.parse().map_err(|e| format!("--frame {value}: {e}"))?;
            }
            "--ws-frame" if tokio_flags => {
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
