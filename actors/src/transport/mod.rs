//! The transport under a connection: plain TCP, or TLS on top of it, and the
//! WebSocket handshake on top of either.
//!
//! The connection actor waits for readiness on the socket and then calls these
//! methods, which never block: a socket with nothing to read or no room to write
//! answers `WouldBlock`. Plain TCP passes bytes straight through; TLS
//! ([`rustls::ServerConnection`], itself free of I/O) encrypts and decrypts in between
//! and reports which application bytes have really reached the socket; the WebSocket
//! stage (`ws.rs`) reads the opening request and writes its response, then lets bytes
//! through (the frames themselves are the connection core's).

mod tls;
mod ws;

use crate::FileRegion;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use tls::TlsSession;
use tokio::net::TcpStream;
use ws::WsUpgrade;

/// Bytes of a file region read for TLS at once (one record's worth).
const FILE_CHUNK: usize = 16 * 1024;

/// A TLS peer's verified certificate chain, end entity first, shared by whoever reads it.
pub type PeerCertificates = Arc<[rustls::pki_types::CertificateDer<'static>]>;

/// Why a read failed.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The socket failed (or has nothing now: `WouldBlock`).
    Io(io::Error),
    /// The TLS handshake failed: a plain-text client, a bad certificate.
    Handshake(String),
    /// The TLS layer failed after the handshake.
    Tls(String),
    /// The WebSocket handshake was refused (its response written): the status and why.
    WsHandshake(String),
}

impl From<io::Error> for ReadFailure {
    fn from(e: io::Error) -> Self {
        ReadFailure::Io(e)
    }
}

/// What a write achieved: bytes taken from the offer, and bytes now known to have
/// reached the socket (equal for plain TCP).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// Application bytes the transport took.
    pub taken: usize,
    /// Application bytes that reached the socket.
    pub confirmed: usize,
}

/// Plain TCP or TLS.
pub(crate) enum Transport {
    /// Bytes go to the socket as they are.
    Plain,
    /// Bytes are encrypted by a TLS session first.
    Tls(Box<TlsSession>),
    /// The WebSocket handshake over one of the others, then its bytes as they are.
    Ws(Box<WsUpgrade>),
}

/// The nonblocking socket as `Read + Write` for rustls: `WouldBlock` clears tokio's
/// readiness, so the connection then waits instead of spinning.
struct Socket<'a>(&'a TcpStream);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport {
    /// A TLS transport that waits for the client's handshake under `config`.
    pub fn tls(config: Arc<rustls::ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Transport::Tls(Box::new(TlsSession::new(config)?)))
    }

    /// This transport under a WebSocket handshake of `config`, with `early` bytes of
    /// the request already read.
    pub fn websocket(self, config: crate::websocket::HandshakeConfig, early: bytes::Bytes) -> Self {
        Transport::Ws(Box::new(WsUpgrade::new(self, config, early)))
    }

    /// Reads application bytes into `buf`; `Ok(0)` is the peer's end of stream.
    pub fn read(&mut self, io: &TcpStream, buf: &mut [u8]) -> Result<usize, ReadFailure> {
        match self {
            Transport::Plain => Ok(io.try_read(buf)?),
            Transport::Tls(tls) => tls.read(&mut Socket(io), buf),
            Transport::Ws(ws) => ws.read(io, buf),
        }
    }

    /// Offers the slices; answers what was taken and what reached the socket.
    pub fn write(&mut self, io: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<Written> {
        match self {
            Transport::Plain => {
                let n = io.try_write_vectored(bufs)?;
                Ok(Written {
                    taken: n,
                    confirmed: n,
                })
            }
            Transport::Tls(tls) => tls.write(&mut Socket(io), bufs),
            Transport::Ws(ws) => ws.write(io, bufs),
        }
    }

    /// Offers at most `budget` bytes of the region's front: zero-copy for plain TCP,
    /// read and encrypted for TLS.
    pub fn send_file(
        &mut self,
        io: &TcpStream,
        region: &FileRegion,
        budget: usize,
    ) -> io::Result<Written> {
        match self {
            Transport::Plain => {
                let n = region.send_to(io, budget)?;
                Ok(Written {
                    taken: n,
                    confirmed: n,
                })
            }
            Transport::Tls(tls) => {
                let mut chunk = [0u8; FILE_CHUNK];
                let n = region.read_front(&mut chunk[..budget.clamp(1, FILE_CHUNK)])?;
                tls.write(&mut Socket(io), &[IoSlice::new(&chunk[..n])])
            }
            // The core queues no file for a WebSocket (a file is not a message).
            Transport::Ws(ws) => ws.inner_mut().send_file(io, region, budget),
        }
    }

    /// Writes what the transport holds of its own (TLS records); answers the
    /// application bytes thereby confirmed. A `close_notify` once out shuts the write
    /// half.
    pub fn flush(&mut self, io: &TcpStream) -> io::Result<usize> {
        match self {
            Transport::Plain => Ok(0),
            Transport::Tls(tls) => {
                let confirmed = tls.flush(&mut Socket(io))?;
                if tls.close_ready() {
                    shutdown_write(io)?;
                }
                Ok(confirmed)
            }
            Transport::Ws(ws) => ws.flush(io),
        }
    }

    /// Whether bytes go to and from the socket as they are: then a read shorter than
    /// its buffer has emptied the socket.
    pub fn is_plain(&self) -> bool {
        matches!(self, Transport::Plain)
    }

    /// Whether the transport holds bytes of its own for the socket.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.wants_write(),
            Transport::Ws(ws) => ws.wants_write(),
        }
    }

    /// Whether a handshake is still under way (nothing to send before it ends).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.is_handshaking(),
            Transport::Ws(ws) => ws.is_handshaking(),
        }
    }

    /// Whether a TLS handshake is still under way (under a WebSocket one too).
    pub fn is_tls_handshaking(&self) -> bool {
        match self {
            Transport::Plain => false,
            Transport::Tls(tls) => tls.is_handshaking(),
            Transport::Ws(ws) => ws.inner().is_tls_handshaking(),
        }
    }

    /// Drops the WebSocket stage once it has nothing left to do (see
    /// `WsUpgrade::is_done`): an open WebSocket connection keeps only the transport
    /// underneath, as a stream connection does.
    pub fn settle(&mut self) {
        if matches!(self, Transport::Ws(ws) if ws.is_done()) {
            if let Transport::Ws(ws) = std::mem::replace(self, Transport::Plain) {
                *self = ws.into_inner();
            }
        }
    }

    /// Whether bytes already read from the socket wait in the transport: read them
    /// without waiting for the socket to be readable.
    pub fn has_buffered(&self) -> bool {
        match self {
            Transport::Ws(ws) => ws.has_buffered(),
            _ => false,
        }
    }

    /// The request of a WebSocket handshake that finished, once.
    pub fn take_request(&mut self) -> Option<crate::websocket::Request> {
        match self {
            Transport::Ws(ws) => ws.take_request(),
            _ => None,
        }
    }

    /// A WebSocket connection removed while its request was still awaited: answered
    /// `400` with `reason` where the socket takes it.
    pub fn abandon_handshake(&mut self, io: &TcpStream, reason: &'static str) {
        if let Transport::Ws(ws) = self {
            ws.abandon(io, reason);
        }
    }

    /// The verified certificate chain the TLS peer presented (end entity first), if
    /// it presented one.
    pub fn peer_certificates(&self) -> Option<PeerCertificates> {
        match self {
            Transport::Plain => None,
            Transport::Tls(tls) => tls.peer_certificates().map(Arc::from),
            Transport::Ws(ws) => ws.inner().peer_certificates(),
        }
    }

    /// Ends the outbound stream: TLS says `close_notify`, then the write half shuts
    /// (once the `close_notify` is out, if the socket is full now).
    pub fn shutdown(&mut self, io: &TcpStream) -> io::Result<()> {
        match self {
            Transport::Plain => shutdown_write(io),
            Transport::Tls(tls) => {
                if tls.close(&mut Socket(io))? {
                    shutdown_write(io)?;
                }
                Ok(())
            }
            Transport::Ws(ws) => ws.shutdown(io),
        }
    }
}

fn shutdown_write(io: &TcpStream) -> io::Result<()> {
    socket2::SockRef::from(io).shutdown(Shutdown::Write)
}
