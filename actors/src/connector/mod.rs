//! The outbound side: dialing destinations and sending to them with acks.
//!
//! Switchboard dials connections and manages them as carefully as accepted ones. A
//! [`Destination`] actor per remote peer owns a pool of dialed connections (*senders*,
//! each an ordinary connection actor with the same bounded write path),
//! health-checks them, marks the peer up or down, and redials with jittered exponential
//! [`Backoff`]. [`send_to_many`] sends one packet to many destinations at once and
//! reports who acked and who is faulty, and why.
//!
//! One concept per file: `backoff.rs` (redial delays), `state.rs` (a sender's
//! lifecycle), `acks.rs` (matching answers to requests), `pool.rs` (idle and busy
//! senders, retirement), `health.rs` (up, down and missed checks, as pure logic),
//! `backend.rs` (the application's protocol side), `fault.rs` (why a destination did not
//! ack), `link.rs` (the destination's handle on one connection), `config.rs` and
//! `messages.rs` (what a destination is configured and told), `destination.rs` (the
//! actor, with its requests, dialling and health checks in `destination/`), `report.rs`
//! (what it says of itself), `many.rs` (send to many).

mod acks;
mod backend;
mod backoff;
mod config;
mod destination;
mod fault;
mod health;
mod link;
mod many;
mod messages;
mod pool;
mod report;
mod state;

pub use backend::{encode, Answer, Backend, Dialed, LinkEvent, LinkEventKind};
pub use backoff::Backoff;
pub use config::DestinationConfig;
pub use destination::Destination;
pub use fault::Fault;
pub use many::{send_to_many, Delivery, FaultyMember, Target};
pub use messages::{Describe, StopDestination, Transmit};
pub use pool::PoolConfig;
pub use report::{summary_state, DestinationReport, SenderReport};
pub use state::SenderState;
