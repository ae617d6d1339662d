//! Limits decided outside the connection and handed to its core: a refusal at accept.

use super::*;

#[test]
fn a_connection_refused_at_accept_gets_its_error_reply_and_no_handler_call() {
    let mut h = Harness::new(limits());
    let message = "too many connections from this address";
    h.conn
        .handle_refused(h.now, RemovalReason::IpLimit, message);
    h.pump();
    assert_eq!(h.removals, [RemovalReason::IpLimit]);
    // Requests that arrive meanwhile are not handled.
    h.send(&request(b'E', 0));
    h.feed_all();
    h.write_all();
    // The one packet is the error reply (the test protocol pads it to the reason's
    // length), then the write half is shut.
    let written = h.written();
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].2, 5 + message.len());
    assert!(h.shutdown_write);
    assert_eq!(h.log.opened.get(), 0, "on_open never runs");
    h.run_to_stop();
    assert!(h.log.closed.borrow().is_empty(), "on_close never runs");
    h.check();
}

#[test]
fn a_packet_past_the_total_budget_is_refused_without_removing_the_connection() {
    let budget = OutboundBudget::new(8 * 1024);
    let mut h = Harness::budgeted(limits(), false, budget.new_share());
    let mut accepted = 0;
    let err = loop {
        match h.deliver(1000) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "the budget never filled");
    };
    // Eight packets of 1007 bytes fit in 8 KiB; the ninth does not, although the
    // connection's own limit (64 KiB) would take it.
    assert_eq!(accepted, 8);
    assert_eq!(
        err,
        SendError::TotalOverBudget {
            packet: 1007,
            limit: 8 * 1024
        }
    );
    assert!(h.removals.is_empty(), "not this connection's fault alone");
    assert_eq!(h.conn.traffic().refused_packets, 1);
    h.check();
    // Once written, the bytes are back and packets fit again.
    h.write_all();
    let share = h.budget.as_ref().map(|(share, _)| share.clone()).unwrap();
    assert_eq!(share.used(), 0);
    assert_eq!(budget.unclaimed() + share.held(), 8 * 1024);
    assert!(h.deliver(1000).is_ok());
    h.check();
}

#[test]
fn the_connections_of_a_thread_share_the_budget_and_a_removal_frees_it() {
    let budget = OutboundBudget::new(8 * 1024);
    let share = budget.new_share();
    let mut hog = Harness::budgeted(limits(), false, share.clone());
    let mut other = Harness::budgeted(limits(), false, share.clone());
    while hog.deliver(1000).is_ok() {}
    assert!(matches!(
        other.deliver(1000),
        Err(SendError::TotalOverBudget { .. })
    ));
    // The hog is removed as a slow consumer (as the supervisor would): its queue is
    // dropped and the bytes are back for the other.
    hog.close(RemovalReason::SlowConsumer);
    assert_eq!(share.used(), 0);
    assert!(other.deliver(1000).is_ok());
    assert_eq!(share.used(), other.conn.queued_bytes());
    // A core dropped with bytes queued gives them back too.
    drop(other);
    assert_eq!(share.used(), 0);
}
