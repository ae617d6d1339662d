//! The byte budget all histories share, and the figures of the `history` stats.
//!
//! Each shard owns its groups' histories; what they cost together is one atomic total.
//! A shard that takes the total past the budget drops the oldest messages of the
//! largest history: its own, when it holds the largest, or else it asks the shard that
//! does (each shard publishes the cost of its largest history here). So the budget is
//! global and "largest first" holds across shards, at the price of a short overshoot
//! while such a request is on its way.

use super::HistoryCounters;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// The shared budget and figures of every shard's histories.
#[derive(Debug)]
pub(crate) struct Budget {
    /// What the histories may cost together.
    max: usize,
    /// What they cost now (message bytes plus each message's overhead).
    charged: AtomicUsize,
    /// Per shard: the cost of its largest history.
    largest: Box<[AtomicUsize]>,
    /// Per shard: a request to drop messages is on its way to it.
    asked: Box<[AtomicBool]>,
    /// Histories kept.
    groups: AtomicU64,
    /// Messages kept.
    messages: AtomicU64,
    /// Bytes of the messages kept.
    bytes: AtomicU64,
    /// Joins from a position answered with the missed messages.
    recovered: AtomicU64,
    /// Joins from a position answered that the messages are lost.
    lost: AtomicU64,
}

impl Budget {
    /// A budget of `max` for `shards` shards.
    pub fn new(max: usize, shards: usize) -> Self {
        Budget {
            max,
            charged: AtomicUsize::new(0),
            largest: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
            asked: (0..shards).map(|_| AtomicBool::new(false)).collect(),
            groups: AtomicU64::new(0),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    /// Whether the histories cost more than the budget.
    pub fn over(&self) -> bool {
        self.charged.load(Relaxed) > self.max
    }

    /// A message of `bytes` costing `cost` is kept.
    pub fn kept(&self, bytes: usize, cost: usize) {
        self.charged.fetch_add(cost, Relaxed);
        self.messages.fetch_add(1, Relaxed);
        self.bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// `n` messages of `bytes` costing `cost` together are dropped.
    pub fn dropped(&self, n: usize, bytes: usize, cost: usize) {
        self.charged.fetch_sub(cost, Relaxed);
        self.messages.fetch_sub(n as u64, Relaxed);
        self.bytes.fetch_sub(bytes as u64, Relaxed);
    }

    /// A history was created (`true`) or forgotten.
    pub fn history(&self, created: bool) {
        match created {
            true => self.groups.fetch_add(1, Relaxed),
            false => self.groups.fetch_sub(1, Relaxed),
        };
    }

    /// A join from a position was answered: recovered, or lost.
    pub fn recovery(&self, recovered: bool) {
        match recovered {
            true => self.recovered.fetch_add(1, Relaxed),
            false => self.lost.fetch_add(1, Relaxed),
        };
    }

    /// Shard `shard`'s largest history now costs `cost`.
    pub fn set_largest(&self, shard: usize, cost: usize) {
        if let Some(slot) = self.largest.get(shard) {
            slot.store(cost, Relaxed);
        }
    }

    /// The shard holding the largest history, and its cost (the lowest index among
    /// equals).
    pub fn largest(&self) -> (usize, usize) {
        let mut best = (0, 0);
        for (shard, cost) in self.largest.iter().enumerate() {
            let cost = cost.load(Relaxed);
            if cost > best.1 {
                best = (shard, cost);
            }
        }
        best
    }

    /// Marks that `shard` is being asked to drop messages; false if it already was
    /// (then nobody needs to ask again).
    pub fn ask(&self, shard: usize) -> bool {
        self.asked
            .get(shard)
            .is_some_and(|asked| !asked.swap(true, Relaxed))
    }

    /// `shard` took the request: it may be asked again.
    pub fn answered(&self, shard: usize) {
        if let Some(asked) = self.asked.get(shard) {
            asked.store(false, Relaxed);
        }
    }

    /// The figures of the `history` stats.
    pub fn counters(&self) -> HistoryCounters {
        HistoryCounters {
            groups: self.groups.load(Relaxed),
            messages: self.messages.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            recovered_total: self.recovered.load(Relaxed),
            lost_total: self.lost.load(Relaxed),
        }
    }

    /// What the histories cost now.
    #[cfg(test)]
    pub fn charged(&self) -> usize {
        self.charged.load(Relaxed)
    }
}
