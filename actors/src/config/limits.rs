//! What every connection enforces ([`ConnectionLimits`], [`IdleLimits`]) and how the
//! supervisor sweeps ([`SupervisorConfig`]). Every default is stated on its field.

use crate::outbound::QueueLimits;
use std::time::Duration;

/// Limits every connection enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Bytes queued for a peer at most; a packet past it makes the peer a slow consumer.
    /// Default: 4 MiB.
    pub max_outbound_bytes: usize,
    /// Queued bytes with no write progress for this long remove the connection.
    /// Default: 10 s.
    pub write_timeout: Duration,
    /// Error packets over a connection's lifetime before it is removed. Default: 3.
    pub max_error_packets: u32,
    /// How long a closing connection may spend flushing what is queued. Default: 5 s.
    pub close_timeout: Duration,
    /// After the write half is shut, how long inbound data is read and discarded, so
    /// the close does not turn into a reset that destroys the last replies in flight.
    /// Default: 2 s.
    pub linger: Duration,
    /// Bytes written per turn before yielding to other connections. Default: 96 KiB.
    pub flush_budget: usize,
    /// Bytes read per turn before yielding to other connections. Default: 256 KiB
    /// (sixteen reads of the 16 KiB read chunk, as many as Netty reads per turn): a
    /// burst a little over 64 KiB is read in one turn instead of waiting a whole round
    /// of the worker for its tail.
    pub read_budget: usize,
    /// Reading pauses while this many bytes are queued (the peer's own requests wait in
    /// its socket instead of in our memory) and resumes below half of it. Default: 2 MiB.
    pub read_pause_bytes: usize,
    /// Bytes a connection may have published or broadcast that are not yet handed to
    /// the members: past it, the connection stops reading until they are back under
    /// half of it, so a flood of publishes waits in the publisher's socket instead of
    /// in memory. It bounds too a member's own messages to history groups awaiting
    /// their numbered copies, each counted at
    /// [`ENTRY_OVERHEAD`](crate::history::ENTRY_OVERHEAD) bytes: past it, the requests
    /// read wait. Default: 1 MiB.
    pub max_publish_in_flight: usize,
    /// Deferred replies outstanding at once before the requests read wait (a history
    /// group's own copies are not among them: see `max_publish_in_flight`). Default: 64.
    pub max_deferred: usize,
    /// Send failures kept per connection (older ones are dropped, all are counted).
    /// Default: 64.
    pub max_failure_records: usize,
    /// How often traffic counters are reported to the stats actor. Default: 500 ms.
    pub stats_interval: Duration,
    /// Packets below this size are coalesced into one buffer before writing.
    /// Default: 1024 bytes.
    pub coalesce_below: usize,
    /// A frame whose first byte arrived this long ago and that is still incomplete
    /// removes the connection (`frame_timeout`): a trickler is not idle, but it is not
    /// sending a request either. Default: 30 s.
    pub frame_timeout: Duration,
    /// When nothing was received, sent, or either, for this long, the protocol's
    /// [`on_idle`](crate::Protocol::on_idle) is called (Netty's `IdleStateHandler`);
    /// a server heartbeat is a reply to [`Idle::Read`](crate::protocol::Idle::Read). Default: all off.
    pub idle: IdleLimits,
    /// How long a TLS handshake may take before the connection is removed
    /// (`tls_handshake`). Default: 10 s.
    pub tls_handshake_timeout: Duration,
    /// How long a new connection has to authenticate
    /// ([`Outbox::authenticate`](crate::Outbox::authenticate)); one that has not by
    /// then gets the protocol's error reply for `authentication timeout` and is removed
    /// ([`RemovalReason::AuthTimeout`](crate::RemovalReason::AuthTimeout)). While it is
    /// on, a connection that has not authenticated is not in the audience of
    /// broadcasts and may join and publish to no named group. Default: `None`
    /// (connections need not authenticate).
    pub auth_timeout: Option<Duration>,
    /// Packets a connection may send per second, on average: past it, reading from it
    /// pauses until its token bucket has a token again, so the peer is slowed by TCP
    /// flow control; nothing it sent is refused or lost, and other connections are not
    /// slowed. Every decoded packet takes a token, a bad one too. Default: 0 (off).
    pub max_messages_per_s: u32,
    /// The bucket's size: packets a connection may send at once before the rate
    /// applies; the bucket starts full. Default: 0 (as many as
    /// [`max_messages_per_s`](Self::max_messages_per_s)).
    pub max_messages_burst: u32,
}

/// The three idle kinds of Netty's `IdleStateHandler`; `None` turns one off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdleLimits {
    /// Nothing received for this long: [`Idle::Read`](crate::protocol::Idle::Read).
    pub read: Option<Duration>,
    /// Nothing written to the socket for this long: [`Idle::Write`](crate::protocol::Idle::Write).
    pub write: Option<Duration>,
    /// Neither for this long: [`Idle::All`](crate::protocol::Idle::All).
    pub all: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_outbound_bytes: 4 * 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            max_error_packets: 3,
            close_timeout: Duration::from_secs(5),
            linger: Duration::from_secs(2),
            flush_budget: 96 * 1024,
            read_budget: 256 * 1024,
            read_pause_bytes: 2 * 1024 * 1024,
            max_publish_in_flight: 1024 * 1024,
            max_deferred: 64,
            max_failure_records: 64,
            stats_interval: Duration::from_millis(500),
            coalesce_below: 1024,
            frame_timeout: Duration::from_secs(30),
            idle: IdleLimits::default(),
            tls_handshake_timeout: Duration::from_secs(10),
            auth_timeout: None,
            max_messages_per_s: 0,
            max_messages_burst: 0,
        }
    }
}

impl ConnectionLimits {
    /// The outbound queue limits these connection limits imply.
    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            max_bytes: self.max_outbound_bytes,
            coalesce_below: self.coalesce_below,
            chunk_size: 64 * 1024,
        }
    }
}

/// How the supervisor checks its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SupervisorConfig {
    /// How often the health sweep runs. Default: 5 s.
    pub health_interval: Duration,
    /// A connection silent for this long is removed as idle. Default: 60 s.
    pub idle_timeout: Duration,
    /// Removals logged with a line each per second; beyond it, removals are counted by
    /// reason and summarised in one line per second, so a burst does not flood the log
    /// (all are counted in the stats and announced to subscribers). Default: 10.
    pub removal_log_lines: u32,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            health_interval: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            removal_log_lines: 10,
        }
    }
}

crate::config::setters!(ConnectionLimits {
    with_max_outbound_bytes => max_outbound_bytes: usize,
    with_write_timeout => write_timeout: Duration,
    with_max_error_packets => max_error_packets: u32,
    with_close_timeout => close_timeout: Duration,
    with_linger => linger: Duration,
    with_flush_budget => flush_budget: usize,
    with_read_budget => read_budget: usize,
    with_read_pause_bytes => read_pause_bytes: usize,
    with_max_publish_in_flight => max_publish_in_flight: usize,
    with_max_deferred => max_deferred: usize,
    with_max_failure_records => max_failure_records: usize,
    with_stats_interval => stats_interval: Duration,
    with_coalesce_below => coalesce_below: usize,
    with_frame_timeout => frame_timeout: Duration,
    with_idle => idle: IdleLimits,
    with_tls_handshake_timeout => tls_handshake_timeout: Duration,
    with_auth_timeout => auth_timeout: Option<Duration>,
    with_max_messages_per_s => max_messages_per_s: u32,
    with_max_messages_burst => max_messages_burst: u32,
});

crate::config::setters!(IdleLimits {
    with_read => read: Option<Duration>,
    with_write => write: Option<Duration>,
    with_all => all: Option<Duration>,
});

crate::config::setters!(SupervisorConfig {
    with_health_interval => health_interval: Duration,
    with_idle_timeout => idle_timeout: Duration,
    with_removal_log_lines => removal_log_lines: u32,
});
