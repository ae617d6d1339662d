//! The WebSocket opening handshake as a transport stage, over plain TCP or TLS.
//!
//! Like TLS, the stage sits between the socket and the connection's core until its
//! handshake is over: it reads the client's HTTP request itself (bounded), answers it
//! with `101 Switching Protocols` or an error status, and only then lets bytes through
//! in both directions. The response is the stage's own: it goes out before anything
//! the core queued (replies and deliveries due before the `101` wait for it), and it is
//! not counted as the core's (under TLS, the records confirmed for it are taken off
//! what the inner session confirms). After the handshake the stage only hands on the
//! bytes that arrived with the request, then passes everything through.

use super::{ReadFailure, Transport, Written};
use crate::websocket::{Handshake, HandshakeConfig, Refusal, Request};
use bytes::{Buf, Bytes, BytesMut};
use std::io::{self, IoSlice};
use tokio::net::TcpStream;

/// Where the handshake is.
enum Stage {
    /// Reading the request; `head` holds what arrived of it.
    Reading {
        /// The handshake's rules and progress.
        handshake: Handshake,
        /// The request's bytes so far (and any frames sent right after it).
        head: BytesMut,
    },
    /// The request was accepted: the response goes out first, then bytes flow.
    Accepted,
    /// The request was refused: nothing but the response is written, nothing read.
    Refused,
}

/// The WebSocket handshake over an inner transport (plain TCP or TLS).
pub(crate) struct WsUpgrade {
    /// The transport underneath.
    inner: Transport,
    /// Where the handshake is.
    stage: Stage,
    /// The bound on the request's size.
    max_request_bytes: usize,
    /// The response not yet taken by the inner transport.
    response: Bytes,
    /// Bytes of the response the inner transport took and has not yet reported as
    /// confirmed: what it confirms next is theirs first, not the core's.
    uncounted: usize,
    /// Bytes that arrived after the request, handed to the core before the socket's.
    early: BytesMut,
    /// The accepted request, until the connection takes it for `on_open`.
    request: Option<Request>,
    /// Bytes handed in at the start wait in `head`, not in the socket: the first read
    /// must not wait for the socket to be readable.
    handed_in: bool,
}

impl WsUpgrade {
    /// A handshake under `config` over `inner`, with `early` bytes of the request
    /// already read (by an HTTP server that handed the connection over, say).
    pub fn new(inner: Transport, config: HandshakeConfig, early: Bytes) -> Self {
        let max_request_bytes = config.max_request_bytes;
        WsUpgrade {
            inner,
            stage: Stage::Reading {
                handshake: Handshake::new(config),
                head: BytesMut::from(&early[..]),
            },
            max_request_bytes,
            response: Bytes::new(),
            uncounted: 0,
            handed_in: !early.is_empty(),
            early: BytesMut::new(),
            request: None,
        }
    }

    /// Whether bytes wait here to be read, whatever the socket's readiness.
    pub fn has_buffered(&self) -> bool {
        self.handed_in || !self.early.is_empty()
    }

    /// The transport underneath.
    pub fn inner(&self) -> &Transport {
        &self.inner
    }

    /// Whether the handshake (the inner one, then this one) is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking() || !matches!(self.stage, Stage::Accepted)
    }

    /// Whether bytes of the stage's own (the response) or the inner transport's wait.
    pub fn wants_write(&self) -> bool {
        !self.response.is_empty() || self.inner.wants_write()
    }

    /// The accepted request, once.
    pub fn take_request(&mut self) -> Option<Request> {
        self.request.take()
    }

    /// Reads application bytes into `buf`: during the handshake, reads the request
    /// and answers `WouldBlock` once the socket is empty; a refused request is a
    /// [`ReadFailure::WsHandshake`] (its response written where the socket takes it).
    pub fn read(&mut self, io: &TcpStream, buf: &mut [u8]) -> Result<usize, ReadFailure> {
        self.handed_in = false;
        loop {
            match &mut self.stage {
                Stage::Refused => return Err(io::Error::from(io::ErrorKind::WouldBlock).into()),
                Stage::Accepted if !self.early.is_empty() => {
                    let n = buf.len().min(self.early.len());
                    buf[..n].copy_from_slice(&self.early[..n]);
                    self.early.advance(n);
                    if self.early.is_empty() {
                        self.early = BytesMut::new();
                    }
                    return Ok(n);
                }
                Stage::Accepted => return self.inner.read(io, buf),
                Stage::Reading { handshake, head } => {
                    if let Some(outcome) = handshake.read(head) {
                        let rest = std::mem::take(head);
                        return match outcome {
                            Ok(accepted) => {
                                self.stage = Stage::Accepted;
                                // An empty rest would keep the head's allocation.
                                if !rest.is_empty() {
                                    self.early = rest;
                                }
                                self.request = Some(accepted.request);
                                self.response = accepted.response;
                                continue;
                            }
                            Err(refusal) => Err(self.refuse(io, refusal)),
                        };
                    }
                    // Never more than one byte past the bound is held: the handshake
                    // refuses the request as soon as it passes it.
                    let room = (self.max_request_bytes + 1).saturating_sub(head.len());
                    let room = room.max(1).min(buf.len());
                    let n = self.inner.read(io, &mut buf[..room])?;
                    if n == 0 {
                        return Ok(0);
                    }
                    head.extend_from_slice(&buf[..n]);
                }
            }
        }
    }

    /// The request was refused: the response is written now, where the socket takes
    /// it, and the connection is to close.
    fn refuse(&mut self, io: &TcpStream, refusal: Refusal) -> ReadFailure {
        self.stage = Stage::Refused;
        self.response = refusal.response;
        self.write_last(io);
        ReadFailure::WsHandshake(format!("{} {}", refusal.status, refusal.reason))
    }

    /// A connection removed while its request was still awaited (its deadline
    /// passed): answered `400` where the socket takes it (not during a TLS
    /// handshake, where nothing can be written yet).
    pub fn abandon(&mut self, io: &TcpStream, reason: &'static str) {
        if matches!(self.stage, Stage::Reading { .. }) && !self.inner.is_handshaking() {
            self.stage = Stage::Refused;
            self.response = Refusal::new(400, reason).response;
            self.write_last(io);
        }
    }

    /// Writes the refusal's response once, as far as the socket takes it now: the
    /// connection closes right after. On plain TCP the system call is made whatever
    /// tokio knows of the socket's readiness (a socket handed over by another server
    /// may not have been polled for it yet).
    fn write_last(&mut self, io: &TcpStream) {
        let sent = match &self.inner {
            Transport::Plain => socket2::SockRef::from(io).send(&self.response),
            _ => self.flush(io).map(|_| 0),
        };
        if let Ok(n) = sent {
            self.response.advance(n.min(self.response.len()));
        }
    }

    /// Offers the core's bytes (after the handshake and its response).
    pub fn write(&mut self, io: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<Written> {
        if !matches!(self.stage, Stage::Accepted) || !self.response.is_empty() {
            return Ok(Written::default());
        }
        let mut written = self.inner.write(io, bufs)?;
        written.confirmed = self.count(written.confirmed);
        Ok(written)
    }

    /// Writes the response (or the inner transport's own bytes); answers the core's
    /// bytes thereby confirmed.
    pub fn flush(&mut self, io: &TcpStream) -> io::Result<usize> {
        if !self.response.is_empty() && !self.inner.wants_write() && !self.inner.is_handshaking() {
            let written = self.inner.write(io, &[IoSlice::new(&self.response)])?;
            if written.taken == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.response.advance(written.taken);
            if self.response.is_empty() {
                // Written: its allocation goes.
                self.response = Bytes::new();
            }
            self.uncounted += written.taken;
            return Ok(self.count(written.confirmed));
        }
        let confirmed = self.inner.flush(io)?;
        Ok(self.count(confirmed))
    }

    /// Of `confirmed` bytes the inner transport reports, those that are the core's:
    /// the response's come first.
    fn count(&mut self, confirmed: usize) -> usize {
        let own = confirmed.min(self.uncounted);
        self.uncounted -= own;
        confirmed - own
    }

    /// Ends the outbound stream.
    pub fn shutdown(&mut self, io: &TcpStream) -> io::Result<()> {
        self.inner.shutdown(io)
    }

    /// Whether the stage has nothing left to do: the handshake accepted, its response
    /// written and counted off, what came with the request handed on, the request
    /// taken. The connection then needs only the transport underneath.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Accepted)
            && self.response.is_empty()
            && self.uncounted == 0
            && self.early.is_empty()
            && !self.handed_in
            && self.request.is_none()
    }

    /// The transport underneath, the stage gone.
    pub fn into_inner(self) -> Transport {
        self.inner
    }

    /// The inner transport, to send a file region through (only after the handshake).
    pub fn inner_mut(&mut self) -> &mut Transport {
        &mut self.inner
    }
}
