//! One shard of the sequencers: the histories of the groups that hash to it, numbered
//! in one order each. Plain data, no clock: the time comes with each call, and what
//! is to be sent (numbered runs for the hubs, histories started or forgotten for the
//! cluster's interest, a request to another shard to drop messages) is taken out
//! afterwards.

use super::budget::Budget;
use super::epoch::Epochs;
use super::log::{GroupLog, ENTRY_OVERHEAD};
use super::{Epoch, JoinAnswer, Position, Replay};
use crate::{ConnId, GroupName};
use bytes::Bytes;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Consecutive messages of one group in the order they were numbered, from offset
/// `first` on, as every hub hands them to that group's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeqRun {
    /// The group.
    pub group: GroupName,
    /// The history's incarnation the offsets belong to.
    pub epoch: Epoch,
    /// The offset of the first message.
    pub first: u64,
    /// The messages, protocol-neutral, shared with the history.
    pub messages: Vec<Bytes>,
    /// Who published each message (a connection of this server), so that a publisher
    /// that is a member recognises its own.
    pub publishers: Vec<Option<ConnId>>,
}

/// How a shard is set up.
#[derive(Debug, Clone)]
pub(crate) struct ShardSetup {
    /// Which shard this is, among `Budget`'s.
    pub index: usize,
    /// Messages kept per group.
    pub size: usize,
    /// How long a message is kept.
    pub ttl: Duration,
}

/// The histories of one shard's groups.
pub(crate) struct Shard {
    /// Which shard, its size and TTL.
    setup: ShardSetup,
    /// The byte budget and figures shared with the other shards.
    budget: Arc<Budget>,
    /// Where new epochs come from (shared by every shard of the process).
    epochs: Arc<Epochs>,
    /// The history of each group with one.
    logs: HashMap<GroupName, GroupLog>,
    /// Histories by cost, for "the largest first": (cost, log id).
    by_cost: BTreeSet<(usize, u64)>,
    /// The group of each log id.
    names: HashMap<u64, GroupName>,
    /// The next log's id.
    next_id: u64,
    /// Messages numbered since the runs were last taken, in order.
    runs: Vec<SeqRun>,
    /// Histories started (`true`) or forgotten since last taken, in order.
    kept: Vec<(GroupName, bool)>,
}

impl Shard {
    /// An empty shard.
    pub fn new(setup: ShardSetup, budget: Arc<Budget>, epochs: Arc<Epochs>) -> Self {
        Shard {
            setup,
            budget,
            epochs,
            logs: HashMap::new(),
            by_cost: BTreeSet::new(),
            names: HashMap::new(),
            next_id: 1,
            runs: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// Numbers `message`, published to `group` by `publisher` at `now`, and keeps it.
    /// Answers the shard to ask to drop messages, if the budget is now exceeded and
    /// another shard holds the largest history.
    pub fn publish(
        &mut self,
        now: Instant,
        group: &GroupName,
        message: Bytes,
        publisher: Option<ConnId>,
    ) -> Option<usize> {
        let size = self.setup.size.max(1);
        // Kept in an allocation of its own: the message may be a slice of a connection's
        // read buffer, which it would otherwise keep whole for as long as it is kept.
        let message = Bytes::copy_from_slice(&message);
        let (bytes, cost) = (message.len(), message.len() + ENTRY_OVERHEAD);
        let (name, epoch, offset, old, new, id, over) = {
            let (name, log) = self.log(now, group);
            let old = log.charged();
            let offset = log.append(now, message.clone());
            let over = match log.len() > size {
                true => log.drop_oldest(),
                false => None,
            };
            (
                name,
                log.epoch().clone(),
                offset,
                old,
                log.charged(),
                log.id,
                over,
            )
        };
        self.budget.kept(bytes, cost);
        if let Some((bytes, cost)) = over {
            self.budget.dropped(1, bytes, cost);
        }
        self.reindex(id, old, new);
        match self.runs.last_mut() {
            Some(run)
                if run.group == name
                    && run.epoch == epoch
                    && run.first + run.messages.len() as u64 == offset =>
            {
                run.messages.push(message);
                run.publishers.push(publisher);
            }
            _ => self.runs.push(SeqRun {
                group: name,
                epoch,
                first: offset,
                messages: vec![message],
                publishers: vec![publisher],
            }),
        }
        self.enforce()
    }

    /// Connection `id` joins `group` at `now` (`new_member`: it was not in it), from
    /// `from` if it asks to recover: where the history stands, and for a new member
    /// joining from a position, the missed messages or that they are lost.
    pub fn join(
        &mut self,
        now: Instant,
        id: ConnId,
        group: &GroupName,
        from: Option<&Position>,
        new_member: bool,
    ) -> JoinAnswer {
        let budget = self.budget.clone();
        let (_, log) = self.log(now, group);
        if new_member {
            log.add_member(id);
        }
        let answer = log.answer(from.filter(|_| new_member));
        if let Some(recovery) = &answer.recovery {
            budget.recovery(matches!(recovery, Replay::Recovered(_)));
        }
        answer
    }

    /// Connection `id` left `group` (or was removed) at `now`.
    pub fn leave(&mut self, now: Instant, id: ConnId, group: &GroupName) {
        let Some(log) = self.logs.get_mut(group) else {
            return;
        };
        log.remove_member(id);
        if log.is_dead(now, self.setup.ttl) {
            self.forget(group);
        }
    }

    /// Drops every message kept `ttl` or longer at `now`, and forgets the histories
    /// that died.
    pub fn sweep(&mut self, now: Instant) {
        let ttl = self.setup.ttl;
        let mut dead = Vec::new();
        let mut changed = Vec::new();
        let mut dropped = (0, 0, 0);
        for (name, log) in &mut self.logs {
            let old = log.charged();
            let (n, bytes, cost) = log.expire(now, ttl);
            if n > 0 {
                dropped = (dropped.0 + n, dropped.1 + bytes, dropped.2 + cost);
                changed.push((log.id, old, log.charged()));
            }
            if log.is_dead(now, ttl) {
                dead.push(name.clone());
            }
        }
        self.budget.dropped(dropped.0, dropped.1, dropped.2);
        for (id, old, new) in changed {
            self.reindex(id, old, new);
        }
        for name in dead {
            self.forget(&name);
        }
    }

    /// Another shard asked this one to drop messages: drops the oldest of its largest
    /// histories while the budget is exceeded and it holds the largest one. Answers
    /// the shard to ask next, if another holds the largest history now.
    pub fn evict(&mut self) -> Option<usize> {
        self.budget.answered(self.setup.index);
        self.enforce()
    }

    /// Takes the runs numbered since the last call, in order.
    pub fn take_runs(&mut self) -> Vec<SeqRun> {
        std::mem::take(&mut self.runs)
    }

    /// Takes the histories started (`true`) or forgotten since the last call.
    pub fn take_kept(&mut self) -> Vec<(GroupName, bool)> {
        std::mem::take(&mut self.kept)
    }

    /// The history of `group` at `now`: its messages older than the TTL dropped, a dead
    /// one replaced by a new one (a new epoch), created if there was none. Answers the
    /// name the shard keeps (shared by its runs) too.
    fn log(&mut self, now: Instant, group: &GroupName) -> (GroupName, &mut GroupLog) {
        let ttl = self.setup.ttl;
        let mut fate = None;
        if let Some(log) = self.logs.get_mut(group) {
            let old = log.charged();
            let (n, bytes, cost) = log.expire(now, ttl);
            if n > 0 {
                fate = Some((log.id, old, log.charged(), n, bytes, cost));
            }
        }
        if let Some((id, old, new, n, bytes, cost)) = fate {
            self.budget.dropped(n, bytes, cost);
            self.reindex(id, old, new);
        }
        if self.logs.get(group).is_some_and(|l| l.is_dead(now, ttl)) {
            self.forget(group);
        }
        match self.logs.entry(group.clone()) {
            Entry::Occupied(entry) => {
                let name = entry.key().clone();
                (name, entry.into_mut())
            }
            Entry::Vacant(entry) => {
                let id = self.next_id;
                self.next_id += 1;
                self.names.insert(id, group.clone());
                self.budget.history(true);
                self.kept.push((group.clone(), true));
                (
                    group.clone(),
                    entry.insert(GroupLog::new(id, self.epochs.next())),
                )
            }
        }
    }

    /// Forgets the history of `group`: what it kept leaves the budget.
    fn forget(&mut self, group: &GroupName) {
        let Some(mut log) = self.logs.remove(group) else {
            return;
        };
        let old = log.charged();
        let (mut n, mut bytes, mut cost) = (0, 0, 0);
        while let Some((b, c)) = log.drop_oldest() {
            (n, bytes, cost) = (n + 1, bytes + b, cost + c);
        }
        self.budget.dropped(n, bytes, cost);
        self.reindex(log.id, old, 0);
        self.names.remove(&log.id);
        self.budget.history(false);
        self.kept.push((group.clone(), false));
    }

    /// Log `id`'s cost went from `old` to `new`.
    fn reindex(&mut self, id: u64, old: usize, new: usize) {
        if old == new {
            return;
        }
        if old > 0 {
            self.by_cost.remove(&(old, id));
        }
        if new > 0 {
            self.by_cost.insert((new, id));
        }
        let largest = self.by_cost.last().map_or(0, |(cost, _)| *cost);
        self.budget.set_largest(self.setup.index, largest);
    }

    /// While the budget is exceeded, drops the oldest message of this shard's largest
    /// history, as long as no other shard holds a larger one; answers that shard if
    /// one does (and was not asked already).
    fn enforce(&mut self) -> Option<usize> {
        while self.budget.over() {
            let mine = self.by_cost.last().copied();
            let (shard, cost) = self.budget.largest();
            if shard != self.setup.index && cost > mine.map_or(0, |(c, _)| c) {
                return self.budget.ask(shard).then_some(shard);
            }
            let Some((_, id)) = mine else { break };
            let Some(group) = self.names.get(&id).cloned() else {
                break;
            };
            let Some(log) = self.logs.get_mut(&group) else {
                break;
            };
            let old = log.charged();
            if let Some((bytes, cost)) = log.drop_oldest() {
                self.budget.dropped(1, bytes, cost);
            }
            let (new, forget) = (log.charged(), log.is_empty_and_memberless());
            self.reindex(id, old, new);
            if forget {
                // Nobody is in it and nothing of it is left: its offsets are no longer
                // worth the memory.
                self.forget(&group);
            }
        }
        None
    }

    /// The history of `group`, for tests.
    #[cfg(test)]
    pub fn log_of(&self, group: &str) -> Option<&GroupLog> {
        self.logs.get(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(n: usize, size: usize, max_bytes: usize) -> (Vec<Shard>, Arc<Budget>) {
        let budget = Arc::new(Budget::new(max_bytes, n));
        let epochs = Arc::new(Epochs::new());
        let shards = (0..n)
            .map(|index| {
                let setup = ShardSetup {
                    index,
                    size,
                    ttl: Duration::from_secs(60),
                };
                Shard::new(setup, budget.clone(), epochs.clone())
            })
            .collect();
        (shards, budget)
    }

    fn message(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[test]
    fn messages_are_numbered_in_one_order_per_group_and_cut_in_runs() {
        let (mut shards, _) = shards(1, 10, 1 << 20);
        let shard = &mut shards[0];
        let now = Instant::now();
        let (a, b) = (GroupName::from("a"), GroupName::from("b"));
        shard.publish(now, &a, message(1), Some(1));
        shard.publish(now, &a, message(1), Some(2));
        shard.publish(now, &b, message(1), None);
        shard.publish(now, &a, message(1), Some(1));
        let runs: Vec<_> = shard
            .take_runs()
            .into_iter()
            .map(|r| (r.group.to_string(), r.first, r.publishers))
            .collect();
        assert_eq!(
            runs,
            [
                ("a".to_owned(), 1, vec![Some(1), Some(2)]),
                ("b".to_owned(), 1, vec![None]),
                ("a".to_owned(), 3, vec![Some(1)]),
            ]
        );
        assert_eq!(
            shard.take_kept(),
            [(a, true), (b, true)],
            "two histories started"
        );
    }

    #[test]
    fn a_group_keeps_its_last_size_messages() {
        let (mut shards, budget) = shards(1, 3, 1 << 20);
        let now = Instant::now();
        let a = GroupName::from("a");
        for _ in 0..5 {
            shards[0].publish(now, &a, message(10), None);
        }
        let log = shards[0].log_of("a").unwrap();
        assert_eq!((log.len(), log.last(), log.bytes()), (3, 5, 30));
        let counters = budget.counters();
        assert_eq!(
            (counters.messages, counters.bytes, counters.groups),
            (3, 30, 1)
        );
    }

    #[test]
    fn the_budget_drops_the_oldest_messages_of_the_largest_history_first() {
        let cost = 100 + ENTRY_OVERHEAD;
        let (mut shards, budget) = shards(1, 100, 5 * cost);
        let now = Instant::now();
        let (big, small) = (GroupName::from("big"), GroupName::from("small"));
        shards[0].publish(now, &small, message(100), None);
        for _ in 0..4 {
            shards[0].publish(now, &big, message(100), None);
        }
        assert_eq!(budget.charged(), 5 * cost, "at the budget, nothing dropped");
        shards[0].publish(now, &small, message(100), None);
        let (b, s) = (
            shards[0].log_of("big").unwrap(),
            shards[0].log_of("small").unwrap(),
        );
        assert_eq!((b.len(), b.last()), (3, 4), "the largest lost its oldest");
        assert_eq!((s.len(), s.last()), (2, 2));
        assert_eq!(budget.charged(), 5 * cost);
    }

    #[test]
    fn a_shard_over_the_budget_asks_the_one_with_the_largest_history() {
        let cost = 100 + ENTRY_OVERHEAD;
        let (mut shards, budget) = shards(2, 100, 5 * cost);
        let now = Instant::now();
        let (big, small) = (GroupName::from("big"), GroupName::from("small"));
        for _ in 0..4 {
            assert_eq!(shards[1].publish(now, &big, message(100), None), None);
        }
        assert_eq!(shards[0].publish(now, &small, message(100), None), None);
        assert_eq!(
            shards[0].publish(now, &small, message(100), None),
            Some(1),
            "shard 1 holds the largest history"
        );
        assert_eq!(
            shards[0].publish(now, &small, message(100), None),
            None,
            "asked once until it answers"
        );
        assert!(budget.over(), "until shard 1 drops messages");
        // 4 against 3: shard 1 drops one, then (a tie) another of its own.
        assert_eq!(shards[1].evict(), None);
        assert!(!budget.over());
        assert_eq!(shards[1].log_of("big").unwrap().len(), 2);
        assert_eq!(shards[0].log_of("small").unwrap().len(), 3);
    }

    #[test]
    fn a_memberless_history_lives_until_its_messages_expire_then_starts_a_new_epoch() {
        let (mut shards, budget) = shards(1, 10, 1 << 20);
        let shard = &mut shards[0];
        let start = Instant::now();
        let ttl = Duration::from_secs(60);
        let a = GroupName::from("a");
        shard.publish(start, &a, message(1), None);
        let first = shard.join(start, 7, &a, None, true);
        assert_eq!(first.last, 1);
        shard.leave(start, 7, &a);
        assert!(shard.log_of("a").is_some(), "its message is still kept");
        shard.sweep(start + ttl);
        assert!(shard.log_of("a").is_none(), "expired and memberless");
        assert_eq!(budget.counters().groups, 0);
        shard.publish(start + ttl, &a, message(1), None);
        let second = shard.join(start + ttl, 8, &a, None, true);
        assert_ne!(second.epoch, first.epoch);
        assert_eq!(second.last, 1, "a new epoch starts at offset 1");
    }

    #[test]
    fn a_history_with_members_keeps_its_epoch_when_its_messages_expire() {
        let (mut shards, _) = shards(1, 10, 1 << 20);
        let shard = &mut shards[0];
        let start = Instant::now();
        let ttl = Duration::from_secs(60);
        let a = GroupName::from("a");
        let first = shard.join(start, 7, &a, None, true);
        shard.publish(start, &a, message(1), None);
        shard.sweep(start + ttl * 2);
        let again = shard.join(start + ttl * 2, 7, &a, None, false);
        assert_eq!((again.epoch, again.last), (first.epoch, 1));
        assert_eq!(shard.log_of("a").unwrap().members(), 1);
    }

    #[test]
    fn recovery_counts_only_new_members_joining_from_a_position() {
        let (mut shards, budget) = shards(1, 10, 1 << 20);
        let shard = &mut shards[0];
        let now = Instant::now();
        let a = GroupName::from("a");
        let stand = shard.join(now, 1, &a, None, true);
        let from = Position {
            epoch: stand.epoch.clone(),
            offset: 0,
        };
        shard.publish(now, &a, message(1), None);
        assert!(matches!(
            shard.join(now, 2, &a, Some(&from), true).recovery,
            Some(Replay::Recovered(ref m)) if m.len() == 1
        ));
        assert_eq!(
            shard.join(now, 2, &a, Some(&from), false).recovery,
            None,
            "a member already"
        );
        let future = Position { offset: 9, ..from };
        assert_eq!(
            shard.join(now, 3, &a, Some(&future), true).recovery,
            Some(Replay::Lost)
        );
        let counters = budget.counters();
        assert_eq!((counters.recovered_total, counters.lost_total), (1, 1));
    }
}
