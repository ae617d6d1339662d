//! The byte-bounded outbound queue of one connection (Netty's
//! `ChannelOutboundBuffer`).
//!
//! Small packets are coalesced into one growing tail buffer, so a burst of replies
//! becomes one `writev`; large packets already held as [`Bytes`] (a broadcast shared by
//! many connections) are queued as they are, without a copy. The queue never holds more
//! than its byte limit: a packet that would pass it is refused, and the caller applies
//! the slow-consumer policy.
//!
//! The queue also knows where each packet ends in the byte stream, so a partial write
//! is accounted exactly: a packet counts as written only when its last byte is, and at
//! close every packet not completely written is handed back for the failure record.
//!
//! A [`FileRegion`] waits in the same queue, in order with the packets around it; its
//! bytes stay in the file (the kernel sends them), so they do not count against the
//! byte limit, which bounds memory.
//!
//! With a share of an [`OutboundBudget`](super::budget::OutboundBudget), the queue also
//! charges that share for every byte it holds in memory and releases it as bytes are
//! written or dropped (or the queue is dropped), so the bytes queued for all
//! connections together stay within the budget; a packet the budget has no room for is
//! refused like one past the queue's own limit ([`OverBudget::total`]).
//!
//! It performs no I/O: the connection asks it for [`IoSlice`]s (or the file region at
//! the front), writes them, and tells it how many bytes the socket took.

mod held;
mod limits;

pub use limits::{EncodeRefused, OverBudget, QueueLimits};

use super::budget::BudgetShare;
use super::packet_ends::PacketEnds;
use crate::FileRegion;
use bytes::{Buf, Bytes, BytesMut};
use held::{Chunk, Held, SameSize};
use std::io::IoSlice;
use std::rc::Rc;

/// The byte-bounded, coalescing outbound queue of one connection.
#[derive(Debug)]
pub struct OutboundQueue {
    /// The buffers of what is queued; allocated with the first packet and freed by
    /// [`release_if_empty`](Self::release_if_empty), so that an idle connection's
    /// queue is a few counters and one pointer.
    held: Option<Box<Held>>,
    /// Stream offset of the end of the queue: every byte ever queued.
    queued_offset: u64,
    /// Stream offset of the next byte to write: every byte ever written.
    written_offset: u64,
    /// The limits this queue enforces.
    limits: QueueLimits,
    /// The share of the budget of all connections it charges for the bytes it holds in
    /// memory (always `len_bytes`), if there is such a budget.
    budget: Option<Rc<BudgetShare>>,
}

/// Charges `budget` (if there is one) for `bytes` about to be queued; false if it has
/// no room.
fn charge(budget: &Option<Rc<BudgetShare>>, bytes: usize) -> bool {
    budget.as_ref().is_none_or(|b| b.try_take(bytes))
}

impl OutboundQueue {
    /// An empty queue; allocates nothing until the first packet.
    pub fn new(limits: QueueLimits) -> Self {
        OutboundQueue {
            held: None,
            queued_offset: 0,
            written_offset: 0,
            limits,
            budget: None,
        }
    }

    /// An empty queue that also charges `share` for the bytes it holds in memory, and
    /// refuses a packet the share's budget has no room for.
    pub fn with_budget(limits: QueueLimits, share: Rc<BudgetShare>) -> Self {
        let mut queue = OutboundQueue::new(limits);
        queue.budget = Some(share);
        queue
    }

    /// The budget share it charges, if any.
    pub fn budget(&self) -> Option<&Rc<BudgetShare>> {
        self.budget.as_ref()
    }

    /// Charges the budget for `bytes` about to be queued; false if it has no room.
    fn charge(&self, bytes: usize) -> bool {
        charge(&self.budget, bytes)
    }

    /// Releases `bytes` no longer queued in memory.
    fn release(&self, bytes: usize) {
        if let Some(budget) = &self.budget {
            budget.give_back(bytes);
        }
    }

    /// The buffers, allocated if they are not.
    fn held(&mut self) -> &mut Held {
        self.held.get_or_insert_with(Box::default)
    }

    /// Unwritten bytes of queued file regions.
    fn file_bytes(&self) -> u64 {
        self.held.as_ref().map_or(0, |h| h.file_bytes)
    }

    /// Bytes queued in memory and not yet written (what `max_bytes` bounds).
    pub fn len_bytes(&self) -> usize {
        (self.queued_offset - self.written_offset - self.file_bytes()) as usize
    }

    /// Packets queued and not yet completely written.
    pub fn len_packets(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.ends.len())
    }

    /// Stream offset of the next byte to write: every byte ever taken by the socket.
    pub fn written_offset(&self) -> u64 {
        self.written_offset
    }

    /// Whether nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.queued_offset == self.written_offset
    }

    /// The limits this queue enforces.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// Checks a packet of `packet` bytes against the queue's limit and charges the
    /// budget for it: the caller queues it next.
    fn admit(&self, packet: usize) -> Result<(), OverBudget> {
        let queued = self.len_bytes();
        if queued + packet > self.limits.max_bytes {
            return Err(OverBudget {
                queued,
                packet,
                limit: self.limits.max_bytes,
                total: false,
            });
        }
        if !self.charge(packet) {
            return Err(OverBudget {
                queued,
                packet,
                limit: self.budget.as_ref().map_or(0, |b| b.budget().limit()),
                total: true,
            });
        }
        Ok(())
    }

    /// Queues an encoded packet. Small packets are copied into the tail; large ones are
    /// queued without a copy. An empty packet is accepted as already written.
    pub fn push(&mut self, packet: Bytes) -> Result<(), OverBudget> {
        self.admit(packet.len())?;
        if packet.is_empty() {
            return Ok(());
        }
        if packet.len() < self.limits.coalesce_below {
            self.copy_into_tail(&packet);
            return Ok(());
        }
        let held = self.held.get_or_insert_with(Box::default);
        held.seal_tail();
        held.record_packets(&mut self.queued_offset, packet.len(), 1);
        held.chunks.push_back(Chunk::Memory(packet));
        Ok(())
    }

    /// Queues packets from `packets` in order, exactly as [`push`](Self::push) would one
    /// by one, and stops before the first empty packet or the first that would pass the
    /// byte limit (the caller decides what to do with that one). A run of small packets
    /// is copied into the tail in one reservation. Returns how many were queued.
    pub fn push_run<'a>(&mut self, packets: impl IntoIterator<Item = &'a Bytes>) -> usize {
        // What is queued never passes the limit, so this is the room left.
        let mut room = self.limits.max_bytes.saturating_sub(self.len_bytes());
        let limits = self.limits;
        // A run that queues nothing leaves no buffers behind, as no packet would.
        let had_buffers = self.held.is_some();
        let held = self.held.get_or_insert_with(Box::default);
        let mut queued = 0;
        let mut pending = SameSize::default();
        for packet in packets {
            let len = packet.len();
            if len == 0 || len > room || !charge(&self.budget, len) {
                break;
            }
            room -= len;
            if len < limits.coalesce_below {
                held.append(packet, &limits);
            } else {
                held.seal_tail();
                held.chunks.push_back(Chunk::Memory(packet.clone()));
            }
            if let Some((size, count)) = pending.add(len) {
                held.record_packets(&mut self.queued_offset, size, count);
            }
            queued += 1;
        }
        held.record_packets(&mut self.queued_offset, pending.size, pending.count);
        if queued == 0 && !had_buffers {
            self.held = None;
        }
        queued
    }

    /// Like [`push_run`](Self::push_run), for packets that lie back to back in `whole`
    /// (a batch copied into one buffer): the leading packets that do are queued as one
    /// slice of `whole`, shared and not copied, when together they are at least
    /// `coalesce_below` bytes, and copied into the tail in one go otherwise. Stops at
    /// the first packet that is empty, would pass the byte limit, or does not follow
    /// the previous one in `whole`. Returns how many were queued.
    pub fn push_shared_run<'a>(
        &mut self,
        whole: &Bytes,
        packets: impl IntoIterator<Item = &'a Bytes>,
    ) -> usize {
        let base = whole.as_ptr() as usize;
        let limit = base + whole.len();
        let mut room = self.limits.max_bytes.saturating_sub(self.len_bytes());
        let limits = self.limits;
        let had_buffers = self.held.is_some();
        let held = self.held.get_or_insert_with(Box::default);
        let mut queued = 0;
        // Addresses where the stretch taken so far starts and ends.
        let mut span: Option<(usize, usize)> = None;
        let mut pending = SameSize::default();
        for packet in packets {
            let (ptr, len) = (packet.as_ptr() as usize, packet.len());
            // Only bytes inside `whole` are taken from it: a packet lying anywhere else
            // ends the stretch.
            let follows = span.map_or(ptr >= base, |(_, end)| ptr == end);
            if len == 0 || len > room || !follows || ptr + len > limit || !charge(&self.budget, len)
            {
                break;
            }
            room -= len;
            span = Some((span.map_or(ptr, |(start, _)| start), ptr + len));
            if let Some((size, count)) = pending.add(len) {
                held.record_packets(&mut self.queued_offset, size, count);
            }
            queued += 1;
        }
        held.record_packets(&mut self.queued_offset, pending.size, pending.count);
        let Some((start, at)) = span else {
            if !had_buffers {
                self.held = None;
            }
            return 0;
        };
        let range = start - base..at - base;
        if at - start >= limits.coalesce_below {
            held.seal_tail();
            held.chunks.push_back(Chunk::Memory(whole.slice(range)));
        } else {
            held.append(&whole[range], &limits);
        }
        queued
    }

    /// Queues every packet of a batch that covers `whole` exactly, back to back, with
    /// sizes `runs` (size, count), exactly as [`push_shared_run`](Self::push_shared_run)
    /// would, without looking at each packet: if the whole batch fits under the byte
    /// limit. Otherwise queues nothing. Returns how many were queued.
    pub fn push_tiled(&mut self, whole: &Bytes, runs: &[(u64, u64)]) -> usize {
        let room = self.limits.max_bytes.saturating_sub(self.len_bytes());
        if whole.is_empty() || whole.len() > room || !self.charge(whole.len()) {
            return 0;
        }
        let limits = self.limits;
        let held = self.held.get_or_insert_with(Box::default);
        if whole.len() >= limits.coalesce_below {
            held.seal_tail();
            held.chunks.push_back(Chunk::Memory(whole.clone()));
        } else {
            held.append(whole, &limits);
        }
        let mut queued = 0;
        for &(size, count) in runs {
            held.record_packets(&mut self.queued_offset, size as usize, count as usize);
            queued += count as usize;
        }
        queued
    }

    /// Queues an encoded packet by copying it into the tail: for small packets whose
    /// bytes live elsewhere (a read buffer). An empty packet is accepted as already
    /// written.
    pub fn push_slice(&mut self, packet: &[u8]) -> Result<(), OverBudget> {
        self.admit(packet.len())?;
        if !packet.is_empty() {
            self.copy_into_tail(packet);
        }
        Ok(())
    }

    /// Queues an admitted, non-empty packet by copying it into the tail.
    fn copy_into_tail(&mut self, packet: &[u8]) {
        let limits = self.limits;
        let held = self.held.get_or_insert_with(Box::default);
        held.append(packet, &limits);
        held.record_packets(&mut self.queued_offset, packet.len(), 1);
    }

    /// Encodes a packet straight into the tail (no intermediate buffer). If `encode`
    /// fails or the result would pass the byte limit, the tail is rolled back and
    /// nothing is queued. Returns the encoded size.
    ///
    /// `expected` is what the encoder will write at most, when the caller knows (0
    /// when not): a tail without that much room left is replaced rather than grown by
    /// the encoder, which would copy everything already in it.
    pub fn encode_with<E>(
        &mut self,
        expected: usize,
        encode: impl FnOnce(&mut BytesMut) -> Result<(), E>,
    ) -> Result<usize, EncodeRefused<E>> {
        let limits = self.limits;
        let held = self.held();
        let (len, capacity) = (held.tail.len(), held.tail.capacity());
        if capacity == 0 {
            held.tail
                .reserve(limits.coalesce_below.max(256).max(expected));
        } else if len >= capacity.min(limits.chunk_size.max(1))
            || (len > 0 && len.saturating_add(expected) > capacity)
        {
            // A full tail is replaced, not grown (see `append`); an encoder that writes
            // more than the room left still grows it.
            held.renew_tail(&limits);
            held.tail.reserve(expected);
        }
        let start = held.tail.len();
        if let Err(e) = encode(&mut held.tail) {
            held.tail.truncate(start);
            return Err(EncodeRefused::Encode(e));
        }
        let size = held.tail.len() - start;
        if let Err(over) = self.admit(size) {
            self.held().tail.truncate(start);
            return Err(EncodeRefused::OverBudget(over));
        }
        if size > 0 {
            let held = self.held.get_or_insert_with(Box::default);
            held.record_packets(&mut self.queued_offset, size, 1);
            held.seal_tail_if_full(&limits);
        }
        Ok(size)
    }

    /// Queues a file region as one packet, after everything queued so far. Returns
    /// false (nothing queued) for an empty region.
    pub fn push_file(&mut self, region: FileRegion) -> bool {
        let size = region.remaining();
        if size == 0 {
            return false;
        }
        let held = self.held.get_or_insert_with(Box::default);
        held.seal_tail();
        held.file_bytes += size;
        self.queued_offset += size;
        held.ends.push(self.queued_offset, size);
        held.chunks.push_back(Chunk::File(region));
        true
    }

    /// The file region to send next, if one is at the front of the queue.
    pub fn front_file(&self) -> Option<&FileRegion> {
        match self.held.as_ref()?.chunks.front() {
            Some(Chunk::File(region)) => Some(region),
            _ => None,
        }
    }

    /// Fills `dst` with the queued bytes in order, covering at most `limit` bytes (the
    /// per-flush budget: one connection never writes more than that in one turn).
    /// Returns how many slices were used.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>], limit: usize) -> usize {
        let Some(held) = self.held.as_deref() else {
            return 0;
        };
        let tail = (!held.tail.is_empty()).then_some(&held.tail[..]);
        // Memory up to the first file region: that one goes by `sendfile`.
        let memory = held.chunks.iter().map_while(|c| match c {
            Chunk::Memory(bytes) => Some(&bytes[..]),
            Chunk::File(_) => None,
        });
        let has_file = held.chunks.iter().any(|c| matches!(c, Chunk::File(_)));
        let chunks = memory.chain(if has_file { None } else { tail });
        let mut n = 0;
        let mut left = limit;
        for chunk in chunks {
            if n == dst.len() || left == 0 {
                break;
            }
            let take = chunk.len().min(left);
            dst[n] = IoSlice::new(&chunk[..take]);
            left -= take;
            n += 1;
        }
        n
    }

    /// Marks `written` bytes as taken by the socket; returns how many packets were thereby
    /// completely written. An emptied queue keeps its buffers (see
    /// [`release_if_empty`](Self::release_if_empty)).
    pub fn advance(&mut self, written: usize) -> usize {
        self.advance_into(written, None)
    }

    /// Like [`advance`](Self::advance), and moves the completely written packets to
    /// `taken` (where they end in the stream, counted from the first byte ever
    /// queued), when it is given.
    pub fn advance_into(&mut self, written: usize, taken: Option<&mut PacketEnds>) -> usize {
        let in_memory = self.len_bytes();
        let written = written.min((self.queued_offset - self.written_offset) as usize);
        let Some(held) = self.held.as_deref_mut() else {
            // Nothing was ever queued since the buffers were freed.
            return 0;
        };
        let mut left = written;
        while left > 0 {
            match held.chunks.front_mut() {
                Some(Chunk::Memory(front)) if front.len() <= left => {
                    left -= front.len();
                    held.chunks.pop_front();
                }
                Some(Chunk::Memory(front)) => {
                    front.advance(left);
                    left = 0;
                }
                Some(Chunk::File(region)) => {
                    let take = region.remaining().min(left as u64);
                    region.advance(take);
                    held.file_bytes -= take;
                    left -= take as usize;
                    if region.remaining() == 0 {
                        held.chunks.pop_front();
                    }
                }
                None => {
                    held.tail.advance(left);
                    left = 0;
                }
            }
        }
        self.written_offset += written as u64;
        let completed = held.ends.pop_through(self.written_offset, taken);
        self.release(in_memory - self.len_bytes());
        // An emptied queue keeps its buffers: its owner frees them with
        // `release_if_empty`, at once or once a busy connection went quiet.
        completed
    }

    /// Bytes allocated and kept for reuse while nothing may be queued.
    #[cfg(test)]
    pub fn retained_capacity(&self) -> usize {
        self.held.as_ref().map_or(0, |held| {
            std::mem::size_of::<Held>()
                + held.tail.capacity()
                + held.chunks.capacity() * std::mem::size_of::<Chunk>()
                + held.ends.capacity_bytes()
        })
    }

    /// Frees every buffer the queue keeps for reuse, if nothing is queued: for a
    /// connection that went quiet.
    pub fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.held = None;
        }
    }

    /// Empties the queue, returning the size of every packet not completely written
    /// (a partly written packet counts with its full size).
    pub fn drain_unwritten(&mut self) -> Vec<usize> {
        self.release(self.len_bytes());
        let sizes = self
            .held
            .take()
            .map_or_else(Vec::new, |mut held| held.ends.drain_sizes());
        self.written_offset = self.queued_offset;
        sizes
    }
}

impl Drop for OutboundQueue {
    /// Whatever it still holds is no longer queued: the budget gets it back.
    fn drop(&mut self) {
        self.release(self.len_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: usize) -> QueueLimits {
        QueueLimits {
            max_bytes,
            coalesce_below: 16,
            chunk_size: 64,
        }
    }

    fn contents(q: &OutboundQueue) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = q.io_slices(&mut slices, usize::MAX);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn refuses_past_the_byte_budget_and_keeps_what_it_had() {
        let mut q = OutboundQueue::new(limits(10));
        q.push(Bytes::from_static(b"123456")).unwrap();
        let err = q.push(Bytes::from_static(b"12345")).unwrap_err();
        assert_eq!(
            err,
            OverBudget {
                queued: 6,
                packet: 5,
                limit: 10,
                total: false,
            }
        );
        q.push(Bytes::from_static(b"1234")).unwrap();
        assert_eq!(q.len_bytes(), 10);
        assert_eq!(q.len_packets(), 2);
        assert_eq!(contents(&q), b"1234561234");
    }

    #[test]
    fn small_packets_coalesce_into_one_slice() {
        let mut q = OutboundQueue::new(limits(1000));
        for _ in 0..3 {
            q.push(Bytes::from_static(b"abc")).unwrap();
        }
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(q.io_slices(&mut slices, usize::MAX), 1);
        assert_eq!(&*slices[0], b"abcabcabc");
    }

    #[test]
    fn large_packets_keep_order_with_coalesced_ones() {
        let mut q = OutboundQueue::new(limits(1000));
        q.push(Bytes::from_static(b"a")).unwrap();
        q.push(Bytes::from(vec![b'L'; 20])).unwrap();
        q.push(Bytes::from_static(b"b")).unwrap();
        let mut expected = b"a".to_vec();
        expected.extend([b'L'; 20]);
        expected.push(b'b');
        assert_eq!(contents(&q), expected);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(q.io_slices(&mut slices, usize::MAX), 3);
    }

    #[test]
    fn tail_is_sealed_at_chunk_size() {
        let mut q = OutboundQueue::new(limits(1000));
        for _ in 0..10 {
            q.push(Bytes::from(vec![7u8; 10])).unwrap();
        }
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices, usize::MAX);
        assert_eq!(n, 2, "one sealed chunk of >= 64 bytes and the tail");
        assert!(slices[0].len() >= 64);
        assert_eq!(contents(&q).len(), 100);
    }

    #[test]
    fn slices_never_cover_more_than_the_flush_budget() {
        let mut q = OutboundQueue::new(limits(10_000));
        q.push(Bytes::from(vec![1u8; 100])).unwrap();
        q.push(Bytes::from(vec![2u8; 100])).unwrap();
        q.push(Bytes::from_static(b"abc")).unwrap();
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices, 150);
        let lens: Vec<usize> = slices[..n].iter().map(|s| s.len()).collect();
        assert_eq!(lens, vec![100, 50]);
        let n = q.io_slices(&mut slices, 203);
        assert_eq!(slices[..n].iter().map(|s| s.len()).sum::<usize>(), 203);
        assert_eq!(q.io_slices(&mut slices, 0), 0);
    }

    fn region(len: u64) -> FileRegion {
        let file = tempfile::tempfile().unwrap();
        file.set_len(len).unwrap();
        FileRegion::new(std::sync::Arc::new(file), 0, len)
    }

    #[test]
    fn file_regions_keep_their_place_and_do_not_count_as_memory() {
        let mut q = OutboundQueue::new(limits(100));
        q.push(Bytes::from_static(b"head")).unwrap();
        assert!(q.push_file(region(1000)));
        q.push(Bytes::from_static(b"tail")).unwrap();
        assert_eq!(q.len_bytes(), 8, "the file's bytes are not in memory");
        assert_eq!(q.len_packets(), 3);
        // Only the memory before the region is offered as slices.
        assert_eq!(contents(&q), b"head");
        assert!(q.front_file().is_none());
        assert_eq!(q.advance(4), 1);
        assert_eq!(q.front_file().map(|r| r.remaining()), Some(1000));
        assert_eq!(q.advance(600), 0);
        assert_eq!(q.front_file().map(|r| r.remaining()), Some(400));
        assert_eq!(q.advance(400), 1);
        assert_eq!(contents(&q), b"tail");
        assert_eq!(q.advance(4), 1);
        assert!(q.is_empty());
        assert!(!q.push_file(region(0)), "an empty region is not a packet");
    }

    #[test]
    fn drain_counts_an_unsent_file_region_as_one_packet() {
        let mut q = OutboundQueue::new(limits(100));
        assert!(q.push_file(region(50)));
        q.advance(10);
        assert_eq!(q.drain_unwritten(), vec![50]);
        assert_eq!(q.len_bytes(), 0);
        assert!(q.is_empty());
    }

    #[test]
    fn partial_writes_count_packets_only_when_complete() {
        let mut q = OutboundQueue::new(limits(1000));
        q.push(Bytes::from_static(b"aaaa")).unwrap();
        q.push(Bytes::from(vec![b'b'; 30])).unwrap();
        assert_eq!(q.advance(3), 0);
        assert_eq!(q.advance(1), 1);
        assert_eq!(q.advance(29), 0);
        assert_eq!(contents(&q), b"b");
        assert_eq!(q.advance(1), 1);
        assert!(q.is_empty());
        assert_eq!(q.len_packets(), 0);
    }

    #[test]
    fn drain_reports_full_size_of_partly_written_packets() {
        let mut q = OutboundQueue::new(limits(1000));
        q.push(Bytes::from_static(b"aaaa")).unwrap();
        q.push(Bytes::from_static(b"bbbbbb")).unwrap();
        q.push(Bytes::from_static(b"cc")).unwrap();
        assert_eq!(q.advance(6), 1);
        assert_eq!(q.drain_unwritten(), vec![6, 2]);
        assert!(q.is_empty());
        q.push(Bytes::from_static(b"dd")).unwrap();
        assert_eq!(q.drain_unwritten(), vec![2]);
    }

    #[test]
    fn encode_with_replaces_a_tail_without_room_for_what_is_expected_instead_of_growing_it() {
        let limits = QueueLimits {
            max_bytes: 10_000,
            coalesce_below: 16,
            chunk_size: 4096,
        };
        let fill = |b: &mut BytesMut, byte: u8, n: usize| {
            b.resize(b.len() + n, byte);
            Ok::<_, ()>(())
        };
        for expected in [0, 100] {
            let mut q = OutboundQueue::new(limits);
            q.encode_with(200, |b| fill(b, b'a', 200)).unwrap();
            let first = q.held().tail.as_ptr();
            assert_eq!(q.held().tail.capacity(), 256, "the first tail");
            q.encode_with(expected, |b| fill(b, b'b', 100)).unwrap();
            let mut slices = [IoSlice::new(&[]); 4];
            let n = q.io_slices(&mut slices, usize::MAX);
            if expected == 0 {
                assert_eq!(n, 1, "unknown size: the encoder grew the tail (a copy)");
            } else {
                assert_eq!(n, 2, "the full tail was sealed, a new one took the packet");
                assert_eq!(slices[0].as_ptr(), first, "the first 200 bytes never moved");
            }
            let mut want = vec![b'a'; 200];
            want.extend([b'b'; 100]);
            assert_eq!(contents(&q), want);
            assert_eq!((q.len_packets(), q.len_bytes()), (2, 300));
        }
    }

    #[test]
    fn encode_with_rolls_back_on_error_and_over_budget() {
        let mut q = OutboundQueue::new(limits(8));
        let size = q
            .encode_with(0, |b| {
                b.extend_from_slice(b"hello");
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(size, 5);
        let err = q.encode_with(0, |b| {
            b.extend_from_slice(b"xx");
            Err::<(), _>("bad")
        });
        assert!(matches!(err, Err(EncodeRefused::Encode("bad"))));
        let over = q.encode_with(0, |b| {
            b.extend_from_slice(b"world");
            Ok::<_, ()>(())
        });
        assert!(matches!(over, Err(EncodeRefused::OverBudget(_))));
        assert_eq!(contents(&q), b"hello");
        assert_eq!(q.len_packets(), 1);
    }

    #[test]
    fn a_shared_run_is_queued_as_one_slice_of_its_buffer() {
        let mut q = OutboundQueue::new(limits(1000));
        q.push(Bytes::from_static(b"head")).unwrap();
        let whole = Bytes::from_static(b"aaaaaabbbbbbccccccddddddeeeeee");
        let mut rest = whole.clone();
        let mut packets: Vec<Bytes> = (0..5).map(|_| rest.split_to(6)).collect();
        // The fourth lies elsewhere: the shared stretch ends before it.
        packets[3] = Bytes::from(b"dddddd".to_vec());
        assert_eq!(q.push_shared_run(&whole, &packets), 3);
        assert_eq!(q.push_shared_run(&whole, &packets[3..]), 0);
        assert_eq!(q.push_run(&packets[3..4]), 1);
        assert_eq!(q.push_shared_run(&whole, &packets[4..]), 1);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.io_slices(&mut slices, usize::MAX);
        let lens: Vec<usize> = slices[..n].iter().map(|s| s.len()).collect();
        // "head" in the tail, sealed; 18 shared bytes (at least `coalesce_below`); the
        // rest copied into the tail.
        assert_eq!(lens, vec![4, 18, 12]);
        assert_eq!(slices[1].as_ptr(), whole.as_ptr(), "not copied");
        assert_eq!(contents(&q), b"headaaaaaabbbbbbccccccddddddeeeeee");
        assert_eq!(q.len_packets(), 6);
        assert_eq!(q.advance(4 + 6), 2, "packets end where they did");
    }

    #[test]
    fn a_shared_run_stops_at_the_byte_limit() {
        let mut q = OutboundQueue::new(limits(12));
        let whole = Bytes::from_static(b"aaaaabbbbbccccc");
        let mut rest = whole.clone();
        let packets: Vec<Bytes> = (0..3).map(|_| rest.split_to(5)).collect();
        assert_eq!(q.push_shared_run(&whole, &packets), 2);
        assert_eq!(q.len_bytes(), 10);
        assert_eq!(contents(&q), b"aaaaabbbbb");
    }

    #[test]
    fn accounting_holds_over_random_writes() {
        let mut q = OutboundQueue::new(limits(10_000));
        let mut rng = fastrand::Rng::with_seed(7);
        let (mut accepted, mut written, mut sent) = (0usize, 0usize, Vec::new());
        let mut expected = Vec::new();
        for round in 0..2000u32 {
            if rng.bool() {
                let len = rng.usize(1..40);
                let byte = (round % 251) as u8;
                if q.push(Bytes::from(vec![byte; len])).is_ok() {
                    accepted += 1;
                    expected.extend(std::iter::repeat_n(byte, len));
                }
            } else {
                let data = contents(&q);
                let n = rng.usize(0..=data.len());
                sent.extend_from_slice(&data[..n]);
                written += q.advance(n);
            }
        }
        let failed = q.drain_unwritten().len();
        assert_eq!(accepted, written + failed);
        assert_eq!(&expected[..sent.len()], &sent[..]);
    }
}
