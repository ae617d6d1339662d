//! What every scenario's connections share: connecting (spread over loopback source
//! addresses), building request frames once, and cutting replies out of a reused read
//! buffer without allocating per frame.
//!
//! Frames travel as they are, or (`--ws`, a `ws_frame` listener) as the bodies of
//! WebSocket binary messages: the [`Wire`] is chosen once per run, and every frame
//! written or read here takes its form. A client's WebSocket frames must be masked;
//! the generator masks with the key 0 (the server unmasks every byte all the same), so
//! that a batch built once can have sequence numbers written into it in the clear.

use super::BenchError;
use crate::protocols::frame::HEADER_LEN;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Opcodes of the `frame` protocol used by the scenarios.
pub mod op {
    pub use crate::protocols::frame::Frame;
    /// ECHO request and reply.
    pub const ECHO: u8 = Frame::ECHO;
    /// BROADCAST request and delivery.
    pub const BROADCAST: u8 = Frame::BROADCAST;
    /// PING request.
    pub const PING: u8 = Frame::PING;
    /// PONG reply.
    pub const PONG: u8 = Frame::PONG;
    /// JOIN request.
    pub const JOIN: u8 = Frame::JOIN;
    /// JOINED reply.
    pub const JOINED: u8 = Frame::JOINED;
    /// PUBLISH request.
    pub const PUBLISH: u8 = Frame::PUBLISH;
    /// MESSAGE delivery.
    pub const MESSAGE: u8 = Frame::MESSAGE;
    /// ERROR from the server.
    pub const ERROR: u8 = Frame::ERROR;
}

/// Loopback source addresses used in turn (127.0.0.1 ..= 127.0.0.250), so that tens of
/// thousands of connections do not exhaust one address's ephemeral ports.
const SOURCE_ADDRESSES: u32 = 250;
/// Connects in flight at once when opening many connections.
pub const CONNECT_CONCURRENCY: usize = 256;
/// How long a connect or a handshake may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame body a reply may announce before the stream is considered broken.
pub const MAX_REPLY_BODY: usize = 16 * 1024 * 1024;

/// How frames travel between the generator and the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wire {
    /// As they are: a length prefix and the body.
    #[default]
    Frame,
    /// Each body in one WebSocket binary message (after the opening handshake).
    WebSocket,
}

/// The wire of this run, set once before any connection.
static WIRE: OnceLock<Wire> = OnceLock::new();

/// Chooses the wire of this run (the first choice stays).
pub fn set_wire(wire: Wire) {
    let _ = WIRE.set(wire);
}

/// The wire of this run.
pub fn wire() -> Wire {
    WIRE.get().copied().unwrap_or_default()
}

/// The length of a WebSocket frame's header for a payload of `len` bytes, before a
/// mask key.
fn ws_header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    }
}

/// Bytes one request frame with `size` payload bytes takes on the wire.
pub fn frame_len(size: usize) -> usize {
    body_offset(size) + 1 + size
}

/// Where the body (the opcode, then the payload) of such a frame starts.
pub fn body_offset(size: usize) -> usize {
    match wire() {
        Wire::Frame => HEADER_LEN,
        Wire::WebSocket => ws_header_len(1 + size) + 4,
    }
}

/// Connects to `addr`; connection number `index` picks its loopback source address
/// when the server is on IPv4 loopback.
pub async fn connect(addr: SocketAddr, index: usize) -> Result<TcpStream, BenchError> {
    let what = || format!("connect to {addr}");
    let socket = match addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => {
            let socket = TcpSocket::new_v4().map_err(BenchError::io(what()))?;
            let host = 1 + (index as u32 % SOURCE_ADDRESSES);
            let source = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + host);
            socket
                .bind(SocketAddr::new(source.into(), 0))
                .map_err(BenchError::io(format!("bind {source}")))?;
            socket
        }
        IpAddr::V4(_) => TcpSocket::new_v4().map_err(BenchError::io(what()))?,
        IpAddr::V6(_) => TcpSocket::new_v6().map_err(BenchError::io(what()))?,
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(addr))
        .await
        .map_err(|_| BenchError::io(what())(std::io::ErrorKind::TimedOut.into()))?
        .map_err(BenchError::io(what()))?;
    stream.set_nodelay(true).map_err(BenchError::io(what()))?;
    Ok(stream)
}

/// Opens `n` connections, at most [`CONNECT_CONCURRENCY`] at a time, each confirmed
/// by a PING/PONG (so the server has fully set it up). `opened` counts them as they
/// come, for progress.
pub async fn connect_many(
    addr: SocketAddr,
    n: usize,
    opened: &AtomicUsize,
) -> Result<Vec<TcpStream>, BenchError> {
    let mut streams = Vec::with_capacity(n);
    let mut connecting = tokio::task::JoinSet::new();
    let mut next = 0;
    while streams.len() < n {
        while next < n && connecting.len() < CONNECT_CONCURRENCY {
            let index = next;
            connecting.spawn(async move {
                let mut stream = connect(addr, index).await?;
                if wire() == Wire::WebSocket {
                    upgrade(&mut stream).await?;
                }
                handshake(&mut stream).await?;
                Ok::<_, BenchError>(stream)
            });
            next += 1;
        }
        match connecting.join_next().await {
            Some(Ok(stream)) => streams.push(stream?),
            Some(Err(join)) => return Err(BenchError::Protocol(format!("connect task: {join}"))),
            None => break,
        }
        opened.fetch_add(1, Ordering::Relaxed);
    }
    Ok(streams)
}

/// [`connect_many`] with a progress line `"{label}: connected N/n"`.
pub async fn open(
    label: &'static str,
    addr: SocketAddr,
    n: usize,
) -> Result<Vec<TcpStream>, BenchError> {
    let opened = std::sync::Arc::new(AtomicUsize::new(0));
    let shown = opened.clone();
    let _progress = super::progress::Progress::start(move || {
        format!("{label}: connected {}/{n}", shown.load(Ordering::Relaxed))
    });
    connect_many(addr, n, &opened).await
}

/// The WebSocket opening handshake: the request, then the server's `101` read byte by
/// byte up to its end (so nothing after it is taken).
pub async fn upgrade(stream: &mut TcpStream) -> Result<(), BenchError> {
    let request = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                   Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Version: 13\r\n\r\n";
    let exchange = async {
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(BenchError::io("send the WebSocket request"))?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
            let mut byte = [0u8; 1];
            stream
                .read_exact(&mut byte)
                .await
                .map_err(BenchError::io("read the WebSocket response"))?;
            head.push(byte[0]);
        }
        if !head.starts_with(b"HTTP/1.1 101 ") {
            let head = String::from_utf8_lossy(&head);
            return Err(BenchError::Protocol(format!("not upgraded: {head}")));
        }
        Ok(())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, exchange)
        .await
        .map_err(|_| BenchError::Protocol("no WebSocket response within 10 s".to_owned()))?
}

/// The token every connection authenticates with (`--token`), set once per run.
static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Makes every connection [`handshake`] opens authenticate with `token` first (`None`:
/// none does). The first call counts: one run, one token.
pub fn authenticate_with(token: Option<String>) {
    let _ = TOKEN.set(token);
}

/// AUTH with the run's token, answered AUTHED (whatever the user's name); nothing
/// without a token.
async fn authenticate(stream: &mut TcpStream) -> Result<(), BenchError> {
    let Some(token) = TOKEN.get().and_then(Option::as_deref) else {
        return Ok(());
    };
    let mut auth = Vec::new();
    put_frame(&mut auth, op::Frame::AUTH, token.as_bytes());
    stream
        .write_all(&auth)
        .await
        .map_err(BenchError::io("send AUTH"))?;
    let len = match wire() {
        Wire::Frame => {
            let mut header = [0u8; HEADER_LEN];
            stream
                .read_exact(&mut header)
                .await
                .map_err(BenchError::io("read AUTHED"))?;
            u32::from_be_bytes(header) as usize
        }
        // The server's messages are unmasked; an answer to AUTH is short, so its
        // length is the second byte's (126 and 127 announce longer ones: refused).
        Wire::WebSocket => {
            let mut header = [0u8; 2];
            stream
                .read_exact(&mut header)
                .await
                .map_err(BenchError::io("read AUTHED"))?;
            match header[1] & 0x7f {
                len @ 0..=125 => usize::from(len),
                _ => usize::MAX,
            }
        }
    };
    if len == 0 || len > 1024 {
        return Err(BenchError::Protocol(format!(
            "an answer to AUTH of {len} bytes"
        )));
    }
    let mut body = vec![0u8; len];
    stream
        .read_exact(&mut body)
        .await
        .map_err(BenchError::io("read AUTHED"))?;
    if body[0] != op::Frame::AUTHED {
        // The server's reason (an ERROR's payload) never quotes the token.
        let why = String::from_utf8_lossy(&body[1..]).into_owned();
        return Err(BenchError::Protocol(format!("AUTH refused: {why}")));
    }
    Ok(())
}

/// Authenticates with the run's token if there is one (see [`authenticate_with`]),
/// then sends a PING and waits for its PONG (skipping nothing: it must be the first
/// reply after AUTHED).
pub async fn handshake(stream: &mut TcpStream) -> Result<(), BenchError> {
    let mut ping = Vec::new();
    put_frame(&mut ping, op::PING, b"ready");
    // The server's PONG: a length prefix, or a 2-byte WebSocket header (unmasked).
    let prefix = match wire() {
        Wire::Frame => HEADER_LEN,
        Wire::WebSocket => 2,
    };
    let exchange = async {
        authenticate(stream).await?;
        stream
            .write_all(&ping)
            .await
            .map_err(BenchError::io("send PING"))?;
        let mut reply = vec![0u8; prefix + 1 + 5];
        stream
            .read_exact(&mut reply)
            .await
            .map_err(BenchError::io("read PONG"))?;
        if reply[prefix] != op::PONG || &reply[prefix + 1..] != b"ready" {
            return Err(BenchError::Protocol(format!(
                "expected PONG \"ready\", got {reply:?}"
            )));
        }
        Ok(())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, exchange)
        .await
        .map_err(|_| BenchError::Protocol("no PONG within 10 s".to_owned()))?
}

/// Appends a frame with `opcode` and `payload` to `dst`, in the run's wire form.
pub fn put_frame(dst: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let body = 1 + payload.len();
    match wire() {
        Wire::Frame => dst.extend_from_slice(&(body as u32).to_be_bytes()),
        Wire::WebSocket => {
            // FIN and binary; masked, with the key 0.
            dst.push(0x82);
            match body {
                0..=125 => dst.push(0x80 | body as u8),
                126..=65535 => {
                    dst.push(0x80 | 126);
                    dst.extend_from_slice(&(body as u16).to_be_bytes());
                }
                _ => {
                    dst.push(0x80 | 127);
                    dst.extend_from_slice(&(body as u64).to_be_bytes());
                }
            }
            dst.extend_from_slice(&[0; 4]);
        }
    }
    dst.push(opcode);
    dst.extend_from_slice(payload);
}

/// `count` copies of one frame with `opcode` and a payload of `size` bytes, back to
/// back, so that any number of them up to `count` is one slice to write.
pub fn frame_batch(opcode: u8, size: usize, count: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut batch = Vec::with_capacity(frame_len(size) * count);
    for _ in 0..count {
        put_frame(&mut batch, opcode, &payload);
    }
    batch
}

/// One frame cut out of a [`FrameReader`]'s buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The first body byte.
    pub opcode: u8,
    /// The rest of the body.
    pub payload: &'a [u8],
}

/// Reads frames into one reused buffer and hands them out as borrowed slices.
#[derive(Debug)]
pub struct FrameReader {
    /// The read buffer; grows only for a frame larger than it.
    buf: Vec<u8>,
    /// Where the unconsumed bytes start.
    start: usize,
    /// Where they end.
    end: usize,
}

impl FrameReader {
    /// A reader with a buffer of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        FrameReader {
            buf: vec![0; capacity.max(HEADER_LEN + 1)],
            start: 0,
            end: 0,
        }
    }

    /// Reads once; returns the number of bytes read (0 at end of stream).
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, source: &mut R) -> std::io::Result<usize> {
        self.make_room();
        let n = source.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads once from a socket whose arrival stamps are on
    /// ([`enable_timestamps`](switchboard::probe::enable_timestamps)); returns the
    /// number of bytes read (0 at end of stream) and when the last of them reached the
    /// socket, as an instant of this process's clock, if the kernel stamped it.
    pub async fn fill_stamped(
        &mut self,
        stream: &TcpStream,
    ) -> std::io::Result<(usize, Option<tokio::time::Instant>)> {
        self.make_room();
        loop {
            stream.readable().await?;
            match switchboard::probe::recv_stamped(stream, &mut self.buf[self.end..]) {
                Ok((n, stamp)) => {
                    self.end += n;
                    // The stamp is of the wall clock: its age, taken from now.
                    let arrived = stamp.map(|t| {
                        let age = std::time::SystemTime::now()
                            .duration_since(t)
                            .unwrap_or_default();
                        tokio::time::Instant::now() - age
                    });
                    return Ok((n, arrived));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Makes room at the end of the buffer for a read.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < self.buf.len() / 2 {
            // Move the partial frame to the front (less than one frame is copied).
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // One frame larger than the buffer: grow (rare, not per frame).
            self.buf.resize(self.buf.len() * 2, 0);
        }
    }

    /// The next whole frame in the buffer, if any.
    pub fn next_frame(&mut self) -> Result<Option<FrameRef<'_>>, BenchError> {
        let pending = &self.buf[self.start..self.end];
        let Some((header, body)) = (match wire() {
            Wire::Frame => frame_header(pending),
            Wire::WebSocket => ws_header(pending)?,
        }) else {
            return Ok(None);
        };
        if body == 0 || body > MAX_REPLY_BODY {
            return Err(BenchError::Protocol(format!(
                "reply with body length {body}"
            )));
        }
        if pending.len() < header + body {
            if self.buf.len() < header + body {
                let grown = (header + body).next_power_of_two();
                self.buf.resize(grown, 0);
            }
            return Ok(None);
        }
        let frame = &self.buf[self.start + header..self.start + header + body];
        self.start += header + body;
        Ok(Some(FrameRef {
            opcode: frame[0],
            payload: &frame[1..],
        }))
    }
}

/// A frame's header size and body length, once its length prefix is there.
fn frame_header(pending: &[u8]) -> Option<(usize, usize)> {
    let prefix = pending.get(..HEADER_LEN)?;
    let body = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    Some((HEADER_LEN, body as usize))
}

/// A server WebSocket frame's header size and payload length, once its header is
/// there; anything but a whole binary message is an error here (the server's
/// heartbeat is off in a benchmark).
fn ws_header(pending: &[u8]) -> Result<Option<(usize, usize)>, BenchError> {
    let (Some(&b0), Some(&b1)) = (pending.first(), pending.get(1)) else {
        return Ok(None);
    };
    if b0 != 0x82 || b1 & 0x80 != 0 {
        let what = match b0 & 0x0f {
            0x8 => "a Close".to_owned(),
            opcode => format!("a frame {b0:#04x} (opcode {opcode:#x}, {b1:#04x})"),
        };
        return Err(BenchError::Protocol(format!(
            "server sent {what}, not a binary message"
        )));
    }
    let (header, len) = match b1 & 0x7f {
        126 => match pending.get(2..4) {
            Some(len) => (4, u64::from(u16::from_be_bytes([len[0], len[1]]))),
            None => return Ok(None),
        },
        127 => match pending.get(2..10) {
            Some(len) => (10, u64::from_be_bytes(len.try_into().unwrap_or([0xff; 8]))),
            None => return Ok(None),
        },
        n => (2, u64::from(n)),
    };
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    Ok(Some((header, len)))
}

/// Describes a frame the scenario did not expect (an ERROR's reason is quoted).
pub fn unexpected(frame: FrameRef<'_>, wanted: &str) -> BenchError {
    if frame.opcode == op::ERROR {
        let reason = String::from_utf8_lossy(frame.payload);
        return BenchError::Protocol(format!("server sent ERROR \"{reason}\" (wanted {wanted})"));
    }
    BenchError::Protocol(format!(
        "unexpected frame opcode 0x{:02x} with {} payload bytes (wanted {wanted})",
        frame.opcode,
        frame.payload.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reader_cuts_frames_across_reads_and_grows_for_big_ones() {
        let mut wire = frame_batch(op::ECHO, 3, 2);
        put_frame(&mut wire, op::PONG, &[9u8; 40]);
        let mut reader = FrameReader::new(8);
        let mut source = &wire[..];
        let mut seen = Vec::new();
        while reader.fill(&mut source).await.unwrap() > 0 {
            while let Some(frame) = reader.next_frame().unwrap() {
                seen.push((frame.opcode, frame.payload.len()));
            }
        }
        assert_eq!(seen, vec![(op::ECHO, 3), (op::ECHO, 3), (op::PONG, 40)]);
    }

    #[test]
    fn zero_length_reply_is_an_error() {
        let mut reader = FrameReader::new(16);
        reader.buf[..4].copy_from_slice(&[0, 0, 0, 0]);
        reader.end = 4;
        assert!(reader.next_frame().is_err());
    }

    #[test]
    fn batch_is_back_to_back_frames() {
        let batch = frame_batch(op::ECHO, 2, 3);
        assert_eq!(batch.len(), 3 * 7);
        assert_eq!(&batch[..7], &[0, 0, 0, 3, op::ECHO, 0, 1]);
    }
}
