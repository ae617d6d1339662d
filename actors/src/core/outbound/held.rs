//! What an [`OutboundQueue`](super::OutboundQueue) holds while it holds something: the
//! sealed chunks (shared bytes and file regions), the tail small packets are coalesced
//! into, and where each packet ends. Allocated with the first packet and freed when the
//! queue empties, so an idle connection's queue is a few counters and one pointer.

use super::QueueLimits;
use crate::core::packet_ends::PacketEnds;
use crate::FileRegion;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Packets of one size counted before they are recorded together (fan-out batches are
/// mostly one run), so a run costs one record, not one per packet.
#[derive(Default)]
pub(super) struct SameSize {
    /// Their size.
    pub(super) size: usize,
    /// How many.
    pub(super) count: usize,
}

impl SameSize {
    /// Counts a packet of `len` bytes; hands back the run it ends, if it has another size.
    pub(super) fn add(&mut self, len: usize) -> Option<(usize, usize)> {
        if len == self.size {
            self.count += 1;
            return None;
        }
        let ended = (self.size, self.count);
        *self = SameSize {
            size: len,
            count: 1,
        };
        Some(ended)
    }
}

/// One sealed piece of the queue.
#[derive(Debug)]
pub(super) enum Chunk {
    /// Bytes in memory.
    Memory(Bytes),
    /// Bytes in a file, sent with `sendfile(2)`.
    File(FileRegion),
}

/// What a queue holds while it holds something (or keeps for reuse while its
/// connection is busy).
#[derive(Debug, Default)]
pub(super) struct Held {
    /// Sealed chunks, oldest first; the front one may be partly written.
    pub(super) chunks: VecDeque<Chunk>,
    /// Unwritten bytes of queued file regions (not in memory).
    pub(super) file_bytes: u64,
    /// Small packets coalesced after the chunks; written last.
    pub(super) tail: BytesMut,
    /// Where each queued packet ends in the stream, oldest first.
    pub(super) ends: PacketEnds,
}

impl Held {
    /// Copies `bytes` to the end of the tail. A full tail is sealed as it is and a new
    /// one allocated, never grown: growing a `BytesMut` copies it into an allocation up
    /// to twice the size, which the byte count (and the budget of all queues) would not
    /// see. The new tail is twice what the sealed one held, so a backlog soon fills whole
    /// chunks while a quiet connection keeps a small buffer: between
    /// `4 × coalesce_below` and `chunk_size`. Each tail is filled to the last byte
    /// (a packet may straddle two), so where the queue is cut depends only on the bytes
    /// queued, not on whether they came one packet at a time or as a run.
    pub(super) fn append(&mut self, mut bytes: &[u8], limits: &QueueLimits) {
        while !bytes.is_empty() {
            let full_at = self.tail.capacity().min(limits.chunk_size.max(1));
            if self.tail.len() >= full_at {
                self.renew_tail(limits);
                continue;
            }
            let n = (full_at - self.tail.len()).min(bytes.len());
            self.tail.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }

    /// Seals a full tail and allocates the next one (see [`append`](Self::append)).
    pub(super) fn renew_tail(&mut self, limits: &QueueLimits) {
        let held = self.tail.len();
        self.seal_tail();
        let small = limits.coalesce_below.max(256) * 4;
        let want = held
            .saturating_mul(2)
            .clamp(small, limits.chunk_size.max(small));
        self.tail = BytesMut::with_capacity(want);
    }

    pub(super) fn seal_tail_if_full(&mut self, limits: &QueueLimits) {
        if self.tail.len() >= limits.chunk_size {
            self.seal_tail();
        }
    }

    pub(super) fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks
                .push_back(Chunk::Memory(self.tail.split().freeze()));
        }
    }

    /// Records `count` packets of `size` bytes each after everything queued so far,
    /// which ends at `queued_offset` (moved past them).
    pub(super) fn record_packets(&mut self, queued_offset: &mut u64, size: usize, count: usize) {
        if count == 0 {
            return;
        }
        let (size, count) = (size as u64, count as u64);
        self.ends.push_many(*queued_offset + size, size, count);
        *queued_offset += size * count;
    }
}
