//! The budget of bytes queued for all connections together, over real sockets: peers
//! that never read fill their queues; a reply that would take the total past the
//! budget is refused (and recorded), the connections with the largest queues are
//! removed as slow consumers until their bytes cover it, and the total queued never
//! passes the budget.

mod common;

use common::{eventually, record_removals, LineClient, TestProto};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use switchboard::config::ConnectionLimits;
use switchboard::{ConnId, FailureReason, Handle, RemovalReason, SendError};
use switchboard::{Switchboard, SwitchboardConfig};
use tokio::net::TcpSocket;

const BUDGET: usize = 4 << 20;

/// A client that never reads, with a small receive buffer so that little of what is
/// sent to it hides in the kernel.
async fn never_reader(to: SocketAddr) -> LineClient {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(to).await.unwrap();
    let (r, w) = stream.into_split();
    LineClient::over(r, w)
}

/// Queued bytes of every connection, by id.
async fn queues(board: &Handle) -> HashMap<ConnId, usize> {
    let list = board.list(None).await.unwrap();
    list.into_iter().map(|m| (m.id, m.queued_bytes)).collect()
}

/// Waits until connection `id` has at least `bytes` queued and its queue stopped
/// changing; checks on every look that the total stays within the budget.
async fn settled(board: &Handle, id: ConnId, bytes: usize) -> usize {
    let mut last = usize::MAX;
    for _ in 0..250 {
        let queues = queues(board).await;
        let total: usize = queues.values().sum();
        assert!(
            total <= BUDGET,
            "{total} bytes queued in all, over {BUDGET}"
        );
        let now = queues.get(&id).copied().unwrap_or(0);
        if now >= bytes && now == last {
            return now;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("connection {id} never settled at {bytes} or more bytes queued: {last}");
}

/// A new peer that never reads, asking for 100 kB replies until `target` bytes wait
/// in its queue (the first ones fill the kernel's buffers).
async fn fill(board: &Handle, to: SocketAddr, target: usize) -> (LineClient, ConnId) {
    let mut client = never_reader(to).await;
    let local = client.writer.local_addr().unwrap();
    let mut id = None;
    for _ in 0..250 {
        let list = board.list(None).await.unwrap();
        id = list.iter().find(|m| m.peer == local).map(|m| m.id);
        if id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = id.expect("the connection listed within 5 s");
    for _ in 0..200 {
        client.send("BIG 100000").await;
        if settled(board, id, 0).await >= target {
            return (client, id);
        }
    }
    panic!("connection {id} never queued {target} bytes");
}

#[actix_rt::test]
async fn the_largest_queues_are_removed_and_the_total_stays_within_the_budget() {
    let board = Switchboard::start(
        SwitchboardConfig::default()
            .with_workers(2)
            .with_max_outbound_total_bytes(Some(BUDGET))
            .with_connection(
                // Peers that never read make no write progress: only the budget may
                // remove them here, however slow the machine.
                ConnectionLimits::default()
                    .with_max_outbound_bytes(3 << 20)
                    .with_write_timeout(Duration::from_secs(600)),
            ),
    );
    let removed = record_removals(board.handle());
    let listener = switchboard::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = board.listen(listener, || TestProto).unwrap().local_addr;
    let sup = board.handle().clone();

    // Three peers that never read fill their queues to 0.6, 1.2 and 1.8 MB (once the
    // kernel's buffers for them are full): all fit in the 4 MiB.
    let mut clients = Vec::new();
    let mut ids = Vec::new();
    for target in [600_000, 1_200_000, 1_800_000] {
        let (client, id) = fill(&sup, addr, target).await;
        clients.push(client);
        ids.push(id);
    }
    assert!(removed.seen().await.is_empty());
    let (mut fourth, fourth_id) = fill(&sup, addr, 1).await;

    // The fourth asks for 2 MB: past the budget. Its reply is refused; the two largest
    // queues (1.8 and 1.2 MB) are removed to cover it; the smallest stays.
    fourth.send("BIG 2000000").await;
    eventually("two slow consumers removed", || {
        let removed = removed.clone();
        async move { removed.seen().await.len() >= 2 }
    })
    .await;
    let mut gone: Vec<(ConnId, RemovalReason)> = removed
        .seen()
        .await
        .iter()
        .map(|r| (r.id, r.reason))
        .collect();
    gone.sort();
    let slow = RemovalReason::SlowConsumer;
    assert_eq!(gone, [(ids[1], slow), (ids[2], slow)]);
    let left = queues(&sup).await;
    assert!(left.contains_key(&ids[0]), "the smallest queue stays");
    assert!(left.contains_key(&fourth_id), "the fourth stays");
    assert_eq!(left.len(), 2, "{left:?}");
    let report = sup
        .inspect(vec![fourth_id], Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0)
        .report
        .expect("the fourth reports");
    assert!(
        report.recent_failures.iter().any(|f| matches!(
            f.reason,
            FailureReason::Refused(SendError::TotalOverBudget {
                packet: 2_000_001,
                limit: BUDGET
            })
        )),
        "{:?}",
        report.recent_failures
    );

    // Asked again, the fourth's 2 MB now fit beside the smallest queue.
    fourth.send("BIG 2000000").await;
    settled(&sup, fourth_id, 2_000_000).await;
    assert_eq!(removed.seen().await.len(), 2, "nobody else removed");
    let total: usize = queues(&sup).await.values().sum();
    assert!(total <= BUDGET);
    drop(clients);
}
