//! What a deadline that came does: a handshake, write progress, an incomplete packet or
//! authentication overdue removes the connection; the rate bucket refilled resumes
//! reading; the application's timer and the idle kinds call the protocol; the close and
//! linger periods end; the counters' report also frees the buffers a busy connection
//! kept.

use super::*;

impl<P: Protocol> Conn<P> {
    /// A deadline from [`poll_timeout`](Self::poll_timeout) may have passed: every
    /// timer that fell at or before `now` is expired, in one fixed order (the
    /// handshake's first, the report's last).
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in Timer::VALUES {
            if self.timers.expired(timer, now) {
                self.timers.stop(timer);
                self.expire(now, timer);
            }
        }
        self.settle(now);
    }

    /// What `timer` falling means.
    fn expire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Handshake => {
                let reason = RemovalReason::TlsHandshake;
                self.abort(now, reason, FailureReason::Removed(reason));
            }
            Timer::WsHandshake => {
                let reason = RemovalReason::WsHandshake;
                self.abort(now, reason, FailureReason::Removed(reason));
            }
            Timer::Write => {
                let reason = RemovalReason::WriteTimeout;
                self.abort(now, reason, FailureReason::Removed(reason));
            }
            Timer::Frame => {
                self.last_word(now, "frame timeout");
                self.begin_close(now, RemovalReason::FrameTimeout);
            }
            Timer::Auth => {
                if self.outbox.user().is_none() {
                    self.last_word(now, "authentication timeout");
                    self.begin_close(now, RemovalReason::AuthTimeout);
                }
            }
            Timer::Rate => {
                self.rate_paused = false;
                if self.phase == Phase::Open && !self.read_buf.is_empty() {
                    // The packets read before the bucket ran dry go on first.
                    self.decode_all(now);
                }
            }
            Timer::Application => {
                self.protocol.on_timer(&mut self.outbox);
                self.run_actions(now);
            }
            Timer::ReadIdle => self.idle(now, Timer::ReadIdle, Idle::Read),
            Timer::WriteIdle => self.idle(now, Timer::WriteIdle, Idle::Write),
            Timer::AllIdle => self.idle(now, Timer::AllIdle, Idle::All),
            Timer::Phase => match self.phase {
                Phase::Closing(reason) => self.abort(now, reason, FailureReason::CloseTimeout),
                Phase::Lingering(reason) => self.finish(reason),
                Phase::Open | Phase::Done(_) => {}
            },
            Timer::Report => {
                self.report();
                self.release_idle_buffers();
            }
        }
    }

    /// An idle period of `kind` passed: the next one starts now, and the protocol hears
    /// of it.
    fn idle(&mut self, now: Instant, timer: Timer, kind: Idle) {
        let idle = &self.limits.idle;
        let limit = match kind {
            Idle::Read => idle.read,
            Idle::Write => idle.write,
            Idle::All => idle.all,
        };
        self.timers.set(timer, limit.map(|limit| now + limit));
        if self.is_upgrading() || (kind == Idle::Read && self.ws_heartbeat(now)) {
            // Before its handshake the protocol has not opened yet; a WebSocket's
            // heartbeat is its own Ping.
            return;
        }
        self.protocol.on_idle(kind, &mut self.outbox);
        self.run_actions(now);
    }

    /// Frees the buffers kept for reuse while the connection is busy (the outbound
    /// queue's, the action list) if nothing is in them, and counts it as busy again only
    /// once packets queue behind each other again. Runs with the counters' report, which
    /// follows every write within `stats_interval`: a busy connection reuses its buffers
    /// from one read to the next, and one gone quiet holds none after that.
    fn release_idle_buffers(&mut self) {
        self.busy = false;
        self.queue.release_if_empty();
        if self.outbox.actions.is_empty() {
            self.outbox.actions = Vec::new();
        }
    }
}
