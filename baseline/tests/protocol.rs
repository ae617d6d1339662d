//! The baseline servers against the `frame` rules the benchmarks rely on: they must be
//! correct opponents before they are fast ones. `baseline-actix` passes the same tests
//! except where it keeps no order between a connection's replies and its own copies of
//! its broadcasts and publishes (they go round through its registry actor).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

struct Baseline {
    child: Child,
    addr: SocketAddr,
}

impl Baseline {
    fn start() -> Baseline {
        Baseline::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Baseline {
        Baseline::start_bin(env!("CARGO_BIN_EXE_baseline-server"), extra)
    }

    fn actix() -> Baseline {
        Baseline::start_bin(env!("CARGO_BIN_EXE_baseline-actix"), &[])
    }

    fn start_bin(bin: &str, extra: &[&str]) -> Baseline {
        let mut child = Command::new(bin)
            .args(["--frame", "127.0.0.1:0", "--workers", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .strip_prefix("listening frame ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .trim()
            .parse()
            .unwrap();
        Baseline { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr, WAIT).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(opcode);
    out.extend_from_slice(payload);
    out
}

fn recv(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).unwrap();
    let payload = body.split_off(1);
    (body[0], payload)
}

fn assert_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        // A read timeout is a connection still open, not a closed one.
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("still open after {WAIT:?}")
        }
        Err(_) => {}
        Ok(n) => panic!("still open, read {n} bytes"),
    }
}

#[test]
fn echo_ping_and_stats() {
    echo_ping_and_stats_of(Baseline::start());
}

#[test]
fn actix_echo_ping_and_stats() {
    echo_ping_and_stats_of(Baseline::actix());
}

fn echo_ping_and_stats_of(server: Baseline) {
    let mut c = server.connect();
    let mut burst = frame(0x01, b"one");
    burst.extend(frame(0x03, b"p"));
    burst.extend(frame(0x01, &[7u8; 3000]));
    burst.extend(frame(0x05, b""));
    c.write_all(&burst).unwrap();
    assert_eq!(recv(&mut c), (0x01, b"one".to_vec()));
    assert_eq!(recv(&mut c), (0x04, b"p".to_vec()));
    assert_eq!(recv(&mut c), (0x01, vec![7u8; 3000]));
    let (op, json) = recv(&mut c);
    assert_eq!(op, 0x06);
    let json = String::from_utf8(json).unwrap();
    assert!(json.contains("\"connections\":{\"frame\":1}"), "{json}");
}

#[test]
fn broadcast_reaches_everyone_in_order() {
    broadcast_in_order(Baseline::start(), true);
}

#[test]
fn per_frame_mode_answers_the_same() {
    broadcast_in_order(Baseline::start_with(&["--per-frame"]), true);
}

#[test]
fn pinned_mode_answers_the_same() {
    broadcast_in_order(Baseline::start_with(&["--pinned"]), true);
    echo_ping_and_stats_of(Baseline::start_with(&["--pinned"]));
}

#[test]
fn actix_broadcast_reaches_everyone_in_order() {
    broadcast_in_order(Baseline::actix(), false);
}

/// `own_first`: the sender gets its own copies before the reply to what it sent next.
fn broadcast_in_order(server: Baseline, own_first: bool) {
    let mut a = server.connect();
    let mut b = server.connect();
    for c in [&mut a, &mut b] {
        c.write_all(&frame(0x03, b"ready")).unwrap();
        assert_eq!(recv(c).0, 0x04);
    }
    let mut burst = Vec::new();
    for i in 0..100u8 {
        burst.extend(frame(0x02, &[i; 10]));
    }
    burst.extend(frame(0x01, b"after"));
    a.write_all(&burst).unwrap();
    let mut after = false;
    for i in 0..100u8 {
        assert_eq!(recv(&mut b), (0x02, vec![i; 10]));
        let mut got = recv(&mut a);
        if !own_first && !after && got == (0x01, b"after".to_vec()) {
            after = true;
            got = recv(&mut a);
        }
        assert_eq!(got, (0x02, vec![i; 10]));
    }
    if !after {
        assert_eq!(recv(&mut a), (0x01, b"after".to_vec()));
    }
}

#[test]
fn three_error_packets_close() {
    three_error_packets_close_of(Baseline::start());
}

#[test]
fn actix_three_error_packets_close() {
    three_error_packets_close_of(Baseline::actix());
}

fn three_error_packets_close_of(server: Baseline) {
    let mut c = server.connect();
    c.write_all(&[0, 0, 0, 0]).unwrap();
    assert_eq!(recv(&mut c), (0x7F, b"empty frame".to_vec()));
    c.write_all(&frame(0x42, b"")).unwrap();
    assert_eq!(recv(&mut c), (0x7F, b"unknown opcode 0x42".to_vec()));
    c.write_all(&frame(0x7F, b"")).unwrap();
    assert_eq!(recv(&mut c).0, 0x7F);
    assert_closed(&mut c);
}

#[test]
fn oversize_frame_closes_at_once() {
    oversize_frame_closes_of(Baseline::start());
}

#[test]
fn actix_oversize_frame_closes_at_once() {
    oversize_frame_closes_of(Baseline::actix());
}

fn oversize_frame_closes_of(server: Baseline) {
    let mut c = server.connect();
    c.write_all(&(65537u32).to_be_bytes()).unwrap();
    assert_eq!(recv(&mut c), (0x7F, b"frame too large".to_vec()));
    assert_closed(&mut c);
}

fn publish(name: &[u8], message: &[u8]) -> Vec<u8> {
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(message);
    frame(0x0E, &payload)
}

#[test]
fn publish_reaches_the_members_in_order_and_not_after_leave() {
    let server = Baseline::start();
    let (mut a, mut b, mut outsider) = (server.connect(), server.connect(), server.connect());
    for c in [&mut a, &mut b] {
        c.write_all(&frame(0x0A, b"room")).unwrap();
        assert_eq!(recv(c), (0x0B, b"room".to_vec()));
    }
    // Joining again changes nothing.
    b.write_all(&frame(0x0A, b"room")).unwrap();
    assert_eq!(recv(&mut b), (0x0B, b"room".to_vec()));
    let mut burst = Vec::new();
    for i in 0..50u8 {
        burst.extend(publish(b"room", &[i; 3]));
    }
    burst.extend(frame(0x03, b"after"));
    a.write_all(&burst).unwrap();
    for i in 0..50u8 {
        assert_eq!(
            recv(&mut a),
            (0x0F, publish(b"room", &[i; 3])[5..].to_vec())
        );
    }
    assert_eq!(recv(&mut a), (0x04, b"after".to_vec()), "own copies first");
    outsider.write_all(&publish(b"room", b"out")).unwrap();
    let out = publish(b"room", b"out")[5..].to_vec();
    assert_eq!(recv(&mut a), (0x0F, out.clone()));
    for i in 0..50u8 {
        assert_eq!(
            recv(&mut b),
            (0x0F, publish(b"room", &[i; 3])[5..].to_vec())
        );
    }
    assert_eq!(recv(&mut b), (0x0F, out));
    b.write_all(&frame(0x0C, b"room")).unwrap();
    assert_eq!(recv(&mut b), (0x0D, b"room".to_vec()));
    a.write_all(&publish(b"room", b"gone")).unwrap();
    assert_eq!(
        recv(&mut a),
        (0x0F, publish(b"room", b"gone")[5..].to_vec())
    );
    b.write_all(&frame(0x03, b"x")).unwrap();
    assert_eq!(recv(&mut b), (0x04, b"x".to_vec()), "nothing after LEFT");
}

#[test]
fn actix_publish_reaches_the_members_in_order_and_not_after_leave() {
    let server = Baseline::actix();
    let (mut a, mut b) = (server.connect(), server.connect());
    for c in [&mut a, &mut b] {
        c.write_all(&frame(0x0A, b"room")).unwrap();
        assert_eq!(recv(c), (0x0B, b"room".to_vec()));
    }
    let mut burst = Vec::new();
    for i in 0..50u8 {
        burst.extend(publish(b"room", &[i; 3]));
    }
    a.write_all(&burst).unwrap();
    for c in [&mut a, &mut b] {
        for i in 0..50u8 {
            assert_eq!(recv(c), (0x0F, publish(b"room", &[i; 3])[5..].to_vec()));
        }
    }
    b.write_all(&frame(0x0C, b"room")).unwrap();
    assert_eq!(recv(&mut b), (0x0D, b"room".to_vec()));
    a.write_all(&publish(b"room", b"gone")).unwrap();
    assert_eq!(
        recv(&mut a),
        (0x0F, publish(b"room", b"gone")[5..].to_vec())
    );
    b.write_all(&frame(0x03, b"x")).unwrap();
    assert_eq!(recv(&mut b), (0x04, b"x".to_vec()), "nothing after LEFT");
}

#[test]
fn bad_group_names_are_error_packets() {
    bad_group_names_of(Baseline::start());
}

#[test]
fn actix_bad_group_names_are_error_packets() {
    bad_group_names_of(Baseline::actix());
}

fn bad_group_names_of(server: Baseline) {
    let mut c = server.connect();
    c.write_all(&frame(0x0A, b"no spaces")).unwrap();
    assert_eq!(recv(&mut c), (0x7F, b"bad group name".to_vec()));
    c.write_all(&frame(0x0E, &[9, b'a'])).unwrap();
    assert_eq!(recv(&mut c), (0x7F, b"bad name_len".to_vec()));
    c.write_all(&frame(0x0A, &[b'x'; 65])).unwrap();
    assert_eq!(recv(&mut c).0, 0x7F);
    assert_closed(&mut c);
}
