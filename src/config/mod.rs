//! The server's configuration: the keys of PROTOCOL.md "Running the server".
//!
//! A [`Config`] comes from an optional TOML file ([`file`](Config::from_file)), then the
//! command-line flags override it ([`Config::apply`]), then [`Config::validate`] refuses
//! values that make no sense. Every error ([`ConfigError`]) names the offending key (or
//! file) so that `main` can print it and exit with status 2. This file holds the keys'
//! values, their defaults and [`load`], which runs the three steps in order.

mod error;
mod file;
mod flags;
mod history;
mod unsupported;
mod users;
mod validate;
mod websocket;

pub use error::ConfigError;
pub use file::KEYS;
pub use users::UserEntry;

use crate::cli::ServeArgs;
use crate::secret::{Secret, SecretUrl};
use file::{address, addresses, optional_address};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchboard::config::{SwitchboardConfig, WebSocketConfig};
use switchboard::connector::DestinationConfig;
use switchboard::websocket::PacketMapping;

/// The server's configuration; see PROTOCOL.md for the meaning of every key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the `frame` protocol listens.
    #[serde(deserialize_with = "address")]
    pub frame: SocketAddr,
    /// Where the `line` protocol listens.
    #[serde(deserialize_with = "address")]
    pub line: SocketAddr,
    /// The servers that REPLICATE sends to and health-checks.
    #[serde(deserialize_with = "addresses")]
    pub backends: Vec<SocketAddr>,
    /// The largest frame body (opcode + payload) accepted, in bytes.
    pub max_frame: usize,
    /// The longest line accepted, in bytes, line ending excluded.
    pub max_line: usize,
    /// Error packets over a connection's lifetime before it is removed.
    pub max_error_packets: u32,
    /// Nothing received for this long: the connection is removed as idle.
    pub idle_timeout_ms: u64,
    /// How often idle connections and backends are checked.
    pub health_interval_ms: u64,
    /// Bytes queued for one peer beyond which it is a slow consumer.
    pub max_outbound_bytes: usize,
    /// Queued bytes with no write progress for this long: the connection is removed.
    pub write_timeout_ms: u64,
    /// Accepted connections at once; beyond it accepting pauses.
    pub max_connections: usize,
    /// How long shutdown may spend flushing queued data.
    pub shutdown_timeout_ms: u64,
    /// How long REPLICATE waits for each backend's ack.
    pub ack_timeout_ms: u64,
    /// Missed health checks in a row before a backend is marked down.
    pub backend_max_failures: u32,
    /// The shortest wait before re-dialling a backend.
    pub reconnect_min_ms: u64,
    /// The longest wait before re-dialling a backend.
    pub reconnect_max_ms: u64,
    /// Worker threads that own connections.
    pub workers: usize,
    /// Named groups one connection may be in at once.
    pub max_groups: usize,
    /// Nothing received for this long: the server sends a PING; 0 turns it off.
    pub heartbeat_ms: u64,
    /// An incomplete frame or line older than this removes its connection.
    pub frame_timeout_ms: u64,
    /// This server's name in the cluster; a random one when unset.
    pub node: Option<String>,
    /// The NATS server (`nats://HOST:PORT`) through which this server joins a cluster.
    pub cluster: Option<SecretUrl>,
    /// PEM certificate chain: with `tls_key`, both listeners speak TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How long a TLS handshake may take before the connection is removed.
    pub tls_handshake_timeout_ms: u64,
    /// The static users (`[[users]]`): with them, or with `jwt_secret`, every connection
    /// must authenticate.
    pub users: Vec<UserEntry>,
    /// The HMAC-SHA256 key of JWT tokens; with it, a JWT authenticates.
    pub jwt_secret: Option<Secret>,
    /// How long a connection has to authenticate, when identity is on.
    pub auth_timeout_ms: u64,
    /// PEM file of the CAs whose client certificates the TLS listeners require.
    pub tls_client_ca: Option<PathBuf>,
    /// Connections at once from one address, over every listener; 0 is off.
    pub max_connections_per_ip: usize,
    /// Connections at once of one user; 0 is off.
    pub max_connections_per_user: usize,
    /// Packets one connection may send per second before its reading pauses; 0 is off.
    pub max_messages_per_s: u32,
    /// Packets one connection may send at once before the rate applies; unset: the
    /// rate itself.
    pub max_messages_burst: Option<u32>,
    /// Bytes queued for all connections together before the largest queue is removed.
    pub max_outbound_total_bytes: usize,
    /// Named groups on this server at once.
    pub max_groups_total: usize,
    /// The bearer token every request to the HTTP port (`--metrics`) must carry.
    pub metrics_token: Option<Secret>,
    /// Where the `line` protocol listens for WebSocket clients (text messages); unset:
    /// no such listener.
    #[serde(deserialize_with = "optional_address")]
    pub ws_line: Option<SocketAddr>,
    /// Where the `frame` protocol listens for WebSocket clients (binary messages, one
    /// frame body each); unset: no such listener.
    #[serde(deserialize_with = "optional_address")]
    pub ws_frame: Option<SocketAddr>,
    /// The `Origin` values a WebSocket handshake may carry; empty: any.
    pub ws_origins: Vec<String>,
    /// How long a WebSocket handshake may take before the connection is removed.
    pub ws_handshake_timeout_ms: u64,
    /// Messages kept per history group; 0 turns histories off.
    pub history_size: usize,
    /// Patterns of the groups that keep a history.
    pub history_groups: Vec<String>,
    /// How long a message stays in a history.
    pub history_ttl_ms: u64,
    /// What all histories together may hold.
    pub history_max_bytes: usize,
}

impl Default for Config {
    /// The defaults of PROTOCOL.md. Every key that configures the library takes the
    /// library's own default, so the two cannot drift apart; only the server's own keys
    /// (addresses, sizes of its codecs, groups, heartbeat) are stated here.
    fn default() -> Self {
        let library = SwitchboardConfig::default();
        let connection = &library.connection;
        let backends = DestinationConfig::default();
        let websocket = WebSocketConfig::text(PacketMapping::Line, 0);
        Config {
            frame: SocketAddr::from(([127, 0, 0, 1], 7700)),
            line: SocketAddr::from(([127, 0, 0, 1], 7701)),
            backends: Vec::new(),
            max_frame: 65536,
            max_line: 8192,
            max_error_packets: connection.max_error_packets,
            idle_timeout_ms: millis(library.supervisor.idle_timeout),
            health_interval_ms: millis(library.supervisor.health_interval),
            max_outbound_bytes: connection.max_outbound_bytes,
            write_timeout_ms: millis(connection.write_timeout),
            max_connections: library.max_connections,
            shutdown_timeout_ms: millis(connection.close_timeout),
            ack_timeout_ms: millis(backends.health_timeout),
            backend_max_failures: backends.max_failures,
            reconnect_min_ms: millis(backends.reconnect_min),
            reconnect_max_ms: millis(backends.reconnect_max),
            workers: library.workers,
            max_groups: 64,
            heartbeat_ms: 0,
            frame_timeout_ms: millis(connection.frame_timeout),
            node: None,
            cluster: None,
            tls_cert: None,
            tls_key: None,
            tls_handshake_timeout_ms: millis(connection.tls_handshake_timeout),
            users: Vec::new(),
            jwt_secret: None,
            auth_timeout_ms: 2000,
            tls_client_ca: None,
            max_connections_per_ip: 0,
            max_connections_per_user: 0,
            max_messages_per_s: 0,
            max_messages_burst: None,
            max_outbound_total_bytes: 1 << 30,
            max_groups_total: 1_000_000,
            metrics_token: None,
            ws_line: None,
            ws_frame: None,
            ws_origins: Vec::new(),
            ws_handshake_timeout_ms: millis(websocket.handshake_timeout),
            history_size: 0,
            history_groups: vec![">".to_owned()],
            history_ttl_ms: 300_000,
            history_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A duration in whole milliseconds, as the `_ms` keys take it.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Config {
    /// `idle_timeout_ms` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// `health_interval_ms` as a duration.
    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms)
    }

    /// `write_timeout_ms` as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    /// `shutdown_timeout_ms` as a duration.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }

    /// `ack_timeout_ms` as a duration.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }

    /// `reconnect_min_ms` as a duration.
    pub fn reconnect_min(&self) -> Duration {
        Duration::from_millis(self.reconnect_min_ms)
    }

    /// `heartbeat_ms` as a duration, or `None` when it is 0 (off).
    pub fn heartbeat(&self) -> Option<Duration> {
        (self.heartbeat_ms > 0).then(|| Duration::from_millis(self.heartbeat_ms))
    }

    /// The node name: `node` if set, else a new random one (call it once per server).
    pub fn node_name(&self) -> String {
        self.node
            .clone()
            .unwrap_or_else(crate::cluster_stats::random_node)
    }

    /// `frame_timeout_ms` as a duration.
    pub fn frame_timeout(&self) -> Duration {
        Duration::from_millis(self.frame_timeout_ms)
    }

    /// `tls_handshake_timeout_ms` as a duration.
    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_timeout_ms)
    }

    /// `reconnect_max_ms` as a duration.
    pub fn reconnect_max(&self) -> Duration {
        Duration::from_millis(self.reconnect_max_ms)
    }
}

/// The configuration for `serve`: the file if `--config` names one (defaults
/// otherwise), overridden by the flags, then validated (which refuses, too, the keys this
/// server cannot enforce yet).
pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
    let mut config = match &args.config {
        Some(file) => Config::from_file(file)?,
        None => Config::default(),
    };
    config.apply(args);
    config.validate()?;
    Ok(config)
}

/// Helpers shared by the configuration's tests.
#[cfg(test)]
mod testing {
    use super::{Config, ConfigError};
    use std::net::SocketAddr;
    use std::path::Path;

    /// Parses `text` as the file `test.toml`.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    /// The address `text`.
    pub fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::addr;
    use super::*;

    #[test]
    fn defaults_match_protocol_table() {
        let c = Config::default();
        assert_eq!(c.frame, addr("127.0.0.1:7700"));
        assert_eq!(c.line, addr("127.0.0.1:7701"));
        assert!(c.backends.is_empty());
        assert_eq!(c.max_frame, 65536);
        assert_eq!(c.max_line, 8192);
        assert_eq!(c.max_error_packets, 3);
        assert_eq!(c.idle_timeout(), Duration::from_secs(60));
        assert_eq!(c.health_interval(), Duration::from_secs(5));
        assert_eq!(c.max_outbound_bytes, 4_194_304);
        assert_eq!(c.write_timeout(), Duration::from_secs(10));
        assert_eq!(c.max_connections, 100_000);
        assert_eq!(c.shutdown_timeout(), Duration::from_secs(5));
        assert_eq!(c.ack_timeout(), Duration::from_secs(1));
        assert_eq!(c.backend_max_failures, 2);
        assert_eq!(c.reconnect_min(), Duration::from_millis(100));
        assert_eq!(c.reconnect_max(), Duration::from_secs(5));
        assert!(c.workers >= 1);
        assert_eq!(c.heartbeat(), None);
        assert_eq!(c.frame_timeout(), Duration::from_secs(30));
        assert_eq!((c.tls_cert.clone(), c.tls_key.clone()), (None, None));
        assert_eq!(c.tls_handshake_timeout(), Duration::from_secs(10));
        assert!(c.users.is_empty());
        assert_eq!(
            (c.jwt_secret.clone(), c.tls_client_ca.clone()),
            (None, None)
        );
        assert_eq!(c.auth_timeout_ms, 2000);
        assert_eq!(
            (c.max_connections_per_ip, c.max_connections_per_user),
            (0, 0)
        );
        assert_eq!((c.max_messages_per_s, c.max_messages_burst), (0, None));
        assert_eq!(c.max_outbound_total_bytes, 1_073_741_824);
        assert_eq!(c.max_groups_total, 1_000_000);
        assert_eq!(c.metrics_token, None);
        c.validate().unwrap();
    }

    #[test]
    fn missing_file_is_named() {
        let args = ServeArgs {
            config: Some(PathBuf::from("/nonexistent/switchboard.toml")),
            ..ServeArgs::default()
        };
        let err = load(&args).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read config file \"/nonexistent/switchboard.toml\": "),
            "{err}"
        );
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("switchboard-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("serve.toml");
        std::fs::write(
            &file,
            "frame = \"127.0.0.1:1\"\nline = \"127.0.0.1:2\"\nbackends = [\"127.0.0.1:3\"]\nmax_line = 10\n",
        )
        .unwrap();
        let only_file = load(&ServeArgs {
            config: Some(file.clone()),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(only_file.frame, addr("127.0.0.1:1"));
        assert_eq!(only_file.backends, vec![addr("127.0.0.1:3")]);
        let args = ServeArgs {
            config: Some(file.clone()),
            frame: Some(addr("127.0.0.1:0")),
            line: None,
            backends: vec![addr("127.0.0.1:4"), addr("127.0.0.1:5")],
            ..ServeArgs::default()
        };
        let c = load(&args).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(c.frame, addr("127.0.0.1:0"));
        assert_eq!(c.line, addr("127.0.0.1:2"));
        assert_eq!(c.backends, vec![addr("127.0.0.1:4"), addr("127.0.0.1:5")]);
        assert_eq!(c.max_line, 10);
    }

    #[test]
    fn no_file_no_flags_is_defaults() {
        assert_eq!(load(&ServeArgs::default()).unwrap(), Config::default());
    }
}
