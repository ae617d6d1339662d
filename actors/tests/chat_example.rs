//! The chat example (`examples/chat.rs`) run for real: three clients over loopback
//! choose nicknames, join rooms, talk, ask who is there, leave, and hang up.

mod common;

// The example file itself, so what is tested is exactly what a reader copies.
#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;

use common::{eventually, record_removals, LineClient};
use switchboard::RemovalReason;
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

#[actix_rt::test]
async fn rooms_reach_their_members_only_and_a_client_that_hangs_up_leaves_its_rooms() {
    let (board, listener) = chat::serve(([127, 0, 0, 1], 0).into()).unwrap();
    let removed = record_removals(board.handle());
    let addr = listener.local_addr;
    let (mut alice, mut bob, mut carol) = (
        LineClient::connect(addr).await,
        LineClient::connect(addr).await,
        LineClient::connect(addr).await,
    );

    says(
        &mut alice,
        "JOIN lobby",
        "ERR choose a nick first: NICK <name>",
    )
    .await;
    says(&mut alice, "NICK alice", "NICK alice").await;
    says(&mut bob, "NICK alice", "ERR nick alice is taken").await;
    says(&mut bob, "NICK bob", "NICK bob").await;
    says(&mut carol, "NICK carol", "NICK carol").await;
    says(&mut alice, "JOIN lobby", "JOINED lobby").await;
    says(&mut bob, "JOIN lobby", "JOINED lobby").await;
    says(&mut alice, "JOIN lobby", "ERR already in lobby").await;
    says(&mut carol, "JOIN garden", "JOINED garden").await;

    // A message reaches every member of its room, the sender's own copy included...
    alice.send("MSG lobby hello room").await;
    assert_eq!(
        alice.recv().await.as_deref(),
        Some("MSG lobby alice hello room")
    );
    assert_eq!(
        bob.recv().await.as_deref(),
        Some("MSG lobby alice hello room")
    );
    // ...and nobody else: the first message carol sees is from her own room.
    says(&mut carol, "MSG garden just me", "MSG garden carol just me").await;
    says(&mut carol, "MSG lobby let me in", "ERR join lobby first").await;

    // WHO answers with nicknames, for members and outsiders alike.
    says(&mut carol, "WHO lobby", "WHO lobby alice bob").await;
    says(&mut alice, "WHO garden", "WHO garden carol").await;
    says(&mut alice, "WHO empty", "WHO empty").await;
    // Sent in one write, the WHO still sees the JOIN before it.
    carol
        .writer
        .write_all(b"JOIN lobby\nWHO lobby\n")
        .await
        .unwrap();
    assert_eq!(carol.recv().await.as_deref(), Some("JOINED lobby"));
    assert_eq!(
        carol.recv().await.as_deref(),
        Some("WHO lobby alice bob carol")
    );
    says(&mut carol, "LEAVE lobby", "LEFT lobby").await;

    // Who left a room gets nothing more from it.
    says(&mut bob, "LEAVE lobby", "LEFT lobby").await;
    says(&mut bob, "LEAVE lobby", "ERR not in lobby").await;
    says(
        &mut alice,
        "MSG lobby anyone here",
        "MSG lobby alice anyone here",
    )
    .await;
    says(&mut bob, "WHO lobby", "WHO lobby alice").await;

    // A client that hangs up is taken out of its rooms, and its nickname is free again.
    says(&mut bob, "JOIN lobby", "JOINED lobby").await;
    says(&mut bob, "JOIN garden", "JOINED garden").await;
    drop(bob);
    eventually("bob is removed", || async {
        removed
            .seen()
            .await
            .iter()
            .any(|r| r.reason == RemovalReason::PeerClosed)
    })
    .await;
    says(&mut alice, "WHO lobby", "WHO lobby alice").await;
    says(&mut alice, "WHO garden", "WHO garden carol").await;
    says(&mut carol, "NICK bob", "NICK bob").await;
    says(&mut alice, "WHO garden", "WHO garden bob").await;

    listener.stop();
    board.shutdown().await;
}

#[actix_rt::test]
async fn bad_input_gets_an_err_reply_and_the_connection_lives_on() {
    let (board, listener) = chat::serve(([127, 0, 0, 1], 0).into()).unwrap();
    let mut c = LineClient::connect(listener.local_addr).await;
    let names = "(names are 1 to 32 letters, digits, '-' or '_')";

    says(&mut c, "HELLO", "ERR commands: NICK, JOIN, LEAVE, MSG, WHO").await;
    says(&mut c, "", "ERR commands: NICK, JOIN, LEAVE, MSG, WHO").await;
    says(&mut c, "NICK", &format!("ERR usage: NICK <name> {names}")).await;
    says(
        &mut c,
        "NICK two words",
        &format!("ERR usage: NICK <name> {names}"),
    )
    .await;
    says(&mut c, "NICK dave", "NICK dave").await;
    says(&mut c, "JOIN", &format!("ERR usage: JOIN <room> {names}")).await;
    says(
        &mut c,
        "JOIN no!",
        &format!("ERR usage: JOIN <room> {names}"),
    )
    .await;
    let long = "r".repeat(33);
    says(
        &mut c,
        &format!("JOIN {long}"),
        &format!("ERR usage: JOIN <room> {names}"),
    )
    .await;
    says(
        &mut c,
        "MSG lobby",
        &format!("ERR usage: MSG <room> <text> {names}"),
    )
    .await;
    says(&mut c, "WHO", &format!("ERR usage: WHO <room> {names}")).await;
    c.writer.write_all(b"\xff\xfe\n").await.unwrap();
    assert_eq!(c.recv().await.as_deref(), Some("ERR invalid utf-8"));

    // A bounded number of rooms per connection.
    for i in 0..16 {
        says(&mut c, &format!("JOIN room{i}"), &format!("JOINED room{i}")).await;
    }
    says(&mut c, "JOIN one-more", "ERR at most 16 rooms").await;
    says(&mut c, "LEAVE room0", "LEFT room0").await;
    says(&mut c, "JOIN one-more", "JOINED one-more").await;
    says(
        &mut c,
        "MSG one-more still here",
        "MSG one-more dave still here",
    )
    .await;

    listener.stop();
    board.shutdown().await;
}
