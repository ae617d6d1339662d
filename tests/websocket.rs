//! The "WebSocket" section of PROTOCOL.md against the real binary: `ws_line` and
//! `ws_frame` with a strict client (tokio-tungstenite), every violation of RFC 6455 with
//! raw sockets, the handshake's refusals and deadline, a room whose members are on all
//! four transports, the heartbeat as Pings, SIGTERM, `wss`, and the bytes counted.

mod support;
#[path = "support/tls.rs"]
mod tls_support;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::{
    http_stats, http_stats_until, publish_payload, FrameClient, LineClient, Server, ECHO, ERROR,
    JOIN, JOINED, MESSAGE, PUBLISH, WAIT,
};
use switchboard_testkit::ws::{self as raw, WsClient};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A server with both WebSocket listeners and the HTTP port (for stats read from
/// outside), plus `extra` configuration.
fn server(extra: &str) -> Server {
    let config = format!("ws_line = \"127.0.0.1:0\"\nws_frame = \"127.0.0.1:0\"\n{extra}");
    Server::start_with_args(&config, &["--metrics", "127.0.0.1:0"])
}

fn ws_line(server: &Server) -> SocketAddr {
    server.ws_line.expect("ws_line listening")
}

fn ws_frame(server: &Server) -> SocketAddr {
    server.ws_frame.expect("ws_frame listening")
}

fn stats(server: &Server) -> Value {
    http_stats(server.metrics.expect("the HTTP port"))
}

/// Polls the stats (from outside) until `check` holds.
fn stats_until(server: &Server, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    http_stats_until(server.metrics.expect("the HTTP port"), what, WAIT, check)
}

/// A strict client (tokio-tungstenite), connected within [`WAIT`].
async fn strict<S>(stream: S, url: &str) -> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = url.into_client_request().unwrap();
    let (ws, response) =
        tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream))
            .await
            .expect("handshake in time")
            .expect("handshake");
    assert_eq!(response.status(), 101);
    ws
}

async fn connect(addr: SocketAddr) -> WebSocketStream<tokio::net::TcpStream> {
    strict(raw::connect_tcp(addr).await, &format!("ws://{addr}/")).await
}

/// The next data message (Pings and Pongs skipped; tungstenite answers Pings itself
/// as it reads), or `None` at the end.
async fn next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> Option<Message> {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return Some(message),
            Some(Err(_)) | None => return None,
        }
    }
}

async fn recv_text<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> String {
    match next(ws).await {
        Some(Message::Text(text)) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A frame body from `ws_frame`: (opcode, payload).
async fn recv_body<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
) -> (u8, Vec<u8>) {
    match next(ws).await {
        Some(Message::Binary(body)) => (body[0], body[1..].to_vec()),
        other => panic!("expected a binary message, got {other:?}"),
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, message: Message) {
    tokio::time::timeout(WAIT, ws.send(message))
        .await
        .expect("sent in time")
        .expect("sent");
}

fn body(opcode: u8, payload: &[u8]) -> Message {
    let mut body = vec![opcode];
    body.extend_from_slice(payload);
    Message::binary(body)
}

/// A raw client on `addr`, upgraded.
async fn raw(addr: SocketAddr) -> WsClient {
    WsClient::connect(addr, "/").await
}

/// What a raw client gets after `bytes` until the server ends the connection: the
/// texts or bodies of its messages, and the Close's code and reason.
async fn answer_to(addr: SocketAddr, bytes: &[u8]) -> (Vec<String>, Option<(u16, String)>) {
    let mut client = raw(addr).await;
    client.send_raw(bytes).await;
    let frames = client.until_end().await;
    let close = frames.last().and_then(|f| f.close());
    let texts = frames
        .iter()
        .filter(|f| f.opcode() == raw::TEXT || f.opcode() == raw::BINARY)
        .map(|f| f.text())
        .collect();
    (texts, close)
}

fn removed(snap: &Value, reason: &str) -> u64 {
    snap["removed_total"][reason].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_strict_client_speaks_both_protocols_one_message_per_packet() {
    let server = server("");
    let mut line = connect(ws_line(&server)).await;
    send(&mut line, Message::text("ECHO hello browser")).await;
    assert_eq!(recv_text(&mut line).await, "ECHO hello browser");
    send(&mut line, Message::text("PING")).await;
    assert_eq!(recv_text(&mut line).await, "PONG");
    // The commands go through the server's one dispatch.
    send(&mut line, Message::text("AUTH token")).await;
    assert_eq!(recv_text(&mut line).await, "ERR authentication not enabled");
    let mut frame = connect(ws_frame(&server)).await;
    send(&mut frame, body(ECHO, b"\x00binary\xff")).await;
    assert_eq!(
        recv_body(&mut frame).await,
        (ECHO, b"\x00binary\xff".to_vec())
    );
    // An empty frame body is an error packet, as an empty frame is.
    send(&mut frame, Message::binary(Vec::new())).await;
    assert_eq!(recv_body(&mut frame).await.0, ERROR);
    send(&mut line, Message::text("STATS")).await;
    let snap: Value = serde_json::from_str(&recv_text(&mut line).await).unwrap();
    assert_eq!(snap["websocket"], 2);
    assert_eq!(snap["connections"]["line"], 1);
    assert_eq!(snap["connections"]["frame"], 1);
    stats_until(&server, "two error packets", |s| {
        s["error_packets_total"] == 2
    });
}

#[tokio::test]
async fn every_violation_closes_with_1002_and_counts_as_error_packets() {
    let server = server("");
    let addr = ws_line(&server);
    let violations: [(&str, Vec<u8>); 6] = [
        (
            "an unmasked frame",
            vec![0x81, 0x04, b'P', b'I', b'N', b'G'],
        ),
        (
            "a reserved bit",
            raw::frame(0x80 | 0x40 | raw::TEXT, b"PING"),
        ),
        ("a fragmented Ping", raw::frame(raw::PING, b"x")),
        (
            "a Ping over 125 bytes",
            raw::frame(0x80 | raw::PING, &[b'x'; 126]),
        ),
        ("a continuation without a start", raw::frame(0x80, b"PING")),
        ("an unknown opcode", raw::frame(0x80 | 0x3, b"PING")),
    ];
    for (what, bytes) in &violations {
        let (texts, close) = answer_to(addr, bytes).await;
        assert_eq!(close, Some((1002, "error_packets".to_owned())), "{what}");
        assert!(
            texts.is_empty(),
            "{what}: no error reply before a 1002: {texts:?}"
        );
    }
    let snap = stats_until(&server, "the removals", |s| {
        removed(s, "error_packets") == violations.len() as u64
    });
    assert_eq!(snap["error_packets_total"], violations.len() as u64);
}

#[tokio::test]
async fn a_message_of_the_wrong_kind_is_an_error_packet() {
    let server = server("max_error_packets = 2");
    let mut line = connect(ws_line(&server)).await;
    send(&mut line, Message::binary(b"PING".to_vec())).await;
    assert_eq!(
        recv_text(&mut line).await,
        "ERR binary message where text is expected"
    );
    let mut frame = connect(ws_frame(&server)).await;
    send(&mut frame, Message::text("\u{1}x")).await;
    let (opcode, reason) = recv_body(&mut frame).await;
    assert_eq!(
        (opcode, reason.as_slice()),
        (ERROR, &b"text message where binary is expected"[..])
    );
    // A second one reaches max_error_packets: answered, then Close 1008.
    send(&mut line, Message::binary(b"PING".to_vec())).await;
    assert!(recv_text(&mut line).await.starts_with("ERR "));
    match next(&mut line).await {
        Some(Message::Close(Some(close))) => {
            assert_eq!(u16::from(close.code), 1008);
            assert_eq!(close.reason.as_str(), "error_packets");
        }
        other => panic!("expected a Close, got {other:?}"),
    }
}

#[tokio::test]
async fn oversize_fragmented_and_oversize_when_fragmented() {
    let server = server("max_line = 16\nmax_frame = 16");
    let (line, frame) = (ws_line(&server), ws_frame(&server));
    // Within the limit in three fragments (with a Ping between them): one command.
    let mut client = raw(line).await;
    let mut bytes = raw::frame(raw::TEXT, b"ECHO ");
    bytes.extend(raw::frame(0x80 | raw::PING, b"p"));
    bytes.extend(raw::frame(0x00, b"0123"));
    bytes.extend(raw::frame(0x80, b"456789A"));
    client.send_raw(&bytes).await;
    let pong = client.next().await.unwrap();
    assert_eq!(
        (pong.opcode(), pong.payload.as_slice()),
        (raw::PONG, &b"p"[..])
    );
    assert_eq!(
        client.recv_text().await,
        "ECHO 0123456789A",
        "exactly 16 bytes"
    );
    // One byte over, in one frame: answered, then Close 1009.
    let (texts, close) = answer_to(line, &raw::frame(0x81, b"ECHO 0123456789AB")).await;
    assert_eq!(texts, ["ERR line too long"]);
    assert_eq!(close, Some((1009, "error_packets".to_owned())));
    // Over only when the fragments are added up.
    let mut bytes = raw::frame(raw::TEXT, b"ECHO 0123");
    bytes.extend(raw::frame(0x80, b"456789AB"));
    let (texts, close) = answer_to(line, &bytes).await;
    assert_eq!(texts, ["ERR line too long"]);
    assert_eq!(close, Some((1009, "error_packets".to_owned())));
    // The same for frame bodies.
    let mut oversize = vec![ECHO];
    oversize.extend_from_slice(&[7; 16]);
    let (texts, close) = answer_to(frame, &raw::frame(0x82, &oversize)).await;
    assert_eq!(texts, ["\u{7f}frame too large"]);
    assert_eq!(close, Some((1009, "error_packets".to_owned())));
    stats_until(&server, "three oversize removals", |s| {
        removed(s, "error_packets") == 3
    });
}

#[tokio::test]
async fn text_that_is_not_utf8_across_fragments_closes_with_1007() {
    let server = server("");
    let mut bytes = raw::frame(raw::TEXT, b"ECHO \xce");
    bytes.extend(raw::frame(0x80, b"\x28"));
    let (texts, close) = answer_to(ws_line(&server), &bytes).await;
    assert!(texts.is_empty(), "{texts:?}");
    assert_eq!(close, Some((1007, "error_packets".to_owned())));
    // A character split across the fragments is fine.
    let mut client = raw(ws_line(&server)).await;
    let mut bytes = raw::frame(raw::TEXT, b"ECHO \xce");
    bytes.extend(raw::frame(0x80, b"\xbb"));
    client.send_raw(&bytes).await;
    assert_eq!(client.recv_text().await, "ECHO \u{3bb}");
}

#[tokio::test]
async fn bad_handshakes_are_refused_with_their_status_and_removed_as_ws_handshake() {
    let server = server("ws_origins = [\"http://ok.example\"]\nws_handshake_timeout_ms = 400");
    let addr = ws_line(&server);
    let origin = "Origin: http://ok.example\r\n";
    let cases = [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), "400"),
        ("POST / HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), "400"),
        (
            raw::request("/", origin).replace("Version: 13", "Version: 8"),
            "426",
        ),
        (raw::request("/", ""), "403"),
        (raw::request("/", "Origin: http://evil.example\r\n"), "403"),
    ];
    for (request, status) in &cases {
        let mut client = WsClient::over(raw::connect_tcp(addr).await);
        let head = client.handshake(request).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{request:?}: {head}"
        );
        if *status == "426" {
            assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{head}");
        }
        assert!(
            client.until_end().await.is_empty(),
            "closed after the refusal"
        );
    }
    let mut ok = WsClient::over(raw::connect_tcp(addr).await);
    assert!(ok
        .handshake(&raw::request("/", origin))
        .await
        .starts_with("HTTP/1.1 101 "));
    // A request that never finishes: removed at its deadline, not before.
    let started = Instant::now();
    let mut slow = WsClient::over(raw::connect_tcp(addr).await);
    let head = slow.handshake("GET / HTTP/1.1\r\nHost: x\r\n").await;
    let waited = started.elapsed();
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let snap = stats_until(&server, "six ws_handshake removals", |s| {
        removed(s, "ws_handshake") == 6
    });
    assert_eq!(snap["websocket"], 1, "the accepted one");
    assert_eq!(snap["accepted_total"], 7);
}

#[tokio::test]
async fn a_room_on_four_transports_gets_every_message_once_in_order_in_each_encoding() {
    const N: usize = 25;
    let server = server("");
    let mut frame_tcp = FrameClient::connect(server.frame).await;
    let mut line_tcp = LineClient::connect(server.line).await;
    let mut line_ws = connect(ws_line(&server)).await;
    let mut frame_ws = connect(ws_frame(&server)).await;
    frame_tcp.send(JOIN, b"lobby").await;
    assert_eq!(frame_tcp.recv().await, (JOINED, b"lobby".to_vec()));
    line_tcp.send("JOIN lobby").await;
    assert_eq!(line_tcp.recv().await.as_deref(), Some("JOINED lobby"));
    send(&mut line_ws, Message::text("JOIN lobby")).await;
    assert_eq!(recv_text(&mut line_ws).await, "JOINED lobby");
    send(&mut frame_ws, body(JOIN, b"lobby")).await;
    assert_eq!(recv_body(&mut frame_ws).await, (JOINED, b"lobby".to_vec()));
    stats_until(&server, "four members", |s| s["group_members"] == 4);

    for i in 0..N {
        let text = |who: &str| format!("{who}-{i}");
        frame_tcp
            .send(PUBLISH, &publish_payload("lobby", text("ft").as_bytes()))
            .await;
        line_tcp.send(&format!("PUB lobby {}", text("lt"))).await;
        send(
            &mut line_ws,
            Message::text(format!("PUB lobby {}", text("lw"))),
        )
        .await;
        send(
            &mut frame_ws,
            body(PUBLISH, &publish_payload("lobby", text("fw").as_bytes())),
        )
        .await;
    }
    let mut received: Vec<Vec<String>> = vec![Vec::new(); 4];
    for _ in 0..4 * N {
        let (opcode, payload) = frame_tcp.recv().await;
        assert_eq!((opcode, payload[0] as usize), (MESSAGE, "lobby".len()));
        received[0].push(String::from_utf8(payload[6..].to_vec()).unwrap());
        let line = line_tcp.recv().await.unwrap();
        received[1].push(line.strip_prefix("MSG lobby ").unwrap().to_owned());
        let text = recv_text(&mut line_ws).await;
        received[2].push(text.strip_prefix("MSG lobby ").unwrap().to_owned());
        let (opcode, payload) = recv_body(&mut frame_ws).await;
        assert_eq!(opcode, MESSAGE);
        received[3].push(String::from_utf8(payload[6..].to_vec()).unwrap());
    }
    for (member, messages) in received.iter().enumerate() {
        for who in ["ft", "lt", "lw", "fw"] {
            let from: Vec<&String> = messages.iter().filter(|m| m.starts_with(who)).collect();
            let expected: Vec<String> = (0..N).map(|i| format!("{who}-{i}")).collect();
            assert_eq!(
                from,
                expected.iter().collect::<Vec<_>>(),
                "member {member}, from {who}"
            );
        }
    }
    // Nothing more: the next thing each gets is the answer to its ECHO.
    frame_tcp.send(ECHO, b"end").await;
    assert_eq!(frame_tcp.recv().await, (ECHO, b"end".to_vec()));
    line_tcp.send("ECHO end").await;
    assert_eq!(line_tcp.recv().await.as_deref(), Some("ECHO end"));
    send(&mut line_ws, Message::text("ECHO end")).await;
    assert_eq!(recv_text(&mut line_ws).await, "ECHO end");
    send(&mut frame_ws, body(ECHO, b"end")).await;
    assert_eq!(recv_body(&mut frame_ws).await, (ECHO, b"end".to_vec()));
}

#[tokio::test]
async fn a_listening_websocket_answering_pings_outlives_idle_timeout() {
    let server = server("heartbeat_ms = 150\nidle_timeout_ms = 700\nhealth_interval_ms = 100");
    let mut listener = connect(ws_line(&server)).await;
    let mut silent = raw(ws_line(&server)).await;
    // Only reading (tungstenite answers each Ping with a Pong as it reads).
    let mut pings = 0;
    let until = Instant::now() + Duration::from_millis(2000);
    while let Ok(message) = tokio::time::timeout_at(until.into(), listener.next()).await {
        match message {
            Some(Ok(Message::Ping(payload))) => {
                assert!(payload.is_empty());
                pings += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(pings >= 5, "{pings} Pings in 2 s");
    send(&mut listener, Message::text("ECHO still here")).await;
    assert_eq!(recv_text(&mut listener).await, "ECHO still here");
    // The raw client never answered its Pings: removed as idle, with a Close.
    let frames = silent.until_end().await;
    assert!(frames.iter().any(|f| f.opcode() == raw::PING));
    assert_eq!(
        frames.last().and_then(|f| f.close()),
        Some((1000, "idle".to_owned()))
    );
    let snap = stats(&server);
    assert_eq!(removed(&snap, "idle"), 1, "only the silent one");
}

#[tokio::test]
async fn sigterm_gives_every_websocket_a_close_1001() {
    let mut server = server("");
    let mut line = raw(ws_line(&server)).await;
    let mut frame = raw(ws_frame(&server)).await;
    line.send_text("PING").await;
    assert_eq!(line.recv_text().await, "PONG");
    frame.send_binary(&[0x03]).await;
    assert_eq!(frame.next().await.unwrap().payload, [0x04]);
    server.signal(libc::SIGTERM);
    for client in [&mut line, &mut frame] {
        let frames = client.until_end().await;
        let close = frames.last().and_then(|f| f.close());
        assert_eq!(close, Some((1001, "shutdown".to_owned())));
    }
    assert!(server.wait_exit().success());
}

#[tokio::test]
async fn sent_bytes_are_the_frames_the_client_received() {
    let server = server("");
    let mut client = raw(ws_line(&server)).await;
    let sizes = [0usize, 1, 100, 120, 121, 126, 1000, 8000];
    for size in sizes {
        client
            .send_text(&format!("ECHO {}", "x".repeat(size)))
            .await;
    }
    for size in sizes {
        assert_eq!(client.recv_text().await.len(), 5 + size);
    }
    client.send_raw(&raw::close_frame(1000, "done")).await;
    let frames = client.until_end().await;
    assert_eq!(frames.len(), 1, "the answer to the Close");
    let received = client.received;
    // Headers of 2 bytes (payloads up to 125) and 4, the Close's 4: the frames count.
    let payloads: u64 = sizes.iter().map(|s| 5 + *s as u64).sum();
    assert_eq!(received, payloads + 2 * 4 + 4 * 4 + 4);
    let snap = stats_until(&server, "the bytes sent", |s| {
        s["sent_bytes_total"] == received
    });
    assert_eq!(snap["protocols"]["line"]["sent_bytes"], received);
    assert_eq!(snap["sent_packets_total"], sizes.len() as u64 + 1);
    assert_eq!(removed(&snap, "peer_closed"), 1);
}

#[tokio::test]
async fn wss_when_tls_is_on_and_a_plain_client_is_removed_as_tls_handshake() {
    let cert = tls_support::TestCert::new();
    let server = server(&cert.config());
    let addr = ws_line(&server);
    let tls = cert.connect(addr).await;
    let mut secure = strict(tls, "wss://localhost/").await;
    send(&mut secure, Message::text("ECHO secure")).await;
    assert_eq!(recv_text(&mut secure).await, "ECHO secure");
    let mut plain = WsClient::over(raw::connect_tcp(addr).await);
    let head = plain.handshake(&raw::request("/", "")).await;
    assert!(!head.starts_with("HTTP/1.1 101"), "{head}");
    let snap = stats_until(&server, "a tls_handshake removal", |s| {
        removed(s, "tls_handshake") == 1
    });
    assert_eq!(snap["websocket"], 1);
}

#[tokio::test]
async fn history_groups_number_their_messages_and_recover_over_websocket_too() {
    let server = server("history_size = 100");
    let mut text = connect(ws_line(&server)).await;
    let mut binary = connect(ws_frame(&server)).await;
    text.send(Message::text("JOIN h.room")).await.unwrap();
    let joined = recv_text(&mut text).await;
    let epoch = joined.split(' ').nth(2).expect("an epoch").to_owned();
    assert_eq!(joined, format!("JOINED h.room {epoch} 0"));
    let mut join = vec![JOIN];
    join.extend_from_slice(b"h.room");
    binary.send(Message::binary(join)).await.unwrap();
    assert_eq!(
        recv_body(&mut binary).await,
        (JOINED, format!("h.room {epoch} 0").into_bytes())
    );
    let mut tcp = LineClient::connect(server.line).await;
    tcp.send("PUB h.room one").await;
    assert_eq!(recv_text(&mut text).await, "MSG h.room 1 one");
    let mut message = b"\x06h.room".to_vec();
    message.extend_from_slice(&1u64.to_be_bytes());
    message.extend_from_slice(b"one");
    assert_eq!(recv_body(&mut binary).await, (MESSAGE, message));
    drop(text);
    tcp.send("PUB h.room two").await;
    tcp.send("PUB h.room three").await;
    tcp.send("PING").await;
    assert_eq!(tcp.recv().await.as_deref(), Some("PONG"));
    let mut back = connect(ws_line(&server)).await;
    back.send(Message::text(format!("JOIN h.room {epoch} 1")))
        .await
        .unwrap();
    assert_eq!(
        recv_text(&mut back).await,
        format!("JOINED h.room {epoch} 3 RECOVERED 2")
    );
    assert_eq!(recv_text(&mut back).await, "MSG h.room 2 two");
    assert_eq!(recv_text(&mut back).await, "MSG h.room 3 three");
}
