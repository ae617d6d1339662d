//! A run of group messages encoded for one protocol, as a hub hands it to that
//! protocol's members on its thread.

use super::GroupPacket;
use crate::core::BackToBack;
use crate::SendError;
use bytes::Bytes;

/// Consecutive messages to one group, encoded for one protocol, shared by that
/// protocol's members on one thread.
pub(crate) enum GroupRun {
    /// Every message encoded: copied back to back into one allocation of this thread,
    /// which each member's queue shares instead of copying (and whose reference count
    /// no other thread touches; the publisher's own encodings are shared with every
    /// other thread's hub).
    Copied(BackToBack),
    /// Some messages could not be encoded for this protocol: each member records those
    /// as send failures, and queues the others.
    Packets(Vec<GroupPacket>),
}

impl GroupRun {
    /// The run of `encoded` messages.
    pub fn of(encoded: Vec<Result<Bytes, String>>) -> Self {
        if encoded.iter().all(Result::is_ok) {
            let packets: Vec<Bytes> = encoded.into_iter().flatten().collect();
            return GroupRun::Copied(BackToBack::copy_of(&packets));
        }
        GroupRun::Packets(
            encoded
                .into_iter()
                .map(|packet| packet.map_err(SendError::Encode))
                .collect(),
        )
    }

    /// Each message for a member: its packet, or why it could not be encoded.
    pub fn packets(&self) -> Box<dyn Iterator<Item = GroupPacket> + '_> {
        match self {
            GroupRun::Copied(batch) => Box::new(batch.packets().iter().cloned().map(Ok)),
            GroupRun::Packets(packets) => Box::new(packets.iter().cloned()),
        }
    }
}
