//! The one admission rule: every packet offered to the connection, from its own handler
//! or from outside, is queued, held in reply order, or refused with the refusal recorded;
//! and the accounting of what the socket (or a TLS layer) confirmed.

use super::websocket::encode_framed;
use super::*;

impl<P: Protocol> Conn<P> {
    // ----- admission -----------------------------------------------------------------

    /// Queues its own reply now, or holds it behind outstanding deferred replies.
    pub(super) fn send_in_order(&mut self, now: Instant, out: Outgoing<P::Response>) {
        if self.replies.is_clear() {
            // A refusal is recorded where it happens; a reply has no caller to tell.
            let _ = self.admit(now, Origin::Own, out);
        } else {
            self.replies.hold(out);
        }
    }

    pub(super) fn release_ready(&mut self, now: Instant) {
        while let Some(ready) = self.replies.pop_ready() {
            self.released(ready.group_bytes());
            let _ = self.admit(now, Origin::Own, ready);
        }
    }

    /// The one admission rule: open connections take everything; a closing one takes
    /// only its own last replies; a packet past `max_outbound_bytes` is refused and
    /// makes the peer a slow consumer. Every refusal is recorded.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        origin: Origin,
        out: Outgoing<P::Response>,
    ) -> Result<(), SendError> {
        let out = match out {
            Outgoing::Several(items) => {
                for item in items {
                    let _ = self.admit(now, origin, item);
                }
                return Ok(());
            }
            // A group message is someone else's, wherever it waited.
            Outgoing::Group(Ok(packet)) => {
                return self.admit(now, Origin::External, Outgoing::Packet(packet))
            }
            Outgoing::Group(Err(error)) => {
                if !self.phase.is_done() {
                    self.refuse(now, error.clone(), 0);
                }
                return Err(error);
            }
            out => out,
        };
        self.check_open(now, origin, out.known_size())?;
        let was_empty = self.queue.is_empty();
        let (outcome, size) = match out {
            Outgoing::Response(response) => {
                let framing = self.framing();
                let codec = &mut self.codec;
                let encode = |buf: &mut BytesMut| encode_framed(codec, response, buf, framing);
                match self.queue.encode_with(0, encode) {
                    Ok(0) => return Ok(()),
                    Ok(size) => (Ok(()), size),
                    Err(EncodeRefused::Encode(e)) => {
                        tracing::warn!("encode failed: {e}");
                        (Err(SendError::Encode(e.to_string())), 0)
                    }
                    Err(EncodeRefused::OverBudget(over)) => (Err(over.into()), over.packet),
                }
            }
            Outgoing::Packet(packet) if packet.is_empty() => (Err(SendError::Empty), 0),
            Outgoing::Packet(packet) => {
                let size = packet.len();
                (self.queue.push(packet).map_err(SendError::from), size)
            }
            Outgoing::File(region) if self.ws.is_some() => {
                let size = region.remaining() as usize;
                let refusal = SendError::Encode("a file cannot be sent as a message".into());
                (Err(refusal), size)
            }
            Outgoing::File(region) => {
                let size = region.remaining() as usize;
                if !self.queue.push_file(region) {
                    return Ok(());
                }
                (Ok(()), size)
            }
            // Taken apart above.
            Outgoing::Group(_) | Outgoing::Several(_) => return Ok(()),
        };
        self.conclude(now, was_empty, outcome, size)
    }

    /// Admits `packets` in order, each exactly as [`admit`](Self::admit) would one by
    /// one (a message the protocol could not encode is recorded as refused), but with
    /// one phase check, one ledger update and one queue pass for every stretch the
    /// queue takes whole. Returns how many packets were queued.
    /// Packets lying back to back in `shared` are queued as slices of it (see
    /// [`OutboundQueue::push_shared_run`]), all at once when they all fit.
    pub(super) fn admit_run<T: RunPacket>(
        &mut self,
        now: Instant,
        origin: Origin,
        packets: &[T],
        shared: Option<&BackToBack>,
    ) -> usize {
        let mut queued = 0;
        let mut rest = packets;
        while let Some((first, after)) = rest.split_first() {
            match self.phase {
                // Everything later is refused unrecorded: only the caller would learn of it.
                Phase::Done(_) => break,
                Phase::Open => {
                    let was_empty = self.queue.is_empty();
                    let at_start = rest.len() == packets.len();
                    let packets = || rest.iter().map_while(|p| p.packet().ok());
                    let mut n = match shared {
                        Some(batch) => {
                            let whole = batch.whole();
                            let tiled = match batch.runs() {
                                Some(runs) if at_start => self.queue.push_tiled(whole, runs),
                                _ => 0,
                            };
                            match tiled {
                                0 => self.queue.push_shared_run(whole, packets()),
                                n => n,
                            }
                        }
                        None => 0,
                    };
                    if n == 0 {
                        n = self.queue.push_run(packets());
                    }
                    if n > 0 {
                        self.queued(now, was_empty, n);
                        // What one settle per packet would do before a later abort
                        // reports the counters.
                        self.arm_report(now);
                        queued += n;
                        rest = &rest[n..];
                        continue;
                    }
                }
                Phase::Closing(_) | Phase::Lingering(_) => {}
            }
            // The queue stopped at this one (empty, unencodable or past the limit), or
            // the connection is closing: the one-packet rule decides it.
            match first.packet() {
                Ok(packet) => {
                    let packet = Outgoing::Packet(packet.clone());
                    queued += usize::from(self.admit(now, origin, packet).is_ok());
                }
                Err(error) => {
                    self.refuse(now, error.clone(), 0);
                }
            }
            self.arm_report(now);
            rest = after;
        }
        queued
    }

    /// Counts `n` packets as queued, the first of them into a queue that `was_empty`
    /// (starting the write timeout); a packet queued behind another marks the
    /// connection busy.
    fn queued(&mut self, now: Instant, was_empty: bool, n: usize) {
        if was_empty && self.phase == Phase::Open {
            // Bytes wait for the socket: they must make progress within write_timeout.
            let deadline = now + self.limits.write_timeout;
            self.timers.set(Timer::Write, Some(deadline));
        }
        if !was_empty || n > 1 {
            self.busy = true;
        }
        self.ledger.queued(n);
    }

    /// The phase's part of the admission rule: open connections take everything; a
    /// closing one takes only its own last replies. A refusal of a packet of `size`
    /// bytes is recorded (except once done: then the caller alone learns of it).
    pub(super) fn check_open(
        &mut self,
        now: Instant,
        origin: Origin,
        size: usize,
    ) -> Result<(), SendError> {
        let open = match self.phase {
            Phase::Open => true,
            Phase::Closing(_) => origin == Origin::Own,
            Phase::Lingering(_) => false,
            // Nothing is counted any more: the caller alone learns of the refusal.
            Phase::Done(_) => return Err(SendError::Closing),
        };
        if !open {
            return Err(self.refuse(now, SendError::Closing, size));
        }
        Ok(())
    }

    /// The queue's answer to a packet of `size` bytes: counted as queued (starting the
    /// write timeout if the queue was empty), or refused and recorded; a packet past
    /// `max_outbound_bytes` makes the peer a slow consumer.
    pub(super) fn conclude(
        &mut self,
        now: Instant,
        was_empty: bool,
        outcome: Result<(), SendError>,
        size: usize,
    ) -> Result<(), SendError> {
        match outcome {
            Ok(()) => {
                self.queued(now, was_empty, 1);
                Ok(())
            }
            Err(e) => {
                let slow = matches!(e, SendError::OverBudget { .. });
                self.refuse(now, e.clone(), size);
                if slow {
                    let reason = RemovalReason::SlowConsumer;
                    self.abort(now, reason, FailureReason::Removed(reason));
                }
                Err(e)
            }
        }
    }

    /// Records a refused packet; returns the refusal for the caller.
    pub(super) fn refuse(&mut self, now: Instant, err: SendError, size: usize) -> SendError {
        self.ledger
            .refused(now, FailureReason::Refused(err.clone()), size);
        err
    }

    pub(super) fn confirm(&mut self, confirmed: usize) {
        let Some(pending) = self.unconfirmed.as_mut() else {
            return;
        };
        pending.confirmed_offset += confirmed as u64;
        let packets = pending.ends.pop_through(pending.confirmed_offset, None);
        if pending.ends.is_empty() && pending.confirmed_offset == self.queue.written_offset() {
            // Caught up: back to the plain path, and nothing kept.
            self.unconfirmed = None;
        }
        self.ledger.sent(confirmed, packets);
    }
}
