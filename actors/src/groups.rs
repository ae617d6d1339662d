//! Named groups (rooms, topics): which connections joined which group, and how a
//! message published to a group reaches its members.
//!
//! Besides the group of its protocol, a connection may join any number of named groups;
//! a group is a value, a [`GroupName`], not a type. A handler joins, leaves and
//! publishes through its [`Outbox`](crate::Outbox); the supervisor keeps the
//! memberships (group → members by protocol, and connection → groups, so a removed
//! connection leaves all its groups at once).
//!
//! A published message is protocol-neutral bytes. Each protocol says how such a
//! message looks on its wire with a [`GroupEncoder`] (see
//! [`Protocol::group_encoder`](crate::Protocol::group_encoder)); the hub of each thread
//! that runs members runs it once per protocol present among them, not once per member,
//! and hands every member the shared bytes (the supervisor does the same for members
//! registered without a hub). When the encoder refuses the message for one protocol, each member
//! of that protocol records a send failure with the encoder's reason; members of the
//! other protocols get the message.
//!
//! Order: the messages of one publisher to one group reach every member in publish
//! order. A publisher that is a member queues its own copy itself, in order with its
//! replies, and is left out of the fan-out.

use crate::core::BackToBack;
use crate::{ConnId, SendError};
use actix::prelude::*;
use bytes::Bytes;
use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

/// The name of a named group: cheap to clone (one shared allocation), compared by
/// content. Which names are acceptable is the application's rule, not the library's.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct GroupName(Arc<str>);

impl PartialEq for GroupName {
    fn eq(&self, other: &Self) -> bool {
        // Clones of one name (a run of messages to one group) compare without reading it.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl std::hash::Hash for GroupName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As the text hashes: a set of names is searched by text (`Borrow<str>`).
        self.as_str().hash(state);
    }
}

impl GroupName {
    /// The group called `name`.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        GroupName(name.into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for GroupName {
    fn from(name: &str) -> Self {
        GroupName::new(name)
    }
}

impl From<String> for GroupName {
    fn from(name: String) -> Self {
        GroupName::new(name)
    }
}

impl Borrow<str> for GroupName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for GroupName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The signature of a group encoder's function.
type EncodeFn = dyn Fn(&GroupName, &[u8]) -> Result<Bytes, String> + Send + Sync;

/// How a message published to a named group is written on one protocol's wire: the
/// complete packet (framing included) for `(group, message)`, or why this message
/// cannot be sent in this protocol (the reason is recorded as each member's send
/// failure).
///
/// It is a value rather than a trait method so that it can carry the protocol's
/// configuration (a line protocol's `max_line`, say) and run on another thread: each
/// hub encodes each message once per protocol present among its members of the group.
/// Connections of one protocol name are expected to hand out encoders that agree; a
/// hub uses the encoder of one member of each protocol.
#[derive(Clone)]
pub struct GroupEncoder(Arc<EncodeFn>);

impl GroupEncoder {
    /// An encoder running `encode`.
    pub fn new(
        encode: impl Fn(&GroupName, &[u8]) -> Result<Bytes, String> + Send + Sync + 'static,
    ) -> Self {
        GroupEncoder(Arc::new(encode))
    }

    /// The encoder of a protocol that takes no group messages: every message is a send
    /// failure for its members.
    pub(crate) fn unsupported(protocol: &'static str) -> Self {
        GroupEncoder::new(move |_, _| Err(format!("{protocol} has no group encoding")))
    }

    /// The packet for `message` published to `group`, or why there is none.
    pub fn encode(&self, group: &GroupName, message: &[u8]) -> Result<Bytes, String> {
        (self.0)(group, message)
    }
}

impl fmt::Debug for GroupEncoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupEncoder")
    }
}

/// One group message for a member: the packet encoded for its protocol, or why the
/// message could not be encoded for it.
pub type GroupPacket = Result<Bytes, SendError>;

/// Group messages for one member, in order. Each packet is admitted (or refused and
/// recorded) on its own; each error is recorded as a send failure.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct GroupDeliver(pub Vec<GroupPacket>);

/// A connection joins a named group (sent by the connection for its handler's
/// [`Outbox::join`](crate::Outbox::join)); it carries how the member is reached and how
/// its protocol encodes group messages. Ignored for a connection that is not registered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Join {
    /// The connection.
    pub id: ConnId,
    /// The group it joins.
    pub group: GroupName,
    /// Its protocol.
    pub protocol: &'static str,
    /// How its protocol writes group messages.
    pub encoder: GroupEncoder,
}

/// A connection leaves a named group (a no-op if it is not a member).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The connection.
    pub id: ConnId,
    /// The group it leaves.
    pub group: GroupName,
}

/// Publish `message` to every member of `group` (from outside any connection). Answers
/// how many members it was handed to, encoded or as a failure; 0 for a group without
/// members.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Publish {
    /// The group.
    pub group: GroupName,
    /// The protocol-neutral message, encoded by each member's protocol.
    pub message: Bytes,
}

/// One message a connection published during one turn.
#[derive(Debug, Clone)]
pub struct Published {
    /// The group.
    pub group: GroupName,
    /// The protocol-neutral message.
    pub message: Bytes,
    /// The publisher's own encoding of it, when the publisher (a member) made one: the
    /// other members of its protocol get the same bytes, so it is encoded only once.
    pub encoded: Option<Result<Bytes, String>>,
}

/// The messages a connection published during one turn, in order; it never receives
/// them from the fan-out (its own copies, if it is a member, are already queued).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct PublishBatch {
    /// The publishing connection.
    pub publisher: ConnId,
    /// Its protocol: where its own encodings may be reused.
    pub protocol: &'static str,
    /// The messages, in publish order.
    pub messages: Vec<Published>,
}

/// List the members of a named group (empty for a group without members).
#[derive(Message)]
#[rtype(result = "Vec<crate::MemberInfo>")]
pub struct GroupMembers(pub GroupName);

/// List the named groups with at least one member, and how many members each has.
#[derive(Message)]
#[rtype(result = "Vec<(GroupName, usize)>")]
pub struct ListGroups;

/// The named groups' figures, sent to the stats actor whenever they change.
#[derive(Message, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[rtype(result = "()")]
pub struct GroupCounts {
    /// Named groups with at least one member.
    pub groups: u64,
    /// Memberships in named groups.
    pub members: u64,
}

/// What the registry keeps of a connection that joined at least one group.
struct Joined<T> {
    /// Its protocol: where it sits in each of its groups.
    protocol: &'static str,
    /// How its protocol writes group messages.
    encoder: GroupEncoder,
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
        // Members of one group share one copy of its name.
        let group = match self.rooms.get_key_value(&group) {
            Some((name, _)) => name.clone(),
            None => group,
        };
        let entry = self.joined.entry(id).or_insert_with(|| Joined {
            protocol,
            encoder,
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
        publisher: Option<(ConnId, &'static str)>,
        wanted: impl Fn(&T) -> bool,
    ) -> Vec<Share<'_, T>> {
        let except = publisher.map(|(id, _)| id);
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
                let own = publisher.is_some_and(|(_, p)| p == protocol);
                let mut encoded: Option<Arc<GroupRun>> = None;
                for &id in members {
                    if Some(id) == except {
                        continue;
                    }
                    let Some(joined) = self.joined.get(&id).filter(|j| wanted(&j.target)) else {
                        continue;
                    };
                    // Encoded at most once per protocol, on the first member that needs it.
                    let packets = encoded.get_or_insert_with(|| {
                        let encoded = run.iter().map(|m| match (own, &m.encoded) {
                            (true, Some(own)) => own.clone(),
                            _ => joined.encoder.encode(name, &m.message),
                        });
                        Arc::new(GroupRun::of(encoded.collect()))
                    });
                    out.entry(id)
                        .or_insert_with(|| (id, &joined.target, Vec::new()))
                        .2
                        .push((name.clone(), packets.clone()));
                }
            }
        }
        out.into_values().collect()
    }
}

/// Consecutive messages to one group, encoded for one protocol, shared by that
/// protocol's members on one thread.
pub(crate) enum GroupRun {
    /// Every message encoded: copied back to back into one allocation of this thread,
    /// which each member's queue shares instead of copying (and whose reference count
    /// no other thread touches; the publisher's own encodings are shared with every
    /// other thread's hub).
    Copied(BackToBack),
    /// Some messages could not be encoded for this protocol: each member records those
    /// as send failures, and queues the others.
    Packets(Vec<GroupPacket>),
}

impl GroupRun {
    /// The run of `encoded` messages.
    fn of(encoded: Vec<Result<Bytes, String>>) -> Self {
        if encoded.iter().all(Result::is_ok) {
            let packets: Vec<Bytes> = encoded.into_iter().flatten().collect();
            return GroupRun::Copied(BackToBack::copy_of(&packets));
        }
        GroupRun::Packets(
            encoded
                .into_iter()
                .map(|packet| packet.map_err(SendError::Encode))
                .collect(),
        )
    }

    /// Each message for a member: its packet, or why it could not be encoded.
    pub fn packets(&self) -> Box<dyn Iterator<Item = GroupPacket> + '_> {
        match self {
            GroupRun::Copied(batch) => Box::new(batch.packets().iter().cloned().map(Ok)),
            GroupRun::Packets(packets) => Box::new(packets.iter().cloned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_and_hash_by_their_text() {
        let (a, b) = (
            GroupName::from("room"),
            GroupName::from(String::from("room")),
        );
        assert_eq!(a, b);
        assert_ne!(a, GroupName::from("other"));
        let set: HashSet<GroupName> = [a].into();
        assert!(set.contains("room"));
        assert!(set.contains(&b));
    }

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
                    let texts: Vec<String> = packets
                        .packets()
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
