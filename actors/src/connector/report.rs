//! What a destination says of itself: [`DestinationReport`], answered to
//! [`Describe`](super::Describe), with one [`SenderReport`] per sender.

use crate::connector::SenderState;
use crate::ConnId;
use std::net::SocketAddr;
use std::time::Duration;

/// One sender as [`Describe`](super::Describe) found it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SenderReport {
    /// Its connection id (the supervisor knows the connection by it).
    pub id: ConnId,
    /// Where it is in its life.
    pub state: SenderState,
    /// Requests it finished.
    pub served: u64,
    /// Requests it has taken and not finished.
    pub in_flight: usize,
    /// Requests and health checks waiting for their acks.
    pub awaiting: usize,
    /// Entries in its ack queue, expired ones waiting for late acks included.
    pub outstanding: usize,
    /// Health checks missed in a row.
    pub missed_checks: u32,
    /// Whether the destination has answered on it.
    pub verified: bool,
    /// Whether it is being retired.
    pub retiring: bool,
    /// How long since it was dialled.
    pub age: Duration,
}

/// A destination's account of itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DestinationReport {
    /// The destination's name in delivery reports and stats (its address).
    pub name: String,
    /// Where it dials.
    pub address: SocketAddr,
    /// Whether it is up (answered on a connection that is still open).
    pub up: bool,
    /// The state of its most advanced sender, or `NotConnected` without any.
    pub state: SenderState,
    /// Its senders, oldest first.
    pub senders: Vec<SenderReport>,
    /// Senders that can take a request now.
    pub idle: Vec<ConnId>,
    /// Connected senders that cannot.
    pub busy: Vec<ConnId>,
    /// Requests waiting for a sender.
    pub pending: usize,
    /// Dials started.
    pub dials: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// Senders retired for age or use.
    pub retired: u64,
    /// Senders closed for missed health checks.
    pub evicted: u64,
    /// Acks of requests that had already timed out: counted, ignored.
    pub late_acks: u64,
    /// Answers that matched no outstanding request.
    pub unmatched_answers: u64,
    /// The last redial delay chosen.
    pub last_backoff: Option<Duration>,
    /// Whether a redial is scheduled.
    pub redial_scheduled: bool,
    /// Why the last dial failed.
    pub last_dial_error: Option<String>,
}

/// The state of the most advanced sender: writing, then awaiting an ack, connected,
/// connecting; `NotConnected` without any sender.
pub fn summary_state(states: impl IntoIterator<Item = SenderState>) -> SenderState {
    let rank = |s: &SenderState| match s {
        SenderState::NotConnected => 0,
        SenderState::Connecting => 1,
        SenderState::Connected => 2,
        SenderState::AwaitingAck => 3,
        SenderState::Writing => 4,
    };
    states
        .into_iter()
        .max_by_key(rank)
        .unwrap_or(SenderState::NotConnected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_the_most_advanced_sender() {
        use SenderState::*;
        assert_eq!(summary_state([]), NotConnected);
        assert_eq!(summary_state([Connecting]), Connecting);
        assert_eq!(summary_state([Connected, AwaitingAck]), AwaitingAck);
        assert_eq!(summary_state([Writing, AwaitingAck, Connected]), Writing);
    }
}
