//! One group's history: its epoch, its last offset, the messages still kept and the
//! members that joined it through its sequencer. Plain data, no clock: the time comes
//! with each call.

use super::{Epoch, JoinAnswer, Position, Replay};
use crate::ConnId;
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// What a kept message costs the byte budget beyond its own bytes: its place in the
/// log (the time it came and the shared bytes' handle, with the log's spare room), the
/// allocator's header of its bytes and the shared buffer's header. `bench history`
/// measures the whole: about 190 bytes of resident memory for a 64-byte message.
pub const ENTRY_OVERHEAD: usize = 128;

/// One kept message.
#[derive(Debug, Clone)]
struct Entry {
    /// When it was numbered: it expires `ttl` later.
    at: Instant,
    /// The protocol-neutral message, shared with every delivery of it.
    message: Bytes,
}

/// One group's history. Kept messages always hold consecutive offsets ending at
/// `last`: messages leave from the oldest end only (expiry, the size limit, the
/// byte budget).
#[derive(Debug)]
pub(crate) struct GroupLog {
    /// Names this log in the shard's size index.
    pub id: u64,
    /// This incarnation's name.
    epoch: Epoch,
    /// The offset of the last message numbered, 0 before the first.
    last: u64,
    /// When the last message was numbered: once that is `ttl` ago, every message of the
    /// history has expired.
    last_at: Option<Instant>,
    /// The messages still kept, oldest first.
    entries: VecDeque<Entry>,
    /// Bytes of the kept messages.
    bytes: usize,
    /// The connections of this server in the group (joined through the sequencer).
    members: HashSet<ConnId>,
}

impl GroupLog {
    /// An empty history named `epoch`.
    pub fn new(id: u64, epoch: Epoch) -> Self {
        GroupLog {
            id,
            epoch,
            last: 0,
            last_at: None,
            entries: VecDeque::new(),
            bytes: 0,
            members: HashSet::new(),
        }
    }

    /// This incarnation's name.
    pub fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    /// The offset of the last message numbered.
    #[cfg(test)]
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Messages kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the messages kept.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What the kept messages cost the byte budget.
    pub fn charged(&self) -> usize {
        self.bytes + self.entries.len() * ENTRY_OVERHEAD
    }

    /// The offset of the oldest message kept (`last + 1` when none is).
    fn first(&self) -> u64 {
        self.last + 1 - self.entries.len() as u64
    }

    /// Numbers `message` at `now`: answers its offset.
    pub fn append(&mut self, now: Instant, message: Bytes) -> u64 {
        self.last += 1;
        self.last_at = Some(now);
        self.bytes += message.len();
        self.entries.push_back(Entry { at: now, message });
        self.last
    }

    /// Drops the oldest message; answers its cost to the budget (none: nothing kept).
    pub fn drop_oldest(&mut self) -> Option<(usize, usize)> {
        let entry = self.entries.pop_front()?;
        self.bytes -= entry.message.len();
        Some((entry.message.len(), entry.message.len() + ENTRY_OVERHEAD))
    }

    /// Drops the messages numbered `ttl` or longer before `now`; answers how many, and
    /// their bytes and cost.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> (usize, usize, usize) {
        let mut dropped = (0, 0, 0);
        while self
            .entries
            .front()
            .is_some_and(|e| now.saturating_duration_since(e.at) >= ttl)
        {
            if let Some((bytes, cost)) = self.drop_oldest() {
                dropped = (dropped.0 + 1, dropped.1 + bytes, dropped.2 + cost);
            }
        }
        dropped
    }

    /// Whether the log may be forgotten at `now`: nobody is in the group and every
    /// message it numbered has expired (or it never numbered one), so its offsets can
    /// no longer be vouched for; the group's next message starts a new epoch.
    pub fn is_dead(&self, now: Instant, ttl: Duration) -> bool {
        self.members.is_empty()
            && self.entries.is_empty()
            && self
                .last_at
                .is_none_or(|at| now.saturating_duration_since(at) >= ttl)
    }

    /// Whether the log has no member and keeps no message.
    pub fn is_empty_and_memberless(&self) -> bool {
        self.members.is_empty() && self.entries.is_empty()
    }

    /// Adds a member; false if it was one.
    pub fn add_member(&mut self, id: ConnId) -> bool {
        self.members.insert(id)
    }

    /// Removes a member; false if it was none.
    pub fn remove_member(&mut self, id: ConnId) -> bool {
        self.members.remove(&id)
    }

    /// Members of this server in the group.
    #[cfg(test)]
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Where the history stands for a join, and for a join from `from`, whether every
    /// message after it is still kept (then those, in order) or not.
    pub fn answer(&self, from: Option<&Position>) -> JoinAnswer {
        let recovery = from.map(|from| {
            let kept = from.epoch == self.epoch
                && from.offset <= self.last
                && from.offset + 1 >= self.first();
            if !kept {
                return Replay::Lost;
            }
            let skip = (from.offset + 1 - self.first()) as usize;
            let missed = self.entries.iter().skip(skip);
            Replay::Recovered(missed.map(|e| e.message.clone()).collect())
        });
        JoinAnswer {
            epoch: self.epoch.clone(),
            last: self.last,
            recovery,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(messages: &[&'static str], now: Instant) -> GroupLog {
        let mut log = GroupLog::new(1, Epoch::parse("e1").unwrap());
        for m in messages {
            log.append(now, Bytes::from_static(m.as_bytes()));
        }
        log
    }

    fn at(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: Epoch::parse(epoch).unwrap(),
            offset,
        }
    }

    fn recovered(answer: &JoinAnswer) -> Option<Vec<&[u8]>> {
        match &answer.recovery {
            Some(Replay::Recovered(messages)) => Some(messages.iter().map(|m| &m[..]).collect()),
            _ => None,
        }
    }

    #[test]
    fn a_position_inside_the_history_recovers_what_follows_it() {
        let now = Instant::now();
        let mut log = log(&["a", "b", "c"], now);
        assert_eq!(log.answer(None).last, 3);
        assert_eq!(log.answer(None).recovery, None);
        let answer = log.answer(Some(&at("e1", 1)));
        assert_eq!(recovered(&answer), Some(vec![&b"b"[..], b"c"]));
        assert_eq!(recovered(&log.answer(Some(&at("e1", 0)))).unwrap().len(), 3);
        assert_eq!(recovered(&log.answer(Some(&at("e1", 3)))).unwrap().len(), 0);
        // The oldest one goes: offset 0 can no longer be served, 1 still can.
        assert_eq!(log.drop_oldest(), Some((1, 1 + ENTRY_OVERHEAD)));
        assert_eq!(log.answer(Some(&at("e1", 0))).recovery, Some(Replay::Lost));
        assert_eq!(recovered(&log.answer(Some(&at("e1", 1)))).unwrap().len(), 2);
    }

    #[test]
    fn another_epoch_or_an_offset_in_the_future_is_lost() {
        let log = log(&["a", "b"], Instant::now());
        for from in [at("e2", 1), at("e1", 3), at("e1", u64::MAX)] {
            assert_eq!(log.answer(Some(&from)).recovery, Some(Replay::Lost));
        }
    }

    #[test]
    fn messages_expire_oldest_first_and_the_log_dies_only_without_members() {
        let start = Instant::now();
        let ttl = Duration::from_secs(10);
        let mut log = log(&["a"], start);
        log.append(start + Duration::from_secs(5), Bytes::from_static(b"bb"));
        assert_eq!(log.expire(start + Duration::from_secs(9), ttl), (0, 0, 0));
        assert_eq!(
            log.expire(start + ttl, ttl),
            (1, 1, 1 + ENTRY_OVERHEAD),
            "the first is due"
        );
        assert_eq!((log.len(), log.bytes(), log.last()), (1, 2, 2));
        log.add_member(7);
        let later = start + Duration::from_secs(20);
        log.expire(later, ttl);
        assert_eq!(log.len(), 0);
        assert!(!log.is_dead(later, ttl), "a member keeps epoch and offset");
        assert_eq!(log.answer(None).last, 2);
        assert_eq!(
            recovered(&log.answer(Some(&at("e1", 2)))).unwrap().len(),
            0,
            "nothing after 2 was missed"
        );
        log.remove_member(7);
        assert!(log.is_dead(later, ttl));
    }
}
