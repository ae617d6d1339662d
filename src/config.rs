//! The server's configuration: the keys of PROTOCOL.md "Running the server".
//!
//! A [`Config`] comes from an optional TOML file, then the command-line flags override
//! it, then [`Config::validate`] refuses values that make no sense. Every error names
//! the offending key (or file) so that `main` can print it and exit with status 2:
//! unknown keys and wrongly typed values are found key by key, because toml's own
//! messages point at a line and column but not always at the key.

use crate::cli::ServeArgs;
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard::config::SwitchboardConfig;
use switchboard::connector::DestinationConfig;

/// Every key a configuration file may contain.
pub const KEYS: [&str; 25] = [
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
];

/// A configuration that cannot be used, naming the key or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file \"{}\": {source}", file.display())]
    Read {
        /// The file named by `--config`.
        file: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The configuration file is not TOML.
    #[error("config file \"{}\": {message}", file.display())]
    Syntax {
        /// The file named by `--config`.
        file: PathBuf,
        /// toml's message, with line and column.
        message: String,
    },
    /// The file has a key that is not in [`KEYS`].
    #[error("unknown config key \"{key}\" (known keys: {})", KEYS.join(", "))]
    UnknownKey {
        /// The key as written in the file.
        key: String,
    },
    /// A key's value has the wrong type or cannot be parsed.
    #[error("config key \"{key}\": {message}")]
    Invalid {
        /// The key whose value is wrong.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A key is 0 where 0 makes no sense.
    #[error("config key \"{key}\" must be greater than 0")]
    Zero {
        /// The key that is 0.
        key: &'static str,
    },
    /// One of `tls_cert` and `tls_key` is set without the other.
    #[error("config key \"{given}\" is set but \"{missing}\" is not: TLS needs both")]
    TlsPair {
        /// The key that is set.
        given: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// The reconnect backoff bounds are the wrong way round.
    #[error(
        "config key \"reconnect_min_ms\" ({min}) must not exceed \"reconnect_max_ms\" ({max})"
    )]
    Backoff {
        /// The value of `reconnect_min_ms`.
        min: u64,
        /// The value of `reconnect_max_ms`.
        max: u64,
    },
}

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
    pub cluster: Option<String>,
    /// PEM certificate chain: with `tls_key`, both listeners speak TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How long a TLS handshake may take before the connection is removed.
    pub tls_handshake_timeout_ms: u64,
}

impl Default for Config {
    /// The defaults of PROTOCOL.md. Every key that configures the library takes the
    /// library's own default, so the two cannot drift apart; only the server's own keys
    /// (addresses, sizes of its codecs, groups, heartbeat) are stated here.
    fn default() -> Self {
        let library = SwitchboardConfig::default();
        let connection = &library.connection;
        let backends = DestinationConfig::default();
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
        }
    }
}

/// A duration in whole milliseconds, as the `_ms` keys take it.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Parses one address, quoting it in the error.
fn parse_address(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("invalid address \"{text}\": {e} (expected IP:PORT)"))
}

/// Deserializes an address from its string form.
fn address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_address(&text).map_err(serde::de::Error::custom)
}

/// Deserializes a list of addresses from their string forms.
fn addresses<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SocketAddr>, D::Error> {
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

impl Config {
    /// Parses the TOML text of `file` (named in syntax errors). Not yet validated.
    pub fn from_toml(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| ConfigError::Syntax {
            file: file.to_owned(),
            message: e.to_string().trim().to_owned(),
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

    /// Applies the command-line flags: each one given replaces the file's value.
    pub fn apply(&mut self, args: &ServeArgs) {
        if let Some(frame) = args.frame {
            self.frame = frame;
        }
        if let Some(line) = args.line {
            self.line = line;
        }
        if !args.backends.is_empty() {
            self.backends = args.backends.clone();
        }
        if let Some(node) = &args.node {
            self.node = Some(node.clone());
        }
        if let Some(cluster) = &args.cluster {
            self.cluster = Some(cluster.clone());
        }
        if let Some(cert) = &args.tls_cert {
            self.tls_cert = Some(cert.clone());
        }
        if let Some(key) = &args.tls_key {
            self.tls_key = Some(key.clone());
        }
    }

    /// Refuses values that make no sense, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = [
            ("max_frame", self.max_frame == 0),
            ("max_line", self.max_line == 0),
            ("max_error_packets", self.max_error_packets == 0),
            ("health_interval_ms", self.health_interval_ms == 0),
            ("max_outbound_bytes", self.max_outbound_bytes == 0),
            ("max_connections", self.max_connections == 0),
            ("backend_max_failures", self.backend_max_failures == 0),
            ("workers", self.workers == 0),
        ];
        if let Some((key, _)) = zero.into_iter().find(|(_, is_zero)| *is_zero) {
            return Err(ConfigError::Zero { key });
        }
        if self
            .node
            .as_deref()
            .is_some_and(|node| node.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                key: "node",
                message: "must not be empty".to_owned(),
            });
        }
        if let Some(url) = &self.cluster {
            let node = self.node.clone().unwrap_or_else(|| "node".to_owned());
            switchboard::cluster::ClusterConfig::new(url.as_str(), node)
                .validate()
                .map_err(|e| ConfigError::Invalid {
                    key: match e {
                        switchboard::cluster::ClusterError::Node(_) => "node",
                        _ => "cluster",
                    },
                    message: e.to_string(),
                })?;
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(ConfigError::TlsPair {
                    given: "tls_cert",
                    missing: "tls_key",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::TlsPair {
                    given: "tls_key",
                    missing: "tls_cert",
                })
            }
            _ => {}
        }
        if self.reconnect_min_ms > self.reconnect_max_ms {
            return Err(ConfigError::Backoff {
                min: self.reconnect_min_ms,
                max: self.reconnect_max_ms,
            });
        }
        Ok(())
    }

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
/// otherwise), overridden by the flags, then validated.
pub fn load(args: &ServeArgs) -> Result<Config, ConfigError> {
    let mut config = match &args.config {
        Some(file) => Config::from_file(file)?,
        None => Config::default(),
    };
    config.apply(args);
    config.validate()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

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
        c.validate().unwrap();
    }

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
    fn cluster_is_a_nats_url_from_file_or_flag() {
        let c = parse("cluster = \"nats://127.0.0.1:4222\"").unwrap();
        assert_eq!(c.cluster.as_deref(), Some("nats://127.0.0.1:4222"));
        c.validate().unwrap();
        assert_eq!(Config::default().cluster, None);
        let mut c = Config::default();
        c.apply(&ServeArgs {
            cluster: Some("nats://10.0.0.1:4222".to_owned()),
            ..ServeArgs::default()
        });
        assert_eq!(c.cluster.as_deref(), Some("nats://10.0.0.1:4222"));
        for bad in [
            "http://127.0.0.1:4222",
            "127.0.0.1:4222",
            "nats://",
            "nats://a:1/x",
        ] {
            let text = format!("cluster = \"{bad}\"");
            let err = parse(&text).unwrap().validate().unwrap_err();
            assert!(
                err.to_string().starts_with("config key \"cluster\": "),
                "{bad}: {err}"
            );
        }
        let long = format!(
            "cluster = \"nats://127.0.0.1:4222\"\nnode = \"{}\"",
            "n".repeat(256)
        );
        let err = parse(&long).unwrap().validate().unwrap_err();
        assert!(
            err.to_string().starts_with("config key \"node\": "),
            "{err}"
        );
    }

    #[test]
    fn node_from_file_or_flag_and_never_empty() {
        assert_eq!(parse("node = \"alpha\"").unwrap().node_name(), "alpha");
        let mut c = parse("node = \"alpha\"").unwrap();
        c.apply(&ServeArgs {
            node: Some("beta".to_owned()),
            ..ServeArgs::default()
        });
        assert_eq!(c.node_name(), "beta");
        assert!(Config::default().node_name().starts_with("node-"));
        let err = parse("node = \"\"").unwrap().validate().unwrap_err();
        assert_eq!(err.to_string(), "config key \"node\": must not be empty");
        let err = parse("node = 7").unwrap_err();
        assert!(
            err.to_string().starts_with("config key \"node\": "),
            "{err}"
        );
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
            err.to_string().starts_with("config file \"test.toml\": "),
            "{err}"
        );
    }

    #[test]
    fn zero_values_are_rejected() {
        for key in [
            "max_frame",
            "max_line",
            "max_error_packets",
            "health_interval_ms",
            "max_outbound_bytes",
            "max_connections",
            "backend_max_failures",
            "workers",
        ] {
            let err = parse(&format!("{key} = 0"))
                .unwrap()
                .validate()
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("config key \"{key}\" must be greater than 0")
            );
        }
        parse("idle_timeout_ms = 0\nshutdown_timeout_ms = 0")
            .unwrap()
            .validate()
            .unwrap();
    }

    #[test]
    fn backoff_bounds_must_be_ordered() {
        let err = parse("reconnect_min_ms = 200\nreconnect_max_ms = 100")
            .unwrap()
            .validate()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("reconnect_min_ms") && text.contains("reconnect_max_ms"));
        parse("reconnect_min_ms = 100\nreconnect_max_ms = 100")
            .unwrap()
            .validate()
            .unwrap();
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
    fn tls_keys_are_read_and_flags_override_them() {
        let c =
            parse("tls_cert = \"/c.pem\"\ntls_key = \"/k.pem\"\ntls_handshake_timeout_ms = 300\n")
                .unwrap();
        c.validate().unwrap();
        assert_eq!(c.tls_cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(c.tls_key, Some(PathBuf::from("/k.pem")));
        assert_eq!(c.tls_handshake_timeout(), Duration::from_millis(300));
        let mut c = c;
        c.apply(&ServeArgs {
            tls_key: Some(PathBuf::from("/other.pem")),
            ..ServeArgs::default()
        });
        assert_eq!(c.tls_cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(c.tls_key, Some(PathBuf::from("/other.pem")));
        let err = parse("tls_cert = 1").unwrap_err();
        assert!(
            err.to_string().starts_with("config key \"tls_cert\": "),
            "{err}"
        );
    }

    #[test]
    fn tls_keys_come_in_pairs() {
        let err = parse("tls_cert = \"/c.pem\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config key \"tls_cert\" is set but \"tls_key\" is not: TLS needs both"
        );
        let err = parse("tls_key = \"/k.pem\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().starts_with("config key \"tls_key\" is set"),
            "{err}"
        );
    }

    #[test]
    fn no_file_no_flags_is_defaults() {
        assert_eq!(load(&ServeArgs::default()).unwrap(), Config::default());
    }
}
