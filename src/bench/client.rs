//! What every scenario's connections share: connecting (spread over loopback source
//! addresses), building request frames once, and cutting replies out of a reused read
//! buffer without allocating per frame.

use super::BenchError;
use crate::protocols::frame::HEADER_LEN;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Sends a PING and waits for its PONG (skipping nothing: it must be the first reply).
pub async fn handshake(stream: &mut TcpStream) -> Result<(), BenchError> {
    let mut ping = Vec::new();
    put_frame(&mut ping, op::PING, b"ready");
    let exchange = async {
        stream
            .write_all(&ping)
            .await
            .map_err(BenchError::io("send PING"))?;
        let mut reply = [0u8; HEADER_LEN + 1 + 5];
        stream
            .read_exact(&mut reply)
            .await
            .map_err(BenchError::io("read PONG"))?;
        if reply[HEADER_LEN] != op::PONG || &reply[HEADER_LEN + 1..] != b"ready" {
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

/// Appends a frame with `opcode` and `payload` to `dst`.
pub fn put_frame(dst: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    dst.extend_from_slice(&(payload.len() as u32 + 1).to_be_bytes());
    dst.push(opcode);
    dst.extend_from_slice(payload);
}

/// `count` copies of one frame with `opcode` and a payload of `size` bytes, back to
/// back, so that any number of them up to `count` is one slice to write.
pub fn frame_batch(opcode: u8, size: usize, count: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut batch = Vec::with_capacity((HEADER_LEN + 1 + size) * count);
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
        let Some(prefix) = pending.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let body = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if body == 0 || body > MAX_REPLY_BODY {
            return Err(BenchError::Protocol(format!(
                "reply with body length {body}"
            )));
        }
        if pending.len() < HEADER_LEN + body {
            if self.buf.len() < HEADER_LEN + body {
                let grown = (HEADER_LEN + body).next_power_of_two();
                self.buf.resize(grown, 0);
            }
            return Ok(None);
        }
        let frame = &self.buf[self.start + HEADER_LEN..self.start + HEADER_LEN + body];
        self.start += HEADER_LEN + body;
        Ok(Some(FrameRef {
            opcode: frame[0],
            payload: &frame[1..],
        }))
    }
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
