//! WebSocket connections that another server accepted: an HTTP server (actix-web, say)
//! reads a request, sees a WebSocket upgrade on its route, and hands the socket over
//! with the bytes it read, so that one port serves HTTP pages and the WebSocket.
//!
//! From there the connection is exactly one of a [`Switchboard::listen_ws`] listener:
//! the switchboard's own handshake checks the request the HTTP server read (its rules,
//! its `Origin` list, its size bound), answers it, and the protocol opens with it.
//!
//! [`Switchboard::listen_ws`]: crate::Switchboard::listen_ws

use crate::connection::Layers;
use crate::listener::{self, AcceptShared, ProtocolFactory};
use crate::protocol::Protocol;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// Where another server hands over WebSocket connections it accepted, to be served as
/// the protocol `P` under one [`WebSocketConfig`](crate::config::WebSocketConfig)
/// (from [`Switchboard::websocket_entry`](crate::Switchboard::websocket_entry)).
/// Cheap to clone; send it to the threads of the HTTP server.
pub struct WebSocketEntry<P> {
    /// The switchboard's workers, places and ids, and the connections' context.
    shared: Arc<AcceptShared>,
    /// Makes the protocol value of each connection.
    factory: ProtocolFactory<P>,
}

impl<P> Clone for WebSocketEntry<P> {
    fn clone(&self) -> Self {
        WebSocketEntry {
            shared: self.shared.clone(),
            factory: self.factory.clone(),
        }
    }
}

/// Why a connection could not be handed over; the socket is closed when it is dropped.
#[derive(Debug, thiserror::Error)]
pub enum HandOverError {
    /// Every one of the switchboard's `max_connections` places is taken.
    #[error("the switchboard is at max_connections")]
    Full,
    /// The socket could not be made non-blocking.
    #[error("the socket cannot be handed over: {0}")]
    Io(#[from] std::io::Error),
}

impl<P: Protocol> WebSocketEntry<P> {
    pub(crate) fn new(shared: AcceptShared, factory: ProtocolFactory<P>) -> Self {
        shared
            .context
            .supervisor()
            .do_send(crate::stats::DeclareGroup(P::NAME));
        WebSocketEntry {
            shared: Arc::new(shared),
            factory,
        }
    }

    /// Takes over `stream` (from `peer`), from which `read` was read: the upgrade
    /// request's head and any bytes after it. Nothing may have been written to it. The
    /// connection takes one of the `max_connections` places, or is refused when none
    /// is free.
    pub fn hand_over(
        &self,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        read: Bytes,
    ) -> Result<(), HandOverError> {
        stream.set_nonblocking(true)?;
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("set_nodelay for {peer}: {e}");
        }
        let place = self
            .shared
            .places
            .clone()
            .try_acquire_owned()
            .map_err(|_| HandOverError::Full)?;
        let layers = Layers {
            tls: None,
            early: read,
        };
        listener::serve(&self.shared, &self.factory, stream, peer, place, layers);
        Ok(())
    }
}
