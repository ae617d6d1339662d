//! A region of a file sent to a peer without passing through our memory (MINA's
//! `FileRegion`, Netty's `DefaultFileRegion`).
//!
//! A region waits in a connection's outbound queue in order with the packets around
//! it. When it reaches the front, the kernel copies it from the page cache straight to
//! the socket with `sendfile(2)`, at most the per-flush budget per turn, while the socket
//! is writable; the same write timeout and packet accounting apply as to any packet.
//! Its bytes are not held in memory, so they do not count against `max_outbound_bytes`.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// `length` bytes of `file` from `offset`, to be sent to a peer.
#[derive(Debug, Clone)]
pub struct FileRegion {
    /// The open file; shared, so one file can be sent to many peers.
    file: Arc<File>,
    /// Where the next byte to send is read from.
    offset: u64,
    /// Bytes still to send.
    remaining: u64,
}

impl FileRegion {
    /// `length` bytes of an open file from `offset`.
    pub fn new(file: Arc<File>, offset: u64, length: u64) -> Self {
        FileRegion {
            file,
            offset,
            remaining: length,
        }
    }

    /// The whole of the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let file = File::open(path)?;
        let length = file.metadata()?.len();
        Ok(FileRegion::new(Arc::new(file), 0, length))
    }

    /// Bytes still to send.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Marks `n` bytes as sent.
    pub(crate) fn advance(&mut self, n: u64) {
        let n = n.min(self.remaining);
        self.offset += n;
        self.remaining -= n;
    }

    /// Sends up to `limit` bytes of the region to `stream` without blocking; returns how
    /// many the socket took (the region is not advanced: the queue does that). A file
    /// that ends before the region does is an error, never a silent short packet.
    pub(crate) fn send_to(&self, stream: &TcpStream, limit: usize) -> io::Result<usize> {
        let count = (self.remaining.min(limit as u64)) as usize;
        // `try_io` clears the socket's write readiness on WouldBlock, so the connection
        // then waits for writability instead of spinning.
        let sent = stream.try_io(Interest::WRITABLE, || self.transfer(stream, count))?;
        if sent == 0 && count > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ended before its region",
            ));
        }
        Ok(sent)
    }

    /// Reads up to `buf.len()` bytes of the region's front into `buf` (for a transport
    /// that must see the bytes, such as TLS); the region is not advanced.
    pub(crate) fn read_front(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let count = (self.remaining.min(buf.len() as u64)) as usize;
        let n = self.file.read_at(&mut buf[..count], self.offset)?;
        if n == 0 && count > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ended before its region",
            ));
        }
        Ok(n)
    }

    #[cfg(target_os = "linux")]
    fn transfer(&self, stream: &TcpStream, count: usize) -> io::Result<usize> {
        let mut offset = self.offset;
        rustix::fs::sendfile(stream, &*self.file, Some(&mut offset), count).map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    fn transfer(&self, stream: &TcpStream, count: usize) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; count.min(64 * 1024)];
        let n = self.file.read_at(&mut buf, self.offset)?;
        if n == 0 {
            return Ok(0);
        }
        stream.try_write(&buf[..n])
    }
}
