//! Configuration, in one place: what [`Switchboard::start`](crate::Switchboard::start)
//! takes ([`SwitchboardConfig`]), what every connection enforces ([`ConnectionLimits`],
//! [`IdleLimits`]) and how the supervisor sweeps ([`SupervisorConfig`]).
//!
//! Every default is stated on its field, and `Default` gives them all. The structs are
//! `#[non_exhaustive]` so that new knobs are not a breaking change: start from
//! `default()` and change what you need with the chainable `with_*` setters (or assign
//! the public fields of a mutable value):
//!
//! ```
//! use std::time::Duration;
//! use switchboard::config::{ConnectionLimits, SwitchboardConfig};
//!
//! let config = SwitchboardConfig::default()
//!     .with_workers(2)
//!     .with_connection(
//!         ConnectionLimits::default()
//!             .with_max_outbound_bytes(1 << 20)
//!             .with_write_timeout(Duration::from_secs(5)),
//!     );
//! assert_eq!(config.connection.max_outbound_bytes, 1 << 20);
//! assert_eq!(config.max_connections, 100_000); // a default left alone
//! ```

/// Chainable setters for a `#[non_exhaustive]` config: `with_<field>(value)` returns the
/// value with that field changed. One line per field, so a setter cannot drift from its
/// field.
macro_rules! setters {
    ($ty:ident { $($setter:ident => $field:ident : $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Returns this configuration with [`", stringify!($field),
                    "`](Self::", stringify!($field), ") set to `value` (see the field for its default).")]
                #[must_use]
                pub fn $setter(mut self, value: $t) -> Self {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

mod limits;
mod websocket;

pub use limits::{ConnectionLimits, IdleLimits, SupervisorConfig};
pub use websocket::WebSocketConfig;

/// Everything [`Switchboard::start`](crate::Switchboard::start) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SwitchboardConfig {
    /// Limits every connection enforces. Default: see [`ConnectionLimits`].
    pub connection: ConnectionLimits,
    /// How the supervisor sweeps. Default: see [`SupervisorConfig`].
    pub supervisor: SupervisorConfig,
    /// Accepted connections at once, over every listener; beyond it accepting pauses.
    /// The open-file limit may lower it (see
    /// [`descriptor_reserve`](Self::descriptor_reserve)). Default: 100,000.
    pub max_connections: usize,
    /// Worker threads that own connections (0: the arbiter that accepts). Default: one
    /// per core.
    pub workers: usize,
    /// Connections at once from one peer address, over every listener together; a
    /// connection beyond it is accepted, answered with the protocol's error reply for
    /// "too many connections from this address" and removed with
    /// [`RemovalReason::IpLimit`](crate::RemovalReason::IpLimit). An IPv4 peer on an
    /// IPv6 socket counts as its IPv4 address. Default: `None` (no limit).
    pub max_connections_per_ip: Option<usize>,
    /// File descriptors kept for the rest of the process (an HTTP port and its
    /// clients, backends, the cluster link, files): the listeners hold at most the
    /// open-file limit less the descriptors open at start and this many connections at
    /// once, pausing there as at `max_connections`. Default: 256.
    pub descriptor_reserve: usize,
    /// At start, raise the process's open-file soft limit to its hard limit (as Go's
    /// runtime does), so that the listeners are not capped by a soft limit of 1024.
    /// Child processes inherit the raised limit. Default: true.
    pub raise_open_file_limit: bool,
    /// Bytes queued for all connections together (in their outbound queues, each also
    /// bounded by [`ConnectionLimits::max_outbound_bytes`]). A packet that would take
    /// the total past it is refused
    /// ([`SendError::TotalOverBudget`](crate::SendError::TotalOverBudget)) and the
    /// connections with the most queued bytes are removed as
    /// [`SlowConsumer`](crate::RemovalReason::SlowConsumer) until their bytes cover it,
    /// so peers that never read cannot add up to an out-of-memory. `None`: no such
    /// budget. Default: 1 GiB.
    pub max_outbound_total_bytes: Option<usize>,
    /// After the bytes queued for all connections have fallen by a sixteenth of
    /// `max_outbound_total_bytes` (at least 16 MiB), ask the allocator to hand the freed
    /// memory back to the system (glibc's `malloc_trim`, at most once a second; nothing
    /// on other platforms): glibc otherwise keeps it, and a process whose never-reading
    /// peers were removed stays at its peak size. Default: true.
    pub trim_memory: bool,
    /// Connections one user may have at once: an authentication
    /// ([`Outbox::authenticate`](crate::Outbox::authenticate)) that would give a user
    /// one more is refused and its connection removed
    /// ([`RemovalReason::UserLimit`](crate::RemovalReason::UserLimit)) after the
    /// protocol's error reply; the user's other connections stay. Default: `None` (no
    /// limit).
    pub max_connections_per_user: Option<usize>,
    /// Named groups there may be on this server at once: a join that would create one
    /// more is refused ([`Refusal::TooManyGroups`](crate::Refusal::TooManyGroups)),
    /// exactly, however many threads join at once. Default: 1,000,000.
    pub max_groups_total: usize,
    /// Group histories: which named groups keep their last messages, numbered in one
    /// order, for members to recover after a broken connection (see
    /// [`history`](crate::history)). Default: none.
    pub history: Option<crate::history::HistoryConfig>,
}

impl Default for SwitchboardConfig {
    fn default() -> Self {
        SwitchboardConfig {
            connection: ConnectionLimits::default(),
            supervisor: SupervisorConfig::default(),
            max_connections: 100_000,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_connections_per_ip: None,
            descriptor_reserve: 256,
            raise_open_file_limit: true,
            max_outbound_total_bytes: Some(1 << 30),
            trim_memory: true,
            max_connections_per_user: None,
            max_groups_total: 1_000_000,
            history: None,
        }
    }
}

setters!(SwitchboardConfig {
    with_connection => connection: ConnectionLimits,
    with_supervisor => supervisor: SupervisorConfig,
    with_max_connections => max_connections: usize,
    with_workers => workers: usize,
    with_max_connections_per_ip => max_connections_per_ip: Option<usize>,
    with_descriptor_reserve => descriptor_reserve: usize,
    with_raise_open_file_limit => raise_open_file_limit: bool,
    with_max_outbound_total_bytes => max_outbound_total_bytes: Option<usize>,
    with_trim_memory => trim_memory: bool,
    with_max_connections_per_user => max_connections_per_user: Option<usize>,
    with_max_groups_total => max_groups_total: usize,
    with_history => history: Option<crate::history::HistoryConfig>,
});
