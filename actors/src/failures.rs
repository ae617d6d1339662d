//! A bounded record of send failures (seed 000 `recordFailMsg`).
//!
//! Each connection keeps the most recent failures with their time, reason and size;
//! when the record is full the oldest entry is dropped, while the total keeps counting.

use crate::FailureReason;
use std::collections::VecDeque;
use std::time::SystemTime;

/// One packet that was refused or never completely written.
#[derive(Debug, Clone, PartialEq)]
pub struct SendFailure {
    /// When the failure was recorded (wall clock, for operators).
    pub at: SystemTime,
    /// Why the packet failed.
    pub reason: FailureReason,
    /// The packet's encoded size in bytes (0 when it could not be encoded).
    pub size: usize,
}

/// The most recent send failures of one connection, oldest dropped first.
#[derive(Debug, Clone)]
pub struct FailureLog {
    /// Recent failures, oldest first; never longer than `capacity`.
    recent: VecDeque<SendFailure>,
    /// How many failures are kept.
    capacity: usize,
    /// Every failure ever recorded, kept or dropped.
    total: u64,
}

impl FailureLog {
    /// A log keeping at most `capacity` failures.
    pub fn new(capacity: usize) -> Self {
        FailureLog {
            recent: VecDeque::new(),
            capacity,
            total: 0,
        }
    }

    /// Records one failure, dropping the oldest when full.
    pub fn record(&mut self, reason: FailureReason, size: usize) {
        self.total += 1;
        if self.capacity == 0 {
            return;
        }
        if self.recent.len() == self.capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(SendFailure {
            at: SystemTime::now(),
            reason,
            size,
        });
    }

    /// The kept failures, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &SendFailure> {
        self.recent.iter()
    }

    /// Every failure recorded, including the ones no longer kept.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_oldest_when_full_but_counts_all() {
        let mut log = FailureLog::new(2);
        for size in 1..=3 {
            log.record(FailureReason::CloseTimeout, size);
        }
        let sizes: Vec<usize> = log.recent().map(|f| f.size).collect();
        assert_eq!(sizes, vec![2, 3]);
        assert_eq!(log.total(), 3);
    }

    #[test]
    fn zero_capacity_only_counts() {
        let mut log = FailureLog::new(0);
        log.record(FailureReason::CloseTimeout, 1);
        assert_eq!(log.recent().count(), 0);
        assert_eq!(log.total(), 1);
    }
}
