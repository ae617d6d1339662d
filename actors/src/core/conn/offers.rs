//! What others offer a connection from outside its own reading: packets encoded for it
//! (one, a run, one broadcast copy shared by many, a hub's handout), a response to send,
//! a file region, joins and leaves asked by the application, and the group encoder the
//! registry takes from it.

use super::*;

impl<P: Protocol> Conn<P> {
    /// Offers a packet already encoded for this connection's protocol.
    pub fn deliver(
        &mut self,
        now: Instant,
        packet: Bytes,
        origin: Origin,
    ) -> Result<(), SendError> {
        let result = self.admit(now, origin, Outgoing::Packet(packet));
        self.settle(now);
        result
    }

    /// Offers a run of packets in order: each is admitted, or refused and recorded,
    /// exactly as if offered on its own with [`deliver`](Self::deliver) (a message the
    /// protocol could not encode as with [`group_refused`](Self::group_refused)), for a
    /// fraction of the cost per packet. Returns how many were queued.
    pub fn deliver_all<T: RunPacket>(
        &mut self,
        now: Instant,
        packets: &[T],
        origin: Origin,
    ) -> usize {
        let queued = self.admit_run(now, origin, packets, None);
        self.settle(now);
        queued
    }

    /// Like [`deliver_all`](Self::deliver_all), for packets that lie back to back in
    /// one buffer (a batch a hub hands to many members): the queue then takes
    /// stretches of them as shared slices of that buffer instead of copying each
    /// packet, and the whole batch in a few steps when it fits. Which packets are
    /// admitted or refused, and how they are counted, is the same.
    pub fn deliver_shared(&mut self, now: Instant, batch: &BackToBack, origin: Origin) -> usize {
        let queued = self.admit_run(now, origin, batch.packets(), Some(batch));
        self.settle(now);
        queued
    }

    /// Offers what a hub hands out, as [`deliver_shared`](Self::deliver_shared) or
    /// [`deliver_all`](Self::deliver_all) would.
    pub fn deliver_handout<T: RunPacket>(
        &mut self,
        now: Instant,
        handout: &Handout<impl AsRef<[T]>>,
        origin: Origin,
    ) -> usize {
        match handout {
            Handout::Copied(batch) => self.deliver_shared(now, batch, origin),
            Handout::Packets(packets) => self.deliver_all(now, packets.as_ref(), origin),
        }
    }

    /// Offers a response, encoded by this connection's codec.
    pub fn send(&mut self, now: Instant, response: P::Response) -> Result<(), SendError> {
        let result = self.admit(now, Origin::External, Outgoing::Response(response));
        self.settle(now);
        result
    }

    /// The application joins the named group on this connection's behalf, as if its
    /// handler had asked: answers whether it was not a member yet, or why it may not
    /// ([`SendError::Refused`]; a denial is counted). A connection that is closing joins
    /// nothing.
    pub fn join_group(&mut self, now: Instant, group: GroupName) -> Result<bool, SendError> {
        self.membership(now, |outbox| outbox.try_join(group))
    }

    /// The application makes this connection leave the named group, as if its handler
    /// had asked: answers whether it was a member.
    pub fn leave_group(&mut self, now: Instant, group: &str) -> Result<bool, SendError> {
        self.membership(now, |outbox| Ok(outbox.leave(group)))
    }

    fn membership(
        &mut self,
        now: Instant,
        change: impl FnOnce(&mut Outbox<P::Response>) -> Result<bool, Refusal>,
    ) -> Result<bool, SendError> {
        if self.phase != Phase::Open {
            return Err(SendError::Closing);
        }
        let changed = change(&mut self.outbox);
        if let Err(Refusal::Denied { .. }) = &changed {
            self.ledger.denied();
        }
        self.run_actions(now);
        self.settle(now);
        changed.map_err(SendError::Refused)
    }

    /// Offers a file region, sent zero-copy in order with the packets around it.
    pub fn send_file(&mut self, now: Instant, region: FileRegion) -> Result<(), SendError> {
        let result = self.admit(now, Origin::External, Outgoing::File(region));
        self.settle(now);
        result
    }

    /// A group message could not be encoded for this connection's protocol: recorded
    /// as a send failure with `error`, like any refused packet.
    pub fn group_refused(&mut self, now: Instant, error: SendError) {
        if !self.phase.is_done() {
            self.refuse(now, error, 0);
        }
        self.settle(now);
    }

    /// How this protocol writes group messages: the protocol's
    /// [`group_encoder`](Protocol::group_encoder), asked once, or one that refuses
    /// every message if it has none.
    pub fn group_encoder(&mut self) -> GroupEncoder {
        let protocol = &self.protocol;
        self.group_encoder
            .get_or_insert_with(|| {
                protocol
                    .group_encoder()
                    .unwrap_or_else(|| GroupEncoder::unsupported(P::NAME))
            })
            .clone()
    }
}
