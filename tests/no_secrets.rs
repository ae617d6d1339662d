//! End to end, PROTOCOL.md "Running the server": no log line carries a token, a password
//! or a secret, and neither does any error message or STATS value. A server with static
//! tokens, a JWT secret and a metrics token runs at `RUST_LOG=debug` (also `trace` for
//! the server's own modules) while clients authenticate rightly and wrongly, with static
//! tokens and JWTs (a JWT is a credential too), over TCP and WebSocket (whole and
//! fragmented messages), read STATS, get kicked and expire; then
//! every line of its log, every answer and every snapshot is searched for each secret.
//! The removal lines name the user, as `RUST_LOG`'s bullet says.

mod support;

use serde_json::json;
use std::time::Duration;
use support::*;
use switchboard_testkit::ws::{self as raw, WsClient};

/// Everything a WebSocket client got until the server ended the connection: its
/// messages' payloads and its Close's reason, as text.
async fn ws_answers(client: &mut WsClient) -> Vec<String> {
    client.until_end().await.iter().map(|f| f.text()).collect()
}

const JWT_SECRET: &str = "jwt-secret-0f9e8d7c";
const ALICE_TOKEN: &str = "alice-token-5a4b3c2d";
const ROOT_TOKEN: &str = "root-token-1e2f3a4b";
const METRICS_TOKEN: &str = "metrics-token-6c7d8e9f";
/// What a client that guesses sends: close to a real token, and secret all the same.
const NEAR_MISS: &str = "alice-token-5a4b3c2e";

#[tokio::test]
async fn no_secret_reaches_a_log_line_an_error_or_the_stats() {
    let config = format!(
        "jwt_secret = \"{JWT_SECRET}\"\nauth_timeout_ms = 300\n\
         ws_line = \"127.0.0.1:0\"\nws_frame = \"127.0.0.1:0\"\n\
         [[users]]\nname = \"alice\"\ntoken = \"{ALICE_TOKEN}\"\njoin = [\"chat.*\"]\n\
         [[users]]\nname = \"root\"\ntoken = \"{ROOT_TOKEN}\"\nadmin = true\n"
    );
    let (mut server, log) = Server::start_logged_with_args(
        &config,
        &["--metrics", "127.0.0.1:0", "--metrics-token", METRICS_TOKEN],
        "debug,switchboard=trace,switchboard_server=trace",
    );
    let now = unix_now();
    let valid_jwt = jwt(JWT_SECRET, &json!({"sub": "carol", "exp": now + 2}));
    let forged_jwt = jwt("not-the-secret", &json!({"sub": "carol", "exp": now + 600}));
    let expired_jwt = jwt(JWT_SECRET, &json!({"sub": "carol", "exp": now - 10}));
    let unsigned_jwt = jwt_alg_none(&json!({"sub": "root", "exp": now + 600, "admin": true}));
    let mut answers = Vec::new();

    // Right and wrong tokens, on both protocols.
    let mut alice = line_as(server.line, ALICE_TOKEN, "alice").await;
    let mut root = frame_as(server.frame, ROOT_TOKEN, "root").await;
    let _carol = line_as(server.line, &valid_jwt, "carol").await;
    for wrong in [NEAR_MISS, &forged_jwt, &expired_jwt, &unsigned_jwt] {
        let mut line = LineClient::connect(server.line).await;
        line.send(&format!("AUTH {wrong}")).await;
        answers.push(line.recv().await.unwrap_or_default());
        let mut frame = FrameClient::connect(server.frame).await;
        frame.send(AUTH_OP, wrong.as_bytes()).await;
        answers.push(String::from_utf8_lossy(&frame.recv().await.1).into_owned());
    }
    // The same over WebSocket: a right one, then wrong ones whole and in fragments.
    let (ws_line, ws_frame) = (server.ws_line.unwrap(), server.ws_frame.unwrap());
    let mut ws_alice = WsClient::connect(ws_line, "/").await;
    ws_alice.send_text(&format!("AUTH {ALICE_TOKEN}")).await;
    assert_eq!(ws_alice.recv_text().await, "AUTHED alice");
    let first = answers.len();
    for wrong in [NEAR_MISS, &forged_jwt] {
        let mut text = WsClient::connect(ws_line, "/").await;
        text.send_text(&format!("AUTH {wrong}")).await;
        answers.extend(ws_answers(&mut text).await);
        let mut binary = WsClient::connect(ws_frame, "/").await;
        let mut body = vec![AUTH_OP];
        body.extend_from_slice(wrong.as_bytes());
        binary.send_binary(&body).await;
        answers.extend(ws_answers(&mut binary).await);
        // In two fragments: a text frame without FIN, then its continuation.
        let (first, second) = wrong.split_at(wrong.len() / 2);
        let mut fragmented = WsClient::connect(ws_line, "/").await;
        let mut bytes = raw::frame(raw::TEXT, format!("AUTH {first}").as_bytes());
        bytes.extend(raw::frame(0x80, second.as_bytes()));
        fragmented.send_raw(&bytes).await;
        answers.extend(ws_answers(&mut fragmented).await);
    }
    let refused = answers[first..]
        .iter()
        .filter(|a| a.ends_with("unauthorized"));
    assert_eq!(
        refused.count(),
        12,
        "an answer and a Close each: {answers:?}"
    );
    // Tokens where they do not belong: a second AUTH, a KICK, an ECHO.
    alice.send(&format!("AUTH {ROOT_TOKEN}")).await;
    answers.push(alice.recv().await.unwrap_or_default());
    alice.send(&format!("KICK {ROOT_TOKEN}")).await;
    answers.push(alice.recv().await.unwrap_or_default());
    let mut early = LineClient::connect(server.line).await;
    early.send(&format!("ECHO {ALICE_TOKEN}")).await;
    answers.push(early.recv().await.unwrap_or_default());
    // A connection that never authenticates, and one kicked.
    let mut silent = LineClient::connect(server.line).await;
    answers.push(silent.recv().await.unwrap_or_default());
    let mut kicked = line_as(server.line, ALICE_TOKEN, "alice").await;
    root.send(KICK_OP, b"alice").await;
    answers.push(String::from_utf8_lossy(&root.recv().await.1).into_owned());
    answers.push(kicked.recv().await.unwrap_or_default());
    // The JWT expires.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // STATS, and the HTTP port with the token in the header and in the query, and wrong.
    answers.push(root.stats().await.to_string());
    let metrics = server.metrics.unwrap();
    for path in [
        format!("/stats?token={METRICS_TOKEN}"),
        format!("/connections?token={METRICS_TOKEN}"),
        format!("/metrics?token={METRICS_TOKEN}"),
        format!("/stats?token={NEAR_MISS}"),
    ] {
        let (status, body) =
            tokio::task::spawn_blocking(move || switchboard_testkit::http::get(metrics, &path))
                .await
                .unwrap();
        answers.push(format!("{status} {body}"));
    }
    server.signal(libc::SIGTERM);
    server.wait_exit();
    let lines: Vec<String> = log.try_iter().collect();
    assert!(
        lines.iter().any(|l| l.contains("AUTH refused")),
        "the refusals were logged (at debug), without their tokens"
    );
    assert!(lines.iter().any(|l| l.contains("token_expired")));
    // Removals are logged at info with their reason, the peer and, once authenticated,
    // the user.
    let kick = lines
        .iter()
        .find(|l| l.contains(" INFO ") && l.contains("reason=kicked"))
        .expect("the KICK's removal logged");
    assert!(
        kick.contains("user=alice") && kick.contains("peer=127.0.0.1:"),
        "{kick}"
    );
    for secret in [
        JWT_SECRET,
        ALICE_TOKEN,
        ROOT_TOKEN,
        METRICS_TOKEN,
        NEAR_MISS,
        &valid_jwt,
        &forged_jwt,
        &expired_jwt,
        &unsigned_jwt,
    ] {
        for line in &lines {
            assert!(!line.contains(secret), "{secret} in the log: {line}");
        }
        for answer in &answers {
            assert!(!answer.contains(secret), "{secret} in an answer: {answer}");
        }
    }
    // The one answer that may quote what a client sent is an error packet's, and ECHO's:
    // before AUTH, the ECHO was not echoed.
    assert!(
        answers.contains(&"ERR authentication required".to_owned()),
        "{answers:?}"
    );
}
