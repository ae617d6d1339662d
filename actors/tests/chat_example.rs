//! The chat example (`examples/chat.rs`) run for real over loopback: users authenticate
//! with tokens in time, talk in rooms by name, are refused rooms their permissions do not
//! allow, are slowed to 20 lines a second, have at most 3 connections, and are kicked by
//! an admin.

mod common;

// The example file itself, so what is tested is exactly what a reader copies.
#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;

use common::{eventually, record_removals, LineClient};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::{RemovalReason, User};
use tokio::io::AsyncWriteExt;

/// Sends `line` and checks the next line that comes back.
async fn says(client: &mut LineClient, line: &str, answer: &str) {
    client.send(line).await;
    assert_eq!(
        client.recv().await.as_deref(),
        Some(answer),
        "after {line:?}"
    );
}

/// A client logged in as the user of `token`.
async fn login(addr: SocketAddr, token: &str, name: &str) -> LineClient {
    let mut client = LineClient::connect(addr).await;
    says(
        &mut client,
        &format!("AUTH {token}"),
        &format!("AUTHED {name}"),
    )
    .await;
    client
}

#[actix_rt::test]
async fn users_talk_in_rooms_by_name_within_their_permissions_and_an_admin_kicks() {
    let config = chat::config(Duration::from_secs(30));
    let (board, listener) = chat::serve(([127, 0, 0, 1], 0).into(), config).unwrap();
    let removed = record_removals(board.handle());
    let addr = listener.local_addr;
    let mut alice = login(addr, "alice-secret", "alice").await;
    let mut bob = login(addr, "bob-secret", "bob").await;
    let mut bob2 = login(addr, "bob-secret", "bob").await;
    let mut carol = login(addr, "carol-secret", "carol").await;

    for client in [&mut alice, &mut bob, &mut bob2, &mut carol] {
        says(client, "JOIN lobby", "JOINED lobby").await;
    }
    // A message says who wrote it, and reaches every member, the writer too.
    alice.send("MSG lobby hello all").await;
    for client in [&mut alice, &mut bob, &mut bob2, &mut carol] {
        assert_eq!(
            client.recv().await.as_deref(),
            Some("MSG lobby alice hello all")
        );
    }
    // WHO answers with user names: bob's two connections are one bob.
    says(&mut carol, "WHO lobby", "WHO lobby alice bob carol").await;

    // The admins' room is for admins; each inbox is read by its owner only.
    says(
        &mut carol,
        "JOIN admins",
        "ERR permission denied: join admins",
    )
    .await;
    says(&mut alice, "JOIN admins", "JOINED admins").await;
    says(&mut bob, "JOIN inbox.bob", "JOINED inbox.bob").await;
    says(
        &mut carol,
        "JOIN inbox.bob",
        "ERR permission denied: join inbox.bob",
    )
    .await;
    says(
        &mut carol,
        "MSG admins hi",
        "ERR permission denied: publish admins",
    )
    .await;
    carol.send("MSG inbox.bob psst").await;
    assert_eq!(
        bob.recv().await.as_deref(),
        Some("MSG inbox.bob carol psst")
    );
    // Refusals are not errors: carol, refused more than three times, is still here.
    says(&mut carol, "KICK bob", "ERR permission denied: kick").await;
    says(&mut carol, "WHO admins", "WHO admins alice").await;

    // KICK: every connection of bob is told, then ends.
    says(&mut alice, "KICK bob", "KICKED bob 2").await;
    for client in [&mut bob, &mut bob2] {
        assert_eq!(client.recv().await.as_deref(), Some("ERR kicked"));
        assert_eq!(client.recv().await, None);
    }
    eventually("bob's removals", || async {
        removed.seen().await.len() == 2
    })
    .await;
    for removal in removed.seen().await.iter() {
        assert_eq!(removal.reason, RemovalReason::Kicked);
        assert_eq!(removal.user.as_ref().map(User::name), Some("bob"));
    }
    says(&mut carol, "WHO lobby", "WHO lobby alice carol").await;
    says(&mut alice, "KICK bob", "KICKED bob 0").await;
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn a_connection_must_authenticate_in_time_with_a_good_token_and_a_user_has_three() {
    let config = chat::config(Duration::from_millis(300));
    let (board, listener) = chat::serve(([127, 0, 0, 1], 0).into(), config).unwrap();
    let removed = record_removals(board.handle());
    let addr = listener.local_addr;

    let mut intruder = LineClient::connect(addr).await;
    says(&mut intruder, "AUTH guessed", "ERR unauthorized").await;
    assert_eq!(intruder.recv().await, None);
    let mut hasty = LineClient::connect(addr).await;
    says(&mut hasty, "JOIN lobby", "ERR authenticate first").await;
    assert_eq!(hasty.recv().await, None);
    let mut silent = LineClient::connect(addr).await;
    assert_eq!(
        silent.recv().await.as_deref(),
        Some("ERR authentication timeout")
    );
    assert_eq!(silent.recv().await, None);

    let mut carols = Vec::new();
    for _ in 0..3 {
        carols.push(login(addr, "carol-secret", "carol").await);
    }
    let mut fourth = LineClient::connect(addr).await;
    says(
        &mut fourth,
        "AUTH carol-secret",
        "ERR too many connections for this user",
    )
    .await;
    assert_eq!(fourth.recv().await, None);
    for carol in &mut carols {
        says(carol, "WHO lobby", "WHO lobby").await;
    }
    says(
        &mut carols[0],
        "AUTH carol-secret",
        "ERR already authenticated",
    )
    .await;

    eventually("four removals", || async {
        removed.seen().await.len() == 4
    })
    .await;
    let mut reasons: Vec<_> = removed.seen().await.iter().map(|r| r.reason).collect();
    reasons.sort();
    let mut expected = vec![
        RemovalReason::Unauthorized,
        RemovalReason::Unauthorized,
        RemovalReason::AuthTimeout,
        RemovalReason::UserLimit,
    ];
    expected.sort();
    assert_eq!(reasons, expected);
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn a_client_over_twenty_lines_a_second_is_slowed_and_loses_nothing() {
    let config = chat::config(Duration::from_secs(30));
    let (board, listener) = chat::serve(([127, 0, 0, 1], 0).into(), config).unwrap();
    let addr = listener.local_addr;
    let mut bob = login(addr, "bob-secret", "bob").await;
    let mut carol = login(addr, "carol-secret", "carol").await;
    says(&mut carol, "JOIN room.x", "JOINED room.x").await;
    says(&mut bob, "JOIN lobby", "JOINED lobby").await;

    // 40 lines at once: 20 at once (the bucket), then 20 a second.
    let started = tokio::time::Instant::now();
    let flood: String = (0..40).map(|i| format!("MSG room.x line {i}\n")).collect();
    bob.writer.write_all(flood.as_bytes()).await.unwrap();
    for i in 0..40 {
        let expected = format!("MSG room.x bob line {i}");
        assert_eq!(carol.recv().await.as_deref(), Some(expected.as_str()));
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "slowed to the rate: {took:?}"
    );
    says(&mut bob, "WHO room.x", "WHO room.x carol").await;
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn bad_input_gets_an_err_reply_and_the_connection_lives_on() {
    let config = chat::config(Duration::from_secs(30));
    let (board, listener) = chat::serve(([127, 0, 0, 1], 0).into(), config).unwrap();
    let mut c = login(listener.local_addr, "carol-secret", "carol").await;
    let commands = "ERR commands: AUTH, JOIN, LEAVE, MSG, WHO, KICK";
    says(&mut c, "HELLO", commands).await;
    says(&mut c, "", commands).await;
    let takes_a_name =
        |command: &str| format!("ERR {command} takes a name: 1 to 32 of a-z 0-9 - _ .");
    says(&mut c, "JOIN", &takes_a_name("JOIN")).await;
    says(&mut c, "JOIN no!", &takes_a_name("JOIN")).await;
    says(
        &mut c,
        &format!("JOIN {}", "r".repeat(33)),
        &takes_a_name("JOIN"),
    )
    .await;
    says(&mut c, "MSG lobby", "ERR MSG <room> <text>").await;
    says(&mut c, "LEAVE lobby", "ERR not in lobby").await;
    c.writer.write_all(b"\xff\xfe\n").await.unwrap();
    assert_eq!(c.recv().await.as_deref(), Some("ERR invalid utf-8"));
    says(&mut c, "JOIN lobby", "JOINED lobby").await;
    says(&mut c, "MSG lobby still here", "MSG lobby carol still here").await;
    listener.stop();
    board.shutdown().await;
}
