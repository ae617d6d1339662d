//! The reader task of one connection: reads, cuts frames, answers.
//!
//! Frames are handled in runs: consecutive ECHO frames are answered by queueing the
//! very bytes that arrived (the reply is the identical frame), consecutive BROADCAST
//! frames are handed to the registry as one shared buffer, so a burst costs one queue
//! operation per member instead of one per frame (unless `--per-frame`: then each
//! frame is split off as its own buffer, like a codec's decoded packet). Other opcodes
//! are answered one by one. The reader stops reading while its own queue is above
//! [`PAUSE_ABOVE`], so a peer that does not read its
//! replies leaves its requests in its socket, not in our memory.

use crate::outbound::{Outbound, Refused, PAUSE_ABOVE};
use crate::registry::Registry;
use baseline::wire::{self, Head, MAX_GROUPS};

use bytes::{Buf, BytesMut};
use std::io;
use std::sync::Arc;
use tokio::net::tcp::OwnedReadHalf;

/// Error packets over a connection's lifetime before it is closed.
const MAX_ERROR_PACKETS: u32 = 3;
/// Bytes reserved for a read.
const READ_CHUNK: usize = 64 * 1024;
/// Bytes read from one peer before yielding to the others.
const READ_BUDGET: usize = 64 * 1024;

/// A run of consecutive frames answered together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// ECHO frames: queued back to the sender as they are.
    Echo,
    /// BROADCAST frames: queued to every member as they are.
    Broadcast,
}

/// How a connection's reading ended.
enum End {
    /// The peer closed, or we close after a protocol error: flush, then shut.
    Close,
    /// Our queue refused a reply, or the socket failed: drop everything.
    Abort,
}

/// The reading side of one connection.
pub struct Reader {
    /// This connection's id in the registry.
    pub id: u64,
    /// The socket's read half.
    pub socket: OwnedReadHalf,
    /// This connection's own queue, for replies.
    pub out: Arc<Outbound>,
    /// Every connection, for BROADCAST and STATS.
    pub registry: Arc<Registry>,
    /// Bytes read and not yet handled; released when empty.
    pub buf: BytesMut,
    /// Scratch buffer for replies that are not the request's own bytes.
    pub reply: BytesMut,
    /// Error packets so far.
    pub errors: u32,
    /// The named groups this connection is in, left when it ends.
    pub groups: Vec<Vec<u8>>,
}

impl Reader {
    /// A reader for a registered connection.
    pub fn new(
        id: u64,
        socket: OwnedReadHalf,
        out: Arc<Outbound>,
        registry: Arc<Registry>,
    ) -> Self {
        Reader {
            id,
            socket,
            out,
            registry,
            buf: BytesMut::new(),
            reply: BytesMut::new(),
            errors: 0,
            groups: Vec::new(),
        }
    }

    /// Reads until the peer closes or the connection is closed, then hands the queue
    /// to the writer (flush or abort) and leaves the registry.
    pub async fn run(mut self) {
        match self.read_loop().await {
            Ok(End::Close) => self.out.close(),
            Ok(End::Abort) | Err(_) => self.out.abort(),
        }
        for name in &self.groups {
            self.registry.groups.leave(name, self.id);
        }
        self.registry.remove(self.id);
    }

    async fn read_loop(&mut self) -> io::Result<End> {
        loop {
            self.socket.readable().await?;
            let mut budget = READ_BUDGET;
            loop {
                if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                    self.buf.reserve(READ_CHUNK);
                }
                match self.socket.try_read_buf(&mut self.buf) {
                    Ok(0) => return Ok(End::Close),
                    Ok(n) => {
                        if let Some(end) = self.handle_frames() {
                            return Ok(end);
                        }
                        if self.out.queued() > PAUSE_ABOVE {
                            self.out.wait_drained().await;
                        }
                        if self.out.is_aborted() {
                            return Ok(End::Abort);
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

    /// Answers every whole frame in the buffer; `Some` ends the connection.
    fn handle_frames(&mut self) -> Option<End> {
        // The current run covers buf[..run_len].
        let mut run: Option<Run> = None;
        let mut run_len = 0;
        loop {
            let kind = match wire::head(&self.buf[run_len..]) {
                Head::Partial => break,
                Head::Frame {
                    opcode: wire::ECHO,
                    total,
                } => Some((Run::Echo, total)),
                Head::Frame {
                    opcode: wire::BROADCAST,
                    total,
                } => Some((Run::Broadcast, total)),
                _ => None,
            };
            match kind {
                Some((kind, total)) if run.is_none() || run == Some(kind) => {
                    run = Some(kind);
                    run_len += total;
                    if self.registry.per_frame {
                        if let Some(end) = self.flush_run(run.take(), run_len) {
                            return Some(end);
                        }
                        run_len = 0;
                    }
                }
                Some(_) | None => {
                    if let Some(end) = self.flush_run(run.take(), run_len) {
                        return Some(end);
                    }
                    run_len = 0;
                    if kind.is_none() {
                        if let Some(end) = self.handle_single() {
                            return Some(end);
                        }
                    }
                }
            }
        }
        self.flush_run(run, run_len)
    }

    /// Queues the run at the front of the buffer and consumes it.
    fn flush_run(&mut self, run: Option<Run>, len: usize) -> Option<End> {
        match run? {
            Run::Echo if len < crate::outbound::COALESCE_BELOW && !self.registry.per_frame => {
                let pushed = self.out.push_slice(&self.buf[..len]);
                self.buf.advance(len);
                refused_end(pushed)
            }
            Run::Echo => refused_end(self.out.push_bytes(&self.buf.split_to(len).freeze())),
            Run::Broadcast => {
                self.registry.broadcast(&self.buf.split_to(len).freeze());
                self.out.is_aborted().then_some(End::Abort)
            }
        }
    }

    /// Answers the one frame at the front of the buffer (not ECHO or BROADCAST).
    fn handle_single(&mut self) -> Option<End> {
        self.reply.clear();
        let end = match wire::head(&self.buf) {
            Head::Partial
            | Head::Frame {
                opcode: wire::ECHO | wire::BROADCAST,
                ..
            } => None,
            Head::Empty => {
                self.buf.advance(wire::HEADER_LEN);
                self.error_packet("empty frame")
            }
            Head::TooLarge => {
                self.buf.clear();
                wire::put_frame(&mut self.reply, wire::ERROR, b"frame too large");
                Some(End::Close)
            }
            Head::Frame { opcode, total } => {
                let payload = &self.buf[wire::HEADER_LEN + 1..total];
                let end = match opcode {
                    wire::PING => {
                        wire::put_frame(&mut self.reply, wire::PONG, payload);
                        None
                    }
                    wire::STATS => {
                        let json = self.registry.stats_json();
                        wire::put_frame(&mut self.reply, wire::STATS_REPLY, json.as_bytes());
                        None
                    }
                    wire::JOIN | wire::LEAVE | wire::PUBLISH => {
                        let result = self.group_op(opcode, total);
                        self.buf.advance(total);
                        return match result {
                            Ok(()) => refused_end(self.out.push_slice(&self.reply)),
                            Err(reason) => self.error_packet(reason),
                        };
                    }
                    other => {
                        let reason = format!("unknown opcode 0x{other:02x}");
                        self.buf.advance(total);
                        return self.error_packet(&reason);
                    }
                };
                self.buf.advance(total);
                end
            }
        };
        let pushed = refused_end(self.out.push_slice(&self.reply));
        pushed.or(end)
    }

    /// JOIN, LEAVE or PUBLISH of the frame at the front of the buffer (`total` bytes
    /// long): the reply, if any, goes into `self.reply`.
    fn group_op(&mut self, opcode: u8, total: usize) -> Result<(), &'static str> {
        let payload = &self.buf[wire::HEADER_LEN + 1..total];
        match opcode {
            wire::PUBLISH => {
                let (name, _) = wire::split_publish(payload)?;
                self.registry.groups.publish(name, payload);
            }
            _ if !wire::valid_name(payload) => return Err("bad group name"),
            wire::JOIN => {
                if !self.groups.iter().any(|g| g == payload) {
                    if self.groups.len() >= MAX_GROUPS {
                        return Err("too many groups");
                    }
                    self.registry.groups.join(payload, self.id, &self.out);
                    self.groups.push(payload.to_vec());
                }
                wire::put_frame(&mut self.reply, wire::JOINED, payload);
            }
            _ => {
                if let Some(at) = self.groups.iter().position(|g| g == payload) {
                    self.groups.swap_remove(at);
                    self.registry.groups.leave(payload, self.id);
                }
                wire::put_frame(&mut self.reply, wire::LEFT, payload);
            }
        }
        Ok(())
    }

    /// Counts an error packet and answers it; closes at the limit.
    fn error_packet(&mut self, reason: &str) -> Option<End> {
        self.errors += 1;
        self.reply.clear();
        wire::put_frame(&mut self.reply, wire::ERROR, reason.as_bytes());
        let pushed = refused_end(self.out.push_slice(&self.reply));
        self.reply.clear();
        pushed.or((self.errors >= MAX_ERROR_PACKETS).then_some(End::Close))
    }
}

/// A full own queue aborts the connection (slow consumer); a closed one ends reading.
fn refused_end(pushed: Result<(), Refused>) -> Option<End> {
    match pushed {
        Ok(()) => None,
        Err(Refused::Full) => Some(End::Abort),
        Err(Refused::Closed) => Some(End::Abort),
    }
}
