//! End to end: REPLICATE through a front server to backend servers (the same binary).

mod support;

use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;

/// REPLICATE's wait for acks in these tests.
const ACK_TIMEOUT_MS: u64 = 500;

/// A front server replicating to `backends`, with quick health checks and redials.
fn front(backends: &[SocketAddr]) -> Server {
    let list: Vec<String> = backends.iter().map(|a| format!("\"{a}\"")).collect();
    Server::start(&format!(
        "backends = [{}]\nack_timeout_ms = {ACK_TIMEOUT_MS}\nhealth_interval_ms = 100\n\
         backend_max_failures = 2\nreconnect_min_ms = 20\nreconnect_max_ms = 200",
        list.join(", ")
    ))
}

/// Sends REPLICATE and returns the delivery report.
async fn replicate(client: &mut FrameClient, payload: &[u8]) -> Value {
    client.send(REPLICATE, payload).await;
    let (op, body) = client.recv().await;
    assert_eq!(op, REPLICATE_REPLY, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn names(addrs: &[SocketAddr]) -> Vec<String> {
    let mut names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    names.sort();
    names
}

fn acked(report: &Value) -> Vec<String> {
    let mut acked: Vec<String> = report["acked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    acked.sort();
    acked
}

async fn until_backend(client: &mut FrameClient, addr: SocketAddr, state: &str) {
    let what = format!("backend {addr} {state}");
    stats_until(client, &what, |s| s["backends"][addr.to_string()] == state).await;
}

#[tokio::test]
async fn replicate_is_acked_by_every_backend_and_names_a_killed_one() {
    let mut backends: Vec<Server> = (0..3).map(|_| Server::start("")).collect();
    let addrs: Vec<SocketAddr> = backends.iter().map(|b| b.frame).collect();
    let front = front(&addrs);
    let mut client = FrameClient::connect(front.frame).await;
    for &addr in &addrs {
        until_backend(&mut client, addr, "up").await;
    }
    let report = replicate(&mut client, b"first").await;
    assert_eq!(acked(&report), names(&addrs), "{report}");
    assert_eq!(report["faulty"], serde_json::json!([]));
    let snap = client.stats().await;
    assert!(snap["connections"].get("backend").is_none(), "{snap}");
    assert_eq!(
        snap["accepted_total"], 1,
        "backend links are not accepted ones: {snap}"
    );

    // Kill one backend: the next REPLICATE names it faulty, within the ack timeout.
    let killed = addrs[1];
    drop(backends.remove(1));
    let asked = Instant::now();
    let report = replicate(&mut client, b"second").await;
    let waited = asked.elapsed();
    assert!(
        waited < Duration::from_millis(ACK_TIMEOUT_MS) + Duration::from_secs(2),
        "took {waited:?}"
    );
    assert_eq!(acked(&report), names(&[addrs[0], addrs[2]]), "{report}");
    let faulty = report["faulty"].as_array().unwrap();
    assert_eq!(faulty.len(), 1, "{report}");
    assert_eq!(faulty[0]["member"], killed.to_string());
    let reason = faulty[0]["reason"].as_str().unwrap();
    assert!(
        reason == "not connected" || reason == "timeout" || reason.starts_with("io error: "),
        "{reason}"
    );
    until_backend(&mut client, killed, "down").await;

    // Restarted on the same port, it is redialled and acks again.
    let port = killed.to_string();
    let _restarted = Server::start_with_args("", &["--frame", &port]);
    until_backend(&mut client, killed, "up").await;
    let report = replicate(&mut client, b"third").await;
    assert_eq!(acked(&report), names(&addrs), "{report}");
    assert_eq!(report["faulty"], serde_json::json!([]));
}

#[tokio::test]
async fn a_frozen_backend_times_out_and_health_checks_mark_it_down() {
    let backend = Server::start("");
    let front = front(&[backend.frame]);
    let mut client = FrameClient::connect(front.frame).await;
    until_backend(&mut client, backend.frame, "up").await;
    backend.freeze();
    let report = replicate(&mut client, b"frozen").await;
    assert_eq!(report["acked"], serde_json::json!([]), "{report}");
    let reason = report["faulty"][0]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason == "timeout" || reason == "io error: connection removed: health_check",
        "{report}"
    );
    until_backend(&mut client, backend.frame, "down").await;
    backend.signal(libc::SIGCONT);
    until_backend(&mut client, backend.frame, "up").await;
    let report = replicate(&mut client, b"thawed").await;
    assert_eq!(acked(&report), names(&[backend.frame]), "{report}");
}

#[tokio::test]
async fn a_backend_nobody_listens_on_is_not_connected() {
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let front = front(&[nowhere]);
    let mut client = FrameClient::connect(front.frame).await;
    until_backend(&mut client, nowhere, "down").await;
    let report = replicate(&mut client, b"x").await;
    assert_eq!(
        report,
        serde_json::json!({"acked": [],
                           "faulty": [{"member": nowhere.to_string(), "reason": "not connected"}]})
    );
}
