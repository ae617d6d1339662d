//! End to end, PROTOCOL.md "WebSocket" meets "Identity and permissions" and "Limits": a
//! WebSocket connection authenticates and is limited exactly as a TCP connection of its
//! protocol. AUTH and the permissions over `ws_line` and `ws_frame`; the removals of
//! identity (`unauthorized`, `auth_timeout`, `token_expired`, `kicked`, `user_limit`)
//! each followed by a Close frame with code 1008 and the reason as its text; the
//! per-address limit counting WebSocket and TCP connections together; and the message
//! rate pausing a WebSocket reader.

mod support;

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;
use switchboard_testkit::ws::{self as raw, WsClient};

const AUTH: u8 = AUTH_OP;
const AUTHED: u8 = AUTHED_OP;

/// The JWT secret of the servers below.
const JWT_SECRET: &str = "the-jwt-secret-of-the-websocket-tests";

/// alice joins `chat.*` but not `chat.secret`, and publishes to `chat.*` but not
/// `chat.announce`; root is an admin.
const USERS: &str = r#"
[[users]]
name = "alice"
token = "alice-token"
join = ["chat.*"]
join_deny = ["chat.secret"]
publish = ["chat.*"]
publish_deny = ["chat.announce"]

[[users]]
name = "root"
token = "root-token"
admin = true
"#;

/// A server with users, both WebSocket listeners and the HTTP port; `extra` holds
/// top-level keys.
fn server(extra: &str) -> Server {
    let config = format!(
        "ws_line = \"127.0.0.1:0\"\nws_frame = \"127.0.0.1:0\"\n\
         jwt_secret = \"{JWT_SECRET}\"\n{extra}\n{USERS}"
    );
    Server::start_with_args(&config, &["--metrics", "127.0.0.1:0"])
}

fn ws_line(server: &Server) -> SocketAddr {
    server.ws_line.expect("ws_line listening")
}

fn ws_frame(server: &Server) -> SocketAddr {
    server.ws_frame.expect("ws_frame listening")
}

fn stats_when(server: &Server, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    http_stats_until(server.metrics.unwrap(), what, WAIT, check)
}

/// A frame body: the opcode, then the payload.
fn body(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![opcode];
    body.extend_from_slice(payload);
    body
}

/// Sends `command` on a `ws_line` client and expects `answer` as the next message.
async fn ask(client: &mut WsClient, command: &str, answer: &str) {
    client.send_text(command).await;
    assert_eq!(client.recv_text().await, answer, "{command}");
}

/// The next binary message's body from a `ws_frame` client.
async fn recv_body(client: &mut WsClient) -> Vec<u8> {
    let frame = client.next_data().await.expect("a message, not the end");
    assert_eq!(frame.opcode(), raw::BINARY, "a binary message: {frame:?}");
    frame.payload.clone()
}

/// A `ws_line` client authenticated as `user` with `token`.
async fn line_user(addr: SocketAddr, token: &str, user: &str) -> WsClient {
    let mut client = WsClient::connect(addr, "/").await;
    ask(
        &mut client,
        &format!("AUTH {token}"),
        &format!("AUTHED {user}"),
    )
    .await;
    client
}

/// Reads until the server ends the connection: the data messages are `last` (their
/// payloads), and the final frame is a Close with code 1008 and `reason` as its text.
async fn expect_policy_close(client: &mut WsClient, last: &[&[u8]], reason: &str) {
    let frames = client.until_end().await;
    let data: Vec<&[u8]> = frames
        .iter()
        .filter(|f| f.opcode() == raw::TEXT || f.opcode() == raw::BINARY)
        .map(|f| f.payload.as_slice())
        .collect();
    assert_eq!(data, last, "the last messages before the Close");
    let close = frames.last().and_then(|f| f.close());
    assert_eq!(close, Some((1008, reason.to_owned())), "{frames:?}");
}

#[tokio::test]
async fn a_user_authenticates_over_websocket_and_its_permissions_hold() {
    let server = server("");
    let mut line = line_user(ws_line(&server), "alice-token", "alice").await;
    ask(&mut line, "JOIN chat.eu", "JOINED chat.eu").await;
    // Twice max_error_packets (default 3) of denials: never an error packet.
    for _ in 0..3 {
        ask(
            &mut line,
            "JOIN chat.secret",
            "ERR permission denied: join chat.secret",
        )
        .await;
        ask(
            &mut line,
            "PUB chat.announce hi",
            "ERR permission denied: publish chat.announce",
        )
        .await;
    }
    ask(
        &mut line,
        "BCAST everyone",
        "ERR permission denied: broadcast",
    )
    .await;

    // The same user over ws_frame, publishing to the room the ws_line client is in.
    let mut frame = WsClient::connect(ws_frame(&server), "/").await;
    frame.send_binary(&body(AUTH, b"alice-token")).await;
    assert_eq!(recv_body(&mut frame).await, body(AUTHED, b"alice"));
    frame.send_binary(&body(JOIN, b"chat.secret")).await;
    assert_eq!(
        recv_body(&mut frame).await,
        body(ERROR, b"permission denied: join chat.secret")
    );
    let denied = publish_payload("chat.announce", b"nope");
    frame.send_binary(&body(PUBLISH, &denied)).await;
    assert_eq!(
        recv_body(&mut frame).await,
        body(ERROR, b"permission denied: publish chat.announce")
    );
    let allowed = publish_payload("chat.eu", b"from ws_frame");
    frame.send_binary(&body(PUBLISH, &allowed)).await;
    // The denied PUBLISH delivered nothing: the first message is the allowed one.
    assert_eq!(line.recv_text().await, "MSG chat.eu from ws_frame");
    ask(
        &mut line,
        "PUB chat.eu from ws_line",
        "MSG chat.eu from ws_line",
    )
    .await;

    let stats = stats_when(&server, "the denials counted", |s| s["denied_total"] == 9);
    assert_eq!(stats["error_packets_total"], 0, "{stats}");
    assert_eq!(stats["websocket"], 2, "{stats}");
    assert_eq!(stats["connections"]["line"], 1, "{stats}");
    assert_eq!(stats["connections"]["frame"], 1, "{stats}");
    let (status, body) =
        switchboard_testkit::http::get(server.metrics.unwrap(), "/connections?protocol=line");
    assert_eq!(status, 200);
    assert!(body.contains(r#""user":"alice""#), "{body}");
}

#[tokio::test]
async fn a_wrong_token_or_a_request_before_auth_is_unauthorized_with_a_close() {
    let server = server("");
    let mut wrong = WsClient::connect(ws_line(&server), "/").await;
    wrong.send_text("AUTH guessed-token").await;
    expect_policy_close(&mut wrong, &[b"ERR unauthorized"], "unauthorized").await;

    let mut early = WsClient::connect(ws_line(&server), "/").await;
    early.send_text("JOIN chat.eu").await;
    expect_policy_close(
        &mut early,
        &[b"ERR authentication required"],
        "unauthorized",
    )
    .await;

    let mut empty = WsClient::connect(ws_frame(&server), "/").await;
    empty.send_binary(&body(AUTH, b"")).await;
    let answer = body(ERROR, b"unauthorized");
    expect_policy_close(&mut empty, &[&answer], "unauthorized").await;

    let mut forged = WsClient::connect(ws_frame(&server), "/").await;
    let expired = jwt(
        JWT_SECRET,
        &json!({"sub": "mallory", "exp": unix_now() - 1, "admin": true}),
    );
    forged.send_binary(&body(AUTH, expired.as_bytes())).await;
    expect_policy_close(&mut forged, &[&answer], "unauthorized").await;

    stats_when(&server, "four removed as unauthorized", |s| {
        s["removed_total"]["unauthorized"] == 4 && s["websocket"] == 0
    });
}

#[tokio::test]
async fn a_websocket_that_does_not_authenticate_in_time_is_removed_with_a_close() {
    let server = server("auth_timeout_ms = 300");
    let started = Instant::now();
    let mut line = WsClient::connect(ws_line(&server), "/").await;
    let mut frame = WsClient::connect(ws_frame(&server), "/").await;
    // PING is allowed before AUTH, and does not put the deadline off.
    ask(&mut line, "PING", "PONG").await;
    expect_policy_close(&mut line, &[b"ERR authentication timeout"], "auth_timeout").await;
    let answer = body(ERROR, b"authentication timeout");
    expect_policy_close(&mut frame, &[&answer], "auth_timeout").await;
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    // One that authenticates in time stays past the deadline.
    let mut alice = line_user(ws_line(&server), "alice-token", "alice").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    ask(&mut alice, "ECHO still here", "ECHO still here").await;
    stats_when(&server, "two removed as auth_timeout", |s| {
        s["removed_total"]["auth_timeout"] == 2
    });
}

#[tokio::test]
async fn an_expiring_jwt_a_kick_and_the_user_limit_close_websockets_with_1008() {
    let server = server("max_connections_per_user = 2");
    // Valid for one to two more seconds (`exp` is in whole seconds).
    let exp = unix_now() + 2;
    let token = jwt(JWT_SECRET, &json!({"sub": "carol", "exp": exp}));
    let mut carol = line_user(ws_line(&server), &token, "carol").await;

    // alice twice over WebSocket; a third connection of hers, on TCP or WebSocket, is
    // beyond the user limit.
    let mut alice_line = line_user(ws_line(&server), "alice-token", "alice").await;
    let mut alice_frame = WsClient::connect(ws_frame(&server), "/").await;
    alice_frame.send_binary(&body(AUTH, b"alice-token")).await;
    assert_eq!(recv_body(&mut alice_frame).await, body(AUTHED, b"alice"));
    let mut tcp = LineClient::connect(server.line).await;
    tcp.send("AUTH alice-token").await;
    expect_last_line(&mut tcp, "ERR too many connections for this user").await;
    let mut third = WsClient::connect(ws_line(&server), "/").await;
    third.send_text("AUTH alice-token").await;
    expect_policy_close(
        &mut third,
        &[b"ERR too many connections for this user"],
        "user_limit",
    )
    .await;

    // An admin on TCP kicks her: both WebSockets are told and closed.
    let mut root = line_as(server.line, "root-token", "root").await;
    root.send("KICK alice").await;
    assert_eq!(root.recv().await.as_deref(), Some("KICKED alice 2"));
    expect_policy_close(&mut alice_line, &[b"ERR kicked"], "kicked").await;
    let kicked = body(ERROR, b"kicked");
    expect_policy_close(&mut alice_frame, &[&kicked], "kicked").await;

    expect_policy_close(&mut carol, &[b"ERR token expired"], "token_expired").await;
    assert!(unix_now() >= exp, "closed before exp");
    let stats = stats_when(&server, "every removal counted", |s| {
        s["removed_total"]["token_expired"] == 1
    });
    assert_eq!(stats["removed_total"]["kicked"], 2, "{stats}");
    assert_eq!(stats["removed_total"]["user_limit"], 2, "{stats}");
}

#[tokio::test]
async fn a_websocket_that_has_not_authenticated_receives_no_broadcast_or_group_message() {
    let server = server("");
    let mut root = line_as(server.line, "root-token", "root").await;
    let mut alice = line_user(ws_line(&server), "alice-token", "alice").await;
    ask(&mut alice, "JOIN chat.x", "JOINED chat.x").await;
    let mut stranger = WsClient::connect(ws_line(&server), "/").await;
    ask(&mut stranger, "PING", "PONG").await;
    root.send("BCAST to everyone").await;
    root.send("PUB chat.x to the room").await;
    assert_eq!(root.recv().await.as_deref(), Some("BCAST to everyone"));
    assert_eq!(alice.recv_text().await, "BCAST to everyone");
    assert_eq!(alice.recv_text().await, "MSG chat.x to the room");
    // Both went out before the stranger's AUTH: its next message is AUTHED.
    ask(&mut stranger, "AUTH alice-token", "AUTHED alice").await;
    root.send("BCAST after").await;
    assert_eq!(stranger.recv_text().await, "BCAST after");
}

/// A WebSocket handshake from `from`: the client and the response's head (empty when
/// the server closed without one).
async fn ws_from(from: &str, addr: SocketAddr) -> (WsClient, String) {
    let mut client = WsClient::over(connect_from(from, addr).await);
    let head = client.handshake(&raw::request("/", "")).await;
    (client, head)
}

#[tokio::test]
async fn the_per_address_limit_counts_websocket_and_tcp_connections_together() {
    let server = Server::start_with_args(
        "ws_line = \"127.0.0.1:0\"\nws_frame = \"127.0.0.1:0\"\nmax_connections_per_ip = 2",
        &["--metrics", "127.0.0.1:0"],
    );
    let mut kept = Vec::new();
    for address in ["127.0.0.2", "127.0.0.3"] {
        // One TCP and one WebSocket connection fill the address's two places.
        let (reader, writer) = connect_from(address, server.line).await.into_split();
        let mut tcp = LineClient::over(reader, writer);
        tcp.send("PING").await;
        assert_eq!(tcp.recv().await.as_deref(), Some("PONG"));
        let (mut ws, head) = ws_from(address, ws_line(&server)).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        ask(&mut ws, "PING", "PONG").await;
        // A third on either WebSocket listener gets no handshake and no Close.
        for listener in [ws_line(&server), ws_frame(&server)] {
            let (mut third, head) = ws_from(address, listener).await;
            assert_eq!(head, "", "refused before the handshake");
            assert!(third.until_end().await.is_empty());
        }
        // A third on TCP is told why.
        let (reader, writer) = connect_from(address, server.line).await.into_split();
        let mut third = LineClient::over(reader, writer);
        expect_last_line(&mut third, "ERR too many connections from this address").await;
        kept.push((tcp, ws));
    }
    let stats = stats_when(&server, "six refused", |s| {
        s["removed_total"]["ip_limit"] == 6
    });
    assert_eq!(stats["accepted_total"], 10, "{stats}");
    assert_eq!(stats["websocket"], 2, "{stats}");
    // The WebSocket's place, given back, can be taken by a TCP connection.
    let (_, ws) = kept.remove(0);
    drop(ws);
    let mut again = until("127.0.0.2's place to be given back", WAIT, async || {
        let (reader, writer) = connect_from("127.0.0.2", server.line).await.into_split();
        let mut client = LineClient::over(reader, writer);
        client.send("PING").await;
        match client.recv().await {
            Some(pong) if pong == "PONG" => Ok(client),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    again.send("ECHO in").await;
    assert_eq!(again.recv().await.as_deref(), Some("ECHO in"));
}

#[tokio::test]
async fn the_message_rate_slows_a_websocket_and_not_the_others() {
    let server = Server::start(
        "ws_line = \"127.0.0.1:0\"\nmax_messages_per_s = 100\nmax_messages_burst = 20",
    );
    let mut other = WsClient::connect(ws_line(&server), "/").await;
    ask(&mut other, "ECHO warm", "ECHO warm").await;
    let mut flooder = WsClient::connect(ws_line(&server), "/").await;
    // 220 PINGs in one write: 20 at once, then 200 at 100 a second.
    let pings: Vec<u8> = (0..220)
        .flat_map(|_| raw::frame(0x80 | raw::TEXT, b"PING"))
        .collect();
    let started = Instant::now();
    flooder.send_raw(&pings).await;
    let flood = tokio::spawn(async move {
        for answered in 0..220 {
            let pong = flooder.recv_text().await;
            assert_eq!(pong, "PONG", "after {answered}");
        }
        (started.elapsed(), flooder)
    });
    let mut round_trips = Vec::new();
    while !flood.is_finished() {
        let sent = Instant::now();
        ask(&mut other, "ECHO fast", "ECHO fast").await;
        round_trips.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (elapsed, mut flooder) = flood.await.unwrap();
    assert!(elapsed >= Duration::from_millis(2000), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    round_trips.sort();
    let median = round_trips[round_trips.len() / 2];
    eprintln!(
        "220 PINGs answered in {elapsed:?}; {} other round trips, median {median:?}",
        round_trips.len()
    );
    assert!(round_trips.len() > 50, "{}", round_trips.len());
    assert!(median < Duration::from_millis(50), "median {median:?}");
    // Slowed, not refused: the flooder is still served.
    ask(&mut flooder, "ECHO done", "ECHO done").await;
}
