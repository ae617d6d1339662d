//! Named groups for JOIN, LEAVE and PUBLISH: members' queues by group name, behind one
//! read-mostly lock (the name rules are in `wire`).
//!
//! A PUBLISH becomes a MESSAGE frame with the very same payload, built once and queued
//! to every member (the publisher too, if it is one); a member whose queue is full is
//! aborted as a slow consumer, the others are unaffected.

use crate::outbound::{Outbound, Refused};
use baseline::wire;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Members of every named group with at least one member.
#[derive(Debug, Default)]
pub struct Groups {
    /// Members' queues by group name, then by connection id.
    rooms: RwLock<HashMap<Bytes, HashMap<u64, Arc<Outbound>>>>,
}

impl Groups {
    /// Adds connection `id` (whose queue is `out`) to `name`.
    pub fn join(&self, name: &[u8], id: u64, out: &Arc<Outbound>) {
        let mut rooms = self.rooms.write().unwrap_or_else(|p| p.into_inner());
        rooms
            .entry(Bytes::copy_from_slice(name))
            .or_default()
            .insert(id, out.clone());
    }

    /// Removes connection `id` from `name` (a no-op if it is not a member).
    pub fn leave(&self, name: &[u8], id: u64) {
        let mut rooms = self.rooms.write().unwrap_or_else(|p| p.into_inner());
        if let Some(members) = rooms.get_mut(name) {
            members.remove(&id);
            if members.is_empty() {
                rooms.remove(name);
            }
        }
    }

    /// Queues a MESSAGE frame with `payload` (a PUBLISH's) for every member of `name`.
    pub fn publish(&self, name: &[u8], payload: &[u8]) {
        let rooms = self.rooms.read().unwrap_or_else(|p| p.into_inner());
        let Some(members) = rooms.get(name) else {
            return;
        };
        let mut frame = BytesMut::new();
        wire::put_frame(&mut frame, wire::MESSAGE, payload);
        let frame = frame.freeze();
        for member in members.values() {
            if member.push_bytes(&frame) == Err(Refused::Full) {
                member.abort();
            }
        }
    }
}
