//! [`ConfigError`]: why a configuration cannot be used, naming the key or file at fault.

use super::KEYS;
use std::path::PathBuf;

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
