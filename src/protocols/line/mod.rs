//! The `line` protocol of PROTOCOL.md: newline-terminated text commands.
//!
//! [`LineCodec`] cuts the byte stream into lines; [`LineProtocol`] is the per-connection
//! handler the listeners run; [`stats_line`] and [`message_line`] write the lines the
//! server builds. What a line asks for is a [`Command`](crate::commands::Command),
//! parsed and applied in [`crate::commands`].

mod codec;
mod encode;
mod protocol;

pub use codec::{LineCodec, LineError};
pub use encode::{message_line, numbered_line, stats_line};
pub use protocol::LineProtocol;
