//! Who is in which named group, and the fan-out of published messages to them.

use super::{
    group_packets, group_run, GroupCounts, GroupEncoder, GroupName, GroupRun, Published, Publisher,
};
use crate::websocket::Framing;
use crate::ConnId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

mod encodings;
mod numbered;

use encodings::Encodings;

pub(crate) use numbered::NumberedShare;

/// What the registry keeps of a connection that joined at least one group.
struct Joined<T> {
    /// Its protocol: where it sits in each of its groups.
    protocol: &'static str,
    /// How its protocol writes group messages.
    encoder: GroupEncoder,
    /// How a WebSocket member's packets go out as messages (`None` on a stream).
    framing: Option<Framing>,
    /// Where its group messages go (the supervisor keeps none for connections whose
    /// hub delivers them).
    target: T,
    /// The groups it is in, for the automatic leave at removal.
    groups: HashSet<GroupName>,
}

/// The members of one named group, by protocol: the unit of encoding.
type Room = HashMap<&'static str, HashSet<ConnId>>;

/// Consecutive group messages of one group for its members of one protocol, in
/// publish order (shared by those members).
pub(crate) type Run = (GroupName, Arc<GroupRun>);

/// One member's share of a fan-out: its runs of packets, in publish order.
pub(crate) type Share<'a, T> = (ConnId, &'a T, Vec<Run>);

/// Named groups and their members: the supervisor keeps one for every connection (it
/// answers the queries and the cluster's interest), each hub one for its own thread's
/// connections (it delivers). `T` is how a member is reached.
pub(crate) struct Registry<T> {
    /// Members of each named group with at least one member, by protocol.
    rooms: HashMap<GroupName, Room>,
    /// The groups of each connection in at least one group.
    joined: HashMap<ConnId, Joined<T>>,
    /// Memberships over all groups.
    memberships: u64,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Registry {
            rooms: HashMap::new(),
            joined: HashMap::new(),
            memberships: 0,
        }
    }
}

impl<T> Registry<T> {
    /// The figures for the stats actor.
    pub fn counts(&self) -> GroupCounts {
        GroupCounts {
            groups: self.rooms.len() as u64,
            members: self.memberships,
        }
    }

    /// Adds a membership of `id` (of `protocol`, reached through `target`); false if it
    /// already existed. A member's protocol, encoder and target are those of its first
    /// join.
    pub fn join(
        &mut self,
        id: ConnId,
        group: GroupName,
        protocol: &'static str,
        encoder: GroupEncoder,
        target: impl FnOnce() -> T,
    ) -> bool {
        self.join_framed(id, group, protocol, encoder, None, target)
    }

    /// [`join`](Self::join) for a member whose packets go out framed as WebSocket
    /// messages by `framing` (if given): its share of a fan-out is framed once for
    /// every member of its protocol framed alike.
    pub fn join_framed(
        &mut self,
        id: ConnId,
        group: GroupName,
        protocol: &'static str,
        encoder: GroupEncoder,
        framing: Option<Framing>,
        target: impl FnOnce() -> T,
    ) -> bool {
        // Members of one group share one copy of its name.
        let group = match self.rooms.get_key_value(&group) {
            Some((name, _)) => name.clone(),
            None => group,
        };
        let entry = self.joined.entry(id).or_insert_with(|| Joined {
            protocol,
            encoder,
            framing,
            target: target(),
            groups: HashSet::new(),
        });
        if !entry.groups.insert(group.clone()) {
            return false;
        }
        let protocol = entry.protocol;
        self.rooms
            .entry(group)
            .or_default()
            .entry(protocol)
            .or_default()
            .insert(id);
        self.memberships += 1;
        true
    }

    /// Removes a membership; false if there was none.
    pub fn leave(&mut self, id: ConnId, group: &GroupName) -> bool {
        let Some(joined) = self.joined.get_mut(&id) else {
            return false;
        };
        if !joined.groups.remove(group) {
            return false;
        }
        let protocol = joined.protocol;
        if joined.groups.is_empty() {
            self.joined.remove(&id);
        }
        self.drop_member(id, protocol, group);
        true
    }

    /// Removes a connection from every group it is in; answers how many it left.
    pub fn leave_all(&mut self, id: ConnId) -> usize {
        let Some(joined) = self.joined.remove(&id) else {
            return 0;
        };
        for group in &joined.groups {
            self.drop_member(id, joined.protocol, group);
        }
        joined.groups.len()
    }

    fn drop_member(&mut self, id: ConnId, protocol: &'static str, group: &GroupName) {
        self.memberships = self.memberships.saturating_sub(1);
        let Some(room) = self.rooms.get_mut(group) else {
            return;
        };
        if let Some(members) = room.get_mut(protocol) {
            members.remove(&id);
            if members.is_empty() {
                room.remove(protocol);
            }
        }
        if room.is_empty() {
            self.rooms.remove(group);
        }
    }

    /// Whether `group` has members.
    pub fn has_members(&self, group: &GroupName) -> bool {
        self.rooms.contains_key(group)
    }

    /// The groups `id` is in.
    pub fn groups_of(&self, id: ConnId) -> Vec<GroupName> {
        self.joined
            .get(&id)
            .map(|j| j.groups.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The named groups with members.
    pub fn names(&self) -> impl Iterator<Item = &GroupName> {
        self.rooms.keys()
    }

    /// The members of `group`, in no particular order.
    pub fn members(&self, group: &GroupName) -> Vec<ConnId> {
        self.rooms
            .get(group)
            .into_iter()
            .flat_map(|room| room.values().flatten().copied())
            .collect()
    }

    /// The groups with their member counts.
    pub fn list(&self) -> Vec<(GroupName, usize)> {
        let mut list: Vec<_> = self
            .rooms
            .iter()
            .map(|(name, room)| (name.clone(), room.values().map(HashSet::len).sum()))
            .collect();
        list.sort();
        list
    }

    /// How many packets a fan-out of `messages` hands out: one per member of each
    /// message's group, the publisher left out.
    pub fn count(&self, messages: &[Published], publisher: Option<ConnId>) -> usize {
        messages
            .iter()
            .filter_map(|m| self.rooms.get(&m.group))
            .flat_map(|room| room.values())
            .map(|members| members.len() - publisher.map_or(0, |p| members.contains(&p) as usize))
            .sum()
    }

    /// Fans `messages` out to the members whose target is `wanted`: each message is
    /// encoded once per protocol of its group (or taken from the publisher's own
    /// encoding for the publisher's protocol), and every such member but the
    /// publisher gets its packets in publish order, one share per member, cut in runs
    /// of consecutive messages to one group (looked up once per run, not per message).
    pub fn fan_out(
        &self,
        messages: &[Published],
        publisher: Option<&Publisher>,
        wanted: impl Fn(&T) -> bool,
    ) -> Vec<Share<'_, T>> {
        let except = publisher.map(|p| p.id);
        let user = publisher.and_then(|p| p.user.as_ref());
        let mut out: HashMap<ConnId, Share<'_, T>> = HashMap::new();
        let mut rest = messages;
        while let Some(first) = rest.first() {
            let len = rest.iter().take_while(|m| m.group == first.group).count();
            let (run, after) = rest.split_at(len);
            rest = after;
            let Some((name, room)) = self.rooms.get_key_value(&first.group) else {
                continue;
            };
            for (&protocol, members) in room {
                let own = publisher.is_some_and(|p| p.protocol == protocol);
                let mut encodings = Encodings::default();
                for &id in members {
                    if Some(id) == except {
                        continue;
                    }
                    let Some(joined) = self.joined.get(&id).filter(|j| wanted(&j.target)) else {
                        continue;
                    };
                    let packets = encodings.for_member(joined.framing, || {
                        let encoded = run.iter().map(|m| match (own, &m.encoded) {
                            (true, Some(own)) => own.clone(),
                            _ => joined.encoder.encode_from(name, &m.message, user),
                        });
                        group_run(encoded.collect())
                    });
                    out.entry(id)
                        .or_insert_with(|| (id, &joined.target, Vec::new()))
                        .2
                        .push((name.clone(), packets));
                }
            }
        }
        out.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn message(group: &str, text: &'static str) -> Published {
        Published {
            group: group.into(),
            message: Bytes::from_static(text.as_bytes()),
            encoded: None,
        }
    }

    /// Each member's runs as (group, messages) text.
    fn shares(registry: &Registry<()>, messages: &[Published]) -> Vec<(ConnId, Vec<String>)> {
        let mut out: Vec<(ConnId, Vec<String>)> = registry
            .fan_out(messages, None, |_| true)
            .into_iter()
            .map(|(id, _, runs)| {
                let runs = runs.iter().map(|(group, packets)| {
                    let texts: Vec<String> = crate::groups::group_packets(packets)
                        .map(|p| String::from_utf8_lossy(&p.unwrap()).into_owned())
                        .collect();
                    format!("{}:{}", group.as_str(), texts.join(","))
                });
                (id, runs.collect())
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn one_run_or_many_each_member_gets_its_groups_messages_in_order() {
        let encoder = GroupEncoder::new(|_, message| Ok(Bytes::copy_from_slice(message)));
        let mut registry = Registry::default();
        for (id, group) in [(1, "a"), (2, "a"), (3, "b"), (2, "b")] {
            registry.join(id, group.into(), "p", encoder.clone(), || ());
        }
        let one_run = [message("a", "1"), message("a", "2")];
        assert_eq!(
            shares(&registry, &one_run),
            [(1, vec!["a:1,2".to_owned()]), (2, vec!["a:1,2".to_owned()])]
        );
        let runs = [message("a", "1"), message("b", "2"), message("a", "3")];
        assert_eq!(
            shares(&registry, &runs),
            [
                (1, vec!["a:1".to_owned(), "a:3".to_owned()]),
                (
                    2,
                    vec!["a:1".to_owned(), "b:2".to_owned(), "a:3".to_owned()]
                ),
                (3, vec!["b:2".to_owned()]),
            ]
        );
    }
}
