//! The hubs of one switchboard: one per thread that runs its connections, started by
//! the first connection on that thread, and the list a publisher sends each batch to.
//!
//! Connections only ever talk to the hub of their own thread for their memberships;
//! publishers (and the supervisor) send one message per batch to every hub.

use super::Hub;
use crate::Supervisor;
use actix::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::ThreadId;

/// A switchboard's hubs; cheap to clone (shared).
#[derive(Clone, Default)]
pub(crate) struct Hubs(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// Every hub, as one list publishers take a snapshot of per batch.
    all: RwLock<Arc<[Addr<Hub>]>>,
    /// The hub of each thread that has one.
    by_thread: Mutex<Vec<(ThreadId, Arc<Addr<Hub>>)>>,
    /// Publishers also tell the supervisor of each batch: set while it has a cluster
    /// link to tell, or members it delivers to itself (connections without a hub).
    notify_supervisor: AtomicBool,
}

impl Hubs {
    /// The hub of the current thread, started now if it has none yet (handing
    /// what its connections tell on to `supervisor`). Call it on an actix arbiter (from a connection
    /// actor).
    pub fn local(&self, supervisor: &Addr<Supervisor>) -> Arc<Addr<Hub>> {
        let thread = std::thread::current().id();
        let mut by_thread = self
            .0
            .by_thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, hub)) = by_thread.iter().find(|(t, _)| *t == thread) {
            return hub.clone();
        }
        let hub = Arc::new(Hub::new(supervisor.clone()).start());
        by_thread.push((thread, hub.clone()));
        let list: Arc<[Addr<Hub>]> = by_thread.iter().map(|(_, h)| (**h).clone()).collect();
        *self.0.all.write().unwrap_or_else(PoisonError::into_inner) = list;
        hub
    }

    /// Every hub started so far.
    pub fn all(&self) -> Arc<[Addr<Hub>]> {
        self.0
            .all
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether publishers must also tell the supervisor of each batch.
    pub fn notify_supervisor(&self) -> bool {
        self.0.notify_supervisor.load(SeqCst)
    }

    /// Sets whether publishers must also tell the supervisor of each batch.
    pub fn set_notify_supervisor(&self, notify: bool) {
        self.0.notify_supervisor.store(notify, SeqCst);
    }
}
