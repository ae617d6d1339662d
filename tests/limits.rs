//! End to end, PROTOCOL.md "Limits per address, user and message rate": connections per
//! address (shown per address: clients bound to 127.0.0.2 and 127.0.0.3), connections
//! per user, the message rate (a client slowed by TCP flow control, nothing lost, others
//! not slowed) and the cap on named groups. The global budget of queued bytes has its own
//! file, `tests/outbound_budget.rs`.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A line client from `from`.
async fn line_from(from: &str, addr: SocketAddr) -> LineClient {
    let (reader, writer) = connect_from(from, addr).await.into_split();
    LineClient::over(reader, writer)
}

/// Asserts that `client` is served: a PING is answered.
async fn served(client: &mut LineClient) {
    client.send("PING").await;
    assert_eq!(client.recv().await.as_deref(), Some("PONG"));
}

#[tokio::test]
async fn connections_per_address_are_limited_per_address_over_both_listeners() {
    let server =
        Server::start_with_args("max_connections_per_ip = 2", &["--metrics", "127.0.0.1:0"]);
    let mut kept = Vec::new();
    for address in ["127.0.0.2", "127.0.0.3"] {
        // One on each listener: they count together.
        let mut line = line_from(address, server.line).await;
        served(&mut line).await;
        let mut frame = FrameClient::over(connect_from(address, server.frame).await);
        frame.ready().await;
        let mut third = line_from(address, server.line).await;
        expect_last_line(&mut third, "ERR too many connections from this address").await;
        let mut third = FrameClient::over(connect_from(address, server.frame).await);
        assert_eq!(
            third.recv().await,
            (ERROR, b"too many connections from this address".to_vec())
        );
        third.expect_closed().await;
        kept.push((line, frame));
    }
    let stats = http_stats_until(server.metrics.unwrap(), "four refused", WAIT, |s| {
        s["removed_total"]["ip_limit"] == 4
    });
    assert_eq!(
        stats["accepted_total"], 8,
        "refused ones count as accepted: {stats}"
    );
    // The others are still served, and a place given back can be taken again.
    for (line, _) in kept.iter_mut() {
        served(line).await;
    }
    let (line, _) = kept.remove(0);
    drop(line);
    let mut again = until("127.0.0.2's place to be given back", WAIT, async || {
        let mut client = line_from("127.0.0.2", server.line).await;
        client.send("PING").await;
        match client.recv().await {
            Some(pong) if pong == "PONG" => Ok(client),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    served(&mut again).await;
}

const USERS: &str = r#"
max_connections_per_user = 2
[[users]]
name = "alice"
token = "alice-token"
[[users]]
name = "bob"
token = "bob-token"
"#;

#[tokio::test]
async fn connections_per_user_are_limited_and_the_others_stay() {
    let server = Server::start_with_args(USERS, &["--metrics", "127.0.0.1:0"]);
    let mut first = line_as(server.line, "alice-token", "alice").await;
    let mut second = frame_as(server.frame, "alice-token", "alice").await;
    for _ in 0..2 {
        let mut third = LineClient::connect(server.line).await;
        third.send("AUTH alice-token").await;
        expect_last_line(&mut third, "ERR too many connections for this user").await;
    }
    let mut third = FrameClient::connect(server.frame).await;
    third.send(AUTH_OP, b"alice-token").await;
    assert_eq!(
        third.recv().await,
        (ERROR, b"too many connections for this user".to_vec())
    );
    third.expect_closed().await;
    // The user's other connections, and other users, stay.
    first.send("ECHO still here").await;
    assert_eq!(first.recv().await.as_deref(), Some("ECHO still here"));
    second.send(ECHO, b"here too").await;
    assert_eq!(second.recv().await, (ECHO, b"here too".to_vec()));
    let _bob = line_as(server.line, "bob-token", "bob").await;
    let _bob_too = line_as(server.line, "bob-token", "bob").await;
    http_stats_until(server.metrics.unwrap(), "three refused", WAIT, |s| {
        s["removed_total"]["user_limit"] == 3 && s["connections"]["line"] == 3
    });
    // A connection that ends gives its place back.
    drop(first);
    eventually("alice's place to be given back", || async {
        let mut client = LineClient::connect(server.line).await;
        client.send("AUTH alice-token").await;
        client.recv().await.as_deref() == Some("AUTHED alice")
    })
    .await;
}

#[tokio::test]
async fn a_fast_client_is_slowed_to_its_rate_and_the_others_are_not() {
    let server = Server::start("max_messages_per_s = 200\nmax_messages_burst = 50");
    let mut other = LineClient::connect(server.line).await;
    other.send("ECHO warm").await;
    assert_eq!(other.recv().await.as_deref(), Some("ECHO warm"));
    let stream = tokio::time::timeout(WAIT, TcpStream::connect(server.line))
        .await
        .unwrap()
        .unwrap();
    let (reader, mut writer) = stream.into_split();
    let pings = "PING\n".repeat(1000);
    let flooder = tokio::spawn(async move {
        let started = Instant::now();
        writer.write_all(pings.as_bytes()).await.unwrap();
        let mut reader = tokio::io::BufReader::new(reader);
        let mut answered = 0;
        let mut line = String::new();
        while answered < 1000 {
            line.clear();
            let n = tokio::time::timeout(Duration::from_secs(15), reader.read_line(&mut line))
                .await
                .expect("PONGs stopped coming")
                .unwrap();
            assert!(n > 0, "closed after {answered} PONGs");
            assert_eq!(line, "PONG\n");
            answered += 1;
        }
        (started.elapsed(), writer)
    });
    // Meanwhile another client's round trips.
    let mut round_trips = Vec::new();
    while !flooder.is_finished() {
        let sent = Instant::now();
        other.send("ECHO fast").await;
        assert_eq!(other.recv().await.as_deref(), Some("ECHO fast"));
        round_trips.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (elapsed, _writer) = flooder.await.unwrap();
    // 50 at once, then 950 at 200 a second: 4.75 s at the least.
    assert!(elapsed >= Duration::from_millis(4750), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    round_trips.sort();
    let median = round_trips[round_trips.len() / 2];
    let max = *round_trips.last().unwrap();
    eprintln!(
        "1000 PINGs answered in {elapsed:?}; {} other round trips, median {median:?}, max {max:?}",
        round_trips.len()
    );
    assert!(round_trips.len() > 100, "{}", round_trips.len());
    assert!(median < Duration::from_millis(20), "median {median:?}");
    // Paced with the flooder, a round trip would wait seconds; on a loaded machine the
    // scheduler alone can cost a few hundred milliseconds.
    assert!(max < Duration::from_millis(1500), "max {max:?}");
}

#[tokio::test]
async fn the_rate_bucket_starts_full() {
    let server = Server::start("max_messages_per_s = 1\nmax_messages_burst = 20");
    let mut client = LineClient::connect(server.line).await;
    let started = Instant::now();
    // A new connection's first 20 packets are a burst, answered at once; the 21st
    // waits for the bucket's next token, a second later.
    client.send("PING\n".repeat(20).trim_end()).await;
    client.send("ECHO twenty-first").await;
    for answered in 0..20 {
        assert_eq!(client.recv().await.as_deref(), Some("PONG"), "{answered}");
    }
    let burst = started.elapsed();
    assert_eq!(client.recv().await.as_deref(), Some("ECHO twenty-first"));
    let next = started.elapsed();
    assert!(
        burst < Duration::from_millis(500),
        "the burst took {burst:?}"
    );
    assert!(
        next >= Duration::from_millis(900),
        "the 21st after {next:?}"
    );
    assert!(next < Duration::from_secs(3), "the 21st after {next:?}");
}

#[tokio::test]
async fn named_groups_are_capped_on_the_server() {
    let server = Server::start("max_groups_total = 3");
    let mut first = LineClient::connect(server.line).await;
    let mut second = LineClient::connect(server.line).await;
    for group in ["a", "b", "c"] {
        first.send(&format!("JOIN {group}")).await;
        assert_eq!(first.recv().await, Some(format!("JOINED {group}")));
    }
    // An existing group may still be joined; a fourth may not be created.
    second.send("JOIN a").await;
    assert_eq!(second.recv().await.as_deref(), Some("JOINED a"));
    second.send("JOIN d").await;
    assert_eq!(
        second.recv().await.as_deref(),
        Some("ERR too many groups on this server")
    );
    let mut frame = FrameClient::connect(server.frame).await;
    frame.send(JOIN, b"e").await;
    assert_eq!(
        frame.recv().await,
        (ERROR, b"too many groups on this server".to_vec())
    );
    // It was an error packet.
    let stats = frame.stats().await;
    assert_eq!(stats["groups"], 3, "{stats}");
    stats_until(&mut frame, "two error packets", |s| {
        s["error_packets_total"] == 2
    })
    .await;
    // Once a group has no member left, there is room again.
    first.send("LEAVE b").await;
    assert_eq!(first.recv().await.as_deref(), Some("LEFT b"));
    second.send("JOIN d").await;
    assert_eq!(second.recv().await.as_deref(), Some("JOINED d"));
}
