//! Raw echoes: packets answered with their own bytes go out in order with the replies,
//! wait behind deferred ones, and count against the byte budget like any reply.

use super::*;

#[test]
fn raw_echoes_go_out_as_they_came_in_order_with_replies() {
    let mut h = Harness::new(limits());
    h.send(&request(b'E', 0));
    h.raw(0);
    h.send(&request(b'E', 0));
    // Large (past `coalesce_below`) and most of the read buffer: queued without a copy.
    h.raw(2000);
    let sent: Vec<u8> = h.inbound.iter().copied().collect();
    h.feed_all();
    h.write_all();
    let kinds: Vec<(u8, u32)> = h.written().iter().map(|w| (w.0, w.1)).collect();
    assert_eq!(kinds, [(b'o', 0), (b'r', 0), (b'o', 1), (b'r', 1)]);
    // A reply is 7 bytes on the wire, a request 3: the small echo at 7 and 3.
    assert_eq!(h.wire[7..14], sent[3..10], "the small one byte for byte");
    assert_eq!(h.wire[h.wire.len() - 2007..], sent[sent.len() - 2007..]);
    let t = h.conn.traffic();
    assert_eq!(
        (t.received_packets, t.queued_packets, t.sent_packets),
        (4, 4, 4)
    );
    // The two replies are 4 bytes longer than their requests; the echoes as long.
    assert_eq!(t.sent_bytes, sent.len() as u64 + 8);
    h.check();
}

#[test]
fn raw_echoes_wait_behind_a_deferred_reply() {
    let mut h = Harness::new(limits());
    h.send(&request(b'D', 0));
    h.raw(0);
    h.raw(500);
    h.feed_all();
    assert_eq!(h.conn.held_replies(), 3);
    h.write_all();
    assert!(h.wire.is_empty(), "nothing overtakes the deferred reply");
    h.fill();
    h.write_all();
    let kinds: Vec<(u8, u32)> = h.written().iter().map(|w| (w.0, w.1)).collect();
    assert_eq!(kinds, [(b'o', 0), (b'r', 0), (b'r', 1)]);
    h.check();
}

#[test]
fn a_raw_echo_past_the_budget_is_refused_and_the_peer_removed_as_slow() {
    let mut h = Harness::new(limits());
    // One read holding more than `max_outbound_bytes` of echoes, never written.
    for _ in 0..30 {
        h.raw(3000);
    }
    h.feed_all();
    assert_eq!(h.removals, [RemovalReason::SlowConsumer]);
    let t = h.conn.traffic();
    assert_eq!(t.refused_packets, 1);
    assert!(t.queued_packets > 0);
    assert_eq!(
        t.dropped_packets, t.queued_packets,
        "everything queued is recorded as dropped"
    );
    let failures = h.conn.recent_failures(h.now, std::time::SystemTime::now());
    assert!(failures.iter().any(|f| matches!(
        f.reason,
        FailureReason::Refused(SendError::OverBudget { .. })
    )));
    h.check();
}
