//! The server's two wire protocols of PROTOCOL.md: [`frame`] (length-prefixed binary
//! frames) and [`line`](mod@line) (newline-terminated text). Each is a codec and a per-connection
//! handler for the library's `Protocol` trait.

pub mod frame;
pub mod line;

#[cfg(test)]
pub(crate) mod testing;
