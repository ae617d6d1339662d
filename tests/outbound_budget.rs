//! End to end, PROTOCOL.md "Limits per address, user and message rate",
//! `max_outbound_total_bytes`: 300 clients that send ECHOs and never read, under a
//! 64 MiB budget for the bytes queued for all connections together (each connection
//! alone may queue 4 MiB, 1.2 GB for all of them). The connections with the most queued
//! bytes are removed as `slow_consumer`, what stays queued is within the budget, and the
//! server's resident memory stays near it.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

const BUDGET: u64 = 64 << 20;
const CLIENTS: usize = 300;
/// An ECHO of 16 kB, as scripts/never_read.py sends.
const PAYLOAD: usize = 16_000;
/// How long the clients write.
const LOAD: Duration = Duration::from_secs(8);

/// A client that writes ECHOs for [`LOAD`] (or until the server closes it), reads
/// nothing, and keeps its connection open until `done`.
async fn never_read(addr: std::net::SocketAddr, done: Arc<AtomicBool>) {
    let socket = TcpSocket::new_v4().unwrap();
    // A small receive buffer: the server's replies pile up on its side, not in ours.
    socket.set_recv_buffer_size(4096).unwrap();
    let Ok(Ok(mut stream)) = tokio::time::timeout(WAIT, socket.connect(addr)).await else {
        return;
    };
    let frame = encode(ECHO, &vec![b'x'; PAYLOAD - 1]);
    let until = tokio::time::Instant::now() + LOAD;
    while let Ok(Ok(())) = tokio::time::timeout_at(until, stream.write_all(&frame)).await {}
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bytes queued for every connection, from `/connections` (each connection's own
/// figure as of its last turn).
fn queued_bytes(metrics: std::net::SocketAddr) -> u64 {
    let (status, body) =
        switchboard_testkit::http::get(metrics, "/connections?sort=queued&limit=1000");
    assert_eq!(status, 200, "{body}");
    let listing: serde_json::Value = serde_json::from_str(&body).unwrap();
    listing["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["queued_bytes"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_that_never_read_cannot_take_more_than_the_budget() {
    let server = Server::start_with_args(
        &format!("max_outbound_total_bytes = {BUDGET}"),
        &["--metrics", "127.0.0.1:0"],
    );
    let metrics = server.metrics.unwrap();
    let start_kib = server.rss_kib();
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(never_read(server.frame, done.clone())))
        .collect();
    // While they write, and for two seconds after (two looks of the supervisor's
    // memory trim), the bytes queued stay within the budget.
    let loaded = Instant::now() + LOAD + Duration::from_secs(2);
    let mut most_queued = 0;
    while Instant::now() < loaded {
        let queued = tokio::task::spawn_blocking(move || queued_bytes(metrics))
            .await
            .unwrap();
        most_queued = most_queued.max(queued);
        // Each connection's figure is as of its own last turn, so the sum is not one
        // instant's: a queue that has just been written may still count.
        assert!(queued <= BUDGET + (1 << 20), "{queued} bytes queued");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let settled_kib = server.rss_kib();
    let peak_kib = server.status_kib("VmHWM");
    let stats = tokio::task::spawn_blocking(move || http_stats(metrics))
        .await
        .unwrap();
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let budget_kib = BUDGET >> 10;
    eprintln!(
        "resident: {start_kib} KiB at start, {peak_kib} KiB at the peak, {settled_kib} KiB \
         settled; at most {} KiB queued; {} open, removed {}",
        most_queued >> 10,
        stats["connections"]["frame"],
        stats["removed_total"],
    );
    // The budget was reached, and the largest queues went to make room.
    assert!(most_queued > BUDGET / 2, "{most_queued}");
    let slow = stats["removed_total"]["slow_consumer"].as_u64().unwrap();
    assert!(slow >= 10, "{stats}");
    // Without the budget, 300 queues of 4 MiB would hold 1.2 GB. With it, the heap in
    // use is about the budget (66.5 MiB for 63 MiB queued, by glibc's malloc_stats);
    // what glibc keeps of the queues removed meanwhile stays resident until the
    // supervisor's next trim. Measured (debug build): 1.6 to 1.9 budgets above the start
    // once settled, 2.0 to 2.3 at the peak of the ramp.
    assert!(
        settled_kib <= start_kib + 5 * budget_kib / 2,
        "{settled_kib} KiB settled"
    );
    assert!(
        peak_kib <= start_kib + 4 * budget_kib,
        "{peak_kib} KiB peak"
    );
}
