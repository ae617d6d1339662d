//! A member's side of one history group: where its stream starts, which deliveries
//! are its own, and what waits for what in its reply order. Plain data: the
//! connection core holds one per history group it is in (or still owes answers for).
//!
//! The group's sequencer answers a join at one point of the group's one order: the
//! answer carries the offset `last` of the message before that point (and, for a
//! recovery, the messages after the member's position up to `last`). The answer
//! reaches the member before any message numbered after it, but messages numbered
//! before it may still be on their way through the hubs, before or after it. So:
//!
//! - until the answer of its join arrives, every delivery is dropped (its offset is at
//!   most `last`: covered by the replay, or from before the join);
//! - after it, a delivery at an offset already passed is a duplicate and is dropped;
//!   the stream goes on at `last + 1` with no gap and no duplicate.
//!
//! Replies keep request order around the stream. A JOIN's answer (JOINED, then the
//! replayed messages) takes its place among the replies; a connection's own message in
//! a group it is in comes back through the sequencer in the group's order, and the
//! replies to requests sent after it wait for it (a *barrier*). Deliveries that arrive
//! while a barrier waits are gathered into its slot, ahead of what completes it, so
//! the member still sees the one order. A JOIN of a group the connection is in waits
//! in the same way until the stream has passed the answer's `last`.

use super::{Epoch, JoinAnswer};
use std::collections::VecDeque;

/// Where a member's stream stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Joined; the answer with this token has not arrived.
    Pending(u64),
    /// Receiving messages of this epoch; the next offset expected.
    Live(Epoch, u64),
    /// Not a member any more.
    Left,
}

/// A reply slot that waits for something in the stream.
#[derive(Debug)]
struct Barrier<T> {
    /// The reply slot it fills.
    slot: u64,
    /// What completes it.
    kind: Kind,
    /// Deliveries that arrived while it waited, in order: they go out before it.
    before: Vec<T>,
}

/// What completes a barrier.
#[derive(Debug)]
enum Kind {
    /// The answer to the join with this token, once the stream has passed its `last`.
    Join {
        /// The join's token.
        token: u64,
        /// Its answer, once it came.
        answer: Option<JoinAnswer>,
        /// The connection was a member already: the answer says where its stream is.
        rejoin: bool,
    },
    /// The connection's own next message in this group.
    Own,
}

/// How far a membership's stream got before the connection left: the offset of the
/// last message delivered, or (when it left before its join was answered) the `last`
/// of that join's answer, once it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// This offset.
    At(u64),
    /// The `last` of the answer to the join with this token.
    AnswerOf(u64),
}

/// A join of an earlier membership still waiting for its answer.
#[derive(Debug)]
struct Orphan<T> {
    /// The reply slot it fills.
    slot: u64,
    /// The join's token.
    token: u64,
    /// Deliveries gathered before the connection left.
    before: Vec<T>,
    /// For a join of a member: how far the stream got. Its answer says no more than
    /// that: whatever came after was never delivered, and a client must not take its
    /// position from further.
    rejoin: Option<Reached>,
}

/// A barrier's slot, ready: `before`, then (for a join) the answer and what it replays.
#[derive(Debug)]
pub(crate) struct Completed<T> {
    /// The reply slot to fill.
    pub slot: u64,
    /// Deliveries that go out first, in order (the connection's own message last, for
    /// a publish).
    pub before: Vec<T>,
    /// For a join: its answer (the JOINED reply, then the replayed messages).
    pub answer: Option<(u64, JoinAnswer)>,
}

/// What becomes of one delivery.
#[derive(Debug)]
pub(crate) enum Delivery<T> {
    /// Not for this member: from before its join, a duplicate, or after it left.
    Dropped,
    /// Goes out now, in order with the replies.
    Pass(T),
    /// Gathered into a waiting barrier; these barriers are now complete, in order.
    Taken(Vec<Completed<T>>),
}

/// A member's side of one history group.
#[derive(Debug)]
pub(crate) struct Follower<T> {
    /// Where its stream stands.
    state: State,
    /// Barriers of the current membership, in slot order.
    barriers: VecDeque<Barrier<T>>,
    /// Joins of an earlier membership still waiting for their answer.
    orphans: Vec<Orphan<T>>,
}

impl<T> Follower<T> {
    /// The connection joins: the join has `token`, and `slot` if a reply waits for its
    /// answer.
    pub fn joining(token: u64, slot: Option<u64>) -> Self {
        let mut follower = Follower {
            state: State::Left,
            barriers: VecDeque::new(),
            orphans: Vec::new(),
        };
        follower.join(token, slot);
        follower
    }

    /// Whether the connection is a member.
    #[cfg(test)]
    pub fn is_member(&self) -> bool {
        self.state != State::Left
    }

    /// Whether nothing is left to wait for: not a member, no reply owed.
    pub fn is_idle(&self) -> bool {
        self.state == State::Left && self.barriers.is_empty() && self.orphans.is_empty()
    }

    /// A join with `token` (and `slot` if a reply waits for its answer): a new
    /// membership if the connection was not a member, else a question of where the
    /// stream stands.
    pub fn join(&mut self, token: u64, slot: Option<u64>) {
        let rejoin = self.state != State::Left;
        if !rejoin {
            self.state = State::Pending(token);
        }
        if let Some(slot) = slot {
            self.barriers.push_back(Barrier {
                slot,
                kind: Kind::Join {
                    token,
                    answer: None,
                    rejoin,
                },
                before: Vec::new(),
            });
        }
    }

    /// The connection, a member, published a message to the group: the replies after
    /// `slot` wait for that message to come back.
    pub fn published(&mut self, slot: u64) {
        self.barriers.push_back(Barrier {
            slot,
            kind: Kind::Own,
            before: Vec::new(),
        });
    }

    /// The answer to the join with `token` arrived.
    pub fn answered(&mut self, token: u64, mut answer: JoinAnswer) -> Vec<Completed<T>> {
        if self.state == State::Pending(token) {
            self.state = State::Live(answer.epoch.clone(), answer.last.saturating_add(1));
        }
        if let Some(i) = self.orphans.iter().position(|o| o.token == token) {
            let orphan = self.orphans.remove(i);
            match orphan.rejoin {
                Some(Reached::At(reached)) => answer.last = answer.last.min(reached),
                Some(Reached::AnswerOf(_)) => {}
                None => {
                    // The later joins of that membership got no further than this.
                    for later in &mut self.orphans {
                        if later.rejoin == Some(Reached::AnswerOf(token)) {
                            later.rejoin = Some(Reached::At(answer.last));
                        }
                    }
                }
            }
            return vec![Completed {
                slot: orphan.slot,
                before: orphan.before,
                answer: Some((token, answer)),
            }];
        }
        let waiting = self.barriers.iter_mut().find_map(|b| match &mut b.kind {
            Kind::Join {
                token: t, answer, ..
            } if *t == token && answer.is_none() => Some(answer),
            _ => None,
        });
        if let Some(slot) = waiting {
            *slot = Some(answer);
        }
        let mut done = Vec::new();
        self.complete_front(&mut done);
        done
    }

    /// Whether a run of `len` messages from `first` in `epoch` goes out as it is: the
    /// member receives, the run continues its stream exactly and no barrier waits.
    /// If so, the stream moves past it.
    pub fn passes(&mut self, epoch: &Epoch, first: u64, len: usize) -> bool {
        match &mut self.state {
            State::Live(current, next)
                if *next == first && current == epoch && self.barriers.is_empty() =>
            {
                *next = first.saturating_add(len as u64);
                true
            }
            _ => false,
        }
    }

    /// Takes the joins still owed their answer when the connection goes: their slots
    /// and what they gathered (no answer will come).
    pub fn abandon(&mut self) -> Vec<(u64, Vec<T>)> {
        self.orphans.drain(..).map(|o| (o.slot, o.before)).collect()
    }

    /// A message of the group numbered `offset` in `epoch` (`own`: this connection
    /// published it). A message of another epoch than the member's is dropped: it was
    /// numbered before the history the member joined began.
    pub fn deliver(&mut self, epoch: &Epoch, offset: u64, own: bool, item: T) -> Delivery<T> {
        let State::Live(current, next) = &mut self.state else {
            return Delivery::Dropped;
        };
        if offset < *next || current != epoch {
            return Delivery::Dropped;
        }
        *next = offset.saturating_add(1);
        let Some(front) = self.barriers.front_mut() else {
            return Delivery::Pass(item);
        };
        front.before.push(item);
        let mut done = Vec::new();
        if own && matches!(front.kind, Kind::Own) {
            if let Some(barrier) = self.barriers.pop_front() {
                done.push(Completed {
                    slot: barrier.slot,
                    before: barrier.before,
                    answer: None,
                });
            }
        }
        self.complete_front(&mut done);
        Delivery::Taken(done)
    }

    /// The connection left the group: every barrier that can be completed is, in
    /// order; joins still waiting for their answer wait on, and nothing more is
    /// delivered.
    pub fn leave(&mut self) -> Vec<Completed<T>> {
        let reached = match std::mem::replace(&mut self.state, State::Left) {
            State::Live(_, next) => Reached::At(next.saturating_sub(1)),
            State::Pending(token) => Reached::AnswerOf(token),
            State::Left => Reached::At(0),
        };
        let mut done = Vec::new();
        for barrier in self.barriers.drain(..) {
            match barrier.kind {
                Kind::Own => done.push(Completed {
                    slot: barrier.slot,
                    before: barrier.before,
                    answer: None,
                }),
                Kind::Join {
                    token,
                    answer: Some(mut answer),
                    rejoin,
                } => {
                    if let (true, Reached::At(reached)) = (rejoin, reached) {
                        answer.last = answer.last.min(reached);
                    }
                    done.push(Completed {
                        slot: barrier.slot,
                        before: barrier.before,
                        answer: Some((token, answer)),
                    })
                }
                Kind::Join {
                    token,
                    answer: None,
                    rejoin,
                } => self.orphans.push(Orphan {
                    slot: barrier.slot,
                    token,
                    before: barrier.before,
                    rejoin: rejoin.then_some(reached),
                }),
            }
        }
        done
    }

    /// Completes the barriers at the front that can be: a join whose answer came and
    /// whose `last` the stream has passed.
    fn complete_front(&mut self, done: &mut Vec<Completed<T>>) {
        let State::Live(_, next) = self.state else {
            return;
        };
        while let Some(front) = self.barriers.front() {
            let ready = match &front.kind {
                Kind::Join {
                    answer: Some(answer),
                    ..
                } => next > answer.last,
                _ => false,
            };
            if !ready {
                return;
            }
            let Some(barrier) = self.barriers.pop_front() else {
                return;
            };
            let answer = match barrier.kind {
                Kind::Join {
                    token,
                    answer: Some(answer),
                    ..
                } => Some((token, answer)),
                _ => None,
            };
            done.push(Completed {
                slot: barrier.slot,
                before: barrier.before,
                answer,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Replay;

    fn epoch() -> Epoch {
        Epoch::parse("e").unwrap()
    }

    fn answer(last: u64) -> JoinAnswer {
        JoinAnswer {
            epoch: epoch(),
            last,
            recovery: None,
        }
    }

    fn slots(done: &[Completed<u64>]) -> Vec<(u64, Vec<u64>, Option<u64>)> {
        done.iter()
            .map(|c| {
                (
                    c.slot,
                    c.before.clone(),
                    c.answer.as_ref().map(|(_, a)| a.last),
                )
            })
            .collect()
    }

    #[test]
    fn deliveries_before_the_answer_and_duplicates_are_dropped() {
        let mut f = Follower::joining(1, Some(10));
        assert!(matches!(
            f.deliver(&epoch(), 3, false, 3),
            Delivery::Dropped
        ));
        assert_eq!(slots(&f.answered(1, answer(4))), [(10, vec![], Some(4))]);
        assert!(
            matches!(f.deliver(&epoch(), 4, false, 4), Delivery::Dropped),
            "came late"
        );
        assert!(matches!(
            f.deliver(&epoch(), 5, false, 5),
            Delivery::Pass(5)
        ));
        assert!(matches!(
            f.deliver(&epoch(), 5, false, 5),
            Delivery::Dropped
        ));
    }

    #[test]
    fn an_own_message_gathers_what_came_before_it() {
        let mut f = Follower::joining(1, None);
        f.answered(1, answer(0));
        f.published(20);
        f.published(21);
        assert!(matches!(f.deliver(&epoch(), 1, false, 1), Delivery::Taken(ref d) if d.is_empty()));
        let Delivery::Taken(done) = f.deliver(&epoch(), 2, true, 2) else {
            panic!("taken")
        };
        assert_eq!(slots(&done), [(20, vec![1, 2], None)]);
        let Delivery::Taken(done) = f.deliver(&epoch(), 3, true, 3) else {
            panic!("taken")
        };
        assert_eq!(slots(&done), [(21, vec![3], None)]);
        assert!(matches!(f.deliver(&epoch(), 4, true, 4), Delivery::Pass(4)));
    }

    #[test]
    fn a_join_of_a_member_waits_until_the_stream_passed_its_answer() {
        let mut f = Follower::joining(1, None);
        f.answered(1, answer(2));
        f.join(2, Some(30));
        assert!(
            f.answered(2, answer(5)).is_empty(),
            "3 to 5 are on their way"
        );
        assert!(matches!(f.deliver(&epoch(), 3, false, 3), Delivery::Taken(ref d) if d.is_empty()));
        assert!(matches!(f.deliver(&epoch(), 4, false, 4), Delivery::Taken(ref d) if d.is_empty()));
        let Delivery::Taken(done) = f.deliver(&epoch(), 5, false, 5) else {
            panic!("taken")
        };
        assert_eq!(slots(&done), [(30, vec![3, 4, 5], Some(5))]);
    }

    #[test]
    fn leaving_completes_what_can_be_and_an_old_join_still_gets_its_answer() {
        let mut f = Follower::joining(1, Some(40));
        f.leave();
        assert!(
            !f.is_member() && !f.is_idle(),
            "the JOIN is owed its answer"
        );
        f.join(2, Some(41));
        assert!(matches!(
            f.deliver(&epoch(), 1, false, 1),
            Delivery::Dropped
        ));
        assert_eq!(
            slots(&f.answered(1, answer(7))),
            [(40, vec![], Some(7))],
            "the old answer fills the old slot"
        );
        assert!(
            matches!(f.deliver(&epoch(), 8, false, 8), Delivery::Dropped),
            "still pending"
        );
        let recovered = JoinAnswer {
            recovery: Some(Replay::Lost),
            ..answer(9)
        };
        assert_eq!(slots(&f.answered(2, recovered)), [(41, vec![], Some(9))]);
        f.published(42);
        assert!(matches!(
            f.deliver(&epoch(), 10, false, 10),
            Delivery::Taken(_)
        ));
        assert_eq!(slots(&f.leave()), [(42, vec![10], None)]);
        assert!(f.is_idle());
    }
}
