//! The reader task of one WebSocket connection (`--ws-frame`): the `frame` protocol's
//! bodies in binary messages, as `switchboard serve`'s `ws_frame` speaks it, written
//! directly on the same sans-IO WebSocket layer (`switchboard::websocket`) and on the
//! baseline's own queue and writer.
//!
//! The handshake's response, then each ECHO answered with its body in one binary
//! message (a run of ECHO messages of one read queued as one buffer), each BROADCAST
//! framed once and queued to every WebSocket member (the registry of `--ws-frame`
//! holds only them), PING answered PONG, a client's Ping answered with its Pong, a
//! client's Close with the same code, a violation with its close code. Nothing else
//! (no groups, no STATS): the echo and fanout benchmarks need no more, and every other
//! frame is an error packet.

use crate::outbound::{Outbound, Refused, PAUSE_ABOVE};
use crate::registry::Registry;
use baseline::wire;
use bytes::{Bytes, BytesMut};
use std::io;
use std::sync::Arc;
use switchboard::websocket::{encode_message, Event, HandshakeConfig, MessageKind, Session};
use tokio::net::tcp::OwnedReadHalf;

/// Error packets over a connection's lifetime before it is closed.
const MAX_ERROR_PACKETS: u32 = 3;
/// Bytes reserved for a read.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read from one peer before yielding to the others.
const READ_BUDGET: usize = 64 * 1024;
/// The largest frame body (PROTOCOL.md's default `max_frame`).
const MAX_FRAME: usize = 65536;

/// The reading side of one WebSocket connection.
pub struct WsReader {
    /// This connection's id in the registry.
    pub id: u64,
    /// The socket's read half.
    pub socket: OwnedReadHalf,
    /// This connection's own queue.
    pub out: Arc<Outbound>,
    /// Every WebSocket connection, for BROADCAST.
    pub registry: Arc<Registry>,
    /// Bytes read and not yet handled; released when empty.
    pub buf: BytesMut,
    /// The handshake, the message reader and the closing handshake.
    pub session: Session,
    /// Replies of one read, framed, queued together.
    pub replies: BytesMut,
    /// Error packets so far.
    pub errors: u32,
}

impl WsReader {
    /// A reader for a registered connection, waiting for its handshake.
    pub fn new(
        id: u64,
        socket: OwnedReadHalf,
        out: Arc<Outbound>,
        registry: Arc<Registry>,
    ) -> Self {
        WsReader {
            id,
            socket,
            out,
            registry,
            buf: BytesMut::new(),
            session: Session::new(
                HandshakeConfig::default(),
                MAX_FRAME,
                Some(MessageKind::Binary),
            ),
            replies: BytesMut::new(),
            errors: 0,
        }
    }

    /// Reads until the peer or a rule ends the connection, then hands the queue to the
    /// writer (flush, or abort) and leaves the registry.
    pub async fn run(mut self) {
        match self.read_loop().await {
            Ok(true) => self.out.close(),
            Ok(false) | Err(_) => self.out.abort(),
        }
        self.registry.remove(self.id);
    }

    /// `Ok(true)`: flush and close; `Ok(false)`: abort.
    async fn read_loop(&mut self) -> io::Result<bool> {
        loop {
            self.socket.readable().await?;
            let mut budget = READ_BUDGET;
            loop {
                if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                    self.buf.reserve(READ_CHUNK);
                }
                match self.socket.try_read_buf(&mut self.buf) {
                    Ok(0) => return Ok(true),
                    Ok(n) => {
                        if let Some(close) = self.handle() {
                            return Ok(close);
                        }
                        if self.out.queued() > PAUSE_ABOVE {
                            self.out.wait_drained().await;
                        }
                        if self.out.is_aborted() {
                            return Ok(false);
                        }
                        budget = budget.saturating_sub(n);
                        if budget == 0 {
                            tokio::task::yield_now().await;
                            budget = READ_BUDGET;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.buf.is_empty() {
                self.buf = BytesMut::new();
            }
        }
    }

    /// Handles every whole event in the buffer; `Some` ends the connection (`true`:
    /// after a flush).
    fn handle(&mut self) -> Option<bool> {
        let mut end = None;
        while end.is_none() {
            let Some(event) = self.session.poll(&mut self.buf) else {
                break;
            };
            end = match event {
                Event::Accepted(accepted) => push(&self.out, &accepted.response),
                Event::Refused(refusal) => {
                    let _ = self.out.push_bytes(&refusal.response);
                    Some(true)
                }
                Event::Message(message) => self.message(&message.payload),
                Event::WrongKind(_) => self.error_packet(b"text message where binary is expected"),
                Event::Ping { pong } => self.reply_frame(&pong),
                Event::Pong => None,
                Event::PeerClosed { answer, .. } => {
                    self.flush_replies();
                    answer
                        .and_then(|answer| push(&self.out, &answer))
                        .or(Some(true))
                }
                Event::Violation(violation) => {
                    self.flush_replies();
                    let close = self.session.close(violation.code(), "error_packets");
                    close
                        .and_then(|close| push(&self.out, &close))
                        .or(Some(true))
                }
            };
        }
        let flushed = self.flush_replies();
        end.or(flushed)
    }

    /// One frame body from the client.
    fn message(&mut self, body: &Bytes) -> Option<bool> {
        match body.first() {
            Some(&wire::ECHO) => {
                encode_message(MessageKind::Binary, body, &mut self.replies);
                None
            }
            Some(&wire::BROADCAST) => {
                if let Some(end) = self.flush_replies() {
                    return Some(end);
                }
                let mut framed = BytesMut::new();
                encode_message(MessageKind::Binary, body, &mut framed);
                self.registry.broadcast(&framed.freeze());
                self.out.is_aborted().then_some(false)
            }
            Some(&wire::PING) => {
                let mut pong = body.to_vec();
                pong[0] = wire::PONG;
                encode_message(MessageKind::Binary, &pong, &mut self.replies);
                None
            }
            Some(_) => self.error_packet(b"unknown opcode"),
            None => self.error_packet(b"empty frame"),
        }
    }

    /// A control frame, in order with the replies.
    fn reply_frame(&mut self, frame: &[u8]) -> Option<bool> {
        self.replies.extend_from_slice(frame);
        None
    }

    /// Counts an error packet and answers it; closes at the limit.
    fn error_packet(&mut self, reason: &[u8]) -> Option<bool> {
        self.errors += 1;
        let mut body = vec![wire::ERROR];
        body.extend_from_slice(reason);
        encode_message(MessageKind::Binary, &body, &mut self.replies);
        if self.errors < MAX_ERROR_PACKETS {
            return None;
        }
        if let Some(end) = self.flush_replies() {
            return Some(end);
        }
        let close = self
            .session
            .close(switchboard::websocket::CloseCode::POLICY, "error_packets");
        close
            .and_then(|close| push(&self.out, &close))
            .or(Some(true))
    }

    /// Queues the replies gathered so far as one buffer.
    fn flush_replies(&mut self) -> Option<bool> {
        if self.replies.is_empty() {
            return None;
        }
        let replies = self.replies.split().freeze();
        push(&self.out, &replies)
    }
}

/// Queues `bytes`; a full queue aborts the connection (slow consumer).
fn push(out: &Outbound, bytes: &Bytes) -> Option<bool> {
    match out.push_bytes(bytes) {
        Ok(()) => None,
        Err(Refused::Full | Refused::Closed) => Some(false),
    }
}
