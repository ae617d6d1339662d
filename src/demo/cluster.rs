//! The demo's cluster scene: groups across servers through a real NATS server.
//!
//! When a `nats-server` binary can be found (in `PATH` or `/usr/sbin`), the demo starts
//! one on a free loopback port and three in-process servers joined to it, with one
//! `line` client per server in the room `lobby`. The clients talk across the servers;
//! then one server is stopped and the other two keep talking; then NATS is killed while
//! they talk (each still hears itself, and the messages for the other server are
//! counted as failed), and restarted (the servers reconnect by themselves and the room
//! spans them again). Every step checks what each client received: every message once,
//! in each publisher's order.

use crate::config::Config;
use crate::server::{self, Running};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long any one wait of the scene may take.
const WAIT: Duration = Duration::from_secs(5);

/// The `nats-server` binary, if there is one.
pub fn nats_binary() -> Option<PathBuf> {
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nats-server"))
            .find(|p| p.is_file())
    });
    in_path.or_else(|| {
        let debian = PathBuf::from("/usr/sbin/nats-server");
        debian.is_file().then_some(debian)
    })
}

/// A NATS server child process on a loopback port.
struct Nats {
    /// The binary, to start it again.
    binary: PathBuf,
    /// Its client port (the same after a restart).
    port: u16,
    /// The process while it runs.
    child: Option<Child>,
}

impl Nats {
    fn start(binary: PathBuf) -> std::io::Result<Nats> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut nats = Nats {
            binary,
            port,
            child: None,
        };
        nats.restart()?;
        Ok(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) -> std::io::Result<()> {
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other("nats-server did not start"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `line` client in the room.
struct Talker {
    /// Who it is in the output.
    name: String,
    /// Lines from the server.
    lines: Lines<BufReader<OwnedReadHalf>>,
    /// Lines to the server.
    writer: OwnedWriteHalf,
}

impl Talker {
    async fn connect(name: &str, addr: SocketAddr) -> std::io::Result<Talker> {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await??;
        let (read, writer) = stream.into_split();
        let mut talker = Talker {
            name: name.to_owned(),
            lines: BufReader::new(read).lines(),
            writer,
        };
        talker.send("JOIN lobby").await?;
        match talker.recv().await.as_deref() {
            Some("JOINED lobby") => Ok(talker),
            other => Err(std::io::Error::other(format!(
                "{name}: JOIN answered {other:?}"
            ))),
        }
    }

    async fn send(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(format!("{line}\n").as_bytes()).await
    }

    /// The next line within `WAIT`, or `None`.
    async fn recv(&mut self) -> Option<String> {
        self.recv_within(WAIT).await
    }

    async fn recv_within(&mut self, limit: Duration) -> Option<String> {
        tokio::time::timeout(limit, self.lines.next_line())
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    }

    /// The texts of the next `n` room messages, or fewer if they stop coming.
    async fn messages(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match self.recv().await {
                Some(line) => match line.strip_prefix("MSG lobby ") {
                    Some(text) => got.push(text.to_owned()),
                    None => continue,
                },
                None => break,
            }
        }
        got
    }
}

/// Whether `got` holds exactly `n` messages from each of `publishers`, each publisher's
/// in its order (texts are `PUBLISHER-STEP-I`).
fn in_order(got: &[String], publishers: &[&str], step: &str, n: usize) -> bool {
    got.len() == publishers.len() * n
        && publishers.iter().all(|p| {
            let prefix = format!("{p}-{step}-");
            let mine: Vec<&String> = got.iter().filter(|t| t.starts_with(&prefix)).collect();
            mine.len() == n
                && mine
                    .iter()
                    .enumerate()
                    .all(|(i, t)| **t == format!("{prefix}{i}"))
        })
}

/// Waits until every talker hears what the first one publishes (each node has
/// subscribed), then drains what the probing left.
async fn settle(talkers: &mut [Talker]) -> std::io::Result<bool> {
    let deadline = Instant::now() + WAIT;
    let mut heard = vec![false; talkers.len()];
    let mut probe = 0;
    while heard.iter().any(|h| !h) {
        if Instant::now() > deadline {
            return Ok(false);
        }
        talkers[0].send(&format!("PUB lobby probe-{probe}")).await?;
        probe += 1;
        for (k, t) in talkers.iter_mut().enumerate() {
            while let Some(line) = t.recv_within(Duration::from_millis(100)).await {
                heard[k] |= line.starts_with("MSG lobby probe-");
            }
        }
    }
    talkers[0].send("PUB lobby synced").await?;
    for t in talkers.iter_mut() {
        while let Some(line) = t.recv().await {
            if line == "MSG lobby synced" {
                break;
            }
        }
    }
    Ok(true)
}

/// Every talker publishes `n` messages, interleaved; answers whether each talker got
/// every message of the ones `expected_from` once, in order.
async fn talk(
    talkers: &mut [Talker],
    step: &str,
    n: usize,
    expected_from: &[&str],
) -> std::io::Result<bool> {
    for i in 0..n {
        for t in talkers.iter_mut() {
            let line = format!("PUB lobby {}-{step}-{i}", t.name);
            t.send(&line).await?;
        }
    }
    let mut all = true;
    for t in talkers.iter_mut() {
        let got = t.messages(expected_from.len() * n).await;
        let ok = in_order(&got, expected_from, step, n);
        println!(
            "  {:<3} got {:>3} messages, {}",
            t.name,
            got.len(),
            if ok {
                "each once, in order"
            } else {
                "NOT as expected"
            }
        );
        all &= ok;
    }
    Ok(all)
}

/// A node's `cluster` stats: (connected, failed_total).
async fn cluster_stats(node: &Running) -> (bool, u64) {
    let snapshot = node.board.handle().stats().await.unwrap_or_default();
    snapshot
        .cluster
        .map_or((false, 0), |c| (c.connected, c.failed_total))
}

/// Waits until `node` reports `connected`.
async fn until_connected(node: &Running, connected: bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while cluster_stats(node).await.0 != connected {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

fn node_config(url: &str, name: &str) -> Config {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    Config {
        frame: loopback,
        line: loopback,
        cluster: Some(crate::secret::SecretUrl::new(url)),
        node: Some(name.to_owned()),
        reconnect_min_ms: 50,
        reconnect_max_ms: 500,
        shutdown_timeout_ms: 500,
        workers: 1,
        ..Config::default()
    }
}

fn step(what: &str, ok: bool) -> bool {
    println!("  [{}] {what}", if ok { "ok" } else { "FAIL" });
    ok
}

/// Runs the scene with the NATS server at `binary`; answers whether every check held.
pub async fn scene(binary: PathBuf) -> std::io::Result<bool> {
    let mut nats = Nats::start(binary)?;
    let url = nats.url();
    println!("\ncluster: nats-server on {url}; three servers n1, n2, n3; room lobby spans them");
    let mut nodes = Vec::new();
    for name in ["n1", "n2", "n3"] {
        let config = node_config(&url, name);
        let running = server::start(
            &config,
            switchboard::bind(config.frame)?,
            switchboard::bind(config.line)?,
        )?;
        nodes.push(running);
    }
    let mut talkers = Vec::new();
    for (name, node) in ["n1", "n2", "n3"].iter().zip(&nodes) {
        talkers.push(Talker::connect(name, node.line.local_addr).await?);
    }
    let mut passed = step(
        "the room spans the three servers",
        settle(&mut talkers).await?,
    );
    println!("- everyone talks");
    passed &= talk(&mut talkers, "a", 20, &["n1", "n2", "n3"]).await?;

    println!("- server n2 stops; n1 and n3 go on");
    nodes[1].stop().await;
    talkers.remove(1);
    passed &= talk(&mut talkers, "b", 20, &["n1", "n3"]).await?;

    println!("- NATS is killed while they talk: each hears only itself");
    nats.kill();
    passed &= step(
        "n1 and n3 see NATS gone",
        until_connected(&nodes[0], false).await && until_connected(&nodes[2], false).await,
    );
    let before = cluster_stats(&nodes[0]).await.1;
    for t in talkers.iter_mut() {
        for i in 0..10 {
            let line = format!("PUB lobby {}-c-{i}", t.name);
            t.send(&line).await?;
        }
    }
    for t in talkers.iter_mut() {
        let got = t.messages(10).await;
        let own = t.name.clone();
        passed &= step(
            &format!("{own} heard its own 10 messages"),
            in_order(&got, &[own.as_str()], "c", 10),
        );
    }
    // Own copies are queued by the publishing connection itself: the count of the
    // failed hand-over to NATS may come a moment later.
    let deadline = Instant::now() + WAIT;
    let mut failed = 0;
    while failed < 10 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        failed = cluster_stats(&nodes[0]).await.1.saturating_sub(before);
    }
    passed &= step(
        &format!("n1 counted {failed} messages for other servers as failed"),
        failed == 10,
    );

    println!("- NATS is back: the servers reconnect by themselves");
    nats.restart()?;
    passed &= step(
        "n1 and n3 reconnected",
        until_connected(&nodes[0], true).await && until_connected(&nodes[2], true).await,
    );
    passed &= step(
        "the room spans n1 and n3 again",
        settle(&mut talkers).await?,
    );
    passed &= talk(&mut talkers, "d", 20, &["n1", "n3"]).await?;

    for node in [&nodes[0], &nodes[2]] {
        node.stop().await;
    }
    nats.kill();
    println!(
        "{}",
        if passed {
            "cluster scene passed"
        } else {
            "cluster scene FAILED"
        }
    );
    Ok(passed)
}
