//! The per-address limit at accept, shown per address: clients bound to 127.0.0.2 and
//! 127.0.0.3 each get `max_connections_per_ip` connections over both listeners
//! together; one more is answered with the error reply and removed as `ip_limit`, and
//! a place given back by a connection that ended is free again.

mod common;

use common::{eventually, record_removals, LineClient, TestProto};
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::{RemovalReason, Switchboard, SwitchboardConfig};
use tokio::net::TcpSocket;

/// A line client connecting from `from` (a loopback address) to `to`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> LineClient {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let stream = tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .expect("connect within 5 s")
        .unwrap();
    let (r, w) = stream.into_split();
    LineClient::over(r, w)
}

/// Whether the client is served: its ECHO is answered.
async fn served(client: &mut LineClient, text: &str) -> bool {
    client.send(&format!("ECHO {text}")).await;
    client.recv().await.as_deref() == Some(text)
}

#[actix_rt::test]
async fn each_address_gets_its_limit_over_both_listeners_and_no_more() {
    let board = Switchboard::start(
        SwitchboardConfig::default()
            .with_workers(1)
            .with_max_connections_per_ip(Some(2)),
    );
    let removed = record_removals(board.handle());
    let one = board
        .listen(
            switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
            || TestProto,
        )
        .unwrap()
        .local_addr;
    let two = board
        .listen(
            switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap(),
            || TestProto,
        )
        .unwrap()
        .local_addr;

    // 127.0.0.2: one connection on each listener, both served.
    let mut a1 = connect_from([127, 0, 0, 2], one).await;
    let mut a2 = connect_from([127, 0, 0, 2], two).await;
    assert!(served(&mut a1, "a1").await);
    assert!(served(&mut a2, "a2").await);
    // A third, on either listener: told why, then closed.
    let mut a3 = connect_from([127, 0, 0, 2], one).await;
    assert_eq!(
        a3.recv().await.as_deref(),
        Some("ERR too many connections from this address")
    );
    assert_eq!(a3.recv().await, None, "closed after the error reply");

    // 127.0.0.3 has its own two places, untouched by .2's.
    let mut b1 = connect_from([127, 0, 0, 3], two).await;
    let mut b2 = connect_from([127, 0, 0, 3], one).await;
    assert!(served(&mut b1, "b1").await);
    assert!(served(&mut b2, "b2").await);
    let mut b3 = connect_from([127, 0, 0, 3], two).await;
    assert_eq!(
        b3.recv().await.as_deref(),
        Some("ERR too many connections from this address")
    );

    // The refused ones were accepted and removed as ip_limit; the others still work.
    let sup = board.handle().clone();
    eventually("two ip_limit removals counted", || {
        let sup = sup.clone();
        async move { sup.stats().await.unwrap().removed_total.get("ip_limit") == Some(&2) }
    })
    .await;
    let snapshot = sup.stats().await.unwrap();
    assert_eq!(snapshot.accepted_total, 6);
    let ip_limited: Vec<_> = removed
        .seen()
        .await
        .iter()
        .filter(|r| r.reason == RemovalReason::IpLimit)
        .map(|r| r.peer.ip().to_string())
        .collect();
    assert_eq!(ip_limited.len(), 2);
    assert!(ip_limited.contains(&"127.0.0.2".to_owned()));
    assert!(ip_limited.contains(&"127.0.0.3".to_owned()));
    assert!(served(&mut a1, "still a1").await);
    assert!(served(&mut b2, "still b2").await);

    // A .2 connection ends: its place is free again (once its actor is gone).
    drop(a2);
    let mut again = None;
    for _ in 0..100 {
        let mut client = connect_from([127, 0, 0, 2], two).await;
        client.send("ECHO back").await;
        match client.recv().await.as_deref() {
            Some("back") => {
                again = Some(client);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut again = again.expect("a freed place is taken by a new connection");
    // And .2 is at its limit again.
    let mut over = connect_from([127, 0, 0, 2], one).await;
    assert_eq!(
        over.recv().await.as_deref(),
        Some("ERR too many connections from this address")
    );
    assert!(served(&mut again, "again").await);
}
