//! The connection core: every decision about a connection, with no I/O.
//!
//! Nothing here uses actix, tokio or a socket, and nothing reads a clock: the time
//! comes in with each event. The actor in the runtime module owns a [`Conn`] and
//! carries out what it asks for; tests drive a [`Conn`] directly.

mod back_to_back;
pub mod budget;
mod conn;
pub(crate) mod failures;
mod ledger;
pub mod outbound;
mod packet_ends;
mod rate;
pub(crate) mod replies;
mod timers;

#[cfg(test)]
mod tests;

pub use back_to_back::{BackToBack, Handout};
pub use conn::{Conn, Event, Origin, Phase, RunPacket, Transmit};
