//! The transport under a connection: plain TCP, or TLS on top of it.
//!
//! The connection actor waits for readiness on the socket and then calls these
//! methods, which never block: a socket with nothing to read or no room to write
//! answers `WouldBlock`. Plain TCP passes bytes straight through; TLS
//! ([`rustls::ServerConnection`], itself free of I/O) encrypts and decrypts in between
//! and reports which application bytes have really reached the socket.

use crate::FileRegion;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use tokio::net::TcpStream;

/// Why a read failed.
#[derive(Debug)]
#[allow(dead_code)] // the TLS variants are built once the TLS transport lands
pub(crate) enum ReadFailure {
    /// The socket failed (or has nothing now: `WouldBlock`).
    Io(io::Error),
    /// The TLS handshake failed: a plain-text client, a bad certificate.
    Handshake(String),
    /// The TLS layer failed after the handshake.
    Tls(String),
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
}

impl Transport {
    /// Reads application bytes into `buf`; `Ok(0)` is the peer's end of stream.
    pub fn read(&mut self, io: &TcpStream, buf: &mut [u8]) -> Result<usize, ReadFailure> {
        match self {
            Transport::Plain => Ok(io.try_read(buf)?),
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
        }
    }

    /// Offers at most `budget` bytes of the region's front.
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
        }
    }

    /// Writes what the transport holds of its own (TLS records); answers the
    /// application bytes thereby confirmed.
    pub fn flush(&mut self, _io: &TcpStream) -> io::Result<usize> {
        match self {
            Transport::Plain => Ok(0),
        }
    }

    /// Whether the transport holds bytes of its own for the socket.
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain => false,
        }
    }

    /// Whether a handshake is still under way (nothing to send before it ends).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain => false,
        }
    }

    /// Ends the outbound stream: TLS says `close_notify`, then the write half shuts.
    pub fn shutdown(&mut self, io: &TcpStream) -> io::Result<()> {
        socket2::SockRef::from(io).shutdown(Shutdown::Write)
    }
}
