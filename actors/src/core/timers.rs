//! Every deadline one connection keeps, as compact instants.
//!
//! The connection core reads no clock: each input carries `now`, and [`Timers::next`]
//! tells the owner when the earliest deadline falls, so the owner runs one timer per
//! connection, whatever the number of rules. The instants are kept as 8-byte offsets
//! from the connection's opening: ten of them cost a hundred thousand idle connections
//! 8 MB instead of 16.

use crate::{ConnectionLimits, Idle, IdleLimits};
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

use super::conn::Phase;

/// An instant as nanoseconds after the connection opened, plus one (so that an
/// `Option<Stamp>` is 8 bytes too). Instants before the opening count as the opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(NonZeroU64);

/// The instants a connection's deadlines are measured from.
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    /// When the connection opened: the origin of every stamp.
    born: Instant,
    /// When the peer last sent bytes; `None` until it does.
    last_receive: Option<Stamp>,
    /// When the socket last took bytes from us; `None` until it does.
    last_send: Option<Stamp>,
    /// Origin of the read-idle period: the last receive, or the last time it fired.
    read_from: Stamp,
    /// Origin of the write-idle period: the last write, or the last time it fired.
    write_from: Stamp,
    /// Origin of the all-idle period: the last receive or write, or the last firing.
    all_from: Stamp,
    /// When the queue last made progress or became non-empty: the write timeout's origin.
    write_since: Stamp,
    /// When the first byte of the incomplete inbound frame arrived.
    frame_started: Option<Stamp>,
    /// While closing, the flush deadline; while lingering, the end of lingering.
    phase_end: Option<Stamp>,
    /// The TLS handshake deadline, while one is under way.
    handshake: Option<Stamp>,
    /// When the unreported counters are due at the stats actor.
    report: Option<Stamp>,
}

impl Timers {
    /// Deadlines of a connection opened at `now`.
    pub fn new(now: Instant) -> Self {
        let opened = Stamp(NonZeroU64::MIN);
        Timers {
            born: now,
            last_receive: None,
            last_send: None,
            read_from: opened,
            write_from: opened,
            all_from: opened,
            write_since: opened,
            frame_started: None,
            phase_end: None,
            handshake: None,
            report: None,
        }
    }

    fn stamp(&self, at: Instant) -> Stamp {
        let nanos = at.saturating_duration_since(self.born).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
        Stamp(NonZeroU64::MIN.saturating_add(nanos))
    }

    fn instant(&self, stamp: Stamp) -> Instant {
        self.born + Duration::from_nanos(stamp.0.get() - 1)
    }

    fn get(&self, stamp: Option<Stamp>) -> Option<Instant> {
        stamp.map(|s| self.instant(s))
    }

    fn put(&self, at: Option<Instant>) -> Option<Stamp> {
        at.map(|at| self.stamp(at))
    }

    /// The peer sent bytes at `now`.
    pub fn received(&mut self, now: Instant) {
        let now = self.stamp(now);
        self.last_receive = Some(now);
        self.read_from = now;
        self.all_from = now;
    }

    /// The socket took bytes at `now`: write progress.
    pub fn wrote(&mut self, now: Instant) {
        let now = self.stamp(now);
        self.last_send = Some(now);
        self.write_since = now;
        self.write_from = now;
        self.all_from = now;
    }

    /// When the peer last sent bytes.
    pub fn last_receive(&self) -> Option<Instant> {
        self.get(self.last_receive)
    }

    /// When the socket last took bytes from us.
    pub fn last_send(&self) -> Option<Instant> {
        self.get(self.last_send)
    }

    /// When the write timeout's period began.
    pub fn write_since(&self) -> Instant {
        self.instant(self.write_since)
    }

    /// The queue became non-empty at `now`: the write timeout counts from here.
    pub fn set_write_since(&mut self, now: Instant) {
        self.write_since = self.stamp(now);
    }

    /// When the first byte of the incomplete inbound frame arrived.
    pub fn frame_started(&self) -> Option<Instant> {
        self.get(self.frame_started)
    }

    /// Sets (or clears) when the incomplete inbound frame began.
    pub fn set_frame_started(&mut self, at: Option<Instant>) {
        self.frame_started = self.put(at);
    }

    /// The closing or lingering deadline.
    pub fn phase_end(&self) -> Option<Instant> {
        self.get(self.phase_end)
    }

    /// Sets (or clears) the closing or lingering deadline.
    pub fn set_phase_end(&mut self, at: Option<Instant>) {
        self.phase_end = self.put(at);
    }

    /// The TLS handshake deadline.
    pub fn handshake(&self) -> Option<Instant> {
        self.get(self.handshake)
    }

    /// Sets (or clears) the TLS handshake deadline.
    pub fn set_handshake(&mut self, at: Option<Instant>) {
        self.handshake = self.put(at);
    }

    /// When the unreported counters are due.
    pub fn report(&self) -> Option<Instant> {
        self.get(self.report)
    }

    /// Sets (or clears) when the unreported counters are due.
    pub fn set_report(&mut self, at: Option<Instant>) {
        self.report = self.put(at);
    }

    /// Whether the idle period of `idle` passed at `now`; if so its next period starts.
    pub fn idle_passed(&mut self, idle: Idle, limits: &IdleLimits, now: Instant) -> bool {
        let (limit, from) = match idle {
            Idle::Read => (limits.read, self.read_from),
            Idle::Write => (limits.write, self.write_from),
            Idle::All => (limits.all, self.all_from),
        };
        match limit {
            Some(limit) if self.instant(from) + limit <= now => {
                let now = self.stamp(now);
                match idle {
                    Idle::Read => self.read_from = now,
                    Idle::Write => self.write_from = now,
                    Idle::All => self.all_from = now,
                }
                true
            }
            _ => false,
        }
    }

    /// The earliest deadline in `phase`; `write_pending` when bytes wait for the socket.
    pub fn next(
        &self,
        limits: &ConnectionLimits,
        write_pending: bool,
        phase: Phase,
    ) -> Option<Instant> {
        if phase == Phase::Done {
            return None;
        }
        let idle = &limits.idle;
        let candidates = [
            self.report(),
            self.handshake(),
            match phase {
                Phase::Closing | Phase::Lingering => self.phase_end(),
                Phase::Open | Phase::Done => None,
            },
        ];
        let open = if phase == Phase::Open {
            [
                write_pending.then(|| self.write_since() + limits.write_timeout),
                self.frame_started().map(|at| at + limits.frame_timeout),
                idle.read.map(|d| self.instant(self.read_from) + d),
                idle.write.map(|d| self.instant(self.write_from) + d),
                idle.all.map(|d| self.instant(self.all_from) + d),
            ]
        } else {
            [None; 5]
        };
        candidates.into_iter().chain(open).flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_keep_instants_to_the_nanosecond_and_options_cost_nothing() {
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 8);
        let born = Instant::now();
        let mut timers = Timers::new(born);
        let later = born + Duration::new(86_400 * 400, 123_456_789);
        timers.set_phase_end(Some(later));
        assert_eq!(timers.phase_end(), Some(later));
        timers.set_phase_end(Some(born));
        assert_eq!(
            timers.phase_end(),
            Some(born),
            "the opening itself is a stamp"
        );
        timers.set_phase_end(None);
        assert_eq!(timers.phase_end(), None);
        let before = born.checked_sub(Duration::from_secs(1)).unwrap_or(born);
        timers.set_report(Some(before));
        assert_eq!(
            timers.report(),
            Some(born),
            "earlier instants count as the opening"
        );
    }
}
