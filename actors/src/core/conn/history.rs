//! History groups in the connection core: joins that wait for the sequencer's answer,
//! publishes that come back in the group's order, and the numbered deliveries, all in
//! their place among the replies (see [`Follower`] for the rules).
//!
//! Group messages held back (behind a deferred reply, or gathered ahead of a reply
//! slot that waits for the stream) count, with the queue, against
//! `max_outbound_bytes`: past it the peer is removed as a slow consumer.

use super::*;
use crate::groups::{group_packets, GroupPacket, NumberedShare};
use crate::history::{Completed, Delivery, Follower, JoinAnswer, Joined, Position, Replay};
use std::collections::HashMap;

/// Writes a join's reply once its answer came.
pub(crate) type JoinReply<R> = Box<dyn FnOnce(&Joined) -> R>;

/// What a connection keeps for the history groups it is in.
pub(crate) struct HistoryState<R> {
    /// The member's side of each history group's stream (kept after it left while a
    /// join's answer is still owed).
    streams: HashMap<GroupName, Follower<GroupPacket>>,
    /// The replies waiting for their join's answer, by token.
    replies: HashMap<u64, JoinReply<R>>,
    /// The next join's token.
    next_token: u64,
    /// Bytes of group messages held back.
    retained: usize,
    /// Messages for the sequencers, handed out after this event.
    sequenced: Vec<Published>,
    /// The history groups it was in when it was removed.
    left: Option<Vec<GroupName>>,
}

impl<R> Default for HistoryState<R> {
    fn default() -> Self {
        HistoryState {
            streams: HashMap::new(),
            replies: HashMap::new(),
            next_token: 1,
            retained: 0,
            sequenced: Vec::new(),
            left: None,
        }
    }
}

impl<P: Protocol> Conn<P> {
    /// Whether `group` keeps a history on this connection's switchboard.
    pub(super) fn is_history(&self, group: &str) -> bool {
        self.outbox
            .handle
            .histories()
            .is_some_and(|h| h.accepts(group))
    }

    /// The history groups the connection is in (as of the actions carried out so far);
    /// once it was removed, those it was in then.
    pub fn history_memberships(&self) -> Vec<GroupName> {
        if let Some(state) = &self.history {
            if let Some(left) = &state.left {
                return left.clone();
            }
        }
        self.outbox
            .groups()
            .filter(|g| self.is_history(g.as_str()))
            .cloned()
            .collect()
    }

    /// Keeps the history groups the connection is in as it is removed (its groups are
    /// given up then).
    pub(super) fn keep_history_memberships(&mut self) {
        if self.history.is_some() {
            let groups = self.history_memberships();
            self.history_state().left = Some(groups);
        }
    }

    fn history_state(&mut self) -> &mut HistoryState<P::Response> {
        self.history.get_or_insert_with(Box::default)
    }

    /// Joins a history group (`new_member`) or asks where its stream is, from `from`
    /// for a recovery; `reply` waits in reply order for the answer.
    pub(super) fn history_join(
        &mut self,
        group: GroupName,
        from: Option<Position>,
        new_member: bool,
        reply: Option<JoinReply<P::Response>>,
    ) {
        let encoder = new_member.then(|| self.group_encoder());
        let slot = reply.is_some().then(|| self.replies.defer());
        let state = self.history_state();
        let token = state.next_token;
        state.next_token += 1;
        if let Some(reply) = reply {
            state.replies.insert(token, reply);
        }
        match state.streams.get_mut(&group) {
            Some(follower) => follower.join(token, slot),
            None => {
                let follower = Follower::joining(token, slot);
                state.streams.insert(group.clone(), follower);
            }
        }
        if let Some(encoder) = encoder {
            self.events.push_back(Event::Join(group.clone(), encoder));
        }
        self.events.push_back(Event::HistoryJoin {
            group,
            token,
            from: from.filter(|_| new_member),
            new_member,
        });
    }

    /// Publishes to a history group: numbered by its sequencer, the message comes back
    /// to this connection too if it is a member, and the replies after it wait for it.
    pub(super) fn history_publish(
        &mut self,
        now: Instant,
        group: GroupName,
        message: Bytes,
        member: bool,
    ) {
        if member {
            let slot = self.replies.await_copy();
            let follower = self.history_state().streams.get_mut(&group);
            match follower {
                Some(follower) => follower.published(slot),
                None => {
                    // Not a member after all: nothing to wait for.
                    self.replies.fill(slot, Outgoing::Several(Vec::new()));
                    self.release_ready(now);
                }
            }
        }
        self.history_state().sequenced.push(Published {
            group,
            message,
            encoded: None,
        });
    }

    /// Leaves a history group: the replies that waited for its stream go out.
    pub(super) fn history_leave(&mut self, now: Instant, group: &GroupName) {
        let Some(state) = self.history.as_mut() else {
            return;
        };
        let Some(follower) = state.streams.get_mut(group) else {
            return;
        };
        let done = follower.leave();
        if follower.is_idle() {
            state.streams.remove(group);
        }
        self.fill_completed(now, group, done);
    }

    /// The connection was removed: every history group is left, and the replies that
    /// waited for an answer that will not be taken go out without it.
    pub(super) fn end_histories(&mut self, now: Instant) {
        let Some(state) = self.history.as_mut() else {
            return;
        };
        let groups: Vec<GroupName> = state.streams.keys().cloned().collect();
        for group in groups {
            self.history_leave(now, &group);
            let Some(state) = self.history.as_mut() else {
                return;
            };
            let Some(mut follower) = state.streams.remove(&group) else {
                continue;
            };
            for (slot, before) in follower.abandon() {
                let items = before.into_iter().map(Outgoing::Group).collect();
                self.replies.fill(slot, Outgoing::Several(items));
            }
        }
        self.release_ready(now);
    }

    /// Forgets everything about history groups (the connection aborts: what was held
    /// is recorded as failed with the replies).
    pub(super) fn drop_history(&mut self) {
        if let Some(state) = &mut self.history {
            state.streams.clear();
            state.replies.clear();
            state.retained = 0;
        }
    }

    /// Hands this event's messages for the sequencers out.
    pub(super) fn settle_history(&mut self) {
        if let Some(state) = &mut self.history {
            if !state.sequenced.is_empty() {
                let messages = std::mem::take(&mut state.sequenced);
                self.events.push_back(Event::Sequence(messages));
            }
        }
    }

    /// Group messages of `bytes` left the reply order for the queue.
    pub(super) fn released(&mut self, bytes: usize) {
        if let Some(state) = &mut self.history {
            state.retained = state.retained.saturating_sub(bytes);
        }
    }

    /// Holds `bytes` more of group messages back; past `max_outbound_bytes` (with the
    /// queue) the peer is a slow consumer.
    fn retain(&mut self, now: Instant, bytes: usize) {
        let retained = {
            let state = self.history_state();
            state.retained += bytes;
            state.retained
        };
        if self.phase == Phase::Open
            && self.queue.len_bytes() + retained > self.limits.max_outbound_bytes
        {
            let reason = RemovalReason::SlowConsumer;
            self.abort(now, reason, FailureReason::Removed(reason));
        }
    }

    /// Numbered messages of history groups from the connection's hub: each goes out in
    /// its place, is gathered ahead of a waiting reply slot, or is dropped (from before
    /// the member's join, a duplicate, or after it left).
    pub(crate) fn deliver_numbered(&mut self, now: Instant, shares: Vec<NumberedShare>) {
        let me = self.outbox.id();
        for share in shares {
            let run = &share.run;
            let clear = self.replies.is_clear();
            let Some(follower) = self
                .history
                .as_mut()
                .and_then(|state| state.streams.get_mut(&run.group))
            else {
                continue;
            };
            if clear && follower.passes(&run.epoch, run.first, run.messages.len()) {
                // The usual case: the run continues the stream and nothing waits.
                self.admit_handout(now, &share.packets);
                continue;
            }
            for (i, packet) in group_packets(&share.packets).enumerate() {
                let offset = run.first + i as u64;
                let own = run.publishers.get(i).copied().flatten() == Some(me);
                let bytes = packet.as_ref().map_or(0, Bytes::len);
                let Some(follower) = self
                    .history
                    .as_mut()
                    .and_then(|state| state.streams.get_mut(&run.group))
                else {
                    break;
                };
                match follower.deliver(&run.epoch, offset, own, packet) {
                    Delivery::Dropped => {}
                    Delivery::Pass(packet) => self.send_group(now, packet),
                    Delivery::Taken(done) => {
                        self.retain(now, bytes);
                        self.fill_completed(now, &run.group, done);
                    }
                }
            }
        }
        self.resume_decoding(now);
        self.settle(now);
    }

    /// A history group's sequencer answered the join with `token`.
    pub(crate) fn handle_joined(
        &mut self,
        now: Instant,
        group: &GroupName,
        token: u64,
        answer: JoinAnswer,
    ) {
        if let Some(state) = self.history.as_mut() {
            if let Some(follower) = state.streams.get_mut(group) {
                let done = follower.answered(token, answer);
                if follower.is_idle() {
                    state.streams.remove(group);
                }
                self.fill_completed(now, group, done);
            }
        }
        self.resume_decoding(now);
        self.settle(now);
    }

    /// Offers a group message in its place among the replies.
    fn send_group(&mut self, now: Instant, packet: GroupPacket) {
        if self.replies.is_clear() {
            let _ = self.admit(now, Origin::External, Outgoing::Group(packet));
            return;
        }
        let bytes = packet.as_ref().map_or(0, Bytes::len);
        self.replies.hold(Outgoing::Group(packet));
        self.retain(now, bytes);
    }

    /// Fills the reply slots that waited for the stream: what they gathered, then for a
    /// join its reply and the messages it replays.
    fn fill_completed(
        &mut self,
        now: Instant,
        group: &GroupName,
        done: Vec<Completed<GroupPacket>>,
    ) {
        if done.is_empty() {
            return;
        }
        let mut replayed = 0;
        for completed in done {
            let mut items: Vec<Outgoing<P::Response>> =
                completed.before.into_iter().map(Outgoing::Group).collect();
            if let Some((token, answer)) = completed.answer {
                let reply = self.history_state().replies.remove(&token);
                if let Some(reply) = reply {
                    let joined = Joined {
                        group: group.clone(),
                        history: Some(answer.stand()),
                    };
                    items.push(Outgoing::Response(reply(&joined)));
                }
                if let Some(Replay::Recovered(messages)) = &answer.recovery {
                    // Written like a live run: numbered by the protocol's encoder,
                    // then each one WebSocket message on a WebSocket.
                    let encoder = self.group_encoder();
                    let first = answer.last + 1 - messages.len() as u64;
                    for packet in encoder.encode_numbered(group, first, messages) {
                        let packet = packet
                            .map_err(SendError::Encode)
                            .and_then(|packet| self.own_copy(packet));
                        replayed += packet.as_ref().map_or(0, Bytes::len);
                        items.push(Outgoing::Group(packet));
                    }
                }
            }
            self.replies.fill(completed.slot, Outgoing::Several(items));
        }
        if replayed > 0 {
            self.retain(now, replayed);
        }
        self.release_ready(now);
    }

    /// Admits a run as a hub hands it out, without settling.
    fn admit_handout(&mut self, now: Instant, packets: &crate::groups::GroupRun) {
        match packets {
            Handout::Copied(batch) => {
                self.admit_run(now, Origin::External, batch.packets(), Some(batch));
            }
            Handout::Packets(packets) => {
                self.admit_run(now, Origin::External, packets, None);
            }
        }
    }
}
