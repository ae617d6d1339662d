//! How a destination dials, pools, checks and redials: [`DestinationConfig`], with the
//! defaults an application gets when it sets nothing.

use crate::connector::PoolConfig;
use std::time::Duration;

/// How a destination dials, pools, checks and redials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationConfig {
    /// Senders and their retirement.
    pub pool: PoolConfig,
    /// A dial that takes longer fails.
    pub connect_timeout: Duration,
    /// How often every sender is health-checked.
    pub health_interval: Duration,
    /// How long a health check waits for its ack before it counts as missed (0: every
    /// check is missed, however fast the answer).
    pub health_timeout: Duration,
    /// Missed health checks in a row before a sender is closed as `health_check`.
    pub max_failures: u32,
    /// The shortest wait before a redial.
    pub reconnect_min: Duration,
    /// The longest wait before a redial.
    pub reconnect_max: Duration,
    /// Requests outstanding on one sender at most, expired ones waiting for their late
    /// acks included: bounds the ack queue of a destination that stopped answering.
    pub max_outstanding: usize,
    /// Requests waiting for a sender at most; beyond it, `no sender available` at once.
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
