//! Every open connection's outbound queue, by id, for BROADCAST and STATS; and the
//! named groups, for PUBLISH.
//!
//! A broadcast takes the read lock once and appends the already-encoded frames (one
//! shared [`Bytes`]) to each member's queue; a member whose queue is full is aborted as a
//! slow consumer, the others are unaffected.

use crate::groups::Groups;
use crate::outbound::{Outbound, Refused};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The connections of the `frame` group.
#[derive(Debug, Default)]
pub struct Registry {
    /// Open connections by id.
    members: RwLock<HashMap<u64, Arc<Outbound>>>,
    /// The named groups.
    pub groups: Groups,
    /// Connections accepted since start; also the id source.
    accepted: AtomicU64,
    /// Answer each frame on its own instead of a read's run of ECHO or BROADCAST
    /// frames at once (`--per-frame`: shows what the batching is worth).
    pub per_frame: bool,
}

impl Registry {
    /// An empty registry; `per_frame` as the `--per-frame` flag.
    pub fn new(per_frame: bool) -> Self {
        Registry {
            per_frame,
            ..Registry::default()
        }
    }

    /// Adds a connection; returns its id.
    pub fn insert(&self, out: Arc<Outbound>) -> u64 {
        let id = self.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, out);
        id
    }

    /// Removes a connection (again is harmless).
    pub fn remove(&self, id: u64) {
        self.members
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.members.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Connections accepted since start.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Queues `frames` for every member, sender included.
    pub fn broadcast(&self, frames: &Bytes) {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        for member in members.values() {
            if member.push_bytes(frames) == Err(Refused::Full) {
                member.abort();
            }
        }
    }

    /// The minimal stats snapshot of PROTOCOL.md.
    pub fn stats_json(&self) -> String {
        format!(
            "{{\"connections\":{{\"frame\":{}}},\"accepted_total\":{}}}",
            self.len(),
            self.accepted()
        )
    }
}
