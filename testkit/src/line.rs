//! A client of a newline-terminated text protocol (the server's `line`, the library's
//! test protocols), over TCP or over any byte stream split in two halves (TLS).

use crate::WAIT;
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A line client: `send` a line, `recv` the next one.
pub struct LineClient<R = OwnedReadHalf, W = OwnedWriteHalf> {
    /// Where lines come from (for raw reads of what is not a line).
    pub reader: BufReader<R>,
    /// Where lines go (for raw writes: a line without its ending, a bare `\r\n`).
    pub writer: W,
}

impl LineClient {
    /// Connects over TCP, within [`WAIT`].
    pub async fn connect(addr: SocketAddr) -> LineClient {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        let (reader, writer) = stream.into_split();
        LineClient::over(reader, writer)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> LineClient<R, W> {
    /// A client over `reader` and `writer` (the halves of a connected stream).
    pub fn over(reader: R, writer: W) -> Self {
        LineClient {
            reader: BufReader::new(reader),
            writer,
        }
    }

    /// Sends `line` and its `\n`.
    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("send a line");
        self.writer.flush().await.expect("flush a line");
    }

    /// The next line without its `\n` (anything else in it, a `\r` or a trailing
    /// space, is kept), or `None` at EOF or reset; panics after [`WAIT`].
    pub async fn recv(&mut self) -> Option<String> {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
            .await
            .expect("no line in time")
            .unwrap_or(0);
        (n > 0).then(|| line.strip_suffix('\n').unwrap_or(&line).to_owned())
    }
}
