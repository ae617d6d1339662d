//! Refusals: why a packet was not accepted, or why an accepted one was not written.
//!
//! A refusal is a value returned to the caller, never a panic; the connection also
//! records it among its recent send failures so nothing disappears unaccounted.

use std::fmt;

/// Why a send did not reach, or did not leave, a connection's outbound queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No registered connection has that id.
    #[error("unknown connection {0}")]
    UnknownConnection(u64),
    /// The connection is closing and admits nothing new.
    #[error("connection is closing")]
    Closing,
    /// The packet would take the queue past `max_outbound_bytes`.
    #[error("outbound queue full ({queued} bytes queued, packet of {packet}, limit {limit})")]
    OverBudget {
        /// Bytes already queued.
        queued: usize,
        /// Size of the refused packet.
        packet: usize,
        /// The connection's `max_outbound_bytes`.
        limit: usize,
    },
    /// The packet would take the bytes queued for all connections together past their
    /// budget ([`SwitchboardConfig::max_outbound_total_bytes`](crate::SwitchboardConfig)):
    /// refused, and the connections with the most queued bytes are removed as slow
    /// consumers to make room.
    #[error(
        "outbound bytes of all connections at their limit ({limit}): packet of {packet} refused"
    )]
    TotalOverBudget {
        /// Size of the refused packet.
        packet: usize,
        /// The budget of all connections together.
        limit: usize,
    },
    /// The packet could not be encoded.
    #[error("encode failed: {0}")]
    Encode(String),
    /// A join (or publish) on the connection's behalf was refused: its user may not,
    /// or the server has as many named groups as it allows.
    #[error("{0}")]
    Refused(crate::Refusal),
    /// An empty packet carries nothing to write.
    #[error("empty packet")]
    Empty,
    /// The connection actor is gone (its mailbox is closed), or the whole switchboard.
    #[error("connection actor stopped")]
    Stopped,
    /// A value of another type than the connection's protocol responds with.
    #[error("connection speaks {protocol}, whose responses are not {given}")]
    WrongProtocol {
        /// The connection's protocol.
        protocol: &'static str,
        /// The type of the value that was sent.
        given: &'static str,
    },
    /// A send to a connection on another node of a cluster did not get an answer from
    /// that node: no node of that name is listening (none has it, or it is down), it
    /// did not answer within the cluster's send timeout, this node is not connected to
    /// the cluster's transport now, or its answer could not be read. Whether the packet
    /// reached the connection is then unknown (it may have, if the answer was lost).
    #[error("node {node} unreachable: {reason}")]
    Unreachable {
        /// The node the connection is on.
        node: String,
        /// What went wrong, for people.
        reason: String,
    },
}

/// Why a packet that was accepted into a queue was never completely written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// Refused before queueing; see [`SendError`].
    Refused(SendError),
    /// Still queued when the connection was removed for this reason.
    Removed(crate::RemovalReason),
    /// Still queued when the socket failed.
    Io(String),
    /// Still queued when the close deadline passed.
    CloseTimeout,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Refused(e) => write!(f, "refused: {e}"),
            FailureReason::Removed(r) => write!(f, "removed: {r}"),
            FailureReason::Io(e) => write!(f, "io error: {e}"),
            FailureReason::CloseTimeout => f.write_str("close deadline passed"),
        }
    }
}
