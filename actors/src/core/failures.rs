//! A bounded record of send failures (t-io's `recordFailMsg`).
//!
//! Each connection keeps the most recent failures with their time, reason and size;
//! when the record is full the oldest entry is dropped, while the total keeps counting.
//! The time is passed in (the connection core reads no clock); a report converts it to
//! wall-clock time for operators.

use crate::FailureReason;
use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

/// One packet that was refused or never completely written.
#[derive(Debug, Clone, PartialEq)]
pub struct SendFailure {
    /// When the failure was recorded (wall clock, for operators).
    pub at: SystemTime,
    /// Why the packet failed.
    pub reason: FailureReason,
    /// The packet's encoded size in bytes (0 when it was never encoded).
    pub size: usize,
}

/// One entry of the log, stamped with the monotonic time it was recorded at.
#[derive(Debug, Clone)]
struct Entry {
    /// When it was recorded.
    at: Instant,
    /// Why the packet failed.
    reason: FailureReason,
    /// The packet's size in bytes.
    size: usize,
}

/// The most recent send failures of one connection, oldest dropped first.
#[derive(Debug, Clone)]
pub(crate) struct FailureLog {
    /// Recent failures, oldest first; never longer than `capacity`. Allocated at the
    /// first failure: most connections never have one, and pay one pointer.
    #[allow(clippy::box_collection)]
    recent: Option<Box<VecDeque<Entry>>>,
    /// How many failures are kept (the ledger counts every one).
    capacity: usize,
}

impl FailureLog {
    /// A log keeping at most `capacity` failures.
    pub fn new(capacity: usize) -> Self {
        FailureLog {
            recent: None,
            capacity,
        }
    }

    /// Records a failure at `at`; drops the oldest kept one if the log is full.
    pub fn record(&mut self, at: Instant, reason: FailureReason, size: usize) {
        if self.capacity == 0 {
            return;
        }
        let recent = self.recent.get_or_insert_with(Box::default);
        if recent.len() == self.capacity {
            recent.pop_front();
        }
        recent.push_back(Entry { at, reason, size });
    }

    /// The kept failures, oldest first, with wall-clock times: `now` and `wall` are the
    /// same moment on the two clocks.
    pub fn recent(&self, now: Instant, wall: SystemTime) -> Vec<SendFailure> {
        self.recent
            .iter()
            .flat_map(|recent| recent.iter())
            .map(|e| SendFailure {
                at: wall - now.saturating_duration_since(e.at),
                reason: e.reason.clone(),
                size: e.size,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn drops_oldest_when_full() {
        let t0 = Instant::now();
        let mut log = FailureLog::new(2);
        for size in 1..=3 {
            log.record(t0, FailureReason::CloseTimeout, size);
        }
        let sizes: Vec<usize> = log
            .recent(t0, SystemTime::UNIX_EPOCH)
            .iter()
            .map(|f| f.size)
            .collect();
        assert_eq!(sizes, vec![2, 3]);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut log = FailureLog::new(0);
        log.record(Instant::now(), FailureReason::CloseTimeout, 1);
        assert!(log.recent(Instant::now(), SystemTime::now()).is_empty());
    }

    #[test]
    fn times_convert_to_the_wall_clock() {
        let t0 = Instant::now();
        let mut log = FailureLog::new(4);
        log.record(t0, FailureReason::CloseTimeout, 1);
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let recent = log.recent(t0 + Duration::from_secs(3), wall);
        assert_eq!(
            recent[0].at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(97)
        );
    }
}
