//! History and recovery through the real binary, on both protocols: offsets from
//! JOINED on, one order under concurrent publishers, recovery after a broken connection
//! (then the live stream, with no gap and no duplicate, under a flood too), LOST when it
//! cannot be done, the byte budget, the error packets of a malformed recovery JOIN, and
//! the `history` stats. Members on `ws_line` and `ws_frame` take part in the order and
//! the recovery tests: each numbered message, replayed or live, and each reply reaches
//! them as one WebSocket message.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use support::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A WebSocket client (tokio-tungstenite, which checks every frame it reads).
type Ws = WebSocketStream<TcpStream>;

/// A client of either protocol, over TCP or WebSocket, speaking in the line
/// protocol's words.
enum Client {
    Frame(FrameClient),
    Line(LineClient),
    /// On `ws_line`: one line per text message, without its ending.
    WsLine(Box<Ws>),
    /// On `ws_frame`: one frame body (opcode and payload) per binary message.
    WsFrame(Box<Ws>),
}

/// Where a client connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Frame,
    Line,
    WsLine,
    WsFrame,
}

const ALL: [Transport; 4] = [
    Transport::Frame,
    Transport::Line,
    Transport::WsLine,
    Transport::WsFrame,
];

/// What a client received, in one form for both protocols.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    /// `JOINED` and what follows it.
    Joined(String),
    /// A numbered group message: group, offset, text.
    Msg(String, u64, String),
    /// A group message without offset: group, text.
    Plain(String, String),
    /// The answer to a PING.
    Pong,
    /// An error packet's reason.
    Error(String),
    /// Anything else.
    Other(String),
}

/// A WebSocket client upgraded on `addr`, within [`WAIT`].
async fn ws_connect(addr: std::net::SocketAddr) -> Box<Ws> {
    let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connected in time")
        .expect("connected");
    let connect = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream);
    let (ws, response) = tokio::time::timeout(WAIT, connect)
        .await
        .expect("handshake in time")
        .expect("handshake");
    assert_eq!(response.status(), 101);
    Box::new(ws)
}

async fn ws_send(ws: &mut Ws, message: Message) {
    tokio::time::timeout(WAIT, ws.send(message))
        .await
        .expect("sent in time")
        .expect("sent");
}

/// The next data message (tungstenite answers Pings itself as it reads).
async fn ws_next(ws: &mut Ws) -> Message {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

/// A `frame` body: the opcode, then the payload.
fn body(opcode: u8, payload: &[u8]) -> Message {
    let mut body = vec![opcode];
    body.extend_from_slice(payload);
    Message::binary(body)
}

/// A frame (opcode and payload) in one form for both protocols.
fn frame_got(opcode: u8, payload: &[u8]) -> Got {
    let text = || String::from_utf8_lossy(payload).into_owned();
    match opcode {
        JOINED => Got::Joined(text()),
        PONG => Got::Pong,
        ERROR => Got::Error(text()),
        MESSAGE => {
            let n = usize::from(payload[0]);
            let group = String::from_utf8_lossy(&payload[1..1 + n]).into_owned();
            let rest = &payload[1 + n..];
            // Every group these tests number starts with `h`.
            if group.starts_with('h') {
                let offset = u64::from_be_bytes(rest[..8].try_into().unwrap());
                let text = String::from_utf8_lossy(&rest[8..]).into_owned();
                Got::Msg(group, offset, text)
            } else {
                Got::Plain(group, String::from_utf8_lossy(rest).into_owned())
            }
        }
        _ => Got::Other(format!("{opcode:#x} {}", text())),
    }
}

/// A line (without its ending) in one form for both protocols.
fn line_got(line: &str) -> Got {
    let words: Vec<&str> = line.splitn(4, ' ').collect();
    match words[..] {
        ["JOINED", ..] => Got::Joined(line["JOINED ".len()..].to_owned()),
        ["PONG"] => Got::Pong,
        ["ERR", ..] => Got::Error(line["ERR ".len()..].to_owned()),
        ["MSG", group, offset, text] if group.starts_with('h') => {
            Got::Msg(group.to_owned(), offset.parse().unwrap(), text.to_owned())
        }
        ["MSG", group, ..] => {
            let text = line.splitn(3, ' ').nth(2).unwrap_or_default();
            Got::Plain(group.to_owned(), text.to_owned())
        }
        _ => Got::Other(line.to_owned()),
    }
}

impl Client {
    async fn connect(server: &Server, frame: bool) -> Client {
        match frame {
            true => Client::on(server, Transport::Frame).await,
            false => Client::on(server, Transport::Line).await,
        }
    }

    async fn on(server: &Server, transport: Transport) -> Client {
        match transport {
            Transport::Frame => Client::Frame(FrameClient::connect(server.frame).await),
            Transport::Line => Client::Line(LineClient::connect(server.line).await),
            Transport::WsLine => Client::WsLine(ws_connect(server.ws_line.unwrap()).await),
            Transport::WsFrame => Client::WsFrame(ws_connect(server.ws_frame.unwrap()).await),
        }
    }

    /// Sends a command: `line` on the line protocols, `opcode` and `payload` on the
    /// frame ones.
    async fn command(&mut self, line: &str, opcode: u8, payload: &[u8]) {
        match self {
            Client::Frame(c) => c.send(opcode, payload).await,
            Client::Line(c) => c.send(line).await,
            Client::WsLine(ws) => ws_send(ws, Message::text(line)).await,
            Client::WsFrame(ws) => ws_send(ws, body(opcode, payload)).await,
        }
    }

    /// JOIN with `argument` (`name`, or `name epoch offset`).
    async fn send_join(&mut self, argument: &str) {
        self.command(&format!("JOIN {argument}"), JOIN, argument.as_bytes())
            .await
    }

    async fn leave(&mut self, group: &str) {
        self.command(&format!("LEAVE {group}"), LEAVE, group.as_bytes())
            .await;
        match self {
            Client::Frame(_) | Client::WsFrame(_) => {
                assert_eq!(self.raw().await, (LEFT, group.as_bytes().to_vec()))
            }
            _ => assert_eq!(self.raw().await.1, format!("LEFT {group}").into_bytes()),
        }
    }

    async fn publish(&mut self, group: &str, text: &[u8]) {
        let line = format!("PUB {group} {}", std::str::from_utf8(text).unwrap());
        self.command(&line, PUBLISH, &publish_payload(group, text))
            .await
    }

    async fn send_ping(&mut self) {
        self.command("PING", PING, b"").await
    }

    async fn send_stats(&mut self) {
        self.command("STATS", STATS, b"").await
    }

    /// The next packet: (opcode, payload) on the frame protocols, (0, the line without
    /// its ending) on the line ones. On a WebSocket it is one whole message: a text
    /// message on `ws_line` holding one line and no line ending, a binary message on
    /// `ws_frame` holding one frame body.
    async fn raw(&mut self) -> (u8, Vec<u8>) {
        match self {
            Client::Frame(c) => c.recv().await,
            Client::Line(c) => (0, c.recv().await.expect("connection closed").into_bytes()),
            Client::WsLine(ws) => match ws_next(ws).await {
                Message::Text(text) => {
                    let text = text.as_str();
                    assert!(
                        !text.contains(['\n', '\r']),
                        "one line per message, without its ending: {text:?}"
                    );
                    (0, text.as_bytes().to_vec())
                }
                other => panic!("expected a text message, got {other:?}"),
            },
            Client::WsFrame(ws) => match ws_next(ws).await {
                Message::Binary(body) if !body.is_empty() => (body[0], body[1..].to_vec()),
                other => panic!("expected a frame body, got {other:?}"),
            },
        }
    }

    async fn recv(&mut self) -> Got {
        let (opcode, payload) = self.raw().await;
        match self {
            Client::Frame(_) | Client::WsFrame(_) => frame_got(opcode, &payload),
            _ => line_got(std::str::from_utf8(&payload).expect("UTF-8 lines")),
        }
    }

    /// Joins `group`: its epoch and the offset of the last message before the join.
    async fn join(&mut self, group: &str) -> (String, u64) {
        self.send_join(group).await;
        match self.recv().await {
            Got::Joined(text) => position(&text, group),
            other => panic!("JOIN {group}: {other:?}"),
        }
    }

    /// A recovery JOIN; answers what follows `JOINED`.
    async fn join_from(&mut self, group: &str, epoch: &str, offset: u64) -> String {
        self.send_join(&format!("{group} {epoch} {offset}")).await;
        match self.recv().await {
            Got::Joined(text) => text,
            other => panic!("JOIN {group} {epoch} {offset}: {other:?}"),
        }
    }

    /// The next numbered message of `group`: its offset and text.
    async fn msg(&mut self, group: &str) -> (u64, String) {
        match self.recv().await {
            Got::Msg(g, offset, text) if g == group => (offset, text),
            other => panic!("expected a message of {group}: {other:?}"),
        }
    }

    async fn ping(&mut self) {
        self.send_ping().await;
        assert_eq!(self.recv().await, Got::Pong);
    }

    async fn stats(&mut self) -> Value {
        self.send_stats().await;
        let (opcode, payload) = self.raw().await;
        if let Client::Frame(_) | Client::WsFrame(_) = self {
            assert_eq!(opcode, STATS_REPLY);
        }
        serde_json::from_slice(&payload).unwrap()
    }
}

/// The epoch and offset of `<group> <epoch> <offset>`.
fn position(joined: &str, group: &str) -> (String, u64) {
    let words: Vec<&str> = joined.split(' ').collect();
    assert!(words.len() == 3 && words[0] == group, "JOINED {joined}");
    (words[1].to_owned(), words[2].parse().unwrap())
}

/// A server keeping the histories of the groups `h.>`, on two workers (1000 messages
/// each unless `extra` says otherwise), listening on `ws_line` and `ws_frame` too.
fn server(extra: &str) -> Server {
    let size = match extra.contains("history_size") {
        true => "",
        false => "history_size = 1000\n",
    };
    Server::start(&format!(
        "workers = 2\n{size}history_groups = [\"h.>\"]\n\
         ws_line = \"127.0.0.1:0\"\nws_frame = \"127.0.0.1:0\"\n{extra}"
    ))
}

#[tokio::test]
async fn offsets_run_on_from_joined_on_both_protocols_and_plain_groups_keep_their_form() {
    let server = server("");
    let mut frame = Client::connect(&server, true).await;
    let mut line = Client::connect(&server, false).await;
    let mut publisher = Client::connect(&server, true).await;
    let (epoch, zero) = frame.join("h.room").await;
    assert_eq!(zero, 0);
    for i in 0..5 {
        publisher
            .publish("h.room", format!("early{i}").as_bytes())
            .await;
    }
    publisher.ping().await;
    let (epoch_line, last) = line.join("h.room").await;
    assert_eq!((epoch_line.as_str(), last), (epoch.as_str(), 5));
    for i in 0..10 {
        publisher
            .publish("h.room", format!("m{i}").as_bytes())
            .await;
    }
    for i in 1..=15 {
        assert_eq!(frame.msg("h.room").await.0, i);
    }
    for i in 6..=15 {
        assert_eq!(line.msg("h.room").await.0, i, "from JOINED + 1 on");
    }
    // A group without history: the forms of "Groups", unchanged.
    frame.send_join("plain").await;
    assert_eq!(frame.recv().await, Got::Joined("plain".to_owned()));
    publisher.publish("plain", b"hi").await;
    assert_eq!(frame.recv().await, Got::Plain("plain".into(), "hi".into()));
    let history = &frame.stats().await["history"];
    assert_eq!(history["groups"], 1);
    assert_eq!(history["messages"], 15);
}

#[tokio::test]
async fn members_on_every_transport_see_one_order_under_three_concurrent_publishers() {
    let server = server("");
    let mut members = Vec::new();
    for transport in ALL {
        let mut member = Client::on(&server, transport).await;
        member.join("h.race").await;
        members.push(member);
    }
    const EACH: usize = 200;
    let mut publishers = Vec::new();
    for (p, transport) in [Transport::Frame, Transport::Line, Transport::WsLine]
        .into_iter()
        .enumerate()
    {
        let mut client = Client::on(&server, transport).await;
        publishers.push(tokio::spawn(async move {
            for i in 0..EACH {
                client
                    .publish("h.race", format!("{p}-{i}").as_bytes())
                    .await;
            }
            client.ping().await;
        }));
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let mut orders = Vec::new();
    for member in &mut members {
        let mut order = Vec::new();
        for offset in 1..=(3 * EACH) as u64 {
            let (got, text) = member.msg("h.race").await;
            assert_eq!(got, offset);
            order.push(text);
        }
        orders.push(order);
    }
    for (order, transport) in orders.iter().zip(ALL) {
        assert_eq!(
            order, &orders[0],
            "one order for every member: {transport:?}"
        );
    }
    for p in 0..3 {
        let mine: Vec<&String> = orders[0]
            .iter()
            .filter(|t| t.starts_with(&format!("{p}-")))
            .collect();
        let sent: Vec<String> = (0..EACH).map(|i| format!("{p}-{i}")).collect();
        assert_eq!(
            mine,
            sent.iter().collect::<Vec<_>>(),
            "publisher {p}'s order"
        );
    }
}

#[tokio::test]
async fn a_member_that_comes_back_gets_exactly_what_it_missed_then_the_live_ones() {
    for transport in ALL {
        let server = server("");
        let mut publisher = Client::connect(&server, transport != Transport::Frame).await;
        let mut member = Client::on(&server, transport).await;
        let (epoch, _) = member.join("h.back").await;
        for i in 1..=3 {
            publisher
                .publish("h.back", format!("seen{i}").as_bytes())
                .await;
            assert_eq!(member.msg("h.back").await, (i, format!("seen{i}")));
        }
        drop(member);
        for i in 4..=7 {
            publisher
                .publish("h.back", format!("missed{i}").as_bytes())
                .await;
        }
        publisher.ping().await;
        let mut back = Client::on(&server, transport).await;
        // Behind a deferred reply, like any reply: STATS first, then JOINED and the rest.
        back.send_stats().await;
        back.send_join(&format!("h.back {epoch} 3")).await;
        assert!(
            matches!(back.recv().await, Got::Other(_)),
            "the stats come first"
        );
        assert_eq!(
            back.recv().await,
            Got::Joined(format!("h.back {epoch} 7 RECOVERED 4"))
        );
        for i in 4..=7 {
            assert_eq!(back.msg("h.back").await, (i, format!("missed{i}")));
        }
        publisher.publish("h.back", b"live8").await;
        assert_eq!(back.msg("h.back").await, (8, "live8".to_owned()));
        // A recovery JOIN of a group it is in is answered like a plain JOIN.
        back.send_join(&format!("h.back {epoch} 0")).await;
        assert_eq!(back.recv().await, Got::Joined(format!("h.back {epoch} 8")));
        let history = &back.stats().await["history"];
        assert_eq!(
            (
                history["recovered_total"].as_u64(),
                history["lost_total"].as_u64()
            ),
            (Some(1), Some(0))
        );
    }
}

#[tokio::test]
async fn a_flood_with_a_member_rejoining_again_and_again_reaches_it_whole_and_in_order() {
    for transport in ALL {
        let server = server("history_size = 100000");
        let mut member = Client::on(&server, transport).await;
        let (epoch, _) = member.join("h.flood").await;
        const N: u64 = 4000;
        let frame_addr = server.frame;
        let flood = tokio::spawn(async move {
            let mut publisher = Client::Frame(FrameClient::connect(frame_addr).await);
            for i in 1..=N {
                publisher.publish("h.flood", i.to_string().as_bytes()).await;
            }
            publisher.ping().await;
        });
        let mut seen: Vec<u64> = Vec::new();
        let mut rejoins = 0;
        while seen.last() != Some(&N) {
            assert!(rejoins < 1000, "no progress");
            for _ in 0..(40 + rejoins * 53 % 300) {
                let (offset, text) = member.msg("h.flood").await;
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
            rejoins += 1;
            member = Client::on(&server, transport).await;
            let at = seen.last().copied().unwrap_or(0);
            let answer = member.join_from("h.flood", &epoch, at).await;
            assert!(answer.contains(" RECOVERED "), "{answer}");
        }
        flood.await.unwrap();
        assert!(rejoins >= 5, "rejoined {rejoins} times");
        assert_eq!(
            seen,
            (1..=N).collect::<Vec<_>>(),
            "exactly 1..N, in order, once each"
        );
    }
}

/// A member publishing to its own history group holds a reply slot per message (its
/// own copy goes out in its place among its replies). Past `max_deferred` (64) of them,
/// the requests already read wait in the read buffer; once its copies come back they go
/// on, though no new byte arrives from the peer: 300 publishes in one write all reach
/// both members, numbered in order, and the publisher still answers.
#[tokio::test]
async fn a_member_pipelining_publishes_past_the_deferred_limit_gets_every_one_through() {
    const N: u64 = 300;
    for frame in [true, false] {
        let server = server("");
        let mut other = Client::connect(&server, frame).await;
        other.join("h.pipe").await;
        let mut publisher = Client::connect(&server, frame).await;
        publisher.join("h.pipe").await;
        match &mut publisher {
            Client::Frame(c) => {
                let bytes: Vec<u8> = (1..=N)
                    .flat_map(|i| {
                        encode(
                            PUBLISH,
                            &publish_payload("h.pipe", i.to_string().as_bytes()),
                        )
                    })
                    .collect();
                c.send_raw(&bytes).await;
            }
            Client::Line(c) => {
                let lines: Vec<String> = (1..=N).map(|i| format!("PUB h.pipe {i}")).collect();
                c.send(&lines.join("\n")).await;
            }
            _ => unreachable!("TCP clients"),
        }
        for client in [&mut publisher, &mut other] {
            for i in 1..=N {
                assert_eq!(
                    client.msg("h.pipe").await,
                    (i, i.to_string()),
                    "frame: {frame}"
                );
            }
        }
        publisher.ping().await;
    }
}

#[tokio::test]
async fn lost_for_too_old_another_epoch_an_offset_in_the_future_and_after_the_ttl() {
    let server = server("history_size = 3\nhistory_ttl_ms = 300");
    let mut member = Client::connect(&server, false).await;
    let (epoch, _) = member.join("h.lost").await;
    for i in 1..=5 {
        member.publish("h.lost", format!("m{i}").as_bytes()).await;
        assert_eq!(member.msg("h.lost").await.0, i);
    }
    for transport in ALL {
        let mut late = Client::on(&server, transport).await;
        for (from, answer) in [
            (format!("{epoch} 1"), "LOST"),
            ("another-epoch 4".to_owned(), "LOST"),
            (format!("{epoch} 6"), "LOST"),
            (format!("{epoch} 2"), "RECOVERED 3"),
        ] {
            late.send_join(&format!("h.lost {from}")).await;
            assert_eq!(
                late.recv().await,
                Got::Joined(format!("h.lost {epoch} 5 {answer}")),
                "{from}"
            );
            if answer.starts_with("RECOVERED") {
                for i in 3..=5 {
                    assert_eq!(late.msg("h.lost").await.0, i);
                }
            }
            late.leave("h.lost").await;
        }
    }
    // After the TTL: the messages are gone (members remain: the epoch and offset stay).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut late = Client::connect(&server, true).await;
    assert_eq!(
        late.join_from("h.lost", &epoch, 4).await,
        format!("h.lost {epoch} 5 LOST")
    );
    late.leave("h.lost").await;
    assert_eq!(
        late.join_from("h.lost", &epoch, 5).await,
        format!("h.lost {epoch} 5 RECOVERED 0")
    );
    let history = &late.stats().await["history"];
    assert_eq!(history["messages"], 0, "expired");
    assert!(history["lost_total"].as_u64().unwrap() >= 7);
}

#[tokio::test]
async fn after_a_restart_the_epoch_is_another_and_a_recovery_is_lost() {
    let first = server("");
    let mut member = Client::connect(&first, true).await;
    let (epoch, _) = member.join("h.restart").await;
    member.publish("h.restart", b"before").await;
    assert_eq!(member.msg("h.restart").await.0, 1);
    drop(member);
    drop(first);
    let second = server("");
    let mut back = Client::connect(&second, true).await;
    let answer = back.join_from("h.restart", &epoch, 1).await;
    let words: Vec<&str> = answer.split(' ').collect();
    assert_eq!((words[2], words[3]), ("0", "LOST"), "{answer}");
    assert_ne!(words[1], epoch, "a new epoch");
}

#[tokio::test]
async fn past_the_byte_budget_the_oldest_messages_of_the_largest_history_go_first() {
    // Each message counts its 100 bytes and 128 of bookkeeping: room for ten.
    let server = server("history_max_bytes = 2280");
    let mut client = Client::connect(&server, true).await;
    let (big, _) = client.join("h.big").await;
    let (small, _) = client.join("h.small").await;
    let message = [b'x'; 100];
    for _ in 0..2 {
        client.publish("h.small", &message).await;
    }
    for _ in 0..8 {
        client.publish("h.big", &message).await;
    }
    client.publish("h.small", &message).await;
    for _ in 0..11 {
        assert!(matches!(client.recv().await, Got::Msg(..)));
    }
    let history = stats_until(
        &mut FrameClient::connect(server.frame).await,
        "the budget kept",
        |s| s["history"]["messages"] == 10,
    )
    .await;
    assert_eq!(history["history"]["bytes"], 1000);
    let mut late = Client::connect(&server, false).await;
    assert_eq!(
        late.join_from("h.big", &big, 0).await,
        format!("h.big {big} 8 LOST")
    );
    let mut late = Client::connect(&server, false).await;
    assert_eq!(
        late.join_from("h.big", &big, 1).await,
        format!("h.big {big} 8 RECOVERED 7")
    );
    let mut late = Client::connect(&server, false).await;
    assert_eq!(
        late.join_from("h.small", &small, 0).await,
        format!("h.small {small} 3 RECOVERED 3")
    );
}

#[tokio::test]
async fn a_malformed_recovery_join_or_one_of_a_group_without_history_is_an_error_packet() {
    let server = server("max_error_packets = 100\nmax_groups = 1");
    for transport in ALL {
        let mut client = Client::on(&server, transport).await;
        for (argument, reason) in [
            ("plain e 1", "no history for plain"),
            ("h.x e abc", "bad offset \"abc\""),
            ("h.x e -1", "bad offset \"-1\""),
            (
                "h.x e 18446744073709551616",
                "bad offset \"18446744073709551616\"",
            ),
            ("h.x e/1 1", "bad epoch \"e/1\""),
            ("h.x e", "bad group name \"h.x e\""),
        ] {
            client.send_join(argument).await;
            assert_eq!(
                client.recv().await,
                Got::Error(reason.to_owned()),
                "{argument}"
            );
        }
        // A recovery JOIN is a JOIN: max_groups applies.
        client.join("h.one").await;
        client.send_join("h.two e 1").await;
        assert_eq!(
            client.recv().await,
            Got::Error("too many groups".to_owned())
        );
    }
    let mut frame = FrameClient::connect(server.frame).await;
    stats_until(&mut frame, "every error packet", |s| {
        s["error_packets_total"] == 28
    })
    .await;
    // A message that cannot be a line is a gap for line members, counted in RECOVERED.
    let mut frame = Client::connect(&server, true).await;
    let mut line = Client::connect(&server, false).await;
    let mut ws_line = Client::on(&server, Transport::WsLine).await;
    let (epoch, _) = frame.join("h.gap").await;
    line.join("h.gap").await;
    ws_line.join("h.gap").await;
    frame.publish("h.gap", b"a").await;
    frame.publish("h.gap", b"two\nlines").await;
    frame.publish("h.gap", b"c").await;
    for i in 1..=3 {
        assert_eq!(frame.msg("h.gap").await.0, i);
    }
    assert_eq!(line.msg("h.gap").await, (1, "a".to_owned()));
    assert_eq!(line.msg("h.gap").await, (3, "c".to_owned()), "a gap at 2");
    assert_eq!(ws_line.msg("h.gap").await, (1, "a".to_owned()));
    assert_eq!(
        ws_line.msg("h.gap").await,
        (3, "c".to_owned()),
        "a gap at 2"
    );
    for transport in [Transport::Line, Transport::WsLine] {
        let mut back = Client::on(&server, transport).await;
        assert_eq!(
            back.join_from("h.gap", &epoch, 0).await,
            format!("h.gap {epoch} 3 RECOVERED 3")
        );
        assert_eq!(back.msg("h.gap").await.0, 1);
        assert_eq!(back.msg("h.gap").await.0, 3, "skipped by the replay");
    }
}

#[tokio::test]
async fn without_history_size_there_is_no_history_object_and_no_offset() {
    let server = Server::start("");
    let mut client = Client::connect(&server, false).await;
    client.send_join("h.room").await;
    assert_eq!(client.recv().await, Got::Joined("h.room".to_owned()));
    client.send_join("h.room e 1").await;
    assert_eq!(
        client.recv().await,
        Got::Error("no history for h.room".to_owned())
    );
    assert!(client.stats().await.get("history").is_none());
}
