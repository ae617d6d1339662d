//! Scaffolding shared by the tests of the switchboard library and of the server, one
//! copy of each piece:
//!
//! - [`poll`]: waiting for a condition, always with a time limit ([`eventually`],
//!   [`until`], and [`wait_until`], [`wait_for`] for code outside a runtime);
//! - [`recorder`]: an actor that records the messages it is sent (removal events, for
//!   one), with a mailbox round trip as the barrier before reading them;
//! - [`cert`]: a self-signed certificate for `localhost`, as PEM files and as rustls
//!   server and client configurations;
//! - [`line`](mod@line): a newline-terminated text client over TCP or any byte stream;
//! - [`process`]: waiting for a child process to exit, and its memory figures;
//! - [`http`]: a GET from outside a process (a server's `/stats`);
//! - [`ws`]: a raw WebSocket client, frames built and read by hand.
//!
//! It depends on nothing of switchboard's, so the library's unit tests (inside the
//! crate, under `cfg(test)`), its integration tests and the server's tests all use the
//! same copy. What is specific to one of them stays with it: the server's `frame` client
//! and opcodes in `tests/support/`, the library's test protocols in
//! `actors/tests/common.rs`.
//!
//! Every wait here is bounded by [`WAIT`] unless the caller gives its own limit, so a
//! test that goes wrong fails within seconds instead of hanging.

pub mod cert;
pub mod http;
pub mod line;
pub mod poll;
pub mod process;
pub mod recorder;
pub mod ws;

pub use cert::TestCert;
pub use line::LineClient;
pub use poll::{eventually, until, wait_for, wait_until, POLL, WAIT};
pub use process::wait_exit;
pub use recorder::Recording;
pub use ws::WsClient;
