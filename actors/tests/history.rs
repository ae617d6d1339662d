//! Group history over real connections on loopback: one order per group with offsets,
//! joins that say where the history stands, recovery after a broken connection with
//! no gap and no duplicate, and the figures.

mod common;

use bytes::Bytes;
use common::{eventually, LineClient, WAIT};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::codec::Lines;
use switchboard::config::SwitchboardConfig;
use switchboard::history::{Epoch, HistoryConfig, Joined, Position, Recovery};
use switchboard::*;

/// `JOIN g [epoch offset]`, `LEAVE g`, `PUB g text`, `PING`, `LATER x` (answered `x`
/// after 50 ms). Group messages are `MSG g offset text` in history groups, `MSG g
/// text` elsewhere; a text holding `\n` (written `\n` in the request) is no line.
struct Chat;

fn joined(joined: &Joined) -> String {
    let group = &joined.group;
    match &joined.history {
        None => format!("JOINED {group}"),
        Some(stand) => {
            let head = format!("JOINED {group} {} {}", stand.epoch, stand.last);
            match stand.recovery {
                None => head,
                Some(Recovery::Recovered(n)) => format!("{head} RECOVERED {n}"),
                Some(Recovery::Lost) => format!("{head} LOST"),
            }
        }
    }
}

fn line(text: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8".to_owned())?;
    match text.contains('\n') {
        true => Err("a line break in a line".to_owned()),
        false => Ok(text),
    }
}

impl Protocol for Chat {
    const NAME: &'static str = "chat";
    type Request = String;
    type Response = String;
    type Codec = Lines;
    fn codec(&self) -> Lines {
        Lines::new(4096)
    }
    fn handle(&mut self, request: String, out: &mut Outbox<String>) {
        let words: Vec<&str> = request.splitn(4, ' ').collect();
        match words[..] {
            ["JOIN", group] => {
                out.join_from(group, None, joined);
            }
            ["JOIN", group, epoch, offset] => {
                let (Ok(epoch), Ok(offset)) = (Epoch::parse(epoch), offset.parse()) else {
                    return out.bad_packet("bad position");
                };
                out.join_from(group, Some(Position { epoch, offset }), joined);
            }
            ["LEAVE", group] => {
                out.leave(group);
                out.reply(format!("LEFT {group}"));
            }
            ["PUB", group, ..] => {
                let text = request.splitn(3, ' ').nth(2).unwrap_or_default();
                out.publish(group, text.replace("\\n", "\n").into_bytes());
            }
            ["PING"] => out.reply("PONG".to_owned()),
            // A user who may join the groups under `h.open` only.
            ["AUTH", name] => {
                let open = identity::Pattern::parse("h.open.>").unwrap();
                let permissions = identity::Permissions::none()
                    .allow(identity::Access::Join, open.clone())
                    .allow(identity::Access::Publish, open);
                match out.authenticate(User::new(name, permissions)) {
                    Ok(()) => out.reply(format!("AUTHED {name}")),
                    Err(e) => out.bad_packet(e.to_string()),
                }
            }
            ["LATER", x] => {
                let x = x.to_owned();
                out.defer(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    x
                });
            }
            _ => out.bad_packet("bad command"),
        }
    }
    fn group_encoder(&self) -> Option<GroupEncoder> {
        let plain = GroupEncoder::new(|group, message| {
            Ok(Bytes::from(format!("MSG {group} {}\n", line(message)?)))
        });
        Some(plain.with_offsets(|group, offset, message| {
            Ok(Bytes::from(format!(
                "MSG {group} {offset} {}\n",
                line(message)?
            )))
        }))
    }
}

fn board(history: HistoryConfig) -> (Switchboard, SocketAddr) {
    let config = SwitchboardConfig::default()
        .with_workers(2)
        .with_history(Some(history));
    let board = Switchboard::start(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = board.listen(listener, || Chat).unwrap().local_addr;
    (board, addr)
}

fn history() -> HistoryConfig {
    let pattern = identity::Pattern::parse("h.>").unwrap();
    HistoryConfig::default().with_groups(vec![pattern])
}

/// The epoch and offset a `JOINED g epoch offset ...` line names.
fn stand(line: &str) -> (String, u64) {
    let words: Vec<&str> = line.split(' ').collect();
    assert!(words.len() >= 4 && words[0] == "JOINED", "{line}");
    (words[2].to_owned(), words[3].parse().expect("an offset"))
}

/// The offset and text of a `MSG g offset text` line.
fn numbered(line: &str) -> (u64, String) {
    let words: Vec<&str> = line.splitn(4, ' ').collect();
    assert!(words.len() == 4 && words[0] == "MSG", "{line}");
    (words[2].parse().expect("an offset"), words[3].to_owned())
}

async fn joined_at(client: &mut LineClient, group: &str) -> (String, u64) {
    client.send(&format!("JOIN {group}")).await;
    stand(&client.recv().await.unwrap())
}

#[actix_rt::test]
async fn offsets_follow_joined_and_a_publisher_gets_its_own_message_before_later_replies() {
    let (board, addr) = board(history());
    let mut a = LineClient::connect(addr).await;
    let mut b = LineClient::connect(addr).await;
    let (epoch, last) = joined_at(&mut a, "h.room").await;
    assert_eq!(last, 0, "nothing published yet");
    for i in 0..3 {
        b.send(&format!("PUB h.room before{i}")).await;
    }
    b.send("PING").await;
    assert_eq!(b.recv().await.unwrap(), "PONG");
    let (epoch_b, last_b) = joined_at(&mut b, "h.room").await;
    assert_eq!((epoch_b.as_str(), last_b), (epoch.as_str(), 3));
    for i in 0..3 {
        assert_eq!(
            numbered(&a.recv().await.unwrap()),
            (i + 1, format!("before{i}"))
        );
    }
    // A member's own message comes back numbered, before the reply to its next request.
    b.send("PUB h.room mine").await;
    b.send("PING").await;
    assert_eq!(numbered(&b.recv().await.unwrap()), (4, "mine".to_owned()));
    assert_eq!(b.recv().await.unwrap(), "PONG");
    assert_eq!(numbered(&a.recv().await.unwrap()), (4, "mine".to_owned()));
    // A group without history keeps its plain form.
    a.send("JOIN plain").await;
    assert_eq!(a.recv().await.unwrap(), "JOINED plain");
    b.send("PUB plain hello").await;
    assert_eq!(a.recv().await.unwrap(), "MSG plain hello");
    // A JOIN of a member says where its stream is, and changes nothing.
    a.send("JOIN h.room").await;
    assert_eq!(stand(&a.recv().await.unwrap()), (epoch, 4));
    let counters = board
        .handle()
        .stats()
        .await
        .unwrap()
        .history
        .expect("history on");
    assert_eq!(
        (counters.groups, counters.messages, counters.bytes),
        (1, 4, 25)
    );
}

/// A member's own messages to a history group wait for their numbered copies without
/// counting as deferred replies: 500 publishes in one write from a member go through,
/// numbered in order for both members, though `max_deferred` is 4 and the publish
/// credit lets only 8 own copies be awaited at once (each counts `ENTRY_OVERHEAD`
/// bytes against `max_publish_in_flight`): reading pauses at the bound and goes on as
/// the copies come back.
#[actix_rt::test]
async fn a_member_pipelines_its_publishes_past_max_deferred_and_the_credit_paces_them() {
    const N: u64 = 500;
    let limits = config::ConnectionLimits::default()
        .with_max_deferred(4)
        .with_max_publish_in_flight(8 * history::ENTRY_OVERHEAD);
    let config = SwitchboardConfig::default()
        .with_workers(2)
        .with_connection(limits)
        .with_history(Some(history()));
    let board = Switchboard::start(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = board.listen(listener, || Chat).unwrap().local_addr;
    let mut other = LineClient::connect(addr).await;
    let mut publisher = LineClient::connect(addr).await;
    joined_at(&mut other, "h.pipe").await;
    joined_at(&mut publisher, "h.pipe").await;
    let lines: Vec<String> = (1..=N).map(|i| format!("PUB h.pipe {i}")).collect();
    publisher.send(&format!("{}\nPING", lines.join("\n"))).await;
    for i in 1..=N {
        assert_eq!(
            numbered(&publisher.recv().await.unwrap()),
            (i, i.to_string())
        );
    }
    assert_eq!(
        publisher.recv().await.unwrap(),
        "PONG",
        "after its own copies"
    );
    for i in 1..=N {
        assert_eq!(numbered(&other.recv().await.unwrap()), (i, i.to_string()));
    }
}

#[actix_rt::test]
async fn members_on_both_workers_see_one_order_under_three_concurrent_publishers() {
    let (_board, addr) = board(history());
    let mut members = Vec::new();
    for _ in 0..4 {
        let mut member = LineClient::connect(addr).await;
        joined_at(&mut member, "h.race").await;
        members.push(member);
    }
    const EACH: usize = 300;
    let publishers: Vec<_> = (0..3)
        .map(|p| {
            tokio::spawn(async move {
                let mut publisher = LineClient::connect(addr).await;
                for i in 0..EACH {
                    publisher.send(&format!("PUB h.race {p}-{i}")).await;
                }
                publisher.send("PING").await;
                assert_eq!(publisher.recv().await.unwrap(), "PONG");
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let mut orders = Vec::new();
    for member in &mut members {
        let mut order = Vec::new();
        for expected in 1..=(3 * EACH) as u64 {
            let (offset, text) = numbered(&member.recv().await.unwrap());
            assert_eq!(offset, expected);
            order.push(text);
        }
        orders.push(order);
    }
    for order in &orders[1..] {
        assert_eq!(order, &orders[0], "one order for every member");
    }
    for p in 0..3 {
        let own: Vec<&String> = orders[0]
            .iter()
            .filter(|t| t.starts_with(&format!("{p}-")))
            .collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("{p}-{i}")).collect();
        assert_eq!(
            own,
            expected.iter().collect::<Vec<_>>(),
            "publisher {p}'s order"
        );
    }
}

#[actix_rt::test]
async fn a_member_that_comes_back_from_its_position_gets_what_it_missed_then_the_live_stream() {
    let (board, addr) = board(history());
    let mut publisher = LineClient::connect(addr).await;
    let mut member = LineClient::connect(addr).await;
    let (epoch, _) = joined_at(&mut member, "h.back").await;
    publisher.send("PUB h.back one").await;
    assert_eq!(
        numbered(&member.recv().await.unwrap()),
        (1, "one".to_owned())
    );
    drop(member);
    for text in ["two", "three", "fo\\nur", "five"] {
        publisher.send(&format!("PUB h.back {text}")).await;
    }
    publisher.send("PING").await;
    assert_eq!(publisher.recv().await.unwrap(), "PONG");
    let mut back = LineClient::connect(addr).await;
    // Behind a deferred reply, as every reply.
    back.send("LATER first").await;
    back.send(&format!("JOIN h.back {epoch} 1")).await;
    publisher.send("PUB h.back six").await;
    assert_eq!(back.recv().await.unwrap(), "first");
    // Six was published while the join waited: before the join's answer (then
    // replayed) or after it (then live); either way in its place, once.
    let answer = back.recv().await.unwrap();
    let last = stand(&answer).1;
    assert!(last == 5 || last == 6, "{answer}");
    assert_eq!(
        answer,
        format!("JOINED h.back {epoch} {last} RECOVERED {}", last - 1),
        "a message that is no line counts, and is skipped"
    );
    for (offset, text) in [(2, "two"), (3, "three"), (5, "five"), (6, "six")] {
        assert_eq!(
            numbered(&back.recv().await.unwrap()),
            (offset, text.to_owned())
        );
    }
    // Another epoch, an offset in the future, or one no longer kept: lost.
    for (position, last) in [("other 1", 6), (&*format!("{epoch} 99"), 6)] {
        let mut late = LineClient::connect(addr).await;
        late.send(&format!("JOIN h.back {position}")).await;
        assert_eq!(
            late.recv().await.unwrap(),
            format!("JOINED h.back {epoch} {last} LOST")
        );
    }
    let counters = board.handle().stats().await.unwrap().history.unwrap();
    assert_eq!((counters.recovered_total, counters.lost_total), (1, 2));
}

#[actix_rt::test]
async fn the_history_keeps_size_messages_and_a_recovery_past_them_is_lost() {
    let (_board, addr) = board(history().with_size(3));
    let mut publisher = LineClient::connect(addr).await;
    let (epoch, _) = joined_at(&mut publisher, "h.small").await;
    for i in 1..=5 {
        publisher.send(&format!("PUB h.small m{i}")).await;
        assert_eq!(numbered(&publisher.recv().await.unwrap()).0, i);
    }
    for (from, answer) in [(1, "LOST"), (2, "RECOVERED 3")] {
        let mut late = LineClient::connect(addr).await;
        late.send(&format!("JOIN h.small {epoch} {from}")).await;
        assert_eq!(
            late.recv().await.unwrap(),
            format!("JOINED h.small {epoch} 5 {answer}")
        );
    }
}

#[actix_rt::test]
async fn a_memberless_history_expires_and_its_next_message_starts_a_new_epoch() {
    let ttl = Duration::from_millis(200);
    let (board, addr) = board(history().with_ttl(ttl));
    let mut member = LineClient::connect(addr).await;
    let (epoch, _) = joined_at(&mut member, "h.ttl").await;
    member.send("PUB h.ttl x").await;
    assert_eq!(numbered(&member.recv().await.unwrap()).0, 1);
    drop(member);
    let handle = board.handle().clone();
    eventually("the history forgotten", || {
        let handle = handle.clone();
        async move { handle.stats().await.unwrap().history.unwrap().groups == 0 }
    })
    .await;
    let mut back = LineClient::connect(addr).await;
    back.send(&format!("JOIN h.ttl {epoch} 1")).await;
    let answer = back.recv().await.unwrap();
    assert!(answer.ends_with(" 0 LOST"), "{answer}");
    assert_ne!(stand(&answer).0, epoch, "a new epoch");
}

#[actix_rt::test]
async fn a_flood_with_a_member_coming_back_again_and_again_reaches_it_whole() {
    let (_board, addr) = board(history().with_size(100_000));
    let mut first = LineClient::connect(addr).await;
    let (epoch, _) = joined_at(&mut first, "h.flood").await;
    const N: u64 = 3000;
    let flood = tokio::spawn(async move {
        let mut publisher = LineClient::connect(addr).await;
        for i in 1..=N {
            publisher.send(&format!("PUB h.flood {i}")).await;
        }
        publisher.send("PING").await;
        assert_eq!(publisher.recv().await.unwrap(), "PONG");
    });
    let mut seen: Vec<u64> = Vec::new();
    let mut member = first;
    let mut comebacks = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.last() != Some(&N) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck at {:?}",
            seen.last()
        );
        for _ in 0..(50 + comebacks * 37 % 200) {
            let (offset, text) = numbered(&member.recv().await.unwrap());
            assert_eq!(text, offset.to_string());
            seen.push(offset);
            if offset == N {
                break;
            }
        }
        if seen.last() == Some(&N) {
            break;
        }
        drop(member);
        comebacks += 1;
        member = LineClient::connect(addr).await;
        let position = seen.last().copied().unwrap_or(0);
        member
            .send(&format!("JOIN h.flood {epoch} {position}"))
            .await;
        let answer = member.recv().await.unwrap();
        assert!(answer.contains(" RECOVERED "), "{answer}");
    }
    flood.await.unwrap();
    assert!(comebacks >= 5, "came back {comebacks} times");
    assert_eq!(
        seen,
        (1..=N).collect::<Vec<_>>(),
        "every offset once, in order"
    );
    let distinct: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(distinct.len() as u64, N);
}

#[actix_rt::test]
async fn a_join_from_a_position_is_a_join_the_permissions_apply() {
    let (board, addr) = board(history());
    let mut member = LineClient::connect(addr).await;
    member.send("AUTH alice").await;
    assert_eq!(member.recv().await.unwrap(), "AUTHED alice");
    let (epoch, _) = joined_at(&mut member, "h.open.room").await;
    member.send("PUB h.open.room hi").await;
    assert_eq!(
        numbered(&member.recv().await.unwrap()),
        (1, "hi".to_owned())
    );
    // A recovery JOIN of a group it may not join is refused like a JOIN, and joins nothing.
    member.send(&format!("JOIN h.closed {epoch} 0")).await;
    member.send("PING").await;
    assert_eq!(
        member.recv().await.unwrap(),
        "PONG",
        "the refusal has no reply here"
    );
    let members = board.handle().members("h.closed").await.unwrap();
    assert!(members.is_empty(), "not joined");
    let handle = board.handle().clone();
    eventually("the denial counted", || {
        let handle = handle.clone();
        async move { handle.stats().await.unwrap().denied_total == 1 }
    })
    .await;
    let snapshot = board.handle().stats().await.unwrap();
    assert_eq!(
        snapshot.history.unwrap().recovered_total,
        0,
        "nothing recovered"
    );
}
