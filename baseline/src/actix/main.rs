//! `baseline-actix`: the `frame` protocol of PROTOCOL.md written the way a first actix
//! server is written, as the actix peer in Switchboard's benchmarks.
//!
//! One actor per connection (`session.rs`) reads its socket as a stream of frames
//! (a `FramedRead` added with `ctx.add_stream`) and writes through actix's
//! `FramedWrite`; broadcasts and group messages go through one registry actor
//! (`registry.rs`), which sends each member each frame as a message, as in actix's chat
//! example. Nothing clever: every frame is handled on its own, the write buffer is
//! unbounded (no slow-consumer rule) and there is no write timeout.
//!
//! ```text
//! baseline-actix [--frame ADDR] [--workers N]
//! ```
//!
//! Connections are handed to N arbiters (default: every core) in turn; accepting and
//! the registry run on the main thread. It prints `listening frame ADDR` once bound,
//! like `switchboard serve`, and exits 0 on SIGINT or SIGTERM (without draining).

mod codec;
mod registry;
mod session;

use actix::{Actor, Addr, Arbiter};
use registry::Registry;
use session::Session;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// Pause after a failed accept (out of file descriptors), so the loop never spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

fn main() {
    let args = match baseline::parse_args(std::env::args().skip(1), false) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("baseline-actix: {e}\nusage: baseline-actix [--frame ADDR] [--workers N]");
            std::process::exit(2);
        }
    };
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let system = actix_rt::System::new();
    if let Err(e) = system.block_on(serve(args.frame, workers.max(1))) {
        eprintln!("baseline-actix: {e}");
        std::process::exit(1);
    }
}

async fn serve(addr: SocketAddr, workers: usize) -> std::io::Result<()> {
    let listener = baseline::bind(addr)?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening frame {}", listener.local_addr()?)?;
        out.flush()?;
    }
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let registry: Addr<Registry> = Registry::default().start();
    let arbiters: Vec<Arbiter> = (0..workers).map(|_| Arbiter::new()).collect();
    let mut next = 0;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted.and_then(|(s, _)| s.into_std()) {
                Ok(stream) => {
                    // Registered with the reactor of the arbiter that runs it.
                    let registry = registry.clone();
                    arbiters[next % workers].spawn_fn(move || Session::start(stream, registry));
                    next += 1;
                }
                Err(e) => {
                    eprintln!("baseline-actix: accept: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = sigterm.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
    }
}
