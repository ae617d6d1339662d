//! What every thread may read about a connection without asking its actor.
//!
//! The connection actor writes these few atomics as it works; the supervisor reads them
//! in its health sweep (idle time) and when listing connections, so neither needs a
//! message round trip per connection. Its handler's outbox reads its id, peer and user
//! from here too.

use crate::{ConnId, User};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::time::Instant;

/// A connection's live figures, shared between its actor and the supervisor.
#[derive(Debug)]
pub struct ConnectionStatus {
    /// The connection's id.
    pub id: ConnId,
    /// The protocol group it belongs to.
    pub protocol: &'static str,
    /// The peer's address.
    pub peer: SocketAddr,
    /// When the connection was registered; the origin of `last_rx_ns`.
    born: Instant,
    /// Nanoseconds after `born` at which the peer last sent anything; 0 until it does.
    last_rx_ns: AtomicU64,
    /// Bytes waiting in the outbound queue.
    queued_bytes: AtomicUsize,
    /// Error packets counted over the connection's lifetime.
    error_packets: AtomicU32,
    /// Bytes its socket accepted over the connection's lifetime, so listings can rank
    /// connections by what they sent without asking each actor.
    sent_bytes: AtomicU64,
    /// The user its handler authenticated it as, once it did (set once).
    user: OnceLock<User>,
    /// It must authenticate (an authentication deadline is on): until it does, it is in
    /// no broadcast's audience and may join and publish nowhere.
    must_authenticate: AtomicBool,
}

impl ConnectionStatus {
    /// Figures of a connection opened now.
    pub fn new(id: ConnId, protocol: &'static str, peer: SocketAddr) -> Self {
        ConnectionStatus {
            id,
            protocol,
            peer,
            born: Instant::now(),
            last_rx_ns: AtomicU64::new(0),
            queued_bytes: AtomicUsize::new(0),
            error_packets: AtomicU32::new(0),
            sent_bytes: AtomicU64::new(0),
            user: OnceLock::new(),
            must_authenticate: AtomicBool::new(false),
        }
    }

    /// The user the connection authenticated as, if it did.
    pub fn user(&self) -> Option<&User> {
        self.user.get()
    }

    /// Records the user the connection authenticated as; false if it had one already.
    pub fn set_user(&self, user: User) -> bool {
        self.user.set(user).is_ok()
    }

    /// Records whether the connection must authenticate.
    pub fn set_must_authenticate(&self, must: bool) {
        self.must_authenticate.store(must, Relaxed);
    }

    /// Whether the connection has yet to authenticate where it must.
    pub fn awaits_authentication(&self) -> bool {
        self.must_authenticate.load(Relaxed) && self.user.get().is_none()
    }

    /// Whether broadcasts and group messages are for it: not before it authenticated,
    /// where it must.
    pub fn in_audience(&self) -> bool {
        !self.awaits_authentication()
    }

    /// Notes that the peer sent something at `now`.
    pub fn touch_rx(&self, now: Instant) {
        let ns = now.saturating_duration_since(self.born).as_nanos() as u64;
        self.last_rx_ns.store(ns.max(1), Relaxed);
    }

    /// Whether the peer ever sent anything: a load-balancer probe or a port scan
    /// connects and closes without a byte.
    pub fn has_received(&self) -> bool {
        self.last_rx_ns.load(Relaxed) != 0
    }

    /// How long the peer has been silent at `now` (since registration if it never spoke).
    pub fn idle_for(&self, now: Instant) -> Duration {
        let last = self.born + Duration::from_nanos(self.last_rx_ns.load(Relaxed));
        now.saturating_duration_since(last)
    }

    /// Records the outbound queue's size.
    pub fn set_queued_bytes(&self, bytes: usize) {
        self.queued_bytes.store(bytes, Relaxed);
    }

    /// Bytes waiting in the outbound queue.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes.load(Relaxed)
    }

    /// Records the lifetime error-packet count.
    pub fn set_error_packets(&self, count: u32) {
        self.error_packets.store(count, Relaxed);
    }

    /// Error packets counted over the connection's lifetime.
    pub fn error_packets(&self) -> u32 {
        self.error_packets.load(Relaxed)
    }

    /// Records the lifetime count of bytes the socket accepted.
    pub fn set_sent_bytes(&self, bytes: u64) {
        self.sent_bytes.store(bytes, Relaxed);
    }

    /// Bytes the socket accepted over the connection's lifetime.
    pub fn sent_bytes(&self) -> u64 {
        self.sent_bytes.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_time_restarts_on_receive() {
        let status = ConnectionStatus::new(1, "frame", "127.0.0.1:1".parse().unwrap());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(status.idle_for(Instant::now()), Duration::from_secs(5));
        status.touch_rx(Instant::now());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(status.idle_for(Instant::now()), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_receive_at_the_opening_instant_still_counts_as_received() {
        let status = ConnectionStatus::new(1, "frame", "127.0.0.1:1".parse().unwrap());
        assert!(!status.has_received());
        status.touch_rx(Instant::now());
        assert!(status.has_received());
    }
}
