//! Connections accepted with [`Switchboard::listen_ws`], driven by a raw WebSocket
//! client over loopback, beside stream connections of the same protocol: the handshake
//! and its request in `on_open`, one message per packet both ways, broadcasts and
//! group messages framed for WebSocket members, removals with their Close frames, and
//! the handshake's refusals and deadline.

mod common;

use common::{eventually, record_removals, LineClient, WAIT};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::config::{ConnectionLimits, WebSocketConfig};
use switchboard::websocket::PacketMapping;
use switchboard::{GroupEncoder, Outbox, Protocol, RemovalReason, Switchboard, SwitchboardConfig};
use switchboard_testkit::ws::{self, WsClient};

/// A line protocol: `hello <path> <bearer token>` on opening (`hello stream` on a
/// stream), then `ECHO x` -> `x`, `ALL x` broadcast, `JOIN g`, `PUB g x`, `BYE`.
struct Room;

impl Protocol for Room {
    const NAME: &'static str = "room";
    type Request = String;
    type Response = String;
    type Codec = Lines;

    fn codec(&self) -> Lines {
        Lines::new(64)
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        let (command, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match command {
            "ECHO" => out.reply(arg.to_owned()),
            "ALL" => out.broadcast(arg.to_owned()),
            "JOIN" => {
                out.join(arg);
                out.reply(format!("JOINED {arg}"));
            }
            "PUB" => {
                let (group, text) = arg.split_once(' ').unwrap_or((arg, ""));
                out.publish(group, text.to_owned());
            }
            "BYE" => out.close(RemovalReason::Closed),
            _ => out.bad_packet("unknown command"),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(format!("ERR {reason}"))
    }

    fn on_open(&mut self, out: &mut Outbox<String>) {
        let hello = match out.handshake() {
            Some(request) => {
                let token = request.bearer_token().unwrap_or("-");
                format!("hello {} {token}", request.path())
            }
            None => "hello stream".to_owned(),
        };
        out.reply(hello);
    }

    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|group, message| {
            let text = String::from_utf8_lossy(message);
            Ok(bytes::Bytes::from(format!("MSG {group} {text}\n")))
        }))
    }
}

/// A switchboard with a stream and a WebSocket listener of [`Room`] on one worker.
fn start(limits: ConnectionLimits, ws: WebSocketConfig) -> (Switchboard, SocketAddr, SocketAddr) {
    let board = Switchboard::start(
        SwitchboardConfig::default()
            .with_connection(limits.with_stats_interval(Duration::from_millis(20)))
            .with_workers(1),
    );
    let stream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = board.listen(stream, || Room).unwrap();
    let websocket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let websocket = board.listen_ws(websocket, ws, || Room).unwrap();
    (board, stream.local_addr, websocket.local_addr)
}

fn text_lines() -> WebSocketConfig {
    WebSocketConfig::text(PacketMapping::Line, 64)
}

#[actix_rt::test]
async fn the_request_reaches_on_open_and_each_message_is_one_line() {
    let (_board, _, addr) = start(ConnectionLimits::default(), text_lines());
    let mut client = WsClient::over(ws::connect_tcp(addr).await);
    let head = client
        .handshake(&ws::request("/chat?x=1", "Authorization: Bearer t0k3n\r\n"))
        .await;
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_eq!(client.recv_text().await, "hello /chat t0k3n");
    client.send_text("ECHO one").await;
    client.send_text("ECHO two").await;
    assert_eq!(client.recv_text().await, "one");
    assert_eq!(client.recv_text().await, "two");
    // A message holding a line break is an error packet, answered in one message.
    client.send_text("ECHO a\nECHO b").await;
    assert_eq!(client.recv_text().await, "ERR message holds a line break");
}

#[actix_rt::test]
async fn broadcasts_and_group_messages_reach_stream_and_websocket_members_each_in_its_framing() {
    let (board, stream_addr, ws_addr) = start(ConnectionLimits::default(), text_lines());
    let mut tcp = LineClient::connect(stream_addr).await;
    assert_eq!(tcp.recv().await.as_deref(), Some("hello stream"));
    let mut browsers = Vec::new();
    for _ in 0..3 {
        let mut client = WsClient::connect(ws_addr, "/").await;
        assert_eq!(client.recv_text().await, "hello / -");
        client.send_text("JOIN lobby").await;
        assert_eq!(client.recv_text().await, "JOINED lobby");
        browsers.push(client);
    }
    tcp.send("JOIN lobby").await;
    assert_eq!(tcp.recv().await.as_deref(), Some("JOINED lobby"));
    eventually("four members", || {
        let handle = board.handle().clone();
        async move { handle.members("lobby").await.map(|m| m.len()).unwrap_or(0) == 4 }
    })
    .await;
    for i in 0..20 {
        tcp.send(&format!("PUB lobby m{i}")).await;
    }
    for client in &mut browsers {
        for i in 0..20 {
            assert_eq!(client.recv_text().await, format!("MSG lobby m{i}"));
        }
    }
    for i in 0..20 {
        assert_eq!(tcp.recv().await, Some(format!("MSG lobby m{i}")));
    }
    // A broadcast to the protocol group, framed for the browsers.
    tcp.send("ALL everyone").await;
    for client in &mut browsers {
        assert_eq!(client.recv_text().await, "everyone");
    }
    assert_eq!(tcp.recv().await.as_deref(), Some("everyone"));
    // From a browser, to the stream member and the other browsers.
    browsers[0].send_text("PUB lobby from-browser").await;
    for client in &mut browsers {
        assert_eq!(client.recv_text().await, "MSG lobby from-browser");
    }
    assert_eq!(tcp.recv().await.as_deref(), Some("MSG lobby from-browser"));
    let stats = board.handle().stats().await.unwrap();
    assert_eq!(stats.websocket, 3);
    assert_eq!(stats.connections.get("room"), Some(&4));
}

#[actix_rt::test]
async fn a_removal_sends_a_close_after_the_last_replies_and_counts_framed_bytes() {
    let (board, _, addr) = start(ConnectionLimits::default(), text_lines());
    let removed = record_removals(board.handle());
    let mut client = WsClient::connect(addr, "/").await;
    client.send_text("ECHO last").await;
    client.send_text("BYE").await;
    let frames = client.until_end().await;
    let texts: Vec<String> = frames.iter().map(|f| f.text()).collect();
    assert_eq!(texts[..2], ["hello / -", "last"]);
    assert_eq!(frames[2].close(), Some((1000, "closed".to_owned())));
    assert_eq!(frames.len(), 3, "nothing after the Close");
    let received = client.received;
    eventually("the removal and the bytes", || {
        let handle = board.handle().clone();
        let removed = removed.clone();
        async move {
            let sent = handle.stats().await.unwrap().sent_bytes_total;
            removed
                .seen()
                .await
                .iter()
                .any(|r| r.reason == RemovalReason::Closed)
                && sent == received
        }
    })
    .await;
    assert_eq!(board.handle().stats().await.unwrap().websocket, 0);
}

#[actix_rt::test]
async fn the_clients_close_is_answered_with_its_code() {
    let (board, _, addr) = start(ConnectionLimits::default(), text_lines());
    let removed = record_removals(board.handle());
    let mut client = WsClient::connect(addr, "/").await;
    assert_eq!(client.recv_text().await, "hello / -");
    client.send_raw(&ws::close_frame(1001, "going")).await;
    let frames = client.until_end().await;
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].close(), Some((1001, String::new())));
    eventually("removed as peer_closed", || {
        let removed = removed.clone();
        async move {
            removed
                .seen()
                .await
                .iter()
                .any(|r| r.reason == RemovalReason::PeerClosed)
        }
    })
    .await;
}

#[actix_rt::test]
async fn refused_and_unfinished_handshakes_are_removed_as_ws_handshake() {
    let ws = text_lines()
        .with_origins(["http://good.example"])
        .with_handshake_timeout(Duration::from_millis(300));
    let (board, _, addr) = start(ConnectionLimits::default(), ws);
    let removed = record_removals(board.handle());
    let cases = [
        (
            ws::request("/", "Origin: http://good.example\r\n"),
            "HTTP/1.1 101 ",
        ),
        (
            ws::request("/", "Origin: http://evil.example\r\n"),
            "HTTP/1.1 403 ",
        ),
        (ws::request("/", ""), "HTTP/1.1 403 "),
        (
            ws::request("/", "Origin: http://good.example\r\n")
                .replace("Version: 13", "Version: 8"),
            "HTTP/1.1 426 ",
        ),
        (
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            "HTTP/1.1 400 ",
        ),
    ];
    let mut clients = Vec::new();
    for (request, status) in cases {
        let mut client = WsClient::over(ws::connect_tcp(addr).await);
        let head = client.handshake(&request).await;
        assert!(head.starts_with(status), "{request}: {head}");
        if status.contains("426") {
            assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
        }
        clients.push(client);
    }
    // A request that never ends: removed at the deadline, answered 400 where possible.
    let started = std::time::Instant::now();
    let mut slow = WsClient::over(ws::connect_tcp(addr).await);
    let head = slow.handshake("GET / HTTP/1.1\r\nHost: x\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(head.is_empty() || started.elapsed() >= Duration::from_millis(300));
    eventually("five ws_handshake removals", || {
        let removed = removed.clone();
        async move {
            let seen = removed.seen().await;
            seen.iter()
                .filter(|r| r.reason == RemovalReason::WsHandshake)
                .count()
                == 5
        }
    })
    .await;
    eventually("one open, none handshaking", || {
        let handle = board.handle().clone();
        async move { handle.stats().await.unwrap().websocket == 1 }
    })
    .await;
}

#[actix_rt::test]
async fn deliveries_due_before_the_response_wait_for_it() {
    let (_board, stream_addr, ws_addr) = start(ConnectionLimits::default(), text_lines());
    let mut tcp = LineClient::connect(stream_addr).await;
    assert_eq!(tcp.recv().await.as_deref(), Some("hello stream"));
    let mut client = WsClient::over(ws::connect_tcp(ws_addr).await);
    let request = ws::request("/", "");
    let (first, rest) = request.split_at(20);
    client.send_raw(first.as_bytes()).await;
    // Registered in its protocol group from the start: it is in the broadcast's
    // audience, and the packet waits for the handshake's response.
    tokio::time::sleep(Duration::from_millis(100)).await;
    tcp.send("ALL early").await;
    assert_eq!(tcp.recv().await.as_deref(), Some("early"));
    let head = client.handshake(rest).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(client.recv_text().await, "early");
    assert_eq!(client.recv_text().await, "hello / -");
}

#[actix_rt::test]
async fn shutdown_closes_every_websocket_with_1001() {
    let (board, _, addr) = start(ConnectionLimits::default(), text_lines());
    let mut client = WsClient::connect(addr, "/").await;
    assert_eq!(client.recv_text().await, "hello / -");
    let shutdown = tokio::time::timeout(WAIT, board.shutdown());
    let (closed, frames) = tokio::join!(shutdown, client.until_end());
    assert_eq!(closed.expect("shutdown in time"), 1);
    let last = frames.last().expect("a Close");
    assert_eq!(last.close(), Some((1001, "shutdown".to_owned())));
}

#[actix_rt::test]
async fn a_connection_handed_over_by_another_server_with_its_request_read() {
    let (board, _, _) = start(ConnectionLimits::default(), text_lines());
    let entry = board.websocket_entry(text_lines(), || Room);
    // Another server accepts, and reads the request (and a first message after it).
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = http.local_addr().unwrap();
    let mut client = WsClient::over(ws::connect_tcp(addr).await);
    let accepted = tokio::task::spawn_blocking(move || http.accept().unwrap());
    let request = ws::request("/handed?x=1", "Authorization: Bearer abc\r\n");
    let mut sent = request.clone().into_bytes();
    sent.extend(ws::frame(0x81, b"ECHO early"));
    client.send_raw(&sent).await;
    let (mut socket, peer) = accepted.await.unwrap();
    let mut read = vec![0u8; sent.len()];
    std::io::Read::read_exact(&mut socket, &mut read).unwrap();
    entry.hand_over(socket, peer, read.into()).unwrap();
    let head = client.handshake("").await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(client.recv_text().await, "hello /handed abc");
    assert_eq!(client.recv_text().await, "early");
    assert_eq!(board.handle().stats().await.unwrap().websocket, 1);
}
