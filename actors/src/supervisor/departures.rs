//! What connections tell the supervisor as they go, handed on by their thread's hub
//! in batches.
//!
//! A closing connection has four things to say: its last counters (for the stats),
//! its removal and reason, its last send failures, and that its actor stopped. Said
//! one message at a time, each wakes the supervisor's thread; when hundreds of peers
//! hang up together that is hundreds of wake-ups of a thread that may be parked. The
//! connection hands them to its hub instead (a message on its own thread), and the
//! hub sends everything its connections said during one of its turns as one
//! [`Departures`]. Each connection's own messages keep their order, and the supervisor
//! hands the counters to the stats before it records the removal, so whoever learns of
//! the removal finds them current.

use super::{Deregister, Gone, Supervisor};
use crate::stats::{Failures, TrafficDelta};
use actix::prelude::*;

/// One thing a closing connection tells.
pub(crate) enum Departure {
    /// Its last counters.
    Traffic(TrafficDelta),
    /// Its last send failures.
    Failures(Failures),
    /// It was removed, and why.
    Removed(Deregister),
    /// Its actor stopped.
    Gone(Gone),
}

/// What the connections of one thread said as they went, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Departures(pub Vec<Departure>);

impl Handler<Departures> for Supervisor {
    type Result = ();
    fn handle(&mut self, Departures(departures): Departures, ctx: &mut Context<Self>) {
        for departure in departures {
            match departure {
                Departure::Traffic(delta) => self.stats.do_send(delta),
                Departure::Failures(failures) => self.stats.do_send(failures),
                Departure::Removed(removed) => {
                    <Self as Handler<Deregister>>::handle(self, removed, ctx);
                }
                Departure::Gone(gone) => <Self as Handler<Gone>>::handle(self, gone, ctx),
            }
        }
    }
}
