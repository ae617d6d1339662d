//! End to end: AUTH and KICK on a server without identity (no `users`, no `jwt_secret`),
//! over both protocols: every connection is anonymous, AUTH is an error packet
//! (`authentication not enabled`) that counts toward `max_error_packets`, and KICK, which
//! only an admin may send, is refused to everyone with `permission denied: kick`, which is
//! not an error packet.

mod support;

use support::*;

const AUTH: u8 = 0x12;
const KICK: u8 = 0x14;

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
