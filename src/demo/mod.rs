//! `switchboard demo`: the supervision machinery shown in one command.
//!
//! It starts the real server in-process on ephemeral loopback ports, with three backends
//! (two in-process servers, and one that accepts and never answers), and a scripted cast:
//! well-behaved echo, broadcast and replication clients on both protocols, one client
//! that sends unknown opcodes, one that stops reading, one that falls silent, and a room
//! scene (a `frame` and a `line` member publishing to the group `lobby`, and a `line`
//! member that only listens, kept alive by answering heartbeat PINGs). One backend is
//! killed a quarter of the way through and restarted at half time. Every second it prints
//! a table of the stats; every removal is printed with its reason and peer as it happens
//! (a cast member removed again for the same reason only the first time: the table counts
//! them all). At the end it prints a summary and exits 0 only if every misbehaviour led
//! to the expected removal, the outage was seen and healed, and every room member got
//! every message. With `--http ADDR` the front server's dashboard and read-only
//! monitoring endpoints are served on `ADDR` while the demo runs, and a chat page at
//! `/chat` where a browser joins the lobby beside the scripted members (over WebSocket
//! on the same port, `/ws`). Alongside, a security scene plays against a second server
//! with users and a message rate (see the `security` module). When a `nats-server` can
//! be found, a cluster scene follows (see the `cluster` module).

mod backend;
mod cast;
mod cluster;
mod hung;
mod room;
mod security;
mod table;
mod verdict;

use crate::config::Config;
use crate::protocols::line::LineProtocol;
use crate::server;
use crate::web::upgrade::{http_server_with, WebSockets};
use crate::web::{Endpoints, WebState};
use actix::{Actor, Context, Handler};
use backend::Backend;
use cast::{Names, Rounds, Tally};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use switchboard::{ConnectionRemoved, RemovalReason, Snapshot};
use tokio::sync::mpsc;
use tokio::time::Instant;
use verdict::{Check, Expectation};

/// The shortest demo that still shows every scripted event.
pub const MIN_SECONDS: u64 = 12;

/// What the demo expects the supervisor to do with each misbehaving client.
const EXPECTED: [Expectation; 4] = [
    Expectation {
        who: "bad-opcodes",
        reasons: &[RemovalReason::ErrorPackets],
    },
    Expectation {
        who: "never-reads",
        reasons: &[RemovalReason::WriteTimeout, RemovalReason::SlowConsumer],
    },
    Expectation {
        who: "falls-silent",
        reasons: &[RemovalReason::Idle],
    },
    Expectation {
        who: "hung-backend",
        reasons: &[RemovalReason::HealthCheck],
    },
];

/// Forwards removal events from the supervisor to the demo loop.
struct Observer(mpsc::UnboundedSender<ConnectionRemoved>);

impl Actor for Observer {
    type Context = Context<Self>;
}

impl Handler<ConnectionRemoved> for Observer {
    type Result = ();
    fn handle(&mut self, event: ConnectionRemoved, _: &mut Context<Self>) {
        let _ = self.0.send(event);
    }
}

/// The front server's configuration: quick timeouts so everything happens in seconds.
fn front_config(backends: Vec<SocketAddr>) -> Config {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    Config {
        frame: loopback,
        line: loopback,
        backends,
        idle_timeout_ms: 3_000,
        // Below the idle timeout: a client that answers PINGs is never idle.
        heartbeat_ms: 1_000,
        health_interval_ms: 500,
        write_timeout_ms: 2_000,
        max_outbound_bytes: 1024 * 1024,
        ack_timeout_ms: 300,
        backend_max_failures: 2,
        reconnect_min_ms: 100,
        reconnect_max_ms: 1_000,
        shutdown_timeout_ms: 1_000,
        workers: 2,
        // The lobby keeps a history, so a member that comes back recovers.
        history_size: 1_000,
        history_groups: vec![room::LOBBY.to_owned()],
        ..Config::default()
    }
}

/// Runs the demo for `seconds`, serving the dashboard on `http` if given; returns the
/// process exit status.
pub fn run(seconds: u64, http: Option<SocketAddr>) -> i32 {
    let seconds = seconds.max(MIN_SECONDS);
    let outcome = actix_rt::System::new().block_on(demo(seconds, http));
    let outcome = match (outcome, cluster::nats_binary()) {
        (Ok(true), Some(nats)) => actix_rt::System::new().block_on(cluster::scene(nats)),
        (Ok(true), None) => {
            println!("cluster scene skipped: no nats-server (apt-get install nats-server)");
            Ok(true)
        }
        (other, _) => other,
    };
    match outcome {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("switchboard demo: {e}");
            1
        }
    }
}

async fn demo(seconds: u64, http: Option<SocketAddr>) -> std::io::Result<bool> {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut steady = Backend::start(loopback)?;
    let mut flaky = Backend::start(loopback)?;
    let hung = hung::Hung::start().await?;
    let config = front_config(vec![steady.addr, flaky.addr, hung.addr]);
    let front = server::start(
        &config,
        switchboard::bind(config.frame)?,
        switchboard::bind(config.line)?,
    )?;
    let (frame, line) = (front.frame.local_addr, front.line.local_addr);
    println!(
        "front: frame {frame}, line {line}; backends {}, {} (flaky) and {} (hangs)",
        steady.addr, flaky.addr, hung.addr
    );
    let guarded = security::start()?;
    println!(
        "guarded: frame {}, line {}; users, {} messages/s",
        guarded.frame.local_addr,
        guarded.line.local_addr,
        security::RATE
    );

    let mut log = Vec::new();
    let dashboard = match http {
        Some(addr) => {
            let listener = switchboard::bind(addr).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on http address {addr}: {e}"),
                )
            })?;
            let addr = listener.local_addr()?;
            let state = WebState::new(
                front.board.handle().clone(),
                config.max_frame,
                config.max_line,
            );
            // A browser joins the lobby on the same port: the chat page, and the `line`
            // protocol over WebSocket at /ws.
            let max_line = config.max_line;
            let max_groups = config.max_groups;
            let browsers = front
                .board
                .websocket_entry(config.ws_line_config(), move || {
                    LineProtocol::new(max_line).with_max_groups(max_groups)
                });
            let websockets = WebSockets::new()
                .route("/ws", browsers)
                .chat_page("/chat", "/ws");
            let server = http_server_with(listener, state, Endpoints::Monitoring, websockets)?;
            let handle = server.handle();
            actix_rt::spawn(server);
            log.push(format!("dashboard: http://{addr}/"));
            log.push(format!("chat: http://{addr}/chat"));
            Some(handle)
        }
        None => None,
    };

    let (tx, mut removals_rx) = mpsc::unbounded_channel();
    front
        .board
        .handle()
        .subscribe(Observer(tx.clone()).start().recipient());
    guarded
        .board
        .handle()
        .subscribe(Observer(tx).start().recipient());

    let names: Names = Arc::default();
    if let Ok(mut names) = names.lock() {
        names.insert(steady.addr, "steady-backend");
        names.insert(flaky.addr, "flaky-backend");
        names.insert(hung.addr, "hung-backend");
    }
    let tally = Arc::new(Tally::default());
    let rounds: Rounds = Arc::default();
    let all = Duration::from_secs(seconds);
    // Well-behaved clients stop a little early so the summary sees their last answers.
    let until = Instant::now() + all - Duration::from_millis(1500);
    let room = Arc::new(room::Room::default());
    let mut tasks = vec![
        actix_rt::spawn(cast::frame_echo(frame, names.clone(), tally.clone(), until)),
        actix_rt::spawn(cast::frame_broadcast(
            frame,
            names.clone(),
            tally.clone(),
            until,
        )),
        actix_rt::spawn(cast::line_client(line, names.clone(), tally.clone(), until)),
        actix_rt::spawn(cast::replicator(
            frame,
            names.clone(),
            rounds.clone(),
            until,
        )),
        actix_rt::spawn(cast::bad_opcodes(frame, names.clone())),
        actix_rt::spawn(cast::never_reads(frame, names.clone(), all)),
        actix_rt::spawn(cast::falls_silent(frame, names.clone(), all)),
    ];
    let security = actix_rt::spawn(security::scene(
        guarded.frame.local_addr,
        guarded.line.local_addr,
        names.clone(),
    ));
    // Room members listen a little longer than they publish, for the last messages.
    let room_end = until + Duration::from_millis(1000);
    for member in room::MEMBERS {
        let addr = match member.wire {
            room::Wire::Frame => frame,
            room::Wire::Line => line,
        };
        tasks.push(actix_rt::spawn(room::member(
            addr,
            names.clone(),
            room.clone(),
            member,
            until,
            room_end,
        )));
    }

    let start = Instant::now();
    let kill_at = Duration::from_secs(seconds / 4);
    let restart_at = Duration::from_secs(seconds / 2);
    let terminal = std::io::stdout().is_terminal();
    let mut removals = Vec::new();
    let mut printed = 0;
    let mut flaky_seen_down = false;
    let mut snap = Snapshot::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let flaky_name = flaky.addr.to_string();
    while start.elapsed() < all {
        tick.tick().await;
        let elapsed = start.elapsed();
        if elapsed >= kill_at && flaky.running.is_some() && elapsed < restart_at {
            flaky.kill().await;
            log.push(format!(
                "t={:>3}s  killed backend {flaky_name}",
                elapsed.as_secs()
            ));
        }
        if elapsed >= restart_at && flaky.running.is_none() {
            match flaky.restart() {
                Ok(()) => log.push(format!(
                    "t={:>3}s  restarted backend {flaky_name}",
                    elapsed.as_secs()
                )),
                Err(e) => log.push(format!(
                    "t={:>3}s  restart of {flaky_name} failed: {e}",
                    elapsed.as_secs()
                )),
            }
        }
        while let Ok(event) = removals_rx.try_recv() {
            let who = names
                .lock()
                .ok()
                .and_then(|n| n.get(&event.peer).copied())
                .unwrap_or("?");
            // The hung backend is redialled and removed again every second or so: its
            // first removal is shown, the table counts the others.
            let again = who != "?" && removals.contains(&(who, event.reason));
            if !again {
                log.push(format!(
                    "t={:>3}s  removed {} connection from {} ({who}): {}",
                    elapsed.as_secs(),
                    event.protocol,
                    event.peer,
                    event.reason
                ));
            }
            removals.push((who, event.reason));
        }
        snap = front.board.handle().stats().await.unwrap_or_default();
        flaky_seen_down |= snap.backends.get(&flaky_name) == Some(&"down");
        let mut out = std::io::stdout().lock();
        if terminal {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        for line in table::render(elapsed.as_secs(), &snap) {
            writeln!(out, "{line}")?;
        }
        // A terminal is redrawn with every event so far; plain output gets each once.
        let from = if terminal { 0 } else { printed };
        for line in &log[from..] {
            writeln!(out, "{line}")?;
        }
        printed = log.len();
        out.flush()?;
    }

    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    }
    let security = tokio::time::timeout(Duration::from_secs(10), security)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let expected: Vec<Expectation> = EXPECTED
        .iter()
        .chain(&security::EXPECTED)
        .cloned()
        .collect();
    let outcomes = verdict::judge(&expected, &removals);
    let rounds = rounds.lock().map(|r| r.clone()).unwrap_or_default();
    let seen = room.seen();
    let mut checks = vec![
        Check {
            what: format!("backend {flaky_name} was marked down while killed"),
            met: flaky_seen_down,
        },
        Check {
            what: format!("a REPLICATE during the outage named {flaky_name} faulty"),
            met: rounds
                .iter()
                .any(|(_, faulty)| faulty.contains(&flaky_name)),
        },
        Check {
            what: format!("backend {flaky_name} was up and acking again after its restart"),
            met: snap.backends.get(&flaky_name) == Some(&"up")
                && rounds
                    .iter()
                    .skip_while(|(_, faulty)| !faulty.contains(&flaky_name))
                    .any(|(acked, _)| acked.contains(&flaky_name)),
        },
        Check {
            what: format!(
                "well-behaved clients got every answer ({} good, {} bad)",
                tally.good.load(Relaxed),
                tally.bad.load(Relaxed)
            ),
            met: tally.bad.load(Relaxed) == 0 && tally.good.load(Relaxed) > 0,
        },
    ];
    checks.extend(verdict::room_checks(&seen, &removals));
    checks.extend(security.checks());
    let removed = security::members_removed(&removals);
    checks.push(Check {
        what: match removed.is_empty() {
            true => "the flooder's room kept every member".to_owned(),
            false => format!("the flooder's room lost members: {}", removed.join(", ")),
        },
        met: removed.is_empty(),
    });
    if let Some(dashboard) = dashboard {
        dashboard.stop(true).await;
    }
    front.stop().await;
    guarded.stop().await;
    steady.kill().await;
    flaky.kill().await;
    hung.stop();

    println!("\nsummary");
    for o in &outcomes {
        let got = o
            .removed_with
            .map_or("not removed".to_string(), |r| r.to_string());
        println!(
            "  [{}] {:<13} expected {:<28} got {got}",
            if o.met { "ok" } else { "FAIL" },
            o.who,
            o.expected
        );
    }
    for c in &checks {
        println!("  [{}] {}", if c.met { "ok" } else { "FAIL" }, c.what);
    }
    let passed = outcomes.iter().all(|o| o.met) && checks.iter().all(|c| c.met);
    println!("{}", if passed { "demo passed" } else { "demo FAILED" });
    Ok(passed)
}
