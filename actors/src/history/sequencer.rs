//! The sequencers: one actor per worker thread, each owning the histories of the groups
//! that hash to it ([`Shard`]). Connections (and the supervisor, for publishes from
//! outside and from other nodes) send a history group's publishes, joins and leaves
//! straight to its sequencer, so one sender's requests keep their order. A join is
//! answered at once, straight into the member's inbox; what was numbered during a
//! turn goes to every hub at the end of the turn, one message per hub, and the hubs
//! hand it to their members.

use super::budget::Budget;
use super::epoch::Epochs;
use super::shard::{Shard, ShardSetup};
use super::{shard_of, HistoryConfig, HistoryCounters, Position};
use crate::hub::{HubDeliver, HubNumbered, Hubs, Inbox, Numbered, Ticket};
use crate::supervisor::HistoryKept;
use crate::{ConnId, GroupName, Published, Supervisor};
use actix::prelude::*;
use actix::ArbiterHandle;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Messages published to history groups of one sequencer, in publish order.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SeqPublish {
    /// The publishing connection (of this server), if any.
    pub publisher: Option<ConnId>,
    /// The messages.
    pub messages: Vec<Published>,
    /// The publisher's credit for these bytes, given back once every hub is done.
    pub ticket: Option<Arc<Ticket>>,
}

/// A connection joins a history group, or asks where its stream is.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SeqJoin {
    /// The connection.
    pub id: ConnId,
    /// The group.
    pub group: GroupName,
    /// Names the join in its answer.
    pub token: u64,
    /// For a new member, the position to recover from.
    pub from: Option<Position>,
    /// Whether it was not a member yet.
    pub new_member: bool,
    /// Where the answer goes: ahead of every message numbered after it.
    pub inbox: Arc<Inbox>,
}

/// A connection left a history group, or was removed.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SeqLeave {
    /// The connection.
    pub id: ConnId,
    /// The group.
    pub group: GroupName,
}

/// Another sequencer took the histories past the byte budget, and this one holds the
/// largest history: drop its oldest messages.
#[derive(Message)]
#[rtype(result = "()")]
struct Evict;

/// The histories of a switchboard: which groups keep one, their sequencers, the
/// shared budget and figures. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Histories(Arc<Shared>);

/// What a switchboard's sequencers share.
struct Shared {
    /// How histories are kept.
    config: HistoryConfig,
    /// The byte budget and the figures.
    budget: Arc<Budget>,
    /// Where new epochs come from.
    epochs: Arc<Epochs>,
    /// How many sequencers there are.
    count: usize,
    /// The sequencers, once started.
    sequencers: OnceLock<Box<[Addr<Sequencer>]>>,
}

impl std::fmt::Debug for Histories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histories")
            .field("sequencers", &self.0.count)
            .finish()
    }
}

impl Histories {
    /// Histories kept as `config` says, by `count` sequencers (at least one).
    pub fn new(config: HistoryConfig, count: usize) -> Self {
        let count = count.max(1);
        Histories(Arc::new(Shared {
            budget: Arc::new(Budget::new(config.max_bytes, count)),
            config,
            epochs: Arc::new(Epochs::new()),
            count,
            sequencers: OnceLock::new(),
        }))
    }

    /// Starts the sequencers: one on each of `arbiters` (on the current one if there
    /// are none), handing what they number to `hubs` and the histories they start and
    /// forget to `supervisor`.
    pub fn start(&self, arbiters: &[ArbiterHandle], hubs: &Hubs, supervisor: &Addr<Supervisor>) {
        let sequencers = (0..self.0.count)
            .map(|index| {
                let sequencer = Sequencer {
                    shard: Shard::new(
                        ShardSetup {
                            index,
                            size: self.0.config.size,
                            ttl: self.0.config.ttl,
                        },
                        self.0.budget.clone(),
                        self.0.epochs.clone(),
                    ),
                    histories: self.clone(),
                    hubs: hubs.clone(),
                    supervisor: supervisor.clone(),
                    tickets: Vec::new(),
                };
                match arbiters.get(index) {
                    Some(arbiter) => Sequencer::start_in_arbiter(arbiter, |_| sequencer),
                    None => sequencer.start(),
                }
            })
            .collect();
        let _ = self.0.sequencers.set(sequencers);
    }

    /// Whether the named group `group` keeps a history.
    pub fn accepts(&self, group: &str) -> bool {
        self.0.config.groups.iter().any(|p| p.matches(group, None))
    }

    /// Which sequencer numbers `group`.
    pub fn index_of(&self, group: &str) -> usize {
        shard_of(group, self.0.count)
    }

    /// The sequencer with `index`, once started.
    pub fn sequencer(&self, index: usize) -> Option<&Addr<Sequencer>> {
        self.0.sequencers.get()?.get(index)
    }

    /// The sequencer of `group`, once started.
    pub fn sequencer_of(&self, group: &str) -> Option<&Addr<Sequencer>> {
        self.sequencer(self.index_of(group))
    }

    /// The `history` figures of the stats.
    pub fn counters(&self) -> HistoryCounters {
        self.0.budget.counters()
    }

    /// Hands `messages` (published by `publisher`) to the sequencers of their groups,
    /// each keeping its share in order; `ticket` travels with every share.
    pub fn publish(
        &self,
        publisher: Option<ConnId>,
        messages: Vec<Published>,
        ticket: Option<Arc<Ticket>>,
    ) {
        let mut shares: Vec<Vec<Published>> = (0..self.0.count).map(|_| Vec::new()).collect();
        for message in messages {
            let index = self.index_of(message.group.as_str());
            if let Some(share) = shares.get_mut(index) {
                share.push(message);
            }
        }
        for (index, messages) in shares.into_iter().enumerate() {
            if messages.is_empty() {
                continue;
            }
            if let Some(sequencer) = self.sequencer(index) {
                sequencer.do_send(SeqPublish {
                    publisher,
                    messages,
                    ticket: ticket.clone(),
                });
            }
        }
    }
}

/// The time in the clock the actors' timers use (tokio's, which tests may pause).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One sequencer.
pub(crate) struct Sequencer {
    /// The histories of its groups.
    shard: Shard,
    /// The other sequencers (to ask one of them to drop messages).
    histories: Histories,
    /// Where numbered messages go.
    hubs: Hubs,
    /// Told of histories started and forgotten (the cluster's interest).
    supervisor: Addr<Supervisor>,
    /// The publishers' credit for what was numbered this turn.
    tickets: Vec<Arc<Ticket>>,
}

impl Actor for Sequencer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Polled after the mailbox on every wake: what the turn numbered goes out as one
        // message per hub.
        ctx.spawn(HandOut);
        let every = (self.histories.0.config.ttl / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        ctx.run_interval(every, |act, _| act.shard.sweep(now()));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.hand_out();
    }
}

impl Sequencer {
    /// Hands what this turn numbered to every hub, and the histories started or
    /// forgotten to the supervisor.
    fn hand_out(&mut self) {
        let runs = self.shard.take_runs();
        if !runs.is_empty() {
            let numbered = Arc::new(Numbered {
                runs: runs.into_iter().map(Arc::new).collect(),
                _tickets: std::mem::take(&mut self.tickets),
            });
            for hub in self.hubs.all().iter() {
                hub.do_send(HubNumbered(numbered.clone()));
            }
        }
        self.tickets.clear();
        let kept = self.shard.take_kept();
        if !kept.is_empty() {
            self.supervisor.do_send(HistoryKept(kept));
        }
    }

    /// Asks sequencer `index` to drop messages.
    fn ask(&self, index: Option<usize>) {
        if let Some(sequencer) = index.and_then(|i| self.histories.sequencer(i)) {
            sequencer.do_send(Evict);
        }
    }
}

/// The sequencer's one long-lived task: hands out what each turn numbered.
struct HandOut;

impl ActorFuture<Sequencer> for HandOut {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        sequencer: &mut Sequencer,
        _: &mut Context<Sequencer>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        sequencer.hand_out();
        std::task::Poll::Pending
    }
}

impl Handler<SeqPublish> for Sequencer {
    type Result = ();
    fn handle(&mut self, msg: SeqPublish, _: &mut Context<Self>) {
        let now = now();
        for message in msg.messages {
            let ask = self
                .shard
                .publish(now, &message.group, message.message, msg.publisher);
            self.ask(ask);
        }
        self.tickets.extend(msg.ticket);
    }
}

impl Handler<SeqJoin> for Sequencer {
    type Result = ();
    fn handle(&mut self, msg: SeqJoin, _: &mut Context<Self>) {
        let answer = self
            .shard
            .join(now(), msg.id, &msg.group, msg.from.as_ref(), msg.new_member);
        msg.inbox.push(HubDeliver::Joined {
            group: msg.group,
            token: msg.token,
            answer,
        });
    }
}

impl Handler<SeqLeave> for Sequencer {
    type Result = ();
    fn handle(&mut self, msg: SeqLeave, _: &mut Context<Self>) {
        self.shard.leave(now(), msg.id, &msg.group);
    }
}

impl Handler<Evict> for Sequencer {
    type Result = ();
    fn handle(&mut self, _: Evict, _: &mut Context<Self>) {
        let ask = self.shard.evict();
        self.ask(ask);
    }
}
