//! The `line` protocol of PROTOCOL.md: newline-terminated text commands.
//!
//! [`LineCodec`] cuts the byte stream into lines; [`LineProtocol`] is the per-connection
//! handler the listeners run; [`stats_line`] and [`message_line`] write the lines the
//! server builds.

mod codec;
mod encode;
mod protocol;

pub use codec::{LineCodec, LineError};
pub use encode::{message_line, stats_line};
pub use protocol::LineProtocol;
