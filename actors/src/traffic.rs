//! Traffic counters: plain numbers a connection keeps and reports to the stats actor.
//!
//! A connection adds to its own [`Traffic`] on every read and write, and sends what
//! accumulated since its last report as one batched delta, never one message per write.
//!
//! The packet counters make the accounting invariant checkable: every packet offered to
//! a connection is `refused`, or `queued` and then exactly one of `sent` or `dropped`.

use serde::Serialize;

/// Counters of what crossed one connection (or many, once aggregated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Bytes the socket accepted from us.
    pub sent_bytes: u64,
    /// Packets written completely to the socket.
    pub sent_packets: u64,
    /// Bytes read from the socket.
    pub received_bytes: u64,
    /// Packets decoded from the socket, bad ones included.
    pub received_packets: u64,
    /// Packets the protocol judged bad.
    pub error_packets: u64,
    /// Packets accepted into the outbound queue.
    pub queued_packets: u64,
    /// Packets accepted into the queue and never completely written.
    pub dropped_packets: u64,
    /// Packets refused before queueing (over budget, closing, encode error).
    pub refused_packets: u64,
    /// Requests refused for want of permission: answered, never counted as error
    /// packets ([`Outbox::deny`](crate::Outbox::deny)).
    pub denied: u64,
}

impl Traffic {
    /// Adds every counter of `other` to `self`.
    pub fn add(&mut self, other: &Traffic) {
        self.sent_bytes += other.sent_bytes;
        self.sent_packets += other.sent_packets;
        self.received_bytes += other.received_bytes;
        self.received_packets += other.received_packets;
        self.error_packets += other.error_packets;
        self.queued_packets += other.queued_packets;
        self.dropped_packets += other.dropped_packets;
        self.refused_packets += other.refused_packets;
        self.denied += other.denied;
    }

    /// Sum of two counters.
    pub fn plus(mut self, other: &Traffic) -> Traffic {
        self.add(other);
        self
    }

    /// Packets that never reached the peer: refused or dropped.
    pub fn send_failures(&self) -> u64 {
        self.refused_packets + self.dropped_packets
    }

    /// Whether every counter is zero (nothing to report).
    pub fn is_zero(&self) -> bool {
        *self == Traffic::default()
    }

    /// Returns the counters and resets them: the delta to report.
    pub fn take(&mut self) -> Traffic {
        std::mem::take(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_returns_delta_and_resets() {
        let mut t = Traffic {
            sent_bytes: 10,
            sent_packets: 1,
            ..Traffic::default()
        };
        let mut total = Traffic::default();
        total.add(&t.take());
        assert!(t.is_zero());
        total.add(&Traffic {
            sent_bytes: 5,
            refused_packets: 2,
            dropped_packets: 1,
            ..Traffic::default()
        });
        assert_eq!(total.sent_bytes, 15);
        assert_eq!(total.sent_packets, 1);
        assert_eq!(total.send_failures(), 3);
    }
}
