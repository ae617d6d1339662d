//! The sequencer and the members' side of the stream driven together, without actors:
//! a shard, hubs and connections as plain values, their mailboxes as queues, and the
//! time moved by hand. A property test runs random interleavings of publishes, joins
//! (from a position or not), leaves, pings, connections dropped and coming back, and
//! steps of each mailbox, then checks what every client read.
//!
//! The queues are what the actors' mailboxes guarantee: first in, first out per queue;
//! a connection's join reaches its hub before the shard hears of it; the shard pushes a
//! join's answer into the member's inbox at once and hands its numbered runs to every
//! hub later (at the end of its turn); each hub hands a run to its members' inboxes.

use super::budget::Budget;
use super::epoch::Epochs;
use super::follower::{Completed, Delivery, Follower};
use super::shard::{SeqRun, Shard, ShardSetup};
use super::{Epoch, JoinAnswer, Position, Replay};
use crate::core::replies::ReplyOrder;
use crate::{ConnId, GroupName};
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use world::World;

mod world;

/// What a client reads, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    /// The answer to a JOIN.
    Joined {
        epoch: Epoch,
        last: u64,
        /// `None`: a plain join; `Some(None)`: lost; `Some(Some(n))`: n recovered.
        recovery: Option<Option<u64>>,
        /// Whether it joined as a new member.
        new_member: bool,
    },
    /// A group message.
    Msg { epoch: Epoch, offset: u64, id: u64 },
    /// The answer to a PING.
    Pong(u64),
    /// The answer to a LEAVE.
    Left,
}

/// What the shard is told.
enum ToShard {
    Publish {
        publisher: Option<ConnId>,
        id: u64,
    },
    Join {
        conn: ConnId,
        client: usize,
        token: u64,
        from: Option<Position>,
        new_member: bool,
    },
    Leave(ConnId),
}

/// What a hub is told.
enum ToHub {
    Join(ConnId),
    Leave(ConnId),
    Run(Arc<SeqRun>),
}

/// What lands in a connection's inbox.
enum Inboxed {
    Msg {
        epoch: Epoch,
        offset: u64,
        publisher: Option<ConnId>,
        id: u64,
    },
    Answer(u64, JoinAnswer),
}

/// One connection of a client.
struct Connection {
    id: ConnId,
    hub: usize,
    member: bool,
    follower: Option<Follower<Out>>,
    replies: ReplyOrder<Vec<Out>>,
    inbox: VecDeque<Inboxed>,
    out: Vec<Out>,
    next_token: u64,
    /// Tokens of joins that made it a new member.
    new_member: HashSet<u64>,
    /// Its own messages published while a member since its last ping, join or leave.
    own_since: Vec<u64>,
    /// Own messages each ping's answer must come after.
    pings: Vec<(u64, Vec<u64>)>,
}

impl Connection {
    fn send_in_order(&mut self, out: Out) {
        if self.replies.is_clear() {
            self.out.push(out);
        } else {
            self.replies.hold(vec![out]);
        }
    }

    fn fill(&mut self, done: Vec<Completed<Out>>, epoch_of: impl Fn(&JoinAnswer) -> Epoch) {
        for completed in done {
            let mut items = completed.before;
            if let Some((token, answer)) = completed.answer {
                let epoch = epoch_of(&answer);
                let (recovery, replay) = match &answer.recovery {
                    None => (None, Vec::new()),
                    Some(Replay::Lost) => (Some(None), Vec::new()),
                    Some(Replay::Recovered(m)) => (Some(Some(m.len() as u64)), m.clone()),
                };
                items.push(Out::Joined {
                    epoch: epoch.clone(),
                    last: answer.last,
                    recovery,
                    new_member: self.new_member.contains(&token),
                });
                let first = answer.last + 1 - replay.len() as u64;
                for (i, message) in replay.iter().enumerate() {
                    items.push(Out::Msg {
                        epoch: epoch.clone(),
                        offset: first + i as u64,
                        id: id_of(message),
                    });
                }
            }
            self.replies.fill(completed.slot, items);
        }
        while let Some(ready) = self.replies.pop_ready() {
            self.out.extend(ready);
        }
    }
}

/// A client: its connections one after the other, and where it stands.
#[derive(Default)]
struct Client {
    conn: Option<Connection>,
    /// What each of its connections read, in order.
    reads: Vec<Vec<Out>>,
    /// The last epoch and offset it read.
    position: Option<Position>,
    /// Own-before-ping expectations of its connections.
    pings: Vec<Vec<(u64, Vec<u64>)>>,
}

fn message(id: u64) -> Bytes {
    Bytes::copy_from_slice(&id.to_be_bytes())
}

fn id_of(message: &Bytes) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&message[..8]);
    u64::from_be_bytes(bytes)
}

#[derive(Debug, Clone)]
enum Op {
    Join(usize),
    Publish(usize),
    Ping(usize),
    Leave(usize),
    External,
    StepShard,
    FlushShard,
    StepHub(usize),
    StepConn(usize),
    Drop(usize),
    Reconnect(usize, usize),
    Tick(u64),
    Sweep,
}

const CLIENTS: usize = 3;
const HUBS: usize = 2;

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    prop_oneof![
        2 => client.clone().prop_map(Op::Join),
        4 => client.clone().prop_map(Op::Publish),
        2 => client.clone().prop_map(Op::Ping),
        1 => client.clone().prop_map(Op::Leave),
        3 => Just(Op::External),
        6 => Just(Op::StepShard),
        3 => Just(Op::FlushShard),
        6 => (0..HUBS).prop_map(Op::StepHub),
        8 => client.clone().prop_map(Op::StepConn),
        1 => client.clone().prop_map(Op::Drop),
        2 => (client, 0..HUBS).prop_map(|(c, h)| Op::Reconnect(c, h)),
        2 => (0u64..40).prop_map(Op::Tick),
        1 => Just(Op::Sweep),
    ]
}

/// Checks what one client read over all its connections: every JOIN answered, each
/// stream without gap or duplicate from its JOINED on, a recovery continuing exactly
/// where the client was, nothing after a LEAVE, and its own messages before the
/// replies to what it sent after them.
fn check_client(c: usize, client: &Client, ids: &mut HashMap<(Epoch, u64), u64>) {
    // The offset the client expects next, carried across its connections.
    let mut expect: Option<(Epoch, u64)> = None;
    for (n, reads) in client.reads.iter().enumerate() {
        let mut member = false;
        let where_ = |i: usize| format!("client {c}, connection {n}, read {i}: {reads:?}");
        for (i, out) in reads.iter().enumerate() {
            match out {
                Out::Joined {
                    epoch,
                    last,
                    recovery,
                    new_member,
                } => {
                    if !new_member {
                        assert!(member, "{}", where_(i));
                        // Answered where its stream is (if the connection left before
                        // the stream got there: where the stream stopped).
                        assert_eq!(
                            expect,
                            Some((epoch.clone(), last + 1)),
                            "a JOIN of a member answers where its stream is: {}",
                            where_(i)
                        );
                        continue;
                    }
                    member = true;
                    match recovery {
                        Some(Some(missed)) => {
                            let first = last + 1 - missed;
                            assert_eq!(
                                expect,
                                Some((epoch.clone(), first)),
                                "recovered exactly after the position: {}",
                                where_(i)
                            );
                        }
                        _ => expect = Some((epoch.clone(), last + 1)),
                    }
                }
                Out::Msg { epoch, offset, id } => {
                    assert!(member, "a message outside membership: {}", where_(i));
                    assert_eq!(
                        expect,
                        Some((epoch.clone(), *offset)),
                        "no gap, no duplicate: {}",
                        where_(i)
                    );
                    expect = Some((epoch.clone(), offset + 1));
                    let seen = ids.entry((epoch.clone(), *offset)).or_insert(*id);
                    assert_eq!(seen, id, "one message per offset: {}", where_(i));
                }
                // The position stays what it was: a later recovery starts there.
                Out::Left => member = false,
                Out::Pong(_) => {}
            }
        }
        for (k, own) in &client.pings[n] {
            let Some(pong) = reads.iter().position(|o| *o == Out::Pong(*k)) else {
                continue;
            };
            for id in own {
                let at = reads
                    .iter()
                    .position(|o| matches!(o, Out::Msg { id: m, .. } if m == id));
                assert!(
                    at.is_some_and(|at| at < pong),
                    "own message {id} before PONG {k}: client {c}, connection {n}: {reads:?}"
                );
            }
        }
    }
}

/// One publisher's messages keep their order in the group's order.
fn check_publishers(ids: &HashMap<(Epoch, u64), u64>, publisher_of: &HashMap<u64, Option<ConnId>>) {
    let mut sorted: Vec<_> = ids.iter().collect();
    sorted.sort();
    let mut last: HashMap<(Epoch, ConnId), u64> = HashMap::new();
    for ((epoch, _), id) in sorted {
        if let Some(Some(publisher)) = publisher_of.get(id) {
            let previous = last.insert((epoch.clone(), *publisher), *id);
            assert!(
                previous.is_none_or(|p| p < *id),
                "publisher {publisher} reordered"
            );
        }
    }
}

fn run(ops: Vec<Op>, size: usize, ttl: Duration) -> (Vec<Client>, HashMap<u64, Option<ConnId>>) {
    let mut world = World::new(size, ttl);
    for c in 0..CLIENTS {
        world.connect(c, c % HUBS);
    }
    for op in ops {
        world.apply(op);
        for c in 0..CLIENTS {
            world.read(c);
        }
    }
    let publishers = world.publisher_of.clone();
    (world.finish(), publishers)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Whatever the interleaving, every client's reads are gap-free and duplicate-free
    /// from each JOINED on, a recovery continues exactly where it left off, every
    /// member sees one message per offset, and each publisher's order is kept.
    #[test]
    fn the_stream_has_no_gap_no_duplicate_and_one_order(
        ops in proptest::collection::vec(op(), 1..300),
        size in 1usize..12,
    ) {
        let (clients, publishers) = run(ops, size, Duration::from_millis(100));
        let mut ids = HashMap::new();
        for (c, client) in clients.iter().enumerate() {
            check_client(c, client, &mut ids);
        }
        check_publishers(&ids, &publishers);
    }
}

/// With a history that keeps everything, a client that keeps dropping its connection
/// and coming back from its position has read every message exactly once, in order.
#[test]
fn with_room_enough_every_return_recovers_and_the_union_is_everything() {
    let mut ops = Vec::new();
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..6000 {
        match rng.u8(0..100) {
            0..=19 => ops.push(Op::Publish(rng.usize(1..CLIENTS))),
            20..=21 => {
                ops.push(Op::Drop(0));
                ops.push(Op::Reconnect(0, rng.usize(0..HUBS)));
            }
            22..=46 => ops.push(Op::StepShard),
            47..=56 => ops.push(Op::FlushShard),
            57..=76 => ops.push(Op::StepHub(rng.usize(0..HUBS))),
            77..=89 => ops.push(Op::StepConn(0)),
            _ => ops.push(Op::StepConn(rng.usize(1..CLIENTS))),
        }
    }
    let mut world = World::new(100_000, Duration::from_secs(3600));
    for c in 0..CLIENTS {
        world.connect(c, c % HUBS);
        world.join(c, None);
    }
    for op in ops {
        world.apply(op);
        world.read(0);
    }
    if world.clients[0].conn.is_none() {
        world.connect(0, 0);
        let from = world.clients[0].position.clone();
        world.join(0, from);
    }
    let published = world.next_message - 1;
    let clients = world.finish();
    let reads: Vec<&Out> = clients[0].reads.iter().flatten().collect();
    let recovered = reads
        .iter()
        .filter(|o| {
            matches!(
                o,
                Out::Joined {
                    recovery: Some(Some(_)),
                    ..
                }
            )
        })
        .count();
    assert!(recovered > 10, "the client came back {recovered} times");
    assert!(
        !reads.iter().any(|o| matches!(
            o,
            Out::Joined {
                recovery: Some(None),
                ..
            }
        )),
        "nothing was lost"
    );
    let offsets: Vec<u64> = reads
        .iter()
        .filter_map(|o| match o {
            Out::Msg { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(offsets, (1..=published).collect::<Vec<_>>());
    let mut ids = HashMap::new();
    check_client(0, &clients[0], &mut ids);
}
