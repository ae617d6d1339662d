//! Why a destination did not ack a send.
//!
//! Every destination of a send ends up either acked or faulty with exactly one
//! [`Fault`]; its `Display` form is the reason a delivery report names (`timeout`,
//! `not connected`, ...).

use std::fmt;

/// Why one destination did not ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The ack did not arrive before the deadline. Its late ack, if any, is ignored.
    Timeout,
    /// No connection to the destination: it is down (waiting to be re-dialled), the
    /// dial failed, or the destination was stopped.
    NotConnected,
    /// The connection failed or refused the packet; the text says how.
    Io(String),
    /// Every sender in the destination's pool stayed busy for `acquire_timeout`.
    NoSenderAvailable,
    /// The destination answered the packet with a refusal (an error reply).
    Refused(String),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Timeout => f.write_str("timeout"),
            Fault::NotConnected => f.write_str("not connected"),
            Fault::Io(e) => write!(f, "io error: {e}"),
            Fault::NoSenderAvailable => f.write_str("no sender available"),
            Fault::Refused(reason) => write!(f, "refused: {reason}"),
        }
    }
}

impl std::error::Error for Fault {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_match_the_protocol() {
        assert_eq!(Fault::Timeout.to_string(), "timeout");
        assert_eq!(Fault::NotConnected.to_string(), "not connected");
        assert_eq!(
            Fault::Io("connection reset".into()).to_string(),
            "io error: connection reset"
        );
        assert_eq!(Fault::NoSenderAvailable.to_string(), "no sender available");
    }
}
