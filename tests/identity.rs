//! End to end, PROTOCOL.md "Identity and permissions", authentication: the real binary
//! over both protocols.
//!
//! - Without `users` and `jwt_secret` every connection is anonymous: AUTH is an error
//!   packet (`authentication not enabled`) that counts toward `max_error_packets`, and
//!   KICK, which only an admin may send, is refused to everyone with `permission
//!   denied: kick`, which is not an error packet.
//! - With them, every connection must AUTH first (static tokens, JWTs), within
//!   `auth_timeout_ms`; a JWT's `exp` ends the connection when it passes.
//!
//! Permissions, admin commands and KICK are in `tests/permissions.rs`.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

const AUTH: u8 = AUTH_OP;
const KICK: u8 = KICK_OP;

#[tokio::test]
async fn auth_is_an_error_packet_without_identity() {
    let server = Server::start("");
    let mut frame = FrameClient::connect(server.frame).await;
    let mut line = LineClient::connect(server.line).await;
    for _ in 0..2 {
        frame.send(AUTH, b"some-token").await;
        assert_eq!(
            frame.recv().await,
            (ERROR, b"authentication not enabled".to_vec())
        );
        line.send("AUTH some-token").await;
        assert_eq!(
            line.recv().await.as_deref(),
            Some("ERR authentication not enabled")
        );
    }
    // They were error packets: the third one removes the connection.
    frame.send(AUTH, b"").await;
    assert_eq!(
        frame.recv().await,
        (ERROR, b"authentication not enabled".to_vec())
    );
    frame.expect_closed().await;
    line.send("AUTH").await;
    assert_eq!(
        line.recv().await.as_deref(),
        Some("ERR authentication not enabled")
    );
    assert_eq!(line.recv().await, None, "removed after 3 error packets");
    let mut watcher = FrameClient::connect(server.frame).await;
    stats_until(&mut watcher, "two removals for error packets", |s| {
        s["removed_total"]["error_packets"] == 2
    })
    .await;
}

#[tokio::test]
async fn kick_is_denied_to_everyone_and_is_not_an_error_packet() {
    let server = Server::start("");
    let mut frame = FrameClient::connect(server.frame).await;
    let mut line = LineClient::connect(server.line).await;
    // Twice max_error_packets: a denial never closes the connection.
    for _ in 0..6 {
        frame.send(KICK, b"alice").await;
        assert_eq!(
            frame.recv().await,
            (ERROR, b"permission denied: kick".to_vec())
        );
        line.send("KICK alice").await;
        assert_eq!(
            line.recv().await.as_deref(),
            Some("ERR permission denied: kick")
        );
    }
    line.send("ECHO still here").await;
    assert_eq!(line.recv().await.as_deref(), Some("ECHO still here"));
    let stats = frame.stats().await;
    assert_eq!(stats["error_packets_total"], 0, "{stats}");
    assert_eq!(stats["connections"]["frame"], 1, "{stats}");
    assert_eq!(stats["connections"]["line"], 1, "{stats}");
    // A malformed KICK is an error packet, before any permission check.
    line.send("KICK two words").await;
    assert_eq!(
        line.recv().await.as_deref(),
        Some("ERR bad user name \"two words\"")
    );
}

/// The JWT secret of the servers below.
const JWT_SECRET: &str = "the-jwt-secret-of-these-tests";

/// Users alice and root (an admin), JWTs under [`JWT_SECRET`], and `extra`; served with
/// `--metrics` so that the tests read the stats without a connection of their own.
fn identity_server(extra: &str) -> Server {
    let config = format!(
        "jwt_secret = \"{JWT_SECRET}\"\n{extra}\n\
         [[users]]\nname = \"alice\"\ntoken = \"alice-token\"\njoin = [\"chat.*\"]\n\
         [[users]]\nname = \"root\"\ntoken = \"root-token\"\nadmin = true\n"
    );
    Server::start_with_args(&config, &["--metrics", "127.0.0.1:0"])
}

/// The server's stats once `check` holds (read over HTTP).
fn stats_when(
    server: &Server,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    http_stats_until(server.metrics.unwrap(), what, WAIT, check)
}

#[test]
fn every_removal_reason_and_the_denials_are_in_the_stats_from_the_start() {
    let server = identity_server("");
    let stats = http_stats(server.metrics.unwrap());
    for reason in [
        "unauthorized",
        "auth_timeout",
        "token_expired",
        "kicked",
        "ip_limit",
        "user_limit",
        "error_packets",
        "slow_consumer",
    ] {
        assert_eq!(stats["removed_total"][reason], 0, "{reason}: {stats}");
    }
    assert_eq!(stats["denied_total"], 0, "{stats}");
}

#[tokio::test]
async fn static_tokens_authenticate_over_both_protocols() {
    let server = identity_server("");
    let mut line = line_as(server.line, "alice-token", "alice").await;
    line.send("ECHO hello").await;
    assert_eq!(line.recv().await.as_deref(), Some("ECHO hello"));
    let mut frame = frame_as(server.frame, "root-token", "root").await;
    frame.send(ECHO, b"raw").await;
    assert_eq!(frame.recv().await, (ECHO, b"raw".to_vec()));
    let stats = frame.stats().await;
    assert_eq!(stats["connections"]["line"], 1, "{stats}");
    // AUTH a second time is an error packet, whatever the token.
    for token in ["alice-token", "root-token"] {
        line.send(&format!("AUTH {token}")).await;
        assert_eq!(
            line.recv().await.as_deref(),
            Some("ERR already authenticated")
        );
    }
    let stats = stats_when(&server, "two error packets", |s| {
        s["error_packets_total"] == 2
    });
    assert_eq!(stats["removed_total"]["unauthorized"], 0, "{stats}");
}

#[tokio::test]
async fn before_auth_only_auth_ping_and_pong_are_allowed() {
    let server = identity_server("");
    let commands = [
        "ECHO hi",
        "BCAST hi",
        "STATS",
        "CSTATS",
        "JOIN chat.x",
        "LEAVE chat.x",
        "PUB chat.x hi",
        "KICK alice",
    ];
    for command in commands {
        let mut line = LineClient::connect(server.line).await;
        line.send("PING").await;
        assert_eq!(line.recv().await.as_deref(), Some("PONG"));
        line.send("PONG").await;
        line.send(command).await;
        expect_last_line(&mut line, "ERR authentication required").await;
    }
    // A frame ECHO, the one request answered without being decoded, is refused too.
    for (opcode, payload) in [
        (ECHO, &b"hi"[..]),
        (BROADCAST, b"x"),
        (REPLICATE, b"x"),
        (STATS, b""),
    ] {
        let mut frame = FrameClient::connect(server.frame).await;
        frame.send(opcode, payload).await;
        assert_eq!(
            frame.recv().await,
            (ERROR, b"authentication required".to_vec())
        );
        frame.expect_closed().await;
    }
    let n = commands.len() + 4;
    let stats = stats_when(&server, "every one removed as unauthorized", |s| {
        s["removed_total"]["unauthorized"] == n
    });
    assert_eq!(stats["error_packets_total"], 0, "{stats}");
}

#[tokio::test]
async fn a_wrong_empty_or_unknown_token_is_unauthorized() {
    let server = identity_server("");
    for line_text in [
        "AUTH wrong",
        "AUTH",
        "AUTH ",
        "AUTH alice-token ",
        "AUTH ALICE-TOKEN",
    ] {
        let mut line = LineClient::connect(server.line).await;
        line.send(line_text).await;
        expect_last_line(&mut line, "ERR unauthorized").await;
    }
    for token in [&b""[..], b"alice-toke", b"\xff\xfe"] {
        let mut frame = FrameClient::connect(server.frame).await;
        frame.send(AUTH, token).await;
        assert_eq!(frame.recv().await, (ERROR, b"unauthorized".to_vec()));
        frame.expect_closed().await;
    }
    stats_when(&server, "eight removed as unauthorized", |s| {
        s["removed_total"]["unauthorized"] == 8
    });
}

#[tokio::test]
async fn a_connection_that_does_not_authenticate_in_time_is_removed() {
    let server = identity_server("auth_timeout_ms = 400");
    let opened = Instant::now();
    let mut silent = LineClient::connect(server.line).await;
    // PINGs keep a connection alive, but do not authenticate it.
    let mut pinging = FrameClient::connect(server.frame).await;
    pinging.ready().await;
    let mut in_time = LineClient::connect(server.line).await;
    in_time.send("AUTH alice-token").await;
    assert_eq!(in_time.recv().await.as_deref(), Some("AUTHED alice"));
    expect_last_line(&mut silent, "ERR authentication timeout").await;
    let waited = opened.elapsed();
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    pinging.send(PING, b"again").await;
    // The answer to the PING, if it came first, then the timeout.
    let mut frames = Vec::new();
    while let Some(frame) = pinging.try_recv().await {
        frames.push(frame);
    }
    assert_eq!(
        frames.last(),
        Some(&(ERROR, b"authentication timeout".to_vec())),
        "{frames:?}"
    );
    in_time.send("ECHO still here").await;
    assert_eq!(in_time.recv().await.as_deref(), Some("ECHO still here"));
    stats_when(&server, "two removed as auth_timeout", |s| {
        s["removed_total"]["auth_timeout"] == 2 && s["connections"]["line"] == 1
    });
}

#[tokio::test]
async fn a_connection_that_has_not_authenticated_receives_no_broadcast_or_group_message() {
    let server = identity_server("");
    let mut root = line_as(server.line, "root-token", "root").await;
    let mut alice = line_as(server.line, "alice-token", "alice").await;
    alice.send("JOIN chat.x").await;
    assert_eq!(alice.recv().await.as_deref(), Some("JOINED chat.x"));
    let mut stranger = LineClient::connect(server.line).await;
    stranger.send("PING").await;
    assert_eq!(stranger.recv().await.as_deref(), Some("PONG"));
    root.send("BCAST to everyone").await;
    root.send("PUB chat.x to the room").await;
    assert_eq!(root.recv().await.as_deref(), Some("BCAST to everyone"));
    assert_eq!(alice.recv().await.as_deref(), Some("BCAST to everyone"));
    assert_eq!(
        alice.recv().await.as_deref(),
        Some("MSG chat.x to the room")
    );
    // Both went out before the stranger's AUTH: its first line is AUTHED.
    stranger.send("AUTH alice-token").await;
    assert_eq!(stranger.recv().await.as_deref(), Some("AUTHED alice"));
    root.send("BCAST after").await;
    assert_eq!(stranger.recv().await.as_deref(), Some("BCAST after"));
}

#[tokio::test]
async fn jwts_authenticate_with_their_claims() {
    let server = identity_server("");
    let exp = unix_now() + 600;
    let token = jwt(
        JWT_SECRET,
        &json!({"sub": "carol", "exp": exp, "join": ["room.*"]}),
    );
    let mut carol = line_as(server.line, &token, "carol").await;
    carol.send("JOIN room.a").await;
    assert_eq!(carol.recv().await.as_deref(), Some("JOINED room.a"));
    carol.send("JOIN lobby").await;
    assert_eq!(
        carol.recv().await.as_deref(),
        Some("ERR permission denied: join lobby")
    );
    carol.send("STATS").await;
    assert_eq!(
        carol.recv().await.as_deref(),
        Some("ERR permission denied: stats")
    );
    let admin = jwt(
        JWT_SECRET,
        &json!({"sub": "dave", "exp": exp, "admin": true}),
    );
    let mut dave = frame_as(server.frame, &admin, "dave").await;
    let stats = dave.stats().await;
    assert_eq!(stats["connections"]["line"], 1, "{stats}");
}

#[tokio::test]
async fn forged_expired_and_foreign_jwts_are_unauthorized() {
    let server = identity_server("");
    let now = unix_now();
    let claims = json!({"sub": "mallory", "exp": now + 600, "admin": true});
    let forged = [
        jwt_alg_none(&claims),
        jwt(JWT_SECRET, &json!({"sub": "mallory", "exp": now - 1})),
        jwt(
            JWT_SECRET,
            &json!({"sub": "mallory", "exp": now + 600, "nbf": now + 300}),
        ),
        jwt(JWT_SECRET, &json!({"sub": "mallory"})),
        jwt(JWT_SECRET, &json!({"exp": now + 600})),
        jwt("another-secret", &claims),
        jwt_with(jsonwebtoken::Algorithm::HS384, JWT_SECRET, &claims),
        format!("{}x", jwt(JWT_SECRET, &claims)),
    ];
    for token in &forged {
        let mut line = LineClient::connect(server.line).await;
        line.send(&format!("AUTH {token}")).await;
        expect_last_line(&mut line, "ERR unauthorized").await;
    }
    let mut frame = FrameClient::connect(server.frame).await;
    frame.send(AUTH, jwt_alg_none(&claims).as_bytes()).await;
    assert_eq!(frame.recv().await, (ERROR, b"unauthorized".to_vec()));
    frame.expect_closed().await;
    let n = forged.len() + 1;
    stats_when(&server, "every forgery removed as unauthorized", |s| {
        s["removed_total"]["unauthorized"] == n
    });
}

#[tokio::test]
async fn a_jwt_that_expires_while_connected_ends_its_connection() {
    let server = identity_server("");
    // Valid for one to two more seconds (`exp` is in whole seconds).
    let exp = unix_now() + 2;
    let token = jwt(JWT_SECRET, &json!({"sub": "carol", "exp": exp}));
    let mut line = line_as(server.line, &token, "carol").await;
    let mut frame = frame_as(server.frame, &token, "carol").await;
    line.send("ECHO before").await;
    assert_eq!(line.recv().await.as_deref(), Some("ECHO before"));
    expect_last_line(&mut line, "ERR token expired").await;
    assert_eq!(frame.recv().await, (ERROR, b"token expired".to_vec()));
    frame.expect_closed().await;
    assert!(unix_now() >= exp, "closed before exp");
    let mut static_user = line_as(server.line, "alice-token", "alice").await;
    stats_when(&server, "two removed as token_expired", |s| {
        s["removed_total"]["token_expired"] == 2
    });
    static_user.send("ECHO static tokens do not expire").await;
    assert!(static_user.recv().await.is_some());
}
