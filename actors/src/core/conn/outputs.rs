//! What the connection tells its owner: the next event, the next deadline, whether it
//! wants to read or write, the bytes to write, and figures about itself for reports.
//! Nothing here changes the connection's state except taking events off their list.

use super::*;

impl<P: Protocol> Conn<P> {
    /// The next thing the owner must do.
    pub fn poll_event(&mut self) -> Option<Event<P::Response>> {
        let event = self.events.pop_front();
        if event.is_none() && self.events.capacity() > 0 {
            // Events are rare next to packets (a report, a broadcast, a removal): their
            // list is not worth keeping between turns on thousands of connections.
            self.events = VecDeque::new();
        }
        event
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) has
    /// something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Whether the owner should read from the socket now.
    pub fn wants_read(&self) -> bool {
        match self.phase {
            Phase::Open => {
                !self.read_paused
                    && !self.publish_paused
                    && !self.rate_paused
                    && !self.replies_full()
            }
            Phase::Lingering(_) => true,
            Phase::Closing(_) | Phase::Done(_) => false,
        }
    }

    /// Whether bytes are waiting for the socket.
    pub fn wants_write(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Closing(_)) && !self.queue.is_empty()
    }

    /// The next bytes to write, at most `budget` of them: slices into `dst`, or the
    /// file region at the front of the queue.
    pub fn poll_transmit<'a>(&'a self, dst: &mut [IoSlice<'a>], budget: usize) -> Transmit<'a> {
        if !self.wants_write() {
            return Transmit::Nothing;
        }
        if let Some(region) = self.queue.front_file() {
            return Transmit::File(region);
        }
        match self.queue.io_slices(dst, budget) {
            0 => Transmit::Nothing,
            n => Transmit::Slices(n),
        }
    }

    /// The limits this connection enforces.
    pub fn limits(&self) -> &ConnectionLimits {
        &self.limits
    }

    /// Where the connection is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Why it was removed, once it was.
    pub fn removal(&self) -> Option<RemovalReason> {
        self.phase.removal()
    }

    /// Bytes waiting in the outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.queue.len_bytes()
    }

    /// Packets waiting in the outbound queue.
    pub fn queued_packets(&self) -> usize {
        self.queue.len_packets()
    }

    /// Error packets over the connection's lifetime.
    pub fn error_packets(&self) -> u32 {
        self.ledger.error_packets()
    }

    /// Everything counted since the connection opened.
    pub fn traffic(&self) -> Traffic {
        self.ledger.total()
    }

    /// Bytes held for an incomplete inbound packet.
    pub fn read_buffered(&self) -> usize {
        self.read_buf.len()
    }

    /// Bytes allocated for inbound data (what the peer can make us hold).
    pub fn read_capacity(&self) -> usize {
        self.read_buf.capacity()
    }

    /// When the peer last sent bytes, and when the socket last took bytes from us.
    pub fn last_activity(&self) -> (Option<Instant>, Option<Instant>) {
        (self.timers.last_receive(), self.timers.last_send())
    }

    /// The most recent send failures, with wall-clock times (`now` and `wall` being
    /// one moment on the two clocks).
    pub fn recent_failures(&self, now: Instant, wall: SystemTime) -> Vec<crate::SendFailure> {
        self.ledger.recent_failures(now, wall)
    }
}
