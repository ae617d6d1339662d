//! The keys this server reads and checks but cannot enforce yet: set to anything but
//! their default, they refuse to start the server rather than promise what it does not
//! do.
//!
//! Client certificates (`tls_client_ca`) are not wired to the TLS listeners yet: a
//! configuration naming them is refused with
//! [`ConfigError::NotSupported`](super::ConfigError::NotSupported).

use super::Config;

impl Config {
    /// The first key set that this server cannot enforce yet, if any.
    pub fn unsupported_key(&self) -> Option<&'static str> {
        self.tls_client_ca.is_some().then_some("tls_client_ca")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::parse;
    use super::super::ConfigError;

    #[test]
    fn keys_not_enforced_yet_refuse_to_start() {
        {
            let (text, key) = (
                "tls_cert = \"/c\"\ntls_key = \"/k\"\ntls_client_ca = \"/ca\"",
                "tls_client_ca",
            );
            let err = parse(text).unwrap().validate().unwrap_err();
            assert!(
                matches!(err, ConfigError::NotSupported { key: k } if k == key),
                "{text}: {err}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "config key \"{key}\" is not supported yet: this server would not enforce it"
                )
            );
        }
    }

    #[test]
    fn defaults_and_auth_timeout_are_accepted() {
        let text = "max_connections_per_ip = 0\nmax_connections_per_user = 0\n\
                    max_messages_per_s = 0\nmax_outbound_total_bytes = 1073741824\n\
                    max_groups_total = 1000000\nauth_timeout_ms = 500\n";
        let config = parse(text).unwrap();
        assert_eq!(config.unsupported_key(), None);
        config.validate().unwrap();
    }
}
