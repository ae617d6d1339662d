//! End to end: `switchboard demo` runs its scripted cast against the real binary and
//! exits 0 only when every misbehaviour (a hanging backend included) led to the expected
//! removal, every member of its room got every message, and the member that dropped its
//! connection recovered what it missed.
//!
//! The demo grades itself (its `[ok]` lines), so the outcome is also checked from
//! outside: the front server's own figures, read over HTTP (`GET /stats` of `--http`)
//! while the demo runs, and the library's removal log lines on standard error.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::wait_exit;

/// The front server's removals of `protocol` for `reason` in a `/stats` snapshot.
fn removed(snap: &Value, protocol: &str, reason: &str) -> u64 {
    snap["protocols"][protocol]["removed"][reason]
        .as_u64()
        .unwrap_or(0)
}

/// Reads `from` line by line into a channel (so the test can look while it runs).
fn lines_of(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn the_demo_sees_every_expected_removal_and_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo", "--seconds", "12", "--http", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());

    // The dashboard's address is printed with the first table; from then on the front
    // server's figures are read from outside until the demo stops serving them.
    let mut out = Vec::new();
    let http: SocketAddr = loop {
        let line = stdout
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no dashboard address printed: {out:#?}"));
        let addr = line
            .strip_prefix("dashboard: http://")
            .and_then(|a| a.trim_end_matches('/').parse().ok());
        out.push(line);
        if let Some(addr) = addr {
            break addr;
        }
    };
    // The last snapshot before the dashboard stops is the one that counts.
    let mut last = Value::Null;
    while child.try_wait().unwrap().is_none() {
        match switchboard_testkit::http::try_get(http, "/stats") {
            Ok((200, body)) => last = serde_json::from_str(&body).unwrap(),
            _ => break,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = wait_exit(&mut child, "the demo", Duration::from_secs(60));
    out.extend(stdout.try_iter());
    let out = out.join("\n");
    let log: Vec<String> = stderr.try_iter().collect();
    assert!(status.success(), "demo failed:\n{out}");
    assert!(
        !out.contains('\x1b'),
        "no escape codes when stdout is not a terminal"
    );

    // Its own verdict.
    for line in [
        "[ok] bad-opcodes   expected error_packets",
        "got write_timeout",
        "[ok] falls-silent  expected idle",
        "[ok] hung-backend  expected health_check",
        "[ok] room-frame got every message published to lobby in order",
        "[ok] room-line got every message published to lobby in order",
        "[ok] room-listener got every message published to lobby in order",
        "[ok] room-returner got every message published to lobby in order",
        "[ok] room-returner dropped its connection at offset",
        "came back and recovered the",
        "[ok] room-listener only listened, answered",
        "and was never removed",
        "demo passed",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(
        out.contains("(bad-opcodes): error_packets"),
        "a removal line names its reason:\n{out}"
    );

    // The server's figures agree: each misbehaviour was a removal for its reason.
    assert!(removed(&last, "frame", "error_packets") >= 1, "{last}");
    assert!(removed(&last, "frame", "idle") >= 1, "{last}");
    assert!(removed(&last, "frame", "write_timeout") >= 1, "{last}");
    assert!(removed(&last, "backend", "health_check") >= 1, "{last}");
    assert_eq!(
        removed(&last, "line", "idle"),
        0,
        "the listener stayed: {last}"
    );
    assert!(
        last["send_failures_total"].as_u64() > Some(0),
        "the never-reading client's replies: {last}"
    );
    // The returning member's recovery, as the server counted it.
    assert!(
        last["history"]["recovered_total"].as_u64() >= Some(1),
        "a recovery: {last}"
    );
    assert_eq!(last["history"]["lost_total"], 0, "nothing lost: {last}");
    // And so does the library's log: a line for each kind of removal.
    for reason in [
        ": error_packets",
        ": idle",
        ": write_timeout",
        ": health_check",
    ] {
        let found = log
            .iter()
            .any(|l| l.contains("removed ") && l.contains(reason));
        assert!(
            found,
            "no removal logged with {reason:?}:\n{}",
            log.join("\n")
        );
    }
}
