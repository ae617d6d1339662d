//! The model world the history's property tests run in: one shard, its hubs and the
//! clients' connections as plain values, each mailbox a queue, and what every step of
//! each does.

use super::*;

/// The whole model.
pub(super) struct World {
    now: Instant,
    shard: Shard,
    to_shard: VecDeque<ToShard>,
    hubs: Vec<(HashSet<ConnId>, VecDeque<ToHub>)>,
    pub(super) clients: Vec<Client>,
    /// The connection id of each live connection's client.
    owners: HashMap<ConnId, usize>,
    next_conn: ConnId,
    pub(super) next_message: u64,
    /// Who published each message id.
    pub(super) publisher_of: HashMap<u64, Option<ConnId>>,
    group: GroupName,
}

impl World {
    pub(super) fn new(size: usize, ttl: Duration) -> Self {
        let setup = ShardSetup {
            index: 0,
            size,
            ttl,
        };
        let budget = Arc::new(Budget::new(usize::MAX, 1));
        World {
            now: Instant::now(),
            shard: Shard::new(setup, budget, Arc::new(Epochs::new())),
            to_shard: VecDeque::new(),
            hubs: (0..HUBS).map(|_| Default::default()).collect(),
            clients: (0..CLIENTS).map(|_| Client::default()).collect(),
            owners: HashMap::new(),
            next_conn: 1,
            next_message: 1,
            publisher_of: HashMap::new(),
            group: GroupName::from("room"),
        }
    }

    pub(super) fn apply(&mut self, op: Op) {
        match op {
            Op::Join(c) => self.join(c, None),
            Op::Publish(c) => self.publish(c),
            Op::Ping(c) => {
                if let Some(conn) = &mut self.clients[c].conn {
                    let k = conn.pings.len() as u64;
                    let own = std::mem::take(&mut conn.own_since);
                    conn.pings.push((k, own));
                    conn.send_in_order(Out::Pong(k));
                }
            }
            Op::Leave(c) => self.leave(c),
            Op::External => {
                let id = self.new_message(None);
                self.to_shard.push_back(ToShard::Publish {
                    publisher: None,
                    id,
                });
            }
            Op::StepShard => self.step_shard(),
            Op::FlushShard => self.flush(),
            Op::StepHub(h) => self.step_hub(h),
            Op::StepConn(c) => self.step_conn(c),
            Op::Drop(c) => self.drop_conn(c),
            Op::Reconnect(c, h) => {
                if self.clients[c].conn.is_none() {
                    self.connect(c, h);
                    let from = self.clients[c].position.clone();
                    self.join(c, from);
                }
            }
            Op::Tick(ms) => self.now += Duration::from_millis(ms),
            Op::Sweep => self.shard.sweep(self.now),
        }
    }

    fn new_message(&mut self, publisher: Option<ConnId>) -> u64 {
        let id = self.next_message;
        self.next_message += 1;
        self.publisher_of.insert(id, publisher);
        id
    }

    pub(super) fn connect(&mut self, c: usize, hub: usize) {
        let id = self.next_conn;
        self.next_conn += 1;
        self.owners.insert(id, c);
        self.clients[c].conn = Some(Connection {
            id,
            hub,
            member: false,
            follower: None,
            replies: ReplyOrder::default(),
            inbox: VecDeque::new(),
            out: Vec::new(),
            next_token: 1,
            new_member: HashSet::new(),
            own_since: Vec::new(),
            pings: Vec::new(),
        });
    }

    pub(super) fn join(&mut self, c: usize, from: Option<Position>) {
        let Some(conn) = &mut self.clients[c].conn else {
            return;
        };
        let token = conn.next_token;
        conn.next_token += 1;
        let slot = conn.replies.defer();
        conn.own_since.clear();
        let new_member = !conn.member;
        if new_member {
            conn.member = true;
            conn.new_member.insert(token);
            self.hubs[conn.hub].1.push_back(ToHub::Join(conn.id));
        }
        match &mut conn.follower {
            Some(follower) => follower.join(token, Some(slot)),
            None => conn.follower = Some(Follower::joining(token, Some(slot))),
        }
        self.to_shard.push_back(ToShard::Join {
            conn: conn.id,
            client: c,
            token,
            from: from.filter(|_| new_member),
            new_member,
        });
    }

    fn publish(&mut self, c: usize) {
        let Some(conn) = &self.clients[c].conn else {
            return;
        };
        let publisher = conn.id;
        let id = self.new_message(Some(publisher));
        let Some(conn) = &mut self.clients[c].conn else {
            return;
        };
        if conn.member {
            let slot = conn.replies.defer();
            if let Some(follower) = &mut conn.follower {
                follower.published(slot);
            }
            conn.own_since.push(id);
        }
        self.to_shard.push_back(ToShard::Publish {
            publisher: Some(publisher),
            id,
        });
    }

    fn leave(&mut self, c: usize) {
        let Some(conn) = &mut self.clients[c].conn else {
            return;
        };
        conn.own_since.clear();
        // Its own messages not back yet will not come back: nothing is delivered after
        // a LEAVE.
        for (_, own) in &mut conn.pings {
            own.clear();
        }
        if conn.member {
            conn.member = false;
            self.hubs[conn.hub].1.push_back(ToHub::Leave(conn.id));
            self.to_shard.push_back(ToShard::Leave(conn.id));
            if let Some(follower) = &mut conn.follower {
                let done = follower.leave();
                conn.fill(done, |a| a.epoch.clone());
            }
        }
        conn.send_in_order(Out::Left);
    }

    fn step_shard(&mut self) {
        let Some(message) = self.to_shard.pop_front() else {
            return;
        };
        match message {
            ToShard::Publish { publisher, id } => {
                self.shard
                    .publish(self.now, &self.group, message_bytes(id), publisher);
            }
            ToShard::Join {
                conn,
                client,
                token,
                from,
                new_member,
            } => {
                let answer =
                    self.shard
                        .join(self.now, conn, &self.group, from.as_ref(), new_member);
                // Pushed straight into the member's inbox, if it is still there.
                if let Some(c) = &mut self.clients[client].conn {
                    if c.id == conn {
                        c.inbox.push_back(Inboxed::Answer(token, answer));
                    }
                }
            }
            ToShard::Leave(conn) => self.shard.leave(self.now, conn, &self.group),
        }
    }

    fn flush(&mut self) {
        let runs = self.shard.take_runs();
        if runs.is_empty() {
            return;
        }
        for run in runs {
            let run = Arc::new(run);
            for (_, queue) in &mut self.hubs {
                queue.push_back(ToHub::Run(run.clone()));
            }
        }
    }

    fn step_hub(&mut self, h: usize) {
        let Some(message) = self.hubs[h].1.pop_front() else {
            return;
        };
        match message {
            ToHub::Join(id) => {
                self.hubs[h].0.insert(id);
            }
            ToHub::Leave(id) => {
                self.hubs[h].0.remove(&id);
            }
            ToHub::Run(run) => {
                for &member in &self.hubs[h].0 {
                    let Some(&c) = self.owners.get(&member) else {
                        continue;
                    };
                    let Some(conn) = &mut self.clients[c].conn else {
                        continue;
                    };
                    if conn.id != member {
                        continue;
                    }
                    for (i, m) in run.messages.iter().enumerate() {
                        conn.inbox.push_back(Inboxed::Msg {
                            epoch: run.epoch.clone(),
                            offset: run.first + i as u64,
                            publisher: run.publishers[i],
                            id: id_of(m),
                        });
                    }
                }
            }
        }
    }

    fn step_conn(&mut self, c: usize) {
        let Some(conn) = &mut self.clients[c].conn else {
            return;
        };
        let Some(item) = conn.inbox.pop_front() else {
            return;
        };
        let Some(follower) = &mut conn.follower else {
            return;
        };
        match item {
            Inboxed::Msg {
                epoch,
                offset,
                publisher,
                id,
            } => {
                let own = publisher == Some(conn.id);
                let out = Out::Msg {
                    epoch: epoch.clone(),
                    offset,
                    id,
                };
                match follower.deliver(&epoch, offset, own, out) {
                    Delivery::Dropped => {}
                    Delivery::Pass(out) => conn.send_in_order(out),
                    Delivery::Taken(done) => conn.fill(done, |a| a.epoch.clone()),
                }
            }
            Inboxed::Answer(token, answer) => {
                let done = follower.answered(token, answer);
                conn.fill(done, |a| a.epoch.clone());
            }
        }
        self.read(c);
    }

    /// The client's position follows what it read.
    pub(super) fn read(&mut self, c: usize) {
        let client = &mut self.clients[c];
        let Some(conn) = &client.conn else { return };
        for out in &conn.out {
            match out {
                Out::Joined { epoch, last, .. } => {
                    client.position = Some(Position {
                        epoch: epoch.clone(),
                        offset: *last,
                    })
                }
                Out::Msg { epoch, offset, .. } => {
                    client.position = Some(Position {
                        epoch: epoch.clone(),
                        offset: *offset,
                    })
                }
                _ => {}
            }
        }
    }

    fn drop_conn(&mut self, c: usize) {
        self.read(c);
        let client = &mut self.clients[c];
        let Some(conn) = client.conn.take() else {
            return;
        };
        self.owners.remove(&conn.id);
        self.hubs[conn.hub].1.push_back(ToHub::Leave(conn.id));
        self.to_shard.push_back(ToShard::Leave(conn.id));
        client.reads.push(conn.out);
        client.pings.push(conn.pings);
    }

    /// Runs every mailbox until all are empty.
    fn drain(&mut self) {
        loop {
            let busy = !self.to_shard.is_empty()
                || self.hubs.iter().any(|(_, q)| !q.is_empty())
                || self
                    .clients
                    .iter()
                    .any(|c| c.conn.as_ref().is_some_and(|c| !c.inbox.is_empty()));
            if !busy {
                self.flush();
                if self.hubs.iter().all(|(_, q)| q.is_empty()) {
                    return;
                }
            }
            self.step_shard();
            self.flush();
            for h in 0..HUBS {
                while !self.hubs[h].1.is_empty() {
                    self.step_hub(h);
                }
            }
            for c in 0..CLIENTS {
                while self.clients[c]
                    .conn
                    .as_ref()
                    .is_some_and(|c| !c.inbox.is_empty())
                {
                    self.step_conn(c);
                }
            }
        }
    }

    pub(super) fn finish(mut self) -> Vec<Client> {
        self.drain();
        for c in 0..CLIENTS {
            if let Some(conn) = &self.clients[c].conn {
                assert!(conn.replies.is_clear(), "client {c}: a reply never came");
            }
            self.drop_conn(c);
        }
        self.clients
    }
}

fn message_bytes(id: u64) -> Bytes {
    message(id)
}
