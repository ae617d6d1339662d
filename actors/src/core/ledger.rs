//! What one connection did, counted where it happened.
//!
//! Every packet accepted for a connection ends in exactly one of: written, or recorded
//! as a send failure with its reason. The ledger holds those counters (reported to the
//! stats actor in batches, so the hot path sends no message), the bounded failure log
//! and the lifetime error-packet count.

use super::failures::FailureLog;
use crate::{FailureReason, SendFailure, Traffic};
use std::time::{Instant, SystemTime};

/// The counters and failure record of one connection.
#[derive(Debug)]
pub(crate) struct Ledger {
    /// Counters not yet reported.
    unreported: Traffic,
    /// Counters already reported.
    reported: Traffic,
    /// Recent send failures.
    failures: FailureLog,
}

impl Ledger {
    /// An empty ledger keeping at most `max_failure_records` failures.
    pub fn new(max_failure_records: usize) -> Self {
        Ledger {
            unreported: Traffic::default(),
            reported: Traffic::default(),
            failures: FailureLog::new(max_failure_records),
        }
    }

    /// Bytes arrived from the peer.
    pub fn received_bytes(&mut self, n: usize) {
        self.unreported.received_bytes += n as u64;
    }

    /// One packet decoded (a bad one included).
    pub fn received_packet(&mut self) {
        self.unreported.received_packets += 1;
    }

    /// One error packet; returns the lifetime count.
    pub fn error_packet(&mut self) -> u32 {
        self.unreported.error_packets += 1;
        self.error_packets()
    }

    /// `packets` entered the outbound queue.
    pub fn queued(&mut self, packets: usize) {
        self.unreported.queued_packets += packets as u64;
    }

    /// `bytes` reached the socket, completing `packets`.
    pub fn sent(&mut self, bytes: usize, packets: usize) {
        self.unreported.sent_bytes += bytes as u64;
        self.unreported.sent_packets += packets as u64;
    }

    /// A request was refused for want of permission.
    pub fn denied(&mut self) {
        self.unreported.denied += 1;
    }

    /// A packet never entered the queue.
    pub fn refused(&mut self, at: Instant, reason: FailureReason, size: usize) {
        self.unreported.refused_packets += 1;
        self.failures.record(at, reason, size);
    }

    /// A queued packet will never be completely written.
    pub fn dropped(&mut self, at: Instant, reason: FailureReason, size: usize) {
        self.unreported.dropped_packets += 1;
        self.failures.record(at, reason, size);
    }

    /// Takes the counters not reported yet, or `None` if nothing changed.
    pub fn take_report(&mut self) -> Option<Traffic> {
        if self.unreported.is_zero() {
            return None;
        }
        let delta = self.unreported.take();
        self.reported.add(&delta);
        Some(delta)
    }

    /// Whether counters changed since the last report.
    pub fn has_unreported(&self) -> bool {
        !self.unreported.is_zero()
    }

    /// Everything counted since the connection opened.
    pub fn total(&self) -> Traffic {
        self.reported.plus(&self.unreported)
    }

    /// Error packets over the connection's lifetime.
    pub fn error_packets(&self) -> u32 {
        let lifetime = self.reported.error_packets + self.unreported.error_packets;
        u32::try_from(lifetime).unwrap_or(u32::MAX)
    }

    /// The most recent failures with wall-clock times (`now` and `wall` being one moment).
    pub fn recent_failures(&self, now: Instant, wall: SystemTime) -> Vec<SendFailure> {
        self.failures.recent(now, wall)
    }
}
