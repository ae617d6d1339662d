//! Smoke test of `switchboard bench`: each scenario once, at a tiny size, through the
//! real binary against a real server. It checks that the figures are there and right
//! (replies counted, fan-out complete and in order, the slow client removed; the
//! server's CPU time and memory within what the test reads from `/proc` itself, and
//! the derived figures consistent with the ones they come from), never how fast
//! anything was: speed belongs in BENCHMARKS.md.

mod support;

use serde_json::Value;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;
use support::{wait_exit, Server};
use switchboard_testkit::process as status;

/// How long one bench run may take before the test fails.
const BENCH_WAIT: Duration = Duration::from_secs(30);

/// Runs `switchboard bench` with `args`; returns (status, stdout, stderr).
fn bench(args: &[&str]) -> (ExitStatus, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("bench")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(
        &mut child,
        &format!("switchboard bench {args:?}"),
        BENCH_WAIT,
    );
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

/// Runs a scenario that must succeed; returns its one JSON line.
fn figures(server: &Server, scenario: &[&str]) -> Value {
    figures_at(server.frame, server.pid(), scenario)
}

/// Clock ticks per second of `/proc/PID/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(ticks > 0, "no clock tick rate");
    ticks as f64
}

/// Runs a scenario against `server` as [`figures`] does, and reads from `/proc` itself,
/// around the whole run, the CPU seconds the server used and its peak memory (KiB): a
/// bench figure measured within the run cannot be above them.
fn figures_measured(server: &Server, scenario: &[&str]) -> (Value, f64, u64) {
    let cpu = || status::cpu_ticks(server.pid()).expect("the server's CPU ticks");
    let before = cpu();
    let json = figures(server, scenario);
    let used = (cpu() - before) as f64 / ticks_per_second();
    (json, used, server.status_kib("VmHWM"))
}

/// The server's CPU seconds the bench reports, checked against what the test measured
/// around the run (one tick of slack for the bench's own reading); `count` divided by
/// it is `per_cpu_key`.
fn check_server_cpu(json: &Value, measured: f64, count: &str, per_cpu_key: &str) -> f64 {
    let cpu = number(json, "server_cpu_s");
    let tick = 1.0 / ticks_per_second();
    assert!(
        cpu <= measured + tick + 0.001,
        "server_cpu_s {cpu} above the {measured} s measured around the run: {json}"
    );
    let per_cpu = number(json, per_cpu_key);
    let expected = if cpu > 0.0 {
        number(json, count) / cpu
    } else {
        0.0
    };
    assert!(
        (per_cpu - expected).abs() <= 0.001 + expected * 1e-9,
        "{per_cpu_key} {per_cpu} is not {count} / server_cpu_s = {expected}: {json}"
    );
    cpu
}

/// Runs a scenario that must succeed against the server at `addr` (process `pid`).
fn figures_at(addr: std::net::SocketAddr, pid: u32, scenario: &[&str]) -> Value {
    let addr = addr.to_string();
    let pid = pid.to_string();
    let mut args = scenario.to_vec();
    args.extend(["--addr", &addr, "--pid", &pid, "--threads", "1"]);
    let (status, out, err) = bench(&args);
    assert!(status.success(), "{args:?} failed: {err}");
    assert!(
        err.is_empty(),
        "progress must stay quiet off a terminal: {err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line expected: {out}");
    serde_json::from_str(lines[0]).unwrap()
}

fn number(json: &Value, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing or not a number: {json}"))
}

#[test]
fn echo_counts_replies_and_latency() {
    let server = Server::start("");
    let (json, measured_cpu, _) = figures_measured(
        &server,
        &[
            "echo",
            "--conns",
            "2",
            "--size",
            "16",
            "--window",
            "2",
            "--duration-s",
            "0.3",
        ],
    );
    assert_eq!(json["scenario"], "echo");
    assert!(number(&json, "frames") > 0.0, "{json}");
    assert!(number(&json, "frames_per_s") > 0.0, "{json}");
    let (p50, p99, max) = (
        number(&json, "p50_us"),
        number(&json, "p99_us"),
        number(&json, "max_us"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{json}");
    // Each round trip to the reply's arrival is at most the one to its read.
    let (a50, a99) = (
        number(&json, "arrival_p50_us"),
        number(&json, "arrival_p99_us"),
    );
    assert!(0.0 < a50 && a50 <= p50 && a99 <= p99, "{json}");
    // The shares of the connections with the fewest and the most replies bracket the
    // mean (1), and with two connections they add up to 2.
    let (fewest, most) = (
        number(&json, "fewest_conn_share"),
        number(&json, "most_conn_share"),
    );
    assert!(0.0 < fewest && fewest <= 1.0 && 1.0 <= most, "{json}");
    assert!((fewest + most - 2.0).abs() < 0.01, "{json}");
    // 0.3 s of echoes at a window of 2 costs the server more than a clock tick.
    let cpu = check_server_cpu(&json, measured_cpu, "frames", "frames_per_server_cpu_s");
    assert!(cpu > 0.0, "the server did the echoing: {json}");
}

#[test]
fn fanout_reaches_everyone_in_order() {
    let server = Server::start("");
    let json = figures(
        &server,
        &["fanout", "--conns", "3", "--frames", "20", "--size", "8"],
    );
    assert_eq!(json["in_order"], true, "{json}");
    assert_eq!(number(&json, "deliveries"), 60.0);
    assert_eq!(number(&json, "expected_deliveries"), 60.0);
    assert!(number(&json, "deliveries_per_s") > 0.0);
}

/// `bench echo --rate 2000` over 2 connections for 0.5 s.
const PACED: &[&str] = &[
    "echo",
    "--conns",
    "2",
    "--size",
    "16",
    "--rate",
    "2000",
    "--duration-s",
    "0.5",
];

/// The figures of a paced run: every frame of the schedule sent and answered, the
/// percentiles in order, and the round trips to arrival no longer than to the read.
fn assert_paced(json: &Value) {
    assert_eq!(number(json, "offered_per_s"), 2000.0, "{json}");
    assert!(
        json.get("window").is_none(),
        "no window at a fixed rate: {json}"
    );
    // 1000 frames a second on each connection for 0.5 s, the second connection's
    // schedule half an interval later: 500 each, all answered.
    let frames = number(json, "frames");
    assert!((999.0..=1000.0).contains(&frames), "{json}");
    assert_eq!(number(json, "skipped"), 0.0, "{json}");
    let (p50, p99, p999, max) = (
        number(json, "p50_us"),
        number(json, "p99_us"),
        number(json, "p999_us"),
        number(json, "max_us"),
    );
    assert!(
        0.0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= max,
        "{json}"
    );
    let (a50, a99) = (
        number(json, "arrival_p50_us"),
        number(json, "arrival_p99_us"),
    );
    assert!(0.0 < a50 && a50 <= a99 && a99 <= max, "{json}");
    assert!(number(json, "send_lag_p99_us") >= 0.0, "{json}");
}

#[test]
fn echo_at_a_fixed_rate_sends_the_schedule() {
    let server = Server::start("");
    let (json, measured_cpu, _) = figures_measured(&server, PACED);
    assert_paced(&json);
    check_server_cpu(&json, measured_cpu, "frames", "frames_per_server_cpu_s");
    // What the scheduler did to the server: it slept between requests.
    assert!(number(&json, "server_voluntary_switches") > 0.0, "{json}");
    assert!(number(&json, "server_runqueue_wait_s") >= 0.0, "{json}");
}

/// A server built with the `probe` feature prints, at shutdown, where the requests'
/// time went: every echoed frame is in its histograms.
#[cfg(feature = "probe")]
#[test]
fn the_probe_reports_every_echo_at_shutdown() {
    let mut server = Server::start("");
    let json = figures(&server, PACED);
    let frames = number(&json, "frames");
    server.signal(libc::SIGTERM);
    let line = loop {
        let line = server
            .stdout
            .recv_timeout(Duration::from_secs(10))
            .expect("a probe line before the server's stdout ends");
        if let Some(probe) = line.strip_prefix("probe ") {
            break probe.to_owned();
        }
    };
    assert!(server.wait_exit().success());
    let probe: Value = serde_json::from_str(&line).unwrap();
    // The PING of each connection's handshake is a request too.
    let turn = number(&probe["turn"], "requests");
    assert!(
        turn >= frames && turn <= frames + 2.0,
        "{frames} frames: {probe}"
    );
    let threads: f64 = probe["per_thread"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_f64().unwrap())
        .sum();
    assert_eq!(threads, turn, "{probe}");
    let (wait, total) = (&probe["wait"], &probe["total"]);
    assert!(
        number(wait, "requests") > 0.0,
        "plain TCP reads are stamped: {probe}"
    );
    assert!(number(total, "p99_us") >= number(wait, "p99_us"), "{probe}");
    assert!(
        number(total, "max_us") >= number(&probe["turn"], "p50_us"),
        "{probe}"
    );
}

#[test]
fn echo_rate_must_give_each_connection_a_frame() {
    let server = Server::start("");
    let (addr, pid) = (server.frame.to_string(), server.pid().to_string());
    for rate in ["0", "1", "NaN", "inf"] {
        let (status, out, err) = bench(&[
            "echo",
            "--conns",
            "10",
            "--rate",
            rate,
            "--duration-s",
            "0.5",
            "--addr",
            &addr,
            "--pid",
            &pid,
        ]);
        assert!(!status.success(), "--rate {rate}: {out}");
        assert!(err.contains("--rate"), "--rate {rate}: {err}");
    }
}

#[test]
fn the_actix_peer_serves_every_scenario_but_slow() {
    let server = Baseline::start_bin("baseline-actix");
    let pid = server.child.id();
    let json = figures_at(server.frame, pid, PACED);
    assert_paced(&json);
    let json = figures_at(
        server.frame,
        pid,
        &["fanout", "--conns", "3", "--frames", "20", "--size", "8"],
    );
    assert_eq!(json["in_order"], true, "{json}");
    assert_eq!(number(&json, "deliveries"), 60.0, "{json}");
    let before = status::cpu_ticks(pid).unwrap();
    let json = figures_at(server.frame, pid, ROOMS);
    let measured_cpu = (status::cpu_ticks(pid).unwrap() - before) as f64 / ticks_per_second();
    assert_rooms_complete(&json, measured_cpu);
}

/// A hand-written peer of the `baseline-server` package (`baseline-server` on plain
/// tokio, or `baseline-actix`), killed on drop.
struct Baseline {
    child: std::process::Child,
    frame: std::net::SocketAddr,
    /// Its WebSocket listener (`--ws-frame`: `baseline-server` only).
    ws_frame: Option<std::net::SocketAddr>,
}

impl Baseline {
    /// Starts the batching baseline.
    fn start() -> Baseline {
        Baseline::start_bin("baseline-server")
    }

    /// Starts the peer called `name`, built beside this package's binary; a workspace
    /// test run builds it, a run of this file alone builds it first.
    fn start_bin(name: &str) -> Baseline {
        let exe = std::path::Path::new(env!("CARGO_BIN_EXE_switchboard"))
            .with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if !exe.exists() {
            let built = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "baseline-server"])
                .status()
                .unwrap();
            assert!(built.success(), "cargo build -p baseline-server failed");
        }
        let ws = name == "baseline-server";
        let mut command = Command::new(&exe);
        command.args(["--frame", "127.0.0.1:0", "--workers", "2"]);
        if ws {
            command.args(["--ws-frame", "127.0.0.1:0"]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", exe.display()));
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut listening = |name: &str| {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
            line.strip_prefix(&format!("listening {name} "))
                .unwrap_or_else(|| panic!("unexpected line {line:?}"))
                .trim()
                .parse()
                .unwrap()
        };
        let frame = listening("frame");
        let ws_frame = ws.then(|| listening("ws_frame"));
        Baseline {
            child,
            frame,
            ws_frame,
        }
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The smaller `rooms` of the smoke tests: 10 groups of 4, two publishers each.
const ROOMS: &[&str] = &[
    "rooms",
    "--conns",
    "40",
    "--group-size",
    "4",
    "--publishers",
    "2",
    "--messages",
    "25",
    "--size",
    "16",
];

fn assert_rooms_complete(json: &Value, measured_cpu: f64) {
    assert_eq!(json["scenario"], "rooms", "{json}");
    assert_eq!(json["in_order"], true, "{json}");
    assert_eq!(number(json, "groups"), 10.0);
    // 10 groups x 2 publishers x 25 messages x 3 other members.
    assert_eq!(number(json, "expected_deliveries"), 1500.0);
    assert_eq!(number(json, "deliveries"), 1500.0, "{json}");
    assert!(number(json, "deliveries_per_s") > 0.0, "{json}");
    check_server_cpu(
        json,
        measured_cpu,
        "deliveries",
        "deliveries_per_server_cpu_s",
    );
}

#[test]
fn rooms_reaches_every_member_in_order_on_switchboard() {
    let server = Server::start("");
    let (json, measured_cpu, _) = figures_measured(&server, ROOMS);
    assert_rooms_complete(&json, measured_cpu);
}

#[test]
fn rooms_with_history_checks_the_offsets_too() {
    let server = Server::start("history_size = 100");
    let mut rooms = ROOMS.to_vec();
    rooms.push("--history");
    let (json, measured_cpu, _) = figures_measured(&server, &rooms);
    assert_eq!(json["history"], true, "{json}");
    assert_rooms_complete(&json, measured_cpu);
    // Without history on the server, the forms do not match and the run fails.
    let plain = Server::start("");
    let addr = plain.frame.to_string();
    let mut args = rooms.clone();
    args.extend(["--addr", &addr, "--threads", "1"]);
    let (status, _, err) = bench(&args);
    assert!(
        !status.success() && err.contains("expected JOINED"),
        "{err}"
    );
}

#[test]
fn history_measures_memory_per_message_and_recovery() {
    let server = Server::start("history_size = 1000");
    let json = figures(
        &server,
        &[
            "history",
            "--groups",
            "4",
            "--messages",
            "200",
            "--size",
            "100",
            "--recoveries",
            "3",
        ],
    );
    assert_eq!(json["scenario"], "history", "{json}");
    // Four groups of 200, and three of 200 more for the recoveries.
    assert!(number(&json, "kept_messages") >= 800.0, "{json}");
    assert_eq!(
        number(&json, "kept_bytes"),
        number(&json, "kept_messages") * 100.0
    );
    assert!(number(&json, "rss_after_kib") >= number(&json, "rss_before_kib"));
    assert!(json["rss_per_message_bytes"].is_number(), "{json}");
    assert_eq!(number(&json, "recoveries"), 3.0);
    let (p50, max) = (
        number(&json, "recover_p50_ms"),
        number(&json, "recover_max_ms"),
    );
    assert!(p50 > 0.0 && p50 <= max, "{json}");
    assert!(number(&json, "replayed_per_s") > 0.0, "{json}");
    // A server without history is refused, naming what to do.
    let plain = Server::start("");
    let addr = plain.frame.to_string();
    let (status, _, err) = bench(&["history", "--addr", &addr]);
    assert!(!status.success() && err.contains("history_size"), "{err}");
}

#[test]
fn rooms_reaches_every_member_in_order_on_the_baseline() {
    let server = Baseline::start();
    let pid = server.child.id();
    let before = status::cpu_ticks(pid).unwrap();
    let json = figures_at(server.frame, pid, ROOMS);
    let measured_cpu = (status::cpu_ticks(pid).unwrap() - before) as f64 / ticks_per_second();
    assert_rooms_complete(&json, measured_cpu);
}

#[test]
fn idle_measures_server_memory() {
    let server = Server::start("");
    let (json, _, peak_kib) =
        figures_measured(&server, &["idle", "--conns", "20", "--settle-s", "0"]);
    assert_eq!(number(&json, "conns"), 20.0);
    let (before, after) = (
        number(&json, "rss_before_kib"),
        number(&json, "rss_after_kib"),
    );
    // The server's memory, in KiB: a running process's, and never above its peak.
    assert!(before > 0.0 && after > 0.0, "{json}");
    assert!(
        before <= peak_kib as f64 && after <= peak_kib as f64,
        "above the server's peak of {peak_kib} KiB: {json}"
    );
    let per_conn = (after - before).max(0.0) * 1024.0 / 20.0;
    assert!(
        (number(&json, "rss_per_conn_bytes") - per_conn).abs() < 0.001,
        "rss_per_conn_bytes is not the growth over 20 conns ({per_conn}): {json}"
    );
}

#[test]
fn slow_client_is_removed_and_others_go_on() {
    let server = Server::start("write_timeout_ms = 300");
    let (json, _, peak_kib) = figures_measured(
        &server,
        &[
            "slow",
            "--conns",
            "3",
            "--size",
            "16",
            "--window",
            "2",
            "--duration-s",
            "1.5",
        ],
    );
    assert!(number(&json, "others_frames") > 0.0, "{json}");
    let closed = number(&json, "slow_closed_after_s");
    assert!(closed > 0.0 && closed <= 1.5, "{json}");
    // The server's memory as sampled during the run: a running process's, never above
    // its peak, and the growth is the difference. The kernel counts resident pages per
    // thread and folds them into the process's figure every 64 page faults, so a
    // sample may run ahead of the peak it reports later by up to 64 pages a thread:
    // 1 MiB of slack covers the server's threads; a bench reading the wrong figure is
    // off by far more.
    let (start, max) = (number(&json, "rss_start_kib"), number(&json, "rss_max_kib"));
    assert!(0.0 < start && start <= max, "{json}");
    assert!(
        max <= peak_kib as f64 + 1024.0,
        "above the server's peak of {peak_kib} KiB: {json}"
    );
    assert_eq!(number(&json, "rss_growth_kib"), max - start, "{json}");
    assert!(number(&json, "slow_sent_bytes") > 0.0, "{json}");
}

#[test]
fn idle_without_pid_is_refused() {
    let (status, out, err) = bench(&["idle", "--addr", "127.0.0.1:9", "--conns", "1"]);
    assert_eq!(status.code(), Some(1));
    assert!(out.is_empty());
    assert!(err.contains("--pid"), "{err}");
}

/// A server whose connections must authenticate: `bench-token` is an admin's.
const WITH_USERS: &str = "[[users]]\nname = \"bench\"\ntoken = \"bench-token\"\nadmin = true\n";

#[test]
fn with_a_token_every_scenario_authenticates_first() {
    let config = format!("ws_frame = \"127.0.0.1:0\"\n{WITH_USERS}");
    let server = Server::start_with_args(&config, &["--metrics", "127.0.0.1:0"]);
    let echo = figures(
        &server,
        &[
            "echo",
            "--conns",
            "2",
            "--size",
            "64",
            "--window",
            "4",
            "--duration-s",
            "0.3",
            "--token",
            "bench-token",
        ],
    );
    assert!(number(&echo, "frames") > 0.0, "{echo}");
    let fanout = figures(
        &server,
        &[
            "fanout",
            "--conns",
            "5",
            "--frames",
            "20",
            "--size",
            "16",
            "--token",
            "bench-token",
        ],
    );
    assert_eq!(fanout["in_order"], true, "{fanout}");
    let idle = figures(
        &server,
        &[
            "idle",
            "--conns",
            "20",
            "--settle-s",
            "0.1",
            "--token",
            "bench-token",
        ],
    );
    assert_eq!(number(&idle, "conns"), 20.0, "{idle}");
    // Over WebSocket too: AUTH, then the scenario.
    let ws = figures_at(
        server.ws_frame.expect("ws_frame listening"),
        server.pid(),
        &[
            "echo",
            "--ws",
            "--conns",
            "2",
            "--size",
            "64",
            "--duration-s",
            "0.3",
            "--token",
            "bench-token",
        ],
    );
    assert!(number(&ws, "frames") > 0.0, "{ws}");
    // They were all authenticated: nothing was refused or timed out.
    let stats = support::http_stats(server.metrics.unwrap());
    assert_eq!(stats["removed_total"]["unauthorized"], 0, "{stats}");
    assert_eq!(stats["removed_total"]["auth_timeout"], 0, "{stats}");
    // A wrong token stops the run, saying why and not what the token was.
    let (status, out, err) = bench(&[
        "echo",
        "--conns",
        "1",
        "--duration-s",
        "0.2",
        "--addr",
        &server.frame.to_string(),
        "--token",
        "guessed-token",
    ]);
    assert!(!status.success(), "{out}");
    assert!(err.contains("AUTH refused: unauthorized"), "{err}");
    assert!(!err.contains("guessed-token"), "{err}");
    // Without one, a server with users refuses the first request.
    let (status, _, err) = bench(&[
        "echo",
        "--conns",
        "1",
        "--duration-s",
        "0.2",
        "--addr",
        &server.frame.to_string(),
    ]);
    assert!(!status.success());
    assert!(err.contains("authentication required"), "{err}");
}

/// The WebSocket scenarios at a tiny size, against `addr` (a `ws_frame` listener) of
/// process `pid`: echo of 64 B and 16 KiB messages and a fan-out, each complete.
fn websocket_scenarios(addr: std::net::SocketAddr, pid: u32) {
    for size in ["64", "16384"] {
        let json = figures_at(
            addr,
            pid,
            &[
                "echo",
                "--ws",
                "--conns",
                "2",
                "--size",
                size,
                "--window",
                "4",
                "--duration-s",
                "0.5",
            ],
        );
        assert_eq!(json["scenario"], "echo", "{json}");
        assert!(number(&json, "frames") > 0.0, "{json}");
        assert_eq!(number(&json, "size"), size.parse::<f64>().unwrap());
    }
    let json = figures_at(
        addr,
        pid,
        &[
            "fanout", "--ws", "--conns", "5", "--frames", "20", "--size", "64",
        ],
    );
    assert_eq!(json["in_order"], true, "{json}");
    assert_eq!(number(&json, "deliveries"), 100.0, "{json}");
    let json = figures_at(
        addr,
        pid,
        &["idle", "--ws", "--conns", "20", "--settle-s", "0"],
    );
    assert_eq!(number(&json, "conns"), 20.0, "{json}");
    assert!(number(&json, "rss_after_kib") > 0.0, "{json}");
}

#[test]
fn websocket_scenarios_run_on_switchboard() {
    let server = Server::start("ws_frame = \"127.0.0.1:0\"");
    websocket_scenarios(server.ws_frame.expect("ws_frame listening"), server.pid());
    // On a stream listener the handshake is answered as a frame: a clear failure.
    let (status, _, err) = bench(&[
        "echo",
        "--ws",
        "--addr",
        &server.frame.to_string(),
        "--duration-s",
        "0.2",
    ]);
    assert!(!status.success());
    assert!(
        err.contains("not upgraded") || err.contains("WebSocket"),
        "{err}"
    );
}

#[test]
fn websocket_scenarios_run_on_the_baseline() {
    let server = Baseline::start();
    let ws_frame = server.ws_frame.expect("ws_frame listening");
    websocket_scenarios(ws_frame, server.child.id());
}

#[test]
fn websocket_is_refused_where_a_scenario_does_not_speak_it() {
    let (status, _, err) = bench(&["slow", "--ws", "--addr", "127.0.0.1:9"]);
    assert!(!status.success());
    assert!(err.contains("--ws is for echo, fanout and idle"), "{err}");
}
