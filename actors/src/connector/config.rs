//! How a destination dials, pools, checks and redials: [`DestinationConfig`], with the
//! defaults an application gets when it sets nothing.

use crate::connector::PoolConfig;
use std::time::Duration;

/// How a destination dials, pools, checks and redials.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationConfig {
    /// Senders and their retirement. Default: see [`PoolConfig`].
    pub pool: PoolConfig,
    /// A dial that takes longer fails. Default: 1 s.
    pub connect_timeout: Duration,
    /// How often every sender is health-checked. Default: 5 s.
    pub health_interval: Duration,
    /// How long a health check waits for its ack before it counts as missed (0: every
    /// check is missed, however fast the answer). Default: 1 s.
    pub health_timeout: Duration,
    /// Missed health checks in a row before a sender is closed as `health_check`.
    /// Default: 2.
    pub max_failures: u32,
    /// The shortest wait before a redial. Default: 100 ms.
    pub reconnect_min: Duration,
    /// The longest wait before a redial. Default: 5 s.
    pub reconnect_max: Duration,
    /// Requests outstanding on one sender at most, expired ones waiting for their late
    /// acks included: bounds the ack queue of a destination that stopped answering.
    /// Default: 256.
    pub max_outstanding: usize,
    /// Requests waiting for a sender at most; beyond it, `no sender available` at once.
    /// Default: 1024.
    pub max_pending: usize,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        DestinationConfig {
            pool: PoolConfig::default(),
            connect_timeout: Duration::from_secs(1),
            health_interval: Duration::from_secs(5),
            health_timeout: Duration::from_secs(1),
            max_failures: 2,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            max_outstanding: 256,
            max_pending: 1024,
        }
    }
}

crate::config::setters!(DestinationConfig {
    with_pool => pool: PoolConfig,
    with_connect_timeout => connect_timeout: Duration,
    with_health_interval => health_interval: Duration,
    with_health_timeout => health_timeout: Duration,
    with_max_failures => max_failures: u32,
    with_reconnect_min => reconnect_min: Duration,
    with_reconnect_max => reconnect_max: Duration,
    with_max_outstanding => max_outstanding: usize,
    with_max_pending => max_pending: usize,
});
