//! `switchboard serve`: binds the listeners, runs the protocols on a switchboard, and
//! drains on SIGINT or SIGTERM.
//!
//! Policy lives here (which protocols, which limits, what a signal means); the
//! machinery is the `switchboard` library's.

use crate::backends::Backends;
use crate::cluster_stats::ClusterStats;
use crate::config::Config;
use crate::protocols::frame::FrameProtocol;
use crate::protocols::line::LineProtocol;
use crate::web::{self, Endpoints, WebState};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;
use switchboard::cluster::{ClusterConfig, NatsCluster};
use switchboard::config::{ConnectionLimits, IdleLimits, SupervisorConfig, WebSocketConfig};
use switchboard::rustls;
use switchboard::{ListenerHandle, Switchboard, SwitchboardConfig};
use tokio::signal::unix::{signal, SignalKind};

/// Exit status for a configuration or bind error (PROTOCOL.md).
pub const EXIT_CONFIG: i32 = 2;

/// The library configuration this server configuration implies.
pub fn switchboard_config(config: &Config) -> SwitchboardConfig {
    let connection = ConnectionLimits::default()
        .with_max_outbound_bytes(config.max_outbound_bytes)
        .with_write_timeout(config.write_timeout())
        .with_max_error_packets(config.max_error_packets)
        .with_close_timeout(config.shutdown_timeout())
        .with_read_pause_bytes((config.max_outbound_bytes / 2).max(1))
        .with_frame_timeout(config.frame_timeout())
        .with_idle(IdleLimits::default().with_read(config.heartbeat()))
        .with_tls_handshake_timeout(config.tls_handshake_timeout())
        .with_auth_timeout(config.identity().then(|| config.auth_timeout()))
        .with_max_messages_per_s(config.max_messages_per_s)
        .with_max_messages_burst(config.max_messages_burst.unwrap_or(0));
    let supervisor = SupervisorConfig::default()
        .with_health_interval(config.health_interval())
        .with_idle_timeout(config.idle_timeout());
    SwitchboardConfig::default()
        .with_connection(connection)
        .with_supervisor(supervisor)
        .with_max_connections(config.max_connections)
        .with_workers(config.workers)
        .with_max_connections_per_ip(nonzero(config.max_connections_per_ip))
        .with_max_connections_per_user(nonzero(config.max_connections_per_user))
        .with_max_outbound_total_bytes(Some(config.max_outbound_total_bytes))
        .with_max_groups_total(config.max_groups_total)
        .with_history(config.history())
}

/// A limit of the configuration where 0 means off.
fn nonzero(limit: usize) -> Option<usize> {
    (limit > 0).then_some(limit)
}

/// Binds `addr` for the listener called `name`, naming both in the error.
fn bind(name: &str, addr: SocketAddr) -> Result<TcpListener, String> {
    switchboard::bind(addr).map_err(|e| format!("cannot listen on {name} address {addr}: {e}"))
}

/// Runs the server until a signal, with `/metrics` and `/stats` served over HTTP on
/// `metrics` if given; returns the process exit status.
pub fn run(config: Config, metrics: Option<SocketAddr>) -> i32 {
    let listeners = Listeners::bind(&config);
    let metrics = metrics.map(|addr| bind("metrics", addr)).transpose();
    let tls = crate::tls::from_config(&config).map_err(|e| e.to_string());
    let bound = tls.and_then(|tls| Ok((listeners?, metrics?, tls)));
    let (listeners, metrics, tls) = match bound {
        Ok(bound) => bound,
        Err(message) => {
            eprintln!("switchboard: {message}");
            return EXIT_CONFIG;
        }
    };
    let system = actix_rt::System::new();
    let result = system.block_on(serve(config, listeners, metrics, tls));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("switchboard: {e}");
            1
        }
    }
}

async fn serve(
    config: Config,
    listeners: Listeners,
    metrics: Option<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let running = start_listeners(&config, listeners, tls)?;
    let (board, frame, line) = (&running.board, &running.frame, &running.line);
    let (max_frame, max_line) = (config.max_frame, config.max_line);
    let metrics_addr = metrics.as_ref().map(TcpListener::local_addr).transpose()?;
    let http = match metrics {
        Some(listener) => {
            let state = WebState::new(board.handle().clone(), max_frame, max_line)
                .with_token(config.metrics_token.clone());
            let server = web::http_server(listener, state, Endpoints::Monitoring)?;
            let handle = server.handle();
            actix_rt::spawn(server);
            Some(handle)
        }
        None => None,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening frame {}", frame.local_addr)?;
        writeln!(out, "listening line {}", line.local_addr)?;
        if let Some(ws_line) = &running.ws_line {
            writeln!(out, "listening ws_line {}", ws_line.local_addr)?;
        }
        if let Some(ws_frame) = &running.ws_frame {
            writeln!(out, "listening ws_frame {}", ws_frame.local_addr)?;
        }
        if let Some(addr) = metrics_addr {
            writeln!(out, "listening metrics {addr}")?;
        }
        out.flush()?;
    }
    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM: draining"),
        _ = sigint.recv() => tracing::info!("SIGINT: draining"),
    }
    if let Some(http) = http {
        http.stop(true).await;
    }
    let closed = running.stop().await;
    tracing::info!("shut down; {closed} connections closed");
    #[cfg(feature = "probe")]
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "probe {}", switchboard::probe::report().to_json())?;
        out.flush()?;
    }
    Ok(())
}

/// A server running in this process: what `serve` runs until a signal, and what the
/// demo drives.
pub struct Running {
    /// The switchboard every connection lives on.
    pub board: Switchboard,
    /// The outbound connections to the configured backends.
    pub backends: Backends,
    /// The `frame` listener.
    pub frame: ListenerHandle,
    /// The `line` listener.
    pub line: ListenerHandle,
    /// The `ws_line` listener, if one is configured.
    pub ws_line: Option<ListenerHandle>,
    /// The `ws_frame` listener, if one is configured.
    pub ws_frame: Option<ListenerHandle>,
    /// This server's node name (`node`, or the random one it was given).
    pub node: String,
}

/// Starts the switchboard, the backends and both protocols on already-bound listeners,
/// over TLS if `config` has `tls_cert` and `tls_key`. Call it inside a running actix
/// system.
pub fn start(config: &Config, frame: TcpListener, line: TcpListener) -> std::io::Result<Running> {
    let tls = crate::tls::from_config(config).map_err(std::io::Error::other)?;
    start_with(config, frame, line, tls)
}

/// The server's listening sockets, bound before it starts.
pub struct Listeners {
    /// For `frame`.
    pub frame: TcpListener,
    /// For `line`.
    pub line: TcpListener,
    /// For `line` over WebSocket, if configured.
    pub ws_line: Option<TcpListener>,
    /// For `frame` over WebSocket, if configured.
    pub ws_frame: Option<TcpListener>,
}

impl Listeners {
    /// Binds every address `config` names, naming the listener of an address that
    /// cannot be bound.
    pub fn bind(config: &Config) -> Result<Listeners, String> {
        let optional = |name, addr: Option<SocketAddr>| addr.map(|a| bind(name, a)).transpose();
        Ok(Listeners {
            frame: bind("frame", config.frame)?,
            line: bind("line", config.line)?,
            ws_line: optional("ws_line", config.ws_line)?,
            ws_frame: optional("ws_frame", config.ws_frame)?,
        })
    }
}

/// [`start`] with the TLS configuration already loaded (`None`: plain TCP).
pub fn start_with(
    config: &Config,
    frame: TcpListener,
    line: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    let listeners = Listeners {
        frame,
        line,
        ws_line: None,
        ws_frame: None,
    };
    start_listeners(config, listeners, tls)
}

/// Starts the switchboard, the backends and the protocols on every listener of
/// `listeners`, the WebSocket ones included, over TLS when `tls` is given (`wss` for
/// the WebSocket ones).
pub fn start_listeners(
    config: &Config,
    listeners: Listeners,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<Running> {
    let Listeners {
        frame,
        line,
        ws_line,
        ws_frame,
    } = listeners;
    let authenticator = config
        .authenticator()
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .map(Arc::new);
    let board = Switchboard::start(switchboard_config(config));
    let (max_frame, max_line) = (config.max_frame, config.max_line);
    let max_groups = config.max_groups;
    let backends = Backends::start(&board, config);
    let replicate_to = backends.clone();
    let node = config.node_name();
    tracing::info!("node {node}");
    let cluster = match &config.cluster {
        Some(url) => {
            let link =
                NatsCluster::start(cluster_config(config, url.expose(), &node), board.handle())
                    .map_err(|e| std::io::Error::other(format!("config key \"cluster\": {e}")))?;
            link.attach(board.handle());
            ClusterStats::with_link(link)
        }
        None => ClusterStats::new(node.as_str()),
    };
    // Built once: each connection gets a clone, which shares the commands' context.
    let frame_protocol = FrameProtocol::with_backends(max_frame, replicate_to)
        .with_cluster(cluster.clone())
        .with_max_groups(max_groups)
        .with_authenticator(authenticator.clone());
    let frame_protocol = move || frame_protocol.clone();
    let line_protocol = LineProtocol::new(max_line)
        .with_cluster(cluster)
        .with_max_groups(max_groups)
        .with_authenticator(authenticator);
    let line_protocol = move || line_protocol.clone();
    let ws_line = ws_line
        .map(|l| {
            listen_ws(
                &board,
                l,
                &tls,
                config.ws_line_config(),
                line_protocol.clone(),
            )
        })
        .transpose()?;
    let ws_frame = ws_frame
        .map(|l| {
            listen_ws(
                &board,
                l,
                &tls,
                config.ws_frame_config(),
                frame_protocol.clone(),
            )
        })
        .transpose()?;
    let (frame, line) = match &tls {
        Some(tls) => (
            board.listen_tls(frame, tls.clone(), frame_protocol)?,
            board.listen_tls(line, tls.clone(), line_protocol)?,
        ),
        None => (
            board.listen(frame, frame_protocol)?,
            board.listen(line, line_protocol)?,
        ),
    };
    Ok(Running {
        board,
        backends,
        frame,
        line,
        ws_line,
        ws_frame,
        node,
    })
}

/// Serves `factory`'s protocol over WebSocket on `listener`, inside TLS (`wss`) when
/// `tls` is given.
fn listen_ws<P: switchboard::Protocol>(
    board: &Switchboard,
    listener: TcpListener,
    tls: &Option<Arc<rustls::ServerConfig>>,
    ws: WebSocketConfig,
    factory: impl Fn() -> P + Send + Sync + 'static,
) -> std::io::Result<ListenerHandle> {
    match tls {
        Some(tls) => board.listen_wss(listener, tls.clone(), ws, factory),
        None => board.listen_ws(listener, ws, factory),
    }
}

/// How this server joins the cluster at `url` as `node`: reconnecting within the
/// backends' backoff bounds.
fn cluster_config(config: &Config, url: &str, node: &str) -> ClusterConfig {
    ClusterConfig::new(url, node)
        .with_reconnect_min(Duration::from_millis(config.reconnect_min_ms.max(1)))
        .with_reconnect_max(Duration::from_millis(config.reconnect_max_ms.max(1)))
}

impl Running {
    /// Stops accepting and dialling, then closes every connection, flushing each for
    /// at most `shutdown_timeout_ms`; returns how many were closing.
    pub async fn stop(&self) -> usize {
        self.frame.stop();
        self.line.stop();
        for ws in [&self.ws_line, &self.ws_frame].into_iter().flatten() {
            ws.stop();
        }
        self.backends.stop();
        self.board.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn heartbeat_and_frame_timeout_reach_the_connection_limits() {
        let config = Config {
            heartbeat_ms: 250,
            frame_timeout_ms: 700,
            ..Config::default()
        };
        let limits = switchboard_config(&config).connection;
        assert_eq!(limits.idle.read, Some(Duration::from_millis(250)));
        assert_eq!((limits.idle.write, limits.idle.all), (None, None));
        assert_eq!(limits.frame_timeout, Duration::from_millis(700));
        let off = switchboard_config(&Config::default()).connection;
        assert_eq!(off.idle, IdleLimits::default(), "heartbeat_ms 0 is off");
        assert_eq!(off.frame_timeout, Duration::from_secs(30));
    }

    #[test]
    fn identity_and_the_limits_reach_the_library() {
        let config = Config {
            jwt_secret: Some(crate::secret::Secret::new("s")),
            auth_timeout_ms: 300,
            max_connections_per_ip: 10,
            max_connections_per_user: 3,
            max_messages_per_s: 200,
            max_messages_burst: Some(50),
            max_outbound_total_bytes: 64 << 20,
            max_groups_total: 7,
            ..Config::default()
        };
        let library = switchboard_config(&config);
        let limits = &library.connection;
        assert_eq!(limits.auth_timeout, Some(Duration::from_millis(300)));
        assert_eq!(
            (limits.max_messages_per_s, limits.max_messages_burst),
            (200, 50)
        );
        assert_eq!(library.max_connections_per_ip, Some(10));
        assert_eq!(library.max_connections_per_user, Some(3));
        assert_eq!(library.max_outbound_total_bytes, Some(64 << 20));
        assert_eq!(library.max_groups_total, 7);
        // Without users or jwt_secret nobody must authenticate, whatever the timeout.
        let anonymous = Config {
            auth_timeout_ms: 300,
            ..Config::default()
        };
        assert_eq!(switchboard_config(&anonymous).connection.auth_timeout, None);
    }

    #[test]
    fn the_default_file_maps_onto_the_library_defaults() {
        // The server states no default of its own for the library's knobs: an empty
        // configuration gives the library exactly its defaults.
        assert_eq!(
            switchboard_config(&Config::default()),
            SwitchboardConfig::default()
        );
        assert_eq!(
            crate::backends::destination_config(&Config::default()).health_timeout,
            switchboard::connector::DestinationConfig::default().health_timeout
        );
    }
}
