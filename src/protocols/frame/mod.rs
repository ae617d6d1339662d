//! The `frame` protocol of PROTOCOL.md: length-prefixed binary frames.
//!
//! A frame on the wire is `length:u32 BE | opcode:u8 | payload[length-1]`, where
//! `length` counts the body (opcode and payload). [`Frame`] is one body and names the
//! opcodes; [`FrameCodec`] cuts the byte stream into frames; [`FrameProtocol`] is the
//! per-connection handler the listeners run. What a frame asks for is a
//! [`Command`](crate::commands::Command), parsed and applied in [`crate::commands`].

mod codec;
mod packet;
mod protocol;

pub use codec::{FrameCodec, FrameError, HEADER_LEN};
pub use packet::{json_frame, message_frame, numbered_frame, stats_frame, Frame};
pub use protocol::FrameProtocol;
