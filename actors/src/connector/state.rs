//! Where one sender (one dialed connection) is in its life.
//!
//! Tomcat's `NioSender` is a state machine: NOT_CONNECTED -> connect -> CONNECTED ->
//! setMessage -> READY_TO_WRITE -> write -> READY_TO_READ -> read the ack ->
//! TRANSFER_COMPLETE -> CONNECTED. [`SenderState`] is that machine with the steps an
//! application can observe; a sender's state is derived from what it is doing (dialling,
//! packets being handed to its connection, requests waiting for acks), so it can never
//! disagree with the sender's actual work.

use serde::Serialize;
use std::fmt;

/// The state of one sender, as [`DestinationReport`](super::DestinationReport) shows it.
///
/// A send moves a sender `Connected -> Writing -> AwaitingAck -> Connected`; a send
/// without an ack goes `Connected -> Writing -> Connected`. With more than one request
/// in flight per sender (`max_in_flight > 1`) the state names the most advanced step
/// any of them is in (writing before awaiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderState {
    /// No socket: never dialled, lost, or waiting for the next redial.
    NotConnected,
    /// Dialling.
    Connecting,
    /// Connected and not busy with any send.
    Connected,
    /// A packet is being handed to the connection's outbound queue.
    Writing,
    /// Packets were queued; waiting for the destination's acks.
    AwaitingAck,
}

impl SenderState {
    /// The state of a sender with a socket (`connected`) that has `writing` packets being
    /// queued and `awaiting` requests waiting for their acks.
    pub fn of(connected: bool, writing: usize, awaiting: usize) -> SenderState {
        match (connected, writing, awaiting) {
            (false, _, _) => SenderState::Connecting,
            (true, 0, 0) => SenderState::Connected,
            (true, 0, _) => SenderState::AwaitingAck,
            (true, _, _) => SenderState::Writing,
        }
    }

    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderState::NotConnected => "not_connected",
            SenderState::Connecting => "connecting",
            SenderState::Connected => "connected",
            SenderState::Writing => "writing",
            SenderState::AwaitingAck => "awaiting_ack",
        }
    }
}

impl fmt::Display for SenderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Tomcat lifecycle, step by step, for one send with an ack.
    #[test]
    fn one_send_goes_round_the_cycle() {
        let steps = [
            SenderState::of(false, 0, 0),
            SenderState::of(true, 0, 0),
            SenderState::of(true, 1, 1),
            SenderState::of(true, 0, 1),
            SenderState::of(true, 0, 0),
        ];
        use SenderState::*;
        assert_eq!(
            steps,
            [Connecting, Connected, Writing, AwaitingAck, Connected]
        );
    }

    #[test]
    fn names_match_serde() {
        for state in [
            SenderState::NotConnected,
            SenderState::Connecting,
            SenderState::Connected,
            SenderState::Writing,
            SenderState::AwaitingAck,
        ] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
        }
    }
}
