//! Each implementation run as a server on a client's bytes, the way its documentation
//! says to run one (automatic Pong and Close answers where it has them), with the
//! suite's size limit. What it hands out and what it writes back are recorded.

use crate::wire::{server_frames, ServerFrame};
use crate::LIMIT;
use bytes::BytesMut;
use futures_util::{FutureExt, StreamExt};
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a server did with a client's bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The messages it handed to the application: (text?, payload).
    pub messages: Vec<(bool, Vec<u8>)>,
    /// The payloads of the Pongs it wrote.
    pub pongs: Vec<Vec<u8>>,
    /// Its Close frame: `None` if it wrote none, `Some(None)` for an empty one,
    /// `Some(Some(code))` otherwise.
    pub close: Option<Option<u16>>,
    /// Whether it reported an error (refused the stream).
    pub failed: bool,
}

impl Observed {
    /// Takes what the server wrote.
    fn wrote(&mut self, bytes: &[u8]) {
        for ServerFrame { opcode, payload } in server_frames(bytes) {
            match opcode {
                0xA => self.pongs.push(payload),
                0x8 if self.close.is_none() => {
                    self.close = Some(
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])),
                    )
                }
                _ => {}
            }
        }
    }
}

/// An implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// `switchboard::websocket`, driven as the connection will drive it.
    Switchboard,
    /// tungstenite (synchronous, over `Read + Write`).
    Tungstenite,
    /// tokio-websockets (a `Stream` and `Sink` over `AsyncRead + AsyncWrite`).
    TokioWebsockets,
    /// fastwebsockets with its `FragmentCollector` (over `AsyncRead + AsyncWrite`).
    Fastwebsockets,
}

impl Candidate {
    /// Every candidate, in the order of the table.
    pub const ALL: [Candidate; 4] = [
        Candidate::Switchboard,
        Candidate::Tungstenite,
        Candidate::TokioWebsockets,
        Candidate::Fastwebsockets,
    ];

    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Candidate::Switchboard => "switchboard",
            Candidate::Tungstenite => "tungstenite 0.30",
            Candidate::TokioWebsockets => "tokio-websockets 0.13",
            Candidate::Fastwebsockets => "fastwebsockets 0.10",
        }
    }

    /// Runs it as a server on `input`, handed over in pieces of `chunk` bytes.
    pub fn run(self, input: &[u8], chunk: usize) -> Observed {
        let pieces: Vec<&[u8]> = input.chunks(chunk.max(1)).collect();
        match self {
            Candidate::Switchboard => switchboard(&pieces),
            Candidate::Tungstenite => tungstenite(&pieces),
            Candidate::TokioWebsockets => async_server(&pieces, tokio_websockets),
            Candidate::Fastwebsockets => async_server(&pieces, fastwebsockets),
        }
    }
}

fn switchboard(pieces: &[&[u8]]) -> Observed {
    use switchboard::websocket::{close_frame, pong_frame, Incoming, MessageKind, MessageReader};
    let mut reader = MessageReader::new(LIMIT, None);
    let mut seen = Observed::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match reader.read(&mut buf) {
                Ok(None) => break,
                Ok(Some(Incoming::Message(m))) => seen
                    .messages
                    .push((m.kind == MessageKind::Text, m.payload.to_vec())),
                Ok(Some(Incoming::Ping(payload))) => out.extend_from_slice(&pong_frame(&payload)),
                Ok(Some(Incoming::Pong(_) | Incoming::WrongKind(_))) => {}
                Ok(Some(Incoming::Close(close))) => out.extend_from_slice(&close.answer()),
                Err(violation) => {
                    seen.failed = true;
                    out.extend_from_slice(&close_frame(violation.code(), violation.reason()));
                }
            }
        }
    }
    seen.wrote(&out);
    seen
}

/// Both directions of an in-memory socket for a synchronous server: reads answer
/// `WouldBlock` when nothing is there.
#[derive(Default)]
struct Pipe {
    /// Bytes from the client not read yet.
    input: Vec<u8>,
    /// What the server wrote.
    output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tungstenite(pieces: &[&[u8]]) -> Observed {
    use tungstenite::protocol::{Role, WebSocket, WebSocketConfig};
    use tungstenite::{Error, Message};
    let config = WebSocketConfig::default()
        .max_message_size(Some(LIMIT))
        .max_frame_size(Some(LIMIT));
    let mut ws = WebSocket::from_raw_socket(Pipe::default(), Role::Server, Some(config));
    let mut seen = Observed::default();
    'pieces: for piece in pieces {
        ws.get_mut().input.extend_from_slice(piece);
        loop {
            match ws.read() {
                Ok(Message::Text(text)) => seen.messages.push((true, text.as_bytes().to_vec())),
                Ok(Message::Binary(data)) => seen.messages.push((false, data.to_vec())),
                Ok(_) => {}
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(Error::ConnectionClosed | Error::AlreadyClosed) => break 'pieces,
                Err(_) => {
                    seen.failed = true;
                    break 'pieces;
                }
            }
        }
        let _ = ws.flush();
    }
    let _ = ws.flush();
    seen.wrote(&ws.get_ref().output);
    seen
}

/// Runs an asynchronous server on one end of an in-memory duplex: each piece is
/// written to the other end and the server is given turns to read it; then what the
/// server wrote is read back.
fn async_server<F, Fut>(pieces: &[&[u8]], serve: F) -> Observed
where
    F: FnOnce(tokio::io::DuplexStream, Rc<RefCell<Observed>>) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    let seen = Rc::new(RefCell::new(Observed::default()));
    local.block_on(&runtime, async {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let task = tokio::task::spawn_local(serve(server, seen.clone()));
        for piece in pieces {
            if client.write_all(piece).await.is_err() {
                // The server hung up.
                break;
            }
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
        }
        for _ in 0..32 {
            tokio::task::yield_now().await;
        }
        task.abort();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Some(Ok(n @ 1..)) = client.read(&mut chunk).now_or_never() {
            out.extend_from_slice(&chunk[..n]);
        }
        seen.borrow_mut().wrote(&out);
    });
    let observed = seen.borrow().clone();
    observed
}

async fn tokio_websockets(io: tokio::io::DuplexStream, seen: Rc<RefCell<Observed>>) {
    use tokio_websockets::{Limits, ServerBuilder};
    let mut ws = ServerBuilder::new()
        .limits(Limits::default().max_payload_len(Some(LIMIT)))
        .serve(io);
    while let Some(item) = ws.next().await {
        match item {
            Ok(m) if m.is_text() || m.is_binary() => seen
                .borrow_mut()
                .messages
                .push((m.is_text(), m.as_payload().to_vec())),
            Ok(_) => {}
            Err(_) => {
                seen.borrow_mut().failed = true;
                // Give the stream a turn to write the Close it queued.
                let _ = ws.next().await;
                break;
            }
        }
    }
}

async fn fastwebsockets(io: tokio::io::DuplexStream, seen: Rc<RefCell<Observed>>) {
    use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
    let mut ws = WebSocket::after_handshake(io, Role::Server);
    ws.set_max_message_size(LIMIT);
    ws.set_auto_pong(true);
    ws.set_auto_close(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        match ws.read_frame().await {
            Ok(frame) => match frame.opcode {
                OpCode::Text | OpCode::Binary => seen
                    .borrow_mut()
                    .messages
                    .push((frame.opcode == OpCode::Text, frame.payload.to_vec())),
                OpCode::Close => break,
                _ => {}
            },
            Err(_) => {
                seen.borrow_mut().failed = true;
                break;
            }
        }
    }
}
