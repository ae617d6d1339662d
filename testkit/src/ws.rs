//! A raw WebSocket client, byte by byte: the opening handshake as text, masked frames
//! built by hand (well-formed or not), and the server's frames read back as they are
//! on the wire, with the bytes counted. It checks nothing a test might want to break,
//! so it can send every violation; a strict client is a test's own dependency.

use crate::WAIT;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A masking key that changes every byte it touches.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Opcode of a text frame.
pub const TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const BINARY: u8 = 0x2;
/// Opcode of a Close frame.
pub const CLOSE: u8 = 0x8;
/// Opcode of a Ping frame.
pub const PING: u8 = 0x9;
/// Opcode of a Pong frame.
pub const PONG: u8 = 0xA;

/// A masked client frame: `b0` is FIN, the reserved bits and the opcode.
pub fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A client's Close frame with `code` and `reason`.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(reason.as_bytes());
    frame(0x80 | CLOSE, &body)
}

/// A handshake request for `path` with `extra` header lines (each ending in `\r\n`).
pub fn request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN, reserved bits and opcode.
    pub b0: u8,
    /// The payload (server frames are not masked).
    pub payload: Vec<u8>,
}

impl Frame {
    /// The opcode.
    pub fn opcode(&self) -> u8 {
        self.b0 & 0x0f
    }

    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// A Close frame's code and reason.
    pub fn close(&self) -> Option<(u16, String)> {
        if self.opcode() != CLOSE || self.payload.len() < 2 {
            return None;
        }
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        Some((
            code,
            String::from_utf8_lossy(&self.payload[2..]).into_owned(),
        ))
    }
}

/// A WebSocket client over any byte stream.
pub struct WsClient<S = TcpStream> {
    /// The connection.
    pub stream: S,
    /// Bytes read and not yet taken as frames.
    buf: Vec<u8>,
    /// Bytes of frames read from the server since the handshake's response.
    pub received: u64,
}

/// Connects to `addr` over TCP, within [`WAIT`].
pub async fn connect_tcp(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed")
}

impl WsClient {
    /// Connects over TCP and completes a handshake for `path`; panics if the server
    /// does not answer `101`.
    pub async fn connect(addr: SocketAddr, path: &str) -> WsClient {
        let mut client = WsClient::over(connect_tcp(addr).await);
        let head = client.handshake(&request(path, "")).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "not upgraded: {head}");
        client
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    /// A client over a connected stream, before its handshake.
    pub fn over(stream: S) -> Self {
        WsClient {
            stream,
            buf: Vec::new(),
            received: 0,
        }
    }

    /// Sends `request` and returns the response's head (up to its empty line); what
    /// follows it stays for [`next`](Self::next). Empty if the server closed first.
    pub async fn handshake(&mut self, request: &str) -> String {
        self.send_raw(request.as_bytes()).await;
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8_lossy(&head).into_owned();
            }
            if !self.fill().await {
                return String::from_utf8_lossy(&self.buf).into_owned();
            }
        }
    }

    /// Writes `bytes` as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(WAIT, write)
            .await
            .expect("send timed out")
            .expect("send failed");
    }

    /// Sends a whole text message.
    pub async fn send_text(&mut self, text: &str) {
        self.send_raw(&frame(0x80 | TEXT, text.as_bytes())).await;
    }

    /// Sends a whole binary message.
    pub async fn send_binary(&mut self, payload: &[u8]) {
        self.send_raw(&frame(0x80 | BINARY, payload)).await;
    }

    /// Reads more bytes; false at the end of the stream (or a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
            .await
            .expect("nothing read in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// The next frame from the server, or `None` once the stream ended (a reset
    /// included); panics after [`WAIT`].
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, size)) = parse(&self.buf) {
                self.buf.drain(..size);
                self.received += size as u64;
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// The next frame that is not a Ping (answering none of them), or `None` at the
    /// end of the stream.
    pub async fn next_data(&mut self) -> Option<Frame> {
        loop {
            match self.next().await {
                Some(frame) if frame.opcode() == PING => continue,
                other => return other,
            }
        }
    }

    /// The payload of the next message as text, Pings skipped; panics on anything
    /// but a text message.
    pub async fn recv_text(&mut self) -> String {
        let frame = self.next_data().await.expect("a message, not the end");
        assert_eq!(frame.b0, 0x80 | TEXT, "a whole text message: {frame:?}");
        frame.text()
    }

    /// Whether the server ends the stream (after whatever it still sends) within
    /// [`WAIT`]; the frames read meanwhile are returned.
    pub async fn until_end(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            frames.push(frame);
        }
        frames
    }
}

/// The first frame in `buf` and its size on the wire, if it is whole.
fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    let b0 = *buf.first()?;
    let b1 = *buf.get(1)?;
    assert_eq!(b1 & 0x80, 0, "a server frame must not be masked");
    let (len, header) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => {
            let len = u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?);
            (usize::try_from(len).ok()?, 10)
        }
        n => (usize::from(n), 2),
    };
    let payload = buf.get(header..header + len)?.to_vec();
    Some((Frame { b0, payload }, header + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_masked_and_parsed_back_unmasked() {
        let masked = frame(0x81, b"hi");
        assert_eq!(masked[..2], [0x81, 0x82]);
        assert_eq!(masked[6] ^ MASK[0], b'h');
        let server = [0x81, 2, b'h', b'i', 0x88];
        let (parsed, size) = parse(&server).unwrap();
        assert_eq!((parsed.text(), size), ("hi".to_owned(), 4));
        assert_eq!(parse(&server[4..]), None);
        let close = [0x88, 4, 0x03, 0xE9, b'o', b'k'];
        assert_eq!(parse(&close).unwrap().0.close(), Some((1001, "ok".into())));
    }
}
