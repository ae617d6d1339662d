//! One connection's actor: frames in from a `FramedRead` stream, replies out through
//! actix's `FramedWrite` (each copied into its buffer, which is written when the
//! actor's context polls it), one frame at a time.

use crate::codec::FrameCodec;
use crate::registry::{Broadcast, Connect, Disconnect, Join, Leave, Out, Publish, Registry};
use actix::io::{FramedWrite, WriteHandler};
use actix::prelude::*;
use baseline::wire::{self, MAX_GROUPS};
use bytes::{Bytes, BytesMut};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio_util::codec::{BytesCodec, FramedRead};

/// Error packets over a connection's lifetime before it is closed.
const MAX_ERROR_PACKETS: u32 = 3;

/// Connections accepted since start; also the id source.
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
/// Connections open now.
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// One connection.
pub struct Session {
    /// Its id in the registry.
    id: u64,
    /// The write half behind actix's buffered writer.
    out: FramedWrite<Bytes, OwnedWriteHalf, BytesCodec>,
    /// Where broadcasts, joins and publishes go.
    registry: Addr<Registry>,
    /// Error packets so far.
    errors: u32,
    /// The named groups it is in.
    groups: Vec<Bytes>,
    /// Closing: what is buffered is written, then the actor stops (actix's writer
    /// calls `finished`); frames read meanwhile are ignored.
    closing: bool,
}

impl Session {
    /// Starts the actor of an accepted socket on the current arbiter.
    pub fn start(stream: std::net::TcpStream, registry: Addr<Registry>) {
        let stream = match TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("baseline-actix: register a connection: {e}");
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        let id = ACCEPTED.fetch_add(1, Ordering::Relaxed) + 1;
        Session::create(move |ctx| {
            ctx.add_stream(FramedRead::new(read_half, FrameCodec));
            Session {
                id,
                out: FramedWrite::new(write_half, BytesCodec::new(), ctx),
                registry,
                errors: 0,
                groups: Vec::new(),
                closing: false,
            }
        });
    }

    /// Writes a frame with `opcode` and `payload`.
    fn reply(&mut self, opcode: u8, payload: &[u8]) {
        let mut frame = BytesMut::new();
        wire::put_frame(&mut frame, opcode, payload);
        self.out.write(frame.freeze());
    }

    /// Writes what is buffered, then stops (dropping actix's writer would discard it).
    fn close(&mut self) {
        self.closing = true;
        self.out.close();
    }

    /// Counts an error packet and answers it; closes at the limit.
    fn error_packet(&mut self, reason: &str) {
        self.errors += 1;
        self.reply(wire::ERROR, reason.as_bytes());
        if self.errors >= MAX_ERROR_PACKETS {
            self.close();
        }
    }

    /// Answers one whole frame (length prefix included).
    fn answer(&mut self, frame: BytesMut, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        let Some(&opcode) = frame.get(wire::HEADER_LEN) else {
            return self.error_packet("empty frame");
        };
        let payload = &frame[wire::HEADER_LEN + 1..];
        match opcode {
            wire::ECHO => self.out.write(frame.freeze()),
            wire::BROADCAST => self.registry.do_send(Broadcast(frame.freeze())),
            wire::PING => self.reply(wire::PONG, payload),
            wire::STATS => {
                let json = format!(
                    "{{\"connections\":{{\"frame\":{}}},\"accepted_total\":{}}}",
                    OPEN.load(Ordering::Relaxed),
                    ACCEPTED.load(Ordering::Relaxed)
                );
                self.reply(wire::STATS_REPLY, json.as_bytes());
            }
            wire::PUBLISH => match wire::split_publish(payload) {
                Ok((name, _)) => {
                    let mut message = BytesMut::new();
                    wire::put_frame(&mut message, wire::MESSAGE, payload);
                    self.registry.do_send(Publish {
                        name: Bytes::copy_from_slice(name),
                        frame: message.freeze(),
                    });
                }
                Err(reason) => self.error_packet(reason),
            },
            wire::JOIN | wire::LEAVE if !wire::valid_name(payload) => {
                self.error_packet("bad group name")
            }
            wire::JOIN => {
                let name = Bytes::copy_from_slice(payload);
                if !self.groups.contains(&name) {
                    if self.groups.len() >= MAX_GROUPS {
                        return self.error_packet("too many groups");
                    }
                    self.groups.push(name.clone());
                    self.registry.do_send(Join {
                        id: self.id,
                        name: name.clone(),
                        addr: ctx.address(),
                    });
                }
                self.reply(wire::JOINED, &name);
            }
            wire::LEAVE => {
                let name = Bytes::copy_from_slice(payload);
                if let Some(at) = self.groups.iter().position(|g| *g == name) {
                    self.groups.swap_remove(at);
                    self.registry.do_send(Leave {
                        id: self.id,
                        name: name.clone(),
                    });
                }
                self.reply(wire::LEFT, &name);
            }
            other => self.error_packet(&format!("unknown opcode 0x{other:02x}")),
        }
    }
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        OPEN.fetch_add(1, Ordering::Relaxed);
        self.registry.do_send(Connect {
            id: self.id,
            addr: ctx.address(),
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
        self.registry.do_send(Disconnect {
            id: self.id,
            groups: std::mem::take(&mut self.groups),
        });
    }
}

impl StreamHandler<io::Result<BytesMut>> for Session {
    fn handle(&mut self, frame: io::Result<BytesMut>, ctx: &mut Context<Self>) {
        match frame {
            Ok(frame) => self.answer(frame, ctx),
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData && !self.closing {
                    self.reply(wire::ERROR, b"frame too large");
                }
                self.close();
            }
        }
    }

    /// The peer closed its side: what is buffered is still written.
    fn finished(&mut self, _: &mut Context<Self>) {
        self.close();
    }
}

impl Handler<Out> for Session {
    type Result = ();
    fn handle(&mut self, Out(frame): Out, _: &mut Context<Self>) {
        self.out.write(frame);
    }
}

impl WriteHandler<io::Error> for Session {}
