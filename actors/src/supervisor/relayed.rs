//! What connections tell the supervisor and the stats, handed on by their thread's
//! hub in batches.
//!
//! A connection reports its counters every `stats_interval` while busy, and a closing
//! one has four things to say: its last counters, its removal and reason, its last
//! send failures, and that its actor stopped. Sent one message at a time, each wakes
//! the supervisor's thread, which is often parked; thousands of connections reporting
//! together, or hundreds of peers hanging up together, would wake it thousands of
//! times. A connection hands them to its hub instead (a message on its own thread),
//! and the hub sends everything its connections said during one of its turns as one
//! [`RelayedBatch`]. Each connection's own messages keep their order, and the
//! supervisor hands counters to the stats before it records the removal that follows
//! them, so whoever learns of the removal finds them current.

use super::{Deregister, Gone, Supervisor};
use crate::stats::{Failures, TrafficDelta};
use actix::prelude::*;

/// One thing a connection tells the supervisor or the stats.
pub(crate) enum Relayed {
    /// Its counters since its last report.
    Traffic(TrafficDelta),
    /// Its last send failures.
    Failures(Failures),
    /// It was removed, and why.
    Removed(Deregister),
    /// Its actor stopped.
    Gone(Gone),
}

/// What the connections of one thread said during one turn of their hub, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RelayedBatch(pub Vec<Relayed>);

impl Handler<RelayedBatch> for Supervisor {
    type Result = ();
    fn handle(&mut self, RelayedBatch(batch): RelayedBatch, ctx: &mut Context<Self>) {
        for relayed in batch {
            match relayed {
                Relayed::Traffic(delta) => self.stats.do_send(delta),
                Relayed::Failures(failures) => self.stats.do_send(failures),
                Relayed::Removed(removed) => {
                    <Self as Handler<Deregister>>::handle(self, removed, ctx);
                }
                Relayed::Gone(gone) => <Self as Handler<Gone>>::handle(self, gone, ctx),
            }
        }
    }
}
