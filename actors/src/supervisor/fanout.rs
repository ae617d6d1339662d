//! How the supervisor's broadcasts and publishes go out: through every hub for the
//! connections that have one, and directly to members that registered without one
//! (stand-ins, connections started by hand on a thread without a hub). The cluster
//! link hears each local batch here, once: from the supervisor's own handlers, or from
//! the [`Notice`] a publishing connection sends after handing its batch to the hubs.

use super::*;
use crate::groups::{group_packets, Publisher};
use crate::hub::{HubBroadcast, HubPublish};

/// Register a connection whose broadcasts and group messages its hub delivers: the
/// supervisor keeps it for everything else (listings, removals, memberships) but
/// delivers nothing to it itself.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Enroll(pub Member);

/// A connection handed a batch to every hub: the supervisor delivers it to its
/// hub-less members and tells the cluster link. Sent only while
/// [`Hubs::notify_supervisor`](crate::hub::Hubs::notify_supervisor) is set.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) enum Notice {
    /// Messages published by `publisher` to named groups.
    Published {
        /// Who published them.
        publisher: Publisher,
        /// The messages, in publish order.
        messages: Arc<[Published]>,
    },
    /// Packets broadcast by `except` to its protocol group.
    Broadcast {
        /// The protocol group.
        protocol: &'static str,
        /// The packets, in order.
        packets: Arc<[Bytes]>,
        /// The broadcasting connection.
        except: ConnId,
    },
}

impl Supervisor {
    /// Whether some registered member has no hub.
    fn has_direct_members(&self) -> bool {
        self.registered() > self.served.len()
    }

    /// Tells publishers whether the supervisor must hear of their batches.
    pub(super) fn refresh_notice(&self) {
        self.hubs
            .set_notify_supervisor(self.cluster.is_some() || self.has_direct_members());
    }

    /// Publishes `messages` to their groups' members: through every hub, and directly
    /// to hub-less members; answers how many packets (and failures) that hands out.
    pub(super) fn publish_out(
        &self,
        messages: Arc<[Published]>,
        publisher: Option<Publisher>,
        via_hubs: bool,
    ) -> usize {
        let handed = self
            .named
            .count(&messages, publisher.as_ref().map(|p| p.id));
        if handed > 0 && self.has_direct_members() {
            let shares = self
                .named
                .fan_out(&messages, publisher.as_ref(), Option::is_some);
            for (_, deliver, packets) in shares {
                if let Some(deliver) = deliver {
                    let packets = packets.iter().flat_map(|(_, run)| group_packets(run));
                    let packets = packets.collect();
                    deliver.group(GroupDeliver(packets));
                }
            }
        }
        if via_hubs {
            for hub in self.hubs.all().iter() {
                hub.do_send(HubPublish {
                    publisher: publisher.clone(),
                    messages: messages.clone(),
                    ticket: None,
                });
            }
        }
        handed
    }

    /// Broadcasts `packets` to the members of `protocol` but `except`: through every
    /// hub, and directly to hub-less members (as one [`Deliver`] for a single packet
    /// unless `batch`, else as one [`DeliverBatch`]); answers how many members that is.
    pub(super) fn broadcast_out(
        &self,
        protocol: &'static str,
        packets: Arc<[Bytes]>,
        except: Option<ConnId>,
        (via_hubs, batch): (bool, bool),
    ) -> usize {
        let mut n = 0;
        for member in self.members_of(protocol) {
            let id = member.status.id;
            if Some(id) == except {
                continue;
            }
            n += 1;
            if self.served.contains(&id) {
                continue;
            }
            match &*packets {
                [packet] if !batch => member.link.deliver_now(packet.clone()),
                _ => member.link.deliver_batch(packets.clone()),
            }
        }
        if via_hubs {
            for hub in self.hubs.all().iter() {
                hub.do_send(HubBroadcast {
                    protocol,
                    packets: packets.clone(),
                    except,
                    ticket: None,
                });
            }
        }
        n
    }
}

impl Handler<Enroll> for Supervisor {
    type Result = ();
    fn handle(&mut self, Enroll(member): Enroll, _: &mut Context<Self>) {
        self.served.insert(member.status.id);
        self.register(member);
    }
}

impl Handler<Notice> for Supervisor {
    type Result = ();
    fn handle(&mut self, msg: Notice, _: &mut Context<Self>) {
        match msg {
            Notice::Published {
                publisher,
                messages,
            } => {
                // History groups were handed to their sequencers by the publisher.
                let plain = self.plain(messages.clone());
                self.publish_out(plain, Some(publisher), false);
                if let Some(cluster) = &self.cluster {
                    cluster.published(&messages);
                }
            }
            Notice::Broadcast {
                protocol,
                packets,
                except,
            } => {
                self.broadcast_out(protocol, packets.clone(), Some(except), (false, true));
                if let Some(cluster) = self.cluster_for(protocol) {
                    cluster.broadcast(protocol, &packets);
                }
            }
        }
    }
}
