//! The opening handshake (RFC 6455 section 4.2), without I/O: the bytes of an HTTP/1.1
//! request come in, and out comes either the `101 Switching Protocols` response and
//! the request for the application, or an error response and why.
//!
//! The request is bounded: bytes are only searched for the end of the head (each byte
//! once, so a client sending one byte at a time costs linear time), and a head that
//! does not end within the bound is refused as soon as the bound is passed, not
//! buffered further.

use super::request::Request;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;

/// The GUID that RFC 6455 appends to a client's key before hashing it.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Headers a request may have at most.
pub const MAX_HEADERS: usize = 64;

/// What the handshake accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// Bytes the request's head (request line and headers) may take at most; a
    /// longer one is refused with `400`.
    pub max_request_bytes: usize,
    /// The `Origin` values allowed (compared without regard to ASCII case), or `None`
    /// to allow any origin and none. With a list, a request without an `Origin` or
    /// with one not listed is refused with `403`.
    pub origins: Option<Arc<[String]>>,
}

impl Default for HandshakeConfig {
    /// 16 KiB for the head (room for large cookies), any origin.
    fn default() -> Self {
        HandshakeConfig {
            max_request_bytes: 16 * 1024,
            origins: None,
        }
    }
}

/// A handshake that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The request, for the application (authentication from a header, a cookie, a
    /// query parameter).
    pub request: Request,
    /// The `101 Switching Protocols` response, to write before any frame.
    pub response: Bytes,
}

/// A handshake that failed: write `response` (where the peer can still read it), then
/// close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status: 400, 403 or 426.
    pub status: u16,
    /// Why, in a few words (also the response's body).
    pub reason: &'static str,
    /// The complete HTTP response.
    pub response: Bytes,
}

impl Refusal {
    /// The refusal with `status` (400, 403 or 426) for `reason`.
    pub(crate) fn new(status: u16, reason: &'static str) -> Refusal {
        let (text, extra) = match status {
            403 => ("Forbidden", ""),
            426 => (
                "Upgrade Required",
                "Sec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n",
            ),
            _ => ("Bad Request", ""),
        };
        let response = format!(
            "HTTP/1.1 {status} {text}\r\nConnection: close\r\n{extra}\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{reason}\n",
            reason.len() + 1
        );
        Refusal {
            status,
            reason,
            response: Bytes::from(response),
        }
    }
}

/// The opening handshake of one connection.
#[derive(Debug)]
pub struct Handshake {
    /// What it accepts.
    config: HandshakeConfig,
    /// Bytes at the front of the buffer already searched for the end of the head.
    scanned: usize,
}

impl Handshake {
    /// A handshake waiting for a request under `config`.
    pub fn new(config: HandshakeConfig) -> Self {
        Handshake { config, scanned: 0 }
    }

    /// Reads the request from the front of `buf`, where the caller appends the bytes
    /// that arrive: `None` while the head is incomplete (and within the bound);
    /// otherwise the outcome, with the head taken from `buf` and any bytes after it
    /// (frames sent early) left there. Call it again after more bytes arrive.
    pub fn read(&mut self, buf: &mut BytesMut) -> Option<Result<Accepted, Refusal>> {
        let from = self.scanned.saturating_sub(3);
        let Some(end) = find_end(&buf[from..]).map(|at| from + at) else {
            self.scanned = buf.len();
            if buf.len() > self.config.max_request_bytes {
                return Some(Err(Refusal::new(400, "request too large")));
            }
            return None;
        };
        if end > self.config.max_request_bytes {
            return Some(Err(Refusal::new(400, "request too large")));
        }
        let head = buf.split_to(end);
        self.scanned = 0;
        Some(self.check(&head))
    }

    /// Checks a complete head against RFC 6455 section 4.2.1 and the configuration.
    fn check(&self, head: &[u8]) -> Result<Accepted, Refusal> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(Refusal::new(400, "malformed request")),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Refusal::new(400, "too many headers"))
            }
            Err(_) => return Err(Refusal::new(400, "malformed request")),
        }
        if parsed.method != Some("GET") {
            return Err(Refusal::new(400, "not a GET request"));
        }
        if parsed.version != Some(1) {
            return Err(Refusal::new(400, "not HTTP/1.1"));
        }
        let target = parsed.path.unwrap_or_default();
        if !target.starts_with('/') {
            return Err(Refusal::new(400, "request target is not a path"));
        }
        let fields = parsed.headers;
        let values = |name: &'static str| {
            fields
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let has_token = |name: &'static str, token: &str| {
            values(name)
                .filter_map(|v| std::str::from_utf8(v).ok())
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if !has_token("upgrade", "websocket") {
            return Err(Refusal::new(400, "not a websocket upgrade"));
        }
        if !has_token("connection", "upgrade") {
            return Err(Refusal::new(400, "connection header lacks upgrade"));
        }
        let mut versions = values("sec-websocket-version");
        match (versions.next(), versions.next()) {
            (Some(v), None) if v.trim_ascii() == b"13" => {}
            _ => return Err(Refusal::new(426, "unsupported websocket version")),
        }
        if values("host").count() != 1 {
            return Err(Refusal::new(400, "missing or repeated host"));
        }
        if values("content-length").any(|v| v.trim_ascii() != b"0")
            || values("transfer-encoding").next().is_some()
        {
            return Err(Refusal::new(400, "a handshake has no body"));
        }
        let mut keys = values("sec-websocket-key");
        let key = match (keys.next(), keys.next()) {
            (Some(key), None) => key.trim_ascii(),
            _ => return Err(Refusal::new(400, "missing or repeated key")),
        };
        if !STANDARD.decode(key).is_ok_and(|nonce| nonce.len() == 16) {
            return Err(Refusal::new(400, "invalid key"));
        }
        if let Some(allowed) = &self.config.origins {
            let mut origins = values("origin");
            let origin = match (origins.next(), origins.next()) {
                (Some(origin), None) => origin.trim_ascii(),
                _ => return Err(Refusal::new(403, "origin not allowed")),
            };
            if !allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin))
            {
                return Err(Refusal::new(403, "origin not allowed"));
            }
        }
        let request = Request::new(target, fields.iter().map(|h| (h.name, h.value)));
        Ok(Accepted {
            request,
            response: switching_protocols(key),
        })
    }
}

/// Where the head ends in `bytes` (just after its empty line), if it does.
fn find_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The value of `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut input = Vec::with_capacity(key.len() + ACCEPT_GUID.len());
    input.extend_from_slice(key);
    input.extend_from_slice(ACCEPT_GUID);
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    STANDARD.encode(digest.as_ref())
}

/// The `101 Switching Protocols` response for a client's key. No extension and no
/// subprotocol is selected.
fn switching_protocols(key: &[u8]) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    ))
}

#[cfg(test)]
mod tests;
