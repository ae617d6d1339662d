//! The configuration file: its [`KEYS`], and TOML parsed key by key.
//!
//! Unknown keys and wrongly typed values are found key by key, because toml's own
//! messages point at a line and column but not always at the key. Addresses are parsed
//! here too, quoting the text in the error.

use super::{Config, ConfigError};
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::Path;

/// Every key a configuration file may contain.
pub const KEYS: [&str; 44] = [
    "frame",
    "line",
    "backends",
    "max_frame",
    "max_line",
    "max_error_packets",
    "idle_timeout_ms",
    "health_interval_ms",
    "max_outbound_bytes",
    "write_timeout_ms",
    "max_connections",
    "shutdown_timeout_ms",
    "ack_timeout_ms",
    "backend_max_failures",
    "reconnect_min_ms",
    "reconnect_max_ms",
    "workers",
    "max_groups",
    "heartbeat_ms",
    "frame_timeout_ms",
    "node",
    "cluster",
    "tls_cert",
    "tls_key",
    "tls_handshake_timeout_ms",
    "users",
    "jwt_secret",
    "auth_timeout_ms",
    "tls_client_ca",
    "max_connections_per_ip",
    "max_connections_per_user",
    "max_messages_per_s",
    "max_messages_burst",
    "max_outbound_total_bytes",
    "max_groups_total",
    "metrics_token",
    "ws_line",
    "ws_frame",
    "ws_origins",
    "ws_handshake_timeout_ms",
    "history_size",
    "history_groups",
    "history_ttl_ms",
    "history_max_bytes",
];

/// Parses one address, quoting it in the error.
fn parse_address(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("invalid address \"{text}\": {e} (expected IP:PORT)"))
}

/// Deserializes an address from its string form.
pub(super) fn address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_address(&text).map_err(serde::de::Error::custom)
}

/// Deserializes an optional address from its string form.
pub(super) fn optional_address<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|text| parse_address(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// Deserializes a list of addresses from their string forms.
pub(super) fn addresses<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SocketAddr>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|text| parse_address(text))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// Checks one key of a parsed file on its own, so an error can name it.
fn check_key(key: &str, value: &toml::Value) -> Result<(), ConfigError> {
    let Some(known) = KEYS.iter().copied().find(|k| *k == key) else {
        return Err(ConfigError::UnknownKey {
            key: key.to_owned(),
        });
    };
    let mut alone = toml::Table::new();
    alone.insert(key.to_owned(), value.clone());
    toml::Value::Table(alone)
        .try_into::<Config>()
        .map(drop)
        .map_err(|e| ConfigError::Invalid {
            key: known,
            message: e.message().trim().to_owned(),
        })
}

/// toml's message with the line and column it points at, without the excerpt of the file
/// toml's own `Display` adds: that line may hold a secret.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(before) = e.span().and_then(|span| text.get(..span.start)) else {
        return message.to_owned();
    };
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("line {line}, column {column}: {message}")
}

impl Config {
    /// Parses the TOML text of `file` (named in syntax errors). Not yet validated.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            file: file.to_owned(),
            message: syntax_message(text, &e),
        };
        let table: toml::Table = toml::from_str(text).map_err(syntax)?;
        for (key, value) in &table {
            check_key(key, value)?;
        }
        toml::Value::Table(table).try_into().map_err(syntax)
    }

    /// Reads and parses `file`. Not yet validated.
    pub fn from_file(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Config::from_toml(&text, file)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{addr, parse};
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_list_matches_struct() {
        let json = serde_json::to_value(Config::default()).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut keys = KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            r#"
            frame = "0.0.0.0:0"
            line = "[::1]:0"
            backends = ["127.0.0.1:9001", "127.0.0.1:9002"]
            max_frame = 1
            max_line = 2
            max_error_packets = 3
            idle_timeout_ms = 4
            health_interval_ms = 5
            max_outbound_bytes = 6
            write_timeout_ms = 7
            max_connections = 8
            shutdown_timeout_ms = 9
            ack_timeout_ms = 10
            backend_max_failures = 11
            reconnect_min_ms = 12
            reconnect_max_ms = 13
            workers = 14
            "#,
        )
        .unwrap();
        assert_eq!(c.frame, addr("0.0.0.0:0"));
        assert_eq!(c.line, addr("[::1]:0"));
        assert_eq!(
            c.backends,
            vec![addr("127.0.0.1:9001"), addr("127.0.0.1:9002")]
        );
        let numbers = [
            c.max_frame as u64,
            c.max_line as u64,
            u64::from(c.max_error_packets),
            c.idle_timeout_ms,
            c.health_interval_ms,
            c.max_outbound_bytes as u64,
            c.write_timeout_ms,
            c.max_connections as u64,
            c.shutdown_timeout_ms,
            c.ack_timeout_ms,
            u64::from(c.backend_max_failures),
            c.reconnect_min_ms,
            c.reconnect_max_ms,
            c.workers as u64,
        ];
        assert_eq!(numbers.to_vec(), (1..=14).collect::<Vec<u64>>());
    }

    #[test]
    fn max_groups_is_read_and_defaults_to_64() {
        assert_eq!(Config::default().max_groups, 64);
        let c = parse("max_groups = 3").unwrap();
        assert_eq!(c.max_groups, 3);
        c.validate().unwrap();
    }

    #[test]
    fn heartbeat_is_read_and_zero_is_off() {
        let c = parse("heartbeat_ms = 250").unwrap();
        assert_eq!(c.heartbeat(), Some(Duration::from_millis(250)));
        let c = parse("heartbeat_ms = 0").unwrap();
        assert_eq!(c.heartbeat(), None);
        assert_eq!(c.frame_timeout(), Duration::from_secs(30));
        c.validate().unwrap();
    }

    #[test]
    fn frame_timeout_is_read_and_zero_is_allowed() {
        let c = parse("frame_timeout_ms = 300").unwrap();
        assert_eq!(c.frame_timeout(), Duration::from_millis(300));
        parse("frame_timeout_ms = 0").unwrap().validate().unwrap();
    }

    #[test]
    fn unknown_key_is_named() {
        let err = parse("max_frame = 10\nfoo = 1\n").unwrap_err();
        assert!(matches!(&err, ConfigError::UnknownKey { key } if key == "foo"));
        assert!(
            err.to_string().starts_with("unknown config key \"foo\""),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = parse("max_frame = \"x\"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config key \"max_frame\": invalid type: string \"x\", expected usize"
        );
        let err = parse("max_line = -1").unwrap_err();
        assert!(
            err.to_string().starts_with("config key \"max_line\": "),
            "{err}"
        );
        let err = parse("backends = \"127.0.0.1:1\"").unwrap_err();
        assert!(
            err.to_string().starts_with("config key \"backends\": "),
            "{err}"
        );
    }

    #[test]
    fn bad_address_names_key_and_value() {
        let err = parse("frame = \"localhost\"").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("config key \"frame\": "), "{text}");
        assert!(text.contains("\"localhost\""), "{text}");
        let err = parse("backends = [\"127.0.0.1:1\", \"nope\"]").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("config key \"backends\": "), "{text}");
        assert!(text.contains("\"nope\""), "{text}");
    }

    #[test]
    fn syntax_error_names_the_file() {
        let err = parse("max_frame = = 1").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("config file \"test.toml\": line 1, column 13: "),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_quotes_no_line_of_the_file() {
        let err = parse("max_frame = 1\njwt_secret = \"s3cr3t-value\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("config file \"test.toml\": line 2, "),
            "{text}"
        );
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
