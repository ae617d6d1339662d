//! The core under a TLS-like socket: bytes taken count as sent only once confirmed, a
//! graceful close waits for confirmation, and the handshake has its deadline.

use super::*;

#[test]
fn tls_sent_bytes_count_only_once_confirmed() {
    let mut h = Harness::with(ConnectionLimits::default(), true);
    h.send(&request(b'E', 10));
    h.send(&request(b'E', 10));
    h.feed_all();
    h.write_all();
    assert_eq!(h.wire.len(), 34);
    assert_eq!(
        h.conn.traffic().sent_bytes,
        0,
        "taken by TLS, not yet on the socket"
    );
    h.confirm(20);
    let t = h.conn.traffic();
    assert_eq!((t.sent_bytes, t.sent_packets), (20, 1));
    // The second packet's records never reach the socket.
    h.fail();
    let t = h.conn.traffic();
    assert_eq!((t.sent_packets, t.dropped_packets), (1, 1));
    h.check();
}

#[test]
fn a_graceful_close_over_tls_waits_for_confirmation() {
    let mut h = Harness::with(ConnectionLimits::default(), true);
    h.send(&request(b'E', 10));
    h.feed_all();
    h.close(RemovalReason::Closed);
    h.write_all();
    assert!(!h.shutdown_write, "records not yet written");
    h.confirm(usize::MAX);
    assert!(h.shutdown_write);
    h.check();
}

#[test]
fn a_late_tls_handshake_is_removed_at_its_deadline_without_a_flush() {
    let timeout = Duration::from_millis(700);
    let limits = ConnectionLimits::default().with_tls_handshake_timeout(timeout);
    let mut h = Harness::new(limits);
    let began = h.now;
    h.conn.handle_handshake_started(began);
    assert_eq!(h.conn.poll_timeout(), Some(began + timeout), "the deadline");
    // A millisecond before it, the connection is still open.
    h.advance(timeout - Duration::from_millis(1));
    assert!(h.removals.is_empty() && !h.stopped, "{:?}", h.removals);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.removals, [RemovalReason::TlsHandshake]);
    assert!(h.stopped && !h.shutdown_write);
}

#[test]
fn a_finished_handshake_clears_its_deadline() {
    let mut h = Harness::new(ConnectionLimits::default());
    h.conn.handle_handshake_started(h.now);
    h.conn.handle_handshake_done(h.now);
    assert_eq!(h.conn.poll_timeout(), None);
}
