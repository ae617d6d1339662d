//! End to end: groups across servers through a real NATS server.
//!
//! Three real `switchboard` processes join one real `nats-server` (`--cluster`): what a
//! member publishes or broadcasts reaches the members on every node exactly once, in
//! per-publisher order; a killed node affects only its own connections; with NATS gone,
//! local delivery goes on, messages for other nodes are counted in `failed_total` and
//! never buffered, and delivery across nodes resumes once NATS is back; CLUSTER_STATS
//! lists every node. The NATS server's own monitoring (`/subsz`) shows when a node has
//! subscribed to a group, so no test guesses with sleeps.

#[path = "support/nats.rs"]
mod nats;
mod support;

use nats::Nats;
use serde_json::Value;
use std::time::Duration;
use support::*;

/// Starts node `name` of the cluster at `url`, reconnecting within 50..500 ms.
fn node(url: &str, name: &str) -> Server {
    Server::start_with_args(
        "reconnect_min_ms = 50\nreconnect_max_ms = 500",
        &["--cluster", url, "--node", name],
    )
}

/// A member of a group, in either protocol.
enum Member {
    Frame(FrameClient),
    Line(LineClient),
}

/// What a member received.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// A group message: (group, text).
    Msg(String, String),
    /// A broadcast: its payload (frame) or text (line).
    Bcast(String),
    /// The answer to our PING.
    Pong,
    /// Anything else.
    Other(String),
}

impl Member {
    async fn frame(server: &Server) -> Member {
        Member::Frame(FrameClient::connect(server.frame).await)
    }

    async fn line(server: &Server) -> Member {
        Member::Line(LineClient::connect(server.line).await)
    }

    async fn join(&mut self, group: &str) {
        match self {
            Member::Frame(c) => {
                c.send(JOIN, group.as_bytes()).await;
                assert_eq!(c.recv().await, (JOINED, group.as_bytes().to_vec()));
            }
            Member::Line(c) => {
                c.send(&format!("JOIN {group}")).await;
                assert_eq!(c.recv().await, Some(format!("JOINED {group}")));
            }
        }
    }

    async fn publish(&mut self, group: &str, text: &str) {
        match self {
            Member::Frame(c) => {
                c.send(PUBLISH, &publish_payload(group, text.as_bytes()))
                    .await;
            }
            Member::Line(c) => c.send(&format!("PUB {group} {text}")).await,
        }
    }

    async fn broadcast(&mut self, text: &str) {
        match self {
            Member::Frame(c) => c.send(BROADCAST, text.as_bytes()).await,
            Member::Line(c) => c.send(&format!("BCAST {text}")).await,
        }
    }

    async fn ping(&mut self) {
        match self {
            Member::Frame(c) => c.send(PING, b"").await,
            Member::Line(c) => c.send("PING").await,
        }
    }

    async fn next(&mut self) -> Got {
        match self {
            Member::Frame(c) => match c.recv().await {
                (MESSAGE, payload) => {
                    let len = usize::from(payload[0]);
                    let group = String::from_utf8_lossy(&payload[1..1 + len]).into_owned();
                    let text = String::from_utf8_lossy(&payload[1 + len..]).into_owned();
                    Got::Msg(group, text)
                }
                (BROADCAST, payload) => Got::Bcast(String::from_utf8_lossy(&payload).into_owned()),
                (PONG, _) => Got::Pong,
                (op, payload) => {
                    Got::Other(format!("{op:#x} {}", String::from_utf8_lossy(&payload)))
                }
            },
            Member::Line(c) => {
                let line = c.recv().await.expect("connection closed");
                if line == "PONG" {
                    return Got::Pong;
                }
                if let Some(text) = line.strip_prefix("BCAST ") {
                    return Got::Bcast(text.to_owned());
                }
                match line.strip_prefix("MSG ").and_then(|m| m.split_once(' ')) {
                    Some((group, text)) => Got::Msg(group.to_owned(), text.to_owned()),
                    None => Got::Other(line),
                }
            }
        }
    }

    /// The next `n` things received.
    async fn take(&mut self, n: usize) -> Vec<Got> {
        let mut got = Vec::with_capacity(n);
        for _ in 0..n {
            got.push(self.next().await);
        }
        got
    }
}

/// How a marker travels: published to a group, or broadcast to its protocol.
#[derive(Clone, Copy)]
enum Via<'a> {
    Group(&'a str),
    Broadcast,
}

/// Asserts that no extra copy of what `publishers` (indexes into `members`) sent has
/// arrived or is still coming, without waiting on a guess: each publisher sends one
/// last marker the same way, and as a publisher's messages reach every member in
/// order, through NATS too, a late copy of an earlier one would come before its
/// marker. Every member's next messages must be exactly the markers, then the answer
/// to a PING (nothing queued behind them either).
async fn nothing_more(members: &mut [Member], publishers: &[usize], via: Via<'_>) {
    let mut markers = Vec::new();
    for &p in publishers {
        let marker = format!("end-of-{p}");
        match via {
            Via::Group(group) => members[p].publish(group, &marker).await,
            Via::Broadcast => members[p].broadcast(&marker).await,
        }
        markers.push(marker);
    }
    markers.sort();
    for (k, m) in members.iter_mut().enumerate() {
        let got = m.take(markers.len()).await;
        let mut texts: Vec<String> = got
            .iter()
            .map(|g| match g {
                Got::Msg(_, text) | Got::Bcast(text) => text.clone(),
                other => panic!("member {k}: {other:?} before the markers: {got:?}"),
            })
            .collect();
        texts.sort();
        assert_eq!(texts, markers, "member {k}: an extra copy arrived");
        m.ping().await;
        assert_eq!(
            m.next().await,
            Got::Pong,
            "member {k}: more after the markers"
        );
    }
}

/// The texts of `got` that start with `prefix`, in order.
fn texts_from(got: &[Got], prefix: &str) -> Vec<String> {
    got.iter()
        .filter_map(|g| match g {
            Got::Msg(_, t) | Got::Bcast(t) if t.starts_with(prefix) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn sequence(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The `cluster` object of the STATS of the server `c` is connected to.
async fn cluster_of(c: &mut FrameClient) -> Value {
    c.stats().await["cluster"].clone()
}

/// Polls STATS until `check` holds on its `cluster` object, for at most `limit`.
async fn cluster_until(
    c: &mut FrameClient,
    limit: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    until(what, limit, async || {
        let cluster = cluster_of(c).await;
        if check(&cluster) {
            Ok(cluster)
        } else {
            Err(cluster.to_string())
        }
    })
    .await
}

/// CSTATS over `line`, as JSON.
async fn cstats(line: &mut LineClient) -> Value {
    line.send("CSTATS").await;
    let answer = line.recv().await.expect("connection closed");
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

fn node_names(answer: &Value) -> Vec<String> {
    answer["nodes"]
        .as_object()
        .expect("a nodes object")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn publishes_reach_frame_and_line_members_on_every_node_once_in_order() {
    let nats = Nats::start();
    let nodes = [
        node(&nats.url(), "a"),
        node(&nats.url(), "b"),
        node(&nats.url(), "c"),
    ];
    let mut members = Vec::new();
    for server in &nodes {
        members.push(Member::frame(server).await);
        members.push(Member::line(server).await);
    }
    for m in &mut members {
        m.join("room").await;
    }
    nats.wait_subscriptions("switchboard.group.room", 3);

    // Two publishers on two nodes, in both protocols, both members: the frame member on
    // a and the line member on c.
    const N: usize = 60;
    for i in 0..N {
        members[0].publish("room", &format!("a-{i}")).await;
        members[5].publish("room", &format!("c-{i}")).await;
    }
    // Own copies come before the reply to a later request.
    members[0].ping().await;
    members[5].ping().await;
    for (k, m) in members.iter_mut().enumerate() {
        let publisher = k == 0 || k == 5;
        let got = m.take(2 * N + usize::from(publisher)).await;
        assert_eq!(texts_from(&got, "a-"), sequence("a-", N), "member {k}");
        assert_eq!(texts_from(&got, "c-"), sequence("c-", N), "member {k}");
        assert!(
            got.iter()
                .all(|g| matches!(g, Got::Msg(r, _) if r == "room") || *g == Got::Pong),
            "member {k}: {got:?}"
        );
        if publisher {
            let own = if k == 0 { "a-" } else { "c-" };
            let pong = got.iter().position(|g| *g == Got::Pong).unwrap();
            assert_eq!(
                texts_from(&got[..pong], own).len(),
                N,
                "member {k}: its own copies before its PONG"
            );
        }
    }
    nothing_more(&mut members, &[0, 5], Via::Group("room")).await;

    let mut stats = FrameClient::connect(nodes[1].frame).await;
    let b = cluster_of(&mut stats).await;
    assert_eq!(b["node"], "b", "{b}");
    assert_eq!(b["connected"], true, "{b}");
    assert_eq!(
        b["received_total"],
        2 * (N + 1) as u64,
        "{b}: from a and c (their messages and markers), own echo ignored"
    );
    assert_eq!(b["failed_total"], 0, "{b}");

    // Interest follows local membership: when b's members leave, b unsubscribes.
    drop(members.drain(2..4));
    nats.wait_subscriptions("switchboard.group.room", 2);
}

#[tokio::test]
async fn broadcasts_reach_every_node_once_in_order() {
    let nats = Nats::start();
    let nodes = [
        node(&nats.url(), "a"),
        node(&nats.url(), "b"),
        node(&nats.url(), "c"),
    ];
    let mut frames = Vec::new();
    let mut lines = Vec::new();
    for server in &nodes {
        let mut f = FrameClient::connect(server.frame).await;
        f.ready().await;
        frames.push(Member::Frame(f));
        let mut l = LineClient::connect(server.line).await;
        l.send("PING").await;
        assert_eq!(l.recv().await.as_deref(), Some("PONG"));
        lines.push(Member::Line(l));
    }
    nats.wait_subscriptions("switchboard.broadcast.frame", 3);
    nats.wait_subscriptions("switchboard.broadcast.line", 3);

    const N: usize = 40;
    for i in 0..N {
        frames[0].broadcast(&format!("f-{i}")).await;
        lines[2].broadcast(&format!("l-{i}")).await;
    }
    frames[0].ping().await;
    for (k, m) in frames.iter_mut().enumerate() {
        let got = m.take(N + usize::from(k == 0)).await;
        assert_eq!(
            texts_from(&got, "f-"),
            sequence("f-", N),
            "frame member {k}"
        );
        if k == 0 {
            assert_eq!(
                got.last(),
                Some(&Got::Pong),
                "own broadcasts before the PONG"
            );
        }
    }
    nothing_more(&mut frames, &[0], Via::Broadcast).await;
    for (k, m) in lines.iter_mut().enumerate() {
        let got = m.take(N).await;
        assert_eq!(texts_from(&got, "l-"), sequence("l-", N), "line member {k}");
    }
    nothing_more(&mut lines, &[2], Via::Broadcast).await;
}

#[tokio::test]
async fn cluster_stats_lists_every_node_and_a_killed_node_affects_only_its_own() {
    let nats = Nats::start();
    let mut nodes = [
        node(&nats.url(), "a"),
        node(&nats.url(), "b"),
        node(&nats.url(), "c"),
    ];
    let mut members = Vec::new();
    for server in &nodes {
        let mut m = Member::line(server).await;
        m.join("room").await;
        members.push(m);
    }
    nats.wait_subscriptions("switchboard.group.room", 3);

    let mut asker = LineClient::connect(nodes[0].line).await;
    let answer = cstats(&mut asker).await;
    assert_eq!(node_names(&answer), ["a", "b", "c"], "{answer}");
    for name in ["a", "b", "c"] {
        let snapshot = &answer["nodes"][name];
        assert_eq!(snapshot["cluster"]["node"], name, "{answer}");
        assert_eq!(snapshot["cluster"]["connected"], true, "{answer}");
        let lines = if name == "a" { 2 } else { 1 };
        assert_eq!(snapshot["connections"]["line"], lines, "{name}: {answer}");
        assert_eq!(snapshot["group_members"], 1, "{name}: {answer}");
    }
    let mut frame = FrameClient::connect(nodes[2].frame).await;
    frame.send(CLUSTER_STATS, b"").await;
    let (op, body) = frame.recv().await;
    assert_eq!(op, CLUSTER_STATS_REPLY);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(node_names(&answer), ["a", "b", "c"], "{answer}");

    // Node b dies without a word: a and c go on.
    let _ = nodes[1].child.kill();
    let _ = nodes[1].child.wait();
    nats.wait_subscriptions("switchboard.group.room", 2);
    for i in 0..10 {
        members[0].publish("room", &format!("x-{i}")).await;
    }
    // b's member has nobody to talk to any more.
    drop(members.remove(1));
    for (k, m) in members.iter_mut().enumerate() {
        let got = m.take(10).await;
        assert_eq!(texts_from(&got, "x-"), sequence("x-", 10), "member {k}");
    }
    nothing_more(&mut members, &[0], Via::Group("room")).await;
    let answer = cstats(&mut asker).await;
    assert_eq!(node_names(&answer), ["a", "c"], "{answer}");
}

#[tokio::test]
async fn without_nats_local_delivery_goes_on_and_nothing_is_buffered() {
    let mut nats = Nats::start();
    let nodes = [node(&nats.url(), "a"), node(&nats.url(), "b")];
    let mut here = Member::line(&nodes[0]).await;
    let mut there = Member::line(&nodes[1]).await;
    here.join("room").await;
    there.join("room").await;
    let mut far = Member::line(&nodes[1]).await;
    far.join("far").await;
    nats.wait_subscriptions("switchboard.group.room", 2);
    nats.wait_subscriptions("switchboard.group.far", 1);
    here.publish("room", "before").await;
    assert_eq!(here.next().await, Got::Msg("room".into(), "before".into()));
    assert_eq!(there.next().await, Got::Msg("room".into(), "before".into()));

    let mut a = FrameClient::connect(nodes[0].frame).await;
    let mut b = FrameClient::connect(nodes[1].frame).await;
    nats.kill();
    let down = Duration::from_secs(5);
    let start = cluster_until(&mut a, down, "a sees NATS gone", |c| {
        c["connected"] == false
    })
    .await;
    cluster_until(&mut b, down, "b sees NATS gone", |c| {
        c["connected"] == false
    })
    .await;

    // Local delivery goes on; each message is a failure for the other nodes.
    const LOCAL: usize = 200;
    for i in 0..LOCAL {
        here.publish("room", &format!("x-{i}")).await;
    }
    let got = here.take(LOCAL).await;
    assert_eq!(texts_from(&got, "x-"), sequence("x-", LOCAL));

    // 40 MB for another node while NATS is gone: counted, not kept. It is sent in
    // steps of 4 MB, each taken by the supervisor (a STATS answer comes after it)
    // before the next, so what stays behind is only what the cluster link keeps.
    let rss_before = nodes[0].rss_kib();
    const FAR: usize = 40_000;
    let body = "y".repeat(1000);
    let mut publisher = FrameClient::connect(nodes[0].frame).await;
    let mut batch = Vec::new();
    for i in 0..FAR {
        let text = format!("{i}-{body}");
        batch.extend_from_slice(&encode(PUBLISH, &publish_payload("far", text.as_bytes())));
        if batch.len() > 256 * 1024 {
            publisher.send_raw(&batch).await;
            batch.clear();
        }
        if i % 4000 == 3999 {
            publisher.ready().await;
            a.stats().await;
        }
    }
    publisher.send_raw(&batch).await;
    publisher.ready().await;
    let failed = (LOCAL + FAR) as u64 + start["failed_total"].as_u64().unwrap();
    let counted = cluster_until(&mut a, down, "every message counted as failed", |c| {
        c["failed_total"].as_u64() >= Some(failed)
    })
    .await;
    assert_eq!(
        counted["published_total"], start["published_total"],
        "{counted}"
    );
    let grown = nodes[0].rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 20 * 1024,
        "RSS grew by {grown} KiB for 40 MB sent nowhere"
    );

    // NATS is back: both nodes reconnect within the reconnect bound, subscribe again,
    // and delivery across nodes resumes with nothing from the outage.
    nats.restart();
    let back = Duration::from_millis(500 + 2500);
    for (name, stats) in [("a", &mut a), ("b", &mut b)] {
        let again = cluster_until(stats, back, name, |c| c["connected"] == true).await;
        assert_eq!(again["disconnects_total"], 1, "{name}: {again}");
    }
    nats.wait_subscriptions("switchboard.group.room", 2);
    here.publish("room", "after").await;
    assert_eq!(here.next().await, Got::Msg("room".into(), "after".into()));
    assert_eq!(
        there.next().await,
        Got::Msg("room".into(), "after".into()),
        "nothing from the outage, then the new message"
    );
    // Nothing of the 40 MB meant for `far` is delivered late: the same publisher's
    // marker comes first.
    nats.wait_subscriptions("switchboard.group.far", 1);
    let mut far_group = [Member::Frame(publisher), far];
    far_group[0].join("far").await;
    nothing_more(&mut far_group, &[0], Via::Group("far")).await;
    nothing_more(&mut [here, there], &[0], Via::Group("room")).await;
}

#[tokio::test]
async fn a_node_started_without_nats_serves_locally_and_joins_later() {
    let port = nats::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let a = node(&url, "a");
    let mut here = Member::line(&a).await;
    here.join("room").await;
    here.publish("room", "alone").await;
    assert_eq!(here.next().await, Got::Msg("room".into(), "alone".into()));
    let mut stats = FrameClient::connect(a.frame).await;
    let alone = cluster_of(&mut stats).await;
    assert_eq!(alone["node"], "a", "{alone}");
    assert_eq!(alone["connected"], false, "{alone}");
    assert_eq!(alone["published_total"], 0, "{alone}");
    cluster_until(
        &mut stats,
        Duration::from_secs(5),
        "the failure counted",
        |c| c["failed_total"] == 1,
    )
    .await;
    let mut asker = LineClient::connect(a.line).await;
    assert_eq!(node_names(&cstats(&mut asker).await), ["a"]);

    let nats = Nats::on_port(port);
    cluster_until(&mut stats, Duration::from_secs(3), "a connects", |c| {
        c["connected"] == true
    })
    .await;
    let b = node(&url, "b");
    let mut there = Member::frame(&b).await;
    there.join("room").await;
    nats.wait_subscriptions("switchboard.group.room", 2);
    here.publish("room", "together").await;
    assert_eq!(
        here.next().await,
        Got::Msg("room".into(), "together".into())
    );
    assert_eq!(
        there.next().await,
        Got::Msg("room".into(), "together".into())
    );
    assert_eq!(node_names(&cstats(&mut asker).await), ["a", "b"]);
}

/// `reconnect_min_ms` bounds the node's NATS reconnects from below as it bounds a
/// backend's (the upper bound, `reconnect_max_ms`, is what brings the nodes back in
/// time after the outage of `without_nats_local_delivery_goes_on_and_nothing_is_buffered`).
#[tokio::test]
async fn reconnect_min_ms_spaces_the_nodes_nats_attempts() {
    let port = nats::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let node = Server::start_with_args(
        "reconnect_min_ms = 2000\nreconnect_max_ms = 2000",
        &["--cluster", &url, "--node", "patient"],
    );
    // Its first attempt, at start, found nothing; NATS comes up well before the next.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _nats = Nats::on_port(port);
    let mut stats = FrameClient::connect(node.frame).await;
    assert_eq!(cluster_of(&mut stats).await["connected"], false);
    cluster_until(
        &mut stats,
        Duration::from_secs(8),
        "the node connects at its next attempt",
        |c| c["connected"] == true,
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900),
        "connected {waited:?} after start: attempts were not 2 s apart"
    );
}

#[test]
fn a_cluster_that_is_not_a_nats_url_exits_2_naming_the_key() {
    for bad in ["http://127.0.0.1:4222", "127.0.0.1:4222", "nats://"] {
        let (status, stderr) = run_to_exit(&[
            "serve",
            "--frame",
            "127.0.0.1:0",
            "--line",
            "127.0.0.1:0",
            "--cluster",
            bad,
        ]);
        assert_eq!(status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("\"cluster\""), "{bad}: {stderr}");
    }
}

#[tokio::test]
async fn a_burst_crosses_nodes_whole_and_in_order() {
    let nats = Nats::start();
    let nodes = [node(&nats.url(), "a"), node(&nats.url(), "b")];
    let mut there = Member::frame(&nodes[1]).await;
    there.join("burst").await;
    nats.wait_subscriptions("switchboard.group.burst", 1);
    // 20,000 messages in one write: more than fit one NATS subscription's default
    // buffer as single messages.
    const N: usize = 20_000;
    let mut batch = Vec::new();
    for i in 0..N {
        let payload = publish_payload("burst", format!("m-{i}").as_bytes());
        batch.extend_from_slice(&encode(PUBLISH, &payload));
    }
    let mut publisher = FrameClient::connect(nodes[0].frame).await;
    publisher.send_raw(&batch).await;
    let got = there.take(N).await;
    assert_eq!(texts_from(&got, "m-"), sequence("m-", N));
    let mut burst = [Member::Frame(publisher), there];
    burst[0].join("burst").await;
    nothing_more(&mut burst, &[0], Via::Group("burst")).await;
    let mut a = FrameClient::connect(nodes[0].frame).await;
    let mut b = FrameClient::connect(nodes[1].frame).await;
    let a = cluster_of(&mut a).await;
    let b = cluster_of(&mut b).await;
    // The burst and the marker.
    assert_eq!(a["published_total"], N as u64 + 1, "{a}");
    assert_eq!(a["failed_total"], 0, "{a}");
    assert_eq!(b["received_total"], N as u64 + 1, "{b}");
    assert_eq!(b["slow_consumer_total"], 0, "{b}");
}

#[test]
fn bench_fanout_measures_delivery_across_nodes() {
    let nats = Nats::start();
    let nodes = [node(&nats.url(), "a"), node(&nats.url(), "b")];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["bench", "fanout", "--conns", "20", "--frames", "300"])
        .args(["--threads", "1", "--timeout-s", "10", "--addr"])
        .arg(nodes[0].frame.to_string())
        .arg("--receivers-addr")
        .arg(nodes[1].frame.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, "bench fanout", Duration::from_secs(30));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{out}");
    let report: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["deliveries"], 20 * 300, "{report}");
    assert_eq!(report["in_order"], true, "{report}");
    // The receivers' server got every frame from the sender's, through NATS.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let b = runtime.block_on(async {
        let mut c = FrameClient::connect(nodes[1].frame).await;
        cluster_of(&mut c).await
    });
    assert!(b["received_total"].as_u64() >= Some(300), "{b}");
}
