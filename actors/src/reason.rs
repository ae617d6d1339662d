//! Why a connection left its group.
//!
//! Every removal carries exactly one [`RemovalReason`]; it is logged, counted in the
//! stats snapshot under `removed_total`, and handed to removal subscribers.

use serde::Serialize;
use std::fmt;

/// The reason a connection (or a backend) was removed from its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// Its error packets reached `max_error_packets`, or one packet broke framing.
    ErrorPackets,
    /// Nothing was received from the peer for `idle_timeout`.
    Idle,
    /// Its outbound queue would have grown past `max_outbound_bytes`.
    SlowConsumer,
    /// Queued bytes made no write progress for `write_timeout`.
    WriteTimeout,
    /// The peer closed its side of the connection.
    PeerClosed,
    /// The socket failed.
    IoError,
    /// The server is shutting down.
    Shutdown,
    /// A backend missed too many health checks.
    HealthCheck,
    /// The application asked for the connection to be closed.
    Closed,
    /// A frame (or line) was started but not completed within `frame_timeout`.
    FrameTimeout,
    /// The TLS handshake failed or did not finish within its deadline.
    TlsHandshake,
}

impl RemovalReason {
    /// Every reason, in the order the stats snapshot lists them.
    pub const ALL: [RemovalReason; 11] = [
        RemovalReason::ErrorPackets,
        RemovalReason::Idle,
        RemovalReason::SlowConsumer,
        RemovalReason::WriteTimeout,
        RemovalReason::PeerClosed,
        RemovalReason::IoError,
        RemovalReason::Shutdown,
        RemovalReason::HealthCheck,
        RemovalReason::Closed,
        RemovalReason::FrameTimeout,
        RemovalReason::TlsHandshake,
    ];

    /// The snake_case name used in logs and in the stats snapshot.
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::ErrorPackets => "error_packets",
            RemovalReason::Idle => "idle",
            RemovalReason::SlowConsumer => "slow_consumer",
            RemovalReason::WriteTimeout => "write_timeout",
            RemovalReason::PeerClosed => "peer_closed",
            RemovalReason::IoError => "io_error",
            RemovalReason::Shutdown => "shutdown",
            RemovalReason::HealthCheck => "health_check",
            RemovalReason::Closed => "closed",
            RemovalReason::FrameTimeout => "frame_timeout",
            RemovalReason::TlsHandshake => "tls_handshake",
        }
    }

    /// Whether queued data is still worth flushing before the socket closes: not when
    /// the peer is not reading or the socket is broken.
    pub fn flushes(self) -> bool {
        !matches!(
            self,
            RemovalReason::SlowConsumer
                | RemovalReason::WriteTimeout
                | RemovalReason::IoError
                | RemovalReason::TlsHandshake
        )
    }
}

impl fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for reason in RemovalReason::ALL {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
    }

    #[test]
    fn only_healthy_sockets_are_flushed() {
        assert!(RemovalReason::ErrorPackets.flushes());
        assert!(RemovalReason::Shutdown.flushes());
        assert!(!RemovalReason::SlowConsumer.flushes());
        assert!(!RemovalReason::WriteTimeout.flushes());
    }
}
