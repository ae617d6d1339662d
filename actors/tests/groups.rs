//! Named groups over real connections of two protocols on loopback: an encode failure
//! is a send failure for each member of that protocol only, and a closed connection
//! leaves its groups.

mod common;

use bytes::Bytes;
use common::{eventually, LineClient};
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::config::SwitchboardConfig;
use switchboard::*;

// ----- real connections of two protocols --------------------------------------------------

/// Lines in; `JOIN g`, `LEAVE g`, `PUB g text` (a `\n` in the text stands for a
/// newline) and `ECHO x`. The two protocols differ in their group encoding only.
fn handle(line: String, out: &mut Outbox<String>) {
    let mut words = line.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("JOIN"), Some(group), None) => {
            out.join(group);
        }
        (Some("LEAVE"), Some(group), None) => {
            out.leave(group);
        }
        (Some("PUB"), Some(group), Some(text)) => {
            out.publish(group, text.replace("\\n", "\n").into_bytes())
        }
        (Some("ECHO"), Some(text), None) => out.reply(text.to_owned()),
        _ => out.bad_packet("bad command"),
    }
}

/// Group messages as `group text` lines: a text holding a newline cannot be one.
struct Text;

impl Protocol for Text {
    const NAME: &'static str = "text";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines::new(1024)
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        handle(line, out)
    }
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|group, message| {
            let text = std::str::from_utf8(message).map_err(|_| "not UTF-8".to_owned())?;
            if text.contains('\n') {
                return Err("a line break in a line".to_owned());
            }
            Ok(Bytes::from(format!("{group} {text}\n")))
        }))
    }
}

/// Group messages as `group escaped-text` lines: every message fits.
struct Escaped;

impl Protocol for Escaped {
    const NAME: &'static str = "escaped";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines::new(1024)
    }
    fn handle(&mut self, line: String, out: &mut Outbox<String>) {
        handle(line, out)
    }
    fn group_encoder(&self) -> Option<GroupEncoder> {
        Some(GroupEncoder::new(|group, message| {
            Ok(Bytes::from(format!("{group} {}\n", message.escape_ascii())))
        }))
    }
}

fn listen<P: Protocol>(board: &Switchboard, protocol: fn() -> P) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    board.listen(listener, protocol).unwrap().local_addr
}

/// Waits until `group` has `n` members.
async fn members(board: &Handle, group: &str, n: usize) {
    eventually("the joins", || async {
        board.members(group).await.unwrap().len() == n
    })
    .await;
}

#[actix_rt::test]
async fn an_encode_failure_is_a_send_failure_for_each_member_of_that_protocol_only() {
    let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
    let text = listen(&board, || Text);
    let escaped = listen(&board, || Escaped);
    let mut texts = Vec::new();
    for _ in 0..2 {
        let mut client = LineClient::connect(text).await;
        client.send("JOIN room").await;
        texts.push(client);
    }
    let mut publisher = LineClient::connect(escaped).await;
    publisher.send("JOIN room").await;
    members(board.handle(), "room", 3).await;

    publisher.send("PUB room two\\nlines").await;
    publisher.send("PUB room fine").await;
    publisher.send("ECHO after").await;
    assert_eq!(publisher.recv().await.as_deref(), Some("room two\\nlines"));
    assert_eq!(publisher.recv().await.as_deref(), Some("room fine"));
    assert_eq!(publisher.recv().await.as_deref(), Some("after"));
    for client in &mut texts {
        assert_eq!(
            client.recv().await.as_deref(),
            Some("room fine"),
            "the message with a line break is not delivered"
        );
    }

    let sup = board.handle().clone();
    eventually("the failures in the stats", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().send_failures_total == 2 }
    })
    .await;
    let snap = sup.stats().await.unwrap();
    assert_eq!(
        snap.protocols["text"].send_failures, 2,
        "one per text member"
    );
    assert_eq!(snap.protocols["escaped"].send_failures, 0);
    assert_eq!((snap.groups, snap.group_members), (1, 3));
    let ids = sup
        .list(Some("text"))
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    let inspected = sup.inspect(ids, Duration::from_secs(2)).await.unwrap();
    assert_eq!(inspected.len(), 2);
    for member in inspected {
        let report = member.report.expect("a report");
        assert_eq!(report.recent_failures.len(), 1);
        assert_eq!(
            report.recent_failures[0].reason,
            FailureReason::Refused(SendError::Encode("a line break in a line".into()))
        );
    }
}

#[actix_rt::test]
async fn a_closed_connection_leaves_its_groups() {
    let board = Switchboard::start(SwitchboardConfig::default().with_workers(1));
    let addr = listen(&board, || Text);
    let mut staying = LineClient::connect(addr).await;
    staying.send("JOIN a").await;
    let mut leaving = LineClient::connect(addr).await;
    for group in ["a", "b", "c"] {
        leaving.send(&format!("JOIN {group}")).await;
    }
    let sup = board.handle().clone();
    members(&sup, "c", 1).await;
    members(&sup, "a", 2).await;
    drop(leaving);
    members(&sup, "a", 1).await;
    assert_eq!(sup.groups().await.unwrap(), [("a".into(), 1)]);
    let snap = sup.stats().await.unwrap();
    assert_eq!((snap.groups, snap.group_members), (1, 1));
    staying.send("PUB a still").await;
    assert_eq!(staying.recv().await.as_deref(), Some("a still"));
}
