//! Where log lines go: standard error, filtered by `RUST_LOG` (`info` when unset).
//!
//! The library logs through `tracing`, each connection's events inside a span naming
//! its id, peer and protocol; dependencies that log through `log` (actix, the NATS
//! client) are forwarded into the same output.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the process's log output; a second call changes nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
