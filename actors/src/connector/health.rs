//! A destination's health as pure logic: whether it is up, how many checks each sender
//! missed in a row, and when a sender is closed for them.
//!
//! The [`Destination`](crate::Destination) actor sends the checks, runs the timers and
//! closes connections; every decision about what an answer, a missed check or a lost
//! sender means is taken here, from the events the actor reports and the `Instant` it
//! passes in, so each decision is unit-tested without sockets or clocks. The rules:
//!
//! - A destination is *down* until it answers in time on a connected sender, *up* from
//!   then on, and down again once no connected sender is left. A sender that retires
//!   (planned, not a failure) leaves it up; its replacement failing to dial brings it
//!   down.
//! - A health check sent at `t` must be answered before `t + timeout`: an answer at or
//!   after that deadline counts as missed, even if it arrives before the expiry timer
//!   runs. A timeout of 0 is therefore never met ("a timeout of 0 means at once").
//! - A sender that misses `max_failures` checks in a row is evicted; any answer in time
//!   (to a check or to a request) starts its count over.

use crate::ConnId;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The deadline rule: an answer counts only if it arrives strictly before its deadline.
pub(crate) fn in_time(deadline: Instant, now: Instant) -> bool {
    now < deadline
}

/// What the destination must do after a health event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing anyone outside needs to know.
    Nothing,
    /// The destination just came up: report it, start the redial backoff over.
    Up,
    /// The destination just went down: report it.
    Down,
    /// Close this sender for missed health checks.
    Evict,
}

/// One connected sender's health.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SenderHealth {
    /// Health checks missed in a row: reaching `max_failures` evicts the sender.
    pub missed: u32,
    /// Whether the destination has answered in time on it since it connected.
    pub verified: bool,
}

/// The health of one destination and of each of its connected senders.
#[derive(Debug)]
pub(crate) struct Health {
    /// How long a check may wait for its answer.
    timeout: Duration,
    /// Checks missed in a row that evict a sender (at least 1).
    max_failures: u32,
    /// Whether the destination is up.
    up: bool,
    /// The connected senders, by connection id.
    senders: BTreeMap<ConnId, SenderHealth>,
}

impl Health {
    /// A destination that is down and has no sender.
    pub fn new(timeout: Duration, max_failures: u32) -> Self {
        Health {
            timeout,
            max_failures: max_failures.max(1),
            up: false,
            senders: BTreeMap::new(),
        }
    }

    /// Whether the destination is up.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The health of sender `id`, if it is connected.
    pub fn sender(&self, id: ConnId) -> Option<SenderHealth> {
        self.senders.get(&id).copied()
    }

    /// Sender `id` connected: unverified, no misses.
    pub fn connected(&mut self, id: ConnId) {
        self.senders.insert(id, SenderHealth::default());
    }

    /// When a check sent at `sent` counts as missed.
    pub fn deadline(&self, sent: Instant) -> Instant {
        sent + self.timeout
    }

    /// The destination answered in time on sender `id` (a check, or a request's ack):
    /// its misses start over, and the destination is up.
    pub fn heard(&mut self, id: ConnId) -> Effect {
        let Some(sender) = self.senders.get_mut(&id) else {
            return Effect::Nothing;
        };
        sender.missed = 0;
        sender.verified = true;
        if std::mem::replace(&mut self.up, true) {
            Effect::Nothing
        } else {
            Effect::Up
        }
    }

    /// The answer to a check of sender `id` with `deadline` arrived at `now`.
    pub fn check_answered(&mut self, id: ConnId, deadline: Instant, now: Instant) -> Effect {
        if in_time(deadline, now) {
            self.heard(id)
        } else {
            self.missed(id)
        }
    }

    /// Sender `id` missed a check (no answer by its deadline, or no room to ask).
    pub fn missed(&mut self, id: ConnId) -> Effect {
        let Some(sender) = self.senders.get_mut(&id) else {
            return Effect::Nothing;
        };
        sender.missed = sender.missed.saturating_add(1);
        if sender.missed >= self.max_failures {
            Effect::Evict
        } else {
            Effect::Nothing
        }
    }

    /// Sender `id` is gone for a failure (closed, evicted, or its dial failed): the
    /// destination is down if no connected sender is left.
    pub fn lost(&mut self, id: ConnId) -> Effect {
        self.senders.remove(&id);
        if self.up && self.senders.is_empty() {
            self.up = false;
            Effect::Down
        } else {
            Effect::Nothing
        }
    }

    /// Sender `id` retired: not a failure, so the destination's state stays as it is.
    pub fn retired(&mut self, id: ConnId) {
        self.senders.remove(&id);
    }

    /// Every sender is gone because the destination stops; nothing is reported.
    pub fn clear(&mut self) {
        self.senders.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(200);

    fn health() -> Health {
        Health::new(TIMEOUT, 2)
    }

    #[test]
    fn down_until_the_first_answer_in_time_then_up_once() {
        let now = Instant::now();
        let mut h = health();
        h.connected(1);
        assert!(!h.is_up(), "connected is not up");
        let deadline = h.deadline(now);
        assert_eq!(h.check_answered(1, deadline, now), Effect::Up);
        assert!(h.is_up());
        assert_eq!(h.sender(1).map(|s| s.verified), Some(true));
        h.connected(2);
        assert_eq!(h.heard(2), Effect::Nothing, "up is reported once");
    }

    #[test]
    fn an_answer_at_or_after_the_deadline_is_a_missed_check() {
        let sent = Instant::now();
        let mut h = health();
        h.connected(1);
        let deadline = h.deadline(sent);
        assert_eq!(deadline, sent + TIMEOUT);
        let just_before = deadline - Duration::from_nanos(1);
        assert!(in_time(deadline, just_before));
        assert!(!in_time(deadline, deadline), "at the deadline is too late");
        assert_eq!(h.check_answered(1, deadline, deadline), Effect::Nothing);
        assert_eq!(h.sender(1).map(|s| s.missed), Some(1));
        assert!(!h.is_up(), "a late answer proves nothing");
        assert_eq!(h.check_answered(1, deadline, just_before), Effect::Up);
        assert_eq!(h.sender(1).map(|s| s.missed), Some(0));
    }

    /// A check that may wait 0 ms is never answered in time, however fast the answer.
    #[test]
    fn a_zero_timeout_is_never_met() {
        let sent = Instant::now();
        let mut h = Health::new(Duration::ZERO, 2);
        h.connected(1);
        let deadline = h.deadline(sent);
        assert_eq!(h.check_answered(1, deadline, sent), Effect::Nothing);
        assert_eq!(h.check_answered(1, deadline, sent), Effect::Evict);
        assert!(!h.is_up());
        assert_eq!(h.sender(1).map(|s| s.verified), Some(false));
    }

    #[test]
    fn max_failures_misses_in_a_row_evict_and_an_answer_starts_over() {
        let mut h = Health::new(TIMEOUT, 3);
        h.connected(7);
        assert_eq!(h.missed(7), Effect::Nothing);
        assert_eq!(h.missed(7), Effect::Nothing);
        assert_eq!(h.heard(7), Effect::Up);
        assert_eq!(h.missed(7), Effect::Nothing, "the count started over");
        assert_eq!(h.missed(7), Effect::Nothing);
        assert_eq!(h.missed(7), Effect::Evict);
        assert_eq!(h.lost(7), Effect::Down);
        assert_eq!(h.missed(7), Effect::Nothing, "a lost sender misses nothing");
        assert_eq!(h.heard(7), Effect::Nothing, "nor is heard");
        assert!(!h.is_up());
    }

    #[test]
    fn down_only_once_no_connected_sender_is_left() {
        let mut h = health();
        h.connected(1);
        h.connected(2);
        assert_eq!(h.heard(1), Effect::Up);
        assert_eq!(h.lost(1), Effect::Nothing, "sender 2 is still connected");
        assert_eq!(h.lost(2), Effect::Down);
        assert_eq!(h.lost(3), Effect::Nothing, "down is reported once");
    }

    #[test]
    fn a_retired_sender_leaves_the_destination_up_until_its_replacement_fails() {
        let mut h = health();
        h.connected(1);
        assert_eq!(h.heard(1), Effect::Up);
        h.retired(1);
        assert!(h.is_up());
        // The replacement (sender 2) fails to dial.
        assert_eq!(h.lost(2), Effect::Down);
    }

    #[test]
    fn a_failed_dial_while_down_reports_nothing() {
        let mut h = health();
        assert_eq!(h.lost(1), Effect::Nothing);
        assert!(!h.is_up());
    }

    #[test]
    fn at_least_one_miss_evicts() {
        let mut h = Health::new(TIMEOUT, 0);
        h.connected(1);
        assert_eq!(h.missed(1), Effect::Evict);
    }
}
