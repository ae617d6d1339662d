//! The supervisor driven through its messages, with stand-in members in place of
//! connections: the registry (broadcasts, refusals, sweeps, removals, shutdown,
//! inspection), named groups, and what a cluster link is told.

mod cluster;
mod groups;
mod registry;

use crate::ConnectionRemoved;
use actix::{Actor, Addr, Context, Handler};
use std::sync::{Arc, Mutex};

/// Records the removals it is told of.
struct Removals(Arc<Mutex<Vec<ConnectionRemoved>>>);

impl Actor for Removals {
    type Context = Context<Self>;
}

impl Handler<ConnectionRemoved> for Removals {
    type Result = ();
    fn handle(&mut self, event: ConnectionRemoved, _: &mut Context<Self>) {
        if let Ok(mut removed) = self.0.lock() {
            removed.push(event);
        }
    }
}

/// Subscribes a fresh recorder to `supervisor`'s removals; returns what it records.
fn record_removals(supervisor: &Addr<super::Supervisor>) -> Arc<Mutex<Vec<ConnectionRemoved>>> {
    let removed = Arc::new(Mutex::new(Vec::new()));
    supervisor.do_send(super::Subscribe(
        Removals(removed.clone()).start().recipient(),
    ));
    removed
}
