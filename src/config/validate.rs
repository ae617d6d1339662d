//! [`Config::validate`]: the values that parse but make no sense, refused with the key.

use super::{Config, ConfigError};

impl Config {
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
        self.history_patterns()?;
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
            switchboard::cluster::ClusterConfig::new(url.expose(), node)
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
        self.validate_websocket()?;
        if self.reconnect_min_ms > self.reconnect_max_ms {
            return Err(ConfigError::Backoff {
                min: self.reconnect_min_ms,
                max: self.reconnect_max_ms,
            });
        }
        self.validate_identity_and_limits()?;
        match self.unsupported_key() {
            Some(key) => Err(ConfigError::NotSupported { key }),
            None => Ok(()),
        }
    }

    /// The keys of identity, limits and the HTTP port.
    fn validate_identity_and_limits(&self) -> Result<(), ConfigError> {
        self.authenticator()?;
        if self.tls_client_ca.is_some() && (self.tls_cert.is_none() || self.tls_key.is_none()) {
            return Err(ConfigError::Invalid {
                key: "tls_client_ca",
                message: "needs \"tls_cert\" and \"tls_key\": client certificates are \
                          asked for in the TLS handshake"
                    .to_owned(),
            });
        }
        if self.max_messages_burst == Some(0) {
            return Err(ConfigError::Zero {
                key: "max_messages_burst",
            });
        }
        if self.max_outbound_total_bytes == 0 {
            return Err(ConfigError::Zero {
                key: "max_outbound_total_bytes",
            });
        }
        if let Some(token) = &self.metrics_token {
            let visible = |b: &u8| b.is_ascii_graphic();
            if token.is_empty() || !token.expose().iter().all(visible) {
                return Err(ConfigError::Invalid {
                    key: "metrics_token",
                    message: "must be printable ASCII without spaces, and not empty".to_owned(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::parse;
    use super::*;
    use crate::cli::ServeArgs;
    use crate::secret::SecretUrl;

    #[test]
    fn cluster_is_a_nats_url_from_file_or_flag() {
        let c = parse("cluster = \"nats://127.0.0.1:4222\"").unwrap();
        assert_eq!(
            c.cluster.as_ref().map(SecretUrl::expose),
            Some("nats://127.0.0.1:4222")
        );
        c.validate().unwrap();
        assert_eq!(Config::default().cluster, None);
        let mut c = Config::default();
        c.apply(&ServeArgs {
            cluster: Some(SecretUrl::new("nats://10.0.0.1:4222")),
            ..ServeArgs::default()
        });
        assert_eq!(
            c.cluster.as_ref().map(SecretUrl::expose),
            Some("nats://10.0.0.1:4222")
        );
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
    fn cluster_credentials_are_read_and_never_shown() {
        for url in [
            "nats://alice:pa55word@127.0.0.1:4222",
            "nats://t0k3n-pa55word@h:4222",
        ] {
            let c = parse(&format!("cluster = \"{url}\"")).unwrap();
            c.validate().unwrap();
            assert_eq!(c.cluster.as_ref().unwrap().expose(), url);
            assert!(!format!("{c:?}").contains("pa55word"));
        }
        for bad in [
            "http://alice:pa55word@127.0.0.1:4222",
            "nats://alice:pa55word@",
            "nats://alice:pa55word@h:1/x",
            "nats://:pa55word@h:1",
        ] {
            let err = parse(&format!("cluster = \"{bad}\""))
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("config key \"cluster\": "), "{err}");
            assert!(!err.contains("pa55word"), "{err}");
        }
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
    fn tls_client_ca_needs_tls() {
        let err = parse("tls_client_ca = \"/ca.pem\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("config key \"tls_client_ca\": needs \"tls_cert\" and \"tls_key\""),
            "{err}"
        );
    }

    #[test]
    fn limits_that_make_no_sense() {
        let err = parse("max_messages_burst = 0")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config key \"max_messages_burst\" must be greater than 0"
        );
        let err = parse("max_outbound_total_bytes = 0")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(
            err.to_string().contains("max_outbound_total_bytes"),
            "{err}"
        );
    }

    #[test]
    fn metrics_token_is_a_visible_word() {
        parse("metrics_token = \"abc-DEF_123.~+/=\"")
            .unwrap()
            .validate_identity_and_limits()
            .unwrap();
        for bad in ["", "two words", "tab\\t", "caf\u{e9}"] {
            let err = parse(&format!("metrics_token = \"{bad}\""))
                .unwrap()
                .validate()
                .unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("config key \"metrics_token\": "), "{text}");
        }
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
}
