//! Sends to one connection anywhere in a cluster: two switchboards in one process, each
//! with its own NATS link (nodes `a` and `b`) to one real `nats-server` on loopback,
//! and line clients over loopback sockets.
//!
//! The crate's tests always build with the `nats` feature (a dev-dependency of the
//! crate on itself turns it on), so `cargo test -p switchboard` runs these; without the
//! feature this file does not compile, rather than vanishing from the run.

mod common;
#[path = "../../tests/support/nats.rs"]
mod nats;

use bytes::Bytes;
use common::{eventually, LineClient, Talk};
use nats::Nats;
use std::time::{Duration, Instant};
use switchboard::cluster::{ClusterConfig, ClusterCounters, GlobalId, NatsCluster};
use switchboard::config::{ConnectionLimits, SwitchboardConfig};
use switchboard::{Handle, SendError, Switchboard};

/// How long a send to another node waits for its answer in these tests.
const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// The biggest outbound queue of a connection on node `b`.
const B_QUEUE_LIMIT: usize = 1024;

/// The cluster buffer of node `a`: the most bytes its sends to other nodes may hold.
const A_BUFFER: usize = 4096;

/// One node: a switchboard with a `talk` listener, linked to the cluster.
struct Node {
    /// The switchboard, kept running while the node lives.
    _board: Switchboard,
    /// Its handle.
    handle: Handle,
    /// Its cluster link.
    cluster: NatsCluster,
    /// Where its listener is.
    addr: std::net::SocketAddr,
}

impl Node {
    /// Node `name` on the NATS server at `url`, its connections queueing at most
    /// `queue_limit` bytes and its link buffering at most `buffer_bytes`.
    fn start(name: &str, url: &str, queue_limit: usize, buffer_bytes: usize) -> Node {
        let config = SwitchboardConfig::default()
            .with_workers(1)
            .with_connection(ConnectionLimits::default().with_max_outbound_bytes(queue_limit));
        let board = Switchboard::start(config);
        let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = board.listen(listener, || Talk).unwrap().local_addr;
        let handle = board.handle().clone();
        let config = ClusterConfig::new(url, name)
            .with_send_timeout(SEND_TIMEOUT)
            .with_buffer_bytes(buffer_bytes);
        let cluster = NatsCluster::start(config, &handle).unwrap();
        cluster.attach(&handle);
        Node {
            _board: board,
            handle,
            cluster,
            addr,
        }
    }

    /// A client of this node, greeted, and its id here.
    async fn client(&self) -> (u64, LineClient) {
        let before: Vec<u64> = self.ids().await;
        let mut client = LineClient::connect(self.addr).await;
        assert_eq!(client.recv().await.as_deref(), Some("hello"));
        let id = self.ids().await.into_iter().find(|id| !before.contains(id));
        (id.expect("a new connection listed"), client)
    }

    /// The ids of this node's connections.
    async fn ids(&self) -> Vec<u64> {
        let list = self.handle.list(Some("talk")).await.unwrap();
        list.iter().map(|m| m.id).collect()
    }

    /// This node's cluster figures.
    async fn counters(&self) -> ClusterCounters {
        let stats = self.handle.stats().await.unwrap();
        stats.cluster.expect("a cluster link is attached")
    }
}

/// Starts nodes `a` and `b` on `nats` and waits until both answer sends.
async fn two_nodes(nats: &Nats) -> (Node, Node) {
    let a = Node::start("a", &nats.url(), 1 << 20, A_BUFFER);
    let b = Node::start("b", &nats.url(), B_QUEUE_LIMIT, 1 << 20);
    for subject in ["switchboard.conn.a", "switchboard.conn.b"] {
        eventually(subject, || async { nats.subscriptions(subject) == 1 }).await;
    }
    (a, b)
}

#[actix_rt::test]
async fn a_connection_on_another_node_gets_sends_in_order_and_its_refusals_come_back() {
    let nats = Nats::start();
    let (a, b) = two_nodes(&nats).await;
    let (id, mut client) = b.client().await;
    let to = b.cluster.global_id(id);
    assert_eq!(to, GlobalId::new("b", id));
    assert_eq!(to.to_string().parse::<GlobalId>(), Ok(to.clone()));

    // Typed sends, encoded by the codec of the protocol value, arrive framed and in
    // order.
    for line in ["one", "two", "three"] {
        let sent = a
            .cluster
            .send_to(&a.handle, &to, &Talk, line.to_owned())
            .await;
        assert_eq!(sent, Ok(()), "{line}");
    }
    for line in ["one", "two", "three"] {
        assert_eq!(client.recv().await.as_deref(), Some(line));
    }
    let raw = Bytes::from_static(b"raw\n");
    assert_eq!(a.cluster.send_encoded_to(&a.handle, &to, raw).await, Ok(()));
    assert_eq!(client.recv().await.as_deref(), Some("raw"));

    // A value the codec refuses is refused before anything leaves node a.
    let refused = a
        .cluster
        .send_to(&a.handle, &to, &Talk, "two\nlines".to_owned())
        .await;
    assert!(matches!(refused, Err(SendError::Encode(_))), "{refused:?}");
    assert_eq!(
        a.counters().await.published_total,
        4,
        "the refusal was not sent"
    );

    // No connection of that id on b: b says so.
    let unknown = GlobalId::new("b", 999_999);
    let missing = a
        .cluster
        .send_to(&a.handle, &unknown, &Talk, "x".to_owned())
        .await;
    assert_eq!(missing, Err(SendError::UnknownConnection(999_999)));

    // Bigger than node a's own buffer: refused before sending.
    let huge = Bytes::from(vec![b'x'; A_BUFFER + 1]);
    assert_eq!(
        a.cluster.send_encoded_to(&a.handle, &to, huge).await,
        Err(SendError::OverBudget {
            queued: 0,
            packet: A_BUFFER + 1,
            limit: A_BUFFER
        })
    );

    // The connection's own queue limit on b refuses with its figures.
    let mut big = vec![b'y'; 2 * B_QUEUE_LIMIT];
    big.push(b'\n');
    let over = a
        .cluster
        .send_encoded_to(&a.handle, &to, Bytes::from(big))
        .await;
    assert!(
        matches!(over, Err(SendError::OverBudget { packet, limit, .. })
            if packet == 2 * B_QUEUE_LIMIT + 1 && limit == B_QUEUE_LIMIT),
        "{over:?}"
    );

    // Every send that left a reached b: the five above, none of the refused ones.
    let (from, at) = (a.counters().await, b.counters().await);
    assert_eq!(from.published_total, 6, "{from:?}");
    assert_eq!(from.failed_total, 1, "the over-buffer send: {from:?}");
    assert_eq!(at.received_total, 6, "{at:?}");
    assert_eq!(at.published_total, 0, "{at:?}");
}

#[actix_rt::test]
async fn a_global_id_of_this_node_is_sent_to_through_its_own_switchboard() {
    let nats = Nats::start();
    let (a, _b) = two_nodes(&nats).await;
    let (id, mut client) = a.client().await;
    let to = a.cluster.global_id(id);
    assert_eq!(to.to_string(), format!("a/{id}"));
    let sent = a
        .cluster
        .send_to(&a.handle, &to, &Talk, "local".to_owned())
        .await;
    assert_eq!(sent, Ok(()));
    assert_eq!(client.recv().await.as_deref(), Some("local"));
    let missing = GlobalId::new("a", 999_999);
    assert_eq!(
        a.cluster
            .send_encoded_to(&a.handle, &missing, Bytes::from_static(b"x\n"))
            .await,
        Err(SendError::UnknownConnection(999_999))
    );
    let counters = a.counters().await;
    assert_eq!(
        (counters.published_total, counters.failed_total),
        (0, 0),
        "NATS not used"
    );
}

#[actix_rt::test]
async fn unreachable_nodes_fail_within_the_timeout_and_sends_resume_when_nats_is_back() {
    let mut nats = Nats::start();
    let (a, b) = two_nodes(&nats).await;
    let (id, mut client) = b.client().await;

    // Nobody listens for node "nobody": unreachable within the send timeout.
    let nobody = GlobalId::new("nobody", id);
    let started = Instant::now();
    let sent = a
        .cluster
        .send_to(&a.handle, &nobody, &Talk, "x".to_owned())
        .await;
    assert!(
        matches!(&sent, Err(SendError::Unreachable { node, .. }) if node == "nobody"),
        "{sent:?}"
    );
    assert!(started.elapsed() < SEND_TIMEOUT + Duration::from_secs(1));

    // A node that takes the request but never answers: unreachable at the timeout.
    let silent = async_nats::connect(nats.url()).await.unwrap();
    let _taken = silent.subscribe("switchboard.conn.silent").await.unwrap();
    let subject = "switchboard.conn.silent";
    eventually(subject, || async { nats.subscriptions(subject) == 1 }).await;
    let published = a.counters().await.published_total;
    let started = Instant::now();
    let to_silent = GlobalId::new("silent", 1);
    let sent = a
        .cluster
        .send_to(&a.handle, &to_silent, &Talk, "x".to_owned())
        .await;
    let took = started.elapsed();
    assert!(
        matches!(&sent, Err(SendError::Unreachable { node, .. }) if node == "silent"),
        "{sent:?}"
    );
    assert!(took >= SEND_TIMEOUT, "took {took:?}: {sent:?}");
    assert!(
        took < SEND_TIMEOUT + Duration::from_secs(1),
        "took {took:?}"
    );
    let counters = a.counters().await;
    assert_eq!(
        counters.published_total,
        published + 1,
        "handed to NATS: {counters:?}"
    );

    // Sends waiting for an answer hold node a's buffer: past it, the next one is
    // refused at once instead of queueing behind them.
    let packet = Bytes::from(vec![b'z'; A_BUFFER / 2 - 48]);
    let send = || {
        a.cluster
            .send_encoded_to(&a.handle, &to_silent, packet.clone())
    };
    let (first, second, third) = tokio::join!(send(), send(), send());
    for waited in [first, second] {
        assert!(
            matches!(waited, Err(SendError::Unreachable { .. })),
            "{waited:?}"
        );
    }
    assert_eq!(
        third,
        Err(SendError::OverBudget {
            queued: 2 * packet.len(),
            packet: packet.len(),
            limit: A_BUFFER
        })
    );

    // NATS gone: unreachable at once, and counted as a failure.
    nats.kill();
    eventually("a disconnected", || async { !a.cluster.connected() }).await;
    let to = b.cluster.global_id(id);
    let before = a.counters().await.failed_total;
    let started = Instant::now();
    let sent = a
        .cluster
        .send_to(&a.handle, &to, &Talk, "x".to_owned())
        .await;
    let took = started.elapsed();
    assert!(
        matches!(&sent, Err(SendError::Unreachable { node, .. }) if node == "b"),
        "{sent:?}"
    );
    assert!(took < SEND_TIMEOUT / 2, "took {took:?}");
    assert_eq!(a.counters().await.failed_total, before + 1);

    // NATS back: both nodes reconnect and answer again by themselves.
    nats.restart();
    let subject = "switchboard.conn.b";
    eventually(subject, || async { nats.subscriptions(subject) == 1 }).await;
    eventually("a connected", || async { a.cluster.connected() }).await;
    let sent = a
        .cluster
        .send_to(&a.handle, &to, &Talk, "back".to_owned())
        .await;
    assert_eq!(sent, Ok(()));
    assert_eq!(client.recv().await.as_deref(), Some("back"));
}
