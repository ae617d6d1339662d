//! History groups in the supervisor: publishes from outside and from other nodes go to
//! their sequencers, and a node keeps listening for a history group (the cluster's
//! interest) while it keeps its history, members or not.

use super::*;
use crate::history::Histories;

/// The switchboard keeps group histories: the supervisor routes their messages.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AttachHistory(pub Histories);

/// A sequencer started (`true`) or forgot the history of these groups.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct HistoryKept(pub Vec<(GroupName, bool)>);

impl Supervisor {
    /// Hands the messages of history groups among `messages` to their sequencers
    /// (published by `publisher`); answers the others.
    pub(super) fn sequence(
        &self,
        messages: Arc<[Published]>,
        publisher: Option<ConnId>,
    ) -> Arc<[Published]> {
        let Some(histories) = &self.history else {
            return messages;
        };
        if !messages.iter().any(|m| histories.accepts(m.group.as_str())) {
            return messages;
        }
        let (numbered, plain): (Vec<Published>, Vec<Published>) = messages
            .iter()
            .cloned()
            .partition(|m| histories.accepts(m.group.as_str()));
        histories.publish(publisher, numbered, None);
        plain.into()
    }

    /// The messages of `messages` to groups without history.
    pub(super) fn plain(&self, messages: Arc<[Published]>) -> Arc<[Published]> {
        match &self.history {
            Some(h) if messages.iter().any(|m| h.accepts(m.group.as_str())) => messages
                .iter()
                .filter(|m| !h.accepts(m.group.as_str()))
                .cloned()
                .collect(),
            _ => messages,
        }
    }

    /// Whether this node listens for `group` in the cluster: it has members of it, or
    /// keeps its history.
    pub(super) fn interested(&self, group: &GroupName) -> bool {
        self.named.has_members(group) || self.kept.contains(group)
    }
}

impl Handler<AttachHistory> for Supervisor {
    type Result = ();
    fn handle(&mut self, AttachHistory(histories): AttachHistory, _: &mut Context<Self>) {
        self.history = Some(histories);
    }
}

impl Handler<HistoryKept> for Supervisor {
    type Result = ();
    fn handle(&mut self, HistoryKept(changes): HistoryKept, _: &mut Context<Self>) {
        for (group, kept) in changes {
            let before = self.interested(&group);
            match kept {
                true => self.kept.insert(group.clone()),
                false => self.kept.remove(&group),
            };
            let after = self.interested(&group);
            if let (true, Some(cluster)) = (before != after, &self.cluster) {
                cluster.interest(Interest::Group(group), after);
            }
        }
    }
}
