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
