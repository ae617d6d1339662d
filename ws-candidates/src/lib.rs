//! The WebSocket implementations Switchboard could use, side by side: its own layer
//! (`switchboard::websocket`), tungstenite, tokio-websockets and fastwebsockets.
//!
//! [`cases`] holds a strictness suite (RFC 6455 rules by the categories of the
//! Autobahn|Testsuite) as client bytes and what a strict server must do with them;
//! [`drive`] runs each implementation as a server on those bytes, fed whole or a byte
//! at a time, and reports what it handed out and what it wrote back; [`wire`] writes
//! client frames and reads server frames. `tests/strictness.rs` runs the suite and
//! prints the table; `benches/websocket.rs` measures decoding and encoding; the binary
//! `at-rest` measures the memory a connection holds between messages.

pub mod cases;
pub mod drive;
pub mod feed;
pub mod wire;

/// The size limit every implementation is configured with in the suite.
pub const LIMIT: usize = 4096;
