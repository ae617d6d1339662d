//! The WebSocket listeners' keys: what `ws_line` and `ws_frame` take from the
//! configuration, as the library's [`WebSocketConfig`].

use super::{Config, ConfigError};
use std::time::Duration;
use switchboard::config::WebSocketConfig;
use switchboard::websocket::PacketMapping;

impl Config {
    /// `ws_handshake_timeout_ms` as a duration.
    pub fn ws_handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_handshake_timeout_ms)
    }

    /// `ws_line`: the `line` protocol in text messages, one line (without its ending)
    /// each, at most `max_line` bytes.
    pub fn ws_line_config(&self) -> WebSocketConfig {
        self.websocket(WebSocketConfig::text(PacketMapping::Line, self.max_line))
            .with_oversize_reason("line too long".to_owned())
    }

    /// `ws_frame`: the `frame` protocol in binary messages, one frame body (without
    /// its length prefix) each, at most `max_frame` bytes.
    pub fn ws_frame_config(&self) -> WebSocketConfig {
        let mapping = PacketMapping::LengthPrefixed { bytes: 4 };
        self.websocket(WebSocketConfig::binary(mapping, self.max_frame))
            .with_oversize_reason("frame too large".to_owned())
    }

    /// What both listeners share: the origins and the handshake deadline.
    fn websocket(&self, config: WebSocketConfig) -> WebSocketConfig {
        config
            .with_origins(self.ws_origins.iter().cloned())
            .with_handshake_timeout(self.ws_handshake_timeout())
    }

    /// Refuses an empty `Origin` in `ws_origins`, which no browser sends.
    pub(super) fn validate_websocket(&self) -> Result<(), ConfigError> {
        if self
            .ws_origins
            .iter()
            .any(|origin| origin.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "ws_origins",
                message: "an origin must not be empty".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{addr, parse};
    use super::*;
    use crate::cli::ServeArgs;
    use switchboard::websocket::MessageKind;

    #[test]
    fn the_keys_are_read_and_the_flags_override_them() {
        let c = parse(
            "ws_line = \"127.0.0.1:1\"\nws_origins = [\"https://a.example\"]\n\
             ws_handshake_timeout_ms = 250\nmax_line = 100\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!((c.ws_line, c.ws_frame), (Some(addr("127.0.0.1:1")), None));
        let line = c.ws_line_config();
        assert_eq!((line.kind, line.max_message), (MessageKind::Text, 100));
        assert_eq!(line.mapping, PacketMapping::Line);
        assert_eq!(line.handshake_timeout, Duration::from_millis(250));
        assert_eq!(line.handshake.origins.as_deref().map(<[_]>::len), Some(1));
        let frame = c.ws_frame_config();
        assert_eq!(
            (frame.kind, frame.max_message),
            (MessageKind::Binary, 65536)
        );
        assert_eq!(frame.oversize_reason, "frame too large");
        let mut c = c;
        c.apply(&ServeArgs {
            ws_frame: Some(addr("127.0.0.1:2")),
            ..ServeArgs::default()
        });
        assert_eq!(c.ws_frame, Some(addr("127.0.0.1:2")));
        assert_eq!(c.ws_line, Some(addr("127.0.0.1:1")), "kept");
    }

    #[test]
    fn defaults_and_bad_values_name_their_key() {
        let c = Config::default();
        assert_eq!((c.ws_line, c.ws_frame), (None, None));
        assert!(c.ws_origins.is_empty());
        assert_eq!(c.ws_handshake_timeout(), Duration::from_secs(10));
        assert_eq!(c.ws_line_config().handshake.origins, None, "any origin");
        for (text, key) in [
            ("ws_line = \"nowhere\"", "ws_line"),
            ("ws_origins = \"https://a\"", "ws_origins"),
            ("ws_handshake_timeout_ms = -1", "ws_handshake_timeout_ms"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("config key \"{key}\": ")), "{err}");
        }
        let err = parse("ws_origins = [\" \"]")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("ws_origins"), "{err}");
    }
}
