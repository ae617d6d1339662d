//! The senders (dialed connections) of one destination: Tomcat's `PooledParallelSender`.
//!
//! A pool holds at most `max_senders` senders. A sender is *idle* while it can take
//! another request (fewer than `max_in_flight` in flight, room in its ack queue) and
//! *busy* otherwise; the two sets are derived from each sender's own counts, so they
//! cannot drift apart. A request takes the least loaded idle sender; with none idle the
//! pool asks for one more to be dialled (one dial at a time) or, at `max_senders`, the
//! request waits for a sender to come free, at most `acquire_timeout`.
//!
//! A sender that has lived longer than `max_age` or served `max_uses` requests is
//! *retired* instead of returned: it takes no new requests and is closed once its last
//! request is finished (long-lived connections pin buffers and skew load balancers;
//! a fresh one costs one dial). [`SenderPool::keepalive`] retires idle senders that
//! grew too old without being used. Dead senders (their connection closed, or their
//! health checks missed: see `health.rs`) are evicted by the destination with
//! [`SenderPool::remove`].
//!
//! Pure data over a link type `L` (the destination's handle on a connection), so every
//! decision is unit-tested without sockets.

use crate::connector::SenderState;
use crate::ConnId;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How a destination pools its senders.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Senders (connections) to the destination at most. Default: 1.
    pub max_senders: usize,
    /// Requests in flight on one sender at most (1 is Tomcat's one-message-at-a-time
    /// sender; more pipelines requests on one connection, acks matched in order).
    /// Default: 64.
    pub max_in_flight: usize,
    /// How long a request may wait for a sender to come free before it is faulty with
    /// `no sender available`. Default: 1 s.
    pub acquire_timeout: Duration,
    /// A sender older than this is retired instead of returned (`None`: no limit).
    /// Default: `None`.
    pub max_age: Option<Duration>,
    /// A sender that served this many requests is retired instead of returned
    /// (`None`: no limit). Default: `None`.
    pub max_uses: Option<u64>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_senders: 1,
            max_in_flight: 64,
            acquire_timeout: Duration::from_secs(1),
            max_age: None,
            max_uses: None,
        }
    }
}

crate::config::setters!(PoolConfig {
    with_max_senders => max_senders: usize,
    with_max_in_flight => max_in_flight: usize,
    with_acquire_timeout => acquire_timeout: Duration,
    with_max_age => max_age: Option<Duration>,
    with_max_uses => max_uses: Option<u64>,
});

/// One sender in the pool.
#[derive(Debug)]
pub(crate) struct Slot<L> {
    /// The connection; `None` while dialling.
    pub link: Option<L>,
    /// When it was dialled: its age decides retirement.
    pub born: Instant,
    /// Requests finished on it: its use count decides retirement.
    pub served: u64,
    /// Requests taken and not finished (acked, expired, refused).
    pub in_flight: usize,
    /// Packets being handed to its connection's queue.
    pub writing: usize,
    /// Takes no new requests; closed once `in_flight` reaches 0.
    pub retiring: bool,
}

impl<L> Slot<L> {
    /// Where this sender is in its life.
    pub fn state(&self) -> SenderState {
        SenderState::of(
            self.link.is_some(),
            self.writing,
            self.in_flight.saturating_sub(self.writing),
        )
    }

    /// Whether it may take new requests at all.
    fn active(&self) -> bool {
        !self.retiring
    }
}

/// What a request should do to get a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquire {
    /// Use this idle sender.
    Use(ConnId),
    /// Dial one more sender and wait for it.
    Dial,
    /// Wait for a sender to connect or come free.
    Wait,
}

/// What to do with a sender after one of its requests finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// It goes on serving.
    Keep,
    /// It is retired and has nothing in flight: close it.
    Retire,
}

/// The senders of one destination.
#[derive(Debug)]
pub(crate) struct SenderPool<L> {
    /// Limits and retirement rules.
    config: PoolConfig,
    /// Senders by connection id (ids grow: lower ids are older).
    slots: BTreeMap<ConnId, Slot<L>>,
}

impl<L> SenderPool<L> {
    /// An empty pool.
    pub fn new(config: PoolConfig) -> Self {
        SenderPool {
            config,
            slots: BTreeMap::new(),
        }
    }

    /// A sender `id` is being dialled.
    pub fn insert_connecting(&mut self, id: ConnId, now: Instant) {
        self.slots.insert(
            id,
            Slot {
                link: None,
                born: now,
                served: 0,
                in_flight: 0,
                writing: 0,
                retiring: false,
            },
        );
    }

    /// Sender `id` connected; the link comes back if the sender was removed meanwhile.
    pub fn connected(&mut self, id: ConnId, link: L) -> Result<(), L> {
        match self.slots.get_mut(&id) {
            Some(slot) => {
                slot.link = Some(link);
                Ok(())
            }
            None => Err(link),
        }
    }

    /// Takes sender `id` out of the pool (closed, dead or retired).
    pub fn remove(&mut self, id: ConnId) -> Option<Slot<L>> {
        self.slots.remove(&id)
    }

    /// The sender `id`.
    pub fn get(&self, id: ConnId) -> Option<&Slot<L>> {
        self.slots.get(&id)
    }

    /// The sender `id`, to change.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Slot<L>> {
        self.slots.get_mut(&id)
    }

    /// Every sender, oldest first.
    pub fn slots(&self) -> impl Iterator<Item = (ConnId, &Slot<L>)> {
        self.slots.iter().map(|(id, slot)| (*id, slot))
    }

    /// Whether the pool has no sender at all, not even one being dialled.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether a sender is being dialled.
    pub fn dialling(&self) -> bool {
        self.slots.values().any(|s| s.link.is_none())
    }

    /// Whether some sender has a connection.
    pub fn any_connected(&self) -> bool {
        self.slots.values().any(|s| s.link.is_some())
    }

    /// Whether sender `slot` can take one more request.
    fn is_idle(&self, slot: &Slot<L>, has_room: &impl Fn(&L) -> bool) -> bool {
        slot.active()
            && slot.in_flight < self.config.max_in_flight
            && slot.link.as_ref().is_some_and(has_room)
    }

    /// Senders that can take a request now (`has_room`: the link's ack queue has room).
    pub fn idle(&self, has_room: impl Fn(&L) -> bool) -> Vec<ConnId> {
        self.slots()
            .filter(|(_, s)| s.link.is_some() && self.is_idle(s, &has_room))
            .map(|(id, _)| id)
            .collect()
    }

    /// Connected senders that cannot take a request now.
    pub fn busy(&self, has_room: impl Fn(&L) -> bool) -> Vec<ConnId> {
        self.slots()
            .filter(|(_, s)| s.link.is_some() && !self.is_idle(s, &has_room))
            .map(|(id, _)| id)
            .collect()
    }

    /// How a request gets a sender: the least loaded idle one, else a new one while
    /// below `max_senders` (one dial at a time), else it waits.
    pub fn acquire(&self, has_room: impl Fn(&L) -> bool) -> Acquire {
        let idle = self
            .slots()
            .filter(|(_, s)| self.is_idle(s, &has_room))
            .min_by_key(|(id, s)| (s.in_flight, *id));
        if let Some((id, _)) = idle {
            return Acquire::Use(id);
        }
        let active = self.slots.values().filter(|s| s.active()).count();
        if active < self.config.max_senders.max(1) && !self.dialling() {
            Acquire::Dial
        } else {
            Acquire::Wait
        }
    }

    /// Sender `id` takes a request; the packet is being handed to its connection.
    pub fn take(&mut self, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.in_flight += 1;
            slot.writing += 1;
        }
    }

    /// A packet of sender `id` reached its connection's queue (or was refused).
    pub fn written(&mut self, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.writing = slot.writing.saturating_sub(1);
        }
    }

    /// A request of sender `id` is finished (acked, expired, refused, or queued without
    /// an ack); says whether the sender goes on or is retired now.
    pub fn finish(&mut self, id: ConnId, now: Instant) -> Release {
        let config = &self.config;
        let Some(slot) = self.slots.get_mut(&id) else {
            return Release::Keep;
        };
        slot.in_flight = slot.in_flight.saturating_sub(1);
        slot.served += 1;
        if worn_out(config, slot, now) {
            slot.retiring = true;
        }
        if slot.retiring && slot.in_flight == 0 {
            Release::Retire
        } else {
            Release::Keep
        }
    }

    /// The periodic pass over the pool: idle senders too old (or used too much) to
    /// keep are marked retiring and returned, to be closed.
    pub fn keepalive(&mut self, now: Instant) -> Vec<ConnId> {
        let config = &self.config;
        let mut retire = Vec::new();
        for (&id, slot) in &mut self.slots {
            if slot.link.is_some() && slot.in_flight == 0 && worn_out(config, slot, now) {
                slot.retiring = true;
                retire.push(id);
            }
        }
        retire
    }
}

/// Whether `slot` has lived or served past the retirement limits at `now`.
fn worn_out<L>(config: &PoolConfig, slot: &Slot<L>, now: Instant) -> bool {
    let too_old = config
        .max_age
        .is_some_and(|age| now.saturating_duration_since(slot.born) >= age);
    let too_used = config.max_uses.is_some_and(|uses| slot.served >= uses);
    too_old || too_used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(max_senders: usize, max_in_flight: usize) -> SenderPool<()> {
        SenderPool::new(PoolConfig {
            max_senders,
            max_in_flight,
            ..PoolConfig::default()
        })
    }

    fn room(_: &()) -> bool {
        true
    }

    #[test]
    fn grows_one_dial_at_a_time_up_to_the_maximum() {
        let now = Instant::now();
        let mut p = pool(2, 1);
        assert_eq!(p.acquire(room), Acquire::Dial);
        p.insert_connecting(1, now);
        assert_eq!(p.acquire(room), Acquire::Wait, "one dial at a time");
        p.connected(1, ()).unwrap();
        assert_eq!(p.acquire(room), Acquire::Use(1));
        p.take(1);
        assert_eq!(p.busy(room), vec![1]);
        assert_eq!(p.acquire(room), Acquire::Dial);
        p.insert_connecting(2, now);
        p.connected(2, ()).unwrap();
        assert_eq!(p.acquire(room), Acquire::Use(2));
        p.take(2);
        assert_eq!(p.acquire(room), Acquire::Wait, "exhausted");
        assert!(p.idle(room).is_empty());
        assert_eq!(p.finish(1, now), Release::Keep);
        assert_eq!(p.idle(room), vec![1]);
        assert_eq!(p.acquire(room), Acquire::Use(1));
    }

    #[test]
    fn pipelines_up_to_max_in_flight_least_loaded_first() {
        let now = Instant::now();
        let mut p = pool(2, 2);
        for id in [1, 2] {
            p.insert_connecting(id, now);
            p.connected(id, ()).unwrap();
        }
        p.take(1);
        assert_eq!(p.acquire(room), Acquire::Use(2));
        p.take(2);
        p.take(1);
        assert_eq!(p.acquire(room), Acquire::Use(2));
        p.take(2);
        assert_eq!(p.acquire(room), Acquire::Wait);
        assert_eq!(p.acquire(|_| false), Acquire::Wait);
    }

    #[test]
    fn a_full_ack_queue_makes_a_sender_busy() {
        let now = Instant::now();
        let mut p = pool(1, 8);
        p.insert_connecting(1, now);
        p.connected(1, ()).unwrap();
        assert_eq!(p.acquire(|_| false), Acquire::Wait);
        assert_eq!(p.busy(|_| false), vec![1]);
    }

    #[test]
    fn states_follow_the_sender_lifecycle() {
        let now = Instant::now();
        let mut p = pool(1, 1);
        p.insert_connecting(1, now);
        let state = |p: &SenderPool<()>| p.get(1).unwrap().state();
        assert_eq!(state(&p), SenderState::Connecting);
        p.connected(1, ()).unwrap();
        assert_eq!(state(&p), SenderState::Connected);
        p.take(1);
        assert_eq!(state(&p), SenderState::Writing);
        p.written(1);
        assert_eq!(state(&p), SenderState::AwaitingAck);
        p.finish(1, now);
        assert_eq!(state(&p), SenderState::Connected);
    }

    #[test]
    fn a_sender_that_served_enough_is_retired_instead_of_returned() {
        let now = Instant::now();
        let mut p = SenderPool::new(PoolConfig {
            max_senders: 1,
            max_in_flight: 2,
            max_uses: Some(2),
            ..PoolConfig::default()
        });
        p.insert_connecting(1, now);
        p.connected(1, ()).unwrap();
        p.take(1);
        p.take(1);
        assert_eq!(p.finish(1, now), Release::Keep);
        assert_eq!(
            p.finish(1, now),
            Release::Retire,
            "second use: retire, nothing in flight"
        );
        assert_eq!(
            p.acquire(room),
            Acquire::Dial,
            "a retiring sender takes nothing"
        );
    }

    #[test]
    fn a_retiring_sender_finishes_what_it_has_in_flight_first() {
        let now = Instant::now();
        let mut p = SenderPool::new(PoolConfig {
            max_in_flight: 4,
            max_uses: Some(1),
            ..PoolConfig::default()
        });
        p.insert_connecting(1, now);
        p.connected(1, ()).unwrap();
        p.take(1);
        p.take(1);
        assert_eq!(p.finish(1, now), Release::Keep, "one still in flight");
        assert_eq!(p.finish(1, now), Release::Retire);
    }

    #[test]
    fn keepalive_retires_idle_senders_that_lived_too_long() {
        let now = Instant::now();
        let mut p = SenderPool::new(PoolConfig {
            max_senders: 2,
            max_age: Some(Duration::from_secs(60)),
            ..PoolConfig::default()
        });
        p.insert_connecting(1, now);
        p.connected(1, ()).unwrap();
        p.insert_connecting(2, now);
        p.connected(2, ()).unwrap();
        p.take(2);
        assert!(p.keepalive(now + Duration::from_secs(59)).is_empty());
        let later = now + Duration::from_secs(60);
        assert_eq!(p.keepalive(later), vec![1], "the busy one finishes first");
        assert_eq!(p.finish(2, later), Release::Retire);
    }

    #[test]
    fn a_sender_removed_while_dialling_cannot_connect() {
        let now = Instant::now();
        let mut p = pool(1, 1);
        p.insert_connecting(7, now);
        assert!(p.remove(7).is_some());
        assert!(p.connected(7, ()).is_err(), "removed while dialling");
        assert!(p.is_empty());
        assert!(!p.any_connected());
    }
}
