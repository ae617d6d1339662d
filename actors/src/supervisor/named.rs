//! Named groups in the supervisor: joins, leaves, publishes and member queries, and
//! what a cluster link hands over from other servers.

use super::listing::member_info;
use super::*;

impl Handler<Join> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Join, _: &mut Context<Self>) {
        // A join that arrives after its connection's removal must not outlive it.
        let group = msg.group.clone();
        let new_room = !self.named.has_members(&group);
        // A connection with a hub gets its group messages from there.
        let direct = match self.served.contains(&msg.id) {
            true => None,
            false => self.member(msg.id).map(|m| m.link.clone()),
        };
        if self.member(msg.id).is_some()
            && self
                .named
                .join(msg.id, msg.group, msg.protocol, msg.encoder, || direct)
        {
            self.stats.do_send(self.named.counts());
            if let (true, Some(cluster)) = (new_room, &self.cluster) {
                cluster.interest(Interest::Group(group), true);
            }
        }
    }
}

impl Handler<Leave> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        if self.named.leave(msg.id, &msg.group) {
            self.stats.do_send(self.named.counts());
            if let (false, Some(cluster)) = (self.interested(&msg.group), &self.cluster) {
                cluster.interest(Interest::Group(msg.group), false);
            }
        }
    }
}

impl Handler<Publish> for Supervisor {
    type Result = usize;
    fn handle(&mut self, msg: Publish, _: &mut Context<Self>) -> usize {
        let messages: Arc<[Published]> = Arc::new([Published {
            group: msg.group,
            message: msg.message,
            encoded: None,
        }]);
        let plain = self.sequence(messages.clone(), None);
        let handed = self.publish_out(plain, None, true);
        if let Some(cluster) = &self.cluster {
            cluster.published(&messages);
        }
        handed
    }
}

impl Handler<PublishBatch> for Supervisor {
    type Result = usize;
    fn handle(&mut self, msg: PublishBatch, _: &mut Context<Self>) -> usize {
        let messages: Arc<[Published]> = msg.messages.into();
        let plain = self.sequence(messages.clone(), Some(msg.publisher.id));
        let handed = self.publish_out(plain, Some(msg.publisher), true);
        if let Some(cluster) = &self.cluster {
            cluster.published(&messages);
        }
        handed
    }
}

impl Handler<GroupMembers> for Supervisor {
    type Result = MessageResult<GroupMembers>;
    fn handle(&mut self, msg: GroupMembers, _: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        let mut ids = self.named.members(&msg.0);
        ids.sort_unstable();
        let list = ids
            .into_iter()
            .filter_map(|id| self.member(id))
            .map(|m| member_info(m, now))
            .collect();
        MessageResult(list)
    }
}

impl Handler<ListGroups> for Supervisor {
    type Result = MessageResult<ListGroups>;
    fn handle(&mut self, _: ListGroups, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.named.list())
    }
}

impl Handler<AttachCluster> for Supervisor {
    type Result = ();
    fn handle(&mut self, AttachCluster(cluster): AttachCluster, _: &mut Context<Self>) {
        for group in self.named.names() {
            cluster.interest(Interest::Group(group.clone()), true);
        }
        for (&protocol, members) in &self.groups {
            if !members.is_empty() && !self.dialed.contains(protocol) {
                cluster.interest(Interest::Protocol(protocol), true);
            }
        }
        self.cluster = Some(cluster);
        self.refresh_notice();
    }
}

impl Handler<ClusterDeliver> for Supervisor {
    type Result = usize;
    fn handle(&mut self, msg: ClusterDeliver, _: &mut Context<Self>) -> usize {
        let messages: Arc<[Published]> = msg
            .messages
            .into_iter()
            .map(|message| Published {
                group: msg.group.clone(),
                message,
                encoded: None,
            })
            .collect();
        // Numbered here like any message of a history group, members or not.
        let plain = self.sequence(messages, None);
        self.publish_out(plain, None, true)
    }
}

impl Handler<ClusterBroadcast> for Supervisor {
    type Result = usize;
    fn handle(&mut self, msg: ClusterBroadcast, _: &mut Context<Self>) -> usize {
        let packets: Arc<[Bytes]> = Arc::from(msg.packets);
        self.broadcast_out(msg.protocol, packets, None, (true, true))
    }
}
