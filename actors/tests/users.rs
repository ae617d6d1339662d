//! Users over loopback: a connection authenticated by its handler is known by its user in
//! listings, removals and group messages; the handle reaches and closes all of a user's
//! connections; the per-user limit holds even for authentications racing on two worker
//! threads; and a connection that must authenticate hears no broadcast until it did.

mod common;

use common::{eventually, record_removals, LineClient};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::config::ConnectionLimits;
use switchboard::identity::{Access, AuthError, Pattern, Permissions};
use switchboard::{
    GroupEncoder, ListenerHandle, Outbox, Protocol, Refusal, RemovalReason, SendError, Switchboard,
    SwitchboardConfig, User,
};
use tokio::io::AsyncWriteExt;

/// `AUTH <name>`, `ECHO <text>`, `ALL <text>` (broadcast), `JOIN <room>`,
/// `PUB <room> <text>`; a room message is written `MSG <room> <user> <text>`. A user
/// whose name starts with `guest` may join `chat.>` but not `chat.admins`, and
/// `user.<its name>.>`, and publish to `chat.*`; any other may do anything.
struct Chatty;

fn permissions(name: &str) -> Permissions {
    if !name.starts_with("guest") {
        return Permissions::all();
    }
    let p = |text: &str| Pattern::parse(text).unwrap();
    Permissions::none()
        .allow(Access::Join, p("chat.>"))
        .allow(Access::Join, p("user.{user}.>"))
        .deny(Access::Join, p("chat.admins"))
        .allow(Access::Publish, p("chat.*"))
}

impl Protocol for Chatty {
    const NAME: &'static str = "chatty";
    type Request = String;
    type Response = String;
    type Codec = Lines;

    fn codec(&self) -> Lines {
        Lines::new(256)
    }

    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        let (command, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match command {
            "AUTH" => match out.authenticate(User::new(rest, permissions(rest))) {
                Ok(()) => out.reply(format!("AUTHED {rest}")),
                Err(AuthError::UserLimit) => {} // answered and closed by the switchboard
                Err(other) => out.bad_packet(other.to_string()),
            },
            "ECHO" => out.reply(rest.to_owned()),
            "ALL" => out.broadcast(rest.to_owned()),
            "JOIN" => match out.try_join(rest) {
                Ok(_) => out.reply(format!("JOINED {rest}")),
                Err(refusal) => out.deny(refusal.to_string()),
            },
            // A refused publish is answered by the switchboard itself.
            "PUB" => {
                let (room, text) = rest.split_once(' ').unwrap_or((rest, ""));
                out.publish(room, text.to_owned());
            }
            _ => out.bad_packet("unknown command"),
        }
    }

    fn error_reply(&self, reason: &str) -> Option<String> {
        Some(format!("ERR {reason}"))
    }

    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::with_publisher(|room, message, user| {
            let user = user.map_or("-", User::name);
            let text = String::from_utf8_lossy(message);
            Ok(format!("MSG {room} {user} {text}\n").into())
        }))
    }
}

fn serve(config: SwitchboardConfig) -> (Switchboard, ListenerHandle) {
    let board = Switchboard::start(config);
    let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = board.listen(listener, || Chatty).unwrap();
    (board, listener)
}

/// Sends `line` and checks the next line that comes back.
async fn says(client: &mut LineClient, line: &str, answer: &str) {
    client.send(line).await;
    assert_eq!(
        client.recv().await.as_deref(),
        Some(answer),
        "after {line:?}"
    );
}

/// A client authenticated as `name`.
async fn user(addr: SocketAddr, name: &str) -> LineClient {
    let mut client = LineClient::connect(addr).await;
    says(
        &mut client,
        &format!("AUTH {name}"),
        &format!("AUTHED {name}"),
    )
    .await;
    client
}

#[actix_rt::test]
async fn a_user_is_known_in_listings_removals_and_its_group_messages() {
    let (board, listener) = serve(SwitchboardConfig::default().with_workers(1));
    let handle = board.handle();
    let removed = record_removals(handle);
    let mut anonymous = LineClient::connect(listener.local_addr).await;
    says(&mut anonymous, "ECHO hi", "hi").await;
    let mut alice = user(listener.local_addr, "alice").await;
    let mut alice2 = user(listener.local_addr, "alice").await;

    let list = handle.list(None).await.unwrap();
    let names: Vec<Option<&str>> = list
        .iter()
        .map(|m| m.user.as_ref().map(User::name))
        .collect();
    assert_eq!(names.iter().filter(|n| **n == Some("alice")).count(), 2);
    assert_eq!(names.iter().filter(|n| n.is_none()).count(), 1);
    let json = serde_json::to_value(&list).unwrap();
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["user"] == "alice"));
    assert!(json.as_array().unwrap().iter().any(|m| m["user"].is_null()));
    let of_alice = handle.connections_of("alice").await.unwrap();
    assert_eq!(of_alice.len(), 2);
    assert!(of_alice
        .iter()
        .all(|m| m.user.as_ref().unwrap().name() == "alice"));
    assert!(handle.connections_of("nobody").await.unwrap().is_empty());

    // The group encoder sees who published, and nobody for an anonymous publisher.
    says(&mut alice2, "JOIN lobby", "JOINED lobby").await;
    alice.send("PUB lobby hello").await;
    assert_eq!(
        alice2.recv().await.as_deref(),
        Some("MSG lobby alice hello")
    );
    anonymous.send("PUB lobby psst").await;
    assert_eq!(alice2.recv().await.as_deref(), Some("MSG lobby - psst"));
    alice2.send("PUB lobby me too").await;
    assert_eq!(
        alice2.recv().await.as_deref(),
        Some("MSG lobby alice me too"),
        "its own copy too"
    );

    // Its removal says whose connection it was.
    drop(alice);
    eventually("alice's removal", || async {
        removed
            .seen()
            .await
            .iter()
            .any(|r| r.reason == RemovalReason::PeerClosed)
    })
    .await;
    let gone = removed.seen().await[0].clone();
    assert_eq!(gone.user.as_ref().map(User::name), Some("alice"));
    assert_eq!(handle.connections_of("alice").await.unwrap().len(), 1);
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn the_handle_reaches_and_closes_every_connection_of_a_user() {
    let (board, listener) = serve(SwitchboardConfig::default().with_workers(2));
    let handle = board.handle();
    let removed = record_removals(handle);
    let addr = listener.local_addr;
    let (mut a1, mut a2, mut bob) = (
        user(addr, "alice").await,
        user(addr, "alice").await,
        user(addr, "bob").await,
    );

    let report = handle
        .send_to_user::<Chatty>("alice", "for alice".to_owned())
        .await
        .unwrap();
    assert_eq!((report.delivered, report.refused.len()), (2, 0));
    assert_eq!(a1.recv().await.as_deref(), Some("for alice"));
    assert_eq!(a2.recv().await.as_deref(), Some("for alice"));

    // KICK in one call: every connection of alice is told, then closed.
    let kicked = handle
        .close_user("alice", RemovalReason::Kicked, Some("kicked"))
        .await
        .unwrap();
    assert_eq!(kicked, 2);
    for client in [&mut a1, &mut a2] {
        assert_eq!(client.recv().await.as_deref(), Some("ERR kicked"));
        assert_eq!(client.recv().await, None);
    }
    let reasons: Vec<_> = removed
        .seen()
        .await
        .iter()
        .map(|r| (r.reason, r.user.as_ref().map(|u| u.name().to_owned())))
        .collect();
    assert_eq!(
        reasons,
        vec![(RemovalReason::Kicked, Some("alice".to_owned())); 2]
    );
    // Bob was not for alice, and lives on; a second kick finds nobody.
    says(&mut bob, "ECHO still here", "still here").await;
    let again = handle
        .close_user("alice", RemovalReason::Kicked, None)
        .await;
    assert_eq!(again, Ok(0));
    let report = handle
        .send_to_user::<Chatty>("alice", "x".to_owned())
        .await
        .unwrap();
    assert_eq!(report.delivered, 0);
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn a_connection_over_the_per_user_limit_is_answered_and_removed_and_the_others_stay() {
    let config = SwitchboardConfig::default()
        .with_workers(1)
        .with_max_connections_per_user(Some(2));
    let (board, listener) = serve(config);
    let removed = record_removals(board.handle());
    let addr = listener.local_addr;
    let mut first = user(addr, "alice").await;
    let mut second = user(addr, "alice").await;
    let mut third = LineClient::connect(addr).await;
    third.send("AUTH alice").await;
    assert_eq!(
        third.recv().await.as_deref(),
        Some("ERR too many connections for this user")
    );
    assert_eq!(third.recv().await, None);
    eventually("the removal", || async { !removed.seen().await.is_empty() }).await;
    assert_eq!(removed.seen().await[0].reason, RemovalReason::UserLimit);
    says(&mut first, "ECHO one", "one").await;
    says(&mut second, "ECHO two", "two").await;
    let _bob = user(addr, "bob").await;

    // A place freed by a removal can be taken again.
    drop(first);
    let mut fourth = LineClient::connect(addr).await;
    eventually("alice's place freed", || async {
        board.handle().connections_of("alice").await.unwrap().len() == 1
    })
    .await;
    says(&mut fourth, "AUTH alice", "AUTHED alice").await;
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn two_authentications_at_once_on_two_workers_cannot_both_pass_the_limit() {
    let config = SwitchboardConfig::default()
        .with_workers(2)
        .with_max_connections_per_user(Some(1));
    let (board, listener) = serve(config);
    for round in 0..20 {
        let name = format!("user{round}");
        // Consecutive connections go to the two workers in turn.
        let mut clients = [
            LineClient::connect(listener.local_addr).await,
            LineClient::connect(listener.local_addr).await,
        ];
        for client in &mut clients {
            says(client, "ECHO ready", "ready").await;
        }
        let auth = format!("AUTH {name}\n");
        let (a, b) = clients.split_at_mut(1);
        let (ra, rb) = tokio::join!(
            a[0].writer.write_all(auth.as_bytes()),
            b[0].writer.write_all(auth.as_bytes())
        );
        ra.unwrap();
        rb.unwrap();
        let mut answers = Vec::new();
        for client in &mut clients {
            answers.push(client.recv().await.unwrap());
        }
        answers.sort();
        assert_eq!(
            answers,
            [
                "AUTHED ".to_owned() + &name,
                "ERR too many connections for this user".to_owned()
            ],
            "round {round}"
        );
        let members = board.handle().connections_of(&name).await.unwrap();
        assert_eq!(members.len(), 1, "round {round}");
    }
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn a_connection_that_must_authenticate_hears_no_broadcast_until_it_did() {
    let limits = ConnectionLimits::default().with_auth_timeout(Some(Duration::from_secs(30)));
    let config = SwitchboardConfig::default()
        .with_workers(2)
        .with_connection(limits);
    let (board, listener) = serve(config);
    let addr = listener.local_addr;
    let mut speaker = user(addr, "alice").await;
    let mut waiting = LineClient::connect(addr).await;
    says(&mut waiting, "ECHO here", "here").await;
    says(
        &mut waiting,
        "JOIN lobby",
        "ERR permission denied: join lobby",
    )
    .await;

    speaker.send("ALL before").await;
    assert_eq!(speaker.recv().await.as_deref(), Some("before"));
    let report = board
        .handle()
        .broadcast_acked(Chatty::NAME, "acked\n".into())
        .await
        .unwrap();
    assert_eq!(report.delivered, 1, "the speaker only");
    assert_eq!(speaker.recv().await.as_deref(), Some("acked"));

    // Authenticated, it is in the audience from then on; what came before is not for it.
    says(&mut waiting, "AUTH bob", "AUTHED bob").await;
    speaker.send("ALL after").await;
    assert_eq!(speaker.recv().await.as_deref(), Some("after"));
    assert_eq!(waiting.recv().await.as_deref(), Some("after"));
    says(&mut waiting, "JOIN lobby", "JOINED lobby").await;
    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn permissions_are_checked_on_join_and_publish_for_handlers_and_the_handle_alike() {
    let (board, listener) = serve(SwitchboardConfig::default().with_workers(1));
    let handle = board.handle();
    let addr = listener.local_addr;
    let mut guest = user(addr, "guest1").await;
    let mut admin = user(addr, "admin").await;
    says(&mut admin, "JOIN chat.admins", "JOINED chat.admins").await;
    says(&mut admin, "JOIN chat.eu.paris", "JOINED chat.eu.paris").await;

    says(&mut guest, "JOIN chat.eu.paris", "JOINED chat.eu.paris").await;
    says(
        &mut guest,
        "JOIN user.guest1.inbox",
        "JOINED user.guest1.inbox",
    )
    .await;
    // Refused more often than max_error_packets (3): a denial is not an error packet.
    for _ in 0..5 {
        says(
            &mut guest,
            "JOIN chat.admins",
            "ERR permission denied: join chat.admins",
        )
        .await;
    }
    says(
        &mut guest,
        "JOIN user.admin.inbox",
        "ERR permission denied: join user.admin.inbox",
    )
    .await;
    says(
        &mut guest,
        "PUB chat.eu.paris hi",
        "ERR permission denied: publish chat.eu.paris",
    )
    .await;
    guest.send("PUB chat.eu hello").await;
    says(&mut guest, "ECHO alive", "alive").await;

    // The handle is refused too, with a typed reason, and nothing reaches the peer.
    let id = handle.connections_of("guest1").await.unwrap()[0].id;
    let refused = handle.join(id, "chat.admins").await;
    assert!(
        matches!(&refused, Err(SendError::Refused(Refusal::Denied { access: Access::Join, group }))
            if group.as_str() == "chat.admins"),
        "{refused:?}"
    );
    assert_eq!(handle.join(id, "chat.eu").await, Ok(true));
    // An admin in chat.admins hears nothing from the guest's refused publish.
    admin.send("PUB chat.admins only us").await;
    assert_eq!(
        admin.recv().await.as_deref(),
        Some("MSG chat.admins admin only us")
    );
    says(&mut guest, "ECHO still alive", "still alive").await;

    // Five joins, one more, one publish, the handle's: reported within stats_interval.
    eventually("eight denials counted", || async {
        handle.stats().await.unwrap().denied_total == 8
    })
    .await;
    assert_eq!(handle.stats().await.unwrap().error_packets_total, 0);
    listener.stop();
    board.shutdown().await;
}
