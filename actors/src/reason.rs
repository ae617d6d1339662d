//! Why a connection left its group.
//!
//! Every removal carries exactly one [`RemovalReason`]; it is logged, counted in the
//! stats snapshot under `removed_total`, and handed to removal subscribers.

use serde::{Serialize, Serializer};
use std::fmt;

/// The reason a connection (or a backend) was removed from its group.
///
/// New reasons may be added in a minor release (`#[non_exhaustive]`): match with a
/// wildcard arm, or compare with [`as_str`](Self::as_str). An application names reasons
/// of its own with [`RemovalReason::Application`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
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
    /// The peer's credentials were refused, or it asked for something before
    /// authenticating.
    Unauthorized,
    /// The peer did not authenticate within the authentication deadline.
    AuthTimeout,
    /// The credentials the peer authenticated with expired while it was connected.
    TokenExpired,
    /// The application (an administrator) removed the connection's user.
    Kicked,
    /// Its address already had as many connections as allowed.
    IpLimit,
    /// Its user already had as many connections as allowed.
    UserLimit,
    /// The WebSocket handshake failed or did not finish within its deadline.
    WsHandshake,
    /// A reason of the application's own, by its snake_case name (`"banned"`, say): it
    /// is logged, counted and announced like every other.
    Application(&'static str),
}

impl RemovalReason {
    /// Every reason of the library's own, in the order the stats snapshot lists them
    /// ([`Application`](Self::Application) reasons are counted once they happen).
    pub const ALL: [RemovalReason; 18] = [
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
        RemovalReason::Unauthorized,
        RemovalReason::AuthTimeout,
        RemovalReason::TokenExpired,
        RemovalReason::Kicked,
        RemovalReason::IpLimit,
        RemovalReason::UserLimit,
        RemovalReason::WsHandshake,
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
            RemovalReason::Unauthorized => "unauthorized",
            RemovalReason::AuthTimeout => "auth_timeout",
            RemovalReason::TokenExpired => "token_expired",
            RemovalReason::Kicked => "kicked",
            RemovalReason::IpLimit => "ip_limit",
            RemovalReason::UserLimit => "user_limit",
            RemovalReason::WsHandshake => "ws_handshake",
            RemovalReason::Application(name) => name,
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

/// Serialized as its name, like the stats snapshot's keys.
impl Serialize for RemovalReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
        let banned = RemovalReason::Application("banned");
        assert_eq!(serde_json::to_string(&banned).unwrap(), "\"banned\"");
        assert_eq!(banned.to_string(), "banned");
    }

    #[test]
    fn names_are_distinct_snake_case() {
        let names: std::collections::BTreeSet<&str> =
            RemovalReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), RemovalReason::ALL.len());
        for name in names {
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
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
