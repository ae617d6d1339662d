//! Where each packet of a connection's byte stream ends, so that a write that stops
//! halfway through a packet is accounted exactly: a packet counts as written only
//! once its last byte is, and one still waiting at close is recorded with its full
//! size.
//!
//! Fan-out queues long runs of packets of one size (every member gets the same
//! broadcast frames), so the ends are kept as runs: a packet of the size of the last
//! run that follows it extends the run instead of taking an entry of its own.
//! Queueing and writing a thousand equal frames then touch one entry, not a thousand,
//! and a queue of small packets holds a few dozen bytes of bookkeeping instead of
//! eight per packet.

use std::collections::VecDeque;

/// `count` consecutive packets of `size` bytes each, the first ending at `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Stream offset at which the first packet of the run ends.
    end: u64,
    /// Bytes in each packet of the run (never 0: empty packets are not recorded).
    size: u64,
    /// Packets in the run (never 0 while it is kept).
    count: u64,
}

impl Run {
    /// Stream offset at which the last packet of the run ends.
    fn last_end(&self) -> u64 {
        self.end + (self.count - 1) * self.size
    }
}

/// The ends of a sequence of consecutive packets, oldest first.
#[derive(Debug, Default)]
pub struct PacketEnds {
    /// Runs of packets of one size, oldest first.
    runs: VecDeque<Run>,
    /// Packets in all the runs.
    len: usize,
}

impl PacketEnds {
    /// Packets recorded and not yet removed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no packet is recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records a packet of `size` bytes ending at stream offset `end`, after every
    /// packet recorded so far. A packet of size 0 is not recorded.
    pub fn push(&mut self, end: u64, size: u64) {
        self.push_many(end, size, 1);
    }

    /// Records `count` packets of `size` bytes each, back to back, the first ending at
    /// stream offset `end`.
    pub fn push_many(&mut self, end: u64, size: u64, count: u64) {
        self.push_run(Run { end, size, count });
    }

    fn push_run(&mut self, run: Run) {
        if run.size == 0 || run.count == 0 {
            return;
        }
        self.len += run.count as usize;
        if let Some(last) = self.runs.back_mut() {
            if last.size == run.size && last.last_end() + run.size == run.end {
                last.count += run.count;
                return;
            }
        }
        self.runs.push_back(run);
    }

    /// Removes every packet that ends at or before stream offset `offset`, oldest
    /// first, moving them to `into` when it is given. Returns how many were removed.
    pub fn pop_through(&mut self, offset: u64, mut into: Option<&mut PacketEnds>) -> usize {
        let mut removed = 0;
        while let Some(front) = self.runs.front_mut() {
            if front.end > offset {
                break;
            }
            let done = ((offset - front.end) / front.size + 1).min(front.count);
            if let Some(into) = into.as_deref_mut() {
                into.push_run(Run {
                    count: done,
                    ..*front
                });
            }
            removed += done as usize;
            front.count -= done;
            front.end += done * front.size;
            if front.count > 0 {
                break;
            }
            self.runs.pop_front();
        }
        self.len -= removed;
        removed
    }

    /// Removes every packet, returning the size of each, oldest first.
    pub fn drain_sizes(&mut self) -> Vec<usize> {
        let mut sizes = Vec::with_capacity(self.len);
        for run in self.runs.drain(..) {
            sizes.extend(std::iter::repeat_n(run.size as usize, run.count as usize));
        }
        self.len = 0;
        sizes
    }

    /// Heap bytes held.
    #[cfg(test)]
    pub fn capacity_bytes(&self) -> usize {
        self.runs.capacity() * std::mem::size_of::<Run>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same record kept one entry per packet: what the runs must match.
    #[derive(Default)]
    struct Model {
        ends: VecDeque<(u64, u64)>,
    }

    impl Model {
        fn pop_through(&mut self, offset: u64) -> Vec<(u64, u64)> {
            let mut out = Vec::new();
            while self.ends.front().is_some_and(|&(end, _)| end <= offset) {
                out.extend(self.ends.pop_front());
            }
            out
        }
    }

    fn contents(ends: &PacketEnds) -> Vec<(u64, u64)> {
        ends.runs
            .iter()
            .flat_map(|r| (0..r.count).map(move |i| (r.end + i * r.size, r.size)))
            .collect()
    }

    #[test]
    fn equal_packets_share_one_entry() {
        let mut ends = PacketEnds::default();
        for i in 1..=1000 {
            ends.push(i * 64, 64);
        }
        assert_eq!(ends.len(), 1000);
        assert_eq!(ends.runs.len(), 1);
        ends.push(1000 * 64 + 10, 10);
        assert_eq!(ends.runs.len(), 2);
    }

    #[test]
    fn a_packet_is_removed_only_once_its_last_byte_is_written() {
        let mut ends = PacketEnds::default();
        for i in 1..=3 {
            ends.push(i * 10, 10);
        }
        assert_eq!(ends.pop_through(9, None), 0);
        assert_eq!(ends.pop_through(10, None), 1);
        assert_eq!(ends.pop_through(29, None), 1);
        assert_eq!(ends.len(), 1);
        assert_eq!(
            ends.drain_sizes(),
            vec![10],
            "the partly written one, whole"
        );
        assert!(ends.is_empty());
    }

    #[test]
    fn removed_packets_move_to_another_record() {
        let mut ends = PacketEnds::default();
        let mut taken = PacketEnds::default();
        for (end, size) in [(5, 5), (10, 5), (15, 5), (18, 3)] {
            ends.push(end, size);
        }
        assert_eq!(ends.pop_through(12, Some(&mut taken)), 2);
        assert_eq!(ends.pop_through(18, Some(&mut taken)), 2);
        assert_eq!(contents(&taken), vec![(5, 5), (10, 5), (15, 5), (18, 3)]);
        assert_eq!(taken.runs.len(), 2, "moved runs merge again");
    }

    proptest! {
        /// Any sequence of packets and writes: the runs hold exactly the packets a
        /// one-entry-per-packet record holds, remove the same ones, and hand the same
        /// ones on.
        #[test]
        fn runs_match_one_entry_per_packet(
            steps in proptest::collection::vec((0u8..3, 0u64..40), 0..200)
        ) {
            let (mut ends, mut moved) = (PacketEnds::default(), PacketEnds::default());
            let (mut model, mut model_moved) = (Model::default(), Vec::new());
            let (mut queued, mut written) = (0u64, 0u64);
            for (kind, n) in steps {
                match kind {
                    0 | 1 => {
                        // Sizes from a small set, so runs form and break.
                        let size = [0, 1, 7, 7, 64][(n % 5) as usize];
                        queued += size;
                        ends.push(queued, size);
                        if size > 0 {
                            model.ends.push_back((queued, size));
                        }
                    }
                    _ => {
                        written = (written + n * 3).min(queued);
                        let to = (n % 2 == 0).then_some(&mut moved);
                        let removed = ends.pop_through(written, to);
                        let expected = model.pop_through(written);
                        prop_assert_eq!(removed, expected.len());
                        if n % 2 == 0 {
                            model_moved.extend(expected);
                        }
                    }
                }
                prop_assert_eq!(contents(&ends), Vec::from(model.ends.clone()));
                prop_assert_eq!(ends.len(), model.ends.len());
                prop_assert_eq!(contents(&moved), model_moved.clone());
            }
            let sizes: Vec<usize> = model.ends.iter().map(|&(_, s)| s as usize).collect();
            prop_assert_eq!(ends.drain_sizes(), sizes);
            prop_assert!(ends.is_empty());
        }
    }
}
