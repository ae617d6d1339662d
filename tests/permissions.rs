//! End to end, PROTOCOL.md "Identity and permissions", what an authenticated user may do:
//! group patterns (`*`, `>`, `{user}`, deny wins) on JOIN and PUB/PUBLISH, denials that
//! are never error packets, the admin-only commands, and KICK across both protocols.

mod support;

use support::*;

/// alice: joins `chat.*` and her own `user.{user}.>`, not `chat.secret`; publishes to
/// `chat.>` but not `chat.announce`. bob: joins and publishes `chat.*`. root: an admin.
const USERS: &str = r#"
[[users]]
name = "alice"
token = "alice-token"
join = ["chat.*", "user.{user}.>"]
join_deny = ["chat.secret"]
publish = ["chat.>"]
publish_deny = ["chat.announce"]

[[users]]
name = "bob"
token = "bob-token"
join = ["chat.*"]
publish = ["chat.*"]

[[users]]
name = "root"
token = "root-token"
admin = true
"#;

fn server() -> Server {
    Server::start_with_args(USERS, &["--metrics", "127.0.0.1:0"])
}

/// Sends `command` and expects `answer`.
async fn ask(client: &mut LineClient, command: &str, answer: &str) {
    client.send(command).await;
    assert_eq!(client.recv().await.as_deref(), Some(answer), "{command}");
}

#[tokio::test]
async fn join_follows_the_patterns_and_deny_wins() {
    let server = server();
    let mut alice = line_as(server.line, "alice-token", "alice").await;
    for group in ["chat.eu", "chat.us", "user.alice.inbox", "user.alice.a.b"] {
        ask(
            &mut alice,
            &format!("JOIN {group}"),
            &format!("JOINED {group}"),
        )
        .await;
    }
    for group in [
        "chat",           // `*` is exactly one token
        "chat.eu.paris",  // ... not two
        "chat.secret",    // allowed by chat.*, denied by join_deny: deny wins
        "user.bob.inbox", // {user} is alice
        "user.alice",     // `>` is one token or more
        "lobby",
    ] {
        let denied = format!("ERR permission denied: join {group}");
        ask(&mut alice, &format!("JOIN {group}"), &denied).await;
    }
    // The same rule on frames.
    let mut frame = frame_as(server.frame, "alice-token", "alice").await;
    frame.send(JOIN, b"chat.secret").await;
    assert_eq!(
        frame.recv().await,
        (ERROR, b"permission denied: join chat.secret".to_vec())
    );
    frame.send(JOIN, b"chat.eu").await;
    assert_eq!(frame.recv().await, (JOINED, b"chat.eu".to_vec()));
    // LEAVE is always allowed.
    ask(&mut alice, "LEAVE lobby", "LEFT lobby").await;
}

#[tokio::test]
async fn publish_follows_the_patterns_and_a_denied_publish_delivers_nothing() {
    let server = server();
    let mut alice = line_as(server.line, "alice-token", "alice").await;
    let mut bob = line_as(server.line, "bob-token", "bob").await;
    let mut root = frame_as(server.frame, "root-token", "root").await;
    for group in ["chat.announce", "chat.eu"] {
        ask(
            &mut bob,
            &format!("JOIN {group}"),
            &format!("JOINED {group}"),
        )
        .await;
    }
    // alice is no member of either. `chat.>` lets her publish to chat.eu...
    alice.send("PUB chat.eu from alice").await;
    assert_eq!(bob.recv().await.as_deref(), Some("MSG chat.eu from alice"));
    // ... and publish_deny keeps her out of chat.announce, on both protocols.
    ask(
        &mut alice,
        "PUB chat.announce secret",
        "ERR permission denied: publish chat.announce",
    )
    .await;
    let mut alice_frame = frame_as(server.frame, "alice-token", "alice").await;
    alice_frame
        .send(PUBLISH, &publish_payload("chat.announce", b"secret"))
        .await;
    assert_eq!(
        alice_frame.recv().await,
        (ERROR, b"permission denied: publish chat.announce".to_vec())
    );
    // bob may only publish to one token under chat.
    ask(
        &mut bob,
        "PUB chat.a.b x",
        "ERR permission denied: publish chat.a.b",
    )
    .await;
    // What reaches bob next is root's marker, published after the refusals.
    root.send(PUBLISH, &publish_payload("chat.announce", b"marker"))
        .await;
    assert_eq!(
        bob.recv().await.as_deref(),
        Some("MSG chat.announce marker")
    );
}

#[tokio::test]
async fn denials_are_never_error_packets() {
    let server = server();
    let mut bob = line_as(server.line, "bob-token", "bob").await;
    let mut bob_frame = frame_as(server.frame, "bob-token", "bob").await;
    // max_error_packets is 3: ten denials of each kind on each protocol.
    for _ in 0..10 {
        ask(&mut bob, "JOIN lobby", "ERR permission denied: join lobby").await;
        ask(
            &mut bob,
            "PUB lobby x",
            "ERR permission denied: publish lobby",
        )
        .await;
        ask(&mut bob, "STATS", "ERR permission denied: stats").await;
        bob_frame.send(BROADCAST, b"x").await;
        assert_eq!(
            bob_frame.recv().await,
            (ERROR, b"permission denied: broadcast".to_vec())
        );
    }
    ask(&mut bob, "ECHO still here", "ECHO still here").await;
    bob_frame.send(ECHO, b"here too").await;
    assert_eq!(bob_frame.recv().await, (ECHO, b"here too".to_vec()));
    let stats = http_stats_until(server.metrics.unwrap(), "40 denials", WAIT, |s| {
        s["denied_total"] == 40
    });
    assert_eq!(stats["error_packets_total"], 0, "{stats}");
    assert_eq!(stats["connections"]["line"], 1, "{stats}");
    assert_eq!(stats["connections"]["frame"], 1, "{stats}");
}

#[tokio::test]
async fn only_admins_broadcast_replicate_stats_cstats_and_kick() {
    let server = server();
    let mut bob = line_as(server.line, "bob-token", "bob").await;
    let mut bob_frame = frame_as(server.frame, "bob-token", "bob").await;
    for (command, name) in [
        ("BCAST x", "broadcast"),
        ("STATS", "stats"),
        ("CSTATS", "cstats"),
        ("KICK alice", "kick"),
    ] {
        ask(&mut bob, command, &format!("ERR permission denied: {name}")).await;
    }
    for (opcode, name) in [
        (BROADCAST, "broadcast"),
        (REPLICATE, "replicate"),
        (STATS, "stats"),
        (CLUSTER_STATS, "cstats"),
        (KICK_OP, "kick"),
    ] {
        bob_frame.send(opcode, b"alice").await;
        let denied = format!("permission denied: {name}");
        assert_eq!(bob_frame.recv().await, (ERROR, denied.into_bytes()));
    }
    // root may do all of it.
    let mut root = line_as(server.line, "root-token", "root").await;
    root.send("BCAST from root").await;
    assert_eq!(root.recv().await.as_deref(), Some("BCAST from root"));
    assert_eq!(bob.recv().await.as_deref(), Some("BCAST from root"));
    root.send("STATS").await;
    let stats: serde_json::Value = serde_json::from_str(&root.recv().await.unwrap()).unwrap();
    assert!(stats["denied_total"].is_u64(), "{stats}");
    http_stats_until(server.metrics.unwrap(), "nine denials", WAIT, |s| {
        s["denied_total"] == 9
    });
    root.send("CSTATS").await;
    assert!(root.recv().await.unwrap().starts_with("{\"nodes\":"));
    ask(&mut root, "KICK nobody", "KICKED nobody 0").await;
    let mut root_frame = frame_as(server.frame, "root-token", "root").await;
    root_frame.send(REPLICATE, b"x").await;
    assert_eq!(
        root_frame.recv().await,
        (REPLICATE_REPLY, br#"{"acked":[],"faulty":[]}"#.to_vec())
    );
}

#[tokio::test]
async fn kick_removes_every_connection_of_a_user_on_both_protocols() {
    let server = server();
    for (admin_on_line, expected) in [(true, "KICKED bob 2"), (false, "bob 2")] {
        let mut bob_line = line_as(server.line, "bob-token", "bob").await;
        let mut bob_frame = frame_as(server.frame, "bob-token", "bob").await;
        let mut alice = line_as(server.line, "alice-token", "alice").await;
        if admin_on_line {
            let mut root = line_as(server.line, "root-token", "root").await;
            ask(&mut root, "KICK bob", expected).await;
        } else {
            let mut root = frame_as(server.frame, "root-token", "root").await;
            root.send(KICK_OP, b"bob").await;
            assert_eq!(root.recv().await, (KICKED_OP, expected.as_bytes().to_vec()));
        }
        expect_last_line(&mut bob_line, "ERR kicked").await;
        assert_eq!(bob_frame.recv().await, (ERROR, b"kicked".to_vec()));
        bob_frame.expect_closed().await;
        // Other users stay.
        ask(&mut alice, "ECHO still here", "ECHO still here").await;
    }
    let stats = http_stats_until(server.metrics.unwrap(), "four kicked", WAIT, |s| {
        s["removed_total"]["kicked"] == 4
    });
    assert_eq!(stats["denied_total"], 0, "{stats}");
}

#[tokio::test]
async fn connections_list_their_user() {
    let server = server();
    let _alice = line_as(server.line, "alice-token", "alice").await;
    let mut stranger = LineClient::connect(server.line).await;
    stranger.send("PING").await;
    assert_eq!(stranger.recv().await.as_deref(), Some("PONG"));
    let (status, body) =
        switchboard_testkit::http::get(server.metrics.unwrap(), "/connections?protocol=line");
    assert_eq!(status, 200, "{body}");
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut users: Vec<serde_json::Value> = listing["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["user"].clone())
        .collect();
    users.sort_by_key(|user| user.to_string());
    assert_eq!(users, [serde_json::json!("alice"), serde_json::Value::Null]);
}

/// A recovery JOIN (`JOIN <name> <epoch> <offset>`) is a JOIN: the same patterns decide,
/// a denial says nothing of the history (no RECOVERED, no LOST) and is no error packet,
/// and before AUTH it is a request like any other.
#[tokio::test]
async fn a_recovery_join_is_checked_like_a_join() {
    let server = Server::start_with_args(
        &format!("history_size = 10\nmax_groups_total = 3\n{USERS}"),
        &["--metrics", "127.0.0.1:0"],
    );
    let mut root = line_as(server.line, "root-token", "root").await;
    root.send("JOIN chat.secret").await;
    let joined = root.recv().await.expect("JOINED");
    let epoch = joined.split(' ').nth(2).expect("an epoch").to_owned();
    assert_eq!(joined, format!("JOINED chat.secret {epoch} 0"));
    root.send("PUB chat.secret one").await;
    assert_eq!(root.recv().await.as_deref(), Some("MSG chat.secret 1 one"));

    let mut alice = line_as(server.line, "alice-token", "alice").await;
    for _ in 0..4 {
        // max_error_packets is 3: a denial never counts as one.
        ask(
            &mut alice,
            &format!("JOIN chat.secret {epoch} 0"),
            "ERR permission denied: join chat.secret",
        )
        .await;
        ask(
            &mut alice,
            "JOIN lobby some-epoch 7",
            "ERR permission denied: join lobby",
        )
        .await;
    }
    let mut frame = frame_as(server.frame, "alice-token", "alice").await;
    frame
        .send(JOIN, format!("chat.secret {epoch} 0").as_bytes())
        .await;
    assert_eq!(
        frame.recv().await,
        (ERROR, b"permission denied: join chat.secret".to_vec())
    );
    // Where the patterns allow it, the recovery JOIN runs (in its own group, {user}).
    root.send("JOIN user.alice.inbox").await;
    let joined = root.recv().await.expect("JOINED");
    let inbox_epoch = joined.split(' ').nth(2).expect("an epoch").to_owned();
    root.send("PUB user.alice.inbox for alice").await;
    assert_eq!(
        root.recv().await.as_deref(),
        Some("MSG user.alice.inbox 1 for alice")
    );
    ask(
        &mut alice,
        &format!("JOIN user.alice.inbox {inbox_epoch} 0"),
        &format!("JOINED user.alice.inbox {inbox_epoch} 1 RECOVERED 1"),
    )
    .await;
    assert_eq!(
        alice.recv().await.as_deref(),
        Some("MSG user.alice.inbox 1 for alice")
    );
    // The cap on the server's groups holds for it too: chat.secret, user.alice.inbox
    // and chat.eu make 3.
    alice.send("JOIN chat.eu").await;
    let joined = alice.recv().await.expect("JOINED");
    assert!(joined.starts_with("JOINED chat.eu "), "{joined}");
    ask(
        &mut alice,
        "JOIN chat.us some-epoch 0",
        "ERR too many groups on this server",
    )
    .await;
    let stats = http_stats_until(server.metrics.unwrap(), "the denials", WAIT, |s| {
        s["denied_total"] == 9
    });
    assert_eq!(stats["error_packets_total"], 1, "only the cap: {stats}");

    // Before AUTH a recovery JOIN is answered `authentication required`.
    let mut stranger = LineClient::connect(server.line).await;
    stranger
        .send(&format!("JOIN user.alice.inbox {inbox_epoch} 0"))
        .await;
    expect_last_line(&mut stranger, "ERR authentication required").await;
}
