//! TLS on a nonblocking socket, through rustls' I/O-free [`ServerConnection`].
//!
//! The session never waits: each call moves what it can and answers `WouldBlock`
//! otherwise. Reading takes ciphertext from the socket, lets rustls process it
//! (handshake messages, records) and hands out the plaintext. Writing gives rustls at
//! most one buffer limit of plaintext, encrypts it at once into the session's own
//! buffer of records, and writes that buffer to the socket. Because the session knows
//! where in the encrypted stream each piece of plaintext ends, it reports as
//! *confirmed* exactly the application bytes whose records have fully reached the
//! socket: a peer that stops reading holds at most one buffer limit of records here,
//! and the rest stays (and is counted) in the connection's outbound queue.

use super::{ReadFailure, Written};
use rustls::{ServerConfig, ServerConnection};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

/// Plaintext rustls takes in one write (and buffers during the handshake): the
/// encrypted bytes a connection holds beyond its outbound queue stay near this.
const BUFFER_LIMIT: usize = 64 * 1024;

/// One server-side TLS session over a nonblocking byte stream.
pub(crate) struct TlsSession {
    /// The TLS state machine: handshake, record protection, alerts.
    conn: ServerConnection,
    /// Encrypted bytes produced by rustls and not yet taken by the socket; held here
    /// (not in rustls) so that the offset where each application write ends is known.
    pending: Vec<u8>,
    /// How much of the front of `pending` the socket has already taken.
    pending_sent: usize,
    /// Encrypted bytes produced since the start: the stream offset of `pending`'s end.
    produced: u64,
    /// Encrypted bytes the socket has taken since the start.
    written: u64,
    /// Application bytes taken but not yet on the socket: the encrypted-stream offset at
    /// which their last record ends, and how many they are. Oldest first.
    unconfirmed: VecDeque<(u64, usize)>,
    /// `close_notify` is queued: the socket's write half is to be shut once it is out.
    close_pending: bool,
}

impl TlsSession {
    /// A session that waits for a client's handshake under `config`.
    pub fn new(config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        let mut conn = ServerConnection::new(config)?;
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(TlsSession {
            conn,
            pending: Vec::new(),
            pending_sent: 0,
            produced: 0,
            written: 0,
            unconfirmed: VecDeque::new(),
            close_pending: false,
        })
    }

    /// Whether the handshake is still under way (no application data moves yet).
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// The certificate chain the client presented, verified by the configuration's
    /// client-certificate verifier (end entity first); `None` without one.
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// Whether encrypted bytes wait for the socket.
    pub fn wants_write(&self) -> bool {
        self.pending_sent < self.pending.len()
    }

    /// Reads plaintext into `buf`: `Ok(0)` is the peer's end of stream (with or without
    /// `close_notify`); `WouldBlock` means the socket is empty for now.
    pub fn read<S: Read + Write>(
        &mut self,
        io: &mut S,
        buf: &mut [u8],
    ) -> Result<usize, ReadFailure> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer closed TCP without `close_notify`: its end of stream all the
                // same (a truncation cannot hide inside our framed protocols).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(ReadFailure::Tls(e.to_string())),
            }
            // rustls holds no plaintext: take ciphertext from the socket. `Ok(0)` marks
            // the end of stream, which the reader reports on the next turn.
            if self.conn.read_tls(io)? == 0 {
                continue;
            }
            let handshaking = self.conn.is_handshaking();
            let processed = self.conn.process_new_packets();
            self.take_records();
            if let Err(e) = processed {
                // Tell the peer why with the alert rustls queued; the connection closes
                // at once whether or not the socket takes it.
                let _ = self.flush(io);
                return Err(if handshaking {
                    ReadFailure::Handshake(e.to_string())
                } else {
                    ReadFailure::Tls(e.to_string())
                });
            }
        }
    }

    /// Offers plaintext after the handshake; call it only when
    /// [`wants_write`](Self::wants_write) is false. Takes at most the buffer limit,
    /// encrypts it and writes what the socket accepts. During the handshake nothing is
    /// taken.
    pub fn write<S: Write>(&mut self, io: &mut S, bufs: &[IoSlice<'_>]) -> io::Result<Written> {
        if self.conn.is_handshaking() {
            return Ok(Written::default());
        }
        let taken = self.conn.writer().write_vectored(bufs)?;
        self.take_records();
        if taken > 0 {
            self.unconfirmed.push_back((self.produced, taken));
        }
        let confirmed = match self.flush(io) {
            Ok(confirmed) => confirmed,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        Ok(Written { taken, confirmed })
    }

    /// Makes one write of the encrypted bytes waiting; answers the application bytes
    /// thereby confirmed. `WouldBlock` when the socket took nothing.
    pub fn flush<S: Write>(&mut self, io: &mut S) -> io::Result<usize> {
        if self.wants_write() {
            match io.write(&self.pending[self.pending_sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pending_sent += n;
                    self.written += n as u64;
                }
                Err(e) => return Err(e),
            }
            if !self.wants_write() {
                // Drained: an idle connection keeps no buffer.
                self.pending = Vec::new();
                self.pending_sent = 0;
            }
        }
        Ok(self.confirm())
    }

    /// Queues `close_notify` and writes what the socket takes now; answers whether
    /// everything is out (else [`close_ready`](Self::close_ready) says when it is).
    pub fn close<S: Write>(&mut self, io: &mut S) -> io::Result<bool> {
        self.conn.send_close_notify();
        self.take_records();
        while self.wants_write() {
            match self.flush(io) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        self.close_pending = self.wants_write();
        Ok(!self.close_pending)
    }

    /// True once, when a `close_notify` left waiting by [`close`](Self::close) is out:
    /// the socket's write half may be shut now.
    pub fn close_ready(&mut self) -> bool {
        let ready = self.close_pending && !self.wants_write();
        if ready {
            self.close_pending = false;
        }
        ready
    }

    /// Moves what rustls has encrypted into `pending`.
    fn take_records(&mut self) {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.pending) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.produced += n as u64,
            }
        }
    }

    /// Application bytes whose records are now entirely on the socket.
    fn confirm(&mut self) -> usize {
        let mut confirmed = 0;
        while let Some(&(end, count)) = self.unconfirmed.front() {
            if end > self.written {
                break;
            }
            confirmed += count;
            self.unconfirmed.pop_front();
        }
        confirmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection};

    /// Both directions of an in-memory connection; the server's side is nonblocking
    /// and its outbound direction holds at most `room` bytes.
    struct Wire {
        /// Bytes from the client not yet read by the server.
        to_server: VecDeque<u8>,
        /// Bytes from the server not yet read by the client.
        to_client: VecDeque<u8>,
        /// How many bytes `to_client` holds at most (a socket's send buffer).
        room: usize,
    }

    impl Read for Wire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.to_server.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.to_server.read(buf)
        }
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf
                .len()
                .min(self.room.saturating_sub(self.to_client.len()));
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.to_client.extend(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A server config with a fresh self-signed certificate, and a client trusting it.
    fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
        let cert = switchboard_testkit::TestCert::localhost();
        (cert.server_config(), cert.client_config())
    }

    /// Moves the client's records to the wire and the server's to the client.
    fn pump_client(client: &mut ClientConnection, wire: &mut Wire) {
        while client.wants_write() {
            client.write_tls(&mut wire.to_server).unwrap();
        }
        while !wire.to_client.is_empty() {
            client.read_tls(&mut wire.to_client).unwrap();
            client.process_new_packets().unwrap();
        }
    }

    /// Runs the handshake to the end (bounded turns) with room to spare on the wire,
    /// then leaves the server's outbound direction `room` bytes.
    fn connected(room: usize) -> (TlsSession, ClientConnection, Wire) {
        let (server, client) = configs();
        let mut session = TlsSession::new(server).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut client = ClientConnection::new(client, name).unwrap();
        let mut wire = Wire {
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            room: 1 << 20,
        };
        let mut buf = [0u8; 1024];
        for _ in 0..20 {
            if !session.is_handshaking() && !client.is_handshaking() {
                break;
            }
            pump_client(&mut client, &mut wire);
            match session.read(&mut wire, &mut buf) {
                Err(ReadFailure::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("unexpected read during the handshake: {other:?}"),
            }
            while session.wants_write() {
                session.flush(&mut wire).unwrap();
            }
        }
        assert!(!session.is_handshaking(), "handshake did not finish");
        assert!(!client.is_handshaking());
        pump_client(&mut client, &mut wire);
        wire.room = room;
        (session, client, wire)
    }

    #[test]
    fn handshake_then_data_both_ways() {
        let (mut session, mut client, mut wire) = connected(1 << 20);
        client.writer().write_all(b"hello server").unwrap();
        pump_client(&mut client, &mut wire);
        let mut buf = [0u8; 64];
        let n = session.read(&mut wire, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello server");

        let written = session
            .write(
                &mut wire,
                &[IoSlice::new(b"hello "), IoSlice::new(b"client")],
            )
            .unwrap();
        assert_eq!(
            written,
            Written {
                taken: 12,
                confirmed: 12
            }
        );
        pump_client(&mut client, &mut wire);
        let mut got = [0u8; 64];
        let n = client.reader().read(&mut got).unwrap();
        assert_eq!(&got[..n], b"hello client");
    }

    #[test]
    fn bytes_are_confirmed_only_once_their_records_reach_the_socket() {
        let (mut session, mut client, mut wire) = connected(1 << 20);
        wire.room = 100;
        let data = vec![7u8; 10_000];
        let written = session.write(&mut wire, &[IoSlice::new(&data)]).unwrap();
        assert_eq!(written.taken, 10_000);
        assert_eq!(written.confirmed, 0, "only 100 bytes of records left");
        assert!(session.wants_write());
        // The socket drains slowly: nothing is confirmed until the last byte is out.
        let mut confirmed = 0;
        let mut received = Vec::new();
        for _ in 0..1000 {
            pump_client(&mut client, &mut wire);
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = client.reader().read(&mut chunk) {
                received.extend_from_slice(&chunk[..n]);
            }
            if !session.wants_write() {
                break;
            }
            assert_eq!(confirmed, 0);
            confirmed += session.flush(&mut wire).unwrap();
        }
        assert_eq!(confirmed, 10_000);
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = client.reader().read(&mut chunk) {
            received.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(received, data);
    }

    #[test]
    fn one_write_takes_at_most_the_buffer_limit() {
        let (mut session, _client, mut wire) = connected(0);
        let data = vec![1u8; 4 * BUFFER_LIMIT];
        let written = session.write(&mut wire, &[IoSlice::new(&data)]).unwrap();
        assert!(
            written.taken > 0 && written.taken <= BUFFER_LIMIT,
            "{written:?}"
        );
        assert_eq!(written.confirmed, 0);
        assert!(session.pending.len() < BUFFER_LIMIT + 1024);
        assert!(matches!(
            session.flush(&mut wire),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        ));
    }

    #[test]
    fn a_plain_text_client_fails_the_handshake() {
        let (server, _) = configs();
        let mut session = TlsSession::new(server).unwrap();
        let mut wire = Wire {
            to_server: b"PING\r\nSTATS\r\n".iter().copied().collect(),
            to_client: VecDeque::new(),
            room: 1 << 20,
        };
        let mut buf = [0u8; 64];
        match session.read(&mut wire, &mut buf) {
            Err(ReadFailure::Handshake(_)) => {}
            other => panic!("expected a handshake failure, got {other:?}"),
        }
        // The alert went out.
        assert!(!wire.to_client.is_empty());
    }

    #[test]
    fn close_sends_close_notify_and_end_of_stream_reads_as_zero() {
        let (mut session, mut client, mut wire) = connected(1 << 20);
        assert!(session.close(&mut wire).unwrap());
        pump_client(&mut client, &mut wire);
        let mut got = [0u8; 16];
        assert_eq!(
            client.reader().read(&mut got).unwrap(),
            0,
            "close_notify seen"
        );

        client.send_close_notify();
        pump_client(&mut client, &mut wire);
        let mut buf = [0u8; 16];
        assert_eq!(session.read(&mut wire, &mut buf).unwrap(), 0);
    }

    #[test]
    fn close_waits_for_room_then_reports_ready_once() {
        let (mut session, _client, mut wire) = connected(0);
        assert!(!session.close(&mut wire).unwrap());
        assert!(!session.close_ready());
        wire.room = 1 << 20;
        session.flush(&mut wire).unwrap();
        assert!(session.close_ready());
        assert!(!session.close_ready());
    }
}
