//! What a WebSocket listener configures: the kind of its messages, how a message maps
//! to a packet of the protocol, the size bound, and the handshake's rules and deadline.

use crate::websocket::{Framing, HandshakeConfig, MessageKind, PacketMapping};
use std::sync::Arc;
use std::time::Duration;

/// The configuration of one WebSocket listener
/// ([`Switchboard::listen_ws`](crate::Switchboard::listen_ws)).
///
/// Its connections speak the listener's protocol with one message per packet: the
/// protocol's codec and handler are those of a stream listener, and the mapping says
/// what a message lacks to be one packet of the codec (a line ending, a length prefix)
/// and what a packet loses to become one message.
///
/// ```
/// use std::time::Duration;
/// use switchboard::config::WebSocketConfig;
/// use switchboard::websocket::PacketMapping;
///
/// // A line protocol: one text message per line, lines of at most 8 KiB.
/// let lines = WebSocketConfig::text(PacketMapping::Line, 8192)
///     .with_origins(["https://example.com"])
///     .with_handshake_timeout(Duration::from_secs(5));
/// assert_eq!(lines.max_message, 8192);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketConfig {
    /// Whether the protocol's messages are text or binary: each reply and delivery is
    /// a message of this kind, and a message of the other kind from the client is an
    /// error packet. Text is checked as UTF-8 (close code 1007).
    pub kind: MessageKind,
    /// How one message maps to one packet of the protocol's codec, and back.
    pub mapping: PacketMapping,
    /// The largest message accepted, all its fragments together, in bytes; a bigger
    /// one is an oversize packet: the protocol's error reply for
    /// [`oversize_reason`](Self::oversize_reason), then a Close with code 1009, and
    /// removal as `error_packets`. Set it to the codec's own bound (a line protocol's
    /// longest line, say).
    pub max_message: usize,
    /// The reason given to the protocol's error reply for an oversize message (what its
    /// codec says of an oversize packet on a stream, say). Default: `message too big`.
    pub oversize_reason: String,
    /// What the handshake accepts: the bound on the request's size, the `Origin`
    /// allow-list. Default: 16 KiB, any origin.
    pub handshake: HandshakeConfig,
    /// How long a connection has to complete its handshake (its request received and
    /// accepted) before it is removed as
    /// [`WsHandshake`](crate::RemovalReason::WsHandshake). Default: 10 s.
    pub handshake_timeout: Duration,
    /// Whether the heartbeat is a Ping control frame: when the read-idle limit
    /// ([`IdleLimits::read`](crate::IdleLimits::read)) passes, the connection sends a
    /// Ping (browsers answer it by themselves) instead of calling
    /// [`Protocol::on_idle`](crate::Protocol::on_idle) with `Idle::Read`. The Pong, like
    /// anything received, is activity. Default: true.
    pub ping_on_read_idle: bool,
}

impl WebSocketConfig {
    /// Text messages mapped by `mapping`, each at most `max_message` bytes.
    pub fn text(mapping: PacketMapping, max_message: usize) -> Self {
        Self::new(MessageKind::Text, mapping, max_message)
    }

    /// Binary messages mapped by `mapping`, each at most `max_message` bytes.
    pub fn binary(mapping: PacketMapping, max_message: usize) -> Self {
        Self::new(MessageKind::Binary, mapping, max_message)
    }

    fn new(kind: MessageKind, mapping: PacketMapping, max_message: usize) -> Self {
        WebSocketConfig {
            kind,
            mapping,
            max_message,
            oversize_reason: "message too big".to_owned(),
            handshake: HandshakeConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            ping_on_read_idle: true,
        }
    }

    /// Returns this configuration allowing only handshakes whose `Origin` is one of
    /// `origins` (compared without regard to ASCII case); an empty list allows any.
    #[must_use]
    pub fn with_origins<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        let origins: Arc<[String]> = origins.into_iter().map(Into::into).collect();
        self.handshake.origins = (!origins.is_empty()).then_some(origins);
        self
    }

    /// Returns this configuration with the handshake request bounded to `bytes`.
    #[must_use]
    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.handshake.max_request_bytes = bytes;
        self
    }

    /// How the connections' packets go out as messages.
    pub(crate) fn framing(&self) -> Framing {
        Framing {
            kind: self.kind,
            mapping: self.mapping,
        }
    }
}

crate::config::setters!(WebSocketConfig {
    with_max_message => max_message: usize,
    with_oversize_reason => oversize_reason: String,
    with_handshake_timeout => handshake_timeout: std::time::Duration,
    with_ping_on_read_idle => ping_on_read_idle: bool,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_origin_list_allows_any() {
        let config = WebSocketConfig::binary(PacketMapping::Verbatim, 10);
        assert_eq!(config.handshake.origins, None);
        let listed = config.clone().with_origins(["http://a", "http://b"]);
        assert_eq!(listed.handshake.origins.as_deref().map(<[_]>::len), Some(2));
        assert_eq!(listed.with_origins(Vec::<String>::new()), config);
    }
}
