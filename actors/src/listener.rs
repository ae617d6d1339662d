//! Accepting connections and spreading them over worker threads.
//!
//! One accept loop per listening socket runs on the arbiter that called
//! [`Switchboard::listen`](crate::Switchboard::listen). It accepts only while one of the
//! `max_connections` places (shared by every listener) is free, so at the limit
//! accepting pauses (the kernel's backlog holds new peers) instead of failing; each
//! connection holds its place until its actor is gone. Each accepted socket is handed, as a
//! `std::net::TcpStream`, to the next of the worker arbiters, where it becomes a
//! connection actor: every core serves connections.

use crate::connection::{Connection, ConnectionContext};
use crate::protocol::Protocol;
use crate::stats::DeclareGroup;
use actix::prelude::*;
use actix_rt::ArbiterHandle;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Pause after a failed accept (out of file descriptors, say), so the loop never spins.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

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
    loop {
        // Wait for a free place without keeping it: several listeners share the places,
        // and one idle in `accept` must not hold a place another listener could use.
        match shared.places.acquire().await {
            Ok(free) => drop(free),
            Err(_closed) => return,
        }
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("accept on {} failed: {e}", P::NAME);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
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
        let id = shared.ids.fetch_add(1, Relaxed);
        tracing::debug!("accepted {} connection {id} from {peer}", P::NAME);
        let factory = factory.clone();
        let context = shared.context.clone();
        let tls = shared.tls.clone();
        let spawned =
            shared
                .workers
                .pick()
                .spawn_fn(move || match tokio::net::TcpStream::from_std(stream) {
                    Ok(stream) => {
                        let protocol = factory();
                        let place = Some(place);
                        Connection::start_with(id, stream, peer, protocol, context, place, tls);
                    }
                    Err(e) => tracing::warn!("registering connection from {peer} failed: {e}"),
                });
        if !spawned {
            tracing::warn!("worker gone; dropped connection from {peer}");
        }
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
