//! End to end: CLUSTER_STATS (`0x10` / `CSTATS`) and the node name (`node`, `--node`).
//!
//! Without a cluster, the answer is this server alone under its node name:
//! `{"nodes": {NODE: <STATS snapshot>}}`; the node name is `node`, overridden by
//! `--node`, and a random `node-XXXXXXXX` when neither is given.

mod support;

use serde_json::Value;
use std::io::Write;
use support::*;

/// Sends CLUSTER_STATS with `payload` and returns the JSON answer.
async fn frame_cluster_stats(c: &mut FrameClient, payload: &[u8]) -> Value {
    c.send(CLUSTER_STATS, payload).await;
    let (op, body) = c.recv().await;
    assert_eq!(
        op,
        CLUSTER_STATS_REPLY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

/// Sends `CSTATS` and returns the JSON answer.
async fn line_cluster_stats(c: &mut LineClient) -> Value {
    c.send("CSTATS").await;
    let line = c.recv().await.expect("connection closed");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The only node of a single-server answer, with its snapshot.
fn only_node(answer: &Value) -> (String, Value) {
    let nodes = answer["nodes"].as_object().expect("a nodes object");
    assert_eq!(nodes.len(), 1, "one node without a cluster: {answer}");
    let (name, snapshot) = nodes.iter().next().unwrap();
    (name.clone(), snapshot.clone())
}

#[tokio::test]
async fn frame_cluster_stats_is_this_server_under_its_node_name() {
    let server = Server::start_with_args("", &["--node", "alpha"]);
    let mut c = FrameClient::connect(server.frame).await;
    let mut l = LineClient::connect(server.line).await;
    l.send("PING").await;
    assert_eq!(l.recv().await.as_deref(), Some("PONG"));
    let answer = frame_cluster_stats(&mut c, b"").await;
    let (name, snapshot) = only_node(&answer);
    assert_eq!(name, "alpha");
    // The same snapshot as STATS: the asker and the line client are counted.
    assert_eq!(snapshot["connections"]["frame"], 1, "{answer}");
    assert_eq!(snapshot["connections"]["line"], 1, "{answer}");
    assert_eq!(snapshot["accepted_total"], 2, "{answer}");
    assert!(
        snapshot["removed_total"]["frame_timeout"].is_u64(),
        "{answer}"
    );
    let stats = c.stats().await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&snapshot), keys(&stats), "the STATS snapshot's keys");
    // A payload is ignored, like STATS's; no error packet was counted.
    let again = frame_cluster_stats(&mut c, b"ignored").await;
    assert_eq!(only_node(&again).0, "alpha");
    assert_eq!(only_node(&again).1["error_packets_total"], 0, "{again}");
}

#[tokio::test]
async fn line_cstats_is_the_same_json_on_one_line() {
    let server = Server::start_with_args("node = \"from-file\"", &["--node", "beta"]);
    let mut l = LineClient::connect(server.line).await;
    let answer = line_cluster_stats(&mut l).await;
    let (name, snapshot) = only_node(&answer);
    assert_eq!(name, "beta", "the flag overrides the file");
    assert_eq!(snapshot["connections"]["line"], 1, "{answer}");
    assert_eq!(snapshot["connections"]["frame"], 0, "{answer}");
    // With an argument it is an error packet, like STATS.
    l.send("CSTATS now").await;
    let reply = l.recv().await.unwrap();
    assert!(reply.starts_with("ERR "), "{reply}");
    l.send("ECHO still here").await;
    assert_eq!(l.recv().await.as_deref(), Some("ECHO still here"));
}

#[tokio::test]
async fn node_key_names_the_server() {
    let server = Server::start("node = \"gamma-1\"");
    let mut c = FrameClient::connect(server.frame).await;
    assert_eq!(
        only_node(&frame_cluster_stats(&mut c, b"").await).0,
        "gamma-1"
    );
}

#[tokio::test]
async fn without_a_name_each_server_picks_a_random_one_and_keeps_it() {
    let mut names = Vec::new();
    for _ in 0..2 {
        let server = Server::start("");
        let mut c = FrameClient::connect(server.frame).await;
        let mut l = LineClient::connect(server.line).await;
        let first = only_node(&frame_cluster_stats(&mut c, b"").await).0;
        let hex = first
            .strip_prefix("node-")
            .unwrap_or_else(|| panic!("{first}"));
        assert_eq!(hex.len(), 8, "{first}");
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{first}");
        // The same name for every connection and every protocol of one server.
        assert_eq!(only_node(&frame_cluster_stats(&mut c, b"").await).0, first);
        assert_eq!(only_node(&line_cluster_stats(&mut l).await).0, first);
        names.push(first);
    }
    assert_ne!(names[0], names[1], "two servers drew the same random name");
}

#[tokio::test]
async fn an_empty_node_name_is_refused_naming_the_key() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"node = \"\"\n").unwrap();
    let path = file.path().to_str().unwrap();
    let (status, err) = run_to_exit(&["serve", "--config", path]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("\"node\""), "{err}");
    let (status, err) = run_to_exit(&["serve", "--node", "", "--frame", "127.0.0.1:0"]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("\"node\""), "{err}");
}
