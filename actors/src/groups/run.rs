//! A run of group messages encoded for one protocol, as a hub hands it to that
//! protocol's members on its thread.

use super::GroupPacket;
use crate::core::{BackToBack, Handout};
use crate::SendError;
use bytes::Bytes;

/// Consecutive messages to one group, encoded for one protocol, shared by that
/// protocol's members on one thread: copied back to back when every message could be
/// encoded (the publisher's own encodings are shared with every other thread's hub, the
/// copy is this thread's own); one by one when some could not, each member recording
/// those as send failures and queueing the others.
pub(crate) type GroupRun = Handout<Vec<GroupPacket>>;

/// The run of `encoded` messages.
pub(crate) fn group_run(encoded: Vec<Result<Bytes, String>>) -> GroupRun {
    if encoded.iter().all(Result::is_ok) {
        let packets: Vec<Bytes> = encoded.into_iter().flatten().collect();
        return Handout::Copied(BackToBack::copy_of(&packets));
    }
    Handout::Packets(
        encoded
            .into_iter()
            .map(|packet| packet.map_err(SendError::Encode))
            .collect(),
    )
}

/// Each message of `run` for a member: its packet, or why it could not be encoded.
pub(crate) fn group_packets(run: &GroupRun) -> Box<dyn Iterator<Item = GroupPacket> + '_> {
    match run {
        Handout::Copied(batch) => Box::new(batch.packets().iter().cloned().map(Ok)),
        Handout::Packets(packets) => Box::new(packets.iter().cloned()),
    }
}
