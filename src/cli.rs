//! The command line: `switchboard serve [--config FILE] [--frame ADDR] [--line ADDR]
//! [--backend ADDR]... [--tls-cert FILE --tls-key FILE] [--cluster URL] [--node NAME]
//! [--metrics ADDR]`.
//!
//! Only the shape of the arguments lives here; [`crate::config::load`] merges them with
//! the configuration file (flags win) and validates the result. clap reports malformed
//! flags itself, naming the flag, and exits with status 2.

use crate::secret::{Secret, SecretUrl};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The server's command line.
#[derive(Debug, Clone, Parser)]
#[command(name = "switchboard", version, about = "The Switchboard demo server")]
pub struct Cli {
    /// What to run; `serve` with no flags when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Listen for the `frame` and `line` protocols (see PROTOCOL.md).
    Serve(Box<ServeArgs>),
    /// Load-test any server speaking `frame`; prints one JSON line of figures.
    Bench(crate::bench::BenchArgs),
    /// Run the self-checking supervision demo on loopback.
    Demo(DemoArgs),
}

/// The flags of `demo`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct DemoArgs {
    /// How long the demo runs, in seconds (at least 12).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Serve the live dashboard (and the other read-only monitoring endpoints) over
    /// HTTP on this address while the demo runs.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
}

/// The flags of `serve`; each one overrides the same key of the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ServeArgs {
    /// TOML configuration file; every key is optional.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Listen address of the `frame` protocol (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub frame: Option<SocketAddr>,
    /// Listen address of the `line` protocol (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub line: Option<SocketAddr>,
    /// Backend for REPLICATE, repeatable; replaces the file's `backends` list.
    #[arg(long = "backend", value_name = "ADDR")]
    pub backends: Vec<SocketAddr>,
    /// NATS server through which this server joins a cluster: `nats://HOST:PORT`, with
    /// credentials if NATS asks for them (`nats://USER:PASSWORD@HOST:PORT` or
    /// `nats://TOKEN@HOST:PORT`; never printed).
    #[arg(long, value_name = "URL")]
    pub cluster: Option<SecretUrl>,
    /// This server's name in the cluster (default: a random `node-XXXXXXXX`).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// PEM certificate chain for TLS on both listeners (with a key: `--tls-key` or the
    /// file's `tls_key`).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Listen address of the `line` protocol over WebSocket (text messages).
    #[arg(long, value_name = "ADDR")]
    pub ws_line: Option<SocketAddr>,
    /// Listen address of the `frame` protocol over WebSocket (binary messages).
    #[arg(long, value_name = "ADDR")]
    pub ws_frame: Option<SocketAddr>,
    /// Serve `GET /metrics` (Prometheus), `GET /stats` (JSON), `GET /connections` and
    /// the live dashboard (`GET /`) over HTTP on this address; all read-only. A flag
    /// only: not a configuration key.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// The bearer token every request to the `--metrics` address must carry (header
    /// `Authorization: Bearer TOKEN` or query `?token=TOKEN`); overrides the file's
    /// `metrics_token`. A command line is visible to other local users: prefer the key.
    #[arg(long, value_name = "TOKEN", value_parser = secret)]
    pub metrics_token: Option<Secret>,
}

/// A flag's value kept as a [`Secret`].
fn secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value.to_owned()))
}

impl Cli {
    /// The `serve` arguments; a bare `switchboard` serves with defaults.
    pub fn serve_args(self) -> ServeArgs {
        match self.command {
            Some(Command::Serve(args)) => *args,
            None => ServeArgs::default(),
            Some(Command::Bench(_) | Command::Demo(_)) => ServeArgs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        Cli::try_parse_from(args).map(Cli::serve_args)
    }

    #[test]
    fn definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_serve_with_defaults() {
        assert_eq!(parse(&["switchboard"]).unwrap(), ServeArgs::default());
        assert_eq!(
            parse(&["switchboard", "serve"]).unwrap(),
            ServeArgs::default()
        );
    }

    #[test]
    fn all_flags() {
        let args = parse(&[
            "switchboard",
            "serve",
            "--config",
            "s.toml",
            "--frame",
            "127.0.0.1:0",
            "--line",
            "0.0.0.0:9",
            "--backend",
            "127.0.0.1:9001",
            "--backend",
            "[::1]:9002",
        ])
        .unwrap();
        assert_eq!(args.config, Some(PathBuf::from("s.toml")));
        assert_eq!(args.frame, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(args.line, Some("0.0.0.0:9".parse().unwrap()));
        assert_eq!(args.backends.len(), 2);
        assert_eq!(args.metrics, None);
    }

    #[test]
    fn metrics_address() {
        let args = parse(&["switchboard", "serve", "--metrics", "127.0.0.1:9100"]).unwrap();
        assert_eq!(args.metrics, Some("127.0.0.1:9100".parse().unwrap()));
        let err = parse(&["switchboard", "serve", "--metrics", "nope"]).unwrap_err();
        assert!(err.to_string().contains("--metrics"), "{err}");
    }

    #[test]
    fn metrics_token_is_kept_secret() {
        let args = parse(&[
            "switchboard",
            "serve",
            "--metrics",
            "127.0.0.1:0",
            "--metrics-token",
            "s3cr3t",
        ])
        .unwrap();
        assert!(args.metrics_token.as_ref().unwrap().matches(b"s3cr3t"));
        assert!(!format!("{args:?}").contains("s3cr3t"));
    }

    #[test]
    fn cluster_url() {
        let args = parse(&["switchboard", "serve", "--cluster", "nats://127.0.0.1:4222"]).unwrap();
        assert_eq!(
            args.cluster.as_ref().map(SecretUrl::expose),
            Some("nats://127.0.0.1:4222")
        );
        let args = parse(&["switchboard", "serve", "--cluster", "nats://u:pa55@h:1"]).unwrap();
        assert!(!format!("{args:?}").contains("pa55"));
        assert_eq!(parse(&["switchboard"]).unwrap().cluster, None);
    }

    #[test]
    fn node_name() {
        let args = parse(&["switchboard", "serve", "--node", "alpha"]).unwrap();
        assert_eq!(args.node.as_deref(), Some("alpha"));
        assert_eq!(parse(&["switchboard"]).unwrap().node, None);
    }

    #[test]
    fn tls_files() {
        let args = parse(&[
            "switchboard",
            "serve",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .unwrap();
        assert_eq!(args.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(args.tls_key, Some(PathBuf::from("k.pem")));
        // One alone parses: the other may come from the configuration file.
        let args = parse(&["switchboard", "serve", "--tls-key", "k.pem"]).unwrap();
        assert_eq!(args.tls_cert, None);
    }

    #[test]
    fn bad_address_names_the_flag() {
        let err = parse(&["switchboard", "serve", "--frame", "nope"]).unwrap_err();
        assert!(err.to_string().contains("--frame"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }
}
