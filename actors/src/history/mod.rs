//! Group history: one order per group with offsets, epochs, and joining at a position.
//!
//! With a [`HistoryConfig`] in [`SwitchboardConfig::history`](crate::SwitchboardConfig),
//! every named group matching one of its patterns keeps its last messages (at most
//! `size` per group, each for at most `ttl`, all groups together within `max_bytes`),
//! so that a member whose connection broke can come back without losing a message.
//!
//! - **One order.** Messages to a history group are numbered by the group's sequencer,
//!   one owner per group (the groups are sharded over the worker threads by the hash of
//!   their name), and reach every member in that order, each with its offset: 1, 2, 3,
//!   ... in one [`Epoch`]. Each publisher's order is kept. A publisher that is a member
//!   gets its own message back in the group's order too, before the replies to the
//!   requests it sent after publishing. Groups without history keep the plain path.
//! - **The offset on the wire** is the protocol's choice: its [`GroupEncoder`](crate::GroupEncoder) writes a
//!   numbered message with [`GroupEncoder::with_offsets`](crate::GroupEncoder::with_offsets).
//! - **Joining at a position.** [`Outbox::join_from`](crate::Outbox::join_from) joins
//!   and, for a history group, answers with a [`Joined`] saying where the history
//!   stands: the epoch and the offset of the last message before the join; from a
//!   [`Position`], either the missed messages, replayed in order and followed by the
//!   live ones with no gap and no duplicate ([`Recovery::Recovered`]), or
//!   [`Recovery::Lost`] when they are not all kept any more (another epoch, expired,
//!   dropped for the budget, or an offset beyond the current one).
//! - **Epochs** change when the offsets can no longer be vouched for: at every start
//!   of the process, and when a group without members has had every message of its
//!   history expire. While members remain, a history whose messages all expired keeps
//!   its epoch and its last offset.
//! - **Memory.** A message is kept once, its bytes shared with every delivery of it.
//!   Past `max_bytes` (each message counting its length plus a fixed bookkeeping cost,
//!   [`ENTRY_OVERHEAD`]), the oldest messages of the largest histories are dropped
//!   first.
//! - **A cluster** numbers per node: each node numbers every message it receives for a
//!   history group, from other nodes too, and keeps listening for a group while it keeps
//!   its history, members or not. A member recovers on the node it left.
//!
//! The history store, the sequencers and a member's side of the stream are plain data
//! in this module (tested without actors, the time passed in); actors carry them.

mod budget;
mod epoch;
mod follower;
mod log;
mod sequencer;
mod shard;
#[cfg(test)]
mod tests;

pub use epoch::{Epoch, EpochError, MAX_EPOCH};
pub use log::ENTRY_OVERHEAD;

pub(crate) use follower::{Completed, Delivery, Follower};
pub(crate) use sequencer::{Histories, SeqJoin, SeqLeave};
pub(crate) use shard::SeqRun;

use crate::identity::Pattern;
use crate::GroupName;
use bytes::Bytes;
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// How group histories are kept (see the [module](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HistoryConfig {
    /// Which named groups keep a history: those matching one of these patterns (NATS
    /// semantics; `{user}` matches nothing here, a history belongs to a group). Default:
    /// `>`, every group.
    pub groups: Vec<Pattern>,
    /// Messages kept per group (at least 1). Default: 100.
    pub size: usize,
    /// How long a message is kept. Default: 300 s.
    pub ttl: Duration,
    /// What the histories of all groups may cost together: each message its length
    /// plus [`ENTRY_OVERHEAD`]. Default: 64 MiB.
    pub max_bytes: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            groups: ">".parse().into_iter().collect(),
            size: 100,
            ttl: Duration::from_secs(300),
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

crate::config::setters!(HistoryConfig {
    with_groups => groups: Vec<Pattern>,
    with_size => size: usize,
    with_ttl => ttl: Duration,
    with_max_bytes => max_bytes: usize,
});

/// A member's position in a group's history: the epoch and the offset of the last
/// message it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The history's incarnation.
    pub epoch: Epoch,
    /// The offset of the last message received (0: none).
    pub offset: u64,
}

/// What a join found, handed to the reply the joining handler asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The group joined.
    pub group: GroupName,
    /// Where its history stands; `None` for a group without history.
    pub history: Option<Stand>,
}

/// Where a group's history stands at a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stand {
    /// The history's incarnation.
    pub epoch: Epoch,
    /// The offset of the last message before the join (0 if none): the member's first
    /// live message carries the next one.
    pub last: u64,
    /// For a join from a position by a connection that was not a member: whether the
    /// missed messages follow.
    pub recovery: Option<Recovery>,
}

/// The outcome of a join from a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Every message after the position was kept: this many follow the reply (those
    /// the member's protocol cannot encode are recorded as send failures instead),
    /// then the live stream, with no gap and no duplicate.
    Recovered(u64),
    /// Some message after the position is not kept any more (or the position names
    /// another epoch, or an offset beyond the last): live delivery starts after `last`.
    Lost,
}

/// The `history` object of the stats: present while histories are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HistoryCounters {
    /// Groups with a history now.
    pub groups: u64,
    /// Messages kept.
    pub messages: u64,
    /// Bytes of the messages kept.
    pub bytes: u64,
    /// Joins from a position answered with the missed messages.
    pub recovered_total: u64,
    /// Joins from a position answered that messages were lost.
    pub lost_total: u64,
}

/// A sequencer's answer to a join, as it travels to the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoinAnswer {
    /// The history's incarnation.
    pub epoch: Epoch,
    /// The offset of the last message numbered before the join.
    pub last: u64,
    /// For a new member joining from a position: the missed messages, or lost.
    pub recovery: Option<Replay>,
}

/// The missed messages (offsets `last - len + 1 ..= last`), or that they are lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Every missed message, oldest first.
    Recovered(Vec<Bytes>),
    /// Not all of them are kept.
    Lost,
}

impl JoinAnswer {
    /// What the joining handler is told.
    pub fn stand(&self) -> Stand {
        Stand {
            epoch: self.epoch.clone(),
            last: self.last,
            recovery: self.recovery.as_ref().map(|r| match r {
                Replay::Recovered(messages) => Recovery::Recovered(messages.len() as u64),
                Replay::Lost => Recovery::Lost,
            }),
        }
    }
}

/// Which of `shards` shards sequences `group`: the same for every caller, every run.
pub(crate) fn shard_of(group: &str, shards: usize) -> usize {
    // `new` has fixed keys: the same shard for every caller of the process.
    let mut hasher = std::hash::DefaultHasher::new();
    group.hash(&mut hasher);
    (hasher.finish() % shards.max(1) as u64) as usize
}
