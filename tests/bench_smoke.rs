//! Smoke test of `switchboard bench`: each scenario once, at a tiny size, through the
//! real binary against a real server. It checks that the figures are there and sane
//! (replies counted, fan-out complete and in order, the slow client removed), never
//! how fast anything was: speed belongs in BENCHMARKS.md.

mod support;

use serde_json::Value;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;
use support::{wait_exit, Server};

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
    let json = figures(
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
    assert!(number(&json, "server_cpu_s") >= 0.0);
    assert!(number(&json, "frames_per_server_cpu_s") >= 0.0);
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

/// The baseline server (the `baseline-server` package, plain tokio), killed on drop.
struct Baseline {
    child: std::process::Child,
    frame: std::net::SocketAddr,
}

impl Baseline {
    /// Starts the baseline server built beside this package's binary; a workspace
    /// test run builds it, a run of this file alone builds it first.
    fn start() -> Baseline {
        let exe = std::path::Path::new(env!("CARGO_BIN_EXE_switchboard"))
            .with_file_name(format!("baseline-server{}", std::env::consts::EXE_SUFFIX));
        if !exe.exists() {
            let built = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", "baseline-server"])
                .status()
                .unwrap();
            assert!(built.success(), "cargo build -p baseline-server failed");
        }
        let mut child = Command::new(&exe)
            .args(["--frame", "127.0.0.1:0", "--workers", "2"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} did not start: {e}", exe.display()));
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let frame = line
            .strip_prefix("listening frame ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .parse()
            .unwrap();
        Baseline { child, frame }
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

fn assert_rooms_complete(json: &Value) {
    assert_eq!(json["scenario"], "rooms", "{json}");
    assert_eq!(json["in_order"], true, "{json}");
    assert_eq!(number(json, "groups"), 10.0);
    // 10 groups x 2 publishers x 25 messages x 3 other members.
    assert_eq!(number(json, "expected_deliveries"), 1500.0);
    assert_eq!(number(json, "deliveries"), 1500.0, "{json}");
    assert!(number(json, "deliveries_per_s") > 0.0, "{json}");
    assert!(number(json, "server_cpu_s") >= 0.0, "{json}");
}

#[test]
fn rooms_reaches_every_member_in_order_on_switchboard() {
    let server = Server::start("");
    assert_rooms_complete(&figures(&server, ROOMS));
}

#[test]
fn rooms_reaches_every_member_in_order_on_the_baseline() {
    let server = Baseline::start();
    assert_rooms_complete(&figures_at(server.frame, server.child.id(), ROOMS));
}

#[test]
fn idle_measures_server_memory() {
    let server = Server::start("");
    let json = figures(&server, &["idle", "--conns", "20", "--settle-s", "0"]);
    assert_eq!(number(&json, "conns"), 20.0);
    assert!(number(&json, "rss_after_kib") > 0.0, "{json}");
    assert!(number(&json, "rss_per_conn_bytes") >= 0.0, "{json}");
}

#[test]
fn slow_client_is_removed_and_others_go_on() {
    let server = Server::start("write_timeout_ms = 300");
    let json = figures(
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
    assert!(number(&json, "rss_growth_kib") >= 0.0, "{json}");
    assert!(number(&json, "slow_sent_bytes") > 0.0, "{json}");
}

#[test]
fn idle_without_pid_is_refused() {
    let (status, out, err) = bench(&["idle", "--addr", "127.0.0.1:9", "--conns", "1"]);
    assert_eq!(status.code(), Some(1));
    assert!(out.is_empty());
    assert!(err.contains("--pid"), "{err}");
}
