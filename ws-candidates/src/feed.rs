//! An in-memory socket for the benchmark and the memory measure: reads hand out the
//! bytes loaded into it (then `WouldBlock`, or `Pending` for async readers), writes
//! are counted and dropped. Shared through an `Rc` so that a server that owns its
//! stream can be fed again.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The socket's state.
#[derive(Debug, Default)]
pub struct State {
    /// What reads hand out.
    input: Vec<u8>,
    /// How much of `input` was read.
    at: usize,
    /// Bytes written since the start.
    pub written: usize,
}

/// An in-memory socket; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct Feed(pub Rc<RefCell<State>>);

impl Feed {
    /// Loads `bytes` for the reads to come (what was not read is dropped).
    pub fn load(&self, bytes: &[u8]) {
        let mut state = self.0.borrow_mut();
        state.input.clear();
        state.input.extend_from_slice(bytes);
        state.at = 0;
    }

    /// Bytes written since the start.
    pub fn written(&self) -> usize {
        self.0.borrow().written
    }

    fn hand_out(&self, buf: &mut [u8]) -> usize {
        let mut state = self.0.borrow_mut();
        let n = buf.len().min(state.input.len() - state.at);
        let at = state.at;
        buf[..n].copy_from_slice(&state.input[at..at + n]);
        state.at += n;
        n
    }
}

impl Read for Feed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.hand_out(buf) {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }
}

impl Write for Feed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().written += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Feed {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.hand_out(buf.initialize_unfilled());
        if n == 0 {
            return Poll::Pending;
        }
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Feed {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.borrow_mut().written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = bufs.iter().map(|b| b.len()).sum();
        self.0.borrow_mut().written += n;
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
