//! Every deadline one connection keeps: a table with one slot per kind of [`Timer`],
//! as compact instants (quinn-proto's `TimerTable`).
//!
//! The connection core reads no clock: each input carries `now`, and
//! [`Timers::next`] tells the owner when the earliest deadline falls, so the owner runs
//! one timer per connection, whatever the number of rules. The core expires them in one
//! loop over [`Timer::VALUES`] with an exhaustive match, so a new deadline is one more
//! variant. The instants are kept as 8-byte offsets from the connection's opening:
//! the fifteen of them cost a hundred thousand idle connections 12 MB instead of 24.

use crate::IdleLimits;
use std::num::NonZeroU64;
use std::time::{Duration, Instant};

/// A kind of deadline; each has one slot in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The TLS handshake must have finished.
    Handshake,
    /// The WebSocket handshake must have finished (its request accepted).
    WsHandshake,
    /// Queued bytes must have made progress (`write_timeout`); armed while bytes are
    /// queued.
    Write,
    /// The incomplete inbound packet must be complete (`frame_timeout`).
    Frame,
    /// The connection must have authenticated (`auth_timeout`).
    Auth,
    /// Reading, paused over the message rate, resumes: the bucket has a token again.
    Rate,
    /// Nothing received for the read-idle limit: `on_idle(Read)`.
    ReadIdle,
    /// Nothing written for the write-idle limit: `on_idle(Write)`.
    WriteIdle,
    /// Neither for the all-idle limit: `on_idle(All)`.
    AllIdle,
    /// The application's own timer ([`Protocol::on_timer`](crate::Protocol::on_timer)).
    Application,
    /// While closing, the end of the flush; while lingering, the end of lingering.
    Phase,
    /// The unreported counters are due at the stats actor.
    Report,
}

impl Timer {
    /// Every kind, in the order the core expires them at one instant.
    pub const VALUES: [Timer; 12] = [
        Timer::Handshake,
        Timer::WsHandshake,
        Timer::Write,
        Timer::Frame,
        Timer::Auth,
        Timer::Rate,
        Timer::ReadIdle,
        Timer::WriteIdle,
        Timer::AllIdle,
        Timer::Application,
        Timer::Phase,
        Timer::Report,
    ];

    /// The number of kinds: the table's size.
    const COUNT: usize = Timer::VALUES.len();
}

/// An instant as nanoseconds after the connection opened, plus one (so that an
/// `Option<Stamp>` is 8 bytes too). Instants before the opening count as the opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Stamp(NonZeroU64);

/// The deadlines of one connection, and the instants its reports need.
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    /// When the connection opened: the origin of every stamp.
    born: Instant,
    /// When the peer last sent bytes; `None` until it does.
    last_receive: Option<Stamp>,
    /// When the socket last took bytes from us; `None` until it does.
    last_send: Option<Stamp>,
    /// When the message-rate bucket is full again (see `rate.rs`); `None`: full since
    /// the opening.
    bucket_full: Option<Stamp>,
    /// One deadline per [`Timer`], `None` while it is not armed.
    deadlines: [Option<Stamp>; Timer::COUNT],
}

impl Timers {
    /// Deadlines of a connection opened at `now`: its idle periods begin.
    pub fn new(now: Instant, idle: &IdleLimits) -> Self {
        let mut timers = Timers {
            born: now,
            last_receive: None,
            last_send: None,
            bucket_full: None,
            deadlines: [None; Timer::COUNT],
        };
        for (timer, limit) in [
            (Timer::ReadIdle, idle.read),
            (Timer::WriteIdle, idle.write),
            (Timer::AllIdle, idle.all),
        ] {
            timers.set(timer, limit.map(|limit| now + limit));
        }
        timers
    }

    fn stamp(&self, at: Instant) -> Stamp {
        let nanos = at.saturating_duration_since(self.born).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX - 1);
        Stamp(NonZeroU64::MIN.saturating_add(nanos))
    }

    fn instant(&self, stamp: Stamp) -> Instant {
        self.born + Duration::from_nanos(stamp.0.get() - 1)
    }

    /// When `timer` falls, if it is armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize].map(|s| self.instant(s))
    }

    /// Arms `timer` for `at`, or disarms it (`None`).
    pub fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.deadlines[timer as usize] = at.map(|at| self.stamp(at));
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    /// Disarms every timer but those in `keep`.
    pub fn stop_all_but(&mut self, keep: &[Timer]) {
        for timer in Timer::VALUES {
            if !keep.contains(&timer) {
                self.stop(timer);
            }
        }
    }

    /// Whether `timer` is armed.
    pub fn is_set(&self, timer: Timer) -> bool {
        self.deadlines[timer as usize].is_some()
    }

    /// Whether `timer` is armed and fell at or before `now`.
    pub fn expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        let earliest = self.deadlines.iter().flatten().min()?;
        Some(self.instant(*earliest))
    }

    /// The peer sent bytes at `now`: the read and all idle periods start again.
    pub fn received(&mut self, now: Instant, idle: &IdleLimits) {
        self.last_receive = Some(self.stamp(now));
        self.restart(Timer::ReadIdle, idle.read, now);
        self.restart(Timer::AllIdle, idle.all, now);
    }

    /// The socket took bytes at `now`: write progress, and the write and all idle
    /// periods start again.
    pub fn wrote(&mut self, now: Instant, write_timeout: Duration, idle: &IdleLimits) {
        self.last_send = Some(self.stamp(now));
        self.restart(Timer::Write, Some(write_timeout), now);
        self.restart(Timer::WriteIdle, idle.write, now);
        self.restart(Timer::AllIdle, idle.all, now);
    }

    /// Starts `timer`'s next period of `limit` at `now`, if it is armed (a connection
    /// that is closing keeps no idle or write timers).
    pub fn restart(&mut self, timer: Timer, limit: Option<Duration>, now: Instant) {
        if self.is_set(timer) {
            self.set(timer, limit.map(|limit| now + limit));
        }
    }

    /// When the peer last sent bytes.
    pub fn last_receive(&self) -> Option<Instant> {
        self.last_receive.map(|s| self.instant(s))
    }

    /// When the socket last took bytes from us.
    pub fn last_send(&self) -> Option<Instant> {
        self.last_send.map(|s| self.instant(s))
    }

    /// When the connection opened.
    pub fn born(&self) -> Instant {
        self.born
    }

    /// When the message-rate bucket is full again.
    pub fn bucket_full(&self) -> Instant {
        self.bucket_full.map_or(self.born, |s| self.instant(s))
    }

    /// Sets when the message-rate bucket is full again.
    pub fn set_bucket_full(&mut self, at: Instant) {
        self.bucket_full = Some(self.stamp(at));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_keep_instants_to_the_nanosecond_and_options_cost_nothing() {
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 8);
        assert_eq!(
            std::mem::size_of::<Timers>(),
            std::mem::size_of::<Instant>() + 8 * (3 + Timer::COUNT),
            "8 bytes per deadline"
        );
        let born = Instant::now();
        let mut timers = Timers::new(born, &IdleLimits::default());
        assert_eq!(timers.next(), None, "nothing armed at the opening");
        let later = born + Duration::new(86_400 * 400, 123_456_789);
        timers.set(Timer::Phase, Some(later));
        assert_eq!(timers.get(Timer::Phase), Some(later));
        timers.set(Timer::Phase, Some(born));
        assert_eq!(
            timers.get(Timer::Phase),
            Some(born),
            "the opening itself is a stamp"
        );
        timers.set(Timer::Phase, None);
        assert_eq!(timers.get(Timer::Phase), None);
        let before = born.checked_sub(Duration::from_secs(1)).unwrap_or(born);
        timers.set(Timer::Report, Some(before));
        assert_eq!(
            timers.get(Timer::Report),
            Some(born),
            "earlier instants count as the opening"
        );
    }

    #[test]
    fn the_next_deadline_is_the_earliest_armed_one_and_expiry_includes_its_instant() {
        let born = Instant::now();
        let s = Duration::from_secs;
        let idle = IdleLimits::default().with_read(Some(s(7)));
        let mut timers = Timers::new(born, &idle);
        assert_eq!(
            timers.next(),
            Some(born + s(7)),
            "idle periods start at once"
        );
        timers.set(Timer::Report, Some(born + s(3)));
        timers.set(Timer::Frame, Some(born + s(5)));
        assert_eq!(timers.next(), Some(born + s(3)));
        assert!(!timers.expired(Timer::Report, born + s(3) - Duration::from_nanos(1)));
        assert!(timers.expired(Timer::Report, born + s(3)));
        timers.stop(Timer::Report);
        assert_eq!(timers.next(), Some(born + s(5)));
        timers.received(born + s(1), &idle);
        assert_eq!(timers.get(Timer::ReadIdle), Some(born + s(8)));
        timers.stop_all_but(&[Timer::Frame]);
        assert_eq!(timers.next(), Some(born + s(5)));
        timers.received(born + s(2), &idle);
        assert_eq!(
            timers.get(Timer::ReadIdle),
            None,
            "a stopped idle timer stays stopped"
        );
    }
}
