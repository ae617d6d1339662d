//! The writer task of one connection: takes what is queued, writes it with vectored
//! writes, and enforces the write timeout.
//!
//! It waits for writability only when the socket is full, and a socket that takes no
//! byte for [`WRITE_TIMEOUT`] aborts the connection. On abort (timeout, I/O error, or a
//! full queue seen by a broadcaster) it stops the reader too, so both halves of the
//! socket are dropped and the peer sees the connection end at once.

use crate::outbound::{Outbound, Taken};
use crate::registry::Registry;
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// Queued bytes with no write progress for this long abort the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Slices handed to one vectored write.
const MAX_IOV: usize = 64;

/// The writing side of one connection.
pub struct Writer {
    /// This connection's id in the registry.
    pub id: u64,
    /// The socket's write half; dropping it shuts the write direction.
    pub socket: OwnedWriteHalf,
    /// This connection's queue.
    pub out: Arc<Outbound>,
    /// Every connection.
    pub registry: Arc<Registry>,
    /// The reader task, stopped when the connection is aborted.
    pub reader: AbortHandle,
}

impl Writer {
    /// Writes until the queue is closed and flushed, or the connection is aborted.
    pub async fn run(self) {
        if self.write_loop().await.is_err() {
            self.out.abort();
            self.reader.abort();
        }
        self.registry.remove(self.id);
    }

    async fn write_loop(&self) -> io::Result<()> {
        let mut taken = VecDeque::new();
        loop {
            match self.out.take(&mut taken) {
                Taken::Data => self.write_all(&mut taken).await?,
                Taken::Empty => self.out.writer_wait().await,
                Taken::Finished => return Ok(()),
                Taken::Aborted => return Err(io::ErrorKind::ConnectionAborted.into()),
            }
        }
    }

    async fn write_all(&self, taken: &mut VecDeque<Bytes>) -> io::Result<()> {
        let mut last_progress = Instant::now();
        while !taken.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let n = taken.len().min(MAX_IOV);
            for (slice, chunk) in slices.iter_mut().zip(taken.iter()) {
                *slice = IoSlice::new(chunk);
            }
            match self.socket.try_write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    advance(taken, written);
                    self.out.written(written);
                    last_progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_writable(last_progress + WRITE_TIMEOUT).await?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Waits for room in the socket until `deadline`; an abort ends the wait early.
    async fn wait_writable(&self, deadline: Instant) -> io::Result<()> {
        loop {
            tokio::select! {
                ready = tokio::time::timeout_at(deadline, self.socket.writable()) => {
                    return match ready {
                        Ok(result) => result,
                        Err(_elapsed) => Err(io::ErrorKind::TimedOut.into()),
                    };
                }
                () = self.out.writer_wait() => {
                    if self.out.is_aborted() {
                        return Err(io::ErrorKind::ConnectionAborted.into());
                    }
                }
            }
        }
    }
}

/// Drops `n` written bytes from the front of `taken`.
fn advance(taken: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = taken.front_mut() else {
            return;
        };
        if front.len() <= n {
            n -= front.len();
            taken.pop_front();
        } else {
            front.advance(n);
            n = 0;
        }
    }
}
