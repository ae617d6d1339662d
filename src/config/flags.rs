//! The command-line flags over the file: each flag given replaces one key's value.

use super::Config;
use crate::cli::ServeArgs;

impl Config {
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
        if let Some(token) = &args.metrics_token {
            self.metrics_token = Some(token.clone());
        }
        if let Some(ws_line) = args.ws_line {
            self.ws_line = Some(ws_line);
        }
        if let Some(ws_frame) = args.ws_frame {
            self.ws_frame = Some(ws_frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::parse;
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

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
    fn the_metrics_token_flag_overrides_the_key() {
        let mut c = parse("metrics_token = \"from-file\"").unwrap();
        c.apply(&ServeArgs::default());
        assert!(c.metrics_token.as_ref().unwrap().matches(b"from-file"));
        c.apply(&ServeArgs {
            metrics_token: Some(crate::secret::Secret::new("from-flag")),
            ..ServeArgs::default()
        });
        assert!(c.metrics_token.as_ref().unwrap().matches(b"from-flag"));
        let err = parse("metrics_token = 1").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("config key \"metrics_token\": "),
            "{err}"
        );
    }
}
