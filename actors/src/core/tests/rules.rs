//! One test per rule of the core: order, held replies, deadlines, limits, the close
//! sequence, buffer reuse.

use super::*;

#[test]
fn own_broadcast_copies_come_before_a_later_reply() {
    let mut h = Harness::new(ConnectionLimits::default());
    let mut burst = Vec::new();
    for _ in 0..500 {
        burst.extend(request(b'B', 20));
    }
    burst.extend(request(b'E', 0));
    h.send(&burst);
    h.feed_all();
    h.write_all();
    let written = h.written();
    assert_eq!(written.len(), 501);
    let seqs: Vec<u32> = written.iter().map(|w| w.1).collect();
    assert_eq!(seqs, (0..501).collect::<Vec<u32>>(), "in request order");
    assert_eq!(
        written[500].2, 5,
        "the reply to the last request comes last"
    );
    assert_eq!(
        h.broadcast_out, 500,
        "the same packets go to the rest of the group"
    );
    h.check();
}

#[test]
fn replies_held_behind_a_deferred_one_are_recorded_when_the_connection_fails() {
    let mut h = Harness::new(ConnectionLimits::default());
    let mut burst = request(b'D', 0);
    burst.extend(request(b'E', 0));
    burst.extend(request(b'E', 0));
    h.send(&burst);
    h.feed_all();
    assert_eq!(h.conn.held_replies(), 3);
    h.write_all();
    assert!(h.wire.is_empty(), "nothing overtakes the deferred reply");
    h.fail();
    let t = h.conn.traffic();
    assert_eq!(
        t.refused_packets, 3,
        "the deferred reply and the two held behind it"
    );
    let failures = h.conn.recent_failures(h.now, std::time::SystemTime::now());
    assert_eq!(failures.len(), 3);
    assert!(failures
        .iter()
        .all(|f| f.reason == FailureReason::Io("reset".into())));
    // A late value for the deferred slot is ignored.
    h.fill();
    assert_eq!(h.conn.traffic().queued_packets, 0);
    h.check();
}

#[test]
fn a_graceful_close_waits_for_the_deferred_reply_then_flushes_in_order() {
    let mut h = Harness::new(ConnectionLimits::default());
    let mut burst = request(b'D', 0);
    burst.extend(request(b'E', 0));
    h.send(&burst);
    h.feed_all();
    h.close(RemovalReason::Closed);
    assert_eq!(h.conn.phase(), Phase::Closing(RemovalReason::Closed));
    assert_eq!(
        h.deliver(3),
        Err(SendError::Closing),
        "nobody else may add now"
    );
    h.fill();
    h.write_all();
    assert_eq!(h.written().iter().map(|w| w.1).collect::<Vec<_>>(), [0, 1]);
    assert!(h.shutdown_write);
    assert_eq!(h.conn.phase(), Phase::Lingering(RemovalReason::Closed));
    h.eof();
    assert!(h.stopped);
    h.check();
}

#[test]
fn a_deferred_reply_that_never_comes_is_recorded_at_the_close_deadline() {
    let mut h = Harness::new(limits());
    let mut burst = request(b'D', 0);
    burst.extend(request(b'E', 0));
    h.send(&burst);
    h.feed_all();
    h.close(RemovalReason::Closed);
    h.advance(Duration::from_millis(2999));
    assert_eq!(h.conn.phase(), Phase::Closing(RemovalReason::Closed));
    h.advance(Duration::from_millis(1));
    assert!(h.stopped);
    let failures = h.conn.recent_failures(h.now, std::time::SystemTime::now());
    assert_eq!(failures.len(), 2);
    assert!(failures
        .iter()
        .all(|f| f.reason == FailureReason::CloseTimeout));
    h.check();
}

#[test]
fn an_incomplete_frame_expires_with_a_last_word() {
    let mut h = Harness::new(limits());
    let frame = request(b'E', 10);
    h.send(&frame[..5]);
    h.feed_all();
    h.advance(Duration::from_millis(1999));
    assert_eq!(h.conn.phase(), Phase::Open);
    // More bytes of the same frame do not restart its clock.
    h.send(&frame[5..8]);
    h.feed_all();
    h.advance(Duration::from_millis(1));
    assert_eq!(h.removals, [RemovalReason::FrameTimeout]);
    h.write_all();
    let written = h.written();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].2, 5 + "frame timeout".len(), "the error reply");
    h.check();
}

#[test]
fn the_frame_clock_restarts_with_each_new_frame() {
    let mut h = Harness::new(limits());
    let mut bytes = request(b'E', 0);
    bytes.extend(&request(b'E', 0)[..2]);
    h.send(&bytes[..2]);
    h.feed_all();
    h.advance(Duration::from_millis(1500));
    h.send(&bytes[2..]);
    // The first frame completes and a second one starts in the same read.
    h.feed_all();
    h.advance(Duration::from_millis(1500));
    assert_eq!(h.conn.phase(), Phase::Open, "the second frame is 1.5 s old");
    h.advance(Duration::from_millis(500));
    assert_eq!(h.removals, [RemovalReason::FrameTimeout]);
}

#[test]
fn read_idleness_calls_on_idle_each_period_and_a_receive_resets_it() {
    let mut h = Harness::new(ConnectionLimits {
        idle: IdleLimits {
            read: Some(Duration::from_secs(1)),
            ..IdleLimits::default()
        },
        ..limits()
    });
    assert_eq!(h.conn.poll_timeout(), Some(h.now + Duration::from_secs(1)));
    h.advance(Duration::from_millis(999));
    assert!(h.log.idle.borrow().is_empty());
    h.advance(Duration::from_millis(1));
    h.advance(Duration::from_secs(1));
    assert_eq!(*h.log.idle.borrow(), [Idle::Read, Idle::Read]);
    // Writing the heartbeats is not receiving: still read-idle.
    h.write_all();
    h.send(&request(b'E', 0));
    h.feed_all();
    h.advance(Duration::from_millis(999));
    assert_eq!(
        h.log.idle.borrow().len(),
        2,
        "the receive restarted the period"
    );
    h.advance(Duration::from_millis(1));
    assert_eq!(h.log.idle.borrow().len(), 3);
    assert_eq!(h.conn.phase(), Phase::Open, "idleness alone removes nobody");
    h.check();
}

#[test]
fn write_idleness_counts_from_the_last_write() {
    let mut h = Harness::new(ConnectionLimits {
        idle: IdleLimits {
            write: Some(Duration::from_secs(1)),
            ..IdleLimits::default()
        },
        ..limits()
    });
    h.advance(Duration::from_millis(500));
    h.send(&request(b'E', 0));
    h.feed_all();
    h.write_all();
    h.advance(Duration::from_millis(999));
    assert!(
        h.log.idle.borrow().is_empty(),
        "the write restarted the period"
    );
    h.advance(Duration::from_millis(1));
    assert_eq!(*h.log.idle.borrow(), [Idle::Write]);
}

#[test]
fn a_peer_that_stops_reading_is_removed_at_the_write_timeout() {
    let mut h = Harness::new(limits());
    h.send(&request(b'E', 100));
    h.feed_all();
    h.advance(Duration::from_millis(4999));
    assert_eq!(h.conn.phase(), Phase::Open);
    h.advance(Duration::from_millis(1));
    assert_eq!(h.removals, [RemovalReason::WriteTimeout]);
    assert!(h.stopped, "no flush for a peer that does not read");
    assert_eq!(h.conn.traffic().dropped_packets, 1);
    h.check();
}

#[test]
fn write_progress_restarts_the_write_timeout() {
    let mut h = Harness::new(limits());
    h.send(&request(b'E', 3000));
    h.feed_all();
    h.advance(Duration::from_secs(4));
    h.write(100);
    h.advance(Duration::from_secs(4));
    assert_eq!(h.conn.phase(), Phase::Open);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.removals, [RemovalReason::WriteTimeout]);
    h.check();
}

#[test]
fn a_packet_past_the_budget_is_refused_and_the_peer_removed_as_slow() {
    let mut h = Harness::new(limits());
    let mut accepted = 0;
    let err = loop {
        match h.deliver(1000) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "the budget never filled");
    };
    assert!(matches!(err, SendError::OverBudget { .. }), "{err:?}");
    assert_eq!(h.removals, [RemovalReason::SlowConsumer]);
    let t = h.conn.traffic();
    assert_eq!(t.refused_packets, 1);
    assert_eq!(
        t.dropped_packets, accepted,
        "everything queued is recorded as dropped"
    );
    h.check();
}

#[test]
fn reading_pauses_above_the_high_watermark_and_resumes_below_the_low_one() {
    let mut h = Harness::new(limits());
    for _ in 0..17 {
        h.deliver(1000).expect("within budget");
    }
    assert!(!h.conn.wants_read());
    h.write(8 * 1024);
    assert!(!h.conn.wants_read(), "between the watermarks");
    h.write(1024);
    assert!(h.conn.wants_read(), "below half the high watermark");
    h.check();
}

#[test]
fn reading_pauses_while_too_many_replies_are_deferred() {
    let mut h = Harness::new(limits());
    for _ in 0..4 {
        h.send(&request(b'D', 0));
    }
    h.feed_all();
    assert!(!h.conn.wants_read());
    h.fill();
    assert!(h.conn.wants_read());
}

#[test]
fn one_read_starts_no_more_deferred_replies_than_the_limit() {
    let mut h = Harness::new(limits());
    let mut burst = Vec::new();
    for _ in 0..10 {
        burst.extend(request(b'D', 0));
    }
    burst.extend(request(b'E', 0));
    h.send(&burst);
    h.feed_all();
    assert_eq!(h.conn.outstanding_replies(), 4, "max_deferred");
    assert!(h.conn.read_buffered() > 0, "the rest waits, already read");
    // Waiting for our own replies is not a trickling peer.
    h.advance(Duration::from_secs(10));
    assert_eq!(h.conn.phase(), Phase::Open);
    for _ in 0..10 {
        h.fill();
        assert!(h.conn.outstanding_replies() <= 4);
    }
    h.write_all();
    let seqs: Vec<u32> = h.written().iter().map(|w| w.1).collect();
    assert_eq!(
        seqs,
        (0..11).collect::<Vec<u32>>(),
        "every reply, in request order"
    );
    h.check();
}

#[test]
fn bad_packets_are_answered_and_the_third_removes() {
    let mut h = Harness::new(limits());
    h.send(&request(b'X', 0));
    h.send(&[0, 0]);
    h.feed_all();
    assert_eq!(h.conn.error_packets(), 2);
    assert_eq!(h.conn.phase(), Phase::Open);
    h.send(&request(b'X', 0));
    h.send(&request(b'E', 0));
    h.feed_all();
    assert_eq!(h.removals, [RemovalReason::ErrorPackets]);
    h.write_all();
    assert_eq!(
        h.written().len(),
        3,
        "three error replies; the request after is not read"
    );
    assert!(h.shutdown_write);
    h.check();
}

#[test]
fn a_broken_stream_gets_a_last_word_and_is_removed_at_once() {
    let mut h = Harness::new(limits());
    h.send(&((MAX_BODY + 1) as u16).to_be_bytes());
    h.feed_all();
    assert_eq!(h.removals, [RemovalReason::ErrorPackets]);
    assert_eq!(h.conn.error_packets(), 1);
    assert_eq!(h.conn.read_capacity(), 0, "the untrusted input is released");
    h.write_all();
    assert_eq!(h.written().len(), 1);
}

#[test]
fn the_close_sequence_flushes_shuts_the_write_half_and_lingers() {
    let mut h = Harness::new(limits());
    h.open();
    assert_eq!(h.log.opened.get(), 1);
    h.close(RemovalReason::Closed);
    assert!(h.conn.wants_write(), "the welcome is still flushed");
    h.write_all();
    assert!(h.shutdown_write);
    assert!(h.conn.wants_read(), "lingering reads and discards");
    h.send(&request(b'E', 0));
    h.feed_all();
    assert_eq!(h.written().len(), 1, "nothing is answered while lingering");
    h.run_to_stop();
    assert_eq!(*h.log.closed.borrow(), [RemovalReason::Closed]);
    h.check();
}

#[test]
fn a_peer_half_close_still_gets_its_replies() {
    let mut h = Harness::new(limits());
    h.send(&request(b'E', 0));
    h.feed_all();
    h.eof();
    assert_eq!(h.removals, [RemovalReason::PeerClosed]);
    assert!(!h.stopped, "its reply is still queued");
    h.write_all();
    assert_eq!(h.written().len(), 1);
    // Its end was read: once its own end is sent there is nothing to linger for.
    assert!(h.shutdown_write);
    assert!(h.stopped);
    h.check();
}

#[test]
fn a_quiet_connection_keeps_no_buffers_and_a_busy_one_reuses_them() {
    let mut h = Harness::new(limits());
    h.send(&request(b'E', 10));
    h.feed_all();
    assert!(h.conn.retained_capacity() > 0, "the reply is queued");
    h.write_all();
    assert_eq!(
        h.conn.retained_capacity(),
        0,
        "one reply answered and written: nothing kept"
    );
    assert_eq!(h.conn.read_capacity(), 0);
    // Replies queued behind each other: busy, the buffers stay for the next turn.
    let burst = [request(b'E', 10), request(b'B', 10), request(b'E', 10)].concat();
    h.send(&burst);
    h.feed_all();
    h.write_all();
    let kept = h.conn.retained_capacity();
    assert!(kept > 0, "busy: kept for the next replies");
    h.send(&burst);
    h.feed_all();
    h.write_all();
    assert_eq!(h.written().len(), 7, "and it still works");
    let again = h.conn.retained_capacity();
    assert!(
        again > 0 && again <= kept,
        "no new buffers: {again} after {kept}"
    );
    // The counters' report comes within `stats_interval` of the last write.
    let interval = h.conn.limits().stats_interval;
    h.advance(interval);
    assert_eq!(
        h.conn.retained_capacity(),
        0,
        "quiet since the report: nothing kept"
    );
    assert_eq!(h.reported, h.conn.traffic());
    h.send(&request(b'E', 10));
    h.feed_all();
    h.write_all();
    assert_eq!(h.conn.retained_capacity(), 0, "and quiet again");
    h.check();
}

#[test]
fn a_denial_is_answered_and_counted_but_is_never_an_error_packet() {
    let mut h = Harness::new(limits());
    for _ in 0..10 {
        h.send(&request(b'N', 0));
    }
    h.feed_all();
    h.write_all();
    assert_eq!(h.written().len(), 10, "every denial is answered");
    assert!(h.written().iter().all(|w| w.2 == 5 + "denied".len()));
    let t = h.conn.traffic();
    assert_eq!((t.denied, t.error_packets), (10, 0));
    assert_eq!(
        h.conn.phase(),
        Phase::Open,
        "past max_error_packets, still open"
    );
    h.check();
}

#[test]
fn close_with_sends_the_goodbye_last_and_removes_with_the_applications_reason() {
    let mut h = Harness::new(limits());
    let mut burst = request(b'E', 0);
    burst.extend(request(b'W', 4));
    burst.extend(request(b'E', 0));
    h.send(&burst);
    h.feed_all();
    assert_eq!(h.removals, [BYE]);
    assert_eq!(h.conn.phase(), Phase::Closing(BYE));
    h.write_all();
    let written = h.written();
    assert_eq!(written.len(), 2, "the request after the close is not read");
    assert_eq!(written[1].2, 5 + 4, "the goodbye comes last");
    h.eof();
    assert!(h.stopped);
    assert_eq!(h.conn.removal(), Some(BYE));
    h.check();
}
