//! History across a cluster through a real NATS server: each node numbers every message
//! it receives for a history group, from other nodes too and while it has no member, so
//! a member that comes back to the same node recovers what was published anywhere
//! meanwhile; on another node (another epoch) it is told LOST.

#[path = "support/nats.rs"]
mod nats;
mod support;

use nats::Nats;
use support::*;

/// Node `name` of the cluster at `url`, keeping histories.
fn node(url: &str, name: &str) -> Server {
    Server::start_with_args(
        "reconnect_min_ms = 50\nreconnect_max_ms = 500\nhistory_size = 100",
        &["--cluster", url, "--node", name],
    )
}

/// Answers `JOINED ...` without its word.
async fn joined(client: &mut LineClient, argument: &str) -> String {
    client.send(&format!("JOIN {argument}")).await;
    let line = client.recv().await.unwrap();
    line.strip_prefix("JOINED ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned()
}

/// The offset and text of `MSG room <offset> <text>`.
async fn msg(client: &mut LineClient) -> (u64, String) {
    let line = client.recv().await.unwrap();
    let words: Vec<&str> = line.splitn(4, ' ').collect();
    assert!(words.len() == 4 && words[..2] == ["MSG", "room"], "{line}");
    (words[2].parse().unwrap(), words[3].to_owned())
}

#[tokio::test]
async fn a_member_recovers_on_the_node_it_left_and_is_told_lost_on_another() {
    let nats = Nats::start();
    let (a, b) = (node(&nats.url(), "a"), node(&nats.url(), "b"));
    let mut member = LineClient::connect(a.line).await;
    let stand = joined(&mut member, "room").await;
    let epoch = stand.split(' ').nth(1).unwrap().to_owned();
    assert_eq!(stand, format!("room {epoch} 0"));
    nats.wait_subscriptions("switchboard.group.room", 1);

    // Published on b, which has no member: both nodes number them.
    let mut publisher = FrameClient::connect(b.frame).await;
    stats_until(&mut publisher, "b connected to NATS", |s| {
        s["cluster"]["connected"] == true
    })
    .await;
    for i in 1..=3 {
        publisher
            .send(
                PUBLISH,
                &publish_payload("room", format!("m{i}").as_bytes()),
            )
            .await;
    }
    publisher.ready().await;
    for i in 1..=3 {
        assert_eq!(msg(&mut member).await, (i, format!("m{i}")));
    }
    drop(member);
    // b listens too now that it keeps a history of the group; a still does, memberless.
    nats.wait_subscriptions("switchboard.group.room", 2);
    for i in 4..=5 {
        publisher
            .send(
                PUBLISH,
                &publish_payload("room", format!("m{i}").as_bytes()),
            )
            .await;
    }
    publisher.ready().await;
    let mut on_a = FrameClient::connect(a.frame).await;
    stats_until(&mut on_a, "a numbered what b published", |s| {
        s["history"]["messages"] == 5
    })
    .await;

    let mut back = LineClient::connect(a.line).await;
    assert_eq!(
        joined(&mut back, &format!("room {epoch} 3")).await,
        format!("room {epoch} 5 RECOVERED 2")
    );
    for i in 4..=5 {
        assert_eq!(msg(&mut back).await, (i, format!("m{i}")));
    }
    let mut elsewhere = LineClient::connect(b.line).await;
    let answer = joined(&mut elsewhere, &format!("room {epoch} 3")).await;
    assert!(answer.ends_with(" 5 LOST"), "{answer}");
    assert_ne!(
        answer.split(' ').nth(1),
        Some(epoch.as_str()),
        "b's own epoch"
    );
}
