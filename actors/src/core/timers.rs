//! Every deadline one connection keeps, as plain instants.
//!
//! The connection core reads no clock: each input carries `now`, and [`Timers::next`]
//! tells the owner when the earliest deadline falls, so the owner runs one timer per
//! connection, whatever the number of rules.

use crate::{ConnectionLimits, Idle, IdleLimits};
use std::time::Instant;

use super::conn::Phase;

/// The instants a connection's deadlines are measured from.
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    /// When the peer last sent bytes; `None` until it does.
    pub last_receive: Option<Instant>,
    /// When the socket last took bytes from us; `None` until it does.
    pub last_send: Option<Instant>,
    /// Origin of the read-idle period: the last receive, or the last time it fired.
    read_from: Instant,
    /// Origin of the write-idle period: the last write, or the last time it fired.
    write_from: Instant,
    /// Origin of the all-idle period: the last receive or write, or the last firing.
    all_from: Instant,
    /// When the queue last made progress or became non-empty: the write timeout's origin.
    pub write_since: Instant,
    /// When the first byte of the incomplete inbound frame arrived.
    pub frame_started: Option<Instant>,
    /// While closing, the flush deadline; while lingering, the end of lingering.
    pub phase_end: Option<Instant>,
    /// The TLS handshake deadline, while one is under way.
    pub handshake: Option<Instant>,
    /// When the unreported counters are due at the stats actor.
    pub report: Option<Instant>,
}

impl Timers {
    /// Deadlines of a connection opened at `now`.
    pub fn new(now: Instant) -> Self {
        Timers {
            last_receive: None,
            last_send: None,
            read_from: now,
            write_from: now,
            all_from: now,
            write_since: now,
            frame_started: None,
            phase_end: None,
            handshake: None,
            report: None,
        }
    }

    /// The peer sent bytes at `now`.
    pub fn received(&mut self, now: Instant) {
        self.last_receive = Some(now);
        self.read_from = now;
        self.all_from = now;
    }

    /// The socket took bytes at `now`: write progress.
    pub fn wrote(&mut self, now: Instant) {
        self.last_send = Some(now);
        self.write_since = now;
        self.write_from = now;
        self.all_from = now;
    }

    /// Whether the idle period of `idle` passed at `now`; if so its next period starts.
    pub fn idle_passed(&mut self, idle: Idle, limits: &IdleLimits, now: Instant) -> bool {
        let (limit, from) = match idle {
            Idle::Read => (limits.read, &mut self.read_from),
            Idle::Write => (limits.write, &mut self.write_from),
            Idle::All => (limits.all, &mut self.all_from),
        };
        match limit {
            Some(limit) if *from + limit <= now => {
                *from = now;
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
        let idle = &limits.idle;
        let candidates = [
            self.report,
            self.handshake,
            match phase {
                Phase::Closing | Phase::Lingering => self.phase_end,
                Phase::Open | Phase::Done => None,
            },
        ];
        let open = if phase == Phase::Open {
            [
                write_pending.then(|| self.write_since + limits.write_timeout),
                self.frame_started.map(|at| at + limits.frame_timeout),
                idle.read.map(|d| self.read_from + d),
                idle.write.map(|d| self.write_from + d),
                idle.all.map(|d| self.all_from + d),
            ]
        } else {
            [None; 5]
        };
        if phase == Phase::Done {
            return None;
        }
        candidates.into_iter().chain(open).flatten().min()
    }
}
