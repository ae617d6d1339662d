//! Drives the real `switchboard` binary over loopback sockets for end-to-end tests:
//! [`Server`] starts it (killed when the handle drops), [`FrameClient`] speaks `frame`
//! with the opcodes of PROTOCOL.md written out here (never taken from the server's
//! code), and [`stats_until`] polls its STATS.
//!
//! The scaffolding shared with the library's tests comes from `switchboard-testkit`
//! and is re-exported: bounded waits ([`eventually`], [`until`], [`wait_until`]), the
//! [`LineClient`], [`wait_exit`] and `/proc` figures. Included by every test file with
//! `mod support;`; `support/tls.rs`, `support/nats.rs` and `support/openmetrics.rs` are
//! included by the files that need them (`#[path = "support/tls.rs"] mod tls_support;`).
//!
//! Every wait is bounded: a test that goes wrong fails within seconds instead of hanging.
#![allow(dead_code, unused_imports)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub use switchboard_testkit::process::status_kib;
pub use switchboard_testkit::{
    eventually, until, wait_exit, wait_for, wait_until, LineClient, Recording, POLL, WAIT,
};

// The `frame` opcodes, as PROTOCOL.md defines them.
pub const ECHO: u8 = 0x01;
pub const BROADCAST: u8 = 0x02;
pub const PING: u8 = 0x03;
pub const PONG: u8 = 0x04;
pub const STATS: u8 = 0x05;
pub const STATS_REPLY: u8 = 0x06;
pub const REPLICATE: u8 = 0x08;
pub const REPLICATE_REPLY: u8 = 0x09;
pub const JOIN: u8 = 0x0A;
pub const JOINED: u8 = 0x0B;
pub const LEAVE: u8 = 0x0C;
pub const LEFT: u8 = 0x0D;
pub const PUBLISH: u8 = 0x0E;
pub const MESSAGE: u8 = 0x0F;
pub const CLUSTER_STATS: u8 = 0x10;
pub const CLUSTER_STATS_REPLY: u8 = 0x11;
pub const ERROR: u8 = 0x7F;

/// A PUBLISH (and MESSAGE) payload: `name_len | name | message`.
pub fn publish_payload(group: &str, message: &[u8]) -> Vec<u8> {
    let mut payload = vec![group.len() as u8];
    payload.extend_from_slice(group.as_bytes());
    payload.extend_from_slice(message);
    payload
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub frame: SocketAddr,
    pub line: SocketAddr,
    /// The HTTP address of `/metrics` and `/stats`, when started with `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// The `ws_line` listener, when the configuration or the flags ask for one.
    pub ws_line: Option<SocketAddr>,
    /// The `ws_frame` listener, when the configuration or the flags ask for one.
    pub ws_frame: Option<SocketAddr>,
    /// What the server printed on standard output after its listeners, line by line.
    pub stdout: std::sync::mpsc::Receiver<String>,
    /// Keeps the config file alive as long as the server.
    _config: tempfile::NamedTempFile,
}

impl Server {
    /// Starts `switchboard serve` with `extra` TOML appended to ephemeral listen addresses.
    pub fn start(extra: &str) -> Server {
        Server::start_with_args(extra, &[])
    }

    /// Like [`Server::start`], with `args` added after `serve --config FILE`.
    pub fn start_with_args(extra: &str, args: &[&str]) -> Server {
        Server::spawn(extra, args, None)
    }

    /// Like [`Server::start`], logging at `level`; the log lines arrive on the receiver.
    pub fn start_logged(extra: &str, level: &str) -> (Server, std::sync::mpsc::Receiver<String>) {
        Server::start_logged_with_args(extra, &[], level)
    }

    /// Like [`Server::start_logged`], with `args` added after `serve --config FILE`.
    pub fn start_logged_with_args(
        extra: &str,
        args: &[&str],
        level: &str,
    ) -> (Server, std::sync::mpsc::Receiver<String>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (Server::spawn(extra, args, Some((level, tx))), rx)
    }

    fn spawn(
        extra: &str,
        args: &[&str],
        log: Option<(&str, std::sync::mpsc::Sender<String>)>,
    ) -> Server {
        let config = format!("frame = \"127.0.0.1:0\"\nline = \"127.0.0.1:0\"\n{extra}\n");
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(config.as_bytes()).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .args(["serve", "--config"])
            .arg(file.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((level, _)) = &log {
            command.env("RUST_LOG", level).stderr(Stdio::piped());
        }
        let mut child = command.spawn().unwrap();
        if let Some((_, log_tx)) = log {
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if log_tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut frame, mut line, mut metrics) = (None, None, None);
        let (mut ws_line, mut ws_frame) = (None, None);
        let want_metrics = args.contains(&"--metrics");
        let want_ws_line = extra.contains("ws_line") || args.contains(&"--ws-line");
        let want_ws_frame = extra.contains("ws_frame") || args.contains(&"--ws-frame");
        while frame.is_none()
            || line.is_none()
            || (want_metrics && metrics.is_none())
            || (want_ws_line && ws_line.is_none())
            || (want_ws_frame && ws_frame.is_none())
        {
            let out = rx
                .recv_timeout(WAIT)
                .expect("server did not print its listeners");
            let parts: Vec<&str> = out.split_whitespace().collect();
            match parts.as_slice() {
                ["listening", "frame", addr] => frame = addr.parse().ok(),
                ["listening", "line", addr] => line = addr.parse().ok(),
                ["listening", "metrics", addr] => metrics = addr.parse().ok(),
                ["listening", "ws_line", addr] => ws_line = addr.parse().ok(),
                ["listening", "ws_frame", addr] => ws_frame = addr.parse().ok(),
                _ => {}
            }
        }
        Server {
            child,
            frame: frame.unwrap(),
            line: line.unwrap(),
            metrics,
            ws_line,
            ws_frame,
            stdout: rx,
            _config: file,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS")
    }

    /// A `kB` field of the server's `/proc/PID/status` (`VmRSS`, `VmHWM`, `VmData`).
    pub fn status_kib(&self, field: &str) -> u64 {
        status_kib(self.pid(), field).unwrap_or_else(|| panic!("no {field} for the server"))
    }

    pub fn signal(&self, signal: i32) {
        unsafe {
            libc::kill(self.pid() as i32, signal);
        }
    }

    /// Stops the process (SIGSTOP) and returns once the kernel reports it stopped:
    /// the signal is delivered asynchronously, so a request sent right after `kill`
    /// could still be answered.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
        let stat = format!("/proc/{}/stat", self.pid());
        wait_until("the server to stop", WAIT, || {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            // The state follows the parenthesised command name: "pid (comm) T ...".
            state
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('T'))
        });
    }

    /// Waits for the process to exit, for at most [`WAIT`].
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_exit(&mut self.child, "the server", WAIT)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `switchboard` with `args` to completion; returns (status, stderr).
pub fn run_to_exit(args: &[&str]) -> (ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, &format!("switchboard {args:?}"), WAIT);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

/// A `frame` protocol client, over TCP or any byte stream (TLS).
pub struct FrameClient<S = TcpStream> {
    pub stream: S,
    /// Bytes received so far, to check what the server counts as sent.
    pub received_bytes: u64,
}

impl FrameClient {
    pub async fn connect(addr: SocketAddr) -> FrameClient {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        FrameClient::over(stream)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> FrameClient<S> {
    /// A client speaking `frame` over `stream` (connected, handshake done).
    pub fn over(stream: S) -> FrameClient<S> {
        FrameClient {
            stream,
            received_bytes: 0,
        }
    }

    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.send_raw(&encode(opcode, payload)).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes).await.unwrap();
    }

    /// Sends without failing the test when the server has closed the connection.
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Sends a PING and waits for its PONG: the connection is registered after this.
    pub async fn ready(&mut self) {
        self.send(PING, b"ready").await;
        assert_eq!(self.recv().await, (PONG, b"ready".to_vec()));
    }

    /// The next frame; panics on EOF or after `WAIT`.
    pub async fn recv(&mut self) -> (u8, Vec<u8>) {
        self.try_recv().await.expect("connection closed")
    }

    /// The next frame, or None at EOF (or reset).
    pub async fn try_recv(&mut self) -> Option<(u8, Vec<u8>)> {
        tokio::time::timeout(WAIT, self.read_frame())
            .await
            .expect("no frame in time")
    }

    async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await.ok()?;
        let len = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).await.ok()?;
        self.received_bytes += 4 + len as u64;
        let payload = body.split_off(1);
        Some((body[0], payload))
    }

    /// Asserts the server closes the connection (EOF or reset) within `WAIT`.
    pub async fn expect_closed(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(WAIT, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => continue,
                Err(_) => panic!("connection still open"),
            }
        }
    }

    /// The stats snapshot.
    pub async fn stats(&mut self) -> Value {
        self.send(STATS, b"").await;
        let (op, payload) = self.recv().await;
        assert_eq!(op, STATS_REPLY);
        serde_json::from_slice(&payload).unwrap()
    }
}

pub fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(opcode);
    out.extend_from_slice(payload);
    out
}

/// The server's stats snapshot from `GET /stats` of its `--metrics` address: read from
/// outside, without a connection of its own (which would count, or be removed).
pub fn http_stats(metrics: SocketAddr) -> Value {
    let (status, body) = switchboard_testkit::http::get(metrics, "/stats");
    assert_eq!(status, 200, "GET /stats: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls `GET /stats` of `metrics` until `check` holds, for at most `limit`; returns
/// the snapshot that satisfied it. It blocks the thread between polls: call it from a
/// test thread, or `spawn_blocking`.
pub fn http_stats_until(
    metrics: SocketAddr,
    what: &str,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, limit, || {
        let snap = http_stats(metrics);
        match check(&snap) {
            true => Ok(snap),
            false => Err(snap.to_string()),
        }
    })
}

/// Polls the server's stats until `check` holds, for at most [`WAIT`]; returns the
/// snapshot that satisfied it.
pub async fn stats_until<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut FrameClient<S>,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    until(what, WAIT, async || {
        let snap = client.stats().await;
        if check(&snap) {
            Ok(snap)
        } else {
            Err(snap.to_string())
        }
    })
    .await
}

// ----- Identity ------------------------------------------------------------------------

// The identity opcodes of PROTOCOL.md.
pub const AUTH_OP: u8 = 0x12;
pub const AUTHED_OP: u8 = 0x13;
pub const KICK_OP: u8 = 0x14;
pub const KICKED_OP: u8 = 0x15;

/// A `line` client that sent `AUTH <token>` and was answered `AUTHED <user>`.
pub async fn line_as(addr: SocketAddr, token: &str, user: &str) -> LineClient {
    let mut client = LineClient::connect(addr).await;
    client.send(&format!("AUTH {token}")).await;
    assert_eq!(
        client.recv().await.as_deref(),
        Some(format!("AUTHED {user}").as_str())
    );
    client
}

/// A `frame` client that sent AUTH with `token` and was answered AUTHED `user`.
pub async fn frame_as(addr: SocketAddr, token: &str, user: &str) -> FrameClient {
    let mut client = FrameClient::connect(addr).await;
    client.send(AUTH_OP, token.as_bytes()).await;
    assert_eq!(client.recv().await, (AUTHED_OP, user.as_bytes().to_vec()));
    client
}

/// Asserts that `client`'s next line is `expected`, then that the server closes it.
pub async fn expect_last_line(client: &mut LineClient, expected: &str) {
    assert_eq!(client.recv().await.as_deref(), Some(expected));
    assert_eq!(client.recv().await, None, "closed after {expected:?}");
}

/// Seconds since the Unix epoch, for JWT claims.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `claims` as a JWT signed with HS256 under `secret`.
pub fn jwt(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// `claims` as a JWT signed with `algorithm` under `secret`.
pub fn jwt_with(algorithm: jsonwebtoken::Algorithm, secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// `claims` as an unsigned JWT (`"alg": "none"`), the classic forgery.
pub fn jwt_alg_none(claims: &Value) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", b64(claims.to_string().as_bytes()))
}

/// A TCP connection to `addr` from the loopback address `from` (127.0.0.2, 127.0.0.3:
/// clients that the server sees as coming from different addresses).
pub async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(
            from.parse::<std::net::IpAddr>().unwrap(),
            0,
        ))
        .unwrap();
    tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed")
}
