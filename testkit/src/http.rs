//! A plain HTTP/1.0 GET over a blocking socket, for what a test reads from outside a
//! process (a server's `/stats`, a NATS server's monitoring): no HTTP client library,
//! no runtime, every read bounded by [`WAIT`].

use crate::WAIT;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// `GET path` from `addr`: the status code and the body; panics if there is no answer.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_get(addr, path).unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
}

/// `GET path` from `addr`, or why there is no answer (nobody listens any more, the
/// answer is not HTTP).
pub fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, WAIT)?;
    stream.set_read_timeout(Some(WAIT))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {head:?}")))?;
    Ok((status, body.to_owned()))
}
