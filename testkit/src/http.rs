//! A plain HTTP/1.0 GET over a blocking socket, for what a test reads from outside a
//! process (a server's `/stats`, a NATS server's monitoring): no HTTP client library,
//! no runtime, every read bounded by [`WAIT`].

use crate::WAIT;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// `GET path` from `addr`: the status code and the body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, WAIT)
        .unwrap_or_else(|e| panic!("connect to {addr} for GET {path}: {e}"));
    stream.set_read_timeout(Some(WAIT)).expect("a read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send a GET");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("GET {path} from {addr}: no status in {head:?}"));
    (status, body.to_owned())
}
