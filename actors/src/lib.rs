//! Switchboard: an actor-based TCP connection manager for actix.
//!
//! Applications that hold many long-lived TCP connections (game and chat servers, IoT
//! gateways, cluster replication, proxies) all need the same machinery. Switchboard is
//! that machinery, done carefully:
//!
//! - each connection is an actor owning an outbound queue bounded in bytes and an
//!   error-packet counter; a peer that stops reading is removed after `write_timeout`,
//!   never allowed to grow memory, and every packet accepted for it is either written or
//!   recorded as a [`SendFailure`] with its reason;
//! - connections are grouped by protocol and by any named group (rooms, topics): a
//!   broadcast is encoded once per protocol, and a connection is removed (repeated error
//!   packets, idleness, a slow consumer) always with a [`RemovalReason`] that is logged,
//!   counted and announced as a [`ConnectionRemoved`];
//! - the [`stats`] are what was really written to sockets.
//!
//! An application implements [`Protocol`] (a tokio-util codec plus a handler) and
//! hands a listening socket to [`Switchboard::listen`] (or to
//! [`Switchboard::listen_tls`] with a [`rustls`] server configuration, for TLS). The
//! shortest useful embedding, `examples/minimal_echo.rs` of this crate (`cargo run -p
//! switchboard --example minimal_echo`), is a line echo:
//!
//! ```no_run
#![doc = include_str!("../examples/minimal_echo.rs")]
//! ```
//!
//! Afterwards, [`Switchboard::handle`] (and, inside a handler, [`Outbox::handle`]) is
//! what the application asks: [`Handle::send_to`] one connection (the value is encoded
//! by that connection's codec), [`Handle::broadcast`] to a protocol group,
//! [`Handle::publish`] to a named group, [`Handle::join`] and [`Handle::leave`] on a
//! connection's behalf, [`Handle::list`], [`Handle::inspect`] and [`Handle::close`]
//! connections, [`Handle::subscribe`] to removals, read the [`Handle::stats`].
//!
//! Besides the group of its protocol, a connection can join named groups (rooms,
//! topics): a handler calls [`Outbox::try_join`], [`Outbox::leave`] and
//! [`Outbox::publish`], and its protocol says how a group message looks on its wire with
//! [`Protocol::group_encoder`].
//!
//! A handler that authenticated its peer says so with [`Outbox::authenticate`] and a
//! [`User`] (a name and its [`identity::Permissions`] on groups): the user is then known
//! in listings ([`MemberInfo::user`]), removals, the log span and group encoders
//! ([`GroupEncoder::with_publisher`]), and the handle reaches all of a user's
//! connections ([`Handle::connections_of`], [`Handle::send_to_user`],
//! [`Handle::close_user`]). The switchboard checks the permissions on every join and
//! publish ([`Refusal`], answered with [`Outbox::deny`]: a denial, not an error packet),
//! and enforces the per-user connection limit, the authentication deadline and the
//! message rate ([`config`]). A connection has a timer of its own ([`Outbox::set_timer`],
//! [`Protocol::on_timer`]) and closes with a last reply and a reason of its own
//! ([`Outbox::close_with`]). `examples/chat.rs` of this crate is an authenticated chat on
//! all of it.
//!
//! The rest lives in modules: [`config`] (every knob, with its default), [`codec`]
//! (a line codec every line protocol needs), [`protocol`] (what a handler works with),
//! [`stats`] (the snapshot's parts), [`identity`] (users, permissions, patterns),
//! [`tls`] (client certificates for TLS listeners), [`connector`] (dialling backends,
//! sending to many with acks), [`cluster`] (groups across servers over NATS), [`core`]
//! (the connection's state machine without I/O, for those who drive it themselves) and
//! [`websocket`] (RFC 6455 for the server side without I/O: the handshake, a strict
//! message reader, the server's frames).
//!
//! # Runtime: an actix system, not `#[tokio::main]`
//!
//! Connections, the supervisor and the stats are actix actors: each runs on the thread
//! that started it, spawned with tokio's `spawn_local`, and the worker threads are actix
//! arbiters. So Switchboard needs a running actix system, which provides that thread-local
//! task set and the arbiters. A plain `#[tokio::main]` runtime provides neither, and
//! [`Switchboard::start`] panics with tokio's message "`spawn_local` called from outside
//! of a `task::LocalSet` or `runtime::LocalRuntime`". Start it instead under
//! `#[actix_rt::main]` (as above), inside an actix-web application (`#[actix_web::main]`
//! is an actix system), or with `actix_rt::System::new().block_on(..)` from synchronous
//! code. An application that already runs on a tokio runtime gives the switchboard a
//! thread of its own, since a runtime cannot be started inside another:
//!
//! ```
//! use std::time::Duration;
//! use switchboard::codec::Lines;
//! use switchboard::{Outbox, Protocol, Switchboard, SwitchboardConfig};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! struct Echo;
//!
//! impl Protocol for Echo {
//!     const NAME: &'static str = "echo";
//!     type Request = String;
//!     type Response = String;
//!     type Codec = Lines;
//!     fn codec(&self) -> Lines {
//!         Lines::new(1024)
//!     }
//!     fn handle(&mut self, line: String, out: &mut Outbox<String>) {
//!         out.reply(line);
//!     }
//! }
//!
//! // The switchboard's own thread, running an actix system until the block ends.
//! let echoed = std::thread::spawn(|| {
//!     actix_rt::System::new().block_on(async {
//!         let board = Switchboard::start(SwitchboardConfig::default());
//!         let listener = board.listen(switchboard::bind("127.0.0.1:0".parse()?)?, || Echo)?;
//!         let mut peer = tokio::net::TcpStream::connect(listener.local_addr).await?;
//!         peer.write_all(b"hello\n").await?;
//!         let mut line = String::new();
//!         let mut peer = BufReader::new(peer);
//!         tokio::time::timeout(Duration::from_secs(5), peer.read_line(&mut line)).await??;
//!         listener.stop();
//!         board.shutdown().await;
//!         Ok::<String, Error>(line)
//!     })
//! });
//! let echoed = echoed.join().map_err(|_| "the switchboard thread panicked")?;
//! assert_eq!(echoed?, "hello\n");
//! # Ok::<(), Error>(())
//! ```

#![deny(missing_docs)]

pub mod cluster;
pub mod codec;
pub mod config;
mod connection;
pub mod connector;
pub mod core;
mod error;
mod file_region;
mod groups;
mod handle;
mod handover;
pub mod history;
mod hub;
pub mod identity;
mod listener;
mod member;
pub mod probe;
pub mod protocol;
mod reason;
pub mod stats;
mod status;
mod supervisor;
pub mod tls;
mod traffic;
mod transport;
pub mod websocket;

/// The examples of the README (the repository's, which is also this crate's), compiled
/// and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The TLS library [`Switchboard::listen_tls`] takes its configuration from.
pub use rustls;

pub use crate::core::failures::SendFailure;
pub use config::SwitchboardConfig;
pub use connection::ConnectionReport;
pub use error::{FailureReason, SendError};
pub use file_region::FileRegion;
pub use groups::{GroupEncoder, GroupName};
pub use handle::{Handle, Stopped};
pub use handover::{HandOverError, WebSocketEntry};
pub use identity::User;
pub use listener::{bind, ListenerHandle};
pub use protocol::{Inbound, Outbox, Protocol, Refusal};
pub use reason::RemovalReason;
pub use stats::Snapshot;
pub use supervisor::{BroadcastReport, ConnectionRemoved, Inspected, MemberInfo};
pub use traffic::Traffic;

// The crate's own paths to its plumbing: the messages its actors exchange stay inside.
pub(crate) use crate::core::outbound;
pub(crate) use config::{ConnectionLimits, IdleLimits, SupervisorConfig};
pub(crate) use connection::{Connection, ConnectionContext, Inspect};
pub(crate) use groups::{
    GroupCounts, GroupDeliver, GroupMembers, Join, Leave, ListGroups, Publish, PublishBatch,
    Published,
};
pub(crate) use listener::{ProtocolFactory, Workers};
pub(crate) use member::{Close, Deliver, DeliverBatch, Member};
pub(crate) use stats::Stats;
pub(crate) use status::ConnectionStatus;
pub(crate) use supervisor::{Shutdown, Supervisor};

use crate::core::budget::OutboundBudget;
use actix::{Actor, Addr};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Identifies a connection for as long as the process runs.
pub type ConnId = u64;

/// A running switchboard: the supervisor, the stats actor and the worker threads.
#[derive(Clone)]
pub struct Switchboard {
    /// What the application asks of it; holds the registry of connections.
    handle: Handle,
    /// The aggregated figures.
    stats: Addr<Stats>,
    /// Where connections fan broadcasts and publishes out.
    hubs: hub::Hubs,
    /// The threads connections live on.
    workers: Arc<Workers>,
    /// Places left under `max_connections`, shared by every listener.
    places: Arc<Semaphore>,
    /// How many places there are: `max_connections`, or fewer if the open-file limit
    /// leaves fewer descriptors.
    capacity: usize,
    /// The source of connection ids.
    ids: Arc<AtomicU64>,
    /// The budget of bytes queued for all connections together, when there is one.
    budget: Option<Arc<OutboundBudget>>,
    /// Connections per address over every listener, when limited.
    addresses: Option<Arc<listener::AddressCounts>>,
    /// What it was started with.
    config: Arc<SwitchboardConfig>,
    /// Connections open now on its WebSocket listeners (read by the stats).
    websockets: Arc<AtomicU64>,
}

impl Switchboard {
    /// Starts the actors and worker threads. Call it inside a running actix system.
    pub fn start(config: SwitchboardConfig) -> Self {
        let stats = Stats::default();
        let websockets = stats.websockets();
        let stats = stats.start();
        let mut supervisor = Supervisor::new(config.supervisor.clone(), stats.clone());
        let budget = config.max_outbound_total_bytes.map(OutboundBudget::new);
        if let Some(budget) = &budget {
            supervisor = supervisor.with_budget(budget.clone(), config.trim_memory);
        }
        let hubs = supervisor.hubs().clone();
        let supervisor = supervisor.start();
        if let Some(budget) = &budget {
            let to = supervisor.clone();
            budget.on_exhausted(move |needed| to.do_send(supervisor::Reclaim { needed }));
        }
        let workers = Arc::new(Workers::start(config.workers));
        // After the workers' own descriptors are open.
        let capacity = listener::connection_capacity(&config).min(Semaphore::MAX_PERMITS);
        let mut handle = Handle::new(
            supervisor.clone(),
            config.max_connections_per_user,
            config.max_groups_total,
        );
        if let Some(history) = &config.history {
            let histories = history::Histories::new(history.clone(), workers.arbiters().len());
            histories.start(workers.arbiters(), &hubs, &supervisor);
            supervisor.do_send(supervisor::AttachHistory(histories.clone()));
            handle = handle.with_histories(histories);
        }
        Switchboard {
            handle,
            budget,
            stats,
            hubs,
            workers,
            places: Arc::new(Semaphore::new(capacity)),
            capacity,
            ids: Arc::new(AtomicU64::new(1)),
            addresses: config
                .max_connections_per_ip
                .map(listener::AddressCounts::new),
            config: Arc::new(config),
            websockets,
        }
    }

    /// Accepts connections on `listener`, each speaking the protocol `factory` makes.
    pub fn listen<P, F>(
        &self,
        listener: std::net::TcpListener,
        factory: F,
    ) -> std::io::Result<ListenerHandle>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.accept(listener, Arc::new(factory), None, None)
    }

    /// Accepts TLS connections on `listener` under `tls`, each speaking the protocol
    /// `factory` makes inside TLS. A client whose handshake fails or does not finish
    /// within [`ConnectionLimits::tls_handshake_timeout`] is removed with
    /// [`RemovalReason::TlsHandshake`]. Build the config with this crate's [`rustls`].
    pub fn listen_tls<P, F>(
        &self,
        listener: std::net::TcpListener,
        tls: Arc<rustls::ServerConfig>,
        factory: F,
    ) -> std::io::Result<ListenerHandle>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.accept(listener, Arc::new(factory), Some(tls), None)
    }

    /// Accepts WebSocket connections on `listener`, each speaking the protocol
    /// `factory` makes with one message per packet as `ws` says: the same protocol,
    /// codec and handler as on a stream listener, in the same protocol group and named
    /// groups as its stream connections, under the same limits and rules.
    ///
    /// A client whose handshake fails (answered `400`, `403` or `426`) or does not
    /// finish within [`WebSocketConfig::handshake_timeout`] is removed with
    /// [`RemovalReason::WsHandshake`]. The protocol opens ([`Protocol::on_open`]) once
    /// the handshake is over, with the request at hand ([`Outbox::handshake`]); replies
    /// and deliveries due before then wait for the handshake's response. A connection
    /// the switchboard removes gets a Close frame after its last replies (see
    /// [`WebSocketConfig`]).
    ///
    /// [`WebSocketConfig`]: config::WebSocketConfig
    /// [`WebSocketConfig::handshake_timeout`]: config::WebSocketConfig::handshake_timeout
    pub fn listen_ws<P, F>(
        &self,
        listener: std::net::TcpListener,
        ws: config::WebSocketConfig,
        factory: F,
    ) -> std::io::Result<ListenerHandle>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.accept(listener, Arc::new(factory), None, Some(Arc::new(ws)))
    }

    /// [`listen_ws`](Self::listen_ws) over TLS (`wss://`): the TLS handshake under
    /// `tls` first ([`RemovalReason::TlsHandshake`] if it fails), then the WebSocket
    /// one inside it.
    pub fn listen_wss<P, F>(
        &self,
        listener: std::net::TcpListener,
        tls: Arc<rustls::ServerConfig>,
        ws: config::WebSocketConfig,
        factory: F,
    ) -> std::io::Result<ListenerHandle>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.accept(listener, Arc::new(factory), Some(tls), Some(Arc::new(ws)))
    }

    /// An entry for WebSocket connections that another server accepted and read the
    /// upgrade request of (an actix-web route, say, so that one port serves pages and
    /// the WebSocket): each one handed to [`WebSocketEntry::hand_over`] is served as a
    /// connection of a [`listen_ws`](Self::listen_ws) listener with `ws` and `factory`,
    /// its handshake checked and answered by the switchboard.
    pub fn websocket_entry<P, F>(
        &self,
        ws: config::WebSocketConfig,
        factory: F,
    ) -> WebSocketEntry<P>
    where
        P: Protocol,
        F: Fn() -> P + Send + Sync + 'static,
    {
        WebSocketEntry::new(
            self.accept_shared(None, Some(Arc::new(ws))),
            Arc::new(factory),
        )
    }

    fn accept<P: Protocol>(
        &self,
        listener: std::net::TcpListener,
        factory: ProtocolFactory<P>,
        tls: Option<Arc<rustls::ServerConfig>>,
        ws: Option<Arc<config::WebSocketConfig>>,
    ) -> std::io::Result<ListenerHandle> {
        listener::listen(listener, factory, self.accept_shared(tls, ws))
    }

    /// What the connections of one listener (or entry) share with the switchboard.
    fn accept_shared(
        &self,
        tls: Option<Arc<rustls::ServerConfig>>,
        ws: Option<Arc<config::WebSocketConfig>>,
    ) -> listener::AcceptShared {
        listener::AcceptShared {
            workers: self.workers.clone(),
            context: self.listener_context(ws),
            places: self.places.clone(),
            ids: self.ids.clone(),
            tls,
            addresses: self.addresses.clone(),
        }
    }

    /// What a connection needs from this switchboard (for the connections it dials).
    pub(crate) fn connection_context(&self) -> ConnectionContext {
        self.listener_context(None)
    }

    /// What the connections of a listener need from this switchboard; `ws` for a
    /// WebSocket listener.
    fn listener_context(&self, ws: Option<Arc<config::WebSocketConfig>>) -> ConnectionContext {
        ConnectionContext::new(connection::Shared {
            handle: self.handle.clone(),
            limits: Arc::new(self.config.connection.clone()),
            hubs: self.hubs.clone(),
            budget: self.budget.clone(),
            ws,
            websockets: self.websockets.clone(),
        })
    }

    /// How many connections its listeners hold at once, over all of them:
    /// [`max_connections`](SwitchboardConfig::max_connections), or fewer when the
    /// process's open-file limit leaves fewer descriptors after those open at start and
    /// the [`descriptor_reserve`](SwitchboardConfig::descriptor_reserve) (a warning said
    /// so at start). Beyond it accepting pauses.
    pub fn connection_capacity(&self) -> usize {
        self.capacity
    }

    /// What an application asks of the switchboard: send to, broadcast, publish, list,
    /// inspect and close connections, subscribe to removals, read the stats.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The supervisor actor behind the [`handle`](Self::handle).
    pub(crate) fn supervisor(&self) -> &Addr<Supervisor> {
        self.handle.supervisor()
    }

    /// The stats actor.
    pub(crate) fn stats(&self) -> &Addr<Stats> {
        &self.stats
    }

    /// A fresh connection id (for the connections it dials).
    pub(crate) fn next_id(&self) -> ConnId {
        self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Closes every connection, flushing each for at most the connections'
    /// `close_timeout`, then stops the worker threads, and returns how many connections
    /// were closing. Stop the listeners first; the switchboard takes no connections
    /// afterwards.
    pub async fn shutdown(&self) -> usize {
        let timeout = self.config.connection.close_timeout + std::time::Duration::from_millis(200);
        let closing = self
            .handle
            .supervisor()
            .send(Shutdown { timeout })
            .await
            .unwrap_or(0);
        self.workers.stop();
        closing
    }
}
