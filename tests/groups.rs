//! Named groups through the real binary: JOIN, LEAVE and PUBLISH over both protocols,
//! the encoding of each, publish order, the automatic leave, `max_groups`, bad names
//! and messages that cannot be a line.

mod support;

use serde_json::Value;
use support::*;

/// A frame client, registered, in `groups`.
async fn frame_member(server: &Server, groups: &[&str]) -> FrameClient {
    let mut client = FrameClient::connect(server.frame).await;
    for group in groups {
        client.send(JOIN, group.as_bytes()).await;
        assert_eq!(client.recv().await, (JOINED, group.as_bytes().to_vec()));
    }
    client
}

/// A line client in `groups`.
async fn line_member(server: &Server, groups: &[&str]) -> LineClient {
    let mut client = LineClient::connect(server.line).await;
    for group in groups {
        client.send(&format!("JOIN {group}")).await;
        assert_eq!(client.recv().await, Some(format!("JOINED {group}")));
    }
    client
}

fn counts(snap: &Value) -> (u64, u64) {
    (
        snap["groups"].as_u64().unwrap_or(u64::MAX),
        snap["group_members"].as_u64().unwrap_or(u64::MAX),
    )
}

#[tokio::test]
async fn frame_and_line_members_get_a_publish_in_their_own_encoding() {
    let server = Server::start("");
    let mut frame = frame_member(&server, &["lobby"]).await;
    let mut line = line_member(&server, &["lobby"]).await;
    let mut outsider = frame_member(&server, &["elsewhere"]).await;
    let mut publisher = FrameClient::connect(server.frame).await;
    publisher.ready().await;

    publisher
        .send(PUBLISH, &publish_payload("lobby", b"hello all"))
        .await;
    publisher.send(PING, b"then").await;
    assert_eq!(
        publisher.recv().await,
        (PONG, b"then".to_vec()),
        "a publisher that is not a member gets nothing, and no reply"
    );
    assert_eq!(
        frame.recv().await,
        (MESSAGE, publish_payload("lobby", b"hello all"))
    );
    assert_eq!(line.recv().await.as_deref(), Some("MSG lobby hello all"));

    // A line publisher that is a member gets its own copy too.
    line.send("PUB lobby from a line").await;
    assert_eq!(line.recv().await.as_deref(), Some("MSG lobby from a line"));
    assert_eq!(
        frame.recv().await,
        (MESSAGE, publish_payload("lobby", b"from a line"))
    );
    outsider.send(PING, b"nothing for me").await;
    assert_eq!(outsider.recv().await, (PONG, b"nothing for me".to_vec()));
}

#[tokio::test]
async fn an_own_copy_comes_before_the_reply_to_a_later_ping() {
    let server = Server::start("");
    let mut client = frame_member(&server, &["lobby"]).await;
    let mut burst = Vec::new();
    for i in 0..500u32 {
        burst.extend(encode(PUBLISH, &publish_payload("lobby", &i.to_be_bytes())));
    }
    burst.extend(encode(PING, b"after"));
    client.send_raw(&burst).await;
    for i in 0..500u32 {
        assert_eq!(
            client.recv().await,
            (MESSAGE, publish_payload("lobby", &i.to_be_bytes())),
            "copy {i} of 500 before anything else"
        );
    }
    assert_eq!(client.recv().await, (PONG, b"after".to_vec()));

    let mut line = line_member(&server, &["lobby"]).await;
    line.send("PUB lobby mine").await;
    line.send("PING").await;
    assert_eq!(line.recv().await.as_deref(), Some("MSG lobby mine"));
    assert_eq!(line.recv().await.as_deref(), Some("PONG"));
}

#[tokio::test]
async fn every_member_gets_each_publishers_messages_in_publish_order() {
    const N: u32 = 1000;
    let server = Server::start("");
    let mut frame = frame_member(&server, &["order"]).await;
    let mut line = line_member(&server, &["order"]).await;
    let mut frame_publisher = FrameClient::connect(server.frame).await;
    frame_publisher.ready().await;
    let mut line_publisher = LineClient::connect(server.line).await;

    let mut frames = Vec::new();
    let mut lines = String::new();
    for i in 0..N {
        frames.extend(encode(
            PUBLISH,
            &publish_payload("order", format!("f{i}").as_bytes()),
        ));
        lines.push_str(&format!("PUB order l{i}\n"));
    }
    let (a, b) = tokio::join!(
        frame_publisher.send_raw(&frames),
        tokio::io::AsyncWriteExt::write_all(&mut line_publisher.writer, lines.as_bytes()),
    );
    let ((), written) = (a, b);
    written.unwrap();

    // Each member sees both publishers interleaved somehow, each one in order.
    let mut next = (0u32, 0u32);
    for _ in 0..2 * N {
        let (opcode, payload) = frame.recv().await;
        assert_eq!(opcode, MESSAGE);
        let text = String::from_utf8(payload[1 + "order".len()..].to_vec()).unwrap();
        check_next(&mut next, &text);
    }
    assert_eq!(next, (N, N));
    let mut next = (0u32, 0u32);
    for _ in 0..2 * N {
        let got = line.recv().await.unwrap();
        let text = got.strip_prefix("MSG order ").expect("a MSG line");
        check_next(&mut next, text);
    }
    assert_eq!(next, (N, N));
}

/// `text` is `f<n>` or `l<n>`: the next message of the frame or the line publisher.
fn check_next(next: &mut (u32, u32), text: &str) {
    let (slot, n) = match text.split_at(1) {
        ("f", n) => (&mut next.0, n),
        ("l", n) => (&mut next.1, n),
        _ => panic!("unexpected message {text:?}"),
    };
    assert_eq!(n.parse::<u32>().unwrap(), *slot, "out of order: {text}");
    *slot += 1;
}

#[tokio::test]
async fn a_removed_connection_leaves_its_groups() {
    let server = Server::start("");
    let mut watcher = FrameClient::connect(server.frame).await;
    watcher.ready().await;
    let frame = frame_member(&server, &["a", "b"]).await;
    let line = line_member(&server, &["b", "c"]).await;
    let snap = stats_until(&mut watcher, "the memberships", |s| counts(s) == (3, 4)).await;
    assert_eq!(counts(&snap), (3, 4));
    drop(frame);
    stats_until(&mut watcher, "the frame member gone", |s| {
        counts(s) == (2, 2)
    })
    .await;
    drop(line);
    stats_until(&mut watcher, "every member gone", |s| counts(s) == (0, 0)).await;
}

#[tokio::test]
async fn a_join_beyond_max_groups_is_an_error_packet_and_a_second_join_changes_nothing() {
    let server = Server::start("max_groups = 2");
    let mut frame = frame_member(&server, &["a", "b"]).await;
    frame.send(JOIN, b"c").await;
    assert_eq!(frame.recv().await, (ERROR, b"too many groups".to_vec()));
    frame.send(JOIN, b"a").await;
    assert_eq!(frame.recv().await, (JOINED, b"a".to_vec()), "already in a");
    frame.send(LEAVE, b"b").await;
    assert_eq!(frame.recv().await, (LEFT, b"b".to_vec()));
    frame.send(JOIN, b"c").await;
    assert_eq!(frame.recv().await, (JOINED, b"c".to_vec()), "room again");

    let mut line = line_member(&server, &["a", "b"]).await;
    line.send("JOIN c").await;
    assert_eq!(line.recv().await.as_deref(), Some("ERR too many groups"));
    line.send("JOIN b").await;
    assert_eq!(line.recv().await.as_deref(), Some("JOINED b"));
    // Error packets are counted in batches, within a second.
    stats_until(&mut frame, "the memberships and error packets", |s| {
        counts(s) == (3, 4) && s["error_packets_total"] == 2
    })
    .await;
}

#[tokio::test]
async fn bad_names_and_bad_name_lens_are_error_packets() {
    let server = Server::start("max_error_packets = 100");
    let mut frame = FrameClient::connect(server.frame).await;
    let long = "n".repeat(65);
    let bad: Vec<(u8, Vec<u8>)> = vec![
        (JOIN, Vec::new()),
        (JOIN, b"a b".to_vec()),
        (JOIN, long.clone().into_bytes()),
        (LEAVE, b"x/y".to_vec()),
        (PUBLISH, Vec::new()),
        (PUBLISH, b"\x00lobby".to_vec()),
        (PUBLISH, b"\x09lobby".to_vec()),
        (PUBLISH, b"\x03a+bhi".to_vec()),
    ];
    for (opcode, payload) in &bad {
        frame.send(*opcode, payload).await;
        let (reply, reason) = frame.recv().await;
        assert_eq!(reply, ERROR, "opcode {opcode:#x} with {payload:?}");
        assert!(!reason.is_empty());
    }
    let mut line = LineClient::connect(server.line).await;
    for command in [
        "JOIN",
        "JOIN bad/name",
        &format!("JOIN {long}"),
        "LEAVE a b",
        "PUB",
        "PUB ",
        "PUB bad!name text",
    ] {
        line.send(command).await;
        let reply = line.recv().await.unwrap();
        assert!(reply.starts_with("ERR "), "{command:?} got {reply:?}");
    }
    // Error packets are counted in batches, within a second.
    let snap = stats_until(&mut frame, "every error packet", |s| {
        s["error_packets_total"] == 15
    })
    .await;
    assert_eq!(counts(&snap), (0, 0), "nothing was joined");
}

#[tokio::test]
async fn a_message_that_cannot_be_a_line_reaches_frame_members_and_fails_for_line_members() {
    let server = Server::start("max_line = 64");
    let mut frame = frame_member(&server, &["room"]).await;
    let mut lines = vec![
        line_member(&server, &["room"]).await,
        line_member(&server, &["room"]).await,
    ];
    let mut publisher = FrameClient::connect(server.frame).await;
    publisher.ready().await;
    // "MSG room " is 9 bytes: 55 more make a line of 64, 56 one of 65.
    let too_long = [b'x'; 56];
    let fits = [b'y'; 55];
    let unfit: [&[u8]; 4] = [b"two\nlines", b"carriage\rreturn", b"\xff\xfe", &too_long];
    for message in unfit.iter().chain([&&fits[..]]) {
        publisher
            .send(PUBLISH, &publish_payload("room", message))
            .await;
    }
    for message in unfit.iter().chain([&&fits[..]]) {
        assert_eq!(
            frame.recv().await,
            (MESSAGE, publish_payload("room", message))
        );
    }
    for line in &mut lines {
        let expected = format!("MSG room {}", "y".repeat(55));
        assert_eq!(line.recv().await, Some(expected), "only the one that fits");
    }
    let snap = stats_until(&mut publisher, "the line members' failures", |s| {
        s["send_failures_total"] == 8
    })
    .await;
    assert_eq!(
        snap["protocols"]["line"]["send_failures"], 8,
        "4 messages x 2"
    );
    assert_eq!(snap["protocols"]["frame"]["send_failures"], 0);
}

#[tokio::test]
async fn leave_answers_left_member_or_not_and_a_left_group_sends_nothing() {
    // One worker, so one hub hands a publish to every member in the same step: once
    // one member has it, a copy for any other is already queued ahead of what that
    // connection is asked next.
    let server = Server::start("workers = 1");
    let mut frame = FrameClient::connect(server.frame).await;
    frame.send(LEAVE, b"nobody").await;
    assert_eq!(frame.recv().await, (LEFT, b"nobody".to_vec()));
    let mut line = LineClient::connect(server.line).await;
    line.send("LEAVE nobody").await;
    assert_eq!(line.recv().await.as_deref(), Some("LEFT nobody"));

    frame.send(JOIN, b"room").await;
    assert_eq!(frame.recv().await, (JOINED, b"room".to_vec()));
    frame.send(LEAVE, b"room").await;
    assert_eq!(frame.recv().await, (LEFT, b"room".to_vec()));
    // Its own publish: a member would get its copy before the reply to a later request.
    frame.send(PUBLISH, &publish_payload("room", b"mine")).await;
    frame.send(PING, b"x").await;
    assert_eq!(
        frame.recv().await,
        (PONG, b"x".to_vec()),
        "no longer a member"
    );
    // Another's publish, seen arriving at a member that stayed: after that, `frame`'s
    // next answer is its PONG.
    let mut witness = frame_member(&server, &["room"]).await;
    line.send("PUB room anyone").await;
    assert_eq!(
        witness.recv().await,
        (MESSAGE, publish_payload("room", b"anyone"))
    );
    frame.send(PING, b"y").await;
    assert_eq!(
        frame.recv().await,
        (PONG, b"y".to_vec()),
        "no longer a member"
    );
    let snap = frame.stats().await;
    assert_eq!(counts(&snap), (1, 1), "the witness alone");
    assert_eq!(snap["error_packets_total"], 0);
}
