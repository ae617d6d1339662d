//! Accepting connections and spreading them over worker threads.
//!
//! One accept loop per listening socket runs on the arbiter that called
//! [`Switchboard::listen`](crate::Switchboard::listen). It accepts only while one of the
//! `max_connections` places (shared by every listener) is free, so at the limit
//! accepting pauses (the kernel's backlog holds new peers) instead of failing; each
//! connection holds its place until its actor is gone; the open-file limit may leave
//! fewer places than `max_connections` (`descriptors.rs`). Each accepted socket is handed, as a
//! `std::net::TcpStream`, to the next of the worker arbiters, where it becomes a
//! connection actor: every core serves connections.
//!
//! With [`SwitchboardConfig::max_connections_per_ip`](crate::SwitchboardConfig), each
//! address may hold that many connections at once over every listener
//! (`addresses.rs`). A connection beyond it is still accepted (it counts in
//! `accepted_total`), answered with the protocol's error reply for
//! [`TOO_MANY_FROM_ADDRESS`] and removed with [`RemovalReason::IpLimit`]; its handler
//! never runs.

mod addresses;
mod descriptors;

pub(crate) use addresses::{AddressCounts, AddressPlace};
pub(crate) use descriptors::connection_capacity;

use crate::connection::{Connection, ConnectionContext, Layers};
use crate::protocol::Protocol;
use crate::stats::DeclareGroup;
use crate::RemovalReason;
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use bytes::Bytes;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// The error a connection refused by the per-address limit is answered with (through
/// the protocol's [`error_reply`](crate::Protocol::error_reply)).
pub const TOO_MANY_FROM_ADDRESS: &str = "too many connections from this address";

/// Creates the protocol value for each new connection.
pub type ProtocolFactory<P> = Arc<dyn Fn() -> P + Send + Sync>;

/// The threads connections live on.
pub struct Workers {
    /// Worker arbiters; empty means "the arbiter that accepted".
    arbiters: Vec<ArbiterHandle>,
    /// Round-robin cursor.
    next: AtomicUsize,
}

impl Workers {
    /// Starts `n` worker arbiters (0: run connections on the accepting arbiter).
    pub fn start(n: usize) -> Self {
        let arbiters = (0..n).map(|_| Arbiter::new().handle()).collect();
        Workers {
            arbiters,
            next: AtomicUsize::new(0),
        }
    }

    /// The worker arbiters (none: connections run on the accepting arbiter).
    pub fn arbiters(&self) -> &[ArbiterHandle] {
        &self.arbiters
    }

    /// The arbiter for the next connection.
    fn pick(&self) -> ArbiterHandle {
        if self.arbiters.is_empty() {
            return Arbiter::current();
        }
        let i = self.next.fetch_add(1, Relaxed) % self.arbiters.len();
        self.arbiters[i].clone()
    }

    /// Stops every worker arbiter.
    pub fn stop(&self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// A running accept loop.
pub struct ListenerHandle {
    /// The address actually bound (a port of 0 resolved).
    pub local_addr: SocketAddr,
    /// The accept loop's task.
    task: JoinHandle<()>,
}

impl ListenerHandle {
    /// Stops accepting; connections already accepted are unaffected.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// What an accept loop shares with the rest of the switchboard.
pub(crate) struct AcceptShared {
    /// Where accepted sockets go.
    pub workers: Arc<Workers>,
    /// What each connection needs.
    pub context: ConnectionContext,
    /// Places left under `max_connections`, shared by every listener.
    pub places: Arc<Semaphore>,
    /// The source of connection ids.
    pub ids: Arc<AtomicU64>,
    /// TLS for every connection of this listener, when set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections per address, shared by every listener, when limited.
    pub addresses: Option<Arc<AddressCounts>>,
}

/// What an accepted connection holds from its listener for as long as its actor lives,
/// and whether a limit refused it.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// One of the `max_connections` places; given back when dropped.
    #[allow(dead_code)] // Held for its drop.
    pub place: Option<OwnedSemaphorePermit>,
    /// Its place in its address's count; given back when dropped.
    pub address: Option<AddressPlace>,
    /// A limit refused it: the error reply and the removal reason it gets at once
    /// (boxed: an admitted connection, held for its whole life, pays one pointer).
    pub refused: Option<Box<Refusal>>,
}

/// A connection refused at accept: answered with `message` (the protocol's error
/// reply) and removed for `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Why it is removed.
    pub reason: RemovalReason,
    /// What its peer is told.
    pub message: &'static str,
}

impl AcceptShared {
    /// The admission of a connection from `peer` holding `place`: refused when its
    /// address has no place left.
    fn admit(&self, peer: SocketAddr, place: OwnedSemaphorePermit) -> Admission {
        let mut admission = Admission {
            place: Some(place),
            ..Admission::default()
        };
        if let Some(addresses) = &self.addresses {
            match addresses.try_take(peer.ip()) {
                Some(address) => admission.address = Some(address),
                None => {
                    tracing::debug!("refusing {peer}: {TOO_MANY_FROM_ADDRESS}");
                    admission.refused = Some(Box::new(Refusal {
                        reason: RemovalReason::IpLimit,
                        message: TOO_MANY_FROM_ADDRESS,
                    }));
                }
            }
        }
        admission
    }
}

/// Starts accepting on `listener` (already bound; set non-blocking here).
pub(crate) fn listen<P: Protocol>(
    listener: std::net::TcpListener,
    factory: ProtocolFactory<P>,
    shared: AcceptShared,
) -> io::Result<ListenerHandle> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let local_addr = listener.local_addr()?;
    shared.context.supervisor().do_send(DeclareGroup(P::NAME));
    let task = actix_rt::spawn(accept_loop(listener, factory, shared));
    Ok(ListenerHandle { local_addr, task })
}

async fn accept_loop<P: Protocol>(
    listener: TcpListener,
    factory: ProtocolFactory<P>,
    shared: AcceptShared,
) {
    let mut failures = descriptors::AcceptFailures::default();
    loop {
        // Wait for a free place without keeping it: several listeners share the places,
        // and one idle in `accept` must not hold a place another listener could use.
        match shared.places.acquire().await {
            Ok(free) => drop(free),
            Err(_closed) => return,
        }
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                if let Some(line) = failures.succeeded(P::NAME) {
                    tracing::info!("{line}");
                }
                accepted
            }
            Err(e) if descriptors::is_connection_error(&e) => {
                tracing::debug!("accept on {}: {e}", P::NAME);
                continue;
            }
            Err(e) => {
                // Out of descriptors or memory: back off instead of spinning, and say
                // so once per run and then in a summary, not once per retry.
                let backoff = failures.failed(Instant::now(), P::NAME, &e);
                if let Some(line) = backoff.log {
                    tracing::warn!("{line}");
                }
                tokio::time::sleep(backoff.pause).await;
                continue;
            }
        };
        // Another listener may have taken the last place meanwhile: then this one
        // socket waits for the next free place before it is served.
        let Ok(place) = shared.places.clone().acquire_owned().await else {
            return;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("set_nodelay for {peer}: {e}");
        }
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("handing over {peer} failed: {e}");
                continue;
            }
        };
        let layers = Layers {
            tls: shared.tls.clone(),
            early: Bytes::new(),
        };
        serve(&shared, &factory, stream, peer, place, layers);
    }
}

/// Hands an accepted socket holding one of the `max_connections` places to the next
/// worker, where it becomes a connection speaking `factory`'s protocol (refused at
/// once if its address is over its limit).
pub(crate) fn serve<P: Protocol>(
    shared: &AcceptShared,
    factory: &ProtocolFactory<P>,
    stream: std::net::TcpStream,
    peer: SocketAddr,
    place: OwnedSemaphorePermit,
    layers: Layers,
) {
    let admission = shared.admit(peer, place);
    let id = shared.ids.fetch_add(1, Relaxed);
    tracing::debug!("accepted {} connection {id} from {peer}", P::NAME);
    let factory = factory.clone();
    let context = shared.context.clone();
    let spawned =
        shared
            .workers
            .pick()
            .spawn_fn(move || match tokio::net::TcpStream::from_std(stream) {
                Ok(stream) => {
                    let protocol = factory();
                    Connection::start_with(id, stream, peer, protocol, context, admission, layers);
                }
                Err(e) => tracing::warn!("registering connection from {peer} failed: {e}"),
            });
    if !spawned {
        tracing::warn!("worker gone; dropped connection from {peer}");
    }
}

/// Pending connections the kernel holds for each listener before accepting.
const BACKLOG: i32 = 1024;

/// Binds a listening socket the way a server wants it: `SO_REUSEADDR` (a restarted
/// server gets its port back at once) and a backlog for bursts of connects.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
