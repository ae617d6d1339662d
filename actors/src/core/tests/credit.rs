//! Publish credit: the owner's "too many published bytes in flight" input pauses
//! reading, independently of the outbound watermarks, and only while the connection is
//! open.

use super::*;

#[test]
fn reading_pauses_while_publish_credit_is_exhausted_and_resumes_when_restored() {
    let mut h = Harness::new(limits());
    h.send(&request(b'P', 10));
    h.feed_all();
    assert_eq!(h.published.len(), 1);
    h.conn.handle_publish_credit(h.now, true);
    assert!(h.conn.publish_paused());
    assert!(!h.conn.wants_read(), "no reading on spent credit");
    h.send(&request(b'P', 10));
    h.feed_all();
    assert_eq!(
        h.published.len(),
        1,
        "the second publish waits in the socket"
    );
    h.conn.handle_publish_credit(h.now, false);
    assert!(h.conn.wants_read());
    h.feed_all();
    assert_eq!(h.published.len(), 2, "read once the credit is back");
    h.check();
}

#[test]
fn publish_credit_and_the_outbound_watermarks_pause_reading_independently() {
    let mut h = Harness::new(limits());
    // Over the high watermark (16 KiB) with nothing written.
    for _ in 0..20 {
        let offered = h.deliver(1024);
        assert!(offered.is_ok());
    }
    assert!(!h.conn.wants_read(), "paused by the queue");
    h.conn.handle_publish_credit(h.now, true);
    h.conn.handle_publish_credit(h.now, false);
    assert!(
        !h.conn.wants_read(),
        "restored credit does not lift the queue's pause"
    );
    h.conn.handle_publish_credit(h.now, true);
    h.write_all();
    assert!(
        !h.conn.wants_read(),
        "a drained queue does not lift the credit's pause"
    );
    h.conn.handle_publish_credit(h.now, false);
    assert!(h.conn.wants_read());
    h.check();
}

#[test]
fn a_lingering_connection_reads_to_the_end_whatever_its_credit() {
    let mut h = Harness::new(limits());
    h.conn.handle_publish_credit(h.now, true);
    h.close(RemovalReason::Closed);
    h.write_all();
    assert_eq!(h.conn.phase(), Phase::Lingering(RemovalReason::Closed));
    assert!(h.conn.wants_read(), "inbound data is read and discarded");
    h.check();
}
