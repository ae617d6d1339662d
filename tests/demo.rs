//! End to end: `switchboard demo` runs its scripted cast against the real binary and
//! exits 0 only when every misbehaviour (a hanging backend included) led to the expected
//! removal and every member of its room got every message.

use std::process::{Command, Stdio};
use std::time::Duration;
use switchboard_testkit::wait_exit;

#[test]
fn the_demo_sees_every_expected_removal_and_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["demo", "--seconds", "12"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, "the demo", Duration::from_secs(60));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "demo failed:\n{out}");
    assert!(
        !out.contains('\x1b'),
        "no escape codes when stdout is not a terminal"
    );
    for line in [
        "[ok] bad-opcodes   expected error_packets",
        "got write_timeout",
        "[ok] falls-silent  expected idle",
        "[ok] hung-backend  expected health_check",
        "[ok] room-frame got every message published to lobby in order",
        "[ok] room-line got every message published to lobby in order",
        "[ok] room-listener got every message published to lobby in order",
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
}
