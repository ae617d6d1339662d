//! How a connection ends: a graceful close that flushes what is queued and lingers, or
//! an abort that records everything still queued, unconfirmed or held as failed; and
//! what runs after every input to hand out events and move the phase on.

use super::{Conn, Event, Phase, Timer};
use crate::protocol::Protocol;
use crate::{FailureReason, RemovalReason};
use bytes::BytesMut;
use std::time::Instant;

impl<P: Protocol> Conn<P> {
    // ----- closing -------------------------------------------------------------------

    /// Removes the connection and starts a graceful close, or an abort for reasons
    /// where the peer cannot take more data.
    pub(super) fn begin_close(&mut self, now: Instant, reason: RemovalReason) {
        if !reason.flushes() || self.is_upgrading() {
            // Before a WebSocket's handshake finished nothing can reach the peer.
            return self.abort(now, reason, FailureReason::Removed(reason));
        }
        if self.phase != Phase::Open {
            return;
        }
        self.remove(reason);
        self.end_histories(now);
        if matches!(reason, RemovalReason::Idle | RemovalReason::Shutdown) {
            self.last_word(now, reason.as_str());
        }
        self.phase = Phase::Closing(reason);
        self.read_buf = BytesMut::new();
        // Only the handshake and the report outlive the open phase.
        self.timers.stop_all_but(&[Timer::Handshake, Timer::Report]);
        let deadline = now + self.limits.close_timeout;
        self.timers.set(Timer::Phase, Some(deadline));
    }

    /// Closes at once: every packet still queued, taken but unconfirmed, or held in
    /// reply order is recorded as failed with `failure`.
    pub(super) fn abort(&mut self, now: Instant, reason: RemovalReason, failure: FailureReason) {
        if self.phase.is_done() {
            return;
        }
        for size in self.queue.drain_unwritten() {
            self.ledger.dropped(now, failure.clone(), size);
        }
        if let Some(mut pending) = self.unconfirmed.take() {
            for size in pending.ends.drain_sizes() {
                self.ledger.dropped(now, failure.clone(), size);
            }
        }
        let mut held: Vec<usize> = Vec::new();
        for slot in self.replies.drain() {
            match slot {
                Some(out) => out.sizes(&mut held),
                None => held.push(0),
            }
        }
        self.drop_history();
        for size in held {
            self.ledger.refused(now, failure.clone(), size);
        }
        self.read_buf = BytesMut::new();
        self.remove(reason);
        self.finish(reason);
    }

    /// Leaves the groups, once (while still open): the owner reports the counters
    /// first, so whoever learns of the removal finds them current. The caller moves the
    /// phase on.
    pub(super) fn remove(&mut self, reason: RemovalReason) {
        if self.phase != Phase::Open {
            return;
        }
        // The history groups it leaves, for its owner to tell their sequencers.
        self.keep_history_memberships();
        self.outbox.release();
        if self.opened {
            self.protocol.on_close(reason);
        }
        self.report();
        self.events.push_back(Event::Removed(reason));
    }

    /// Stops, with the reason of the removal (`reason` if it was never removed).
    pub(super) fn finish(&mut self, reason: RemovalReason) {
        if self.phase.is_done() {
            return;
        }
        self.phase = Phase::Done(self.phase.removal().unwrap_or(reason));
        self.timers.stop_all_but(&[]);
        self.report();
        self.events.push_back(Event::Stop);
    }

    pub(super) fn report(&mut self) {
        if let Some(delta) = self.ledger.take_report() {
            self.events.push_back(Event::Report(delta));
        }
    }

    /// Runs after every input: hands out the broadcasts and publishes, arms the report, applies the
    /// read watermarks and moves a drained closing connection on to lingering (or
    /// straight to done when the peer's end was read already).
    pub(super) fn settle(&mut self, now: Instant) {
        if let Some(fanout) = self.fanout.as_deref_mut() {
            if !fanout.broadcasts.is_empty() {
                let packets = std::mem::take(&mut fanout.broadcasts);
                self.events.push_back(Event::Broadcast(packets));
            }
            if !fanout.publishes.is_empty() {
                let messages = std::mem::take(&mut fanout.publishes);
                self.events.push_back(Event::Publish(messages));
            }
        }
        self.settle_history();
        self.arm_report(now);
        let queued = self.queue.len_bytes();
        if queued == 0 {
            // Nothing waits for the socket: no write progress is due.
            self.timers.stop(Timer::Write);
        }
        if queued >= self.limits.read_pause_bytes {
            self.read_paused = true;
        } else if queued <= self.limits.read_pause_bytes / 2 {
            self.read_paused = false;
        }
        let drained = self.queue.is_empty()
            && self
                .unconfirmed
                .as_ref()
                .is_none_or(|pending| pending.ends.is_empty());
        if let Phase::Closing(reason) = self.phase {
            if self.replies.is_clear() && self.ws.is_some() {
                // A WebSocket's last frame is its Close, after its last replies.
                self.ws_close_frame(now, reason);
            }
            let drained = drained && self.queue.is_empty();
            if drained && self.replies.is_clear() {
                self.events.push_back(Event::ShutdownWrite);
                if self.peer_closed {
                    // Its end was read already: nothing is left to wait for.
                    self.finish(reason);
                } else {
                    self.phase = Phase::Lingering(reason);
                    let deadline = now + self.limits.linger;
                    self.timers.set(Timer::Phase, Some(deadline));
                }
            }
        }
    }

    /// Counters changed: they are reported within `stats_interval` from now.
    pub(super) fn arm_report(&mut self, now: Instant) {
        let due = self.ledger.has_unreported() && !self.timers.is_set(Timer::Report);
        if due && !self.phase.is_done() {
            let deadline = now + self.limits.stats_interval;
            self.timers.set(Timer::Report, Some(deadline));
        }
    }
}
